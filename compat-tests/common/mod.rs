//! Shared by the compat suites: runs a check on the calling thread and inside a spawned thread
//! (a green thread under smarm, an OS thread under std).

#[cfg(not(feature = "compat-std"))]
use smarm::thread;
#[cfg(feature = "compat-std")]
use std::thread;

/// Runs `f` on the calling thread and inside a spawned thread.
#[allow(dead_code)] // not every suite uses it
pub fn both(f: fn()) {
    f();
    thread::spawn(f).join().unwrap();
}

/// For the ports of std's own tests (`std_*.rs`, `thread_local.rs`).
///
/// Makes a `#[test] fn $name()` that runs std's body twice, each time as its own copy (so statics
/// declared in the body are fresh): once on the test's OS thread, as std runs it, and once inside
/// a spawned thread (a green thread under smarm).
#[allow(unused_macros)]
macro_rules! std_test {
    ($(#[$attr:meta])* fn $name:ident() { $($body:tt)* }) => {
        $(#[$attr])*
        #[test]
        fn $name() {
            fn on_os_thread() { $($body)* }
            fn in_spawned_thread() { $($body)* }
            on_os_thread();
            thread::Builder::new()
                .name(concat!(stringify!($name), "-outer").to_string())
                .spawn(in_spawned_thread)
                .unwrap()
                .join()
                .unwrap();
        }
    };
}
