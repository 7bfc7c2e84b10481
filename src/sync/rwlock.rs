//! `RwLock` and its guards, as std's, blocking by parking (a green thread parks, not its worker).
//!
//! The lock word `state` holds the number of readers in its low 30 bits (all ones: write-locked)
//! and a `QUEUED` bit set while any thread waits in the wait list.
//!
//! - **Fast paths** take no runtime lock and make no syscall: a reader CASes the count up when the
//!   lock is not write-locked *and nobody is queued*; a writer CASes 0 to write-locked. Unlocking
//!   is one `fetch_sub`.
//! - **Slow path**: a thread that cannot take the lock at once takes the wait list's lock, sets
//!   `QUEUED`, links a node tagged reader or writer and parks. From then on every change that
//!   hands the lock out happens under the list's lock, in [`RwLock`]'s `grant`: an unlock that
//!   leaves `QUEUED` set and the lock free (or, for readers at the front, not write-locked) takes
//!   the list lock and hands the lock *directly* to the front of the queue — the first writer,
//!   or every reader up to the next writer — by counting them in before waking them. A woken
//!   waiter owns the lock when it returns.
//! - Because fast-path readers refuse to join while `QUEUED` is set, a waiting writer is not
//!   starved by a stream of readers, and waiters are served in FIFO order (readers that queued
//!   together are admitted together).
//!
//! Why nothing is lost: fast paths fail once `QUEUED` is set (they CAS on a word without it), and
//! `QUEUED` is set by an atomic read-modify-write under the list lock before the waiter's node is
//! visible, so either a fast path won before (and the waiter sees its count when it re-checks under
//! the list lock, after setting the bit) or it fails and goes to the slow path. An unlocker that sees
//! `QUEUED` always runs `grant` under the list lock, which re-reads the word.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use super::poison;
use super::{LockResult, TryLockError, TryLockResult};
use crate::rt::cycles::OWNER_OFFSET;
use crate::rt::park::WaitReason;
use crate::rt::park::waitfor::{ON_RWLOCK, Owner};
use crate::rt::park::waitlist::{Locked, Node, WaitList, Wake};

const MASK: u32 = (1 << 30) - 1;
const WRITE_LOCKED: u32 = MASK;
const MAX_READERS: u32 = MASK - 1;
const QUEUED: u32 = 1 << 30;

const READER: u8 = 0;
const WRITER: u8 = 1;

/// The raw reader-writer lock under [`RwLock`]. `repr(C)`: the owner word sits at
/// `cycles::OWNER_OFFSET`, right after the wait list, and `RwLock` starts with its `RawRwLock`,
/// so the deadlock-cycle report can print the `RwLock`'s own address.
#[repr(C)]
struct RawRwLock {
    waiters: WaitList<()>,
    /// Which green thread holds the write lock, for the deadlock-cycle check (`rt::cycles`,
    /// step 1); readers are not recorded.
    owner: Owner,
    state: AtomicU32,
}

const _: () = assert!(std::mem::offset_of!(RawRwLock, owner) == OWNER_OFFSET);
const _: () = assert!(std::mem::offset_of!(RwLock<u64>, raw) == 0);

fn is_read_lockable(state: u32) -> bool {
    state & MASK < MAX_READERS && state & QUEUED == 0
}

impl RawRwLock {
    const fn new() -> RawRwLock {
        RawRwLock {
            waiters: WaitList::new(()),
            owner: Owner::new(),
            state: AtomicU32::new(0),
        }
    }

    #[inline]
    fn try_read(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while is_read_lockable(s) {
            match self
                .state
                .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
        false
    }

    #[inline]
    fn try_write(&self) -> bool {
        let taken = self
            .state
            .compare_exchange(0, WRITE_LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if taken {
            self.owner.set();
        }
        taken
    }

    #[inline]
    fn read(&self) {
        if !self.try_read() {
            self.lock_contended(READER);
        }
    }

    #[inline]
    fn write(&self) {
        if !self.try_write() {
            self.lock_contended(WRITER);
        }
    }

    #[cold]
    fn lock_contended(&self, tag: u8) {
        let locked = self.waiters.lock();
        // Set `QUEUED` first: from here on no fast path can take the lock, so what we read is
        // only changed by unlockers, and an unlock after our read sees the bit and grants.
        let mut s = self.state.fetch_or(QUEUED, Ordering::Relaxed) | QUEUED;
        if locked.is_empty() {
            // Nobody ahead of us: take the lock now if it is free for us (and drop the bit, as we
            // will not queue).
            loop {
                let new = match tag {
                    WRITER if s & MASK == 0 => s | WRITE_LOCKED,
                    READER if s & MASK < MAX_READERS => s + 1,
                    _ => break,
                };
                match self.state.compare_exchange_weak(
                    s,
                    new & !QUEUED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        if tag == WRITER {
                            self.owner.set();
                        }
                        return;
                    }
                    Err(actual) => s = actual,
                }
            }
            if s & MASK == MAX_READERS {
                self.state.fetch_and(!QUEUED, Ordering::Relaxed);
                drop(locked);
                panic!("too many active read locks on RwLock");
            }
        }
        // Queued behind others, or the lock is held against us: whoever frees it for us sees
        // `QUEUED` and grants it to us before waking us.
        let mut node = Node::waiting_on(WaitReason::Lock)
            .tagged(tag)
            .on_lock(self.owner.record(ON_RWLOCK));
        let notified = self.waiters.wait(locked, &mut node, None);
        debug_assert!(notified);
        // Granted (see `grant`): a writer notes itself now that it runs.
        if tag == WRITER {
            self.owner.set();
        }
    }

    /// Hands the lock to the front of the queue while it is free for it — the first writer, or
    /// every reader up to the next writer — and clears `QUEUED` once the queue is empty (so,
    /// under the list lock, `QUEUED` is set exactly when somebody is queued). Returns the threads
    /// to wake: they already own the lock, and are woken after the list lock is released.
    fn grant(&self, locked: &mut Locked<'_, ()>) -> Vec<Wake> {
        let mut woken = Vec::new();
        loop {
            let take: fn(u32) -> Option<u32> = match locked.front_tag() {
                None => {
                    self.state.fetch_and(!QUEUED, Ordering::Relaxed);
                    return woken;
                }
                Some(WRITER) => |s| (s & MASK == 0).then_some(s | WRITE_LOCKED),
                Some(_) => |s| (s & MASK < MAX_READERS).then_some(s + 1),
            };
            if self
                .state
                .fetch_update(Ordering::Acquire, Ordering::Relaxed, take)
                .is_err()
            {
                return woken;
            }
            woken.extend(locked.notify_one());
        }
    }

    #[cold]
    fn wake_queued(&self) {
        let woken = {
            let mut locked = self.waiters.lock();
            self.grant(&mut locked)
        };
        for w in woken {
            w.wake();
        }
    }

    /// # Safety
    /// The caller holds a read lock.
    #[inline]
    unsafe fn read_unlock(&self) {
        let s = self.state.fetch_sub(1, Ordering::Release) - 1;
        if s & QUEUED != 0 && s & MASK == 0 {
            self.wake_queued();
        }
    }

    /// # Safety
    /// The caller holds the write lock.
    #[inline]
    unsafe fn write_unlock(&self) {
        self.owner.clear();
        let s = self.state.fetch_sub(WRITE_LOCKED, Ordering::Release) - WRITE_LOCKED;
        if s & QUEUED != 0 {
            self.wake_queued();
        }
    }

    /// # Safety
    /// The caller holds the write lock; it then holds a read lock.
    unsafe fn downgrade(&self) {
        self.owner.clear();
        let s = self
            .state
            .fetch_sub(WRITE_LOCKED - 1, Ordering::Release)
            .wrapping_sub(WRITE_LOCKED - 1);
        if s & QUEUED != 0 {
            self.wake_queued();
        }
    }
}

/// A reader-writer lock, as `std::sync::RwLock`: many readers or one writer at a time, with std's
/// poisoning (a writer that panics poisons the lock; readers never do). Waiters are served in
/// FIFO order, so a waiting writer is not starved by readers.
///
/// Waiting for the lock blocks the green thread, not its worker. The type parameter `T`
/// represents the data that this lock protects; it must be [`Send`] to be shared across
/// threads and [`Sync`] to allow concurrent access through readers.
///
/// # Examples
///
/// ```
/// use smarm::sync::RwLock;
///
/// let lock = RwLock::new(5);
///
/// // many reader locks can be held at once
/// {
///     let r1 = lock.read().unwrap();
///     let r2 = lock.read().unwrap();
///     assert_eq!(*r1, 5);
///     assert_eq!(*r2, 5);
/// } // read locks are dropped at this point
///
/// // only one write lock may be held, however
/// {
///     let mut w = lock.write().unwrap();
///     *w += 1;
///     assert_eq!(*w, 6);
/// } // write lock is dropped here
/// ```
///
/// Shared between green threads:
///
/// ```
/// use smarm::sync::{Arc, RwLock};
/// use smarm::thread;
///
/// let lock = Arc::new(RwLock::new(vec![1, 2, 3]));
/// let readers: Vec<_> = (0..4)
///     .map(|_| {
///         let l = Arc::clone(&lock);
///         thread::spawn(move || l.read().unwrap().len())
///     })
///     .collect();
/// lock.write().unwrap().push(4);
/// for r in readers {
///     let n = r.join().unwrap();
///     assert!(n == 3 || n == 4);
/// }
/// assert_eq!(*lock.read().unwrap(), [1, 2, 3, 4]);
/// ```
// `repr(C)`: `raw` is at the lock's address (see `RawRwLock`).
#[repr(C)]
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

// SAFETY: as std's: moving the lock moves the `T`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as std's: readers share `&T` between threads (so `T: Sync`), a writer hands `&mut T`
// to whichever thread holds the lock (so `T: Send`).
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}
impl<T: ?Sized> UnwindSafe for RwLock<T> {}
impl<T: ?Sized> RefUnwindSafe for RwLock<T> {}

/// RAII structure used to release the shared read access of a lock when dropped, as
/// `std::sync::RwLockReadGuard`. Created by [`RwLock::read`] and [`RwLock::try_read`].
///
/// # Examples
///
/// ```
/// use smarm::sync::RwLock;
///
/// let lock = RwLock::new(String::from("shared"));
/// let a = lock.read().unwrap();
/// let b = lock.read().unwrap();
/// assert_eq!(a.len(), b.len());
/// assert!(lock.try_write().is_err()); // readers hold it
/// drop((a, b));
/// assert!(lock.try_write().is_ok());
/// ```
///
/// A read guard stays with the thread that locked: it is not `Send`, as std's is not.
///
/// ```compile_fail,E0277
/// use smarm::sync::RwLock;
/// use smarm::thread;
///
/// static LOCK: RwLock<i32> = RwLock::new(0);
///
/// let guard = LOCK.read().unwrap();
/// thread::spawn(move || drop(guard)).join().unwrap();
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
    /// The data, as a pointer rather than through `&'a RwLock<T>`: the lock's `UnsafeCell<T>`
    /// would make the guard invariant in `T`, where std's read guard is covariant (a
    /// `RwLockReadGuard<'static, &'static str>` is a `RwLockReadGuard<'a, &'a str>`). Sound
    /// because a read guard only ever hands out `&T`.
    data: NonNull<T>,
    /// The lock word, which is all a read guard needs to unlock (no `T` in its type).
    raw: &'a RawRwLock,
    /// A guard stays with the thread that locked (std's guard is `!Send` too); and, as std's
    /// (which holds a pointer to the data), it is unwind-safe only when `T` is `RefUnwindSafe`.
    /// `&'a T` also keeps the guard covariant in `T` and ties the data's lifetime to `'a`.
    _not_send: PhantomData<(*const (), &'a T)>,
}

// SAFETY: as std's: sharing the guard shares `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

/// RAII structure used to release the exclusive write access of a lock when dropped, as
/// `std::sync::RwLockWriteGuard`. Created by [`RwLock::write`] and [`RwLock::try_write`].
///
/// # Examples
///
/// ```
/// use smarm::sync::RwLock;
///
/// let lock = RwLock::new(vec![1]);
/// {
///     let mut w = lock.write().unwrap();
///     w.push(2);
///     assert!(lock.try_read().is_err()); // the writer holds it
/// }
/// assert_eq!(*lock.read().unwrap(), [1, 2]);
/// ```
///
/// A write guard stays with the thread that locked: it is not `Send`, as std's is not.
///
/// ```compile_fail,E0277
/// use smarm::sync::RwLock;
/// use smarm::thread;
///
/// static LOCK: RwLock<i32> = RwLock::new(0);
///
/// let guard = LOCK.write().unwrap();
/// thread::spawn(move || drop(guard)).join().unwrap();
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    poison: poison::Guard,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: as std's: sharing the guard shares `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> RwLock<T> {
    /// Creates a new instance of an `RwLock<T>` which is unlocked.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::RwLock;
    ///
    /// let lock = RwLock::new(5);
    /// assert_eq!(*lock.read().unwrap(), 5);
    ///
    /// // `const`: a lock can be a `static`.
    /// static NAMES: RwLock<Vec<&str>> = RwLock::new(Vec::new());
    /// NAMES.write().unwrap().push("smarm");
    /// assert_eq!(NAMES.read().unwrap().len(), 1);
    /// ```
    pub const fn new(t: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            poison: poison::Flag::new(),
            data: UnsafeCell::new(t),
        }
    }

    /// Consumes this `RwLock`, returning the underlying data.
    ///
    /// # Errors
    ///
    /// If a writer panicked while holding the lock, the `Err` still carries the data.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::RwLock;
    ///
    /// let lock = RwLock::new(String::new());
    /// lock.write().unwrap().push_str("hello");
    /// assert_eq!(lock.into_inner().unwrap(), "hello");
    /// ```
    pub fn into_inner(self) -> LockResult<T> {
        let poison = self.poison;
        poison.map(self.data.into_inner())
    }
}

impl<T: ?Sized> RwLock<T> {
    fn read_guard(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        self.poison.map(RwLockReadGuard {
            // SAFETY: `UnsafeCell::get` never returns null.
            data: unsafe { NonNull::new_unchecked(self.data.get()) },
            raw: &self.raw,
            _not_send: PhantomData,
        })
    }

    fn write_guard(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        self.poison.map(RwLockWriteGuard {
            lock: self,
            poison: self.poison.guard(),
            _not_send: PhantomData,
        })
    }

    /// Locks this `RwLock` with shared read access, blocking the current thread until it can be
    /// acquired, as `std::sync::RwLock::read`.
    ///
    /// Other readers may hold the lock at the same time; a writer may not. A reader that arrives
    /// while a writer is queued waits behind it. On a green thread the wait blocks the green
    /// thread, not the worker. Returns an RAII guard which releases this thread's shared access
    /// once it is dropped.
    ///
    /// # Errors
    ///
    /// If a writer panicked while holding the lock, this returns `Err` once the lock is
    /// acquired; the error still holds the guard.
    ///
    /// # Panics
    ///
    /// If the number of readers would overflow (about 2³⁰), as std does.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, RwLock};
    /// use smarm::thread;
    ///
    /// let lock = Arc::new(RwLock::new(1));
    /// let c_lock = Arc::clone(&lock);
    ///
    /// let n = lock.read().unwrap();
    /// assert_eq!(*n, 1);
    ///
    /// // Another reader gets in while we hold ours.
    /// let r = thread::spawn(move || *c_lock.read().unwrap());
    /// assert_eq!(r.join().unwrap(), 1);
    /// ```
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        self.raw.read();
        self.read_guard()
    }

    /// Attempts to acquire this `RwLock` with shared read access without blocking.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if a writer holds the lock or threads are queued for it (a
    /// reader does not overtake a waiting writer), and
    /// [`TryLockError::Poisoned`] (holding the guard) if it was taken but is poisoned.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{RwLock, TryLockError};
    ///
    /// let lock = RwLock::new(1);
    /// assert_eq!(*lock.try_read().unwrap(), 1);
    ///
    /// let w = lock.write().unwrap();
    /// assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
    /// drop(w);
    /// ```
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        if self.raw.try_read() {
            Ok(self.read_guard()?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Locks this `RwLock` with exclusive write access, blocking the current thread until it can
    /// be acquired, as `std::sync::RwLock::write`.
    ///
    /// Waits while readers or another writer hold the lock; on a green thread the wait blocks the
    /// green thread, not the worker. Returns an RAII guard which drops the write access when
    /// dropped.
    ///
    /// # Errors
    ///
    /// If a writer panicked while holding the lock, this returns `Err` once the lock is
    /// acquired; the error still holds the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, RwLock};
    /// use smarm::thread;
    ///
    /// let lock = Arc::new(RwLock::new(1));
    /// let c_lock = Arc::clone(&lock);
    ///
    /// thread::spawn(move || *c_lock.write().unwrap() += 1).join().unwrap();
    /// let mut n = lock.write().unwrap();
    /// *n *= 10;
    /// assert_eq!(*n, 20);
    /// assert!(lock.try_read().is_err());
    /// ```
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        self.raw.write();
        self.write_guard()
    }

    /// Attempts to lock this `RwLock` with exclusive write access without blocking.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if any reader or writer holds the lock, and
    /// [`TryLockError::Poisoned`] (holding the guard) if it was taken but is poisoned.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{RwLock, TryLockError};
    ///
    /// let lock = RwLock::new(1);
    ///
    /// let n = lock.read().unwrap();
    /// assert_eq!(*n, 1);
    /// assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
    ///
    /// drop(n);
    /// *lock.try_write().unwrap() = 2;
    /// assert_eq!(*lock.read().unwrap(), 2);
    /// ```
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        if self.raw.try_write() {
            Ok(self.write_guard()?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Determines whether the lock is poisoned: whether a writer panicked while holding it.
    ///
    /// If another thread is active, the lock can still become poisoned at any time. Do not trust
    /// a `false` value for program correctness without additional synchronization.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, RwLock};
    /// use smarm::thread;
    ///
    /// let lock = Arc::new(RwLock::new(0));
    /// let c_lock = Arc::clone(&lock);
    ///
    /// let _ = thread::spawn(move || {
    ///     let _lock = c_lock.write().unwrap();
    ///     panic!(); // the lock gets poisoned
    /// })
    /// .join();
    /// assert!(lock.is_poisoned());
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poisoned state from a lock.
    ///
    /// If the lock is poisoned, it will remain poisoned until this function is called. This
    /// allows recovering from a poisoned state and marking that it has recovered: for example,
    /// if the value is overwritten by a known-good value, then the lock can be marked as
    /// un-poisoned.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{Arc, RwLock};
    /// use smarm::thread;
    ///
    /// let lock = Arc::new(RwLock::new(0));
    /// let c_lock = Arc::clone(&lock);
    ///
    /// let _ = thread::spawn(move || {
    ///     let _lock = c_lock.write().unwrap();
    ///     panic!(); // the lock gets poisoned
    /// })
    /// .join();
    ///
    /// assert!(lock.is_poisoned());
    /// let guard = lock.write().unwrap_or_else(|mut e| {
    ///     **e.get_mut() = 1;
    ///     lock.clear_poison();
    ///     e.into_inner()
    /// });
    /// assert!(!lock.is_poisoned());
    /// assert_eq!(*guard, 1);
    /// ```
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// Returns a mutable reference to the underlying data.
    ///
    /// Since this call borrows the `RwLock` mutably, no actual locking needs to take place: the
    /// mutable borrow statically guarantees no locks exist.
    ///
    /// # Errors
    ///
    /// If the lock is poisoned, the `Err` still carries the reference.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::RwLock;
    ///
    /// let mut lock = RwLock::new(0);
    /// *lock.get_mut().unwrap() = 10;
    /// assert_eq!(*lock.read().unwrap(), 10);
    /// ```
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.poison.map(self.data.get_mut())
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns the write lock into a read lock without letting a writer in between, as std's
    /// `RwLockWriteGuard::downgrade`; readers queued at the front are let in with it.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::{RwLock, RwLockWriteGuard};
    ///
    /// let lock = RwLock::new(1);
    /// let mut w = lock.write().unwrap();
    /// *w = 2;
    /// let r = RwLockWriteGuard::downgrade(w);
    /// assert_eq!(*r, 2);
    /// assert!(lock.try_write().is_err());
    /// assert_eq!(*lock.try_read().unwrap(), 2);
    /// ```
    pub fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
        let lock = s.lock;
        std::mem::forget(s);
        // SAFETY: we held the write lock through `s`, forgotten just above so it does not unlock;
        // the read lock it becomes is owned by the guard made below.
        unsafe { lock.raw.downgrade() };
        RwLockReadGuard {
            // SAFETY: `UnsafeCell::get` never returns null.
            data: unsafe { NonNull::new_unchecked(lock.data.get()) },
            raw: &lock.raw,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `data` points into the lock the guard holds a read lock on (alive for 'a): no
        // writer exists.
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the write lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the write lock: nobody else reads or writes.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard holds a read lock.
        unsafe { self.raw.read_unlock() };
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        // SAFETY: the guard holds the write lock.
        unsafe { self.lock.raw.write_unlock() };
    }
}

macro_rules! guard_fmt {
    ($guard:ident) => {
        impl<T: ?Sized + fmt::Debug> fmt::Debug for $guard<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }

        impl<T: ?Sized + fmt::Display> fmt::Display for $guard<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                (**self).fmt(f)
            }
        }
    };
}
guard_fmt!(RwLockReadGuard);
guard_fmt!(RwLockWriteGuard);

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(t: T) -> RwLock<T> {
        RwLock::new(t)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    /// As std's: `RwLock { data: .., poisoned: false, .. }`, `<locked>` while write-locked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(TryLockError::Poisoned(err)) => d.field("data", &&**err.get_ref()),
            Err(TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.poison.get());
        d.finish_non_exhaustive()
    }
}
