//! `smarm::actor`: Erlang's process model on smarm's green threads — Pids, exit signals,
//! monitors and a one-for-one [`Supervisor`].
//!
//! Every green thread already is an actor: it has a [`Pid`] (a slot index plus a generation, so a
//! Pid of a thread that ended never names the slot's next occupant), a mailbox if you give it a
//! channel, and an end that others can observe. This module adds the observation:
//!
//! - [`spawn`] returns the new thread's Pid beside its `JoinHandle`; [`self_pid`] names the caller.
//! - [`spawn_supervised`] ties a child to a supervisor's channel: when the child ends, exactly one
//!   [`Signal`] arrives there — `Exit(pid)` if its closure returned, `Panic(pid, payload)` if it
//!   panicked (the payload is the one `join` would have returned; a supervised child has no
//!   `JoinHandle`, the signal is its outcome).
//! - [`monitor`] gives any watcher a one-shot [`Down`] for any Pid, also for one that is already
//!   gone (then at once, with [`Reason::NoProc`], as Erlang's `noproc`).
//! - [`Supervisor`] restarts children one-for-one and gives up after too many restarts in a
//!   period (OTP's restart intensity), reporting which child broke it.
//!
//! **When signals arrive.** A `Down` (and a supervision signal) is sent by the worker that
//! finalises the ended thread, *after* its Pid slot was released: once you hold the `Down`,
//! [`is_alive`] is `false` for that Pid. Nothing is sent by the dying thread's own code, so a
//! thread cannot end without its watchers hearing of it, and cannot be reported twice.
//!
//! **No links.** Erlang's `link` propagates an exit to the linked process by killing it. A smarm
//! green thread runs arbitrary blocking Rust and cannot be killed from outside without leaking its
//! locks and destructors, so links are not offered: a supervisor or monitor *observes* ends and
//! decides; it never kills.
//!
//! ```
//! use smarm::actor::{self, Signal};
//! use smarm::sync::mpsc;
//!
//! let (tx, rx) = mpsc::channel();
//! let ok = actor::spawn_supervised(&tx, || {});
//! let bad = actor::spawn_supervised(&tx, || panic!("boom"));
//! let mut seen = Vec::new();
//! for _ in 0..2 {
//!     match rx.recv().unwrap() {
//!         Signal::Exit(pid) => seen.push((pid, "exit".to_string())),
//!         Signal::Panic(pid, payload) => {
//!             seen.push((pid, payload.downcast_ref::<&str>().unwrap().to_string()))
//!         }
//!     }
//! }
//! seen.sort();
//! let mut want = vec![(ok, "exit".to_string()), (bad, "boom".to_string())];
//! want.sort();
//! assert_eq!(seen, want);
//! ```

mod supervisor;

use std::any::Any;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use crate::rt::task::pid;
use crate::rt::task::watch::{Ended, Notify};
use crate::sync::mpsc::{self, Receiver, Sender};
use crate::thread::{self, JoinHandle};

pub use crate::rt::Pid;
pub use supervisor::{GaveUp, Restart, Supervisor, SupervisorReport};

/// A panic payload, as `join` returns it.
///
/// # Examples
///
/// ```
/// use smarm::actor::{self, Payload};
///
/// let payload: Payload = smarm::thread::spawn(|| panic!("oops")).join().unwrap_err();
/// assert_eq!(actor::payload_text(&*payload), "oops");
/// ```
pub type Payload = Box<dyn Any + Send + 'static>;

/// What a supervised child sends its supervisor, once, when it ends.
///
/// # Examples
///
/// ```
/// use smarm::actor::{self, Signal};
/// use smarm::sync::mpsc;
///
/// let (tx, rx) = mpsc::channel();
/// let pid = actor::spawn_supervised(&tx, || panic!("crash"));
/// match rx.recv().unwrap() {
///     Signal::Panic(p, payload) => {
///         assert_eq!(p, pid);
///         assert_eq!(actor::payload_text(&*payload), "crash");
///     }
///     Signal::Exit(_) => unreachable!("it panicked"),
/// }
/// ```
pub enum Signal {
    /// The child's closure returned.
    Exit(Pid),
    /// The child's closure panicked, with the panic's payload (what `join` would have returned).
    Panic(Pid, Payload),
}

impl Signal {
    /// The Pid of the child that ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::actor;
    /// use smarm::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let pid = actor::spawn_supervised(&tx, || {});
    /// assert_eq!(rx.recv().unwrap().pid(), pid);
    /// ```
    pub fn pid(&self) -> Pid {
        match self {
            Signal::Exit(p) | Signal::Panic(p, _) => *p,
        }
    }
}

/// The text of a panic payload (`&str` and `String` payloads; others print `Box<dyn Any>`, as
/// std's panic message does).
///
/// # Examples
///
/// ```
/// use smarm::actor::payload_text;
///
/// let boxed = |h: smarm::thread::JoinHandle<()>| h.join().unwrap_err();
/// let p1 = boxed(smarm::thread::spawn(|| panic!("a literal")));
/// let p2 = boxed(smarm::thread::spawn(|| panic!("formatted {}", 42)));
/// let p3 = boxed(smarm::thread::spawn(|| std::panic::panic_any(7u8)));
/// assert_eq!(payload_text(&*p1), "a literal");
/// assert_eq!(payload_text(&*p2), "formatted 42");
/// assert_eq!(payload_text(&*p3), "Box<dyn Any>");
/// ```
pub fn payload_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::Exit(p) => write!(f, "Exit({p})"),
            Signal::Panic(p, payload) => write!(f, "Panic({p}, {:?})", payload_text(&**payload)),
        }
    }
}

/// Why a monitored thread is down.
///
/// # Examples
///
/// ```
/// use smarm::actor::{self, Reason};
///
/// let (pid, h) = actor::spawn(|| panic!("down"));
/// let down = actor::monitor(pid);
/// assert!(h.join().is_err());
/// assert_eq!(down.recv().unwrap().reason, Reason::Panic);
///
/// // The Pid is gone now: a new monitor reports it at once.
/// assert_eq!(actor::monitor(pid).recv().unwrap().reason, Reason::NoProc);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Reason {
    /// Its closure returned.
    Normal,
    /// Its closure panicked (the payload went to its `JoinHandle`, or to its supervisor).
    Panic,
    /// The Pid named no live thread when the monitor was set up (it had already ended, or the
    /// Pid is stale): Erlang's `noproc`.
    NoProc,
}

/// The one message a [`monitor`] delivers: the watched thread is gone, and why.
///
/// # Examples
///
/// ```
/// use smarm::actor::{self, Down, Reason};
/// use smarm::sync::mpsc;
///
/// let (go_tx, go_rx) = mpsc::channel::<()>();
/// let (pid, h) = actor::spawn(move || go_rx.recv().unwrap());
/// let down = actor::monitor(pid);
///
/// go_tx.send(()).unwrap(); // let it finish
/// assert_eq!(down.recv().unwrap(), Down { pid, reason: Reason::Normal });
/// assert!(!actor::is_alive(pid)); // the Down comes after the slot is released
/// h.join().unwrap();
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Down {
    /// The monitored Pid.
    pub pid: Pid,
    /// How it ended.
    pub reason: Reason,
}

/// The Pid of the calling green thread; `None` on a plain OS thread (`main`, a test thread).
///
/// # Examples
///
/// ```
/// assert_eq!(smarm::actor::self_pid(), None); // a doctest's main is an OS thread
/// let (pid, h) = smarm::actor::spawn(smarm::actor::self_pid);
/// assert_eq!(h.join().unwrap(), Some(pid));
/// ```
pub fn self_pid() -> Option<Pid> {
    let task = crate::rt::task::current::current_task()?;
    // SAFETY: the running green thread's task is alive while it runs, and we do not switch here.
    let task = unsafe { &*task };
    task.green.as_ref().map(|g| g.pid)
}

/// Whether `pid` names a green thread that has not ended. A stale Pid (its thread ended, its slot
/// maybe reused) is never alive.
///
/// # Examples
///
/// ```
/// let (pid, h) = smarm::actor::spawn(|| {});
/// h.join().unwrap();
/// // `join` returns once the result is published; the slot is released right after.
/// while smarm::actor::is_alive(pid) {
///     smarm::thread::yield_now();
/// }
/// ```
pub fn is_alive(pid: Pid) -> bool {
    pid::table::lookup(pid).is_some()
}

/// Spawns a green thread, as `smarm::thread::spawn`, and returns its Pid with its `JoinHandle`.
///
/// # Panics
/// If the thread cannot be created, as `thread::spawn` does; [`Builder::spawn`] returns the error.
///
/// # Examples
///
/// ```
/// let (pid, h) = smarm::actor::spawn(|| 6 * 7);
/// assert_eq!(h.join().unwrap(), 42);
/// println!("{pid} ran");
/// ```
pub fn spawn<F, T>(f: F) -> (Pid, JoinHandle<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).expect("failed to spawn thread")
}

/// Spawns a green thread supervised through `supervisor`: when it ends, exactly one [`Signal`]
/// is sent there. The child is detached (its outcome is the signal).
///
/// # Panics
/// If the thread cannot be created; [`Builder::spawn_supervised`] returns the error.
///
/// # Examples
///
/// ```
/// use smarm::actor::{self, Signal};
/// let (tx, rx) = smarm::sync::mpsc::channel();
/// let pid = actor::spawn_supervised(&tx, || panic!("crash {}", 7));
/// match rx.recv().unwrap() {
///     Signal::Panic(p, payload) => {
///         assert_eq!(p, pid);
///         assert_eq!(actor::payload_text(&*payload), "crash 7");
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
pub fn spawn_supervised<F>(supervisor: &Sender<Signal>, f: F) -> Pid
where
    F: FnOnce() + Send + 'static,
{
    Builder::new()
        .spawn_supervised(supervisor, f)
        .expect("failed to spawn thread")
}

/// Sets up a one-shot watch on `pid`: the returned receiver gets one [`Down`] when the thread has
/// ended (after its Pid stopped resolving), or at once, with [`Reason::NoProc`], if `pid` names no
/// live thread now — it ended already, or it is stale and its slot has a new occupant.
///
/// # Examples
///
/// ```
/// use smarm::actor::{self, Reason};
/// let (pid, h) = actor::spawn(|| smarm::thread::sleep(std::time::Duration::from_millis(5)));
/// let down = actor::monitor(pid);
/// h.join().unwrap();
/// let d = down.recv().unwrap();
/// assert_eq!((d.pid, d.reason), (pid, Reason::Normal));
/// // Monitoring it again, now that it is gone, fires at once.
/// assert_eq!(actor::monitor(pid).recv().unwrap().reason, Reason::NoProc);
/// ```
pub fn monitor(pid: Pid) -> Receiver<Down> {
    let (tx, rx) = mpsc::channel();
    on_end(
        pid,
        Box::new(move |ended| {
            let reason = match ended {
                Some(Ended::Normal) => Reason::Normal,
                Some(Ended::Panicked) => Reason::Panic,
                None => Reason::NoProc,
            };
            let _ = tx.send(Down { pid, reason });
        }),
    );
    rx
}

/// Runs `notify` once when `pid`'s thread has ended (with how), or now with `None` if `pid` names
/// no live thread (or with how it ended, if it ended between the lookup and the registration).
fn on_end(pid: Pid, notify: Box<dyn FnOnce(Option<Ended>) + Send>) {
    let Some(task) = pid::table::lookup(pid) else {
        return notify(None);
    };
    let Some(g) = task.green.as_ref() else {
        return notify(None);
    };
    let cell = Arc::new(Mutex::new(Some(notify)));
    let c2 = cell.clone();
    let stored: Notify = Box::new(move |e| {
        if let Some(n) = c2.lock().unwrap_or_else(|e| e.into_inner()).take() {
            n(Some(e))
        }
    });
    if let Err((_, ended)) = g.watchers.add(stored) {
        // The slot's task ended between `lookup` and `add`: report how (the stored closure was
        // handed back unrun and dropped; `cell` still holds `notify`).
        if let Some(n) = cell.lock().unwrap_or_else(|e| e.into_inner()).take() {
            n(Some(ended))
        }
    }
}

/// Configuration for a spawned actor: [`thread::Builder`]'s settings, plus the Pid-returning and
/// supervised spawns.
///
/// # Examples
///
/// ```
/// let (pid, h) = smarm::actor::Builder::new()
///     .name("worker-1".into())
///     .spawn(|| smarm::thread::current().name().map(String::from))
///     .unwrap();
/// assert_eq!(h.join().unwrap().as_deref(), Some("worker-1"));
/// assert!(pid.index() < u32::MAX);
/// ```
#[derive(Debug, Default)]
#[must_use = "must eventually spawn the thread"]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with std's defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let (pid, h) = smarm::actor::Builder::new()
    ///     .spawn(smarm::actor::self_pid)
    ///     .unwrap();
    /// assert_eq!(h.join().unwrap(), Some(pid)); // the thread saw the Pid it was spawned with
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the thread (shown in panic messages, [`crate::rt::dump()`] and traces).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_pid, h) = smarm::actor::Builder::new()
    ///     .name("named".into())
    ///     .spawn(|| smarm::thread::current().name().map(String::from))
    ///     .unwrap();
    /// assert_eq!(h.join().unwrap().as_deref(), Some("named"));
    /// ```
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// The stack reservation in bytes, as [`thread::Builder::stack_size`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (_pid, h) = smarm::actor::Builder::new()
    ///     .stack_size(64 * 1024)
    ///     .spawn(|| [1u8; 1024].iter().map(|&b| b as u32).sum::<u32>())
    ///     .unwrap();
    /// assert_eq!(h.join().unwrap(), 1024);
    /// ```
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    fn thread_builder(self) -> thread::Builder {
        let mut b = thread::Builder::new();
        if let Some(n) = self.name {
            b = b.name(n);
        }
        if let Some(s) = self.stack_size {
            b = b.stack_size(s);
        }
        b
    }

    /// Spawns the thread and returns its Pid with its `JoinHandle`.
    ///
    /// # Errors
    ///
    /// As [`thread::Builder::spawn`]: an `io::Error` if the green thread cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let (pid, h) = smarm::actor::Builder::new()
    ///     .name("pid-check".into())
    ///     .spawn(smarm::actor::self_pid)
    ///     .unwrap();
    /// assert_eq!(h.join().unwrap(), Some(pid));
    /// ```
    pub fn spawn<F, T>(self, f: F) -> io::Result<(Pid, JoinHandle<T>)>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let h = self.thread_builder().spawn(f)?;
        Ok((pid_of(&h), h))
    }

    /// Spawns the thread supervised through `supervisor` (see [`spawn_supervised`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::actor::{Builder, Signal};
    /// use smarm::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let pid = Builder::new()
    ///     .name("child".into())
    ///     .spawn_supervised(&tx, || {})
    ///     .unwrap();
    /// assert!(matches!(rx.recv().unwrap(), Signal::Exit(p) if p == pid));
    /// ```
    pub fn spawn_supervised<F>(self, supervisor: &Sender<Signal>, f: F) -> io::Result<Pid>
    where
        F: FnOnce() + Send + 'static,
    {
        // The child catches its own panic (the hook has already reported it, as for any thread)
        // and leaves the payload here; the end watcher, run after the child's slot is released,
        // sends the one signal.
        let payload: Arc<Mutex<Option<Payload>>> = Arc::new(Mutex::new(None));
        let p2 = payload.clone();
        let h = self.thread_builder().spawn(move || {
            if let Err(p) = panic::catch_unwind(AssertUnwindSafe(f)) {
                *p2.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
            }
        })?;
        let pid = pid_of(&h);
        drop(h); // detached: the signal is its outcome
        let tx = supervisor.clone();
        on_end(
            pid,
            Box::new(move |_| {
                let taken = payload.lock().unwrap_or_else(|e| e.into_inner()).take();
                let _ = tx.send(match taken {
                    Some(p) => Signal::Panic(pid, p),
                    None => Signal::Exit(pid),
                });
            }),
        );
        Ok(pid)
    }
}

/// The Pid of a spawned green thread.
fn pid_of<T>(h: &JoinHandle<T>) -> Pid {
    h.thread()
        .task()
        .green
        .as_ref()
        .expect("a JoinHandle always names a green thread")
        .pid
}
