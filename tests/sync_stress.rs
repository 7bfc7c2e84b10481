//! Stress for `smarm::sync`: lost messages, lost wake-ups and lock hand-offs under load, on a
//! two-worker runtime, mixing green and OS threads.

use smarm::rt::{self, Config};
use smarm::sync::{Arc, Condvar, Mutex, mpsc};
use smarm::thread;

#[test]
fn sixty_four_senders_ten_thousand_each_nothing_lost_or_duplicated() {
    rt::run(Config::new().workers(2), || {
        let (tx, rx) = mpsc::channel::<(u32, u32)>();
        for s in 0..64 {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..10_000 {
                    tx.send((s, i)).unwrap();
                    if i % 1000 == 0 {
                        thread::yield_now();
                    }
                }
            });
        }
        drop(tx);
        let mut next = vec![0u32; 64];
        let mut total = 0u64;
        for (s, i) in rx {
            assert_eq!(
                next[s as usize], i,
                "sender {s}: lost, duplicated or reordered"
            );
            next[s as usize] += 1;
            total += 1;
        }
        assert_eq!(total, 640_000);
        assert!(next.iter().all(|&n| n == 10_000));
    });
}

#[test]
fn bounded_and_rendezvous_channels_under_load() {
    for cap in [0usize, 1, 16] {
        rt::run(Config::new().workers(2), move || {
            let (tx, rx) = mpsc::sync_channel::<u64>(cap);
            let producers: Vec<_> = (0..8)
                .map(|p| {
                    let tx = tx.clone();
                    thread::spawn(move || {
                        for i in 0..2_000u64 {
                            tx.send(p * 1_000_000 + i).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let sum: u64 = rx.iter().sum();
            for p in producers {
                p.join().unwrap();
            }
            let expect: u64 = (0..8u64)
                .map(|p| p * 1_000_000 * 2000 + 1999 * 2000 / 2)
                .sum();
            assert_eq!(sum, expect, "cap {cap}");
        });
    }
}

/// Condvar notify racing wait: a turn passed back and forth 20k times, each hand-off a wait
/// that must not miss its notify.
#[test]
fn condvar_ping_pong_loses_no_wakeup() {
    fn run(rounds: u32, green_peer: bool) {
        let state = Arc::new((Mutex::new(0u32), Condvar::new()));
        let s2 = state.clone();
        let peer = move || {
            let (m, c) = &*s2;
            for i in 0..rounds {
                let mut g = c
                    .wait_while(m.lock().unwrap(), |t| *t != 2 * i + 1)
                    .unwrap();
                *g += 1;
                c.notify_one();
            }
        };
        let h: Box<dyn FnOnce()> = if green_peer {
            let h = thread::spawn(peer);
            Box::new(move || h.join().unwrap())
        } else {
            let h = std::thread::spawn(peer);
            Box::new(move || h.join().unwrap())
        };
        let (m, c) = &*state;
        for i in 0..rounds {
            let mut g = c.wait_while(m.lock().unwrap(), |t| *t != 2 * i).unwrap();
            *g += 1;
            c.notify_one();
        }
        h();
        assert_eq!(*m.lock().unwrap(), 2 * rounds);
    }
    rt::run(Config::new().workers(2), || {
        run(20_000, true);
        run(5_000, false);
    });
}

/// Lock hand-off under contention: every increment counted, with yields inside the critical
/// section to force waiters to queue.
#[test]
fn contended_mutex_counts_every_increment() {
    rt::run(Config::new().workers(2), || {
        let m = Arc::new(Mutex::new(0u64));
        let hs: Vec<_> = (0..16)
            .map(|k| {
                let m = m.clone();
                thread::spawn(move || {
                    for i in 0..5_000u64 {
                        let mut g = m.lock().unwrap();
                        *g += 1;
                        if (i + k) % 97 == 0 {
                            thread::yield_now(); // hold the lock across a switch
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*m.lock().unwrap(), 80_000);
    });
}

#[test]
fn lock_timeout_gives_up_and_later_succeeds() {
    let m = Arc::new(Mutex::new(1));
    let g = m.lock().unwrap();
    let m2 = m.clone();
    let r = thread::spawn(move || {
        let t = std::time::Instant::now();
        let r = m2
            .lock_timeout(std::time::Duration::from_millis(20))
            .is_err();
        (r, t.elapsed())
    })
    .join()
    .unwrap();
    assert!(r.0, "timed out while held");
    assert!(r.1 >= std::time::Duration::from_millis(20));
    drop(g);
    assert_eq!(
        *m.lock_timeout(std::time::Duration::from_millis(20))
            .unwrap(),
        1
    );
}
