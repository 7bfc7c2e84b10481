#![cfg(feature = "preempt")]
//! Review stress for the preempting allocator: slow_check re-entered from runtime code (queue
//! overflow, run-next swaps, wakes) must never corrupt the run queue, lose or double-run a task.
use smarm::rt::{Config, run};
use smarm::sync::{Arc, mpsc};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

fn bounded<F: FnOnce() + Send + 'static>(secs: u64, f: F) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("hang: did not finish in {secs}s")
        }
        Err(e) => panic!("scenario panicked: {e:?}"),
    }
}

fn cfg(workers: usize) -> Config {
    Config::new()
        .workers(workers)
        .timeslice(Duration::from_micros(5))
        .preempt_interval(1)
        .blocking_threshold(Duration::from_micros(300))
        .max_extra_workers(2)
}

/// A hog spawns far more than a local queue holds (push overflows into the injector, allocating
/// inside the runtime while the hog's timeslice is spent) and wakes many parked threads (run-next
/// swaps and pushes), allocating between every step.
fn overflow_round(workers: usize, spawns: usize, waiters: usize) {
    run(cfg(workers), move || {
        let ran = Arc::new(AtomicUsize::new(0));
        let (done_tx, done_rx) = mpsc::channel::<usize>();
        let mut senders = Vec::new();
        let mut whs = Vec::new();
        for _ in 0..waiters {
            let (tx, rx) = mpsc::channel::<u64>();
            senders.push(tx);
            let ran = ran.clone();
            let done = done_tx.clone();
            whs.push(smarm::thread::spawn(move || {
                let v = rx.recv().unwrap();
                let _b: Vec<u64> = vec![v; 8];
                ran.fetch_add(1, SeqCst);
                done.send(0).unwrap();
            }));
        }
        // Let the waiters park.
        for _ in 0..3 {
            smarm::thread::yield_now();
        }
        let ran2 = ran.clone();
        let done2 = done_tx.clone();
        let hog = smarm::thread::spawn(move || {
            let mut v: Vec<Box<u64>> = Vec::new();
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(100) {
                v.push(Box::new(1));
            }
            let mut hs = Vec::new();
            for i in 0..spawns.max(senders.len()) {
                if i < spawns {
                    let ran = ran2.clone();
                    let done = done2.clone();
                    hs.push(smarm::thread::spawn(move || {
                        let _b: Vec<u8> = vec![0; 64];
                        ran.fetch_add(1, SeqCst);
                        done.send(1).unwrap();
                    }));
                }
                if let Some(tx) = senders.get(i) {
                    tx.send(i as u64).unwrap();
                }
                v.push(Box::new(i as u64));
            }
            hs
        });
        let hs = hog.join().unwrap();
        for _ in 0..spawns + waiters {
            done_rx.recv().unwrap();
        }
        for h in hs.into_iter().chain(whs) {
            h.join().unwrap();
        }
        assert_eq!(ran.load(SeqCst), spawns + waiters);
    });
}

#[test]
fn hog_overflows_queue_and_wakes_while_preempted_one_worker() {
    bounded(40, || {
        for _ in 0..15 {
            overflow_round(1, 700, 300);
        }
    });
}

#[test]
fn hog_overflows_queue_and_wakes_while_preempted_two_workers() {
    bounded(40, || {
        for _ in 0..15 {
            overflow_round(2, 700, 300);
        }
    });
}

/// Ping-pong pairs that allocate on every message with a 5 µs timeslice: every wake may find its
/// worker marked stuck (queue instead of run-next) and slow_check moving run-next mid-`schedule`.
#[test]
fn allocating_pingpong_under_constant_preemption() {
    for workers in [1, 2] {
        bounded(40, move || {
            run(cfg(workers), || {
                let total = Arc::new(AtomicUsize::new(0));
                let hs: Vec<_> = (0..8)
                    .map(|_| {
                        let total = total.clone();
                        smarm::thread::spawn(move || {
                            let (atx, arx) = mpsc::channel::<Vec<u64>>();
                            let (btx, brx) = mpsc::channel::<Vec<u64>>();
                            let echo = smarm::thread::spawn(move || {
                                while let Ok(v) = arx.recv() {
                                    let mut w = v.clone();
                                    w.push(1);
                                    if btx.send(w).is_err() {
                                        break;
                                    }
                                }
                            });
                            for i in 0..2000u64 {
                                atx.send(vec![i; 4]).unwrap();
                                let w = brx.recv().unwrap();
                                assert_eq!(w.len(), 5);
                                assert_eq!(w[0], i);
                            }
                            drop(atx);
                            echo.join().unwrap();
                            total.fetch_add(1, SeqCst);
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
                assert_eq!(total.load(SeqCst), 8);
            })
        });
    }
}
