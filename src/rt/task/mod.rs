//! `Task`: what a thread *is* to the runtime, for green threads and plain OS threads alike.
//!
//! Every thread that can wait on a smarm primitive has one `Task`, shared through `Arc`: a green
//! thread's is made by `spawn`, an OS thread's lazily the first time it needs one. `Thread` (the
//! public handle) is an `Arc<Task>`; waiting and waking go through the task's `state` word (see
//! [`crate::rt::park`]). The fields under [`Green`] belong to the scheduler and exist only for
//! green threads.
//!
//! The green-thread layer (DESIGN.md, "Layers"), above `sys` and below everything that waits or
//! schedules: the task (here), [`current`] (which task runs on this thread pointer, the fork
//! generation), [`pid`] (the Pid type, and the table of live tasks above the task), [`watch`]
//! (exit watchers) and [`mod@panic`] (the panic reports).

pub(crate) mod current;
pub(crate) mod panic;
pub(crate) mod pid;
pub(crate) mod watch;

use std::any::Any;
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::rt::sys::stack::Stack;
use crate::rt::sys::tls;
use crate::rt::task::pid::Pid;
use crate::rt::task::watch::Watchers;

/// How a green thread starts: a function that moves its closure out of the given address (on the
/// green thread's own stack, see `sched::spawn`) and runs it, returning the erased result.
pub(crate) type Entry = (unsafe fn(*mut u8) -> ErasedBox, *mut u8);

/// A green thread's outcome: `Ok` carries the closure's (erased) return value, `Err` the panic payload.
pub(crate) type Outcome = Result<ErasedBox, Box<dyn Any + Send + 'static>>;

/// Words of inline storage in an [`ErasedBox`].
const INLINE_WORDS: usize = 3;

/// A value whose type `T` is known only to the code that made it and the code that takes it back.
/// Unlike `Box<dyn Any>` it needs no `T: 'static` (scoped threads return borrowed data), and a
/// value of up to three words (most results: `()`, integers, `Vec`, `String`) is stored inline, so
/// returning it from a green thread allocates nothing.
pub(crate) struct ErasedBox {
    storage: MaybeUninit<[usize; INLINE_WORDS]>,
    /// Drops the value in `storage` (inline or boxed, as `new` chose).
    drop: unsafe fn(*mut u8),
}

// SAFETY: an ErasedBox is only ever made from a `T: Send` (see `new`), and moved, not shared.
unsafe impl Send for ErasedBox {}

impl ErasedBox {
    const fn fits_inline<T>() -> bool {
        size_of::<T>() <= size_of::<[usize; INLINE_WORDS]>()
            && align_of::<T>() <= align_of::<usize>()
    }

    pub(crate) fn new<T: Send>(value: T) -> ErasedBox {
        let mut storage = MaybeUninit::<[usize; INLINE_WORDS]>::uninit();
        if Self::fits_inline::<T>() {
            unsafe fn drop_inline<T>(p: *mut u8) {
                // SAFETY: `p` holds a `T` written by `new`, dropped at most once.
                unsafe { std::ptr::drop_in_place(p as *mut T) }
            }
            // SAFETY: `fits_inline` checked size and alignment.
            unsafe { (storage.as_mut_ptr() as *mut T).write(value) };
            ErasedBox {
                storage,
                drop: drop_inline::<T>,
            }
        } else {
            unsafe fn drop_boxed<T>(p: *mut u8) {
                // SAFETY: `p` holds a `Box<T>` pointer written by `new`, dropped at most once.
                drop(unsafe { Box::from_raw(*(p as *mut *mut T)) })
            }
            // SAFETY: one pointer always fits.
            unsafe { (storage.as_mut_ptr() as *mut *mut T).write(Box::into_raw(Box::new(value))) };
            ErasedBox {
                storage,
                drop: drop_boxed::<T>,
            }
        }
    }

    /// # Safety
    /// `T` must be the type this box was made from.
    pub(crate) unsafe fn into_inner<T>(self) -> T {
        let this = std::mem::ManuallyDrop::new(self);
        let p = this.storage.as_ptr() as *const u8;
        // SAFETY: by the caller's promise the storage holds a `T` (or a `Box<T>`), moved out once;
        // `ManuallyDrop` keeps our Drop from running.
        unsafe {
            if Self::fits_inline::<T>() {
                (p as *const T).read()
            } else {
                *Box::from_raw((p as *const *mut T).read())
            }
        }
    }
}

impl Drop for ErasedBox {
    fn drop(&mut self) {
        // SAFETY: `drop` matches how `new` stored the value; Drop runs once.
        unsafe { (self.drop)(self.storage.as_mut_ptr() as *mut u8) }
    }
}

/// A unique identifier for a running thread (green or OS), never reused in a process, as
/// `std::thread::ThreadId` (smarm's own type: a green thread has no std `ThreadId` of its own).
///
/// # Examples
///
/// ```
/// use smarm::thread;
///
/// let other = thread::spawn(|| thread::current().id()).join().unwrap();
/// assert_ne!(thread::current().id(), other);
/// // The id a handle reports is the one the thread sees for itself.
/// let h = thread::spawn(|| thread::current().id());
/// let id = h.thread().id();
/// assert_eq!(h.join().unwrap(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ThreadId(NonZeroU64);

/// Ids are handed out in blocks so that spawning on several workers does not bounce one cache line.
pub(crate) const ID_BLOCK: u64 = 1024;
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl ThreadId {
    /// The next id, from a worker's block (`local`, `(next, end)`) when there is one.
    pub(crate) fn next(local: Option<&mut (u64, u64)>) -> ThreadId {
        let raw = match local {
            Some(block) => {
                if block.0 == block.1 {
                    let start = NEXT_ID.fetch_add(ID_BLOCK, Ordering::Relaxed);
                    *block = (start, start + ID_BLOCK);
                }
                block.0 += 1;
                block.0 - 1
            }
            None => NEXT_ID.fetch_add(1, Ordering::Relaxed),
        };
        ThreadId(NonZeroU64::new(raw).expect("thread id space exhausted"))
    }

    /// The id as a number (what `ThreadId::as_u64` returns on nightly std): unique in the
    /// process, handy for logs.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// let a = thread::current().id().as_u64();
    /// let b = thread::spawn(|| thread::current().id().as_u64()).join().unwrap();
    /// assert_ne!(a, b);
    /// ```
    pub fn as_u64(&self) -> NonZeroU64 {
        self.0
    }
}

/// A timer of `rt::park::timer`'s (which alone makes and reads them), kept in the task it would wake
/// (`Green::timer`): the type lives here, below the timers, so that the task names no timer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TimerId(pub(crate) u64);

/// `Green::join` states.
pub(crate) const JOIN_RUNNING: u8 = 0;
pub(crate) const JOIN_WAITING: u8 = 1;
pub(crate) const JOIN_DONE: u8 = 2;
/// The `JoinHandle` was dropped before the thread finished: the thread drops its own result.
pub(crate) const JOIN_DETACHED: u8 = 3;

pub(crate) struct Task {
    pub(crate) id: ThreadId,
    pub(crate) name: Option<Box<str>>,
    /// The park word: tokens, park mode and epoch; see `rt::park`. For an OS thread it is also the
    /// futex it sleeps on.
    pub(crate) state: AtomicU32,
    /// What the thread waits on when parked (a `park::WaitReason`), or `WAIT_RUNNING` while a
    /// worker runs it: a hint for `rt::dump`, written with relaxed stores by the thread itself and
    /// its worker.
    pub(crate) wait: AtomicU8,
    /// What a green thread parked for good waits on, for the deadlock-cycle check: a tagged lock
    /// owner word or joined task, or 0 (see `rt::cycles`, whose protocol alone writes it).
    pub(crate) wait_on: AtomicUsize,
    pub(crate) green: Option<Green>,
}

/// The scheduler's part of a green thread. Fields in `UnsafeCell`s are touched only by the OS
/// thread currently running or switching this green thread, or (for `result`/`joiner`) under the
/// `join` handshake; each access says which.
pub(crate) struct Green {
    /// The runtime this green thread belongs to (a `sched::shared::Shared`), read through `Green::rt`.
    /// Not counted: a runtime outlives its live green threads (`rt::run` waits for all of them;
    /// the global runtime is never dropped), and the runtime is only reached through a task while
    /// the task is alive (parked or running).
    ///
    /// This field and `worker` are the scheduler's, typed as `()` here: the task layer sits below
    /// the scheduler and names none of its types (DESIGN.md, "Layers"). Only `sched` stores them,
    /// always from a `Shared` and a `Worker`, and its `impl Green` reads them back as those.
    pub(crate) rt: *const (),
    pub(crate) pid: Pid,
    /// Saved stack pointer while not running.
    pub(crate) ctx: UnsafeCell<usize>,
    /// Lowest saved stack pointer seen: evidence for trimming the stack before reuse.
    pub(crate) low_water: UnsafeCell<usize>,
    pub(crate) stack: UnsafeCell<Option<Stack>>,
    /// The usable part of `stack`, `[low, high)`, fixed for the thread's life (read by anyone):
    /// how the deadlock-cycle check knows a lock's owner by the stack pointer it noted
    /// (`rt::cycles`, step 1).
    pub(crate) stack_range: (usize, usize),
    pub(crate) entry: UnsafeCell<Option<Entry>>,
    pub(crate) result: UnsafeCell<Option<Outcome>>,
    pub(crate) join: AtomicU8,
    pub(crate) joiner: UnsafeCell<Option<Arc<Task>>>,
    /// The timer of the current timed park, set and read only by the green thread itself.
    pub(crate) timer: UnsafeCell<Option<TimerId>>,
    /// The green thread's own TLS area (its thread pointer is `tp`); given back to the pool when
    /// the thread is finalised. Touched only by whoever owns the switched-out thread.
    pub(crate) tls: UnsafeCell<Option<tls::Block>>,
    /// The thread pointer the switch loads to run this green thread.
    pub(crate) tp: usize,
    /// The worker running this green thread, set by that worker before every switch in: how green
    /// code reaches per-carrier state (DESIGN.md rule 1), never through a carrier's thread-local.
    /// Read and written through `Green::worker` and `Green::set_worker` (`sched`).
    pub(crate) worker: AtomicPtr<()>,
    /// Live `NoPreempt` guards of this green thread (touched only by the green thread itself).
    pub(crate) no_preempt: AtomicU32,
    /// Callbacks run when the thread has ended (`actor::monitor`, supervision); see `rt::task::watch`.
    pub(crate) watchers: Watchers,
    /// The process's fork generation when the thread was spawned (see `crate::rt::task::current::fork_survives`).
    pub(crate) fork_gen: u32,
}

// SAFETY: the UnsafeCell fields follow the access discipline documented on `Green`: each is touched
// by one thread at a time, with hand-offs ordered by the run queues' and `join`'s atomics.
unsafe impl Sync for Task {}
// SAFETY: as above; nothing in a Task is tied to the OS thread that made it.
unsafe impl Send for Task {}

impl Task {
    /// A task standing for a plain OS thread.
    pub(crate) fn new_os(name: Option<Box<str>>) -> Task {
        Task {
            id: ThreadId::next(None),
            name,
            state: AtomicU32::new(0),
            wait: AtomicU8::new(0),
            wait_on: AtomicUsize::new(0),
            green: None,
        }
    }

    /// Whether a green thread has finished (always `false` for an OS thread's task).
    pub(crate) fn is_finished(&self) -> bool {
        self.green
            .as_ref()
            .is_some_and(|g| g.join.load(Ordering::Acquire) == JOIN_DONE)
    }
}
