//! Scenarios for the reactor that the differential suite cannot express: who polls when workers
//! are busy or a runtime stops, several waiters on one socket, and the raw readiness API.

use smarm::net::{TcpListener, TcpStream};
use smarm::rt::{Config, run, wait_readable, wait_writable};
use smarm::thread;

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

#[test]
fn socket_waiters_are_served_while_a_green_thread_hogs_a_worker() {
    run(Config::new().workers(2), || {
        static STOP: AtomicBool = AtomicBool::new(false);
        let (mut c, mut s) = pair();
        let reader = thread::spawn(move || {
            let mut b = [0u8; 4];
            s.read_exact(&mut b).unwrap();
            b
        });
        // Occupies one worker without ever switching, for up to 10 s.
        let (started_tx, started_rx) = mpsc::channel();
        let hog = thread::spawn(move || {
            started_tx.send(()).unwrap();
            let t0 = Instant::now();
            while !STOP.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(10) {
                std::hint::spin_loop();
            }
        });
        started_rx.recv().unwrap();
        let t0 = Instant::now();
        c.write_all(b"ping").unwrap();
        assert_eq!(&reader.join().unwrap(), b"ping");
        let waited = t0.elapsed();
        STOP.store(true, Ordering::Relaxed);
        hog.join().unwrap();
        assert!(
            waited < Duration::from_secs(5),
            "reader starved for {waited:?}"
        );
    });
}

#[test]
fn os_threads_keep_being_served_after_a_runtime_stops() {
    // Sockets made and first waited on inside a runtime that then stops...
    let (c, s) = run(Config::new().workers(1), || {
        let (c, mut s) = pair();
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let e = s.read(&mut [0u8; 1]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        s.set_read_timeout(None).unwrap();
        (c, s)
    });
    // ... still work from plain OS threads.
    let reader = std::thread::spawn(move || {
        let mut s = s;
        let mut b = [0u8; 2];
        s.read_exact(&mut b).unwrap();
        b
    });
    std::thread::sleep(Duration::from_millis(20));
    (&c).write_all(b"ok").unwrap();
    assert_eq!(&reader.join().unwrap(), b"ok");
}

#[test]
fn several_threads_wait_on_one_stream() {
    let (mut c, s) = pair();
    let s = std::sync::Arc::new(s);
    let (tx, rx) = mpsc::channel();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (s, tx) = (s.clone(), tx.clone());
            thread::spawn(move || {
                let mut b = [0u8; 1];
                assert_eq!((&*s).read(&mut b).unwrap(), 1);
                tx.send(b[0]).unwrap();
            })
        })
        .collect();
    let mut got = Vec::new();
    for i in 0..4u8 {
        c.write_all(&[i]).unwrap();
        got.push(rx.recv_timeout(Duration::from_secs(5)).expect("a reader"));
    }
    for r in readers {
        r.join().unwrap();
    }
    got.sort();
    assert_eq!(got, [0, 1, 2, 3]);
}

#[test]
fn raw_readiness_from_green_and_os_threads() {
    let (mut c, s) = pair();
    let e = wait_readable(s.as_fd(), Some(Duration::from_millis(20))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    wait_writable(c.as_fd(), None).unwrap();
    let waiter = thread::spawn(move || {
        wait_readable(s.as_fd(), Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 3];
        (&s).read_exact(&mut b).unwrap();
        b
    });
    c.write_all(b"raw").unwrap();
    assert_eq!(&waiter.join().unwrap(), b"raw");
}

#[test]
fn closing_registered_sockets_in_a_loop_leaves_nothing_stale() {
    // Each round registers sockets (a read that times out), closes them, and lets the next round
    // reuse their fd numbers: readiness for an old registration must never reach a new one.
    for _ in 0..20 {
        let pairs: Vec<_> = (0..20).map(|_| pair()).collect();
        let hs: Vec<_> = pairs
            .into_iter()
            .map(|(mut c, s)| {
                thread::spawn(move || {
                    s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
                    let e = (&s).read(&mut [0u8; 1]).unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::WouldBlock);
                    c.write_all(b"z").unwrap();
                    let mut b = [0u8; 1];
                    (&s).read_exact(&mut b).unwrap();
                    assert_eq!(&b, b"z");
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    }
}

#[test]
fn os_thread_waiters_are_served_while_a_one_worker_runtime_computes() {
    static READ: AtomicBool = AtomicBool::new(false);
    let (c, mut s) = pair();
    let reader = std::thread::spawn(move || {
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        READ.store(true, Ordering::SeqCst);
        b
    });
    let waited = run(Config::new().workers(1), move || {
        // Let the lone worker go idle once (it may take the reactor), then compute without
        // switching until the OS thread has its data.
        thread::sleep(Duration::from_millis(20));
        (&c).write_all(b"ping").unwrap();
        let t0 = Instant::now();
        while !READ.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(10) {
            std::hint::spin_loop();
        }
        t0.elapsed()
    });
    assert_eq!(&reader.join().unwrap(), b"ping");
    assert!(
        waited < Duration::from_secs(5),
        "reader starved for {waited:?}"
    );
}

#[test]
fn data_and_end_of_file_in_one_edge_are_both_read() {
    for _ in 0..20 {
        let (c, s) = pair();
        // Register `s` with the reactor first (a read that times out).
        s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        assert_eq!(
            (&s).read(&mut [0u8; 1]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        // Data and FIN arrive together; the short read of the data must not hide the EOF.
        (&c).write_all(b"abc").unwrap();
        drop(c);
        wait_readable(s.as_fd(), Some(Duration::from_secs(5))).unwrap();
        thread::sleep(Duration::from_millis(2));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        let mut got = 0;
        loop {
            match (&s).read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) => panic!("end of file lost: {e}"),
            }
        }
        assert_eq!(&buf[..got], b"abc");
    }
}
