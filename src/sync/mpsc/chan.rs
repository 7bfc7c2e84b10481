//! The channel: one type for the unbounded, bounded and rendezvous flavours (see the module
//! above for the design).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

use super::case::{Case, Poll};
use crate::rt::park::waitlist::{Node, WaitList, Wake};
use crate::rt::park::{self, WaitKind, WaitReason};
use crate::rt::task::Task;

struct State<T> {
    /// Messages with their sequence numbers (a rendezvous sender finds its own by number).
    queue: VecDeque<(u64, T)>,
    /// `None`: unbounded; `Some(0)`: rendezvous; `Some(n)`: at most `n` buffered.
    cap: Option<usize>,
    sent: u64,
    received: u64,
    senders: usize,
    receiver_alive: bool,
    /// The receiver, while it is blocked waiting for a message (in `recv`, or in a [`Select`](super::Select)
    /// with a receive case here). A plain pointer: the receiver cannot leave `recv` or `select`
    /// without clearing it under this lock, so whoever takes it under the lock and wakes it under
    /// the lock reaches a live task.
    receiver: Option<*const Task>,
    /// Room promised to sends chosen by a [`Select`](super::Select) and not yet completed: counted as taken.
    reserved: usize,
    /// Selectors waiting for a send on this channel to become possible (room, a receiver for a
    /// rendezvous, or disconnection). Plain pointers, as `receiver`: a selector leaves `select`
    /// only after removing itself here under the lock, and wakers unpark under the lock.
    send_selectors: Vec<*const Task>,
}

impl<T> State<T> {
    /// Whether a send that will not wait can put a message in now (`try_send`'s test, and a
    /// select's). Room reserved by selected sends counts as taken.
    fn room_now(&self) -> bool {
        match self.cap {
            None => true,
            Some(0) => self.receiver.is_some() && self.queue.is_empty() && self.reserved == 0,
            Some(n) => self.queue.len() + self.reserved < n,
        }
    }

    /// Wakes every selector waiting to send here; each re-checks (and re-registers if it must).
    /// Called under the lock, as the receiver is woken: `unpark` never switches. Out of line:
    /// only bounded channels call it, and it should not grow the message paths.
    #[cold]
    #[inline(never)]
    fn wake_send_selectors(&mut self) {
        for s in self.send_selectors.drain(..) {
            // SAFETY: see `State::send_selectors`: the selector is still inside `select`.
            park::unpark(unsafe { &*s }, WaitKind::Wake);
        }
    }
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
                reserved: 0,
                send_selectors: Vec::new(),
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
            let room = (block && st.cap == Some(0)) || st.room_now();
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
                    st.wake_send_selectors();
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
                st.receiver = Some(crate::rt::task::current::current_task_ptr());
                // A waiting receiver is what a rendezvous send needs: tell selectors that wait
                // to send here.
                if st.cap == Some(0) {
                    st.wake_send_selectors();
                }
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
        st.wake_send_selectors();
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

/// The sending half of [`channel`], as `std::sync::mpsc::Sender`. Messages can be sent through
/// it with [`send`](Sender::send), which never blocks.
///
/// It may be cloned to send from many threads (and, as std's, shared by reference: it is `Sync`
/// when `T: Send`). The channel disconnects for the receiver once every `Sender` is dropped.
///
/// # Examples
///
/// ```
/// use smarm::sync::mpsc::channel;
/// use smarm::thread;
///
/// let (sender, receiver) = channel();
/// let sender2 = sender.clone();
///
/// // First thread owns sender
/// thread::spawn(move || {
///     sender.send(1).unwrap();
/// });
///
/// // Second thread owns sender2
/// thread::spawn(move || {
///     sender2.send(2).unwrap();
/// });
///
/// let msg = receiver.recv().unwrap();
/// let msg2 = receiver.recv().unwrap();
///
/// assert_eq!(3, msg + msg2);
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The sending half of [`sync_channel`], as `std::sync::mpsc::SyncSender`. Its
/// [`send`](SyncSender::send) blocks while the channel's buffer is full; a green thread that
/// waits to send parks, leaving its worker to others.
///
/// It may be cloned to send from many threads. The channel disconnects for the receiver once
/// every `SyncSender` is dropped.
///
/// # Examples
///
/// ```
/// use smarm::sync::mpsc::sync_channel;
/// use smarm::thread;
///
/// // Create a sync_channel with buffer size 2
/// let (sync_sender, receiver) = sync_channel(2);
/// let sync_sender2 = sync_sender.clone();
///
/// // First thread owns sync_sender
/// thread::spawn(move || {
///     sync_sender.send(1).unwrap();
///     sync_sender.send(2).unwrap();
/// });
///
/// // Second thread owns sync_sender2
/// thread::spawn(move || {
///     sync_sender2.send(3).unwrap();
///     // thread will now block since the buffer is full
///     sync_sender2.send(4).unwrap();
/// });
///
/// let mut msgs: Vec<i32> = receiver.iter().collect();
/// msgs.sort();
/// assert_eq!(msgs, [1, 2, 3, 4]);
/// ```
pub struct SyncSender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel ([`channel`] or [`sync_channel`]), as
/// `std::sync::mpsc::Receiver`.
///
/// Messages are received with [`recv`](Receiver::recv), which blocks the green thread (not its
/// worker) until one arrives, or taken with [`try_recv`](Receiver::try_recv) and the iterators.
/// There is one receiver per channel: it may be moved to another thread (`Send`), but not shared
/// between threads (it is not `Sync`, as std's is not).
///
/// # Examples
///
/// ```
/// use smarm::sync::mpsc::channel;
/// use smarm::thread;
/// use std::time::Duration;
///
/// let (send, recv) = channel();
///
/// thread::spawn(move || {
///     send.send("Hello world!").unwrap();
///     thread::sleep(Duration::from_millis(2)); // block for a little while
///     send.send("Delayed for 2 ms").unwrap();
/// });
///
/// assert_eq!(recv.recv().unwrap(), "Hello world!"); // received immediately
/// // Blocks until the second message arrives:
/// assert_eq!(recv.recv().unwrap(), "Delayed for 2 ms");
/// ```
///
/// A `Receiver` cannot be used from two threads at once:
///
/// ```compile_fail,E0277
/// use smarm::sync::mpsc;
/// use smarm::thread;
///
/// let (tx, rx) = mpsc::channel();
/// tx.send(1).unwrap();
/// thread::scope(|s| {
///     s.spawn(|| rx.recv().unwrap());
/// });
/// ```
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
/// Returns the [`Sender`] and [`Receiver`] halves. All data sent on the `Sender` becomes
/// available on the `Receiver` in the same order as it was sent, and no `send` will block the
/// calling thread; `recv` blocks until a message is available (a green thread parks, leaving
/// its worker to others). The `Sender` can be cloned to send to the same channel multiple
/// times, but only one `Receiver` is supported.
///
/// # Examples
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
///
/// With `bound == 0` this is a *rendezvous* channel: each `send` hands its message directly to
/// the receiver. A blocked sender parks (a green thread blocks, not its worker). Like
/// asynchronous channels, the [`Receiver`] blocks until a message becomes available. The
/// [`SyncSender`] can be cloned to send from many threads.
///
/// # Examples
///
/// ```
/// use smarm::sync::mpsc::sync_channel;
/// use smarm::thread;
///
/// let (sender, receiver) = sync_channel(1);
///
/// // this returns immediately
/// sender.send(1).unwrap();
///
/// thread::spawn(move || {
///     // this will block until the previous message has been received
///     sender.send(2).unwrap();
/// });
///
/// assert_eq!(receiver.recv().unwrap(), 1);
/// assert_eq!(receiver.recv().unwrap(), 2);
/// ```
///
/// A rendezvous channel:
///
/// ```
/// use smarm::sync::mpsc::sync_channel;
/// use smarm::thread;
///
/// let (tx, rx) = sync_channel(0);
/// let sender = thread::spawn(move || {
///     tx.send("handed over").unwrap(); // returns once the receiver has taken it
///     "sent"
/// });
/// assert_eq!(rx.recv().unwrap(), "handed over");
/// assert_eq!(sender.join().unwrap(), "sent");
/// ```
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
    /// Attempts to send a value on this channel, returning it back if it could not be sent, as
    /// `std::sync::mpsc::Sender::send`. Never blocks: the channel is unbounded.
    ///
    /// A successful send does not guarantee that the receiver will see the message (it may be
    /// dropped first); an `Err` means the receiver is gone and the message will never be
    /// received.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{SendError, channel};
    ///
    /// let (tx, rx) = channel();
    ///
    /// // This send is always successful
    /// tx.send(1).unwrap();
    ///
    /// // This send will fail because the receiver is gone
    /// drop(rx);
    /// assert_eq!(tx.send(1), Err(SendError(1)));
    /// ```
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send(t, true).map_err(|e| match e {
            TrySendError::Disconnected(t) | TrySendError::Full(t) => SendError(t),
        })
    }
}

impl<T> SyncSender<T> {
    /// Sends a value, blocking while the buffer is full (or, for a rendezvous channel, until the
    /// receiver takes it). `Err` hands it back if the receiver is gone, as
    /// `std::sync::mpsc::SyncSender::send`.
    ///
    /// A blocked sender parks: on a green thread it blocks the green thread, not the worker.
    /// Blocked senders queue in FIFO order and are woken one at a time as room appears.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::sync_channel;
    /// use smarm::thread;
    ///
    /// // Create a rendezvous sync_channel with buffer size 0
    /// let (sync_sender, receiver) = sync_channel(0);
    ///
    /// thread::spawn(move || {
    ///     // This will wait for the receiver to take the message
    ///     sync_sender.send(1).unwrap();
    /// });
    ///
    /// assert_eq!(receiver.recv().unwrap(), 1);
    /// ```
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send(t, true).map_err(|e| match e {
            TrySendError::Disconnected(t) | TrySendError::Full(t) => SendError(t),
        })
    }

    /// Sends without blocking: `Full` if there is no room (for a rendezvous channel: no receiver
    /// is waiting), `Disconnected` if the receiver is gone, as
    /// `std::sync::mpsc::SyncSender::try_send`. Either error hands the value back.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{TrySendError, sync_channel};
    ///
    /// let (tx, rx) = sync_channel(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2))); // the buffer holds 1
    /// assert_eq!(rx.recv().unwrap(), 1);
    /// assert_eq!(tx.try_send(3), Ok(()));
    ///
    /// drop(rx);
    /// assert_eq!(tx.try_send(4), Err(TrySendError::Disconnected(4)));
    ///
    /// // Rendezvous: nobody is waiting in `recv`, so there is no room.
    /// let (tx, _rx) = sync_channel(0);
    /// assert_eq!(tx.try_send(5), Err(TrySendError::Full(5)));
    /// ```
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        self.chan.send(t, false)
    }
}

impl<T> Receiver<T> {
    /// Attempts to return a pending value on this receiver without blocking, as
    /// `std::sync::mpsc::Receiver::try_recv`.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if no message is ready but a sender is alive, and
    /// [`TryRecvError::Disconnected`] once the buffer is empty and every sender is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::{TryRecvError, channel};
    ///
    /// let (tx, rx) = channel::<i32>();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    ///
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(1)); // buffered messages outlive the senders
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.recv(None, false).map_err(|e| match e {
            RecvTimeoutError::Timeout => TryRecvError::Empty,
            RecvTimeoutError::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// Attempts to wait for a value on this receiver, returning an error if the corresponding
    /// channel has hung up, as `std::sync::mpsc::Receiver::recv`.
    ///
    /// Blocks until a message arrives; a green thread parks, leaving its worker to others, and
    /// a send wakes it. Messages buffered before the last sender went away are still received.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once every sender is gone and the buffer is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc;
    /// use smarm::thread;
    ///
    /// let (send, recv) = mpsc::channel();
    /// let handle = thread::spawn(move || {
    ///     send.send(1u8).unwrap();
    /// });
    ///
    /// handle.join().unwrap();
    ///
    /// assert_eq!(Ok(1), recv.recv());
    /// // The sender is gone with its thread:
    /// assert_eq!(Err(mpsc::RecvError), recv.recv());
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv(None, true).map_err(|_| RecvError)
    }

    /// Attempts to wait for a value on this receiver, returning an error if the corresponding
    /// channel has hung up, or if it waits more than `timeout`, as
    /// `std::sync::mpsc::Receiver::recv_timeout`.
    ///
    /// As [`recv`](Self::recv), with a deadline kept by the runtime's timer.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if nothing arrived in time, and
    /// [`RecvTimeoutError::Disconnected`] once every sender is gone and the buffer is empty.
    ///
    /// # Examples
    ///
    /// Successfully receiving value before reaching the timeout:
    ///
    /// ```
    /// use smarm::sync::mpsc;
    /// use smarm::thread;
    /// use std::time::Duration;
    ///
    /// let (send, recv) = mpsc::channel();
    ///
    /// thread::spawn(move || {
    ///     send.send('a').unwrap();
    /// });
    ///
    /// assert_eq!(recv.recv_timeout(Duration::from_secs(10)), Ok('a'));
    /// ```
    ///
    /// Receiving an error upon reaching the timeout:
    ///
    /// ```
    /// use smarm::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let (send, recv) = mpsc::channel::<char>();
    ///
    /// // `send` is alive but sends nothing.
    /// assert_eq!(
    ///     recv.recv_timeout(Duration::from_millis(1)),
    ///     Err(mpsc::RecvTimeoutError::Timeout)
    /// );
    /// drop(send);
    /// assert_eq!(
    ///     recv.recv_timeout(Duration::from_millis(1)),
    ///     Err(mpsc::RecvTimeoutError::Disconnected)
    /// );
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.chan.recv(Instant::now().checked_add(timeout), true)
    }

    /// Returns an iterator that will block waiting for messages, but never panic. It returns
    /// `None` when the channel has hung up: once every sender is gone and the buffer is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::channel;
    /// use smarm::thread;
    ///
    /// let (send, recv) = channel();
    ///
    /// thread::spawn(move || {
    ///     send.send(1).unwrap();
    ///     send.send(2).unwrap();
    ///     send.send(3).unwrap();
    /// });
    ///
    /// let mut iter = recv.iter();
    /// assert_eq!(iter.next(), Some(1));
    /// assert_eq!(iter.next(), Some(2));
    /// assert_eq!(iter.next(), Some(3));
    /// assert_eq!(iter.next(), None);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// Returns an iterator that will attempt to yield all pending values without blocking. It
    /// returns `None` as soon as no message is ready, whether or not the channel has hung up.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc::channel;
    ///
    /// let (sender, receiver) = channel();
    ///
    /// // nothing is in the buffer yet
    /// assert!(receiver.try_iter().next().is_none());
    ///
    /// sender.send(1).unwrap();
    /// sender.send(2).unwrap();
    /// assert_eq!(receiver.try_iter().collect::<Vec<_>>(), [1, 2]);
    ///
    /// // drained; `sender` is still alive, yet the iterator ends
    /// assert!(receiver.try_iter().next().is_none());
    /// ```
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

/// An iterator over messages on a [`Receiver`], created by [`Receiver::iter`] or by iterating
/// over `&Receiver`, as `std::sync::mpsc::Iter`. Each `next` blocks on
/// [`recv`](Receiver::recv); the iterator ends when the channel has hung up.
///
/// # Examples
///
/// ```
/// use smarm::sync::mpsc::channel;
/// use smarm::thread;
///
/// let (send, recv) = channel();
///
/// thread::spawn(move || {
///     send.send(1u8).unwrap();
///     send.send(2u8).unwrap();
///     send.send(3u8).unwrap();
/// });
///
/// let mut seen = Vec::new();
/// for x in &recv {
///     seen.push(x);
/// }
/// assert_eq!(seen, [1, 2, 3]);
/// ```
pub struct Iter<'a, T: 'a> {
    rx: &'a Receiver<T>,
}

/// An iterator that attempts to yield all pending values for a [`Receiver`], created by
/// [`Receiver::try_iter`], as `std::sync::mpsc::TryIter`. It ends, without blocking, when no
/// message is ready.
///
/// # Examples
///
/// ```
/// use smarm::sync::mpsc::channel;
///
/// let (sender, receiver) = channel();
/// for i in 0..3 {
///     sender.send(i).unwrap();
/// }
/// let ready: Vec<i32> = receiver.try_iter().collect();
/// assert_eq!(ready, [0, 1, 2]);
/// ```
pub struct TryIter<'a, T: 'a> {
    rx: &'a Receiver<T>,
}

/// An owning iterator over messages on a [`Receiver`], created by `into_iter` (iterating over a
/// `Receiver` by value), as `std::sync::mpsc::IntoIter`. Blocks on each message; ends when the
/// channel has hung up.
///
/// # Examples
///
/// ```
/// use smarm::sync::mpsc::channel;
/// use smarm::thread;
///
/// let (send, recv) = channel();
///
/// thread::spawn(move || {
///     send.send(1u8).unwrap();
///     send.send(2u8).unwrap();
///     send.send(3u8).unwrap();
/// });
///
/// let sum: u8 = recv.into_iter().sum();
/// assert_eq!(sum, 6);
/// ```
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

// The per-channel half of `Select` (protocol: `sync/select.rs`). Each method takes the channel's
// lock once; a registration made here is removed by `unregister` under the same lock, or taken
// by the waker that unparks the selector (also under the lock).

impl<T> Case for Receiver<T> {
    fn poll(&self, waiter: Option<*const Task>) -> Poll {
        let mut st = self.chan.list.lock();
        // Ready stays ready: only this receiver takes messages, and senders cannot come back.
        if !st.queue.is_empty() || st.senders == 0 {
            return Poll::Ready { reserved: false };
        }
        if let Some(me) = waiter
            && st.receiver.is_none()
        {
            st.receiver = Some(me);
            if st.cap == Some(0) {
                st.wake_send_selectors();
            }
        }
        Poll::Pending
    }

    fn unregister(&self, waiter: *const Task) {
        let mut st = self.chan.list.lock();
        if st.receiver == Some(waiter) {
            st.receiver = None;
        }
    }

    fn release(&self) {}

    fn channel(&self) -> *const () {
        Arc::as_ptr(&self.chan).cast()
    }
}

impl<T> Case for SyncSender<T> {
    fn poll(&self, waiter: Option<*const Task>) -> Poll {
        let mut st = self.chan.list.lock();
        if !st.receiver_alive {
            return Poll::Ready { reserved: false };
        }
        if st.room_now() {
            st.reserved += 1;
            return Poll::Ready { reserved: true };
        }
        if let Some(me) = waiter
            && !st.send_selectors.contains(&me)
        {
            st.send_selectors.push(me);
        }
        Poll::Pending
    }

    fn unregister(&self, waiter: *const Task) {
        self.chan
            .list
            .lock()
            .send_selectors
            .retain(|&s| s != waiter);
    }

    fn release(&self) {
        let mut st = self.chan.list.lock();
        st.reserved -= 1;
        // The room is free again: for a blocked sender, and for other selectors.
        st.wake_send_selectors();
        let woken = st.notify_one();
        drop(st);
        if let Some(w) = woken {
            w.wake();
        }
    }

    fn channel(&self) -> *const () {
        Arc::as_ptr(&self.chan).cast()
    }
}

impl<T> SyncSender<T> {
    /// Completes a send chosen by a [`Select`](super::Select): puts `t` into the room the select reserved
    /// (`reserved`), or hands it back if the receiver is gone. Never waits; a rendezvous message
    /// goes to the receiver the select found waiting, as with `try_send`.
    pub(crate) fn send_selected(&self, t: T, reserved: bool) -> Result<(), SendError<T>> {
        let mut st = self.chan.list.lock();
        if reserved {
            st.reserved -= 1;
        }
        // Without a reservation the select found the receiver gone, and it cannot come back.
        debug_assert!(reserved || !st.receiver_alive);
        if !st.receiver_alive {
            return Err(SendError(t));
        }
        let seq = st.sent;
        st.sent += 1;
        st.queue.push_back((seq, t));
        if let Some(r) = st.receiver.take() {
            // SAFETY: see `State::receiver`.
            park::unpark(unsafe { &*r }, WaitKind::Wake);
        }
        Ok(())
    }
}
