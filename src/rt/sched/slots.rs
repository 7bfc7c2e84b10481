//! The table of carrier slots: one `T` per carrier that exists or existed — the scheduler's
//! `WorkerShared` (run queue, run-next slot, sleep word, counters); generic, so that the table
//! names nothing of the scheduler above it. A runtime may have up to `Config::max_carriers`
//! carriers (10,000 by default) but usually has a few, so a slot is allocated when a carrier first
//! uses it and kept for the runtime's life (its counters stay in the runtime's sums; a retired
//! carrier's slot is reused by the next one). The table itself is an array of pointers.
//!
//! Slots `0..hw` are allocated (a slot is allocated before `hw` passes it), so thieves, the monitor
//! and `stats` look at `iter(hw)` without ever meeting an empty one.

use std::ops::Index;
use std::sync::atomic::AtomicPtr;
use std::sync::atomic::Ordering::{AcqRel, Acquire};

pub(crate) struct Slots<T> {
    ptrs: Box<[AtomicPtr<T>]>,
}

impl<T: Default> Slots<T> {
    /// A table of `capacity` slots, the first `allocated` of them allocated now.
    pub(crate) fn new(capacity: usize, allocated: usize) -> Slots<T> {
        let slots = Slots {
            ptrs: (0..capacity)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
        };
        for i in 0..allocated {
            slots.ensure(i);
        }
        slots
    }

    /// How many slots there may ever be.
    pub(crate) fn capacity(&self) -> usize {
        self.ptrs.len()
    }

    /// Allocates slot `i` if it is not yet.
    pub(crate) fn ensure(&self, i: usize) {
        if self.ptrs[i].load(Acquire).is_null() {
            let new = Box::into_raw(Box::<T>::default());
            if self.ptrs[i]
                .compare_exchange(std::ptr::null_mut(), new, AcqRel, Acquire)
                .is_err()
            {
                // SAFETY: `new` was never published; it is still only ours.
                drop(unsafe { Box::from_raw(new) });
            }
        }
    }

    /// Slots `0..hw`, all allocated.
    pub(crate) fn iter(&self, hw: usize) -> impl Iterator<Item = &T> {
        (0..hw).map(move |i| &self[i])
    }

    /// Every allocated slot with its index.
    pub(crate) fn allocated(&self) -> impl Iterator<Item = (usize, &T)> {
        self.ptrs.iter().enumerate().filter_map(|(i, p)| {
            // SAFETY: a published slot lives until the table drops.
            unsafe { p.load(Acquire).as_ref() }.map(|w| (i, w))
        })
    }
}

impl<T> Index<usize> for Slots<T> {
    type Output = T;

    #[inline]
    fn index(&self, i: usize) -> &T {
        let p = self.ptrs[i].load(Acquire);
        assert!(
            !p.is_null(),
            "smarm: carrier slot {i} used before it was allocated"
        );
        // SAFETY: a published slot lives until the table drops, and is only shared (`&`).
        unsafe { &*p }
    }
}

impl<T> Drop for Slots<T> {
    fn drop(&mut self) {
        for p in self.ptrs.iter_mut() {
            let p = *p.get_mut();
            if !p.is_null() {
                // SAFETY: made by `Box::into_raw` in `ensure`; `&mut self` means no one uses it.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}
