//! Stress for `smarm::sync`'s RwLock, Barrier, Once, OnceLock and LazyLock: invariants, lost
//! wake-ups and hand-offs under load, on a two-worker runtime, mixing green and OS threads.

use smarm::rt::{self, Config};
use smarm::sync::{Arc, Barrier, LazyLock, Once, OnceLock, RwLock, RwLockWriteGuard, mpsc};
use smarm::thread;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A tiny xorshift generator: deterministic per thread, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

/// Reads, writes and downgrades by `threads` green threads for `rounds` rounds each; the two
/// fields are always equal under any lock, and the final count is every write.
fn rwlock_mix(threads: u64, rounds: u64) {
    rt::run(Config::new().workers(2), move || {
        let lock = Arc::new(RwLock::new((0u64, 0u64)));
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let lock = lock.clone();
                thread::spawn(move || {
                    let mut rng = Rng::new(t + 1);
                    let mut writes = 0u64;
                    for _ in 0..rounds {
                        match rng.next() % 4 {
                            0 => {
                                let mut g = lock.write().unwrap();
                                g.0 += 1;
                                if rng.one_in(4) {
                                    thread::yield_now();
                                }
                                g.1 += 1;
                                writes += 1;
                            }
                            1 => {
                                let mut g = lock.write().unwrap();
                                g.0 += 1;
                                g.1 += 1;
                                let seen = *g;
                                writes += 1;
                                let r = RwLockWriteGuard::downgrade(g);
                                if rng.one_in(3) {
                                    thread::yield_now();
                                }
                                assert_eq!(*r, seen, "a writer got in during a downgrade");
                            }
                            _ => {
                                let g = lock.read().unwrap();
                                let (a, b) = *g;
                                if rng.one_in(4) {
                                    thread::yield_now();
                                }
                                assert_eq!(a, b, "read a half-written value");
                                assert_eq!(*g, (a, b), "changed under a read lock");
                            }
                        }
                        if rng.one_in(8) {
                            thread::yield_now();
                        }
                    }
                    writes
                })
            })
            .collect();
        let writes: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(*lock.read().unwrap(), (writes, writes));
        assert!(lock.try_write().is_ok(), "the lock is free at the end");
    });
}

#[test]
fn rwlock_32_green_threads_read_write_downgrade() {
    rwlock_mix(32, 2000);
}

#[test]
fn barrier_16_green_threads_2000_rounds_one_leader_and_no_one_ahead() {
    const N: usize = 16;
    const ROUNDS: usize = 2000;
    rt::run(Config::new().workers(2), || {
        let b = Arc::new(Barrier::new(N));
        let arrived = Arc::new(AtomicUsize::new(0));
        let leaders: Arc<Vec<AtomicUsize>> =
            Arc::new((0..ROUNDS).map(|_| AtomicUsize::new(0)).collect());
        let hs: Vec<_> = (0..N)
            .map(|i| {
                let (b, arrived, leaders) = (b.clone(), arrived.clone(), leaders.clone());
                thread::spawn(move || {
                    let mut rng = Rng::new(i as u64 + 100);
                    for round in 0..ROUNDS {
                        let before = arrived.fetch_add(1, Ordering::SeqCst);
                        assert!(before < (round + 1) * N, "ran a round ahead");
                        if rng.one_in(5) {
                            thread::yield_now();
                        }
                        if b.wait().is_leader() {
                            leaders[round].fetch_add(1, Ordering::SeqCst);
                        }
                        assert!(arrived.load(Ordering::SeqCst) >= (round + 1) * N);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        for (round, l) in leaders.iter().enumerate() {
            assert_eq!(l.load(Ordering::SeqCst), 1, "round {round}");
        }
    });
}

#[test]
fn once_and_once_lock_hammer_1000_fresh_cells_8_racers() {
    rt::run(Config::new().workers(2), || {
        for round in 0..1000u64 {
            let once = Arc::new(Once::new());
            let cell = Arc::new(OnceLock::new());
            let set_cell = Arc::new(OnceLock::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let r2 = runs.clone();
            let lazy = Arc::new(LazyLock::new(move || {
                r2.fetch_add(1, Ordering::SeqCst);
                round * 3
            }));
            let effect = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..8u64)
                .map(|t| {
                    let (once, cell, set_cell, runs, lazy, effect) = (
                        once.clone(),
                        cell.clone(),
                        set_cell.clone(),
                        runs.clone(),
                        lazy.clone(),
                        effect.clone(),
                    );
                    thread::spawn(move || {
                        let mut rng = Rng::new(round * 8 + t + 1);
                        if rng.one_in(2) {
                            thread::yield_now();
                        }
                        once.call_once(|| {
                            runs.fetch_add(1, Ordering::SeqCst);
                            if rng.one_in(2) {
                                thread::yield_now();
                            }
                            effect.store(round as usize + 1, Ordering::Relaxed);
                        });
                        assert_eq!(effect.load(Ordering::Relaxed), round as usize + 1);
                        let v = *cell.get_or_init(|| {
                            runs.fetch_add(1, Ordering::SeqCst);
                            if rng.one_in(2) {
                                thread::yield_now();
                            }
                            t
                        });
                        let won = set_cell.set(t).is_ok();
                        assert_eq!(**lazy, round * 3);
                        (v, won)
                    })
                })
                .collect();
            let res: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            // One Once run + one get_or_init run + one LazyLock run.
            assert_eq!(runs.load(Ordering::SeqCst), 3, "round {round}");
            assert!(res.iter().all(|&(v, _)| v == res[0].0));
            assert_eq!(cell.get(), Some(&res[0].0));
            let winners: Vec<_> = (0..8).filter(|&t| res[t as usize].1).collect();
            assert_eq!(winners.len(), 1, "round {round}: set winners {winners:?}");
            assert_eq!(set_cell.get(), Some(&winners[0]));
        }
    });
}

#[test]
fn os_and_green_threads_share_one_rwlock() {
    rt::run(Config::new().workers(2), || {
        let lock = Arc::new(RwLock::new((0u64, 0u64)));
        let (tx, rx) = mpsc::channel::<u64>();
        let work = |lock: Arc<RwLock<(u64, u64)>>, seed: u64, tx: mpsc::Sender<u64>| {
            move || {
                let mut rng = Rng::new(seed);
                let mut writes = 0;
                for _ in 0..2000 {
                    match rng.next() % 3 {
                        0 => {
                            let mut g = lock.write().unwrap();
                            g.0 += 1;
                            g.1 += 1;
                            writes += 1;
                        }
                        1 => {
                            let mut g = lock.write().unwrap();
                            g.0 += 1;
                            g.1 += 1;
                            writes += 1;
                            let r = RwLockWriteGuard::downgrade(g);
                            assert_eq!(r.0, r.1);
                        }
                        _ => {
                            let g = lock.read().unwrap();
                            assert_eq!(g.0, g.1);
                        }
                    }
                    if rng.one_in(16) {
                        thread::yield_now();
                    }
                }
                tx.send(writes).unwrap();
            }
        };
        let os: Vec<_> = (0..4)
            .map(|s| std::thread::spawn(work(lock.clone(), s + 1, tx.clone())))
            .collect();
        let green: Vec<_> = (0..8)
            .map(|s| thread::spawn(work(lock.clone(), s + 100, tx.clone())))
            .collect();
        drop(tx);
        // Collect through the crate's own channel, so this green thread parks rather than
        // blocking its worker in std's join.
        let writes: u64 = rx.iter().sum();
        for h in green {
            h.join().unwrap();
        }
        for h in os {
            h.join().unwrap();
        }
        assert_eq!(*lock.read().unwrap(), (writes, writes));
    });
}

#[test]
fn a_thousand_green_readers_queued_behind_a_writer_are_admitted_together() {
    const READERS: usize = 1000;
    rt::run(Config::new().workers(2), || {
        for round in 0..3u64 {
            let lock = Arc::new(RwLock::new(0u64));
            let inside = Arc::new(AtomicUsize::new(0));
            let mut w = lock.write().unwrap();
            let hs: Vec<_> = (0..READERS)
                .map(|_| {
                    let (lock, inside) = (lock.clone(), inside.clone());
                    thread::spawn(move || {
                        let g = lock.read().unwrap();
                        inside.fetch_add(1, Ordering::SeqCst);
                        // Held until every reader is in: they all hold the lock at once.
                        while inside.load(Ordering::SeqCst) < READERS {
                            thread::yield_now();
                        }
                        *g
                    })
                })
                .collect();
            // Let them queue (most will), then hand the lock over.
            for _ in 0..10 {
                thread::yield_now();
            }
            assert_eq!(
                inside.load(Ordering::SeqCst),
                0,
                "a reader got past the writer"
            );
            *w = round + 1;
            drop(w);
            for h in hs {
                assert_eq!(h.join().unwrap(), round + 1);
            }
            assert!(lock.try_write().is_ok());
        }
    });
}

#[test]
fn once_lock_raced_by_os_and_green_threads() {
    rt::run(Config::new().workers(2), || {
        for round in 0..200u64 {
            let cell = Arc::new(OnceLock::new());
            let once = Arc::new(Once::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let (tx, rx) = mpsc::channel();
            let body = |t: u64| {
                let (cell, once, runs, tx) = (cell.clone(), once.clone(), runs.clone(), tx.clone());
                move || {
                    once.call_once(|| {
                        runs.fetch_add(1, Ordering::SeqCst);
                    });
                    let v = *cell.get_or_init(|| round * 10 + t);
                    let waited = *cell.wait();
                    tx.send((v, waited)).unwrap();
                }
            };
            let os: Vec<_> = (0..2).map(|t| std::thread::spawn(body(t))).collect();
            let green: Vec<_> = (2..6).map(|t| thread::spawn(body(t))).collect();
            drop(tx);
            let seen: Vec<(u64, u64)> = rx.iter().collect();
            for h in green {
                h.join().unwrap();
            }
            for h in os {
                h.join().unwrap();
            }
            assert_eq!(seen.len(), 6);
            assert_eq!(runs.load(Ordering::SeqCst), 1);
            let v = seen[0].0;
            assert!(seen.iter().all(|&(a, b)| a == v && b == v), "{seen:?}");
            assert_eq!(cell.get(), Some(&v));
        }
    });
}
