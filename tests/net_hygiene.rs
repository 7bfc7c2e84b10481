//! fd and registration hygiene: 10 000 connections whose server green threads are blocked in
//! `read` lose their peers all at once (the client process is killed); every server green thread
//! ends, and afterwards the process holds exactly the fds it held before and the reactor exactly
//! the registrations it held before. The client runs in a child process (this test binary, told
//! so by an environment variable), so each process needs only ~10k fds.

use smarm::net::TcpListener;
use smarm::thread;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const CONNS: usize = 10_000;
const CLIENT_ENV: &str = "SMARM_NET_HYGIENE_CLIENT";

fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The child: connects CONNS times, sends one byte on each, says "ready", then waits to be killed.
fn client(addr: &str) {
    let mut conns = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        let mut c = std::net::TcpStream::connect(addr).expect("client connect");
        c.write_all(b"x").unwrap();
        conns.push(c);
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::park();
    }
}

#[test]
fn killed_peers_leave_no_fds_and_no_registrations_behind() {
    if let Ok(addr) = std::env::var(CLIENT_ENV) {
        raise_nofile();
        return client(&addr);
    }
    let limit = raise_nofile();
    let need = CONNS as u64 + 200;
    if limit < need {
        eprintln!(
            "SKIPPED killed_peers_leave_no_fds: RLIMIT_NOFILE hard limit is {limit}, each process \
             needs {need} (raise it with `ulimit -Hn`)"
        );
        return;
    }
    // Warm up: the reactor (its epoll fd and eventfd) and the global runtime exist before the
    // baseline is taken. A wait that must time out creates the reactor every time.
    {
        use std::os::fd::AsFd;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let r = smarm::rt::wait_readable(l.as_fd(), Some(std::time::Duration::from_millis(1)));
        assert_eq!(r.unwrap_err().kind(), ErrorKind::TimedOut);
    }
    let fds_before = open_fds();
    let regs_before = smarm::rt::stats().io_registrations;

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "killed_peers_leave_no_fds_and_no_registrations_behind",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CLIENT_ENV, addr.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Never leave the client behind, whatever happens below.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = KillOnDrop(child);

    static BLOCKED: AtomicUsize = AtomicUsize::new(0);
    static ENDED: AtomicUsize = AtomicUsize::new(0);
    let server = thread::spawn(move || {
        let handlers: Vec<_> = (0..CONNS)
            .map(|_| {
                let (mut s, _) = listener.accept().unwrap();
                thread::spawn(move || {
                    let mut one = [0u8; 1];
                    s.read_exact(&mut one).unwrap();
                    BLOCKED.fetch_add(1, Ordering::SeqCst);
                    // Blocks (registered with the reactor) until the peer dies.
                    let mut buf = [0u8; 64];
                    match s.read(&mut buf) {
                        Ok(0) => {}
                        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
                        other => panic!("expected EOF or a reset, got {other:?}"),
                    }
                    ENDED.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        drop(listener);
        handlers
    });
    let handlers = server.join().unwrap();
    // The child has connected everything; every handler has read its byte and is about to block.
    // The harness prints its own lines first; wait for the child's.
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("the client process ended without connecting");
        }
    }
    drop(out); // the pipe is an fd too
    while BLOCKED.load(Ordering::SeqCst) < CONNS {
        thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(child); // kills the client: every peer closes at once
    for h in handlers {
        h.join().unwrap();
    }
    assert_eq!(ENDED.load(Ordering::SeqCst), CONNS);
    assert_eq!(open_fds(), fds_before, "fds leaked");
    assert_eq!(
        smarm::rt::stats().io_registrations,
        regs_before,
        "reactor registrations leaked"
    );
}
