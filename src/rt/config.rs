//! Runtime configuration: `Config` overrides the environment, which overrides the defaults.
//!
//! ## Bad values
//! Each setting has a range (the table on [`Config`]). The two sources treat a value outside it
//! differently, because they are written by different people:
//!
//! - A `Config` method is the program speaking: an out-of-range argument is a bug at that line,
//!   so the method panics there with the range in the message (tokio's `worker_threads(0)` does
//!   the same). The one exception is kept from earlier releases and documented on the method:
//!   a blocking threshold under 100 µs is raised to 100 µs.
//! - An `SMARM_*` variable is the environment speaking, read when a runtime starts, from whatever
//!   call started it (the first `spawn`, a socket wait), where there is no error to return. A
//!   bad value must not make a working program fail (std's own `RUST_MIN_STACK` is ignored when
//!   it does not parse), but it must not be ignored silently either: smarm prints one line on
//!   stderr naming the variable, the value, why it is rejected and what is used instead, once
//!   per variable and value, and goes on with that. Values that do not parse as a whole number
//!   (`abc`, `-1`, `1e3`) give the default; values out of range give the nearest bound, except
//!   `SMARM_WORKERS=0`, which gives the default (as `RAYON_NUM_THREADS=0` means "the default").
//!   An empty value counts as unset.
//!
//! `RUST_MIN_STACK` belongs to std, which ignores it silently when it does not parse; smarm does
//! the same, and warns only when it parses to a size no stack can have.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::rt::sys::stack::{MIN_STACK, STD_DEFAULT_STACK, page_size};

/// How a runtime is built. Every field left unset falls back to the environment, then to std's
/// defaults:
///
/// | setting     | `Config`         | environment                          | default                   | range             |
/// |-------------|------------------|--------------------------------------|---------------------------|-------------------|
/// | workers     | [`workers`]      | `SMARM_WORKERS`                      | `available_parallelism()` | 1 ..= 1024        |
/// | stack size  | [`stack_size`]   | `SMARM_STACK_SIZE`, `RUST_MIN_STACK` | 2 MiB (what std reserves) | ..= 64 TiB        |
/// | extra carriers | [`max_extra_workers`] | `SMARM_MAX_EXTRA_WORKERS`    | 10,000                    | 0 ..= 60,000      |
/// | blocking threshold | [`blocking_threshold`] | `SMARM_BLOCKING_THRESHOLD_US` | 10 ms              | 100 µs ..= 1 h    |
/// | timeslice   | [`timeslice`]    | `SMARM_TIMESLICE_US`                 | 100 µs                    | 1 µs ..= 1 h      |
/// | trace file  | [`trace`]        | `SMARM_TRACE`                        | no trace                  |                   |
/// | preemption check interval | [`preempt_interval`] | `SMARM_PREEMPT_INTERVAL` | 128 allocations | 1 ..= 2^32−1 |
/// | on deadlock | [`on_deadlock`] | `SMARM_DEADLOCK` | `report` | `report`, `abort`, `off` |
///
/// A stack size below 32 KiB is raised to 32 KiB, and every size is rounded up to whole pages
/// (std raises a size below `PTHREAD_STACK_MIN` the same way).
///
/// A value outside its range is a bug when the program passes it, so the `Config` method panics
/// (as tokio's `worker_threads(0)` does), except that a blocking threshold under 100 µs is
/// raised to 100 µs. From the environment it is not an error — the program keeps working, as
/// with a bad `RUST_MIN_STACK` under std — but it is never silent: smarm prints one line on
/// stderr, once per variable and value, naming the variable, the value, why it is rejected and
/// what is used instead (`smarm: ignoring SMARM_WORKERS="abc": not a whole number from 1 to
/// 1024; using the default, 8`). Values that do not parse as a whole number give the default,
/// values out of range the nearest bound (but `SMARM_WORKERS=0` and a stack size above the
/// range give the default); an empty value counts as unset.
///
/// [`workers`]: Config::workers
/// [`stack_size`]: Config::stack_size
/// [`max_extra_workers`]: Config::max_extra_workers
/// [`blocking_threshold`]: Config::blocking_threshold
/// [`timeslice`]: Config::timeslice
/// [`preempt_interval`]: Config::preempt_interval
/// [`trace`]: Config::trace
/// [`on_deadlock`]: Config::on_deadlock
///
/// # Examples
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
    deadlock: Option<OnDeadlock>,
}

/// What a runtime does when it finds every thread asleep for good (see [`Config::on_deadlock`]).
///
/// # Examples
///
/// ```
/// use smarm::rt::{Config, OnDeadlock};
/// let config = Config::new().on_deadlock(OnDeadlock::Abort); // as Go does
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnDeadlock {
    /// Print `smarm: all green threads are asleep - deadlock!` and the dump on stderr, once (or
    /// `smarm: deadlock cycle among green threads:` and the cycle, once per cycle), and keep
    /// waiting (as std's threads would). The default.
    Report,
    /// Print the report, then abort the process (Go's behaviour).
    Abort,
    /// Do not look.
    Ignore,
}

/// Default bound on carriers beyond the workers' own (see [`Config::max_extra_workers`]): Go's
/// default bound on its threads (`debug.SetMaxThreads`).
pub(crate) const DEFAULT_MAX_EXTRA_WORKERS: usize = 10_000;
/// Default time one green thread may hold a worker before the monitor calls it stuck: Go's
/// sysmon retakes a P after 10-20 ms in a syscall; 10 ms keeps a ticker's delay well under 50 ms.
pub(crate) const DEFAULT_BLOCKING_THRESHOLD: Duration = Duration::from_millis(10);
/// Default timeslice of a green thread under the preempting allocator.
pub(crate) const DEFAULT_TIMESLICE: Duration = Duration::from_micros(100);

/// The most workers a runtime may have. Workers beyond the machine's cores only contend for
/// them, and every worker owns run queues and caches; 1024 is Go's old `_MaxGomaxprocs`, far
/// above any core count smarm runs on. (The idle protocol counts workers in 16 bits, so
/// workers plus stuck carriers must stay below 65,536 in any case.)
pub(crate) const MAX_WORKERS: usize = 1024;
/// The most extra carriers (see [`Config::max_extra_workers`]): each one is an OS thread stuck in
/// a blocking call. The idle protocol counts workers — including, for a moment, the ones whose
/// carriers are stuck — in 16 bits, so this stays below 65,536 minus [`MAX_WORKERS`].
pub(crate) const MAX_EXTRA_WORKERS: usize = 60_000;
/// The largest stack reservation accepted: 64 TiB, half of x86-64's 47-bit user address space
/// (no larger stack could ever be mapped, and sizes near `usize::MAX` would overflow the page
/// rounding). A larger request is an `InvalidInput` error, as std's is for sizes it cannot
/// represent.
pub(crate) const MAX_STACK_SIZE: usize = 1 << 46;
/// The shortest blocking threshold: the monitor's granularity (it samples every quarter
/// threshold, at least every 50 µs).
const MIN_BLOCKING_THRESHOLD: Duration = Duration::from_micros(100);
/// The longest blocking threshold or timeslice accepted. Longer would only switch the mechanism
/// off, and a bound keeps every deadline computed from them far from overflow.
const MAX_PERIOD: Duration = Duration::from_secs(3600);

/// Checks a requested stack size (from `Builder::stack_size`, `Config`, or the environment)
/// before any arithmetic on it: `Ok` with the size itself if a stack of that size can be
/// described (rounding it up to pages and adding the guard page cannot overflow), else an
/// `InvalidInput` error that says why, as std's `Builder::spawn` gives for `usize::MAX`.
///
/// This is the only check callers need before `stack::round_size` and `Stack::new`.
pub(crate) fn check_stack_size(bytes: usize) -> io::Result<usize> {
    if bytes > MAX_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "stack size of {bytes} bytes is larger than any stack can be \
                 (the limit is {MAX_STACK_SIZE} bytes, 64 TiB)"
            ),
        ));
    }
    // Cannot fail below MAX_STACK_SIZE; checked all the same, so that this function alone
    // guarantees `round_size(bytes) + page` fits.
    let page = page_size();
    bytes
        .max(MIN_STACK)
        .checked_next_multiple_of(page)
        .and_then(|s| s.checked_add(page))
        .filter(|&total| total <= isize::MAX as usize)
        .map(|_| bytes)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("stack size of {bytes} bytes overflows when rounded up to pages"),
            )
        })
}

impl Config {
    /// A configuration that takes everything from the environment and defaults.
    ///
    /// Without builder calls, [`run`](crate::rt::run) uses the environment's `SMARM_*` variables
    /// where set and the defaults otherwise (one worker per available core, 2 MiB stacks).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::rt::{self, Config};
    ///
    /// let answer = rt::run(Config::new(), || smarm::thread::spawn(|| 6 * 7).join().unwrap());
    /// assert_eq!(answer, 42);
    /// ```
    pub fn new() -> Config {
        Config::default()
    }

    /// The number of worker OS threads: how many green threads run at once.
    ///
    /// # Panics
    /// If `n` is 0 or above 1024 (a runtime needs a worker; more workers than cores only
    /// contend for them).
    ///
    /// # Examples
    ///
    /// ```should_panic
    /// smarm::rt::Config::new().workers(0);
    /// ```
    pub fn workers(mut self, n: usize) -> Config {
        assert!(
            (1..=MAX_WORKERS).contains(&n),
            "smarm: Config::workers({n}): the number of workers must be from 1 to {MAX_WORKERS}"
        );
        self.workers = Some(n);
        self
    }

    /// The stack reservation of each green thread, in bytes. Only touched pages cost memory;
    /// a smaller reservation saves page tables (see the README). Sizes below 32 KiB are raised
    /// to 32 KiB and sizes are rounded up to whole pages.
    ///
    /// # Panics
    /// If `bytes` is above 64 TiB (half the address space: no such stack can be mapped).
    ///
    /// # Examples
    ///
    /// A hundred green threads on 64 KiB stacks, each recursing a little:
    ///
    /// ```
    /// use smarm::rt::{self, Config};
    ///
    /// fn depth(n: u32) -> u32 {
    ///     if n == 0 { 0 } else { 1 + depth(n - 1) }
    /// }
    ///
    /// let total = rt::run(Config::new().workers(2).stack_size(64 * 1024), || {
    ///     let hs: Vec<_> = (0..100).map(|_| smarm::thread::spawn(|| depth(100))).collect();
    ///     hs.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
    /// });
    /// assert_eq!(total, 100 * 100);
    /// ```
    ///
    /// ```should_panic
    /// smarm::rt::Config::new().stack_size(usize::MAX); // larger than any stack can be
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Config {
        if let Err(e) = check_stack_size(bytes) {
            panic!("smarm: Config::stack_size({bytes}): {e}");
        }
        self.stack_size = Some(bytes);
        self
    }

    /// The most *extra carriers*: OS threads beyond the workers' own that the monitor may start
    /// while carriers are stuck in foreign code — a blocking std call (`std::thread::sleep`,
    /// `std::fs`, a contended `std::sync::Mutex`) or a loop that never allocates. A stuck
    /// carrier keeps its green thread and the monitor gives its worker to an idle or a new
    /// carrier, so at most `workers` carriers run green code at once and the rest wait in the
    /// kernel; idle carriers retire. Default 10,000 (Go's bound on its threads); reaching the
    /// bound is reported on stderr with a dump. 0 disables the hand-off.
    ///
    /// # Panics
    /// If `n` is above 60,000.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::rt::{self, Config};
    ///
    /// // One worker and no hand-off: a green thread in a blocking std call holds up the rest,
    /// // so this runtime is for code that never makes one.
    /// let config = Config::new().workers(1).max_extra_workers(0);
    /// let v = rt::run(config, || smarm::thread::spawn(|| "fine").join().unwrap());
    /// assert_eq!(v, "fine");
    /// ```
    pub fn max_extra_workers(mut self, n: usize) -> Config {
        assert!(
            n <= MAX_EXTRA_WORKERS,
            "smarm: Config::max_extra_workers({n}): at most {MAX_EXTRA_WORKERS} extra workers"
        );
        self.max_extra_workers = Some(n);
        self
    }

    /// How long one green thread may run without a switch before the monitor calls its carrier
    /// stuck and gives its worker to another carrier, even if the carrier computes rather than
    /// sleeps in the kernel (a carrier asleep in a blocking call is handed off sooner, within a
    /// few monitor samples). Values under 100 µs are raised to 100 µs.
    ///
    /// # Panics
    /// If `d` is longer than an hour.
    ///
    /// # Examples
    ///
    /// On one worker, a green thread blocks its OS thread in a std channel's `recv`; the green thread
    /// that would wake it is queued behind it on the same worker. The monitor sees that carrier
    /// asleep in the kernel and gives the worker to another carrier, which runs the sender:
    ///
    /// ```
    /// use smarm::rt::{self, Config};
    /// use std::time::Duration;
    ///
    /// let config = Config::new().workers(1).blocking_threshold(Duration::from_millis(1));
    /// let got = rt::run(config, || {
    ///     let (tx, rx) = std::sync::mpsc::channel(); // std's: blocks the worker, not just the thread
    ///     let blocked = smarm::thread::spawn(move || rx.recv().unwrap());
    ///     let sender = smarm::thread::spawn(move || tx.send(7).unwrap());
    ///     sender.join().unwrap();
    ///     blocked.join().unwrap()
    /// });
    /// assert_eq!(got, 7);
    /// ```
    pub fn blocking_threshold(mut self, d: Duration) -> Config {
        assert!(
            d <= MAX_PERIOD,
            "smarm: Config::blocking_threshold({d:?}): at most one hour"
        );
        self.blocking_threshold = Some(d);
        self
    }

    /// How long a green thread runs before the preempting allocator (or `check!()`) hands the
    /// rest of its worker's queue to another worker (see `smarm::PreemptingAllocator`).
    ///
    /// # Panics
    /// If `d` is zero or longer than an hour.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::rt::{self, Config};
    /// use std::time::Duration;
    ///
    /// let config = Config::new().workers(2).timeslice(Duration::from_millis(1));
    /// let sum = rt::run(config, || {
    ///     smarm::thread::spawn(|| {
    ///         let mut x = 0u64;
    ///         for i in 0..100_000u64 {
    ///             x = x.wrapping_add(i);
    ///             smarm::check!(); // a preemption check in a loop that never allocates
    ///         }
    ///         x
    ///     })
    ///     .join()
    ///     .unwrap()
    /// });
    /// assert_eq!(sum, (0..100_000u64).sum());
    /// ```
    ///
    /// ```should_panic
    /// smarm::rt::Config::new().timeslice(std::time::Duration::ZERO);
    /// ```
    pub fn timeslice(mut self, d: Duration) -> Config {
        assert!(
            !d.is_zero() && d <= MAX_PERIOD,
            "smarm: Config::timeslice({d:?}): must be from 1 µs to one hour"
        );
        self.timeslice = Some(d);
        self
    }

    /// How many allocations (or `check!()`s) pass between two looks at the clock under the
    /// preempting allocator (default 128). Process-wide: the last runtime started sets it.
    ///
    /// # Panics
    /// If `n` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::rt::{self, Config};
    ///
    /// // Look at the clock at every 16th allocation or `check!()` instead of every 128th.
    /// let v = rt::run(Config::new().preempt_interval(16), || {
    ///     smarm::thread::spawn(|| (0..1000).map(|i| vec![i; 4]).count()).join().unwrap()
    /// });
    /// assert_eq!(v, 1000);
    /// ```
    ///
    /// ```should_panic
    /// smarm::rt::Config::new().preempt_interval(0);
    /// ```
    pub fn preempt_interval(mut self, n: u32) -> Config {
        assert!(
            n > 0,
            "smarm: Config::preempt_interval(0): must be at least 1"
        );
        self.preempt_interval = Some(n);
        self
    }

    /// What to do when every green thread, and every OS thread that uses smarm, waits for good
    /// on something only another of them could give, or when green threads wait on each other
    /// in a cycle: a report on stderr (the default), an abort
    /// (`OnDeadlock::Abort`, Go's behaviour) or nothing. `SMARM_DEADLOCK=report|abort|off`.
    ///
    /// The check is conservative: it reports only when the process has no thread that could
    /// still wake anyone — every thread is smarm's own (carriers, monitor, pools) or parked in a
    /// smarm wait without a timeout, no green thread waits for a timer, a socket or the blocking
    /// pool, and nothing changed over 100 ms. A thread blocked outside smarm (in `std`'s own
    /// channels, a C library, a `read`) might still send, so its presence rules a report out.
    ///
    /// Cycles are also looked for while other threads run: green threads each waiting (with no
    /// timeout) for a smarm `Mutex` or write-held `RwLock` held by the next, or to `join` the
    /// next, are reported once as `smarm: deadlock cycle among green threads:` with a line per
    /// thread (name, Pid, what it waits on, who holds it), then the same action applies. Such a
    /// cycle can never resolve, so that report is never false; it does not follow locks of plain
    /// OS threads, read-held `RwLock`s, `Barrier`, condvar or channel waits (see
    /// `migration.md`). [`Stats::deadlock_cycles`](crate::rt::Stats::deadlock_cycles) counts them.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::rt::{self, Config, OnDeadlock};
    ///
    /// // Nothing deadlocks here: the check never fires.
    /// let v = rt::run(Config::new().on_deadlock(OnDeadlock::Abort), || {
    ///     smarm::thread::spawn(|| 7).join().unwrap()
    /// });
    /// assert_eq!(v, 7);
    /// ```
    pub fn on_deadlock(mut self, action: OnDeadlock) -> Config {
        self.deadlock = Some(action);
        self
    }

    pub(crate) fn resolved_deadlock(&self) -> OnDeadlock {
        self.deadlock.unwrap_or_else(|| {
            let Some(v) = EnvVar::read("SMARM_DEADLOCK") else {
                return OnDeadlock::Report;
            };
            match v.raw.trim() {
                "report" => OnDeadlock::Report,
                "abort" => OnDeadlock::Abort,
                "off" | "ignore" => OnDeadlock::Ignore,
                _ => {
                    warn_once(v.key, &v.raw, "not one of report, abort, off; using report");
                    OnDeadlock::Report
                }
            }
        })
    }

    pub(crate) fn resolved_preempt_interval(&self) -> Option<u32> {
        self.preempt_interval.or_else(|| {
            let v = EnvVar::read("SMARM_PREEMPT_INTERVAL")?;
            Some(v.in_range(1, u32::MAX as u64, 128, Outside::Nearest, "") as u32)
        })
    }

    /// The most carriers (OS threads running green code, stuck ones included).
    pub(crate) fn resolved_max_carriers(&self) -> usize {
        self.resolved_workers() + self.resolved_max_extra_workers()
    }

    pub(crate) fn resolved_max_extra_workers(&self) -> usize {
        self.max_extra_workers.unwrap_or_else(|| {
            EnvVar::read("SMARM_MAX_EXTRA_WORKERS").map_or(DEFAULT_MAX_EXTRA_WORKERS, |v| {
                v.in_range(
                    0,
                    MAX_EXTRA_WORKERS as u64,
                    DEFAULT_MAX_EXTRA_WORKERS as u64,
                    Outside::Nearest,
                    "",
                ) as usize
            })
        })
    }

    pub(crate) fn resolved_blocking_threshold(&self) -> Duration {
        self.blocking_threshold
            .or_else(|| {
                let v = EnvVar::read("SMARM_BLOCKING_THRESHOLD_US")?;
                Some(Duration::from_micros(v.in_range(
                    MIN_BLOCKING_THRESHOLD.as_micros() as u64,
                    MAX_PERIOD.as_micros() as u64,
                    DEFAULT_BLOCKING_THRESHOLD.as_micros() as u64,
                    Outside::Nearest,
                    " µs",
                )))
            })
            .unwrap_or(DEFAULT_BLOCKING_THRESHOLD)
            .max(MIN_BLOCKING_THRESHOLD)
    }

    pub(crate) fn resolved_timeslice(&self) -> Duration {
        self.timeslice.unwrap_or_else(|| {
            EnvVar::read("SMARM_TIMESLICE_US").map_or(DEFAULT_TIMESLICE, |v| {
                Duration::from_micros(v.in_range(
                    1,
                    MAX_PERIOD.as_micros() as u64,
                    DEFAULT_TIMESLICE.as_micros() as u64,
                    Outside::Nearest,
                    " µs",
                ))
            })
        })
    }

    /// Records a scheduler trace of this runtime into `path`, as Chrome trace-event JSON that
    /// Perfetto and `chrome://tracing` open; the file is complete when [`run`](crate::rt::run)
    /// returns. One trace is recorded at a time per process: if one is already being recorded
    /// (`SMARM_TRACE`, or another `run`), this runtime's events go to that one instead.
    ///
    /// # Examples
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
        self.workers.unwrap_or_else(|| {
            let default = std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_WORKERS);
            EnvVar::read("SMARM_WORKERS").map_or(default, |v| {
                v.in_range(
                    1,
                    MAX_WORKERS as u64,
                    default as u64,
                    Outside::DefaultBelow,
                    "",
                ) as usize
            })
        })
    }

    /// The default stack size: always one [`check_stack_size`] accepts.
    pub(crate) fn resolved_stack_size(&self) -> usize {
        if let Some(s) = self.stack_size {
            return s;
        }
        let std_min = rust_min_stack();
        let fallback = std_min.unwrap_or(STD_DEFAULT_STACK);
        match EnvVar::read("SMARM_STACK_SIZE") {
            Some(v) => v.in_range(
                0,
                MAX_STACK_SIZE as u64,
                fallback as u64,
                Outside::DefaultAbove,
                " bytes",
            ) as usize,
            None => fallback,
        }
    }
}

/// `RUST_MIN_STACK` as std reads it (a value that does not parse is ignored without a word, as
/// std ignores it), but a size no stack can have is reported and ignored.
fn rust_min_stack() -> Option<usize> {
    const KEY: &str = "RUST_MIN_STACK";
    let raw = std::env::var(KEY).ok()?;
    let n: usize = raw.trim().parse().ok()?;
    match check_stack_size(n) {
        Ok(n) => Some(n),
        Err(e) => {
            warn_once(
                KEY,
                &raw,
                &format!("{e}; using the default, {STD_DEFAULT_STACK} bytes"),
            );
            None
        }
    }
}

/// What to use for an environment value outside its range.
#[derive(Clone, Copy, PartialEq)]
enum Outside {
    /// The nearest bound.
    Nearest,
    /// The default below the range (a count where 0 reads as "choose for me"), else the
    /// nearest bound.
    DefaultBelow,
    /// The default above the range (a size so large it can only be a mistake), else the
    /// nearest bound.
    DefaultAbove,
}

/// A set, non-empty `SMARM_*` variable.
struct EnvVar {
    key: &'static str,
    raw: String,
}

impl EnvVar {
    /// The variable, if it is set to something other than the empty string.
    fn read(key: &'static str) -> Option<EnvVar> {
        let raw = match std::env::var(key) {
            Ok(s) => s,
            Err(std::env::VarError::NotPresent) => return None,
            Err(std::env::VarError::NotUnicode(s)) => s.to_string_lossy().into_owned(),
        };
        (!raw.trim().is_empty()).then_some(EnvVar { key, raw })
    }

    /// The value as a whole number in `min..=max`. Anything else gives a warning (once per
    /// variable and value) and: `default` if it does not parse, else what `outside` says.
    /// `unit` follows numbers in the message.
    fn in_range(&self, min: u64, max: u64, default: u64, outside: Outside, unit: &str) -> u64 {
        let (why, used, is_default) = match self.raw.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => return n,
            Ok(n) if n > max => {
                let why = format!("above the maximum, {max}{unit}");
                match outside {
                    Outside::DefaultAbove => (why, default, true),
                    _ => (why, max, false),
                }
            }
            Ok(_) => {
                let why = format!("below the minimum, {min}{unit}");
                match outside {
                    Outside::DefaultBelow => (why, default, true),
                    _ => (why, min, false),
                }
            }
            Err(_) => (
                format!("not a whole number from {min} to {max}"),
                default,
                true,
            ),
        };
        let what = if is_default {
            format!("the default, {used}{unit}")
        } else {
            format!("{used}{unit}")
        };
        warn_once(self.key, &self.raw, &format!("{why}; using {what}"));
        used
    }
}

/// Prints `smarm: ignoring KEY="value": message` on stderr, once per variable and value.
fn warn_once(key: &str, raw: &str, message: &str) {
    static WARNED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned.iter().any(|(k, v)| k == key && v == raw) {
        return;
    }
    warned.push((key.to_string(), raw.to_string()));
    drop(warned);
    eprintln!("smarm: ignoring {key}={raw:?}: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_sizes_near_the_top_of_usize_are_invalid_input() {
        for bytes in [usize::MAX, usize::MAX - 4096, 1 << 63, MAX_STACK_SIZE + 1] {
            let e = check_stack_size(bytes).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bytes}");
        }
        for bytes in [0, 1, 4096, STD_DEFAULT_STACK, MAX_STACK_SIZE] {
            assert_eq!(check_stack_size(bytes).unwrap(), bytes);
        }
    }

    #[test]
    #[should_panic(expected = "from 1 to 1024")]
    fn too_many_workers_panics() {
        let _ = Config::new().workers(MAX_WORKERS + 1);
    }

    #[test]
    #[should_panic(expected = "Config::stack_size")]
    fn absurd_config_stack_size_panics() {
        let _ = Config::new().stack_size(usize::MAX);
    }
}
