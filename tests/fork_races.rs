//! `fork` racing the runtime's own thread starts (`src/rt/sys/os_thread.rs`, and the locks the
//! prepare handler takes for it in `src/rt/runtime.rs`). Each case runs in a child process (this
//! test binary re-run with an environment variable naming the case), since it needs a process in
//! which no runtime has started yet; a case that hangs is killed by its own alarm and fails.
//!
//! Not in `compat-tests/`: std has the same hazard for its own threads (a fork while another
//! thread starts one leaves std's thread-info lock held in the child), so these races would hang
//! std as well. What smarm promises is that *its* threads never cause it.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

const CHILD: &str = "SMARM_FORK_RACE_CHILD";

fn run_child(case: &str, env: &[(&str, &str)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, case);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("re-running the test binary");
    assert!(
        out.status.success(),
        "case {case}: {:?} (signal {:?})\n{}",
        out.status,
        out.status.signal(),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// How many of this process's threads are named `smarm-worker-*`.
fn workers_started() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|e| {
            let comm = e.as_ref().unwrap().path().join("comm");
            std::fs::read_to_string(comm).is_ok_and(|s| s.starts_with("smarm-worker"))
        })
        .count()
}

/// Forks, runs `body` in the child (exit 0 when it returns true) under a 10 s alarm, and returns
/// whether the child exited 0.
fn fork_and(body: impl FnOnce() -> bool) -> bool {
    // SAFETY: the child runs `body` and `_exit`s; nothing it needs is held by a thread that does
    // not exist there (that is what these cases test).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: `alarm` and `_exit` are async-signal-safe; SIGALRM kills a hung child.
        unsafe {
            libc::alarm(10);
            libc::_exit(if body() { 0 } else { 1 })
        }
    }
    let mut status = 0;
    // SAFETY: our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if status != 0 {
        println!("child wait status {status:#x}");
    }
    status == 0
}

/// The bodies the children run; a no-op in the parent's own test run.
#[test]
fn child() {
    if std::env::var_os(CHILD).is_some() {
        // SAFETY: `alarm` has no preconditions. A case process that deadlocks dies by SIGALRM
        // (children of `fork` do not inherit it; `fork_and` gives them their own).
        unsafe { libc::alarm(30) };
    }
    match std::env::var(CHILD).as_deref() {
        Ok("global-start") => {
            // The atfork handlers are registered by a runtime that has stopped; the global one
            // starts (32 workers: a long start) on another thread while this one forks.
            smarm::rt::run(smarm::rt::Config::new().workers(1), || ());
            assert_eq!(workers_started(), 0);
            let starter = std::thread::spawn(|| smarm::thread::spawn(|| ()).join().unwrap());
            while workers_started() == 0 {
                std::hint::spin_loop(); // the starter is inside the runtime's start
            }
            let ok = fork_and(|| smarm::thread::spawn(|| 7).join().unwrap() == 7);
            starter.join().unwrap();
            assert!(
                ok,
                "the child of a fork during the global runtime's start hung or failed"
            );
        }
        Ok("monitor-after-early-fork") => {
            // Forked right after the first spawn, while the monitor may still be measuring the
            // cycle counter (2 ms): the child's monitor must run, i.e. hand a worker blocked in
            // std's sleep to another carrier, so the second green thread runs before the sleep ends.
            smarm::thread::spawn(|| ()).join().unwrap();
            let ok = fork_and(|| {
                static STARTED: AtomicBool = AtomicBool::new(false);
                static SLEPT: AtomicBool = AtomicBool::new(false);
                let blocker = smarm::thread::spawn(|| {
                    STARTED.store(true, SeqCst);
                    std::thread::sleep(Duration::from_millis(1500));
                    SLEPT.store(true, SeqCst);
                });
                // The blocker holds the only worker (it is in, or about to enter, its sleep)
                // before the second thread is spawned: that one can run only after a hand-off.
                while !STARTED.load(SeqCst) {
                    std::thread::yield_now();
                }
                let before = smarm::thread::spawn(|| !SLEPT.load(SeqCst)).join().unwrap();
                blocker.join().unwrap();
                before
            });
            assert!(
                ok,
                "in the child, a worker blocked in std's sleep was never handed off"
            );
        }
        #[cfg(feature = "preempt")]
        Ok("preempted-spawner") => {
            // Green threads that start runtimes (`rt::run` spawns its workers and monitor) are
            // preempted as often as possible while this thread forks in a loop: a spawner
            // switched out while counted by the gate would leave the fork waiting for good.
            let _sleeper = smarm::thread::spawn(|| smarm::thread::sleep(Duration::from_secs(3600)));
            for _ in 0..2 {
                smarm::thread::spawn(|| {
                    loop {
                        smarm::rt::run(smarm::rt::Config::new().workers(1), || ());
                    }
                });
            }
            let t0 = std::time::Instant::now();
            let mut forks = 0u64;
            while t0.elapsed() < Duration::from_secs(3) {
                assert!(fork_and(|| true), "a child failed");
                forks += 1;
            }
            println!("{forks} forks");
            assert!(forks > 0);
            // SAFETY: ends the process without joining the looping green threads.
            unsafe { libc::_exit(0) }
        }
        _ => {}
    }
}

#[test]
fn a_fork_during_the_global_runtimes_start_leaves_a_working_child() {
    for _ in 0..3 {
        run_child("global-start", &[("SMARM_WORKERS", "32")]);
    }
}

#[test]
fn a_fork_right_after_the_first_spawn_leaves_the_child_a_working_monitor() {
    // One worker: the second green thread can only run if the blocker's worker is handed off.
    run_child("monitor-after-early-fork", &[("SMARM_WORKERS", "1")]);
}

#[cfg(feature = "preempt")]
#[test]
fn forks_while_preempted_green_threads_start_threads_never_hang() {
    run_child(
        "preempted-spawner",
        &[("SMARM_PREEMPT_INTERVAL", "1"), ("SMARM_TIMESLICE_US", "1")],
    );
}
