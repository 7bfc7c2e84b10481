//! One worker: an OS thread that runs green threads until its runtime shuts down.
//!
//! The loop: find a task ([`Worker::next_task`]), switch into it, and when it switches back handle
//! its intent — requeue it at the back (yield), complete its park, or finalise it (exit). Finding a
//! task looks, in order, at: the *run next* slot (a task this worker just woke; at most
//! [`RUN_NEXT_STREAK`] times in a row so two ping-ponging tasks cannot starve the queue), the local
//! queue (its newest spawn or wake first, then the back ring of yields; see `queue.rs` for the run
//! order), the injector (first, every [`GLOBAL_CHECK_INTERVAL`] ticks, so wakes from outside are not
//! starved by a busy local queue), due timers and ready sockets (`reactor::poll_now`), and finally
//! other workers' queues (stealing half). Every [`OLDEST_CHECK_INTERVAL`] ticks the oldest yielder
//! goes first instead (or the deque's oldest entry, when the monitor asks), so that a stream of new
//! spawns cannot starve older entries.
//! With nothing found the worker sleeps (idle.rs); the first sleeper also watches the earliest timer
//! deadline, and one sleeper polls the reactor (`park_worker`).

use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, SeqCst};
use std::time::Instant;

use super::{
    INTENT_EXIT, INTENT_PARK_USER, INTENT_PARK_WAKE, INTENT_YIELD, Shared, WorkerShared,
    set_current_worker,
};
use crate::rt::park::{self, MODE_MASK, TIMEOUT, WaitKind};
use crate::rt::pid;
use crate::rt::reactor;
use crate::rt::sched::queue::RunQueue;
use crate::rt::stats::WorkerCounters;
use crate::rt::sys::context;
use crate::rt::sys::stack::Stack;
use crate::rt::sys::tls;
use crate::rt::task::Task;
use crate::rt::trace;

/// Go checks its global queue every 61 scheduler ticks: often enough that outside wakes are not
/// starved, rarely enough that the lock is cold. A prime avoids lock-step with periodic workloads.
const GLOBAL_CHECK_INTERVAL: u32 = 61;
/// Every this many ticks the worker takes the oldest entry of its back ring (yields) before its
/// newest spawn, so yielders progress however busy the deque is — and the deque's front entry
/// instead when the monitor asked for it (`queue.rs`, "Nothing starves"). Like Go's 61, a prime,
/// and a different one so the two checks rarely coincide; a check costs two loads when the ring is
/// empty.
pub(crate) const OLDEST_CHECK_INTERVAL: u32 = 31;
/// Consecutive picks from the run-next slot before the local queue gets a turn.
const RUN_NEXT_STREAK: u32 = 16;
/// Tasks moved from the injector to the local queue per visit.
const INJECTOR_BATCH: usize = 32;

pub(crate) struct Worker {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    /// The scheduler loop's saved stack pointer while a green thread runs.
    pub(crate) sched_ctx: UnsafeCell<usize>,
    /// The green thread running now (null in the scheduler loop).
    pub(crate) current: Cell<*const Task>,
    run_next_streak: Cell<u32>,
    tick: Cell<u32>,
    searching: Cell<bool>,
    /// Caches in front of the runtime's stack pool and the pid free list (this thread only).
    pub(crate) stacks: UnsafeCell<Vec<Stack>>,
    pub(crate) pids: UnsafeCell<Vec<u32>>,
    pub(crate) tls: UnsafeCell<Vec<tls::Block>>,
    /// A block of thread ids `(next, end)`.
    pub(crate) ids: Cell<(u64, u64)>,
    /// This OS thread's own thread pointer and descriptor: what a switch back to the scheduler
    /// loads, and what a green thread's descriptor borrows while it runs here (`sys::tls`).
    pub(crate) carrier: tls::Carrier,
    /// This carrier's trace ring, lent to the green threads it runs (null until tracing is on).
    pub(crate) trace_ring: Cell<*const trace::Ring>,
    rng: Cell<u32>,
    expired: UnsafeCell<Vec<(Arc<Task>, u32)>>,
    /// This worker's `rt::stats` counters, cached so the hot path skips the slice indexing.
    counters: *const WorkerCounters,
}

/// The body of worker thread `index`.
pub(crate) fn run(shared: Arc<Shared>, index: usize) {
    // The stack-overflow handler runs on it (a green thread's own stack has no room left).
    let _alt_stack = crate::rt::overflow::AltStack::ensure();
    let extra = index >= shared.base_workers;
    let counters: *const WorkerCounters = &shared.workers[index].counters;
    let worker = Worker {
        index,
        shared,
        sched_ctx: UnsafeCell::new(0),
        current: Cell::new(ptr::null()),
        run_next_streak: Cell::new(0),
        tick: Cell::new(0),
        // An extra worker is counted as searching when the monitor adds it (idle.rs).
        searching: Cell::new(extra),
        stacks: UnsafeCell::new(Vec::new()),
        pids: UnsafeCell::new(Vec::new()),
        tls: UnsafeCell::new(Vec::new()),
        ids: Cell::new((0, 0)),
        carrier: tls::Carrier::current(),
        trace_ring: Cell::new(ptr::null()),
        rng: Cell::new(0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1),
        expired: UnsafeCell::new(Vec::new()),
        counters,
    };
    set_current_worker(&worker);
    worker.main_loop();
    set_current_worker(ptr::null());
    // SAFETY: the loop has ended; nothing else uses this worker's caches now.
    pid::return_local(unsafe { &mut *worker.pids.get() });
    // SAFETY: as above.
    tls::return_local(unsafe { &mut *worker.tls.get() });
    if index >= worker.shared.base_workers {
        crate::rt::monitor::release_slot(&worker.shared, index);
    }
}

impl Worker {
    pub(crate) fn local_queue(&self) -> &RunQueue {
        &self.shared.workers[self.index].queue
    }

    /// The part of this worker that other threads may touch (queue, run-next slot, counters).
    pub(crate) fn shared_part(&self) -> &WorkerShared {
        &self.shared.workers[self.index]
    }

    fn counters(&self) -> &WorkerCounters {
        // SAFETY: `counters` points into `self.shared.workers`, a boxed slice that is never
        // reallocated and lives as long as the `Arc<Shared>` this worker holds.
        unsafe { &*self.counters }
    }

    fn main_loop(&self) {
        loop {
            match self.next_task() {
                Some(task) => self.run_task(task),
                None => {
                    if !self.sleep() {
                        return;
                    }
                }
            }
        }
    }

    /// Runs `task` until it yields, parks or exits (re-running it at once if its park found a
    /// token already waiting).
    fn run_task(&self, task: Arc<Task>) {
        if !super::fork_survives(&task) {
            // A copy of a parent's green thread in a forked child: never run (and leaked).
            std::mem::forget(task);
            return;
        }
        if self.searching.replace(false) && self.shared.idle.transition_from_searching() {
            self.shared.notify(); // idle.rs rule 2
        }
        let ws = &self.shared.workers[self.index];
        loop {
            // SAFETY: only green tasks are queued.
            let g = unsafe { task.green.as_ref().unwrap_unchecked() };
            self.current.set(Arc::as_ptr(&task));
            g.worker
                .store(self as *const Worker as *mut Worker, Relaxed);
            // SAFETY: the task is switched out and ours to run; its descriptor is ours to write.
            unsafe { tls::Block::enter(g.tp, &self.carrier) };
            // Odd while a green thread runs (see `rt::monitor`); plain stores, only we write it.
            let run = ws.runs.load(Relaxed) + 1;
            ws.runs.store(run, Relaxed);
            task.wait.store(park::WAIT_RUNNING, Relaxed);
            let traced_since = trace::run_start();
            if traced_since != 0 && self.trace_ring.get().is_null() {
                self.trace_ring.set(trace::carrier_ring());
            }
            // SAFETY: `g.ctx` holds a context saved by `switch` or made by `init_stack`, on the
            // task's stack, which it owns; we hold an Arc to the task for the whole run, and no
            // other worker can hold it (it was taken from exactly one queue or slot).
            let intent = unsafe {
                context::switch(
                    self.sched_ctx.get(),
                    *g.ctx.get(),
                    Arc::as_ptr(&task) as usize,
                    g.tp,
                )
            };
            self.current.set(ptr::null());
            ws.runs.store(run + 1, Relaxed);
            if traced_since != 0 {
                let parked = matches!(intent, INTENT_PARK_USER | INTENT_PARK_WAKE);
                trace::ran(&task, traced_since, parked);
                if ws.stuck_run.load(Relaxed) == run {
                    trace::preempted(&task);
                }
            }
            // SAFETY: the task is switched out; we are the only thread touching its context.
            unsafe {
                let sp = *g.ctx.get();
                let low = &mut *g.low_water.get();
                if sp < *low {
                    *low = sp;
                }
            }
            match intent {
                INTENT_YIELD => {
                    task.wait.store(park::WAIT_NONE, Relaxed);
                    // Nothing else to run here: yield the OS thread too, as std's `yield_now`
                    // does, so that a green thread spinning on `yield_now` for an OS thread's
                    // progress (crossbeam's `Backoff::snooze`) lets that thread run. The yielder
                    // stays on this worker.
                    if !ws.has_run_next()
                        && self.local_queue().is_empty()
                        && self.shared.injector.is_empty()
                    {
                        // SAFETY: sched_yield has no preconditions.
                        unsafe { libc::sched_yield() };
                    }
                    // To the back: it runs after everything else this worker has queued.
                    self.local_queue().push_back(task, &self.shared.injector);
                    return;
                }
                INTENT_PARK_USER | INTENT_PARK_WAKE => {
                    let kind = if intent == INTENT_PARK_USER {
                        WaitKind::User
                    } else {
                        WaitKind::Wake
                    };
                    if Self::complete_park(&task, kind) {
                        WorkerCounters::bump(&self.counters().parks);
                        return; // parked: whoever unparks it owns its next run
                    }
                }
                INTENT_EXIT => {
                    self.finish(task);
                    return;
                }
                _ => unreachable!("smarm: unknown switch intent {intent}"),
            }
        }
    }

    /// Makes the switched-out task parked unless a token (or its timeout) already arrived.
    fn complete_park(task: &Task, kind: WaitKind) -> bool {
        let ready = kind.token() | TIMEOUT;
        let mut s = task.state.load(Acquire);
        loop {
            if s & ready != 0 {
                return false;
            }
            debug_assert_eq!(s & MODE_MASK, 0);
            match task
                .state
                .compare_exchange_weak(s, s | kind.mode(), AcqRel, Acquire)
            {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// Finalises a green thread that switched away for the last time.
    fn finish(&self, task: Arc<Task>) {
        // SAFETY: only green tasks run here.
        let g = unsafe { task.green.as_ref().unwrap_unchecked() };
        // SAFETY: the task will never run again; its stack and our caches are ours alone.
        unsafe {
            if let Some(stack) = (*g.stack.get()).take() {
                self.shared
                    .stacks
                    .give(&mut *self.stacks.get(), stack, *g.low_water.get());
            }
            if let Some(block) = (*g.tls.get()).take() {
                tls::give(&mut *self.tls.get(), block);
            }
            drop(pid::release(g.pid, Some(&mut *self.pids.get())));
        }
        g.watchers.fire();
        WorkerShared::bump(&self.shared.workers[self.index].finished);
    }

    fn next_task(&self) -> Option<Arc<Task>> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        let shared = &*self.shared;
        if tick.is_multiple_of(GLOBAL_CHECK_INTERVAL) {
            self.fire_timers();
            reactor::poll_now();
            if let Some(t) = shared
                .injector
                .pop_batch(self.local_queue(), INJECTOR_BATCH)
            {
                return Some(t);
            }
        }
        if tick.is_multiple_of(OLDEST_CHECK_INTERVAL) {
            let q = self.local_queue();
            if let Some(t) = q.pop_oldest(q.take_oldest_request()) {
                return Some(t);
            }
        }
        if let Some(t) = self.shared_part().take_run_next() {
            let streak = self.run_next_streak.get();
            if streak < RUN_NEXT_STREAK {
                self.run_next_streak.set(streak + 1);
                return Some(t);
            }
            // Past its streak: behind everything queued, or the pair would starve the rest.
            self.local_queue().push_back(t, &shared.injector);
        }
        self.run_next_streak.set(0);
        if let Some(t) = self.local_queue().pop() {
            return Some(t);
        }
        if let Some(t) = shared
            .injector
            .pop_batch(self.local_queue(), INJECTOR_BATCH)
        {
            return Some(t);
        }
        self.fire_timers();
        reactor::poll_now();
        if let Some(t) = self
            .shared_part()
            .take_run_next()
            .or_else(|| self.local_queue().pop())
        {
            return Some(t);
        }
        self.steal()
    }

    fn steal(&self) -> Option<Arc<Task>> {
        let shared = &*self.shared;
        let n = shared.workers_hw.load(Relaxed);
        // Even a lone worker becomes a searcher: idle.rs rule 3 (the last searcher re-checks the
        // queues before it sleeps) is what closes the lost-wake-up window for it too.
        if self.searching.get() || shared.idle.transition_to_searching() {
            self.searching.set(true);
            let start = self.next_rand() as usize % n;
            for k in 0..n {
                let victim = (start + k) % n;
                if victim == self.index {
                    continue;
                }
                let q = &shared.workers[victim].queue;
                if let Some(t) = q.steal_into(self.local_queue(), &shared.injector) {
                    WorkerCounters::bump(&self.counters().steals);
                    if trace::enabled() {
                        trace::stole(victim);
                    }
                    return Some(t);
                }
            }
        }
        shared
            .injector
            .pop_batch(self.local_queue(), INJECTOR_BATCH)
    }

    fn next_rand(&self) -> u32 {
        // xorshift32: cheap and good enough to spread victims.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }

    /// Wakes the tasks whose timers are due.
    fn fire_timers(&self) {
        let timers = &self.shared.timers;
        if timers.is_empty() {
            return;
        }
        // SAFETY: `expired` is a scratch vector of this worker, used only here and not re-entered
        // (firing a timer schedules a task; it never runs one).
        let expired = unsafe { &mut *self.expired.get() };
        timers.take_expired(Instant::now(), expired);
        for (task, epoch) in expired.drain(..) {
            fire_timeout(&task, epoch);
        }
    }

    fn has_work(&self) -> bool {
        let shared = &*self.shared;
        // A reactor poll in `park_worker` may have woken a task into our run-next slot.
        self.shared_part().has_run_next()
            || !shared.injector.is_empty()
            || shared.workers[..shared.workers_hw.load(SeqCst)]
                .iter()
                .any(|w| !w.queue.is_empty())
            || shared
                .timers
                .until_next(Instant::now())
                .is_some_and(|d| d.is_zero())
    }

    /// Sleeps until there may be work. Returns `false` when the runtime shuts down.
    fn sleep(&self) -> bool {
        let shared = &*self.shared;
        if shared.shutdown.load(SeqCst) {
            return false;
        }
        shared.wake_done_waiter_if_quiescent();
        let was_searching = self.searching.replace(false);
        if shared.idle.transition_to_parked(self.index, was_searching) && self.has_work() {
            // idle.rs rule 3: we were the last searcher and work appeared; stay awake.
            if !shared.idle.unpark_self(self.index) {
                self.searching.set(true); // a producer already woke us (counted as searching)
            }
            return true;
        }
        let extra = self.index >= shared.base_workers;
        let slept_at = Instant::now();
        loop {
            let watcher = shared
                .timer_watcher
                .compare_exchange(0, self.index + 1, SeqCst, SeqCst)
                .is_ok();
            let mut timeout = if watcher {
                shared.timers.until_next(Instant::now())
            } else {
                None
            };
            if extra {
                // An extra worker sleeps at most one blocking threshold before it may retire.
                let t = shared.blocking_threshold;
                timeout = Some(timeout.map_or(t, |d| d.min(t)));
            }
            let polled =
                !timeout.is_some_and(|d| d.is_zero()) && shared.park_worker(self.index, timeout);
            if watcher {
                shared.timer_watcher.store(0, SeqCst);
                // Leaving the watch with timers pending: wake a sleeper so that it takes the
                // watch, or deadlines would wait until this worker runs dry again.
                if !shared.timers.is_empty()
                    && let Some(other) =
                        shared.idle.another_sleeper(self.index, shared.base_workers)
                {
                    shared.unpark_worker(other);
                }
            }
            if shared.shutdown.load(SeqCst) {
                return false;
            }
            // Leaving the reactor to run work: a sleeper takes the driver (see `rt::reactor`).
            let hand_on_reactor = || {
                if polled {
                    match shared.idle.another_sleeper(self.index, shared.base_workers) {
                        Some(other) => shared.unpark_worker(other),
                        None => reactor::hand_on_to_global(shared),
                    }
                }
            };
            if !shared.idle.is_parked(self.index) {
                self.searching.set(true); // woken by a producer
                hand_on_reactor();
                return true;
            }
            if self.has_work() {
                if !shared.idle.unpark_self(self.index) {
                    self.searching.set(true);
                }
                hand_on_reactor();
                return true;
            }
            // An extra worker that has been idle for a whole threshold retires: whatever held
            // its worker has passed (or the monitor starts another when needed).
            // Never retire leaving pending timers unwatched (the watch may have been handed to us
            // by another worker leaving it): loop back and take the watch instead.
            if extra
                && slept_at.elapsed() >= shared.blocking_threshold
                && (shared.timers.is_empty() || shared.timer_watcher.load(SeqCst) != 0)
                && shared.idle.retire(self.index)
            {
                hand_on_reactor();
                return false;
            }
            // A spurious wake-up or a re-armed timer: sleep again.
        }
    }
}

/// A timer for `task`'s park epoch `epoch` is due: see `rt::park` for the protocol.
fn fire_timeout(task: &Arc<Task>, epoch: u32) {
    let mut s = task.state.load(Acquire);
    loop {
        if park::epoch(s) != epoch {
            return; // a stale timer: the task has parked again since
        }
        let (new, wake) = if s & MODE_MASK != 0 {
            (s & !MODE_MASK, true)
        } else {
            (s | TIMEOUT, false)
        };
        match task.state.compare_exchange_weak(s, new, AcqRel, Acquire) {
            Ok(_) => {
                if wake {
                    park::wake_parked(task, false);
                }
                return;
            }
            Err(actual) => s = actual,
        }
    }
}
