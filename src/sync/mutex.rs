//! `Mutex` and `MutexGuard`, as std's, blocking by parking (a green thread parks, not its worker).
//!
//! The lock word is `state`: 0 unlocked, 1 locked, 2 locked and possibly contended. An
//! uncontended `lock` is one CAS and `unlock` one swap: no runtime lock, no syscall. A contended
//! locker takes the wait list's lock, marks the word contended (swap to 2: if it was 0, it now owns
//! the lock), and otherwise queues itself FIFO and parks; `unlock` that finds 2 wakes the first
//! waiter, which goes to the waker's *run next* slot. The swap and the enqueue happen under the
//! list lock and `unlock` takes the list lock to wake, so an unlock either precedes the swap (the
//! waiter sees 0) or finds the waiter queued. Woken waiters retry rather than inherit the lock
//! (barging), which keeps throughput high under contention; the queue keeps their order FIFO.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::poison;
use super::{LockResult, TryLockError, TryLockResult};
use crate::rt::park::WaitReason;
use crate::rt::waitlist::{Node, WaitList};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// The raw lock under `Mutex` (and `Condvar`'s re-locking).
pub(crate) struct RawMutex {
    state: AtomicU32,
    waiters: WaitList<()>,
}

impl RawMutex {
    pub(crate) const fn new() -> RawMutex {
        RawMutex {
            state: AtomicU32::new(UNLOCKED),
            waiters: WaitList::new(()),
        }
    }

    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[inline]
    pub(crate) fn lock(&self) {
        if !self.try_lock() {
            self.lock_contended(None);
        }
    }

    /// Locks, giving up at `deadline`. Returns whether the lock was taken.
    pub(crate) fn lock_until(&self, deadline: Instant) -> bool {
        self.try_lock() || self.lock_contended(Some(deadline))
    }

    #[cold]
    fn lock_contended(&self, deadline: Option<Instant>) -> bool {
        loop {
            let locked = self.waiters.lock();
            if self.state.swap(CONTENDED, Ordering::Acquire) == UNLOCKED {
                return true;
            }
            let mut node = Node::waiting_on(WaitReason::Lock);
            if !self.waiters.wait(locked, &mut node, deadline) {
                return false;
            }
        }
    }

    /// # Safety
    /// The caller must hold the lock.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        if self.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            self.wake_one();
        }
    }

    #[cold]
    fn wake_one(&self) {
        let woken = self.waiters.lock().notify_one();
        if let Some(w) = woken {
            w.wake();
        }
    }
}

/// A mutual-exclusion lock, as `std::sync::Mutex`, with std's poisoning.
///
/// ```
/// use smarm::sync::{Arc, Mutex};
/// use smarm::thread;
///
/// let counter = Arc::new(Mutex::new(0));
/// let hs: Vec<_> = (0..8)
///     .map(|_| {
///         let c = Arc::clone(&counter);
///         thread::spawn(move || *c.lock().unwrap() += 1)
///     })
///     .collect();
/// hs.into_iter().for_each(|h| h.join().unwrap());
/// assert_eq!(*counter.lock().unwrap(), 8);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

// SAFETY: as std's: the lock gives one thread at a time access to the `T`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as std's.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
impl<T: ?Sized> std::panic::UnwindSafe for Mutex<T> {}
impl<T: ?Sized> std::panic::RefUnwindSafe for Mutex<T> {}

/// The RAII guard of a locked [`Mutex`], as `std::sync::MutexGuard`.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized + 'a> {
    lock: &'a Mutex<T>,
    poison: poison::Guard,
    /// A guard stays with the thread that locked (std's guard is `!Send` too).
    _not_send: PhantomData<*const ()>,
}

// SAFETY: as std's: a guard may be shared between threads if `T` may.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    pub const fn new(t: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            poison: poison::Flag::new(),
            data: UnsafeCell::new(t),
        }
    }

    /// Consumes the mutex and returns the data (an `Err` carrying it if poisoned).
    pub fn into_inner(self) -> LockResult<T> {
        let poison = self.poison;
        poison.map(self.data.into_inner())
    }
}

impl<T: ?Sized> Mutex<T> {
    fn guard(&self) -> LockResult<MutexGuard<'_, T>> {
        self.poison.map(MutexGuard {
            lock: self,
            poison: self.poison.guard(),
            _not_send: PhantomData,
        })
    }

    /// Blocks until the lock is acquired. `Err` (still holding the lock) if a holder panicked.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.raw.lock();
        self.guard()
    }

    /// Acquires the lock if it is free right now.
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        if self.raw.try_lock() {
            Ok(self.guard()?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// smarm extension (not in std): [`lock`](Self::lock), giving up after `timeout` with
    /// `Err(TryLockError::WouldBlock)`.
    pub fn lock_timeout(&self, timeout: Duration) -> TryLockResult<MutexGuard<'_, T>> {
        let deadline = Instant::now().checked_add(timeout);
        let taken = match deadline {
            Some(d) => self.raw.lock_until(d),
            None => {
                self.raw.lock();
                true
            }
        };
        if taken {
            Ok(self.guard()?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Whether a thread panicked while holding the lock.
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poisoned state.
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// A mutable reference to the data; no locking needed, since `&mut self` is exclusive.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.poison.map(self.data.get_mut())
    }

    pub(crate) fn raw(&self) -> &RawMutex {
        &self.raw
    }

    /// A guard for a lock the caller has just taken through `raw()` (condvar re-locking).
    pub(crate) fn relock_guard(&self) -> LockResult<MutexGuard<'_, T>> {
        self.guard()
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.lock
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        // SAFETY: the guard holds the lock.
        unsafe { self.lock.raw.unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(t: T) -> Mutex<T> {
        Mutex::new(t)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    /// As std's: `Mutex { data: .., poisoned: false, .. }`, `"<locked>"` (quoted, unlike `RwLock`) when held.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(TryLockError::Poisoned(err)) => d.field("data", &&**err.get_ref()),
            Err(TryLockError::WouldBlock) => d.field("data", &"<locked>"),
        };
        d.field("poisoned", &self.poison.get());
        d.finish_non_exhaustive()
    }
}
