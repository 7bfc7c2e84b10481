//! `Condvar`, as std's, over the runtime's wait list: a waiter queues itself *before* it releases
//! the mutex, so a notify that follows the unlock always finds it (no lost wake-ups); notified
//! waiters re-take the mutex in FIFO order of their wake-ups.

use std::fmt;
use std::time::{Duration, Instant};

use super::{LockResult, MutexGuard, PoisonError};
use crate::rt::park::WaitReason;
use crate::rt::park::waitlist::{Node, WaitList};

/// A type indicating whether a timed wait on a condition variable returned due to a time out or
/// not, as `std::sync::WaitTimeoutResult`. Returned by [`Condvar::wait_timeout`] and
/// [`Condvar::wait_timeout_while`].
///
/// # Examples
///
/// ```
/// use smarm::sync::{Condvar, Mutex};
/// use std::time::Duration;
///
/// let lock = Mutex::new(());
/// let cvar = Condvar::new();
/// // Nobody notifies, and the condition never turns false: the wait ends by timing out.
/// let (_guard, result) = cvar
///     .wait_timeout_while(lock.lock().unwrap(), Duration::from_millis(1), |_| true)
///     .unwrap();
/// assert!(result.timed_out());
/// ```
#[derive(Debug, PartialEq, Eq, Copy, Clone)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Returns `true` if the wait was known to have timed out.
    ///
    /// # Examples
    ///
    /// This example spawns a thread which will sleep 2 milliseconds before updating a boolean
    /// value and then notifying the condvar. The main thread waits with a 10 second timeout on
    /// the condvar and will leave the loop upon timeout.
    ///
    /// ```
    /// use smarm::sync::{Arc, Condvar, Mutex};
    /// use smarm::thread;
    /// use std::time::Duration;
    ///
    /// let pair = Arc::new((Mutex::new(false), Condvar::new()));
    /// let pair2 = Arc::clone(&pair);
    ///
    /// thread::spawn(move || {
    ///     let (lock, cvar) = &*pair2;
    ///     // Let's wait 2 milliseconds before notifying the condvar.
    ///     thread::sleep(Duration::from_millis(2));
    ///     let mut started = lock.lock().unwrap();
    ///     *started = true;
    ///     // We notify the condvar that the value has changed.
    ///     cvar.notify_one();
    /// });
    ///
    /// // Wait for the thread to start up.
    /// let (lock, cvar) = &*pair;
    /// let mut started = lock.lock().unwrap();
    /// loop {
    ///     // Let's put a timeout on the condvar's wait.
    ///     let result = cvar.wait_timeout(started, Duration::from_secs(10)).unwrap();
    ///     started = result.0;
    ///     if *started {
    ///         // We received the notification and the value has been updated, we can leave.
    ///         break;
    ///     }
    ///     assert!(!result.1.timed_out(), "no notification in 10 s");
    /// }
    /// ```
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable, as `std::sync::Condvar`; works with `smarm::sync::MutexGuard`.
///
/// Condition variables represent the ability to block a thread such that it consumes no CPU
/// time while waiting for an event to occur. A green thread that waits parks: it blocks the
/// green thread, not the worker, which runs other green threads meanwhile. Each condvar should
/// be used with one mutex at a time; as with std, waits may wake spuriously, so wait in a loop
/// on a predicate (or use [`wait_while`](Self::wait_while)).
///
/// # Examples
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
/// let started = cvar.wait_while(lock.lock().unwrap(), |started| !*started).unwrap();
/// assert!(*started);
/// ```
pub struct Condvar {
    waiters: WaitList<()>,
}

impl Condvar {
    /// Creates a new condition variable which is ready to be waited on and notified.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::Condvar;
    ///
    /// let condvar = Condvar::new();
    /// condvar.notify_one(); // nobody waits: nothing happens
    ///
    /// // `const`: a condvar can be a `static`.
    /// static READY: Condvar = Condvar::new();
    /// READY.notify_all();
    /// ```
    pub const fn new() -> Condvar {
        Condvar {
            waiters: WaitList::new(()),
        }
    }

    /// Blocks the current thread until this condition variable receives a notification, as
    /// `std::sync::Condvar::wait`.
    ///
    /// Atomically unlocks the mutex of `guard` and waits: a notification sent after the unlock is
    /// never missed. The mutex is locked again before this returns. On a green thread the wait
    /// blocks the green thread, not the worker. Spurious wake-ups are possible, as with std:
    /// check your condition in a loop.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when it is re-acquired, the `Err` still holds the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, Condvar, Mutex};
    /// use smarm::thread;
    ///
    /// let pair = Arc::new((Mutex::new(false), Condvar::new()));
    /// let pair2 = Arc::clone(&pair);
    ///
    /// thread::spawn(move || {
    ///     let (lock, cvar) = &*pair2;
    ///     let mut started = lock.lock().unwrap();
    ///     *started = true;
    ///     // We notify the condvar that the value has changed.
    ///     cvar.notify_one();
    /// });
    ///
    /// // Wait for the thread to start up.
    /// let (lock, cvar) = &*pair;
    /// let mut started = lock.lock().unwrap();
    /// // As long as the value inside the `Mutex<bool>` is `false`, we wait.
    /// while !*started {
    ///     started = cvar.wait(started).unwrap();
    /// }
    /// assert!(*started);
    /// ```
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        self.wait_until(guard, None).0
    }

    /// Blocks the current thread until `condition` returns `false`, as
    /// `std::sync::Condvar::wait_while`.
    ///
    /// `condition` is checked with the mutex locked, first before any wait and then after each
    /// wake-up, so spurious wake-ups are taken care of. Returns the guard, with the mutex locked
    /// and `condition` false.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when it is re-acquired, the `Err` still holds the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, Condvar, Mutex};
    /// use smarm::thread;
    ///
    /// let pair = Arc::new((Mutex::new(true), Condvar::new()));
    /// let pair2 = Arc::clone(&pair);
    ///
    /// thread::spawn(move || {
    ///     let (lock, cvar) = &*pair2;
    ///     let mut pending = lock.lock().unwrap();
    ///     *pending = false;
    ///     // We notify the condvar that the value has changed.
    ///     cvar.notify_one();
    /// });
    ///
    /// // Wait for the thread to start up.
    /// let (lock, cvar) = &*pair;
    /// // As long as the value inside the `Mutex<bool>` is `true`, we wait.
    /// let pending = cvar.wait_while(lock.lock().unwrap(), |pending| *pending).unwrap();
    /// assert!(!*pending);
    /// ```
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

    /// Waits on this condition variable for a notification, timing out after `dur`, as
    /// `std::sync::Condvar::wait_timeout`.
    ///
    /// As [`wait`](Self::wait), plus a deadline kept by the runtime's timer. The returned
    /// [`WaitTimeoutResult`] says whether the time ran out; as with std, a wait may also end
    /// spuriously, so loop on your condition and keep your own deadline (or use
    /// [`wait_timeout_while`](Self::wait_timeout_while)).
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when it is re-acquired, the `Err` still holds the guard and the
    /// result.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, Condvar, Mutex};
    /// use smarm::thread;
    /// use std::time::Duration;
    ///
    /// let pair = Arc::new((Mutex::new(false), Condvar::new()));
    /// let pair2 = Arc::clone(&pair);
    ///
    /// thread::spawn(move || {
    ///     let (lock, cvar) = &*pair2;
    ///     *lock.lock().unwrap() = true;
    ///     cvar.notify_one();
    /// });
    ///
    /// // Wait for the thread to start up, a millisecond at a time.
    /// let (lock, cvar) = &*pair;
    /// let mut started = lock.lock().unwrap();
    /// while !*started {
    ///     started = cvar.wait_timeout(started, Duration::from_millis(1)).unwrap().0;
    /// }
    /// assert!(*started);
    /// ```
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

    /// Waits on this condition variable while `condition` holds, for at most `dur` in all, as
    /// `std::sync::Condvar::wait_timeout_while`.
    ///
    /// Spurious wake-ups are taken care of, and the time spent waiting is counted across them.
    /// The [`WaitTimeoutResult`] is `timed_out()` exactly when this returns with `condition`
    /// still true.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when it is re-acquired, the `Err` still holds the guard and the
    /// result.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, Condvar, Mutex};
    /// use smarm::thread;
    /// use std::time::Duration;
    ///
    /// let pair = Arc::new((Mutex::new(true), Condvar::new()));
    /// let pair2 = Arc::clone(&pair);
    ///
    /// thread::spawn(move || {
    ///     let (lock, cvar) = &*pair2;
    ///     *lock.lock().unwrap() = false;
    ///     cvar.notify_one();
    /// });
    ///
    /// // Wait for the thread to start up, for at most 10 seconds.
    /// let (lock, cvar) = &*pair;
    /// let (pending, result) = cvar
    ///     .wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(10), |&mut pending| pending)
    ///     .unwrap();
    /// assert!(!result.timed_out());
    /// assert!(!*pending);
    /// ```
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

    /// Wakes up one blocked thread on this condvar, as `std::sync::Condvar::notify_one`.
    ///
    /// Waiters are woken in the order they started waiting. A notification with nobody waiting
    /// is not remembered: waiters should check a condition under the mutex, as below. A woken
    /// green thread is put on a run queue; it then re-takes the mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, Condvar, Mutex};
    /// use smarm::thread;
    ///
    /// let pair = Arc::new((Mutex::new(0), Condvar::new()));
    /// let pair2 = Arc::clone(&pair);
    ///
    /// let waiter = thread::spawn(move || {
    ///     let (lock, cvar) = &*pair2;
    ///     let value = cvar.wait_while(lock.lock().unwrap(), |v| *v == 0).unwrap();
    ///     *value
    /// });
    ///
    /// let (lock, cvar) = &*pair;
    /// *lock.lock().unwrap() = 7;
    /// // We notify the condvar that the value has changed.
    /// cvar.notify_one();
    /// assert_eq!(waiter.join().unwrap(), 7);
    /// ```
    pub fn notify_one(&self) {
        let woken = self.waiters.lock().notify_one();
        if let Some(w) = woken {
            w.wake();
        }
    }

    /// Wakes up all blocked threads on this condvar, as `std::sync::Condvar::notify_all`.
    ///
    /// Each woken thread re-takes the mutex in turn before its wait returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, Condvar, Mutex};
    /// use smarm::thread;
    ///
    /// let pair = Arc::new((Mutex::new(false), Condvar::new()));
    /// let waiters: Vec<_> = (0..4)
    ///     .map(|i| {
    ///         let pair = Arc::clone(&pair);
    ///         thread::spawn(move || {
    ///             let (lock, cvar) = &*pair;
    ///             let _go = cvar.wait_while(lock.lock().unwrap(), |go| !*go).unwrap();
    ///             i
    ///         })
    ///     })
    ///     .collect();
    ///
    /// let (lock, cvar) = &*pair;
    /// *lock.lock().unwrap() = true;
    /// // We notify the condvar that the value has changed.
    /// cvar.notify_all();
    /// let sum: i32 = waiters.into_iter().map(|h| h.join().unwrap()).sum();
    /// assert_eq!(sum, 6);
    /// ```
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
