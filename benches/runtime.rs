//! Core runtime costs, smarm beside std: spawn+join, a yield round trip, a park/unpark ping-pong,
//! and `thread::scope` with 1000 scoped threads.
//!
//! Run with `cargo bench --bench runtime`. Each smarm case measures inside green threads (the
//! timing starts and stops in the green thread), so the figures are the runtime's own costs rather
//! than an OS thread waking up.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use smarm::rt::{self, Config};

const BATCH: u64 = 1000;

/// Spawns `iters` green threads in batches of `BATCH` and joins them, from inside a green thread.
fn smarm_spawn_join(workers: usize, iters: u64) -> Duration {
    rt::run(Config::new().workers(workers), move || {
        let start = Instant::now();
        let mut left = iters;
        let mut hs = Vec::with_capacity(BATCH as usize);
        while left > 0 {
            let n = left.min(BATCH);
            hs.extend((0..n).map(|i| smarm::thread::spawn(move || black_box(i))));
            for h in hs.drain(..) {
                black_box(h.join().unwrap());
            }
            left -= n;
        }
        start.elapsed()
    })
}

fn std_spawn_join(iters: u64) -> Duration {
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let n = left.min(100);
        let hs: Vec<_> = (0..n)
            .map(|i| std::thread::spawn(move || black_box(i)))
            .collect();
        for h in hs {
            black_box(h.join().unwrap());
        }
        left -= n;
    }
    start.elapsed()
}

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join");
    g.bench_function("smarm_1_worker", |b| {
        b.iter_custom(|n| smarm_spawn_join(1, n))
    });
    g.bench_function("smarm_2_workers", |b| {
        b.iter_custom(|n| smarm_spawn_join(2, n))
    });
    g.bench_function("smarm_from_os_thread", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let mut left = iters;
            while left > 0 {
                let n = left.min(BATCH);
                let hs: Vec<_> = (0..n)
                    .map(|i| smarm::thread::spawn(move || black_box(i)))
                    .collect();
                for h in hs {
                    black_box(h.join().unwrap());
                }
                left -= n;
            }
            start.elapsed()
        })
    });
    g.sample_size(10);
    g.bench_function("std_thread", |b| b.iter_custom(std_spawn_join));
    g.finish();
}

/// Two green threads on one worker yield to each other; one iteration = one round trip
/// (A yields to B, B yields back to A: two switches out and two in).
fn yield_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("yield");
    g.bench_function("smarm_round_trip_2_green_1_worker", |b| {
        b.iter_custom(|iters| {
            rt::run(Config::new().workers(1), move || {
                let start = Instant::now();
                let other = smarm::thread::spawn(move || {
                    for _ in 0..iters {
                        smarm::thread::yield_now();
                    }
                });
                for _ in 0..iters {
                    smarm::thread::yield_now();
                }
                other.join().unwrap();
                start.elapsed()
            })
        })
    });
    g.bench_function("std_yield_now_syscall", |b| b.iter(std::thread::yield_now));
    g.finish();
}

/// A turn handed back and forth with park/unpark; one iteration = one round trip.
fn ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("park_unpark_ping_pong");
    for workers in [1usize, 2] {
        g.bench_function(format!("smarm_{workers}_worker"), |b| {
            b.iter_custom(|iters| {
                rt::run(Config::new().workers(workers), move || {
                    let turn = Arc::new(AtomicU64::new(0));
                    let t2 = turn.clone();
                    let me = smarm::thread::current();
                    let start = Instant::now();
                    let peer = smarm::thread::spawn(move || {
                        for i in 0..iters {
                            while t2.load(Ordering::Acquire) != 2 * i + 1 {
                                smarm::thread::park();
                            }
                            t2.store(2 * i + 2, Ordering::Release);
                            me.unpark();
                        }
                    });
                    let pt = peer.thread().clone();
                    for i in 0..iters {
                        while turn.load(Ordering::Acquire) != 2 * i {
                            smarm::thread::park();
                        }
                        turn.store(2 * i + 1, Ordering::Release);
                        pt.unpark();
                    }
                    while turn.load(Ordering::Acquire) != 2 * iters {
                        smarm::thread::park();
                    }
                    peer.join().unwrap();
                    start.elapsed()
                })
            })
        });
    }
    g.bench_function("std_os_threads", |b| {
        b.iter_custom(|iters| {
            let turn = Arc::new(AtomicU64::new(0));
            let t2 = turn.clone();
            let me = std::thread::current();
            let start = Instant::now();
            let peer = std::thread::spawn(move || {
                for i in 0..iters {
                    while t2.load(Ordering::Acquire) != 2 * i + 1 {
                        std::thread::park();
                    }
                    t2.store(2 * i + 2, Ordering::Release);
                    me.unpark();
                }
            });
            let pt = peer.thread().clone();
            for i in 0..iters {
                while turn.load(Ordering::Acquire) != 2 * i {
                    std::thread::park();
                }
                turn.store(2 * i + 1, Ordering::Release);
                pt.unpark();
            }
            while turn.load(Ordering::Acquire) != 2 * iters {
                std::thread::park();
            }
            peer.join().unwrap();
            start.elapsed()
        })
    });
    g.finish();
}

/// `thread::scope` spawning 1000 scoped threads that read borrowed data; one iteration = one scope.
fn scope_1k(c: &mut Criterion) {
    let mut g = c.benchmark_group("scope_1k_threads");
    let data: Vec<u64> = (0..1000).collect();
    g.bench_function("smarm_in_green_thread_2_workers", |b| {
        b.iter_custom(|iters| {
            let data = &data;
            rt::run(Config::new().workers(2), move || {
                let start = Instant::now();
                for _ in 0..iters {
                    smarm::thread::scope(|s| {
                        for x in data {
                            s.spawn(move || black_box(*x));
                        }
                    });
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("smarm_from_os_thread", |b| {
        b.iter(|| {
            smarm::thread::scope(|s| {
                for x in &data {
                    s.spawn(move || black_box(*x));
                }
            })
        })
    });
    g.sample_size(10);
    g.bench_function("std", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for x in &data {
                    s.spawn(move || black_box(*x));
                }
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = spawn_join, yield_round_trip, ping_pong, scope_1k
}
criterion_main!(benches);
