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
//!
//! ## Direct switches
//! A green thread that parks usually wakes the one it waits for first (a message sent, then a
//! receive), so that one sits in the run-next slot, and the loop's next pick would be it. The
//! parking thread switches straight to it instead of to the loop and back out: one context
//! switch and one thread-pointer write per hop instead of two each (ping-pong 196 → 143 ns a
//! round trip, a ring of 1,000 128 → 107 ns a hop, in a same-run A/B). The protocol:
//!
//! 1. In `switch_out`, a park (never a yield, a preemption or an exit) asks
//!    [`Worker::direct_next`]. It replays the loop's own pick: only the run-next slot, only while
//!    the run-next streak allows, never on a tick that looks at the injector, timers or old
//!    entries first, never with a lone yielder waiting, a stuck or lost worker, or a trace on.
//! 2. It takes the next task from the slot and makes it the running one as `run_task` would (its
//!    worker, descriptor, run counter — which ends the parker's run and starts the next, so the
//!    monitor and preemption see a new run — and culprit word). The worker's `running` reference
//!    moves to the next task; the parker's goes to `pending` with its wait kind.
//! 3. The parker switches to the next task's context and thread pointer. The parker is not
//!    parked yet: its park word has no mode, so a waker only leaves a token.
//! 4. The task that lands (in `switch_out` after its own switch, or in `trampoline` if it is new)
//!    calls [`Worker::land`] first: the parker's context is saved by now, so its park is completed
//!    exactly as the loop completes one (`complete_park`). If a token or its timeout arrived in
//!    between, the park fails and the parker goes back to the run-next slot (or the injector, if
//!    this carrier lost its worker).
//! 5. Whoever finally switches back to the loop is taken from `running`, whichever task the loop
//!    switched into at first.
//!
//! ## Run-next cannot strand
//! A task woken into this worker's run-next slot waits for the waker to switch. If the waker
//! computes on instead (a long loop, a blocking std call), another worker must take it. The
//! protocol, all on the side of the sleeper that watches the timers (the waker's hot path pays
//! nothing):
//!
//! 1. While some other worker runs a green thread, the watcher sleeps in naps rather than until
//!    woken, and at each look (`unstrand`) reads every other worker's run counter.
//! 2. A worker whose run counter is the same as at the previous look has been in one run for a
//!    whole nap: the task in its run-next slot (woken during that run) goes to the injector, and
//!    the watcher, finding work, wakes up and runs it.
//! 3. When a sleeper takes up the watch, it spins [`STRAND_SPIN`] for its second look (a nap is
//!    60-80 µs on a VM however short it is asked to be), as Go's spinning thieves do before they
//!    take `runnext`; after that it naps [`STRAND_TICK`], doubling up to [`STRAND_TICK_MAX`] while
//!    every look finds the runs changed (a switch-heavy worker, where nothing strands long).
//! 4. A task woken from a lock wait is *sticky* (`RUN_NEXT_STICKY`): its waker released the lock
//!    and most likely takes it again, so moving the task would only make two workers contend.
//! 5. A watcher that leaves to run work hands the watch to another sleeper.
//!
//! The monitor does the same at its own ticks, sticky or not, as a backstop.
//!
//! ## Carriers
//! The thread running this loop is a *carrier* (Go's M) holding one of the runtime's N *workers*
//! (Go's P); the `Worker` here is the carrier's loop with its queue and caches. The protocol by
//! which a carrier loses its worker and gets one back:
//!
//! 1. The monitor finds the carrier stuck in foreign code and sets its slot's `lost` flag, having
//!    counted in another carrier to hold the worker (`rt::sched::monitor`, "The hand-off").
//! 2. The stuck green thread goes on until it comes back to the runtime (yield, park, exit,
//!    preemption). Until then its own spawns and wakes go to this carrier's queue (`is_stuck`),
//!    where thieves take them.
//! 3. Back here, `run_task` sees `lost` and sends the green thread to the injector instead of
//!    running it again; `main_loop` then calls `give_up_worker`: the lone yielder, the run-next
//!    task and the queue go to the injector, the caches to the shared pools, and the carrier
//!    counts itself out of the workers.
//! 4. If a worker is free after all it takes it; else it waits as a spare
//!    (`monitor::wait_as_spare`) until the monitor gives it one (back to step 0 with `lost`
//!    cleared and counted in as searching) or it retires.
//!
//! A yield (or preemption) with nothing else runnable here keeps the green thread in the `lone`
//! slot, which thieves cannot reach: it runs again at once unless other work turns up, so a
//! green thread spinning on `yield_now` neither bounces between workers nor wakes idle ones.

use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, SeqCst};
use std::time::Instant;

use super::carriers::{SPARE_KEEP, lock};
use super::queue::Owner;
use super::shared::WorkerCounters;
use super::shared::{Intent, Shared, WorkerShared};
use crate::rt::park;
use crate::rt::park::word::{self, MODE_HELD, MODE_MASK, TIMEOUT, WaitKind};
use crate::rt::sys::context;
use crate::rt::sys::lock::Section;
use crate::rt::sys::stack::Stack;
use crate::rt::sys::tls;
use crate::rt::task::Green;
use crate::rt::task::Task;
use crate::rt::task::current;
use crate::rt::task::pid;
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
/// How often the watching sleeper looks at the running workers' run-next slots: a task that sits
/// in one through a whole period behind the same run is taken (Go's thieves take `runnext` after
/// ~3 µs, but they spin; we nap).
const STRAND_TICK: std::time::Duration = std::time::Duration::from_micros(20);
/// The spin before the second look when a sleeper takes up the watch.
const STRAND_SPIN: std::time::Duration = std::time::Duration::from_micros(10);
/// The longest nap: while the running workers switch at every look (short runs, where nothing
/// strands for long), the nap doubles up to this, so a switch-heavy worker is not disturbed 12,000
/// times a second; a run that outlasts a nap brings it back to [`STRAND_TICK`].
const STRAND_TICK_MAX: std::time::Duration = std::time::Duration::from_millis(1);

pub(crate) struct Worker {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    /// The scheduler loop's saved stack pointer while a green thread runs.
    pub(crate) sched_ctx: UnsafeCell<usize>,
    /// The green thread running now (null in the scheduler loop).
    pub(crate) current: Cell<*const Task>,
    /// The running green thread's reference, held by the worker for its run (a direct switch
    /// replaces it: `run_task` takes back whichever task switches out to it).
    running: Cell<Option<Arc<Task>>>,
    /// A green thread that parked by switching straight to the next one, and how: the green
    /// thread that lands next on this worker completes its park (`land`).
    pending: Cell<Option<(Arc<Task>, WaitKind)>>,
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
    /// The thread pointer of a green thread of this carrier that is inside `fork`, while FS is the
    /// carrier's (`sys::tls::fork_enter_carrier`); 0 otherwise.
    pub(crate) fork_green_tp: Cell<usize>,
    /// This carrier's trace ring, lent to the green threads it runs (null until tracing is on).
    pub(crate) trace_ring: Cell<*const trace::Ring>,
    rng: Cell<u32>,
    /// A green thread that yielded (or was preempted) when nothing else could run here: it runs
    /// again when nothing else turns up, and no thief can take it (see `run_task`).
    lone: Cell<Option<Arc<Task>>>,
    /// While this worker sleeps as the watcher: each other slot's run counter at the last look
    /// (`unstrand`).
    strand_seen: UnsafeCell<Vec<u64>>,
    expired: UnsafeCell<Vec<(Arc<Task>, u32)>>,
    /// This worker's `rt::stats` counters, cached so the hot path skips the slice indexing.
    counters: *const WorkerCounters,
    /// This carrier's slot (`Shared::workers[index]`), cached likewise.
    ws: *const WorkerShared,
}

/// Notes the lowest saved stack pointer of a switched-out green thread (`Green::low_water`).
///
/// # Safety
/// The green thread is switched out and only the caller touches its context.
unsafe fn note_low_water(g: &crate::rt::task::Green) {
    // SAFETY: the caller's promise.
    unsafe {
        let sp = *g.ctx.get();
        let low = &mut *g.low_water.get();
        if sp < *low {
            *low = sp;
        }
    }
}

/// The body of carrier thread `index`. A carrier the monitor starts to take over a stuck
/// carrier's worker was counted as searching when it was added (idle.rs), so it starts `searching`.
pub(crate) fn run(shared: Arc<Shared>, index: usize, searching: bool) {
    // The stack-overflow handler runs on it (a green thread's own stack has no room left).
    let _alt_stack = crate::rt::sched::overflow::AltStack::ensure();
    let ws: *const WorkerShared = &shared.workers[index];
    let counters: *const WorkerCounters = &shared.workers[index].counters;
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    shared.workers[index].tid.store(tid, SeqCst);
    let worker = Worker {
        index,
        shared,
        sched_ctx: UnsafeCell::new(0),
        current: Cell::new(ptr::null()),
        running: Cell::new(None),
        pending: Cell::new(None),
        run_next_streak: Cell::new(0),
        tick: Cell::new(0),
        searching: Cell::new(searching),
        stacks: UnsafeCell::new(Vec::new()),
        pids: UnsafeCell::new(Vec::new()),
        tls: UnsafeCell::new(Vec::new()),
        ids: Cell::new((0, 0)),
        carrier: tls::Carrier::current(),
        fork_green_tp: Cell::new(0),
        trace_ring: Cell::new(ptr::null()),
        rng: Cell::new(0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1),
        lone: Cell::new(None),
        strand_seen: UnsafeCell::new(Vec::new()),
        expired: UnsafeCell::new(Vec::new()),
        counters,
        ws,
    };
    set_current_worker(&worker);
    worker.main_loop();
    set_current_worker(ptr::null());
    worker.return_caches();
    worker.shared_part().tid.store(0, SeqCst);
    release_slot(&worker.shared, index);
}

impl Worker {
    /// The owner's handle on this worker's queue.
    #[inline]
    pub(crate) fn local_queue(&self) -> Owner<'_> {
        // SAFETY: a `Worker` is its carrier's alone (made and used on the carrier's stack, and
        // reached by the green thread it runs while its loop waits), and so is its slot's queue:
        // a hand-off gives the worker to another carrier with a slot of its own ("Carriers").
        unsafe { self.shared_part().queue.owner() }
    }

    /// The part of this worker that other threads may touch (queue, run-next slot, counters).
    #[inline]
    pub(crate) fn shared_part(&self) -> &WorkerShared {
        // SAFETY: `ws` points at this carrier's slot, which lives as long as the `Arc<Shared>`
        // this worker holds (`slots.rs`: slots are never freed before the table).
        unsafe { &*self.ws }
    }

    /// Hands this carrier's caches (stacks, TLS areas, pids) to the shared pools.
    fn return_caches(&self) {
        // SAFETY: called from this carrier's loop, never from green code: nothing else uses the
        // caches now.
        unsafe {
            self.shared.stacks.return_local(&mut *self.stacks.get());
            pid::table::return_local(&mut *self.pids.get());
            tls::return_local(&mut *self.tls.get());
        }
    }

    /// The monitor gave this carrier's worker to another carrier while a green thread here was
    /// stuck (module docs, "Carriers"); that green thread has now come back to the loop. Hands
    /// everything queued here to the injector, counts this carrier out of the workers, and waits
    /// as a spare carrier until the monitor needs one again. Returns `false` when the carrier
    /// retires (idle too long, or the runtime shuts down).
    fn give_up_worker(&self) -> bool {
        let shared = &*self.shared;
        let ws = self.shared_part();
        let mut batch: Vec<Arc<Task>> = Vec::new();
        batch.extend(self.lone.take());
        batch.extend(ws.take_run_next());
        while let Some(t) = self.local_queue().pop() {
            batch.push(t);
        }
        let moved = !batch.is_empty();
        if moved {
            shared.injector.push_batch(batch);
        }
        self.return_caches();
        // Its green thread may have been the runtime's last: `rt::run`'s caller learns that from
        // a worker about to sleep, and this carrier is about to (as a spare).
        shared.wake_done_waiter_if_quiescent();
        if shared.idle.remove_worker(self.searching.replace(false)) || moved {
            shared.notify(); // idle.rs rule 2: the search passes on; or there is work to take
        }
        if shared.idle.try_add_worker(shared.base_workers) {
            // A worker was free after all (the monitor could not give it to another carrier).
            ws.lost.store(false, SeqCst);
            self.searching.set(true);
            return true;
        }
        if wait_as_spare(shared, self.index) {
            self.searching.set(true); // the monitor counted us in as searching (idle.rs)
            return true;
        }
        false
    }

    fn counters(&self) -> &WorkerCounters {
        // SAFETY: `counters` points into `self.shared.workers`, a boxed slice that is never
        // reallocated and lives as long as the `Arc<Shared>` this worker holds.
        unsafe { &*self.counters }
    }

    fn main_loop(&self) {
        loop {
            if self.shared_part().lost.load(Relaxed) && !self.give_up_worker() {
                return;
            }
            match self.next_task() {
                Some(task) => self.run_task(task),
                None => {
                    if !self.sleep() {
                        return;
                    }
                    self.shared.monitor.wake_if_deep();
                }
            }
        }
    }

    /// Runs `task` until it yields, parks or exits (re-running it at once if its park found a
    /// token already waiting).
    fn run_task(&self, task: Arc<Task>) {
        if !crate::rt::task::current::fork_survives(&task) {
            // A copy of a parent's green thread in a forked child: never run (and leaked).
            std::mem::forget(task);
            return;
        }
        if self.searching.replace(false) && self.shared.idle.transition_from_searching() {
            self.shared.notify(); // idle.rs rule 2
        }
        let ws = self.shared_part();
        let mut task = task;
        loop {
            let (run, traced_since) = self.enter_run(&task);
            // SAFETY: only green tasks are queued.
            let g = unsafe { task.green.as_ref().unwrap_unchecked() };
            // SAFETY: the task is switched out; only we touch its context.
            let (ctx, arg, tp) = (unsafe { *g.ctx.get() }, Arc::as_ptr(&task) as usize, g.tp);
            self.running.set(Some(task));
            // SAFETY: `ctx` is a context saved by `switch` or made by `init_stack`, on the task's
            // stack, which it owns; the worker holds the task's Arc (`running`) for the whole
            // run, and no other worker can hold it (it was taken from exactly one queue or slot).
            let word = unsafe { context::switch(self.sched_ctx.get(), ctx, arg, tp) };
            let intent = Intent::from_word(word);
            // Whoever switched out to us: the task we switched into, or the last of a chain of
            // direct switches that started with it (`direct_next`).
            task = self.running.take().expect("a run without its task");
            self.current.set(ptr::null());
            let direct = ws.runs.load(Relaxed) != run;
            ws.runs.store(ws.runs.load(Relaxed) + 1, Relaxed);
            // SAFETY: only green tasks run.
            let g = unsafe { task.green.as_ref().unwrap_unchecked() };
            if traced_since != 0 && !direct {
                let parked = matches!(intent, Intent::Park(_));
                trace::ran(&task, traced_since, parked);
                if ws.stuck_run.load(Relaxed) == run {
                    trace::preempted(&task);
                }
            }
            // SAFETY: the task is switched out; we are the only thread touching its context.
            unsafe { note_low_water(g) };
            match intent {
                Intent::Yield | Intent::Preempt => {
                    task.wait.store(word::WAIT_NONE, Relaxed);
                    if intent == Intent::Preempt {
                        WorkerCounters::bump(&self.counters().preemptions);
                        if traced_since != 0 && !direct {
                            trace::preempted(&task);
                        }
                        // A run cut at its timeslice is a good moment for due timers and ready
                        // sockets: with every worker busy with hogs nobody sleeps to watch them,
                        // and the periodic check comes only every `GLOBAL_CHECK_INTERVAL` runs.
                        self.fire_timers();
                        super::shared::poll_now();
                    }
                    if !ws.has_run_next()
                        && self.local_queue().is_empty()
                        && self.shared.injector.is_empty()
                    {
                        // Nothing else to run here. A yield also yields the OS thread, as std's
                        // `yield_now` does, so that a green thread spinning on `yield_now` for an
                        // OS thread's progress (crossbeam's `Backoff::snooze`) lets that thread
                        // run. Either way the thread stays on this worker, in a slot thieves
                        // cannot reach: a spinner bouncing between idle workers would keep both
                        // busy and starve the OS thread it waits for.
                        if intent == Intent::Yield {
                            // SAFETY: sched_yield has no preconditions.
                            unsafe { libc::sched_yield() };
                        }
                        self.lone.set(Some(task));
                        return;
                    }
                    // To the back: it runs after everything else this worker has queued.
                    self.local_queue().push_back(task, &self.shared.injector);
                    return;
                }
                Intent::Park(kind) => {
                    if Self::complete_park(&task, kind) {
                        WorkerCounters::bump(&self.counters().parks);
                        return; // parked: whoever unparks it owns its next run
                    }
                    if ws.lost.load(Relaxed) {
                        // Woken already, but this carrier no longer has a worker: the task runs
                        // wherever one takes it (`main_loop` gives the worker up next).
                        self.shared.injector.push(task);
                        self.shared.notify();
                        return;
                    }
                }
                Intent::Exit => {
                    self.finish(task);
                    return;
                }
            }
        }
    }

    /// Makes `task` this worker's running green thread, just before the switch into it: its
    /// worker and descriptor, the run counter (odd while a run lasts), the culprit word and its
    /// wait byte. Returns the run's counter value and its trace start (0 when not traced).
    #[inline(always)]
    fn enter_run(&self, task: &Arc<Task>) -> (u64, u64) {
        let ws = self.shared_part();
        // SAFETY: only green tasks are queued.
        let g = unsafe { task.green.as_ref().unwrap_unchecked() };
        self.current.set(Arc::as_ptr(task));
        g.set_worker(self);
        // SAFETY: the task is switched out and ours to run; its descriptor is ours to write.
        unsafe { tls::Block::enter(g.tp, &self.carrier) };
        // Odd while a green thread runs (see `rt::sched::monitor`); plain stores, only we write it.
        let run = ws.runs.load(Relaxed) + 1;
        ws.running.store(Arc::as_ptr(task) as usize, Relaxed);
        ws.runs.store(run, Relaxed);
        task.wait.store(word::WAIT_RUNNING, Relaxed);
        let traced_since = trace::run_start();
        if traced_since != 0 && self.trace_ring.get().is_null() {
            self.trace_ring.set(trace::carrier_ring());
        }
        (run, traced_since)
    }

    /// A direct switch (module docs, "Direct switches"): the green thread running here is about
    /// to park (`kind`). If the scheduler loop would pick the task in the run-next slot next, this
    /// takes it, makes it the running one, and returns the `(context, argument, thread pointer)`
    /// to switch to; the parking thread goes to `pending`, for the next landing to complete its
    /// park. `None`: switch to the loop as usual.
    ///
    /// Called on the running green thread, on this worker's carrier, where it allocates nothing
    /// (no preemption point: `sys::lock`'s rule 2 holds).
    pub(crate) fn direct_next(&self, kind: WaitKind) -> Option<(usize, usize, usize)> {
        let ws = self.shared_part();
        // The loop's own picks, replayed: the run-next slot at most `RUN_NEXT_STREAK` times in
        // a row, and never on a tick that looks at the injector, timers or old entries first.
        let streak = self.run_next_streak.get();
        let tick = self.tick.get().wrapping_add(1);
        if streak >= RUN_NEXT_STREAK
            || tick.is_multiple_of(GLOBAL_CHECK_INTERVAL)
            || tick.is_multiple_of(OLDEST_CHECK_INTERVAL)
            || !ws.has_run_next()
            || ws.is_stuck()
            || trace::enabled()
        {
            return None;
        }
        // A lone yielder would be queued behind the pick by the loop: let the loop do it.
        let lone = self.lone.take();
        let has_lone = lone.is_some();
        self.lone.set(lone);
        if has_lone {
            return None;
        }
        let next = ws.take_run_next()?;
        if !crate::rt::task::current::fork_survives(&next) {
            // As `run_task`: a forked child's copy of a parent's green thread never runs.
            std::mem::forget(next);
            return None;
        }
        self.tick.set(tick);
        self.run_next_streak.set(streak + 1);
        let prev = self.running.take().expect("a run without its task");
        self.pending.set(Some((prev, kind)));
        ws.runs.store(ws.runs.load(Relaxed) + 1, Relaxed); // the parking thread's run ends
        self.enter_run(&next);
        // SAFETY: only green tasks are queued; `next` is switched out and now ours to run.
        let to = unsafe {
            let g = next.green.as_ref().unwrap_unchecked();
            (*g.ctx.get(), Arc::as_ptr(&next) as usize, g.tp)
        };
        self.running.set(Some(next));
        Some(to)
    }

    /// After a switch into a green thread: if the thread that ran before it switched straight to
    /// it (`direct_next`), complete that thread's park, as the loop does after a switch back.
    /// Called by the green thread that landed, on this worker's carrier.
    #[inline]
    pub(crate) fn land(&self) {
        if let Some((prev, kind)) = self.pending.take() {
            self.complete_direct(prev, kind);
        }
    }

    fn complete_direct(&self, prev: Arc<Task>, kind: WaitKind) {
        // SAFETY: only green tasks run; `prev` is switched out (its switch saved its context
        // before this thread ran) and only we touch its context.
        unsafe { note_low_water(prev.green.as_ref().unwrap_unchecked()) };
        if Self::complete_park(&prev, kind) {
            WorkerCounters::bump(&self.counters().parks);
            return; // parked: whoever unparks it owns its next run
        }
        // Woken before its park completed: it runs again, next on this worker (the slot is
        // free: we took its task), or from the injector if this carrier lost its worker.
        // Pushing may allocate: no preemption meanwhile (`sys::lock`).
        let _section = crate::rt::sys::lock::Section::enter();
        let ws = self.shared_part();
        if ws.lost.load(Relaxed) {
            self.shared.injector.push(prev);
            self.shared.notify();
        } else if let Some(other) = ws.replace_run_next(prev, false) {
            self.local_queue().push(other, &self.shared.injector);
            self.shared.notify();
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
            drop(pid::table::release(g.pid, Some(&mut *self.pids.get())));
        }
        g.watchers.fire();
        WorkerShared::bump(&self.shared.workers[self.index].finished);
    }

    fn next_task(&self) -> Option<Arc<Task>> {
        let lone = self.lone.take();
        // (One call site, so that it is inlined here.)
        match (self.find_local(), lone) {
            (Some(t), None) => Some(t),
            (None, None) => self.steal(),
            // A lone yielder runs again unless something else turned up here; this worker does
            // not go stealing meanwhile (it is busy, and a steal would make the yielder stealable
            // and bounce it between workers).
            (Some(t), Some(lone)) => {
                self.local_queue().push_back(lone, &self.shared.injector);
                Some(t)
            }
            (None, Some(lone)) => Some(lone),
        }
    }

    /// What this worker can run without stealing: its run-next slot, its queue, the injector,
    /// due timers and ready sockets.
    fn find_local(&self) -> Option<Arc<Task>> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        let shared = &*self.shared;
        if tick.is_multiple_of(GLOBAL_CHECK_INTERVAL) {
            self.fire_timers();
            super::shared::poll_now();
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
        super::shared::poll_now();
        if let Some(t) = self
            .shared_part()
            .take_run_next()
            .or_else(|| self.local_queue().pop())
        {
            return Some(t);
        }
        None
    }

    fn steal(&self) -> Option<Arc<Task>> {
        let shared = &*self.shared;
        let n = shared.workers_hw.load(Acquire);
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
            || shared
                .workers
                .iter(shared.workers_hw.load(SeqCst))
                .any(|w| !w.queue.is_empty())
            || shared
                .timers
                .until_next(Instant::now())
                .is_some_and(|d| d.is_zero())
    }

    /// One look of the watching sleeper at the other workers (module docs, "Run-next cannot
    /// strand"): a task found in the run-next slot of a worker still in the same run as at the
    /// last look (so the run has lasted a whole nap and the task was woken during it) goes to the
    /// injector, where `has_work` sees it. Returns whether another worker runs a green thread now
    /// (whether to keep looking), and whether some run has lasted since the last look.
    fn unstrand(&self) -> (bool, bool) {
        let shared = &*self.shared;
        let hw = shared.workers_hw.load(Acquire);
        // SAFETY: only this worker touches `strand_seen`, from its own loop.
        let seen = unsafe { &mut *self.strand_seen.get() };
        seen.resize(hw, 0);
        let mut running = false;
        let mut long_run = false;
        for (i, w) in shared.workers.iter(hw).enumerate() {
            if i == self.index || w.lost.load(Relaxed) {
                continue;
            }
            let runs = w.runs.load(Relaxed);
            if runs & 1 == 1 {
                running = true;
                long_run |= seen[i] == runs;
                if seen[i] == runs
                    && w.run_next_addr() & super::shared::RUN_NEXT_STICKY == 0
                    && let Some(t) = w.take_run_next()
                {
                    shared.injector.push(t);
                }
            }
            seen[i] = runs;
        }
        (running, long_run)
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
        let mut nap = STRAND_TICK / 2;
        let mut first_look = true;
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
            // The watcher also naps in short periods while another worker runs, to take a task
            // stranded in that worker's run-next slot.
            let (mut strand_watch, mut long_run) = if watcher {
                self.unstrand()
            } else {
                (false, false)
            };
            if strand_watch && first_look {
                // Taking up the watch: the runs seen so far have no history, and a nap is 60-80 µs
                // on a VM whatever was asked. A short spin gives the second look at once, as Go's
                // spinning thieves do before they take `runnext`.
                first_look = false;
                let t0 = Instant::now();
                while t0.elapsed() < STRAND_SPIN {
                    std::hint::spin_loop();
                }
                (strand_watch, long_run) = self.unstrand();
                if self.has_work() {
                    timeout = Some(std::time::Duration::ZERO);
                }
            }
            if strand_watch {
                nap = if long_run {
                    STRAND_TICK
                } else {
                    (nap * 2).min(STRAND_TICK_MAX)
                };
                timeout = Some(timeout.map_or(nap, |d| d.min(nap)));
            }
            let polled =
                !timeout.is_some_and(|d| d.is_zero()) && shared.park_worker(self.index, timeout);
            if watcher {
                shared.timer_watcher.store(0, SeqCst);
                // Leaving the watch with timers pending: wake a sleeper so that it takes the
                // watch, or deadlines would wait until this worker runs dry again.
                if !shared.timers.is_empty()
                    && let Some(other) = shared.idle.another_sleeper(self.index)
                {
                    shared.unpark_worker(other);
                }
            }
            if shared.shutdown.load(SeqCst) {
                return false;
            }
            // Leaving the reactor to run work: a sleeper takes the driver (see `rt::io::reactor`).
            // Leaving the watch to run work: a sleeper takes it too, for this worker's run-next
            // slot is now one to watch (with timers pending one was woken above already).
            let hand_on_reactor = || {
                if watcher
                    && !polled
                    && shared.timers.is_empty()
                    && let Some(other) = shared.idle.another_sleeper(self.index)
                {
                    shared.unpark_worker(other);
                }
                if polled {
                    match shared.idle.another_sleeper(self.index) {
                        Some(other) => shared.unpark_worker(other),
                        None => super::shared::hand_on_to_global(shared),
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
            // A spurious wake-up or a re-armed timer: sleep again.
        }
    }
}

/// A timer for `task`'s park epoch `epoch` is due: see `rt::park` for the protocol.
fn fire_timeout(task: &Arc<Task>, epoch: u32) {
    let mut s = task.state.load(Acquire);
    loop {
        if word::epoch(s) != epoch {
            return; // a stale timer: the task has parked again since
        }
        // Parked: wake it. Running, or held by a dump (`park::hold_parked`): leave TIMEOUT, which
        // its park's completion (or the hold's end) treats like a token.
        let mode = s & MODE_MASK;
        let (new, wake) = if mode != 0 && mode != MODE_HELD {
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

/// The scheduler's typed view of the fields it keeps in the task layer's `Green` (see there).
impl Green {
    /// The runtime this green thread belongs to.
    pub(crate) fn rt(&self) -> &Shared {
        // SAFETY: `rt` is only ever set (by `spawn_placed`) from a `&Shared`; callers only ask
        // while the task is alive, which the runtime outlives (see the field).
        unsafe { &*(self.rt as *const Shared) }
    }

    /// The worker running this green thread, set by that worker before every switch in (null
    /// before the first); valid while the green thread runs on it.
    #[inline(always)]
    pub(crate) fn worker(&self) -> *const Worker {
        self.worker.load(Relaxed) as *const Worker
    }

    #[inline(always)]
    pub(crate) fn set_worker(&self, w: &Worker) {
        self.worker.store(w as *const Worker as *mut (), Relaxed);
    }
}

thread_local! {
    /// The worker a carrier runs (scheduler code only: green code has its own, null, copy).
    static WORKER: Cell<*const Worker> = const { Cell::new(std::ptr::null()) };
}

/// The worker running the calling code, or null on a plain OS thread. From a green thread this is
/// the worker it runs on *now*: never keep the result across a switch.
#[inline(never)]
pub(crate) fn current_worker() -> *const Worker {
    // Inlined here: this function is itself never inlined, and it switches nowhere.
    let t = current::current_task_inline();
    if t.is_null() {
        return WORKER.with(Cell::get);
    }
    // SAFETY: a current task is the running green thread's own task, alive while it runs;
    // `green` is set for every spawned task.
    unsafe { (*t).green.as_ref().unwrap_unchecked().worker() }
}

#[inline(never)]
/// The worker this carrier runs, from its own thread-local (scheduler code and the `fork`
/// handlers, on the carrier's thread pointer; green code uses [`current_worker`]).
pub(crate) fn carrier_worker() -> *const Worker {
    WORKER.with(Cell::get)
}

#[inline(never)]
pub(crate) fn set_current_worker(w: *const Worker) {
    WORKER.with(|c| c.set(w));
}

/// The trace ring of the carrier running the calling green thread, or null (`trace`'s source for
/// green threads; see `trace::set_green_ring_source`).
pub(crate) fn green_trace_ring() -> *const trace::Ring {
    // SAFETY: called from a green thread inside a section: its worker is alive and keeps it.
    unsafe { current_worker().as_ref() }.map_or(std::ptr::null(), |w| w.trace_ring.get())
}

/// The thread pointer of the carrier running the calling green thread; 0 off green threads.
/// Async-signal-safe (a `const` thread-local and plain loads): `sys::tls`'s signal shim calls it.
pub(crate) fn current_carrier_tp() -> usize {
    let Some(t) = current::current_task() else {
        return 0;
    };
    // SAFETY: a current task is the running green thread's task; its worker, set before the
    // switch in, is alive while it runs.
    unsafe {
        let w = (*t).green.as_ref().unwrap_unchecked().worker();
        w.as_ref().map_or(0, |w| w.carrier.tp)
    }
}

/// The worker running the caller if it belongs to `rt`. The reference lives no longer than the
/// caller's [`Section`]: inside one the caller is never switched out (`sys::lock`), so it stays
/// on this worker, and the caller itself never switches while it holds a runtime section.
pub(crate) fn local_worker<'s>(rt: &Shared, _section: &'s Section) -> Option<&'s Worker> {
    let w = current_worker();
    // SAFETY: a non-null worker is the one running this code, alive while it runs; the section
    // keeps this code on it for the reference's lifetime.
    let w = unsafe { w.as_ref()? };
    std::ptr::eq(&*w.shared, rt).then_some(w)
}

/// Makes a parked green thread runnable (its park mode was just cleared by the caller).
///
/// On a worker of the task's runtime the task goes to the worker's *run next* slot, or with
/// `to_back`, onto its local deque like a spawn (taken newest first, after nothing in the run-next
/// slot): a thread that finishes wakes its joiner that way, since nothing awaits a reply from it;
/// the joiner then runs after the sibling this worker spawned last rather than before it, which
/// keeps a tree of joins depth-first. Elsewhere it goes to the injector.
pub(crate) fn schedule(task: Arc<Task>, to_back: bool) {
    if trace::enabled() {
        trace::woken(&task);
    }
    let g = task.green.as_ref().expect("schedule: not a green thread");
    // The switch into it starts by loading its saved frame, cold by now when many threads take
    // turns (a ring of 1000): start fetching those two cache lines while it waits in a queue.
    // SAFETY: the task is parked, so nobody writes its saved stack pointer; the caller's clearing
    // of its park mode acquired the worker's write of it. A prefetch never faults.
    unsafe {
        let sp = *g.ctx.get();
        crate::rt::sys::arch::prefetch(sp);
        crate::rt::sys::arch::prefetch(sp.wrapping_add(64));
    }
    let rt = g.rt();
    // No preemption while this worker's run-next slot and queue are in hand (`sys::lock`).
    let _section = Section::enter();
    match local_worker(rt, &_section) {
        Some(w) if to_back => {
            w.local_queue().push(task, &w.shared.injector);
            w.shared.notify();
        }
        Some(w) if w.shared_part().is_stuck() => {
            if w.shared_part().lost.load(Relaxed) {
                // This carrier gave its worker away (its green thread is in foreign code): what
                // it wakes goes where every worker looks, not to a queue only thieves reach.
                w.shared.injector.push(task);
            } else {
                // The running green thread holds this worker (a hog, or a blocking std call
                // soon): the run-next slot would strand the task; thieves can reach the queue.
                w.local_queue().push(task, &w.shared.injector);
            }
            w.shared.notify();
        }
        Some(w) => {
            // The task waits for its waker to switch; if the waker computes on instead, the
            // sleeping worker that watches takes it (`worker.rs`, "Run-next cannot strand").
            let sticky = task.wait.load(Relaxed) == park::WaitReason::Lock as u8;
            if let Some(prev) = w.shared_part().replace_run_next(task, sticky) {
                w.local_queue().push(prev, &w.shared.injector);
                w.shared.notify();
            }
        }
        None => {
            // SAFETY: see `Green::rt`: the runtime outlives its live tasks; `task` is alive.
            let rt: &Shared = unsafe { &*(rt as *const Shared) };
            rt.injector.push(task);
            rt.notify();
        }
    }
}

/// A carrier in `slot` left its loop for good (retired, or the runtime stopped): the slot may be
/// reused.
pub(crate) fn release_slot(shared: &Shared, slot: usize) {
    let mut c = lock(&shared.monitor.carriers);
    c.live -= 1;
    c.released.push(slot);
    c.released.sort_unstable_by(|a, b| b.cmp(a));
}

/// A carrier that gave up its worker waits here until the monitor gives it one (`true`), or
/// retires after [`SPARE_KEEP`] or at shutdown (`false`).
pub(crate) fn wait_as_spare(shared: &Shared, slot: usize) -> bool {
    {
        let mut c = lock(&shared.monitor.carriers);
        if shared.shutdown.load(SeqCst) {
            return false;
        }
        c.spare.push(slot);
    }
    let since = Instant::now();
    loop {
        let left = SPARE_KEEP.saturating_sub(since.elapsed());
        shared.park_spare(slot, left);
        let mut c = lock(&shared.monitor.carriers);
        let Some(at) = c.spare.iter().position(|&s| s == slot) else {
            return true; // taken: the monitor counted us in as a worker
        };
        if shared.shutdown.load(SeqCst) || since.elapsed() >= SPARE_KEEP {
            c.spare.swap_remove(at);
            return false;
        }
    }
}

/// `runtime::with_current_rt`, except that from a plain OS thread it uses the global runtime only if it
/// has started (in this process: a forked child's is not).
pub(crate) fn with_current_rt_if_started<R>(f: impl FnOnce(&Shared) -> R) -> Option<R> {
    let w = current_worker();
    if w.is_null() {
        let p = super::shared::GLOBAL.load(Acquire);
        if p.is_null()
            || super::shared::GLOBAL_EPOCH.load(Acquire) != super::shared::FORK_EPOCH.load(Acquire)
        {
            return None;
        }
        // SAFETY: a published global runtime is leaked, never freed.
        Some(f(unsafe { &*p }))
    } else {
        // SAFETY: as in `with_current_rt`.
        Some(f(unsafe { &(*w).shared }))
    }
}
