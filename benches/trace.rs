//! The scheduler trace's cost: spawn+join and a channel ping-pong with tracing off and on.
//!
//! `cargo bench --bench trace`. "off" is the runtime as every untraced program runs it (the hooks
//! cost one branch on a static bool); "on" records every run slice, spawn, park, wake and steal
//! into a temporary file through `Config::trace`, with the writer thread formatting in parallel.
//! Both loops produce events faster than the writer thread formats them (it manages about 5–6 M
//! per second), so "on" drops part of them (counted in the trace's closing record): the figure is
//! the recording cost, not a lossless trace of 19 M events a second.
//! To compare "off" against a build without the trace code, run `spawn_join/smarm_1_worker`
//! (benches/runtime.rs) and `channel_ping_pong_round_trip/smarm_2_green_1_worker`
//! (benches/sync.rs), which measure the same loops, on this commit and on its parent.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use smarm::rt::{self, Config};

const BATCH: u64 = 1000;

fn config(traced: bool) -> Config {
    let c = Config::new().workers(1);
    if traced { c.trace(trace_file()) } else { c }
}

fn trace_file() -> PathBuf {
    std::env::temp_dir().join(format!("smarm-bench-trace-{}.json", std::process::id()))
}

fn spawn_join(traced: bool, iters: u64) -> Duration {
    rt::run(config(traced), move || {
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

fn ping_pong(traced: bool, iters: u64) -> Duration {
    rt::run(config(traced), move || {
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
}

fn trace_cost(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace_spawn_join_1_worker");
    g.bench_function("off", |b| b.iter_custom(|n| spawn_join(false, n)));
    g.bench_function("on", |b| b.iter_custom(|n| spawn_join(true, n)));
    g.finish();
    let mut g = c.benchmark_group("trace_channel_ping_pong_1_worker");
    g.bench_function("off", |b| b.iter_custom(|n| ping_pong(false, n)));
    g.bench_function("on", |b| b.iter_custom(|n| ping_pong(true, n)));
    g.finish();
    std::fs::remove_file(trace_file()).ok();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = trace_cost
}
criterion_main!(benches);
