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
use crate::rt::cycles::OWNER_OFFSET;
use crate::rt::park::WaitReason;
use crate::rt::park::waitfor::{ON_MUTEX, Owner};
use crate::rt::park::waitlist::{Node, WaitList};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

/// The raw lock under `Mutex` (and `Condvar`'s re-locking). `repr(C)`: the owner word sits at
/// `cycles::OWNER_OFFSET`, right after the wait list, and `Mutex` starts with its `RawMutex`, so
/// the deadlock-cycle report can print the `Mutex`'s own address; the lock word follows it on the
/// same line, the data right after (`Mutex<u64>`: 72 bytes, 64 without the owner word).
#[repr(C)]
pub(crate) struct RawMutex {
    waiters: WaitList<()>,
    /// Which green thread holds the lock, for the deadlock-cycle check (`rt::cycles`, step 1).
    owner: Owner,
    state: AtomicU32,
}

const _: () = assert!(std::mem::offset_of!(RawMutex, owner) == OWNER_OFFSET);
const _: () = assert!(std::mem::offset_of!(Mutex<u64>, raw) == 0);

impl RawMutex {
    pub(crate) const fn new() -> RawMutex {
        RawMutex {
            waiters: WaitList::new(()),
            owner: Owner::new(),
            state: AtomicU32::new(UNLOCKED),
        }
    }

    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let taken = self
            .state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if taken {
            self.owner.set();
        }
        taken
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
                self.owner.set();
                return true;
            }
            let mut node = Node::waiting_on(WaitReason::Lock).on_lock(self.owner.record(ON_MUTEX));
            if !self.waiters.wait(locked, &mut node, deadline) {
                return false;
            }
        }
    }

    /// # Safety
    /// The caller must hold the lock.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        self.owner.clear();
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

/// A mutual exclusion primitive useful for protecting shared data, as `std::sync::Mutex`, with
/// std's poisoning.
///
/// The mutex can be created via [`new`](Self::new) (a `const fn`, so it can be a `static`), and
/// the data it protects can only be accessed through the RAII guard returned from
/// [`lock`](Self::lock) and [`try_lock`](Self::try_lock). Waiting for the lock blocks the green
/// thread, not its worker: the worker runs other green threads until the lock is released.
/// Plain OS threads (`main`, threads made with `std::thread`) may share the same mutex.
///
/// # Poisoning
///
/// As std's: a mutex is poisoned when a thread panics while holding it; from then on `lock` and
/// `try_lock` return `Err`, which still carries the guard (see [`PoisonError`]).
///
/// [`PoisonError`]: super::PoisonError
///
/// # Examples
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
// `repr(C)`: `raw` is at the mutex's address (see `RawMutex`).
#[repr(C)]
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

/// An RAII implementation of a "scoped lock" of a mutex, as `std::sync::MutexGuard`. When this
/// structure is dropped (falls out of scope), the lock is unlocked.
///
/// The data protected by the mutex can be accessed through this guard via its [`Deref`] and
/// [`DerefMut`] implementations. It is created by [`Mutex::lock`] and [`Mutex::try_lock`].
///
/// # Examples
///
/// ```
/// use smarm::sync::Mutex;
///
/// let m = Mutex::new(vec![1]);
/// {
///     let mut guard = m.lock().unwrap();
///     guard.push(2);
///     assert!(m.try_lock().is_err()); // held by `guard`
/// } // `guard` dropped: unlocked
/// assert_eq!(*m.try_lock().unwrap(), [1, 2]);
/// ```
///
/// A guard stays with the thread that locked: it is not `Send`, as std's is not.
///
/// ```compile_fail,E0277
/// use smarm::sync::Mutex;
/// use smarm::thread;
///
/// static LOCK: Mutex<i32> = Mutex::new(0);
///
/// let guard = LOCK.lock().unwrap();
/// thread::spawn(move || drop(guard)).join().unwrap();
/// ```
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
    /// Creates a new mutex in an unlocked state ready for use.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::Mutex;
    ///
    /// let mutex = Mutex::new(0);
    /// assert_eq!(*mutex.lock().unwrap(), 0);
    ///
    /// // `const`: a mutex can be a `static`.
    /// static TOTAL: Mutex<u64> = Mutex::new(0);
    /// *TOTAL.lock().unwrap() += 5;
    /// assert_eq!(*TOTAL.lock().unwrap(), 5);
    /// ```
    pub const fn new(t: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            poison: poison::Flag::new(),
            data: UnsafeCell::new(t),
        }
    }

    /// Consumes this mutex, returning the underlying data.
    ///
    /// # Errors
    ///
    /// If another thread panicked while holding the lock, the `Err` still carries the data.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::Mutex;
    ///
    /// let mutex = Mutex::new(0);
    /// assert_eq!(mutex.into_inner().unwrap(), 0);
    /// ```
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

    /// Acquires the mutex, blocking the current thread until it is able to do so, as
    /// `std::sync::Mutex::lock`.
    ///
    /// On a green thread this blocks the green thread, not the worker: waiters queue in FIFO
    /// order and park, and an unlock wakes the first. Returns an RAII guard; the lock is
    /// released when it is dropped. Locking a mutex the current thread already holds deadlocks
    /// (it never returns), as std may.
    ///
    /// # Errors
    ///
    /// If another thread panicked while holding the lock, this returns `Err` once the lock is
    /// acquired; the error still holds the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, Mutex};
    /// use smarm::thread;
    ///
    /// let mutex = Arc::new(Mutex::new(0));
    /// let c_mutex = Arc::clone(&mutex);
    ///
    /// thread::spawn(move || {
    ///     *c_mutex.lock().unwrap() = 10;
    /// })
    /// .join()
    /// .expect("thread::spawn failed");
    /// assert_eq!(*mutex.lock().unwrap(), 10);
    /// ```
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.raw.lock();
        self.guard()
    }

    /// Attempts to acquire this lock without blocking, as `std::sync::Mutex::try_lock`.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if the lock is held (by this thread or another), and
    /// [`TryLockError::Poisoned`] (holding the guard) if it was free but is poisoned.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, Mutex, TryLockError};
    /// use smarm::thread;
    ///
    /// let lock = Arc::new(Mutex::new(0));
    /// let held = lock.lock().unwrap();
    ///
    /// let c_lock = Arc::clone(&lock);
    /// let busy = thread::spawn(move || matches!(c_lock.try_lock(), Err(TryLockError::WouldBlock)));
    /// assert!(busy.join().unwrap());
    ///
    /// drop(held);
    /// *lock.try_lock().unwrap() = 10;
    /// assert_eq!(*lock.lock().unwrap(), 10);
    /// ```
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        if self.raw.try_lock() {
            Ok(self.guard()?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// smarm extension (not in std): [`lock`](Self::lock), giving up after `timeout` with
    /// `Err(TryLockError::WouldBlock)`.
    ///
    /// The wait parks the green thread (its worker runs others) until the lock is released to it
    /// or the runtime's timer fires. A `timeout` too large to represent as a deadline waits as
    /// long as `lock` does.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if the lock could not be taken within `timeout`, and
    /// [`TryLockError::Poisoned`] (holding the guard) if it was taken but is poisoned.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, Mutex, TryLockError};
    /// use smarm::thread;
    /// use std::time::Duration;
    ///
    /// let lock = Arc::new(Mutex::new(0));
    /// let held = lock.lock().unwrap();
    ///
    /// let c_lock = Arc::clone(&lock);
    /// let gave_up = thread::spawn(move || {
    ///     matches!(c_lock.lock_timeout(Duration::from_millis(2)), Err(TryLockError::WouldBlock))
    /// });
    /// // `held` is kept until the waiter has given up.
    /// assert!(gave_up.join().unwrap());
    /// drop(held);
    ///
    /// *lock.lock_timeout(Duration::from_secs(1)).unwrap() += 1;
    /// assert_eq!(*lock.lock().unwrap(), 1);
    /// ```
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

    /// Determines whether the mutex is poisoned: whether a thread panicked while holding it.
    ///
    /// If another thread is active, the mutex can still become poisoned at any time. Do not
    /// trust a `false` value for program correctness without additional synchronization.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, Mutex};
    /// use smarm::thread;
    ///
    /// let mutex = Arc::new(Mutex::new(0));
    /// let c_mutex = Arc::clone(&mutex);
    ///
    /// let _ = thread::spawn(move || {
    ///     let _lock = c_mutex.lock().unwrap();
    ///     panic!(); // the mutex gets poisoned
    /// })
    /// .join();
    /// assert!(mutex.is_poisoned());
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poisoned state from a mutex.
    ///
    /// If the mutex is poisoned, it will remain poisoned until this function is called. This
    /// allows recovering from a poisoned state and marking that it has recovered: for example,
    /// if the value is overwritten by a known-good value, then the mutex can be marked as
    /// un-poisoned.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, Mutex};
    /// use smarm::thread;
    ///
    /// let mutex = Arc::new(Mutex::new(0));
    /// let c_mutex = Arc::clone(&mutex);
    ///
    /// let _ = thread::spawn(move || {
    ///     let _lock = c_mutex.lock().unwrap();
    ///     panic!(); // the mutex gets poisoned
    /// })
    /// .join();
    ///
    /// assert!(mutex.is_poisoned());
    /// let x = mutex.lock().unwrap_or_else(|mut e| {
    ///     **e.get_mut() = 1;
    ///     mutex.clear_poison();
    ///     e.into_inner()
    /// });
    /// assert!(!mutex.is_poisoned());
    /// assert_eq!(*x, 1);
    /// ```
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// Returns a mutable reference to the underlying data.
    ///
    /// Since this call borrows the `Mutex` mutably, no actual locking needs to take place: the
    /// mutable borrow statically guarantees no locks exist.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned, the `Err` still carries the reference.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::Mutex;
    ///
    /// let mut mutex = Mutex::new(0);
    /// *mutex.get_mut().unwrap() = 10;
    /// assert_eq!(*mutex.lock().unwrap(), 10);
    /// ```
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
