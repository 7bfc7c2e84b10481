//! The partial-deadlock report: a cycle of green threads, each waiting without a timeout for the
//! next to release a smarm `Mutex` (or a write-held `RwLock`) or to finish (`join`), found while
//! other threads keep running — where the total report (`rt::deadlock`) cannot fire. The
//! wait-for graph is kept at park time, for a few stores; a monitor reads it now and then. The
//! protocol:
//!
//! 1. **Owners.** A `Mutex` and an `RwLock` carry an owner word ([`Owner`]) beside their lock
//!    word. Whoever takes the lock exclusively stores its stack pointer there (one register read
//!    and one relaxed store after the acquiring CAS), and whoever releases it stores 0 before the
//!    releasing RMW. Readers of an `RwLock` store nothing (many may hold it; see the limits). A
//!    green thread's stack is its own mapping for its whole life, so the stack pointer names it
//!    without a thread-local read (which, inlined into a caller's crate, rustc may leave as a
//!    call); the checker finds the green thread whose stack holds it (`Green::stack_range`).
//!    A plain OS thread's (or a carrier's) stack is no green thread's: it is not a node.
//! 2. **Waits.** A green thread that parks on a lock's wait list with no deadline, or in `join`,
//!    first records what it waits on in its task's `wait_on` word ([`enter`](crate::rt::park::waitfor::enter)): the address of the
//!    lock's owner word tagged [`ON_MUTEX`] or [`ON_RWLOCK`], or the joined thread's task address
//!    tagged `ON_JOIN` (tags in the top bits, above any user-space address); the park that
//!    follows orders the record before the park word's *parked*.
//!    It clears the record ([`leave`](crate::rt::park::waitfor::leave)) when the wait ends, before it returns (so before the lock
//!    can go away). Condvar, channel, barrier, park, sleep and socket waits record nothing.
//! 3. **Reading an owner word safely.** The checker reads a lock's owner word through a waiter's
//!    record, and the lock may be freed as soon as that waiter returns. So it first marks the
//!    record `BUSY` (CAS `on` → `on | BUSY`), reads, and CASes the bit off. A waiter whose
//!    `leave` finds `BUSY` waits until the checker is done: the checker's second CAS then fails
//!    (the waiter swapped 0 in) and it stores `DONE`, which the waiter waits for. Until then the
//!    waiter has not left its wait, which borrows the lock: the checker reads live memory.
//! 4. **Sampling.** Every [`PERIOD`] (longer when the walk itself takes more than a fiftieth of
//!    that, so that the checker costs a monitor at most ~2 % of one core) one monitor walks the
//!    Pid table and notes each green thread parked with a record: its park word (mode and epoch;
//!    every green park bumps the epoch) and its record. It then resolves each record to the task
//!    it waits for (a joined task as recorded; a lock's owner word by step 3), re-reads every
//!    noted park word and record, and drops the waiters whose either changed. Each waiter has one
//!    edge at most, so the cycles of this graph are found by following edges.
//! 5. **Confirmation.** A cycle seen identically in two samples at least [`SETTLE`] apart — the
//!    same threads in the same parks, with the same records and holders — is reported, once:
//!    `smarm: deadlock cycle among green threads:` and one line per thread on stderr; the process
//!    then keeps waiting, or aborts if a member's runtime says `OnDeadlock::Abort`
//!    (`SMARM_DEADLOCK=abort`), or prints nothing if every member's runtime says `Ignore`.
//!
//! **Why a reported cycle is real.** Each member was in one and the same park from its first read
//! in the first sample to its last read in the second, so at the moment between the two samples
//! every member was parked, and none has run since it recorded its wait. A holder `H` read from an
//! owner word was read *after* `H`'s park word was seen parked (an acquire load, which orders
//! everything `H` did before parking before the read); only `H` itself stores an address in
//! `H`'s stack there (no other live thread runs on it), and its release would have stored 0
//! first, so `H` held the lock when it parked and holds it still. A lock wait ends only when the
//! holder unlocks (a guard is not `Send`: only the holder can), a join only when the joined
//! thread ends, and a stray `unpark` ends neither (both loop on their condition). So no member can ever move again, whatever any other thread does, green or OS:
//! there is no false report "while an OS thread could still act".
//!
//! A hand-off in flight is not a cycle: a lock being handed to a woken waiter (an `RwLock` grant,
//! a `Mutex` wake) has owner 0 until the new owner runs and stores itself, and the woken waiter is
//! not parked; a thread whose wait just ended has a new epoch or no record by the second sample.
//!
//! **Limits.** Only green threads are nodes: a lock held by a plain OS thread (its stack is no
//! green thread's) or an OS thread's wait breaks the chain, so such a cycle is not reported (OS
//! parks bump no epoch, and OS threads are not in the Pid table). Read-held `RwLock`s (many holders) are not followed, nor
//! are `Barrier` waits (a waiter waits for *any* thread to arrive, and which threads still will is
//! not knowable), scope waits, timed waits (`lock_timeout`, which will end), and condvar, channel
//! and park waits (anyone may notify, send or unpark). Those cycles are still caught by the total
//! report when every thread stops. A guard leaked with `mem::forget` keeps its lock held by a
//! thread that may have ended; should a new thread reuse that thread's pooled stack, a cycle
//! through the leaked lock would name the new thread as its holder (the waiters are stuck for
//! good either way). A lock taken by green code running on another stack (a `stacker`-style
//! segment) has no recognisable owner: no edge. A cycle is reported 100–300 ms after it forms
//! (later when there are so many green threads that the walk is slowed down, step 4).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

use crate::rt::config::OnDeadlock;
use crate::rt::park::waitfor::{ADDR, BUSY, DONE, ON_JOIN, ON_MUTEX, ON_RWLOCK, Owner, TAG};
use crate::rt::park::word::{MODE_MASK, TIMEOUT, USER_TOKEN, WAKE_TOKEN};
use crate::rt::task::Task;
use crate::rt::task::pid::{self, Pid};

/// Where a lock's owner word sits in `sync`'s raw locks, which start with their wait list (both
/// assert it): the report prints the lock's address, the owner word's minus this.
pub(crate) const OWNER_OFFSET: usize = size_of::<crate::rt::park::waitlist::WaitList<()>>();

/// How often the checker samples the graph: the same 100 ms the total report settles over.
pub(crate) const PERIOD: Duration = Duration::from_millis(100);
/// How long a cycle must stay the same to be reported (step 5).
pub(crate) const SETTLE: Duration = Duration::from_millis(100);
/// The walk may take at most `1 / WALK_SHARE` of the checker's period (step 4).
const WALK_SHARE: u32 = 50;

/// Cycles reported so far in this process.
static REPORTED_CYCLES: AtomicU64 = AtomicU64::new(0);

/// How many deadlock cycles this process has reported.
pub(crate) fn reported() -> u64 {
    REPORTED_CYCLES.load(Relaxed)
}

/// A park word without its tokens: the mode and the epoch.
fn park_of(state: u32) -> u32 {
    state & !(USER_TOKEN | WAKE_TOKEN | TIMEOUT)
}

/// One waiter of a sample, with its edge (step 4).
#[derive(Clone)]
struct Waiter {
    task: Arc<Task>,
    pid: Pid,
    park: u32,
    on: usize,
    holder: Holder,
}

/// Whom a waiter waits for: a lock's owner (a stack pointer in its stack, step 1) or a joined
/// task (its address, step 2). Never dereferenced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Holder {
    Unknown,
    Stack(usize),
    Task(usize),
}

impl PartialEq for Waiter {
    fn eq(&self, o: &Waiter) -> bool {
        Arc::ptr_eq(&self.task, &o.task)
            && (self.pid, self.park, self.on, self.holder) == (o.pid, o.park, o.on, o.holder)
    }
}

/// What the monitors keep between samples.
struct Watch {
    next: Option<Instant>,
    last: Option<(Instant, Vec<Vec<Waiter>>)>,
    /// Reported cycles, as (task address, park word) of their members.
    reported: Vec<Vec<(usize, u32)>>,
}

static WATCH: std::sync::Mutex<Watch> = std::sync::Mutex::new(Watch {
    next: None,
    last: None,
    reported: Vec::new(),
});

/// A monitor's tick (steps 4-5): cheap (a try-lock and a time comparison) unless a sample is due.
/// The monitor of a runtime told not to look (`OnDeadlock::Ignore`) does not.
pub(crate) fn check(action: OnDeadlock, now: Instant) {
    if action == OnDeadlock::Ignore {
        return;
    }
    let Ok(mut watch) = WATCH.try_lock() else {
        return; // another runtime's monitor is at it
    };
    if watch.next.is_some_and(|t| now < t) {
        return;
    }
    let started = Instant::now();
    let cycles = sample();
    watch.next = Some(now + PERIOD.max(started.elapsed() * WALK_SHARE));
    let mut confirmed = Vec::new();
    if let Some((at, prev)) = watch.last.take()
        && now.duration_since(at) >= SETTLE
    {
        for c in &cycles {
            let key: Vec<(usize, u32)> = c.iter().map(|w| (w.task_addr(), w.park)).collect();
            if prev.contains(c) && !watch.reported.contains(&key) {
                watch.reported.push(key);
                confirmed.push(c.clone());
            }
        }
    }
    watch.last = Some((now, cycles));
    drop(watch);
    for c in confirmed {
        report(&c);
    }
}

impl Waiter {
    fn task_addr(&self) -> usize {
        Arc::as_ptr(&self.task) as usize
    }
}

/// One sample (step 4): the cycles of the wait-for graph, each rotated to start at its lowest
/// task address, in that order.
fn sample() -> Vec<Vec<Waiter>> {
    let mut waiters = Vec::new();
    pid::table::for_each_live_where(
        // A child of `fork` holds copies of the parent's green threads that never run there:
        // their waits are the parent's business, not the child's.
        |t| {
            t.state.load(Relaxed) & MODE_MASK != 0
                && t.wait_on.load(Relaxed) & TAG != 0
                && crate::rt::task::current::fork_survives(t)
        },
        |pid, task| {
            let park = park_of(task.state.load(Acquire));
            let on = task.wait_on.load(Acquire);
            if park & MODE_MASK != 0 && on & TAG != 0 && on & BUSY == 0 {
                waiters.push(Waiter {
                    task,
                    pid,
                    park,
                    on,
                    holder: Holder::Unknown,
                });
            }
        },
    );
    // Every park word was read above; owner words are read only now (see "Why a reported cycle
    // is real").
    for w in &mut waiters {
        w.holder = holder(&w.task, w.on);
    }
    waiters.retain(|w| {
        w.holder != Holder::Unknown
            && park_of(w.task.state.load(Acquire)) == w.park
            && w.task.wait_on.load(Acquire) == w.on
    });
    waiters.sort_unstable_by_key(Waiter::task_addr);
    // The waiters' stacks, by their low end (live stacks are disjoint mappings).
    let mut stacks: Vec<(usize, usize, usize)> = (waiters.iter().enumerate())
        .filter_map(|(i, w)| {
            w.task
                .green
                .as_ref()
                .map(|g| (g.stack_range.0, g.stack_range.1, i))
        })
        .collect();
    stacks.sort_unstable();
    let on_stack = |sp: usize| {
        let k = stacks
            .partition_point(|&(low, _, _)| low <= sp)
            .checked_sub(1)?;
        let (_, high, i) = stacks[k];
        (sp < high).then_some(i)
    };
    let next: Vec<Option<usize>> = waiters
        .iter()
        .map(|w| match w.holder {
            Holder::Task(addr) => waiters.binary_search_by_key(&addr, Waiter::task_addr).ok(),
            Holder::Stack(sp) => on_stack(sp),
            Holder::Unknown => None,
        })
        .collect();
    // Each node has one edge at most: follow edges from every node not yet seen; a walk that
    // comes back to a node of its own path closed a cycle.
    let mut seen_in = vec![usize::MAX; waiters.len()];
    let mut cycles = Vec::new();
    for start in 0..waiters.len() {
        let mut i = start;
        let mut path = Vec::new();
        while seen_in[i] == usize::MAX {
            seen_in[i] = start;
            path.push(i);
            match next[i] {
                Some(j) => i = j,
                None => break,
            }
        }
        if seen_in[i] == start
            && let Some(pos) = path.iter().position(|&p| p == i)
            && next[*path.last().unwrap()] == Some(i)
        {
            let mut cycle: Vec<Waiter> = path[pos..].iter().map(|&p| waiters[p].clone()).collect();
            let low = (0..cycle.len())
                .min_by_key(|&k| cycle[k].task_addr())
                .unwrap_or(0);
            cycle.rotate_left(low);
            cycles.push(cycle);
        }
    }
    cycles.sort_unstable_by_key(|c| c[0].task_addr());
    cycles
}

/// Whom the waiter `task` with record `on` waits for (step 4; step 3 for locks).
fn holder(task: &Task, on: usize) -> Holder {
    if on & TAG == ON_JOIN {
        return Holder::Task(on & ADDR);
    }
    if task
        .wait_on
        .compare_exchange(on, on | BUSY, AcqRel, Acquire)
        .is_err()
    {
        return Holder::Unknown; // the wait ended meanwhile
    }
    // SAFETY: the record is ours (BUSY), so the waiter has not finished `leave`, and has not left
    // the wait that borrows the lock whose owner word `on` points to: the word is alive (step 3).
    let owner = unsafe { &*((on & ADDR) as *const Owner) }.holder();
    if task
        .wait_on
        .compare_exchange(on | BUSY, on, AcqRel, Acquire)
        .is_err()
    {
        // The waiter swapped 0 in and waits for us.
        task.wait_on.store(DONE, Release);
    }
    match owner {
        0 => Holder::Unknown,
        sp => Holder::Stack(sp),
    }
}

fn name(t: &Task) -> &str {
    t.name.as_deref().unwrap_or("<unnamed>")
}

/// The report of one confirmed cycle (step 5).
fn report(cycle: &[Waiter]) {
    // A confirmed cycle never ends, so its members and their runtimes stay alive.
    let actions: Vec<OnDeadlock> = cycle
        .iter()
        .filter_map(|w| w.task.green.as_ref().map(|g| g.rt().on_deadlock))
        .collect();
    if actions.iter().all(|&a| a == OnDeadlock::Ignore) {
        return;
    }
    REPORTED_CYCLES.fetch_add(1, Relaxed);
    let mut text = String::from("smarm: deadlock cycle among green threads:\n");
    for (k, w) in cycle.iter().enumerate() {
        let h = &cycle[(k + 1) % cycle.len()];
        let what = match w.on & TAG {
            ON_MUTEX => format!("waits on Mutex {:#x} held by", (w.on & ADDR) - OWNER_OFFSET),
            ON_RWLOCK => format!(
                "waits on RwLock {:#x} write-held by",
                (w.on & ADDR) - OWNER_OFFSET
            ),
            _ => "waits to join".to_string(),
        };
        let _ = writeln!(
            text,
            "  thread '{}' ({}) {what} '{}' ({})",
            name(&w.task),
            w.pid,
            name(&h.task),
            h.pid
        );
    }
    let abort = actions.contains(&OnDeadlock::Abort);
    if abort {
        text.push_str("smarm: aborting (Config::on_deadlock / SMARM_DEADLOCK=abort)\n");
    }
    // One write, and no panic in the monitor if stderr is closed (`eprint!` would panic).
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
    if abort {
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::{Config, run};
    use crate::sync::{Mutex, RwLock};
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

    /// A single sample is already sound (every member is parked at the instant between its
    /// first reads and its re-reads, and each holder's owner word is read after its park word),
    /// so under contention in a consistent lock order no sample may show a cycle — sampled here
    /// as fast as it goes, far more often than the monitor's 100 ms, which also exercises the
    /// `BUSY` hand-shake of step 3 against waiters leaving their waits. A lock that left its owner
    /// word stale on unlock shows cycles here (in about every other run, measured).
    #[test]
    fn no_sample_shows_a_cycle_under_consistent_contention() {
        static STOP: AtomicBool = AtomicBool::new(false);
        let sampler = std::thread::spawn(|| {
            let (mut samples, mut cycles) = (0u64, Vec::new());
            while !STOP.load(SeqCst) {
                samples += 1;
                for c in sample() {
                    let names: Vec<_> = c.iter().map(|w| name(&w.task).to_string()).collect();
                    if names.iter().any(|n| n.starts_with("contender")) {
                        cycles.push(names);
                    }
                }
            }
            (samples, cycles)
        });
        let rounds = run(Config::new().workers(2), || {
            let locks: Arc<Vec<Mutex<u64>>> = Arc::new((0..3).map(|_| Mutex::new(0)).collect());
            let rw = Arc::new(RwLock::new(0u64));
            let start = Instant::now();
            let hs: Vec<_> = (0..8u64)
                .map(|t| {
                    let (locks, rw) = (locks.clone(), rw.clone());
                    crate::thread::Builder::new()
                        .name(format!("contender-{t}"))
                        .spawn(move || {
                            let mut n = 0u64;
                            while start.elapsed() < Duration::from_millis(800) {
                                let first = ((n + t) % 3) as usize;
                                let gs: Vec<_> =
                                    (first..3).map(|i| locks[i].lock().unwrap()).collect();
                                if n.is_multiple_of(4) {
                                    *rw.write().unwrap() += 1;
                                }
                                drop(gs);
                                if n.is_multiple_of(16) {
                                    crate::thread::spawn(crate::thread::yield_now)
                                        .join()
                                        .unwrap();
                                }
                                crate::thread::yield_now();
                                n += 1;
                            }
                            n
                        })
                        .unwrap()
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        STOP.store(true, SeqCst);
        let (samples, cycles) = sampler.join().unwrap();
        assert!(
            rounds > 0 && samples > 10,
            "{rounds} rounds, {samples} samples"
        );
        assert!(
            cycles.is_empty(),
            "false cycles in {samples} samples: {cycles:?}"
        );
    }
}
