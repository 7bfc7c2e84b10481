//! `Condvar`, as std's, over the runtime's wait list: a waiter queues itself *before* it releases
//! the mutex, so a notify that follows the unlock always finds it (no lost wake-ups); notified
//! waiters re-take the mutex in FIFO order of their wake-ups.

use std::fmt;
use std::time::{Duration, Instant};

use super::{LockResult, MutexGuard, PoisonError};
use crate::rt::park::WaitReason;
use crate::rt::waitlist::{Node, WaitList};

/// Whether a timed condvar wait timed out, as `std::sync::WaitTimeoutResult`.
#[derive(Debug, PartialEq, Eq, Copy, Clone)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// `true` if the wait ended because its time ran out.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable, as `std::sync::Condvar`; works with `smarm::sync::MutexGuard`.
///
/// ```
/// use smarm::sync::{Arc, Condvar, Mutex};
/// use smarm::thread;
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p2 = Arc::clone(&pair);
/// thread::spawn(move || {
///     *p2.0.lock().unwrap() = true;
///     p2.1.notify_one();
/// });
/// let (lock, cvar) = &*pair;
/// let _started = cvar.wait_while(lock.lock().unwrap(), |started| !*started).unwrap();
/// ```
pub struct Condvar {
    waiters: WaitList<()>,
}

impl Condvar {
    /// A new condition variable.
    pub const fn new() -> Condvar {
        Condvar {
            waiters: WaitList::new(()),
        }
    }

    /// Blocks until notified (spurious wake-ups are possible, as with std), releasing the lock
    /// while it waits and re-taking it before returning.
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        self.wait_until(guard, None).0
    }

    /// Waits while `condition` holds.
    pub fn wait_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Waits until notified or `dur` has passed.
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (r, timed_out) = self.wait_until(guard, Instant::now().checked_add(dur));
        match r {
            Ok(g) => Ok((g, WaitTimeoutResult(timed_out))),
            Err(e) => Err(PoisonError::new((
                e.into_inner(),
                WaitTimeoutResult(timed_out),
            ))),
        }
    }

    /// Waits while `condition` holds, for at most `dur` in all.
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let start = Instant::now();
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            let Some(left) = dur.checked_sub(start.elapsed()) else {
                return Ok((guard, WaitTimeoutResult(true)));
            };
            guard = match self.wait_timeout(guard, left) {
                Ok((g, _)) => g,
                Err(e) => {
                    return Err(PoisonError::new((
                        e.into_inner().0,
                        WaitTimeoutResult(true),
                    )));
                }
            };
        }
    }

    /// Wakes one waiting thread.
    pub fn notify_one(&self) {
        let woken = self.waiters.lock().notify_one();
        if let Some(w) = woken {
            w.wake();
        }
    }

    /// Wakes every waiting thread.
    pub fn notify_all(&self) {
        let woken = self.waiters.lock().notify_all();
        for w in woken {
            w.wake();
        }
    }

    /// Returns the re-locked guard (poisoned as the mutex is) and whether the wait timed out.
    fn wait_until<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (LockResult<MutexGuard<'a, T>>, bool) {
        let mutex = guard.mutex();
        let mut node = Node::waiting_on(WaitReason::Condvar);
        let locked = self.waiters.lock();
        // Queued first, then unlocked: a notify after our unlock finds us.
        std::mem::forget(guard);
        // SAFETY: we held the lock through `guard`, forgotten just above so it will not unlock
        // twice; the lock is re-taken below before a guard exists again.
        unsafe { mutex.raw().unlock() };
        let notified = self.waiters.wait(locked, &mut node, deadline);
        mutex.raw().lock();
        (mutex.relock_guard(), !notified)
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
