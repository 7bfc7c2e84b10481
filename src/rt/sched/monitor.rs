//! The monitor: one background thread per runtime that notices *stuck* carriers and gives their
//! workers to other carriers — Go's sysmon retaking a P from an M in a syscall.
//!
//! **Workers and carriers** (DESIGN.md, "Scheduler"). A runtime has N workers (scheduling slots,
//! Go's Ps) and any number of carriers (OS threads, Go's Ms), up to `Config::max_extra_workers`
//! beyond the N. Only a carrier holding a worker runs green threads from the queues. A carrier is
//! *stuck* when one green thread has held it without a switch and either
//!
//! - its OS thread sleeps in the kernel (`/proc/self/task/<tid>/stat` says `S` or `D`: a blocking
//!   std call such as `std::thread::sleep`, `std::fs::read`, a contended `std::sync::Mutex`),
//!   seen on two samples in a row; or
//! - it has run for the blocking threshold (default 10 ms): a loop that neither allocates under
//!   the preempting allocator nor calls `check!()`, so nothing can switch it out;
//!
//! and something needs its worker: work queued on it (its run-next slot, its queue), in the
//! injector, or timers and sockets that no sleeping worker watches.
//!
//! **The hand-off.** The stuck carrier keeps its green thread — the runtime never moves a green
//! thread that is in the middle of foreign code — and the monitor gives its worker to a *spare*
//! carrier (one that gave up a worker earlier and waits), or starts a new one:
//!
//! 1. the stuck carrier's slot is marked `lost` (and its run `stuck_run`, so that its own wakes go
//!    to its stealable queue, not the run-next slot); its run-next task goes to the injector;
//! 2. the idle protocol counts a worker in (`Idle::add_worker`: unparked and searching), and the
//!    spare or new carrier starts searching: it steals the stuck carrier's queue like any thief;
//! 3. when the stuck green thread comes back to the runtime (it yields, parks, exits or is
//!    preempted), its carrier sees `lost`: the green thread goes to the injector, everything queued
//!    on the carrier follows, the carrier counts itself out (`Idle::remove_worker`) and waits as a
//!    spare (`wait_as_spare`). A spare idle for [`SPARE_KEEP`](crate::rt::sched::carriers::SPARE_KEEP) retires.
//!
//! So at most N carriers run green code, except that a carrier stuck in foreign code that
//! *computes* (the second case above) goes on computing beside them until its next smarm call.
//! Reaching the carrier bound is reported once on stderr with a dump, and the stuck work then
//! waits — never silently.
//!
//! **Why the stuck carrier keeps its queue and caches** rather than handing them over with the
//! worker (Go hands over the P itself): Go knows when an M enters a syscall, so it takes the P only
//! from an M that promised not to touch it. We take the worker from a carrier that is somewhere in
//! foreign code, possibly about to push to its queue or take a cached stack; so everything a
//! carrier touches without a lock stays its own, the new carrier gets a slot of its own, and the
//! queue left behind is reachable by stealing until the old carrier empties it.
//!
//! **Detecting stuck carriers without slowing the switch.** Each slot counts its runs in
//! `WorkerShared::runs`: odd while a green thread runs, even in the loop (two plain stores per
//! switch, no locked instruction). The monitor samples the counters; the same odd value on two
//! samples is one long run. It samples every [`FAST_TICK`] while it finds work (a hand-off, a
//! stranded run-next task); otherwise its tick doubles, up to a quarter threshold while workers
//! run and a threshold while all sleep (a worker waking to run wakes it from that long sleep). A long run's kernel state is read at ages 1, 2, 4, ... ticks, so
//! a hog costs a few reads per threshold.
//!
//! **Run-next cannot strand.** A task woken into a worker's run-next slot waits for its waker to
//! switch; the sleeping worker that watches timers takes it when the waker runs on (`worker.rs`,
//! "Run-next cannot strand"). As a backstop the monitor does the same: if the same run still
//! holds the worker on the next sample and the same task still sits in the slot, it moves it to
//! the injector and wakes a sleeping worker — Go's thieves take `runnext` after ~3 µs for the
//! same reason.
//!
//! Two more duties, because this thread already wakes periodically: it sheds pooled stacks and
//! TLS areas that went unused for a while (`sys::stack`, `sys::tls`), and it asks a worker to run
//! the entry that has waited at the front of its deque for a whole threshold (`sched/queue.rs`,
//! "Nothing starves").

use std::sync::Arc;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

use crate::rt::sched::carriers::{HANDOFF_LOG, HandOff, lock};
use crate::rt::sched::queue::RunQueue;
use crate::rt::sched::shared::{Shared, WorkerShared};
use crate::rt::sched::worker;
use crate::rt::sys::os_thread;
use crate::rt::sys::stack::SHED_INTERVAL as STACK_SHED_INTERVAL;

/// The shortest sampling period: Go's sysmon starts at 20 µs; a futex sleep this short costs a
/// few µs of an otherwise idle core.
pub(crate) const FAST_TICK: Duration = Duration::from_micros(50);

/// Starts `shared`'s monitor thread (stopped by `stop`).
pub(crate) fn start(shared: &Arc<Shared>) {
    let s = shared.clone();
    let h = os_thread::spawn(
        std::thread::Builder::new().name("smarm-monitor".into()),
        move || run(&s),
    )
    .expect("smarm: failed to start the monitor thread");
    *lock(&shared.monitor.thread) = Some(h);
}

/// Stops the monitor and joins every carrier it started (the runtime is shutting down: `shutdown`
/// is set and every slot's carrier has been woken).
pub(crate) fn stop(shared: &Shared) {
    shared.monitor.poke();
    if let Some(h) = lock(&shared.monitor.thread).take() {
        let _ = h.join();
    }
    loop {
        // Carriers may still be starting or retiring: take the handles until none are left.
        let handles = std::mem::take(&mut lock(&shared.monitor.carriers).handles);
        if handles.is_empty() {
            break;
        }
        for (_, h) in handles {
            let _ = h.join();
        }
    }
}

/// How often idle TLS areas are looked at: an area idle through a whole interval goes cold.
const TLS_SHED_INTERVAL: Duration = Duration::from_secs(1);

/// What the monitor remembers of one slot between samples.
#[derive(Clone, Copy)]
struct Seen {
    /// The run counter at the first sample that saw it, and when.
    runs: u64,
    since: Instant,
    /// The run-next task (as an address) at the last sample.
    run_next: usize,
    /// The age at which this run's kernel state is read next (doubles after each read).
    probe_at: Duration,
    /// This run was found asleep in the kernel.
    blocked: bool,
    /// The deque's front entry last seen and since when (see `starved_front`).
    front: (Option<u64>, Instant),
}

fn run(shared: &Arc<Shared>) {
    let _internal = crate::rt::census::Internal::enter();
    let mut deadlock_watch = crate::rt::deadlock::Watch::default();
    crate::rt::sched::preempt::calibrate(shared);
    let threshold = shared.blocking_threshold;
    let busy_max = (threshold / 4).max(FAST_TICK);
    let start = Instant::now();
    let fresh = Seen {
        runs: 0,
        since: start,
        run_next: 0,
        probe_at: FAST_TICK,
        blocked: false,
        front: (None, start),
    };
    let mut seen: Vec<Seen> = Vec::new();
    // The monitor's own queue, only ever a stop on the way from a stuck carrier's to the injector.
    let scratch = RunQueue::new();
    let mut tick = busy_max;
    let mut last_shed = start;
    let mut last_stack_shed = start;
    loop {
        shared.monitor.deep.store(tick > busy_max, SeqCst);
        shared.monitor.sleep(tick);
        shared.monitor.deep.store(false, Relaxed);
        if shared.shutdown.load(SeqCst) {
            return;
        }
        let now = Instant::now();
        // Idle green-thread TLS areas give their memory back (see `sys::tls::shed_idle`).
        if now.duration_since(last_shed) >= TLS_SHED_INTERVAL {
            last_shed = now;
            crate::rt::sys::tls::shed_idle();
        }
        // Stacks the pool held unused for a whole interval go back to the kernel here, off the
        // spawn/exit path (`sys::stack`, "The pool").
        if now.duration_since(last_stack_shed) >= STACK_SHED_INTERVAL {
            last_stack_shed = now;
            shared.stacks.shed();
        }
        let hw = shared.workers_hw.load(SeqCst);
        if seen.len() < hw {
            seen.resize(
                hw,
                Seen {
                    since: now,
                    ..fresh
                },
            );
        }
        let sleepers = shared.idle.sleeping();
        let handing_off = tick == FAST_TICK;
        let mut any_running = false;
        let mut acted = false;
        for (i, w) in shared.workers.iter(hw).enumerate() {
            let s = &mut seen[i];
            starved_front(w, &mut s.front, now, threshold);
            if w.lost.load(Relaxed) {
                // A stuck carrier: its worker is already elsewhere. What was queued on it before
                // it lost the worker goes to the injector: its thieves may be busy with work that
                // never runs dry (hogs, a spinning yielder) and never come to steal it.
                if !w.queue.is_empty() && drain(shared, w, &scratch) {
                    acted = true;
                }
                continue;
            }
            let runs = w.runs.load(Relaxed);
            let run_next = w.run_next_addr();
            if runs & 1 == 0 {
                s.runs = runs;
                continue;
            }
            any_running = true;
            if runs != s.runs {
                *s = Seen {
                    runs,
                    since: now,
                    run_next,
                    probe_at: FAST_TICK,
                    blocked: false,
                    front: s.front,
                };
                // Right after a hand-off (a burst of blocking calls: the carrier that took the
                // worker is likely to block in its first run too) a new run is looked at once.
                if !handing_off || !asleep_in_kernel(w) {
                    continue;
                }
                s.blocked = true;
            }
            // The same run as at the last sample.
            if run_next != 0 && run_next == s.run_next {
                // Stranded behind a long run: to the injector, where a sleeper takes it.
                if let Some(t) = w.take_run_next() {
                    shared.injector.push(t);
                    shared.notify();
                    acted = true;
                }
            }
            s.run_next = w.run_next_addr();
            let age = now.duration_since(s.since);
            if !s.blocked && age >= s.probe_at {
                s.probe_at = age * 2;
                s.blocked = asleep_in_kernel(w);
            }
            if (s.blocked || age >= threshold)
                && needs_help(shared, sleepers)
                && hand_off(shared, i, runs, s.blocked, age)
            {
                acted = true;
            }
        }
        if !any_running && !acted {
            crate::rt::deadlock::check(shared, &mut deadlock_watch, now);
        }
        // Partial deadlocks happen while others run: looked for whatever the workers do.
        crate::rt::cycles::check(shared.on_deadlock, now);
        tick = if acted {
            FAST_TICK
        } else if any_running {
            (tick * 2).min(busy_max)
        } else {
            (tick * 2).min(threshold.max(FAST_TICK))
        };
        // Backstop for the timer watch: pending timers with no sleeper watching them (a watch
        // lost between workers coming and going) — wake a sleeper, which takes the watch.
        if !shared.timers.is_empty()
            && shared.timer_watcher.load(SeqCst) == 0
            && let Some(i) = shared.idle.another_sleeper(usize::MAX)
        {
            shared.unpark_worker(i);
        }
    }
}

/// Moves everything in stuck carrier `w`'s queue to the injector (stealing it, as a thief would,
/// into `scratch`, the monitor's own queue). Returns whether anything moved.
fn drain(shared: &Shared, w: &WorkerShared, scratch: &RunQueue) -> bool {
    // SAFETY: `scratch` is the monitor's own queue, used on the monitor's thread alone.
    let scratch = unsafe { scratch.owner() };
    let mut batch = Vec::new();
    while let Some(t) = w.queue.steal_into(scratch, &shared.injector) {
        batch.push(t);
        while let Some(t) = scratch.pop() {
            batch.push(t);
        }
    }
    if batch.is_empty() {
        return false;
    }
    shared.injector.push_batch(batch);
    shared.notify();
    true
}

/// Whether a stuck carrier's worker is needed elsewhere: work waits in some queue (any carrier's:
/// what waits behind an earlier stuck carrier counts too, its thieves may be stuck themselves) or
/// in the injector, or nobody else is left to watch timers and sockets.
fn needs_help(shared: &Shared, sleepers: usize) -> bool {
    !shared.injector.is_empty()
        || shared
            .workers
            .iter(shared.workers_hw.load(SeqCst))
            .any(|w| !w.queue.is_empty() || w.has_run_next())
        || (sleepers == 0
            && (!shared.timers.is_empty() || crate::rt::io::reactor::registrations() > 0))
}

/// Whether carrier `w`'s OS thread sleeps in the kernel now (state `S` or `D` in
/// `/proc/self/task/<tid>/stat`). An unreadable file counts as running.
fn asleep_in_kernel(w: &WorkerShared) -> bool {
    let tid = w.tid.load(Relaxed);
    if tid <= 0 {
        return false;
    }
    let mut path = [0u8; 48];
    let mut cur = std::io::Cursor::new(&mut path[..]);
    use std::io::Write;
    if write!(cur, "/proc/self/task/{tid}/stat\0").is_err() {
        return false;
    }
    let mut buf = [0u8; 256];
    // SAFETY: `path` is NUL-terminated; `buf` is ours and its length is passed; the fd is closed.
    let n = unsafe {
        let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    if n <= 0 {
        return false;
    }
    let text = &buf[..n as usize];
    // "tid (comm) S ...": the state follows the last ')' (comm may contain parentheses).
    match text.iter().rposition(|&b| b == b')') {
        Some(p) => matches!(text.get(p + 2), Some(b'S' | b'D')),
        None => false,
    }
}

/// Gives stuck carrier `i`'s worker to a spare or a new carrier. Returns `false` (and reports
/// once) when the carrier bound leaves none to give it to.
fn hand_off(shared: &Arc<Shared>, i: usize, run: u64, in_kernel: bool, age: Duration) -> bool {
    let w = &shared.workers[i];
    let mut c = lock(&shared.monitor.carriers);
    let target = match c.spare.pop() {
        Some(slot) => Target::Spare(slot),
        None => {
            let slot = match c.released.pop() {
                Some(s) => s,
                None if c.fresh < shared.workers.capacity() => {
                    c.fresh += 1;
                    c.fresh - 1
                }
                None => {
                    if !c.bound_reported {
                        c.bound_reported = true;
                        drop(c);
                        report_bound(shared);
                    }
                    // The old way: wakes go to the stealable queue, sleepers steal it.
                    w.stuck_run.store(run, Relaxed);
                    if let Some(t) = w.take_run_next() {
                        shared.injector.push(t);
                        shared.notify();
                    }
                    return false;
                }
            };
            Target::New(slot)
        }
    };
    // Count the new holder in before the stuck carrier is told it lost its worker: that carrier
    // counts itself out as soon as it sees `lost`, and must never find the count at N - 1 (it
    // would take the worker back, leaving N + 1 once this adds one).
    shared.idle.add_worker();
    match target {
        Target::Spare(slot) => {
            shared.workers[slot].lost.store(false, SeqCst);
            drop(c);
            shared.unpark_worker(slot);
        }
        Target::New(slot) => {
            shared.workers.ensure(slot);
            shared.workers[slot].lost.store(false, SeqCst);
            shared.workers_hw.fetch_max(slot + 1, SeqCst);
            // A previous carrier of this slot has finished (it released the slot as its last
            // act): join it before starting the next.
            if let Some(at) = c.handles.iter().position(|(s, _)| *s == slot) {
                let (_, old) = c.handles.swap_remove(at);
                let _ = old.join();
            }
            let s = shared.clone();
            match os_thread::spawn(
                std::thread::Builder::new().name(format!("smarm-carrier-{slot}")),
                move || {
                    let _internal = crate::rt::census::Internal::enter();
                    worker::run(s, slot, true)
                },
            ) {
                Ok(h) => {
                    c.handles.push((slot, h));
                    c.live += 1;
                    c.peak = c.peak.max(c.live);
                    drop(c);
                }
                Err(e) => {
                    // No thread to be had: the stuck carrier keeps its worker (it was never told
                    // otherwise), and the count goes back.
                    c.released.push(slot);
                    let report = !std::mem::replace(&mut c.bound_reported, true);
                    drop(c);
                    if shared.idle.remove_worker(true) {
                        shared.notify();
                    }
                    if report {
                        eprintln!(
                            "smarm: could not start a carrier thread ({e}); green threads queued \
                             behind a stuck carrier wait until it returns"
                        );
                    }
                    return false;
                }
            }
        }
    }
    w.stuck_run.store(run, Relaxed);
    w.lost.store(true, SeqCst);
    WorkerShared::bump(&w.handoffs);
    if let Some(t) = w.take_run_next() {
        shared.injector.push(t);
        shared.notify();
    }
    record_culprit(shared, i, in_kernel, age);
    true
}

/// Notes which green thread held stuck carrier `i` (and the system call it sits in) in the
/// hand-off log, and in the trace when one is being written (Issue 18: "blocking culprits").
fn record_culprit(shared: &Shared, i: usize, in_kernel: bool, stuck_for: Duration) {
    let w = &shared.workers[i];
    let addr = w.running.load(Relaxed);
    // The task is found by its address among the live ones (never dereferenced from the word: it
    // may have ended). A scan of the Pid table, once per hand-off.
    let mut task = None;
    crate::rt::task::pid::table::for_each_live(|_, t| {
        if task.is_none() && Arc::as_ptr(&t) as usize == addr {
            task = Some(t);
        }
    });
    if let Some(t) = &task
        && crate::rt::trace::enabled()
    {
        crate::rt::trace::handed_off(t);
    }
    let entry = HandOff {
        carrier: i,
        pid: task.as_ref().and_then(|t| t.green.as_ref()).map(|g| g.pid),
        name: task
            .as_ref()
            .and_then(|t| t.name.as_deref())
            .map(String::from),
        in_kernel,
        syscall: in_kernel.then(|| syscall_of(w)).flatten(),
        stuck_for,
    };
    let mut log = lock(&shared.monitor.handoff_log);
    if log.len() == HANDOFF_LOG {
        log.pop_front();
    }
    log.push_back(entry);
}

/// The system call carrier `w`'s thread sits in, from `/proc/self/task/<tid>/syscall` (its
/// first field is the call's number), named for the calls a blocking std call makes. The numbers
/// are the CPU's own (libc's `SYS_*`). Under qemu's user-mode emulation the kernel reports the
/// host's numbers, so an emulated aarch64 process sees x86-64 numbers named as aarch64 calls.
fn syscall_of(w: &WorkerShared) -> Option<String> {
    let tid = w.tid.load(Relaxed);
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    let nr: libc::c_long = text.split_whitespace().next()?.parse().ok()?;
    Some(syscall_name(nr).map_or_else(|| format!("system call {nr}"), String::from))
}

/// The name of system call `nr` among those a blocking call sits in.
fn syscall_name(nr: libc::c_long) -> Option<&'static str> {
    use libc::*;
    let known: &[(c_long, &str)] = &[
        (SYS_read, "read"),
        (SYS_write, "write"),
        (SYS_pread64, "pread64"),
        (SYS_pwrite64, "pwrite64"),
        (SYS_connect, "connect"),
        (SYS_accept, "accept"),
        (SYS_accept4, "accept4"),
        (SYS_sendto, "sendto"),
        (SYS_recvfrom, "recvfrom"),
        (SYS_sendmsg, "sendmsg"),
        (SYS_recvmsg, "recvmsg"),
        (SYS_wait4, "wait4"),
        (SYS_futex, "futex"),
        (SYS_nanosleep, "nanosleep"),
        (SYS_clock_nanosleep, "clock_nanosleep"),
        (SYS_openat, "openat"),
        (SYS_pselect6, "pselect6"),
        (SYS_ppoll, "ppoll"),
        (SYS_epoll_pwait, "epoll_pwait"),
        #[cfg(target_arch = "x86_64")]
        (SYS_poll, "poll"),
        #[cfg(target_arch = "x86_64")]
        (SYS_select, "select"),
        #[cfg(target_arch = "x86_64")]
        (SYS_epoll_wait, "epoll_wait"),
    ];
    known.iter().find(|k| k.0 == nr).map(|k| k.1)
}

enum Target {
    Spare(usize),
    New(usize),
}

/// The carrier bound is reached: say so once, with the dump, as Go reports hitting its thread
/// limit (Go aborts; smarm keeps going, the stuck work waits). The dump without stacks: the
/// monitor must stay prompt for the hand-offs to come, and symbolising stacks the first time
/// reads the program's debug info (`rt::dump()` or SIGQUIT give them, on the caller's time).
fn report_bound(shared: &Shared) {
    let live = lock(&shared.monitor.carriers).live;
    let mut dump = crate::rt::dump::dump_states();
    dump.stats = Some(crate::rt::stats::snapshot(shared));
    eprintln!(
        "smarm: a carrier is stuck in a blocking call and no carrier is left to take its worker: \
         all {live} carriers this runtime may have exist (its {} workers' own plus \
         Config::max_extra_workers / SMARM_MAX_EXTRA_WORKERS); green threads queued behind it \
         wait until a stuck one returns\n{dump}",
        shared.base_workers,
    );
}

/// Asks worker `w` to run the entry at the front of its deque when that entry has waited there a
/// whole `threshold` (the owner takes its newest spawn first, so an old entry under a stream of
/// new spawns would otherwise wait for ever; `sched/queue.rs`, "Nothing starves").
fn starved_front(
    w: &WorkerShared,
    seen: &mut (Option<u64>, Instant),
    now: Instant,
    threshold: Duration,
) {
    let front = w.queue.deque_front();
    if front != seen.0 {
        *seen = (front, now);
    } else if front.is_some() && now.duration_since(seen.1) >= threshold {
        w.queue.request_oldest();
        seen.1 = now;
    }
}
