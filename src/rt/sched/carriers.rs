//! The runtime's carriers (DESIGN.md, "Scheduler"; the protocol is `rt::sched::monitor`'s): how many
//! there are, the spares waiting for a worker, the monitor's sleep word and its log of hand-offs.
//! The monitor thread that decides the hand-offs lives above the scheduler (`rt::sched::monitor`); this
//! state lives in the runtime's `Shared`, where the carriers reach it without naming the monitor.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::rt::sys::futex;

/// How long a spare carrier waits for a worker before it retires.
pub(crate) const SPARE_KEEP: Duration = Duration::from_secs(2);

/// The monitor's sleep word and the runtime's carriers.
pub(crate) struct Monitor {
    pub(crate) word: AtomicU32,
    /// The monitor sleeps a long tick (nothing ran at its last sample): a worker that wakes to run
    /// wakes it (`wake_if_deep`), so watching for stuck carriers starts with the work.
    pub(crate) deep: AtomicBool,
    pub(crate) carriers: Mutex<Carriers>,
    pub(crate) thread: Mutex<Option<JoinHandle<()>>>,
    /// The last [`HANDOFF_LOG`] hand-offs, for `rt::stats` and the dump.
    pub(crate) handoff_log: Mutex<std::collections::VecDeque<HandOff>>,
}

/// Hand-offs kept for `rt::stats().recent_handoffs`.
pub(crate) const HANDOFF_LOG: usize = 16;

/// Carriers beyond the first N (whose threads `crate::rt::runtime::start` made and its caller joins).
pub(crate) struct Carriers {
    /// Slots given up by retired carriers (reused lowest first: `workers_hw` stays compact).
    pub(crate) released: Vec<usize>,
    /// The next slot never used yet.
    pub(crate) fresh: usize,
    /// Slots whose carriers wait as spares (`wait_as_spare`).
    pub(crate) spare: Vec<usize>,
    /// Threads the monitor started, joined at shutdown (or when their slot is reused).
    pub(crate) handles: Vec<(usize, JoinHandle<()>)>,
    /// Carriers alive now and at most so far.
    pub(crate) live: usize,
    pub(crate) peak: usize,
    /// The carrier bound was reported (once per runtime).
    pub(crate) bound_reported: bool,
}

/// Carrier counts for `rt::stats`.
pub(crate) struct CarrierCounts {
    pub(crate) live: usize,
    pub(crate) peak: usize,
    pub(crate) spare: usize,
}

impl Monitor {
    /// A runtime of `workers` workers, each on its own carrier, and at most `capacity` carriers.
    pub(crate) fn new(workers: usize, capacity: usize) -> Monitor {
        let _ = capacity;
        Monitor {
            word: AtomicU32::new(0),
            deep: AtomicBool::new(false),
            carriers: Mutex::new(Carriers {
                released: Vec::new(),
                fresh: workers,
                spare: Vec::new(),
                handles: Vec::new(),
                live: workers,
                peak: workers,
                bound_reported: false,
            }),
            thread: Mutex::new(None),
            handoff_log: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// The last hand-offs, oldest first.
    pub(crate) fn recent_handoffs(&self) -> Vec<HandOff> {
        lock(&self.handoff_log).iter().cloned().collect()
    }

    /// Wakes the monitor now. Allocation-free.
    pub(crate) fn poke(&self) {
        if self.word.swap(1, SeqCst) == 0 {
            futex::wake_one(&self.word);
        }
    }

    /// A worker woke to run green threads: if the monitor sleeps long, wake it. A load on the
    /// worker's wake path, a futex wake at most once per deep sleep.
    pub(crate) fn wake_if_deep(&self) {
        if self.deep.load(Relaxed) && self.deep.swap(false, Relaxed) {
            self.poke();
        }
    }

    pub(crate) fn sleep(&self, timeout: Duration) {
        if self.word.swap(0, SeqCst) == 0 {
            futex::wait(&self.word, 0, Some(timeout));
        }
    }

    /// Holds the carriers' lock across a `fork` (see `sched::before_fork`).
    pub(crate) fn hold_for_fork(&self) -> Box<dyn std::any::Any + '_> {
        Box::new(lock(&self.carriers))
    }

    pub(crate) fn counts(&self) -> CarrierCounts {
        let c = lock(&self.carriers);
        CarrierCounts {
            live: c.live,
            peak: c.peak,
            spare: c.spare.len(),
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A hand-off, part of [`Stats`](crate::rt::Stats) (and printed by the dump): the monitor found a carrier stuck
/// in foreign code running `name`/`pid` and gave its worker to another carrier.
///
/// # Examples
///
/// ```
/// use smarm::rt::{self, Config};
/// use std::time::Duration;
///
/// let log = rt::run(Config::new().workers(1), || {
///     let sleeper = smarm::thread::Builder::new()
///         .name("culprit".into())
///         .spawn(|| std::thread::sleep(Duration::from_millis(300))) // blocks its carrier
///         .unwrap();
///     smarm::thread::sleep(Duration::from_millis(1)); // queued behind it: needs a worker
///     sleeper.join().unwrap();
///     rt::stats().recent_handoffs
/// });
/// let h = log.iter().find(|h| h.name.as_deref() == Some("culprit")).expect("handed off");
/// assert!(h.in_kernel); // asleep in the kernel, not computing
/// println!("{h}"); // carrier 0: 'culprit' <0.2.0> in clock_nanosleep for 0.4 ms
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandOff {
    /// The carrier slot that was stuck.
    pub carrier: usize,
    /// The green thread it was running (`None` if it ended before the monitor looked it up).
    pub pid: Option<crate::rt::task::pid::Pid>,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Whether the carrier was asleep in the kernel (a blocking call) rather than computing.
    pub in_kernel: bool,
    /// The system call it was in, when the kernel says (`/proc/<tid>/syscall`): `"futex"`,
    /// `"clock_nanosleep"`, `"read"`, ... (a number for calls not in smarm's short table).
    pub syscall: Option<String>,
    /// How long the green thread had held the carrier when the monitor acted.
    pub stuck_for: std::time::Duration,
}

impl fmt::Display for HandOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "carrier {}: ", self.carrier)?;
        match (&self.name, self.pid) {
            (Some(n), Some(p)) => write!(f, "'{n}' {p}")?,
            (None, Some(p)) => write!(f, "<unnamed> {p}")?,
            _ => write!(f, "a green thread that has since ended")?,
        }
        match (&self.syscall, self.in_kernel) {
            (Some(s), _) => write!(f, " in {s}")?,
            (None, true) => write!(f, " asleep in the kernel")?,
            (None, false) => write!(f, " computing")?,
        }
        write!(f, " for {:.1} ms", self.stuck_for.as_secs_f64() * 1e3)
    }
}
