//! [`Select`]: waiting on several channel operations at once — receives, bounded sends and a
//! timeout. A smarm extension beside the std mirror (std has no select); the API has
//! crossbeam-channel's shape, re-exported as `smarm::sync::mpsc::{Select, SelectedOperation,
//! SelectTimeoutError, TrySelectError}`.
//!
//! **The protocol.** A select is DESIGN.md's one wait primitive with several queues:
//!
//! 1. *Pass.* Visit the cases in a fresh random order (fairness, below). For each, under that
//!    channel's lock, `Case::poll`: if the operation can complete without waiting it is
//!    *selected* — a send also reserves its room (`State::reserved`) in the same critical
//!    section, so no other sender can take it before the caller completes the send. If not, and
//!    the select may wait, it registers the calling thread on that channel, still under the lock:
//!    as the receiver (`State::receiver`, where a blocked `recv` waits) or as a selector waiting
//!    to send (`State::send_selectors`).
//! 2. *Park.* A pass that selects nothing parks (`WaitKind::Wake`, until the deadline if any) and
//!    then makes another pass; registrations left from earlier passes stay valid, and a pass
//!    registers again wherever a waker took the registration away.
//! 3. *Leave.* Once a case is selected, or the deadline has passed, the select removes its
//!    registration from every channel it may have registered on (each under its lock), and only
//!    then returns. No channel holds a pointer to a thread that has left the select.
//!
//! **No lost wake-up.** Whatever can make a case ready changes that channel's state under its
//! lock — a send or the last sender leaving (receive cases), a receive, a dropped receiver, a
//! receiver starting to wait on a rendezvous channel, or a released reservation (send cases) —
//! and, in the same critical section, unparks whoever is registered there. The pass checks
//! readiness and registers in one critical section per channel, so each change is either seen by
//! the check or finds the registration. A wake that comes while the selector is still making its
//! pass, before it parks, leaves the park token (DESIGN.md, "The one wait primitive"), and the
//! park returns at once.
//!
//! **Stale tokens.** A channel that wakes the selector after it has selected another case (it
//! took the registration before the selector removed it) leaves a `Wake` token behind, and the
//! thread's next runtime wait returns once, spuriously. Every `Wake` park in the crate loops on
//! its own condition (wait-list `notified`, `join`'s state, `recv`'s queue, `sleep`'s deadline,
//! the scope count, the blocking pool's `done`, `run`'s quiescence, this file's passes), so such a
//! token costs one extra check, never a wrong answer. The user's `thread::park` token is never
//! touched.
//!
//! **Exactly once.** A select never takes a message itself. A receive case is selected when the
//! channel holds a message or has no sender left; both stay true until this thread receives (a
//! channel has one receiver, and [`Select`] is not `Send`), so [`SelectedOperation::recv`] gets
//! that message or that disconnect. A send case is selected with its room already reserved, so
//! [`SelectedOperation::send`] puts the message in without waiting, or hands it back in
//! `SendError` if the receiver went away meanwhile. A selected operation dropped unfinished
//! releases its reservation (and wakes a waiting sender): nothing is lost, nothing is consumed.
//!
//! **Fairness.** Each pass visits the cases in an order shuffled by a per-thread xorshift
//! generator (Fisher–Yates over a scratch vector the `Select` keeps), so among ready cases each is
//! chosen with equal probability, and a channel that is always ready cannot starve the others.
//!
//! **Cost.** A `Select` allocates its two vectors when cases are added; a select allocates nothing
//! in the steady state (a channel's list of waiting send selectors keeps its capacity). A pass
//! takes each channel's lock once; leaving takes it again on the channels registered on (none
//! when the first case visited is ready).

use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use crate::rt::park::{self, WaitKind, WaitReason};
use std::sync::mpsc::{RecvError, SendError};

use super::case::{Case, Poll};
use super::chan::{Receiver, SyncSender};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Recv,
    Send,
}

#[derive(Clone, Copy)]
struct Entry<'a> {
    case: &'a dyn Case,
    kind: Kind,
}

/// Waits until one of several channel operations can proceed, and selects it: receives on
/// [`Receiver`]s, sends on [`SyncSender`]s, with an optional timeout. A smarm extension (std has
/// no select), shaped like crossbeam-channel's `Select`.
///
/// Add operations with [`recv`](Select::recv) and [`send`](Select::send) (each returns the
/// operation's index), then call [`select`](Select::select),
/// [`select_timeout`](Select::select_timeout), [`select_deadline`](Select::select_deadline) or
/// [`try_select`](Select::try_select). The [`SelectedOperation`] they return names the chosen
/// operation by [`index`](SelectedOperation::index); complete it with
/// [`SelectedOperation::recv`] or [`SelectedOperation::send`].
///
/// - An operation is *ready* when it can complete without waiting: a receive when a message is
///   buffered or every sender is gone (it then returns [`RecvError`]); a send when the buffer has
///   room, a rendezvous receiver is waiting, or the receiver is gone (it then hands the message
///   back in [`SendError`]).
/// - A selected operation completes exactly once: a selected receive gets the message that made
///   it ready, and a selected send has its room reserved, so no other thread can take either in
///   between. Dropping a [`SelectedOperation`] without completing it gives the room back (crossbeam
///   panics instead).
/// - When several operations are ready, one is chosen at random, so a busy channel cannot starve
///   the others.
/// - Waiting parks the calling thread: a green thread leaves its worker to others, a plain OS
///   thread (`main`, a test) blocks as in `recv`.
///
/// A `Select` borrows its channels and is used by the thread that made it (it is not `Send`: a
/// [`Receiver`] is used by one thread at a time). It can be reused for any number of selects.
///
/// # Examples
///
/// ```
/// use smarm::sync::mpsc::{self, Select};
/// use smarm::thread;
///
/// let (tx1, rx1) = mpsc::channel::<&str>();
/// let (tx2, rx2) = mpsc::sync_channel::<i32>(1);
///
/// thread::spawn(move || tx1.send("hello").unwrap());
///
/// let mut sel = Select::new();
/// let recv1 = sel.recv(&rx1);
/// let send2 = sel.send(&tx2);
/// // Both can be ready (the buffer of `tx2` has room): one of them is chosen at random.
/// let op = sel.select();
/// match op.index() {
///     i if i == recv1 => assert_eq!(op.recv(&rx1), Ok("hello")),
///     i if i == send2 => {
///         op.send(&tx2, 7).unwrap();
///         assert_eq!(rx2.recv(), Ok(7));
///     }
///     _ => unreachable!(),
/// }
/// ```
///
/// A `Select` cannot be moved to another thread:
///
/// ```compile_fail,E0277
/// use smarm::sync::mpsc::{self, Select};
/// use smarm::thread;
///
/// let (_tx, rx) = mpsc::channel::<i32>();
/// let mut sel = Select::new();
/// sel.recv(&rx);
/// thread::scope(|s| {
///     s.spawn(move || sel.select().index());
/// });
/// ```
#[derive(Clone, Default)]
pub struct Select<'a> {
    /// The operations by index; `None` once removed.
    entries: Vec<Option<Entry<'a>>>,
    /// Scratch: the live indices in this pass's order.
    order: Vec<usize>,
}

impl<'a> Select<'a> {
    /// An empty set of operations.
    ///
    /// With no operations, [`try_select`](Select::try_select) fails at once,
    /// [`select_timeout`](Select::select_timeout) waits out its timeout and
    /// [`select`](Select::select) waits forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{Select, TrySelectError};
    ///
    /// let mut sel = Select::new();
    /// assert_eq!(sel.try_select().map(|op| op.index()), Err(TrySelectError));
    /// ```
    pub fn new() -> Select<'a> {
        Select {
            entries: Vec::new(),
            order: Vec::new(),
        }
    }

    /// Adds a receive on `r` and returns its index (indices count from 0 in the order operations
    /// were added). Complete it with [`SelectedOperation::recv`].
    ///
    /// It is ready when a message is buffered, or when every sender is gone (the receive then
    /// returns [`RecvError`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{self, Select};
    ///
    /// let (_tx1, rx1) = mpsc::channel::<i32>();
    /// let (tx2, rx2) = mpsc::channel();
    /// tx2.send(2).unwrap();
    ///
    /// let mut sel = Select::new();
    /// assert_eq!(sel.recv(&rx1), 0);
    /// assert_eq!(sel.recv(&rx2), 1);
    /// let op = sel.select();
    /// assert_eq!(op.index(), 1); // only `rx2` has a message
    /// assert_eq!(op.recv(&rx2), Ok(2));
    /// ```
    pub fn recv<T>(&mut self, r: &'a Receiver<T>) -> usize {
        self.add(r, Kind::Recv)
    }

    /// Adds a send on `s` and returns its index. Complete it with [`SelectedOperation::send`].
    ///
    /// It is ready when the buffer has room (for a rendezvous channel, `sync_channel(0)`: when
    /// the receiver is waiting in `recv` or a select), or when the receiver is gone (the send then
    /// hands the message back in [`SendError`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{self, Select};
    ///
    /// let (tx, rx) = mpsc::sync_channel(1);
    /// let mut sel = Select::new();
    /// let i = sel.send(&tx);
    /// let op = sel.select(); // the buffer has room for one
    /// assert_eq!(op.index(), i);
    /// op.send(&tx, "queued").unwrap();
    /// assert_eq!(rx.recv(), Ok("queued"));
    /// ```
    pub fn send<T>(&mut self, s: &'a SyncSender<T>) -> usize {
        self.add(s, Kind::Send)
    }

    fn add(&mut self, case: &'a dyn Case, kind: Kind) -> usize {
        self.entries.push(Some(Entry { case, kind }));
        self.order.reserve(1);
        self.entries.len() - 1
    }

    /// Removes the operation with index `index` (for example a receive whose channel has
    /// disconnected). The other operations keep their indices.
    ///
    /// # Panics
    ///
    /// If there is no operation with that index, or it was removed already.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{self, Select};
    ///
    /// let (tx1, rx1) = mpsc::channel::<i32>();
    /// let (tx2, rx2) = mpsc::channel();
    /// drop(tx1); // `rx1` is disconnected, so always ready
    /// tx2.send(2).unwrap();
    ///
    /// let mut sel = Select::new();
    /// let i1 = sel.recv(&rx1);
    /// let i2 = sel.recv(&rx2);
    /// sel.remove(i1);
    /// let op = sel.select();
    /// assert_eq!(op.index(), i2);
    /// assert_eq!(op.recv(&rx2), Ok(2));
    /// ```
    pub fn remove(&mut self, index: usize) {
        let entry = self
            .entries
            .get_mut(index)
            .expect("no operation with this index");
        assert!(entry.take().is_some(), "operation already removed");
    }

    /// Selects a ready operation without waiting, or fails with [`TrySelectError`] if none is
    /// ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{self, Select, TrySelectError};
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let mut sel = Select::new();
    /// let i = sel.recv(&rx);
    /// assert!(matches!(sel.try_select(), Err(TrySelectError)));
    ///
    /// tx.send(1).unwrap();
    /// let op = sel.try_select().unwrap();
    /// assert_eq!(op.index(), i);
    /// assert_eq!(op.recv(&rx), Ok(1));
    /// ```
    pub fn try_select(&mut self) -> Result<SelectedOperation<'a>, TrySelectError> {
        self.run(None, false).ok_or(TrySelectError)
    }

    /// Waits until an operation is ready and selects it. With no operations it waits forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{self, Select};
    /// use smarm::thread;
    /// use std::time::Duration;
    ///
    /// let (_jobs_tx, jobs) = mpsc::channel::<u32>();
    /// let (stop_tx, stop) = mpsc::channel::<()>();
    /// thread::spawn(move || {
    ///     thread::sleep(Duration::from_millis(1));
    ///     stop_tx.send(()).unwrap();
    /// });
    ///
    /// let mut sel = Select::new();
    /// let job = sel.recv(&jobs);
    /// let halt = sel.recv(&stop);
    /// let op = sel.select(); // parks until the stop message comes
    /// assert_eq!(op.index(), halt);
    /// assert_ne!(op.index(), job);
    /// op.recv(&stop).unwrap();
    /// ```
    pub fn select(&mut self) -> SelectedOperation<'a> {
        loop {
            // Only a deadline ends a blocking run without a selection.
            if let Some(op) = self.run(None, true) {
                return op;
            }
        }
    }

    /// Waits at most `timeout` for an operation to be ready and selects it, or fails with
    /// [`SelectTimeoutError`]. Nothing is received or sent on a timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{self, Select, SelectTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = mpsc::channel::<i32>();
    /// let mut sel = Select::new();
    /// sel.recv(&rx);
    /// assert!(matches!(
    ///     sel.select_timeout(Duration::from_millis(1)),
    ///     Err(SelectTimeoutError)
    /// ));
    ///
    /// tx.send(1).unwrap();
    /// let op = sel.select_timeout(Duration::from_secs(10)).unwrap();
    /// assert_eq!(op.recv(&rx), Ok(1));
    /// ```
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.select_deadline(deadline),
            None => Ok(self.select()), // a timeout too far to represent: forever, as `recv_timeout`
        }
    }

    /// Waits until `deadline` at most for an operation to be ready and selects it, or fails with
    /// [`SelectTimeoutError`]. Nothing is received or sent when the deadline passes.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{self, Select};
    /// use std::time::{Duration, Instant};
    ///
    /// let (tx, rx) = mpsc::sync_channel::<u32>(0);
    /// let mut sel = Select::new();
    /// sel.send(&tx); // rendezvous: ready only while the receiver waits
    /// let deadline = Instant::now() + Duration::from_millis(2);
    /// assert!(sel.select_deadline(deadline).is_err());
    /// assert!(Instant::now() >= deadline);
    /// drop(rx);
    /// ```
    pub fn select_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        self.run(Some(deadline), true).ok_or(SelectTimeoutError)
    }

    /// One select: passes over the cases until one is selected, the deadline passes, or (without
    /// `may_wait`) after one pass. See the module docs for the protocol.
    fn run(&mut self, deadline: Option<Instant>, may_wait: bool) -> Option<SelectedOperation<'a>> {
        let me = crate::rt::task::current::current_task_ptr();
        self.order.clear();
        let live = self.entries.iter().enumerate();
        self.order
            .extend(live.filter_map(|(i, e)| e.is_some().then_some(i)));
        // `order[..registered]` may hold registrations of ours. Only the last pass can stop part
        // way, so once a pass has registered everywhere the prefix is the whole order, whatever
        // later shuffles do.
        let mut registered = 0;
        loop {
            let wait = may_wait && deadline.is_none_or(|d| Instant::now() < d);
            let waiter = wait.then_some(me);
            shuffle(&mut self.order);
            let mut selected = None;
            for (n, &i) in self.order.iter().enumerate() {
                let entry = self.entries[i].expect("`order` holds live entries only");
                if let Poll::Ready { reserved } = entry.case.poll(waiter) {
                    selected = Some((n, i, entry, reserved));
                    break;
                }
            }
            if wait {
                let polled = selected.map_or(self.order.len(), |(n, ..)| n);
                registered = registered.max(polled);
            }
            if selected.is_some() || !wait {
                for &i in &self.order[..registered] {
                    let entry = self.entries[i].expect("`order` holds live entries only");
                    entry.case.unregister(me);
                }
                return selected.map(|(_, index, entry, reserved)| SelectedOperation {
                    index,
                    case: entry.case,
                    kind: entry.kind,
                    reserved,
                });
            }
            // Registered on every case: a change that makes one ready unparks us, or has left
            // the token if it came during the pass.
            park::park_for(WaitKind::Wake, WaitReason::Channel, deadline);
        }
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let live = self.entries.iter().filter(|e| e.is_some()).count();
        f.debug_struct("Select")
            .field("operations", &live)
            .finish_non_exhaustive()
    }
}

/// The operation a [`Select`] chose, ready to complete: call [`recv`](SelectedOperation::recv)
/// or [`send`](SelectedOperation::send) with the channel end that was added under
/// [`index`](SelectedOperation::index). Completing it does not wait.
///
/// Dropping it without completing it cancels it: a receive leaves its message in the channel, a
/// send gives back the room it had reserved (waking a sender waiting for it).
///
/// # Examples
///
/// ```
/// use smarm::sync::mpsc::{self, Select};
///
/// let (tx, rx) = mpsc::channel();
/// tx.send("ping").unwrap();
/// let mut sel = Select::new();
/// let i = sel.recv(&rx);
/// let op = sel.select();
/// assert_eq!(op.index(), i);
/// assert_eq!(op.recv(&rx), Ok("ping"));
/// ```
#[must_use = "a selected operation is completed with `recv` or `send`"]
pub struct SelectedOperation<'a> {
    index: usize,
    case: &'a dyn Case,
    kind: Kind,
    /// A send's reserved room, still to be used or released.
    reserved: bool,
}

impl SelectedOperation<'_> {
    /// The index of the selected operation, as returned by [`Select::recv`] or [`Select::send`]
    /// when it was added.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{self, Select};
    ///
    /// let (_tx1, rx1) = mpsc::channel::<i32>();
    /// let (tx2, rx2) = mpsc::sync_channel::<i32>(1);
    /// let mut sel = Select::new();
    /// let _ = sel.recv(&rx1); // never ready: nothing is sent
    /// let s = sel.send(&tx2);
    /// let op = sel.select();
    /// assert_eq!(op.index(), s);
    /// op.send(&tx2, 5).unwrap();
    /// assert_eq!(rx2.recv(), Ok(5));
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// Completes a selected receive: the message that made it ready, or [`RecvError`] if every
    /// sender is gone and nothing is buffered. Does not wait.
    ///
    /// # Panics
    ///
    /// If `r` is not the receiver of the selected operation.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{self, RecvError, Select};
    ///
    /// let (tx, rx) = mpsc::channel::<i32>();
    /// drop(tx);
    /// let mut sel = Select::new();
    /// sel.recv(&rx);
    /// let op = sel.select(); // a disconnected channel is ready
    /// assert_eq!(op.recv(&rx), Err(RecvError));
    /// ```
    pub fn recv<T>(self, r: &Receiver<T>) -> Result<T, RecvError> {
        assert!(
            self.kind == Kind::Recv && self.case.channel() == Case::channel(r),
            "passed a receiver that wasn't selected"
        );
        // Ready stays ready until this receiver takes it (see the module docs): this returns at
        // once.
        r.recv()
    }

    /// Completes a selected send: puts `msg` into the room reserved for it (for a rendezvous
    /// channel: hands it to the waiting receiver, as `try_send` does), or hands it back in
    /// [`SendError`] if the receiver is gone. Does not wait.
    ///
    /// # Panics
    ///
    /// If `s` is not the sender of the selected operation (`msg` is then dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{self, SendError, Select};
    ///
    /// let (tx, rx) = mpsc::sync_channel(0);
    /// drop(rx);
    /// let mut sel = Select::new();
    /// sel.send(&tx);
    /// let op = sel.select(); // a disconnected channel is ready
    /// assert_eq!(op.send(&tx, 9), Err(SendError(9)));
    /// ```
    pub fn send<T>(mut self, s: &SyncSender<T>, msg: T) -> Result<(), SendError<T>> {
        assert!(
            self.kind == Kind::Send && self.case.channel() == Case::channel(s),
            "passed a sender that wasn't selected"
        );
        let reserved = std::mem::replace(&mut self.reserved, false);
        s.send_selected(msg, reserved)
    }
}

impl Drop for SelectedOperation<'_> {
    fn drop(&mut self) {
        if self.reserved {
            self.case.release();
        }
    }
}

impl fmt::Debug for SelectedOperation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// [`Select::try_select`] found no operation ready.
///
/// # Examples
///
/// ```
/// use smarm::sync::mpsc::{self, Select, TrySelectError};
///
/// let (_tx, rx) = mpsc::channel::<i32>();
/// let mut sel = Select::new();
/// sel.recv(&rx);
/// let err = sel.try_select().unwrap_err();
/// assert_eq!(err, TrySelectError);
/// assert_eq!(err.to_string(), "all operations in select would block");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TrySelectError;

impl fmt::Display for TrySelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("all operations in select would block")
    }
}

impl Error for TrySelectError {}

/// [`Select::select_timeout`] or [`Select::select_deadline`] found no operation ready in time.
///
/// # Examples
///
/// ```
/// use smarm::sync::mpsc::{self, Select, SelectTimeoutError};
/// use std::time::Duration;
///
/// let (_tx, rx) = mpsc::channel::<i32>();
/// let mut sel = Select::new();
/// sel.recv(&rx);
/// let err = sel.select_timeout(Duration::from_millis(1)).unwrap_err();
/// assert_eq!(err, SelectTimeoutError);
/// assert_eq!(err.to_string(), "timed out waiting on select");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SelectTimeoutError;

impl fmt::Display for SelectTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out waiting on select")
    }
}

impl Error for SelectTimeoutError {}

std::thread_local! {
    /// xorshift64 state for [`shuffle`], per thread (a green thread's thread-locals are its own),
    /// seeded from std's per-process random hash keys. Never zero.
    static RNG: Cell<u64> = Cell::new(RandomState::new().hash_one(0u8) | 1);
}

/// Puts `order` in a uniformly random order (Fisher–Yates).
fn shuffle(order: &mut [usize]) {
    if order.len() < 2 {
        return;
    }
    RNG.with(|rng| {
        let mut x = rng.get();
        for i in (1..order.len()).rev() {
            // xorshift64 (Marsaglia's 13, 7, 17).
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // A number in 0..=i by multiply-shift (Lemire): no division, bias below 2^-50 here.
            let j = ((u128::from(x) * (i as u128 + 1)) >> 64) as usize;
            order.swap(i, j);
        }
        rng.set(x);
    });
}
