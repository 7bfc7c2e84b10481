//! `Once` and `OnceState`, as std's: one thread runs the initialiser, the others park until it
//! is done (a green thread parks, not its worker).
//!
//! The state word holds INCOMPLETE, POISONED, RUNNING or COMPLETE plus a `QUEUED` bit. A waiter
//! sets `QUEUED` (by CAS, under the wait list's lock, only while the state still says "not
//! complete") and parks; whoever ends a run swaps the final state in and, if the old word had
//! `QUEUED`, wakes every waiter under the list lock. The CAS and the swap are on the same word, so
//! either the waiter's bit is in the word the runner swaps out (and the runner finds the waiter's
//! node, linked before the list lock was released), or the waiter's CAS fails and it re-reads the
//! final state: no waiter sleeps through the end of a run.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::rt::park::WaitReason;
use crate::rt::park::waitlist::{Node, WaitList};

const INCOMPLETE: u32 = 0;
const POISONED: u32 = 1;
const RUNNING: u32 = 2;
const COMPLETE: u32 = 3;
const STATE: u32 = 3;
const QUEUED: u32 = 4;

/// A synchronization primitive which can be used to run a one-time global initialisation, as
/// `std::sync::Once`. Useful for one-time initialisation for FFI or related functionality.
///
/// One thread runs the initialiser; the others that call meanwhile park until it is done (a
/// green thread blocks, not its worker). For a value, [`OnceLock`](super::OnceLock) and
/// [`LazyLock`](super::LazyLock) are usually what you want.
///
/// # Examples
///
/// ```
/// use smarm::sync::Once;
///
/// static INIT: Once = Once::new();
/// static mut VALUE: u32 = 0;
/// let hs: Vec<_> = (0..8)
///     .map(|_| {
///         smarm::thread::spawn(|| {
///             // SAFETY: written once under `INIT`, read after `call_once` returned.
///             INIT.call_once(|| unsafe { VALUE = 42 });
///             unsafe { VALUE }
///         })
///     })
///     .collect();
/// assert!(hs.into_iter().all(|h| h.join().unwrap() == 42));
/// assert!(INIT.is_completed());
/// ```
pub struct Once {
    state: AtomicU32,
    waiters: WaitList<()>,
}

/// State yielded to [`Once::call_once_force`]'s closure parameter, as `std::sync::OnceState`.
/// The state can be used to query the poison status of the [`Once`].
///
/// # Examples
///
/// ```
/// use smarm::sync::Once;
///
/// let once = Once::new();
/// once.call_once_force(|state| assert!(!state.is_poisoned()));
/// assert!(once.is_completed());
/// ```
pub struct OnceState {
    poisoned: bool,
    /// std's carries a `Cell`: `Send` but neither `Sync` nor `RefUnwindSafe`; so is ours.
    _not_sync: std::marker::PhantomData<std::cell::Cell<()>>,
}

impl OnceState {
    /// Returns `true` if the associated [`Once`] was poisoned prior to the invocation of the
    /// closure passed to [`Once::call_once_force`]: if an earlier initialiser panicked.
    ///
    /// # Examples
    ///
    /// A poisoned `Once`:
    ///
    /// ```
    /// use smarm::sync::Once;
    /// use smarm::thread;
    ///
    /// static INIT: Once = Once::new();
    ///
    /// // poison the once
    /// let handle = thread::spawn(|| {
    ///     INIT.call_once(|| panic!());
    /// });
    /// assert!(handle.join().is_err());
    ///
    /// INIT.call_once_force(|state| {
    ///     assert!(state.is_poisoned());
    /// });
    /// ```
    ///
    /// An unpoisoned `Once`:
    ///
    /// ```
    /// use smarm::sync::Once;
    ///
    /// static INIT: Once = Once::new();
    ///
    /// INIT.call_once_force(|state| {
    ///     assert!(!state.is_poisoned());
    /// });
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}

/// Ends a run: publishes the final state and wakes the waiters, also when the closure unwinds.
struct Completion<'a> {
    once: &'a Once,
    set_to: u32,
}

impl Drop for Completion<'_> {
    fn drop(&mut self) {
        let prev = self.once.state.swap(self.set_to, Ordering::AcqRel);
        if prev & QUEUED != 0 {
            let woken = self.once.waiters.lock().notify_all();
            for w in woken {
                w.wake();
            }
        }
    }
}

impl Once {
    /// Creates a new `Once` value, not yet run. A `const fn`, for use in a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::Once;
    ///
    /// static START: Once = Once::new();
    /// assert!(!START.is_completed());
    /// ```
    #[allow(clippy::new_without_default)] // std's `Once` has no `Default` either
    pub const fn new() -> Once {
        Once {
            state: AtomicU32::new(INCOMPLETE),
            waiters: WaitList::new(()),
        }
    }

    /// Runs `f` if no initialiser has completed yet; otherwise (or once the one running now
    /// completes) returns at once. Every effect of the completed initialiser is visible after.
    ///
    /// Performs an initialisation routine once and only once, as `std::sync::Once::call_once`.
    /// Threads that call while another runs the routine park until it is done (a green thread
    /// blocks, not its worker).
    ///
    /// # Panics
    ///
    /// If an earlier initialiser panicked (the `Once` is poisoned), with std's message; a panic
    /// in `f` poisons the `Once` and propagates.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::Once;
    /// use smarm::sync::atomic::{AtomicUsize, Ordering};
    /// use smarm::thread;
    ///
    /// static INIT: Once = Once::new();
    /// static RUNS: AtomicUsize = AtomicUsize::new(0);
    ///
    /// let hs: Vec<_> = (0..8)
    ///     .map(|_| {
    ///         thread::spawn(|| {
    ///             INIT.call_once(|| {
    ///                 RUNS.fetch_add(1, Ordering::Relaxed);
    ///             })
    ///         })
    ///     })
    ///     .collect();
    /// hs.into_iter().for_each(|h| h.join().unwrap());
    /// assert_eq!(RUNS.load(Ordering::Relaxed), 1);
    /// ```
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.is_completed() {
            return;
        }
        let mut f = Some(f);
        self.call(false, &mut |_| {
            (f.take().expect("the initialiser runs once"))()
        });
    }

    /// Performs the same function as [`call_once`](Self::call_once) except ignores poisoning,
    /// as `std::sync::Once::call_once_force`: it also runs on a poisoned `Once`, and the closure
    /// is told (through [`OnceState`]) whether it was poisoned.
    ///
    /// If the closure panics, the `Once` stays poisoned; if it returns, the `Once` is complete.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::Once;
    /// use smarm::thread;
    ///
    /// static INIT: Once = Once::new();
    ///
    /// // poison the once
    /// let handle = thread::spawn(|| {
    ///     INIT.call_once(|| panic!());
    /// });
    /// assert!(handle.join().is_err());
    ///
    /// // poisoning propagates
    /// let handle = thread::spawn(|| {
    ///     INIT.call_once(|| {});
    /// });
    /// assert!(handle.join().is_err());
    ///
    /// // call_once_force will still run and reset the poisoned state
    /// INIT.call_once_force(|state| {
    ///     assert!(state.is_poisoned());
    /// });
    ///
    /// // once any success happens, we stop propagating the poison
    /// INIT.call_once(|| {});
    /// assert!(INIT.is_completed());
    /// ```
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        if self.is_completed() {
            return;
        }
        let mut f = Some(f);
        self.call(true, &mut |s| {
            (f.take().expect("the initialiser runs once"))(s)
        });
    }

    /// Returns `true` if some [`call_once`](Self::call_once) call has completed successfully
    /// (without panicking).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::Once;
    /// use smarm::thread;
    ///
    /// static INIT: Once = Once::new();
    ///
    /// assert!(!INIT.is_completed());
    /// let handle = thread::spawn(|| {
    ///     INIT.call_once(|| panic!());
    /// });
    /// assert!(handle.join().is_err());
    /// assert!(!INIT.is_completed()); // poisoned, not completed
    ///
    /// INIT.call_once_force(|_| {});
    /// assert!(INIT.is_completed());
    /// ```
    #[inline]
    pub fn is_completed(&self) -> bool {
        self.state.load(Ordering::Acquire) & STATE == COMPLETE
    }

    /// Blocks the current thread until initialisation has completed, as
    /// `std::sync::Once::wait`; does not run anything itself. A green thread parks (its worker
    /// runs others, the initialiser perhaps).
    ///
    /// # Panics
    ///
    /// If the `Once` is poisoned, as std does.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::Once;
    /// use smarm::thread;
    ///
    /// static READY: Once = Once::new();
    ///
    /// let waiter = thread::spawn(|| {
    ///     READY.wait();
    ///     READY.is_completed()
    /// });
    /// READY.call_once(|| {});
    /// assert!(waiter.join().unwrap());
    /// ```
    pub fn wait(&self) {
        self.wait_complete(false);
    }

    /// Blocks the current thread until initialisation has completed, ignoring poisoning, as
    /// `std::sync::Once::wait_force`: a poisoned `Once` is waited on until a
    /// [`call_once_force`](Self::call_once_force) completes it.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::Once;
    /// use smarm::thread;
    ///
    /// static INIT: Once = Once::new();
    ///
    /// // poison the once
    /// assert!(thread::spawn(|| INIT.call_once(|| panic!())).join().is_err());
    ///
    /// let waiter = thread::spawn(|| INIT.wait_force());
    /// INIT.call_once_force(|state| assert!(state.is_poisoned()));
    /// waiter.join().unwrap();
    /// assert!(INIT.is_completed());
    /// ```
    pub fn wait_force(&self) {
        self.wait_complete(true);
    }

    #[cold]
    #[track_caller]
    fn call(&self, ignore_poison: bool, f: &mut dyn FnMut(&OnceState)) {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            match s & STATE {
                COMPLETE => return,
                POISONED if !ignore_poison => panic!("Once instance has previously been poisoned"),
                INCOMPLETE | POISONED => {
                    let run = (s & QUEUED) | RUNNING;
                    if let Err(actual) = self.state.compare_exchange_weak(
                        s,
                        run,
                        Ordering::Acquire,
                        Ordering::Acquire,
                    ) {
                        s = actual;
                        continue;
                    }
                    let mut done = Completion {
                        once: self,
                        set_to: POISONED,
                    };
                    f(&OnceState {
                        poisoned: s & STATE == POISONED,
                        _not_sync: std::marker::PhantomData,
                    });
                    done.set_to = COMPLETE;
                    return;
                }
                _ => s = self.park_until_changed(s),
            }
        }
    }

    fn wait_complete(&self, ignore_poison: bool) {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            match s & STATE {
                COMPLETE => return,
                POISONED if !ignore_poison => panic!("Once instance has previously been poisoned"),
                _ => s = self.park_until_changed(s),
            }
        }
    }

    /// Parks until the state is no longer `seen` (not complete), returning the new word.
    #[cold]
    fn park_until_changed(&self, seen: u32) -> u32 {
        let locked = self.waiters.lock();
        let queued = seen | QUEUED;
        if seen & QUEUED == 0
            && let Err(actual) =
                self.state
                    .compare_exchange(seen, queued, Ordering::Acquire, Ordering::Acquire)
        {
            return actual;
        }
        if self.state.load(Ordering::Acquire) != queued {
            return self.state.load(Ordering::Acquire);
        }
        let mut node = Node::waiting_on(WaitReason::Other);
        self.waiters.wait(locked, &mut node, None);
        self.state.load(Ordering::Acquire)
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").finish_non_exhaustive()
    }
}

impl fmt::Debug for OnceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceState")
            .field("poisoned", &self.is_poisoned())
            .finish()
    }
}
