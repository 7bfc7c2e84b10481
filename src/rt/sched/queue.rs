//! Run queues: each worker's local queue (two rings), and the global injector.
//!
//! ## Run order
//! A worker's local queue ([`RunQueue`]) is two bounded rings of `CAP` task pointers each:
//!
//! - **`newest`**, a Chase–Lev deque ([`Deque`]) for spawns and wakes. Its owner pushes and pops
//!   at the back, so it runs its *newest* spawn first: a tree of spawns (skynet, a recursive
//!   divide-and-conquer) is walked depth-first and keeps about `depth × fan-out` threads — and
//!   stacks — alive instead of a whole level of the tree. Thieves take from the front (the
//!   oldest: the shallowest nodes of such a tree, the biggest pieces of work), half of it.
//! - **`back`**, a FIFO ring ([`Ring`]) for what must wait its turn: a yielding thread, a wake
//!   with nothing waiting on it (a joiner woken by a thread that finished), a run-next task past
//!   its streak, batches from the injector. The owner takes from it when `newest` is empty, so a
//!   thread that yields is not picked again while anything else on its worker can run.
//!
//! Nothing starves (`tests/run_order.rs` proves both cases with counts):
//! - the back ring: every `worker::OLDEST_CHECK_INTERVAL` ticks the worker takes its oldest entry
//!   first, so it moves forward at a fixed rate however busy the deque is;
//! - the deque's front: when the monitor sees the same entry at the front for a whole blocking
//!   threshold (10 ms by default) while the worker keeps running others, it asks the worker
//!   ([`RunQueue::request_oldest`]) to take that entry next. A count would do as well for
//!   progress, but every early pick of an old entry in a spawn tree opens a shallow subtree
//!   (thousands of threads) ahead of its turn; measured in time, a long tree walk pays a few
//!   dozen such picks, not one per few thousand runs.
//!
//! ## The deque's protocol (why a LIFO pop is safe against thieves)
//! This is the Chase–Lev deque in the C11 form of Lê, Pop, Cohen and Zappa Nardelli ("Correct and
//! efficient work-stealing for weak memory models", PPoPP 2013), as crossbeam-deque's
//! `Worker::new_lifo` implements it, with a fixed buffer. `front` and `back` are 64-bit counters
//! (they never wrap in practice); entries live in `[front, back)`. Only the owner writes `back`;
//! everyone moves `front` forward, only by compare-and-swap.
//!
//! 1. **Push** (owner): write slot `back`, then publish `back + 1` with a release store. No locked
//!    instruction. The slot is free: `back - front < CAP`, so it last held index `back - CAP`,
//!    which is below `front` (taken).
//! 2. **Pop** (owner): store `back - 1`, a `SeqCst` fence, load `front`. If `front < back - 1`
//!    the entry is the owner's without any CAS: a thief claims only index `front` and, after its
//!    own CAS and a `SeqCst` fence, reloads `back` — the two fences order the owner's store of
//!    `back` and the thief's CAS, so either the owner sees the thief's new `front` or the thief
//!    sees the lowered `back` and stops; they never both take the entry. If `front == back - 1`
//!    (the last entry) both may want it: the owner claims it with the same CAS on `front` a thief
//!    uses, so exactly one wins; then `back` is restored. If `front > back - 1` the deque was
//!    empty (a thief took the last entry) and `back` is restored.
//! 3. **Steal** (thief): load `front`, `SeqCst` fence, load `back`; if non-empty, read slot
//!    `front` and claim it with a CAS `front → front + 1`. A slot read before a CAS that fails is
//!    discarded; one read before a CAS that succeeds is intact, because the owner rewrites slot
//!    `i` only as index `i + CAP` (which needs `front > i`) or as index `i` after popping `i`
//!    (which, `i` being the front, needs the owner's own CAS on `front`). A thief takes half the
//!    deque *one entry at a time*, each with the fence, reload of `back` and CAS of step 3: a
//!    single CAS over a range would race with owner pops that take entries inside the range
//!    without a CAS (crossbeam's LIFO flavour steals its batches the same way).
//!
//! The owner's pop costs one fence (`mfence`), where the FIFO ring's pop costs one CAS: the same
//! one locked instruction as before. An empty deque is detected by the owner with one load
//! (`front` only grows, so `front >= back` is final), so a yield, which finds `newest` empty and
//! takes from `back`, pays nothing extra.
//!
//! ## The FIFO ring
//! A single-producer, multi-consumer ring: only its owner pushes (at `tail`); the owner and
//! thieves take from `head` with a CAS, so a pop and a steal race only on that one word. Why a slot
//! can be read before the CAS that claims it: the owner writes slot `t % CAP` only while
//! `t - head < CAP`, so while `head` still equals the `h` a thief read, slots `h .. h + CAP` are not
//! overwritten; if the owner or another thief moved `head` first, the thief's CAS fails and it
//! discards what it read. Slots are atomics, so reading one while the owner writes another
//! generation of it is not a data race.
//!
//! When either ring is full, the owner moves the older half of it (and the new task) to the
//! injector in one batch, as tokio does: a burst of spawns spreads to other workers instead of
//! failing.

use std::collections::VecDeque;
use std::sync::Arc;

// Under `--cfg loom` (the lib's unit tests only: loom is a dev-dependency) the queue's atomics and
// the injector's lock are loom's, so that `queue_loom.rs` can explore the interleavings of the real
// code. Every other build uses std's; nothing else differs but `CAP`.
#[cfg(not(all(test, loom)))]
use crate::rt::sys::lock::{Mutex, MutexGuard};
#[cfg(all(test, loom))]
use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(all(test, loom))]
use loom::sync::{Mutex, MutexGuard};
#[cfg(not(all(test, loom)))]
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};

use crate::rt::task::Task;

/// Entries per ring. tokio's local queue holds 256 as well; a full ring spills half to the
/// injector, so the size trades steal granularity against how soon a burst becomes global.
#[cfg(not(all(test, loom)))]
pub(crate) const CAP: usize = 256;
/// Under loom, four: small enough that a model wraps the rings' indices and fills them.
#[cfg(all(test, loom))]
pub(crate) const CAP: usize = 4;

#[repr(align(64))]
struct Padded<T>(T);

fn new_slots() -> Box<[AtomicPtr<Task>]> {
    (0..CAP)
        .map(|_| AtomicPtr::new(std::ptr::null_mut()))
        .collect()
}

/// A worker's local queue: `newest` (LIFO for the owner) and `back` (FIFO). See the module docs.
///
/// Shared by reference with everyone: thieves ([`RunQueue::steal_into`]) and the monitor
/// ([`RunQueue::deque_front`]). The owner's operations — push, pop, and being a thief's
/// destination — are [`Owner`]'s, a handle only the owning worker makes ([`RunQueue::owner`]).
pub(crate) struct RunQueue {
    newest: Deque,
    back: Ring,
    /// Set by the monitor when the deque's front has waited too long (module docs).
    oldest_due: AtomicBool,
}

/// The owner's handle on a [`RunQueue`]: the only way to push or pop at the owner's ends.
///
/// The protocol (module docs) allows one owner, on one thread: it writes the deque's `back` and
/// the ring's `tail` with plain stores. The handle is neither `Send` nor `Sync`, so it stays on
/// the thread that made it, and only [`RunQueue::owner`] makes one, whose caller vouches that
/// this thread is the owner. (Not `&mut RunQueue`: thieves and the monitor hold `&RunQueue` at
/// the same time, by design.) Derefs to the queue for the operations anyone may use.
#[derive(Clone, Copy)]
pub(crate) struct Owner<'a> {
    q: &'a RunQueue,
    _one_thread: std::marker::PhantomData<*const ()>,
}

impl std::ops::Deref for Owner<'_> {
    type Target = RunQueue;
    fn deref(&self) -> &RunQueue {
        self.q
    }
}

impl RunQueue {
    /// The owner's handle.
    ///
    /// # Safety
    ///
    /// The calling thread is the queue's owner — its worker's carrier, or the green thread that
    /// worker is running (its loop cannot run meanwhile) — and no other thread uses an `Owner` of
    /// this queue while the handle lives.
    #[inline(always)]
    pub(crate) unsafe fn owner(&self) -> Owner<'_> {
        Owner {
            q: self,
            _one_thread: std::marker::PhantomData,
        }
    }

    /// An owner's handle for tests, where the test's thread is the only owner.
    #[cfg(test)]
    pub(crate) fn own(&self) -> Owner<'_> {
        // SAFETY: tests use one queue's owner handle from one thread at a time.
        unsafe { self.owner() }
    }

    pub(crate) fn new() -> RunQueue {
        RunQueue {
            newest: Deque::new(),
            back: Ring::new(),
            oldest_due: AtomicBool::new(false),
        }
    }

    /// The index of the deque's front entry, if it has one: a value that stays the same exactly
    /// while the same entry waits at the front (indices are never reused).
    pub(crate) fn deque_front(&self) -> Option<u64> {
        let f = self.newest.front.0.load(Ordering::Relaxed);
        (self.newest.back.0.load(Ordering::Relaxed) > f).then_some(f)
    }

    /// Asks the owner to take the deque's front entry at its next fairness check.
    pub(crate) fn request_oldest(&self) {
        self.oldest_due.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.newest.is_empty() && self.back.is_empty()
    }

    /// Steals half of `self`'s back ring, else half of its deque, into `dst` (the thief's own
    /// queue, the same ring kind) and returns one task to run now.
    pub(crate) fn steal_into(&self, dst: Owner<'_>, injector: &Injector) -> Option<Arc<Task>> {
        let mut batch = Vec::new();
        if self.back.steal_half(&mut batch) {
            let mut it = batch.into_iter();
            let first = it.next();
            for task in it {
                dst.push_back(task, injector);
            }
            return first;
        }
        self.newest.steal_half_into(dst, injector)
    }
}

impl Owner<'_> {
    /// Whether the monitor asked for the deque's front entry (and clears the request).
    #[inline]
    pub(crate) fn take_oldest_request(&self) -> bool {
        let due = &self.q.oldest_due;
        due.load(Ordering::Relaxed) && due.swap(false, Ordering::Relaxed)
    }

    /// Pushes a spawn or a wake: the owner runs it before older entries. When the deque is full,
    /// moves its older half plus `task` to `injector`.
    pub(crate) fn push(&self, task: Arc<Task>, injector: &Injector) {
        if let Err(task) = self.q.newest.try_push(task) {
            let mut batch = self.q.newest.claim_oldest_half();
            batch.push(task);
            injector.push_batch(batch);
        }
    }

    /// Pushes a spawn or wake unless the deque is full.
    #[cfg(test)]
    pub(crate) fn try_push(&self, task: Arc<Task>) -> Result<(), Arc<Task>> {
        self.q.newest.try_push(task)
    }

    /// Pushes `task` at the back: it runs after everything queued now. For yields and wakes
    /// that need not run soon. When the ring is full, moves its older half plus `task` to
    /// `injector`.
    pub(crate) fn push_back(&self, task: Arc<Task>, injector: &Injector) {
        if let Err(task) = self.q.back.try_push(task) {
            let mut batch = Vec::with_capacity(CAP / 2 + 1);
            self.q.back.claim_half(&mut batch);
            batch.push(task);
            injector.push_batch(batch);
        }
    }

    /// The next task for the owner: the newest spawn or wake, else the oldest of the back ring.
    #[inline]
    pub(crate) fn pop(&self) -> Option<Arc<Task>> {
        self.q.newest.pop().or_else(|| self.q.back.pop())
    }

    /// The oldest entry of the back ring, or with `deque_first` the deque's front entry (else the
    /// back ring's). The owner calls this periodically so that nothing starves (module docs).
    pub(crate) fn pop_oldest(&self, deque_first: bool) -> Option<Arc<Task>> {
        if deque_first {
            self.q.newest.steal().or_else(|| self.q.back.pop())
        } else {
            self.q.back.pop()
        }
    }
}

/// The owner's LIFO end of the local queue: a fixed-size Chase–Lev deque (module docs).
struct Deque {
    front: Padded<AtomicU64>,
    back: Padded<AtomicU64>,
    slots: Box<[AtomicPtr<Task>]>,
}

impl Deque {
    fn new() -> Deque {
        Deque {
            front: Padded(AtomicU64::new(0)),
            back: Padded(AtomicU64::new(0)),
            slots: new_slots(),
        }
    }

    fn slot(&self, i: u64) -> &AtomicPtr<Task> {
        &self.slots[i as usize % CAP]
    }

    fn len(&self) -> usize {
        let b = self.back.0.load(Ordering::Acquire);
        let f = self.front.0.load(Ordering::Acquire);
        b.saturating_sub(f) as usize
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Step 1 of the protocol. Owner only.
    #[inline]
    fn try_push(&self, task: Arc<Task>) -> Result<(), Arc<Task>> {
        let b = self.back.0.load(Ordering::Relaxed); // only we write back
        let f = self.front.0.load(Ordering::Acquire);
        if b.wrapping_sub(f) >= CAP as u64 {
            return Err(task);
        }
        self.slot(b)
            .store(Arc::into_raw(task) as *mut Task, Ordering::Relaxed);
        self.back.0.store(b + 1, Ordering::Release);
        Ok(())
    }

    /// Step 2: the newest entry. Owner only.
    #[inline]
    fn pop(&self) -> Option<Arc<Task>> {
        let b = self.back.0.load(Ordering::Relaxed);
        // `front` only grows and never passes `back` (only we lower `back`), so this is final.
        if self.front.0.load(Ordering::Relaxed) >= b {
            return None;
        }
        let b = b - 1;
        self.back.0.store(b, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let f = self.front.0.load(Ordering::Relaxed);
        if f > b {
            // A thief took the last entry after all.
            self.back.0.store(b + 1, Ordering::Relaxed);
            return None;
        }
        let p = self.slot(b).load(Ordering::Relaxed);
        if f == b {
            // The last entry: claim it as a thief would, so that exactly one of us gets it.
            let won = self
                .front
                .0
                .compare_exchange(f, f + 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok();
            self.back.0.store(b + 1, Ordering::Relaxed);
            if !won {
                return None;
            }
        }
        // SAFETY: index `b` is ours by the protocol's step 2 (no thief can claim it: either
        // `f < b` after the fence or we won the CAS); the slot holds an `Arc::into_raw` from
        // `try_push`, and its reference passes to us.
        Some(unsafe { Arc::from_raw(p) })
    }

    /// Step 3: the oldest entry, for a thief (or for the owner's fairness pick).
    fn steal(&self) -> Option<Arc<Task>> {
        loop {
            let f = self.front.0.load(Ordering::Acquire);
            fence(Ordering::SeqCst);
            let b = self.back.0.load(Ordering::Acquire);
            if b.wrapping_sub(f) as i64 <= 0 {
                return None;
            }
            if let Some(t) = self.try_claim(f) {
                return Some(t);
            }
        }
    }

    /// Claims index `f` (just seen as the front of a non-empty deque) with the CAS of step 3.
    fn try_claim(&self, f: u64) -> Option<Arc<Task>> {
        let p = self.slot(f).load(Ordering::Relaxed);
        self.front
            .0
            .compare_exchange(f, f + 1, Ordering::SeqCst, Ordering::Relaxed)
            .ok()?;
        // SAFETY: the CAS made index `f` ours; its slot was not rewritten between our read and
        // the CAS (module docs, step 3) and holds an `Arc::into_raw` whose reference is now ours.
        Some(unsafe { Arc::from_raw(p) })
    }

    /// Steals up to half of the deque (rounded up), one entry at a time: the first is returned,
    /// the rest pushed onto `dst`'s deque (the caller's own).
    fn steal_half_into(&self, dst: Owner<'_>, injector: &Injector) -> Option<Arc<Task>> {
        let (first, want, mut f) = loop {
            let f = self.front.0.load(Ordering::Acquire);
            fence(Ordering::SeqCst);
            let b = self.back.0.load(Ordering::Acquire);
            let len = b.wrapping_sub(f) as i64;
            if len <= 0 {
                return None;
            }
            if let Some(t) = self.try_claim(f) {
                break (t, (len as u64).div_ceil(2), f + 1);
            }
        };
        for _ in 1..want {
            fence(Ordering::SeqCst);
            let b = self.back.0.load(Ordering::Acquire);
            if b.wrapping_sub(f) as i64 <= 0 {
                break;
            }
            match self.try_claim(f) {
                Some(t) => dst.push(t, injector),
                None => break, // the owner or another thief got there: keep what we have
            }
            f += 1;
        }
        Some(first)
    }

    /// Claims the older half of a full deque, for the injector. Owner only (so `back` is still).
    fn claim_oldest_half(&self) -> Vec<Arc<Task>> {
        let b = self.back.0.load(Ordering::Relaxed);
        let mut out = Vec::with_capacity(CAP / 2 + 1);
        loop {
            let f = self.front.0.load(Ordering::Acquire);
            let n = b.saturating_sub(f) / 2;
            let mut ptrs = [std::ptr::null_mut::<Task>(); CAP];
            for i in 0..n {
                ptrs[i as usize] = self.slot(f + i).load(Ordering::Relaxed);
            }
            // Thieves claim single entries at `front` with the same CAS, so a range claimed
            // here is claimed by nobody else; we are the owner, so no pop runs meanwhile.
            if self
                .front
                .0
                .compare_exchange(f, f + n, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                for p in &ptrs[..n as usize] {
                    // SAFETY: the CAS made these indices ours; each slot holds an
                    // `Arc::into_raw` reference.
                    out.push(unsafe { Arc::from_raw(*p) });
                }
                return out;
            }
        }
    }
}

impl Drop for Deque {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

/// The FIFO end of the local queue (module docs).
struct Ring {
    head: Padded<AtomicU64>,
    tail: Padded<AtomicU64>,
    slots: Box<[AtomicPtr<Task>]>,
}

impl Ring {
    fn new() -> Ring {
        Ring {
            head: Padded(AtomicU64::new(0)),
            tail: Padded(AtomicU64::new(0)),
            slots: new_slots(),
        }
    }

    fn slot(&self, i: u64) -> &AtomicPtr<Task> {
        &self.slots[i as usize % CAP]
    }

    fn len(&self) -> usize {
        let t = self.tail.0.load(Ordering::Acquire);
        let h = self.head.0.load(Ordering::Acquire);
        t.saturating_sub(h) as usize
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pushes at the tail unless the ring is full. Owner only.
    fn try_push(&self, task: Arc<Task>) -> Result<(), Arc<Task>> {
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
    /// Returns `false` if another consumer moved `head` first.
    fn claim(&self, h: u64, t: u64, n: usize, out: &mut Vec<Arc<Task>>) -> bool {
        let n = (n as u64).min(t - h);
        let mut ptrs = [std::ptr::null_mut::<Task>(); CAP];
        for i in 0..n {
            ptrs[i as usize] = self.slot(h + i).load(Ordering::Relaxed);
        }
        if self
            .head
            .0
            .compare_exchange(h, h + n, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        for p in &ptrs[..n as usize] {
            // SAFETY: the successful CAS made us the only owner of these slots' references,
            // which were created by `Arc::into_raw` in `try_push`.
            out.push(unsafe { Arc::from_raw(*p) });
        }
        true
    }

    /// Claims the older half of the ring into `out`. Owner only.
    fn claim_half(&self, out: &mut Vec<Arc<Task>>) {
        loop {
            let t = self.tail.0.load(Ordering::Relaxed);
            let h = self.head.0.load(Ordering::Acquire);
            if self.claim(h, t, CAP / 2, out) {
                return;
            }
        }
    }

    /// Takes the oldest task. Safe to call from any thread.
    #[inline]
    fn pop(&self) -> Option<Arc<Task>> {
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

    /// Claims the older half (rounded up) into `out`; `false` if the ring was empty.
    fn steal_half(&self, out: &mut Vec<Arc<Task>>) -> bool {
        loop {
            let h = self.head.0.load(Ordering::Acquire);
            let t = self.tail.0.load(Ordering::Acquire);
            if h >= t {
                return false;
            }
            let n = (t - h).div_ceil(2) as usize;
            out.clear();
            if self.claim(h, t, n, out) {
                return true;
            }
        }
    }
}

impl Drop for Ring {
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

    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<Task>>> {
        #[cfg(all(test, loom))]
        return self.queue.lock().unwrap_or_else(|e| e.into_inner());
        #[cfg(not(all(test, loom)))]
        return self.queue.lock();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
    }

    /// Holds the injector's lock across a `fork` (see `sched::before_fork`).
    pub(crate) fn hold_for_fork(&self) -> Box<dyn std::any::Any + '_> {
        Box::new(self.lock())
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

    /// Takes one task to run and moves up to `max` more to the back ring of `local` (the
    /// caller's own queue), keeping their order.
    pub(crate) fn pop_batch(&self, local: Owner<'_>, max: usize) -> Option<Arc<Task>> {
        if self.is_empty() {
            return None;
        }
        let mut q = self.lock();
        let first = q.pop_front()?;
        for _ in 0..max {
            let Some(t) = q.pop_front() else { break };
            if let Err(t) = local.back.try_push(t) {
                q.push_front(t);
                break;
            }
        }
        self.len.store(q.len(), Ordering::SeqCst);
        Some(first)
    }
}

// Loom models of the deque, the ring and the park word: `RUSTFLAGS="--cfg loom" cargo test
// --release --lib loom` (.ci/run). The park word's model is declared here too, as a sibling file,
// because it shares this switch; it does not use the queue.
#[cfg(all(test, loom))]
#[path = "park_loom.rs"]
mod park_loom;
#[cfg(all(test, loom))]
#[path = "queue_loom.rs"]
mod queue_loom;

/// Single-threaded unit tests: the orders, the overflow paths, and the owner-versus-thief races
/// of the protocol's steps forced one interleaving at a time (loom explores the rest).
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn tasks(n: usize) -> Vec<Arc<Task>> {
        (0..n).map(|_| Arc::new(Task::new_os(None))).collect()
    }

    /// The index in `all` of `t`.
    fn idx(all: &[Arc<Task>], t: &Arc<Task>) -> usize {
        all.iter()
            .position(|a| Arc::ptr_eq(a, t))
            .expect("a task that was never pushed")
    }

    fn drain(q: &RunQueue, all: &[Arc<Task>]) -> Vec<usize> {
        std::iter::from_fn(|| q.own().pop())
            .map(|t| idx(all, &t))
            .collect()
    }

    fn drain_injector(inj: &Injector, all: &[Arc<Task>]) -> Vec<usize> {
        let q = RunQueue::new();
        let mut out = Vec::new();
        while let Some(t) = inj.pop_batch(q.own(), 0) {
            out.push(idx(all, &t));
        }
        out
    }

    #[test]
    fn owner_pops_newest_first() {
        let (q, inj, all) = (RunQueue::new(), Injector::new(), tasks(5));
        for t in &all {
            q.own().push(t.clone(), &inj);
        }
        assert_eq!(q.newest.len(), 5);
        assert_eq!(drain(&q, &all), [4, 3, 2, 1, 0]);
        assert!(q.is_empty() && inj.is_empty());
    }

    #[test]
    fn thieves_take_oldest_first() {
        let (q, inj, all) = (RunQueue::new(), Injector::new(), tasks(4));
        for t in &all {
            q.own().push(t.clone(), &inj);
        }
        let stolen: Vec<_> = std::iter::from_fn(|| q.newest.steal())
            .map(|t| idx(&all, &t))
            .collect();
        assert_eq!(stolen, [0, 1, 2, 3]);
        assert!(q.own().pop().is_none());
    }

    #[test]
    fn owner_and_thief_meet_in_the_middle() {
        let (q, inj, all) = (RunQueue::new(), Injector::new(), tasks(4));
        for t in &all {
            q.own().push(t.clone(), &inj);
        }
        assert_eq!(idx(&all, &q.newest.steal().unwrap()), 0);
        assert_eq!(idx(&all, &q.own().pop().unwrap()), 3);
        assert_eq!(idx(&all, &q.newest.steal().unwrap()), 1);
        assert_eq!(idx(&all, &q.own().pop().unwrap()), 2);
        assert!(q.own().pop().is_none() && q.newest.steal().is_none());
    }

    #[test]
    fn steal_half_of_the_deque() {
        for (n, want) in [(1, 1), (2, 1), (3, 2), (10, 5)] {
            let (victim, thief, inj, all) =
                (RunQueue::new(), RunQueue::new(), Injector::new(), tasks(n));
            for t in &all {
                victim.own().push(t.clone(), &inj);
            }
            let first = victim.steal_into(thief.own(), &inj).expect("non-empty");
            assert_eq!(idx(&all, &first), 0, "n = {n}");
            // The rest went to the thief's deque, so it runs them newest first.
            let expect: Vec<usize> = (1..want).rev().collect();
            assert_eq!(drain(&thief, &all), expect, "n = {n}");
            let expect: Vec<usize> = (want..n).rev().collect();
            assert_eq!(drain(&victim, &all), expect, "n = {n}");
        }
        let (victim, thief, inj) = (RunQueue::new(), RunQueue::new(), Injector::new());
        assert!(victim.steal_into(thief.own(), &inj).is_none());
    }

    #[test]
    fn steal_prefers_the_back_ring() {
        let (victim, thief, inj, all) =
            (RunQueue::new(), RunQueue::new(), Injector::new(), tasks(7));
        for t in &all[..2] {
            victim.own().push(t.clone(), &inj);
        }
        for t in &all[2..] {
            victim.own().push_back(t.clone(), &inj);
        }
        // Half the ring (5 → 3, rounded up): the oldest to run now, two more to the thief's ring.
        assert_eq!(idx(&all, &victim.steal_into(thief.own(), &inj).unwrap()), 2);
        assert!(thief.newest.is_empty());
        assert_eq!(drain(&thief, &all), [3, 4]);
        assert_eq!(drain(&victim, &all), [1, 0, 5, 6]);
    }

    /// Protocol step 2 against step 3 on the last entry, each interleaving forced by hand.
    #[test]
    fn last_entry_goes_to_exactly_one() {
        // The thief reads `front` and `back`, the owner pops the entry (winning the CAS on
        // `front`), then the thief's CAS fails.
        let (q, inj, all) = (RunQueue::new(), Injector::new(), tasks(1));
        q.own().push(all[0].clone(), &inj);
        let d = &q.newest;
        let f = d.front.0.load(Ordering::Acquire);
        assert!(d.back.0.load(Ordering::Acquire) > f);
        assert_eq!(idx(&all, &q.own().pop().unwrap()), 0);
        assert!(d.try_claim(f).is_none());
        assert_eq!(d.front.0.load(Ordering::Relaxed), 1);
        assert_eq!(
            d.back.0.load(Ordering::Relaxed),
            1,
            "the owner restores `back`"
        );
        assert!(d.is_empty() && q.own().pop().is_none());

        // The thief claims first: the owner's pop finds the deque empty and restores `back`.
        let (q, all) = (RunQueue::new(), tasks(1));
        q.own().push(all[0].clone(), &inj);
        let d = &q.newest;
        let f = d.front.0.load(Ordering::Acquire);
        assert_eq!(idx(&all, &d.try_claim(f).unwrap()), 0);
        assert!(q.own().pop().is_none());
        assert_eq!(
            (
                d.front.0.load(Ordering::Relaxed),
                d.back.0.load(Ordering::Relaxed)
            ),
            (1, 1)
        );

        // The owner is inside step 2 (it has lowered `back`): a thief sees an empty deque.
        let (q, all) = (RunQueue::new(), tasks(1));
        q.own().push(all[0].clone(), &inj);
        let d = &q.newest;
        d.back.0.store(0, Ordering::Relaxed);
        assert!(d.steal().is_none());
        d.back.0.store(1, Ordering::Relaxed);
        assert_eq!(idx(&all, &q.own().pop().unwrap()), 0);

        // Two entries: a thief that read `front` before the owner popped the newest (without a
        // CAS) still claims the oldest, and only it.
        let (q, all) = (RunQueue::new(), tasks(2));
        for t in &all {
            q.own().push(t.clone(), &inj);
        }
        let d = &q.newest;
        let f = d.front.0.load(Ordering::Acquire);
        assert_eq!(idx(&all, &q.own().pop().unwrap()), 1);
        assert_eq!(
            d.front.0.load(Ordering::Relaxed),
            0,
            "no CAS for a non-last entry"
        );
        assert_eq!(idx(&all, &d.try_claim(f).unwrap()), 0);
        assert!(q.own().pop().is_none() && d.steal().is_none());
        for t in &all {
            assert_eq!(Arc::strong_count(t), 1, "every reference came back once");
        }
    }

    #[test]
    fn full_deque_spills_its_older_half() {
        let (q, inj, all) = (RunQueue::new(), Injector::new(), tasks(CAP + 1));
        for t in &all[..CAP] {
            assert!(q.own().try_push(t.clone()).is_ok());
        }
        let t = q.own().try_push(all[CAP].clone()).expect_err("full");
        assert!(Arc::ptr_eq(&t, &all[CAP]));
        q.own().push(t, &inj);
        assert_eq!(q.newest.len(), CAP / 2);
        let mut spilled: Vec<usize> = (0..CAP / 2).collect();
        spilled.push(CAP);
        assert_eq!(drain_injector(&inj, &all), spilled);
        let kept: Vec<usize> = (CAP / 2..CAP).rev().collect();
        assert_eq!(drain(&q, &all), kept);
    }

    #[test]
    fn full_back_ring_spills_its_older_half() {
        let (q, inj, all) = (RunQueue::new(), Injector::new(), tasks(CAP + 1));
        for t in &all {
            q.own().push_back(t.clone(), &inj);
        }
        assert_eq!(q.back.len(), CAP / 2);
        let mut spilled: Vec<usize> = (0..CAP / 2).collect();
        spilled.push(CAP);
        assert_eq!(drain_injector(&inj, &all), spilled);
        let kept: Vec<usize> = (CAP / 2..CAP).collect();
        assert_eq!(drain(&q, &all), kept);
    }

    #[test]
    fn back_ring_is_fifo_and_runs_after_the_deque() {
        let (q, inj, all) = (RunQueue::new(), Injector::new(), tasks(4));
        q.own().push_back(all[0].clone(), &inj);
        q.own().push_back(all[1].clone(), &inj);
        q.own().push(all[2].clone(), &inj);
        q.own().push_back(all[3].clone(), &inj);
        assert_eq!(drain(&q, &all), [2, 0, 1, 3]);
    }

    #[test]
    fn indices_wrap_around_the_slots() {
        let (q, inj, all) = (RunQueue::new(), Injector::new(), tasks(3));
        for round in 0..3 * CAP {
            let t = &all[round % 3];
            q.own().push(t.clone(), &inj);
            q.own().push_back(t.clone(), &inj);
            if round % 2 == 1 {
                assert!(Arc::ptr_eq(&q.own().pop().unwrap(), t));
                assert!(Arc::ptr_eq(
                    &q.newest.steal().unwrap(),
                    &all[(round - 1) % 3]
                ));
                assert!(Arc::ptr_eq(&q.own().pop().unwrap(), &all[(round - 1) % 3]));
                assert!(Arc::ptr_eq(&q.own().pop().unwrap(), t));
                assert!(q.is_empty());
            }
        }
        assert!(inj.is_empty());
        assert_eq!(q.newest.front.0.load(Ordering::Relaxed), 3 * CAP as u64 / 2);
    }

    #[test]
    fn pop_oldest_takes_the_front_on_request() {
        let (q, inj, all) = (RunQueue::new(), Injector::new(), tasks(3));
        q.own().push(all[0].clone(), &inj);
        q.own().push(all[1].clone(), &inj);
        q.own().push_back(all[2].clone(), &inj);
        assert_eq!(q.deque_front(), Some(0));
        assert!(!q.own().take_oldest_request());
        q.request_oldest();
        assert!(q.own().take_oldest_request());
        assert!(!q.own().take_oldest_request(), "a request is taken once");
        assert_eq!(idx(&all, &q.own().pop_oldest(true).unwrap()), 0);
        assert_eq!(q.deque_front(), Some(1));
        assert_eq!(idx(&all, &q.own().pop_oldest(false).unwrap()), 2);
        assert!(q.own().pop_oldest(false).is_none());
        assert_eq!(idx(&all, &q.own().pop_oldest(true).unwrap()), 1);
        assert_eq!(q.deque_front(), None);
        assert!(q.own().pop_oldest(true).is_none());
    }

    #[test]
    fn injector_pop_batch_keeps_order() {
        let (inj, local, all) = (Injector::new(), RunQueue::new(), tasks(6));
        assert!(inj.pop_batch(local.own(), 4).is_none());
        inj.push(all[0].clone());
        inj.push_batch(all[1..].to_vec());
        assert!(!inj.is_empty());
        assert_eq!(idx(&all, &inj.pop_batch(local.own(), 3).unwrap()), 0);
        assert!(local.newest.is_empty());
        assert_eq!(drain(&local, &all), [1, 2, 3]);
        assert_eq!(drain_injector(&inj, &all), [4, 5]);
        assert!(inj.is_empty());
    }

    #[test]
    fn injector_pop_batch_stops_at_a_full_ring() {
        let (inj, local, all) = (Injector::new(), RunQueue::new(), tasks(CAP + 3));
        for t in &all[..CAP - 1] {
            local.own().push_back(t.clone(), &inj);
        }
        inj.push_batch(all[CAP - 1..].to_vec());
        // One slot left: the first task comes back, one moves to the ring, two stay in order.
        assert_eq!(idx(&all, &inj.pop_batch(local.own(), 8).unwrap()), CAP - 1);
        assert_eq!(drain_injector(&inj, &all), [CAP + 1, CAP + 2]);
        assert_eq!(
            drain(&local, &all),
            (0..CAP - 1).chain([CAP]).collect::<Vec<_>>()
        );
    }

    #[test]
    fn dropping_a_queue_releases_its_tasks() {
        let (q, inj, all) = (RunQueue::new(), Injector::new(), tasks(4));
        q.own().push(all[0].clone(), &inj);
        q.own().push(all[1].clone(), &inj);
        q.own().push_back(all[2].clone(), &inj);
        inj.push(all[3].clone());
        drop(q);
        drop(inj);
        for t in &all {
            assert_eq!(Arc::strong_count(t), 1);
        }
    }
}
