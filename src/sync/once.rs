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
use crate::rt::waitlist::{Node, WaitList};

const INCOMPLETE: u32 = 0;
const POISONED: u32 = 1;
const RUNNING: u32 = 2;
const COMPLETE: u32 = 3;
const STATE: u32 = 3;
const QUEUED: u32 = 4;

/// A one-time global initialisation, as `std::sync::Once`.
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

/// What a [`Once::call_once_force`] closure is told, as `std::sync::OnceState`.
pub struct OnceState {
    poisoned: bool,
    /// std's carries a `Cell`: `Send` but neither `Sync` nor `RefUnwindSafe`; so is ours.
    _not_sync: std::marker::PhantomData<std::cell::Cell<()>>,
}

impl OnceState {
    /// Whether an earlier initialiser of this `Once` panicked.
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
    /// A new `Once`, not yet run.
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
    /// # Panics
    /// If an earlier initialiser panicked (the `Once` is poisoned), with std's message; a panic
    /// in `f` poisons the `Once` and propagates.
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

    /// [`call_once`](Self::call_once), but also runs on a poisoned `Once`; the closure is told
    /// whether it was poisoned.
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        if self.is_completed() {
            return;
        }
        let mut f = Some(f);
        self.call(true, &mut |s| {
            (f.take().expect("the initialiser runs once"))(s)
        });
    }

    /// Whether an initialiser has completed (without panicking).
    #[inline]
    pub fn is_completed(&self) -> bool {
        self.state.load(Ordering::Acquire) & STATE == COMPLETE
    }

    /// Blocks until an initialiser has completed.
    ///
    /// # Panics
    /// If the `Once` is poisoned, as std does.
    pub fn wait(&self) {
        self.wait_complete(false);
    }

    /// Blocks until an initialiser has completed, waiting through a poisoned state.
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
