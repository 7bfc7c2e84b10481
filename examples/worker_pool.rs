//! A parallel worker pool over a job queue, written as an ordinary `std::thread` program: the
//! only line that mentions smarm is the `use` below (it was `use std::thread;`). Swap it back and
//! the program runs on OS threads, unchanged.
//!
//! `cargo run --release --example worker_pool`

use smarm::thread;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

/// The job: the number of Collatz steps from `n` down to 1.
fn collatz_steps(mut n: u64) -> u32 {
    let mut steps = 0;
    while n != 1 {
        n = if n.is_multiple_of(2) {
            n / 2
        } else {
            3 * n + 1
        };
        steps += 1;
    }
    steps
}

fn main() {
    let start = Instant::now();
    let jobs: VecDeque<u64> = (1..=200_000).collect();
    let queue = Arc::new(Mutex::new(jobs));
    let (results, inbox) = mpsc::channel();

    let workers: Vec<_> = (0..64)
        .map(|id| {
            let queue = Arc::clone(&queue);
            let results = results.clone();
            thread::Builder::new()
                .name(format!("worker-{id}"))
                .spawn(move || {
                    let mut done = 0usize;
                    loop {
                        let job = queue.lock().unwrap().pop_front();
                        let Some(n) = job else { break };
                        results.send((n, collatz_steps(n))).unwrap();
                        done += 1;
                        if done.is_multiple_of(64) {
                            thread::yield_now(); // share the cores fairly with the other workers
                        }
                    }
                    done
                })
                .expect("failed to spawn a worker")
        })
        .collect();
    drop(results);

    let (mut longest, mut count) = ((0, 0), 0);
    for (n, steps) in inbox {
        count += 1;
        if steps > longest.1 {
            longest = (n, steps);
        }
    }
    let per_worker: Vec<usize> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(count, 200_000);
    assert_eq!(per_worker.iter().sum::<usize>(), 200_000);
    println!(
        "{count} jobs on {} workers in {:?}: the longest chain starts at {} ({} steps); \
         busiest worker did {} jobs, idlest {}",
        per_worker.len(),
        start.elapsed(),
        longest.0,
        longest.1,
        per_worker.iter().max().unwrap(),
        per_worker.iter().min().unwrap()
    );
}
