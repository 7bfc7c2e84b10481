//! Shared by the compat suites: runs a check on the calling thread and inside a spawned thread
//! (a green thread under smarm, an OS thread under std).

#[cfg(not(feature = "compat-std"))]
use smarm::thread;
#[cfg(feature = "compat-std")]
use std::thread;

/// Runs `f` on the calling thread and inside a spawned thread.
pub fn both(f: fn()) {
    f();
    thread::spawn(f).join().unwrap();
}
