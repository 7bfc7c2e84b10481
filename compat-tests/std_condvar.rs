//! `std::sync::Condvar`, differential: std's own tests, built and run against smarm and against std; only
//! the `use` lines below differ.
//!
//! - `cargo test --test compat_std_condvar`                       (smarm)
//! - `cargo test --test compat_std_condvar --features compat-std` (std)
//!
//! # Provenance and licence
//!
//! The tests below are taken from the Rust project (<https://github.com/rust-lang/rust>),
//! Rust 1.95.0:
//!
//! - `library/std/tests/sync/condvar.rs` (all but the tests below),
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
//!   module and `maybe_unwrap` = `unwrap`, as std's poison half has them.
//! - The `poison_*` tests import `use crate::locks::{Condvar, Mutex};` in their bodies;
//!   `std::sync::poison` is unstable (`sync_poison_mod`) and is the module std re-exports as
//!   `std::sync::{Condvar, Mutex}`, so that line became `use crate::locks::{Condvar, Mutex};`
//!   (the mirrored `sync`).
//!
//! # Not ported
//!
//! - `nonpoison_notify_one`, `nonpoison_notify_all`, `nonpoison_test_mutex_arc_condvar`,
//!   `nonpoison_wait_while`, `nonpoison_wait_timeout_wait`, `nonpoison_wait_timeout_while_wait`,
//!   `nonpoison_wait_timeout_while_instant_satisfy`, `nonpoison_wait_timeout_while_wake`,
//!   `nonpoison_wait_timeout_wake`, `nonpoison_timeout_nanoseconds` and the nonpoison half of
//!   `smoke`: `std::sync::nonpoison` is unstable (`sync_nonpoison`, `nonpoison_condvar`).

// std's bodies are kept as std wrote them; these are the lints they trip.
#![allow(clippy::needless_borrowed_reference)]

#[cfg(not(feature = "compat-std"))]
use smarm::{sync as locks, sync::mpsc::channel, thread};
#[cfg(feature = "compat-std")]
use std::{sync as locks, sync::mpsc::channel, thread};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

poison_test! {
    fn smoke() {
        use locks::Condvar;

        let c = Condvar::new();
        c.notify_one();
        c.notify_all();
    }
}

std_test! {
#[cfg(not(any(target_os = "emscripten", target_os = "wasi")))] // No threads.
fn poison_notify_one() {
    use crate::locks::{Condvar, Mutex};

    let m = Arc::new(Mutex::new(()));
    let m2 = m.clone();
    let c = Arc::new(Condvar::new());
    let c2 = c.clone();

    let g = m.lock().unwrap();
    let _t = thread::spawn(move || {
        let _g = m2.lock().unwrap();
        c2.notify_one();
    });

    let g = c.wait(g).unwrap();
    drop(g);
}
}

std_test! {
#[cfg(not(any(target_os = "emscripten", target_os = "wasi")))] // No threads.
fn poison_notify_all() {
    use crate::locks::{Condvar, Mutex};

    const N: usize = 10;

    let data = Arc::new((Mutex::new(0), Condvar::new()));
    let (tx, rx) = channel();
    for _ in 0..N {
        let data = data.clone();
        let tx = tx.clone();
        thread::spawn(move || {
            let &(ref lock, ref cond) = &*data;
            let mut cnt = lock.lock().unwrap();
            *cnt += 1;
            if *cnt == N {
                tx.send(()).unwrap();
            }
            while *cnt != 0 {
                cnt = cond.wait(cnt).unwrap();
            }
            tx.send(()).unwrap();
        });
    }
    drop(tx);

    let &(ref lock, ref cond) = &*data;
    rx.recv().unwrap();
    let mut cnt = lock.lock().unwrap();
    *cnt = 0;
    cond.notify_all();
    drop(cnt);

    for _ in 0..N {
        rx.recv().unwrap();
    }
}
}

std_test! {
#[cfg(not(any(target_os = "emscripten", target_os = "wasi")))] // No threads.
fn poison_test_mutex_arc_condvar() {
    use crate::locks::{Condvar, Mutex};

    struct Packet<T>(Arc<(Mutex<T>, Condvar)>);

    let packet = Packet(Arc::new((Mutex::new(false), Condvar::new())));
    let packet2 = Packet(packet.0.clone());

    let (tx, rx) = channel();

    let _t = thread::spawn(move || {
        // Wait until our parent has taken the lock.
        rx.recv().unwrap();
        let &(ref lock, ref cvar) = &*packet2.0;

        // Set the data to `true` and wake up our parent.
        let mut guard = lock.lock().unwrap();
        *guard = true;
        cvar.notify_one();
    });

    let &(ref lock, ref cvar) = &*packet.0;
    let mut guard = lock.lock().unwrap();
    // Wake up our child.
    tx.send(()).unwrap();

    // Wait until our child has set the data to `true`.
    assert!(!*guard);
    while !*guard {
        guard = cvar.wait(guard).unwrap();
    }
}
}

std_test! {
#[cfg(not(any(target_os = "emscripten", target_os = "wasi")))] // No threads.
fn poison_wait_while() {
    use crate::locks::{Condvar, Mutex};

    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let pair2 = pair.clone();

    // Inside of our lock, spawn a new thread, and then wait for it to start.
    thread::spawn(move || {
        let &(ref lock, ref cvar) = &*pair2;
        let mut started = lock.lock().unwrap();
        *started = true;
        // We notify the condvar that the value has changed.
        cvar.notify_one();
    });

    // Wait for the thread to start up.
    let &(ref lock, ref cvar) = &*pair;
    let guard = cvar.wait_while(lock.lock().unwrap(), |started| !*started).unwrap();
    assert!(*guard);
}
}

std_test! {
#[cfg(not(any(target_os = "emscripten", target_os = "wasi")))] // No threads.
fn poison_wait_timeout_wait() {
    use crate::locks::{Condvar, Mutex};

    let m = Arc::new(Mutex::new(()));
    let c = Arc::new(Condvar::new());

    loop {
        let g = m.lock().unwrap();
        let (_g, no_timeout) = c.wait_timeout(g, Duration::from_millis(1)).unwrap();
        // spurious wakeups mean this isn't necessarily true
        // so execute test again, if not timeout
        if !no_timeout.timed_out() {
            continue;
        }

        break;
    }
}
}

std_test! {
#[cfg(not(any(target_os = "emscripten", target_os = "wasi")))] // No threads.
fn poison_wait_timeout_while_wait() {
    use crate::locks::{Condvar, Mutex};

    let m = Arc::new(Mutex::new(()));
    let c = Arc::new(Condvar::new());

    let g = m.lock().unwrap();
    let (_g, wait) = c.wait_timeout_while(g, Duration::from_millis(1), |_| true).unwrap();
    // no spurious wakeups. ensure it timed-out
    assert!(wait.timed_out());
}
}

std_test! {
#[cfg(not(any(target_os = "emscripten", target_os = "wasi")))] // No threads.
fn poison_wait_timeout_while_instant_satisfy() {
    use crate::locks::{Condvar, Mutex};

    let m = Arc::new(Mutex::new(()));
    let c = Arc::new(Condvar::new());

    let g = m.lock().unwrap();
    let (_g, wait) = c.wait_timeout_while(g, Duration::from_millis(0), |_| false).unwrap();
    // ensure it didn't time-out even if we were not given any time.
    assert!(!wait.timed_out());
}
}

std_test! {
#[cfg(not(any(target_os = "emscripten", target_os = "wasi")))] // No threads.
fn poison_wait_timeout_while_wake() {
    use crate::locks::{Condvar, Mutex};

    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let pair_copy = pair.clone();

    let &(ref m, ref c) = &*pair;
    let g = m.lock().unwrap();
    let _t = thread::spawn(move || {
        let &(ref lock, ref cvar) = &*pair_copy;
        let mut started = lock.lock().unwrap();
        thread::sleep(Duration::from_millis(1));
        *started = true;
        cvar.notify_one();
    });

    let (g2, wait) = c
        .wait_timeout_while(g, Duration::from_millis(u64::MAX), |&mut notified| !notified)
        .unwrap();
    // ensure it didn't time-out even if we were not given any time.
    assert!(!wait.timed_out());
    assert!(*g2);
}
}

std_test! {
#[cfg(not(any(target_os = "emscripten", target_os = "wasi")))] // No threads.
fn poison_wait_timeout_wake() {
    use crate::locks::{Condvar, Mutex};

    let m = Arc::new(Mutex::new(()));
    let c = Arc::new(Condvar::new());

    loop {
        let g = m.lock().unwrap();

        let c2 = c.clone();
        let m2 = m.clone();

        let notified = Arc::new(AtomicBool::new(false));
        let notified_copy = notified.clone();

        let t = thread::spawn(move || {
            let _g = m2.lock().unwrap();
            thread::sleep(Duration::from_millis(1));
            notified_copy.store(true, Ordering::Relaxed);
            c2.notify_one();
        });

        let (g, timeout_res) = c.wait_timeout(g, Duration::from_millis(u64::MAX)).unwrap();
        assert!(!timeout_res.timed_out());
        // spurious wakeups mean this isn't necessarily true
        // so execute test again, if not notified
        if !notified.load(Ordering::Relaxed) {
            t.join().unwrap();
            continue;
        }
        drop(g);

        t.join().unwrap();

        break;
    }
}
}

// Some platforms internally cast the timeout duration into nanoseconds.
// If they fail to consider overflow during the conversion (I'm looking
// at you, macOS), `wait_timeout` will return immediately and indicate a
// timeout for durations that are slightly longer than u64::MAX nanoseconds.
// `std` should guard against this by clamping the timeout.
// See #37440 for context.
std_test! {
fn poison_timeout_nanoseconds() {
    use crate::locks::{Condvar, Mutex};

    let sent = Mutex::new(false);
    let cond = Condvar::new();

    thread::scope(|s| {
        s.spawn(|| {
            // Sleep so that the other thread has a chance to encounter the
            // timeout.
            thread::sleep(Duration::from_secs(2));
            *sent.lock().unwrap() = true;
            cond.notify_all();
        });

        let mut guard = sent.lock().unwrap();
        // Loop until `sent` is set by the thread to guard against spurious
        // wakeups. If the `wait_timeout` happens just before the signal by
        // the other thread, such a spurious wakeup might prevent the
        // miscalculated timeout from occurring, but this is basically just
        // a smoke test anyway.
        loop {
            if *guard {
                break;
            }

            // If there is internal overflow, this call will return almost
            // immediately, before the other thread has reached the `notify_all`,
            // and indicate a timeout.
            let (g, res) = cond
                .wait_timeout(guard, Duration::from_secs(u64::MAX.div_ceil(1_000_000_000)))
                .unwrap();
            assert!(!res.timed_out());
            guard = g;
        }
    })
}
}

std_test! {
#[cfg_attr(not(panic = "unwind"), ignore = "test requires unwinding support")]
fn test_arc_condvar_poison() {
    use crate::locks::{Condvar, Mutex};

    struct Packet<T>(Arc<(Mutex<T>, Condvar)>);

    let packet = Packet(Arc::new((Mutex::new(1), Condvar::new())));
    let packet2 = Packet(packet.0.clone());
    let (tx, rx) = channel();

    let _t = thread::spawn(move || -> () {
        rx.recv().unwrap();
        let &(ref lock, ref cvar) = &*packet2.0;
        let _g = lock.lock().unwrap();
        cvar.notify_one();
        // Parent should fail when it wakes up.
        panic!();
    });

    let &(ref lock, ref cvar) = &*packet.0;
    let mut lock = lock.lock().unwrap();
    tx.send(()).unwrap();
    while *lock == 1 {
        match cvar.wait(lock) {
            Ok(l) => {
                lock = l;
                assert_eq!(*lock, 1);
            }
            Err(..) => break,
        }
    }
}
}
