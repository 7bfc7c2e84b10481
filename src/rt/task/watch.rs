//! Exit watchers: callbacks a green thread runs (once) when it has ended — the runtime half of
//! `smarm::actor::monitor` and of supervision.
//!
//! Each green thread carries a [`Watchers`] word: a lock-free stack of boxed callbacks, or, once
//! the thread has ended, a sentinel saying how it ended. The protocol:
//!
//! - a watcher is added with a CAS push unless the word already holds an end sentinel, in which
//!   case [`Watchers::add`] hands the callback back with the ending, for the caller to run at once
//!   (a watch on a thread that already ended fires immediately instead of never);
//! - the worker that finalises the thread (after its pid slot was released, so a Down received
//!   means the pid no longer resolves) swaps the sentinel in and runs every callback it took.
//!
//! Exactly once either way: the swap and each CAS order every add before or after the end, and a
//! callback is run by whoever removed it from the word. Callbacks run on a worker's scheduler
//! stack, so only runtime-internal ones are stored here (sending on a channel; never user code).
//! The cost for a thread nobody watches is one uncontended swap when it finishes.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::atomic::{AtomicBool, AtomicUsize};

/// How a green thread ended, as its watchers learn it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Ended {
    /// Its closure returned.
    Normal,
    /// Its closure panicked (the payload went to its `JoinHandle`).
    Panicked,
}

/// A callback run once when the watched thread has ended.
pub(crate) type Notify = Box<dyn FnOnce(Ended) + Send>;

struct Node {
    next: usize,
    notify: Notify,
}

/// The end sentinels: pointers to `Node` are at least 8-aligned, so 1 and 2 are never nodes.
const DONE_NORMAL: usize = 1;
const DONE_PANICKED: usize = 2;

fn ended_of(word: usize) -> Option<Ended> {
    match word {
        DONE_NORMAL => Some(Ended::Normal),
        DONE_PANICKED => Some(Ended::Panicked),
        _ => None,
    }
}

/// One green thread's exit watchers.
pub(crate) struct Watchers {
    /// 0 (none), a `*mut Node` (the most recently added), or an end sentinel.
    head: AtomicUsize,
    /// Set by the trampoline when the closure panicked; read by `fire`.
    panicked: AtomicBool,
}

impl Watchers {
    pub(crate) fn new() -> Watchers {
        Watchers {
            head: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
        }
    }

    /// Records that the thread's closure panicked (called by the thread itself, before it ends).
    pub(crate) fn set_panicked(&self) {
        self.panicked.store(true, Relaxed);
    }

    /// Adds `notify`, or, if the thread has already ended, hands it back with how it ended.
    pub(crate) fn add(&self, notify: Notify) -> Result<(), (Notify, Ended)> {
        let node = Box::into_raw(Box::new(Node { next: 0, notify }));
        let mut cur = self.head.load(Acquire);
        loop {
            if let Some(ended) = ended_of(cur) {
                // SAFETY: `node` came from `Box::into_raw` above and was never published.
                let node = unsafe { Box::from_raw(node) };
                return Err((node.notify, ended));
            }
            // SAFETY: `node` is ours until the CAS below publishes it.
            unsafe { (*node).next = cur };
            match self
                .head
                .compare_exchange_weak(cur, node as usize, AcqRel, Acquire)
            {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Marks the thread ended and runs every watcher, oldest first. Called once, by the worker
    /// that finalises the thread. Inline: for the usual unwatched thread it is one swap.
    #[inline]
    pub(crate) fn fire(&self) {
        let ended = if self.panicked.load(Relaxed) {
            DONE_PANICKED
        } else {
            DONE_NORMAL
        };
        let p = self.head.swap(ended, AcqRel);
        debug_assert!(ended_of(p).is_none(), "a green thread ended twice");
        if p != 0 {
            Self::run_all(p, ended);
        }
    }

    #[cold]
    fn run_all(mut p: usize, ended: usize) {
        let mut nodes = Vec::new();
        while p != 0 {
            // SAFETY: every non-sentinel word in the list came from `Box::into_raw` in `add`; the
            // swap in `fire` made us the list's only owner.
            let node = unsafe { Box::from_raw(p as *mut Node) };
            p = node.next;
            nodes.push(node);
        }
        let how = ended_of(ended).unwrap_or(Ended::Normal);
        for node in nodes.into_iter().rev() {
            (node.notify)(how);
        }
    }

    /// Frees the watchers of a thread that never ended (they never fire).
    #[cold]
    fn free_unfired(mut p: usize) {
        while p != 0 && ended_of(p).is_none() {
            // SAFETY: as in `run_all`; the caller owns the list.
            let node = unsafe { Box::from_raw(p as *mut Node) };
            p = node.next;
        }
    }
}

impl Drop for Watchers {
    /// Frees watchers of a thread that never ended (its runtime went away): they never fire.
    #[inline]
    fn drop(&mut self) {
        let p = *self.head.get_mut();
        if p != 0 && ended_of(p).is_none() {
            Self::free_unfired(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn each_watcher_fires_once_in_order_and_late_ones_come_back() {
        let w = Watchers::new();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        for i in 0..3 {
            let log = log.clone();
            assert!(
                w.add(Box::new(move |e| log.lock().unwrap().push((i, e))))
                    .is_ok()
            );
        }
        w.set_panicked();
        w.fire();
        assert_eq!(
            *log.lock().unwrap(),
            vec![
                (0, Ended::Panicked),
                (1, Ended::Panicked),
                (2, Ended::Panicked)
            ]
        );
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let Err((f, how)) = w.add(Box::new(move |_| {
            n2.fetch_add(1, Relaxed);
        })) else {
            panic!("a watcher added after the end was queued");
        };
        assert_eq!(how, Ended::Panicked);
        f(how);
        assert_eq!(n.load(Relaxed), 1);
    }

    #[test]
    fn unfired_watchers_are_freed() {
        let w = Watchers::new();
        let token = Arc::new(());
        let t = token.clone();
        w.add(Box::new(move |_| drop(t))).ok().unwrap();
        drop(w);
        assert_eq!(Arc::strong_count(&token), 1);
    }
}
