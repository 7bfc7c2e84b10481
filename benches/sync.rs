//! `smarm::sync` costs beside std's: channel ping-pong, a token ring, channel throughput, and
//! Mutex lock+unlock uncontended and contended. Every smarm case runs inside green threads.
//!
//! `cargo bench --bench sync`

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};

use smarm::rt::{self, Config};

fn channel_ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("channel_ping_pong_round_trip");
    g.bench_function("smarm_2_green_1_worker", |b| {
        b.iter_custom(|iters| {
            rt::run(Config::new().workers(1), move || {
                let (tx1, rx1) = smarm::sync::mpsc::channel::<u64>();
                let (tx2, rx2) = smarm::sync::mpsc::channel::<u64>();
                let echo = smarm::thread::spawn(move || {
                    for v in rx1 {
                        tx2.send(v).unwrap();
                    }
                });
                let start = Instant::now();
                for i in 0..iters {
                    tx1.send(i).unwrap();
                    black_box(rx2.recv().unwrap());
                }
                let t = start.elapsed();
                drop(tx1);
                echo.join().unwrap();
                t
            })
        })
    });
    g.bench_function("std_2_os_threads", |b| {
        b.iter_custom(|iters| {
            let (tx1, rx1) = std::sync::mpsc::channel::<u64>();
            let (tx2, rx2) = std::sync::mpsc::channel::<u64>();
            let echo = std::thread::spawn(move || {
                for v in rx1 {
                    tx2.send(v).unwrap();
                }
            });
            let start = Instant::now();
            for i in 0..iters {
                tx1.send(i).unwrap();
                black_box(rx2.recv().unwrap());
            }
            let t = start.elapsed();
            drop(tx1);
            echo.join().unwrap();
            t
        })
    });
    g.finish();
}

/// 1000 green threads in a ring, each forwarding a token to the next; one iteration = one hop.
fn token_ring(c: &mut Criterion) {
    let mut g = c.benchmark_group("token_ring_1000");
    g.bench_function("smarm_per_hop_1_worker", |b| {
        b.iter_custom(|iters| {
            rt::run(Config::new().workers(1), move || {
                let n = 1000usize;
                let (first_tx, mut prev_rx) = smarm::sync::mpsc::channel::<u64>();
                let mut hs = Vec::new();
                for _ in 0..n - 1 {
                    let (tx, rx) = smarm::sync::mpsc::channel::<u64>();
                    let input = std::mem::replace(&mut prev_rx, rx);
                    hs.push(smarm::thread::spawn(move || {
                        for v in input {
                            if tx.send(v).is_err() {
                                break;
                            }
                        }
                    }));
                }
                let start = Instant::now();
                let mut left = iters;
                while left > 0 {
                    first_tx.send(0).unwrap();
                    black_box(prev_rx.recv().unwrap());
                    left = left.saturating_sub(n as u64);
                }
                let t = start.elapsed();
                drop(first_tx);
                for h in hs {
                    h.join().unwrap();
                }
                t
            })
        })
    });
    g.finish();
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("channel_throughput_1p1c");
    g.bench_function("smarm_per_message_2_workers", |b| {
        b.iter_custom(|iters| {
            rt::run(Config::new().workers(2), move || {
                let (tx, rx) = smarm::sync::mpsc::channel::<u64>();
                let start = Instant::now();
                let p = smarm::thread::spawn(move || {
                    for i in 0..iters {
                        tx.send(i).unwrap();
                    }
                });
                for v in rx {
                    black_box(v);
                }
                p.join().unwrap();
                start.elapsed()
            })
        })
    });
    g.bench_function("std_per_message", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = std::sync::mpsc::channel::<u64>();
            let start = Instant::now();
            let p = std::thread::spawn(move || {
                for i in 0..iters {
                    tx.send(i).unwrap();
                }
            });
            for v in rx {
                black_box(v);
            }
            p.join().unwrap();
            start.elapsed()
        })
    });
    g.finish();
}

fn mutex(c: &mut Criterion) {
    let mut g = c.benchmark_group("mutex");
    let m = smarm::sync::Mutex::new(0u64);
    g.bench_function("smarm_uncontended_lock_unlock", |b| {
        b.iter(|| *m.lock().unwrap() += 1)
    });
    let s = std::sync::Mutex::new(0u64);
    g.bench_function("std_uncontended_lock_unlock", |b| {
        b.iter(|| *s.lock().unwrap() += 1)
    });
    g.sample_size(10);
    g.bench_function("smarm_8_green_x_200k_increments_per_increment", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters.div_ceil(1_600_000).max(1) {
                total += rt::run(Config::new().workers(2), || {
                    let m = smarm::sync::Arc::new(smarm::sync::Mutex::new(0u64));
                    let start = Instant::now();
                    let hs: Vec<_> = (0..8)
                        .map(|_| {
                            let m = m.clone();
                            smarm::thread::spawn(move || {
                                for _ in 0..200_000 {
                                    *m.lock().unwrap() += 1;
                                }
                            })
                        })
                        .collect();
                    hs.into_iter().for_each(|h| h.join().unwrap());
                    start.elapsed()
                });
            }
            total.mul_f64(iters as f64 / (iters.div_ceil(1_600_000).max(1) * 1_600_000) as f64)
        })
    });
    g.bench_function("std_8_os_x_200k_increments_per_increment", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters.div_ceil(1_600_000).max(1) {
                let m = std::sync::Arc::new(std::sync::Mutex::new(0u64));
                let start = Instant::now();
                let hs: Vec<_> = (0..8)
                    .map(|_| {
                        let m = m.clone();
                        std::thread::spawn(move || {
                            for _ in 0..200_000 {
                                *m.lock().unwrap() += 1;
                            }
                        })
                    })
                    .collect();
                hs.into_iter().for_each(|h| h.join().unwrap());
                total += start.elapsed();
            }
            total.mul_f64(iters as f64 / (iters.div_ceil(1_600_000).max(1) * 1_600_000) as f64)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = channel_ping_pong, token_ring, throughput, mutex
}
criterion_main!(benches);
