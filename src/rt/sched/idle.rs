//! Which workers sleep, which search for work, and who gets woken — the protocol tokio's
//! `multi_thread/idle.rs` uses, which we follow because its argument is short and checkable.
//!
//! `state` packs two counters: workers *searching* for work (woken, not yet found any) and workers
//! *unparked* (not asleep). The rules:
//!
//! 1. A producer that makes work available (push to a local queue or the injector) calls
//!    [`Idle::worker_to_notify`]: if some worker is already searching, it will find the work, so
//!    nobody is woken; otherwise one sleeper is popped and counted as searching *before* it runs.
//!    So a burst of pushes wakes one worker, and a wake costs one futex syscall.
//! 2. A worker that found work while searching leaves the searching state; if it was the last
//!    searcher it wakes another (there may be more work than one worker can take).
//! 3. A worker that found no work goes to sleep with [`Idle::transition_to_parked`]. If it was the
//!    last searcher, it re-checks every queue *after* publishing that (SeqCst): a producer either
//!    saw it searching (and skipped the wake) before this point — then the re-check sees the work —
//!    or sees no searcher after it, and wakes someone. That closes the lost-wake-up window.
//! 4. At most half the workers search at once, so idle workers do not all hammer the queues.
//!
//! Here a "worker" is a carrier that holds one of the runtime's N workers (`worker.rs`,
//! "Carriers"). When the monitor gives a stuck carrier's worker to another carrier it counts the
//! new one in ([`Idle::add_worker`]: unparked and searching, like a notified one) at once, and the
//! stuck one counts itself out ([`Idle::remove_worker`]) when its green thread comes back to the
//! loop; in between the count is one above N, which only means one more carrier may search.

use crate::rt::sys::lock::{Mutex, MutexGuard};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed, Ordering::SeqCst, fence};

const UNPARK_SHIFT: usize = 16;
const SEARCH_MASK: usize = (1 << UNPARK_SHIFT) - 1;

pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    /// Workers counted now: N, plus for a moment each one whose stuck carrier has not yet given
    /// it up.
    num_workers: AtomicUsize,
}

impl Idle {
    /// `num_workers` base workers; `capacity` bounds the workers that may ever exist at once.
    pub(crate) fn new(num_workers: usize, capacity: usize) -> Idle {
        Idle {
            state: AtomicUsize::new(num_workers << UNPARK_SHIFT),
            sleepers: Mutex::new(Vec::with_capacity(capacity)),
            num_workers: AtomicUsize::new(num_workers),
        }
    }

    /// Counts in a new (extra) worker, unparked and searching: it will look for work at once.
    pub(crate) fn add_worker(&self) {
        let _sleepers = self.lock();
        self.num_workers.fetch_add(1, SeqCst);
        self.state.fetch_add((1 << UNPARK_SHIFT) | 1, SeqCst);
    }

    /// Workers asleep now.
    pub(crate) fn sleeping(&self) -> usize {
        let unparked = self.state.load(SeqCst) >> UNPARK_SHIFT;
        self.num_workers.load(SeqCst).saturating_sub(unparked)
    }

    /// Counts out an unparked worker whose carrier gave it up (it was `searching` or not).
    /// Returns `true` if it was the last searcher: the caller then wakes another (rule 2).
    pub(crate) fn remove_worker(&self, searching: bool) -> bool {
        let _sleepers = self.lock();
        self.num_workers.fetch_sub(1, SeqCst);
        let prev = self
            .state
            .fetch_sub((1 << UNPARK_SHIFT) | usize::from(searching), SeqCst);
        searching && prev & SEARCH_MASK == 1
    }

    /// Counts in a worker (unparked and searching) if fewer than `limit` exist.
    pub(crate) fn try_add_worker(&self, limit: usize) -> bool {
        let _sleepers = self.lock();
        if self.num_workers.load(SeqCst) >= limit {
            return false;
        }
        self.num_workers.fetch_add(1, SeqCst);
        self.state.fetch_add((1 << UNPARK_SHIFT) | 1, SeqCst);
        true
    }

    /// Holds the sleeper list's lock across a `fork` (see `sched::before_fork`).
    pub(crate) fn hold_for_fork(&self) -> Box<dyn std::any::Any + '_> {
        Box::new(self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<usize>> {
        self.sleepers.lock()
    }

    fn should_wake(&self) -> bool {
        // The producer's half of the Dekker pattern in rule 3: its push must be ordered before
        // this load. A fence plus a plain load does that without taking the cache line
        // exclusively (tokio uses `fetch_add(0)`, which bounces the line between busy workers).
        fence(SeqCst);
        let s = self.state.load(Relaxed);
        s & SEARCH_MASK == 0 && (s >> UNPARK_SHIFT) < self.num_workers.load(Relaxed)
    }

    /// Rule 1: the sleeping worker to wake for new work, if any should be.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_wake() {
            return None;
        }
        let mut sleepers = self.lock();
        if !self.should_wake() {
            return None;
        }
        let w = sleepers.pop()?;
        // One more unparked, one more searching.
        self.state.fetch_add((1 << UNPARK_SHIFT) | 1, SeqCst);
        Some(w)
    }

    /// Rule 4: may this worker start searching (stealing)?
    pub(crate) fn transition_to_searching(&self) -> bool {
        let s = self.state.load(SeqCst);
        if 2 * (s & SEARCH_MASK) >= self.num_workers.load(Relaxed) {
            return false;
        }
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// Rule 2: returns `true` if this was the last searching worker.
    pub(crate) fn transition_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, SeqCst);
        debug_assert!(prev & SEARCH_MASK > 0);
        prev & SEARCH_MASK == 1
    }

    /// Rule 3: registers `worker` as asleep. Returns `true` if it was the last searcher, in which
    /// case the caller must re-check all queues before it sleeps.
    pub(crate) fn transition_to_parked(&self, worker: usize, searching: bool) -> bool {
        let mut sleepers = self.lock();
        let dec = (1 << UNPARK_SHIFT) + usize::from(searching);
        let prev = self.state.fetch_sub(dec, SeqCst);
        sleepers.push(worker);
        searching && prev & SEARCH_MASK == 1
    }

    /// Takes `worker` off the sleeper list if it is still there (it woke by itself: a timer or a
    /// spurious wake-up). Returns `true` if it was.
    pub(crate) fn unpark_self(&self, worker: usize) -> bool {
        let mut sleepers = self.lock();
        match sleepers.iter().position(|&w| w == worker) {
            Some(i) => {
                sleepers.swap_remove(i);
                self.state.fetch_add(1 << UNPARK_SHIFT, SeqCst);
                true
            }
            None => false,
        }
    }

    /// Whether `worker` is still registered as asleep.
    pub(crate) fn is_parked(&self, worker: usize) -> bool {
        self.lock().contains(&worker)
    }

    /// Some sleeping worker other than `me`, left registered as asleep (a spurious wake-up for
    /// it: it re-arms its sleep, taking the timer watch if that is free). Sleepers hold workers
    /// and never retire, so a watch handed to one is not lost.
    pub(crate) fn another_sleeper(&self, me: usize) -> Option<usize> {
        self.lock().iter().copied().find(|&w| w != me)
    }
}

#[cfg(test)]
#[path = "idle_tests.rs"]
mod tests;
