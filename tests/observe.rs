//! Observability: `rt::stats()` counters and the `rt::dump()` green-thread dump.

use smarm::rt::{self, Config};
use smarm::thread;
use std::time::Duration;

#[test]
fn stats_count_spawns_switches_parks_per_worker() {
    let (before, after) = rt::run(Config::new().workers(2), || {
        let before = rt::stats();
        let hs: Vec<_> = (0..100)
            .map(|_| {
                thread::spawn(|| {
                    for _ in 0..3 {
                        thread::yield_now();
                    }
                    thread::sleep(Duration::from_millis(1));
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        (before, rt::stats())
    });
    assert_eq!(before.spawned, 1, "only rt::run's main green thread");
    assert_eq!(before.live, 1);
    assert_eq!(after.spawned, 101);
    assert_eq!(after.live, 1, "everything but the caller has finished");
    // Each child runs at least 5 times: start, 3 yields, the sleep's wake.
    assert!(after.switches >= 500, "{after}");
    // Each child parked in its sleep; main parked in joins.
    assert!(after.parks >= 100, "{after}");
    assert_eq!(after.preemptions, 0);
    assert_eq!(after.workers.len(), 2);
    let sum = |f: fn(&rt::WorkerStats) -> u64| after.workers.iter().map(f).sum::<u64>();
    assert_eq!(sum(|w| w.switches), after.switches);
    assert_eq!(sum(|w| w.parks), after.parks);
    assert_eq!(sum(|w| w.steals), after.steals);
    assert_eq!(sum(|w| w.spawned) + after.spawned_outside, after.spawned);
    assert_eq!(sum(|w| w.finished), 100);
}
