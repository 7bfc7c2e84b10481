//! `smarm::actor`: Pids, supervision signals, monitors and the `Supervisor` helper.

use smarm::actor::{self, Reason, Restart, Signal, Supervisor};
use smarm::rt::{self, Config};
use smarm::sync::mpsc;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[test]
fn a_panicking_child_yields_exactly_one_panic_signal() {
    let (tx, rx) = mpsc::channel();
    let mut pids = HashSet::new();
    for i in 0..50u32 {
        pids.insert(actor::spawn_supervised(&tx, move || {
            if i % 2 == 0 {
                std::panic::panic_any(i);
            }
        }));
    }
    drop(tx);
    let mut seen = HashSet::new();
    for _ in 0..50 {
        let s = rx.recv_timeout(Duration::from_secs(5)).expect("a signal");
        assert!(seen.insert(s.pid()), "two signals for {}", s.pid());
        assert!(pids.contains(&s.pid()));
        match s {
            Signal::Panic(_, payload) => assert_eq!(payload.downcast_ref::<u32>().unwrap() % 2, 0),
            Signal::Exit(_) => {}
        }
    }
    // Every child has ended and the only senders were the children's watchers: nothing more.
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
}

#[test]
fn the_panic_signal_carries_the_pid_and_payload() {
    let (tx, rx) = mpsc::channel();
    let pid = actor::Builder::new()
        .name("doomed".into())
        .spawn_supervised(&tx, || panic!("doomed child"))
        .unwrap();
    match rx.recv().unwrap() {
        Signal::Panic(p, payload) => {
            assert_eq!(p, pid);
            assert_eq!(actor::payload_text(&*payload), "doomed child");
        }
        other => panic!("expected a panic signal, got {other:?}"),
    }
    // The signal comes after the pid stopped resolving.
    assert!(!actor::is_alive(pid));
    assert!(rx.try_recv().is_err());
}

#[test]
fn a_stale_pid_is_never_confused_with_the_slots_new_occupant() {
    rt::run(Config::new().workers(1), || {
        // One worker: its free list is LIFO, so the next spawn reuses the slot just released.
        for _ in 0..100 {
            let (old, h) = actor::spawn(|| {});
            h.join().unwrap();
            smarm::thread::yield_now(); // let the worker finalise it
            assert!(!actor::is_alive(old));
            let (tx, rx) = mpsc::channel::<()>();
            let (new, h) = actor::spawn(move || rx.recv().unwrap());
            if new.index() != old.index() {
                tx.send(()).unwrap();
                h.join().unwrap();
                continue;
            }
            assert_ne!(new, old);
            assert_eq!(new.generation(), old.generation().wrapping_add(1));
            assert!(!actor::is_alive(old));
            assert!(actor::is_alive(new));
            // A monitor on the stale pid reports it gone at once; it does not watch the new one.
            let d = actor::monitor(old).try_recv().expect("fires at once");
            assert_eq!((d.pid, d.reason), (old, Reason::NoProc));
            let watch_new = actor::monitor(new);
            assert!(watch_new.try_recv().is_err());
            tx.send(()).unwrap();
            h.join().unwrap();
            let d = watch_new.recv().unwrap();
            assert_eq!((d.pid, d.reason), (new, Reason::Normal));
            return;
        }
        panic!("the slot was never reused");
    });
}

#[test]
fn monitor_on_a_dead_pid_fires_at_once() {
    let (pid, h) = actor::spawn(|| {});
    h.join().unwrap();
    while actor::is_alive(pid) {
        smarm::thread::yield_now();
    }
    let d = actor::monitor(pid)
        .recv_timeout(Duration::from_millis(1))
        .expect("a Down at once");
    assert_eq!((d.pid, d.reason), (pid, Reason::NoProc));
}

#[test]
fn monitor_reports_how_a_live_thread_ended() {
    let (tx, rx) = mpsc::channel::<()>();
    let (pid, h) = actor::spawn(move || {
        rx.recv().unwrap();
        panic!("monitored");
    });
    let a = actor::monitor(pid);
    let b = actor::monitor(pid);
    assert!(a.try_recv().is_err());
    tx.send(()).unwrap();
    assert!(h.join().is_err());
    for r in [a, b] {
        let d = r.recv().unwrap();
        assert_eq!((d.pid, d.reason), (pid, Reason::Panic));
        assert!(r.recv().is_err(), "a monitor fires once");
    }
}

#[test]
fn monitors_racing_the_end_fire_exactly_once() {
    let watches: Vec<_> = (0..2000)
        .map(|_| {
            let (pid, h) = actor::spawn(|| {});
            drop(h);
            (pid, actor::monitor(pid))
        })
        .collect();
    for (pid, r) in watches {
        let d = r.recv_timeout(Duration::from_secs(5)).expect("a Down");
        assert_eq!(d.pid, pid);
        assert!(matches!(d.reason, Reason::Normal | Reason::NoProc));
        assert!(r.recv().is_err());
    }
}

#[test]
fn self_pid_names_the_green_thread() {
    assert_eq!(actor::self_pid(), None);
    let (pid, h) = actor::spawn(actor::self_pid);
    assert_eq!(h.join().unwrap(), Some(pid));
}

#[test]
fn the_supervisor_stops_after_its_intensity_limit() {
    let starts = Arc::new(AtomicU32::new(0));
    let s = starts.clone();
    let err = Supervisor::new()
        .intensity(4, Duration::from_secs(30))
        .child("steady", || {})
        .child("crasher", move || {
            s.fetch_add(1, Ordering::SeqCst);
            panic!("crash");
        })
        .run()
        .unwrap_err();
    assert_eq!(err.child, "crasher");
    assert_eq!(err.restarts, 4);
    assert_eq!(err.reason(), "crash");
    // The first start plus four restarts; the fifth restart was refused.
    assert_eq!(starts.load(Ordering::SeqCst), 5);
    assert!(err.to_string().contains("crasher"));
}

#[test]
fn the_supervisor_window_slides() {
    // Two restarts allowed per 30 ms; a child that crashes every 20 ms needs at most two per
    // window, so it is restarted as often as needed and finishes after ten runs.
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let report = Supervisor::new()
        .intensity(2, Duration::from_millis(30))
        .child("slow-crasher", move || {
            smarm::thread::sleep(Duration::from_millis(20));
            if r.fetch_add(1, Ordering::SeqCst) < 9 {
                panic!("again");
            }
        })
        .run()
        .unwrap();
    assert_eq!(report.restarts, 9);
    assert_eq!(runs.load(Ordering::SeqCst), 10);
}

#[test]
fn restart_policies() {
    let runs = Arc::new(AtomicU32::new(0));
    let (r1, r2) = (runs.clone(), runs.clone());
    // Temporary children are never restarted, even after a panic.
    let report = Supervisor::new()
        .child_with("temp", Restart::Temporary, move || {
            r1.fetch_add(1, Ordering::SeqCst);
            panic!("once");
        })
        .run()
        .unwrap();
    assert_eq!((report.restarts, runs.load(Ordering::SeqCst)), (0, 1));
    // Permanent children are restarted after normal returns, until the intensity limit.
    let err = Supervisor::new()
        .intensity(2, Duration::from_secs(30))
        .child_with("perm", Restart::Permanent, move || {
            r2.fetch_add(1, Ordering::SeqCst);
        })
        .run()
        .unwrap_err();
    assert_eq!((err.restarts, err.reason()), (2, "normal exit"));
    assert_eq!(runs.load(Ordering::SeqCst), 1 + 3);
}
