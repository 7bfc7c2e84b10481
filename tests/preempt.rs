//! Preemption under the preempting allocator (`--features preempt`): a green thread past its
//! timeslice hands its worker's queue to another worker at once, without ever switching inside
//! the allocator. Every runtime here sets the monitor's own blocking threshold to 10 s, so only the
//! allocator's (or `check!()`'s) report can rescue a starved ticker within the test's bounds.
#![cfg(feature = "preempt")]

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smarm::rt::{Config, run};
use smarm::thread;

fn config(workers: usize) -> Config {
    Config::new()
        .workers(workers)
        .blocking_threshold(Duration::from_secs(10))
}

/// Runs `hog` on a one-worker runtime beside a ticker; returns the ticker's first-tick delay and
/// its worst lateness.
fn ticker_beside(hog: fn(&AtomicBool)) -> (Duration, Duration) {
    run(config(1), move || {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let spawned = Instant::now();
        let t = thread::spawn(move || {
            let first = spawned.elapsed();
            let mut worst = Duration::ZERO;
            for _ in 0..50 {
                let t0 = Instant::now();
                thread::sleep(Duration::from_millis(2));
                worst = worst.max(t0.elapsed().saturating_sub(Duration::from_millis(2)));
            }
            s.store(true, Ordering::Relaxed);
            (first, worst)
        });
        // Spawned last, so the lone worker (newest spawn first) runs the hog before the ticker.
        let s = stop.clone();
        let h = thread::spawn(move || hog(&s));
        let r = t.join().unwrap();
        h.join().unwrap();
        r
    })
}

#[test]
fn an_allocating_hog_does_not_starve_a_ticker_on_one_worker() {
    let (first, worst) = ticker_beside(|stop| {
        // Never blocks, never yields: only allocates, until the ticker is done.
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            // black_box: in release the optimiser would otherwise elide the allocation.
            let v: Vec<u64> = std::hint::black_box((0..16).collect());
            n = n.wrapping_add(v.iter().sum::<u64>());
        }
        std::hint::black_box(n);
    });
    assert!(
        first < Duration::from_millis(500),
        "first tick after {first:?}"
    );
    assert!(
        worst < Duration::from_millis(500),
        "a tick was {worst:?} late"
    );
}

#[test]
fn a_non_allocating_hog_with_check_does_not_starve_a_ticker() {
    let (first, worst) = ticker_beside(|stop| {
        let mut x = 1u64;
        while !stop.load(Ordering::Relaxed) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            smarm::check!();
        }
        std::hint::black_box(x);
    });
    assert!(
        first < Duration::from_millis(500),
        "first tick after {first:?}"
    );
    assert!(
        worst < Duration::from_millis(500),
        "a tick was {worst:?} late"
    );
}

#[test]
fn no_preempt_keeps_the_queue_until_the_guard_goes() {
    // Inside `NoPreempt` the hog is never reported, so the ticker waits for the guard (600 ms);
    // after it, the next check reports at once.
    let (first, _) = ticker_beside(|stop| {
        let t0 = Instant::now();
        {
            let _quiet = smarm::NoPreempt::new();
            while t0.elapsed() < Duration::from_millis(600) {
                std::hint::black_box(vec![0u8; 32]);
            }
        }
        while !stop.load(Ordering::Relaxed) {
            std::hint::black_box(vec![0u8; 32]);
        }
    });
    assert!(
        first >= Duration::from_millis(550),
        "first tick after {first:?}"
    );
    assert!(first < Duration::from_secs(5), "first tick after {first:?}");
}

#[test]
fn a_std_mutex_held_across_allocations_neither_deadlocks_nor_loses_updates() {
    let total = run(config(2), || {
        let m = Arc::new(Mutex::new(Vec::<String>::new()));
        let hs: Vec<_> = (0..64)
            .map(|i| {
                let m = m.clone();
                thread::spawn(move || {
                    for j in 0..200 {
                        let mut g = m.lock().unwrap();
                        // Allocation-heavy work under the std lock: every allocation is a check.
                        let s: String = (0..20).map(|k| format!("{i}-{j}-{k};")).collect();
                        g.push(s);
                        drop(g);
                        if j % 16 == 0 {
                            thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let v = m.lock().unwrap();
        v.len()
    });
    assert_eq!(total, 64 * 200);
}

/// A value whose `Display` allocates.
struct Loud(u64, u64);

impl std::fmt::Display for Loud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body: String = (0..8).map(|k| format!("{:04}", self.1 + k)).collect();
        write!(f, "line {} {} {}", self.0, self.1, body)
    }
}

const CHILD: &str = "SMARM_PREEMPT_PRINT_CHILD";
const THREADS: u64 = 64;
const LINES: u64 = 300;

/// In the child: 64 green threads print allocating lines concurrently, preemption on.
#[test]
fn print_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    // The harness has printed "test print_child ... " with no newline: end that line first.
    println!("BEGIN");
    run(config(2), || {
        let hs: Vec<_> = (0..THREADS)
            .map(|i| {
                thread::spawn(move || {
                    for j in 0..LINES {
                        println!("{}", Loud(i, j));
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    std::io::stdout().flush().unwrap();
}

#[test]
fn println_from_many_preempted_green_threads_is_whole_and_complete() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "print_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("re-running the test binary");
    assert!(
        out.status.success(),
        "child failed: {:?} signal {:?}\n{}",
        out.status.code(),
        out.status.signal(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut seen = vec![0u64; THREADS as usize];
    let body = text.split_once("BEGIN\n").expect("the child's marker").1;
    for line in body.lines().filter(|l| !l.is_empty()) {
        if line.starts_with("test result") || line == "ok" {
            continue;
        }
        assert!(line.starts_with("line "), "a torn line: {line:?}");
        let mut parts = line.split(' ');
        parts.next();
        let i: u64 = parts.next().unwrap().parse().unwrap();
        let j: u64 = parts.next().unwrap().parse().unwrap();
        assert_eq!(line, Loud(i, j).to_string(), "a torn line");
        assert_eq!(
            seen[i as usize], j,
            "thread {i}: lines out of order or lost"
        );
        seen[i as usize] += 1;
    }
    assert!(seen.iter().all(|&n| n == LINES), "lines lost: {seen:?}");
}
