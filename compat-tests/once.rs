//! `std::sync::{Once, OnceLock, LazyLock}` parity, differential: builds and passes against std and
//! against smarm with only the `use` lines differing (`--features compat-std` selects std).

#[cfg(not(feature = "compat-std"))]
use smarm::{
    sync::Arc, sync::LazyLock, sync::Once, sync::OnceLock, sync::OnceState, sync::mpsc, thread,
};
#[cfg(feature = "compat-std")]
use std::{
    sync::Arc, sync::LazyLock, sync::Once, sync::OnceLock, sync::OnceState, sync::mpsc, thread,
};

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, RefUnwindSafe, UnwindSafe, catch_unwind};
use std::rc::Rc;
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

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic>".into()
    }
}

// ---------------------------------------------------------------------------------------- Once

#[test]
fn once_runs_exactly_one_initialiser_and_the_others_see_its_effects() {
    both(|| {
        for _ in 0..20 {
            let once = Arc::new(Once::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let value = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..8)
                .map(|i| {
                    let (once, runs, value) = (once.clone(), runs.clone(), value.clone());
                    thread::spawn(move || {
                        once.call_once(|| {
                            runs.fetch_add(1, Ordering::SeqCst);
                            for _ in 0..3 {
                                thread::yield_now();
                            }
                            value.store(100 + i, Ordering::Relaxed);
                        });
                        // Whoever ran it, it has completed by now.
                        assert!(once.is_completed());
                        value.load(Ordering::Relaxed)
                    })
                })
                .collect();
            let seen: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(runs.load(Ordering::SeqCst), 1);
            assert!(seen[0] >= 100);
            assert!(seen.iter().all(|&v| v == seen[0]), "{seen:?}");
        }
    });
}

#[test]
fn once_is_completed_and_later_calls_do_nothing() {
    both(|| {
        static O: Once = Once::new();
        let o = Once::new();
        assert!(!o.is_completed());
        let mut n = 0;
        o.call_once(|| n += 1);
        assert!(o.is_completed());
        o.call_once(|| n += 1);
        o.call_once_force(|_| n += 1);
        assert_eq!(n, 1);
        O.call_once(|| {});
        assert!(O.is_completed());
    });
}

#[test]
fn a_panicking_initialiser_poisons_and_call_once_force_recovers() {
    both(|| {
        let once = Arc::new(Once::new());
        let o2 = once.clone();
        let r = thread::spawn(move || o2.call_once(|| panic!("init fails"))).join();
        assert_eq!(panic_message(r.unwrap_err()), "init fails");
        assert!(!once.is_completed());
        // call_once on a poisoned Once panics (and does not run its closure).
        let ran = AtomicBool::new(false);
        let r = catch_unwind(AssertUnwindSafe(|| {
            once.call_once(|| ran.store(true, Ordering::SeqCst))
        }));
        assert_eq!(
            panic_message(r.unwrap_err()),
            "Once instance has previously been poisoned"
        );
        assert!(!ran.load(Ordering::SeqCst));
        // A panicking call_once_force keeps it poisoned.
        let r = catch_unwind(AssertUnwindSafe(|| {
            once.call_once_force(|s| {
                assert!(s.is_poisoned());
                panic!("again")
            })
        }));
        assert!(r.is_err());
        assert!(!once.is_completed());
        let mut poisoned = None;
        once.call_once_force(|s| poisoned = Some(s.is_poisoned()));
        assert_eq!(poisoned, Some(true));
        assert!(once.is_completed());
        once.call_once(|| unreachable!());
        once.wait();
    });
}

#[test]
fn call_once_force_on_a_fresh_once_is_not_poisoned_and_state_debug() {
    both(|| {
        let once = Once::new();
        let mut dbg = String::new();
        once.call_once_force(|s: &OnceState| {
            assert!(!s.is_poisoned());
            dbg = format!("{s:?}");
        });
        assert_eq!(dbg, "OnceState { poisoned: false }");
        assert_eq!(format!("{once:?}"), "Once { .. }");
        let p = Once::new();
        let _ = catch_unwind(|| p.call_once(|| panic!("x")));
        p.call_once_force(|s| dbg = format!("{s:?}"));
        assert_eq!(dbg, "OnceState { poisoned: true }");
    });
}

#[test]
fn waiters_block_until_the_running_initialiser_completes() {
    both(|| {
        let once = Arc::new(Once::new());
        let value = Arc::new(AtomicUsize::new(0));
        let (in_tx, in_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (o, v) = (once.clone(), value.clone());
        let runner = thread::spawn(move || {
            o.call_once(|| {
                in_tx.send(()).unwrap();
                go_rx.recv().unwrap(); // hold the Once running until told
                v.store(9, Ordering::SeqCst);
            })
        });
        in_rx.recv().unwrap();
        let waiters: Vec<_> = (0..4)
            .map(|k| {
                let (o, v) = (once.clone(), value.clone());
                thread::spawn(move || {
                    match k {
                        0 => o.call_once(|| unreachable!()),
                        1 => o.call_once_force(|_| unreachable!()),
                        2 => o.wait(),
                        _ => o.wait_force(),
                    }
                    v.load(Ordering::SeqCst)
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        assert!(!once.is_completed());
        go_tx.send(()).unwrap();
        runner.join().unwrap();
        for w in waiters {
            assert_eq!(w.join().unwrap(), 9);
        }
    });
}

#[test]
fn force_waiters_of_a_panicking_initialiser_take_over_one_at_a_time() {
    both(|| {
        let once = Arc::new(Once::new());
        let (in_tx, in_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let o = once.clone();
        let runner = thread::spawn(move || {
            o.call_once(|| {
                in_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                panic!("first init fails");
            })
        });
        in_rx.recv().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let (o, ran) = (once.clone(), ran.clone());
                thread::spawn(move || {
                    let mut saw = None;
                    o.call_once_force(|s| {
                        ran.fetch_add(1, Ordering::SeqCst);
                        saw = Some(s.is_poisoned());
                    });
                    saw
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        go_tx.send(()).unwrap();
        assert!(runner.join().is_err());
        let saw: Vec<_> = waiters.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(
            saw.iter().filter(|s| **s == Some(true)).count(),
            1,
            "{saw:?}"
        );
        assert_eq!(saw.iter().filter(|s| s.is_none()).count(), 3, "{saw:?}");
        assert!(once.is_completed());
    });
}

#[test]
fn wait_blocks_until_completed_from_another_thread() {
    both(|| {
        let once = Arc::new(Once::new());
        let returned = Arc::new(AtomicBool::new(false));
        let (o, r) = (once.clone(), returned.clone());
        let h = thread::spawn(move || {
            o.wait();
            r.store(true, Ordering::SeqCst);
        });
        thread::sleep(Duration::from_millis(20));
        assert!(!returned.load(Ordering::SeqCst), "wait returned early");
        once.call_once(|| {});
        h.join().unwrap();
        assert!(returned.load(Ordering::SeqCst));
    });
}

#[test]
fn wait_panics_on_poison_and_wait_force_waits_through_it() {
    both(|| {
        let once = Arc::new(Once::new());
        // A waiter parked before the initialiser panics is woken and panics.
        let o = once.clone();
        let early = thread::spawn(move || catch_unwind(AssertUnwindSafe(|| o.wait())).is_err());
        let o = once.clone();
        let forced = thread::spawn(move || {
            o.wait_force();
            o.is_completed()
        });
        thread::sleep(Duration::from_millis(20));
        let o = once.clone();
        let _ = thread::spawn(move || o.call_once(|| panic!("poison"))).join();
        assert!(early.join().unwrap(), "wait on a poisoned Once must panic");
        let r = catch_unwind(AssertUnwindSafe(|| once.wait()));
        assert_eq!(
            panic_message(r.unwrap_err()),
            "Once instance has previously been poisoned"
        );
        // wait_force is still waiting: poison is not completion.
        thread::sleep(Duration::from_millis(10));
        assert!(!forced.is_finished());
        once.call_once_force(|s| assert!(s.is_poisoned()));
        assert!(forced.join().unwrap());
        once.wait();
    });
}

#[test]
fn once_bounds_match_std() {
    assert!(implements!(Once: Send));
    assert!(implements!(Once: Sync));
    assert!(implements!(Once: UnwindSafe));
    assert!(implements!(Once: RefUnwindSafe));
}

/// std's `OnceState` carries a `Cell`, so it is neither `Sync` nor `RefUnwindSafe`.
#[test]
fn once_state_bounds_match_std() {
    assert!(implements!(OnceState: Send));
    assert!(!implements!(OnceState: Sync));
    assert!(implements!(OnceState: UnwindSafe));
    assert!(!implements!(OnceState: RefUnwindSafe));
}

// ------------------------------------------------------------------------------------ OnceLock

#[test]
fn once_lock_get_or_init_race_has_one_winner() {
    both(|| {
        for _ in 0..20 {
            let cell = Arc::new(OnceLock::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..8)
                .map(|i| {
                    let (cell, runs) = (cell.clone(), runs.clone());
                    thread::spawn(move || {
                        *cell.get_or_init(|| {
                            runs.fetch_add(1, Ordering::SeqCst);
                            thread::yield_now();
                            i
                        })
                    })
                })
                .collect();
            let seen: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(runs.load(Ordering::SeqCst), 1);
            assert!(seen.iter().all(|&v| v == seen[0]));
            assert_eq!(cell.get(), Some(&seen[0]));
        }
    });
}

#[test]
fn once_lock_set_race_hands_the_losers_their_values_back() {
    both(|| {
        let cell = Arc::new(OnceLock::new());
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let cell = cell.clone();
                thread::spawn(move || (i, cell.set(format!("v{i}"))))
            })
            .collect();
        let mut winners = Vec::new();
        for h in hs {
            let (i, r) = h.join().unwrap();
            match r {
                Ok(()) => winners.push(i),
                Err(v) => assert_eq!(v, format!("v{i}")),
            }
        }
        assert_eq!(winners.len(), 1);
        assert_eq!(cell.get(), Some(&format!("v{}", winners[0])));
    });
}

#[test]
fn once_lock_wait_blocks_until_set_from_another_thread() {
    both(|| {
        let cell = Arc::new(OnceLock::new());
        let c = cell.clone();
        let h = thread::spawn(move || *c.wait());
        thread::sleep(Duration::from_millis(20));
        assert!(!h.is_finished());
        cell.set(11).unwrap();
        assert_eq!(h.join().unwrap(), 11);
        assert_eq!(*cell.wait(), 11);
    });
}

/// The same stranding as compat_rwlock's
/// `a_woken_writer_runs_while_its_waker_is_blocked_in_a_std_call`, through a `OnceLock`: the
/// setter wakes a green waiter and then blocks in a plain `std` call. Under std the waiter runs
/// at once; under smarm it sits in the setter's worker's run-next slot until the setter makes a
/// smarm call.
#[test]
fn once_lock_a_woken_waiter_runs_while_the_setter_is_blocked_in_a_std_call() {
    thread::spawn(|| {
        let cell = Arc::new(OnceLock::new());
        let got = Arc::new(AtomicBool::new(false));
        let (c, g) = (cell.clone(), got.clone());
        let h = thread::spawn(move || {
            c.wait();
            g.store(true, Ordering::SeqCst);
        });
        thread::sleep(Duration::from_millis(20)); // let it park in wait()
        cell.set(1).unwrap(); // wakes the waiter
        let t0 = std::time::Instant::now();
        while !got.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(1)); // a blocking std call
        }
        assert!(
            got.load(Ordering::SeqCst),
            "the woken waiter did not run while the setter was blocked"
        );
        h.join().unwrap();
    })
    .join()
    .unwrap();
}

#[test]
fn once_lock_a_thread_unwinding_can_wait_for_it_in_drop() {
    struct WaitInDrop(Arc<OnceLock<u32>>, mpsc::Sender<()>);
    impl Drop for WaitInDrop {
        fn drop(&mut self) {
            self.1.send(()).unwrap();
            assert_eq!(*self.0.wait(), 4);
        }
    }
    both(|| {
        let cell = Arc::new(OnceLock::new());
        let (tx, rx) = mpsc::channel();
        let c = cell.clone();
        let h = thread::spawn(move || {
            let _w = WaitInDrop(c, tx);
            panic!("unwind into a wait");
        });
        rx.recv().unwrap();
        thread::sleep(Duration::from_millis(5));
        cell.set(4).unwrap();
        assert!(h.join().is_err());
    });
}

#[test]
fn once_lock_get_mut_take_into_inner() {
    both(|| {
        let mut c: OnceLock<Vec<u8>> = OnceLock::new();
        assert_eq!(c.get(), None);
        assert_eq!(c.get_mut(), None);
        assert_eq!(c.take(), None);
        c.set(vec![1]).unwrap();
        c.get_mut().unwrap().push(2);
        assert_eq!(c.get(), Some(&vec![1, 2]));
        assert_eq!(c.take(), Some(vec![1, 2]));
        assert_eq!(c.get(), None);
        // Empty again: it can be set again.
        c.set(vec![3]).unwrap();
        assert_eq!(c.set(vec![4]), Err(vec![4]));
        assert_eq!(c.into_inner(), Some(vec![3]));
        let e: OnceLock<u8> = OnceLock::default();
        assert_eq!(e.into_inner(), None);
    });
}

#[test]
fn once_lock_clone_from_eq_debug() {
    both(|| {
        let a = OnceLock::from(5);
        let b = a.clone();
        assert_eq!(b.get(), Some(&5));
        assert_eq!(a, b);
        let e: OnceLock<i32> = OnceLock::new();
        assert_ne!(a, e);
        assert_eq!(e, OnceLock::new());
        let ec = e.clone();
        assert_eq!(ec.get(), None);
        assert_eq!(format!("{a:?}"), "OnceLock(5)");
        assert_eq!(format!("{e:?}"), "OnceLock(<uninit>)");
        assert_eq!(format!("{:?}", OnceLock::from("s")), "OnceLock(\"s\")");
    });
}

#[test]
fn once_lock_a_panicking_initialiser_leaves_it_empty() {
    both(|| {
        let cell = Arc::new(OnceLock::new());
        let c = cell.clone();
        let r = thread::spawn(move || *c.get_or_init(|| panic!("no value"))).join();
        assert!(r.is_err());
        assert_eq!(cell.get(), None);
        assert_eq!(format!("{cell:?}"), "OnceLock(<uninit>)");
        assert_eq!(*cell.get_or_init(|| 7), 7);
        assert_eq!(cell.set(8), Err(8));
        // And after a panic, set works too.
        let c2: OnceLock<u8> = OnceLock::new();
        let _ = catch_unwind(|| c2.get_or_init(|| panic!("x")));
        assert_eq!(c2.set(1), Ok(()));
    });
}

#[test]
fn once_lock_drops_its_value_exactly_once() {
    struct D(Arc<AtomicUsize>);
    impl Drop for D {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    both(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        {
            let c = OnceLock::new();
            assert!(c.set(D(drops.clone())).is_ok());
            let back = c.set(D(drops.clone())).unwrap_err();
            drop(back);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        }
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        {
            let mut c = OnceLock::from(D(drops.clone()));
            let taken = c.take();
            assert_eq!(drops.load(Ordering::SeqCst), 2);
            drop(taken);
            assert_eq!(drops.load(Ordering::SeqCst), 3);
        }
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        {
            let c: OnceLock<D> = OnceLock::new();
            drop(c);
        }
        let c = OnceLock::from(D(drops.clone()));
        let inner = c.into_inner();
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        drop(inner);
        assert_eq!(drops.load(Ordering::SeqCst), 4);
        // Shared between threads: dropped once, by the last Arc.
        let c = Arc::new(OnceLock::new());
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (c, d) = (c.clone(), drops.clone());
                thread::spawn(move || {
                    c.get_or_init(|| D(d));
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        drop(c);
        assert_eq!(drops.load(Ordering::SeqCst), 5);
    });
}

#[test]
fn once_lock_in_a_static() {
    static CELL: OnceLock<String> = OnceLock::new();
    both(|| {
        let v = CELL.get_or_init(|| "first".to_string());
        assert_eq!(v, "first");
    });
}

#[test]
fn once_lock_bounds_match_std() {
    type O<T> = OnceLock<T>;
    assert!(implements!(O<u8>: Send));
    assert!(implements!(O<u8>: Sync));
    assert!(implements!(O<Cell<u8>>: Send));
    assert!(!implements!(O<Cell<u8>>: Sync));
    assert!(!implements!(O<Rc<u8>>: Send));
    assert!(implements!(O<u8>: UnwindSafe));
    assert!(implements!(O<u8>: RefUnwindSafe));
    assert!(!implements!(O<Cell<u8>>: RefUnwindSafe));
    assert!(implements!(O<Cell<u8>>: UnwindSafe));
    assert!(!implements!(O<&'static mut u8>: UnwindSafe));
}

// ------------------------------------------------------------------------------------ LazyLock

#[test]
fn lazy_lock_initialises_exactly_once_among_racing_threads() {
    both(|| {
        for _ in 0..20 {
            let runs = Arc::new(AtomicUsize::new(0));
            let r2 = runs.clone();
            let lazy = Arc::new(LazyLock::new(move || {
                r2.fetch_add(1, Ordering::SeqCst);
                thread::yield_now();
                vec![1, 2, 3]
            }));
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    let lazy = lazy.clone();
                    thread::spawn(move || lazy.iter().sum::<i32>())
                })
                .collect();
            for h in hs {
                assert_eq!(h.join().unwrap(), 6);
            }
            assert_eq!(runs.load(Ordering::SeqCst), 1);
        }
    });
}

#[test]
fn lazy_lock_deref_force_get() {
    both(|| {
        let mut lazy = LazyLock::new(|| 40);
        assert_eq!(LazyLock::get(&lazy), None);
        assert_eq!(LazyLock::get_mut(&mut lazy), None);
        assert_eq!(format!("{lazy:?}"), "LazyLock(<uninit>)");
        assert_eq!(*LazyLock::force(&lazy), 40);
        assert_eq!(LazyLock::get(&lazy), Some(&40));
        *lazy += 2;
        assert_eq!(*lazy, 42);
        *LazyLock::get_mut(&mut lazy).unwrap() += 1;
        assert_eq!(format!("{lazy:?}"), "LazyLock(43)");

        let mut m = LazyLock::new(|| String::from("a"));
        LazyLock::force_mut(&mut m).push('b');
        assert_eq!(LazyLock::get(&m).map(String::as_str), Some("ab"));
        assert_eq!(&*m, "ab");

        let mut d = LazyLock::new(|| 1);
        *d = 5; // DerefMut forces, then writes
        assert_eq!(*d, 5);

        let dflt: LazyLock<Vec<u8>> = LazyLock::default();
        assert!(dflt.is_empty());
    });
}

#[test]
fn lazy_lock_a_panicking_initialiser_poisons_it() {
    both(|| {
        let lazy = Arc::new(LazyLock::new(|| -> u32 { panic!("lazy init fails") }));
        let l = lazy.clone();
        let r = thread::spawn(move || **l).join();
        assert_eq!(panic_message(r.unwrap_err()), "lazy init fails");
        for _ in 0..2 {
            let l = lazy.clone();
            let r = thread::spawn(move || *LazyLock::force(&l)).join();
            assert_eq!(
                panic_message(r.unwrap_err()),
                "LazyLock instance has previously been poisoned"
            );
        }
        assert_eq!(LazyLock::get(&lazy), None);
        assert_eq!(format!("{lazy:?}"), "LazyLock(<uninit>)");
        let mut lazy = Arc::try_unwrap(lazy).unwrap_or_else(|_| panic!("shared"));
        assert_eq!(LazyLock::get_mut(&mut lazy), None);
        let r = catch_unwind(AssertUnwindSafe(|| *LazyLock::force_mut(&mut lazy)));
        assert_eq!(
            panic_message(r.unwrap_err()),
            "LazyLock instance has previously been poisoned"
        );
    });
}

#[test]
fn lazy_lock_threads_waiting_on_a_panicking_initialiser_panic_poisoned() {
    both(|| {
        let (in_tx, in_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let go_rx = std::sync::Mutex::new(go_rx);
        let lazy = Arc::new(LazyLock::new(move || -> u32 {
            in_tx.send(()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
            panic!("slow init fails")
        }));
        let l = lazy.clone();
        let first = thread::spawn(move || **l);
        in_rx.recv().unwrap();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let l = lazy.clone();
                thread::spawn(move || **l)
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        go_tx.send(()).unwrap();
        assert_eq!(panic_message(first.join().unwrap_err()), "slow init fails");
        for h in waiters {
            assert_eq!(
                panic_message(h.join().unwrap_err()),
                "LazyLock instance has previously been poisoned"
            );
        }
    });
}

#[test]
fn lazy_lock_force_mut_panic_poisons_it() {
    both(|| {
        let mut lazy = LazyLock::new(|| -> u32 { panic!("force_mut init fails") });
        let r = catch_unwind(AssertUnwindSafe(|| *LazyLock::force_mut(&mut lazy)));
        assert_eq!(panic_message(r.unwrap_err()), "force_mut init fails");
        let r = catch_unwind(AssertUnwindSafe(|| *LazyLock::force(&lazy)));
        assert_eq!(
            panic_message(r.unwrap_err()),
            "LazyLock instance has previously been poisoned"
        );
    });
}

#[test]
fn lazy_lock_waiters_see_the_value_of_a_slow_initialiser() {
    both(|| {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (in_tx, in_rx) = mpsc::channel();
        let go_rx = std::sync::Mutex::new(go_rx);
        let lazy = Arc::new(LazyLock::new(move || {
            in_tx.send(()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
            99u64
        }));
        let l = lazy.clone();
        let first = thread::spawn(move || *LazyLock::force(&l));
        in_rx.recv().unwrap();
        let others: Vec<_> = (0..4)
            .map(|_| {
                let l = lazy.clone();
                thread::spawn(move || **l)
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        assert_eq!(LazyLock::get(&lazy), None);
        go_tx.send(()).unwrap();
        assert_eq!(first.join().unwrap(), 99);
        for h in others {
            assert_eq!(h.join().unwrap(), 99);
        }
    });
}

#[test]
fn lazy_lock_drops_value_or_closure_once() {
    struct D(Arc<AtomicUsize>);
    impl Drop for D {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    both(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        {
            // Never forced: the closure (owning a D) is dropped.
            let d = D(drops.clone());
            let _lazy = LazyLock::new(move || d.0.load(Ordering::SeqCst));
        }
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        {
            let d = drops.clone();
            let lazy = LazyLock::new(move || D(d));
            let _ = &*lazy;
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        }
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn lazy_lock_in_a_static() {
    static L: LazyLock<Vec<u32>> = LazyLock::new(|| (0..10).collect());
    both(|| {
        let h = thread::spawn(|| L.iter().sum::<u32>());
        assert_eq!(h.join().unwrap(), 45);
        assert_eq!(L.len(), 10);
    });
}

#[test]
fn lazy_lock_bounds_match_std() {
    type L<T> = LazyLock<T, fn() -> T>;
    assert!(implements!(L<u8>: Send));
    assert!(implements!(L<u8>: Sync));
    assert!(!implements!(L<Cell<u8>>: Sync));
    assert!(implements!(L<Cell<u8>>: Send));
    assert!(!implements!(L<Rc<u8>>: Send));
    assert!(implements!(L<u8>: UnwindSafe));
    assert!(implements!(L<u8>: RefUnwindSafe));
    assert!(!implements!(L<Cell<u8>>: RefUnwindSafe));
    assert!(implements!(L<Cell<u8>>: UnwindSafe));
    assert!(!implements!(L<&'static mut u8>: UnwindSafe));
}

/// std's `dropck` test (std/tests/sync/once_lock.rs): the cell may outlive a value it borrows,
/// because dropping it never touches a `&T` (std's `Drop` is `#[may_dangle]`). This only has
/// to compile.
#[test]
fn once_lock_may_outlive_what_it_borrows() {
    both(|| {
        let cell = OnceLock::new();
        {
            let s = String::new();
            cell.set(&s).unwrap();
        }
    });
    // The same when the borrow is written by `get_or_init`.
    both(|| {
        let cell: OnceLock<&String> = OnceLock::new();
        {
            let s = String::from("x");
            assert_eq!(cell.get_or_init(|| &s).len(), 1);
        }
    });
}

/// Without a `Drop` impl the value is still dropped once, when the cell is, and `take` leaves
/// nothing behind to drop.
#[test]
fn once_lock_value_dropped_by_drop_glue() {
    both(|| {
        let drops = Rc::new(Cell::new(0));
        struct D(Rc<Cell<u32>>);
        impl Drop for D {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let cell = OnceLock::new();
        let _ = cell.set(D(drops.clone()));
        drop(cell);
        assert_eq!(drops.get(), 1);
        let mut cell = OnceLock::new();
        let _ = cell.set(D(drops.clone()));
        let taken = cell.take();
        drop(cell);
        assert_eq!(drops.get(), 1);
        drop(taken);
        assert_eq!(drops.get(), 2);
    });
}
