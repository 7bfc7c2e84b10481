//! A runtime put together: `start` makes a runtime's shared state, starts its carriers and its
//! monitor; `wait_and_stop` ends it; the lazily started global runtime; and the `fork` handlers
//! that keep a child's runtime usable. The top of the runtime's layers (DESIGN.md, "Layers"):
//! it names the scheduler, the monitor, the reactor and the reports, and none of them names it.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::time::Duration;

use crate::rt::config::Config;
use crate::rt::io::reactor;
use crate::rt::park;
use crate::rt::park::timer::Timers;
use crate::rt::park::word::WaitKind;
use crate::rt::sched::carriers::Monitor;
use crate::rt::sched::idle::Idle;
use crate::rt::sched::queue::Injector;
use crate::rt::sched::shared::{FORK_EPOCH, GLOBAL, GLOBAL_EPOCH, Shared, register_runtime};
use crate::rt::sched::slots;
use crate::rt::sched::worker::{
    self, carrier_worker, current_carrier_tp, current_worker, green_trace_ring,
};
use crate::rt::sys::lock::{Mutex, Section};
use crate::rt::sys::os_thread;
use crate::rt::sys::stack::{StackPool, round_size};
use crate::rt::sys::tls;
use crate::rt::task::current::{self, current_task, current_thread_task};
use crate::rt::task::panic::install_panic_hook;
use crate::rt::trace;

/// The runtime a spawn from here should use: this worker's, or the global one.
#[inline]
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

static GLOBAL_START: Mutex<()> = Mutex::new(());

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
    // Kept until the guards are dropped (the last of them): a forking green thread is not
    // preempted while it holds the carriers lock (a std mutex, no section of its own) or reads
    // its worker below.
    let mut guards: Vec<Box<dyn std::any::Any>> = vec![Box::new(Section::enter())];
    // No global runtime is half started: `global_slow` holds GLOBAL_START across `start`, whose
    // thread spawns would otherwise wait out this fork (`sys::os_thread`) with it held, and the
    // child's first `global()` would wait on it for good. GLOBAL is read after it.
    guards.push(Box::new(GLOBAL_START.lock()));
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
    guards.extend(crate::rt::task::pid::table::hold_for_fork());
    // RUNTIMES: the monitor's deadlock check holds it while it reads other runtimes' atomics, and
    // a child's first runtime must register there.
    guards.push(Box::new(crate::rt::sched::shared::RUNTIMES.lock()));
    // Held across the spawns of the trace writer and the SIGQUIT dumper (`sys::os_thread`'s
    // rule); a worker may register its trace ring at any time.
    guards.extend(trace::hold_for_fork());
    guards.push(crate::rt::dump::hold_for_fork());
    // Last: waits for our threads inside std's start or end (`sys::os_thread`), which take no
    // lock of ours on the way out.
    guards.push(os_thread::hold_for_fork());
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
    let w = carrier_worker();
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
    os_thread::forked_child();
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
    crate::rt::sched::overflow::install();
    if let Some(n) = config.resolved_preempt_interval() {
        crate::rt::sched::preempt::set_interval(n);
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
            os_thread::spawn(
                std::thread::Builder::new().name(format!("smarm-worker-{i}")),
                move || {
                    let _internal = crate::rt::census::Internal::enter();
                    worker::run(s, i, false)
                },
            )
            .expect("smarm: failed to start a worker thread")
        })
        .collect();
    crate::rt::sched::monitor::start(&shared);
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
    crate::rt::sched::monitor::stop(shared);
    shared.timers.clear();
    reactor::runtime_stopped();
}

/// A snapshot of the counters of the runtime the caller belongs to: the one running the calling
/// green thread, or the global runtime when called from a plain OS thread (which starts it if it
/// has not started yet).
///
/// # Examples
///
/// From a plain OS thread, the global runtime's counters:
///
/// ```
/// let h = smarm::thread::spawn(|| smarm::thread::sleep(std::time::Duration::from_millis(1)));
/// h.join().unwrap();
/// let s = smarm::rt::stats();
/// assert!(s.spawned >= 1 && s.parks >= 1); // the sleep parked the green thread
/// assert!(["wrfsbase", "arch_prctl", "tpidr_el0"].contains(&s.tls_switch));
/// ```
pub fn stats() -> crate::rt::stats::Stats {
    with_current_rt(crate::rt::stats::snapshot)
}

/// A plain OS thread is about to wait on a socket: make sure some runtime's sleeping workers poll
/// the reactor — the global one, started now if it has not been. (A green thread's own runtime
/// polls when its workers sleep.)
pub(crate) fn ensure_poller() {
    if current_worker().is_null() {
        let _ = global();
    }
}

/// Blocks the calling thread (a green thread parks; a plain OS thread sleeps) until `fd` is
/// readable — has data, a pending connection, or end of file — or `timeout` passes.
///
/// Works for any fd epoll can watch (sockets, pipes, eventfds, terminals), whoever owns it; the
/// fd's own mode is not changed. A timeout is an error of kind [`io::ErrorKind::TimedOut`].
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsFd;
/// use std::time::Duration;
///
/// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
/// let e = smarm::rt::wait_readable(a.as_fd(), Some(Duration::from_millis(10))).unwrap_err();
/// assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
/// b.write_all(b"x").unwrap();
/// smarm::rt::wait_readable(a.as_fd(), None).unwrap();
/// ```
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<()> {
    ensure_poller();
    crate::rt::io::reactor::wait_once(fd, crate::rt::io::reactor::Interest::Read, timeout)
}

/// Blocks the calling thread until `fd` is writable (or has an error or hang-up pending), or
/// `timeout` passes; see [`wait_readable`].
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
/// smarm::rt::wait_writable(a.as_fd(), None).unwrap();
/// ```
pub fn wait_writable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<()> {
    ensure_poller();
    crate::rt::io::reactor::wait_once(fd, crate::rt::io::reactor::Interest::Write, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::sched::spawn::{join, spawn};
    use crate::rt::task::Task;
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
