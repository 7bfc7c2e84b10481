//! `std::sync::Barrier`, differential: std's own tests, built and run against smarm and against std; only
//! the `use` lines below differ.
//!
//! - `cargo test --test compat_std_barrier`                       (smarm)
//! - `cargo test --test compat_std_barrier --features compat-std` (std)
//!
//! # Provenance and licence
//!
//! The tests below are taken from the Rust project (<https://github.com/rust-lang/rust>),
//! Rust 1.95.0:
//!
//! - `library/std/tests/sync/barrier.rs` (all of it).
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
//!
//! # Not ported
//!
//! - Nothing.

#[cfg(not(feature = "compat-std"))]
use smarm::{
    sync::Barrier,
    sync::mpsc::{TryRecvError, channel},
    thread,
};
#[cfg(feature = "compat-std")]
use std::{
    sync::Barrier,
    sync::mpsc::{TryRecvError, channel},
    thread,
};

use std::panic::RefUnwindSafe;
use std::sync::Arc;

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

std_test! {
#[cfg_attr(any(target_os = "emscripten", target_os = "wasi"), ignore)] // no threads
fn test_barrier() {
    const N: usize = 10;

    let barrier = Arc::new(Barrier::new(N));
    let (tx, rx) = channel();

    for _ in 0..N - 1 {
        let c = barrier.clone();
        let tx = tx.clone();
        thread::spawn(move || {
            tx.send(c.wait().is_leader()).unwrap();
        });
    }

    // At this point, all spawned threads should be blocked,
    // so we shouldn't get anything from the port
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));

    let mut leader_found = barrier.wait().is_leader();

    // Now, the barrier is cleared and we should get data.
    for _ in 0..N - 1 {
        if rx.recv().unwrap() {
            assert!(!leader_found);
            leader_found = true;
        }
    }
    assert!(leader_found);
}
}

/// Asserts that `Barrier` is ref unwind safe.
///
/// See <https://github.com/rust-lang/rust/issues/146087>.
const _: () = {
    const fn check_ref_unwind_safe<T: RefUnwindSafe>() {}
    check_ref_unwind_safe::<Barrier>();
};
