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
//!
//! Beside the mirror, [`Select`] (a smarm extension; std has none) waits on several receivers and
//! bounded senders at once. Its protocol is explained in `select.rs`; `chan.rs` (the channel) holds
//! its per-channel half (the `case::Case` impls at the bottom): a selector waiting to receive sits
//! in `State::receiver` like a blocked `recv`, one waiting to send sits in
//! `State::send_selectors`, and a selected send holds a slot of room in `State::reserved` until
//! it is completed or dropped.
//!
//! ```
//! use smarm::sync::mpsc;
//! use smarm::thread;
//!
//! // Unbounded: `send` never blocks.
//! let (tx, rx) = mpsc::channel();
//! thread::spawn(move || tx.send(10).unwrap());
//! assert_eq!(rx.recv().unwrap(), 10);
//!
//! // Bounded: `send` blocks (the green thread, not its worker) while the buffer is full.
//! let (tx, rx) = mpsc::sync_channel(1);
//! thread::spawn(move || (0..3).for_each(|i| tx.send(i).unwrap()));
//! assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);
//! ```

mod case;
mod chan;
mod select;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

pub use chan::{IntoIter, Iter, Receiver, Sender, SyncSender, TryIter, channel, sync_channel};
pub use select::{Select, SelectTimeoutError, SelectedOperation, TrySelectError};
