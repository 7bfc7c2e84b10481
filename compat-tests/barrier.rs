//! `std::sync::Barrier` parity, differential: builds and passes against std and against smarm
//! with only the `use` lines differing (`--features compat-std` selects std).

#[cfg(not(feature = "compat-std"))]
use smarm::{sync::Arc, sync::Barrier, sync::BarrierWaitResult, sync::mpsc, thread};
#[cfg(feature = "compat-std")]
use std::{sync::Arc, sync::Barrier, sync::BarrierWaitResult, sync::mpsc, thread};

use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

mod common;
use common::both;

/// Whether a concrete type implements a trait (inherent associated consts win over trait ones
/// only where the bound holds).
macro_rules! implements {
    ($t:ty: $($tr:tt)+) => {{
        #[allow(dead_code)]
        trait No {
            const YES: bool = false;
        }
        impl<T: ?Sized> No for T {}
        struct Probe<T: ?Sized>(std::marker::PhantomData<T>);
        #[allow(dead_code)]
        impl<T: ?Sized + $($tr)+> Probe<T> {
            const YES: bool = true;
        }
        <Probe<$t>>::YES
    }};
}

#[test]
fn n_threads_meet_and_exactly_one_leads() {
    both(|| {
        const N: usize = 10;
        let b = Arc::new(Barrier::new(N));
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.wait().is_leader())
            })
            .collect();
        let leaders = hs.into_iter().filter(|_| true).map(|h| h.join().unwrap());
        assert_eq!(leaders.filter(|&l| l).count(), 1);
    });
}

#[test]
fn nobody_passes_before_the_last_arrives() {
    both(|| {
        const N: usize = 5;
        let b = Arc::new(Barrier::new(N));
        let passed = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..N - 1)
            .map(|_| {
                let (b, passed) = (b.clone(), passed.clone());
                thread::spawn(move || {
                    b.wait();
                    passed.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        assert_eq!(passed.load(Ordering::SeqCst), 0, "someone passed early");
        // The last arrival is the leader and releases the others.
        assert!(b.wait().is_leader());
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(passed.load(Ordering::SeqCst), N - 1);
    });
}

#[test]
fn reusable_over_many_rounds_one_leader_each_and_no_one_runs_ahead() {
    both(|| {
        const N: usize = 6;
        const ROUNDS: usize = 200;
        let b = Arc::new(Barrier::new(N));
        let arrived = Arc::new(AtomicUsize::new(0));
        let leaders: Arc<Vec<AtomicUsize>> =
            Arc::new((0..ROUNDS).map(|_| AtomicUsize::new(0)).collect());
        let hs: Vec<_> = (0..N)
            .map(|i| {
                let (b, arrived, leaders) = (b.clone(), arrived.clone(), leaders.clone());
                thread::spawn(move || {
                    for round in 0..ROUNDS {
                        // Nobody of a later round has arrived yet: at most the rest of this
                        // round has.
                        let before = arrived.fetch_add(1, Ordering::SeqCst);
                        assert!(before < (round + 1) * N, "someone ran a round ahead");
                        if (i + round) % 7 == 0 {
                            thread::yield_now();
                        }
                        if b.wait().is_leader() {
                            leaders[round].fetch_add(1, Ordering::SeqCst);
                        }
                        // Everybody of this round arrived before anyone left it.
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
fn zero_and_one_never_block_and_always_lead() {
    both(|| {
        for n in [0, 1] {
            let b = Barrier::new(n);
            for _ in 0..5 {
                assert!(b.wait().is_leader(), "Barrier::new({n})");
            }
        }
    });
}

#[test]
fn const_new_in_a_static() {
    static B: Barrier = Barrier::new(2);
    both(|| {
        let h = thread::spawn(|| B.wait().is_leader());
        let me = B.wait().is_leader();
        let other = h.join().unwrap();
        assert!(me ^ other, "exactly one of two leads");
    });
}

#[test]
fn os_and_green_threads_meet_at_one_barrier() {
    both(|| {
        const N: usize = 6;
        const ROUNDS: usize = 50;
        let b = Arc::new(Barrier::new(N));
        let (tx, rx) = mpsc::channel();
        let mut hs = Vec::new();
        for k in 0..N {
            let (b, tx) = (b.clone(), tx.clone());
            let f = move || {
                for round in 0..ROUNDS {
                    if b.wait().is_leader() {
                        tx.send(round).unwrap();
                    }
                }
            };
            if k % 2 == 0 {
                hs.push(thread::spawn(f));
            } else {
                let h = std::thread::spawn(f);
                hs.push(thread::spawn(move || h.join().unwrap()));
            }
        }
        drop(tx);
        for h in hs {
            h.join().unwrap();
        }
        let rounds: Vec<usize> = rx.iter().collect();
        assert_eq!(rounds, (0..ROUNDS).collect::<Vec<_>>());
    });
}

#[test]
fn the_main_thread_can_be_the_one_everybody_waits_for() {
    both(|| {
        let b = Arc::new(Barrier::new(3));
        let released = Arc::new(AtomicBool::new(false));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (b, released) = (b.clone(), released.clone());
                thread::spawn(move || {
                    let leader = b.wait().is_leader();
                    assert!(released.load(Ordering::SeqCst));
                    leader
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(10));
        released.store(true, Ordering::SeqCst);
        let me = b.wait().is_leader();
        let others: usize = hs.into_iter().map(|h| h.join().unwrap() as usize).sum();
        assert_eq!(me as usize + others, 1);
    });
}

#[test]
fn debug_formats() {
    both(|| {
        let b = Barrier::new(1);
        assert_eq!(format!("{b:?}"), "Barrier { .. }");
        let r: BarrierWaitResult = b.wait();
        assert_eq!(format!("{r:?}"), "BarrierWaitResult { is_leader: true }");
        let b2 = Arc::new(Barrier::new(2));
        let b3 = b2.clone();
        let h = thread::spawn(move || format!("{:?}", b3.wait()));
        let mine = format!("{:?}", b2.wait());
        let theirs = h.join().unwrap();
        let mut both = [mine, theirs];
        both.sort();
        assert_eq!(
            both,
            [
                "BarrierWaitResult { is_leader: false }".to_string(),
                "BarrierWaitResult { is_leader: true }".to_string()
            ]
        );
    });
}

#[test]
fn send_sync_and_unwind_bounds_match_std() {
    assert!(implements!(Barrier: Send));
    assert!(implements!(Barrier: Sync));
    assert!(implements!(Barrier: UnwindSafe));
    assert!(implements!(Barrier: RefUnwindSafe));
    assert!(implements!(BarrierWaitResult: Send));
    assert!(implements!(BarrierWaitResult: Sync));
    assert!(implements!(BarrierWaitResult: UnwindSafe));
    assert!(implements!(BarrierWaitResult: RefUnwindSafe));
}
