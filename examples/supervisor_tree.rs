//! A supervision tree: a top-level supervisor runs a worker pool, itself a supervisor of four
//! workers that take jobs from a shared queue. Some jobs are poison and crash their worker; the
//! pool restarts crashed workers one-for-one, and the program ends when the queue is drained.
//! Then a second supervisor shows the restart-intensity limit: a child that always crashes is
//! given up on after 3 restarts, with a report.
//!
//! `cargo run --example supervisor_tree` (the panic messages on stderr are the crashes).

use smarm::actor::{Restart, Supervisor};
use smarm::sync::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const JOBS: u64 = 200;
const POISON_EVERY: u64 = 17;

fn main() {
    let queue = Arc::new(Mutex::new((0..JOBS).collect::<VecDeque<u64>>()));
    let done = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicU64::new(0));

    let (q, d, s) = (queue.clone(), done.clone(), sum.clone());
    let top = Supervisor::new()
        .intensity(2, Duration::from_secs(1))
        .child("pool", move || {
            // The pool: a supervisor of four workers. If it ever gave up, it would panic, and the
            // top-level supervisor would restart the whole pool.
            let mut pool = Supervisor::new().intensity(20, Duration::from_secs(1));
            for w in 0..4 {
                let (q, d, s) = (q.clone(), d.clone(), s.clone());
                pool = pool.child(format!("worker-{w}"), move || {
                    loop {
                        // The lock is released before a poison job panics: no poisoning.
                        let Some(job) = q.lock().unwrap().pop_front() else {
                            return; // queue drained: a normal exit, not restarted
                        };
                        if job % POISON_EVERY == 0 {
                            panic!("poison job {job}");
                        }
                        smarm::thread::sleep(Duration::from_micros(200));
                        s.fetch_add(job, Ordering::Relaxed);
                        d.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            match pool.run() {
                Ok(report) => println!("pool: done after {} worker restarts", report.restarts),
                Err(gave_up) => panic!("{gave_up}"),
            }
        })
        .run();
    let poison = JOBS.div_ceil(POISON_EVERY);
    println!(
        "top: {top:?}; {} jobs done, {} poison; sum {}",
        done.load(Ordering::Relaxed),
        poison,
        sum.load(Ordering::Relaxed)
    );
    assert_eq!(done.load(Ordering::Relaxed), JOBS - poison);

    // Restart intensity: a child that always crashes is restarted 3 times, then given up on.
    let err = Supervisor::new()
        .intensity(3, Duration::from_secs(1))
        .child_with("always-crashes", Restart::Transient, || {
            panic!("broken configuration")
        })
        .run()
        .unwrap_err();
    println!("{err}");
    println!("{}", smarm::rt::stats());
}
