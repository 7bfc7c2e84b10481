//! Memory per parked thread: spawns N threads that each park, then reads `VmRSS` and `VmPTE` (page
//! tables) from /proc/self/status before and after, for smarm green threads at several stack
//! reservations and for std threads.
//!
//! `cargo bench --bench rss_per_parked [-- N]` (default N = 10000 green, N/10 std threads).
//! Each measurement runs in a fresh child process so that pools and allocator caches of one
//! measurement cannot flatter the next.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn wait_for(count: &AtomicUsize, n: usize) {
    while count.load(Ordering::SeqCst) < n {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50)); // let the last ones reach park
}

fn measure_green(n: usize, stack: usize) {
    smarm::rt::run(smarm::rt::Config::new().stack_size(stack), move || {
        // Start workers, pools and the timer machinery before the baseline.
        smarm::thread::spawn(|| ()).join().unwrap();
        let parked = Arc::new(AtomicUsize::new(0));
        let (rss0, pte0) = (status_kib("VmRSS:"), status_kib("VmPTE:"));
        let mut hs = Vec::with_capacity(n);
        for _ in 0..n {
            let parked = parked.clone();
            let spawned = smarm::thread::Builder::new().spawn(move || {
                parked.fetch_add(1, Ordering::SeqCst);
                smarm::thread::park();
            });
            match spawned {
                Ok(h) => hs.push(h),
                Err(e) => {
                    println!("stopped at {} green threads: {e}", hs.len());
                    break;
                }
            }
        }
        let n = hs.len();
        wait_for(&parked, n);
        let (rss1, pte1) = (status_kib("VmRSS:"), status_kib("VmPTE:"));
        report(
            &format!("smarm green, {} KiB stack", stack / 1024),
            n,
            rss1 - rss0,
            pte1 - pte0,
        );
        for h in &hs {
            h.thread().unpark();
        }
        for h in hs {
            h.join().unwrap();
        }
    });
}

fn measure_std(n: usize) {
    let parked = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(|| ()).join().unwrap();
    let (rss0, pte0) = (status_kib("VmRSS:"), status_kib("VmPTE:"));
    let hs: Vec<_> = (0..n)
        .map(|_| {
            let parked = parked.clone();
            std::thread::spawn(move || {
                parked.fetch_add(1, Ordering::SeqCst);
                std::thread::park();
            })
        })
        .collect();
    wait_for(&parked, n);
    let (rss1, pte1) = (status_kib("VmRSS:"), status_kib("VmPTE:"));
    report("std::thread, 2 MiB stack", n, rss1 - rss0, pte1 - pte0);
    for h in &hs {
        h.thread().unpark();
    }
    for h in hs {
        h.join().unwrap();
    }
}

fn report(what: &str, n: usize, rss_kib: u64, pte_kib: u64) {
    let per = |kib: u64| kib as f64 * 1024.0 / n as f64;
    println!(
        "{what:<28} n={n:>7}  RSS {:>7.0} B  page tables {:>6.0} B  total {:>7.0} B per parked thread",
        per(rss_kib),
        per(pte_kib),
        per(rss_kib + pte_kib)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let kind = &args[i + 1];
        let n: usize = args[i + 2].parse().unwrap();
        match kind.as_str() {
            "std" => measure_std(n),
            stack => measure_green(n, stack.parse().unwrap()),
        }
        return;
    }
    // `cargo bench` passes `--bench`; take the first plain number as N.
    let n: usize = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    // Each green thread's stack is two kernel mappings: raise `vm.max_map_count` for the run when
    // we may (root), and say so; otherwise the children stop at the limit with smarm's error.
    const MAP_COUNT: &str = "/proc/sys/vm/max_map_count";
    let old: usize = std::fs::read_to_string(MAP_COUNT)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let needed = 2 * n + 10_000;
    let raised = old < needed && std::fs::write(MAP_COUNT, needed.to_string()).is_ok();
    if raised {
        println!("raised vm.max_map_count from {old} to {needed} for this run");
    } else if old < needed {
        println!("vm.max_map_count is {old}: fewer than {n} green threads will fit (not root)");
    }
    let me = std::env::current_exe().unwrap();
    let mut runs: Vec<(String, usize)> = [2 << 20, 256 << 10, 64 << 10]
        .iter()
        .map(|s: &usize| (s.to_string(), n))
        .collect();
    runs.push(("std".into(), (n / 10).max(1)));
    for (kind, n) in runs {
        let out = Command::new(&me)
            .args(["--child", &kind, &n.to_string()])
            .output()
            .unwrap();
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            eprintln!("{kind}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    if raised {
        let _ = std::fs::write(MAP_COUNT, old.to_string());
    }
}
