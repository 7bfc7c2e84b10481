//! `smarm::sync::mpsc`: std's channels, blocking by parking.
//!
//! One channel type serves all three flavours — unbounded (`channel`), bounded
//! (`sync_channel(n)`) and rendezvous (`sync_channel(0)`) — because they differ only in when a
//! sender must wait: never, while the buffer is full, or until its message has been taken. The
//! queue and counters live under the channel's wait-list lock; blocked senders queue FIFO on that
//! list; the single receiver, when blocked, is kept in `State::receiver` and woken by the send that
//! gives it something to do (into the sender's *run next* slot, so a ping-pong stays on one core).
//!
//! The error types are std's own (`pub use`), so `Display`, `Error` and pattern matching are
//! exactly std's, and values handed back on disconnect come back in them.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

use crate::rt::park::{self, WaitKind, WaitReason};
use crate::rt::sched;
use crate::rt::task::Task;
use crate::rt::waitlist::{Node, WaitList, Wake};

struct State<T> {
    /// Messages with their sequence numbers (a rendezvous sender finds its own by number).
    queue: VecDeque<(u64, T)>,
    /// `None`: unbounded; `Some(0)`: rendezvous; `Some(n)`: at most `n` buffered.
    cap: Option<usize>,
    sent: u64,
    received: u64,
    senders: usize,
    receiver_alive: bool,
    /// The receiver, while it is blocked waiting for a message. A plain pointer: the receiver
    /// cannot leave `recv` without this lock, so whoever takes it under the lock and wakes it
    /// under the lock reaches a live task.
    receiver: Option<*const Task>,
}

struct Chan<T> {
    list: WaitList<State<T>>,
}

impl<T> Chan<T> {
    fn new(cap: Option<usize>) -> Arc<Chan<T>> {
        Arc::new(Chan {
            list: WaitList::new(State {
                queue: VecDeque::new(),
                cap,
                sent: 0,
                received: 0,
                senders: 1,
                receiver_alive: true,
                receiver: None,
            }),
        })
    }

    /// Sends, waiting as the flavour requires (never with `block == false`, which is `try_send`).
    fn send(&self, t: T, block: bool) -> Result<(), TrySendError<T>> {
        let mut st = self.list.lock();
        loop {
            if !st.receiver_alive {
                return Err(TrySendError::Disconnected(t));
            }
            let room = match st.cap {
                None => true,
                Some(0) => block || (st.receiver.is_some() && st.queue.is_empty()),
                Some(n) => st.queue.len() < n,
            };
            if room {
                break;
            }
            if !block {
                return Err(TrySendError::Full(t));
            }
            let mut node = Node::waiting_on(WaitReason::Channel);
            self.list.wait(st, &mut node, None);
            st = self.list.lock();
        }
        let seq = st.sent;
        st.sent += 1;
        st.queue.push_back((seq, t));
        // Waking the receiver under the channel lock: `unpark` never switches, and the lock keeps
        // the receiver inside `recv` (so alive).
        if let Some(r) = st.receiver.take() {
            // SAFETY: see `State::receiver`.
            park::unpark(unsafe { &*r }, WaitKind::Wake);
        }
        if st.cap == Some(0) && block {
            // Rendezvous: wait until the receiver has taken this message (or is gone).
            loop {
                if st.received > seq {
                    return Ok(());
                }
                if !st.receiver_alive {
                    let i = st
                        .queue
                        .iter()
                        .position(|(s, _)| *s == seq)
                        .expect("message lost");
                    let (_, t) = st.queue.remove(i).expect("message lost");
                    return Err(TrySendError::Disconnected(t));
                }
                let mut node = Node::waiting_on(WaitReason::Channel);
                self.list.wait(st, &mut node, None);
                st = self.list.lock();
            }
        }
        drop(st);
        Ok(())
    }

    fn recv(&self, deadline: Option<Instant>, block: bool) -> Result<T, RecvTimeoutError> {
        let mut st = self.list.lock();
        loop {
            if let Some((_, t)) = st.queue.pop_front() {
                st.received += 1;
                st.receiver = None;
                // A sender may be waiting for room, or (rendezvous) for this very message.
                let woken: Option<Wake> = if st.cap.is_some() {
                    st.notify_one()
                } else {
                    None
                };
                drop(st);
                if let Some(w) = woken {
                    w.wake();
                }
                return Ok(t);
            }
            if st.senders == 0 {
                st.receiver = None;
                return Err(RecvTimeoutError::Disconnected);
            }
            if !block || deadline.is_some_and(|d| Instant::now() >= d) {
                st.receiver = None;
                return Err(RecvTimeoutError::Timeout);
            }
            // Registered once per call; a sender takes the registration when it wakes us.
            if st.receiver.is_none() {
                st.receiver = Some(sched::current_task_ptr());
            }
            drop(st);
            park::park_for(WaitKind::Wake, WaitReason::Channel, deadline);
            st = self.list.lock();
        }
    }

    fn drop_sender(&self) {
        let mut st = self.list.lock();
        st.senders -= 1;
        if st.senders == 0
            && let Some(r) = st.receiver.take()
        {
            // SAFETY: see `State::receiver`.
            park::unpark(unsafe { &*r }, WaitKind::Wake);
        }
    }

    fn drop_receiver(&self) {
        let mut st = self.list.lock();
        st.receiver_alive = false;
        let woken = st.notify_all();
        // Buffered messages nobody will read are dropped now, as std does; a rendezvous sender
        // still waiting takes its own message back.
        let dropped: VecDeque<(u64, T)> = if st.cap == Some(0) {
            VecDeque::new()
        } else {
            std::mem::take(&mut st.queue)
        };
        drop(st);
        for w in woken {
            w.wake();
        }
        drop(dropped);
    }
}

/// The sending half of [`channel`], as `std::sync::mpsc::Sender`.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The sending half of [`sync_channel`], as `std::sync::mpsc::SyncSender`.
pub struct SyncSender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel, as `std::sync::mpsc::Receiver`.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// One receiver, used by one thread at a time: `!Sync`, as std's.
    _not_sync: std::marker::PhantomData<std::cell::Cell<()>>,
}

// SAFETY: the channel's state is behind its lock; moving `T`s between threads needs `T: Send`.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Chan<T> {}

/// An unbounded channel, as `std::sync::mpsc::channel`: `send` never blocks.
///
/// ```
/// use smarm::sync::mpsc;
/// use smarm::thread;
///
/// let (tx, rx) = mpsc::channel();
/// for i in 0..10 {
///     let tx = tx.clone();
///     thread::spawn(move || tx.send(i).unwrap());
/// }
/// drop(tx);
/// assert_eq!(rx.iter().sum::<i32>(), 45);
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Chan::new(None);
    (
        Sender { chan: chan.clone() },
        Receiver {
            chan,
            _not_sync: std::marker::PhantomData,
        },
    )
}

/// A bounded channel, as `std::sync::mpsc::sync_channel`: `send` blocks while `bound` messages
/// are buffered; with `bound == 0` every send waits until the receiver takes its message.
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let chan = Chan::new(Some(bound));
    (
        SyncSender { chan: chan.clone() },
        Receiver {
            chan,
            _not_sync: std::marker::PhantomData,
        },
    )
}

impl<T> Sender<T> {
    /// Sends a value; `Err` hands it back if the receiver is gone.
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send(t, true).map_err(|e| match e {
            TrySendError::Disconnected(t) | TrySendError::Full(t) => SendError(t),
        })
    }
}

impl<T> SyncSender<T> {
    /// Sends a value, blocking while the buffer is full (or, for a rendezvous channel, until the
    /// receiver takes it). `Err` hands it back if the receiver is gone.
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send(t, true).map_err(|e| match e {
            TrySendError::Disconnected(t) | TrySendError::Full(t) => SendError(t),
        })
    }

    /// Sends without blocking: `Full` if there is no room (for a rendezvous channel: no receiver
    /// is waiting), `Disconnected` if the receiver is gone.
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        self.chan.send(t, false)
    }
}

impl<T> Receiver<T> {
    /// Takes a message if one is ready.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.recv(None, false).map_err(|e| match e {
            RecvTimeoutError::Timeout => TryRecvError::Empty,
            RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// Blocks until a message arrives; `Err` once every sender is gone and the buffer is empty.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv(None, true).map_err(|_| RecvError)
    }

    /// Like [`recv`](Self::recv), giving up after `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.chan.recv(Instant::now().checked_add(timeout), true)
    }

    /// A blocking iterator over received messages; ends when every sender is gone.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the messages ready now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.list.lock().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> SyncSender<T> {
        self.chan.list.lock().senders += 1;
        SyncSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> Drop for SyncSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.drop_receiver();
    }
}

/// Blocking iterator, as `std::sync::mpsc::Iter`.
pub struct Iter<'a, T: 'a> {
    rx: &'a Receiver<T>,
}

/// Non-blocking iterator, as `std::sync::mpsc::TryIter`.
pub struct TryIter<'a, T: 'a> {
    rx: &'a Receiver<T>,
}

/// Owning blocking iterator, as `std::sync::mpsc::IntoIter`.
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

macro_rules! debug_non_exhaustive {
    ($($ty:ident),*) => {$(
        impl<T> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty)).finish_non_exhaustive()
            }
        }
    )*};
}
debug_non_exhaustive!(Sender, SyncSender, Receiver, IntoIter);

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").field("rx", &self.rx).finish()
    }
}

impl<T> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryIter").field("rx", &self.rx).finish()
    }
}
