//! Leaving a running green thread: yield, preemption and park switch it out to its worker's
//! scheduler loop — or, for a park whose next task waits in the run-next slot, straight to that
//! task (`worker.rs`, "Direct switches").

use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::time::Instant;

use super::shared::Intent;
use crate::rt::park::word::{self, EPOCH_ONE, TIMEOUT, WaitKind};
use crate::rt::sys::context;
use crate::rt::task::Task;
use crate::rt::task::current::{self};

/// Switches from the running green thread to its worker's scheduler loop, telling it why.
#[inline(never)]
pub(crate) fn switch_out(intent: Intent) {
    let task = current::current_task_inline();
    debug_assert!(!task.is_null(), "switch_out off a green thread");
    // SAFETY: only called on a green thread, so `task` is the running task and its `worker` the
    // live worker running it. Both are used only to compute the switch's arguments, before the
    // switch; the green thread may resume on another worker, which sets `worker` anew.
    unsafe {
        let g = (*task).green.as_ref().unwrap_unchecked();
        let w = &*g.worker();
        let kind = match intent {
            Intent::Park(kind) => Some(kind),
            _ => None,
        };
        // A park with the next task waiting in the run-next slot switches straight to it
        // (`worker.rs`, "Direct switches"); anything else goes through the scheduler loop.
        match kind.and_then(|k| w.direct_next(k)) {
            Some((ctx, arg, tp)) => drop(context::switch(g.ctx.get(), ctx, arg, tp)),
            None => drop(context::switch(
                g.ctx.get(),
                *w.sched_ctx.get(),
                intent.to_word(),
                w.carrier.tp,
            )),
        }
        // Resumed, perhaps on another worker (set by whoever switched in): if the thread before
        // us switched straight here, complete its park.
        (*g.worker()).land();
    }
}

/// Yields the running green thread to the back of its worker's queue.
pub(crate) fn yield_green() {
    switch_out(Intent::Yield);
}

/// Switches out a green thread whose timeslice is spent (`rt::sched::preempt`): to the back of its
/// worker's queue like a yield, without a yield's `sched_yield`.
pub(crate) fn preempt_green() {
    switch_out(Intent::Preempt);
}

/// `park` for a green thread; see `rt::park` for the protocol.
pub(crate) fn park_green(task: &Task, kind: WaitKind, deadline: Option<Instant>) -> bool {
    let tok = kind.token();
    if word::try_consume(&task.state, tok) {
        return true;
    }
    let g = task.green.as_ref().expect("park_green on an OS thread");
    if deadline.is_some_and(|d| d <= Instant::now()) {
        return false;
    }
    // A new epoch for this park; a TIMEOUT left by an older timer is void.
    let mut s = task.state.load(Relaxed);
    let epoch = loop {
        let n = (s & !TIMEOUT).wrapping_add(EPOCH_ONE);
        match task.state.compare_exchange_weak(s, n, AcqRel, Relaxed) {
            Ok(_) => break word::epoch(n),
            Err(actual) => s = actual,
        }
    };
    if let Some(d) = deadline {
        // SAFETY: every green Task lives in an Arc (made by `spawn`); we add a reference for the
        // timer to own.
        let me = unsafe {
            Arc::increment_strong_count(task);
            Arc::from_raw(task)
        };
        let (id, earliest) = g.rt().timers.insert(d, me, epoch);
        // SAFETY: `timer` is only touched by the green thread itself.
        unsafe { *g.timer.get() = Some(id) };
        if earliest {
            g.rt().poke_timer_watcher();
        }
    }
    switch_out(Intent::Park(kind));
    let s = task.state.fetch_and(!(tok | TIMEOUT), AcqRel);
    let woken = s & tok != 0;
    // SAFETY: as above, only this green thread touches `timer`.
    if let Some(id) = unsafe { (*g.timer.get()).take() }
        && woken
    {
        g.rt().timers.cancel(id);
    }
    woken
}
