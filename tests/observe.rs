//! Observability: `rt::stats()` counters and the `rt::dump()` green-thread dump.

use smarm::rt::{self, Config};
use smarm::thread;
use std::time::Duration;

#[test]
fn stats_count_spawns_switches_parks_per_worker() {
    let (before, after) = rt::run(Config::new().workers(2), || {
        let before = rt::stats();
        let hs: Vec<_> = (0..100)
            .map(|_| {
                thread::spawn(|| {
                    for _ in 0..3 {
                        thread::yield_now();
                    }
                    thread::sleep(Duration::from_millis(1));
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        // `join` returns once a child's result is published; its worker counts it finished a
        // moment later, when the child has switched out for the last time.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while rt::stats().live > 1 && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        (before, rt::stats())
    });
    assert_eq!(before.spawned, 1, "only rt::run's main green thread");
    assert_eq!(before.live, 1);
    assert_eq!(after.spawned, 101);
    assert_eq!(after.live, 1, "everything but the caller has finished");
    // Each child runs at least 5 times: start, 3 yields, the sleep's wake.
    assert!(after.switches >= 500, "{after}");
    // Each child parked in its sleep; main parked in joins.
    assert!(after.parks >= 100, "{after}");
    assert_eq!(after.preemptions, 0);
    assert_eq!(after.workers.len(), 2);
    let sum = |f: fn(&rt::WorkerStats) -> u64| after.workers.iter().map(f).sum::<u64>();
    assert_eq!(sum(|w| w.switches), after.switches);
    assert_eq!(sum(|w| w.parks), after.parks);
    assert_eq!(sum(|w| w.steals), after.steals);
    assert_eq!(sum(|w| w.spawned) + after.spawned_outside, after.spawned);
    assert_eq!(sum(|w| w.finished), 100);
}

/// Waits (bounded) until `rt::dump()` shows the thread named `name` in `state`.
fn wait_for_state(name: &str, state: rt::ThreadState) -> rt::Dump {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let d = rt::dump();
        if d.threads
            .iter()
            .any(|t| t.name.as_deref() == Some(name) && t.state == state)
        {
            return d;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "'{name}' never showed as {state}:\n{d}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn dump_lists_parked_green_threads_with_their_wait_reason() {
    use smarm::rt::{ThreadState, WaitReason};
    use smarm::sync::{Arc, Condvar, Mutex, mpsc};
    let named = |n: &str| thread::Builder::new().name(n.into());

    let (tx, rx) = mpsc::channel::<()>();
    let on_channel = named("dump-channel").spawn(move || rx.recv()).unwrap();
    let lock = Arc::new(Mutex::new(()));
    let held = lock.lock().unwrap();
    let l2 = lock.clone();
    let on_lock = named("dump-lock")
        .spawn(move || drop(l2.lock().unwrap()))
        .unwrap();
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p2 = pair.clone();
    let on_condvar = named("dump-condvar")
        .spawn(move || {
            let g = p2.0.lock().unwrap();
            drop(p2.1.wait_while(g, |go| !*go).unwrap());
        })
        .unwrap();
    let sleeper = named("dump-sleep")
        .spawn(|| thread::sleep(Duration::from_millis(300)))
        .unwrap();
    let parker = named("dump-park").spawn(thread::park).unwrap();
    let parker_thread = parker.thread().clone();
    let joiner = named("dump-join")
        .spawn(move || parker.join().unwrap())
        .unwrap();

    wait_for_state("dump-channel", ThreadState::Parked(WaitReason::Channel));
    wait_for_state("dump-lock", ThreadState::Parked(WaitReason::Lock));
    wait_for_state("dump-condvar", ThreadState::Parked(WaitReason::Condvar));
    wait_for_state("dump-sleep", ThreadState::Parked(WaitReason::Sleep));
    wait_for_state("dump-park", ThreadState::Parked(WaitReason::Park));
    let d = wait_for_state("dump-join", ThreadState::Parked(WaitReason::Join));
    let text = d.to_string();
    assert!(text.contains("'dump-channel': parked on channel"), "{text}");
    let info = d
        .threads
        .iter()
        .find(|t| t.name.as_deref() == Some("dump-channel"))
        .unwrap();
    assert_eq!(info.id, on_channel.thread().id());

    tx.send(()).unwrap();
    drop(held);
    *pair.0.lock().unwrap() = true;
    pair.1.notify_all();
    parker_thread.unpark();
    on_channel.join().unwrap().unwrap();
    on_lock.join().unwrap();
    on_condvar.join().unwrap();
    sleeper.join().unwrap();
    joiner.join().unwrap();
}

#[test]
fn dump_shows_the_calling_green_thread_running() {
    let me = thread::Builder::new()
        .name("dump-self".into())
        .spawn(|| {
            let me = smarm::actor::self_pid().unwrap();
            rt::dump()
                .threads
                .into_iter()
                .find(|t| t.pid == me)
                .map(|t| t.state)
        })
        .unwrap();
    assert_eq!(me.join().unwrap(), Some(rt::ThreadState::Running));
}

#[test]
fn sigquit_prints_the_dump_and_the_program_goes_on() {
    if std::env::var("SMARM_CHILD").as_deref() == Ok("sigquit") {
        rt::install_dump_on_sigquit().unwrap();
        let (tx, rx) = smarm::sync::mpsc::channel::<()>();
        let h = thread::Builder::new()
            .name("quit-waiter".into())
            .spawn(move || rx.recv())
            .unwrap();
        wait_for_state(
            "quit-waiter",
            rt::ThreadState::Parked(rt::WaitReason::Channel),
        );
        // SAFETY: raising a signal whose handler we installed above.
        unsafe { libc::raise(libc::SIGQUIT) };
        // The helper thread prints; give it ample time on a loaded machine.
        std::thread::sleep(Duration::from_millis(1000));
        tx.send(()).unwrap();
        h.join().unwrap().unwrap();
        println!("still alive");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "sigquit_prints_the_dump_and_the_program_goes_on",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SMARM_CHILD", "sigquit")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("still alive"), "{stdout}");
    assert!(
        stderr.contains("'quit-waiter': parked on channel"),
        "{stderr}"
    );
}
