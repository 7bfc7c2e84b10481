//! Issue 15, fd exhaustion: a process out of fds when a socket first has to wait (so the reactor
//! cannot be started: it needs two fds) waits as std does, and nothing of the failure sticks —
//! once fds are free, the next wait starts the reactor.
//!
//! Each scenario runs in a child process of this test binary, which lowers its own
//! `RLIMIT_NOFILE` (the test process itself keeps its limit), and runs for std and for smarm with
//! the same code (only the `use` differs): both must pass.

use std::fs::File;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

const CHILD: &str = "SMARM_EDGE_FDS_CHILD";

/// Re-runs this test binary for `test` alone with `CHILD=scenario`; asserts it passed.
fn run_child(test: &str, scenario: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .output()
        .expect("failed to re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CHILD OK"),
        "{scenario}: {out:?}"
    );
}

fn scenario() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// Lowers this process's soft fd limit to 64 (`ulimit -n 64`) and opens `/dev/null` until no fd
/// is left; returns the files, whose dropping frees fds.
fn exhaust_fds() -> Vec<File> {
    let lim = libc::rlimit {
        rlim_cur: 64,
        rlim_max: libc::RLIM_INFINITY,
    };
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointers to rlimit structs for the calls.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let lim = libc::rlimit {
            rlim_max: old.rlim_max,
            ..lim
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0, "setrlimit");
    }
    let mut files = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => files.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                return files;
            }
        }
    }
}

/// The scenarios, written once for std and once for smarm by `use`ing each one's `net`.
macro_rules! scenarios {
    ($m:ident, $net:path) => {
        mod $m {
            use super::*;
            use std::io::{Read, Write};
            use $net::{TcpListener, TcpStream};

            /// One fd free: the first blocking `accept` has no fd for the reactor. std blocks
            /// in accept(2); so must we, then accept the connection made once fds are freed;
            /// later accepts work normally (the failure was not kept).
            pub fn accept_with_one_fd_free(check_registered: fn()) {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let mut fillers = exhaust_fds();
                drop(fillers.pop()); // exactly one fd free
                let (freed_tx, freed_rx) = mpsc::channel();
                let client = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(150));
                    drop(fillers.drain(..4).collect::<Vec<_>>());
                    let mut c = std::net::TcpStream::connect(addr).unwrap();
                    c.write_all(b"1").unwrap();
                    // Now every fd back; the next connection comes after accept has begun to wait.
                    drop(fillers);
                    freed_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(150));
                    let mut c2 = std::net::TcpStream::connect(addr).unwrap();
                    c2.write_all(b"2").unwrap();
                    (c, c2)
                });
                let (mut s, _) = listener.accept().expect("first accept");
                let mut b = [0];
                s.read_exact(&mut b).unwrap();
                assert_eq!(&b, b"1");
                freed_rx.recv().unwrap();
                let (mut s2, _) = listener.accept().expect("accept after fds were freed");
                s2.read_exact(&mut b).unwrap();
                assert_eq!(&b, b"2");
                check_registered();
                drop(client.join().unwrap());
            }

            /// No fd free and a connection pending: accept fails with EMFILE, as std's does, for
            /// that call only; the `loop { accept }` of the issue gets the connection once an fd
            /// is freed.
            pub fn accept_with_no_fd_free() {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let _c = std::net::TcpStream::connect(addr).unwrap();
                let mut fillers = exhaust_fds();
                let e = listener.accept().unwrap_err();
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                drop(fillers.pop());
                let mut errors = 0;
                let s = loop {
                    match listener.accept() {
                        Ok((s, _)) => break s,
                        Err(e) => {
                            errors += 1;
                            assert!(errors < 10, "accept keeps failing: {e}");
                        }
                    }
                };
                assert_eq!(errors, 0);
                drop(s);
            }

            /// A read that must wait with one fd free, then a connect that must wait.
            pub fn read_with_one_fd_free() {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let c = TcpStream::connect(addr).unwrap();
                let (mut s, _) = listener.accept().unwrap();
                let mut fillers = exhaust_fds();
                drop(fillers.pop());
                let writer = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(100));
                    (&c).write_all(b"x").unwrap();
                    c
                });
                let mut b = [0];
                s.read_exact(&mut b).unwrap();
                assert_eq!(&b, b"x");
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                let e = s.read(&mut b).unwrap_err();
                assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "{e}"
                );
                drop(fillers);
                drop(writer.join().unwrap());
            }
        }
    };
}

scenarios!(on_std, std::net);
scenarios!(on_smarm, smarm::net);

fn nothing() {}

/// After the fds came back, the second accept waited through the reactor.
fn smarm_registered() {
    assert!(
        smarm::rt::stats().io_registrations >= 1,
        "the listener was never registered"
    );
}

#[test]
fn fd_exhaustion_child() {
    let Some(s) = scenario() else { return };
    match s.as_str() {
        "std-accept-one" => on_std::accept_with_one_fd_free(nothing),
        "smarm-accept-one" => on_smarm::accept_with_one_fd_free(smarm_registered),
        "smarm-accept-one-green" => {
            smarm::thread::spawn(|| on_smarm::accept_with_one_fd_free(smarm_registered))
                .join()
                .unwrap()
        }
        "std-accept-none" => on_std::accept_with_no_fd_free(),
        "smarm-accept-none" => on_smarm::accept_with_no_fd_free(),
        "std-read-one" => on_std::read_with_one_fd_free(),
        "smarm-read-one" => on_smarm::read_with_one_fd_free(),
        "smarm-read-one-green" => smarm::thread::spawn(on_smarm::read_with_one_fd_free)
            .join()
            .unwrap(),
        "smarm-wait-readable" => {
            let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
            let fillers = exhaust_fds();
            use std::io::Write;
            use std::os::fd::AsFd;
            let e =
                smarm::rt::wait_readable(a.as_fd(), Some(Duration::from_millis(20))).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
            b.write_all(b"x").unwrap();
            smarm::rt::wait_readable(a.as_fd(), None).unwrap();
            drop(fillers);
        }
        other => panic!("unknown scenario {other}"),
    }
    println!("CHILD OK");
}

#[test]
fn accept_waits_with_one_fd_free_and_recovers() {
    if scenario().is_some() {
        return;
    }
    for s in [
        "std-accept-one",
        "smarm-accept-one",
        "smarm-accept-one-green",
    ] {
        run_child("fd_exhaustion_child", s);
    }
}

#[test]
fn accept_with_no_fd_free_fails_for_that_call_only() {
    if scenario().is_some() {
        return;
    }
    for s in ["std-accept-none", "smarm-accept-none"] {
        run_child("fd_exhaustion_child", s);
    }
}

#[test]
fn reads_and_waits_work_with_one_fd_free() {
    if scenario().is_some() {
        return;
    }
    for s in [
        "std-read-one",
        "smarm-read-one",
        "smarm-read-one-green",
        "smarm-wait-readable",
    ] {
        run_child("fd_exhaustion_child", s);
    }
}
