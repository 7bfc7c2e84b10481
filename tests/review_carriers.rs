//! Adversarial review of the worker/carrier model: each test here reproduces a bug the review
//! found, and failed on the commit that introduced the model (86e2961); they pass since the fix. Counts, not timings, are asserted;
//! the only timeouts are watchdogs (seconds, against expected microseconds) that turn a hang into
//! a failure with a message.

mod support;
use support::{serial, watchdog};

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use smarm::rt::{self, Config, run};
use smarm::thread;

/// Finding 1 (monitor.rs run loop `if w.lost { continue }`; sched/mod.rs `schedule`'s
/// `is_stuck()` branch; worker.rs `next_task`): a green thread still running on a *lost* carrier
/// (its worker was handed off while it sat in a blocking std call) sends its wakes and spawns to
/// that carrier's local queue, where only a thief can reach them. But a worker steals only when
/// `find_local` finds nothing — a worker with a yielder (kept in the `lone` slot, or in its own
/// queue) or a preempted hog always finds something — and the monitor skips lost slots, so
/// nothing ever moves that work. If the lost carrier's green thread then waits in foreign code
/// for the stranded work, it waits for ever.
///
/// One worker. Main (M) queues G and L, then blocks in `std::thread::sleep`: the monitor hands
/// its worker to a new carrier B, which takes G and/or L. L spins on `yield_now` until G has
/// received; M (still on its lost carrier, in foreign code) sends G its message — the wake goes to
/// the lost carrier's queue — and waits for G's reply in a std channel. B never steals G (L is
/// always runnable locally), M never returns to the runtime: deadlock, where std threads finish
/// in microseconds. (The std wait has a 5 s timeout so that the test fails instead of hanging.)
#[test]
fn a_lone_yielder_still_steals_work_stranded_on_a_lost_carrier() {
    let _serial = serial();
    let spins = Arc::new(AtomicU64::new(0));
    let _dog = {
        let spins = spins.clone();
        watchdog(
            "a_lone_yielder_still_steals_work_stranded_on_a_lost_carrier",
            Duration::from_secs(60),
            move || format!("L spun {} times", spins.load(SeqCst)),
        )
    };
    let (handoffs, replied) = run(Config::new().workers(1), {
        let spins = spins.clone();
        move || {
            let ran = Arc::new(AtomicBool::new(false));
            let (tx_g, rx_g) = smarm::sync::mpsc::channel::<()>();
            let (tx_std, rx_std) = std::sync::mpsc::channel::<()>();
            let g = {
                let ran = ran.clone();
                thread::spawn(move || {
                    rx_g.recv().unwrap();
                    ran.store(true, SeqCst);
                    let _ = tx_std.send(());
                })
            };
            let l = {
                let ran = ran.clone();
                thread::spawn(move || {
                    while !ran.load(SeqCst) {
                        spins.fetch_add(1, SeqCst);
                        thread::yield_now();
                    }
                })
            };
            // Foreign code with work queued: the monitor hands this carrier's worker on.
            std::thread::sleep(Duration::from_millis(300));
            let handoffs = rt::stats().handoffs;
            tx_g.send(()).unwrap();
            let replied = rx_std.recv_timeout(Duration::from_secs(5)).is_ok();
            // Back to the runtime (join parks): everything resolves from here.
            g.join().unwrap();
            l.join().unwrap();
            (handoffs, replied)
        }
    });
    assert!(
        handoffs >= 1,
        "precondition: the monitor should have handed off the sleeping carrier's worker \
         (handoffs = {handoffs})"
    );
    assert!(
        replied,
        "G never ran while M waited for it in a std call: it sat in the lost carrier's queue and \
         the only worker kept a lone yielder without stealing (L spun {} times)",
        spins.load(SeqCst)
    );
}

/// Finding 2 (monitor.rs `report_bound`): the bound report prints `rt::dump()` from the *monitor's*
/// OS thread, and `dump()` takes its stats from the caller's runtime — for a plain OS thread, the
/// global one (or none). So the "N workers on M carriers" line describes the wrong runtime
/// (here the global runtime's 2+ workers), not the runtime whose carriers are all stuck.
///
/// Runs in a child process (this test binary, re-executed) to capture stderr.
#[test]
fn the_bound_report_describes_the_runtime_that_hit_the_bound() {
    const ENV: &str = "REVIEW_CARRIERS_CHILD";
    const NAME: &str = "the_bound_report_describes_the_runtime_that_hit_the_bound";
    if std::env::var_os(ENV).is_some() {
        // Child: start the global runtime first (as any program using `smarm::thread::spawn`
        // from `main` has), then fill a 3-worker runtime's every carrier with a std sleep while
        // work is queued, with no extra carriers allowed.
        smarm::thread::spawn(|| ()).join().unwrap();
        run(Config::new().workers(3).max_extra_workers(0), || {
            let hs: Vec<_> = (0..3)
                .map(|_| {
                    thread::spawn(|| {
                        let h = thread::spawn(|| ());
                        std::thread::sleep(Duration::from_millis(400));
                        h.join().unwrap();
                    })
                })
                .collect();
            let h = thread::spawn(|| ());
            std::thread::sleep(Duration::from_millis(400));
            h.join().unwrap();
            for h in hs {
                h.join().unwrap();
            }
        });
        return;
    }
    let _serial = serial();
    let _dog = watchdog(NAME, Duration::from_secs(60), || "the child".into());
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(ENV, "1")
        .env_remove("SMARM_WORKERS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stderr}");
    assert!(
        stderr.contains("no carrier is left to take its worker"),
        "precondition: the bound should have been reported:\n{stderr}"
    );
    assert!(
        stderr.contains("3 workers on 3 carriers"),
        "the bound report's dump does not describe the 3-worker runtime that hit the bound:\n\
         {stderr}"
    );
}

/// Finding 1 again, with the `preempt` feature and no `yield_now` anywhere: an allocating hog is
/// preempted at every timeslice, finds nothing else local and goes back to its `lone` slot, so
/// its worker never steals the wake that a green thread on a lost carrier left in that carrier's
/// queue. The std-blocked green thread waits for ever (5 s here).
#[cfg(feature = "preempt")]
#[test]
fn a_preempted_hog_does_not_strand_a_wake_on_a_lost_carrier() {
    let _serial = serial();
    let laps = Arc::new(AtomicU64::new(0));
    let _dog = {
        let laps = laps.clone();
        watchdog(
            "a_preempted_hog_does_not_strand_a_wake_on_a_lost_carrier",
            Duration::from_secs(60),
            move || format!("the hog did {} laps", laps.load(SeqCst)),
        )
    };
    let (handoffs, preemptions, replied) = run(Config::new().workers(1), {
        let laps = laps.clone();
        move || {
            let ran = Arc::new(AtomicBool::new(false));
            let (tx_g, rx_g) = smarm::sync::mpsc::channel::<()>();
            let (tx_std, rx_std) = std::sync::mpsc::channel::<()>();
            let g = {
                let ran = ran.clone();
                thread::spawn(move || {
                    rx_g.recv().unwrap();
                    ran.store(true, SeqCst);
                    let _ = tx_std.send(());
                })
            };
            let hog = {
                let ran = ran.clone();
                thread::spawn(move || {
                    while !ran.load(SeqCst) {
                        let v: Vec<u64> = std::hint::black_box((0..16).collect());
                        drop(v);
                        laps.fetch_add(1, SeqCst);
                    }
                })
            };
            std::thread::sleep(Duration::from_millis(300));
            let handoffs = rt::stats().handoffs;
            tx_g.send(()).unwrap();
            let replied = rx_std.recv_timeout(Duration::from_secs(5)).is_ok();
            let preemptions = rt::stats().preemptions;
            g.join().unwrap();
            hog.join().unwrap();
            (handoffs, preemptions, replied)
        }
    });
    assert!(
        handoffs >= 1,
        "precondition: the monitor should have handed off the sleeping carrier's worker"
    );
    assert!(
        replied,
        "G never ran while M waited for it in a std call: its wake sat in the lost carrier's \
         queue while the only worker ran a preempted hog ({preemptions} preemptions, {} laps) \
         without stealing",
        laps.load(SeqCst)
    );
}
