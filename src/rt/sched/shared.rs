//! A runtime's shared state: its worker slots (`WorkerShared`: what other carriers, thieves and
//! the monitor see of each worker), the injector, the idle protocol's state, timers, pools and
//! counters (`Shared`); the registry of runtimes and the process's global one.

use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};

use super::idle::Idle;
use super::queue::{Injector, RunQueue};
use super::slots;
use crate::rt::park;
use crate::rt::park::timer::Timers;
use crate::rt::park::word::WaitKind;
use crate::rt::sched::carriers::Monitor;
use crate::rt::sys::futex;
use crate::rt::sys::lock::Mutex;
use crate::rt::sys::stack::StackPool;
use crate::rt::task::Task;

/// Why a green thread switched to its worker's scheduler loop.
///
/// It crosses `context::switch` as the one word the switch carries ([`Intent::to_word`]), and the
/// loop reads it back ([`Intent::from_word`]). Only `switch::switch_out` switches to a worker's
/// scheduler context (a direct switch goes to another green thread, whose `switch_out` drops the
/// word), and it passes `to_word` of an `Intent`: so every word the loop reads is one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Intent {
    /// `yield_now`: to the back of the queue, and `sched_yield` when nothing else can run.
    Yield,
    /// A spent timeslice (`rt::sched::preempt`): to the back, like a yield without its `sched_yield`.
    Preempt,
    /// A park of this kind: the loop completes it (`Worker::complete_park`).
    Park(WaitKind),
    /// The thread's closure has returned: the loop finishes the thread.
    Exit,
}

impl Intent {
    #[inline(always)]
    pub(crate) const fn to_word(self) -> usize {
        match self {
            Intent::Yield => 1,
            Intent::Park(WaitKind::User) => 2,
            Intent::Park(WaitKind::Wake) => 3,
            Intent::Exit => 4,
            Intent::Preempt => 5,
        }
    }

    #[inline(always)]
    pub(crate) fn from_word(word: usize) -> Intent {
        match word {
            1 => Intent::Yield,
            2 => Intent::Park(WaitKind::User),
            3 => Intent::Park(WaitKind::Wake),
            4 => Intent::Exit,
            5 => Intent::Preempt,
            // Not reachable: see the type's docs.
            _ => unreachable!("smarm: a switch to the scheduler without an intent ({word})"),
        }
    }
}

/// A worker's sleep word: the same three states as std's futex parker, plus one for a worker
/// asleep in the reactor's `epoll_wait` (woken through the reactor's eventfd, not the futex).
const SLEEP_EMPTY: u32 = 0;

const SLEEP_NOTIFIED: u32 = 1;

const SLEEP_PARKED: u32 = 2;

const SLEEP_POLLING: u32 = 3;

/// The low bit of the run-next slot's word (tasks are word-aligned): a task woken from a lock wait
/// (`WaitReason::Lock`). Its waker released that lock and will most likely take it again soon;
/// moving the woken one to another worker would only make the two contend across cores (a `Mutex`
/// ping-pong measured 3x slower), so the watching sleeper leaves it (the monitor's backstop does
/// not, a few ms later).
pub(crate) const RUN_NEXT_STICKY: usize = 1;

fn untag(p: *mut Task) -> *const Task {
    (p as usize & !RUN_NEXT_STICKY) as *const Task
}

/// One worker's event counters. Only that worker writes them.
#[repr(align(64))]
#[derive(Default)]
pub(crate) struct WorkerCounters {
    pub(crate) parks: AtomicU64,
    pub(crate) steals: AtomicU64,
    /// Green threads switched out at the end of their timeslice (`rt::sched::preempt`).
    pub(crate) preemptions: AtomicU64,
}

impl WorkerCounters {
    /// Adds one to a counter that only the calling worker writes: a plain store, no lock prefix.
    #[inline]
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.store(counter.load(Relaxed) + 1, Relaxed);
    }
}

/// The part of a worker other threads touch: its run queue (for stealing), its sleep word, and
/// its spawn/finish counters (written only by the worker itself, read by `Shared::quiescent`).
pub(crate) struct WorkerShared {
    pub(crate) queue: RunQueue,
    /// The *run next* slot: the green thread the running one woke last (an `Arc` from
    /// `into_raw`, or null). The worker fills and empties it with one swap; it is atomic so that
    /// the monitor can take it from a worker stuck in a blocking call, which would otherwise strand
    /// it there until the call returns.
    run_next: AtomicPtr<Task>,
    sleep: AtomicU32,
    pub(crate) spawned: AtomicU64,
    pub(crate) finished: AtomicU64,
    /// Runs of green threads on this worker, times two: odd while one runs (written only by the
    /// worker; the monitor samples it to find stuck workers, see `rt::sched::monitor`).
    pub(crate) runs: AtomicU64,
    /// The run (a value of `runs`) that was found stuck or reported past its timeslice; while
    /// `runs` still equals it, wakes go to the stealable queue rather than the run-next slot.
    pub(crate) stuck_run: AtomicU64,
    /// Times the monitor found this worker stuck (written by the monitor only).
    pub(crate) handoffs: AtomicU64,
    /// Set by the monitor when it gives this carrier's worker to another carrier (the green thread
    /// running here is stuck in foreign code); the carrier gives up the worker for good at its
    /// next return to its loop (`worker.rs`, "Carriers"). Cleared when it gets a worker again.
    pub(crate) lost: AtomicBool,
    /// The address of the task of the current run, written at every switch in (a plain store
    /// beside `runs`, of a pointer already in a register: reading the task's Pid here would touch
    /// a cold line of a cold task on every hop of a ring). Only compared, never dereferenced: the
    /// monitor names the culprit of a hand-off by finding this address in the Pid table.
    pub(crate) running: AtomicUsize,
    /// The carrier's kernel thread id (for the monitor's look at its state), 0 while none.
    pub(crate) tid: std::sync::atomic::AtomicI32,
    /// Event counters for `rt::stats` (written only by the worker itself).
    pub(crate) counters: WorkerCounters,
}

impl Drop for WorkerShared {
    fn drop(&mut self) {
        drop(self.take_run_next());
    }
}

impl Default for WorkerShared {
    fn default() -> WorkerShared {
        WorkerShared::new()
    }
}

impl WorkerShared {
    /// Adds one to a counter only this worker writes: a plain store, no locked instruction.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.store(counter.load(Relaxed) + 1, Release);
    }

    pub(crate) fn new() -> WorkerShared {
        WorkerShared {
            queue: RunQueue::new(),
            run_next: AtomicPtr::new(std::ptr::null_mut()),
            sleep: AtomicU32::new(SLEEP_EMPTY),
            spawned: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            runs: AtomicU64::new(0),
            stuck_run: AtomicU64::new(u64::MAX),
            counters: Default::default(),
            handoffs: AtomicU64::new(0),
            lost: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            tid: std::sync::atomic::AtomicI32::new(0),
        }
    }

    /// Puts `task` in the run-next slot, returning what was there. A `sticky` task is one the
    /// watching sleeper leaves where it is (see [`RUN_NEXT_STICKY`]).
    #[inline]
    pub(crate) fn replace_run_next(&self, task: Arc<Task>, sticky: bool) -> Option<Arc<Task>> {
        let p =
            (Arc::into_raw(task) as usize | (usize::from(sticky) * RUN_NEXT_STICKY)) as *mut Task;
        let old = self.run_next.swap(p, AcqRel);
        // SAFETY: a non-null slot value is an `Arc::into_raw` reference (with the sticky bit) the
        // swap made ours.
        (!old.is_null()).then(|| unsafe { Arc::from_raw(untag(old)) })
    }

    /// The run-next slot's word (0 if empty; [`RUN_NEXT_STICKY`] set for a sticky task): the
    /// monitor and the watching sleeper compare it between looks.
    #[inline]
    pub(crate) fn run_next_addr(&self) -> usize {
        self.run_next.load(Relaxed) as usize
    }

    /// Whether the run-next slot holds a task.
    #[inline]
    pub(crate) fn has_run_next(&self) -> bool {
        !self.run_next.load(Relaxed).is_null()
    }

    /// Empties the run-next slot (from any thread).
    #[inline]
    pub(crate) fn take_run_next(&self) -> Option<Arc<Task>> {
        if self.run_next.load(Relaxed).is_null() {
            return None;
        }
        let old = self.run_next.swap(std::ptr::null_mut(), AcqRel);
        // SAFETY: as in `replace_run_next`.
        (!old.is_null()).then(|| unsafe { Arc::from_raw(untag(old)) })
    }

    /// Whether the green thread running on this worker has been found stuck (or reported past
    /// its timeslice). Read by the worker itself when it wakes a task.
    #[inline]
    pub(crate) fn is_stuck(&self) -> bool {
        self.stuck_run.load(Relaxed) == self.runs.load(Relaxed) || self.lost.load(Relaxed)
    }
}

/// A runtime: its workers, queues, timers and accounting. Green threads keep it alive.
pub(crate) struct Shared {
    /// Every carrier's slot (`slots.rs`), by carrier index.
    pub(crate) workers: slots::Slots<WorkerShared>,
    /// How many workers (scheduling slots, Go's Ps): at most this many carriers run green code.
    pub(crate) base_workers: usize,
    /// One past the highest slot ever used: thieves and the monitor look at `workers.iter(hw)`.
    pub(crate) workers_hw: AtomicUsize,
    pub(crate) monitor: Monitor,
    pub(crate) blocking_threshold: std::time::Duration,
    pub(crate) timeslice: std::time::Duration,
    /// The timeslice in TSC ticks; 0 until the monitor has calibrated the TSC.
    pub(crate) timeslice_ticks: AtomicU64,
    pub(crate) injector: Injector,
    pub(crate) idle: Idle,
    pub(crate) timers: Timers,
    /// `index + 1` of the sleeping worker that watches the earliest timer deadline; 0 if none.
    pub(crate) timer_watcher: AtomicUsize,
    /// Green threads spawned from outside the workers (the per-worker counts are in `workers`).
    pub(crate) external_spawned: AtomicU64,
    pub(crate) shutdown: AtomicBool,
    pub(crate) stacks: StackPool,
    /// What the total-deadlock check does for this runtime (`rt::deadlock`).
    pub(crate) on_deadlock: crate::rt::config::OnDeadlock,
    /// Who to wake when the runtime becomes quiescent (`rt::run`'s caller).
    pub(crate) done_waiter: Mutex<Option<Arc<Task>>>,
    /// In a child of `fork` made by one of this runtime's green threads: the one worker that
    /// exists there (`usize::MAX` otherwise). The idle bookkeeping still counts the parent's
    /// workers, so `notify` wakes this one directly.
    pub(crate) fork_only_worker: AtomicUsize,
    pub(crate) has_done_waiter: AtomicBool,
}

impl Shared {
    /// Wakes one sleeping worker if new work needs one (idle.rs, rule 1).
    pub(crate) fn notify(&self) {
        let only = self.fork_only_worker.load(Relaxed);
        if only != usize::MAX {
            self.unpark_worker(only);
            return;
        }
        if let Some(i) = self.idle.worker_to_notify() {
            self.unpark_worker(i);
        }
    }

    pub(crate) fn unpark_worker(&self, i: usize) {
        let word = &self.workers[i].sleep;
        match word.swap(SLEEP_NOTIFIED, AcqRel) {
            SLEEP_PARKED => futex::wake_one(word),
            SLEEP_POLLING => {
                if let Some(p) = poller() {
                    p.wake();
                }
            }
            _ => {}
        }
    }

    /// Puts worker `i` to sleep until unparked or `timeout` passes: in the reactor's
    /// `epoll_wait` if nobody else polls it (waking the tasks whose sockets became ready), else on
    /// its futex. Returns `true` if it slept in the reactor.
    ///
    /// An unpark that lands between publishing `SLEEP_POLLING` and `epoll_wait` writes the
    /// eventfd first, so `epoll_wait` returns at once: the same no-lost-wake-up argument as the
    /// futex's compare-and-sleep.
    pub(crate) fn park_worker(&self, i: usize, timeout: Option<std::time::Duration>) -> bool {
        let word = &self.workers[i].sleep;
        if word
            .compare_exchange(SLEEP_NOTIFIED, SLEEP_EMPTY, AcqRel, Acquire)
            .is_ok()
        {
            return false;
        }
        if let Some(driver) = try_driver() {
            if word
                .compare_exchange(SLEEP_EMPTY, SLEEP_POLLING, AcqRel, Acquire)
                .is_err()
            {
                word.store(SLEEP_EMPTY, Relaxed); // was NOTIFIED after all
                return false;
            }
            // Awake again before dispatching: wakes the dispatch causes need no eventfd write.
            driver.poll(timeout, || {
                word.swap(SLEEP_EMPTY, AcqRel);
            });
            word.swap(SLEEP_EMPTY, AcqRel);
            return true;
        }
        if word
            .compare_exchange(SLEEP_EMPTY, SLEEP_PARKED, AcqRel, Acquire)
            .is_err()
        {
            word.store(SLEEP_EMPTY, Relaxed); // was NOTIFIED after all
            return false;
        }
        futex::wait(word, SLEEP_PARKED, timeout);
        word.swap(SLEEP_EMPTY, AcqRel);
        false
    }

    /// A spare carrier (`monitor::wait_as_spare`) sleeps on its slot's word until the monitor
    /// gives it a worker (`unpark_worker`) or `timeout` passes. Never in the reactor: a spare runs
    /// nothing, so it must not take the wakes a poll would dispatch.
    pub(crate) fn park_spare(&self, i: usize, timeout: std::time::Duration) {
        let word = &self.workers[i].sleep;
        if word
            .compare_exchange(SLEEP_NOTIFIED, SLEEP_EMPTY, AcqRel, Acquire)
            .is_ok()
        {
            return;
        }
        if word
            .compare_exchange(SLEEP_EMPTY, SLEEP_PARKED, AcqRel, Acquire)
            .is_ok()
        {
            futex::wait(word, SLEEP_PARKED, Some(timeout));
        }
        word.swap(SLEEP_EMPTY, AcqRel);
    }

    /// Whether every green thread ever spawned on this runtime has finished.
    ///
    /// The counters only grow, and a thread finishes after it was spawned, so reading every
    /// `finished` before every `spawned` gives `F <= finished(t) <= spawned(t) <= S` for the moment
    /// `t` between the two passes: `F == S` means nothing was alive at `t`. Nothing can spawn onto
    /// a runtime with no live green thread (spawns from outside go to the global runtime), so it
    /// stays that way. Workers ask this when they run out of work, off the hot path.
    pub(crate) fn quiescent(&self) -> bool {
        let finished: u64 = self
            .workers
            .allocated()
            .map(|(_, w)| w.finished.load(SeqCst))
            .sum();
        let spawned: u64 = self
            .workers
            .allocated()
            .map(|(_, w)| w.spawned.load(SeqCst))
            .sum::<u64>()
            + self.external_spawned.load(SeqCst);
        finished == spawned
    }

    /// Wakes `rt::run`'s caller if the runtime is done (called by workers about to sleep).
    pub(crate) fn wake_done_waiter_if_quiescent(&self) {
        // Orders this worker's earlier `finished` store before the flag load; the waiter stores
        // the flag before its own `quiescent` check (store-buffering: one of us sees the other).
        std::sync::atomic::fence(SeqCst);
        if !self.has_done_waiter.load(SeqCst) || !self.quiescent() {
            return;
        }
        let waiter = self.done_waiter.lock().clone();
        if let Some(w) = waiter {
            park::unpark(&w, WaitKind::Wake);
        }
    }

    /// Wakes the timer watcher: a new earliest deadline needs its sleep re-armed.
    pub(crate) fn poke_timer_watcher(&self) {
        let w = self.timer_watcher.load(SeqCst);
        if w != 0 {
            self.unpark_worker(w - 1);
        }
    }
}

/// The process-wide runtime, started lazily, and the fork epoch it was started in.
pub(crate) static GLOBAL: AtomicPtr<Arc<Shared>> = AtomicPtr::new(std::ptr::null_mut());

pub(crate) static GLOBAL_EPOCH: AtomicU64 = AtomicU64::new(0);

/// Bumped in the child of every `fork` (see `after_fork_in_child`).
pub(crate) static FORK_EPOCH: AtomicU64 = AtomicU64::new(0);

/// Every runtime started in this process (as weak references: a stopped one drops out).
pub(crate) static RUNTIMES: Mutex<Vec<std::sync::Weak<Shared>>> = Mutex::new(Vec::new());

pub(crate) fn register_runtime(rt: &Arc<Shared>) {
    let mut all = RUNTIMES.lock();
    all.retain(|w| w.strong_count() > 0);
    all.push(Arc::downgrade(rt));
}

/// Calls `f` with every runtime still running (for the deadlock report: their timers and injected
/// work are possible wakers). `f` runs under the registry's lock: a few loads, nothing that parks.
pub(crate) fn for_each_runtime(mut f: impl FnMut(&Shared)) {
    for rt in RUNTIMES.lock().iter().filter_map(std::sync::Weak::upgrade) {
        f(&rt);
    }
}

/// What the scheduler needs of the IO reactor (`rt::io::reactor`, which sits above the scheduler: it
/// wakes green threads): the right to poll, at most one holder at a time, and a way to wake the
/// holder. The reactor registers itself here when it starts ([`set_poller`]); before that there
/// is nothing to poll. Sleeping workers poll in its stead of their futex (`Shared::park_worker`),
/// busy ones now and then without blocking ([`poll_now`]).
pub(crate) trait Poller: Sync {
    /// Takes the right to poll if nobody holds it.
    fn try_drive(&self) -> bool;
    /// Polls (the caller holds the right): waits up to `timeout` (`None`: until an event or a
    /// wake), calls `before_dispatch` once the wait returns, then wakes the waiters of every ready
    /// socket.
    fn poll(&self, timeout: Option<std::time::Duration>, before_dispatch: &mut dyn FnMut());
    /// Gives the right back.
    fn release(&self);
    /// Wakes the thread polling now, if any.
    fn wake(&self);
    /// Sockets registered now: with none, a busy worker's [`poll_now`] makes no syscall.
    fn registrations(&self) -> u64;
}

static POLLER: std::sync::OnceLock<&'static dyn Poller> = std::sync::OnceLock::new();

/// The reactor, when it starts (once per process; a forked child's reactor answers for the child
/// through the same object).
pub(crate) fn set_poller(p: &'static dyn Poller) {
    let _ = POLLER.set(p);
}

#[inline]
pub(crate) fn poller() -> Option<&'static dyn Poller> {
    POLLER.get().copied()
}

/// The right to poll, given back when dropped.
pub(crate) struct Driver(&'static dyn Poller);

impl Driver {
    pub(crate) fn poll(
        &self,
        timeout: Option<std::time::Duration>,
        mut before_dispatch: impl FnMut(),
    ) {
        self.0.poll(timeout, &mut before_dispatch);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Takes the right to poll if there is a reactor and nobody holds it.
pub(crate) fn try_driver() -> Option<Driver> {
    try_drive(poller()?)
}

fn try_drive(p: &'static dyn Poller) -> Option<Driver> {
    // Not `then_some(Driver(p))`: that builds the guard even when the right was not taken, and
    // its drop would release the holder's right (two pollers, and a wake read by the wrong one).
    if p.try_drive() { Some(Driver(p)) } else { None }
}

/// Handles whatever readiness is pending, without blocking, if nobody else is polling (busy
/// workers call this now and then).
pub(crate) fn poll_now() {
    // No socket registered: no readiness to find (and no syscall on the busy path).
    if let Some(p) = poller()
        && p.registrations() != 0
        && let Some(d) = try_driver()
    {
        d.poll(Some(std::time::Duration::ZERO), || {});
    }
}

/// The global runtime, if it has started in this process (`rt::runtime::global` starts it).
pub(crate) fn global_if_started() -> Option<&'static Arc<Shared>> {
    let p = GLOBAL.load(Acquire);
    if p.is_null() || GLOBAL_EPOCH.load(Acquire) != FORK_EPOCH.load(Acquire) {
        return None;
    }
    // SAFETY: a published global runtime is leaked, never freed.
    Some(unsafe { &*p })
}

/// Wakes every worker of the global runtime, so that one of them takes the right to poll when it
/// goes back to sleep (the reactor started, or a runtime that polled it stopped). Plain OS
/// threads' socket waits start the global runtime first (`rt::runtime::ensure_poller`).
pub(crate) fn kick_global() {
    if let Some(g) = global_if_started() {
        for (i, _) in g.workers.allocated() {
            g.unpark_worker(i);
        }
    }
}

/// A worker of `from` leaves the right to poll to run work and `from` has no other sleeper: a
/// sleeping worker of the global runtime (if `from` is another runtime) takes it instead.
pub(crate) fn hand_on_to_global(from: &Shared) {
    let Some(g) = global_if_started() else {
        return; // the busy workers' `poll_now` keeps the sockets served
    };
    if std::ptr::eq(&**g, from) {
        return;
    }
    if let Some(w) = g.idle.another_sleeper(usize::MAX) {
        g.unpark_worker(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// A poller whose right is one flag, as the reactor's is.
    struct Flag(AtomicBool);

    impl Poller for Flag {
        fn try_drive(&self) -> bool {
            self.0
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_ok()
        }
        fn poll(&self, _: Option<std::time::Duration>, before_dispatch: &mut dyn FnMut()) {
            before_dispatch();
        }
        fn release(&self) {
            self.0.store(false, Release);
        }
        fn wake(&self) {}
        fn registrations(&self) -> u64 {
            0
        }
    }

    /// Every intent reads back as itself from the word the switch carries (and so no two share
    /// a word).
    #[test]
    fn every_intent_survives_the_switch_word() {
        let all = [
            Intent::Yield,
            Intent::Preempt,
            Intent::Park(WaitKind::User),
            Intent::Park(WaitKind::Wake),
            Intent::Exit,
        ];
        for i in all {
            assert_eq!(Intent::from_word(i.to_word()), i);
        }
    }

    /// A second taker is refused and leaves the holder's right alone; dropping the holder's guard
    /// gives it back. (A refused take once built a guard anyway, whose drop released the holder's
    /// right: two workers sat in `epoll_wait`, and a wake read by one was lost to the other.)
    #[test]
    fn a_refused_take_leaves_the_right_with_its_holder() {
        static P: Flag = Flag(AtomicBool::new(false));
        let held = try_drive(&P).expect("the right is free");
        assert!(try_drive(&P).is_none());
        assert!(
            P.0.load(Relaxed),
            "a refused take released the holder's right"
        );
        assert!(try_drive(&P).is_none());
        drop(held);
        assert!(!P.0.load(Relaxed));
        assert!(try_drive(&P).is_some());
    }
}
