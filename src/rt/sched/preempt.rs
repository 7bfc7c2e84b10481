//! Allocator-driven preemption: [`PreemptingAllocator`], [`check!`](crate::check) and
//! [`NoPreempt`].
//!
//! Every `interval`-th allocation (default 128) on a green thread, and every `interval`-th
//! `check!()`, reads the TSC; if the running green thread has used up its timeslice (default
//! 100 µs), it is switched out to the back of its worker's run queue, like a yield, and resumes on
//! whichever worker takes it next. Many hogs thus share the workers round-robin, and a ticker, a
//! reply or a wake gets its turn within a timeslice or so.
//!
//! **Why switching inside the allocator is sound.** Every allocation in every crate becomes a
//! possible switch point, so everything the interrupted code holds must stay valid elsewhere:
//! - its thread-locals: every green thread has its own thread pointer (`rt::sys::tls`), so code
//!   stopped with a thread-local's address in a register, inside stdout's reentrant lock (owned by
//!   the green thread's own thread id) or while a `RefCell` in a thread-local is borrowed finds
//!   the same thread-locals wherever it resumes;
//! - a `std::sync::Mutex` it holds: the next contender blocks its carrier in the kernel; the
//!   monitor sees that carrier asleep and gives its worker to another carrier (`rt::sched::monitor`), which
//!   runs the holder;
//! - the runtime's own state: never switched out inside a runtime lock or while holding a
//!   reference to its worker (`sys::lock::Section`; DESIGN.md rule 2), nor while panicking or under
//!   [`NoPreempt`]. A refused check comes again `interval` allocations later. The check runs
//!   before the inner allocator is called, so no allocator lock is held either.
//!
//! **Cost.** A preemption check is a thread-local countdown (`dec` and a branch) per allocation;
//! the TSC is read only on every `interval`-th. The switch path pays nothing: the start of a run is
//! noticed lazily by the first check that sees the worker's run counter change. A preemption is a
//! yield (a switch out and back in, ~130 ns) per timeslice.
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

use crate::rt::sched::{
    self,
    shared::{Shared, WorkerShared},
};
use crate::rt::sys::lock;

/// Default number of allocations (or `check!()`s) between two looks at the clock.
pub const DEFAULT_INTERVAL: u32 = 128;

static INTERVAL: AtomicU32 = AtomicU32::new(DEFAULT_INTERVAL);

thread_local! {
    /// Allocations left until the next look at the clock.
    static COUNTDOWN: Cell<u32> = const { Cell::new(DEFAULT_INTERVAL) };
    /// `(run key, tsc)`: the worker run this green thread last saw (see `slow_check`) and the
    /// TSC when it first saw it.
    static SLICE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Sets how many allocations pass between two preemption checks (process-wide; at least 1).
pub(crate) fn set_interval(n: u32) {
    INTERVAL.store(n.max(1), Relaxed);
}

#[inline(always)]
fn rdtsc() -> u64 {
    crate::rt::sys::arch::cycles()
}

/// TSC ticks per microsecond, measured once.
static TICKS_PER_US: OnceLock<f64> = OnceLock::new();

/// Measures the TSC against the monotonic clock (once per process, ~2 ms, on the monitor's
/// thread) and sets `shared`'s timeslice in ticks.
///
/// The 2 ms measurement runs outside the `OnceLock`'s initialisation (two monitors starting at
/// once may both measure; the first value set wins): a `fork` during it would otherwise leave the
/// child a copy of the cell mid-initialisation, on which the child's monitor waits for good.
pub(crate) fn calibrate(shared: &Shared) {
    let per_us = match TICKS_PER_US.get() {
        Some(v) => *v,
        None => {
            let (t0, c0) = (Instant::now(), rdtsc());
            std::thread::sleep(Duration::from_millis(2));
            let (t1, c1) = (Instant::now(), rdtsc());
            let measured = c1.wrapping_sub(c0) as f64 / t1.duration_since(t0).as_secs_f64() / 1e6;
            *TICKS_PER_US.get_or_init(|| measured)
        }
    };
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
    let Some(task) = crate::rt::task::current::current_task() else {
        return; // an OS thread, or a carrier's scheduler loop
    };
    // SAFETY: the running green thread's task is alive while it runs; `green` is set for every
    // spawned task. Its worker is the one running it now; nothing here uses it after a switch.
    let g = unsafe { (*task).green.as_ref().unwrap_unchecked() };
    // SAFETY: as above: set by the worker before it switched this green thread in.
    let Some(w) = (unsafe { g.worker().as_ref() }) else {
        return;
    };
    let ws: &WorkerShared = &w.shared.workers[w.index];
    let run = ws.runs.load(Relaxed);
    let slice = w.shared.timeslice_ticks.load(Relaxed);
    if slice == 0 || run & 1 == 0 {
        return;
    }
    let now = rdtsc();
    let Ok((seen, start)) = SLICE.try_with(Cell::get) else {
        return;
    };
    // `SLICE` is the green thread's own (its thread-locals travel with it) while run counters are
    // per worker: the key names both, so a run on another worker is never mistaken for this one.
    let key = run ^ ((w.index as u64) << 56);
    if seen != key {
        let _ = SLICE.try_with(|s| s.set((key, now)));
        return;
    }
    if now.wrapping_sub(start) < slice {
        return;
    }
    // Not inside the runtime's own code (a lock, a worker's caches: `sys::lock`), not under a
    // `NoPreempt`, not while unwinding. A check refused here comes again `interval` allocations
    // later.
    if g.no_preempt.load(Relaxed) > 0 || !lock::preemptible() || std::thread::panicking() {
        return;
    }
    // To the back of the run queue; it resumes on whichever worker takes it, with its own
    // thread-locals (`sys::tls`), so code stopped with a thread-local's address in a register,
    // inside stdout's lock or holding a `std::sync::Mutex` finds everything as it left it. A
    // contender for that mutex blocks its carrier, and the monitor hands that carrier's worker on.
    sched::switch::preempt_green();
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
/// delegate. A check that finds the running green thread's timeslice spent switches it out to the
/// back of the run queue before the allocation is made (never inside the runtime's own code); see
/// the module documentation of `smarm::rt::sched::preempt` (in the source) for why that is sound.
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

/// While alive, the current green thread is never preempted (switched out at the end of its
/// timeslice); it still switches at its own smarm calls. Nests; may be held across smarm blocking
/// calls (it belongs to the green thread, not to the OS thread). On an OS thread it does nothing.
///
/// # Examples
///
/// ```
/// let _quiet = smarm::NoPreempt::new();
/// // latency-critical work here is not switched out at its timeslice's end
/// ```
pub struct NoPreempt {
    task: Option<*const crate::rt::task::Task>,
    _not_send: PhantomData<*const ()>,
}

impl NoPreempt {
    /// Disables preemption for the current green thread until dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = smarm::thread::spawn(|| {
    ///     let _guard = smarm::NoPreempt::new();
    ///     // This loop keeps its worker, however long it runs.
    ///     (0..10_000u64).map(|i| i * i).sum::<u64>()
    /// });
    /// assert_eq!(h.join().unwrap(), (0..10_000u64).map(|i| i * i).sum());
    /// ```
    pub fn new() -> NoPreempt {
        let task = crate::rt::task::current::current_task();
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
/// and, if the running green thread's timeslice is spent, switches it out to the back of the run
/// queue (it resumes on whichever worker takes it). Costs a thread-local countdown per call.
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
