//! The scheduler: N worker OS threads running green threads.
//!
//! - `mod.rs` (here): the runtime's shared state, spawning, waking (`schedule`), parking a green
//!   thread, the trampoline every green thread starts in, and the runtime's thread-local accessors.
//! - `worker.rs`: one worker's loop — find a task, switch to it, handle why it switched back.
//! - `queue.rs`: the per-worker ring and the global injector.
//! - `idle.rs`: the sleep/wake protocol between workers.
//!
//! Where things go when they become runnable:
//! - a spawn on a worker goes to that worker's local queue; a spawn from a plain OS thread to the
//!   injector;
//! - a wake on a worker goes to that worker's *run next* slot, so a message ping-pong between two
//!   green threads stays on one core and in cache; a wake from outside goes to the injector.
//!   Either way, if no worker is searching for work and one sleeps, one is woken (`notify`).
//!
//! ## Thread-locals (DESIGN.md rule 1)
//! Every green thread runs with its own thread pointer (`sys::tls`), so while green code runs, every
//! thread-local — the runtime's own included — is the green thread's. The runtime keeps two kinds:
//! - per carrier, read only by scheduler code on that carrier: `WORKER` (the worker this OS thread
//!   runs) and `OS_TASK` (the task of a plain OS thread);
//! - per green thread: `CURRENT`, its own task, set once when it starts.
//!
//! Green code reaches its worker through its task (`Green::worker`, which the worker sets before
//! every switch in), never through a carrier's thread-local; the accessors below are
//! `#[inline(never)]` so that nothing they return is mistaken for a value of another thread.

pub(crate) mod idle;
pub(crate) mod queue;
pub(crate) mod slots;
pub(crate) mod worker;

use std::cell::{Cell, UnsafeCell};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize};
use std::time::Instant;

use crate::rt::config::Config;
use crate::rt::current::{self, current_task, current_thread_task};
use crate::rt::monitor::Monitor;
use crate::rt::park;
use crate::rt::park::word::{self, EPOCH_ONE, TIMEOUT, WaitKind};
use crate::rt::pid;
use crate::rt::reactor;
use crate::rt::sys::context;
use crate::rt::sys::futex;
use crate::rt::sys::lock::{Mutex, Section};
use crate::rt::sys::stack::{StackPool, round_size};
use crate::rt::sys::tls;
use crate::rt::task::{
    Entry, ErasedBox, Green, JOIN_DETACHED, JOIN_DONE, JOIN_RUNNING, JOIN_WAITING, Outcome, Task,
    ThreadId,
};
use crate::rt::timer::Timers;
use crate::rt::trace;

use idle::Idle;
use queue::{Injector, RunQueue};
use worker::Worker;

/// Why a green thread switched to its worker (passed through `context::switch`).
pub(crate) const INTENT_YIELD: usize = 1;
pub(crate) const INTENT_PARK_USER: usize = 2;
pub(crate) const INTENT_PARK_WAKE: usize = 3;
pub(crate) const INTENT_EXIT: usize = 4;
pub(crate) const INTENT_PREEMPT: usize = 5;

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
    /// Green threads switched out at the end of their timeslice (`rt::preempt`).
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
    /// worker; the monitor samples it to find stuck workers, see `rt::monitor`).
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
    pub(crate) counters: crate::rt::sched::WorkerCounters,
}

impl Drop for WorkerShared {
    fn drop(&mut self) {
        drop(self.take_run_next());
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
    pub(crate) workers: slots::Slots,
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
    done_waiter: Mutex<Option<Arc<Task>>>,
    /// In a child of `fork` made by one of this runtime's green threads: the one worker that
    /// exists there (`usize::MAX` otherwise). The idle bookkeeping still counts the parent's
    /// workers, so `notify` wakes this one directly.
    fork_only_worker: AtomicUsize,
    has_done_waiter: AtomicBool,
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
            SLEEP_POLLING => reactor::wake_poller(),
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
        if let Some(driver) = reactor::try_driver() {
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
    let Some(t) = current::current_task() else {
        return WORKER.with(Cell::get);
    };
    // SAFETY: a current task is the running green thread's own task, alive while it runs;
    // `green` is set for every spawned task.
    unsafe { (*t).green.as_ref().unwrap_unchecked().worker() }
}

#[inline(never)]
pub(crate) fn set_current_worker(w: *const Worker) {
    WORKER.with(|c| c.set(w));
}

/// The trace ring of the carrier running the calling green thread, or null (`trace`'s source for
/// green threads; see `trace::set_green_ring_source`).
fn green_trace_ring() -> *const trace::Ring {
    // SAFETY: called from a green thread inside a section: its worker is alive and keeps it.
    unsafe { current_worker().as_ref() }.map_or(std::ptr::null(), |w| w.trace_ring.get())
}

/// The thread pointer of the carrier running the calling green thread; 0 off green threads.
/// Async-signal-safe (a `const` thread-local and plain loads): `sys::tls`'s signal shim calls it.
fn current_carrier_tp() -> usize {
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

/// The runtime a spawn from here should use: this worker's, or the global one.
pub(crate) fn with_current_rt<R>(f: impl FnOnce(&Shared) -> R) -> R {
    let w = current_worker();
    if w.is_null() {
        f(global())
    } else {
        // SAFETY: the worker outlives this call (no switch happens inside `f` before we return:
        // callers only spawn), and its `shared` is never replaced.
        f(unsafe { &(*w).shared })
    }
}

/// [`with_current_rt`], except that from a plain OS thread it uses the global runtime only if it
/// has started (in this process: a forked child's is not).
pub(crate) fn with_current_rt_if_started<R>(f: impl FnOnce(&Shared) -> R) -> Option<R> {
    let w = current_worker();
    if w.is_null() {
        let p = GLOBAL.load(Acquire);
        if p.is_null() || GLOBAL_EPOCH.load(Acquire) != FORK_EPOCH.load(Acquire) {
            return None;
        }
        // SAFETY: a published global runtime is leaked, never freed.
        Some(f(unsafe { &*p }))
    } else {
        // SAFETY: as in `with_current_rt`.
        Some(f(unsafe { &(*w).shared }))
    }
}

/// The worker running the caller if it belongs to `rt`. The reference lives no longer than the
/// caller's [`Section`]: inside one the caller is never switched out (`sys::lock`), so it stays
/// on this worker, and the caller itself never switches while it holds a runtime section.
fn local_worker<'s>(rt: &Shared, _section: &'s Section) -> Option<&'s Worker> {
    let w = current_worker();
    // SAFETY: a non-null worker is the one running this code, alive while it runs; the section
    // keeps this code on it for the reference's lifetime.
    let w = unsafe { w.as_ref()? };
    std::ptr::eq(&*w.shared, rt).then_some(w)
}

/// The process-wide runtime, started lazily, and the fork epoch it was started in.
static GLOBAL: AtomicPtr<Arc<Shared>> = AtomicPtr::new(std::ptr::null_mut());
static GLOBAL_EPOCH: AtomicU64 = AtomicU64::new(0);
static GLOBAL_START: Mutex<()> = Mutex::new(());
/// Bumped in the child of every `fork` (see `after_fork_in_child`).
static FORK_EPOCH: AtomicU64 = AtomicU64::new(0);
/// Every runtime started in this process (as weak references: a stopped one drops out).
static RUNTIMES: Mutex<Vec<std::sync::Weak<Shared>>> = Mutex::new(Vec::new());

fn register_runtime(rt: &Arc<Shared>) {
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

/// The lazily started process-wide runtime; its workers are never stopped (as std's threads are
/// not when `main` returns). In the child of a `fork` the parent's workers do not exist (only the
/// forking thread is copied), so the child starts a runtime of its own on first use.
pub(crate) fn global() -> &'static Arc<Shared> {
    let epoch = FORK_EPOCH.load(Acquire);
    let p = GLOBAL.load(Acquire);
    if !p.is_null() && GLOBAL_EPOCH.load(Acquire) == epoch {
        // SAFETY: a published runtime is leaked (never freed), so the reference is 'static.
        return unsafe { &*p };
    }
    global_slow(epoch)
}

#[cold]
fn global_slow(epoch: u64) -> &'static Arc<Shared> {
    let _g = GLOBAL_START.lock();
    let p = GLOBAL.load(Acquire);
    if !p.is_null() && GLOBAL_EPOCH.load(Acquire) == epoch {
        // SAFETY: as in `global`.
        return unsafe { &*p };
    }
    let (shared, handles) = start(Config::default());
    drop(handles); // detached: they live as long as the process
    // Leaked on purpose: references to it are 'static. A runtime left behind by a fork (its
    // workers never existed in this process) is leaked with it.
    let p = Box::into_raw(Box::new(shared));
    GLOBAL_EPOCH.store(epoch, Release);
    GLOBAL.store(p, Release);
    // SAFETY: just leaked.
    unsafe { &*p }
}

/// The runtime locks a child may need, held by the forking thread across `fork`, so that none is
/// copied into the child locked by a thread that does not exist there (the child would then hang
/// on its first spawn, sleep or steal). Guards come first and are dropped before the runtimes that
/// own their mutexes.
struct ForkHeld {
    guards: Vec<Box<dyn std::any::Any>>,
    _runtimes: Vec<Arc<Shared>>,
}

impl Drop for ForkHeld {
    fn drop(&mut self) {
        while self.guards.pop().is_some() {} // newest first: the reverse of taking them
    }
}

thread_local! {
    static FORK_HELD: std::cell::RefCell<Option<ForkHeld>> = const { std::cell::RefCell::new(None) };
}

/// `pthread_atfork` prepare handler: takes the locks of the forking thread's runtime and of the
/// global runtime, then the process-wide pools'. Every one of them is a leaf lock (nothing takes
/// another lock while holding it) except a runtime's carriers lock, inside which the monitor's
/// hand-off takes that runtime's injector and idle locks; so that one is taken first, and any
/// fixed order of the rest is deadlock-free.
extern "C" fn before_fork() {
    let mut runtimes: Vec<Arc<Shared>> = Vec::new();
    // SAFETY: a non-null worker is the caller's own, alive while it runs.
    if let Some(w) = unsafe { current_worker().as_ref() } {
        runtimes.push(w.shared.clone());
    }
    let g = GLOBAL.load(Acquire);
    // SAFETY: a published global runtime is leaked, never freed.
    if let Some(g) = unsafe { g.as_ref() }
        && !runtimes.iter().any(|r| Arc::ptr_eq(r, g))
    {
        runtimes.push(g.clone());
    }
    let mut guards: Vec<Box<dyn std::any::Any>> = Vec::new();
    for rt in &runtimes {
        let rt: &'static Shared = {
            // SAFETY: `runtimes` keeps the Arc alive until after the guards are dropped
            // (`ForkHeld`'s field order and Drop), so extending the borrow is sound.
            unsafe { &*(Arc::as_ptr(rt)) }
        };
        // The monitor's carriers lock first: a hand-off takes the injector's and the idle
        // list's locks inside it.
        guards.push(rt.monitor.hold_for_fork());
        guards.push(Box::new(rt.done_waiter.lock()));
        guards.push(rt.timers.hold_for_fork());
        guards.push(rt.injector.hold_for_fork());
        guards.push(rt.stacks.hold_for_fork());
        guards.push(rt.idle.hold_for_fork());
    }
    guards.extend(reactor::hold_for_fork());
    guards.extend(tls::hold_for_fork());
    guards.extend(crate::rt::pid::table::hold_for_fork());
    let held = ForkHeld {
        guards,
        _runtimes: runtimes,
    };
    let _ = FORK_HELD.try_with(|h| *h.borrow_mut() = Some(held));
    // Last: a green thread forks with its carrier's thread pointer (`sys::tls::fork_enter_carrier`
    // says why); the first parent or child handler switches back (`resume_green_after_fork`).
    if current_task().is_some() {
        // SAFETY: on a green thread the worker is the one running it, alive while it runs.
        if let Some(w) = unsafe { current_worker().as_ref() } {
            w.fork_green_tp.set(tls::current_tp());
            // SAFETY: a green thread on `w`'s carrier; nothing touches a thread-local until the
            // parent or child handler below switches back.
            unsafe { tls::fork_enter_carrier(&w.carrier) };
        }
    }
}

/// The first thing the parent and child handlers do: if a green thread forked, FS is its carrier's
/// (`before_fork`); switch back to the green thread's. Reads only the carrier's `WORKER`.
fn resume_green_after_fork(child: bool) {
    let w = WORKER.with(Cell::get);
    // SAFETY: FS is the carrier's here when a green thread forked, so `WORKER` is that carrier's
    // worker, alive on the forking thread's stack (copied into a child).
    if let Some(w) = unsafe { w.as_ref() } {
        let tp = w.fork_green_tp.replace(0);
        if tp != 0 {
            // SAFETY: `tp` is the forking green thread's, stored by `before_fork` on this carrier.
            unsafe { tls::fork_resume_green(tp, &w.carrier, child) };
        }
    }
}

/// `pthread_atfork` parent handler: releases what `before_fork` took.
///
/// The handlers switch the thread pointer back to the forking green thread's, and rustc computes
/// a thread-local's address from the thread pointer once per function (in release builds, at its
/// entry): so nothing after the switch touches a thread-local in the same function. Each handler
/// switches, then calls a function of its own (`#[inline(never)]`) that does the rest.
extern "C" fn after_fork_in_parent() {
    resume_green_after_fork(false);
    release_fork_held();
}

/// Drops the guards `before_fork` stored in the forking thread's `FORK_HELD` (the green thread's
/// own when a green thread forked). Never inlined: see `after_fork_in_parent`.
#[inline(never)]
fn release_fork_held() {
    let _ = FORK_HELD.try_with(|h| h.borrow_mut().take());
}

/// `pthread_atfork` child handler. The child has only the forking thread, so a runtime started
/// before has no workers there and the next `global()` starts a new one — unless the fork was made
/// by a green thread of the global runtime: then its worker's loop (on the forking thread's
/// stack, which the child did copy) carries on as that runtime's only worker, and it stays the
/// global one.
extern "C" fn after_fork_in_child() {
    resume_green_after_fork(true);
    child_after_resume();
}

/// The child handler's work on the forking thread's own thread pointer. Never inlined: see
/// `after_fork_in_parent`.
#[inline(never)]
fn child_after_resume() {
    // The locks `before_fork` took are ours in the child too: release them.
    release_fork_held();
    current::forked_child();
    let w = current_worker();
    let g = GLOBAL.load(Acquire);
    // SAFETY: a non-null worker is the forking thread's own, alive on its copied stack; a
    // published global runtime is never freed.
    let on_global = !w.is_null() && !g.is_null() && unsafe { std::ptr::eq(&*(*w).shared, &**g) };
    if !on_global {
        FORK_EPOCH.fetch_add(1, Release);
    }
    // SAFETY: as above.
    if let Some(w) = unsafe { w.as_ref() } {
        // The timer watch may belong to a worker that was asleep in the parent and does not
        // exist here: the forking worker takes it when it next sleeps.
        w.shared.timer_watcher.store(0, SeqCst);
        // The idle bookkeeping counts workers that do not exist here: wake this one directly.
        w.shared.fork_only_worker.store(w.index, SeqCst);
        // No monitor runs here to give a worker back: the forking carrier keeps its own, even if
        // the parent's monitor had just handed it off.
        w.shared_part().lost.store(false, SeqCst);
    }
}

/// Starts a runtime's workers.
pub(crate) fn start(config: Config) -> (Arc<Shared>, Vec<std::thread::JoinHandle<()>>) {
    install_panic_hook();
    trace::set_green_ring_source(green_trace_ring);
    static ATFORK: std::sync::Once = std::sync::Once::new();
    // SAFETY: registers the three handlers below; the child's only releases locks and touches
    // atomics and the forking thread's own thread-locals.
    ATFORK.call_once(|| unsafe {
        libc::pthread_atfork(
            Some(before_fork),
            Some(after_fork_in_parent),
            Some(after_fork_in_child),
        );
    });
    crate::rt::overflow::install();
    if let Some(n) = config.resolved_preempt_interval() {
        crate::rt::preempt::set_interval(n);
    }
    trace::start_from_env();
    let n = config.resolved_workers();
    let carriers = config.resolved_max_carriers().max(n);
    let shared = Arc::new(Shared {
        workers: slots::Slots::new(carriers, n),
        base_workers: n,
        workers_hw: AtomicUsize::new(n),
        monitor: Monitor::new(n, carriers),
        blocking_threshold: config.resolved_blocking_threshold(),
        timeslice: config.resolved_timeslice(),
        timeslice_ticks: AtomicU64::new(0),
        injector: Injector::new(),
        idle: Idle::new(n, 2 * n + 64),
        timers: Timers::new(),
        timer_watcher: AtomicUsize::new(0),
        external_spawned: AtomicU64::new(0),
        shutdown: AtomicBool::new(false),
        stacks: StackPool::new(round_size(config.resolved_stack_size())),
        done_waiter: Mutex::new(None),
        fork_only_worker: AtomicUsize::new(usize::MAX),
        has_done_waiter: AtomicBool::new(false),
        on_deadlock: config.resolved_deadlock(),
    });
    register_runtime(&shared);
    debug_assert!(shared.workers.capacity() >= n);
    let handles = (0..n)
        .map(|i| {
            let s = shared.clone();
            std::thread::Builder::new()
                .name(format!("smarm-worker-{i}"))
                .spawn(move || {
                    let _internal = crate::rt::census::Internal::enter();
                    worker::run(s, i, false)
                })
                .expect("smarm: failed to start a worker thread")
        })
        .collect();
    crate::rt::monitor::start(&shared);
    // After the workers' `pthread_create`, which installs glibc's handler that this wraps.
    tls::install_signal_shims(current_carrier_tp);
    (shared, handles)
}

/// Waits until every green thread of `shared` has finished, then stops its workers.
pub(crate) fn wait_and_stop(shared: &Arc<Shared>, handles: Vec<std::thread::JoinHandle<()>>) {
    *shared.done_waiter.lock() = Some(current_thread_task());
    shared.has_done_waiter.store(true, SeqCst);
    // Workers re-check quiescence each time they run out of work. If the runtime is not quiescent
    // now, some green thread is alive, so its worker is awake and will check when it runs dry.
    while !shared.quiescent() {
        park::park(WaitKind::Wake, None);
    }
    shared.done_waiter.lock().take();
    shared.shutdown.store(true, SeqCst);
    for (i, _) in shared.workers.allocated() {
        shared.unpark_worker(i);
    }
    for h in handles {
        let _ = h.join();
    }
    crate::rt::monitor::stop(shared);
    shared.timers.clear();
    reactor::runtime_stopped();
}

/// Closures larger than this are boxed rather than placed on the new green thread's stack.
const MAX_INLINE_CLOSURE: usize = 4096;

/// Spawns a green thread running `f` on `rt`. The stack is taken first, so a failure (e.g. the
/// map-count limit) leaves nothing behind.
///
/// The closure is moved to the top of the new stack (the trampoline moves it out again as its
/// first act), so a spawn allocates nothing for it; a closure over [`MAX_INLINE_CLOSURE`] bytes is
/// boxed first so that it cannot crowd the stack.
///
/// # Safety
/// Whatever `f` and its result borrow must outlive the green thread (as with
/// `std::thread::Builder::spawn_unchecked`).
pub(crate) unsafe fn spawn<F, T>(
    rt: &Shared,
    name: Option<Box<str>>,
    stack_size: Option<usize>,
    f: F,
) -> io::Result<Arc<Task>>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    if !PANIC_HOOK_INSTALLED.load(Relaxed) {
        install_panic_hook(); // the runtime started while its starter was panicking
    }
    if size_of::<F>() > MAX_INLINE_CLOSURE || align_of::<F>() > 64 {
        let boxed: Box<dyn FnOnce() -> T + Send + '_> = Box::new(f);
        // SAFETY: forwarded from our caller.
        unsafe { spawn_placed(rt, name, stack_size, boxed) }
    } else {
        // SAFETY: forwarded from our caller.
        unsafe { spawn_placed(rt, name, stack_size, f) }
    }
}

/// `spawn` for a closure small enough to sit at the top of the stack.
unsafe fn spawn_placed<F, T>(
    rt: &Shared,
    name: Option<Box<str>>,
    stack_size: Option<usize>,
    f: F,
) -> io::Result<Arc<Task>>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    /// (`rt/stacks.rs` cuts dumped stacks below this frame, found by its name.)
    unsafe fn run_closure<F: FnOnce() -> T, T: Send>(p: *mut u8) -> ErasedBox {
        // SAFETY: `p` is where `spawn` wrote the `F`; the trampoline calls us once.
        let f = unsafe { (p as *mut F).read() };
        ErasedBox::new(f())
    }
    let size = stack_size.map_or(rt.stacks.size(), round_size);
    // The worker's caches are used below, and the allocations here must not switch this green
    // thread to another worker meanwhile (`sys::lock`).
    let _section = Section::enter();
    let w = local_worker(rt, &_section);
    // SAFETY: a worker's caches are touched only on its own OS thread, which is this one, and
    // nothing in this function switches.
    let local_stacks = w.map(|w| unsafe { &mut *w.stacks.get() });
    let stack = rt.stacks.take(local_stacks, size)?;
    // SAFETY: as for the stack cache.
    let local_tls = w.map(|w| unsafe { &mut *w.tls.get() });
    let tls = tls::take(local_tls)?;
    let closure_at = (stack.top() as usize - size_of::<F>()) & !(align_of::<F>() - 1);
    // SAFETY: the stack is ours and unused; `closure_at` is aligned for F and at most 4 KiB + 64
    // below its top; the initial frame goes below the closure, 16-byte aligned.
    let ctx = unsafe {
        (closure_at as *mut F).write(f);
        context::init_stack((closure_at & !15) as *mut u8, trampoline)
    };
    let entry: Entry = (run_closure::<F, T>, closure_at as *mut u8);
    // SAFETY: as for the stack cache above.
    let local_pids = w.map(|w| unsafe { &mut *w.pids.get() });
    let pid = pid::table::reserve(local_pids);
    let id = match w {
        Some(w) => {
            let mut block = w.ids.get();
            let id = ThreadId::next(Some(&mut block));
            w.ids.set(block);
            id
        }
        None => ThreadId::next(None),
    };
    let task = Arc::new(Task {
        id,
        name,
        state: AtomicU32::new(0),
        wait: AtomicU8::new(0),
        wait_on: std::sync::atomic::AtomicUsize::new(0),
        green: Some(Green {
            rt: rt as *const Shared as *const (),
            pid,
            ctx: UnsafeCell::new(ctx),
            low_water: UnsafeCell::new(usize::MAX),
            stack_range: (stack.limit() as usize, stack.top() as usize),
            stack: UnsafeCell::new(Some(stack)),
            entry: UnsafeCell::new(Some(entry)),
            result: UnsafeCell::new(None),
            join: AtomicU8::new(JOIN_RUNNING),
            joiner: UnsafeCell::new(None),
            timer: UnsafeCell::new(None),
            tp: tls.tp(),
            tls: UnsafeCell::new(Some(tls)),
            worker: AtomicPtr::new(std::ptr::null_mut()),
            fork_gen: current::fork_gen(),
            no_preempt: AtomicU32::new(0),
            watchers: crate::rt::watch::Watchers::new(),
        }),
    });
    pid::table::fill(pid, task.clone());
    if trace::enabled() {
        trace::spawned(&task);
    }
    match w {
        Some(w) => WorkerShared::bump(&rt.workers[w.index].spawned),
        None => drop(rt.external_spawned.fetch_add(1, SeqCst)),
    }
    match w {
        // A carrier that gave its worker away spawns to the injector, as a wake does (`schedule`).
        Some(w) if !w.shared_part().lost.load(Relaxed) => {
            w.local_queue().push(task.clone(), &rt.injector)
        }
        _ => rt.injector.push(task.clone()),
    }
    rt.notify();
    Ok(task)
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

/// Switches from the running green thread to its worker's scheduler loop, telling it why.
#[inline(never)]
fn switch_out(intent: usize) {
    let task = current::current_task_inline();
    debug_assert!(!task.is_null(), "switch_out off a green thread");
    // SAFETY: only called on a green thread, so `task` is the running task and its `worker` the
    // live worker running it. Both are used only to compute the switch's arguments, before the
    // switch; the green thread may resume on another worker, which sets `worker` anew.
    unsafe {
        let g = (*task).green.as_ref().unwrap_unchecked();
        let w = &*g.worker();
        let kind = match intent {
            INTENT_PARK_WAKE => Some(WaitKind::Wake),
            INTENT_PARK_USER => Some(WaitKind::User),
            _ => None,
        };
        // A park with the next task waiting in the run-next slot switches straight to it
        // (`worker.rs`, "Direct switches"); anything else goes through the scheduler loop.
        match kind.and_then(|k| w.direct_next(k)) {
            Some((ctx, arg, tp)) => drop(context::switch(g.ctx.get(), ctx, arg, tp)),
            None => drop(context::switch(
                g.ctx.get(),
                *w.sched_ctx.get(),
                intent,
                w.carrier.tp,
            )),
        }
        // Resumed, perhaps on another worker (set by whoever switched in): if the thread before
        // us switched straight here, complete its park.
        (*g.worker()).land();
    }
}

/// Yields the running green thread to the back of its worker's queue.
pub(crate) fn yield_green() {
    switch_out(INTENT_YIELD);
}

/// Switches out a green thread whose timeslice is spent (`rt::preempt`): to the back of its
/// worker's queue like a yield, without a yield's `sched_yield`.
pub(crate) fn preempt_green() {
    switch_out(INTENT_PREEMPT);
}

/// `park` for a green thread; see `rt::park` for the protocol.
pub(crate) fn park_green(task: &Task, kind: WaitKind, deadline: Option<Instant>) -> bool {
    let tok = kind.token();
    if word::try_consume(&task.state, tok) {
        return true;
    }
    let g = task.green.as_ref().expect("park_green on an OS thread");
    if deadline.is_some_and(|d| d <= Instant::now()) {
        return false;
    }
    // A new epoch for this park; a TIMEOUT left by an older timer is void.
    let mut s = task.state.load(Relaxed);
    let epoch = loop {
        let n = (s & !TIMEOUT).wrapping_add(EPOCH_ONE);
        match task.state.compare_exchange_weak(s, n, AcqRel, Relaxed) {
            Ok(_) => break word::epoch(n),
            Err(actual) => s = actual,
        }
    };
    if let Some(d) = deadline {
        // SAFETY: every green Task lives in an Arc (made by `spawn`); we add a reference for the
        // timer to own.
        let me = unsafe {
            Arc::increment_strong_count(task);
            Arc::from_raw(task)
        };
        let (id, earliest) = g.rt().timers.insert(d, me, epoch);
        // SAFETY: `timer` is only touched by the green thread itself.
        unsafe { *g.timer.get() = Some(id) };
        if earliest {
            g.rt().poke_timer_watcher();
        }
    }
    switch_out(match kind {
        WaitKind::User => INTENT_PARK_USER,
        WaitKind::Wake => INTENT_PARK_WAKE,
    });
    let s = task.state.fetch_and(!(tok | TIMEOUT), AcqRel);
    let woken = s & tok != 0;
    // SAFETY: as above, only this green thread touches `timer`.
    if let Some(id) = unsafe { (*g.timer.get()).take() }
        && woken
    {
        g.rt().timers.cancel(id);
    }
    woken
}

/// Waits for a green thread to finish and takes its outcome. Callable from any thread.
pub(crate) fn join(task: &Task) -> Outcome {
    let g = task.green.as_ref().expect("join: not a green thread");
    if g.join.load(Acquire) != JOIN_DONE {
        // SAFETY: before the JOIN_WAITING handshake below only the (single) joiner touches
        // `joiner`; the finisher reads it only after seeing JOIN_WAITING.
        unsafe { *g.joiner.get() = Some(current_thread_task()) };
        match g
            .join
            .compare_exchange(JOIN_RUNNING, JOIN_WAITING, AcqRel, Acquire)
        {
            Ok(_) => {
                // A green joiner records the edge for the deadlock-cycle check (`rt::cycles`).
                // SAFETY: the running green thread's task lives while it runs.
                let me = current_task().map(|t| unsafe { &*t });
                if let Some(me) = me {
                    crate::rt::waitfor::enter(me, crate::rt::waitfor::on_join(task));
                }
                while g.join.load(Acquire) != JOIN_DONE {
                    park::park_for(WaitKind::Wake, park::WaitReason::Join, None);
                }
                if let Some(me) = me {
                    crate::rt::waitfor::leave(me);
                }
            }
            // SAFETY: it finished before seeing us: the slot is still only ours.
            Err(_) => drop(unsafe { (*g.joiner.get()).take() }),
        }
    }
    // SAFETY: JOIN_DONE (acquired above) is stored after the result, and only the one JoinHandle
    // (consumed by join) takes it.
    unsafe {
        (*g.result.get())
            .take()
            .expect("smarm: green thread result taken twice")
    }
}

/// A `JoinHandle` is dropped without joining: the thread drops its result itself when it ends,
/// or, if it already has, the caller drops it now (as std's `Packet` does).
pub(crate) fn detach(task: &Task) {
    let g = task.green.as_ref().expect("detach: not a green thread");
    if g.join
        .compare_exchange(JOIN_RUNNING, JOIN_DETACHED, AcqRel, Acquire)
        .is_err()
    {
        // JOIN_DONE: the result is ours to drop.
        // SAFETY: JOIN_DONE was acquired; the handle being dropped was the only reader.
        drop_outcome(unsafe { (*g.result.get()).take() });
    }
}

/// Drops a result nobody will read; a `Drop` that panics aborts, as in std.
fn drop_outcome(outcome: Option<Outcome>) {
    if panic::catch_unwind(AssertUnwindSafe(move || drop(outcome))).is_err() {
        eprintln!("fatal runtime error: thread result panicked on drop, aborting");
        std::process::abort();
    }
}

/// Where every green thread starts: the entry `spawn` gives `context::init_stack`, called on the
/// new stack, with the green thread's own thread pointer already loaded.
unsafe extern "C" fn trampoline(task: usize) -> ! {
    let task = task as *const Task;
    current::set_green(task);
    // SAFETY: the worker passes the task it is switching into and holds an Arc to it until this
    // green thread switches away for the last time.
    let task = unsafe { &*task };
    // SAFETY: only spawned green tasks are ever switched into.
    let g = unsafe { task.green.as_ref().unwrap_unchecked() };
    // If the thread before us switched straight here (`worker.rs`, "Direct switches"), complete
    // its park first.
    // SAFETY: the worker switching us in set `worker` and runs us; it is alive while we run.
    unsafe { (*g.worker()).land() };
    // SAFETY: the block is this green thread's own while it runs.
    if let Some(block) = unsafe { (*g.tls.get()).as_mut() }
        && block.fresh
    {
        block.fresh = false;
        tls::init_thread();
    }
    // SAFETY: `entry` is taken exactly once, by the green thread itself.
    let entry = unsafe { (*g.entry.get()).take() };
    let outcome: Outcome = match entry {
        // SAFETY: `spawn` paired the function with the address of its closure, not yet run.
        Some((run, closure)) => panic::catch_unwind(AssertUnwindSafe(|| unsafe { run(closure) })),
        None => Ok(ErasedBox::new(())),
    };
    if outcome.is_err() {
        g.watchers.set_panicked();
    }
    // A detached thread drops its result first, on its own stack and before its thread-locals
    // are destroyed (as std's thread drops its packet before it exits), so a `Drop` that touches
    // a thread-local finds it alive and its new value is destroyed below.
    let mut outcome = Some(outcome);
    if g.join.load(Acquire) == JOIN_DETACHED {
        drop_outcome(outcome.take());
    }
    // The green thread's thread-local and pthread-key destructors, as an OS thread's exit runs
    // them; before the result is published, so `join` returns after them.
    tls::exit_thread();
    if let Some(outcome) = outcome {
        // Publish the outcome.
        // SAFETY: `result` is written before JOIN_DONE is released, and read only after it.
        unsafe { *g.result.get() = Some(outcome) };
        match g.join.swap(JOIN_DONE, AcqRel) {
            JOIN_WAITING => {
                // SAFETY: the joiner wrote `joiner` before it stored JOIN_WAITING, which we
                // acquired.
                if let Some(joiner) = unsafe { (*g.joiner.get()).take() } {
                    park::unpark_to_back(&joiner, WaitKind::Wake);
                }
            }
            JOIN_DETACHED => {
                // The handle went away meanwhile: drop the result here after all, and destroy
                // whatever thread-locals its `Drop` brought back.
                // SAFETY: detached: no handle will ever read the result.
                drop_outcome(unsafe { (*g.result.get()).take() });
                tls::exit_thread();
            }
            _ => {}
        }
    } else {
        g.join.store(JOIN_DONE, Release);
    }
    switch_out(INTENT_EXIT);
    // A finished context is never resumed.
    std::process::abort()
}

static PANIC_HOOK_INSTALLED: AtomicBool = AtomicBool::new(false);

type PanicHook = Box<dyn Fn(&panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Installs, once, the hook that reports a green thread's panic in std's words with the green
/// thread's name (std's default hook would name the OS thread's std handle, which for a green
/// thread is unnamed). A hook the program set before the runtime started is kept and called for
/// every panic, green or not, as std calls it; a hook set later replaces ours, as with std.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // std refuses `take_hook`/`set_hook` on a panicking thread (the first smarm use may be a
    // `Drop` running during unwinding, or a user's panic hook): leave it for a later start.
    if std::thread::panicking() {
        return;
    }
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        // `take_hook` leaves std's default hook installed: taking it again gives the default, and
        // the two are the same hook exactly when no one had set one (wide-pointer equality
        // compares address and vtable; the default is a zero-sized fn item, boxed by `take_hook`).
        let default = panic::take_hook();
        let user_hook = !is_same_hook(&previous, &default);
        drop(default);
        PANIC_HOOK_INSTALLED.store(true, Relaxed);
        panic::set_hook(Box::new(move |info| match current_task() {
            // SAFETY: the running task is alive while it runs; the hook does not switch.
            Some(t) if !user_hook => crate::rt::panic::report(unsafe { &*t }, info),
            _ => previous(info),
        }));
    });
}

#[allow(ambiguous_wide_pointer_comparisons)]
fn is_same_hook(a: &PanicHook, b: &PanicHook) -> bool {
    // Both boxes come from `take_hook` in one std codegen unit, so one hook type has one vtable
    // there; a mismatch could only make us call std's default hook for green threads (naming
    // them "<unnamed>"), never skip a user's hook.
    std::ptr::eq(&**a, &**b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Spawns `f` on `rt`; `join` takes its outcome.
    fn spawn_on<F: FnOnce() + Send + 'static>(rt: &Shared, f: F) -> Arc<Task> {
        // SAFETY: `F` is 'static.
        unsafe { spawn(rt, None, None, f) }.unwrap()
    }

    #[test]
    fn timers_of_early_woken_parks_are_cancelled() {
        let (rt, handles) = start(Config::new().workers(2));
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                spawn_on(&rt, || {
                    for _ in 0..5 {
                        crate::thread::park_timeout(Duration::from_secs(60));
                    }
                })
            })
            .collect();
        // Unpark until everyone is done; every park was woken long before its deadline.
        while tasks.iter().any(|t| !t.is_finished()) {
            for t in &tasks {
                park::unpark(t, WaitKind::User);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        for t in &tasks {
            join(t).unwrap();
        }
        assert_eq!(rt.timers.len(), 0, "a cancelled timer was left behind");
        assert!(rt.timers.is_empty());
        wait_and_stop(&rt, handles);
    }

    #[test]
    fn expired_timers_leave_nothing_behind() {
        let (rt, handles) = start(Config::new().workers(2));
        let tasks: Vec<_> = (0..300u64)
            .map(|i| {
                spawn_on(&rt, move || {
                    crate::thread::sleep(Duration::from_millis(i % 5))
                })
            })
            .collect();
        for t in &tasks {
            join(t).unwrap();
        }
        assert_eq!(rt.timers.len(), 0);
        wait_and_stop(&rt, handles);
    }

    #[test]
    fn run_waits_for_detached_threads_then_stops_its_workers() {
        let (rt, handles) = start(Config::new().workers(2));
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let d = done.clone();
            drop(spawn_on(&rt, move || {
                crate::thread::sleep(Duration::from_millis(2));
                d.fetch_add(1, SeqCst);
            }));
        }
        wait_and_stop(&rt, handles);
        assert_eq!(done.load(SeqCst), 50);
        assert!(rt.quiescent());
        assert!(rt.shutdown.load(SeqCst));
    }
}
