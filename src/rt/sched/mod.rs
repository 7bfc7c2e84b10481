//! The scheduler: N workers (scheduling slots) held by carrier OS threads, running green threads.
//!
//! The core, lowest first: `shared.rs` (a runtime's shared state, the registry of runtimes, the
//! `Poller` the reactor registers, a switch's `Intent`), `slots.rs` and `carriers.rs` (carrier
//! slots and counts), `queue.rs` (run queues, the owner handle, the injector), `idle.rs` (the
//! sleep/wake protocol), `worker.rs` (one carrier's loop — find a task, switch to it, handle why it
//! switched back — waking with `schedule`, direct switches), `switch.rs` (yield, preemption and
//! park switch a green thread out), `spawn.rs` (spawn, the trampoline, join). Above the core:
//! `monitor.rs` (hand-offs of stuck carriers' workers), `preempt.rs`, `overflow.rs`.
//!
//! Where things go when they become runnable:
//! - a spawn on a worker goes to that worker's local queue; a spawn from a plain OS thread to the
//!   injector;
//! - a wake on a worker goes to that worker's *run next* slot, so a message ping-pong between two
//!   green threads stays on one core and in cache; a wake from outside goes to the injector.
//!   Either way, if no worker is searching for work and one sleeps, one is woken (`notify`).
//!
//! ## Thread-locals (DESIGN.md rule 1)
//! Every green thread runs with its own thread pointer (`sys::tls`), so while green code runs, every
//! thread-local — the runtime's own included — is the green thread's. The runtime keeps two kinds:
//! - per carrier, read only by scheduler code on that carrier: `WORKER` (the worker this OS thread
//!   runs) and `OS_TASK` (the task of a plain OS thread);
//! - per green thread: `CURRENT`, its own task, set once when it starts.
//!
//! Green code reaches its worker through its task (`Green::worker`, which the worker sets before
//! every switch in), never through a carrier's thread-local; the accessors below are
//! `#[inline(never)]` so that nothing they return is mistaken for a value of another thread.

pub(crate) mod carriers;
pub(crate) mod idle;
pub(crate) mod monitor;
pub(crate) mod overflow;
#[doc(hidden)]
pub mod preempt;
pub(crate) mod queue;
pub(crate) mod shared;
pub(crate) mod slots;
pub(crate) mod spawn;
pub(crate) mod switch;
pub(crate) mod worker;
