//! The runtime: the native API beside the std mirror, and the machine underneath it.
//!
//! Layers (see DESIGN.md): system primitives — `sys` (`stack`: mmap + guard + pool, `context`: the
//! naked-asm switch, `tls`: each green thread's own thread pointer, `futex`); green threads —
//! `pid` (slot table), `task`; runtime machine — `sched` (workers, queues,
//! stealing, idle), `park` (the one wait primitive), `timer`, `reactor` (epoll), `blocking` (the
//! blocking pool). Lower layers never import higher ones.

pub(crate) mod blocking;
pub(crate) mod census;
pub(crate) mod config;
pub(crate) mod current;
pub(crate) mod cycles;
pub(crate) mod deadlock;
pub(crate) mod dump;
pub(crate) mod monitor;
pub(crate) mod overflow;
pub(crate) mod panic;
pub(crate) mod park;
pub(crate) mod pid;
#[doc(hidden)]
pub mod preempt;
pub(crate) mod reactor;
pub(crate) mod runtime;
pub(crate) mod sched;
pub(crate) mod stacks;
pub(crate) mod stats;
pub(crate) mod sys;
pub(crate) mod task;
pub(crate) mod timer;
pub(crate) mod trace;
pub(crate) mod waitfor;
pub(crate) mod waitlist;
pub(crate) mod watch;

pub use blocking::block_on_io;
pub use config::{Config, OnDeadlock};
pub use dump::{Dump, ThreadInfo, ThreadState, dump, dump_states, install_dump_on_sigquit};
pub use park::WaitReason;
pub use pid::Pid;
pub use runtime::{stats, wait_readable, wait_writable};
pub use stacks::{Frame, Stack};
pub use stats::{HandOff, Stats, WorkerStats};

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
