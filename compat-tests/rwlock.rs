//! `std::sync::RwLock` parity, differential: builds and passes against std and against smarm with
//! only the `use` lines differing (`--features compat-std` selects std).

#[cfg(not(feature = "compat-std"))]
use smarm::{
    sync::Arc, sync::RwLock, sync::RwLockReadGuard, sync::RwLockWriteGuard, sync::TryLockError,
    sync::mpsc, thread,
};
#[cfg(feature = "compat-std")]
use std::{
    sync::Arc, sync::RwLock, sync::RwLockReadGuard, sync::RwLockWriteGuard, sync::TryLockError,
    sync::mpsc, thread,
};

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, RefUnwindSafe, UnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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

/// Spins (yielding) until `cond` holds; panics after 5 s so a bug fails instead of hanging.
fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::yield_now();
    }
}

#[test]
fn many_readers_hold_the_lock_at_once() {
    both(|| {
        const N: usize = 8;
        let lock = Arc::new(RwLock::new(7u32));
        let inside = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let (lock, inside) = (lock.clone(), inside.clone());
                thread::spawn(move || {
                    let g = lock.read().unwrap();
                    inside.fetch_add(1, Ordering::SeqCst);
                    // Every reader waits, still holding its guard, until all N are inside.
                    until("all readers inside", || inside.load(Ordering::SeqCst) == N);
                    *g
                })
            })
            .collect();
        for h in hs {
            assert_eq!(h.join().unwrap(), 7);
        }
    });
}

#[test]
fn a_writer_excludes_readers_and_other_writers() {
    both(|| {
        let lock = Arc::new(RwLock::new((0u64, 0u64)));
        let readers = Arc::new(AtomicUsize::new(0));
        let writers = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let (lock, readers, writers) = (lock.clone(), readers.clone(), writers.clone());
                thread::spawn(move || {
                    for j in 0..300 {
                        if (i + j) % 3 == 0 {
                            let mut g = lock.write().unwrap();
                            assert_eq!(writers.fetch_add(1, Ordering::SeqCst), 0);
                            assert_eq!(readers.load(Ordering::SeqCst), 0);
                            g.0 += 1;
                            if j % 7 == 0 {
                                thread::yield_now();
                            }
                            g.1 += 1;
                            writers.fetch_sub(1, Ordering::SeqCst);
                        } else {
                            let g = lock.read().unwrap();
                            readers.fetch_add(1, Ordering::SeqCst);
                            assert_eq!(writers.load(Ordering::SeqCst), 0);
                            if j % 5 == 0 {
                                thread::yield_now();
                            }
                            assert_eq!(g.0, g.1);
                            readers.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let writes = (0..8)
            .map(|i| (0..300).filter(|j| (i + j) % 3 == 0).count() as u64)
            .sum::<u64>();
        assert_eq!(*lock.read().unwrap(), (writes, writes));
    });
}

#[test]
fn try_read_and_try_write_would_block_while_held() {
    both(|| {
        let lock = Arc::new(RwLock::new(1));
        let w = lock.write().unwrap();
        let l2 = lock.clone();
        let (r, w2) = thread::spawn(move || {
            (
                matches!(l2.try_read(), Err(TryLockError::WouldBlock)),
                matches!(l2.try_write(), Err(TryLockError::WouldBlock)),
            )
        })
        .join()
        .unwrap();
        assert!(r && w2, "write-locked: try_read {r}, try_write {w2}");
        drop(w);

        let g = lock.read().unwrap();
        let l2 = lock.clone();
        let (r, w2) = thread::spawn(move || {
            (
                l2.try_read().map(|g| *g).ok(),
                matches!(l2.try_write(), Err(TryLockError::WouldBlock)),
            )
        })
        .join()
        .unwrap();
        assert_eq!(r, Some(1), "read-locked: a second reader gets in");
        assert!(w2, "read-locked: try_write would block");
        drop(g);
        *lock.try_write().unwrap() = 2;
        assert_eq!(*lock.try_read().unwrap(), 2);
    });
}

#[test]
fn a_blocked_writer_gets_in_when_the_last_reader_leaves() {
    both(|| {
        let lock = Arc::new(RwLock::new(Vec::new()));
        let r1 = lock.read().unwrap();
        let l2 = lock.clone();
        let r2 = thread::spawn(move || {
            // A second reader, held until told.
            let g = l2.read().unwrap();
            g.len()
        });
        assert_eq!(r2.join().unwrap(), 0);
        let started = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (l2, s2, d2) = (lock.clone(), started.clone(), done.clone());
        let h = thread::spawn(move || {
            s2.store(true, Ordering::SeqCst);
            l2.write().unwrap().push("writer");
            d2.store(true, Ordering::SeqCst);
        });
        until("writer started", || started.load(Ordering::SeqCst));
        thread::sleep(Duration::from_millis(20));
        assert!(!done.load(Ordering::SeqCst), "writer got in past a reader");
        drop(r1);
        h.join().unwrap();
        assert_eq!(*lock.read().unwrap(), vec!["writer"]);
    });
}

#[test]
fn readers_blocked_by_a_writer_all_get_in_when_it_leaves() {
    both(|| {
        let lock = Arc::new(RwLock::new(0u32));
        let mut w = lock.write().unwrap();
        let (tx, rx) = mpsc::channel();
        let inside = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..6)
            .map(|_| {
                let (lock, tx, inside) = (lock.clone(), tx.clone(), inside.clone());
                thread::spawn(move || {
                    let g = lock.read().unwrap();
                    tx.send(*g).unwrap();
                    inside.fetch_add(1, Ordering::SeqCst);
                    // Hold the read lock until every reader is in: they are in together.
                    until("all readers inside", || inside.load(Ordering::SeqCst) == 6);
                    drop(g);
                })
            })
            .collect();
        drop(tx);
        thread::sleep(Duration::from_millis(10));
        assert!(rx.try_recv().is_err(), "a reader got in past the writer");
        *w = 5;
        drop(w);
        let seen: Vec<u32> = (0..6)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        assert_eq!(seen, vec![5; 6]);
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn a_panicking_writer_poisons_and_the_data_stays_reachable() {
    both(|| {
        let lock = Arc::new(RwLock::new(5));
        let l2 = lock.clone();
        let r = thread::spawn(move || {
            let mut g = l2.write().unwrap();
            *g = 6;
            panic!("poison it");
        })
        .join();
        assert!(r.is_err());
        assert!(lock.is_poisoned());
        {
            let err = lock.read().unwrap_err();
            assert_eq!(**err.get_ref(), 6);
            assert_eq!(*err.into_inner(), 6);
        }
        {
            let err = lock.write().unwrap_err();
            let mut g = err.into_inner();
            *g = 7;
        }
        assert!(matches!(lock.try_read(), Err(TryLockError::Poisoned(_))));
        assert!(matches!(lock.try_write(), Err(TryLockError::Poisoned(_))));
        lock.clear_poison();
        assert!(!lock.is_poisoned());
        assert_eq!(*lock.read().unwrap(), 7);
        assert_eq!(*lock.try_write().unwrap(), 7);
    });
}

#[test]
fn a_panicking_reader_does_not_poison() {
    both(|| {
        let lock = Arc::new(RwLock::new(1));
        let l2 = lock.clone();
        let r = thread::spawn(move || {
            let _g = l2.read().unwrap();
            panic!("reader panics");
        })
        .join();
        assert!(r.is_err());
        assert!(!lock.is_poisoned());
        assert_eq!(*lock.write().unwrap(), 1);
        // The reader's unwinding released its read lock.
        assert!(lock.try_write().is_ok());
    });
}

#[test]
fn a_write_guard_taken_while_already_panicking_does_not_poison() {
    struct WriteInDrop(Arc<RwLock<u8>>);
    impl Drop for WriteInDrop {
        fn drop(&mut self) {
            *self.0.write().unwrap() += 1;
        }
    }
    both(|| {
        let lock = Arc::new(RwLock::new(0u8));
        let l2 = lock.clone();
        let r = thread::spawn(move || {
            let _d = WriteInDrop(l2);
            panic!("unwinding");
        })
        .join();
        assert!(r.is_err());
        assert!(!lock.is_poisoned());
        assert_eq!(*lock.read().unwrap(), 1);
    });
}

#[test]
fn a_thread_unwinding_can_wait_for_a_contended_lock_in_drop() {
    struct WriteInDrop(Arc<RwLock<u32>>, Arc<AtomicBool>);
    impl Drop for WriteInDrop {
        fn drop(&mut self) {
            self.1.store(true, Ordering::SeqCst);
            *self.0.write().unwrap() += 1; // blocks until the holder lets go
        }
    }
    both(|| {
        for _ in 0..5 {
            let lock = Arc::new(RwLock::new(0u32));
            let in_drop = Arc::new(AtomicBool::new(false));
            let (l, d) = (lock.clone(), in_drop.clone());
            let (held_tx, held_rx) = mpsc::channel();
            let holder = thread::spawn(move || {
                let mut g = l.write().unwrap();
                held_tx.send(()).unwrap();
                until("the other thread to reach its Drop", || {
                    d.load(Ordering::SeqCst)
                });
                thread::sleep(Duration::from_millis(5));
                *g += 10;
            });
            held_rx.recv().unwrap();
            let (l, d) = (lock.clone(), in_drop.clone());
            let unwinder = thread::spawn(move || {
                let _w = WriteInDrop(l, d);
                panic!("unwind into a contended lock");
            });
            assert!(unwinder.join().is_err());
            holder.join().unwrap();
            assert!(!lock.is_poisoned());
            assert_eq!(*lock.read().unwrap(), 11);
        }
    });
}

#[test]
fn poison_is_reported_by_into_inner_and_get_mut() {
    both(|| {
        let lock = Arc::new(RwLock::new(String::from("x")));
        let l2 = lock.clone();
        let _ = thread::spawn(move || {
            l2.write().unwrap().push('y');
            let _g = l2.write().unwrap();
            panic!("p");
        })
        .join();
        let mut lock = Arc::try_unwrap(lock).unwrap();
        lock.get_mut().unwrap_err().into_inner().push('z');
        assert_eq!(lock.into_inner().unwrap_err().into_inner(), "xyz");

        let mut ok = RwLock::new(vec![1]);
        ok.get_mut().unwrap().push(2);
        assert_eq!(ok.into_inner().unwrap(), vec![1, 2]);
    });
}

#[test]
fn downgrade_keeps_writers_out_and_lets_readers_in() {
    both(|| {
        let lock = Arc::new(RwLock::new(1));
        let mut w = lock.write().unwrap();
        *w = 2;
        let r = RwLockWriteGuard::downgrade(w);
        assert_eq!(*r, 2);
        let l2 = lock.clone();
        let (read, write_blocked) = thread::spawn(move || {
            (
                l2.try_read().map(|g| *g).ok(),
                matches!(l2.try_write(), Err(TryLockError::WouldBlock)),
            )
        })
        .join()
        .unwrap();
        assert_eq!(read, Some(2));
        assert!(write_blocked);
        drop(r);
        assert!(lock.try_write().is_ok());
    });
}

#[test]
fn downgrade_lets_a_queued_reader_in() {
    both(|| {
        let lock = Arc::new(RwLock::new(0));
        let mut w = lock.write().unwrap();
        let (tx, rx) = mpsc::channel();
        let (l2, started) = (lock.clone(), Arc::new(AtomicBool::new(false)));
        let s2 = started.clone();
        let h = thread::spawn(move || {
            s2.store(true, Ordering::SeqCst);
            let g = l2.read().unwrap();
            tx.send(*g).unwrap();
        });
        until("reader started", || started.load(Ordering::SeqCst));
        thread::sleep(Duration::from_millis(20)); // let it queue behind the writer
        assert!(rx.try_recv().is_err());
        *w = 3;
        let r = RwLockWriteGuard::downgrade(w);
        // The queued reader gets in while we still hold the downgraded read lock.
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(3));
        assert_eq!(*r, 3);
        drop(r);
        h.join().unwrap();
    });
}

#[test]
fn no_writer_gets_in_between_a_downgrade() {
    both(|| {
        let lock = Arc::new(RwLock::new(0usize));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let (lock, stop) = (lock.clone(), stop.clone());
                thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        *lock.write().unwrap() = usize::MAX;
                        thread::yield_now();
                    }
                })
            })
            .collect();
        for i in 0..300 {
            let mut w = lock.write().unwrap();
            *w = i;
            let r = RwLockWriteGuard::downgrade(w);
            if i % 10 == 0 {
                thread::yield_now();
            }
            assert_eq!(*r, i, "a writer got in between the downgrade");
        }
        stop.store(true, Ordering::SeqCst);
        for h in writers {
            h.join().unwrap();
        }
    });
}

#[test]
fn a_panic_while_holding_a_downgraded_guard_does_not_poison() {
    both(|| {
        let lock = Arc::new(RwLock::new(1));
        let l2 = lock.clone();
        let r = thread::spawn(move || {
            let mut w = l2.write().unwrap();
            *w = 2;
            let _r = RwLockWriteGuard::downgrade(w);
            panic!("reader now");
        })
        .join();
        assert!(r.is_err());
        assert!(!lock.is_poisoned());
        assert_eq!(*lock.try_write().unwrap(), 2);
    });
}

#[test]
fn a_waiting_writer_is_not_starved_by_a_stream_of_readers() {
    both(|| {
        const READERS: usize = 4;
        let lock = Arc::new(RwLock::new(0u32));
        let writer_done = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let (lock, done, reads) = (lock.clone(), writer_done.clone(), reads.clone());
                thread::spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(4);
                    // Each reader re-takes the read lock at once, so the readers' holds overlap and
                    // the lock would never be free if new readers could always join.
                    let mut g = lock.read().unwrap();
                    while !done.load(Ordering::SeqCst) {
                        if Instant::now() > deadline {
                            return false;
                        }
                        drop(g);
                        g = lock.read().unwrap();
                        reads.fetch_add(1, Ordering::SeqCst);
                        thread::yield_now();
                    }
                    true
                })
            })
            .collect();
        until("readers streaming", || {
            reads.load(Ordering::SeqCst) > 10 * READERS
        });
        let (l2, d2) = (lock.clone(), writer_done.clone());
        let writer = thread::spawn(move || {
            *l2.write().unwrap() = 1;
            d2.store(true, Ordering::SeqCst);
        });
        writer.join().unwrap();
        for h in readers {
            assert!(h.join().unwrap(), "the writer was starved by readers");
        }
        assert_eq!(*lock.read().unwrap(), 1);
    });
}

#[test]
fn debug_default_from_and_guard_formatting() {
    both(|| {
        let lock = RwLock::from(1);
        assert_eq!(
            format!("{lock:?}"),
            "RwLock { data: 1, poisoned: false, .. }"
        );
        {
            let r = lock.read().unwrap();
            assert_eq!(
                format!("{lock:?}"),
                "RwLock { data: 1, poisoned: false, .. }"
            );
            assert_eq!(format!("{r:?} {r}"), "1 1");
        }
        {
            let mut w = lock.write().unwrap();
            assert_eq!(
                format!("{lock:?}"),
                "RwLock { data: <locked>, poisoned: false, .. }"
            );
            assert_eq!(format!("{w:?} {w}"), "1 1");
            *w = 1;
        }
        let d: RwLock<Vec<u8>> = RwLock::default();
        assert!(d.read().unwrap().is_empty());
        let s = RwLock::new("s");
        assert_eq!(
            format!("{s:#?}"),
            "RwLock {\n    data: \"s\",\n    poisoned: false,\n    ..\n}"
        );

        let p = Arc::new(RwLock::new(2));
        let p2 = p.clone();
        let _ = thread::spawn(move || {
            let _g = p2.write().unwrap();
            panic!("poison");
        })
        .join();
        assert_eq!(format!("{p:?}"), "RwLock { data: 2, poisoned: true, .. }");
    });
}

#[test]
fn unsized_data_and_const_new() {
    static GLOBAL: RwLock<u32> = RwLock::new(3);
    both(|| {
        let lock: Arc<RwLock<[u8]>> = Arc::new(RwLock::new([1, 2, 3]));
        lock.write().unwrap()[0] = 9;
        assert_eq!(&*lock.read().unwrap(), &[9, 2, 3]);
        let r = *GLOBAL.read().unwrap();
        assert!(r >= 3);
    });
    *GLOBAL.write().unwrap() += 1;
}

#[test]
fn os_and_green_threads_share_a_lock() {
    both(|| {
        let lock = Arc::new(RwLock::new((0usize, 0usize)));
        let mut hs = Vec::new();
        for k in 0..8 {
            let lock = lock.clone();
            let f = move || {
                for i in 0..500 {
                    if (i + k) % 4 == 0 {
                        let mut g = lock.write().unwrap();
                        g.0 += 1;
                        g.1 += 1;
                    } else {
                        let g = lock.read().unwrap();
                        assert_eq!(g.0, g.1);
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
        for h in hs {
            h.join().unwrap();
        }
        let writes = (0..8)
            .map(|k| (0..500).filter(|i| (i + k) % 4 == 0).count())
            .sum::<usize>();
        assert_eq!(*lock.read().unwrap(), (writes, writes));
    });
}

#[test]
fn an_os_reader_and_a_green_writer_queue_behind_one_writer() {
    both(|| {
        let lock = Arc::new(RwLock::new(0u32));
        let w = lock.write().unwrap();
        let (tx, rx) = mpsc::channel();
        let l2 = lock.clone();
        // An OS thread queues for a read while we hold the write lock.
        let os = std::thread::spawn(move || tx.send(*l2.read().unwrap()).unwrap());
        let l3 = lock.clone();
        let green = thread::spawn(move || {
            let mut g = l3.write().unwrap();
            *g += 10;
        });
        drop(w);
        // Wait with a blocking call of the crate under test (not `std`'s join, see
        // `a_woken_writer_runs_while_its_waker_is_blocked_in_a_std_call`).
        let seen = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        green.join().unwrap();
        os.join().unwrap();
        assert!(seen == 0 || seen == 10);
        assert_eq!(*lock.read().unwrap(), 10);
    });
}

/// The lock is handed to a queued green writer; the thread that handed it over then blocks in a
/// plain `std` call. Under std the writer runs at once. Under smarm the woken writer sits in the
/// waker's worker's run-next slot, which the monitor does not hand off (it looks only at the
/// local queue), so the writer is stranded until the waker makes a smarm call.
#[test]
fn a_woken_writer_runs_while_its_waker_is_blocked_in_a_std_call() {
    let lock = Arc::new(RwLock::new(0u32));
    let got_in = Arc::new(AtomicBool::new(false));
    thread::spawn(move || {
        let w = lock.write().unwrap();
        let (l2, g2) = (lock.clone(), got_in.clone());
        let h = thread::spawn(move || {
            *l2.write().unwrap() = 1;
            g2.store(true, Ordering::SeqCst);
        });
        thread::sleep(Duration::from_millis(20)); // let the writer queue
        drop(w); // hands the lock to the queued writer and wakes it
        let t0 = Instant::now();
        while !got_in.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(1)); // a blocking std call
        }
        assert!(
            got_in.load(Ordering::SeqCst),
            "the woken writer did not run while its waker was blocked"
        );
        h.join().unwrap();
    })
    .join()
    .unwrap();
}

#[test]
fn catch_unwind_with_a_lock_reference_compiles_and_poisons() {
    both(|| {
        let lock = RwLock::new(0);
        let r = catch_unwind(|| {
            let _g = lock.write().unwrap();
            panic!("inside");
        });
        assert!(r.is_err());
        assert!(lock.is_poisoned());
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _g = lock.read();
            panic!("reader");
        }));
        assert!(r.is_err());
        assert!(lock.try_write().is_err()); // still poisoned: Err(Poisoned)
        lock.clear_poison();
        assert!(lock.try_write().is_ok());
    });
}

#[test]
fn send_sync_and_unwind_bounds_match_std() {
    type R<T> = RwLock<T>;
    // RwLock<T>: Send for T: Send; Sync for T: Send + Sync; unwind-safe always.
    assert!(implements!(R<u8>: Send));
    assert!(implements!(R<u8>: Sync));
    assert!(implements!(R<Cell<u8>>: Send));
    assert!(!implements!(R<Cell<u8>>: Sync));
    assert!(!implements!(R<Rc<u8>>: Send));
    assert!(!implements!(R<Rc<u8>>: Sync));
    assert!(implements!(R<Cell<u8>>: UnwindSafe));
    assert!(implements!(R<Cell<u8>>: RefUnwindSafe));
    assert!(implements!(R<[u8]>: Sync));
    // Guards: never Send; Sync for T: Sync.
    type ReadGuard = RwLockReadGuard<'static, u8>;
    type WriteGuard = RwLockWriteGuard<'static, u8>;
    type ReadGuardCell = RwLockReadGuard<'static, Cell<u8>>;
    type WriteGuardCell = RwLockWriteGuard<'static, Cell<u8>>;
    assert!(!implements!(ReadGuard: Send));
    assert!(!implements!(WriteGuard: Send));
    assert!(implements!(ReadGuard: Sync));
    assert!(implements!(WriteGuard: Sync));
    assert!(!implements!(ReadGuardCell: Sync));
    assert!(!implements!(WriteGuardCell: Sync));
}

#[test]
fn guard_unwind_bounds_match_std() {
    type ReadGuard = RwLockReadGuard<'static, u8>;
    type WriteGuard = RwLockWriteGuard<'static, u8>;
    type WriteGuardCell = RwLockWriteGuard<'static, Cell<u8>>;
    assert!(implements!(ReadGuard: UnwindSafe));
    assert!(implements!(WriteGuard: UnwindSafe));
    assert!(implements!(ReadGuard: RefUnwindSafe));
    assert!(implements!(WriteGuard: RefUnwindSafe));
    assert!(implements!(WriteGuardCell: UnwindSafe));
    assert!(implements!(WriteGuardCell: RefUnwindSafe));
}

/// std's read guard holds a `NonNull<T>`, so it is unwind-safe only for `T: RefUnwindSafe`.
#[test]
fn read_guard_unwind_bounds_follow_t_as_in_std() {
    type ReadGuardCell = RwLockReadGuard<'static, Cell<u8>>;
    assert!(!implements!(ReadGuardCell: UnwindSafe));
    assert!(!implements!(ReadGuardCell: RefUnwindSafe));
}

/// std's read guard is covariant in `T` (std/tests/sync/rwlock.rs): a guard of a longer-lived
/// type is a guard of a shorter-lived one. This only has to compile.
#[test]
fn read_guard_is_covariant_in_t() {
    fn shorten<'a>(g: RwLockReadGuard<'static, &'static str>) -> RwLockReadGuard<'a, &'a str> {
        g
    }
    static LOCK: RwLock<&'static str> = RwLock::new("static");
    let g = shorten(LOCK.read().unwrap());
    assert_eq!(*g, "static");
    drop(g);

    // std's `test_rwlock_guard_covariance`: a guard of `&'static i32` used where `&'a i32`, for
    // an `'a` shorter than the lock's contents.
    fn do_stuff<'a>(_: RwLockReadGuard<'_, &'a i32>, _: &'a i32) {}
    both(|| {
        let j: i32 = 5;
        let lock = RwLock::new(&j);
        {
            let i = 6;
            do_stuff(lock.read().unwrap(), &i);
        }
        #[allow(clippy::drop_non_drop)] // as std's test: the lock is used after the borrow ends
        drop(lock);
    });
}

/// A downgraded guard is a read guard like any other (covariant, reads the written data).
#[test]
fn downgraded_guard_is_covariant_too() {
    fn shorten<'a>(g: RwLockReadGuard<'static, &'static str>) -> RwLockReadGuard<'a, &'a str> {
        g
    }
    static LOCK: RwLock<&'static str> = RwLock::new("before");
    let mut w = LOCK.write().unwrap();
    *w = "after";
    let r = shorten(RwLockWriteGuard::downgrade(w));
    assert_eq!(*r, "after");
    assert!(LOCK.try_write().is_err());
    drop(r);
    assert!(LOCK.try_write().is_ok());
}
