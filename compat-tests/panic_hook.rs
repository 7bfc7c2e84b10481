//! Panic hooks, differential (std and smarm): a hook the program sets with `std::panic::set_hook`
//! before it starts any thread is called once per panic, in a spawned thread (a green thread under
//! smarm) as in `main`; `join` still returns the payload. Each case runs in a child process of
//! this binary, so that the hook is set before anything else in that process starts threads.
//!
//! - `cargo test --test compat_panic_hook`                       (smarm)
//! - `cargo test --test compat_panic_hook --features compat-std` (std)

#[cfg(not(feature = "compat-std"))]
use smarm::thread;
#[cfg(feature = "compat-std")]
use std::thread;

use std::sync::atomic::{AtomicUsize, Ordering};

static CALLS: AtomicUsize = AtomicUsize::new(0);

fn in_child(name: &str, body: fn()) {
    if std::env::var("COMPAT_PANIC_HOOK_CHILD").as_deref() == Ok(name) {
        body();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1", "-q"])
        .env("COMPAT_PANIC_HOOK_CHILD", name)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_hook_set_first_sees_a_spawned_threads_panic_once() {
    in_child("a_hook_set_first_sees_a_spawned_threads_panic_once", || {
        std::panic::set_hook(Box::new(|info| {
            let msg = info.payload().downcast_ref::<&str>().copied();
            assert_eq!(msg, Some("boom"));
            CALLS.fetch_add(1, Ordering::SeqCst);
        }));
        let r = thread::Builder::new()
            .name("doomed".into())
            .spawn(|| panic!("boom"))
            .unwrap()
            .join();
        assert_eq!(*r.unwrap_err().downcast::<&str>().unwrap(), "boom");
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        // A second thread, and one more from a spawned thread: once each.
        let r = thread::spawn(|| thread::spawn(|| panic!("boom")).join()).join();
        assert!(r.unwrap().is_err());
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn a_hook_set_after_threads_started_replaces_the_report() {
    in_child(
        "a_hook_set_after_threads_started_replaces_the_report",
        || {
            thread::spawn(|| ()).join().unwrap(); // the runtime (or std's machinery) is up
            std::panic::set_hook(Box::new(|_| {
                CALLS.fetch_add(1, Ordering::SeqCst);
            }));
            assert!(thread::spawn(|| panic!("boom")).join().is_err());
            assert_eq!(CALLS.load(Ordering::SeqCst), 1);
            let _ = std::panic::take_hook();
        },
    );
}

/// The first thread spawned by a process may be spawned while it panics (a `Drop` during
/// unwinding): it works, and the panic is caught as usual.
#[test]
fn the_first_spawn_may_happen_during_unwinding() {
    in_child("the_first_spawn_may_happen_during_unwinding", || {
        struct SpawnsOnDrop;
        impl Drop for SpawnsOnDrop {
            fn drop(&mut self) {
                assert_eq!(thread::spawn(|| 6).join().unwrap(), 6);
                CALLS.fetch_add(1, Ordering::SeqCst);
            }
        }
        let r = std::panic::catch_unwind(|| {
            let _d = SpawnsOnDrop;
            panic!("unwinding");
        });
        assert!(r.is_err());
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    });
}
