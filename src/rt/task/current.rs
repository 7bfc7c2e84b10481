//! "Current": which task the calling code runs as, and which of the parent's green threads may run
//! after a `fork`. The task layer's accessors (DESIGN.md's diagram: `rt/task`), below everything
//! that waits or schedules, so that a lower layer asking "who am I" names no scheduler.
//!
//! Two kinds of thread-local (see `sched`, "Thread-locals"):
//! - `OS_TASK`, per OS thread: the task standing for a plain OS thread, made on first use;
//! - `CURRENT`, per green thread: its own task, set once by the scheduler's trampoline when it
//!   starts (every green thread has its own thread pointer, `sys::tls`, so its thread-locals move
//!   with it to whichever carrier resumes it).
//!
//! The accessors are `#[inline(never)]`: rustc may compute a thread-local's address once per
//! function, and a green thread can resume on another carrier between two of its calls; a call
//! into a function of its own reads this thread pointer, not a cached one.

use std::cell::{Cell, OnceCell};
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicPtr, AtomicU32};

use crate::rt::task::Task;

thread_local! {
    static OS_TASK: OnceCell<Arc<Task>> = const { OnceCell::new() };
    /// The green thread whose TLS area this is (null on OS threads and in scheduler code).
    static CURRENT: Cell<*const Task> = const { Cell::new(std::ptr::null()) };
}

/// Marks the calling green thread as running `task`: called once, by the scheduler's trampoline,
/// first thing on the green thread's own thread pointer (which is the green thread's for its
/// whole life, so the write may be inlined there).
#[inline]
pub(crate) fn set_green(task: *const Task) {
    CURRENT.with(|c| c.set(task));
}

/// [`current_task`] inlined into the caller, for callers that are themselves never inlined and
/// switch nowhere (`sched::switch::switch_out` reads it before its switch and touches no
/// thread-local after it; `sched::worker::current_worker`).
#[inline(always)]
pub(crate) fn current_task_inline() -> *const Task {
    CURRENT.with(Cell::get)
}

/// The green thread calling this, if it is one. The pointer stays valid while that green thread
/// runs (its worker holds an `Arc`), wherever it later migrates.
#[inline(never)]
pub(crate) fn current_task() -> Option<*const Task> {
    let t = CURRENT.with(Cell::get);
    (!t.is_null()).then_some(t)
}

fn new_os_task() -> Arc<Task> {
    Arc::new(Task::new_os(std::thread::current().name().map(Box::from)))
}

/// The task standing for this plain OS thread (made on first use). Only for non-green callers.
#[inline(never)]
pub(crate) fn current_os_task() -> Arc<Task> {
    OS_TASK.with(|t| t.get_or_init(new_os_task).clone())
}

/// The current thread's task, green or OS, as a pointer that stays valid while the thread is alive
/// (a green task lives while it runs; an OS thread's task lives in its thread-local).
pub(crate) fn current_task_ptr() -> *const Task {
    match current_task() {
        Some(t) => t,
        None => os_task_ptr(),
    }
}

#[inline(never)]
fn os_task_ptr() -> *const Task {
    OS_TASK.with(|t| Arc::as_ptr(t.get_or_init(new_os_task)))
}

/// The current thread's task, green or OS, as an owned reference.
pub(crate) fn current_thread_task() -> Arc<Task> {
    match current_task() {
        // SAFETY: every green Task lives in an Arc made by `spawn`, and the running one is kept
        // alive by its worker, so adding a strong reference to it is sound.
        Some(t) => unsafe {
            Arc::increment_strong_count(t);
            Arc::from_raw(t)
        },
        None => current_os_task(),
    }
}

/// The fork generation (bumped in every child); and the green thread that forked last, the only
/// one of the parent's green threads that may run in the child.
static FORK_GEN: AtomicU32 = AtomicU32::new(0);
static FORK_SURVIVOR: AtomicPtr<Task> = AtomicPtr::new(std::ptr::null_mut());

/// The process's fork generation (0 in the original process; bumped in every child).
#[inline]
pub(crate) fn fork_gen() -> u32 {
    FORK_GEN.load(Acquire)
}

/// In the child of a `fork` (the scheduler's atfork child handler): a new fork generation, in which
/// the calling green thread (if the fork was made by one) is the only survivor of the parent's.
pub(crate) fn forked_child() {
    FORK_GEN.fetch_add(1, Release);
    FORK_SURVIVOR.store(
        current_task().map_or(std::ptr::null_mut(), |t| t as *mut Task),
        Release,
    );
}

/// Whether a green thread may run in this process: one spawned here, or the one whose `fork`
/// made this process. Copies of the parent's other green threads — queued, sleeping, or woken by
/// something in the child — are never run, as POSIX's `fork` copies only the calling thread.
/// (They are leaked with the rest of the parent's state.) One load and a compare per run.
#[inline]
pub(crate) fn fork_survives(task: &Task) -> bool {
    let g = task.green.as_ref().map_or(0, |g| g.fork_gen);
    g == FORK_GEN.load(Relaxed) || std::ptr::eq(task, FORK_SURVIVOR.load(Relaxed))
}
