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
//! Beside the mirror, as an extension std lacks: [`mpsc::Select`], which waits on several
//! receivers and bounded senders at once, with an optional timeout.
//!
//! ```
//! use smarm::sync::{Arc, Condvar, Mutex, mpsc};
//! use smarm::thread; // was: use std::{sync::{...}, thread};
//!
//! // A work queue: a mutex and a condvar; results come back on a channel.
//! let queue = Arc::new((Mutex::new(Vec::<u64>::new()), Condvar::new()));
//! let (tx, rx) = mpsc::channel();
//! for _ in 0..4 {
//!     let (queue, tx) = (Arc::clone(&queue), tx.clone());
//!     thread::spawn(move || {
//!         let (lock, cvar) = &*queue;
//!         loop {
//!             let mut jobs = cvar.wait_while(lock.lock().unwrap(), |j| j.is_empty()).unwrap();
//!             let job = jobs.pop().unwrap();
//!             drop(jobs);
//!             if job == 0 {
//!                 break; // the stop signal
//!             }
//!             tx.send(job * job).unwrap();
//!         }
//!     });
//! }
//! drop(tx);
//!
//! let (lock, cvar) = &*queue;
//! lock.lock().unwrap().extend([0, 0, 0, 0, 1, 2, 3, 4]); // stop signals first: popped last
//! cvar.notify_all();
//! assert_eq!(rx.iter().sum::<u64>(), 1 + 4 + 9 + 16);
//! ```

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
