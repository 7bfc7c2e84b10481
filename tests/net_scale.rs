//! 10 000 concurrent loopback TCP connections, each served by its own green thread that echoes
//! every byte back.
//!
//! The load runs in a child process (this same test binary, told so by an environment variable)
//! so that each process needs only ~10k fds: many machines cap `RLIMIT_NOFILE` at 20 000, which
//! both ends in one process would exceed. The client opens every connection before it sends
//! anything and closes them only after every echo came back, so at that point all 10 000 server
//! green threads are alive at once (the test also counts them).

use smarm::net::TcpListener;
use smarm::thread;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const CONNS: usize = 10_000;
const ROUNDS: usize = 2;
const MSG: usize = 64;
const CLIENT_THREADS: usize = 8;
const CLIENT_ENV: &str = "SMARM_NET_SCALE_CLIENT";

/// Raises the soft fd limit to the hard one; returns the new soft limit.
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

fn message(conn: usize, round: usize) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    for (i, b) in m.iter_mut().enumerate() {
        *b = (conn.wrapping_mul(31) ^ round.wrapping_mul(7) ^ i) as u8;
    }
    m
}

/// The child process: opens CONNS connections from CLIENT_THREADS std threads, echoes ROUNDS
/// messages on each, and only then closes them.
fn client(addr: &str) {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(CLIENT_THREADS));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..CLIENT_THREADS)
        .map(|t| {
            let addr = addr.to_string();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let ids: Vec<usize> = (t..CONNS).step_by(CLIENT_THREADS).collect();
                let mut conns: Vec<_> = ids
                    .iter()
                    .map(|_| std::net::TcpStream::connect(&addr).expect("client connect"))
                    .collect();
                // Everyone connected before anyone sends.
                barrier.wait();
                if t == 0 {
                    eprintln!("client: connected in {:?}", t0.elapsed());
                }
                for round in 0..ROUNDS {
                    for (c, &id) in conns.iter_mut().zip(&ids) {
                        c.write_all(&message(id, round)).unwrap();
                    }
                    for (c, &id) in conns.iter_mut().zip(&ids) {
                        let mut back = [0u8; MSG];
                        c.read_exact(&mut back).unwrap();
                        assert_eq!(back, message(id, round), "connection {id} round {round}");
                    }
                }
                // Every echo of every thread is back before any connection closes.
                barrier.wait();
                if t == 0 {
                    eprintln!("client: echoed in {:?}", t0.elapsed());
                }
                drop(conns);
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

fn rss_kib() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn ten_thousand_connections_each_on_its_own_green_thread() {
    if let Ok(addr) = std::env::var(CLIENT_ENV) {
        raise_nofile();
        return client(&addr);
    }
    let limit = raise_nofile();
    let need = CONNS as u64 + 200;
    if limit < need {
        eprintln!(
            "SKIPPED ten_thousand_connections: RLIMIT_NOFILE hard limit is {limit}, each process \
             needs {need} (raise it with `ulimit -Hn`)"
        );
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "ten_thousand_connections_each_on_its_own_green_thread",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CLIENT_ENV, addr.to_string())
        .spawn()
        .unwrap();

    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    static ECHOED: AtomicUsize = AtomicUsize::new(0);
    static PEAK_RSS: AtomicUsize = AtomicUsize::new(0);
    let rss_before = rss_kib();
    let t0 = Instant::now();
    let server = thread::spawn(move || {
        let handlers: Vec<_> = (0..CONNS)
            .map(|_| {
                let (mut s, _) = listener.accept().unwrap();
                thread::spawn(move || {
                    let live = LIVE.fetch_add(1, Ordering::SeqCst) + 1;
                    PEAK.fetch_max(live, Ordering::SeqCst);
                    let mut buf = [0u8; 1024];
                    let mut total = 0;
                    loop {
                        let n = s.read(&mut buf).unwrap();
                        if n == 0 {
                            break;
                        }
                        s.write_all(&buf[..n]).unwrap();
                        total += n;
                        if total == MSG * ROUNDS && LIVE.load(Ordering::SeqCst) == CONNS {
                            // The last echo of the last connection: everyone is alive and idle.
                            PEAK_RSS.fetch_max(rss_kib(), Ordering::SeqCst);
                        }
                    }
                    ECHOED.fetch_add(total, Ordering::SeqCst);
                    LIVE.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for h in handlers {
            h.join().unwrap();
        }
    });
    server.join().unwrap();
    let elapsed = t0.elapsed();
    let status = child.wait().unwrap();
    assert!(status.success(), "client process failed: {status}");
    assert_eq!(
        PEAK.load(Ordering::SeqCst),
        CONNS,
        "not all handlers alive at once"
    );
    assert_eq!(ECHOED.load(Ordering::SeqCst), CONNS * ROUNDS * MSG);
    let peak = PEAK_RSS.load(Ordering::SeqCst);
    eprintln!(
        "{CONNS} connections x {ROUNDS} echoes of {MSG} B in {elapsed:.2?}; server RSS {} KiB \
         before, {peak} KiB with all connections open ({:.1} KiB per connection, user space)",
        rss_before,
        (peak.saturating_sub(rss_before)) as f64 / CONNS as f64
    );
}
