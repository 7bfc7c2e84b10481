//! A bounded soak: spawn, channels, locks, timers and loopback sockets mixed, round after round,
//! for `SMARM_SOAK_SECS` seconds (default 5). Every message is accounted for, every green thread
//! ends (`run` returns, and the process's pid table holds no live green thread after), the fd count
//! returns to its start, and RSS after the soak stays near RSS after the first round.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use smarm::net::{TcpListener, TcpStream};
use smarm::rt::{Config, run};
use smarm::sync::{Arc, Condvar, Mutex, RwLock, mpsc};
use smarm::thread;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// xorshift, seeded per green thread.
fn rand(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

const CLIENTS: u64 = 16;
const PRODUCERS: u64 = 8;
const PER_PRODUCER: u64 = 500;

/// One round of everything; returns how many messages and echoed bytes went through.
fn round(seed: u64) -> (u64, u64) {
    // --- sockets: an echo server with a green thread per connection, clients with timers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let hs: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (mut s, _) = listener.accept().unwrap();
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = s.read(&mut buf).unwrap();
                        if n == 0 {
                            return;
                        }
                        s.write_all(&buf[..n]).unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                let mut x = seed ^ ((c + 1) * 0x9E37_79B9);
                let mut s = TcpStream::connect(addr).unwrap();
                let mut echoed = 0u64;
                for i in 0..20u64 {
                    let len = (rand(&mut x) % 3000 + 1) as usize;
                    let msg: Vec<u8> = (0..len).map(|k| (k as u64 ^ i ^ c) as u8).collect();
                    s.write_all(&msg).unwrap();
                    let mut back = vec![0u8; len];
                    s.read_exact(&mut back).unwrap();
                    assert_eq!(back, msg, "client {c} message {i}");
                    echoed += len as u64;
                    if rand(&mut x).is_multiple_of(4) {
                        thread::sleep(Duration::from_micros(rand(&mut x) % 500));
                    }
                }
                echoed
            })
        })
        .collect();

    // --- channels, a Mutex+Condvar handshake and an RwLock: producers -> stage -> collector.
    let (tx, rx) = mpsc::sync_channel::<u64>(16);
    let (tx2, rx2) = mpsc::channel::<u64>();
    let table = Arc::new(RwLock::new(vec![0u64; 64]));
    let gate = Arc::new((Mutex::new(0u64), Condvar::new()));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            let gate = gate.clone();
            thread::spawn(move || {
                let mut x = seed ^ ((p + 7) * 0x85EB_CA6B);
                for i in 0..PER_PRODUCER {
                    tx.send(p * PER_PRODUCER + i).unwrap();
                    if rand(&mut x).is_multiple_of(64) {
                        thread::yield_now();
                    }
                }
                let (m, cv) = &*gate;
                *m.lock().unwrap() += 1;
                cv.notify_all();
            })
        })
        .collect();
    drop(tx);
    let stage = {
        let table = table.clone();
        thread::spawn(move || {
            for v in rx {
                if v % 97 == 0 {
                    // A child per some messages: spawn and join in the pipeline.
                    let t = table.clone();
                    thread::spawn(move || t.write().unwrap()[(v % 64) as usize] += 1)
                        .join()
                        .unwrap();
                } else {
                    let _ = table.read().unwrap()[(v % 64) as usize];
                }
                tx2.send(v).unwrap();
            }
        })
    };
    let collector = thread::spawn(move || {
        let mut seen = vec![false; (PRODUCERS * PER_PRODUCER) as usize];
        let mut n = 0u64;
        while let Ok(v) = rx2.recv_timeout(Duration::from_secs(30)) {
            assert!(!std::mem::replace(&mut seen[v as usize], true), "{v} twice");
            n += 1;
        }
        assert!(seen.iter().all(|&s| s), "a message was lost");
        n
    });
    {
        let (m, cv) = &*gate;
        let done = cv
            .wait_timeout_while(m.lock().unwrap(), Duration::from_secs(30), |d| {
                *d < PRODUCERS
            })
            .unwrap();
        assert!(!done.1.timed_out(), "producers did not finish");
    }
    for p in producers {
        p.join().unwrap();
    }
    stage.join().unwrap();
    let messages = collector.join().unwrap();
    let spawned_children: u64 = table.read().unwrap().iter().sum();
    assert_eq!(
        spawned_children,
        (0..PRODUCERS * PER_PRODUCER)
            .filter(|v| v % 97 == 0)
            .count() as u64
    );
    let echoed: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    server.join().unwrap();
    (messages, echoed)
}

#[test]
fn soak_mixing_spawn_channels_locks_timers_and_sockets() {
    let secs: u64 = std::env::var("SMARM_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let fds0 = open_fds();
    // The first round warms the pools, the reactor and the allocator.
    let (m, _) = run(Config::new().workers(2), || round(1));
    assert_eq!(m, PRODUCERS * PER_PRODUCER);
    let rss0 = rss_kib();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut rounds = 0u64;
    let mut bytes = 0u64;
    while Instant::now() < deadline {
        rounds += 1;
        let (m, b) = run(Config::new().workers(2), move || round(rounds + 1));
        assert_eq!(m, PRODUCERS * PER_PRODUCER, "round {rounds}");
        bytes += b;
    }
    let rss1 = rss_kib();
    let live = smarm::rt::dump().threads.len();
    eprintln!(
        "soak: {rounds} rounds in {secs} s, {bytes} bytes echoed; RSS {rss0} KiB after the first \
         round, {rss1} KiB at the end; fds {fds0} -> {}",
        open_fds()
    );
    assert!(rounds > 0);
    assert_eq!(live, 0, "green threads left alive");
    // The reactor's epoll fd and eventfd were opened by the first round.
    assert!(
        open_fds() <= fds0 + 2,
        "fds leaked: {fds0} -> {}",
        open_fds()
    );
    assert!(
        rss1 < rss0 + 32 * 1024,
        "RSS grew from {rss0} KiB to {rss1} KiB"
    );
}
