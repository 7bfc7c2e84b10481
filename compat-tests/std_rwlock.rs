//! `std::sync::RwLock`, differential: std's own tests, built and run against smarm and against std; only
//! the `use` lines below differ.
//!
//! - `cargo test --test compat_std_rwlock`                       (smarm)
//! - `cargo test --test compat_std_rwlock --features compat-std` (std)
//!
//! # Provenance and licence
//!
//! The tests below are taken from the Rust project (<https://github.com/rust-lang/rust>),
//! Rust 1.95.0:
//!
//! - `library/std/tests/sync/rwlock.rs` (all but the tests below),
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
//! - `frob` draws from `rand` via std's `common::test_rng()`; smarm has no `rand` dependency,
//!   so `common::test_rng()` here is a seeded xorshift64* with the one method `frob` calls,
//!   `random_bool(p)`.
//!
//! # Not ported
//!
//! - `test_get_cloned`, `test_set`, `test_replace`, `test_get_cloned_poison`, `test_set_poison`,
//!   `test_replace_poison`: `RwLock::{get_cloned, set, replace}` are unstable
//!   (`lock_value_accessors`).
//! - `test_mapped_read_guard_covariance`, `test_mapping_mapped_guard`,
//!   `test_rw_arc_poison_mapped_w_r`, `test_rw_arc_poison_mapped_w_w`,
//!   `test_rw_arc_no_poison_mapped_r_r`, `test_rw_arc_no_poison_mapped_r_w`,
//!   `panic_while_mapping_read_unlocked_no_poison`, `panic_while_mapping_write_unlocked_poison`,
//!   `poison_test_rwlock_try_write`: `RwLock{Read,Write}Guard::map`/`filter_map` and the mapped
//!   guards are unstable (`mapped_lock_guards`).
//! - `nonpoison_test_rwlock_try_write`, `test_rwlock_with`, `test_rwlock_with_mut` and every
//!   `nonpoison_*` test: `std::sync::nonpoison` is unstable (`sync_nonpoison`,
//!   `nonpoison_rwlock`).

// std's bodies are kept as std wrote them; these are the lints they trip.
#![allow(clippy::drop_non_drop)]

#[cfg(not(feature = "compat-std"))]
use smarm::{
    sync as locks,
    sync::{RwLock, mpsc::channel},
    thread,
};
#[cfg(feature = "compat-std")]
use std::{
    sync as locks,
    sync::{RwLock, mpsc::channel},
    thread,
};

use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::{hint, mem};

/// Stand-in for std's `common::test_rng()` (a seeded `rand` RNG): `random_bool` only.
mod common {
    pub struct TestRng(u64);

    pub fn test_rng() -> TestRng {
        TestRng(0x2545_f491_4f6c_dd1d)
    }

    impl TestRng {
        pub fn random_bool(&mut self, p: f64) -> bool {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
            ((x >> 11) as f64 / (1u64 << 53) as f64) < p
        }
    }
}

#[macro_use]
#[path = "common/mod.rs"]
mod compat_common; // `common` is std's own module below

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

////////////////////////////////////////////////////////////////////////////////////////////////////
// Non-poison & Poison Tests
////////////////////////////////////////////////////////////////////////////////////////////////////

poison_test! {
    fn smoke() {
        use locks::RwLock;

        let l = RwLock::new(());
        drop(maybe_unwrap(l.read()));
        drop(maybe_unwrap(l.write()));
        drop((maybe_unwrap(l.read()), maybe_unwrap(l.read())));
        drop(maybe_unwrap(l.write()));
    }
}

// FIXME: On macOS we use a provenance-incorrect implementation and Miri
// catches that issue with a chance of around 1/1000.
// See <https://github.com/rust-lang/rust/issues/121950> for details.
poison_test! {
#[cfg(not(all(miri, target_os = "macos")))]
    fn frob() {
        use locks::RwLock;

        const N: u32 = 10;
        const M: usize = if cfg!(miri) { 100 } else { 1000 };

        let r = Arc::new(RwLock::new(()));

        let (tx, rx) = channel::<()>();
        for _ in 0..N {
            let tx = tx.clone();
            let r = r.clone();
            thread::spawn(move || {
                let mut rng = crate::common::test_rng();
                for _ in 0..M {
                    if rng.random_bool(1.0 / (N as f64)) {
                        drop(maybe_unwrap(r.write()));
                    } else {
                        drop(maybe_unwrap(r.read()));
                    }
                }
                drop(tx);
            });
        }
        drop(tx);
        let _ = rx.recv();
    }
}

poison_test! {
    fn test_rw_arc() {
        use locks::RwLock;

        let arc = Arc::new(RwLock::new(0));
        let arc2 = arc.clone();
        let (tx, rx) = channel();

        thread::spawn(move || {
            let mut lock = maybe_unwrap(arc2.write());
            for _ in 0..10 {
                let tmp = *lock;
                *lock = -1;
                thread::yield_now();
                *lock = tmp + 1;
            }
            tx.send(()).unwrap();
        });

        // Readers try to catch the writer in the act
        let mut children = Vec::new();
        for _ in 0..5 {
            let arc3 = arc.clone();
            children.push(thread::spawn(move || {
                let lock = maybe_unwrap(arc3.read());
                assert!(*lock >= 0);
            }));
        }

        // Wait for children to pass their asserts
        for r in children {
            assert!(r.join().is_ok());
        }

        // Wait for writer to finish
        rx.recv().unwrap();
        let lock = maybe_unwrap(arc.read());
        assert_eq!(*lock, 10);
    }
}

poison_test! {
#[cfg(panic = "unwind")] // Requires unwinding support.
    fn test_rw_arc_access_in_unwind() {
        use locks::RwLock;

        let arc = Arc::new(RwLock::new(1));
        let arc2 = arc.clone();
        let _ = thread::spawn(move || -> () {
            struct Unwinder {
                i: Arc<RwLock<isize>>,
            }
            impl Drop for Unwinder {
                fn drop(&mut self) {
                    let mut lock = maybe_unwrap(self.i.write());
                    *lock += 1;
                }
            }
            let _u = Unwinder { i: arc2 };
            panic!();
        })
        .join();
        let lock = maybe_unwrap(arc.read());
        assert_eq!(*lock, 2);
    }
}

poison_test! {
    fn test_rwlock_unsized() {
        use locks::RwLock;

        let rw: &RwLock<[i32]> = &RwLock::new([1, 2, 3]);
        {
            let b = &mut *maybe_unwrap(rw.write());
            b[0] = 4;
            b[2] = 5;
        }
        let comp: &[i32] = &[4, 2, 5];
        assert_eq!(&*maybe_unwrap(rw.read()), comp);
    }
}

poison_test! {
    fn test_into_inner() {
        use locks::RwLock;

        let m = RwLock::new(NonCopy(10));
        assert_eq!(maybe_unwrap(m.into_inner()), NonCopy(10));
    }
}

poison_test! {
    fn test_into_inner_drop() {
        use locks::RwLock;

        struct Foo(Arc<AtomicUsize>);
        impl Drop for Foo {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }

        let num_drops = Arc::new(AtomicUsize::new(0));
        let m = RwLock::new(Foo(num_drops.clone()));
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
        use locks::RwLock;

        let mut m = RwLock::new(NonCopy(10));
        *maybe_unwrap(m.get_mut()) = NonCopy(20);
        assert_eq!(maybe_unwrap(m.into_inner()), NonCopy(20));
    }
}

poison_test! {
    fn test_read_guard_covariance() {
        use locks::{RwLock, RwLockReadGuard};

        fn do_stuff<'a>(_: RwLockReadGuard<'_, &'a i32>, _: &'a i32) {}
        let j: i32 = 5;
        let lock = RwLock::new(&j);
        {
            let i = 6;
            do_stuff(maybe_unwrap(lock.read()), &i);
        }
        drop(lock);
    }
}

poison_test! {
    fn test_downgrade_basic() {
        use locks::{RwLock, RwLockWriteGuard};

        let r = RwLock::new(());

        let write_guard = maybe_unwrap(r.write());
        let _read_guard = RwLockWriteGuard::downgrade(write_guard);
    }
}

// FIXME: On macOS we use a provenance-incorrect implementation and Miri catches that issue.
// See <https://github.com/rust-lang/rust/issues/121950> for details.
poison_test! {
#[cfg(not(all(miri, target_os = "macos")))]
    fn test_downgrade_observe() {
        use locks::{RwLock, RwLockWriteGuard};

        // Inspired by the test `test_rwlock_downgrade` from:
        // https://github.com/Amanieu/parking_lot/blob/master/src/rwlock.rs

        const W: usize = 20;
        const N: usize = if cfg!(miri) { 40 } else { 100 };

        // This test spawns `W` writer threads, where each will increment a counter `N` times,
        // ensuring that the value they wrote has not changed after downgrading.

        let rw = Arc::new(RwLock::new(0));

        // Spawn the writers that will do `W * N` operations and checks.
        let handles: Vec<_> = (0..W)
            .map(|_| {
                let rw = rw.clone();
                thread::spawn(move || {
                    for _ in 0..N {
                        // Increment the counter.
                        let mut write_guard = maybe_unwrap(rw.write());
                        *write_guard += 1;
                        let cur_val = *write_guard;

                        // Downgrade the lock to read mode, where the value protected cannot be
                        // modified.
                        let read_guard = RwLockWriteGuard::downgrade(write_guard);
                        assert_eq!(cur_val, *read_guard);
                    }
                })
            })
            .collect();

        for handle in handles {
            handle.join().unwrap();
        }

        assert_eq!(*maybe_unwrap(rw.read()), W * N);
    }
}

// FIXME: On macOS we use a provenance-incorrect implementation and Miri catches that issue.
// See <https://github.com/rust-lang/rust/issues/121950> for details.
poison_test! {
#[cfg(not(all(miri, target_os = "macos")))]
    fn test_downgrade_atomic() {
        use locks::{RwLock, RwLockWriteGuard};

        const NEW_VALUE: i32 = -1;

        // This test checks that `downgrade` is atomic, meaning as soon as a write lock has been
        // downgraded, the lock must be in read mode and no other threads can take the write lock to
        // modify the protected value.

        // `W` is the number of evil writer threads.
        const W: usize = 20;
        let rwlock = Arc::new(RwLock::new(0));

        // Spawns many evil writer threads that will try and write to the locked value before the
        // initial writer (who has the exclusive lock) can read after it downgrades.
        // If the `RwLock` behaves correctly, then the initial writer should read the value it wrote
        // itself as no other thread should be able to mutate the protected value.

        // Put the lock in write mode, causing all future threads trying to access this go to sleep.
        let mut main_write_guard = maybe_unwrap(rwlock.write());

        // Spawn all of the evil writer threads. They will each increment the protected value by 1.
        let handles: Vec<_> = (0..W)
            .map(|_| {
                let rwlock = rwlock.clone();
                thread::spawn(move || {
                    // Will go to sleep since the main thread initially has the write lock.
                    let mut evil_guard = maybe_unwrap(rwlock.write());
                    *evil_guard += 1;
                })
            })
            .collect();

        // Wait for a good amount of time so that evil threads go to sleep.
        // Note: this is not strictly necessary...
        let eternity = std::time::Duration::from_millis(42);
        thread::sleep(eternity);

        // Once everyone is asleep, set the value to `NEW_VALUE`.
        *main_write_guard = NEW_VALUE;

        // Atomically downgrade the write guard into a read guard.
        let main_read_guard = RwLockWriteGuard::downgrade(main_write_guard);

        // If the above is not atomic, then it would be possible for an evil thread to get in front
        // of this read and change the value to be non-negative.
        assert_eq!(*main_read_guard, NEW_VALUE, "`downgrade` was not atomic");

        // Drop the main read guard and allow the evil writer threads to start incrementing.
        drop(main_read_guard);

        for handle in handles {
            handle.join().unwrap();
        }

        let final_check = maybe_unwrap(rwlock.read());
        assert_eq!(*final_check, W as i32 + NEW_VALUE);
    }
}

////////////////////////////////////////////////////////////////////////////////////////////////////
// Poison Tests
////////////////////////////////////////////////////////////////////////////////////////////////////

/// Creates a rwlock that is immediately poisoned.
fn new_poisoned_rwlock<T>(value: T) -> RwLock<T> {
    let lock = RwLock::new(value);

    let catch_unwind_result = panic::catch_unwind(AssertUnwindSafe(|| {
        let _guard = lock.write().unwrap();

        panic!("test panic to poison RwLock");
    }));

    assert!(catch_unwind_result.is_err());
    assert!(lock.is_poisoned());

    lock
}

std_test! {
#[cfg_attr(not(panic = "unwind"), ignore = "test requires unwinding support")]
fn test_into_inner_poison() {
    let m = new_poisoned_rwlock(NonCopy(10));

    match m.into_inner() {
        Err(e) => assert_eq!(e.into_inner(), NonCopy(10)),
        Ok(x) => panic!("into_inner of poisoned RwLock is Ok: {x:?}"),
    }
}
}

std_test! {
#[cfg_attr(not(panic = "unwind"), ignore = "test requires unwinding support")]
fn test_get_mut_poison() {
    let mut m = new_poisoned_rwlock(NonCopy(10));

    match m.get_mut() {
        Err(e) => assert_eq!(*e.into_inner(), NonCopy(10)),
        Ok(x) => panic!("get_mut of poisoned RwLock is Ok: {x:?}"),
    }
}
}

std_test! {
#[cfg_attr(not(panic = "unwind"), ignore = "test requires unwinding support")]
fn test_rw_arc_poison_wr() {
    let arc = Arc::new(RwLock::new(1));
    let arc2 = arc.clone();
    let _: Result<(), _> = thread::spawn(move || {
        let _lock = arc2.write().unwrap();
        panic!();
    })
    .join();
    assert!(arc.read().is_err());
}
}

std_test! {
#[cfg_attr(not(panic = "unwind"), ignore = "test requires unwinding support")]
fn test_rw_arc_poison_ww() {
    let arc = Arc::new(RwLock::new(1));
    assert!(!arc.is_poisoned());
    let arc2 = arc.clone();
    let _: Result<(), _> = thread::spawn(move || {
        let _lock = arc2.write().unwrap();
        panic!();
    })
    .join();
    assert!(arc.write().is_err());
    assert!(arc.is_poisoned());
}
}

std_test! {
#[cfg_attr(not(panic = "unwind"), ignore = "test requires unwinding support")]
fn test_rw_arc_no_poison_rr() {
    let arc = Arc::new(RwLock::new(1));
    let arc2 = arc.clone();
    let _: Result<(), _> = thread::spawn(move || {
        let _lock = arc2.read().unwrap();
        panic!();
    })
    .join();
    let lock = arc.read().unwrap();
    assert_eq!(*lock, 1);
}
}

std_test! {
#[cfg_attr(not(panic = "unwind"), ignore = "test requires unwinding support")]
fn test_rw_arc_no_poison_rw() {
    let arc = Arc::new(RwLock::new(1));
    let arc2 = arc.clone();
    let _: Result<(), _> = thread::spawn(move || {
        let _lock = arc2.read().unwrap();
        panic!()
    })
    .join();
    let lock = arc.write().unwrap();
    assert_eq!(*lock, 1);
}
}
