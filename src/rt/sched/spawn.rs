//! A green thread's life from outside: spawning it (stack, TLS area, task, Pid), the trampoline it
//! starts in and ends through, and `join` / `detach` on its outcome.

use std::cell::UnsafeCell;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32};

use super::shared::{Intent, Shared, WorkerShared};
use super::switch::switch_out;
use super::worker::local_worker;
use crate::rt::park;
use crate::rt::park::word::WaitKind;
use crate::rt::sys::context;
use crate::rt::sys::lock::Section;
use crate::rt::sys::stack::round_size;
use crate::rt::sys::tls;
use crate::rt::task::current::{self, current_task, current_thread_task};
use crate::rt::task::panic::{PANIC_HOOK_INSTALLED, install_panic_hook};
use crate::rt::task::pid;
use crate::rt::task::{
    Entry, ErasedBox, Green, JOIN_DETACHED, JOIN_DONE, JOIN_RUNNING, JOIN_WAITING, Outcome, Task,
    ThreadId,
};
use crate::rt::trace;

/// Closures larger than this are boxed rather than placed on the new green thread's stack.
const MAX_INLINE_CLOSURE: usize = 4096;

/// Spawns a green thread running `f` on `rt`. The stack is taken first, so a failure (e.g. the
/// map-count limit) leaves nothing behind.
///
/// The closure is moved to the top of the new stack (the trampoline moves it out again as its
/// first act), so a spawn allocates nothing for it; a closure over [`MAX_INLINE_CLOSURE`] bytes is
/// boxed first so that it cannot crowd the stack.
///
/// # Safety
/// Whatever `f` and its result borrow must outlive the green thread (as with
/// `std::thread::Builder::spawn_unchecked`).
pub(crate) unsafe fn spawn<F, T>(
    rt: &Shared,
    name: Option<Box<str>>,
    stack_size: Option<usize>,
    f: F,
) -> io::Result<Arc<Task>>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    if !PANIC_HOOK_INSTALLED.load(Relaxed) {
        install_panic_hook(); // the runtime started while its starter was panicking
    }
    if size_of::<F>() > MAX_INLINE_CLOSURE || align_of::<F>() > 64 {
        let boxed: Box<dyn FnOnce() -> T + Send + '_> = Box::new(f);
        // SAFETY: forwarded from our caller.
        unsafe { spawn_placed(rt, name, stack_size, boxed) }
    } else {
        // SAFETY: forwarded from our caller.
        unsafe { spawn_placed(rt, name, stack_size, f) }
    }
}

/// `spawn` for a closure small enough to sit at the top of the stack.
unsafe fn spawn_placed<F, T>(
    rt: &Shared,
    name: Option<Box<str>>,
    stack_size: Option<usize>,
    f: F,
) -> io::Result<Arc<Task>>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    /// (`rt/stacks.rs` cuts dumped stacks below this frame, found by its name.)
    unsafe fn run_closure<F: FnOnce() -> T, T: Send>(p: *mut u8) -> ErasedBox {
        // SAFETY: `p` is where `spawn` wrote the `F`; the trampoline calls us once.
        let f = unsafe { (p as *mut F).read() };
        ErasedBox::new(f())
    }
    let size = stack_size.map_or(rt.stacks.size(), round_size);
    // The worker's caches are used below, and the allocations here must not switch this green
    // thread to another worker meanwhile (`sys::lock`).
    let _section = Section::enter();
    let w = local_worker(rt, &_section);
    // SAFETY: a worker's caches are touched only on its own OS thread, which is this one, and
    // nothing in this function switches.
    let local_stacks = w.map(|w| unsafe { &mut *w.stacks.get() });
    let stack = rt.stacks.take(local_stacks, size)?;
    // SAFETY: as for the stack cache.
    let local_tls = w.map(|w| unsafe { &mut *w.tls.get() });
    let tls = tls::take(local_tls)?;
    let closure_at = (stack.top() as usize - size_of::<F>()) & !(align_of::<F>() - 1);
    // SAFETY: the stack is ours and unused; `closure_at` is aligned for F and at most 4 KiB + 64
    // below its top; the initial frame goes below the closure, 16-byte aligned.
    let ctx = unsafe {
        (closure_at as *mut F).write(f);
        context::init_stack((closure_at & !15) as *mut u8, trampoline)
    };
    let entry: Entry = (run_closure::<F, T>, closure_at as *mut u8);
    // SAFETY: as for the stack cache above.
    let local_pids = w.map(|w| unsafe { &mut *w.pids.get() });
    let pid = pid::table::reserve(local_pids);
    let id = match w {
        Some(w) => {
            let mut block = w.ids.get();
            let id = ThreadId::next(Some(&mut block));
            w.ids.set(block);
            id
        }
        None => ThreadId::next(None),
    };
    let task = Arc::new(Task {
        id,
        name,
        state: AtomicU32::new(0),
        wait: AtomicU8::new(0),
        wait_on: std::sync::atomic::AtomicUsize::new(0),
        green: Some(Green {
            rt: rt as *const Shared as *const (),
            pid,
            ctx: UnsafeCell::new(ctx),
            low_water: UnsafeCell::new(usize::MAX),
            stack_range: (stack.limit() as usize, stack.top() as usize),
            stack: UnsafeCell::new(Some(stack)),
            entry: UnsafeCell::new(Some(entry)),
            result: UnsafeCell::new(None),
            join: AtomicU8::new(JOIN_RUNNING),
            joiner: UnsafeCell::new(None),
            timer: UnsafeCell::new(None),
            tp: tls.tp(),
            tls: UnsafeCell::new(Some(tls)),
            worker: AtomicPtr::new(std::ptr::null_mut()),
            fork_gen: current::fork_gen(),
            no_preempt: AtomicU32::new(0),
            watchers: crate::rt::task::watch::Watchers::new(),
        }),
    });
    pid::table::fill(pid, task.clone());
    if trace::enabled() {
        trace::spawned(&task);
    }
    match w {
        Some(w) => WorkerShared::bump(&rt.workers[w.index].spawned),
        None => drop(rt.external_spawned.fetch_add(1, SeqCst)),
    }
    match w {
        // A carrier that gave its worker away spawns to the injector, as a wake does (`schedule`).
        Some(w) if !w.shared_part().lost.load(Relaxed) => {
            w.local_queue().push(task.clone(), &rt.injector)
        }
        _ => rt.injector.push(task.clone()),
    }
    rt.notify();
    Ok(task)
}

/// Waits for a green thread to finish and takes its outcome. Callable from any thread.
pub(crate) fn join(task: &Task) -> Outcome {
    let g = task.green.as_ref().expect("join: not a green thread");
    if g.join.load(Acquire) != JOIN_DONE {
        // SAFETY: before the JOIN_WAITING handshake below only the (single) joiner touches
        // `joiner`; the finisher reads it only after seeing JOIN_WAITING.
        unsafe { *g.joiner.get() = Some(current_thread_task()) };
        match g
            .join
            .compare_exchange(JOIN_RUNNING, JOIN_WAITING, AcqRel, Acquire)
        {
            Ok(_) => {
                // A green joiner records the edge for the deadlock-cycle check (`rt::cycles`).
                // SAFETY: the running green thread's task lives while it runs.
                let me = current_task().map(|t| unsafe { &*t });
                if let Some(me) = me {
                    crate::rt::park::waitfor::enter(me, crate::rt::park::waitfor::on_join(task));
                }
                while g.join.load(Acquire) != JOIN_DONE {
                    park::park_for(WaitKind::Wake, park::WaitReason::Join, None);
                }
                if let Some(me) = me {
                    crate::rt::park::waitfor::leave(me);
                }
            }
            // SAFETY: it finished before seeing us: the slot is still only ours.
            Err(_) => drop(unsafe { (*g.joiner.get()).take() }),
        }
    }
    // SAFETY: JOIN_DONE (acquired above) is stored after the result, and only the one JoinHandle
    // (consumed by join) takes it.
    unsafe {
        (*g.result.get())
            .take()
            .expect("smarm: green thread result taken twice")
    }
}

/// A `JoinHandle` is dropped without joining: the thread drops its result itself when it ends,
/// or, if it already has, the caller drops it now (as std's `Packet` does).
pub(crate) fn detach(task: &Task) {
    let g = task.green.as_ref().expect("detach: not a green thread");
    if g.join
        .compare_exchange(JOIN_RUNNING, JOIN_DETACHED, AcqRel, Acquire)
        .is_err()
    {
        // JOIN_DONE: the result is ours to drop.
        // SAFETY: JOIN_DONE was acquired; the handle being dropped was the only reader.
        drop_outcome(unsafe { (*g.result.get()).take() });
    }
}

/// Drops a result nobody will read; a `Drop` that panics aborts, as in std.
fn drop_outcome(outcome: Option<Outcome>) {
    if panic::catch_unwind(AssertUnwindSafe(move || drop(outcome))).is_err() {
        eprintln!("fatal runtime error: thread result panicked on drop, aborting");
        std::process::abort();
    }
}

/// Where every green thread starts: the entry `spawn` gives `context::init_stack`, called on the
/// new stack, with the green thread's own thread pointer already loaded.
unsafe extern "C" fn trampoline(task: usize) -> ! {
    let task = task as *const Task;
    current::set_green(task);
    // SAFETY: the worker passes the task it is switching into and holds an Arc to it until this
    // green thread switches away for the last time.
    let task = unsafe { &*task };
    // SAFETY: only spawned green tasks are ever switched into.
    let g = unsafe { task.green.as_ref().unwrap_unchecked() };
    // If the thread before us switched straight here (`worker.rs`, "Direct switches"), complete
    // its park first.
    // SAFETY: the worker switching us in set `worker` and runs us; it is alive while we run.
    unsafe { (*g.worker()).land() };
    // SAFETY: the block is this green thread's own while it runs.
    if let Some(block) = unsafe { (*g.tls.get()).as_mut() }
        && block.fresh
    {
        block.fresh = false;
        tls::init_thread();
    }
    // SAFETY: `entry` is taken exactly once, by the green thread itself.
    let entry = unsafe { (*g.entry.get()).take() };
    let outcome: Outcome = match entry {
        // SAFETY: `spawn` paired the function with the address of its closure, not yet run.
        Some((run, closure)) => panic::catch_unwind(AssertUnwindSafe(|| unsafe { run(closure) })),
        None => Ok(ErasedBox::new(())),
    };
    if outcome.is_err() {
        g.watchers.set_panicked();
    }
    // A detached thread drops its result first, on its own stack and before its thread-locals
    // are destroyed (as std's thread drops its packet before it exits), so a `Drop` that touches
    // a thread-local finds it alive and its new value is destroyed below.
    let mut outcome = Some(outcome);
    if g.join.load(Acquire) == JOIN_DETACHED {
        drop_outcome(outcome.take());
    }
    // The green thread's thread-local and pthread-key destructors, as an OS thread's exit runs
    // them; before the result is published, so `join` returns after them.
    tls::exit_thread();
    if let Some(outcome) = outcome {
        // Publish the outcome.
        // SAFETY: `result` is written before JOIN_DONE is released, and read only after it.
        unsafe { *g.result.get() = Some(outcome) };
        match g.join.swap(JOIN_DONE, AcqRel) {
            JOIN_WAITING => {
                // SAFETY: the joiner wrote `joiner` before it stored JOIN_WAITING, which we
                // acquired.
                if let Some(joiner) = unsafe { (*g.joiner.get()).take() } {
                    park::unpark_to_back(&joiner, WaitKind::Wake);
                }
            }
            JOIN_DETACHED => {
                // The handle went away meanwhile: drop the result here after all, and destroy
                // whatever thread-locals its `Drop` brought back.
                // SAFETY: detached: no handle will ever read the result.
                drop_outcome(unsafe { (*g.result.get()).take() });
                tls::exit_thread();
            }
            _ => {}
        }
    } else {
        g.join.store(JOIN_DONE, Release);
    }
    switch_out(Intent::Exit);
    // A finished context is never resumed.
    std::process::abort()
}
