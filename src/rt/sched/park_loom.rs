//! A loom model of the park word (`rt/park.rs`): a green park racing an unpark and a timer.
//!
//! The real functions cannot run under loom: `Task::state` is a std `AtomicU32` and a green park
//! switches stacks. So this is a self-contained copy of the word's transitions, with the real
//! constants, one function per step of the real code; keep it in step with:
//! - [`begin_park`]: `sched::switch::park_green` up to the switch (consume a token, else bump the epoch);
//! - [`complete_park`]: `Worker::complete_park` (after the switch has saved the context);
//! - [`resume`]: `sched::switch::park_green` after the switch (clear the token and TIMEOUT);
//! - [`unpark`]: `park::unpark_inner`; [`fire_timeout`]: `worker::fire_timeout`;
//! - [`hold_and_read`]: `park::hold_parked`, the dump's stack walk, and `Held`'s drop.
//!
//! What each model checks: the task is scheduled exactly once if it parked and never if it did
//! not (no lost wake-up, no double run); the context saved before the park is visible to whoever
//! schedules it and the waker's condition to the woken thread (loom's `UnsafeCell` reports a race
//! otherwise); a token is consumed exactly once (by this park, or left for the next); a stale
//! timer never wakes a later park; a dump holding the parked task reads its saved context and
//! stack while no one runs it (a wake-up during the hold is delayed, never lost nor doubled).

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::AtomicU32;
use loom::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use loom::thread;

use crate::rt::park::word::{EPOCH_ONE, MODE_HELD, MODE_MASK, TIMEOUT, WaitKind, epoch};

/// The parts of a `Task` the protocol touches.
struct Model {
    state: AtomicU32,
    /// Stands for the saved context: written by the worker before the park completes, read by
    /// whoever schedules the task.
    ctx: UnsafeCell<u32>,
    /// Stands for the stack's frames: written by the task whenever it runs, read by a dump that
    /// holds it parked.
    stack: UnsafeCell<u32>,
    /// Stand for each kind's waker's condition (the data the woken thread re-checks).
    cond: [UnsafeCell<u32>; 2],
    /// How many times the task was put on a run queue.
    scheduled: AtomicU32,
}

impl Model {
    fn new(state: u32) -> Model {
        Model {
            state: AtomicU32::new(state),
            ctx: UnsafeCell::new(0),
            stack: UnsafeCell::new(0),
            cond: [UnsafeCell::new(0), UnsafeCell::new(0)],
            scheduled: AtomicU32::new(0),
        }
    }

    /// `park::wake_parked`: the caller cleared the mode, so the context is complete.
    fn wake_parked(&self) {
        assert_eq!(
            // SAFETY: loom's UnsafeCell checks the access; the protocol hands it on.
            self.ctx.with(|c| unsafe { *c }),
            1,
            "scheduled before its context was saved"
        );
        self.scheduled.fetch_add(1, Release);
    }
}

/// `park::try_consume`.
fn try_consume(m: &Model, token: u32) -> bool {
    let mut s = m.state.load(Acquire);
    while s & token != 0 {
        match m
            .state
            .compare_exchange_weak(s, s & !token, AcqRel, Acquire)
        {
            Ok(_) => return true,
            Err(actual) => s = actual,
        }
    }
    false
}

/// `sched::switch::park_green` before the switch: `Err(())` if a token was there (returns at once), else
/// the new epoch (the one its timer, if any, is tagged with).
fn begin_park(m: &Model, kind: WaitKind) -> Result<u32, ()> {
    if try_consume(m, kind.token()) {
        return Err(());
    }
    let mut s = m.state.load(Relaxed);
    loop {
        let n = (s & !TIMEOUT).wrapping_add(EPOCH_ONE);
        match m.state.compare_exchange_weak(s, n, AcqRel, Relaxed) {
            Ok(_) => return Ok(epoch(n)),
            Err(actual) => s = actual,
        }
    }
}

/// `Worker::complete_park`: `true` if the task is now parked.
fn complete_park(m: &Model, kind: WaitKind) -> bool {
    // SAFETY: loom's UnsafeCell checks the access; the protocol hands it on.
    m.ctx.with_mut(|c| unsafe { *c = 1 }); // the switch saved the context
    let ready = kind.token() | TIMEOUT;
    let mut s = m.state.load(Acquire);
    loop {
        if s & ready != 0 {
            return false;
        }
        assert_eq!(s & MODE_MASK, 0);
        match m
            .state
            .compare_exchange_weak(s, s | kind.mode(), AcqRel, Acquire)
        {
            Ok(_) => return true,
            Err(actual) => s = actual,
        }
    }
}

/// `sched::switch::park_green` after the switch: whether a token woke it.
fn resume(m: &Model, kind: WaitKind) -> bool {
    let tok = kind.token();
    let s = m.state.fetch_and(!(tok | TIMEOUT), AcqRel);
    s & tok != 0
}

/// `park::unpark_inner`.
fn unpark(m: &Model, kind: WaitKind) {
    let (tok, mode) = (kind.token(), kind.mode());
    let mut s = m.state.load(Relaxed);
    loop {
        let parked = s & MODE_MASK == mode;
        let new = if parked {
            (s & !MODE_MASK) | tok
        } else {
            s | tok
        };
        match m.state.compare_exchange_weak(s, new, AcqRel, Relaxed) {
            Ok(_) => {
                if parked {
                    m.wake_parked();
                }
                return;
            }
            Err(actual) => s = actual,
        }
    }
}

/// `worker::fire_timeout`.
fn fire_timeout(m: &Model, ep: u32) {
    let mut s = m.state.load(Acquire);
    loop {
        if epoch(s) != ep {
            return;
        }
        let mode = s & MODE_MASK;
        let (new, wake) = if mode != 0 && mode != MODE_HELD {
            (s & !MODE_MASK, true)
        } else {
            (s | TIMEOUT, false)
        };
        match m.state.compare_exchange_weak(s, new, AcqRel, Acquire) {
            Ok(_) => {
                if wake {
                    m.wake_parked();
                }
                return;
            }
            Err(actual) => s = actual,
        }
    }
}

/// `park::hold_parked`, then the walk (reads the saved context and the stack), then `Held`'s
/// drop. Returns whether it held the task.
fn hold_and_read(m: &Model) -> bool {
    let mut s = m.state.load(Acquire);
    let mode = loop {
        let mode = s & MODE_MASK;
        if mode == 0 || mode == MODE_HELD {
            return false;
        }
        match m
            .state
            .compare_exchange_weak(s, (s & !MODE_MASK) | MODE_HELD, AcqRel, Acquire)
        {
            Ok(_) => break mode,
            Err(actual) => s = actual,
        }
    };
    // SAFETY: loom's UnsafeCell checks the access: a race with the task's run is reported.
    let ctx = m.ctx.with(|c| unsafe { *c });
    assert_eq!(ctx, 1, "held before its context was saved");
    // SAFETY: as above.
    m.stack.with(|c| unsafe { *c });
    let tok = if mode == WaitKind::User.mode() {
        WaitKind::User.token()
    } else {
        WaitKind::Wake.token()
    };
    let mut s = m.state.load(Acquire);
    loop {
        assert_eq!(s & MODE_MASK, MODE_HELD);
        let (new, wake) = if s & (tok | TIMEOUT) != 0 {
            (s & !MODE_MASK, true)
        } else {
            ((s & !MODE_MASK) | mode, false)
        };
        match m.state.compare_exchange_weak(s, new, AcqRel, Acquire) {
            Ok(_) => {
                if wake {
                    m.wake_parked();
                }
                return true;
            }
            Err(actual) => s = actual,
        }
    }
}

/// A dump's holder: holds the task if it finds it parked.
fn spawn_holder(m: &Arc<Model>) -> thread::JoinHandle<()> {
    let m = m.clone();
    thread::spawn(move || {
        hold_and_read(&m);
    })
}

/// An unparker: sets the condition, then unparks.
fn spawn_unparker(m: &Arc<Model>, kind: WaitKind) -> thread::JoinHandle<()> {
    let m = m.clone();
    thread::spawn(move || {
        // SAFETY: loom's UnsafeCell checks the access; the protocol hands it on.
        m.cond[kind as usize].with_mut(|c| unsafe { *c = 1 });
        unpark(&m, kind);
    })
}

/// The parker's side, from the park to its return, racing threads started before it. With
/// `timer`, a thread fires the park's timer (for the epoch `begin_park` made). A task that parked
/// runs again only once scheduled, so it waits for that (a lost wake-up makes that wait spin until
/// loom gives up: "Model exceeded maximum number of branches"); one that did not park resumes at once, still racing the others.
/// Returns whether it parked and whether a token woke it; joins every thread.
fn park_and_resume(
    m: &Arc<Model>,
    kind: WaitKind,
    timer: bool,
    others: Vec<thread::JoinHandle<()>>,
) -> (bool, bool) {
    let mut others = others;
    let (parked, woken) = match begin_park(m, kind) {
        Err(()) => (false, true),
        Ok(ep) => {
            if timer {
                let m = m.clone();
                others.push(thread::spawn(move || fire_timeout(&m, ep)));
            }
            let parked = complete_park(m, kind);
            if parked {
                while m.scheduled.load(Acquire) == 0 {
                    thread::yield_now();
                }
            }
            (parked, resume(m, kind))
        }
    };
    // Running again: the task writes its stack (a dump must not be reading it now).
    // SAFETY: loom's UnsafeCell checks the access; the protocol hands it on.
    m.stack.with_mut(|c| unsafe { *c += 1 });
    if woken {
        // SAFETY: loom's UnsafeCell checks the access; the protocol hands it on.
        let cond = m.cond[kind as usize].with(|c| unsafe { *c });
        assert_eq!(
            cond, 1,
            "the waker's condition is visible to the thread it woke"
        );
    }
    for o in others {
        o.join().unwrap();
    }
    (parked, woken)
}

/// A park for the runtime's token racing its unpark: woken exactly once, token consumed.
#[test]
fn loom_park_vs_unpark() {
    loom::model(|| {
        let m = Arc::new(Model::new(0));
        let u = spawn_unparker(&m, WaitKind::Wake);
        let (parked, woken) = park_and_resume(&m, WaitKind::Wake, false, vec![u]);
        assert!(woken, "the unpark's token is consumed by this park");
        assert_eq!(m.scheduled.load(Relaxed), u32::from(parked));
        assert_eq!(m.state.load(Relaxed) & !(EPOCH_ONE.wrapping_neg()), 0);
    });
}

/// A `park_timeout` racing both its unpark and its own timer: one of them schedules it (exactly
/// once); the user's token is consumed exactly once, by this park or left for the next.
#[test]
fn loom_park_vs_unpark_vs_timeout() {
    loom::model(|| {
        let kind = WaitKind::User;
        let m = Arc::new(Model::new(0));
        let u = spawn_unparker(&m, kind);
        let (parked, woken) = park_and_resume(&m, kind, true, vec![u]);
        assert_eq!(m.scheduled.load(Relaxed), u32::from(parked));
        let s = m.state.load(Relaxed);
        assert_eq!(s & MODE_MASK, 0);
        assert!(
            woken != (s & kind.token() != 0),
            "the token is consumed exactly once"
        );
    });
}

/// A timer from the previous park (its epoch) fires while the task parks again: it neither wakes
/// the new park nor leaves it a TIMEOUT; only the unpark ends it.
#[test]
fn loom_stale_timer() {
    loom::model(|| {
        let kind = WaitKind::Wake;
        let m = Arc::new(Model::new(0));
        let stale = {
            let m = m.clone();
            thread::spawn(move || fire_timeout(&m, 0))
        };
        let u = spawn_unparker(&m, kind);
        let (parked, woken) = park_and_resume(&m, kind, false, vec![stale, u]);
        assert!(woken, "only the unpark can end this park");
        assert_eq!(m.scheduled.load(Relaxed), u32::from(parked));
    });
}

/// A `thread::park` token (USER) arriving while the task parks for the runtime's (WAKE) does not
/// end that park and is not lost: it is still there afterwards.
#[test]
fn loom_kinds_do_not_mix() {
    loom::model(|| {
        let m = Arc::new(Model::new(0));
        let user = spawn_unparker(&m, WaitKind::User);
        let wake = spawn_unparker(&m, WaitKind::Wake);
        let (parked, woken) = park_and_resume(&m, WaitKind::Wake, false, vec![user, wake]);
        assert!(woken);
        assert_eq!(m.scheduled.load(Relaxed), u32::from(parked));
        let s = m.state.load(Relaxed);
        assert_eq!(
            s & WaitKind::User.token(),
            WaitKind::User.token(),
            "USER token kept"
        );
        assert_eq!(s & (WaitKind::Wake.token() | MODE_MASK), 0);
    });
}

/// A dump holds the task while it parks and its unpark arrives: the wake-up is handed to the
/// holder or to the unparker, the task is scheduled exactly once if it parked, and the stack is
/// read only while the task does not run.
#[test]
fn loom_hold_vs_unpark() {
    loom::model(|| {
        let m = Arc::new(Model::new(0));
        let h = spawn_holder(&m);
        let u = spawn_unparker(&m, WaitKind::Wake);
        let (parked, woken) = park_and_resume(&m, WaitKind::Wake, false, vec![h, u]);
        assert!(woken, "the unpark's token is consumed by this park");
        assert_eq!(m.scheduled.load(Relaxed), u32::from(parked));
        assert_eq!(m.state.load(Relaxed) & !(EPOCH_ONE.wrapping_neg()), 0);
    });
}

/// A dump holds a `park_timeout` whose timer fires: the timeout is not lost (TIMEOUT, handed to
/// the holder), the task is scheduled exactly once, and ends its park by the timeout.
#[test]
fn loom_hold_vs_timeout() {
    loom::model(|| {
        let kind = WaitKind::User;
        let m = Arc::new(Model::new(0));
        let h = spawn_holder(&m);
        let (parked, woken) = park_and_resume(&m, kind, true, vec![h]);
        assert!(!woken, "no token: only the timer ends this park");
        assert_eq!(m.scheduled.load(Relaxed), u32::from(parked));
        assert_eq!(m.state.load(Relaxed) & (MODE_MASK | TIMEOUT), 0);
    });
}
