//! Preemption costs and effect.
//!
//! 1. `alloc_heavy`: building and dropping many small `Vec`s and `String`s inside a green thread,
//!    with every allocation going through `PreemptingAllocator<System>` vs straight to `System`.
//!    Both run in this one binary behind a switch (`Switch` below), so both pay the same switch
//!    branch and the difference is the preemption check alone.
//! 2. `ticker latency` (printed, not criterion): a green thread sleeping 1 ms in a loop for 2 s on
//!    a one-worker runtime beside 4 allocating hogs (1 s each); how late each wake-up is
//!    (p50/p99/max; the wait for its first run counts as one sample), with the default 100 µs
//!    timeslice vs preemption off (timeslice and blocking threshold of 1000 s).
//!
//! `cargo bench --bench preempt` (without `--features preempt`: the bench installs its own
//! allocator).

// With `--features preempt` the library installs its own allocator and `Switch` stays unused.
#![cfg_attr(feature = "preempt", allow(dead_code))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::Criterion;
use smarm::PreemptingAllocator;
use smarm::rt::{Config, run};

/// Routes every allocation to `System` or to `PreemptingAllocator<System>`.
struct Switch;
static PREEMPTING: AtomicBool = AtomicBool::new(false);
static WRAPPED: PreemptingAllocator = PreemptingAllocator::new(System);

// SAFETY: both targets are `GlobalAlloc`s over the same `System` heap, so a block allocated
// through one may be freed or reallocated through the other.
unsafe impl GlobalAlloc for Switch {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe {
            if PREEMPTING.load(Ordering::Relaxed) {
                WRAPPED.alloc(l)
            } else {
                System.alloc(l)
            }
        }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        // SAFETY: as above.
        unsafe {
            if PREEMPTING.load(Ordering::Relaxed) {
                WRAPPED.realloc(p, l, n)
            } else {
                System.realloc(p, l, n)
            }
        }
    }
}

#[cfg(not(feature = "preempt"))]
#[global_allocator]
static ALLOC: Switch = Switch;

fn alloc_work() -> usize {
    let mut total = 0;
    for i in 0..1000u64 {
        let v: Vec<u64> = (0..8).map(|k| k ^ i).collect();
        let s = format!("item-{i}-{}", v[3]);
        total += black_box(s.len() + v.len());
    }
    total
}

fn alloc_heavy(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_heavy_1000_vec_and_string");
    for (name, on) in [("system", false), ("preempting_system", true)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                PREEMPTING.store(on, Ordering::Relaxed);
                let t = run(Config::new().workers(1), move || {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(alloc_work());
                    }
                    start.elapsed()
                });
                PREEMPTING.store(false, Ordering::Relaxed);
                t
            })
        });
    }
    g.finish();
}

/// Lateness of 1 ms sleeps beside 4 allocating hogs on one worker, sorted.
fn ticker_lateness(config: Config) -> Vec<Duration> {
    PREEMPTING.store(true, Ordering::Relaxed);
    let samples = run(config.workers(1), || {
        // Each hog runs for 1 s of its own time, so the run ends even without preemption.
        let hogs: Vec<_> = (0..4)
            .map(|_| {
                smarm::thread::spawn(move || {
                    let t0 = Instant::now();
                    while t0.elapsed() < Duration::from_secs(1) {
                        black_box(alloc_work());
                    }
                })
            })
            .collect();
        let out = Arc::new(Mutex::new(Vec::new()));
        let o = out.clone();
        let spawned = Instant::now();
        let ticker = smarm::thread::spawn(move || {
            let mut v = Vec::with_capacity(2000);
            // The wait for the first run counts as lateness too.
            v.push(spawned.elapsed());
            let deadline = spawned + Duration::from_secs(2);
            while Instant::now() < deadline {
                let t = Instant::now();
                smarm::thread::sleep(Duration::from_millis(1));
                v.push(t.elapsed().saturating_sub(Duration::from_millis(1)));
            }
            *o.lock().unwrap() = v;
        });
        ticker.join().unwrap();
        for h in hogs {
            h.join().unwrap();
        }
        std::mem::take(&mut *out.lock().unwrap())
    });
    PREEMPTING.store(false, Ordering::Relaxed);
    let mut s = samples;
    s.sort();
    s
}

fn report(name: &str, s: &[Duration]) {
    let pct = |p: f64| s[((s.len() as f64 - 1.0) * p) as usize];
    println!(
        "ticker lateness, {name}: n = {}, p50 {:?}, p99 {:?}, max {:?}",
        s.len(),
        pct(0.5),
        pct(0.99),
        s.last().unwrap()
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    alloc_heavy(&mut c);
    c.final_summary();
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    report("100 µs timeslice", &ticker_lateness(Config::new()));
    let off = Config::new()
        .timeslice(Duration::from_secs(1000))
        .blocking_threshold(Duration::from_secs(1000));
    report("preemption off", &ticker_lateness(off));
}
