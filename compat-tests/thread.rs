//! `std::thread` parity, differential: this file builds and passes against std and against smarm;
//! only the `use` lines below differ.
//!
//! - `cargo test --test compat_thread`                       (smarm)
//! - `cargo test --test compat_thread --features compat-std` (std)
//!
//! Every behaviour is checked from the test's own OS thread and from inside a spawned thread
//! (a green thread under smarm).

#[cfg(not(feature = "compat-std"))]
use smarm::thread;
#[cfg(feature = "compat-std")]
use std::thread;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Runs `f` on the calling thread and inside a spawned thread.
fn both(f: fn()) {
    f();
    thread::spawn(f).join().unwrap();
}

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
