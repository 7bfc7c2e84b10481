//! The runtime's own locks, and the per-thread count of runtime sections that preemption reads.
//!
//! Preemption switches a green thread out from inside the allocator (`rt::sched::preempt`), so any
//! allocation in green code is a possible switch point. Two kinds of runtime code must never be
//! switched out in the middle (DESIGN.md, rule 2):
//!
//! 1. code holding one of the runtime's locks: the next taker may be a scheduler loop, which would
//!    block its carrier on a lock whose holder waits in that same worker's queue — a deadlock the
//!    monitor cannot see, since no green thread runs there;
//! 2. code holding a reference to the worker it runs on (its caches, its run-next slot): after a
//!    switch the green thread may resume on another worker, and the reference would name a worker
//!    that now runs someone else.
//!
//! Both enter a [`Section`]: a counter in a thread-local, so per green thread (each has its own
//! thread pointer, `sys::tls`) and per carrier. [`preemptible`] reads it. Entering and leaving cost
//! a thread-local increment and decrement — no locked instruction.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;

thread_local! {
    static SECTIONS: Cell<u32> = const { Cell::new(0) };
}

/// While alive, the calling thread (green or OS) is inside a runtime section: no preemption.
/// Must be dropped on the thread that made it (it is `!Send`), and never held across a switch.
pub(crate) struct Section {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Section {
    #[inline]
    pub(crate) fn enter() -> Section {
        // `try_with`: during thread-local teardown there is nothing left to preempt.
        let _ = SECTIONS.try_with(|c| c.set(c.get() + 1));
        Section {
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for Section {
    #[inline]
    fn drop(&mut self) {
        let _ = SECTIONS.try_with(|c| c.set(c.get() - 1));
    }
}

/// Whether the calling thread may be switched out here: it is in no runtime section.
#[inline]
pub(crate) fn preemptible() -> bool {
    SECTIONS.try_with(|c| c.get() == 0).unwrap_or(false)
}

/// A `std::sync::Mutex` whose guard keeps the holder in a [`Section`] (no preemption while held).
pub(crate) struct Mutex<T: ?Sized> {
    inner: std::sync::Mutex<T>,
}

/// The guard of a runtime [`Mutex`]. Fields drop in order: the lock is released before the
/// section ends.
pub(crate) struct MutexGuard<'a, T: ?Sized> {
    guard: std::sync::MutexGuard<'a, T>,
    _section: Section,
}

impl<T> Mutex<T> {
    pub(crate) const fn new(t: T) -> Mutex<T> {
        Mutex {
            inner: std::sync::Mutex::new(t),
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, ignoring poisoning: the runtime's own state stays consistent across a panic in
    /// user code (no user code runs while a runtime lock is held, except the `Drop` of a value the
    /// runtime was holding, after which the state is whole again).
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        let _section = Section::enter();
        MutexGuard {
            guard: self.inner.lock().unwrap_or_else(PoisonError::into_inner),
            _section,
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_and_a_section_disable_preemption_and_nest() {
        assert!(preemptible());
        let m = Mutex::new(1);
        {
            let g = m.lock();
            assert_eq!(*g, 1);
            assert!(!preemptible());
            let s = Section::enter();
            drop(g);
            assert!(!preemptible(), "the section is still open");
            drop(s);
        }
        assert!(preemptible());
    }

    #[test]
    fn a_poisoned_lock_still_counts_its_section() {
        let m = std::sync::Arc::new(Mutex::new(0));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock();
            panic!("poison it");
        })
        .join();
        let g = m.lock();
        assert!(!preemptible());
        drop(g);
        assert!(preemptible());
    }
}
