//! Review stress tests for RwLock, Once/OnceLock/LazyLock and Barrier.
use smarm::rt::{Config, run};
use smarm::sync::{Arc, Barrier, LazyLock, Once, OnceLock, RwLock, RwLockWriteGuard};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

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

fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn rwlock_round(workers: usize, threads: usize, iters: usize) {
    run(Config::new().workers(workers), move || {
        let lock = Arc::new(RwLock::new(0u64));
        // >0: readers inside, -1: a writer inside.
        let inside = Arc::new(AtomicI64::new(0));
        let hs: Vec<_> = (0..threads)
            .map(|i| {
                let (lock, inside) = (lock.clone(), inside.clone());
                smarm::thread::spawn(move || {
                    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ ((i as u64 + 1) * 7919);
                    let mut writes = 0u64;
                    for _ in 0..iters {
                        let r = rng(&mut seed);
                        match r % 6 {
                            0..=2 => {
                                let g = lock.read().unwrap();
                                assert!(inside.fetch_add(1, SeqCst) >= 0, "reader beside writer");
                                if r & 64 != 0 {
                                    smarm::thread::yield_now();
                                }
                                let _ = *g;
                                inside.fetch_sub(1, SeqCst);
                            }
                            3 | 4 => {
                                let mut g = lock.write().unwrap();
                                assert_eq!(inside.swap(-1, SeqCst), 0, "writer not alone");
                                *g += 1;
                                writes += 1;
                                if r & 64 != 0 {
                                    smarm::thread::yield_now();
                                }
                                if r & 128 != 0 {
                                    inside.store(1, SeqCst);
                                    let rg = RwLockWriteGuard::downgrade(g);
                                    if r & 256 != 0 {
                                        smarm::thread::yield_now();
                                    }
                                    let _ = *rg;
                                    inside.fetch_sub(1, SeqCst);
                                } else {
                                    inside.store(0, SeqCst);
                                }
                            }
                            _ => {
                                if let Ok(mut g) = lock.try_write() {
                                    assert_eq!(inside.swap(-1, SeqCst), 0);
                                    *g += 1;
                                    writes += 1;
                                    inside.store(0, SeqCst);
                                } else if let Ok(_g) = lock.try_read() {
                                    assert!(inside.fetch_add(1, SeqCst) >= 0);
                                    inside.fetch_sub(1, SeqCst);
                                }
                            }
                        }
                        if r & 512 != 0 {
                            smarm::thread::yield_now();
                        }
                    }
                    writes
                })
            })
            .collect();
        // A couple of OS threads join in.
        let os: Vec<_> = (0..2)
            .map(|_| {
                let lock = lock.clone();
                let inside = inside.clone();
                std::thread::spawn(move || {
                    let mut w = 0;
                    for k in 0..iters / 4 {
                        if k % 3 == 0 {
                            let mut g = lock.write().unwrap();
                            assert_eq!(inside.swap(-1, SeqCst), 0);
                            *g += 1;
                            w += 1;
                            inside.store(0, SeqCst);
                        } else {
                            let _g = lock.read().unwrap();
                            assert!(inside.fetch_add(1, SeqCst) >= 0);
                            inside.fetch_sub(1, SeqCst);
                        }
                    }
                    w
                })
            })
            .collect();
        let mut total: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        total += os.into_iter().map(|h| h.join().unwrap()).sum::<u64>();
        assert_eq!(*lock.read().unwrap(), total);
    });
}

#[test]
fn rwlock_stress_one_worker() {
    bounded(30, || {
        for _ in 0..100 {
            rwlock_round(1, 16, 800)
        }
    });
}

#[test]
fn rwlock_stress_two_workers() {
    bounded(30, || {
        for _ in 0..100 {
            rwlock_round(2, 16, 800)
        }
    });
}

#[test]
fn once_and_oncelock_stress() {
    for workers in [1, 2] {
        bounded(30, move || {
            run(Config::new().workers(workers), || {
                for round in 0..300 {
                    let once = Arc::new(Once::new());
                    let cell = Arc::new(OnceLock::<usize>::new());
                    let runs = Arc::new(AtomicUsize::new(0));
                    let lazy = Arc::new(LazyLock::new(move || round * 2));
                    let hs: Vec<_> = (0..8)
                        .map(|i| {
                            let (once, cell, runs, lazy) =
                                (once.clone(), cell.clone(), runs.clone(), lazy.clone());
                            smarm::thread::spawn(move || {
                                if i % 3 == 0 {
                                    smarm::thread::yield_now();
                                }
                                // First initialiser of even rounds panics.
                                let r =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        once.call_once_force(|st| {
                                            if round % 2 == 0 && !st.is_poisoned() {
                                                smarm::thread::yield_now();
                                                panic!("first init fails");
                                            }
                                            runs.fetch_add(1, SeqCst);
                                        })
                                    }));
                                let _ = r;
                                let v = *cell.get_or_init(|| {
                                    smarm::thread::yield_now();
                                    i
                                });
                                assert_eq!(**lazy, round * 2);
                                v
                            })
                        })
                        .collect();
                    let vs: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
                    assert!(vs.iter().all(|&v| v == vs[0]));
                    once.call_once_force(|_| {
                        runs.fetch_add(1, SeqCst);
                    });
                    assert_eq!(runs.load(SeqCst), 1, "Once ran twice (round {round})");
                    assert!(once.is_completed());
                }
            })
        });
    }
}

#[test]
fn barrier_stress() {
    for workers in [1, 2] {
        bounded(30, move || {
            run(Config::new().workers(workers), || {
                let n = 7;
                let rounds = 500;
                let b = Arc::new(Barrier::new(n));
                let leaders = Arc::new(AtomicUsize::new(0));
                let phase = Arc::new(AtomicUsize::new(0));
                let hs: Vec<_> = (0..n)
                    .map(|i| {
                        let (b, leaders, phase) = (b.clone(), leaders.clone(), phase.clone());
                        smarm::thread::spawn(move || {
                            for r in 0..rounds {
                                if (i + r) % 3 == 0 {
                                    smarm::thread::yield_now();
                                }
                                phase.fetch_add(1, SeqCst);
                                if b.wait().is_leader() {
                                    leaders.fetch_add(1, SeqCst);
                                }
                                // Everybody of round r arrived before anyone leaves it.
                                assert!(phase.load(SeqCst) >= (r + 1) * n);
                                b.wait();
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
                assert_eq!(leaders.load(SeqCst), rounds);
            })
        });
    }
}
