//! The total-deadlock report: "all green threads are asleep", as Go prints it, but never a false
//! one. The protocol:
//!
//! 1. Threads smarm starts for itself (carriers, monitors, the blocking pool, the dump and trace
//!    helpers) count themselves in `rt::census` for their whole life (`census::Internal`).
//! 2. A plain OS thread parked in a smarm wait *without a timeout* counts itself there while it
//!    is parked (`census::OsPark`), and bumps its activity count when it leaves.
//! 3. A monitor whose workers all sleep asks [`check`] now and then (every 100 ms at most). A
//!    *candidate* state is: every live green thread is parked, none for a timer, a socket or the
//!    blocking pool (`WaitReason::{Sleep, Io}`), no runtime has a pending timer, and the process
//!    has exactly `INTERNAL + OS_PARKED` threads — so every thread that is not smarm's own is
//!    parked in smarm for good, and none could still send, unlock or unpark.
//! 4. Two candidate states 100 ms or more apart that are identical — the same green threads
//!    parked in the same park (each park bumps an epoch in the park word), the same OS threads
//!    parked with no wake in between — are a deadlock: nothing ran in between, and nothing can.
//!    It is reported once per process (stderr, with the dump), and the runtime aborts if its
//!    `Config::on_deadlock` says so.
//!
//! **Limits.** A thread smarm does not know about (std's own threads blocked in std's channels,
//! a C library's threads, a thread in `read`) might still act, so its mere existence rules a
//! report out: no false report, but a deadlock beside such a thread goes unreported. A partial
//! deadlock (green threads waiting on each other while others run) is not this check's: a cycle
//! of lock and `join` waits is reported by `rt::cycles`, whatever else runs.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use crate::rt::census;
use crate::rt::config::OnDeadlock;
use crate::rt::park::word::{MODE_MASK, WaitReason};
use crate::rt::sched::{self, shared::Shared};

static REPORTED: AtomicBool = AtomicBool::new(false);

/// How long a candidate state must stay the same to be a deadlock.
const SETTLE: Duration = Duration::from_millis(100);

/// One candidate state (step 3): the parked green threads (Pid bits and park word), the OS
/// threads parked and how many parks they have left so far.
#[derive(PartialEq, Eq)]
pub(crate) struct Candidate {
    green: Vec<(u64, u32)>,
    os_parked: usize,
    os_activity: u64,
}

/// What a monitor keeps between its calls to [`check`].
#[derive(Default)]
pub(crate) struct Watch {
    last: Option<(Instant, Candidate)>,
    looked: Option<Instant>,
}

/// A monitor of a runtime whose workers all sleep looks (step 3-4). Cheap when rate-limited out.
pub(crate) fn check(shared: &Shared, watch: &mut Watch, now: Instant) {
    if shared.on_deadlock == OnDeadlock::Ignore || REPORTED.load(SeqCst) {
        return;
    }
    if watch
        .looked
        .is_some_and(|t| now.duration_since(t) < SETTLE / 2)
    {
        return;
    }
    watch.looked = Some(now);
    let Some(c) = candidate() else {
        watch.last = None;
        return;
    };
    match &watch.last {
        Some((since, prev)) if *prev == c => {
            if now.duration_since(*since) >= SETTLE && !REPORTED.swap(true, SeqCst) {
                report(shared);
            }
        }
        _ => watch.last = Some((now, c)),
    }
}

fn candidate() -> Option<Candidate> {
    let os_activity = census::os_activity();
    let os_parked = census::os_parked();
    // Every runtime's timers and injected work count as possible wakers.
    let mut pending = false;
    sched::shared::for_each_runtime(|rt| {
        pending |= !rt.timers.is_empty() || !rt.injector.is_empty()
    });
    if pending {
        return None;
    }
    let mut green = Vec::new();
    let mut all_parked = true;
    crate::rt::task::pid::table::for_each_live(|pid, task| {
        let state = task.state.load(SeqCst);
        let reason = WaitReason::from_u8(task.wait.load(SeqCst));
        if state & MODE_MASK == 0 || matches!(reason, Some(WaitReason::Sleep | WaitReason::Io)) {
            all_parked = false;
        }
        green.push((pid.to_bits(), state));
    });
    if !all_parked || (green.is_empty() && os_parked == 0) {
        return None;
    }
    // Every thread of the process is smarm's own or parked in smarm for good.
    if threads_in_process()? != census::internal() + os_parked {
        return None;
    }
    green.sort_unstable();
    (census::os_activity() == os_activity).then_some(Candidate {
        green,
        os_parked,
        os_activity,
    })
}

/// `Threads:` in `/proc/self/status`.
fn threads_in_process() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

/// The report, with every thread's stack (all are parked), as Go prints its goroutines'.
fn report(shared: &Shared) {
    let mut dump = crate::rt::dump();
    dump.stats = Some(crate::rt::stats::snapshot(shared));
    eprintln!("smarm: all green threads are asleep - deadlock!\n{dump}");
    if shared.on_deadlock == OnDeadlock::Abort {
        eprintln!("smarm: aborting (Config::on_deadlock / SMARM_DEADLOCK=abort)");
        std::process::abort();
    }
}
