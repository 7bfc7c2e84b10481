//! Skynet: each node spawns 10 children and sums their answers from a channel, down to N leaves
//! (N = 10,000: 11,111 threads; N = 1,000,000: 1,111,111 threads). A spawn-heavy tree, where run
//! order decides how many threads (and stacks) are alive at once: smarm's workers run their newest
//! spawn first, so the tree is walked depth-first (`rt/sched/queue.rs`).
//!
//! Beside smarm (green threads, `smarm::sync::mpsc`, the default runtime — one worker per core),
//! the same program on tokio tasks with `tokio::sync::mpsc` unbounded channels, on a
//! `current_thread` runtime and on a `multi_thread` runtime with 2 workers: the code a tokio user
//! would write, as in `shared/peers`.
//!
//! `cargo bench --bench skynet [-- ROUNDS]` (default 5 rounds at 10k, 3 at 1M, after one untimed
//! warm-up each); `SKYNET_ONLY=smarm` (or `tokio-ct`, `tokio-mt`) runs one alone. Prints the median
//! and the range per case; the rounds of the cases are interleaved, so a noisy neighbour hits all
//! of them alike. `tokio-mt` has 2 workers (this machine's core count).

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

const DIV: u64 = 10;

fn smarm_node(out: smarm::sync::mpsc::Sender<u64>, num: u64, size: u64) {
    if size == 1 {
        let _ = out.send(num);
        return;
    }
    let (tx, rx) = smarm::sync::mpsc::channel();
    for i in 0..DIV {
        let tx = tx.clone();
        let sub = num + i * (size / DIV);
        smarm::thread::spawn(move || smarm_node(tx, sub, size / DIV));
    }
    drop(tx);
    let _ = out.send(rx.iter().take(DIV as usize).sum());
}

/// Milliseconds for a skynet of `size` leaves on smarm, timed from the calling OS thread.
fn smarm_skynet(size: u64) -> f64 {
    let t0 = Instant::now();
    let (tx, rx) = smarm::sync::mpsc::channel();
    smarm::thread::spawn(move || smarm_node(tx, 0, size));
    assert_eq!(rx.recv().unwrap(), size * (size - 1) / 2);
    t0.elapsed().as_secs_f64() * 1e3
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

fn tokio_node(out: tokio::sync::mpsc::UnboundedSender<u64>, num: u64, size: u64) -> BoxFuture {
    Box::pin(async move {
        if size == 1 {
            let _ = out.send(num);
            return;
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..DIV {
            tokio::spawn(tokio_node(tx.clone(), num + i * (size / DIV), size / DIV));
        }
        let mut sum = 0;
        for _ in 0..DIV {
            sum += rx.recv().await.unwrap();
        }
        let _ = out.send(sum);
    })
}

fn tokio_skynet(rt: &tokio::runtime::Runtime, size: u64) -> f64 {
    rt.block_on(async {
        let t0 = Instant::now();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(tokio_node(tx, 0, size));
        assert_eq!(rx.recv().await.unwrap(), size * (size - 1) / 2);
        t0.elapsed().as_secs_f64() * 1e3
    })
}

fn summary(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "median {:8.1} ms   (min {:.1}, max {:.1})",
        v[v.len() / 2],
        v[0],
        v[v.len() - 1]
    )
}

const NAMES: [&str; 3] = ["smarm", "tokio-ct", "tokio-mt"];

fn main() {
    // SKYNET_ONLY=smarm (or tokio-ct, tokio-mt) runs one of them alone.
    let only = std::env::var("SKYNET_ONLY").unwrap_or_default();
    let rounds: Option<usize> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    let ct = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    println!(
        "skynet (fan-out {DIV}); smarm with {} workers",
        smarm::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for (size, default_rounds) in [(10_000u64, 5), (1_000_000, 3)] {
        let rounds = rounds.unwrap_or(default_rounds);
        let mut times: [Vec<f64>; 3] = Default::default();
        // One untimed warm-up of each: first-touch costs (pools, page tables) are not the subject.
        for round in 0..=rounds {
            for (k, t) in times.iter_mut().enumerate() {
                if !only.is_empty() && only != NAMES[k] {
                    continue;
                }
                let ms = match k {
                    0 => smarm_skynet(size),
                    1 => tokio_skynet(&ct, size),
                    _ => tokio_skynet(&mt, size),
                };
                if round > 0 {
                    t.push(ms);
                }
            }
        }
        for (k, t) in times.into_iter().enumerate() {
            if !t.is_empty() {
                println!("skynet {size:>9} leaves  {:<10} {}", NAMES[k], summary(t));
            }
        }
    }
}
