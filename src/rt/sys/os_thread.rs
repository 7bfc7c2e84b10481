//! Starting and ending smarm's own OS threads (workers, carriers, the monitor, the blocking pool,
//! the dump and trace helpers) so that a `fork` never copies a lock that std holds while a thread
//! starts or ends.
//!
//! std takes a process-wide lock (its stack-overflow handler's thread map, `thread_info.rs` in
//! std 1.95) in every new thread before the thread's closure runs, and again after the closure
//! returns. A `fork` made while one of our threads is between those points copies that lock, held,
//! into the child, where no thread will ever release it: the child's first `std::thread::spawn` —
//! its runtime's workers, or the user's own threads — then hangs for good. std's own threads carry
//! the same hazard, but ours start and end often (the monitor starts a carrier per hand-off; idle
//! carriers and blocking threads retire), so `compat-tests/fork.rs`'s child hung in about one run
//! of 160 (measured: `std::sys::..::thread_info::set_current_info` in every thread of the child).
//!
//! The protocol uses one word, [`GATE`]: its high bit says a fork is under way, the rest counts our
//! threads inside std's start or end.
//!
//! 1. **Start.** The spawner [`enter`]s (waits while a fork is under way, then counts one) and
//!    spawns, in a no-preemption section (a green spawner switched out while counted would stall
//!    the fork); the new thread's first act is to [`leave`]. A closure dropped without running
//!    (a failed spawn) leaves then.
//! 2. **End.** When the thread's closure returns (or unwinds), it enters again and first touches
//!    a thread-local, [`EXIT`], whose destructor leaves. glibc runs thread-local destructors newest
//!    first after the thread's start routine has returned, so that destructor runs after std's end
//!    and before every destructor of ours, which may take the runtime's locks.
//! 3. **Fork** ([`hold_for_fork`], the last thing the runtime's prepare handler takes, after every
//!    runtime lock): set the bit (waiting out another fork's), then wait until the count is 0. A
//!    counted thread needs none of our locks to get past std's start or end, so the wait ends;
//!    threads that want in wait in `enter`, uncounted. So no lock may be held across [`spawn`]
//!    unless the prepare handler takes it first: a spawner waiting in `enter` with it held would
//!    leave it held in the child (the global runtime's start lock, trace's session and the
//!    dump's installation flag are taken there for that reason).
//! 4. **After.** The parent's handler clears the bit and wakes those waiters (dropping the guard);
//!    the child, where only the forking thread exists, also sets the count to 0
//!    ([`forked_child`]).

use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use super::futex;

/// The high bit: a fork is under way. The rest: our threads inside std's start or end.
static GATE: AtomicU32 = AtomicU32::new(0);
const FORKING: u32 = 1 << 31;

/// Counts the caller in (step 1 or 2), after any fork under way.
fn enter() {
    let mut s = GATE.load(Relaxed);
    loop {
        if s & FORKING != 0 {
            futex::wait(&GATE, s, None);
            s = GATE.load(Relaxed);
            continue;
        }
        match GATE.compare_exchange_weak(s, s + 1, Acquire, Relaxed) {
            Ok(_) => return,
            Err(now) => s = now,
        }
    }
}

/// Counts the caller out, waking a fork that waits for the count to reach 0.
fn leave() {
    if GATE.fetch_sub(1, AcqRel) - 1 == FORKING {
        futex::wake_all(&GATE);
    }
}

/// Armed when the thread's closure has ended (step 2); its destructor counts the thread out.
struct Exit(std::cell::Cell<bool>);

impl Drop for Exit {
    fn drop(&mut self) {
        if self.0.get() {
            leave();
        }
    }
}

thread_local! {
    static EXIT: Exit = const { Exit(std::cell::Cell::new(false)) };
}

/// Step 2, run when the closure returns or unwinds.
struct Ending;

impl Drop for Ending {
    fn drop(&mut self) {
        enter();
        if EXIT.try_with(|e| e.0.set(true)).is_err() {
            leave(); // no destructor will run: std's end is not covered (cannot happen here)
        }
    }
}

/// `builder.spawn(f)`, but never across a `fork` (module docs). Every OS thread smarm starts
/// starts here.
pub(crate) fn spawn<F, T>(
    builder: std::thread::Builder,
    f: F,
) -> std::io::Result<std::thread::JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // Counted from `enter` until the new thread leaves: a green spawner must not be switched out
    // (preempted in the allocator) in between, or a fork waiting for the count would wait for a
    // green thread that only a worker blocked on the fork's locks could run.
    let _section = super::lock::Section::enter();
    enter();
    // Leaves when dropped: first thing in the new thread, or wherever the closure is dropped
    // without running (a failed spawn, a panic inside `Builder::spawn`).
    let counted = Counted;
    builder.spawn(move || {
        drop(counted);
        let _ending = Ending;
        f()
    })
}

/// One count of step 1, given back when dropped.
struct Counted;

impl Drop for Counted {
    fn drop(&mut self) {
        leave();
    }
}

/// Step 3: holds off our threads' starts and ends until the returned guard drops (step 4).
pub(crate) fn hold_for_fork() -> Box<dyn std::any::Any> {
    let mut s = GATE.load(Relaxed);
    loop {
        if s & FORKING != 0 {
            futex::wait(&GATE, s, None); // another thread's fork
            s = GATE.load(Relaxed);
            continue;
        }
        match GATE.compare_exchange_weak(s, s | FORKING, Acquire, Relaxed) {
            Ok(_) => break,
            Err(now) => s = now,
        }
    }
    loop {
        let s = GATE.load(Acquire);
        if s == FORKING {
            return Box::new(Held);
        }
        futex::wait(&GATE, s, None);
    }
}

struct Held;

impl Drop for Held {
    fn drop(&mut self) {
        GATE.fetch_and(!FORKING, AcqRel);
        futex::wake_all(&GATE);
    }
}

/// Step 4 in the child: the threads counted in the parent do not exist here.
pub(crate) fn forked_child() {
    GATE.store(0, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::atomic::Ordering::SeqCst;
    use std::time::Duration;

    /// While a fork is held off, a new thread does not start (nor do ending ones finish), and
    /// they all go on once the hold is dropped. (Other tests of this binary start runtimes
    /// through `spawn` too: they wait the same way.)
    #[test]
    fn a_hold_waits_out_starts_and_ends_and_holds_off_new_ones() {
        static STARTED: AtomicBool = AtomicBool::new(false);
        let busy: Vec<_> = (0..8)
            .map(|_| spawn(std::thread::Builder::new(), || ()).unwrap())
            .collect();
        let held = hold_for_fork();
        let starter = std::thread::spawn(|| {
            spawn(std::thread::Builder::new(), || STARTED.store(true, SeqCst))
                .unwrap()
                .join()
                .unwrap();
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!STARTED.load(SeqCst), "a thread started during a fork");
        drop(held);
        starter.join().unwrap();
        assert!(STARTED.load(SeqCst));
        for h in busy {
            h.join().unwrap();
        }
    }
}
