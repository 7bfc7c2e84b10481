//! `smarm::sync::mpsc::Select`: which case is selected, fairness among ready cases, timeouts,
//! disconnection, bounded and rendezvous sends, stale registrations, and a stress test with a
//! green and an OS-thread selector. Assertions count what happened, never how long it took;
//! every test that can block runs under a watchdog that aborts with a message instead of hanging.

mod support;
use support::watchdog;

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use smarm::rt::{self, Config};
use smarm::sync::Arc;
use smarm::sync::mpsc::{
    self, RecvError, Select, SelectTimeoutError, SendError, TrySelectError, TrySendError,
};
use smarm::thread;

#[test]
fn selects_the_ready_case_and_try_select_fails_when_none_is() {
    let _dog = watchdog(
        "selects_the_ready_case_and_try_select_fails_when_none_is",
        Duration::from_secs(60),
        String::new,
    );
    let (tx1, rx1) = mpsc::channel::<u32>();
    let (tx2, rx2) = mpsc::channel::<u32>();
    let (full_tx, full_rx) = mpsc::sync_channel::<u32>(1);
    full_tx.send(0).unwrap();

    let mut sel = Select::new();
    let i1 = sel.recv(&rx1);
    let i2 = sel.recv(&rx2);
    let i3 = sel.send(&full_tx);
    assert_eq!((i1, i2, i3), (0, 1, 2));
    assert!(matches!(sel.try_select(), Err(TrySelectError)));

    tx2.send(22).unwrap();
    for _ in 0..10 {
        // Only `rx2` is ready, however the cases are shuffled; dropping the receive unfinished
        // leaves the message where it was.
        assert_eq!(sel.try_select().unwrap().index(), i2);
    }
    let op = sel.select();
    assert_eq!(op.index(), i2);
    assert_eq!(op.recv(&rx2), Ok(22));

    // Room appears in the bounded channel: the send case becomes the ready one.
    assert_eq!(full_rx.recv(), Ok(0));
    let op = sel.select();
    assert_eq!(op.index(), i3);
    op.send(&full_tx, 33).unwrap();
    assert_eq!(full_rx.try_recv(), Ok(33));

    full_tx.try_send(34).unwrap(); // full again: only the receive below can be ready
    tx1.send(11).unwrap();
    let op = sel.select_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(op.index(), i1);
    assert_eq!(op.recv(&rx1), Ok(11));
}

#[test]
fn a_select_waits_for_a_send_from_a_green_thread_and_from_an_os_thread() {
    let _dog = watchdog(
        "a_select_waits_for_a_send_from_a_green_thread_and_from_an_os_thread",
        Duration::from_secs(60),
        String::new,
    );
    for green in [true, false] {
        let (_tx1, rx1) = mpsc::channel::<u32>();
        let (tx2, rx2) = mpsc::channel::<u32>();
        let send = move || {
            thread::sleep(Duration::from_millis(5));
            tx2.send(7).unwrap();
        };
        if green {
            thread::spawn(send);
        } else {
            std::thread::spawn(send);
        }
        let mut sel = Select::new();
        sel.recv(&rx1);
        let i2 = sel.recv(&rx2);
        let op = sel.select();
        assert_eq!(op.index(), i2);
        assert_eq!(op.recv(&rx2), Ok(7));
    }
}

/// Counts which of `n` cases a fresh select picks, over `rounds` selects; `ready[k]` says whether
/// case `k` always has a message.
fn pick_counts(ready: &[bool], rounds: usize) -> Vec<usize> {
    let chans: Vec<_> = ready
        .iter()
        .map(|&r| {
            let (tx, rx) = mpsc::channel::<usize>();
            if r {
                tx.send(0).unwrap();
            }
            (tx, rx)
        })
        .collect();
    let mut counts = vec![0; ready.len()];
    for _ in 0..rounds {
        // A new `Select` each time, as a loop usually builds one: fairness must not depend on
        // reusing it.
        let mut sel = Select::new();
        for (_, rx) in &chans {
            sel.recv(rx);
        }
        let op = sel.select();
        let k = op.index();
        assert!(ready[k], "case {k} is never ready");
        op.recv(&chans[k].1).unwrap();
        chans[k].0.send(0).unwrap(); // ready again
        counts[k] += 1;
    }
    counts
}

#[test]
fn two_always_ready_channels_share_the_selects_fairly() {
    let rounds = 4_000;
    let counts = pick_counts(&[true, true], rounds);
    assert!(
        counts.iter().all(|&c| c * 100 >= rounds * 30),
        "unfair: {counts:?} of {rounds}"
    );

    // A never-ready case between two ready ones must not tilt the choice (a rotating start
    // offset would give the case after the idle one two turns in three).
    let counts = pick_counts(&[true, false, true], rounds);
    assert_eq!(counts[1], 0);
    assert!(
        counts[0] * 100 >= rounds * 35 && counts[2] * 100 >= rounds * 35,
        "unfair: {counts:?} of {rounds}"
    );
}

#[test]
fn a_ready_send_and_a_ready_receive_share_the_selects_fairly() {
    let (in_tx, in_rx) = mpsc::channel::<u32>();
    let (out_tx, out_rx) = mpsc::sync_channel::<u32>(1);
    in_tx.send(0).unwrap();
    let (mut recvs, mut sends) = (0, 0);
    let rounds = 4_000;
    let mut sel = Select::new();
    let r = sel.recv(&in_rx);
    let s = sel.send(&out_tx);
    for _ in 0..rounds {
        let op = sel.select();
        if op.index() == r {
            op.recv(&in_rx).unwrap();
            in_tx.send(0).unwrap();
            recvs += 1;
        } else {
            assert_eq!(op.index(), s);
            op.send(&out_tx, 1).unwrap();
            out_rx.recv().unwrap();
            sends += 1;
        }
    }
    assert!(
        recvs * 100 >= rounds * 30 && sends * 100 >= rounds * 30,
        "unfair: {recvs} receives, {sends} sends"
    );
}

#[test]
fn a_timeout_consumes_nothing() {
    let _dog = watchdog(
        "a_timeout_consumes_nothing",
        Duration::from_secs(60),
        String::new,
    );
    let (tx, rx) = mpsc::channel::<u32>();
    let (full_tx, full_rx) = mpsc::sync_channel::<u32>(1);
    full_tx.send(1).unwrap();
    let (rv_tx, rv_rx) = mpsc::sync_channel::<u32>(0);

    let mut sel = Select::new();
    sel.recv(&rx);
    sel.send(&full_tx);
    sel.send(&rv_tx); // rendezvous with nobody waiting: never ready here
    for _ in 0..3 {
        assert!(matches!(
            sel.select_timeout(Duration::from_millis(2)),
            Err(SelectTimeoutError)
        ));
    }
    let deadline = Instant::now() + Duration::from_millis(2);
    assert!(matches!(
        sel.select_deadline(deadline),
        Err(SelectTimeoutError)
    ));
    assert!(Instant::now() >= deadline);
    assert!(matches!(
        sel.select_timeout(Duration::ZERO),
        Err(SelectTimeoutError)
    ));
    drop(sel);

    // Nothing was taken, nothing was put in, no room is held.
    assert_eq!(full_rx.try_recv(), Ok(1));
    assert_eq!(full_rx.try_recv(), Err(mpsc::TryRecvError::Empty));
    assert_eq!(full_tx.try_send(2), Ok(()));
    assert_eq!(rv_tx.try_send(3), Err(TrySendError::Full(3)));
    tx.send(4).unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [4]);
    drop(rv_rx);

    // The same from a green thread (the timer wakes it, not a futex timeout).
    let timeouts = thread::spawn(|| {
        let (_tx, rx) = mpsc::channel::<u32>();
        let mut sel = Select::new();
        sel.recv(&rx);
        (0..5)
            .filter(|_| sel.select_timeout(Duration::from_millis(1)).is_err())
            .count()
    });
    assert_eq!(timeouts.join().unwrap(), 5);
}

#[test]
fn a_message_sent_before_the_deadline_is_selected() {
    let _dog = watchdog(
        "a_message_sent_before_the_deadline_is_selected",
        Duration::from_secs(60),
        String::new,
    );
    let (tx, rx) = mpsc::channel::<u32>();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(2));
        tx.send(5).unwrap();
    });
    let mut sel = Select::new();
    sel.recv(&rx);
    let op = sel.select_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(op.recv(&rx), Ok(5));
}

#[test]
fn disconnected_channels_are_ready() {
    let _dog = watchdog(
        "disconnected_channels_are_ready",
        Duration::from_secs(60),
        String::new,
    );
    // Receive: buffered messages first, then `RecvError`.
    let (tx, rx) = mpsc::channel::<u32>();
    let (_idle_tx, idle_rx) = mpsc::channel::<u32>();
    tx.send(1).unwrap();
    drop(tx);
    let mut sel = Select::new();
    sel.recv(&idle_rx);
    let i = sel.recv(&rx);
    let op = sel.select();
    assert_eq!(op.index(), i);
    assert_eq!(op.recv(&rx), Ok(1));
    let op = sel.select();
    assert_eq!(op.index(), i);
    assert_eq!(op.recv(&rx), Err(RecvError));

    // Send: the value comes back, on a bounded and on a rendezvous channel.
    for cap in [0, 1] {
        let (tx, rx) = mpsc::sync_channel::<String>(cap);
        drop(rx);
        let mut sel = Select::new();
        sel.recv(&idle_rx);
        let i = sel.send(&tx);
        let op = sel.select();
        assert_eq!(op.index(), i);
        assert_eq!(op.send(&tx, "back".into()), Err(SendError("back".into())));
    }

    // A disconnect while the selector waits wakes it.
    let (tx, rx) = mpsc::channel::<u32>();
    let waiter = thread::spawn(move || {
        let (_idle_tx, idle_rx) = mpsc::channel::<u32>();
        let mut sel = Select::new();
        sel.recv(&idle_rx);
        let i = sel.recv(&rx);
        let op = sel.select();
        assert_eq!(op.index(), i);
        op.recv(&rx)
    });
    thread::sleep(Duration::from_millis(2));
    drop(tx);
    assert_eq!(waiter.join().unwrap(), Err(RecvError));

    let (tx, rx) = mpsc::sync_channel::<u32>(0);
    let waiter = thread::spawn(move || {
        let mut sel = Select::new();
        let i = sel.send(&tx);
        let op = sel.select();
        assert_eq!(op.index(), i);
        op.send(&tx, 8)
    });
    thread::sleep(Duration::from_millis(2));
    drop(rx);
    assert_eq!(waiter.join().unwrap(), Err(SendError(8)));
}

#[test]
fn a_selected_send_waits_for_room_in_a_bounded_channel() {
    let _dog = watchdog(
        "a_selected_send_waits_for_room_in_a_bounded_channel",
        Duration::from_secs(60),
        String::new,
    );
    let (tx, rx) = mpsc::sync_channel::<u32>(1);
    tx.send(0).unwrap();
    let (_idle_tx, idle_rx) = mpsc::channel::<u32>();
    let tx2 = tx.clone();
    let sender = thread::spawn(move || {
        let mut sel = Select::new();
        sel.recv(&idle_rx);
        let s = sel.send(&tx2);
        for v in 1..=100 {
            let op = sel.select(); // the buffer is full: waits for the receive below
            assert_eq!(op.index(), s);
            op.send(&tx2, v).unwrap();
        }
    });
    let got: Vec<u32> = (0..=100).map(|_| rx.recv().unwrap()).collect();
    assert_eq!(got, (0..=100).collect::<Vec<_>>());
    sender.join().unwrap();
}

#[test]
fn a_selected_send_holds_its_room_until_completed_or_dropped() {
    let _dog = watchdog(
        "a_selected_send_holds_its_room_until_completed_or_dropped",
        Duration::from_secs(60),
        String::new,
    );
    let (tx, rx) = mpsc::sync_channel::<u32>(1);
    let mut sel = Select::new();
    let s = sel.send(&tx);
    let op = sel.select();
    assert_eq!(op.index(), s);
    // The room is reserved for `op`: another sender finds the channel full.
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    op.send(&tx, 2).unwrap();
    assert_eq!(rx.recv(), Ok(2));

    // Dropped unfinished: the room comes back.
    let op = sel.select();
    assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    drop(op);
    assert_eq!(tx.try_send(4), Ok(()));
    assert_eq!(rx.recv(), Ok(4));

    // A blocked sender waiting for that room is woken when it comes back.
    let op = sel.select();
    let tx2 = tx.clone();
    let blocked = thread::spawn(move || tx2.send(5));
    thread::sleep(Duration::from_millis(2));
    drop(op);
    blocked.join().unwrap().unwrap();
    assert_eq!(rx.recv(), Ok(5));
}

#[test]
fn rendezvous_select_on_either_side() {
    let _dog = watchdog(
        "rendezvous_select_on_either_side",
        Duration::from_secs(60),
        String::new,
    );
    // A selector waiting to receive counts as a waiting receiver: `try_send` succeeds once it
    // has registered, and wakes it.
    let (tx, rx) = mpsc::sync_channel::<u32>(0);
    let receiver = thread::spawn(move || {
        let (_idle_tx, idle_rx) = mpsc::channel::<u32>();
        let mut sel = Select::new();
        sel.recv(&idle_rx);
        let r = sel.recv(&rx);
        let op = sel.select();
        assert_eq!(op.index(), r);
        op.recv(&rx)
    });
    let mut tries = 0u64;
    loop {
        match tx.try_send(9) {
            Ok(()) => break,
            Err(TrySendError::Full(_)) => {
                tries += 1;
                thread::yield_now();
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(receiver.join().unwrap(), Ok(9), "after {tries} tries");

    // A selector waiting to send on a rendezvous channel is woken by a receiver that starts
    // waiting, and hands it the message.
    let (tx, rx) = mpsc::sync_channel::<u32>(0);
    let sender = thread::spawn(move || {
        let mut sel = Select::new();
        let s = sel.send(&tx);
        let op = sel.select();
        assert_eq!(op.index(), s);
        op.send(&tx, 10)
    });
    thread::sleep(Duration::from_millis(2));
    assert_eq!(rx.recv(), Ok(10));
    sender.join().unwrap().unwrap();

    // Both sides selecting.
    let (tx, rx) = mpsc::sync_channel::<u32>(0);
    let sender = thread::spawn(move || {
        let mut sel = Select::new();
        sel.send(&tx);
        for v in 0..200 {
            sel.select().send(&tx, v).unwrap();
        }
    });
    let mut sel = Select::new();
    sel.recv(&rx);
    let got: Vec<u32> = (0..200).map(|_| sel.select().recv(&rx).unwrap()).collect();
    assert_eq!(got, (0..200).collect::<Vec<_>>());
    sender.join().unwrap();
}

#[test]
fn no_registration_outlives_the_select() {
    let _dog = watchdog(
        "no_registration_outlives_the_select",
        Duration::from_secs(60),
        String::new,
    );
    // If the selector stayed registered as the receiver of this rendezvous channel after
    // selecting the other case, `try_send` would see a waiting receiver and succeed.
    let (rv_tx, mut rv_rx) = mpsc::sync_channel::<u32>(0);
    let (tx, mut rx) = mpsc::channel::<u32>();
    for green in [false, true] {
        let select_once = move || {
            let mut sel = Select::new();
            sel.recv(&rv_rx);
            let i = sel.recv(&rx);
            let op = sel.select();
            assert_eq!(op.index(), i);
            op.recv(&rx).unwrap();
            drop(sel);
            (rv_rx, rx)
        };
        let join: Box<dyn FnOnce() -> _> = if green {
            let h = thread::spawn(select_once);
            Box::new(move || h.join().unwrap())
        } else {
            let h = std::thread::spawn(select_once);
            Box::new(move || h.join().unwrap())
        };
        thread::sleep(Duration::from_millis(5)); // let it register on both and park
        tx.send(1).unwrap();
        (rv_rx, rx) = join();
        assert_eq!(rv_tx.try_send(2), Err(TrySendError::Full(2)));
    }
    drop(rv_rx);

    // A stale wake token left by a registration taken just before the select returned costs at
    // most one spurious return of the next runtime wait, which loops: a `recv_timeout` after many
    // racing selects still waits out its timeout, and a `recv` still gets its message.
    let (a_tx, a_rx) = mpsc::channel::<u32>();
    let (b_tx, b_rx) = mpsc::channel::<u32>();
    let racer = thread::spawn(move || {
        for i in 0..2_000 {
            a_tx.send(i).unwrap();
            b_tx.send(i).unwrap();
        }
        (a_tx, b_tx) // kept alive: a disconnect would be ready too
    });
    let mut sel = Select::new();
    let a = sel.recv(&a_rx);
    let b = sel.recv(&b_rx);
    let mut got = 0;
    while got < 4_000 {
        let op = sel.select();
        let r = if op.index() == a {
            op.recv(&a_rx)
        } else {
            assert_eq!(op.index(), b);
            op.recv(&b_rx)
        };
        r.unwrap();
        got += 1;
    }
    let _senders = racer.join().unwrap();
    let (_c_tx, c_rx) = mpsc::channel::<u32>();
    let start = Instant::now();
    assert_eq!(
        c_rx.recv_timeout(Duration::from_millis(5)),
        Err(mpsc::RecvTimeoutError::Timeout)
    );
    assert!(start.elapsed() >= Duration::from_millis(5));
}

#[test]
#[should_panic(expected = "passed a receiver that wasn't selected")]
fn completing_with_the_wrong_receiver_panics() {
    let (tx1, rx1) = mpsc::channel::<u32>();
    let (_tx2, rx2) = mpsc::channel::<u32>();
    tx1.send(1).unwrap();
    let mut sel = Select::new();
    sel.recv(&rx1);
    let _ = sel.select().recv(&rx2);
}

#[test]
fn removed_cases_are_never_selected() {
    let (tx1, rx1) = mpsc::channel::<u32>();
    let (tx2, rx2) = mpsc::channel::<u32>();
    drop(tx1);
    tx2.send(0).unwrap();
    let mut sel = Select::new();
    let i1 = sel.recv(&rx1);
    let i2 = sel.recv(&rx2);
    sel.remove(i1);
    for _ in 0..100 {
        assert_eq!(sel.try_select().unwrap().index(), i2);
    }
    sel.remove(i2);
    assert!(matches!(sel.try_select(), Err(TrySelectError)));
    assert!(sel.select_timeout(Duration::from_millis(1)).is_err());
}

/// One selector's loop: receives from its inputs until each has disconnected, forwarding every
/// message to the shared bounded `out` with a select send case (held back while nothing is
/// pending). Returns how many selects it made.
fn forwarder(inputs: Vec<mpsc::Receiver<u64>>, out: mpsc::SyncSender<u64>) -> u64 {
    let mut live = vec![true; inputs.len()];
    let mut pending = VecDeque::new();
    let mut selects = 0;
    while live.iter().any(|&l| l) || !pending.is_empty() {
        let mut sel = Select::new();
        let mut recv_of = vec![None; inputs.len()];
        for (k, rx) in inputs.iter().enumerate() {
            if live[k] && pending.len() < 16 {
                recv_of[k] = Some(sel.recv(rx));
            }
        }
        let send = (!pending.is_empty()).then(|| sel.send(&out));
        let op = sel.select();
        selects += 1;
        if Some(op.index()) == send {
            op.send(&out, pending.pop_front().unwrap())
                .expect("the collector outlives the forwarders");
        } else {
            let k = recv_of.iter().position(|&i| i == Some(op.index())).unwrap();
            match op.recv(&inputs[k]) {
                Ok(v) => pending.push_back(v),
                Err(RecvError) => live[k] = false,
            }
        }
    }
    selects
}

#[test]
fn stress_every_message_once_through_a_green_and_an_os_thread_selector() {
    const PER_PRODUCER: u64 = 3_000;
    rt::run(Config::new().workers(2), || {
        let collected = Arc::new(AtomicU64::new(0));
        let progress = collected.clone();
        let _dog = watchdog(
            "stress_every_message_once_through_a_green_and_an_os_thread_selector",
            Duration::from_secs(120),
            move || format!("{} messages collected", progress.load(Relaxed)),
        );
        // Each selector owns four input channels: unbounded, bounded 1, bounded 4, rendezvous;
        // two producers per channel (one of them, per selector, an OS thread).
        let (out_tx, out_rx) = mpsc::sync_channel::<u64>(2);
        let mut producers = 0u64;
        let mut os_producers = Vec::new();
        let mut selectors = Vec::new();
        for selector in 0..2u64 {
            let mut inputs = Vec::new();
            for (c, cap) in [None, Some(1), Some(4), Some(0)].into_iter().enumerate() {
                let first = producers;
                producers += 2;
                let base = move |p: u64| (first + p) * 1_000_000;
                let run = |send: Box<dyn Fn(u64) + Send>, p: u64| {
                    move || (0..PER_PRODUCER).for_each(|i| send(base(p) + i))
                };
                let sends: Vec<Box<dyn Fn(u64) + Send>> = match cap {
                    None => {
                        let (tx, rx) = mpsc::channel::<u64>();
                        inputs.push(rx);
                        let tx2 = tx.clone();
                        vec![
                            Box::new(move |v| tx.send(v).unwrap()),
                            Box::new(move |v| tx2.send(v).unwrap()),
                        ]
                    }
                    Some(n) => {
                        let (tx, rx) = mpsc::sync_channel::<u64>(n);
                        inputs.push(rx);
                        let tx2 = tx.clone();
                        vec![
                            Box::new(move |v| tx.send(v).unwrap()),
                            Box::new(move |v| tx2.send(v).unwrap()),
                        ]
                    }
                };
                for (p, send) in sends.into_iter().enumerate() {
                    let job = run(send, p as u64);
                    if c == 1 && p == 0 {
                        os_producers.push(std::thread::spawn(job));
                    } else {
                        thread::spawn(job);
                    }
                }
            }
            let out = out_tx.clone();
            if selector == 0 {
                let h = thread::spawn(move || forwarder(inputs, out));
                selectors.push(Box::new(move || h.join().unwrap()) as Box<dyn FnOnce() -> u64>);
            } else {
                let h = std::thread::spawn(move || forwarder(inputs, out));
                selectors.push(Box::new(move || h.join().unwrap()));
            }
        }
        drop(out_tx);

        let mut seen = vec![0u64; producers as usize];
        for v in &out_rx {
            let (p, i) = ((v / 1_000_000) as usize, v % 1_000_000);
            assert!(i < PER_PRODUCER, "message {v} was never sent");
            assert_eq!(i, seen[p], "producer {p}: lost, duplicated or reordered");
            seen[p] += 1;
            collected.fetch_add(1, Relaxed);
        }
        assert!(
            seen.iter().all(|&n| n == PER_PRODUCER),
            "missing messages: {seen:?}"
        );
        let selects: Vec<u64> = selectors.into_iter().map(|join| join()).collect();
        for h in os_producers {
            h.join().unwrap();
        }
        // Each message costs its forwarder one receive and one send select at least.
        let per_selector = 4 * 2 * PER_PRODUCER;
        assert!(
            selects.iter().all(|&s| s >= 2 * per_selector),
            "{selects:?}"
        );
    });
}

#[test]
fn ping_pong_through_selects_loses_no_wake_up() {
    // Two threads bounce a counter over two pairs of channels, each side selecting over both
    // every round: any lost wake-up stalls the game, and the watchdog reports the round.
    const ROUNDS: u64 = 20_000;
    let round = Arc::new(AtomicU64::new(0));
    let progress = round.clone();
    let _dog = watchdog(
        "ping_pong_through_selects_loses_no_wake_up",
        Duration::from_secs(120),
        move || format!("round {}", progress.load(Relaxed)),
    );
    let (a1_tx, a1_rx) = mpsc::channel::<u64>();
    let (a2_tx, a2_rx) = mpsc::sync_channel::<u64>(0);
    let (b1_tx, b1_rx) = mpsc::channel::<u64>();
    let (b2_tx, b2_rx) = mpsc::sync_channel::<u64>(1);
    let side = |rx1: mpsc::Receiver<u64>,
                rx2: mpsc::Receiver<u64>,
                tx1: mpsc::Sender<u64>,
                tx2: mpsc::SyncSender<u64>,
                round: Arc<AtomicU64>| {
        move || {
            let mut sel = Select::new();
            let i1 = sel.recv(&rx1);
            let i2 = sel.recv(&rx2);
            loop {
                let op = sel.select();
                let v = if op.index() == i1 {
                    op.recv(&rx1)
                } else {
                    assert_eq!(op.index(), i2);
                    op.recv(&rx2)
                };
                let Ok(v) = v else { return };
                round.store(v, Relaxed);
                if v >= ROUNDS {
                    return; // dropping our senders ends the other side
                }
                if v % 2 == 0 {
                    tx1.send(v + 1).unwrap();
                } else {
                    tx2.send(v + 1).unwrap();
                }
            }
        }
    };
    let green = thread::spawn(side(a1_rx, a2_rx, b1_tx, b2_tx, round.clone()));
    let os = std::thread::spawn(side(b1_rx, b2_rx, a1_tx.clone(), a2_tx, round.clone()));
    a1_tx.send(0).unwrap();
    drop(a1_tx);
    green.join().unwrap();
    os.join().unwrap();
    assert_eq!(round.load(Relaxed), ROUNDS);
}
