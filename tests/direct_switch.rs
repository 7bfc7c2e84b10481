//! Direct switches (`rt/sched/worker.rs`, "Direct switches"): a green thread that parks while
//! the run-next slot holds the next task switches straight to it, and the task that lands
//! completes the parker's park. These tests aim at the window that leaves open: a wake that
//! arrives after the parker decided to park and before the landing task completes the park must
//! be neither lost nor doubled, from green and OS wakers alike, with timers in the mix.

mod support;

use smarm::rt::{self, Config};
use smarm::sync::mpsc;
use smarm::thread;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::Duration;
use support::{serial, watchdog};

/// Pairs of green threads ping-pong (each message wakes the peer into the run-next slot, so
/// almost every park is a direct switch) while OS threads unpark parked green threads at random:
/// every exchange completes and every waiter sees its wakes.
#[test]
fn ping_pong_pairs_with_outside_unparks_lose_nothing() {
    let _s = serial();
    let _w = watchdog(
        "ping_pong_pairs_with_outside_unparks_lose_nothing",
        Duration::from_secs(120),
        String::new,
    );
    for workers in [1, 2] {
        const PAIRS: usize = 8;
        const ROUNDS: u64 = 20_000;
        let before = rt::stats();
        let total = rt::run(Config::new().workers(workers), || {
            // Parkers: each waits for its counter to reach a target, woken by OS threads.
            let done = Arc::new(AtomicBool::new(false));
            let counters: Vec<Arc<AtomicU64>> =
                (0..4).map(|_| Arc::new(AtomicU64::new(0))).collect();
            let parkers: Vec<_> = counters
                .iter()
                .map(|c| {
                    let c = c.clone();
                    thread::spawn(move || {
                        let mut seen = 0;
                        while seen < 2_000 {
                            thread::park_timeout(Duration::from_millis(1));
                            seen = c.load(SeqCst);
                        }
                        seen
                    })
                })
                .collect();
            let unparkers: Vec<_> = parkers
                .iter()
                .zip(&counters)
                .map(|(h, c)| {
                    let (t, c, done) = (h.thread().clone(), c.clone(), done.clone());
                    std::thread::spawn(move || {
                        while !done.load(SeqCst) {
                            c.fetch_add(1, SeqCst);
                            t.unpark();
                            std::thread::yield_now();
                        }
                    })
                })
                .collect();
            // Ping-pong pairs over rendezvous and unbounded channels.
            let pairs: Vec<_> = (0..PAIRS)
                .map(|i| {
                    let (to_b, from_a) = if i % 2 == 0 {
                        mpsc::sync_channel::<u64>(0)
                    } else {
                        mpsc::sync_channel::<u64>(1)
                    };
                    let (to_a, from_b) = mpsc::channel::<u64>();
                    let b = thread::spawn(move || {
                        let mut sum = 0;
                        for v in from_a {
                            sum += v;
                            if to_a.send(v).is_err() {
                                break;
                            }
                        }
                        sum
                    });
                    let a = thread::spawn(move || {
                        let mut got = 0;
                        for k in 0..ROUNDS {
                            to_b.send(k).unwrap();
                            got += from_b.recv().unwrap();
                        }
                        drop(to_b);
                        got
                    });
                    (a, b)
                })
                .collect();
            let mut total = 0;
            for (a, b) in pairs {
                let (x, y) = (a.join().unwrap(), b.join().unwrap());
                assert_eq!(x, y, "every message came back");
                assert_eq!(x, ROUNDS * (ROUNDS - 1) / 2);
                total += x;
            }
            for p in parkers {
                assert!(p.join().unwrap() >= 2_000);
            }
            done.store(true, SeqCst);
            for u in unparkers {
                u.join().unwrap();
            }
            total
        });
        assert_eq!(total, PAIRS as u64 * ROUNDS * (ROUNDS - 1) / 2);
        let after = rt::stats();
        // The ping-pong parked its threads (the global runtime's stats are not this one's; this
        // checks only that the counters stay consistent).
        assert!(after.switches >= before.switches);
    }
}

/// A ring of green threads passing one token: every hop parks the sender and wakes the next
/// thread into the run-next slot, so the ring runs almost entirely on direct switches; with
/// timeouts on every receive, timers fire into the window too. The token makes every hop.
#[test]
fn a_ring_with_timed_receives_makes_every_hop() {
    let _s = serial();
    let _w = watchdog(
        "a_ring_with_timed_receives_makes_every_hop",
        Duration::from_secs(120),
        String::new,
    );
    for workers in [1, 2] {
        const N: usize = 64;
        const HOPS: u64 = 50_000;
        let hops = rt::run(Config::new().workers(workers), || {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..N).map(|_| mpsc::channel::<u64>()).unzip();
            let first = txs[0].clone();
            let mut txs = txs;
            txs.rotate_left(1);
            let counted = Arc::new(AtomicU64::new(0));
            let hs: Vec<_> = rxs
                .into_iter()
                .zip(txs)
                .map(|(rx, tx)| {
                    let counted = counted.clone();
                    thread::spawn(move || {
                        loop {
                            match rx.recv_timeout(Duration::from_micros(200)) {
                                Ok(0) => {
                                    let _ = tx.send(0);
                                    break;
                                }
                                Ok(v) => {
                                    counted.fetch_add(1, SeqCst);
                                    let _ = tx.send(v - 1);
                                }
                                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                            }
                        }
                    })
                })
                .collect();
            first.send(HOPS).unwrap();
            drop(first);
            for h in hs {
                h.join().unwrap();
            }
            counted.load(SeqCst)
        });
        assert_eq!(hops, HOPS, "{workers} workers");
    }
}

/// The window itself, hammered: on one worker a rendezvous ping-pong keeps the run-next slot
/// full (so the parker's parks are direct switches) while two OS threads unpark the parker in a
/// tight loop. With instrumentation, thousands of these wakes landed between the parker's
/// decision to park and the landing thread's completion of it (the park then fails and the parker
/// is requeued). Nothing may hang, and every message must come back.
#[test]
fn wakes_inside_the_direct_switch_window() {
    let _s = serial();
    let _w = watchdog(
        "wakes_inside_the_direct_switch_window",
        Duration::from_secs(120),
        String::new,
    );
    const ROUNDS: u64 = 200_000;
    let (sum, parks) = rt::run(Config::new().workers(1), || {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let parker = thread::spawn(move || {
            let mut n = 0u64;
            while !s2.load(SeqCst) {
                thread::park();
                n += 1;
            }
            n
        });
        let unparkers: Vec<_> = (0..2)
            .map(|_| {
                let (t, stop) = (parker.thread().clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        t.unpark();
                    }
                })
            })
            .collect();
        let (tx, rx) = mpsc::sync_channel::<u64>(0);
        let (tx2, rx2) = mpsc::sync_channel::<u64>(0);
        let b = thread::spawn(move || {
            for v in rx {
                if tx2.send(v).is_err() {
                    break;
                }
            }
        });
        let mut sum = 0;
        for k in 0..ROUNDS {
            tx.send(k).unwrap();
            sum += rx2.recv().unwrap();
        }
        drop(tx);
        b.join().unwrap();
        stop.store(true, SeqCst);
        parker.thread().unpark();
        let parks = parker.join().unwrap();
        for u in unparkers {
            u.join().unwrap();
        }
        (sum, parks)
    });
    assert_eq!(sum, ROUNDS * (ROUNDS - 1) / 2);
    assert!(parks > 0, "the parker was woken");
}
