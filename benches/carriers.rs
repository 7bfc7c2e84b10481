//! Carriers and workers under load, smarm beside std threads in the same run (a printed table, not
//! criterion):
//!
//! 1. **ticker lateness** beside allocating hogs: a ticker sleeps 1 ms in a loop for 2 s while 8,
//!    100 or 400 hogs allocate in a loop; lateness is the actual wake minus the intended one
//!    (p50/p99/max; the wait for the ticker's first run counts as one sample). smarm runs the hogs
//!    and the ticker as green threads on 2 workers; std runs them as OS threads. The `threads`
//!    column is the most OS threads the process had during the run above the count before it
//!    (the sampling thread included). Without `--features preempt` smarm's hogs are never
//!    preempted (a note says so).
//! 2. **1,000 sleepers**: the wall time of 1,000 green threads each in `std::thread::sleep(100 ms)`
//!    (the std sleep: each blocks its carrier), vs 1,000 std threads doing the same.
//! 3. **wake behind a computing waker**: B wakes A (`unpark`) and then computes for 5 ms without a
//!    smarm call or an allocation; the latency is A's first instant after its `park` minus B's
//!    instant just before the `unpark` (p50/p99 of 100 samples; smarm on 2 workers vs std).
//!
//! Run: `cargo bench --features preempt --bench carriers`. Without `--bench` on the command line
//! (`cargo test --benches`) it runs a short smoke version of each part.
//!
//! Targets (from the issue that introduced carriers): at 400 hogs, ticker p99 <= 5 ms and max
//! <= 20 ms; the sleepers' total <= 2x std's; wake-behind-waker p50 <= 200 µs.

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::{Duration, Instant};

use smarm::rt::{Config, run};

const WORKERS: usize = 2;

/// Sizes of one run: the full bench, or a smoke run under `cargo test --benches`.
struct Sizes {
    hogs: &'static [usize],
    tick_for: Duration,
    sleepers: usize,
    wake_samples: usize,
}

const FULL: Sizes = Sizes {
    hogs: &[8, 100, 400],
    tick_for: Duration::from_secs(2),
    sleepers: 1000,
    wake_samples: 100,
};

const SMOKE: Sizes = Sizes {
    hogs: &[8],
    tick_for: Duration::from_millis(200),
    sleepers: 50,
    wake_samples: 5,
};

/// Aborts the bench if the section it guards has not finished within `limit` (a hang is a result,
/// not a reason to hang CI). Dropping it disarms it.
struct Watchdog(Arc<AtomicBool>);

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

fn watchdog(section: String, limit: Duration) -> Watchdog {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(20));
            if d.load(SeqCst) {
                return;
            }
        }
        let msg = format!("\ncarriers bench: `{section}` did not finish within {limit:?}\n");
        let _ = std::io::stderr().write_all(msg.as_bytes());
        std::process::abort();
    });
    Watchdog(done)
}

/// The number of OS threads in this process (`Threads:` in /proc/self/status).
fn os_threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Threads: line in /proc/self/status")
}

/// Allocates in a loop until `stop`.
fn hog(stop: &AtomicBool) {
    let mut i = 0u64;
    while !stop.load(Relaxed) {
        let v: Vec<u64> = black_box((0..16).map(|k| k ^ i).collect());
        let s = black_box(format!("hog-{i}-{}", v[3]));
        black_box(s.len());
        i = i.wrapping_add(1);
    }
}

/// Sleeps `period` with `sleep` until `stop`; returns each wake's lateness, the first sample being
/// the wait from `spawned` to the first run.
fn ticker(sleep: fn(Duration), stop: &AtomicBool, spawned: Instant) -> Vec<Duration> {
    const PERIOD: Duration = Duration::from_millis(1);
    let mut v = Vec::with_capacity(4096);
    v.push(spawned.elapsed());
    while !stop.load(Relaxed) {
        let intended = Instant::now() + PERIOD;
        sleep(PERIOD);
        v.push(Instant::now().saturating_duration_since(intended));
    }
    v
}

/// Starts a std thread that samples the OS thread count every 10 ms for `dur`, then sets `stop`;
/// it returns the most threads seen above `baseline`.
fn sampler(stop: Arc<AtomicBool>, dur: Duration) -> std::thread::JoinHandle<usize> {
    let baseline = os_threads();
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut max = 0;
        while start.elapsed() < dur {
            std::thread::sleep(Duration::from_millis(10));
            max = max.max(os_threads());
        }
        stop.store(true, SeqCst);
        max.saturating_sub(baseline)
    })
}

/// (sorted lateness samples, most extra OS threads) for a smarm ticker beside `hogs` green hogs.
fn smarm_ticker(hogs: usize, dur: Duration) -> (Vec<Duration>, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let samp = sampler(stop.clone(), dur);
    let mut samples = run(Config::new().workers(WORKERS), move || {
        let hs: Vec<_> = (0..hogs)
            .map(|_| {
                let stop = stop.clone();
                smarm::thread::spawn(move || hog(&stop))
            })
            .collect();
        let spawned = Instant::now();
        let t = smarm::thread::spawn(move || ticker(smarm::thread::sleep, &stop, spawned));
        let v = t.join().unwrap();
        for h in hs {
            h.join().unwrap();
        }
        v
    });
    samples.sort();
    (samples, samp.join().unwrap())
}

/// The same with OS threads: `hogs` std threads and a std ticker.
fn std_ticker(hogs: usize, dur: Duration) -> (Vec<Duration>, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let samp = sampler(stop.clone(), dur);
    let hs: Vec<_> = (0..hogs)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || hog(&stop))
        })
        .collect();
    let spawned = Instant::now();
    let t = {
        let stop = stop.clone();
        std::thread::spawn(move || ticker(std::thread::sleep, &stop, spawned))
    };
    let mut samples = t.join().unwrap();
    for h in hs {
        h.join().unwrap();
    }
    samples.sort();
    (samples, samp.join().unwrap())
}

/// Wall time of `n` green threads each in `std::thread::sleep(100 ms)`, and the most that were in
/// the sleep at once.
fn smarm_sleepers(n: usize) -> (Duration, usize) {
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    {
        let peak = peak.clone();
        run(Config::new().workers(WORKERS), move || {
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let (inside, peak) = (inside.clone(), peak.clone());
                    smarm::thread::spawn(move || {
                        peak.fetch_max(inside.fetch_add(1, SeqCst) + 1, SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        inside.fetch_sub(1, SeqCst);
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        });
    }
    (t0.elapsed(), peak.load(SeqCst))
}

/// The same with `n` std threads.
fn std_sleepers(n: usize) -> Duration {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..n)
        .map(|_| std::thread::spawn(|| std::thread::sleep(Duration::from_millis(100))))
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    t0.elapsed()
}

/// Computes for `d` with no smarm call and no allocation.
fn compute(d: Duration) {
    let t0 = Instant::now();
    let mut x = 1u64;
    while t0.elapsed() < d {
        for _ in 0..64 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    black_box(x);
}

/// Which threads a wake-behind-waker sample runs on.
trait Threads {
    type Handle<T>;
    fn spawn<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> (Self::Handle<T>, Unparker);
    fn join<T>(h: Self::Handle<T>) -> T;
    fn park();
    fn sleep(d: Duration);
}

/// The wake-up half of a thread handle, for either kind.
enum Unparker {
    Smarm(smarm::thread::Thread),
    Std(std::thread::Thread),
}

impl Unparker {
    fn unpark(&self) {
        match self {
            Unparker::Smarm(t) => t.unpark(),
            Unparker::Std(t) => t.unpark(),
        }
    }
}

struct Green;
struct Os;

impl Threads for Green {
    type Handle<T> = smarm::thread::JoinHandle<T>;
    fn spawn<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> (Self::Handle<T>, Unparker) {
        let h = smarm::thread::spawn(f);
        let u = Unparker::Smarm(h.thread().clone());
        (h, u)
    }
    fn join<T>(h: Self::Handle<T>) -> T {
        h.join().unwrap()
    }
    fn park() {
        smarm::thread::park();
    }
    fn sleep(d: Duration) {
        smarm::thread::sleep(d);
    }
}

impl Threads for Os {
    type Handle<T> = std::thread::JoinHandle<T>;
    fn spawn<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> (Self::Handle<T>, Unparker) {
        let h = std::thread::spawn(f);
        let u = Unparker::Std(h.thread().clone());
        (h, u)
    }
    fn join<T>(h: Self::Handle<T>) -> T {
        h.join().unwrap()
    }
    fn park() {
        std::thread::park();
    }
    fn sleep(d: Duration) {
        std::thread::sleep(d);
    }
}

/// One sample: A parks; B waits until A is about to park, sleeps 1 ms, notes the time, unparks A
/// and computes 5 ms; A notes the time it runs. Returns A's time minus B's.
fn wake_sample<K: Threads>() -> Duration {
    let waiting = Arc::new(AtomicBool::new(false));
    let go = Arc::new(AtomicBool::new(false));
    let (a, a_thread) = {
        let (waiting, go) = (waiting.clone(), go.clone());
        K::spawn(move || {
            waiting.store(true, SeqCst);
            while !go.load(SeqCst) {
                K::park();
            }
            Instant::now()
        })
    };
    let (b, _) = K::spawn(move || {
        while !waiting.load(SeqCst) {
            K::sleep(Duration::from_millis(1));
        }
        K::sleep(Duration::from_millis(1));
        let sent = Instant::now();
        go.store(true, SeqCst);
        a_thread.unpark();
        compute(Duration::from_millis(5));
        sent
    });
    let sent = K::join(b);
    K::join(a).saturating_duration_since(sent)
}

fn wake_samples<K: Threads>(n: usize) -> Vec<Duration> {
    let mut v: Vec<Duration> = (0..n).map(|_| wake_sample::<K>()).collect();
    v.sort();
    v
}

fn pct(s: &[Duration], p: f64) -> Duration {
    s[((s.len() as f64 - 1.0) * p).round() as usize]
}

/// A duration in µs below 1 ms, in ms above.
fn fmt(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let sizes = if full { FULL } else { SMOKE };
    println!(
        "carriers: smarm on {WORKERS} workers beside std threads{}",
        if full {
            ""
        } else {
            " (smoke run: pass --bench for the full sizes)"
        }
    );
    if !cfg!(feature = "preempt") {
        println!(
            "note: built without --features preempt: smarm's allocating hogs are never preempted \
             (cargo bench --features preempt --bench carriers)"
        );
    }

    println!(
        "\n1. ticker lateness (1 ms sleep loop, {:?} per run)",
        sizes.tick_for
    );
    println!(
        "{:<16} | {:>10} {:>10} {:>10} {:>7} | {:>10} {:>10} {:>10} {:>7}",
        "hogs", "smarm p50", "p99", "max", "threads", "std p50", "p99", "max", "threads"
    );
    for &hogs in sizes.hogs {
        let _dog = watchdog(
            format!("ticker beside {hogs} hogs"),
            Duration::from_secs(120),
        );
        let (g, gt) = smarm_ticker(hogs, sizes.tick_for);
        let (o, ot) = std_ticker(hogs, sizes.tick_for);
        println!(
            "{:<16} | {:>10} {:>10} {:>10} {:>7} | {:>10} {:>10} {:>10} {:>7}",
            format!("{hogs} (n {}/{})", g.len(), o.len()),
            fmt(pct(&g, 0.5)),
            fmt(pct(&g, 0.99)),
            fmt(*g.last().unwrap()),
            gt,
            fmt(pct(&o, 0.5)),
            fmt(pct(&o, 0.99)),
            fmt(*o.last().unwrap()),
            ot,
        );
    }

    let n = sizes.sleepers;
    println!("\n2. {n} threads each in std::thread::sleep(100 ms): total wall time");
    {
        let _dog = watchdog(format!("{n} sleepers"), Duration::from_secs(120));
        let (g, peak) = smarm_sleepers(n);
        let o = std_sleepers(n);
        println!(
            "smarm {} (at most {peak} in the sleep at once) | std {} | smarm/std {:.2}x",
            fmt(g),
            fmt(o),
            g.as_secs_f64() / o.as_secs_f64()
        );
    }

    let n = sizes.wake_samples;
    println!("\n3. wake behind a computing waker (B unparks A, then computes 5 ms): {n} samples");
    {
        let _dog = watchdog(
            "wake behind a computing waker".into(),
            Duration::from_secs(120),
        );
        let g = run(Config::new().workers(WORKERS), move || {
            wake_samples::<Green>(n)
        });
        let o = wake_samples::<Os>(n);
        println!(
            "smarm p50 {} p99 {} max {} | std p50 {} p99 {} max {}",
            fmt(pct(&g, 0.5)),
            fmt(pct(&g, 0.99)),
            fmt(*g.last().unwrap()),
            fmt(pct(&o, 0.5)),
            fmt(pct(&o, 0.99)),
            fmt(*o.last().unwrap()),
        );
    }
}
