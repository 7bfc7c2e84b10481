//! The one wait primitive. Every blocking operation in smarm is: put a waiter on some queue,
//! release the lock guarding the queue, [`park`]; a waker takes the waiter off and calls [`unpark`].
//!
//! A waiter is a [`Task`]: a green thread (parking switches to its worker's scheduler) or a plain OS
//! thread (parking sleeps on a futex). Both use the same 32-bit `state` word:
//!
//! ```text
//!   bit 0      USER token      set by Thread::unpark, consumed by thread::park
//!   bit 1      WAKE token      set by runtime wakers (join, locks, channels), consumed by their waits
//!   bit 2      TIMEOUT         a timer for the current park epoch fired before the park completed
//!   bits 3-4   mode            0 running, 1 parked for USER, 2 parked for WAKE, 3 HELD
//!   bit 5      (unused)
//!   bits 6-31  epoch           bumped by every green park; a timer only acts on its own epoch
//! ```
//!
//! **The protocol**, for a wait of kind K (token `K.token()`, mode `K.mode()`):
//!
//! 1. **Park, green** (`sched::switch::park_green`): a K token already there is consumed and the
//!    park returns at once. Else the epoch is bumped (a TIMEOUT left by an older timer is void),
//!    a deadline registers a timer tagged with the new epoch, and the thread switches out with
//!    `Intent::Park(K)`. Its mode stays 0 across the switch.
//! 2. **Park completes** (`Worker::complete_park`, on the worker after the switch saved the
//!    thread's context): a CAS sets mode K unless a K token or TIMEOUT arrived meanwhile; then the
//!    park is over before it began and the worker runs the thread again (or, on a carrier that
//!    lost its worker, queues it on the injector).
//! 3. **Unpark** ([`unpark`]): one CAS sets the K token and, if the mode is K, clears the mode;
//!    whoever cleared it owns the thread's next run and schedules it ([`wake_parked`]). A target
//!    not parked for K keeps the token for its next park (step 1 or 2 sees it).
//! 4. **Resume** (back in `park_green`): the K token and TIMEOUT are cleared in one
//!    `fetch_and`; the park reports whether the token was there, and a woken thread cancels its
//!    timer.
//! 5. **Park, OS thread** (`word::park_os`): the same word. The thread consumes a K token if
//!    one is there, else sets mode K and sleeps on the word as a futex; an unpark clears the
//!    mode with its token (step 3) and wakes the futex, and a passed deadline has the thread
//!    clear its own mode and return `false`.
//!
//! **Parking while unwinding** is an ordinary green park: std counts panics in progress in a
//! thread-local, and a green thread's thread-locals are its own (`rt::sys::tls`), so the count
//! travels with it to whatever carrier resumes it, and other green threads never see it.
//!
//! Two token kinds keep the runtime's waits from eating a user's `unpark`: std's `join`, locks and
//! channels do not consume `thread::park` tokens, so neither do ours.
//!
//! **No lost wake-ups.** An unpark that finds its target not parked (still running, or between
//! "registered" and "parked") leaves a token, and the next park consumes it and returns at once,
//! exactly like `std::thread::park`. A green thread's transition to *parked* is made by its worker
//! *after* the switch has saved its context (`Worker::park_current`), so whoever sees mode≠0 and
//! clears it may put the task on a run queue: its context is complete.
//!
//! **Timeouts.** A green thread registers its timer (tagged with the new epoch) before switching
//! away. A timer that fires while the task is parked in that epoch clears the mode and schedules it;
//! one that fires before the worker completed the park sets TIMEOUT, which the worker treats like a
//! token; one from an older epoch does nothing. A task woken by a token cancels its timer.
//!
//! **Holding a parked thread (the dump reads its stack).** `rt::dump` unwinds a parked green
//! thread's stack while the thread is not running; nobody may resume it meanwhile, or the walk
//! would read frames that are being rewritten. Like Go's `_Gscan` bit, this costs the wake, park
//! and switch paths nothing: the holder borrows the fourth value of the mode field.
//! 1. [`hold_parked`] CASes mode 1 or 2 (parked) to 3 (HELD), remembering which it was. It fails
//!    on any other mode: a running or queued thread (mode 0) is not held, nor one another dump
//!    holds. Its acquire pairs with `Worker::complete_park`'s release, so the context the switch
//!    saved (the stack the dump reads) is visible, as it is to a waker.
//! 2. A waker meanwhile finds mode ≠ its kind's mode, exactly as if the thread were still
//!    running: `unpark` leaves its token and schedules nothing. A timer of the current epoch
//!    sets TIMEOUT instead of waking (`worker::fire_timeout` treats HELD as not parked). No
//!    waker spins or waits: the wake-up is handed to the holder, as step 3 says.
//! 3. Dropping the [`Held`] CASes mode 3 back, as `Worker::complete_park` completes a park: if
//!    the remembered kind's token or TIMEOUT arrived meanwhile, mode becomes 0 and the holder
//!    schedules the thread ([`wake_parked`], what the waker would have done); else the old mode
//!    returns and the thread stays parked. A woken thread consumes its token as after any park.
//!
//! So a wake during a hold is delayed by the hold (one stack walk, a few µs), never lost, never
//! doubled; the loom models in `sched/park_loom.rs` check it (`loom_hold_vs_unpark`,
//! `loom_hold_vs_timeout`). Only green threads are held: an OS thread's park (`park_os`) never
//! sees HELD.
//!
//! The word's layout and the OS half of parking (`park_os`) are [`word`], below the scheduler,
//! which reads and writes the word when it switches a green thread out and in; this module, above
//! the scheduler, is where a wait starts and ends for any thread: [`park_for`] (a green thread
//! switches out through `sched::switch`, an OS thread sleeps on the futex), [`unpark`] and the
//! dump's hold.

pub(crate) mod timer;
pub(crate) mod waitfor;
pub(crate) mod waitlist;
pub(crate) mod word;

use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::time::Instant;

use crate::rt::sched;
use crate::rt::sys::futex;
use crate::rt::task::Task;
pub use word::WaitReason;
pub(crate) use word::{MODE_HELD, MODE_MASK, TIMEOUT, USER_TOKEN, WAKE_TOKEN, WaitKind};

/// Blocks the current thread (green or OS) until a token of `kind` arrives or `deadline` passes.
/// Returns `true` if it consumed a token, `false` on timeout. Spurious returns do not happen for
/// green threads; OS threads may see none either, but callers loop on their condition anyway.
pub(crate) fn park(kind: WaitKind, deadline: Option<Instant>) -> bool {
    park_for(kind, WaitReason::Other, deadline)
}

/// [`park`], recording `reason` (what the thread waits on) for `rt::dump` and the trace.
pub(crate) fn park_for(kind: WaitKind, reason: WaitReason, deadline: Option<Instant>) -> bool {
    match crate::rt::task::current::current_task() {
        Some(task) => {
            // SAFETY: `current_task` returns the running green thread's task, alive while it runs.
            let task = unsafe { &*task };
            task.wait.store(reason as u8, Relaxed);
            // The runtime's own locks and futexes may set errno on the way; a blocking call that
            // succeeds leaves the caller's errno alone, as std's `sleep` does.
            let errno = crate::rt::sys::tls::errno();
            let r = sched::switch::park_green(task, kind, deadline);
            crate::rt::sys::tls::set_errno(errno);
            r
        }
        None => {
            // Parked until another thread acts (no timer, no socket or blocking-pool job that
            // could end it): counted for the total-deadlock check (`rt::deadlock`).
            let _counted = (deadline.is_none()
                && !matches!(reason, WaitReason::Io | WaitReason::Sleep))
            .then(crate::rt::census::OsPark::enter);
            word::park_os(&crate::rt::task::current::current_os_task(), kind, deadline)
        }
    }
}

/// Gives `task` a token of `kind`, waking it if it is parked for that kind.
pub(crate) fn unpark(task: &Task, kind: WaitKind) {
    unpark_inner(task, kind, false)
}

/// [`unpark`] for a waker that expects no reply (a finishing thread waking its joiner): a green
/// task goes onto the local deque instead of the run-next slot (`sched::schedule`).
pub(crate) fn unpark_to_back(task: &Task, kind: WaitKind) {
    unpark_inner(task, kind, true)
}

fn unpark_inner(task: &Task, kind: WaitKind, to_back: bool) {
    let (tok, mode) = (kind.token(), kind.mode());
    let mut s = task.state.load(Relaxed);
    loop {
        let parked = s & MODE_MASK == mode;
        // Even when a token already seems to be there (tokens do not accumulate), the CAS must
        // run: `s` may be stale, and only a read-modify-write orders our caller's earlier stores
        // (the condition the waiter re-checks) before the waiter's consumption of that token.
        // Returning early on a plain load lost wake-ups under store-load reordering.
        let new = if parked {
            (s & !MODE_MASK) | tok
        } else {
            s | tok
        };
        match task.state.compare_exchange_weak(s, new, AcqRel, Relaxed) {
            Ok(_) => {
                if parked {
                    wake_parked(task, to_back);
                }
                return;
            }
            Err(actual) => s = actual,
        }
    }
}

/// A parked green thread that stays parked, whatever wakes it, until this is dropped; see "Holding
/// a parked thread" above.
pub(crate) struct Held<'a> {
    task: &'a Task,
    /// The park mode it had (1 USER or 2 WAKE), restored or completed on drop.
    mode: u32,
}

impl Held<'_> {
    /// The held task.
    pub(crate) fn task(&self) -> &Task {
        self.task
    }
}

/// Holds `task` if it is a parked green thread (step 1 above); `None` if it is running, queued,
/// held already, or an OS thread.
pub(crate) fn hold_parked(task: &Task) -> Option<Held<'_>> {
    task.green.as_ref()?;
    let mut s = task.state.load(Acquire);
    loop {
        let mode = s & MODE_MASK;
        if mode == 0 || mode == MODE_HELD {
            return None;
        }
        match task
            .state
            .compare_exchange_weak(s, (s & !MODE_MASK) | MODE_HELD, AcqRel, Acquire)
        {
            Ok(_) => return Some(Held { task, mode }),
            Err(actual) => s = actual,
        }
    }
}

impl Drop for Held<'_> {
    /// Step 3: parked again, or scheduled if its wake-up came meanwhile.
    fn drop(&mut self) {
        let tok = if self.mode == WaitKind::User.mode() {
            USER_TOKEN
        } else {
            WAKE_TOKEN
        };
        let ready = tok | TIMEOUT;
        let mut s = self.task.state.load(Acquire);
        loop {
            debug_assert_eq!(s & MODE_MASK, MODE_HELD);
            let (new, wake) = if s & ready != 0 {
                (s & !MODE_MASK, true)
            } else {
                ((s & !MODE_MASK) | self.mode, false)
            };
            match self
                .task
                .state
                .compare_exchange_weak(s, new, AcqRel, Acquire)
            {
                Ok(_) => {
                    if wake {
                        wake_parked(self.task, false);
                    }
                    return;
                }
                Err(actual) => s = actual,
            }
        }
    }
}

/// Resumes a task whose mode the caller just cleared.
pub(crate) fn wake_parked(task: &Task, to_back: bool) {
    match &task.green {
        // SAFETY: every green Task lives in an Arc made by `spawn`, and the caller's reference
        // keeps it alive now; the run queue gets a reference of its own.
        Some(_) => sched::worker::schedule(
            unsafe {
                Arc::increment_strong_count(task);
                Arc::from_raw(task)
            },
            to_back,
        ),
        None => futex::wake_one(&task.state),
    }
}

#[cfg(test)]
#[path = "park_tests.rs"]
mod tests;
