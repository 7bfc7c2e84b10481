//! Runtime configuration: `Config` overrides the environment, which overrides the defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::rt::sys::stack::STD_DEFAULT_STACK;

/// How a runtime is built. Every field left unset falls back to the environment, then to std's
/// defaults:
///
/// | setting     | `Config`         | environment                          | default                      |
/// |-------------|------------------|--------------------------------------|------------------------------|
/// | workers     | [`workers`]      | `SMARM_WORKERS`                      | `available_parallelism()`    |
/// | stack size  | [`stack_size`]   | `SMARM_STACK_SIZE`, `RUST_MIN_STACK` | 2 MiB (what std reserves)    |
/// | extra workers | [`max_extra_workers`] | `SMARM_MAX_EXTRA_WORKERS`     | 64                           |
/// | blocking threshold | [`blocking_threshold`] | `SMARM_BLOCKING_THRESHOLD_US` | 10 ms                 |
/// | timeslice   | [`timeslice`]    | `SMARM_TIMESLICE_US`                 | 100 µs                       |
/// | trace file  | [`trace`]        | `SMARM_TRACE`                        | no trace                     |
/// | preemption check interval | [`preempt_interval`] | `SMARM_PREEMPT_INTERVAL` | 128 allocations  |
///
/// [`workers`]: Config::workers
/// [`stack_size`]: Config::stack_size
/// [`max_extra_workers`]: Config::max_extra_workers
/// [`blocking_threshold`]: Config::blocking_threshold
/// [`timeslice`]: Config::timeslice
/// [`preempt_interval`]: Config::preempt_interval
/// [`trace`]: Config::trace
///
/// ```
/// let sum = smarm::rt::run(smarm::rt::Config::new().workers(2), || {
///     let h = smarm::thread::spawn(|| 40 + 2);
///     h.join().unwrap()
/// });
/// assert_eq!(sum, 42);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Config {
    workers: Option<usize>,
    stack_size: Option<usize>,
    max_extra_workers: Option<usize>,
    blocking_threshold: Option<Duration>,
    timeslice: Option<Duration>,
    preempt_interval: Option<u32>,
    trace: Option<PathBuf>,
}

/// Default bound on extra workers (see [`Config::max_extra_workers`]).
pub(crate) const DEFAULT_MAX_EXTRA_WORKERS: usize = 64;
/// Default time one green thread may hold a worker before the monitor calls it stuck: Go's
/// sysmon retakes a P after 10-20 ms in a syscall; 10 ms keeps a ticker's delay well under 50 ms.
pub(crate) const DEFAULT_BLOCKING_THRESHOLD: Duration = Duration::from_millis(10);
/// Default timeslice of a green thread under the preempting allocator.
pub(crate) const DEFAULT_TIMESLICE: Duration = Duration::from_micros(100);

impl Config {
    /// A configuration that takes everything from the environment and defaults.
    pub fn new() -> Config {
        Config::default()
    }

    /// The number of worker OS threads (at least 1).
    pub fn workers(mut self, n: usize) -> Config {
        self.workers = Some(n.max(1));
        self
    }

    /// The stack reservation of each green thread, in bytes. Only touched pages cost memory;
    /// a smaller reservation saves page tables (see the README).
    pub fn stack_size(mut self, bytes: usize) -> Config {
        self.stack_size = Some(bytes);
        self
    }

    /// The most *extra* workers the monitor may add while workers are stuck — in a blocking std
    /// call (`std::thread::sleep`, `std::fs`, a contended `std::sync::Mutex`) or a green thread
    /// past its timeslice under the preempting allocator. Extra workers run the stuck workers'
    /// queued green threads and retire once they run dry. 0 disables the hand-off.
    pub fn max_extra_workers(mut self, n: usize) -> Config {
        self.max_extra_workers = Some(n);
        self
    }

    /// How long one green thread may run without a switch before the monitor calls its worker
    /// stuck and hands its queued work to another worker.
    pub fn blocking_threshold(mut self, d: Duration) -> Config {
        self.blocking_threshold = Some(d);
        self
    }

    /// How long a green thread runs before the preempting allocator (or `check!()`) hands the
    /// rest of its worker's queue to another worker (see `smarm::PreemptingAllocator`).
    pub fn timeslice(mut self, d: Duration) -> Config {
        self.timeslice = Some(d);
        self
    }

    /// How many allocations (or `check!()`s) pass between two looks at the clock under the
    /// preempting allocator (default 128). Process-wide: the last runtime started sets it.
    pub fn preempt_interval(mut self, n: u32) -> Config {
        self.preempt_interval = Some(n.max(1));
        self
    }

    pub(crate) fn resolved_preempt_interval(&self) -> Option<u32> {
        self.preempt_interval.or_else(|| {
            env_usize("SMARM_PREEMPT_INTERVAL").map(|n| n.min(u32::MAX as usize) as u32)
        })
    }

    pub(crate) fn resolved_max_extra_workers(&self) -> usize {
        self.max_extra_workers
            .or_else(|| env_usize("SMARM_MAX_EXTRA_WORKERS"))
            .unwrap_or(DEFAULT_MAX_EXTRA_WORKERS)
    }

    pub(crate) fn resolved_blocking_threshold(&self) -> Duration {
        self.blocking_threshold
            .or_else(|| {
                env_usize("SMARM_BLOCKING_THRESHOLD_US").map(|us| Duration::from_micros(us as u64))
            })
            .unwrap_or(DEFAULT_BLOCKING_THRESHOLD)
            .max(Duration::from_micros(100))
    }

    pub(crate) fn resolved_timeslice(&self) -> Duration {
        self.timeslice
            .or_else(|| env_usize("SMARM_TIMESLICE_US").map(|us| Duration::from_micros(us as u64)))
            .unwrap_or(DEFAULT_TIMESLICE)
    }

    /// Records a scheduler trace of this runtime into `path`, as Chrome trace-event JSON that
    /// Perfetto and `chrome://tracing` open; the file is complete when [`run`](crate::rt::run)
    /// returns. One trace is recorded at a time per process: if one is already being recorded
    /// (`SMARM_TRACE`, or another `run`), this runtime's events go to that one instead.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("smarm-doc-{}.json", std::process::id()));
    /// smarm::rt::run(smarm::rt::Config::new().trace(&path), || {
    ///     smarm::thread::spawn(|| ()).join().unwrap();
    /// });
    /// let json = std::fs::read_to_string(&path).unwrap();
    /// assert!(json.starts_with('[') && json.trim_end().ends_with(']'));
    /// # std::fs::remove_file(&path).ok();
    /// ```
    pub fn trace(mut self, path: impl Into<PathBuf>) -> Config {
        self.trace = Some(path.into());
        self
    }

    pub(crate) fn trace_path(&self) -> Option<&Path> {
        self.trace.as_deref()
    }

    pub(crate) fn resolved_workers(&self) -> usize {
        self.workers
            .or_else(|| env_usize("SMARM_WORKERS"))
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }

    pub(crate) fn resolved_stack_size(&self) -> usize {
        self.stack_size
            .or_else(|| env_usize("SMARM_STACK_SIZE"))
            .or_else(|| env_usize("RUST_MIN_STACK"))
            .unwrap_or(STD_DEFAULT_STACK)
    }
}

fn env_usize(key: &str) -> Option<usize> {
    std::env::var(key).ok()?.trim().parse().ok()
}
