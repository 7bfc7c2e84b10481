//! `Supervisor`: OTP's one-for-one strategy with a restart intensity, in user space.
//!
//! The supervisor is a loop on the calling thread over one channel of [`Signal`]s: it starts
//! every child with [`Builder::spawn_supervised`], and for each signal decides by the child's
//! [`Restart`] policy whether to start it again. Restarts are counted in a sliding window: the
//! `max_restarts + 1`-th restart within `period` means the children keep failing faster than
//! restarting helps, so the supervisor gives up and returns [`GaveUp`] naming the child and its
//! last panic — OTP's "reached max restart intensity". It cannot kill the children still running
//! (see the module docs of [`crate::actor`]: no links), so it leaves them running, detached; their
//! later signals go nowhere.
//!
//! Defaults follow OTP's supervisor: at most 3 restarts in 5 seconds.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Builder, Payload, Pid, Signal, payload_text};
use crate::sync::mpsc;

/// When a supervised child is started again.
///
/// # Examples
///
/// A [`Temporary`](Restart::Temporary) child is never restarted; a
/// [`Permanent`](Restart::Permanent) one is restarted even after a normal return, until the
/// supervisor gives up:
///
/// ```
/// use smarm::actor::{Restart, Supervisor};
/// use std::time::Duration;
///
/// let report = Supervisor::new()
///     .child_with("once", Restart::Temporary, || panic!("not restarted"))
///     .run()
///     .unwrap();
/// assert_eq!(report.restarts, 0);
///
/// let gave_up = Supervisor::new()
///     .intensity(2, Duration::from_secs(10))
///     .child_with("forever", Restart::Permanent, || {})
///     .run()
///     .unwrap_err();
/// assert_eq!((gave_up.restarts, gave_up.reason()), (2, "normal exit"));
/// assert_eq!(Restart::default(), Restart::Transient);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Restart {
    /// Only after it panicked: a child that returns is done (OTP's `transient`).
    #[default]
    Transient,
    /// After any end (OTP's `permanent`): the supervisor runs until it gives up.
    Permanent,
    /// Never (OTP's `temporary`).
    Temporary,
}

type Start = Arc<dyn Fn() + Send + Sync + 'static>;

struct Child {
    name: String,
    restart: Restart,
    start: Start,
}

/// A one-for-one supervisor of named children, with a restart intensity limit.
///
/// # Examples
///
/// ```
/// use smarm::actor::Supervisor;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// // A child that panics twice, then finishes: restarted twice, then done.
/// let tries = Arc::new(AtomicU32::new(0));
/// let t = tries.clone();
/// let report = Supervisor::new()
///     .intensity(5, Duration::from_secs(1))
///     .child("flaky", move || {
///         if t.fetch_add(1, Ordering::SeqCst) < 2 {
///             panic!("not yet");
///         }
///     })
///     .run()
///     .unwrap();
/// assert_eq!(report.restarts, 2);
/// assert_eq!(tries.load(Ordering::SeqCst), 3);
///
/// // A child that always panics: the supervisor gives up after 3 restarts in the period.
/// let err = Supervisor::new()
///     .intensity(3, Duration::from_secs(10))
///     .child("broken", || panic!("always"))
///     .run()
///     .unwrap_err();
/// assert_eq!((err.child.as_str(), err.restarts, err.reason()), ("broken", 3, "always"));
/// ```
pub struct Supervisor {
    children: Vec<Child>,
    max_restarts: u32,
    period: Duration,
}

/// How a supervisor that ran to the end (every child done) went.
///
/// # Examples
///
/// ```
/// use smarm::actor::Supervisor;
///
/// let report = Supervisor::new()
///     .child("a", || {})
///     .child("b", || {})
///     .run()
///     .unwrap();
/// assert_eq!(report.restarts, 0); // both returned normally: transient children are done
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SupervisorReport {
    /// Restarts made in all.
    pub restarts: u32,
}

/// A supervisor gave up: a child needed more than `max_restarts` restarts within `period`.
///
/// # Examples
///
/// ```
/// use smarm::actor::Supervisor;
/// use std::time::Duration;
///
/// let err = Supervisor::new()
///     .intensity(1, Duration::from_secs(10))
///     .child("bad", || panic!("again"))
///     .run()
///     .unwrap_err();
/// assert_eq!(err.child, "bad");
/// assert_eq!(err.restarts, 1);
/// assert!(!smarm::actor::is_alive(err.pid));
/// assert!(err.to_string().starts_with("supervisor gave up: child 'bad'"));
/// ```
#[non_exhaustive]
pub struct GaveUp {
    /// The child whose end broke the limit.
    pub child: String,
    /// Its last Pid.
    pub pid: Pid,
    /// Restarts made (of any child) within the period before giving up.
    pub restarts: u32,
    /// The last panic's payload, or `None` if the child's end was a normal return
    /// (a [`Restart::Permanent`] child).
    pub payload: Option<Payload>,
}

impl GaveUp {
    /// The last panic's message (`"normal exit"` for a normal return).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::actor::Supervisor;
    /// use std::time::Duration;
    ///
    /// let err = Supervisor::new()
    ///     .intensity(0, Duration::from_secs(10))
    ///     .child("bad", || panic!("code {}", 7))
    ///     .run()
    ///     .unwrap_err();
    /// assert_eq!(err.reason(), "code 7");
    /// ```
    pub fn reason(&self) -> &str {
        self.payload
            .as_deref()
            .map_or("normal exit", |p| payload_text(p))
    }
}

impl fmt::Debug for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GaveUp")
            .field("child", &self.child)
            .field("pid", &self.pid)
            .field("restarts", &self.restarts)
            .field("reason", &self.reason())
            .finish()
    }
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "supervisor gave up: child '{}' ({}) ended ({}) after {} restarts within the period",
            self.child,
            self.pid,
            self.reason(),
            self.restarts
        )
    }
}

impl std::error::Error for GaveUp {}

impl Default for Supervisor {
    fn default() -> Supervisor {
        Supervisor::new()
    }
}

impl Supervisor {
    /// A supervisor with no children and OTP's default intensity: 3 restarts in 5 seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// // No children: nothing to supervise, so `run` returns at once.
    /// let report = smarm::actor::Supervisor::new().run().unwrap();
    /// assert_eq!(report.restarts, 0);
    /// ```
    pub fn new() -> Supervisor {
        Supervisor {
            children: Vec::new(),
            max_restarts: 3,
            period: Duration::from_secs(5),
        }
    }

    /// Gives up when more than `max_restarts` restarts would happen within `period`.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::actor::Supervisor;
    /// use std::time::Duration;
    ///
    /// // With intensity 0 the first failure ends the supervision.
    /// let err = Supervisor::new()
    ///     .intensity(0, Duration::from_secs(1))
    ///     .child("fragile", || panic!("first failure"))
    ///     .run()
    ///     .unwrap_err();
    /// assert_eq!(err.restarts, 0);
    /// ```
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Supervisor {
        self.max_restarts = max_restarts;
        self.period = period;
        self
    }

    /// Adds a [`Restart::Transient`] child: `start` runs on a green thread named `name`, and runs
    /// again (on a new one) each time it panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::actor::Supervisor;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    ///
    /// static RUNS: AtomicU32 = AtomicU32::new(0);
    /// let report = Supervisor::new()
    ///     .child("flaky", || {
    ///         if RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
    ///             panic!("first run fails");
    ///         }
    ///         assert_eq!(smarm::thread::current().name(), Some("flaky"));
    ///     })
    ///     .run()
    ///     .unwrap();
    /// assert_eq!((report.restarts, RUNS.load(Ordering::SeqCst)), (1, 2));
    /// ```
    pub fn child<F>(self, name: impl Into<String>, start: F) -> Supervisor
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.child_with(name, Restart::Transient, start)
    }

    /// Adds a child with the given restart policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::actor::{Restart, Supervisor};
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    ///
    /// static RUNS: AtomicU32 = AtomicU32::new(0);
    /// // A permanent child runs again after every end, normal or not, until the limit.
    /// let err = Supervisor::new()
    ///     .intensity(3, Duration::from_secs(10))
    ///     .child_with("ticker", Restart::Permanent, || {
    ///         RUNS.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .run()
    ///     .unwrap_err();
    /// assert_eq!(err.restarts, 3);
    /// assert_eq!(RUNS.load(Ordering::SeqCst), 4); // the first run and three restarts
    /// ```
    pub fn child_with<F>(
        mut self,
        name: impl Into<String>,
        restart: Restart,
        start: F,
    ) -> Supervisor
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.children.push(Child {
            name: name.into(),
            restart,
            start: Arc::new(start),
        });
        self
    }

    /// Starts every child and supervises them on the calling thread until none is left to run
    /// (`Ok`) or the restart intensity is exceeded (`Err`).
    ///
    /// # Panics
    /// If a child's green thread cannot be created (as `thread::spawn`).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::actor::Supervisor;
    /// use smarm::sync::mpsc;
    /// use std::sync::Mutex;
    ///
    /// // Children that report to a channel, supervised from a green thread of their own.
    /// let (tx, rx) = mpsc::channel();
    /// let tx = Mutex::new(tx);
    /// let supervisor = smarm::thread::spawn(move || {
    ///     Supervisor::new()
    ///         .child("hello", move || tx.lock().unwrap().send("hello").unwrap())
    ///         .run()
    /// });
    /// assert_eq!(rx.recv().unwrap(), "hello");
    /// assert_eq!(supervisor.join().unwrap().unwrap().restarts, 0);
    /// ```
    pub fn run(self) -> Result<SupervisorReport, GaveUp> {
        let (tx, rx) = mpsc::channel::<Signal>();
        let start = |i: usize| -> Pid {
            let c = &self.children[i];
            let f = c.start.clone();
            Builder::new()
                .name(c.name.clone())
                .spawn_supervised(&tx, move || f())
                .expect("failed to spawn a supervised child")
        };
        let mut running: HashMap<Pid, usize> = HashMap::new();
        for i in 0..self.children.len() {
            running.insert(start(i), i);
        }
        let mut window: VecDeque<Instant> = VecDeque::new();
        let mut restarts = 0u32;
        while !running.is_empty() {
            let signal = rx.recv().expect("the supervisor holds a sender");
            let Some(i) = running.remove(&signal.pid()) else {
                continue;
            };
            let child = &self.children[i];
            let (pid, payload) = match signal {
                Signal::Exit(pid) => (pid, None),
                Signal::Panic(pid, p) => (pid, Some(p)),
            };
            let again = match child.restart {
                Restart::Permanent => true,
                Restart::Transient => payload.is_some(),
                Restart::Temporary => false,
            };
            if !again {
                continue;
            }
            let now = Instant::now();
            while window
                .front()
                .is_some_and(|&t| now.duration_since(t) > self.period)
            {
                window.pop_front();
            }
            if window.len() as u32 >= self.max_restarts {
                return Err(GaveUp {
                    child: child.name.clone(),
                    pid,
                    restarts: window.len() as u32,
                    payload,
                });
            }
            window.push_back(now);
            restarts += 1;
            running.insert(start(i), i);
        }
        Ok(SupervisorReport { restarts })
    }
}
