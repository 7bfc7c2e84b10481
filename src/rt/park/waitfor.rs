//! The wait-for records of the deadlock-cycle check (`rt::cycles`, steps 1-3 of its protocol):
//! the owner word a `Mutex` or `RwLock` keeps, and the record a green thread keeps in its task's
//! `wait_on` word while it waits on a lock or a `join` for good. Below everything that takes a
//! lock or waits (they write the records); the check that reads them is `rt::cycles`, above.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::rt::task::Task;

/// A record of a wait on a `Mutex`'s owner word (step 2).
pub(crate) const ON_MUTEX: usize = 1 << 60;
/// A record of a wait on an `RwLock`'s owner word (step 2).
pub(crate) const ON_RWLOCK: usize = 2 << 60;
/// A record of a `join` of the task at the record's address (step 2).
pub(crate) const ON_JOIN: usize = 3 << 60;
pub(crate) const TAG: usize = 3 << 60;
/// The checker reads the owner word through this record (step 3).
pub(crate) const BUSY: usize = 1 << 62;
/// The checker has finished reading after the waiter left (step 3).
pub(crate) const DONE: usize = BUSY;
/// The address in a record: x86-64 user space (even with 5-level paging) lies below 2^57.
pub(crate) const ADDR: usize = (1 << 60) - 1;

/// The owner word of a lock (step 1): the stack pointer of the thread that holds it
/// exclusively when it took it, or 0 (free, read-held, or being handed over).
#[repr(transparent)]
pub(crate) struct Owner(AtomicUsize);

impl Owner {
    pub(crate) const fn new() -> Owner {
        Owner(AtomicUsize::new(0))
    }

    /// The caller has just taken the lock exclusively.
    #[inline(always)]
    pub(crate) fn set(&self) {
        self.0.store(crate::rt::sys::arch::stack_pointer(), Relaxed);
    }

    /// The caller is about to release the lock (or to keep only a read hold of it).
    #[inline]
    pub(crate) fn clear(&self) {
        self.0.store(0, Relaxed);
    }

    /// The holder's stack pointer, or 0 (the checker, step 3).
    pub(crate) fn holder(&self) -> usize {
        self.0.load(Acquire)
    }

    /// A record of a wait on this lock, a `Mutex` or an `RwLock` (`tag`).
    pub(crate) fn record(&self, tag: usize) -> usize {
        let addr = self as *const Owner as usize;
        debug_assert!((tag == ON_MUTEX || tag == ON_RWLOCK) && addr & !ADDR == 0);
        addr | tag
    }
}

/// A record of a `join` of `target`.
pub(crate) fn on_join(target: &Task) -> usize {
    let addr = target as *const Task as usize;
    debug_assert!(addr & !ADDR == 0);
    addr | ON_JOIN
}

/// Step 2: the calling green thread, whose task is `me`, is about to park on `on` for good.
pub(crate) fn enter(me: &Task, on: usize) {
    me.wait_on.store(on, Release);
}

/// Step 2-3: the wait recorded by [`enter`] has ended. Waits while the checker reads through the
/// record (a few instructions of the monitor's, step 3).
pub(crate) fn leave(me: &Task) {
    if me.wait_on.swap(0, AcqRel) & BUSY != 0 {
        let mut spins = 0u32;
        while me.wait_on.load(Acquire) != DONE {
            if spins < 100 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        me.wait_on.store(0, Relaxed);
    }
}
