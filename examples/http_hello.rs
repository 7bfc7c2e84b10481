//! "Hello, world!" over HTTP/1.1, thread per connection, written as for `std::net` and
//! `std::thread`; only the `use` lines say smarm.
//!
//! It listens on 127.0.0.1, serves REQUESTS requests sent by a built-in client (a few threads
//! issuing `GET /` on fresh connections) and exits. With `--forever` it serves until killed and
//! prints its address, for `curl`.
//!
//! `cargo run --release --example http_hello [-- REQUESTS | --forever]` (default 2000)

use smarm::net::{Shutdown, TcpListener, TcpStream};
use smarm::thread;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Instant;

const BODY: &str = "Hello, world!\n";

/// Reads one request (up to the blank line) and answers it; `Connection: close`.
fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut header = String::new();
    loop {
        header.clear();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let (status, body) = if request_line.starts_with("GET ") {
        ("200 OK", BODY)
    } else {
        ("405 Method Not Allowed", "")
    };
    let mut out = &stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.shutdown(Shutdown::Write)
}

fn get(addr: std::net::SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    Ok(response)
}

fn main() -> std::io::Result<()> {
    let arg = std::env::args().nth(1);
    let forever = arg.as_deref() == Some("--forever");
    let requests: usize = arg.and_then(|a| a.parse().ok()).unwrap_or(2000);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("http://{addr}/");

    let limit = if forever { usize::MAX } else { requests };
    let server = thread::spawn(move || {
        let handlers: Vec<_> = listener
            .incoming()
            .take(limit)
            .map(|stream| {
                let stream = stream.expect("accept");
                thread::spawn(move || {
                    if let Err(e) = serve(stream) {
                        eprintln!("request failed: {e}");
                    }
                })
            })
            .collect();
        for h in handlers {
            h.join().unwrap();
        }
    });
    if forever {
        server.join().unwrap();
        return Ok(());
    }

    let start = Instant::now();
    const CLIENTS: usize = 16;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                for _ in (c..requests).step_by(CLIENTS) {
                    let r = get(addr).expect("GET");
                    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
                    assert!(r.ends_with(BODY), "{r}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
    let t = start.elapsed();
    println!(
        "{requests} requests in {t:.2?} ({:.0} requests/s)",
        requests as f64 / t.as_secs_f64()
    );
    Ok(())
}
