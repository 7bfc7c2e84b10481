//! Who is parked where, for the total-deadlock report (`rt::deadlock`, steps 1 and 2 of its
//! protocol): threads smarm started for itself, and plain OS threads parked in a smarm wait with no
//! timeout. Three counters, below everything that parks or starts a thread, so that each of those
//! counts itself without naming the report.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicU64, AtomicUsize};

static INTERNAL: AtomicUsize = AtomicUsize::new(0);
static OS_PARKED: AtomicUsize = AtomicUsize::new(0);
static OS_ACTIVITY: AtomicU64 = AtomicU64::new(0);

/// Held for the life of a thread smarm started for itself (carriers, monitors, the blocking pool,
/// the dump and trace helpers).
pub(crate) struct Internal(());

impl Internal {
    pub(crate) fn enter() -> Internal {
        INTERNAL.fetch_add(1, SeqCst);
        Internal(())
    }
}

impl Drop for Internal {
    fn drop(&mut self) {
        INTERNAL.fetch_sub(1, SeqCst);
    }
}

/// Held by a plain OS thread while it is parked in a smarm wait without a timeout.
pub(crate) struct OsPark(());

impl OsPark {
    pub(crate) fn enter() -> OsPark {
        OS_PARKED.fetch_add(1, SeqCst);
        OsPark(())
    }
}

impl Drop for OsPark {
    fn drop(&mut self) {
        OS_ACTIVITY.fetch_add(1, SeqCst);
        OS_PARKED.fetch_sub(1, SeqCst);
    }
}

/// Threads smarm started for itself, alive now.
pub(crate) fn internal() -> usize {
    INTERNAL.load(SeqCst)
}

/// Plain OS threads parked now in a smarm wait without a timeout.
pub(crate) fn os_parked() -> usize {
    OS_PARKED.load(SeqCst)
}

/// How many such parks have ended so far.
pub(crate) fn os_activity() -> u64 {
    OS_ACTIVITY.load(SeqCst)
}
