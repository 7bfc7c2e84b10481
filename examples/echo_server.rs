//! A thread-per-connection echo server, written as for `std::net` and `std::thread`; only the
//! `use` lines say smarm, so every connection is served by its own green thread.
//!
//! It listens on 127.0.0.1 (an ephemeral port), and a built-in client — also plain
//! thread-per-connection code — opens CLIENTS connections at once, sends lines, and checks that
//! each comes back. Then the server stops and the program ends.
//!
//! `cargo run --release --example echo_server [-- CLIENTS]` (default 1000)

use smarm::net::{TcpListener, TcpStream};
use smarm::thread;

use std::io::{BufRead, BufReader, Write};
use std::time::Instant;

const LINES: usize = 10;

fn handle(stream: TcpStream) -> std::io::Result<u64> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut bytes = 0;
    while reader.read_line(&mut line)? > 0 {
        writer.write_all(line.as_bytes())?;
        bytes += line.len() as u64;
        line.clear();
    }
    Ok(bytes)
}

fn client(addr: std::net::SocketAddr, id: usize) -> std::io::Result<()> {
    let stream = TcpStream::connect(addr)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut back = String::new();
    for i in 0..LINES {
        let line = format!("hello from client {id}, line {i}\n");
        writer.write_all(line.as_bytes())?;
        back.clear();
        reader.read_line(&mut back)?;
        assert_eq!(back, line);
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let clients: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("echo server on {addr}, {clients} clients");
    let start = Instant::now();

    // The server: one thread per accepted connection; stops after `clients` connections.
    let server = thread::spawn(move || {
        let handlers: Vec<_> = listener
            .incoming()
            .take(clients)
            .map(|stream| {
                let stream = stream.expect("accept");
                thread::spawn(move || handle(stream).expect("echo"))
            })
            .collect();
        handlers.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });

    let client_threads: Vec<_> = (0..clients)
        .map(|id| thread::spawn(move || client(addr, id).expect("client")))
        .collect();
    for c in client_threads {
        c.join().unwrap();
    }
    let echoed = server.join().unwrap();
    println!(
        "{clients} connections, {} lines, {echoed} bytes echoed in {:.2?}",
        clients * LINES,
        start.elapsed()
    );
    Ok(())
}
