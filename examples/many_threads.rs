//! An ordinary thread-per-task program, written against `std::thread`'s API; only the `use` line
//! says smarm. It starts 100,000 threads that each sleep a little and report back, which std
//! cannot do comfortably (each OS thread costs a kernel task and ~10 KB of memory on this machine).
//!
//! `cargo run --release --example many_threads [-- N]`

use smarm::thread;
use std::time::{Duration, Instant};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    // Two mappings per stack: stay under the kernel's default vm.max_map_count (65530).
    let batch = n.min(25_000);
    let start = Instant::now();
    let mut total = 0u64;
    let mut peak_rss = 0;
    let mut next = 0;
    while next < n {
        let end = (next + batch).min(n);
        let handles: Vec<_> = (next..end)
            .map(|i| {
                thread::Builder::new()
                    .name(format!("task-{i}"))
                    .spawn(move || {
                        thread::sleep(Duration::from_millis(10 + i % 10));
                        i * 2
                    })
                    .expect("spawn failed")
            })
            .collect();
        peak_rss = peak_rss.max(rss_kib());
        total += handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>();
        next = end;
    }
    assert_eq!(total, n * (n - 1));
    println!(
        "{n} threads ({batch} at a time) slept and joined in {:?}; peak RSS {} MiB; sum {total}",
        start.elapsed(),
        peak_rss / 1024
    );
}
