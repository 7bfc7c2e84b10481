//! `Barrier`, as std's: `n` threads meet, the last to arrive is the leader and releases the rest.
//! The count lives under the wait list's lock, so an arrival and the release it may trigger are
//! one critical section: no waiter can miss its generation's release.

use std::fmt;

use crate::rt::park::WaitReason;
use crate::rt::waitlist::{Node, WaitList};

/// A rendezvous point for a fixed number of threads, as `std::sync::Barrier`. Reusable: once
/// `n` threads have met, the next `n` calls form a new round.
///
/// ```
/// use smarm::sync::{Arc, Barrier};
/// use smarm::thread;
///
/// let barrier = Arc::new(Barrier::new(10));
/// let hs: Vec<_> = (0..10)
///     .map(|_| {
///         let b = Arc::clone(&barrier);
///         thread::spawn(move || b.wait().is_leader())
///     })
///     .collect();
/// let leaders = hs.into_iter().map(|h| h.join().unwrap()).filter(|&l| l).count();
/// assert_eq!(leaders, 1);
/// ```
pub struct Barrier {
    n: usize,
    /// Threads arrived in the current round.
    waiting: WaitList<usize>,
}

/// What [`Barrier::wait`] returns, as `std::sync::BarrierWaitResult`.
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// `true` for exactly one thread of each round: the one whose arrival released the others.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` threads. `n` of 0 or 1 never blocks, and every caller is a leader.
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            n,
            waiting: WaitList::new(0),
        }
    }

    /// Blocks until `n` threads (this one included) have called `wait` in this round.
    pub fn wait(&self) -> BarrierWaitResult {
        let mut locked = self.waiting.lock();
        *locked += 1;
        if *locked < self.n {
            let mut node = Node::waiting_on(WaitReason::Other);
            let notified = self.waiting.wait(locked, &mut node, None);
            debug_assert!(notified);
            return BarrierWaitResult(false);
        }
        *locked = 0;
        let woken = locked.notify_all();
        drop(locked);
        for w in woken {
            w.wake();
        }
        BarrierWaitResult(true)
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}

impl fmt::Debug for BarrierWaitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWaitResult")
            .field("is_leader", &self.is_leader())
            .finish()
    }
}
