//! The monitor hands a stuck worker's queued green threads to another worker: a green thread
//! blocked in a std call (or hogging its worker) no longer stalls the others.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smarm::rt::{Config, run};
use smarm::thread;

/// Ticks every `period` until `stop`, returning the largest lateness of a tick (how much longer
/// than `period` a sleep took) and the delay before the first tick.
fn ticker(period: Duration, stop: Arc<AtomicBool>, spawned: Instant) -> (Duration, Duration) {
    let first = spawned.elapsed();
    let mut worst = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        thread::sleep(period);
        worst = worst.max(t.elapsed().saturating_sub(period));
    }
    (worst, first)
}

/// One worker; a green thread blocks it in `std::thread::sleep` while a ticker wants to run.
fn ticker_beside_a_std_sleep(config: Config) -> (Duration, Duration) {
    run(config.workers(1), || {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let spawned = Instant::now();
        let t = thread::spawn(move || ticker(Duration::from_millis(5), s, spawned));
        let s = stop.clone();
        // Queued last, so the lone worker (newest spawn first) runs it first and is blocked
        // before the ticker starts.
        let blocker = thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            s.store(true, Ordering::Relaxed);
        });
        blocker.join().unwrap();
        t.join().unwrap()
    })
}

#[test]
fn a_std_sleep_does_not_stall_a_ticker_on_a_one_worker_runtime() {
    let (worst, first) = ticker_beside_a_std_sleep(Config::new());
    assert!(
        first < Duration::from_millis(50),
        "first tick after {first:?}"
    );
    assert!(
        worst < Duration::from_millis(50),
        "a tick was {worst:?} late"
    );
}

#[test]
fn without_extra_workers_the_ticker_waits_for_the_blocking_call() {
    // The control: the same program with the hand-off disabled stalls, so the test above
    // measures the monitor and not luck.
    let (_, first) = ticker_beside_a_std_sleep(Config::new().max_extra_workers(0));
    assert!(
        first >= Duration::from_millis(350),
        "first tick after {first:?}"
    );
}

#[test]
fn green_threads_contending_a_std_mutex_do_not_stall_the_runtime() {
    let done = run(Config::new().workers(1), || {
        let m = Arc::new(Mutex::new(0u32));
        let stop = Arc::new(AtomicBool::new(false));
        // A holder that keeps the std mutex across a blocking call, and contenders that block
        // their workers on it: each blocked worker's queue moves on.
        let holders: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || {
                    let mut g = m.lock().unwrap();
                    std::thread::sleep(Duration::from_millis(40));
                    *g += 1;
                })
            })
            .collect();
        let s = stop.clone();
        let spawned = Instant::now();
        let t = thread::spawn(move || ticker(Duration::from_millis(2), s, spawned));
        for h in holders {
            h.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let (worst, _) = t.join().unwrap();
        assert!(
            worst < Duration::from_millis(50),
            "a tick was {worst:?} late"
        );
        *m.lock().unwrap()
    });
    assert_eq!(done, 4);
}

#[test]
fn extra_workers_retire_and_the_runtime_still_shuts_down() {
    // Several rounds of blocking, each needing an extra worker; `run` returning means every
    // worker, extra ones included, was stopped and joined.
    for _ in 0..3 {
        let (worst, _) = run(Config::new().workers(1), || {
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            let b = thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(60));
                s.store(true, Ordering::Relaxed);
            });
            let s = stop.clone();
            let t = thread::spawn(move || ticker(Duration::from_millis(2), s, Instant::now()));
            b.join().unwrap();
            t.join().unwrap()
        });
        assert!(
            worst < Duration::from_millis(50),
            "a tick was {worst:?} late"
        );
    }
}

#[test]
fn an_unwinding_drop_that_waits_for_another_green_thread_completes_on_one_worker() {
    use smarm::sync::mpsc;
    // A green thread that parks while unwinding keeps its OS thread (std counts panics per OS
    // thread), so on one worker nothing else could run — until the monitor sees the worker stuck
    // and an extra worker runs the green thread it waits for.
    struct JoinOnDrop(Option<(mpsc::Sender<u32>, thread::JoinHandle<u32>)>);
    impl Drop for JoinOnDrop {
        fn drop(&mut self) {
            let (tx, h) = self.0.take().unwrap();
            tx.send(7).unwrap();
            assert_eq!(h.join().unwrap(), 7);
        }
    }
    let panicked = run(Config::new().workers(1), || {
        let (tx, rx) = mpsc::channel::<u32>();
        let other = thread::spawn(move || rx.recv().unwrap());
        let h = thread::spawn(move || {
            let _g = JoinOnDrop(Some((tx, other)));
            panic!("unwinding on purpose");
        });
        h.join().is_err()
    });
    assert!(panicked);
}
