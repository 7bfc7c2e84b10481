//! The Pid table: slots that map a [`Pid`] to its live task (see the parent module).

use std::cell::UnsafeCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};

use super::Pid;
use crate::rt::sys::lock::{Mutex, Section};
use crate::rt::task::Task;

/// Slots per chunk, 4096: a chunk (64 KiB: 16-byte slots) is allocated when its first slot is
/// used, so a program with a few threads pays for one chunk, and growing takes the grow lock once
/// per 4096 new slots (freed ones are reused first).
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
/// Chunks at most: 4096 × 4096 = 16M live green threads, above what `vm.max_map_count` allows
/// (two mappings per stack: 65530 by default, and the largest value a distribution ships is
/// around 2^21), so the table never limits a program before its stacks do. The chunk pointers are
/// a fixed 32 KiB array, never moved, so a slot's address is stable without a lock.
const MAX_CHUNKS: usize = 1 << 12;
/// Free indices a worker keeps before spilling half to the shared list.
pub(crate) const LOCAL_FREE: usize = 256;

struct Slot {
    /// A tiny spin lock: held for a handful of instructions by fill / clear / lookup only.
    lock: AtomicBool,
    /// Written only by `release` (under the lock); read without it by the reserver of a free
    /// index, which got the index through the free lists after that release.
    generation: AtomicU32,
    task: UnsafeCell<Option<Arc<Task>>>,
}

struct Table {
    chunks: [AtomicPtr<Slot>; MAX_CHUNKS],
    next_index: AtomicU32,
    free: Mutex<Vec<u32>>,
    grow: Mutex<()>,
}

static TABLE: Table = Table {
    chunks: [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_CHUNKS],
    next_index: AtomicU32::new(0),
    free: Mutex::new(Vec::new()),
    grow: Mutex::new(()),
};

struct SlotGuard<'a>(&'a Slot, Section);

impl Slot {
    fn lock(&self) -> SlotGuard<'_> {
        let section = Section::enter();
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        SlotGuard(self, section)
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.0.lock.store(false, Ordering::Release);
    }
}

/// Holds the table's locks across a `fork` (see `sched::before_fork`), in the order `slot` and
/// `reserve` take them (never both at once).
pub(crate) fn hold_for_fork() -> Vec<Box<dyn std::any::Any>> {
    vec![Box::new(TABLE.grow.lock()), Box::new(TABLE.free.lock())]
}

fn slot(index: u32) -> &'static Slot {
    let chunk = (index >> CHUNK_BITS) as usize;
    let mut p = TABLE.chunks[chunk].load(Ordering::Acquire);
    if p.is_null() {
        let _g = TABLE.grow.lock();
        p = TABLE.chunks[chunk].load(Ordering::Acquire);
        if p.is_null() {
            let v: Vec<Slot> = (0..CHUNK)
                .map(|_| Slot {
                    lock: AtomicBool::new(false),
                    generation: AtomicU32::new(0),
                    task: UnsafeCell::new(None),
                })
                .collect();
            p = Box::leak(v.into_boxed_slice()).as_mut_ptr();
            TABLE.chunks[chunk].store(p, Ordering::Release);
        }
    }
    // SAFETY: chunks are never freed once published, and the index is within the chunk.
    unsafe { &*p.add(index as usize & (CHUNK - 1)) }
}

// SAFETY: every UnsafeCell in a Slot is accessed only under the slot's spin lock.
unsafe impl Sync for Slot {}

/// Reserves a free slot (its index from `local`, a worker's free list, when given).
pub(crate) fn reserve(local: Option<&mut Vec<u32>>) -> Pid {
    let index = reserve_index(local);
    Pid {
        index,
        generation: generation_of(index),
    }
}

fn reserve_index(local: Option<&mut Vec<u32>>) -> u32 {
    if let Some(local) = local {
        if let Some(i) = local.pop() {
            return i;
        }
        let mut free = TABLE.free.lock();
        let n = free.len().min(LOCAL_FREE / 2);
        let at = free.len() - n;
        local.extend(free.drain(at..));
        drop(free);
        if let Some(i) = local.pop() {
            return i;
        }
    } else if let Some(i) = TABLE.free.lock().pop() {
        return i;
    }
    let i = TABLE.next_index.fetch_add(1, Ordering::Relaxed);
    assert!(
        (i as usize) < CHUNK * MAX_CHUNKS,
        "smarm: more than 16M live green threads"
    );
    i
}

/// Puts `task` into the slot reserved for `pid`.
pub(crate) fn fill(pid: Pid, task: Arc<Task>) {
    let s = slot(pid.index);
    let _g = s.lock();
    // SAFETY: under the slot lock.
    unsafe { *s.task.get() = Some(task) };
}

fn generation_of(index: u32) -> u32 {
    slot(index).generation.load(Ordering::Acquire)
}

/// Empties a finished task's slot, bumps the generation and recycles the index. Returns the
/// slot's reference to the task so the caller can drop it outside the lock.
pub(crate) fn release(pid: Pid, local: Option<&mut Vec<u32>>) -> Option<Arc<Task>> {
    let s = slot(pid.index);
    let task = {
        let _g = s.lock();
        // SAFETY: under the slot lock.
        debug_assert_eq!(s.generation.load(Ordering::Relaxed), pid.generation);
        s.generation
            .store(pid.generation.wrapping_add(1), Ordering::Release);
        // SAFETY: under the slot lock.
        unsafe { (*s.task.get()).take() }
    };
    match local {
        Some(local) => {
            local.push(pid.index);
            if local.len() > LOCAL_FREE {
                let at = local.len() / 2;
                TABLE.free.lock().extend(local.drain(at..));
            }
        }
        None => TABLE.free.lock().push(pid.index),
    }
    task
}

/// Hands a worker's free list back to the shared one (the worker is stopping), so that its
/// indices are not lost to the table.
pub(crate) fn return_local(local: &mut Vec<u32>) {
    if !local.is_empty() {
        TABLE.free.lock().append(local);
    }
}

/// Calls `f` with every live green thread's pid and task, in slot order. Each slot's lock is
/// held only while its task reference is cloned, never while `f` runs.
pub(crate) fn for_each_live(mut f: impl FnMut(Pid, Arc<Task>)) {
    let n = TABLE.next_index.load(Ordering::Acquire);
    for index in 0..n {
        let s = slot(index);
        let found = {
            let _g = s.lock();
            // SAFETY: under the slot lock.
            unsafe { (*s.task.get()).clone() }.map(|t| (s.generation.load(Ordering::Relaxed), t))
        };
        if let Some((generation, task)) = found {
            f(Pid { index, generation }, task);
        }
    }
}

/// [`for_each_live`] for the tasks `keep` accepts: `keep` runs under the slot's lock (so it must
/// be a few loads, nothing that blocks or switches), and only kept tasks are cloned for `f`.
pub(crate) fn for_each_live_where(keep: impl Fn(&Task) -> bool, mut f: impl FnMut(Pid, Arc<Task>)) {
    let n = TABLE.next_index.load(Ordering::Acquire);
    for index in 0..n {
        let s = slot(index);
        let found = {
            let _g = s.lock();
            // SAFETY: under the slot lock.
            match unsafe { &*s.task.get() } {
                Some(t) if keep(t) => Some((s.generation.load(Ordering::Relaxed), t.clone())),
                _ => None,
            }
        };
        if let Some((generation, task)) = found {
            f(Pid { index, generation }, task);
        }
    }
}

/// The live task a Pid names, or `None` if it finished (even if its slot has a new occupant).
pub(crate) fn lookup(pid: Pid) -> Option<Arc<Task>> {
    if pid.index >= TABLE.next_index.load(Ordering::Relaxed) {
        return None;
    }
    let s = slot(pid.index);
    let _g = s.lock();
    // SAFETY: under the slot lock.
    if s.generation.load(Ordering::Relaxed) != pid.generation {
        return None;
    }
    // SAFETY: under the slot lock.
    unsafe { (*s.task.get()).clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_pid_is_not_confused_with_the_new_occupant() {
        let mut local = Vec::new();
        let a = reserve(Some(&mut local));
        let task_a = Arc::new(Task::new_os(Some("a".into())));
        fill(a, task_a.clone());
        assert!(Arc::ptr_eq(&lookup(a).unwrap(), &task_a));
        drop(release(a, Some(&mut local)));
        assert!(lookup(a).is_none());
        // The index is reused with a new generation.
        let b = reserve(Some(&mut local));
        assert_eq!(b.index(), a.index());
        assert_eq!(b.generation(), a.generation().wrapping_add(1));
        let task_b = Arc::new(Task::new_os(Some("b".into())));
        fill(b, task_b.clone());
        assert!(
            lookup(a).is_none(),
            "the stale pid must not reach the new occupant"
        );
        assert!(Arc::ptr_eq(&lookup(b).unwrap(), &task_b));
        drop(release(b, Some(&mut local)));
        assert_eq!(
            format!("{b:?}"),
            format!("<0.{}.{}>", b.index(), b.generation())
        );
    }
}
