//! The park word (see the parent module for the protocol): its layout, the wait kinds and reasons,
//! and the OS half of parking (a plain OS thread sleeps on the word as a futex). Below the
//! scheduler, which completes a green thread's park on the word after switching it out.

use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::time::Instant;

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
pub(crate) fn park_os(task: &Task, kind: WaitKind, deadline: Option<Instant>) -> bool {
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
