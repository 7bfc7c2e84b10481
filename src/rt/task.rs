//! `Task`: what a thread *is* to the runtime, for green threads and plain OS threads alike.
//!
//! Every thread that can wait on a smarm primitive has one `Task`, shared through `Arc`: a green
//! thread's is made by `spawn`, an OS thread's lazily the first time it needs one. `Thread` (the
//! public handle) is an `Arc<Task>`; waiting and waking go through the task's `state` word (see
//! [`crate::rt::park`]). The fields under [`Green`] belong to the scheduler and exist only for
//! green threads.

use std::any::Any;
use std::cell::UnsafeCell;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use crate::rt::pid::Pid;
use crate::rt::sched::Shared;
use crate::rt::stack::Stack;
use crate::rt::timer::TimerId;

/// The closure a green thread runs; it returns its result type-erased.
pub(crate) type Entry = Box<dyn FnOnce() -> ErasedBox + Send + 'static>;

/// A green thread's outcome: `Exit` carries the closure's (erased) return value, `Panic` the payload.
pub(crate) type Outcome = Result<ErasedBox, Box<dyn Any + Send + 'static>>;

/// A `Box<T>` whose `T` is known only to the code that made it and the code that takes it back.
/// Unlike `Box<dyn Any>` it needs no `T: 'static`, which scoped threads require.
pub(crate) struct ErasedBox {
    ptr: *mut (),
    drop: unsafe fn(*mut ()),
}

// SAFETY: an ErasedBox is only ever made from a `T: Send` (see `new`), and moved, not shared.
unsafe impl Send for ErasedBox {}

impl ErasedBox {
    pub(crate) fn new<T: Send>(value: T) -> ErasedBox {
        unsafe fn drop_box<T>(p: *mut ()) {
            // SAFETY: `p` came from `Box::<T>::into_raw` in `new` and is dropped at most once.
            drop(unsafe { Box::from_raw(p as *mut T) });
        }
        ErasedBox {
            ptr: Box::into_raw(Box::new(value)) as *mut (),
            drop: drop_box::<T>,
        }
    }

    /// # Safety
    /// `T` must be the type this box was made from.
    pub(crate) unsafe fn into_inner<T>(self) -> T {
        let p = self.ptr as *mut T;
        std::mem::forget(self);
        // SAFETY: by the caller's promise `p` is a `Box<T>` we own.
        *unsafe { Box::from_raw(p) }
    }
}

impl Drop for ErasedBox {
    fn drop(&mut self) {
        // SAFETY: `drop` is the dropper for the type `ptr` was made from; we own it.
        unsafe { (self.drop)(self.ptr) }
    }
}

/// A unique identifier for a running thread (green or OS), never reused in a process.
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

    /// The id as a number (what `ThreadId::as_u64` returns on nightly std).
    pub fn as_u64(&self) -> NonZeroU64 {
        self.0
    }
}

/// `Green::join` states.
pub(crate) const JOIN_RUNNING: u8 = 0;
pub(crate) const JOIN_WAITING: u8 = 1;
pub(crate) const JOIN_DONE: u8 = 2;

pub(crate) struct Task {
    pub(crate) id: ThreadId,
    pub(crate) name: Option<Box<str>>,
    /// The park word: tokens, park mode and epoch; see `rt::park`. For an OS thread it is also the
    /// futex it sleeps on.
    pub(crate) state: AtomicU32,
    pub(crate) green: Option<Green>,
}

/// The scheduler's part of a green thread. Fields in `UnsafeCell`s are touched only by the OS
/// thread currently running or switching this green thread, or (for `result`/`joiner`) under the
/// `join` handshake; each access says which.
pub(crate) struct Green {
    pub(crate) rt: Arc<Shared>,
    pub(crate) pid: Pid,
    /// Saved stack pointer while not running.
    pub(crate) ctx: UnsafeCell<usize>,
    /// Lowest saved stack pointer seen: evidence for trimming the stack before reuse.
    pub(crate) low_water: UnsafeCell<usize>,
    pub(crate) stack: UnsafeCell<Option<Stack>>,
    pub(crate) entry: UnsafeCell<Option<Entry>>,
    pub(crate) result: UnsafeCell<Option<Outcome>>,
    pub(crate) join: AtomicU8,
    pub(crate) joiner: UnsafeCell<Option<Arc<Task>>>,
    /// The timer of the current timed park, set and read only by the green thread itself.
    pub(crate) timer: UnsafeCell<Option<TimerId>>,
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
