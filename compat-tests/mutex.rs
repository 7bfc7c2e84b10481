//! `std::sync::Mutex` parity, differential: builds and passes against std and against smarm with
//! only the `use` lines differing (`--features compat-std` selects std).

#[cfg(not(feature = "compat-std"))]
use smarm::{sync::Arc, sync::Mutex, sync::TryLockError, thread};
#[cfg(feature = "compat-std")]
use std::{sync::Arc, sync::Mutex, sync::TryLockError, thread};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;
use common::both;

#[test]
fn lock_guards_the_data_across_many_threads() {
    both(|| {
        let m = Arc::new(Mutex::new(0u64));
        let hs: Vec<_> = (0..16)
            .map(|i| {
                let m = m.clone();
                thread::spawn(move || {
                    for j in 0..500 {
                        *m.lock().unwrap() += 1;
                        if (i + j) % 50 == 0 {
                            thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*m.lock().unwrap(), 16 * 500);
    });
}

#[test]
fn try_lock_would_block_while_held() {
    both(|| {
        let m = Arc::new(Mutex::new(1));
        let g = m.lock().unwrap();
        let m2 = m.clone();
        let r = thread::spawn(move || matches!(m2.try_lock(), Err(TryLockError::WouldBlock)))
            .join()
            .unwrap();
        assert!(r);
        drop(g);
        assert_eq!(*m.try_lock().unwrap(), 1);
    });
}

#[test]
fn a_blocked_locker_runs_when_the_holder_unlocks() {
    both(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let g = m.lock().unwrap();
        let m2 = m.clone();
        let h = thread::spawn(move || m2.lock().unwrap().push("second"));
        thread::sleep(Duration::from_millis(20));
        drop(g);
        h.join().unwrap();
        m.lock().unwrap().push("third");
        assert_eq!(*m.lock().unwrap(), vec!["second", "third"]);
    });
}

#[test]
fn a_panic_while_holding_poisons_and_the_data_stays_reachable() {
    both(|| {
        let m = Arc::new(Mutex::new(5));
        let m2 = m.clone();
        let r = thread::spawn(move || {
            let mut g = m2.lock().unwrap();
            *g = 6;
            panic!("poison it");
        })
        .join();
        assert!(r.is_err());
        assert!(m.is_poisoned());
        let err = m.lock().unwrap_err();
        assert_eq!(**err.get_ref(), 6);
        let g = err.into_inner();
        assert_eq!(*g, 6);
        drop(g);
        assert!(matches!(m.try_lock(), Err(TryLockError::Poisoned(_))));
        m.clear_poison();
        assert!(!m.is_poisoned());
        assert_eq!(*m.lock().unwrap(), 6);
    });
}

#[test]
fn a_guard_taken_while_already_panicking_does_not_poison() {
    struct LockInDrop(Arc<Mutex<u8>>);
    impl Drop for LockInDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() += 1;
        }
    }
    both(|| {
        let m = Arc::new(Mutex::new(0u8));
        let m2 = m.clone();
        let r = thread::spawn(move || {
            let _d = LockInDrop(m2);
            panic!("unwinding");
        })
        .join();
        assert!(r.is_err());
        assert!(!m.is_poisoned());
        assert_eq!(*m.lock().unwrap(), 1);
    });
}

#[test]
fn into_inner_get_mut_default_from_debug() {
    both(|| {
        let mut m = Mutex::new(vec![1]);
        m.get_mut().unwrap().push(2);
        assert_eq!(m.into_inner().unwrap(), vec![1, 2]);
        let d: Mutex<u8> = Mutex::default();
        assert_eq!(*d.lock().unwrap(), 0);
        let f = Mutex::from(3);
        assert_eq!(format!("{f:?}"), "Mutex { data: 3, poisoned: false, .. }");
        let g = f.lock().unwrap();
        assert_eq!(
            format!("{f:?}"),
            r#"Mutex { data: "<locked>", poisoned: false, .. }"#
        );
        assert_eq!(format!("{g:?} {g}"), "3 3");
    });
}

#[test]
fn poisoned_into_inner_hands_the_data_back() {
    both(|| {
        let m = Arc::new(Mutex::new(String::from("x")));
        let m2 = m.clone();
        let _ = thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("p");
        })
        .join();
        let m = Arc::try_unwrap(m).unwrap();
        assert_eq!(m.into_inner().unwrap_err().into_inner(), "x");
    });
}

#[test]
fn os_and_green_threads_share_a_lock() {
    both(|| {
        let m = Arc::new(Mutex::new(0usize));
        let done = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        for k in 0..8 {
            let (m, done) = (m.clone(), done.clone());
            let f = move || {
                for _ in 0..1000 {
                    *m.lock().unwrap() += 1;
                }
                done.fetch_add(1, Ordering::SeqCst);
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
        assert_eq!(*m.lock().unwrap(), 8000);
        assert_eq!(done.load(Ordering::SeqCst), 8);
    });
}

#[test]
fn send_sync_bounds_match_std() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Mutex<Vec<u8>>>();
    send_sync::<Mutex<std::cell::Cell<u8>>>(); // Mutex<T> is Sync for T: Send
    fn sync<T: Sync>() {}
    #[cfg(not(feature = "compat-std"))]
    sync::<smarm::sync::MutexGuard<'static, u8>>();
    #[cfg(feature = "compat-std")]
    sync::<std::sync::MutexGuard<'static, u8>>();
}
