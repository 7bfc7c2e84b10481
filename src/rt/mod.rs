//! The runtime: the native API beside the std mirror, and the machine underneath it.
//!
//! Layers (DESIGN.md), lowest first; no module imports one above it (`.ci/import-cycles` checks
//! the graph has no cycle):
//!
//! 1. `sys`: stacks, the context switch, each green thread's TLS, futexes, the runtime's locks,
//!    starting OS threads.
//! 2. `task`: the task, "current", Pids and their table, exit watchers, panic reports.
//! 3. `park::word`, `park::timer`, `park::waitfor`: the park word and the OS half of parking,
//!    deadlines, lock owners' wait-for records — what the scheduler reads and writes.
//! 4. `sched`: workers, carriers, queues, idle, switches, spawn; the monitor, preemption and the
//!    overflow report on top of that core.
//! 5. `park` (where a wait starts and ends, `park::waitlist`) and `io` (reactor, blocking pool):
//!    above the scheduler, because they wake green threads. The reactor registers itself as the
//!    scheduler's `Poller`, so sleeping workers poll it without naming it.
//! 6. `runtime`, `config`, `stats`, `dump`, `stacks`, `trace`, `deadlock`, `cycles`, `census`: a
//!    runtime put together, and what reports on it.
//!
//! DESIGN.md's diagram puts all of `park` below `sched`; here only the park word is (the rest
//! wakes green threads, i.e. calls `sched::worker::schedule`: below the scheduler it would need a
//! hook, an indirect call on every wake).

pub(crate) mod census;
pub(crate) mod config;
pub(crate) mod cycles;
pub(crate) mod deadlock;
pub(crate) mod dump;
pub(crate) mod io;
pub(crate) mod park;
pub(crate) mod runtime;
pub(crate) mod sched;
pub(crate) mod stacks;
pub(crate) mod stats;
pub(crate) mod sys;
pub(crate) mod task;
pub(crate) mod trace;

pub use io::blocking::block_on_io;
// The public path of the `check!` macro's expansion and of the preempting allocator.
pub use config::{Config, OnDeadlock};
pub use dump::{Dump, ThreadInfo, ThreadState, dump, dump_states, install_dump_on_sigquit};
pub use park::WaitReason;
pub use runtime::{stats, wait_readable, wait_writable};
#[doc(hidden)]
pub use sched::preempt;
pub use stacks::{Frame, Stack};
pub use stats::{HandOff, Stats, WorkerStats};
pub use task::pid::Pid;

/// Runs `f` as a green thread on a new runtime built from `config`, and returns its result once
/// `f` **and every green thread spawned on this runtime** have finished; then the runtime's
/// workers stop. A panic in `f` is resumed in the caller (after the rest has finished).
///
/// Without `run`, smarm starts a global runtime lazily on first use, so `smarm::thread::spawn`
/// works from a plain `main` or `#[test]` as well.
///
/// # Examples
///
/// ```
/// use smarm::rt::{run, Config};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// static DONE: AtomicUsize = AtomicUsize::new(0);
/// run(Config::new().workers(2), || {
///     for _ in 0..100 {
///         // Not joined: `run` still waits for them.
///         smarm::thread::spawn(|| { DONE.fetch_add(1, Ordering::Relaxed); });
///     }
/// });
/// assert_eq!(DONE.load(Ordering::Relaxed), 100);
/// ```
pub fn run<F, T>(config: Config, f: F) -> T
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let traced = trace::begin_run(config.trace_path());
    let (shared, handles) = crate::rt::runtime::start(config);
    // SAFETY: `f` may borrow from our caller; we do not return (or unwind) before the green thread
    // running it has finished: `wait_and_stop` waits for every green thread of this runtime, and
    // nothing between the spawn and there can panic.
    let task = match unsafe { sched::spawn::spawn(&shared, Some("main".into()), None, f) } {
        Ok(t) => t,
        Err(e) => {
            crate::rt::runtime::wait_and_stop(&shared, handles);
            trace::end_run(traced);
            panic!("smarm: failed to spawn the main green thread: {e}");
        }
    };
    crate::rt::runtime::wait_and_stop(&shared, handles);
    trace::end_run(traced);
    match sched::spawn::join(&task) {
        // SAFETY: `spawn` erased `f`'s result type, `T`.
        Ok(v) => unsafe { v.into_inner::<T>() },
        Err(payload) => std::panic::resume_unwind(payload),
    }
}
