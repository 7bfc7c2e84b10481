//! Echo throughput at 100 and 10 000 concurrent connections: a thread-per-connection echo server
//! on smarm (green threads) against the same code on std threads, and against a tokio
//! task-per-connection server (the fair async peer).
//!
//! Method: the server runs in this process; the load generator is a child process (this binary
//! again) with LOAD_THREADS OS threads, each owning an equal share of the connections. Each
//! thread, in rounds until the time is up, writes one 64-byte message on every connection it owns
//! and then reads every echo back (a closed loop, one message in flight per connection); the figure is
//! completed round trips per second over all connections. After the timed part the client reports,
//! the server samples its RSS (all connections open and idle), and the client closes everything.
//! Both servers run the identical `serve` code (a macro instantiated for each `use` line).
//!
//! `cargo bench --bench net_echo [-- SECONDS]` (default 3 s per case). Cases that need more
//! file descriptors than RLIMIT_NOFILE allows are skipped with a message.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MSG: usize = 64;
const LOAD_THREADS: usize = 4;
const CLIENT_ENV: &str = "NET_ECHO_CLIENT";

macro_rules! echo_server {
    ($name:ident, $net:path, $thread:path) => {
        /// Accepts `conns` connections, one thread each, echoing until end of file.
        fn $name(conns: usize) -> (std::net::SocketAddr, impl FnOnce()) {
            use $net as net;
            use $thread as thread;
            let listener = net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = thread::spawn(move || {
                let handlers: Vec<_> = (0..conns)
                    .map(|_| {
                        let (mut s, _) = listener.accept().unwrap();
                        thread::spawn(move || {
                            let mut buf = [0u8; 4096];
                            loop {
                                match s.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => {
                                        if s.write_all(&buf[..n]).is_err() {
                                            break;
                                        }
                                    }
                                }
                            }
                        })
                    })
                    .collect();
                for h in handlers {
                    h.join().unwrap();
                }
            });
            (addr, move || server.join().unwrap())
        }
    };
}

echo_server!(smarm_server, smarm::net, smarm::thread);
echo_server!(std_server, std::net, std::thread);

/// The same server as a tokio program: a task per connection on a multi-threaded runtime with
/// as many workers as smarm's default (one per core).
fn tokio_server(conns: usize) -> (std::net::SocketAddr, impl FnOnce()) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = rt.spawn(async move {
        let mut handlers = Vec::with_capacity(conns);
        for _ in 0..conns {
            let (mut s, _) = listener.accept().await.unwrap();
            handlers.push(tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            }));
        }
        for h in handlers {
            h.await.unwrap();
        }
    });
    (addr, move || rt.block_on(server).unwrap())
}

fn rss_kib() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur
    }
}

/// The load generator (child process).
fn client(spec: &str) {
    nofile();
    let mut it = spec.split(',');
    let addr: std::net::SocketAddr = it.next().unwrap().parse().unwrap();
    let conns: usize = it.next().unwrap().parse().unwrap();
    let secs: f64 = it.next().unwrap().parse().unwrap();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(LOAD_THREADS + 1));
    let hs: Vec<_> = (0..LOAD_THREADS)
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut cs: Vec<_> = (t..conns)
                    .step_by(LOAD_THREADS)
                    .map(|_| {
                        let c = std::net::TcpStream::connect(addr).unwrap();
                        c.set_nodelay(true).unwrap();
                        c
                    })
                    .collect();
                barrier.wait(); // all connected
                barrier.wait(); // start
                let deadline = Instant::now() + Duration::from_secs_f64(secs);
                let msg = [7u8; MSG];
                let mut back = [0u8; MSG];
                let mut trips = 0u64;
                while Instant::now() < deadline {
                    for c in &mut cs {
                        c.write_all(&msg).unwrap();
                    }
                    for c in &mut cs {
                        c.read_exact(&mut back).unwrap();
                    }
                    trips += cs.len() as u64;
                }
                (trips, cs)
            })
        })
        .collect();
    barrier.wait();
    barrier.wait();
    let t0 = Instant::now();
    let results: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    let elapsed = t0.elapsed().as_secs_f64();
    let trips: u64 = results.iter().map(|r| r.0).sum();
    println!("done {:.0}", trips as f64 / elapsed);
    // Keep every connection open until the server has sampled its memory.
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    drop(results);
}

fn run_case(name: &str, conns: usize, secs: f64) {
    let (addr, join): (_, Box<dyn FnOnce()>) = match name {
        "smarm" => {
            let (a, j) = smarm_server(conns);
            (a, Box::new(j))
        }
        "tokio" => {
            let (a, j) = tokio_server(conns);
            (a, Box::new(j))
        }
        _ => {
            let (a, j) = std_server(conns);
            (a, Box::new(j))
        }
    };
    let rss0 = rss_kib();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CLIENT_ENV, format!("{addr},{conns},{secs}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let rate: f64 = line
        .trim()
        .strip_prefix("done ")
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("client said {line:?}"));
    let rss = rss_kib();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    join();
    child.wait().unwrap();
    println!(
        "{name:>5} server, {conns:>5} connections: {:>9.0} round trips/s, server RSS +{:.1} KiB per connection",
        rate,
        rss.saturating_sub(rss0) as f64 / conns as f64
    );
}

fn main() {
    if let Ok(spec) = std::env::var(CLIENT_ENV) {
        return client(&spec);
    }
    let secs: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3.0);
    let limit = nofile();
    println!(
        "echo, {MSG}-byte messages, closed loop, load generator: {LOAD_THREADS} threads in a child process"
    );
    for conns in [100, 10_000] {
        if (conns as u64) + 100 > limit {
            println!("skipped {conns} connections: RLIMIT_NOFILE is {limit}");
            continue;
        }
        for name in ["smarm", "std", "tokio"] {
            run_case(name, conns, secs);
        }
    }
}
