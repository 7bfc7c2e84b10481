//! `std::sync::OnceLock`, differential: std's own tests, built and run against smarm and against std; only
//! the `use` lines below differ.
//!
//! - `cargo test --test compat_std_once_lock`                       (smarm)
//! - `cargo test --test compat_std_once_lock --features compat-std` (std)
//!
//! # Provenance and licence
//!
//! The tests below are taken from the Rust project (<https://github.com/rust-lang/rust>),
//! Rust 1.95.0:
//!
//! - `library/std/tests/sync/once_lock.rs` (all but the test below).
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
//! - `get_or_try_init`: needs the unstable `once_cell_try` (`OnceLock::get_or_try_init`).

#[cfg(not(feature = "compat-std"))]
use smarm::{sync::OnceLock, sync::mpsc::channel, thread};
#[cfg(feature = "compat-std")]
use std::{sync::OnceLock, sync::mpsc::channel, thread};

use std::panic;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;

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

fn spawn_and_wait<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    thread::spawn(f).join().unwrap()
}

std_test! {
#[cfg_attr(any(target_os = "emscripten", target_os = "wasi"), ignore)] // no threads
fn sync_once_cell() {
    static ONCE_CELL: OnceLock<i32> = OnceLock::new();

    assert!(ONCE_CELL.get().is_none());

    spawn_and_wait(|| {
        ONCE_CELL.get_or_init(|| 92);
        assert_eq!(ONCE_CELL.get(), Some(&92));
    });

    ONCE_CELL.get_or_init(|| panic!("Kaboom!"));
    assert_eq!(ONCE_CELL.get(), Some(&92));
}
}

std_test! {
fn sync_once_cell_get_mut() {
    let mut c = OnceLock::new();
    assert!(c.get_mut().is_none());
    c.set(90).unwrap();
    *c.get_mut().unwrap() += 2;
    assert_eq!(c.get_mut(), Some(&mut 92));
}
}

std_test! {
#[cfg_attr(any(target_os = "emscripten", target_os = "wasi"), ignore)] // no threads
fn sync_once_cell_drop() {
    static DROP_CNT: AtomicUsize = AtomicUsize::new(0);
    struct Dropper;
    impl Drop for Dropper {
        fn drop(&mut self) {
            DROP_CNT.fetch_add(1, SeqCst);
        }
    }

    let x = OnceLock::new();
    spawn_and_wait(move || {
        x.get_or_init(|| Dropper);
        assert_eq!(DROP_CNT.load(SeqCst), 0);
        drop(x);
    });

    assert_eq!(DROP_CNT.load(SeqCst), 1);
}
}

std_test! {
fn sync_once_cell_drop_empty() {
    let x = OnceLock::<String>::new();
    drop(x);
}
}

std_test! {
fn clone() {
    let s = OnceLock::new();
    let c = s.clone();
    assert!(c.get().is_none());

    s.set("hello".to_string()).unwrap();
    let c = s.clone();
    assert_eq!(c.get().map(String::as_str), Some("hello"));
}
}

std_test! {
fn from_impl() {
    assert_eq!(OnceLock::from("value").get(), Some(&"value"));
    assert_ne!(OnceLock::from("foo").get(), Some(&"bar"));
}
}

std_test! {
fn partialeq_impl() {
    assert!(OnceLock::from("value") == OnceLock::from("value"));
    assert!(OnceLock::from("foo") != OnceLock::from("bar"));

    assert!(OnceLock::<String>::new() == OnceLock::new());
    assert!(OnceLock::<String>::new() != OnceLock::from("value".to_owned()));
}
}

std_test! {
fn into_inner() {
    let cell: OnceLock<String> = OnceLock::new();
    assert_eq!(cell.into_inner(), None);
    let cell = OnceLock::new();
    cell.set("hello".to_string()).unwrap();
    assert_eq!(cell.into_inner(), Some("hello".to_string()));
}
}

std_test! {
fn is_sync_send() {
    fn assert_traits<T: Send + Sync>() {}
    assert_traits::<OnceLock<String>>();
}
}

std_test! {
fn eval_once_macro() {
    macro_rules! eval_once {
        (|| -> $ty:ty {
            $($body:tt)*
        }) => {{
            static ONCE_CELL: OnceLock<$ty> = OnceLock::new();
            fn init() -> $ty {
                $($body)*
            }
            ONCE_CELL.get_or_init(init)
        }};
    }

    let fib: &'static Vec<i32> = eval_once! {
        || -> Vec<i32> {
            let mut res = vec![1, 1];
            for i in 0..10 {
                let next = res[i] + res[i + 1];
                res.push(next);
            }
            res
        }
    };
    assert_eq!(fib[5], 8)
}
}

std_test! {
#[cfg_attr(any(target_os = "emscripten", target_os = "wasi"), ignore)] // no threads
fn sync_once_cell_does_not_leak_partially_constructed_boxes() {
    static ONCE_CELL: OnceLock<String> = OnceLock::new();

    let n_readers = 10;
    let n_writers = 3;
    const MSG: &str = "Hello, World";

    let (tx, rx) = channel();

    for _ in 0..n_readers {
        let tx = tx.clone();
        thread::spawn(move || {
            loop {
                if let Some(msg) = ONCE_CELL.get() {
                    tx.send(msg).unwrap();
                    break;
                }
                #[cfg(target_env = "sgx")]
                std::thread::yield_now();
            }
        });
    }
    for _ in 0..n_writers {
        thread::spawn(move || {
            let _ = ONCE_CELL.set(MSG.to_owned());
        });
    }

    for _ in 0..n_readers {
        let msg = rx.recv().unwrap();
        assert_eq!(msg, MSG);
    }
}
}

std_test! {
fn dropck() {
    let cell = OnceLock::new();
    {
        let s = String::new();
        cell.set(&s).unwrap();
    }
}
}
