//! Carriers and workers (DESIGN.md, "Scheduler: workers, carriers, green threads"): a preempted
//! green thread is switched out to the back of the run queue, so hundreds of allocating hogs share
//! two workers without the runtime growing OS threads; a carrier stuck in a blocking std call
//! loses its worker to another carrier, without a small cap, so a std lock held across a green
//! sleep and a thousand `std::thread::sleep`s all complete; a green thread woken into the "run
//! next" slot behind a computing waker is taken by the idle worker; a green thread spinning on
//! `yield_now` does not starve a std thread.
//!
//! Everything is checked with counts, never timings (the workloads last a fixed time, the
//! assertions count what happened in it). Every test runs under a watchdog that aborts the binary
//! with a message naming the test and its progress, so a hang fails instead of hanging CI. The
//! tests take one lock each (`serial`): they measure the process's OS threads and compete for
//! the same cores, so they must not overlap.

mod support;
use support::{serial, watchdog};

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smarm::rt::{Config, run};
use smarm::thread;

/// The number of OS threads in this process (`Threads:` in /proc/self/status).
#[cfg(feature = "preempt")]
fn os_threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Threads: line in /proc/self/status")
}

/// Allocates in a loop, counting iterations into `count`, until `stop`.
#[cfg(feature = "preempt")]
fn allocating_hog(count: &AtomicU64, stop: &AtomicBool) {
    let mut i = 0u64;
    while !stop.load(Relaxed) {
        // black_box: in release the optimiser would otherwise elide the allocations.
        let v: Vec<u64> = std::hint::black_box((0..16).map(|k| k ^ i).collect());
        let s = std::hint::black_box(format!("hog-{i}-{}", v[3]));
        std::hint::black_box(s.len());
        i = i.wrapping_add(1);
        count.fetch_add(1, Relaxed);
    }
}

/// 400 allocating hogs and a 1 ms ticker on 2 workers for 1.5 s. A preempted hog goes to the back
/// of the run queue (it is switched out, not only reported), so: the ticker keeps ticking, every
/// hog gets turns, and the runtime does not add carriers for "stuck" hogs — at most the workers,
/// the monitor and a few others above the count before the runtime started.
#[cfg(feature = "preempt")]
#[test]
fn four_hundred_allocating_hogs_share_two_workers_with_a_ticker() {
    const WORKERS: usize = 2;
    const HOGS: usize = 400;
    let _serial = serial();
    let counts: Arc<Vec<AtomicU64>> = Arc::new((0..HOGS).map(|_| AtomicU64::new(0)).collect());
    let ticks = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let _dog = {
        let (counts, ticks) = (counts.clone(), ticks.clone());
        watchdog(
            "four_hundred_allocating_hogs_share_two_workers_with_a_ticker",
            Duration::from_secs(60),
            move || {
                let ran = counts.iter().filter(|c| c.load(Relaxed) > 0).count();
                format!(
                    "{} ticks, {ran} of {HOGS} hogs ran; the stop flag was set after 1.5 s",
                    ticks.load(Relaxed)
                )
            },
        )
    };
    let baseline = os_threads();
    // A std thread samples the thread count and ends the run after 1.5 s, whatever the scheduler
    // does with the green threads.
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut max = 0;
            for _ in 0..150 {
                std::thread::sleep(Duration::from_millis(10));
                max = max.max(os_threads());
            }
            stop.store(true, SeqCst);
            max
        })
    };
    run(Config::new().workers(WORKERS), {
        let (counts, ticks, stop) = (counts.clone(), ticks.clone(), stop.clone());
        move || {
            let ticker = {
                let (ticks, stop) = (ticks.clone(), stop.clone());
                thread::spawn(move || {
                    while !stop.load(Relaxed) {
                        thread::sleep(Duration::from_millis(1));
                        ticks.fetch_add(1, Relaxed);
                    }
                })
            };
            let hogs: Vec<_> = (0..HOGS)
                .map(|i| {
                    let (counts, stop) = (counts.clone(), stop.clone());
                    thread::spawn(move || allocating_hog(&counts[i], &stop))
                })
                .collect();
            for h in hogs {
                h.join().unwrap();
            }
            ticker.join().unwrap();
        }
    });
    let max_threads = sampler.join().unwrap();
    let ticks = ticks.load(SeqCst);
    let starved: Vec<usize> = (0..HOGS).filter(|&i| counts[i].load(SeqCst) == 0).collect();
    let least = (0..HOGS).map(|i| counts[i].load(SeqCst)).min().unwrap();
    println!(
        "{ticks} ticks; least hog iterations {least}; OS threads {baseline} before, \
         {max_threads} at most"
    );
    assert!(
        ticks >= 100,
        "the 1 ms ticker ticked only {ticks} times in 1.5 s"
    );
    assert!(
        starved.is_empty(),
        "{} of {HOGS} hogs never ran in 1.5 s (the first: {:?})",
        starved.len(),
        &starved[..starved.len().min(10)]
    );
    // The sampler thread itself is one of them.
    assert!(
        max_threads - baseline <= WORKERS + 6,
        "{max_threads} OS threads at most during the run, {baseline} before it: the runtime \
         grew {} threads for {WORKERS} workers (preempted hogs must be switched out, not handed \
         new carriers)",
        max_threads - baseline
    );
}

/// 100 green threads take one `std::sync::Mutex` in turn and hold it across a green sleep: while
/// the holder sleeps, the others block their carriers in the std lock, so the holder's wake-up
/// needs a worker that a blocked carrier has to give up. All 100 finish (std threads do; with a
/// cap of 64 extra workers it hung, at 32 of 100 on 2 workers).
#[test]
fn a_std_mutex_held_across_a_green_sleep_by_100_green_threads() {
    const N: usize = 100;
    let _serial = serial();
    let finished = Arc::new(AtomicUsize::new(0));
    let _dog = {
        let finished = finished.clone();
        watchdog(
            "a_std_mutex_held_across_a_green_sleep_by_100_green_threads",
            Duration::from_secs(60),
            move || format!("{} of {N} finished", finished.load(SeqCst)),
        )
    };
    let inside = run(Config::new().workers(2), {
        let finished = finished.clone();
        move || {
            let m = Arc::new(Mutex::new(0usize));
            let hs: Vec<_> = (0..N)
                .map(|_| {
                    let (m, finished) = (m.clone(), finished.clone());
                    thread::spawn(move || {
                        let mut g = m.lock().unwrap();
                        thread::sleep(Duration::from_millis(5));
                        *g += 1;
                        drop(g);
                        finished.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            *m.lock().unwrap()
        }
    });
    assert_eq!(finished.load(SeqCst), N);
    assert_eq!(inside, N);
}

/// 1,000 green threads each block their carrier in `std::thread::sleep(100 ms)`: each stuck
/// carrier loses its worker to another, and all 1,000 finish. The carriers are not capped at a
/// small number: at some moment at least 100 of the green threads are inside the std sleep at
/// once (the old cap of 64 extra workers allowed 66 on 2 workers).
#[test]
fn a_thousand_green_threads_in_std_sleep_all_finish() {
    const N: usize = 1000;
    const PEAK_NEEDED: usize = 100;
    let _serial = serial();
    let finished = Arc::new(AtomicUsize::new(0));
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let _dog = {
        let (finished, peak) = (finished.clone(), peak.clone());
        watchdog(
            "a_thousand_green_threads_in_std_sleep_all_finish",
            Duration::from_secs(60),
            move || {
                format!(
                    "{} of {N} finished, at most {} in std::thread::sleep at once",
                    finished.load(SeqCst),
                    peak.load(SeqCst)
                )
            },
        )
    };
    run(Config::new().workers(2), {
        let (finished, inside, peak) = (finished.clone(), inside.clone(), peak.clone());
        move || {
            let hs: Vec<_> = (0..N)
                .map(|_| {
                    let (finished, inside, peak) = (finished.clone(), inside.clone(), peak.clone());
                    thread::spawn(move || {
                        peak.fetch_max(inside.fetch_add(1, SeqCst) + 1, SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        inside.fetch_sub(1, SeqCst);
                        finished.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        }
    });
    let peak = peak.load(SeqCst);
    println!("at most {peak} green threads in std::thread::sleep at once");
    assert_eq!(finished.load(SeqCst), N);
    assert!(
        peak >= PEAK_NEEDED,
        "at most {peak} of {N} green threads were in std::thread::sleep at once (needed \
         {PEAK_NEEDED}): the stuck carriers' workers were not handed to enough new carriers"
    );
}

/// A wakes into B's "run next" slot while B computes (no smarm call, no allocation) for 50 ms; the
/// other worker idles, so it must take A after the short grace, well before B is done. The
/// monitor's blocking threshold is 10 s here, so only that steal (not the monitor's hand-off of
/// a worker stuck for 10 ms) can run A early.
#[test]
fn a_wake_behind_a_computing_waker_runs_on_the_idle_worker() {
    const ROUNDS: usize = 20;
    const NEEDED: usize = 18;
    let _serial = serial();
    let rounds_done = Arc::new(AtomicUsize::new(0));
    let _dog = {
        let rounds_done = rounds_done.clone();
        watchdog(
            "a_wake_behind_a_computing_waker_runs_on_the_idle_worker",
            Duration::from_secs(60),
            move || format!("{} of {ROUNDS} rounds done", rounds_done.load(SeqCst)),
        )
    };
    let config = Config::new()
        .workers(2)
        .blocking_threshold(Duration::from_secs(10));
    let early = run(config, {
        let rounds_done = rounds_done.clone();
        move || {
            let mut early = 0;
            for _ in 0..ROUNDS {
                let a_waiting = Arc::new(AtomicBool::new(false));
                let go = Arc::new(AtomicBool::new(false));
                let b_done = Arc::new(AtomicBool::new(false));
                let a = {
                    let (a_waiting, go, b_done) = (a_waiting.clone(), go.clone(), b_done.clone());
                    thread::spawn(move || {
                        a_waiting.store(true, SeqCst);
                        while !go.load(SeqCst) {
                            thread::park();
                        }
                        // true: A ran while B was still computing.
                        !b_done.load(SeqCst)
                    })
                };
                let b = {
                    let a_thread = a.thread().clone();
                    let b_done = b_done.clone();
                    thread::spawn(move || {
                        while !a_waiting.load(SeqCst) {
                            thread::sleep(Duration::from_millis(1));
                        }
                        // A has set the flag; a green sleep later it is parked.
                        thread::sleep(Duration::from_millis(1));
                        go.store(true, SeqCst);
                        a_thread.unpark();
                        let t0 = Instant::now();
                        let mut x = 1u64;
                        while t0.elapsed() < Duration::from_millis(50) {
                            for _ in 0..64 {
                                x = std::hint::black_box(
                                    x.wrapping_mul(6364136223846793005).wrapping_add(1),
                                );
                            }
                        }
                        b_done.store(true, SeqCst);
                        std::hint::black_box(x);
                    })
                };
                b.join().unwrap();
                if a.join().unwrap() {
                    early += 1;
                }
                rounds_done.fetch_add(1, SeqCst);
            }
            early
        }
    });
    assert!(
        early >= NEEDED,
        "A ran before its waker B finished computing in only {early} of {ROUNDS} rounds \
         (needed {NEEDED}): a wake waited behind its waker while the other worker idled"
    );
}

/// Green threads spinning on `yield_now` (one per worker) until a std thread has counted to N:
/// the std thread is not starved, and the spinners see its flag.
#[test]
fn green_threads_spinning_on_yield_now_do_not_starve_a_std_thread() {
    const WORKERS: usize = 2;
    const N: u64 = 20_000_000;
    let _serial = serial();
    let counted = Arc::new(AtomicU64::new(0));
    let _dog = {
        let counted = counted.clone();
        watchdog(
            "green_threads_spinning_on_yield_now_do_not_starve_a_std_thread",
            Duration::from_secs(60),
            move || format!("the std thread counted {} of {N}", counted.load(Relaxed)),
        )
    };
    let set = Arc::new(AtomicBool::new(false));
    let spins = run(Config::new().workers(WORKERS), {
        let (counted, set) = (counted.clone(), set.clone());
        move || {
            let spinners: Vec<_> = (0..WORKERS)
                .map(|_| {
                    let set = set.clone();
                    thread::spawn(move || {
                        let mut spins = 0u64;
                        while !set.load(SeqCst) {
                            thread::yield_now();
                            spins += 1;
                        }
                        spins
                    })
                })
                .collect();
            // Started from inside a green thread, like a library that spawns a helper; it is an
            // OS thread all the same.
            let counter = std::thread::spawn(move || {
                for i in 1..=N {
                    std::hint::black_box(i);
                    if i % 4096 == 0 {
                        counted.store(i, Relaxed);
                    }
                }
                counted.store(N, Relaxed);
                set.store(true, SeqCst);
            });
            let spins: Vec<u64> = spinners.into_iter().map(|h| h.join().unwrap()).collect();
            counter.join().unwrap();
            spins
        }
    });
    assert_eq!(counted.load(SeqCst), N);
    assert!(set.load(SeqCst));
    assert_eq!(spins.len(), WORKERS);
}

/// Issue 18, "blocking culprits": a hand-off names the green thread that blocked its carrier and
/// the system call it sat in, in `rt::stats()` and in the dump's text.
#[test]
fn a_hand_off_names_the_blocking_green_thread() {
    let _serial = serial();
    let _dog = watchdog(
        "a_hand_off_names_the_blocking_green_thread",
        Duration::from_secs(60),
        || "the culprit's hand-off".into(),
    );
    let (log, text) = run(Config::new().workers(1), || {
        let culprit = thread::Builder::new()
            .name("culprit".into())
            .spawn(|| std::thread::sleep(Duration::from_millis(300)))
            .unwrap();
        // Queued behind it on the one worker: a timer nobody else can watch.
        thread::sleep(Duration::from_millis(1));
        // The monitor notes the culprit just after the hand-off that let this thread run again:
        // wait for the note (the watchdog bounds it), then take the dump.
        while !smarm::rt::stats()
            .recent_handoffs
            .iter()
            .any(|h| h.name.as_deref() == Some("culprit"))
        {
            thread::sleep(Duration::from_millis(1));
        }
        let text = smarm::rt::dump().to_string();
        culprit.join().unwrap();
        (smarm::rt::stats().recent_handoffs, text)
    });
    let h = log
        .iter()
        .find(|h| h.name.as_deref() == Some("culprit"))
        .unwrap_or_else(|| panic!("no hand-off names the culprit: {log:?}"));
    assert!(h.in_kernel, "the culprit sleeps in the kernel: {h:?}");
    assert!(h.pid.is_some());
    // Under qemu's user-mode emulation (aarch64 in CI) the kernel reports the host's syscall
    // numbers, which name other calls on the guest: only x86-64 checks the name.
    #[cfg(target_arch = "x86_64")]
    assert!(
        matches!(h.syscall.as_deref(), Some("clock_nanosleep" | "nanosleep")),
        "std::thread::sleep is clock_nanosleep here: {h:?}"
    );
    assert!(h.syscall.is_some(), "{h:?}");
    assert!(
        text.contains("hand-off: carrier 0: 'culprit'"),
        "the dump names it:\n{text}"
    );
}
