//! `std::sync::Mutex`, differential: std's own tests, built and run against smarm and against std; only
//! the `use` lines below differ.
//!
//! - `cargo test --test compat_std_mutex`                       (smarm)
//! - `cargo test --test compat_std_mutex --features compat-std` (std)
//!
//! # Provenance and licence
//!
//! The tests below are taken from the Rust project (<https://github.com/rust-lang/rust>),
//! Rust 1.95.0:
//!
//! - `library/std/tests/sync/mutex.rs` (all but the tests below),
//! - `library/std/tests/sync/lib.rs`: `result_unwrap` and the poison half of
//!   `nonpoison_and_poison_unwrap_test!`.
//!
//! Copyright the Rust Project Developers, dual-licensed under the Apache License, Version 2.0
//! (<https://www.apache.org/licenses/LICENSE-2.0>) or the MIT license
//! (<https://opensource.org/licenses/MIT>), at your option — the same terms as smarm itself.
//!
//! # What changed in the port, and why
//!
//! - Imports: the types under test and `thread`, `mpsc` come from smarm (or from std under
//!   `compat-std`); `Arc`, atomics and the poison types are std's in both (smarm re-exports them).
//! - Every std test body is wrapped, verbatim, in `std_test! { fn name() { … } }`: the macro
//!   makes a `#[test] fn name()` that runs the body twice, each time as its own copy (statics in
//!   the body are fresh): once on the test's OS thread, as std runs it, and once inside a spawned
//!   thread (a green thread under smarm), so the threads it spawns and the locks it blocks on are
//!   used from a green thread too. A `#[should_panic]` test stops at the first run's panic.
//! - std's `nonpoison_and_poison_unwrap_test!` makes a `nonpoison_<name>` and a `poison_<name>`
//!   test from one body (its `${concat}` is unstable). Here `poison_test!` makes only the poison
//!   one, named `<name>` (`std::sync::nonpoison` is unstable), with `locks` = the mirrored `sync`
//!   module and `maybe_unwrap` = `unwrap`, as std's poison half has them; the std-only
//!   `nonpoison_*` tests are not ported.
//!
//! # Not ported
//!
//! - `test_get_cloned`, `test_set`, `test_set_drop`, `test_replace`, `test_get_cloned_poison`,
//!   `test_set_poison`, `test_replace_poison`: `Mutex::{get_cloned, set, replace}` are unstable
//!   (`lock_value_accessors`).
//! - `test_mapping_mapped_guard`, `test_mutex_arc_poison_mapped`,
//!   `panic_while_mapping_unlocked_poison`: `MutexGuard::map`/`filter_map` and `MappedMutexGuard`
//!   are unstable (`mapped_lock_guards`).
//! - `test_mutex_with_mut` and every `nonpoison_*` test: `std::sync::nonpoison` is unstable
//!   (`sync_nonpoison`, `nonpoison_mutex`).

#[cfg(not(feature = "compat-std"))]
use smarm::{
    sync as locks,
    sync::{Mutex, mpsc::channel},
    thread,
};
#[cfg(feature = "compat-std")]
use std::{
    sync as locks,
    sync::{Mutex, mpsc::channel},
    thread,
};

use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::{hint, mem};

#[macro_use]
mod common;

/// std's `nonpoison_and_poison_unwrap_test!`, poison half only (`std::sync::nonpoison` is
/// unstable): `locks` is the mirrored `sync` module and `maybe_unwrap` unwraps. Run as
/// `std_test!` runs its bodies.
#[allow(unused_macros)]
macro_rules! poison_test {
    ($(#[$attr:meta])* fn $name:ident() { $($body:tt)* }) => {
        std_test! {
            $(#[$attr])*
            fn $name() {
                #[allow(unused_imports)]
                use crate::result_unwrap as maybe_unwrap;
                #[allow(unused_imports)]
                use crate::locks;
                $($body)*
            }
        }
    };
}

#[allow(dead_code)]
#[track_caller]
fn result_unwrap<T, E: std::fmt::Debug>(x: Result<T, E>) -> T {
    x.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Ported from the Rust standard library (see the header for provenance and licence).
// ---------------------------------------------------------------------------------------------

////////////////////////////////////////////////////////////////////////////////////////////////////
// Nonpoison & Poison Tests
////////////////////////////////////////////////////////////////////////////////////////////////////

poison_test! {
    fn smoke() {
        use locks::Mutex;

        let m = Mutex::new(());
        drop(maybe_unwrap(m.lock()));
        drop(maybe_unwrap(m.lock()));
    }
}

poison_test! {
    fn lots_and_lots() {
        use locks::Mutex;

        const J: u32 = 1000;
        const K: u32 = 3;

        let m = Arc::new(Mutex::new(0));

        fn inc(m: &Mutex<u32>) {
            for _ in 0..J {
                *maybe_unwrap(m.lock()) += 1;
            }
        }

        let (tx, rx) = channel();
        for _ in 0..K {
            let tx2 = tx.clone();
            let m2 = m.clone();
            thread::spawn(move || {
                inc(&m2);
                tx2.send(()).unwrap();
            });
            let tx2 = tx.clone();
            let m2 = m.clone();
            thread::spawn(move || {
                inc(&m2);
                tx2.send(()).unwrap();
            });
        }

        drop(tx);
        for _ in 0..2 * K {
            rx.recv().unwrap();
        }
        assert_eq!(*maybe_unwrap(m.lock()), J * K * 2);
    }
}

poison_test! {
    fn try_lock() {
        use locks::Mutex;

        let m = Mutex::new(());
        *m.try_lock().unwrap() = ();
    }
}

#[derive(Eq, PartialEq, Debug)]
struct NonCopy(i32);

#[derive(Eq, PartialEq, Debug)]
struct NonCopyNeedsDrop(i32);

impl Drop for NonCopyNeedsDrop {
    fn drop(&mut self) {
        hint::black_box(());
    }
}

std_test! {
fn test_needs_drop() {
    assert!(!mem::needs_drop::<NonCopy>());
    assert!(mem::needs_drop::<NonCopyNeedsDrop>());
}
}

poison_test! {
    fn test_into_inner() {
        use locks::Mutex;

        let m = Mutex::new(NonCopy(10));
        assert_eq!(maybe_unwrap(m.into_inner()), NonCopy(10));
    }
}

poison_test! {
    fn test_into_inner_drop() {
        use locks::Mutex;

        struct Foo(Arc<AtomicUsize>);
        impl Drop for Foo {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }

        let num_drops = Arc::new(AtomicUsize::new(0));
        let m = Mutex::new(Foo(num_drops.clone()));
        assert_eq!(num_drops.load(Ordering::SeqCst), 0);
        {
            let _inner = maybe_unwrap(m.into_inner());
            assert_eq!(num_drops.load(Ordering::SeqCst), 0);
        }
        assert_eq!(num_drops.load(Ordering::SeqCst), 1);
    }
}

poison_test! {
    fn test_get_mut() {
        use locks::Mutex;

        let mut m = Mutex::new(NonCopy(10));
        *maybe_unwrap(m.get_mut()) = NonCopy(20);
        assert_eq!(maybe_unwrap(m.into_inner()), NonCopy(20));
    }
}

// Ensure that old values that are replaced by `set` are correctly dropped.

poison_test! {
    fn test_mutex_arc_nested() {
        use locks::Mutex;

        // Tests nested mutexes and access
        // to underlying data.
        let arc = Arc::new(Mutex::new(1));
        let arc2 = Arc::new(Mutex::new(arc));
        let (tx, rx) = channel();
        let _t = thread::spawn(move || {
            let lock = maybe_unwrap(arc2.lock());
            let lock2 = maybe_unwrap(lock.lock());
            assert_eq!(*lock2, 1);
            tx.send(()).unwrap();
        });
        rx.recv().unwrap();
    }
}

poison_test! {
    fn test_mutex_unsized() {
        use locks::Mutex;

        let mutex: &Mutex<[i32]> = &Mutex::new([1, 2, 3]);
        {
            let b = &mut *maybe_unwrap(mutex.lock());
            b[0] = 4;
            b[2] = 5;
        }
        let comp: &[i32] = &[4, 2, 5];
        assert_eq!(&*maybe_unwrap(mutex.lock()), comp);
    }
}

poison_test! {
#[cfg(panic = "unwind")] // Requires unwinding support.
    fn test_panics() {
        use locks::Mutex;

        let mutex = Mutex::new(42);

        let catch_unwind_result1 = panic::catch_unwind(AssertUnwindSafe(|| {
            let _guard1 = maybe_unwrap(mutex.lock());

            panic!("test panic with mutex once");
        }));
        assert!(catch_unwind_result1.is_err());

        let catch_unwind_result2 = panic::catch_unwind(AssertUnwindSafe(|| {
            let _guard2 = maybe_unwrap(mutex.lock());

            panic!("test panic with mutex twice");
        }));
        assert!(catch_unwind_result2.is_err());

        let catch_unwind_result3 = panic::catch_unwind(AssertUnwindSafe(|| {
            let _guard3 = maybe_unwrap(mutex.lock());

            panic!("test panic with mutex thrice");
        }));
        assert!(catch_unwind_result3.is_err());
    }
}

poison_test! {
#[cfg(panic = "unwind")] // Requires unwinding support.
    fn test_mutex_arc_access_in_unwind() {
        use locks::Mutex;

        let arc = Arc::new(Mutex::new(1));
        let arc2 = arc.clone();
        let _ = thread::spawn(move || -> () {
            struct Unwinder {
                i: Arc<Mutex<i32>>,
            }
            impl Drop for Unwinder {
                fn drop(&mut self) {
                    *maybe_unwrap(self.i.lock()) += 1;
                }
            }
            let _u = Unwinder { i: arc2 };
            panic!();
        })
        .join();
        let lock = maybe_unwrap(arc.lock());
        assert_eq!(*lock, 2);
    }
}

////////////////////////////////////////////////////////////////////////////////////////////////////
// Poison Tests
////////////////////////////////////////////////////////////////////////////////////////////////////

/// Creates a mutex that is immediately poisoned.
fn new_poisoned_mutex<T>(value: T) -> Mutex<T> {
    let mutex = Mutex::new(value);

    let catch_unwind_result = panic::catch_unwind(AssertUnwindSafe(|| {
        let _guard = mutex.lock().unwrap();

        panic!("test panic to poison mutex");
    }));

    assert!(catch_unwind_result.is_err());
    assert!(mutex.is_poisoned());

    mutex
}

std_test! {
#[cfg_attr(not(panic = "unwind"), ignore = "test requires unwinding support")]
fn test_into_inner_poison() {
    let m = new_poisoned_mutex(NonCopy(10));

    match m.into_inner() {
        Err(e) => assert_eq!(e.into_inner(), NonCopy(10)),
        Ok(x) => panic!("into_inner of poisoned Mutex is Ok: {x:?}"),
    }
}
}

std_test! {
#[cfg_attr(not(panic = "unwind"), ignore = "test requires unwinding support")]
fn test_get_mut_poison() {
    let mut m = new_poisoned_mutex(NonCopy(10));

    match m.get_mut() {
        Err(e) => assert_eq!(*e.into_inner(), NonCopy(10)),
        Ok(x) => panic!("get_mut of poisoned Mutex is Ok: {x:?}"),
    }
}
}

std_test! {
#[cfg_attr(not(panic = "unwind"), ignore = "test requires unwinding support")]
fn test_mutex_arc_poison() {
    let arc = Arc::new(Mutex::new(1));
    assert!(!arc.is_poisoned());
    let arc2 = arc.clone();
    let _ = thread::spawn(move || {
        let lock = arc2.lock().unwrap();
        assert_eq!(*lock, 2); // deliberate assertion failure to poison the mutex
    })
    .join();
    assert!(arc.lock().is_err());
    assert!(arc.is_poisoned());
}
}
