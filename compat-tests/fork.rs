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

/// Only the forking thread exists in the child: other threads busy in the parent (here, counting
/// while they sleep and yield) do not run there.
#[test]
fn other_threads_do_not_run_in_the_child() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let (count, stop) = (count.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    count.fetch_add(1, Ordering::Relaxed);
                    thread::sleep(Duration::from_micros(200));
                    thread::yield_now();
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    let c = count.clone();
    thread::spawn(move || {
        // SAFETY: the child only sleeps, reads an atomic and `_exit`s.
        let pid = unsafe { fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let before = c.load(Ordering::Relaxed);
            thread::sleep(Duration::from_millis(50));
            let moved = c.load(Ordering::Relaxed) != before;
            // SAFETY: ends the child without the parent's exit handlers.
            unsafe { _exit(if moved { 3 } else { 0 }) }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut status = 0;
            // SAFETY: our child; WNOHANG = 1.
            let r = unsafe { waitpid(pid, &mut status, 1) };
            if r == pid {
                assert_eq!(
                    status, 0,
                    "other threads ran in the child (wait status {status:#x})"
                );
                return;
            }
            if Instant::now() > deadline {
                // SAFETY: our child; SIGKILL = 9.
                unsafe { kill(pid, 9) };
                panic!("the forked child hung");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
    .join()
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    for h in busy {
        h.join().unwrap();
    }
}

#[cfg(not(feature = "compat-std"))]
use smarm::net::{TcpListener, TcpStream};
#[cfg(not(feature = "compat-std"))]
use smarm::sync::mpsc;
#[cfg(feature = "compat-std")]
use std::net::{TcpListener, TcpStream};
#[cfg(feature = "compat-std")]
use std::sync::mpsc;

/// Forks from a spawned thread and runs `child` there (exit 0 on success); the parent waits up to
/// 20 s and fails on a hang or a non-zero exit.
fn fork_from_spawned(child: fn() -> bool) {
    thread::spawn(move || fork_and_check(child)).join().unwrap();
}

/// Forks from the calling thread and runs `child` there; see `fork_from_spawned`.
fn fork_and_check(child: fn() -> bool) {
    {
        // SAFETY: the child runs `child` and `_exit`s.
        let pid = unsafe { fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let ok = child();
            // SAFETY: ends the child without the parent's exit handlers.
            unsafe { _exit(if ok { 0 } else { 1 }) }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut status = 0;
            // SAFETY: our child; WNOHANG = 1.
            let r = unsafe { waitpid(pid, &mut status, 1) };
            if r == pid {
                assert_eq!(status, 0, "the child failed (wait status {status:#x})");
                return;
            }
            if Instant::now() > deadline {
                // SAFETY: our child; SIGKILL = 9.
                unsafe { kill(pid, 9) };
                panic!("the forked child hung");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// In the child, a plain OS thread wakes a spawned thread through a channel.
#[test]
fn in_the_child_an_os_thread_wakes_a_spawned_one() {
    for _ in 0..5 {
        fork_from_spawned(|| {
            let (tx, rx) = mpsc::channel::<u32>();
            let h = thread::spawn(move || rx.recv().unwrap());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(2));
                tx.send(7).unwrap();
            });
            h.join().unwrap() == 7
        });
    }
}

/// In the child, sockets work (the child must not use its parent's reactor), while the parent has
/// a listener parked in `accept`.
#[test]
fn in_the_child_sockets_work_while_the_parent_waits_in_accept() {
    let parked = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = parked.local_addr().unwrap();
    let acceptor = thread::spawn(move || parked.accept().map(|_| ()));
    thread::sleep(Duration::from_millis(10));
    for i in 0..6 {
        // From a spawned thread, and from the test's own thread.
        let fork_one: fn(fn() -> bool) = if i % 2 == 0 {
            fork_from_spawned
        } else {
            fork_and_check
        };
        fork_one(|| {
            use std::io::{Read, Write};
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let a = l.local_addr().unwrap();
            let server = thread::spawn(move || {
                let (mut s, _) = l.accept().unwrap();
                let mut b = [0u8; 4];
                s.read_exact(&mut b).unwrap();
                s.write_all(&b).unwrap();
            });
            let mut c = TcpStream::connect(a).unwrap();
            c.write_all(b"ping").unwrap();
            let mut b = [0u8; 4];
            c.read_exact(&mut b).unwrap();
            server.join().unwrap();
            &b == b"ping"
        });
    }
    drop(TcpStream::connect(addr).unwrap()); // lets the parent's accept return
    acceptor.join().unwrap().unwrap();
}
