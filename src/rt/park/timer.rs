//! Deadlines for sleeping and timed parks, with cancellation.
//!
//! One heap per runtime behind a mutex. A timer is cancelled by removing its id from `live`; its
//! heap entry becomes stale and is skipped (and dropped) when it reaches the top, and the heap is
//! rebuilt from `live` when stale entries outnumber live ones, so cancelled timers never pile up.
//! `next` mirrors the earliest live deadline (nanoseconds since `base`) so workers can check "is
//! anything due?" without the lock. Nothing that can switch runs under the lock.
//!
//! ## The timer watch
//! No thread of its own fires timers: a sleeping worker watches the earliest deadline, and busy
//! workers look now and then. The protocol (`Shared::timer_watcher`, `Worker::sleep`):
//!
//! 1. **Taking the watch.** A worker about to sleep CASes `timer_watcher` from 0 to its index + 1.
//!    The one that wins sleeps at most until the earliest deadline ([`Timers::until_next`]); the
//!    others sleep without a timeout. At most one worker watches.
//! 2. **A new earliest deadline.** A timed park inserts its timer before it switches away;
//!    [`Timers::insert`] says whether the deadline is now the earliest, and then the parker wakes
//!    the watcher (`Shared::poke_timer_watcher`), which goes round its loop and re-arms its sleep
//!    for the new deadline. A later deadline needs no wake: the watcher wakes earlier anyway.
//! 3. **Leaving the watch.** A watcher that wakes (its deadline, or an unpark) stores 0 first;
//!    with timers still pending it wakes another sleeper, which takes the watch by step 1 — so a
//!    watcher that leaves to run work does not leave the deadlines unwatched. Then it fires what
//!    is due ([`Timers::take_expired`], as every worker looking for work does).
//! 4. **No sleeper.** Busy workers fire due timers every `GLOBAL_CHECK_INTERVAL` scheduling
//!    ticks and at every preemption, so deadlines are served while every worker computes.
//! 5. **Backstop.** The monitor wakes a sleeper when timers are pending and nobody watches (a watch
//!    lost as workers come and go); a child of `fork` resets the watch, whose holder may not exist
//!    there.
//!
//! A timer fires by `fire_timeout` (scheduler): it acts only on the park epoch it was made for
//! (`rt::park`, "Timeouts").

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::rt::sys::lock::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::rt::task::{Task, TimerId};

const NONE: u64 = u64::MAX;

pub(crate) struct Timers {
    base: Instant,
    next: AtomicU64,
    inner: Mutex<Inner>,
}

struct Inner {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    live: HashMap<u64, (Arc<Task>, u32)>,
    next_id: u64,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            base: Instant::now(),
            next: AtomicU64::new(NONE),
            inner: Mutex::new(Inner {
                heap: BinaryHeap::new(),
                live: HashMap::new(),
                next_id: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    /// Holds the timer lock across a `fork` (see `sched::before_fork`).
    pub(crate) fn hold_for_fork(&self) -> Box<dyn std::any::Any + '_> {
        Box::new(self.lock())
    }

    fn encode(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.base)
            .as_nanos()
            .min(NONE as u128 - 1) as u64
    }

    /// Registers a wake-up of `task` at `deadline` for park epoch `epoch`. Returns the id and
    /// whether this deadline is now the earliest (the idle worker watching timers must re-arm).
    pub(crate) fn insert(&self, deadline: Instant, task: Arc<Task>, epoch: u32) -> (TimerId, bool) {
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.heap.push(Reverse((deadline, id)));
        inner.live.insert(id, (task, epoch));
        let enc = self.encode(deadline);
        let earliest = enc < self.next.load(Ordering::Relaxed);
        if earliest {
            self.next.store(enc, Ordering::SeqCst);
        }
        (TimerId(id), earliest)
    }

    /// Cancels a timer; a no-op if it already fired.
    pub(crate) fn cancel(&self, id: TimerId) {
        let mut inner = self.lock();
        if inner.live.remove(&id.0).is_some() {
            if inner.heap.len() > 64 && inner.heap.len() > 2 * inner.live.len() {
                let Inner { heap, live, .. } = &mut *inner;
                heap.retain(|Reverse((_, id))| live.contains_key(id));
            }
            self.refresh_next(&mut inner);
        }
    }

    fn refresh_next(&self, inner: &mut Inner) {
        while let Some(Reverse((_, id))) = inner.heap.peek() {
            if inner.live.contains_key(id) {
                break;
            }
            inner.heap.pop();
        }
        let next = inner
            .heap
            .peek()
            .map_or(NONE, |Reverse((t, _))| self.encode(*t));
        self.next.store(next, Ordering::SeqCst);
    }

    /// Whether any timer exists at all (cheap, lock-free).
    pub(crate) fn is_empty(&self) -> bool {
        self.next.load(Ordering::SeqCst) == NONE
    }

    /// Time until the earliest deadline (zero if due), `None` without timers. Lock-free.
    pub(crate) fn until_next(&self, now: Instant) -> Option<Duration> {
        let next = self.next.load(Ordering::SeqCst);
        if next == NONE {
            return None;
        }
        let at = self.base + Duration::from_nanos(next);
        Some(at.saturating_duration_since(now))
    }

    /// Removes every timer due at `now` and returns their tasks and epochs; the caller fires
    /// them outside the lock.
    pub(crate) fn take_expired(&self, now: Instant, out: &mut Vec<(Arc<Task>, u32)>) {
        if self.next.load(Ordering::SeqCst) > self.encode(now) {
            return;
        }
        let mut inner = self.lock();
        while let Some(&Reverse((t, id))) = inner.heap.peek() {
            if t > now {
                break;
            }
            inner.heap.pop();
            if let Some(entry) = inner.live.remove(&id) {
                out.push(entry);
            }
        }
        self.refresh_next(&mut inner);
    }

    /// Drops every timer (runtime shutdown), breaking task → runtime reference cycles.
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.heap.clear();
        inner.live.clear();
        self.next.store(NONE, Ordering::SeqCst);
    }

    /// Live (not cancelled, not fired) timers; for tests and stats.
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> usize {
        self.lock().live.len()
    }
}
