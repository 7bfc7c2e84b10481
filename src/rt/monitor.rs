//! The monitor: one background thread per runtime that notices *stuck* workers and hands their
//! queued work to others — Go's sysmon hand-off, in the form DESIGN.md's rules allow.
//!
//! A worker is stuck when one green thread has held it without a switch for longer than the
//! blocking threshold (default 10 ms: a blocking std call such as `std::thread::sleep`,
//! `std::fs::read` or a contended `std::sync::Mutex`), or at once when the preempting allocator
//! reports that the running green thread's timeslice is spent (`rt::preempt`).
//!
//! **What the hand-off does, and what it never does.** The stuck green thread keeps its OS thread
//! and goes on running there: the runtime never moves a green thread that is in the middle of
//! arbitrary code (it may hold stdout's OS-thread-owned lock, or a cached thread-local address;
//! DESIGN.md "Where a green thread may run"). What moves is the *rest* of that worker's work:
//!
//! 1. the stuck worker is marked (`WorkerShared::stuck_run` = its current run number), so that its
//!    own wakes go to its stealable local queue instead of the unstealable run-next slot, and a
//!    hog moves what already sits in run-next there (`preempt::slow_check`, on its own thread);
//! 2. if a worker sleeps, one is woken: it steals from the stuck worker's queue like any thief;
//! 3. if none sleeps, an **extra worker** is started (up to `Config::max_extra_workers`): an
//!    ordinary worker in a spare slot, which steals, runs green threads and watches timers, and
//!    retires once it has run dry for a while (the blocking call returned, the hog finished).
//!
//! So a hog degrades gracefully to a kernel-scheduled thread, and everything else keeps running on
//! the other OS threads; nothing else ever runs on the OS thread a hog was left on.
//!
//! **Detecting stuck workers without slowing the switch.** Each worker counts its runs in
//! `WorkerShared::runs`: odd while a green thread runs, even in the scheduler loop (two plain
//! stores per switch, no locked instruction). The monitor samples the counters every quarter of
//! the threshold; an odd value unchanged since a sample at least the threshold old is a stuck run.
//! While every worker is idle the monitor backs off to one sample per threshold.
//!
//! Two more duties, because this thread already wakes periodically: it sheds pooled stacks that
//! went unused for a while (`sys::stack`, "The pool"), and it asks a worker to run the entry that
//! has waited at the front of its deque for a whole threshold (`sched/queue.rs`, "Nothing
//! starves").

use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::rt::sched::{Shared, worker};
use crate::rt::sys::futex;
use crate::rt::sys::stack::SHED_INTERVAL as STACK_SHED_INTERVAL;

/// The monitor's sleep word: a hog's report wakes it early.
pub(crate) struct Monitor {
    word: AtomicU32,
    /// Extra worker slots and thread handles.
    extra: Mutex<Extra>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Extra {
    /// Spare slot indices (`base..base + max_extra`), lowest last.
    free: Vec<usize>,
    /// A started extra worker's thread, by `slot - base`; joined when the slot is reused or at
    /// shutdown.
    handles: Vec<Option<JoinHandle<()>>>,
}

impl Monitor {
    pub(crate) fn new(base: usize, max_extra: usize) -> Monitor {
        Monitor {
            word: AtomicU32::new(0),
            extra: Mutex::new(Extra {
                free: (base..base + max_extra).rev().collect(),
                handles: (0..max_extra).map(|_| None).collect(),
            }),
            thread: Mutex::new(None),
        }
    }

    /// Wakes the monitor now (a hog's timeslice is spent). Allocation-free: it is called from
    /// inside the allocator.
    pub(crate) fn poke(&self) {
        if self.word.swap(1, SeqCst) == 0 {
            futex::wake_one(&self.word);
        }
    }

    fn sleep(&self, timeout: Duration) {
        if self.word.swap(0, SeqCst) == 0 {
            futex::wait(&self.word, 0, Some(timeout));
        }
    }
}

/// Starts `shared`'s monitor thread (stopped by `stop`).
pub(crate) fn start(shared: &Arc<Shared>) {
    let s = shared.clone();
    let h = std::thread::Builder::new()
        .name("smarm-monitor".into())
        .spawn(move || run(&s))
        .expect("smarm: failed to start the monitor thread");
    *lock(&shared.monitor.thread) = Some(h);
}

/// Stops the monitor and joins every extra worker (the runtime is shutting down: `shutdown` is
/// set and the workers have been woken).
pub(crate) fn stop(shared: &Shared) {
    shared.monitor.poke();
    if let Some(h) = lock(&shared.monitor.thread).take() {
        let _ = h.join();
    }
    let handles: Vec<_> = lock(&shared.monitor.extra)
        .handles
        .iter_mut()
        .filter_map(Option::take)
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

/// An extra worker in `slot` ran dry and retired: its slot may be reused.
pub(crate) fn release_slot(shared: &Shared, slot: usize) {
    lock(&shared.monitor.extra).free.push(slot);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How often idle TLS areas are looked at: an area idle through a whole interval goes cold.
const TLS_SHED_INTERVAL: Duration = Duration::from_secs(1);

fn run(shared: &Arc<Shared>) {
    crate::rt::preempt::calibrate(shared);
    let threshold = shared.blocking_threshold;
    let busy_tick = (threshold / 4).max(Duration::from_micros(50));
    let slots = shared.workers.len();
    // Per worker: the run counter last seen and when it was first seen with that value.
    let mut seen: Vec<(u64, Instant)> = vec![(0, Instant::now()); slots];
    // Per worker: the deque front entry last seen and since when (see `starved_front`).
    let mut fronts: Vec<(Option<u64>, Instant)> = vec![(None, Instant::now()); slots];
    let mut tick = busy_tick;
    let mut last_shed = Instant::now();
    let mut last_stack_shed = Instant::now();
    loop {
        shared.monitor.sleep(tick);
        if shared.shutdown.load(SeqCst) {
            return;
        }
        let now = Instant::now();
        // Idle green-thread TLS areas give their memory back (see `sys::tls::shed_idle`).
        if now.duration_since(last_shed) >= TLS_SHED_INTERVAL {
            last_shed = now;
            crate::rt::sys::tls::shed_idle();
        }
        // Stacks the pool held unused for a whole interval go back to the kernel here, off the
        // spawn/exit path (`sys::stack`, "The pool").
        if now.duration_since(last_stack_shed) >= STACK_SHED_INTERVAL {
            last_stack_shed = now;
            shared.stacks.shed();
        }
        let hw = shared.workers_hw.load(SeqCst);
        let mut any_running = false;
        let mut stuck = 0usize;
        let mut stuck_with_work = false;
        for (i, w) in shared.workers[..hw].iter().enumerate() {
            starved_front(w, &mut fronts[i], now, threshold);
            let runs = w.runs.load(Relaxed);
            let running = runs & 1 == 1;
            any_running |= running;
            if runs != seen[i].0 {
                seen[i] = (runs, now);
            }
            let reported = w.stuck_run.load(Relaxed) == runs;
            if running && (reported || now.duration_since(seen[i].1) >= threshold) {
                stuck += 1;
                if !reported {
                    w.stuck_run.store(runs, Relaxed);
                    crate::rt::sched::WorkerShared::bump(&w.handoffs);
                }
                // What it woke last waits in its run-next slot: give it to everyone. (From now on
                // its wakes go to its queue: `is_stuck`.)
                if let Some(t) = w.take_run_next() {
                    shared.injector.push(t);
                }
                stuck_with_work |= !w.queue.is_empty();
            }
        }
        tick = if any_running {
            busy_tick
        } else {
            (tick * 2).min(threshold)
        };
        // Backstop for the timer watch: pending timers with no sleeper watching them (a watch
        // lost between workers coming and going) — wake a sleeper, which takes the watch.
        if !shared.timers.is_empty()
            && shared.timer_watcher.load(SeqCst) == 0
            && let Some(i) = shared.idle.another_sleeper(usize::MAX, shared.base_workers)
        {
            shared.unpark_worker(i);
        }
        if stuck == 0 {
            continue;
        }
        let all_stuck = stuck >= shared.idle.active_workers();
        // With every worker stuck nobody sleeps in the reactor or watches timers either.
        let needs_help = stuck_with_work
            || !shared.injector.is_empty()
            || (all_stuck
                && (!shared.timers.is_empty() || crate::rt::reactor::registrations() > 0));
        if !needs_help {
            continue;
        }
        // A sleeping worker will steal the stuck one's queue and watch the timers.
        if let Some(i) = shared.idle.worker_to_notify() {
            shared.unpark_worker(i);
            continue;
        }
        if shared.idle.searching() > 0 {
            continue; // a searcher will find the work
        }
        add_extra_worker(shared);
    }
}

/// Asks worker `w` to run the entry at the front of its deque when that entry has waited there a
/// whole `threshold` (the owner takes its newest spawn first, so an old entry under a stream of
/// new spawns would otherwise wait for ever; `sched/queue.rs`, "Nothing starves").
fn starved_front(
    w: &crate::rt::sched::WorkerShared,
    seen: &mut (Option<u64>, Instant),
    now: Instant,
    threshold: Duration,
) {
    let front = w.queue.deque_front();
    if front != seen.0 {
        *seen = (front, now);
    } else if front.is_some() && now.duration_since(seen.1) >= threshold {
        w.queue.request_oldest();
        seen.1 = now;
    }
}

/// Starts an extra worker in a spare slot, if the bound allows.
fn add_extra_worker(shared: &Arc<Shared>) {
    let mut extra = lock(&shared.monitor.extra);
    let Some(slot) = extra.free.pop() else {
        return; // at the bound: the stuck work waits, as it would without the monitor
    };
    let k = slot - shared.base_workers;
    if let Some(old) = extra.handles[k].take() {
        // It released the slot as its last act before returning.
        let _ = old.join();
    }
    shared.workers_hw.fetch_max(slot + 1, SeqCst);
    shared.idle.add_worker();
    let s = shared.clone();
    match std::thread::Builder::new()
        .name(format!("smarm-worker-{slot}"))
        .spawn(move || worker::run(s, slot))
    {
        Ok(h) => extra.handles[k] = Some(h),
        Err(_) => {
            // No thread to be had: undo, and let the stuck work wait.
            shared.idle.remove_unstarted_worker();
            extra.free.push(slot);
        }
    }
}
