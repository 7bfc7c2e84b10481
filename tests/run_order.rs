//! Run order (`rt/sched/queue.rs`): a worker runs its newest spawn first (depth-first), a yield
//! goes to the back, and nothing starves — neither yielders behind spinners nor old entries behind
//! a stream of new spawns. Everything is checked with counts, not timings; a watchdog turns a
//! starvation (a hang) into a failure.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smarm::rt::{self, Config};
use smarm::thread;

/// Fails the test binary if `name` has not finished within a generous bound.
fn watchdog(name: &'static str) -> Arc<std::sync::atomic::AtomicBool> {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        for _ in 0..1200 {
            std::thread::sleep(Duration::from_millis(50));
            if d.load(SeqCst) {
                return;
            }
        }
        eprintln!("run_order: `{name}` made no progress for 60 s: a green thread starved");
        std::process::exit(101);
    });
    done
}

#[test]
fn a_yield_goes_behind_everything_queued() {
    let done = watchdog("a_yield_goes_behind_everything_queued");
    // No extra worker: on a loaded machine a run can look stuck (10 ms) and a second worker
    // would start; the order of one worker is what is under test.
    let log = rt::run(Config::new().workers(1).max_extra_workers(0), || {
        let log = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..3)
            .map(|id| {
                let log = log.clone();
                thread::spawn(move || {
                    for _ in 0..200 {
                        log.lock().unwrap().push(id);
                        thread::yield_now();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        Arc::try_unwrap(log).unwrap().into_inner().unwrap()
    });
    done.store(true, SeqCst);
    assert_eq!(log.len(), 600);
    // One worker, three yielders: strict round robin — a thread that yields never runs again
    // before the other two have had their turn.
    for w in log.windows(3) {
        assert!(
            w[0] != w[1] && w[1] != w[2] && w[0] != w[2],
            "not round robin: {w:?}"
        );
    }
}

#[test]
fn the_newest_spawn_runs_first() {
    let order = rt::run(Config::new().workers(1).max_extra_workers(0), || {
        let order = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..5)
            .map(|i| {
                let o = order.clone();
                thread::spawn(move || o.lock().unwrap().push(i))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    });
    assert_eq!(order, [4, 3, 2, 1, 0]);
}

/// Two green threads spin on `yield_now` for as long as the test runs; on the same worker(s) a
/// yielder counts to a target, and a spawner keeps spawning children that yield. All finish.
fn spinners_do_not_starve(workers: usize) {
    let done = watchdog("spinners_do_not_starve");
    rt::run(Config::new().workers(workers), || {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spins = Arc::new(AtomicUsize::new(0));
        let spinners: Vec<_> = (0..2)
            .map(|_| {
                let (stop, spins) = (stop.clone(), spins.clone());
                thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        spins.fetch_add(1, SeqCst);
                        thread::yield_now();
                    }
                })
            })
            .collect();
        let counter = thread::spawn(|| {
            let mut n = 0u32;
            while n < 10_000 {
                n += 1;
                thread::yield_now();
            }
            n
        });
        let children_done = Arc::new(AtomicUsize::new(0));
        let spawner = {
            let children_done = children_done.clone();
            thread::spawn(move || {
                let mut kids = Vec::new();
                for _ in 0..1000 {
                    let c = children_done.clone();
                    kids.push(thread::spawn(move || {
                        for _ in 0..10 {
                            thread::yield_now();
                        }
                        c.fetch_add(1, SeqCst);
                    }));
                    thread::yield_now();
                }
                for k in kids {
                    k.join().unwrap();
                }
            })
        };
        assert_eq!(counter.join().unwrap(), 10_000);
        spawner.join().unwrap();
        assert_eq!(children_done.load(SeqCst), 1000);
        stop.store(true, SeqCst);
        for s in spinners {
            s.join().unwrap();
        }
        assert!(spins.load(SeqCst) > 0, "the spinners never ran");
    });
    done.store(true, SeqCst);
}

#[test]
fn spinners_do_not_starve_one_worker() {
    spinners_do_not_starve(1);
}

#[test]
fn spinners_do_not_starve_two_workers() {
    spinners_do_not_starve(2);
}

/// The worst case for a LIFO owner: an old entry at the bottom of the deque while every run
/// pushes a new spawn on top (a chain of threads, each spawning its successor and exiting). The
/// periodic oldest-first pick must reach the old entry within a bounded number of picks.
#[test]
fn a_stream_of_spawns_does_not_starve_an_older_one() {
    let done = watchdog("a_stream_of_spawns_does_not_starve_an_older_one");
    let links = rt::run(Config::new().workers(1), || {
        let reached = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links = Arc::new(AtomicUsize::new(0));
        let old = {
            let reached = reached.clone();
            thread::spawn(move || reached.store(true, SeqCst))
        };
        fn link(reached: Arc<std::sync::atomic::AtomicBool>, links: Arc<AtomicUsize>) {
            // Give up after far more links than the bound, so a starvation fails, not hangs.
            if reached.load(SeqCst) || links.fetch_add(1, SeqCst) > 1_000_000 {
                return;
            }
            drop(thread::spawn(move || link(reached, links)));
        }
        {
            let (r, l) = (reached.clone(), links.clone());
            drop(thread::spawn(move || link(r, l)));
        }
        old.join().unwrap();
        links.load(SeqCst)
    });
    done.store(true, SeqCst);
    assert!(
        links < 1_000_000,
        "the older thread ran only after {links} newer spawns"
    );
}

/// Depth-first: a spawn tree (each node spawns `FAN` children and joins them) keeps about one
/// started thread per level alive on one worker, not a whole level of the tree.
#[test]
fn a_spawn_tree_is_walked_depth_first() {
    const FAN: usize = 10;
    const DEPTH: u32 = 4; // 10,000 leaves, 11,111 threads
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    fn node(depth: u32) -> u64 {
        let live = LIVE.fetch_add(1, SeqCst) + 1;
        PEAK.fetch_max(live, SeqCst);
        let sum = if depth == 0 {
            1
        } else {
            let kids: Vec<_> = (0..FAN)
                .map(|_| thread::spawn(move || node(depth - 1)))
                .collect();
            kids.into_iter().map(|k| k.join().unwrap()).sum()
        };
        LIVE.fetch_sub(1, SeqCst);
        sum
    }
    let leaves = rt::run(Config::new().workers(1), || node(DEPTH));
    assert_eq!(leaves, 10_000);
    // Threads started and not yet finished (those with a touched stack). Depth-first: about one
    // open node per level, each joined child finishing before its next sibling starts — measured
    // 8 here; the previous FIFO order had 386 alive at once.
    let peak = PEAK.load(SeqCst);
    assert!(peak < 100, "{peak} threads alive at once");
}
