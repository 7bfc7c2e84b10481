//! std's poisoning, shared by `Mutex` and `RwLock`: a flag set when a guard is dropped by a thread
//! that started panicking after it locked, and the `LockResult` wrapping that follows from it.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{LockResult, PoisonError};

pub(crate) struct Flag(AtomicBool);

/// Taken with a lock: whether the thread was already panicking then (so unlocking while that same
/// panic unwinds does not poison).
pub(crate) struct Guard {
    panicking: bool,
}

impl Flag {
    pub(crate) const fn new() -> Flag {
        Flag(AtomicBool::new(false))
    }

    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn clear(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// `Ok(t)`, or `Err(PoisonError(t))` if poisoned.
    pub(crate) fn map<T>(&self, t: T) -> LockResult<T> {
        if self.get() {
            Err(PoisonError::new(t))
        } else {
            Ok(t)
        }
    }

    /// The poison guard for a lock just taken.
    pub(crate) fn guard(&self) -> Guard {
        Guard {
            panicking: crate::thread::panicking(),
        }
    }

    /// Called as the lock is released: poisons if a panic started while it was held.
    pub(crate) fn done(&self, guard: &Guard) {
        if !guard.panicking && crate::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}
