//! `thread_local!` / `LocalKey` parity, differential: this file builds and passes against std and
//! against smarm; only the `use` lines below differ.
//!
//! - `cargo test --test compat_thread_local`                       (smarm)
//! - `cargo test --test compat_thread_local --features compat-std` (std)
//!
//! Under smarm every green thread has its own thread pointer and glibc TLS area, so std's own
//! `thread_local!` gives one value per green thread and runs its destructors when the green thread
//! ends; `smarm::thread_local!` and `smarm::thread::LocalKey` are std's, re-exported.
//!
//! # Provenance and licence
//!
//! The tests in the section "Ported from the Rust standard library" are taken from the Rust
//! project (<https://github.com/rust-lang/rust>), Rust 1.95.0:
//!
//! - `library/std/tests/thread_local/tests.rs` (all of it),
//! - `library/std/tests/thread_local/dynamic_tests.rs` (all of it),
//! - `library/std/tests/thread.rs`: the two thread-local tests in it,
//! - `library/std/src/thread/local.rs`: the doc examples of `thread_local!` and `LocalKey`.
//!
//! (Rust 1.95 has no `library/std/src/thread/local/tests.rs`: those tests moved to
//! `library/std/tests/thread_local/tests.rs`, ported here.) Copyright the Rust Project
//! Developers, dual-licensed under the Apache License, Version 2.0
//! (<https://www.apache.org/licenses/LICENSE-2.0>) or the MIT license
//! (<https://opensource.org/licenses/MIT>), at your option — the same terms as smarm itself.
//!
//! # What changed in the port, and why
//!
//! - Imports: `thread` (`spawn`, `Builder`, `LocalKey`, `yield_now`), `thread_local!`,
//!   `sync::{Arc, Mutex, Condvar}` come from smarm (or from std under `compat-std`); in
//!   `thread_current_in_dtor`, `use std::thread::Builder;` became `use thread::Builder;` for the
//!   same reason.
//! - Every std test body is wrapped, verbatim, in `std_test! { fn name() { … } }`. The macro
//!   makes a `#[test] fn name()` that runs the body twice, each time as its own copy (so statics
//!   declared in the body, like `circular`'s `HITS` or `join_orders_after_tls_destructors`'s
//!   `SYNC_STATE`, are fresh): once on the test's OS thread, as std runs it, and once inside a
//!   spawned thread (a green thread under smarm), so the threads the body spawns are spawned
//!   and joined by a green thread too.
//! - Doc examples that run at top level became functions named `doc_<item>…` run the same way.
//! - `thread_current_in_dtor` is `#[cfg(target_thread_local)]` in std; that cfg is unstable
//!   (`cfg_target_thread_local`), and smarm exists only on x86-64 Linux glibc, where it holds, so
//!   the cfg is dropped.
//! - Lints: std's tests are not written against this crate's clippy settings, so the lints they
//!   trip are allowed below rather than the bodies rewritten.
//!
//! # Not ported
//!
//! - `LocalKey<Cell<T>>::update` doc example: needs the unstable `local_key_cell_update`.
//! - `library/std/src/sys/thread_local/key/tests.rs` (`smoke`, `destructors`): tests of std's
//!   private `LazyKey` pthread-key wrapper, not of `thread_local!`; not reachable from stable.
//!
//! # Green-thread tests
//!
//! The section "Green-thread behaviour" adds tests for where green threads could go wrong and OS
//! threads cannot: values kept apart while many threads park, sleep and yield (and so share and
//! migrate between worker OS threads), a `RefCell` borrow held across a sleep while every other
//! thread borrows its own copy, destructors run once per thread with that thread's value, and a
//! destructor that blocks.

// std's bodies are kept as std wrote them; these are the lints they trip (non-const initialisers
// are also exercised on purpose in the green-thread tests).
#![allow(clippy::needless_return)]
#![allow(clippy::missing_const_for_thread_local)]
#![allow(clippy::unused_unit)]

#[cfg(not(feature = "compat-std"))]
use smarm::{
    sync::{Arc, Barrier, Condvar, Mutex, mpsc},
    thread::{self, LocalKey},
    thread_local,
};
#[cfg(feature = "compat-std")]
use std::{
    sync::{Arc, Barrier, Condvar, Mutex, mpsc},
    thread::{self, LocalKey},
    thread_local,
};

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

#[macro_use]
mod common;

// ---------------------------------------------------------------------------------------------
// Ported from the Rust standard library (see the header for provenance and licence).
// library/std/tests/thread_local/tests.rs
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct Signal(Arc<(Mutex<bool>, Condvar)>);

impl Signal {
    fn notify(&self) {
        let (set, cvar) = &*self.0;
        *set.lock().unwrap() = true;
        cvar.notify_one();
    }

    fn wait(&self) {
        let (set, cvar) = &*self.0;
        let mut set = set.lock().unwrap();
        while !*set {
            set = cvar.wait(set).unwrap();
        }
    }
}

struct NotifyOnDrop(Signal);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        let NotifyOnDrop(ref f) = *self;
        f.notify();
    }
}

std_test! {
fn smoke_no_dtor() {
    thread_local!(static FOO: Cell<i32> = Cell::new(1));
    run(&FOO);
    thread_local!(static FOO2: Cell<i32> = const { Cell::new(1) });
    run(&FOO2);

    fn run(key: &'static LocalKey<Cell<i32>>) {
        key.with(|f| {
            assert_eq!(f.get(), 1);
            f.set(2);
        });
        let t = thread::spawn(move || {
            key.with(|f| {
                assert_eq!(f.get(), 1);
            });
        });
        t.join().unwrap();

        key.with(|f| {
            assert_eq!(f.get(), 2);
        });
    }
}
}

std_test! {
fn states() {
    struct Foo(&'static LocalKey<Foo>);
    impl Drop for Foo {
        fn drop(&mut self) {
            assert!(self.0.try_with(|_| ()).is_err());
        }
    }

    thread_local!(static FOO: Foo = Foo(&FOO));
    run(&FOO);
    thread_local!(static FOO2: Foo = const { Foo(&FOO2) });
    run(&FOO2);

    fn run(foo: &'static LocalKey<Foo>) {
        thread::spawn(move || {
            assert!(foo.try_with(|_| ()).is_ok());
        })
        .join()
        .unwrap();
    }
}
}

std_test! {
fn smoke_dtor() {
    thread_local!(static FOO: UnsafeCell<Option<NotifyOnDrop>> = UnsafeCell::new(None));
    run(&FOO);
    thread_local!(static FOO2: UnsafeCell<Option<NotifyOnDrop>> = const { UnsafeCell::new(None) });
    run(&FOO2);

    fn run(key: &'static LocalKey<UnsafeCell<Option<NotifyOnDrop>>>) {
        let signal = Signal::default();
        let signal2 = signal.clone();
        // SAFETY: std's test; each thread touches only its own cells and counters.
        let t = thread::spawn(move || unsafe {
            let mut signal = Some(signal2);
            key.with(|f| {
                *f.get() = Some(NotifyOnDrop(signal.take().unwrap()));
            });
        });
        signal.wait();
        t.join().unwrap();
    }
}
}

std_test! {
fn circular() {
    // FIXME(static_mut_refs): Do not allow `static_mut_refs` lint
    #![allow(static_mut_refs)]

    struct S1(&'static LocalKey<UnsafeCell<Option<S1>>>, &'static LocalKey<UnsafeCell<Option<S2>>>);
    struct S2(&'static LocalKey<UnsafeCell<Option<S1>>>, &'static LocalKey<UnsafeCell<Option<S2>>>);
    thread_local!(static K1: UnsafeCell<Option<S1>> = UnsafeCell::new(None));
    thread_local!(static K2: UnsafeCell<Option<S2>> = UnsafeCell::new(None));
    thread_local!(static K3: UnsafeCell<Option<S1>> = const { UnsafeCell::new(None) });
    thread_local!(static K4: UnsafeCell<Option<S2>> = const { UnsafeCell::new(None) });
    static mut HITS: usize = 0;

    impl Drop for S1 {
        fn drop(&mut self) {
            // SAFETY: std's test; each thread touches only its own cells and counters.
            unsafe {
                HITS += 1;
                if self.1.try_with(|_| ()).is_err() {
                    assert_eq!(HITS, 3);
                } else {
                    if HITS == 1 {
                        self.1.with(|s| *s.get() = Some(S2(self.0, self.1)));
                    } else {
                        assert_eq!(HITS, 3);
                    }
                }
            }
        }
    }
    impl Drop for S2 {
        fn drop(&mut self) {
            // SAFETY: std's test; each thread touches only its own cells and counters.
            unsafe {
                HITS += 1;
                assert!(self.0.try_with(|_| ()).is_ok());
                assert_eq!(HITS, 2);
                self.0.with(|s| *s.get() = Some(S1(self.0, self.1)));
            }
        }
    }

    thread::spawn(move || {
        drop(S1(&K1, &K2));
    })
    .join()
    .unwrap();

    // SAFETY: std's test; each thread touches only its own cells and counters.
    unsafe {
        HITS = 0;
    }

    thread::spawn(move || {
        drop(S1(&K3, &K4));
    })
    .join()
    .unwrap();
}
}

std_test! {
fn self_referential() {
    struct S1(&'static LocalKey<UnsafeCell<Option<S1>>>);

    thread_local!(static K1: UnsafeCell<Option<S1>> = UnsafeCell::new(None));
    thread_local!(static K2: UnsafeCell<Option<S1>> = const { UnsafeCell::new(None) });

    impl Drop for S1 {
        fn drop(&mut self) {
            assert!(self.0.try_with(|_| ()).is_err());
        }
    }

    // SAFETY: std's test; each thread touches only its own cells and counters.
    thread::spawn(move || unsafe {
        K1.with(|s| *s.get() = Some(S1(&K1)));
    })
    .join()
    .unwrap();

    // SAFETY: std's test; each thread touches only its own cells and counters.
    thread::spawn(move || unsafe {
        K2.with(|s| *s.get() = Some(S1(&K2)));
    })
    .join()
    .unwrap();
}
}

// Note that this test will deadlock if TLS destructors aren't run (this
// requires the destructor to be run to pass the test).
std_test! {
fn dtors_in_dtors_in_dtors() {
    struct S1(Signal);
    thread_local!(static K1: UnsafeCell<Option<S1>> = UnsafeCell::new(None));
    thread_local!(static K2: UnsafeCell<Option<NotifyOnDrop>> = UnsafeCell::new(None));

    impl Drop for S1 {
        fn drop(&mut self) {
            let S1(ref signal) = *self;
            // SAFETY: std's test; each thread touches only its own cells and counters.
            unsafe {
                let _ = K2.try_with(|s| *s.get() = Some(NotifyOnDrop(signal.clone())));
            }
        }
    }

    let signal = Signal::default();
    let signal2 = signal.clone();
    // SAFETY: std's test; each thread touches only its own cells and counters.
    let _t = thread::spawn(move || unsafe {
        let mut signal = Some(signal2);
        K1.with(|s| *s.get() = Some(S1(signal.take().unwrap())));
    });
    signal.wait();
}
}

std_test! {
fn dtors_in_dtors_in_dtors_const_init() {
    struct S1(Signal);
    thread_local!(static K1: UnsafeCell<Option<S1>> = const { UnsafeCell::new(None) });
    thread_local!(static K2: UnsafeCell<Option<NotifyOnDrop>> = const { UnsafeCell::new(None) });

    impl Drop for S1 {
        fn drop(&mut self) {
            let S1(ref signal) = *self;
            // SAFETY: std's test; each thread touches only its own cells and counters.
            unsafe {
                let _ = K2.try_with(|s| *s.get() = Some(NotifyOnDrop(signal.clone())));
            }
        }
    }

    let signal = Signal::default();
    let signal2 = signal.clone();
    // SAFETY: std's test; each thread touches only its own cells and counters.
    let _t = thread::spawn(move || unsafe {
        let mut signal = Some(signal2);
        K1.with(|s| *s.get() = Some(S1(signal.take().unwrap())));
    });
    signal.wait();
}
}

// This test tests that TLS destructors have run before the thread joins. The
// test has no false positives (meaning: if the test fails, there's actually
// an ordering problem). It may have false negatives, where the test passes but
// join is not guaranteed to be after the TLS destructors. However, false
// negatives should be exceedingly rare due to judicious use of
// thread::yield_now and running the test several times.
std_test! {
fn join_orders_after_tls_destructors() {
    // We emulate a synchronous MPSC rendezvous channel using only atomics and
    // thread::yield_now. We can't use std::mpsc as the implementation itself
    // may rely on thread locals.
    //
    // The basic state machine for an SPSC rendezvous channel is:
    //           FRESH -> THREAD1_WAITING -> MAIN_THREAD_RENDEZVOUS
    // where the first transition is done by the “receiving” thread and the 2nd
    // transition is done by the “sending” thread.
    //
    // We add an additional state `THREAD2_LAUNCHED` between `FRESH` and
    // `THREAD1_WAITING` to block until all threads are actually running.
    //
    // A thread that joins on the “receiving” thread completion should never
    // observe the channel in the `THREAD1_WAITING` state. If this does occur,
    // we switch to the “poison” state `THREAD2_JOINED` and panic all around.
    // (This is equivalent to “sending” from an alternate producer thread.)
    //
    // Relaxed memory ordering is fine because and spawn()/join() already provide all the
    // synchronization we need here.
    const FRESH: u8 = 0;
    const THREAD2_LAUNCHED: u8 = 1;
    const THREAD1_WAITING: u8 = 2;
    const MAIN_THREAD_RENDEZVOUS: u8 = 3;
    const THREAD2_JOINED: u8 = 4;
    static SYNC_STATE: AtomicU8 = AtomicU8::new(FRESH);

    for _ in 0..10 {
        SYNC_STATE.store(FRESH, Ordering::Relaxed);

        let jh = thread::Builder::new()
            .name("thread1".into())
            .spawn(move || {
                struct TlDrop;

                impl Drop for TlDrop {
                    fn drop(&mut self) {
                        let mut sync_state = SYNC_STATE.swap(THREAD1_WAITING, Ordering::Relaxed);
                        loop {
                            match sync_state {
                                THREAD2_LAUNCHED | THREAD1_WAITING => thread::yield_now(),
                                MAIN_THREAD_RENDEZVOUS => break,
                                THREAD2_JOINED => panic!(
                                    "Thread 1 still running after thread 2 joined on thread 1"
                                ),
                                v => unreachable!("sync state: {}", v),
                            }
                            sync_state = SYNC_STATE.load(Ordering::Relaxed);
                        }
                    }
                }

                thread_local! {
                    static TL_DROP: TlDrop = TlDrop;
                }

                TL_DROP.with(|_| {});

                loop {
                    match SYNC_STATE.load(Ordering::Relaxed) {
                        FRESH => thread::yield_now(),
                        THREAD2_LAUNCHED => break,
                        v => unreachable!("sync state: {}", v),
                    }
                }
            })
            .unwrap();

        let jh2 = thread::Builder::new()
            .name("thread2".into())
            .spawn(move || {
                assert_eq!(SYNC_STATE.swap(THREAD2_LAUNCHED, Ordering::Relaxed), FRESH);
                jh.join().unwrap();
                match SYNC_STATE.swap(THREAD2_JOINED, Ordering::Relaxed) {
                    MAIN_THREAD_RENDEZVOUS => return,
                    THREAD2_LAUNCHED | THREAD1_WAITING => {
                        panic!("Thread 2 running after thread 1 join before main thread rendezvous")
                    }
                    v => unreachable!("sync state: {:?}", v),
                }
            })
            .unwrap();

        loop {
            match SYNC_STATE.compare_exchange(
                THREAD1_WAITING,
                MAIN_THREAD_RENDEZVOUS,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(FRESH) => thread::yield_now(),
                Err(THREAD2_LAUNCHED) => thread::yield_now(),
                Err(THREAD2_JOINED) => {
                    panic!("Main thread rendezvous after thread 2 joined thread 1")
                }
                v => unreachable!("sync state: {:?}", v),
            }
        }
        jh2.join().unwrap();
    }
}
}

// Test that thread::current is still available in TLS destructors.
//
// (std: `#[cfg(target_thread_local)]`, an unstable cfg that holds on every target smarm builds
// for; see the header.)
//
// The test won't currently work without target_thread_local, aka with slow tls.
// The runtime tries very hard to drop last the TLS variable that keeps the information about the
// current thread, by using several tricks like deferring the drop to a later round of TLS destruction.
// However, this only seems to work with fast tls.
//
// With slow TLS, it seems that multiple libc implementations will just set the value to null the first
// time they encounter it, regardless of it having a destructor or not. This means that trying to
// retrieve it later in a drop impl of another TLS variable will not work.
//
// ** Apple libc: https://github.com/apple-oss-distributions/libpthread/blob/c032e0b076700a0a47db75528a282b8d3a06531a/src/pthread_tsd.c#L293
// Sets the variable to null if it has a destructor and the value is not null. However, all variables
// created with pthread_key_create are marked as having a destructor, even if the fn ptr called with
// it is null.
// ** glibc: https://github.com/bminor/glibc/blob/e5893e6349541d871e8a25120bca014551d13ff5/nptl/nptl_deallocate_tsd.c#L59
// ** musl: https://github.com/kraj/musl/blob/1880359b54ff7dd9f5016002bfdae4b136007dde/src/thread/pthread_key_create.c#L87
std_test! {
fn thread_current_in_dtor() {
    use thread::Builder;

    // Go through one round of TLS destruction first.
    struct Defer;
    impl Drop for Defer {
        fn drop(&mut self) {
            RETRIEVE.with(|_| {});
        }
    }

    struct RetrieveName;
    impl Drop for RetrieveName {
        fn drop(&mut self) {
            *NAME.lock().unwrap() = Some(thread::current().name().unwrap().to_owned());
        }
    }

    static NAME: Mutex<Option<String>> = Mutex::new(None);

    thread_local! {
        static DEFER: Defer = const { Defer };
        static RETRIEVE: RetrieveName = const { RetrieveName };
    }

    Builder::new().name("test".to_owned()).spawn(|| DEFER.with(|_| {})).unwrap().join().unwrap();
    let name = NAME.lock().unwrap();
    let name = name.as_ref().unwrap();
    assert_eq!(name, "test");
}
}

// ---------------------------------------------------------------------------------------------
// library/std/tests/thread_local/dynamic_tests.rs
// ---------------------------------------------------------------------------------------------

std_test! {
fn smoke() {
    fn square(i: i32) -> i32 {
        i * i
    }
    thread_local!(static FOO: i32 = square(3));

    FOO.with(|f| {
        assert_eq!(*f, 9);
    });
}
}

std_test! {
fn hashmap() {
    fn map() -> RefCell<HashMap<i32, i32>> {
        let mut m = HashMap::new();
        m.insert(1, 2);
        RefCell::new(m)
    }
    thread_local!(static FOO: RefCell<HashMap<i32, i32>> = map());

    FOO.with(|map| {
        assert_eq!(map.borrow()[&1], 2);
    });
}
}

std_test! {
fn refcell_vec() {
    thread_local!(static FOO: RefCell<Vec<u32>> = RefCell::new(vec![1, 2, 3]));

    FOO.with(|vec| {
        assert_eq!(vec.borrow().len(), 3);
        vec.borrow_mut().push(4);
        assert_eq!(vec.borrow()[3], 4);
    });
}
}

// ---------------------------------------------------------------------------------------------
// library/std/tests/thread.rs (its thread-local tests)
// ---------------------------------------------------------------------------------------------

std_test! {
fn thread_local_containing_const_statements() {
    // This exercises the `const $init:block` cases of the thread_local macro.
    // Despite overlapping with expression syntax, the `const { ... }` is not
    // parsed as `$init:expr`.
    thread_local! {
        static CELL: Cell<u32> = const {
            let value = 1;
            Cell::new(value)
        };

        static REFCELL: RefCell<u32> = const {
            let value = 1;
            RefCell::new(value)
        };
    }

    assert_eq!(CELL.get(), 1);
    assert_eq!(REFCELL.take(), 1);
}
}

std_test! {
fn thread_local_hygeiene() {
    // Previously `thread_local_inner!` had use imports for `LocalKey`, `Storage`, `EagerStorage`
    // and `LazyStorage`. The use imports will shadow a user-provided type or type alias if the
    // user-provided type or type alias has the same name. Make sure that this does not happen. See
    // <https://github.com/rust-lang/rust/issues/131863>.
    //
    // NOTE: if the internal implementation details change (i.e. get renamed), this test should be
    // updated.

    #![allow(dead_code)]
    type LocalKey = ();
    type Storage = ();
    type LazyStorage = ();
    type EagerStorage = ();
    #[allow(non_camel_case_types)]
    type usize = ();
    thread_local! {
        static A: LocalKey = const { () };
        static B: Storage = const { () };
        static C: LazyStorage = const { () };
        static D: EagerStorage = const { () };
    }
}
}

// ---------------------------------------------------------------------------------------------
// library/std/src/thread/local.rs: the doc examples (each as one test)
// ---------------------------------------------------------------------------------------------

// `thread_local!` / `LocalKey` (module-level example).
std_test! {
fn doc_local_key() {
    // explicit `const {}` block enables more efficient initialization
    thread_local!(static FOO: Cell<u32> = const { Cell::new(1) });

    assert_eq!(FOO.get(), 1);
    FOO.set(2);

    // each thread starts out with the initial value of 1
    let t = thread::spawn(move || {
        assert_eq!(FOO.get(), 1);
        FOO.set(3);
    });

    // wait for the thread to complete and bail out on panic
    t.join().unwrap();

    // we retain our original value of 2 despite the child thread
    assert_eq!(FOO.get(), 2);
}
}

std_test! {
fn doc_thread_local_macro() {
    thread_local! {
        pub static FOO: Cell<u32> = const { Cell::new(1) };

        static BAR: RefCell<Vec<f32>> = RefCell::new(vec![1.0, 2.0]);
    }

    assert_eq!(FOO.get(), 1);
    BAR.with_borrow(|v| assert_eq!(v[1], 2.0));
}
}

std_test! {
fn doc_thread_local_macro_const() {
    thread_local! {
        pub static FOO: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    }

    FOO.with_borrow(|v| assert_eq!(v.len(), 0));
}
}

std_test! {
fn doc_with() {
    thread_local! {
        pub static STATIC: String = String::from("I am");
    }

    assert_eq!(
        STATIC.with(|original_value| format!("{original_value} initialized")),
        "I am initialized",
    );
}
}

std_test! {
fn doc_try_with() {
    thread_local! {
        pub static STATIC: String = String::from("I am");
    }

    assert_eq!(
        STATIC.try_with(|original_value| format!("{original_value} initialized")),
        Ok(String::from("I am initialized")),
    );
}
}

std_test! {
fn doc_cell_set() {
    thread_local! {
        static X: Cell<i32> = panic!("!");
    }

    // Calling X.get() here would result in a panic.

    X.set(123); // But X.set() is fine, as it skips the initializer above.

    assert_eq!(X.get(), 123);
}
}

std_test! {
fn doc_cell_get() {
    thread_local! {
        static X: Cell<i32> = const { Cell::new(1) };
    }

    assert_eq!(X.get(), 1);
}
}

std_test! {
fn doc_cell_take() {
    thread_local! {
        static X: Cell<Option<i32>> = const { Cell::new(Some(1)) };
    }

    assert_eq!(X.take(), Some(1));
    assert_eq!(X.take(), None);
}
}

std_test! {
fn doc_cell_replace() {
    thread_local! {
        static X: Cell<i32> = const { Cell::new(1) };
    }

    assert_eq!(X.replace(2), 1);
    assert_eq!(X.replace(3), 2);
}
}

std_test! {
fn doc_refcell_with_borrow() {
    thread_local! {
        static X: RefCell<Vec<i32>> = RefCell::new(Vec::new());
    }

    X.with_borrow(|v| assert!(v.is_empty()));
}
}

std_test! {
fn doc_refcell_with_borrow_mut() {
    thread_local! {
        static X: RefCell<Vec<i32>> = RefCell::new(Vec::new());
    }

    X.with_borrow_mut(|v| v.push(1));

    X.with_borrow(|v| assert_eq!(*v, vec![1]));
}
}

std_test! {
fn doc_refcell_set() {
    thread_local! {
        static X: RefCell<Vec<i32>> = panic!("!");
    }

    // Calling X.with() here would result in a panic.

    X.set(vec![1, 2, 3]); // But X.set() is fine, as it skips the initializer above.

    X.with_borrow(|v| assert_eq!(*v, vec![1, 2, 3]));
}
}

std_test! {
fn doc_refcell_take() {
    thread_local! {
        static X: RefCell<Vec<i32>> = RefCell::new(Vec::new());
    }

    X.with_borrow_mut(|v| v.push(1));

    let a = X.take();

    assert_eq!(a, vec![1]);

    X.with_borrow(|v| assert!(v.is_empty()));
}
}

std_test! {
fn doc_refcell_replace() {
    thread_local! {
        static X: RefCell<Vec<i32>> = RefCell::new(Vec::new());
    }

    let prev = X.replace(vec![1, 2, 3]);
    assert!(prev.is_empty());

    X.with_borrow(|v| assert_eq!(*v, vec![1, 2, 3]));
}
}

// ---------------------------------------------------------------------------------------------
// Green-thread behaviour (smarm's own tests; they hold for OS threads as well)
// ---------------------------------------------------------------------------------------------

/// Sleeps or yields, alternately: either way a green thread parks or leaves its worker, and
/// another green thread may run there (and this one may resume on another worker).
fn pause(round: usize) {
    if round.is_multiple_of(2) {
        thread::sleep(Duration::from_micros(10));
    } else {
        thread::yield_now();
    }
}

/// What thread `i` stores in round `round`: unique per thread and per round, so a value seen
/// from another thread, or a stale copy of an earlier round, shows.
fn value(i: usize, round: usize) -> usize {
    i * 1_000_000 + round
}

/// 1,000 threads (the program), all alive at once, each with its own lazily and eagerly initialised values that
/// it checks and changes around many sleeps and yields; a value's address stays put within its
/// thread and differs between threads.
#[test]
fn green_values_stay_apart_across_sleeps_and_yields() {
    const THREADS: usize = 1000;
    const ROUNDS: usize = 40;
    thread_local! {
        static LAZY: Cell<usize> = Cell::new(usize::MAX);
        static EAGER: Cell<usize> = const { Cell::new(usize::MAX) };
        static TEXT: RefCell<String> = RefCell::new(String::from("fresh"));
    }

    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                // Every thread starts from the initial values, whatever ran before it here.
                assert_eq!(LAZY.get(), usize::MAX);
                assert_eq!(EAGER.get(), usize::MAX);
                TEXT.with_borrow(|s| assert_eq!(s, "fresh"));
                let addr = LAZY.with(|c| c as *const Cell<usize> as usize);
                let eager_addr = EAGER.with(|c| c as *const Cell<usize> as usize);

                LAZY.set(value(i, 0));
                EAGER.set(value(i, 0));
                TEXT.set(format!("thread {i} round 0"));
                barrier.wait(); // every thread has set its values before any checks them

                for round in 0..ROUNDS {
                    pause(round);
                    assert_eq!(LAZY.get(), value(i, round), "thread {i} round {round}");
                    assert_eq!(EAGER.get(), value(i, round), "thread {i} round {round}");
                    TEXT.with_borrow(|s| assert_eq!(*s, format!("thread {i} round {round}")));
                    assert_eq!(LAZY.with(|c| c as *const Cell<usize> as usize), addr);
                    assert_eq!(EAGER.with(|c| c as *const Cell<usize> as usize), eager_addr);
                    pause(round + 1);
                    LAZY.set(value(i, round + 1));
                    EAGER.set(value(i, round + 1));
                    TEXT.set(format!("thread {i} round {}", round + 1));
                }
                (addr, eager_addr)
            })
        })
        .collect();
    let addrs: Vec<(usize, usize)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let lazy: HashSet<usize> = addrs.iter().map(|a| a.0).collect();
    let eager: HashSet<usize> = addrs.iter().map(|a| a.1).collect();
    assert_eq!(
        lazy.len(),
        THREADS,
        "live threads shared a lazy thread-local"
    );
    assert_eq!(
        eager.len(),
        THREADS,
        "live threads shared an eager thread-local"
    );
}

/// Two threads take turns through channels (so each parks in `recv` while the other runs, on the
/// same worker under smarm when there is one): each sees only its own value, never the other's.
#[test]
fn green_ping_pong_threads_see_only_their_own_value() {
    const ROUNDS: usize = 2_000;
    thread_local!(static V: Cell<usize> = const { Cell::new(0) });

    let (to_b, b_rx) = mpsc::channel::<usize>();
    let (to_a, a_rx) = mpsc::channel::<usize>();
    let a = thread::spawn(move || {
        for round in 1..=ROUNDS {
            V.set(value(1, round));
            to_b.send(round).unwrap();
            assert_eq!(a_rx.recv().unwrap(), round);
            assert_eq!(V.get(), value(1, round), "A saw B's value in round {round}");
        }
    });
    let b = thread::spawn(move || {
        let mut expect = 0;
        for round in b_rx {
            assert_eq!(V.get(), expect, "B saw A's value in round {round}");
            if round.is_multiple_of(16) {
                thread::sleep(Duration::from_micros(10));
            }
            V.set(value(2, round));
            expect = value(2, round);
            to_a.send(round).unwrap();
        }
    });
    a.join().unwrap();
    b.join().unwrap();
    // The test's own thread was never touched.
    assert_eq!(V.get(), 0);
}

/// Scoped threads borrow the parent's stack, not its thread-locals.
#[test]
fn green_scoped_threads_have_their_own_values() {
    thread_local!(static V: Cell<usize> = const { Cell::new(7) });
    std_scoped_body();

    fn std_scoped_body() {
        V.set(1);
        let seen = AtomicUsize::new(0);
        thread::scope(|s| {
            for i in 0..100 {
                let seen = &seen;
                s.spawn(move || {
                    assert_eq!(V.get(), 7);
                    V.set(value(i, 0));
                    for round in 0..10 {
                        pause(round);
                        assert_eq!(V.get(), value(i, round));
                        V.set(value(i, round + 1));
                    }
                    seen.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(seen.load(Ordering::Relaxed), 100);
        assert_eq!(V.get(), 1);
    }
    thread::spawn(std_scoped_body).join().unwrap();
}

/// Every thread keeps `borrow_mut()` of its own thread-local `RefCell` alive across sleeps, yields
/// and a barrier that all of them reach while holding it: none may see another's borrow ("already
/// borrowed").
#[test]
fn green_refcell_borrow_held_across_sleep() {
    const THREADS: usize = 200;
    const ROUNDS: usize = 20;
    thread_local!(static BUF: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) });

    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                BUF.with(|buf| {
                    let mut held = buf.borrow_mut(); // kept alive until the end of this closure
                    held.push(i);
                    barrier.wait(); // now every thread holds its own borrow_mut at once
                    for round in 0..ROUNDS {
                        thread::sleep(Duration::from_micros(10));
                        held.push(i);
                        thread::yield_now();
                        assert_eq!(held.len(), round + 2);
                    }
                });
                // The borrow is released; borrowing again works and sees only this thread's data.
                BUF.with_borrow_mut(|v| {
                    thread::sleep(Duration::from_micros(10));
                    v.push(i);
                });
                BUF.with_borrow(|v| {
                    assert_eq!(v.len(), ROUNDS + 2);
                    assert!(v.iter().all(|&x| x == i), "thread {i} saw {v:?}");
                });
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// Pushes its thread's number on drop.
struct Recorder(usize, Arc<Mutex<Vec<usize>>>);

impl Drop for Recorder {
    fn drop(&mut self) {
        self.1.lock().unwrap().push(self.0);
    }
}

/// 500 threads, each with a lazily initialised thread-local holding a value that records itself
/// when dropped: every thread's destructor runs exactly once, with that thread's own value, before
/// `join` returns.
#[test]
fn green_dtors_run_once_per_thread_before_join() {
    const THREADS: usize = 500;
    thread_local!(static REC: RefCell<Option<Recorder>> = const { RefCell::new(None) });

    let dropped = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let dropped = Arc::clone(&dropped);
            let h = thread::spawn(move || {
                REC.with_borrow(|r| assert!(r.is_none()));
                REC.set(Some(Recorder(i, dropped)));
                for round in 0..10 {
                    pause(round);
                    REC.with_borrow(|r| assert_eq!(r.as_ref().unwrap().0, i));
                }
            });
            (i, h)
        })
        .collect();
    for (i, h) in handles {
        h.join().unwrap();
        assert!(
            dropped.lock().unwrap().contains(&i),
            "thread {i} joined before its dtor ran"
        );
    }
    let mut dropped = dropped.lock().unwrap().clone();
    dropped.sort_unstable();
    assert_eq!(dropped, (0..THREADS).collect::<Vec<_>>());
}

/// A thread-local destructor that blocks: it sleeps, takes a lock, and sends on a channel. The
/// thread's end waits for it, and `join` returns after it.
#[test]
fn green_dtor_may_block() {
    struct Blocker(mpsc::Sender<usize>, Arc<Mutex<usize>>, usize);
    impl Drop for Blocker {
        fn drop(&mut self) {
            for round in 0..5 {
                pause(round);
            }
            *self.1.lock().unwrap() += 1;
            self.0.send(self.2).unwrap();
        }
    }
    thread_local!(static B: RefCell<Option<Blocker>> = const { RefCell::new(None) });

    let count = Arc::new(Mutex::new(0));
    let (tx, rx) = mpsc::channel();
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let tx = tx.clone();
            let count = Arc::clone(&count);
            thread::spawn(move || B.set(Some(Blocker(tx, count, i))))
        })
        .collect();
    drop(tx);
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*count.lock().unwrap(), 50);
    let mut got: Vec<usize> = rx.iter().collect();
    got.sort_unstable();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}
