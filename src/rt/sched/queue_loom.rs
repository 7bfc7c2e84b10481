//! Loom models of the run queue (the real `Deque`, `Ring` and `Injector`, with loom's atomics and
//! `CAP` = 4; see the switch at the top of `queue.rs`). Each model pushes tasks, lets an owner and
//! one or two thieves race, and checks that every task pushed is taken exactly once: none lost,
//! none taken twice (a duplicate would also be a double `Arc::from_raw`).
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test --release --lib loom`.

use super::*;
use loom::sync::Arc as LArc;
use loom::thread;

fn tasks(n: usize) -> Vec<Arc<Task>> {
    (0..n).map(|_| Arc::new(Task::new_os(None))).collect()
}

/// Asserts that `taken` holds each of `all` exactly once. A task taken twice had its reference
/// taken twice (`Arc::from_raw`): then nothing is dropped, so the failure is this assertion rather
/// than a double free.
fn exactly_once(all: &[Arc<Task>], taken: Vec<Arc<Task>>) {
    let mut got: Vec<usize> = taken.iter().map(|t| Arc::as_ptr(t) as usize).collect();
    got.sort_unstable();
    let mut want: Vec<usize> = all.iter().map(|t| Arc::as_ptr(t) as usize).collect();
    want.sort_unstable();
    if got != want {
        std::mem::forget(taken);
        panic!("each task taken exactly once: took {got:x?}, pushed {want:x?}");
    }
}

/// Everything left in `q` (owner pops) and `inj`.
fn leftovers(q: &RunQueue, inj: &Injector) -> Vec<Arc<Task>> {
    let mut out: Vec<Arc<Task>> = std::iter::from_fn(|| q.own().pop()).collect();
    let scratch = RunQueue::new();
    while let Some(t) = inj.pop_batch(scratch.own(), 0) {
        out.push(t);
    }
    out
}

/// The owner pops both of two entries while a thief steals one: the last entry is claimed by
/// exactly one of them (protocol steps 2 and 3).
#[test]
fn loom_deque_pop_vs_steal() {
    loom::model(|| {
        let all = tasks(2);
        let q = LArc::new(RunQueue::new());
        let inj = Injector::new();
        for t in &all {
            q.own().push(t.clone(), &inj);
        }
        let thief = {
            let q = q.clone();
            thread::spawn(move || q.newest.steal())
        };
        let mut taken: Vec<Arc<Task>> = Vec::new();
        taken.extend(q.own().pop());
        taken.extend(q.own().pop());
        taken.extend(thief.join().unwrap());
        taken.extend(leftovers(&q, &inj));
        exactly_once(&all, taken);
    });
}

/// Pushes that reuse slots (indices past `CAP`) while a thief steals: the slot a thief reads
/// before its CAS is never one the owner is rewriting.
#[test]
fn loom_deque_wraps_while_stolen() {
    loom::model(|| {
        let all = tasks(CAP + 2);
        let q = LArc::new(RunQueue::new());
        let inj = Injector::new();
        for t in &all[..CAP - 1] {
            q.own().push(t.clone(), &inj);
        }
        let thief = {
            let q = q.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                got.extend(q.newest.steal());
                got.extend(q.newest.steal());
                got
            })
        };
        let mut taken: Vec<Arc<Task>> = Vec::new();
        // Pops and pushes that wrap: with the deque full, `push` spills half to the injector.
        taken.extend(q.own().pop());
        for t in &all[CAP - 1..] {
            q.own().push(t.clone(), &inj);
        }
        taken.extend(q.own().pop());
        taken.extend(thief.join().unwrap());
        taken.extend(leftovers(&q, &inj));
        exactly_once(&all, taken);
    });
}

/// A thief steals half (entries one at a time into its own queue) while the owner pops.
#[test]
fn loom_deque_steal_half_vs_pop() {
    loom::model(|| {
        let all = tasks(3);
        let victim = LArc::new(RunQueue::new());
        let inj = LArc::new(Injector::new());
        for t in &all {
            victim.own().push(t.clone(), &inj);
        }
        let thief = {
            let (victim, inj) = (victim.clone(), inj.clone());
            thread::spawn(move || {
                let mine = RunQueue::new();
                let mut got: Vec<Arc<Task>> = Vec::new();
                got.extend(victim.steal_into(mine.own(), &inj));
                got.extend(std::iter::from_fn(|| mine.own().pop()));
                got
            })
        };
        let mut taken: Vec<Arc<Task>> = Vec::new();
        taken.extend(victim.own().pop());
        taken.extend(victim.own().pop());
        taken.extend(thief.join().unwrap());
        taken.extend(leftovers(&victim, &inj));
        exactly_once(&all, taken);
    });
}

/// Two thieves and the owner race for two entries.
#[test]
fn loom_deque_two_thieves() {
    loom::model(|| {
        let all = tasks(2);
        let q = LArc::new(RunQueue::new());
        let inj = Injector::new();
        for t in &all {
            q.own().push(t.clone(), &inj);
        }
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || q.newest.steal())
            })
            .collect();
        let mut taken: Vec<Arc<Task>> = q.own().pop().into_iter().collect();
        for th in thieves {
            taken.extend(th.join().unwrap());
        }
        taken.extend(leftovers(&q, &inj));
        exactly_once(&all, taken);
    });
}

/// The owner spills a full deque's older half (`claim_oldest_half`) while a thief steals.
#[test]
fn loom_deque_spill_vs_steal() {
    loom::model(|| {
        let all = tasks(CAP + 1);
        let q = LArc::new(RunQueue::new());
        let inj = LArc::new(Injector::new());
        for t in &all[..CAP] {
            q.own().push(t.clone(), &inj);
        }
        let thief = {
            let q = q.clone();
            thread::spawn(move || q.newest.steal())
        };
        q.own().push(all[CAP].clone(), &inj);
        let mut taken: Vec<Arc<Task>> = thief.join().unwrap().into_iter().collect();
        taken.extend(leftovers(&q, &inj));
        exactly_once(&all, taken);
    });
}

/// The FIFO ring: the owner pushes (wrapping) and pops while a thief steals half of it.
#[test]
fn loom_ring_pop_vs_steal_half() {
    loom::model(|| {
        let all = tasks(CAP + 1);
        let victim = LArc::new(RunQueue::new());
        let inj = LArc::new(Injector::new());
        for t in &all[..CAP - 1] {
            victim.own().push_back(t.clone(), &inj);
        }
        let thief = {
            let (victim, inj) = (victim.clone(), inj.clone());
            thread::spawn(move || {
                let mine = RunQueue::new();
                let mut got: Vec<Arc<Task>> = Vec::new();
                got.extend(victim.steal_into(mine.own(), &inj));
                got.extend(std::iter::from_fn(|| mine.own().pop()));
                got
            })
        };
        let mut taken: Vec<Arc<Task>> = Vec::new();
        taken.extend(victim.own().pop());
        for t in &all[CAP - 1..] {
            victim.own().push_back(t.clone(), &inj);
        }
        taken.extend(victim.own().pop());
        taken.extend(thief.join().unwrap());
        taken.extend(leftovers(&victim, &inj));
        exactly_once(&all, taken);
    });
}
