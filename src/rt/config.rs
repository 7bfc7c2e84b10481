//! Runtime configuration: `Config` overrides the environment, which overrides the defaults.

use crate::rt::stack::STD_DEFAULT_STACK;

/// How a runtime is built. Every field left unset falls back to the environment, then to std's
/// defaults:
///
/// | setting     | `Config`         | environment                          | default                      |
/// |-------------|------------------|--------------------------------------|------------------------------|
/// | workers     | [`workers`]      | `SMARM_WORKERS`                      | `available_parallelism()`    |
/// | stack size  | [`stack_size`]   | `SMARM_STACK_SIZE`, `RUST_MIN_STACK` | 2 MiB (what std reserves)    |
///
/// [`workers`]: Config::workers
/// [`stack_size`]: Config::stack_size
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
