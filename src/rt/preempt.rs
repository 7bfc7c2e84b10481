//! Allocator-driven preemption: [`PreemptingAllocator`], [`check!`](crate::check) and
//! [`NoPreempt`].
//!
//! Every `interval`-th allocation (default 128) on a worker thread, and every `interval`-th
//! `check!()`, reads the TSC; if the green thread running there has used up its timeslice
//! (default 100 µs), it is *reported*: its worker is marked stuck and the monitor is woken, which
//! hands the worker's queued green threads to a sleeping or an extra worker (see `rt::monitor`).
//!
//! **Why a preempted green thread does not switch (yet).** Preemption inside the allocator turns
//! every allocation in every crate into a potential switch point. Thread-locals no longer stand in
//! the way: every green thread has its own thread pointer (`rt::sys::tls`), so code stopped with a
//! thread-local's address in a register, inside stdout's lock or while unwinding finds the same
//! thread-locals wherever it resumes. What remains is a green thread stopped while holding a
//! `std::sync::Mutex`: the next contender would block the worker that should run the holder — the
//! hand-off of the worker to another carrier (Go's model) is what makes that safe, and it is not
//! built yet. So the preempted green thread keeps its OS thread *and keeps running on it*; what
//! moves is everything else that was queued behind it. A hog thus degrades gracefully to a
//! kernel-scheduled thread, and no runtime lock can be held across a switch that never happens —
//! so the runtime needs no `NoPreempt` around its own locks. Explicit smarm blocking calls (recv,
//! lock, sleep, IO) stay ordinary, cheap switches; the hog's own next one lets its worker run the
//! queue normally again.
//!
//! **Cost.** A preemption check is a thread-local countdown (`dec` and a branch) per allocation;
//! the TSC is read only on every `interval`-th. The switch path pays nothing: the start of a run is
//! noticed lazily by the first check that sees the worker's run counter change.
//!
//! Off: on threads that are not workers, in the scheduler loop, while panicking, inside
//! [`NoPreempt`], before the TSC is calibrated (the monitor does it when a runtime starts).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::rt::sched::{self, Shared, WorkerShared};

/// Default number of allocations (or `check!()`s) between two looks at the clock.
pub const DEFAULT_INTERVAL: u32 = 128;

static INTERVAL: AtomicU32 = AtomicU32::new(DEFAULT_INTERVAL);

thread_local! {
    /// Allocations left until the next look at the clock.
    static COUNTDOWN: Cell<u32> = const { Cell::new(DEFAULT_INTERVAL) };
    /// `(run key, tsc, reported)`: the worker run this green thread last saw (see `slow_check`),
    /// the TSC when it first saw it, and whether that run was reported already.
    static SLICE: Cell<(u64, u64, bool)> = const { Cell::new((0, 0, false)) };
}

/// Sets how many allocations pass between two preemption checks (process-wide; at least 1).
pub(crate) fn set_interval(n: u32) {
    INTERVAL.store(n.max(1), Relaxed);
}

#[inline(always)]
fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86-64 (the only target smarm builds for).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// TSC ticks per microsecond, measured once.
static TICKS_PER_US: OnceLock<f64> = OnceLock::new();

/// Measures the TSC against the monotonic clock (once per process, ~2 ms, on the monitor's
/// thread) and sets `shared`'s timeslice in ticks.
pub(crate) fn calibrate(shared: &Shared) {
    let per_us = *TICKS_PER_US.get_or_init(|| {
        let (t0, c0) = (Instant::now(), rdtsc());
        std::thread::sleep(Duration::from_millis(2));
        let (t1, c1) = (Instant::now(), rdtsc());
        c1.wrapping_sub(c0) as f64 / t1.duration_since(t0).as_secs_f64() / 1e6
    });
    let ticks = (shared.timeslice.as_secs_f64() * 1e6 * per_us) as u64;
    shared.timeslice_ticks.store(ticks.max(1), Relaxed);
}

/// One preemption check: counts down, and looks at the clock every `interval`-th call.
#[inline(always)]
pub(crate) fn tick() {
    // `try_with`: an allocation while this thread's locals are being torn down just skips.
    let _ = COUNTDOWN.try_with(|c| {
        let left = c.get();
        if left > 1 {
            c.set(left - 1);
        } else {
            c.set(INTERVAL.load(Relaxed));
            slow_check();
        }
    });
}

#[cold]
#[inline(never)]
fn slow_check() {
    let w = sched::current_worker();
    if w.is_null() {
        return; // not a worker thread
    }
    // SAFETY: a non-null WORKER is this OS thread's live worker; nothing here switches, so the
    // reference does not outlive a switch.
    let w = unsafe { &*w };
    let task = w.current.get();
    if task.is_null() {
        return; // the scheduler loop
    }
    let ws: &WorkerShared = &w.shared.workers[w.index];
    let run = ws.runs.load(Relaxed);
    let slice = w.shared.timeslice_ticks.load(Relaxed);
    if slice == 0 || run & 1 == 0 {
        return;
    }
    let now = rdtsc();
    let Ok((seen, start, reported)) = SLICE.try_with(Cell::get) else {
        return;
    };
    // `SLICE` is the green thread's own (its thread-locals travel with it) while run counters are
    // per worker: the key names both, so a run on another worker is never mistaken for this one.
    let key = run ^ ((w.index as u64) << 56);
    if seen != key {
        let _ = SLICE.try_with(|s| s.set((key, now, false)));
        return;
    }
    if reported || now.wrapping_sub(start) < slice {
        return;
    }
    // SAFETY: the running task is alive while it runs; `green` is immutable.
    let no_preempt =
        unsafe { (*task).green.as_ref() }.is_some_and(|g| g.no_preempt.load(Relaxed) > 0);
    if no_preempt || std::thread::panicking() {
        return;
    }
    let _ = SLICE.try_with(|s| s.set((key, start, true)));
    ws.stuck_run.store(run, Relaxed);
    crate::rt::stats::WorkerCounters::bump(&ws.counters.preemptions);
    // What this green thread woke last sits in the run-next slot: move it to the stealable queue
    // now rather than wait for the monitor to take it. Neither call allocates nor takes a lock, so this is sound
    // even when the allocation that brought us here came from inside the runtime.
    if let Some(t) = ws.take_run_next()
        && let Err(t) = w.local_queue().try_push(t)
    {
        drop(ws.replace_run_next(t)); // the queue is full: leave it (the slot was empty)
    }
    w.shared.monitor.poke();
}

/// A global allocator that adds preemption checks to another (`System` by default).
///
/// Install it with one line (or enable the `preempt` cargo feature, which installs
/// `PreemptingAllocator<System>`); wrap another allocator the same way:
///
/// # Examples
///
/// ```
/// # #[cfg(not(feature = "preempt"))]
/// #[global_allocator]
/// static ALLOC: smarm::PreemptingAllocator = smarm::PreemptingAllocator::new(std::alloc::System);
///
/// # fn main() {
/// let v: Vec<u64> = smarm::thread::spawn(|| (0..1000).collect()).join().unwrap();
/// assert_eq!(v.len(), 1000);
/// # }
/// ```
///
/// `alloc`, `alloc_zeroed` and `realloc` count down towards a check; `dealloc` is a plain
/// delegate. See the module documentation of `smarm::rt::preempt` (in the source) for what a check
/// does and why a preempted green thread never switches inside the allocator.
pub struct PreemptingAllocator<A: GlobalAlloc = System> {
    inner: A,
}

impl<A: GlobalAlloc> PreemptingAllocator<A> {
    /// Wraps `inner`.
    ///
    /// # Examples
    ///
    /// It is an ordinary [`GlobalAlloc`]: installed with `#[global_allocator]` (see above), or called
    /// directly.
    ///
    /// ```
    /// use smarm::PreemptingAllocator;
    /// use std::alloc::{GlobalAlloc, Layout, System};
    ///
    /// static ALLOC: PreemptingAllocator<System> = PreemptingAllocator::new(System);
    ///
    /// let layout = Layout::new::<[u64; 4]>();
    /// // SAFETY: a non-zero-sized layout; the block is freed with the same layout.
    /// unsafe {
    ///     let p = ALLOC.alloc(layout);
    ///     assert!(!p.is_null());
    ///     ALLOC.dealloc(p, layout);
    /// }
    /// ```
    pub const fn new(inner: A) -> PreemptingAllocator<A> {
        PreemptingAllocator { inner }
    }
}

// SAFETY: every method delegates to `inner`, a `GlobalAlloc`, with the caller's arguments; the
// added check allocates nothing and never unwinds.
unsafe impl<A: GlobalAlloc> GlobalAlloc for PreemptingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        tick();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        tick();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        tick();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.dealloc(ptr, layout) }
    }
}

/// While alive, the current green thread is never reported as past its timeslice (its worker's
/// queue stays where it is). Nests; may be held across smarm blocking calls (it belongs to the
/// green thread, not to the OS thread). On an OS thread it does nothing.
///
/// # Examples
///
/// ```
/// let _quiet = smarm::NoPreempt::new();
/// // latency-critical work here keeps its worker's queue with it
/// ```
pub struct NoPreempt {
    task: Option<*const crate::rt::task::Task>,
    _not_send: PhantomData<*const ()>,
}

impl NoPreempt {
    /// Disables preemption reports for the current green thread until dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = smarm::thread::spawn(|| {
    ///     let _guard = smarm::NoPreempt::new();
    ///     // This loop keeps its worker's queue with it, however long it runs.
    ///     (0..10_000u64).map(|i| i * i).sum::<u64>()
    /// });
    /// assert_eq!(h.join().unwrap(), (0..10_000u64).map(|i| i * i).sum());
    /// ```
    pub fn new() -> NoPreempt {
        let task = sched::current_task();
        if let Some(t) = task {
            // SAFETY: the running task is alive; the counter is touched only by this green thread.
            if let Some(g) = unsafe { (*t).green.as_ref() } {
                g.no_preempt.fetch_add(1, Relaxed);
            }
        }
        NoPreempt {
            task,
            _not_send: PhantomData,
        }
    }
}

impl Default for NoPreempt {
    fn default() -> NoPreempt {
        NoPreempt::new()
    }
}

impl Drop for NoPreempt {
    fn drop(&mut self) {
        if let Some(t) = self.task {
            // SAFETY: the guard is `!Send` and dropped by the green thread that made it, which is
            // alive while it runs.
            if let Some(g) = unsafe { (*t).green.as_ref() } {
                g.no_preempt.fetch_sub(1, Relaxed);
            }
        }
    }
}

/// The check behind [`check!`](crate::check).
#[doc(hidden)]
#[inline(always)]
pub fn check_point() {
    tick();
}

/// A preemption check for loops that never allocate: every `interval`-th call looks at the clock
/// and, if the running green thread's timeslice is spent, hands its worker's queue to another
/// worker (the green thread itself keeps running). Costs a thread-local countdown per call.
///
/// # Examples
///
/// ```
/// let h = smarm::thread::spawn(|| {
///     let mut x = 0u64;
///     for i in 0..1_000_000u64 {
///         x = x.wrapping_mul(31).wrapping_add(i);
///         smarm::check!();
///     }
///     x
/// });
/// h.join().unwrap();
/// ```
#[macro_export]
macro_rules! check {
    () => {
        $crate::rt::preempt::check_point()
    };
}
