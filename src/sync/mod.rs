//! `smarm::sync`: std's synchronisation primitives, blocking by parking — a green thread that
//! waits parks and its worker runs others; a plain OS thread blocks as with std. Primitives work
//! between any mix of green and OS threads.
//!
//! Provided so far: [`Mutex`] / [`MutexGuard`] (plus the [`Mutex::lock_timeout`] extension),
//! [`Condvar`] / [`WaitTimeoutResult`], [`mpsc`], and std's own `Arc`, `Weak`, `atomic`,
//! `PoisonError`, `TryLockError`, `LockResult`, `TryLockResult` (plain types with nothing to
//! schedule). `RwLock`, `Barrier`, `Once`, `OnceLock` and `LazyLock` are not here yet: std's would
//! block a whole worker while they wait, so smarm does not re-export them under its name.

mod condvar;
pub mod mpsc;
mod mutex;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use std::sync::{Arc, LockResult, PoisonError, TryLockError, TryLockResult, Weak, atomic};
