//! `fork` after threads exist, differential (std and smarm): the child has only the forking
//! thread, and it can spawn, sleep and join as usual — whether it forked from the test's own
//! thread or from a spawned one (a green thread under smarm). The child ends with `_exit`.
//!
//! - `cargo test --test compat_fork`                       (smarm)
//! - `cargo test --test compat_fork --features compat-std` (std)

#[cfg(not(feature = "compat-std"))]
use smarm::thread;
#[cfg(feature = "compat-std")]
use std::thread;

use std::time::{Duration, Instant};

unsafe extern "C" {
    fn fork() -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
    fn _exit(code: i32) -> !;
}

/// Forks; the child spawns a thread that sleeps and returns a value, joins it, and exits 0 if it
/// got it. The parent waits up to 20 s, and kills and fails a child that hangs.
fn fork_spawn_join() {
    // SAFETY: the child only spawns, sleeps and joins, then `_exit`s (no destructors, no
    // atexit handlers of the parent's state).
    let pid = unsafe { fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let h = thread::spawn(|| {
            thread::sleep(Duration::from_millis(5));
            7
        });
        let code = if h.join().unwrap() == 7 { 0 } else { 1 };
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { _exit(code) }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut status = 0;
        // SAFETY: `pid` is our child; WNOHANG = 1.
        let r = unsafe { waitpid(pid, &mut status, 1) };
        if r == pid {
            assert_eq!(status, 0, "the child failed (wait status {status:#x})");
            return;
        }
        if Instant::now() > deadline {
            // SAFETY: our child; SIGKILL = 9.
            unsafe { kill(pid, 9) };
            panic!("the forked child hung in spawn/join");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_child_forked_from_the_test_thread_spawns_and_joins() {
    thread::spawn(|| ()).join().unwrap(); // threads (a runtime) exist before the fork
    for _ in 0..3 {
        fork_spawn_join();
    }
}

#[test]
fn a_child_forked_from_a_spawned_thread_spawns_and_joins() {
    for _ in 0..3 {
        thread::spawn(fork_spawn_join).join().unwrap();
    }
}
