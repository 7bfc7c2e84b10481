//! The skynet benchmark: one green thread spawns 10, each of those 10 more, down to 1,000,000
//! leaves (1,111,111 green threads in all); each leaf returns its number and every parent sums its
//! children's results. The answer is 499999500000.
//!
//! `cargo run --release --example skynet [-- LEVELS]` (default 6: 10^6 leaves).
//!
//! Nearly every green thread is alive at once (a parent waits for its children), and each stack is
//! two kernel mappings, so a million needs `vm.max_map_count` above 2.2 million. Run as root, the
//! example raises it for the run (and says so) and restores it after; otherwise it stops at the
//! limit with smarm's error naming the sysctl. std cannot run this at all: a million OS threads
//! exceed every default limit (threads-max, pid_max, memory for 2 MiB stacks).

use std::time::Instant;

use smarm::rt::{Config, run};
use smarm::thread;

fn skynet(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let step = size / 10;
    let children: Vec<_> = (0..10)
        .map(|i| thread::spawn(move || skynet(num + i * step, step)))
        .collect();
    children.into_iter().map(|h| h.join().unwrap()).sum()
}

const MAP_COUNT: &str = "/proc/sys/vm/max_map_count";

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let levels: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(6);
    let leaves = 10u64.pow(levels);
    let threads: u64 = (0..=levels).map(|l| 10u64.pow(l)).sum();
    let needed = threads * 2 + 10_000;
    let old: u64 = std::fs::read_to_string(MAP_COUNT)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let raised = old < needed && std::fs::write(MAP_COUNT, needed.to_string()).is_ok();
    if raised {
        println!("raised vm.max_map_count from {old} to {needed} for this run");
    } else if old < needed {
        println!(
            "vm.max_map_count is {old}; {threads} green threads need about {needed} \
             (not root: expect smarm's map-count error)"
        );
    }
    // Small stacks: skynet recurses a few frames deep, and a million 2 MiB reservations would
    // cost a page-table page each.
    let start = Instant::now();
    let result = std::panic::catch_unwind(|| {
        run(Config::new().stack_size(64 * 1024), move || {
            skynet(0, leaves)
        })
    });
    let elapsed = start.elapsed();
    if raised {
        let _ = std::fs::write(MAP_COUNT, old.to_string());
    }
    match result {
        Ok(sum) => {
            assert_eq!(sum, leaves * (leaves - 1) / 2);
            println!(
                "skynet: {threads} green threads, sum {sum}, {elapsed:.2?}, peak RSS {} MiB",
                status_kib("VmHWM:") / 1024
            );
        }
        Err(_) => std::process::exit(1),
    }
}
