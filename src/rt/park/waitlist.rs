//! A FIFO list of blocked threads: the queue half of DESIGN.md's one wait primitive ("put a
//! waiter on some queue, release the lock that guards the queue, park").
//!
//! Each waiter is a [`Node`] on the waiting thread's own stack — a green thread's stack does not
//! move when it resumes on another worker, so the node's address is stable — and the list holds
//! pointers to the nodes, so waiting allocates nothing. The protocol:
//!
//! - a waiter links its node while holding the list's lock (the owner of the list decides, under
//!   the same lock, whether it must wait at all), then parks until `notified` is set;
//! - a notifier unlinks a node, takes the task out of it and sets `notified` *under the lock*, then
//!   unparks the task after releasing it. After `notified` is set the notifier never touches the
//!   node again, so the waiter may return (and its stack frame go) as soon as it sees the flag;
//! - a waiter that times out takes the lock and unlinks its node if it is still linked; if it is
//!   not, a notifier got there first, and the wait counts as notified.
//!
//! The lock is a std mutex held for a few instructions; nothing that can switch runs under it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::rt::sys::lock::{Mutex, MutexGuard};
use std::time::Instant;

use crate::rt::park::waitfor;
use crate::rt::park::{self, WaitKind, WaitReason};
use crate::rt::task::Task;

/// One blocked thread, living on its own stack for the duration of the wait.
pub(crate) struct Node {
    task: Option<Arc<Task>>,
    notified: AtomicBool,
    /// What the waiter waits for, for owners whose waiters differ (a reader or a writer).
    tag: u8,
    /// What the owner of the list is (lock, condvar, channel), for `rt::dump`.
    reason: WaitReason,
    /// The lock's owner-word record for the deadlock-cycle check, or 0 (see `rt::cycles`).
    on: usize,
}

impl Node {
    /// A node for the calling thread.
    #[allow(dead_code)] // the plain constructor, for lists with no more specific reason
    pub(crate) fn new() -> Node {
        Node::waiting_on(WaitReason::Other)
    }

    /// A node for the calling thread, which waits on a `reason` (shown by `rt::dump`).
    pub(crate) fn waiting_on(reason: WaitReason) -> Node {
        Node {
            task: Some(crate::rt::task::current::current_thread_task()),
            notified: AtomicBool::new(false),
            tag: 0,
            reason,
            on: 0,
        }
    }

    /// This node, waiting on a lock whose owner's task `on` records (`waitfor::Owner::record`):
    /// a wait with no deadline is then an edge of the deadlock-cycle check's graph.
    pub(crate) fn on_lock(mut self, on: usize) -> Node {
        self.on = on;
        self
    }

    /// This node, marked with `tag` (see [`Locked::front_tag`]).
    pub(crate) fn tagged(mut self, tag: u8) -> Node {
        self.tag = tag;
        self
    }
}

struct NodePtr(*mut Node);
// SAFETY: a NodePtr is only dereferenced under the list's lock, while its waiter is blocked in
// `wait` (which does not return before the node is unlinked or notified).
unsafe impl Send for NodePtr {}

/// A FIFO of waiting threads. `S` is state the owner keeps under the same lock.
pub(crate) struct WaitList<S> {
    inner: Mutex<(S, VecDeque<NodePtr>)>,
}

/// The list locked: the owner's state plus the waiters.
pub(crate) struct Locked<'a, S> {
    guard: MutexGuard<'a, (S, VecDeque<NodePtr>)>,
}

impl<S> std::ops::Deref for Locked<'_, S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.guard.0
    }
}

impl<S> std::ops::DerefMut for Locked<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.guard.0
    }
}

/// A thread taken off the list; unpark it after the list's lock is released.
#[must_use = "the taken thread must be woken"]
pub(crate) struct Wake(Arc<Task>);

impl Wake {
    pub(crate) fn wake(self) {
        park::unpark(&self.0, WaitKind::Wake);
    }
}

impl<S> WaitList<S> {
    pub(crate) const fn new(state: S) -> WaitList<S> {
        WaitList {
            inner: Mutex::new((state, VecDeque::new())),
        }
    }

    pub(crate) fn lock(&self) -> Locked<'_, S> {
        Locked {
            guard: self.inner.lock(),
        }
    }

    /// Links `node` at the back, releases the lock, and blocks until notified or `deadline`.
    /// Returns `true` if notified, `false` on timeout (the node is then unlinked).
    pub(crate) fn wait(
        &self,
        mut locked: Locked<'_, S>,
        node: &mut Node,
        deadline: Option<Instant>,
    ) -> bool {
        locked.guard.1.push_back(NodePtr(node));
        drop(locked);
        // A green thread waiting for good on a lock records the edge (`rt::cycles`, step 2).
        let recorded = match (node.on, deadline) {
            // SAFETY: the running green thread's task lives while it runs.
            (on, None) if on != 0 => {
                crate::rt::task::current::current_task().map(|t| unsafe { &*t })
            }
            _ => None,
        };
        if let Some(me) = recorded {
            waitfor::enter(me, node.on);
        }
        loop {
            if node.notified.load(Ordering::Acquire) {
                if let Some(me) = recorded {
                    waitfor::leave(me);
                }
                return true;
            }
            let woken = park::park_for(WaitKind::Wake, node.reason, deadline);
            if !woken && deadline.is_some_and(|d| Instant::now() >= d) {
                let mut locked = self.lock();
                let me = node as *mut Node;
                if let Some(i) = locked.guard.1.iter().position(|p| p.0 == me) {
                    locked.guard.1.remove(i);
                    return false;
                }
                // A notifier unlinked us first: it has set (or is about to set, under the lock we
                // now hold — so it already has) `notified`.
                drop(locked);
                debug_assert!(node.notified.load(Ordering::Acquire));
                return true;
            }
        }
    }
}

impl<S> Locked<'_, S> {
    /// The tag of the first waiter, if any.
    pub(crate) fn front_tag(&self) -> Option<u8> {
        let NodePtr(node) = self.guard.1.front()?;
        // SAFETY: the node is linked, so its waiter is blocked in `wait` and the node alive; we
        // hold the lock, and `tag` is never written after the node was made.
        Some(unsafe { (**node).tag })
    }

    /// Whether no thread waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.guard.1.is_empty()
    }

    /// Takes the first waiter off the list.
    pub(crate) fn notify_one(&mut self) -> Option<Wake> {
        let NodePtr(node) = self.guard.1.pop_front()?;
        // SAFETY: the node is linked, so its waiter is blocked in `wait` and the node alive; we
        // hold the lock. After the store we never touch it again.
        unsafe {
            let task = (*node).task.take().expect("a waiter without a task");
            (*node).notified.store(true, Ordering::Release);
            Some(Wake(task))
        }
    }

    /// Takes every waiter off the list.
    pub(crate) fn notify_all(&mut self) -> Vec<Wake> {
        let mut woken = Vec::with_capacity(self.guard.1.len());
        while let Some(w) = self.notify_one() {
            woken.push(w);
        }
        woken
    }
}

#[cfg(test)]
#[path = "waitlist_tests.rs"]
mod tests;
