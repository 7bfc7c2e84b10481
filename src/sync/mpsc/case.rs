//! The contract between a channel and [`Select`](super::Select): how a select sees one end of one
//! channel. Below both, so that the channel implements it without naming the selector.

use crate::rt::task::Task;

/// What [`Case::poll`] found.
pub(crate) enum Poll {
    /// The operation would have to wait (and the waiter, if any, is registered).
    Pending,
    /// The operation can complete now; `reserved`: a send holds room for its message.
    Ready { reserved: bool },
}

/// One end of one channel as a select case sees it. Implemented in `mpsc.rs`, beside the
/// channel's state; every method takes the channel's lock once.
pub(crate) trait Case {
    /// Whether the operation can complete now; a send that can reserves its room. If it cannot
    /// and `waiter` is given, registers the waiter to be unparked (under the lock) by the next
    /// change that may make it ready. `waiter` is the calling thread's own task.
    fn poll(&self, waiter: Option<*const Task>) -> Poll;
    /// Removes `waiter`'s registration, if it is still there.
    fn unregister(&self, waiter: *const Task);
    /// Gives back the room reserved by a `Ready { reserved: true }` poll.
    fn release(&self);
    /// The channel's address, to check that an operation is completed on the selected channel.
    fn channel(&self) -> *const ();
}
