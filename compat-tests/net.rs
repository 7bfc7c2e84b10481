//! `std::net` parity, differential: builds and passes against std and against smarm with only the
//! `use` lines differing (`--features compat-std` selects std). Loopback only, ephemeral ports;
//! every wait is bounded.

#[cfg(not(feature = "compat-std"))]
use smarm::{
    net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket},
    thread,
};
#[cfg(feature = "compat-std")]
use std::{
    net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket},
    thread,
};

use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::time::{Duration, Instant};

mod common;
use common::both;

/// A listener on an ephemeral loopback port and its address.
fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// A connected pair: (client, server side).
fn pair() -> (TcpStream, TcpStream) {
    let (l, a) = listener();
    let c = TcpStream::connect(a).unwrap();
    let (s, peer) = l.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
    (c, s)
}

/// Echoes everything read from `s` back until end of file.
fn echo(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).unwrap() {
            0 => break,
            n => s.write_all(&buf[..n]).unwrap(),
        }
    }
}

#[test]
fn echo_a_megabyte_with_a_cloned_reader() {
    both(|| {
        let (l, a) = listener();
        let server = thread::spawn(move || echo(l.accept().unwrap().0));
        let mut c = TcpStream::connect(a).unwrap();
        let mut r = c.try_clone().unwrap();
        let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 + i / 251) as u8).collect();
        let expected = data.clone();
        // Read on another thread: the echo would otherwise fill both directions' buffers.
        let reader = thread::spawn(move || {
            let mut got = Vec::new();
            r.read_to_end(&mut got).unwrap();
            got
        });
        for chunk in data.chunks(10_000) {
            c.write_all(chunk).unwrap();
        }
        c.shutdown(Shutdown::Write).unwrap();
        assert!(reader.join().unwrap() == expected);
        server.join().unwrap();
    });
}

#[test]
fn vectored_io() {
    both(|| {
        let (mut c, mut s) = pair();
        let n = c
            .write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cde")])
            .unwrap();
        assert_eq!(n, 5);
        let (mut x, mut y) = ([0u8; 2], [0u8; 3]);
        let mut got = 0;
        while got < 5 {
            let mut bufs = [IoSliceMut::new(&mut x[..]), IoSliceMut::new(&mut y[..])];
            IoSliceMut::advance_slices(&mut &mut bufs[..], got);
            got += s.read_vectored(&mut bufs).unwrap();
        }
        assert_eq!((&x, &y), (b"ab", b"cde"));
    });
}

#[test]
fn read_timeout_is_would_block_and_write_timeout_too() {
    both(|| {
        let (c, s) = pair();
        assert_eq!(c.read_timeout().unwrap(), None);
        // The kernel keeps SO_RCVTIMEO in jiffies: 200 ms is a whole number of them for every
        // common HZ (100, 250, 300, 1000), 50 ms is not (52 ms at HZ=250), for std as for us.
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(200)));
        c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let t0 = Instant::now();
        let e = (&c).read(&mut [0; 8]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(45), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        // The stream still works after a timeout.
        (&s).write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        (&c).read_exact(&mut b).unwrap();
        assert_eq!(&b, b"x");

        // Nobody reads `s`: writes fill the buffers, then time out.
        c.set_write_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let t0 = Instant::now();
        let e = loop {
            if let Err(e) = (&c).write(&chunk) {
                break e;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "buffers never filled"
            );
        };
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        drop(s);
    });
}

#[test]
fn zero_timeouts_are_invalid_input() {
    both(|| {
        let (c, _s) = pair();
        let e = c.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = c.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let (_l, a) = listener();
        let e = TcpStream::connect_timeout(&a, Duration::ZERO).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let e = u.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

/// A loopback listener with a backlog of 0 made through libc (neither std nor smarm has a
/// backlog parameter), so that connections beyond the first queued one get no answer.
fn full_listener() -> (std::os::fd::OwnedFd, SocketAddr) {
    // SAFETY: plain socket syscalls on a fresh fd, with a valid sockaddr_in.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let fd = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(libc::bind(fd.as_raw_fd(), (&raw const sin).cast(), len), 0);
        assert_eq!(libc::listen(fd.as_raw_fd(), 0), 0);
        let mut len = len;
        assert_eq!(
            libc::getsockname(fd.as_raw_fd(), (&raw mut sin).cast(), &mut len),
            0
        );
        let port = u16::from_be(sin.sin_port);
        (fd, SocketAddr::from(([127, 0, 0, 1], port)))
    }
}

#[test]
fn connect_timeout_times_out_when_nobody_answers() {
    both(|| {
        let (_fd, a) = full_listener();
        let mut held = Vec::new();
        let t0 = Instant::now();
        let e = loop {
            match TcpStream::connect_timeout(&a, Duration::from_millis(100)) {
                Ok(s) => held.push(s),
                Err(e) => break e,
            }
            assert!(held.len() < 16, "the backlog never filled");
        };
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e:?}");
        assert!(t0.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn connect_timeout_connects() {
    both(|| {
        let (l, a) = listener();
        let c = TcpStream::connect_timeout(&a, Duration::from_secs(5)).unwrap();
        let (s, _) = l.accept().unwrap();
        assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
    });
}

#[test]
fn refused_connect() {
    both(|| {
        let (l, a) = listener();
        drop(l);
        let e = TcpStream::connect(a).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        let e = TcpStream::connect_timeout(&a, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn connect_tries_every_address_in_order() {
    both(|| {
        let (dead, dead_addr) = listener();
        drop(dead);
        let (l, a) = listener();
        let addrs = [dead_addr, a];
        let c = TcpStream::connect(&addrs[..]).unwrap();
        assert_eq!(c.peer_addr().unwrap(), a);
        drop(l);
        let none: [SocketAddr; 0] = [];
        let e = TcpStream::connect(&none[..]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        // Only refusals: the last error is reported.
        let e = TcpStream::connect(&[dead_addr, dead_addr][..]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn connect_by_host_name() {
    both(|| {
        let (l, a) = listener();
        let c = TcpStream::connect(("localhost", a.port()));
        // localhost may resolve to ::1 first, where nobody listens: every address is tried.
        let c = c.unwrap();
        assert_eq!(c.peer_addr().unwrap(), a);
        drop(l);
    });
}

#[test]
fn shutdown_write_gives_the_peer_eof() {
    both(|| {
        let (mut c, mut s) = pair();
        c.write_all(b"bye").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"bye");
        // The other direction still works.
        s.write_all(b"ok").unwrap();
        let mut b = [0u8; 2];
        c.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ok");
        s.shutdown(Shutdown::Both).unwrap();
        assert_eq!(c.read(&mut b).unwrap(), 0);
    });
}

#[test]
fn shutdown_read_wakes_a_blocked_reader() {
    both(|| {
        let (c, _s) = pair();
        let mut r = c.try_clone().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = thread::spawn(move || {
            tx.send(()).unwrap();
            r.read(&mut [0u8; 8]).unwrap()
        });
        rx.recv().unwrap();
        // The reader may not be blocked yet; shutting down before it reads gives EOF as well.
        thread::sleep(Duration::from_millis(20));
        c.shutdown(Shutdown::Read).unwrap();
        assert_eq!(reader.join().unwrap(), 0);
    });
}

#[test]
fn peer_close_is_eof() {
    both(|| {
        let (mut c, s) = pair();
        let reader = thread::spawn(move || {
            let mut v = Vec::new();
            c.read_to_end(&mut v).unwrap();
            v
        });
        let mut s = s;
        s.write_all(b"last words").unwrap();
        drop(s);
        assert_eq!(reader.join().unwrap(), b"last words");
    });
}

#[test]
fn peek_leaves_data_queued() {
    both(|| {
        let (c, mut s) = pair();
        let peeker = thread::spawn(move || {
            let mut b = [0u8; 16];
            let n = c.peek(&mut b).unwrap(); // waits for data
            assert!(n > 0 && b[..n] == b"hello"[..n]);
            let mut all = [0u8; 5];
            (&c).read_exact(&mut all).unwrap();
            all
        });
        s.write_all(b"hello").unwrap();
        assert_eq!(&peeker.join().unwrap(), b"hello");
    });
}

#[test]
fn nonblocking_streams_and_listeners_return_would_block() {
    both(|| {
        let (l, a) = listener();
        l.set_nonblocking(true).unwrap();
        assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
        let mut c = TcpStream::connect(a).unwrap();
        let t0 = Instant::now();
        let mut s = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
            }
            assert!(t0.elapsed() < Duration::from_secs(5));
            thread::yield_now();
        };
        s.set_nonblocking(true).unwrap();
        let e = s.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        // ... shared with clones ...
        let mut s2 = s.try_clone().unwrap();
        assert_eq!(
            s2.read(&mut [0u8; 4]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        c.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        let t0 = Instant::now();
        let n = loop {
            match s.read(&mut b) {
                Ok(n) => break n,
                Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
            }
            assert!(t0.elapsed() < Duration::from_secs(5));
            thread::yield_now();
        };
        assert_eq!(&b[..n], b"ping"); // one small loopback write arrives whole
        // ... and can be switched off again (through the clone): the read then waits.
        s2.set_nonblocking(false).unwrap();
        let rest = thread::spawn(move || {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            b
        });
        c.write_all(b"!!").unwrap();
        assert_eq!(&rest.join().unwrap(), b"!!");
    });
}

#[test]
fn incoming_accepts_in_a_loop() {
    both(|| {
        let (l, a) = listener();
        let clients = thread::spawn(move || {
            (0..3)
                .map(|_| TcpStream::connect(a).unwrap())
                .collect::<Vec<_>>()
        });
        let streams: Vec<_> = l.incoming().take(3).map(|s| s.unwrap()).collect();
        let n = streams.len();
        assert_eq!(n, 3);
        drop(clients.join().unwrap());
    });
}

#[test]
fn options_round_trip() {
    both(|| {
        let (l, _a) = listener();
        l.set_ttl(42).unwrap();
        assert_eq!(l.ttl().unwrap(), 42);
        assert!(l.take_error().unwrap().is_none());
        let l2 = l.try_clone().unwrap();
        assert_eq!(l2.local_addr().unwrap(), l.local_addr().unwrap());
        let (c, _s) = pair();
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        c.set_ttl(33).unwrap();
        assert_eq!(c.ttl().unwrap(), 33);
        assert!(c.take_error().unwrap().is_none());
        c.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
        assert_eq!(c.write_timeout().unwrap(), Some(Duration::from_secs(3)));
        // Timeouts live on the socket: clones share them.
        assert_eq!(
            c.try_clone().unwrap().write_timeout().unwrap(),
            Some(Duration::from_secs(3))
        );
    });
}

#[test]
fn raw_fd_round_trip() {
    both(|| {
        let (c, mut s) = pair();
        let fd = c.into_raw_fd();
        // SAFETY: `fd` came from into_raw_fd and is owned by nobody else.
        let mut c = unsafe { TcpStream::from_raw_fd(fd) };
        c.write_all(b"fd").unwrap();
        let mut b = [0u8; 2];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"fd");
        let owned: std::os::fd::OwnedFd = c.into();
        let c = TcpStream::from(owned);
        assert_eq!(c.peer_addr().unwrap(), s.local_addr().unwrap());
    });
}

#[test]
fn many_concurrent_connections() {
    both(|| {
        const CONNS: usize = 200;
        const ROUNDS: usize = 5;
        let (l, a) = listener();
        let server = thread::spawn(move || {
            let hs: Vec<_> = (0..CONNS)
                .map(|_| {
                    let s = l.accept().unwrap().0;
                    thread::spawn(move || echo(s))
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        });
        let clients: Vec<_> = (0..CONNS)
            .map(|i| {
                thread::spawn(move || {
                    let mut c = TcpStream::connect(a).unwrap();
                    for r in 0..ROUNDS {
                        let msg = format!("client {i} round {r}");
                        c.write_all(msg.as_bytes()).unwrap();
                        let mut back = vec![0u8; msg.len()];
                        c.read_exact(&mut back).unwrap();
                        assert_eq!(back, msg.as_bytes());
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        server.join().unwrap();
    });
}

#[test]
fn udp_send_recv_peek_and_connect() {
    both(|| {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let b2 = b.try_clone().unwrap();
        // A receiver that waits before anything is sent.
        let rx = thread::spawn(move || {
            let mut buf = [0u8; 64];
            let (n, from) = b2.peek_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&b"one"[..], aa));
            let (n, from) = b2.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&b"one"[..], aa));
            b2
        });
        thread::sleep(Duration::from_millis(10));
        assert_eq!(a.send_to(b"one", ba).unwrap(), 3);
        let b = {
            drop(b);
            rx.join().unwrap()
        };
        a.connect(ba).unwrap();
        b.connect(aa).unwrap();
        assert_eq!(a.peer_addr().unwrap(), ba);
        a.send(b"two").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(b.peek(&mut buf).unwrap(), 3);
        assert_eq!(b.recv(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"two");
        let none: [SocketAddr; 0] = [];
        let e = a.send_to(b"x", &none[..]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn udp_timeouts_and_nonblocking() {
    both(|| {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert_eq!(u.read_timeout().unwrap(), Some(Duration::from_millis(200)));
        u.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        let t0 = Instant::now();
        let e = u.recv_from(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert!(t0.elapsed() >= Duration::from_millis(25));
        u.set_read_timeout(None).unwrap();
        u.set_nonblocking(true).unwrap();
        let t0 = Instant::now();
        let e = u.recv(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert!(t0.elapsed() < Duration::from_secs(1));
    });
}

#[test]
fn udp_options() {
    both(|| {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.set_broadcast(true).unwrap();
        assert!(u.broadcast().unwrap());
        u.set_ttl(7).unwrap();
        assert_eq!(u.ttl().unwrap(), 7);
        u.set_multicast_loop_v4(false).unwrap();
        assert!(!u.multicast_loop_v4().unwrap());
        u.set_multicast_ttl_v4(3).unwrap();
        assert_eq!(u.multicast_ttl_v4().unwrap(), 3);
        assert!(u.take_error().unwrap().is_none());
        if let Ok(u6) = UdpSocket::bind("[::1]:0") {
            u6.set_multicast_loop_v6(false).unwrap();
            assert!(!u6.multicast_loop_v6().unwrap());
        }
    });
}

#[test]
fn auto_traits_match_std() {
    fn check<
        T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe + std::fmt::Debug,
    >() {
    }
    check::<TcpStream>();
    check::<TcpListener>();
    check::<UdpSocket>();
    fn io<T>()
    where
        for<'a> &'a T: Read + Write,
    {
    }
    io::<TcpStream>();
}
