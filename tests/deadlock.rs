//! The total-deadlock report (issue 18, item 1), each case in a child process (this binary run
//! again with `DEADLOCK_CHILD` set): a two-lock deadlock and a lost wake-up where everyone waits
//! are reported (and, with `OnDeadlock::Abort`, end the child); a program whose only waker is a
//! plain OS thread blocked outside smarm for a while is not. `harness = false`: the child must
//! have no test-harness threads, which would rightly keep the check from reporting anything.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use smarm::rt::{self, Config, OnDeadlock};
use smarm::sync::{Arc, Barrier, Mutex, mpsc};
use smarm::thread;

const MESSAGE: &str = "smarm: all green threads are asleep - deadlock!";

fn config() -> Config {
    Config::new().workers(2).on_deadlock(OnDeadlock::Abort)
}

/// Two green threads each hold one lock and wait for the other's.
fn two_locks() {
    rt::run(config(), || {
        let (m1, m2) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(0)));
        let both = Arc::new(Barrier::new(2));
        let spawn = |name: &str, first: Arc<Mutex<i32>>, second: Arc<Mutex<i32>>| {
            let both = both.clone();
            thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    let _a = first.lock().unwrap();
                    both.wait();
                    let _b = second.lock().unwrap();
                })
                .unwrap()
        };
        let a = spawn("left", m1.clone(), m2.clone());
        let b = spawn("right", m2, m1);
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// A receiver waits for a message from the thread that waits for it (the sender is never used).
fn everyone_waits() {
    rt::run(config(), || {
        let (tx, rx) = mpsc::channel::<u32>();
        let h = thread::Builder::new()
            .name("receiver".into())
            .spawn(move || rx.recv().unwrap())
            .unwrap();
        let _kept = tx; // held by the joining thread: the receiver can never get a message
        h.join().unwrap();
    });
}

/// The same on the global runtime, from a plain `main` (SMARM_DEADLOCK=abort).
fn everyone_waits_global() {
    let (tx, rx) = mpsc::channel::<u32>();
    let h = thread::spawn(move || rx.recv().unwrap());
    let _kept = tx;
    h.join().unwrap();
}

/// Not a deadlock: the only sender is held by a plain OS thread that blocks outside smarm for a
/// while (a std sleep) and then sends. The check must stay quiet (a report would abort).
fn os_thread_sends_later() {
    let got = rt::run(config(), || {
        let (tx, rx) = mpsc::channel::<u32>();
        let h = thread::spawn(move || rx.recv().unwrap());
        let os = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            tx.send(5).unwrap();
        });
        let got = h.join().unwrap();
        os.join().unwrap();
        got
    });
    assert_eq!(got, 5);
}

fn run_child(case: &str, env: &[(&str, &str)]) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("DEADLOCK_CHILD", case)
        .env_remove("SMARM_DEADLOCK")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // A watchdog, not a timing: a child that neither finishes nor aborts is killed.
    let deadline = start + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err, start.elapsed());
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("case {case}: the child hung (no report, no exit)");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn expect_report(case: &str, env: &[(&str, &str)], names: &[&str]) {
    let (code, err, took) = run_child(case, env);
    assert!(err.contains(MESSAGE), "case {case}: no report:\n{err}");
    assert_eq!(
        code, None,
        "case {case}: expected an abort (a signal), got {code:?}:\n{err}"
    );
    for n in names {
        assert!(
            err.contains(&format!("'{n}': parked")),
            "case {case}: the dump does not show {n} parked:\n{err}"
        );
    }
    println!("{case}: reported and aborted after {took:?}");
}

fn main() {
    if let Ok(case) = std::env::var("DEADLOCK_CHILD") {
        match case.as_str() {
            "two_locks" => two_locks(),
            "everyone_waits" => everyone_waits(),
            "everyone_waits_global" => everyone_waits_global(),
            "os_thread_sends_later" => os_thread_sends_later(),
            other => panic!("unknown case {other}"),
        }
        return;
    }
    expect_report("two_locks", &[], &["left", "right"]);
    expect_report("everyone_waits", &[], &["receiver"]);
    expect_report("everyone_waits_global", &[("SMARM_DEADLOCK", "abort")], &[]);
    let (code, err, _) = run_child("os_thread_sends_later", &[]);
    assert!(!err.contains(MESSAGE), "a false report:\n{err}");
    assert_eq!(code, Some(0), "the child failed:\n{err}");
    println!("os_thread_sends_later: no report, finished");
    println!("test result: ok. 4 passed");
}
