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

use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::time::Instant;

use crate::rt::sched;
use crate::rt::sys::futex;
use crate::rt::task::Task;

pub(crate) const USER_TOKEN: u32 = 1;
pub(crate) const WAKE_TOKEN: u32 = 2;
pub(crate) const TIMEOUT: u32 = 4;
pub(crate) const MODE_SHIFT: u32 = 3;
pub(crate) const MODE_MASK: u32 = 3 << MODE_SHIFT;
/// Mode 3: parked, and held by a dump that is reading the stack (see "Holding a parked thread").
pub(crate) const MODE_HELD: u32 = 3 << MODE_SHIFT;
pub(crate) const EPOCH_SHIFT: u32 = 6;
pub(crate) const EPOCH_ONE: u32 = 1 << EPOCH_SHIFT;

/// What a park waits for: the user's token (`thread::park`) or the runtime's (everything else).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum WaitKind {
    User,
    Wake,
}

impl WaitKind {
    pub(crate) fn token(self) -> u32 {
        match self {
            WaitKind::User => USER_TOKEN,
            WaitKind::Wake => WAKE_TOKEN,
        }
    }
    pub(crate) fn mode(self) -> u32 {
        match self {
            WaitKind::User => 1 << MODE_SHIFT,
            WaitKind::Wake => 2 << MODE_SHIFT,
        }
    }
}

/// What a parked green thread waits on, as [`crate::rt::dump()`] shows it. Recorded by the caller
/// of the park with one relaxed byte store on the thread's task (no allocation, no fence).
///
/// `Display` prints [`as_str`](WaitReason::as_str).
///
/// # Examples
///
/// ```
/// use smarm::rt::{self, ThreadState, WaitReason};
/// use std::time::Duration;
///
/// let (pid, h) = smarm::actor::spawn(|| smarm::thread::sleep(Duration::from_millis(50)));
/// let reason = loop {
///     match rt::dump().threads.iter().find(|t| t.pid == pid).map(|t| t.state) {
///         Some(ThreadState::Parked(r)) => break r,
///         Some(_) => smarm::thread::yield_now(),
///         None => unreachable!("it sleeps for 50 ms"),
///     }
/// };
/// assert_eq!(reason, WaitReason::Sleep);
/// h.join().unwrap();
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum WaitReason {
    /// `JoinHandle::join`, or a scope waiting for its threads.
    Join = 1,
    /// `Mutex::lock` (and a condvar waiter re-taking its mutex).
    Lock = 2,
    /// A channel: `recv`, or a `send` waiting for room or for its receiver.
    Channel = 3,
    /// `Condvar::wait`.
    Condvar = 4,
    /// `thread::sleep`.
    Sleep = 5,
    /// `thread::park` / `park_timeout`.
    Park = 6,
    /// A socket waiting for readiness.
    Io = 7,
    /// Any other runtime wait.
    Other = 8,
}

/// The task's `wait` byte while it runs on a worker (set by the worker before it switches in).
pub(crate) const WAIT_RUNNING: u8 = 0xFF;
/// The task's `wait` byte while it is runnable after a yield.
pub(crate) const WAIT_NONE: u8 = 0;

impl WaitReason {
    pub(crate) fn from_u8(b: u8) -> Option<WaitReason> {
        Some(match b {
            1 => WaitReason::Join,
            2 => WaitReason::Lock,
            3 => WaitReason::Channel,
            4 => WaitReason::Condvar,
            5 => WaitReason::Sleep,
            6 => WaitReason::Park,
            7 => WaitReason::Io,
            8 => WaitReason::Other,
            _ => return None,
        })
    }

    /// A short lower-case word for dumps and traces: `join`, `lock`, `channel`, ...
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::rt::WaitReason;
    ///
    /// assert_eq!(WaitReason::Channel.as_str(), "channel");
    /// assert_eq!(WaitReason::Io.to_string(), WaitReason::Io.as_str());
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Join => "join",
            WaitReason::Lock => "lock",
            WaitReason::Channel => "channel",
            WaitReason::Condvar => "condvar",
            WaitReason::Sleep => "sleep",
            WaitReason::Park => "park",
            WaitReason::Io => "io",
            WaitReason::Other => "other",
        }
    }
}

impl std::fmt::Display for WaitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) fn epoch(state: u32) -> u32 {
    state >> EPOCH_SHIFT
}

/// Blocks the current thread (green or OS) until a token of `kind` arrives or `deadline` passes.
/// Returns `true` if it consumed a token, `false` on timeout. Spurious returns do not happen for
/// green threads; OS threads may see none either, but callers loop on their condition anyway.
pub(crate) fn park(kind: WaitKind, deadline: Option<Instant>) -> bool {
    park_for(kind, WaitReason::Other, deadline)
}

/// [`park`], recording `reason` (what the thread waits on) for `rt::dump` and the trace.
pub(crate) fn park_for(kind: WaitKind, reason: WaitReason, deadline: Option<Instant>) -> bool {
    match sched::current_task() {
        Some(task) => {
            // SAFETY: `current_task` returns the running green thread's task, alive while it runs.
            let task = unsafe { &*task };
            task.wait.store(reason as u8, Relaxed);
            // The runtime's own locks and futexes may set errno on the way; a blocking call that
            // succeeds leaves the caller's errno alone, as std's `sleep` does.
            let errno = crate::rt::sys::tls::errno();
            let r = sched::park_green(task, kind, deadline);
            crate::rt::sys::tls::set_errno(errno);
            r
        }
        None => {
            // Parked until another thread acts (no timer, no socket or blocking-pool job that
            // could end it): counted for the total-deadlock check (`rt::deadlock`).
            let _counted = (deadline.is_none()
                && !matches!(reason, WaitReason::Io | WaitReason::Sleep))
            .then(crate::rt::deadlock::OsPark::enter);
            park_os(&sched::current_os_task(), kind, deadline)
        }
    }
}

/// Consumes a token of `kind` if one is present.
pub(crate) fn try_consume(state: &std::sync::atomic::AtomicU32, token: u32) -> bool {
    let mut s = state.load(Acquire);
    while s & token != 0 {
        match state.compare_exchange_weak(s, s & !token, AcqRel, Acquire) {
            Ok(_) => return true,
            Err(actual) => s = actual,
        }
    }
    false
}

/// Parks a plain OS thread on its task's futex.
fn park_os(task: &Task, kind: WaitKind, deadline: Option<Instant>) -> bool {
    let (tok, mode) = (kind.token(), kind.mode());
    let state = &task.state;
    let mut s = state.load(Acquire);
    loop {
        if s & tok != 0 {
            // A waker cleared our mode when it set the token; consume it.
            match state.compare_exchange_weak(s, s & !tok & !MODE_MASK, AcqRel, Acquire) {
                Ok(_) => return true,
                Err(actual) => {
                    s = actual;
                    continue;
                }
            }
        }
        if s & MODE_MASK == 0 {
            match state.compare_exchange_weak(s, s | mode, AcqRel, Acquire) {
                Ok(_) => s |= mode,
                Err(actual) => {
                    s = actual;
                    continue;
                }
            }
        }
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    match state.compare_exchange_weak(s, s & !MODE_MASK, AcqRel, Acquire) {
                        Ok(_) => return false,
                        Err(actual) => {
                            s = actual;
                            continue;
                        }
                    }
                }
                Some(d - now)
            }
        };
        futex::wait(state, s, timeout);
        s = state.load(Acquire);
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
        Some(_) => sched::schedule(
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
