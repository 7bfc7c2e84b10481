//! `std::sync::Condvar` parity, differential (`--features compat-std` selects std).

#[cfg(not(feature = "compat-std"))]
use smarm::{sync::Arc, sync::Condvar, sync::Mutex, thread};
#[cfg(feature = "compat-std")]
use std::{sync::Arc, sync::Condvar, sync::Mutex, thread};

use std::time::{Duration, Instant};

mod common;
use common::both;

#[test]
fn notify_one_wakes_a_waiter() {
    both(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p2 = pair.clone();
        let h = thread::spawn(move || {
            let (m, c) = &*p2;
            let mut ready = m.lock().unwrap();
            while !*ready {
                ready = c.wait(ready).unwrap();
            }
        });
        thread::sleep(Duration::from_millis(10));
        *pair.0.lock().unwrap() = true;
        pair.1.notify_one();
        h.join().unwrap();
    });
}

#[test]
fn notify_all_wakes_every_waiter() {
    both(|| {
        let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
        let hs: Vec<_> = (0..10)
            .map(|_| {
                let p = pair.clone();
                thread::spawn(move || {
                    let (m, c) = &*p;
                    let g = c.wait_while(m.lock().unwrap(), |v| *v == 0).unwrap();
                    *g
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(10));
        *pair.0.lock().unwrap() = 7;
        pair.1.notify_all();
        for h in hs {
            assert_eq!(h.join().unwrap(), 7);
        }
    });
}

#[test]
fn wait_timeout_times_out_and_reports_it() {
    both(|| {
        let m = Mutex::new(());
        let c = Condvar::new();
        let t = Instant::now();
        let (_g, r) = c
            .wait_timeout(m.lock().unwrap(), Duration::from_millis(20))
            .unwrap();
        assert!(r.timed_out());
        assert!(t.elapsed() >= Duration::from_millis(20));
    });
}

#[test]
fn wait_timeout_while_returns_early_when_the_condition_clears() {
    both(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p2 = pair.clone();
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            *p2.0.lock().unwrap() = true;
            p2.1.notify_one();
        });
        let (m, c) = &*pair;
        let (g, r) = c
            .wait_timeout_while(m.lock().unwrap(), Duration::from_secs(10), |done| !*done)
            .unwrap();
        assert!(*g);
        assert!(!r.timed_out());
        drop(g);
        h.join().unwrap();
        let (g, r) = c
            .wait_timeout_while(m.lock().unwrap(), Duration::from_millis(15), |done| *done)
            .unwrap();
        assert!(r.timed_out());
        assert!(*g);
    });
}

#[test]
fn producer_consumer_hands_over_every_item() {
    both(|| {
        let state = Arc::new((Mutex::new((Vec::<u32>::new(), false)), Condvar::new()));
        let consumer = {
            let s = state.clone();
            thread::spawn(move || {
                let (m, c) = &*s;
                let mut got = Vec::new();
                let mut g = m.lock().unwrap();
                loop {
                    got.append(&mut g.0);
                    if g.1 {
                        break;
                    }
                    g = c.wait(g).unwrap();
                }
                got
            })
        };
        for i in 0..1000 {
            let (m, c) = &*state;
            m.lock().unwrap().0.push(i);
            c.notify_one();
            if i % 100 == 0 {
                thread::yield_now();
            }
        }
        {
            let (m, c) = &*state;
            m.lock().unwrap().1 = true;
            c.notify_all();
        }
        assert_eq!(consumer.join().unwrap(), (0..1000).collect::<Vec<_>>());
    });
}

#[test]
fn a_poisoned_mutex_is_reported_by_wait() {
    both(|| {
        let pair = Arc::new((Mutex::new(0), Condvar::new()));
        let p2 = pair.clone();
        let waiter = thread::spawn(move || {
            let (m, c) = &*p2;
            let g = m.lock().unwrap();
            let r = c.wait_while(g, |v| *v == 0);
            r.is_err()
        });
        thread::sleep(Duration::from_millis(10));
        let p3 = pair.clone();
        let _ = thread::spawn(move || {
            let mut g = p3.0.lock().unwrap();
            *g = 1;
            p3.1.notify_all();
            panic!("poison while notifying");
        })
        .join();
        assert!(
            waiter.join().unwrap(),
            "wait returns Err for a poisoned mutex"
        );
    });
}

#[test]
fn condvar_is_default_and_debug() {
    let c = Condvar::default();
    c.notify_one(); // nobody waiting: nothing happens
    c.notify_all();
    assert!(format!("{c:?}").starts_with("Condvar"));
}
