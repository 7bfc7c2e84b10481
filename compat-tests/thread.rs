//! `std::thread` parity, differential: this file builds and passes against std and against smarm;
//! only the `use` lines below differ.
//!
//! - `cargo test --test compat_thread`                       (smarm)
//! - `cargo test --test compat_thread --features compat-std` (std)
//!
//! Every behaviour is checked from the test's own OS thread and from inside a spawned thread
//! (a green thread under smarm).

// Non-const initialisers are exercised on purpose.
#![allow(clippy::missing_const_for_thread_local)]

#[cfg(not(feature = "compat-std"))]
use smarm::{thread, thread_local};
#[cfg(feature = "compat-std")]
use std::{thread, thread_local};

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::both;

#[test]
fn spawn_join_returns_the_value() {
    both(|| {
        let h = thread::spawn(|| 6 * 7);
        assert_eq!(h.join().unwrap(), 42);
        let h = thread::spawn(|| String::from("owned"));
        assert_eq!(h.join().unwrap(), "owned");
        let big = [7u8; 10_000];
        let h = thread::spawn(move || big.iter().map(|&b| b as u32).sum::<u32>());
        assert_eq!(h.join().unwrap(), 70_000);
    });
}

#[test]
fn join_returns_err_with_the_panic_payload() {
    both(|| {
        let h = thread::spawn(|| -> () { std::panic::panic_any(17i32) });
        let e = h.join().unwrap_err();
        assert_eq!(*e.downcast::<i32>().unwrap(), 17);
    });
}

#[test]
fn builder_name_and_current() {
    both(|| {
        let h = thread::Builder::new()
            .name("compat-named".to_string())
            .spawn(|| thread::current().name().map(|s| s.to_string()))
            .unwrap();
        assert_eq!(h.thread().name(), Some("compat-named"));
        assert_eq!(h.join().unwrap().as_deref(), Some("compat-named"));
        let h = thread::spawn(|| thread::current().name().map(|s| s.to_string()));
        assert_eq!(h.thread().name(), None);
        assert_eq!(h.join().unwrap(), None);
    });
}

#[test]
fn thread_ids_are_unique_and_stable() {
    both(|| {
        let me = thread::current().id();
        assert_eq!(thread::current().id(), me);
        let h = thread::spawn(|| thread::current().id());
        let id_seen_outside = h.thread().id();
        let id_seen_inside = h.join().unwrap();
        assert_eq!(id_seen_outside, id_seen_inside);
        assert_ne!(id_seen_inside, me);
        let ids: std::collections::HashSet<_> = (0..50)
            .map(|_| thread::spawn(|| thread::current().id()).join().unwrap())
            .collect();
        assert_eq!(ids.len(), 50);
    });
}

#[test]
fn builder_stack_size_gives_room() {
    both(|| {
        fn depth(n: u32) -> u32 {
            let pad = std::hint::black_box([n as u8; 1000]);
            if n == 0 {
                0
            } else {
                depth(n - 1) + 1 + (pad[999] as u32 & 0x100)
            }
        }
        let h = thread::Builder::new()
            .stack_size(16 << 20)
            .spawn(|| depth(4000))
            .unwrap();
        assert_eq!(h.join().unwrap(), 4000);
    });
}

#[test]
fn sleep_lasts_at_least_the_duration() {
    both(|| {
        let t = Instant::now();
        thread::sleep(Duration::from_millis(15));
        assert!(t.elapsed() >= Duration::from_millis(15));
        thread::sleep(Duration::ZERO);
    });
}

#[test]
fn yield_now_lets_others_progress() {
    both(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let h = thread::spawn(move || f.store(true, Ordering::SeqCst));
        while !flag.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        h.join().unwrap();
    });
}

#[test]
fn unpark_before_park_is_remembered() {
    both(|| {
        thread::current().unpark();
        thread::park(); // returns at once: the token was there
    });
}

#[test]
fn park_timeout_times_out_without_a_token() {
    both(|| {
        let t = Instant::now();
        thread::park_timeout(Duration::from_millis(20));
        assert!(t.elapsed() >= Duration::from_millis(20));
    });
}

#[test]
fn unpark_wakes_a_parked_thread() {
    both(|| {
        let go = Arc::new(AtomicBool::new(false));
        let g = go.clone();
        let h = thread::spawn(move || {
            while !g.load(Ordering::SeqCst) {
                thread::park();
            }
            7
        });
        go.store(true, Ordering::SeqCst);
        h.thread().unpark();
        assert_eq!(h.join().unwrap(), 7);
    });
}

#[test]
fn a_spawned_thread_can_unpark_its_parent() {
    both(|| {
        let parent = thread::current();
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let h = thread::spawn(move || {
            d.store(true, Ordering::SeqCst);
            parent.unpark();
        });
        while !done.load(Ordering::SeqCst) {
            thread::park();
        }
        h.join().unwrap();
    });
}

#[test]
fn is_finished_becomes_true() {
    both(|| {
        let h = thread::spawn(|| thread::sleep(Duration::from_millis(5)));
        while !h.is_finished() {
            thread::sleep(Duration::from_millis(1));
        }
        assert!(h.is_finished());
        h.join().unwrap();
    });
}

#[test]
fn thread_handle_is_clone_and_debug() {
    both(|| {
        let t = thread::current();
        let t2 = t.clone();
        assert_eq!(t.id(), t2.id());
        let dbg = format!("{t:?}");
        assert!(dbg.starts_with("Thread {"), "{dbg}");
        let h = thread::spawn(|| ());
        assert!(format!("{h:?}").starts_with("JoinHandle"));
        h.join().unwrap();
    });
}

#[test]
fn many_threads_each_get_their_work_done() {
    both(|| {
        let count = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..200)
            .map(|i| {
                let c = count.clone();
                thread::spawn(move || {
                    if i % 3 == 0 {
                        thread::yield_now();
                    }
                    c.fetch_add(1, Ordering::SeqCst);
                    i
                })
            })
            .collect();
        let sum: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 199 * 200 / 2);
        assert_eq!(count.load(Ordering::SeqCst), 200);
    });
}

#[test]
fn spawn_and_builder_accept_the_same_bounds_as_std() {
    // Compile-time parity: the handle types are Send + Sync as std's are.
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<thread::JoinHandle<u8>>();
    assert_send_sync::<thread::Thread>();
    assert_send_sync::<thread::ThreadId>();
    let r: thread::Result<u8> = thread::spawn(|| 1u8).join();
    assert_eq!(r.unwrap(), 1);
    assert!(thread::available_parallelism().unwrap().get() >= 1);
}

#[test]
fn scope_borrows_and_waits_for_every_thread() {
    both(|| {
        let mut data = vec![1, 2, 3];
        let total = AtomicUsize::new(0);
        let r = thread::scope(|s| {
            for i in 0..10 {
                let (data, total) = (&data, &total);
                s.spawn(move || {
                    thread::sleep(Duration::from_millis(i % 3));
                    total.fetch_add(data.iter().sum::<usize>() * i as usize, Ordering::SeqCst);
                });
            }
            let h = s.spawn(|| data.len());
            assert_eq!(h.join().unwrap(), 3);
            "scope result"
        });
        assert_eq!(r, "scope result");
        // Every thread finished before scope returned, detached ones included.
        assert_eq!(total.load(Ordering::SeqCst), 6 * 45);
        data.push(4); // the borrow ended
        assert_eq!(data.len(), 4);
    });
}

#[test]
fn scoped_threads_can_mutate_disjoint_borrows() {
    both(|| {
        let mut a = [0u64; 8];
        thread::scope(|s| {
            for (i, slot) in a.iter_mut().enumerate() {
                s.spawn(move || *slot = (i * i) as u64);
            }
        });
        assert_eq!(a, [0, 1, 4, 9, 16, 25, 36, 49]);
    });
}

#[test]
fn scoped_join_returns_a_borrowed_result_and_panics() {
    both(|| {
        let words = ["a".to_string(), "bb".to_string()];
        thread::scope(|s| {
            let h = s.spawn(|| words.iter().max_by_key(|w| w.len()).unwrap());
            assert_eq!(h.join().unwrap(), "bb");
            let p = s.spawn(|| -> () { std::panic::panic_any(5u8) });
            assert_eq!(*p.join().unwrap_err().downcast::<u8>().unwrap(), 5);
        });
        // A panic observed through join does not make the scope panic.
    });
}

#[test]
fn an_unjoined_scoped_panic_makes_scope_panic() {
    both(|| {
        let finished = AtomicBool::new(false);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            thread::scope(|s| {
                s.spawn(|| panic!("scoped boom"));
                s.spawn(|| {
                    thread::sleep(Duration::from_millis(10));
                    finished.store(true, Ordering::SeqCst);
                });
            })
        }));
        let msg = r.unwrap_err();
        assert_eq!(
            msg.downcast_ref::<&str>(),
            Some(&"a scoped thread panicked")
        );
        assert!(
            finished.load(Ordering::SeqCst),
            "scope must wait for all threads first"
        );
    });
}

#[test]
fn a_panic_in_the_scope_closure_is_resumed_after_the_threads_finish() {
    both(|| {
        let finished = AtomicBool::new(false);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            thread::scope(|s| {
                s.spawn(|| {
                    thread::sleep(Duration::from_millis(10));
                    finished.store(true, Ordering::SeqCst);
                });
                panic!("closure boom");
            })
        }));
        assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"closure boom"));
        assert!(finished.load(Ordering::SeqCst));
    });
}

#[test]
fn builder_spawn_scoped_names_and_is_finished() {
    both(|| {
        let x = 5;
        thread::scope(|s| {
            let h = thread::Builder::new()
                .name("scoped-named".into())
                .spawn_scoped(s, || (thread::current().name().map(String::from), x * 2))
                .unwrap();
            assert_eq!(h.thread().name(), Some("scoped-named"));
            while !h.is_finished() {
                thread::yield_now();
            }
            assert_eq!(h.join().unwrap(), (Some("scoped-named".to_string()), 10));
            assert!(format!("{s:?}").starts_with("Scope"));
        });
    });
}

thread_local! {
    static COUNTER: Cell<u32> = const { Cell::new(1) };
    static LOG: RefCell<Vec<u32>> = RefCell::new(Vec::new());
}

thread_local!(pub(crate) static SINGLE: Cell<u8> = Cell::new(9));

thread_local! {
    #[allow(dead_code)]
    static WITH_ATTR: u64 = 64;
    static TRAILING: Cell<i32> = const { Cell::new(-1) };
}

#[test]
fn thread_locals_are_per_thread() {
    both(|| {
        COUNTER.set(10);
        let hs: Vec<_> = (0..20u32)
            .map(|i| {
                thread::spawn(move || {
                    assert_eq!(COUNTER.get(), 1, "a new thread starts from the initialiser");
                    COUNTER.set(100 + i);
                    thread::yield_now();
                    thread::sleep(Duration::from_millis(1));
                    COUNTER.get()
                })
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), 100 + i as u32);
        }
        assert_eq!(COUNTER.get(), 10, "other threads did not touch ours");
        assert_eq!(SINGLE.get(), 9);
        assert_eq!(TRAILING.get(), -1);
        WITH_ATTR.with(|v| assert_eq!(*v, 64));
    });
}

#[test]
fn local_key_cell_and_refcell_methods() {
    both(|| {
        assert_eq!(COUNTER.replace(7), 1);
        assert_eq!(COUNTER.take(), 7);
        assert_eq!(COUNTER.get(), 0);
        LOG.with_borrow_mut(|v| v.push(1));
        LOG.with_borrow_mut(|v| v.push(2));
        assert_eq!(LOG.with_borrow(|v| v.clone()), vec![1, 2]);
        assert_eq!(LOG.replace(vec![9]), vec![1, 2]);
        LOG.set(vec![3]);
        assert_eq!(LOG.take(), vec![3]);
        assert!(LOG.with_borrow(|v| v.is_empty()));
        assert_eq!(LOG.try_with(|v| v.borrow().len()), Ok(0));
    });
}

#[test]
fn thread_local_set_does_not_run_the_initialiser() {
    thread_local! {
        static INITS: Cell<u32> = const { Cell::new(0) };
        static LAZY: Cell<u32> = { INITS.set(INITS.get() + 1); Cell::new(5) };
    }
    both(|| {
        thread::spawn(|| {
            LAZY.set(8);
            assert_eq!(LAZY.get(), 8);
            assert_eq!(INITS.get(), 0);
        })
        .join()
        .unwrap();
        thread::spawn(|| {
            assert_eq!(LAZY.get(), 5);
            assert_eq!(INITS.get(), 1);
        })
        .join()
        .unwrap();
    });
}

struct DropRecorder(Arc<Mutex<Vec<&'static str>>>, &'static str);
impl Drop for DropRecorder {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(self.1);
    }
}

thread_local! {
    static RECORDER: RefCell<Option<DropRecorder>> = const { RefCell::new(None) };
}

#[test]
fn thread_local_destructors_run_when_the_thread_ends() {
    both(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        thread::spawn(move || {
            RECORDER.with_borrow_mut(|r| *r = Some(DropRecorder(l, "dropped")));
        })
        .join()
        .unwrap();
        assert_eq!(*log.lock().unwrap(), vec!["dropped"]);
    });
}

struct AccessProbe(Arc<Mutex<Option<String>>>);
impl Drop for AccessProbe {
    fn drop(&mut self) {
        // Our own key is being destroyed: std and smarm both answer AccessError.
        let r = PROBE.try_with(|_| ());
        *self.0.lock().unwrap() = Some(match r {
            Ok(()) => "accessible".to_string(),
            Err(e) => format!("{e} / {e:?}"),
        });
    }
}

thread_local! {
    static PROBE: RefCell<Option<AccessProbe>> = const { RefCell::new(None) };
}

#[test]
fn try_with_during_destruction_gives_access_error() {
    fn assert_error<E: std::error::Error + Clone + Copy + PartialEq + Eq + Send + Sync>() {}
    assert_error::<thread::AccessError>();
    both(|| {
        let seen = Arc::new(Mutex::new(None));
        let s = seen.clone();
        thread::spawn(move || PROBE.with_borrow_mut(|p| *p = Some(AccessProbe(s))))
            .join()
            .unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.as_deref(), Some("already destroyed / AccessError"));
    });
}

#[test]
fn panicking_is_true_only_while_unwinding() {
    struct Check(Arc<AtomicBool>);
    impl Drop for Check {
        fn drop(&mut self) {
            self.0.store(thread::panicking(), Ordering::SeqCst);
        }
    }
    both(|| {
        assert!(!thread::panicking());
        let seen = Arc::new(AtomicBool::new(false));
        let s = seen.clone();
        let h = thread::spawn(move || {
            let _c = Check(s);
            panic!("unwind");
        });
        assert!(h.join().is_err());
        assert!(
            seen.load(Ordering::SeqCst),
            "Drop during unwinding sees panicking()"
        );
        assert!(!thread::panicking());
    });
}

#[test]
fn a_drop_that_blocks_while_unwinding_does_not_leak_panicking_to_others() {
    struct SlowDrop;
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            assert!(thread::panicking());
            thread::sleep(Duration::from_millis(30)); // blocks during unwinding
            assert!(thread::panicking());
        }
    }
    both(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let wrong = Arc::new(AtomicUsize::new(0));
        let observers: Vec<_> = (0..4)
            .map(|_| {
                let (stop, wrong) = (stop.clone(), wrong.clone());
                thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        if thread::panicking() {
                            wrong.fetch_add(1, Ordering::SeqCst);
                        }
                        thread::yield_now();
                    }
                })
            })
            .collect();
        let unwinders: Vec<_> = (0..4)
            .map(|_| {
                thread::spawn(|| {
                    let _d = SlowDrop;
                    panic!("slow unwind");
                })
            })
            .collect();
        for u in unwinders {
            assert!(u.join().is_err());
        }
        stop.store(true, Ordering::SeqCst);
        for o in observers {
            o.join().unwrap();
        }
        assert_eq!(wrong.load(Ordering::SeqCst), 0);
        // Nothing is left raised anywhere: fresh threads are not panicking.
        for _ in 0..20 {
            assert!(!thread::spawn(thread::panicking).join().unwrap());
        }
    });
}
// The smarm build must really use smarm's keys (std's `thread_local!` is in the prelude and
// would silently win without the `use` above).
#[cfg(not(feature = "compat-std"))]
const _: &smarm::thread::LocalKey<Cell<u32>> = &COUNTER;

#[test]
fn join_handle_ext_is_the_threads_own_pthread_self() {
    use std::os::unix::thread::JoinHandleExt;
    both(|| {
        // Two live threads at once: each handle's value is what `pthread_self()` says inside that
        // thread, and the two differ from each other and from the caller's.
        let (tx, rx) = std::sync::mpsc::channel();
        let release = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let (tx, release) = (tx.clone(), release.clone());
                thread::spawn(move || {
                    // SAFETY: pthread_self has no preconditions.
                    tx.send((i, unsafe { libc::pthread_self() })).unwrap();
                    while !release.load(Ordering::Acquire) {
                        thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        let mut inside = [0; 2];
        for _ in 0..2 {
            let (i, p) = rx.recv().unwrap();
            inside[i] = p;
        }
        assert_eq!(handles[0].as_pthread_t(), inside[0]);
        assert_eq!(handles[1].as_pthread_t(), inside[1]);
        assert_ne!(inside[0], inside[1]);
        // SAFETY: as above.
        let me = unsafe { libc::pthread_self() };
        assert!(inside.iter().all(|&p| p != me));
        release.store(true, Ordering::Release);
        let mut handles = handles.into_iter();
        handles.next().unwrap().join().unwrap();
        // `into_pthread_t` gives the same value; on std the caller then owns the pthread.
        let last = handles.next().unwrap();
        let p = last.into_pthread_t();
        assert_eq!(p, inside[1]);
        #[cfg(feature = "compat-std")]
        // SAFETY: std handed us the joinable pthread; joining it once is the contract.
        unsafe {
            assert_eq!(libc::pthread_join(p, std::ptr::null_mut()), 0);
        }
    });
}
