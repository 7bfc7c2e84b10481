//! `std::sync::mpsc` parity, differential (`--features compat-std` selects std).

#[cfg(not(feature = "compat-std"))]
use smarm::{sync::mpsc, thread};
#[cfg(feature = "compat-std")]
use std::{sync::mpsc, thread};

use mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

mod common;
use common::both;

#[test]
fn messages_arrive_in_order() {
    both(|| {
        let (tx, rx) = mpsc::channel();
        let h = thread::spawn(move || {
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
        });
        let got: Vec<i32> = rx.iter().collect();
        h.join().unwrap();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
    });
}

#[test]
fn many_senders_one_receiver() {
    both(|| {
        let (tx, rx) = mpsc::channel::<(u32, u32)>();
        for s in 0..8 {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..500 {
                    tx.send((s, i)).unwrap();
                }
            });
        }
        drop(tx);
        let mut last = [None::<u32>; 8];
        let mut n = 0;
        for (s, i) in rx {
            assert!(last[s as usize].is_none_or(|l| l < i), "per-sender FIFO");
            last[s as usize] = Some(i);
            n += 1;
        }
        assert_eq!(n, 8 * 500);
    });
}

#[test]
fn disconnects_are_reported_both_ways() {
    both(|| {
        let (tx, rx) = mpsc::channel::<String>();
        drop(rx);
        let err = tx.send("back".to_string()).unwrap_err();
        assert_eq!(err, SendError("back".to_string()));
        assert_eq!(err.to_string(), "sending on a closed channel");

        let (tx, rx) = mpsc::channel::<u8>();
        tx.send(1).unwrap();
        drop(tx);
        assert_eq!(rx.recv(), Ok(1)); // buffered messages still arrive
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(1)),
            Err(RecvTimeoutError::Disconnected)
        );
        assert_eq!(RecvError.to_string(), "receiving on a closed channel");
    });
}

#[test]
fn a_blocked_receiver_wakes_when_the_last_sender_goes() {
    both(|| {
        let (tx, rx) = mpsc::channel::<u8>();
        let h = thread::spawn(move || rx.recv());
        thread::sleep(Duration::from_millis(10));
        drop(tx);
        assert_eq!(h.join().unwrap(), Err(RecvError));
    });
}

#[test]
fn try_recv_and_recv_timeout() {
    both(|| {
        let (tx, rx) = mpsc::channel::<u8>();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let t = Instant::now();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(20)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(t.elapsed() >= Duration::from_millis(20));
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            tx.send(9).unwrap();
            tx
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(9));
        let _tx = h.join().unwrap();
        assert_eq!(rx.try_iter().count(), 0);
    });
}

#[test]
fn bounded_channel_blocks_when_full() {
    both(|| {
        let (tx, rx) = mpsc::sync_channel::<u32>(2);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        let h = thread::spawn(move || {
            tx.send(3).unwrap(); // blocks until there is room
            tx.send(4).unwrap();
        });
        thread::sleep(Duration::from_millis(10));
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.iter().take(3).collect::<Vec<_>>(), vec![2, 3, 4]);
        h.join().unwrap();
        assert_eq!(rx.recv(), Err(mpsc::RecvError));
    });
}

#[test]
fn rendezvous_send_waits_for_the_receiver() {
    both(|| {
        let (tx, rx) = mpsc::sync_channel::<u32>(0);
        assert_eq!(
            tx.try_send(1),
            Err(TrySendError::Full(1)),
            "no receiver waiting"
        );
        let h = thread::spawn(move || {
            let t = Instant::now();
            tx.send(7).unwrap();
            t.elapsed()
        });
        thread::sleep(Duration::from_millis(20));
        assert_eq!(rx.recv(), Ok(7));
        assert!(
            h.join().unwrap() >= Duration::from_millis(15),
            "send returned before recv"
        );
    });
}

#[test]
fn rendezvous_sender_gets_its_value_back_when_the_receiver_goes() {
    both(|| {
        let (tx, rx) = mpsc::sync_channel::<String>(0);
        let h = thread::spawn(move || tx.send("mine".to_string()));
        thread::sleep(Duration::from_millis(10));
        drop(rx);
        assert_eq!(h.join().unwrap(), Err(SendError("mine".to_string())));
    });
}

#[test]
fn try_send_reports_disconnection() {
    both(|| {
        let (tx, rx) = mpsc::sync_channel::<u8>(1);
        drop(rx);
        assert_eq!(tx.try_send(5), Err(TrySendError::Disconnected(5)));
        assert_eq!(tx.send(6), Err(SendError(6)));
    });
}

#[test]
fn os_thread_and_green_thread_talk_both_ways() {
    both(|| {
        let (to_os, from_green) = mpsc::channel::<u32>();
        let (to_green, from_os) = mpsc::channel::<u32>();
        let os = std::thread::spawn(move || {
            for v in from_green {
                if to_green.send(v + 1).is_err() {
                    break;
                }
            }
        });
        let green = thread::spawn(move || {
            let mut v = 0;
            for _ in 0..500 {
                to_os.send(v).unwrap();
                v = from_os.recv().unwrap();
            }
            v
        });
        assert_eq!(green.join().unwrap(), 500);
        os.join().unwrap();
    });
}

#[test]
fn error_types_match_std() {
    assert_eq!(
        TryRecvError::Empty.to_string(),
        "receiving on an empty channel"
    );
    assert_eq!(
        RecvTimeoutError::Timeout.to_string(),
        "timed out waiting on channel"
    );
    assert_eq!(
        TrySendError::Full(1).to_string(),
        "sending on a full channel"
    );
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<mpsc::Sender<u8>>();
    send_sync::<mpsc::SyncSender<u8>>();
    send::<mpsc::Receiver<u8>>();
    let (tx, rx) = mpsc::channel::<u8>();
    assert!(format!("{tx:?}").starts_with("Sender"));
    assert!(format!("{rx:?}").starts_with("Receiver"));
}
