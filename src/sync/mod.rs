//! `smarm::sync`: std's synchronisation primitives, blocking by parking — a green thread that
//! waits parks and its worker runs others; a plain OS thread blocks as with std. Primitives work
//! between any mix of green and OS threads.
//!
//! Every stable item of `std::sync`: [`Mutex`] / [`MutexGuard`] (plus the
//! [`Mutex::lock_timeout`] extension), [`RwLock`] and its guards, [`Condvar`] /
//! [`WaitTimeoutResult`], [`Barrier`] / [`BarrierWaitResult`], [`Once`] / [`OnceState`],
//! [`OnceLock`], [`LazyLock`], [`mpsc`], and std's own `Arc`, `Weak`, `atomic`, `PoisonError`,
//! `TryLockError`, `LockResult`, `TryLockResult` (plain types with nothing to schedule).
//! std's blocking types are never re-exported under smarm's name: they would block a whole worker.

mod barrier;
mod condvar;
mod lazy_lock;
pub mod mpsc;
mod mutex;
mod once;
mod once_lock;
mod poison;
mod rwlock;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use lazy_lock::LazyLock;
pub use mutex::{Mutex, MutexGuard};
pub use once::{Once, OnceState};
pub use once_lock::OnceLock;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use std::sync::{Arc, LockResult, PoisonError, TryLockError, TryLockResult, Weak, atomic};
