//! `Barrier`, as std's: `n` threads meet, the last to arrive is the leader and releases the rest.
//! The count lives under the wait list's lock, so an arrival and the release it may trigger are
//! one critical section: no waiter can miss its generation's release.

use std::fmt;

use crate::rt::park::WaitReason;
use crate::rt::park::waitlist::{Node, WaitList};

/// A rendezvous point for a fixed number of threads, as `std::sync::Barrier`. Reusable: once
/// `n` threads have met, the next `n` calls form a new round.
///
/// Threads that wait at the barrier park (on a green thread, blocking the green thread and not
/// its worker), so a barrier for far more threads than there are workers is fine.
///
/// # Examples
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

/// A `BarrierWaitResult` is returned by [`Barrier::wait`] when all threads in the barrier have
/// rendezvoused, as `std::sync::BarrierWaitResult`.
///
/// # Examples
///
/// ```
/// use smarm::sync::Barrier;
///
/// let barrier = Barrier::new(1);
/// let barrier_wait_result = barrier.wait();
/// assert!(barrier_wait_result.is_leader());
/// ```
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// Returns `true` if this thread is the "leader thread" for the call to [`Barrier::wait`]:
    /// exactly one thread of each round is, the one whose arrival released the others.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, Barrier};
    /// use smarm::thread;
    ///
    /// let barrier = Arc::new(Barrier::new(2));
    /// let b = Arc::clone(&barrier);
    /// let other = thread::spawn(move || b.wait().is_leader());
    /// let mine = barrier.wait().is_leader();
    /// // One of the two, whichever arrived last.
    /// assert!(mine != other.join().unwrap());
    /// ```
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// Creates a new barrier that can block a given number of threads. `n` of 0 or 1 never
    /// blocks, and every caller is a leader.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::Barrier;
    ///
    /// let barrier = Barrier::new(10);
    /// # drop(barrier);
    ///
    /// // `const`: a barrier can be a `static`.
    /// static ALONE: Barrier = Barrier::new(1);
    /// assert!(ALONE.wait().is_leader());
    /// ```
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            n,
            waiting: WaitList::new(0),
        }
    }

    /// Blocks the current thread until all threads have rendezvoused here: until `n` threads
    /// (this one included) have called `wait` in this round, as `std::sync::Barrier::wait`.
    ///
    /// Barriers are re-usable after all threads have rendezvoused once. A single (arbitrary)
    /// thread receives a [`BarrierWaitResult`] that returns `true` from
    /// [`BarrierWaitResult::is_leader`]; all other threads receive `false`. A green thread that
    /// waits blocks itself, not its worker.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, Barrier, Mutex};
    /// use smarm::thread;
    ///
    /// let n = 10;
    /// let barrier = Arc::new(Barrier::new(n));
    /// let arrived = Arc::new(Mutex::new(0));
    /// let handles: Vec<_> = (0..n)
    ///     .map(|_| {
    ///         let (b, arrived) = (Arc::clone(&barrier), Arc::clone(&arrived));
    ///         thread::spawn(move || {
    ///             *arrived.lock().unwrap() += 1;
    ///             b.wait();
    ///             // Nobody passes the barrier before everybody has arrived.
    ///             *arrived.lock().unwrap()
    ///         })
    ///     })
    ///     .collect();
    /// for h in handles {
    ///     assert_eq!(h.join().unwrap(), n);
    /// }
    /// ```
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
