//! Run queues: each worker's bounded local queue, and the global injector.
//!
//! The local queue is a single-producer, multi-consumer ring of `CAP` task pointers. Only its
//! owner pushes (at `tail`); the owner and thieves take from `head` with a CAS, so a pop and a
//! steal race only on that one word. Why a slot can be read before the CAS that claims it: the
//! owner writes slot `t % CAP` only while `t - head < CAP`, so while `head` still equals the `h` a
//! thief read, slots `h .. h + CAP` are not overwritten; if the owner or another thief moved `head`
//! first, the thief's CAS fails and it discards what it read. Slots are atomics, so reading one
//! while the owner writes another generation of it is not a data race. `head` and `tail` are 64-bit
//! counters, so they never wrap in practice and the CAS has no ABA.
//!
//! When the ring is full, the owner moves half of it (and the new task) to the injector in one
//! batch, as tokio does: a burst of spawns spreads to other workers instead of failing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::rt::task::Task;

pub(crate) const CAP: usize = 256;

#[repr(align(64))]
struct Padded<T>(T);

pub(crate) struct RunQueue {
    head: Padded<AtomicU64>,
    tail: Padded<AtomicU64>,
    slots: Box<[AtomicPtr<Task>]>,
}

impl RunQueue {
    pub(crate) fn new() -> RunQueue {
        RunQueue {
            head: Padded(AtomicU64::new(0)),
            tail: Padded(AtomicU64::new(0)),
            slots: (0..CAP)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
        }
    }

    fn slot(&self, i: u64) -> &AtomicPtr<Task> {
        &self.slots[i as usize % CAP]
    }

    pub(crate) fn len(&self) -> usize {
        let t = self.tail.0.load(Ordering::Acquire);
        let h = self.head.0.load(Ordering::Acquire);
        t.saturating_sub(h) as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pushes at the tail; when full, moves half the queue plus `task` to `injector`.
    /// Must only be called by the owning worker.
    pub(crate) fn push(&self, task: Arc<Task>, injector: &Injector) {
        let Err(task) = self.try_push(task) else {
            return;
        };
        let t = self.tail.0.load(Ordering::Relaxed);
        let h = self.head.0.load(Ordering::Acquire);
        // Full: claim the older half and hand it to the injector together with `task`.
        let mut batch = Vec::with_capacity(CAP / 2 + 1);
        if let Some(n) = self.claim(h, t, CAP / 2, &mut batch) {
            debug_assert_eq!(batch.len(), n);
        }
        batch.push(task);
        injector.push_batch(batch);
    }

    /// Pushes at the tail unless the ring is full. Must only be called by the owning worker.
    pub(crate) fn try_push(&self, task: Arc<Task>) -> Result<(), Arc<Task>> {
        let t = self.tail.0.load(Ordering::Relaxed); // only we write tail
        let h = self.head.0.load(Ordering::Acquire);
        if t - h >= CAP as u64 {
            return Err(task);
        }
        self.slot(t)
            .store(Arc::into_raw(task) as *mut Task, Ordering::Relaxed);
        self.tail.0.store(t + 1, Ordering::Release);
        Ok(())
    }

    /// Claims up to `n` tasks starting at `h` (with `t` an observed tail) into `out`.
    /// Returns `None` if another consumer moved `head` first.
    fn claim(&self, h: u64, t: u64, n: usize, out: &mut Vec<Arc<Task>>) -> Option<usize> {
        let n = (n as u64).min(t - h);
        let mut ptrs = [std::ptr::null_mut::<Task>(); CAP];
        for i in 0..n {
            ptrs[i as usize] = self.slot(h + i).load(Ordering::Relaxed);
        }
        self.head
            .0
            .compare_exchange(h, h + n, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        for p in &ptrs[..n as usize] {
            // SAFETY: the successful CAS made us the only owner of these slots' references,
            // which were created by `Arc::into_raw` in `push`.
            out.push(unsafe { Arc::from_raw(*p) });
        }
        Some(n as usize)
    }

    /// Takes the oldest task. Safe to call from any thread.
    pub(crate) fn pop(&self) -> Option<Arc<Task>> {
        loop {
            let h = self.head.0.load(Ordering::Acquire);
            let t = self.tail.0.load(Ordering::Acquire);
            if h >= t {
                return None;
            }
            let p = self.slot(h).load(Ordering::Relaxed);
            if self
                .head
                .0
                .compare_exchange(h, h + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // SAFETY: the CAS gave us this slot's reference, made by `Arc::into_raw`.
                return Some(unsafe { Arc::from_raw(p) });
            }
        }
    }

    /// Steals half of `self` (rounded up) into `dst`, the thief's own queue, and returns one task
    /// to run now. `dst` must be empty and owned by the caller.
    pub(crate) fn steal_into(&self, dst: &RunQueue, injector: &Injector) -> Option<Arc<Task>> {
        let mut batch = Vec::new();
        loop {
            let h = self.head.0.load(Ordering::Acquire);
            let t = self.tail.0.load(Ordering::Acquire);
            if h >= t {
                return None;
            }
            let n = (t - h).div_ceil(2) as usize;
            batch.clear();
            if self.claim(h, t, n, &mut batch).is_some() {
                break;
            }
        }
        let mut it = batch.into_iter();
        let first = it.next();
        for task in it {
            dst.push(task, injector);
        }
        first
    }
}

impl Drop for RunQueue {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

/// The global queue for spawns and wakes that come from outside a worker, and for overflow.
pub(crate) struct Injector {
    len: AtomicUsize,
    queue: Mutex<VecDeque<Arc<Task>>>,
}

impl Injector {
    pub(crate) fn new() -> Injector {
        Injector {
            len: AtomicUsize::new(0),
            queue: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Task>>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
    }

    pub(crate) fn push(&self, task: Arc<Task>) {
        let mut q = self.lock();
        q.push_back(task);
        self.len.store(q.len(), Ordering::SeqCst);
    }

    pub(crate) fn push_batch(&self, tasks: Vec<Arc<Task>>) {
        let mut q = self.lock();
        q.extend(tasks);
        self.len.store(q.len(), Ordering::SeqCst);
    }

    /// Takes one task to run and moves up to `max` more into `local` (the caller's own queue).
    pub(crate) fn pop_batch(&self, local: &RunQueue, max: usize) -> Option<Arc<Task>> {
        if self.is_empty() {
            return None;
        }
        let mut q = self.lock();
        let first = q.pop_front()?;
        for _ in 0..max {
            let Some(t) = q.pop_front() else { break };
            if let Err(t) = local.try_push(t) {
                q.push_front(t);
                break;
            }
        }
        self.len.store(q.len(), Ordering::SeqCst);
        Some(first)
    }
}
