//! Runtime configuration: `Config` overrides the environment, which overrides the defaults.

use std::path::{Path, PathBuf};

use crate::rt::stack::STD_DEFAULT_STACK;

/// How a runtime is built. Every field left unset falls back to the environment, then to std's
/// defaults:
///
/// | setting     | `Config`         | environment                          | default                      |
/// |-------------|------------------|--------------------------------------|------------------------------|
/// | workers     | [`workers`]      | `SMARM_WORKERS`                      | `available_parallelism()`    |
/// | stack size  | [`stack_size`]   | `SMARM_STACK_SIZE`, `RUST_MIN_STACK` | 2 MiB (what std reserves)    |
/// | trace file  | [`trace`]        | `SMARM_TRACE`                        | no trace                     |
///
/// [`workers`]: Config::workers
/// [`stack_size`]: Config::stack_size
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
    trace: Option<PathBuf>,
}

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
