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
//! The number of workers changes while the runtime runs: the monitor adds *extra* workers while a
//! worker is stuck (in a blocking std call, or a hog past its timeslice), and an extra worker that
//! runs dry retires again. An added worker starts unparked and searching (like a notified one); a
//! worker retires only from the sleeper list, so it is already counted as parked.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed, Ordering::SeqCst, fence};

const UNPARK_SHIFT: usize = 16;
const SEARCH_MASK: usize = (1 << UNPARK_SHIFT) - 1;

pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    /// Workers that exist now: the base workers plus active extra ones.
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

    /// Undoes [`add_worker`](Self::add_worker) for a worker whose thread could not be started.
    pub(crate) fn remove_unstarted_worker(&self) {
        let _sleepers = self.lock();
        self.num_workers.fetch_sub(1, SeqCst);
        self.state.fetch_sub((1 << UNPARK_SHIFT) | 1, SeqCst);
    }

    /// Workers that exist now.
    pub(crate) fn active_workers(&self) -> usize {
        self.num_workers.load(SeqCst)
    }

    /// Workers searching for work now.
    pub(crate) fn searching(&self) -> usize {
        self.state.load(SeqCst) & SEARCH_MASK
    }

    /// Retires `worker` if it is asleep and nobody has picked it to wake (then it must run).
    pub(crate) fn retire(&self, worker: usize) -> bool {
        let mut sleepers = self.lock();
        match sleepers.iter().position(|&w| w == worker) {
            Some(i) => {
                sleepers.swap_remove(i);
                self.num_workers.fetch_sub(1, SeqCst);
                true
            }
            None => false,
        }
    }

    /// Holds the sleeper list's lock across a `fork` (see `sched::before_fork`).
    pub(crate) fn hold_for_fork(&self) -> Box<dyn std::any::Any + '_> {
        Box::new(self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<usize>> {
        self.sleepers.lock().unwrap_or_else(|e| e.into_inner())
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
    /// it: it re-arms its sleep, taking the timer watch if that is free). A base worker (index
    /// below `base`) is preferred: it never retires, so a watch handed to it is not lost.
    pub(crate) fn another_sleeper(&self, me: usize, base: usize) -> Option<usize> {
        let sleepers = self.lock();
        let mut others = sleepers.iter().copied().filter(|&w| w != me);
        let first = others.clone().find(|&w| w < base);
        first.or_else(|| others.next())
    }
}
