//! The scheduler trace: Chrome trace-event JSON that Perfetto (ui.perfetto.dev) and
//! `chrome://tracing` open.
//!
//! Turned on by `SMARM_TRACE=path.json` (read when the first runtime starts; the file is
//! completed when the process exits) or by [`Config::trace`](crate::rt::Config::trace) (the file
//! is completed when that `rt::run` returns). What it shows:
//!
//! - one track (`tid`) per OS thread that touched the runtime — every worker, named
//!   `smarm-worker-N`, plus `main` or any other thread that spawned or woke green threads;
//! - a complete-event slice (`"ph":"X"`) per run of a green thread on a worker, named by the green
//!   thread's name (or `green #id`), with its thread id and Pid in `args`;
//! - instant events (`"ph":"i"`) for `spawn`, `park` (with the reason: channel, lock, condvar,
//!   join, sleep, park, io), `wake`, `steal`, and `preempt` (a run switched out at the end of its
//!   timeslice, or whose carrier was found stuck in foreign code and lost its worker to another
//!   carrier; see `rt::sched::preempt` and `rt::sched::monitor`).
//!
//! ## Cost
//! Off: every hook is `if trace::enabled() { .. }` on a relaxed load of one static bool that never
//! changes while a program runs untraced — one predictable branch, its body out of line.
//!
//! On: an event is a fixed 64-byte record with a TSC timestamp, written into the recording OS
//! thread's own ring (single producer, single consumer: a few plain stores, no locked
//! instruction). A writer thread drains every ring each
//! [`DRAIN_INTERVAL`], or sooner when a ring is half full, and does the formatting and file I/O
//! off the scheduler's path. A ring that fills because the writer is behind drops new events and
//! counts them (the count is in the trace's closing metadata): memory stays bounded at
//! [`RING_EVENTS`] events per thread, and a worker never waits for the disk.

//! ## A valid file however the program ends
//! The writer writes `[` first and one event per line, comma-separated. The closing `]` is written
//! by [`stop`]: at the end of an `rt::run` that asked for the trace, or, for `SMARM_TRACE`, from an
//! `atexit` handler, so a program that returns from `main` (where the global runtime is never shut
//! down) or calls `process::exit` still leaves valid JSON. `stop` has the writer drain every
//! thread's ring and finish the file, and waits for that (at most two seconds).
//! A process killed by a signal leaves the events written so far without the `]`, which both
//! viewers accept (the trace-event format allows a missing close). At a process exit, slices of
//! green threads still running (or switching out at that moment) are not recorded: a slice is
//! recorded by its worker when the thread switches out.

use std::cell::{OnceCell, UnsafeCell};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};

use crate::rt::sys::lock::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::rt::park::word::WaitReason;
use crate::rt::task::Task;

/// Bytes of a green thread's name kept per event (longer names are cut at a char boundary).
const NAME_BYTES: usize = 24;

static ON: AtomicBool = AtomicBool::new(false);

/// Whether a trace is being recorded: the one branch every hook pays when tracing is off.
#[inline(always)]
pub(crate) fn enabled() -> bool {
    ON.load(Relaxed)
}

#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    /// A run slice; with a non-zero `reason`, the run ended in a park for that reason.
    Run,
    Spawn,
    Wake,
    Steal,
    /// The run was reported past its timeslice (or found stuck by the monitor) and its worker's
    /// queue handed on; recorded at the end of that run.
    Preempt,
    /// The monitor gave the worker of the carrier running this green thread to another carrier
    /// (recorded on the monitor's thread, when it acts).
    HandOff,
}

/// One recorded event, formatted only by the writer.
#[derive(Clone, Copy)]
struct Event {
    /// TSC ticks (see [`now`]).
    ts: u64,
    /// `Run`: ticks the green thread ran.
    dur: u64,
    /// The green thread's `ThreadId` (`Steal`: the victim worker's index).
    id: u64,
    /// The green thread's Pid as `index << 32 | generation` (`Steal`: 0).
    pid: u64,
    kind: Kind,
    /// `Run`: 0, or the `WaitReason` byte of the park that ended the run.
    reason: u8,
    name_len: u8,
    name: [u8; NAME_BYTES],
}

impl Event {
    fn about(kind: Kind, task: &Task, ts: u64) -> Event {
        let name = task.name.as_deref().unwrap_or("");
        let mut len = name.len().min(NAME_BYTES);
        while !name.is_char_boundary(len) {
            len -= 1;
        }
        let mut buf = [0u8; NAME_BYTES];
        if len > 0 {
            buf[..len].copy_from_slice(&name.as_bytes()[..len]);
        }
        let pid = task.green.as_ref().map_or(0, |g| {
            (u64::from(g.pid.index()) << 32) | u64::from(g.pid.generation())
        });
        Event {
            ts,
            dur: 0,
            id: task.id.as_u64().get(),
            pid,
            kind,
            reason: 0,
            name_len: len as u8,
            name: buf,
        }
    }
}

/// One OS thread's events: a single-producer, single-consumer ring. The thread that owns it
/// writes a slot and publishes it by storing `tail` (a plain store on x86-64: no locked
/// instruction on the recording path); the writer thread reads `head..tail` and gives the slots
/// back by storing `head`. When the ring is full the event is dropped and counted: a stalled
/// writer never stalls a worker, and memory stays bounded.
pub(crate) struct Ring {
    tid: u32,
    thread_name: Arc<str>,
    /// Next slot to read; written only by the consumer (the writer thread, or `start`).
    head: AtomicUsize,
    /// Next slot to write; written only by the owning thread.
    tail: AtomicUsize,
    /// Set when the owning thread has exited: the writer frees the ring once it is drained.
    orphaned: AtomicBool,
    slots: Box<[UnsafeCell<MaybeUninit<Event>>]>,
}

// SAFETY: a slot is written only by the owner while it is outside `head..tail` (free), and read
// only by the consumer while it is inside (published by the owner's Release store of `tail`,
// acquired by the consumer); `head`'s Release store hands it back to the owner.
unsafe impl Sync for Ring {}
// SAFETY: as above; nothing in a Ring is tied to a thread.
unsafe impl Send for Ring {}

/// Slots per thread ring (64 bytes each: 512 KiB, touched only as far as it fills).
pub(crate) const RING_EVENTS: usize = 8192;
/// How often the writer drains the rings when nobody pokes it.
const DRAIN_INTERVAL: Duration = Duration::from_millis(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock()
}

static REGISTRY: Mutex<Vec<Arc<Ring>>> = Mutex::new(Vec::new());
static NEXT_TID: AtomicU32 = AtomicU32::new(1);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Owns the thread's reference to its ring; dropping it (thread exit) marks the ring orphaned.
struct LocalRing(Arc<Ring>);

impl Drop for LocalRing {
    fn drop(&mut self) {
        self.0.orphaned.store(true, Release);
    }
}

thread_local! {
    static LOCAL: OnceCell<LocalRing> = const { OnceCell::new() };
}

/// Where a green thread finds its worker's carrier ring: set by the scheduler when a runtime starts
/// (`crate::rt::runtime::start`), since a green thread reaches its worker only through the scheduler's types,
/// which this module, below the scheduler, does not name.
static GREEN_RING: std::sync::OnceLock<fn() -> *const Ring> = std::sync::OnceLock::new();

/// Installs the scheduler's lookup of a green thread's ring (the same function every time).
pub(crate) fn set_green_ring_source(f: fn() -> *const Ring) {
    let _ = GREEN_RING.set(f);
}

/// Calls `f` with the ring of the OS thread running the caller: a carrier's own (made and
/// registered on first use), or, from a green thread (whose thread-locals are its own), its
/// worker's carrier ring, which the worker registered before switching in. DESIGN.md rule 1: the
/// thread-local is read only here, and `f` never switches. During the thread's teardown, when the
/// thread-local is gone, the event is not recorded.
#[inline(never)]
fn with_local_ring(f: impl FnOnce(&Ring)) {
    if crate::rt::task::current::current_task().is_some() {
        // Not switched out (preempted) while the worker's ring is in use.
        let _section = crate::rt::sys::lock::Section::enter();
        let ring = GREEN_RING.get().map_or(std::ptr::null(), |source| source());
        // SAFETY: from a green thread the source returns null or the ring of the carrier running
        // it, kept alive by the carrier's thread-local `LOCAL` for as long as the worker runs on
        // it; the section keeps this green thread there. Nothing here switches.
        if let Some(r) = unsafe { ring.as_ref() } {
            f(r);
        }
        return;
    }
    let _ = LOCAL.try_with(|c| f(&local_ring(c).0));
}

fn local_ring(c: &OnceCell<LocalRing>) -> &LocalRing {
    c.get_or_init(|| {
        let ring = Arc::new(Ring {
            tid: NEXT_TID.fetch_add(1, Relaxed),
            thread_name: std::thread::current().name().unwrap_or("thread").into(),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            orphaned: AtomicBool::new(false),
            slots: (0..RING_EVENTS)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
        });
        lock(&REGISTRY).push(ring.clone());
        LocalRing(ring)
    })
}

/// This carrier's ring (made on first use), for its worker to lend to the green threads it runs;
/// null during the thread's teardown. Call from scheduler code only.
pub(crate) fn carrier_ring() -> *const Ring {
    LOCAL
        .try_with(|c| Arc::as_ptr(&local_ring(c).0))
        .unwrap_or(std::ptr::null())
}

/// A timestamp: the CPU's time-stamp counter. The clocksource on x86-64 Linux is this same
/// counter, but reading it through `Instant::now` (the vDSO's `clock_gettime`) costs about three
/// times as much, and a traced ping-pong reads the clock four times per round trip. Ticks become
/// nanoseconds in the writer ([`Clock`]).
#[inline]
fn now() -> u64 {
    crate::rt::sys::arch::cycles()
}

/// Converts the session's TSC ticks to nanoseconds since the session started.
struct Clock {
    tsc0: u64,
    t0: Instant,
    ns_per_tick: Option<f64>,
}

/// The shortest interval the tick rate is measured over (the writer waits for it, off the hot
/// path, while the rings buffer). The error is the clock reads' jitter (tens of ns) over this,
/// about 1e-5, and it is one factor for the whole trace: it scales the timeline by that much but
/// never reorders events.
const CALIBRATION: Duration = Duration::from_millis(2);

impl Clock {
    fn new() -> Clock {
        Clock {
            tsc0: now(),
            t0: Instant::now(),
            ns_per_tick: None,
        }
    }

    /// Measures the tick rate once, against `Instant`, over at least [`CALIBRATION`].
    fn rate(&mut self) -> f64 {
        *self.ns_per_tick.get_or_insert_with(|| {
            if let Some(rest) = CALIBRATION.checked_sub(self.t0.elapsed()) {
                std::thread::sleep(rest);
            }
            let (ns, ticks) = (self.t0.elapsed().as_nanos() as f64, now() - self.tsc0);
            if ticks == 0 { 1.0 } else { ns / ticks as f64 }
        })
    }

    fn ns(&self, ticks: u64, rate: f64) -> u64 {
        (ticks.saturating_sub(self.tsc0) as f64 * rate) as u64
    }
}

#[cold]
fn record(ev: Event) {
    if !enabled() {
        return;
    }
    with_local_ring(|r| {
        let t = r.tail.load(Relaxed); // only we write `tail`
        let h = r.head.load(Acquire);
        if t - h >= RING_EVENTS {
            DROPPED.fetch_add(1, Relaxed);
            return;
        }
        // SAFETY: slot `t` is outside `head..tail`, so the consumer does not read it (see `Ring`).
        unsafe { (*r.slots[t % RING_EVENTS].get()).write(ev) };
        r.tail.store(t + 1, Release);
        if t - h == RING_EVENTS / 2 {
            poke_writer();
        }
    });
}

/// Half a ring is waiting: wake the writer early rather than at its next interval.
#[cold]
fn poke_writer() {
    if let Some(tx) = lock(&SESSION).as_ref().map(|s| s.tx.clone()) {
        let _ = tx.try_send(Msg::Drain);
    }
}

// ---- hooks, each called only after `enabled()` was seen true ----

/// The time a green thread is switched in, for [`ran`]; 0 when tracing is off.
#[inline]
pub(crate) fn run_start() -> u64 {
    if enabled() { now().max(1) } else { 0 }
}

/// A green thread ran from `start` (from [`run_start`]) until now; it switched out to park if
/// `parked`, with its recorded wait reason. One record: the writer expands a parked run into the
/// slice and a `park` instant at its end.
#[cold]
pub(crate) fn ran(task: &Task, start: u64, parked: bool) {
    let mut ev = Event::about(Kind::Run, task, start);
    ev.dur = now().saturating_sub(start);
    if parked {
        ev.reason = task.wait.load(Relaxed).max(1);
    }
    record(ev);
}

/// `task` was just spawned.
#[cold]
pub(crate) fn spawned(task: &Task) {
    record(Event::about(Kind::Spawn, task, now()));
}

/// `task` was just made runnable by a wake.
#[cold]
pub(crate) fn woken(task: &Task) {
    record(Event::about(Kind::Wake, task, now()));
}

/// `task`'s run that just ended was preempted (switched out at the end of its timeslice), or its
/// carrier was found stuck and its worker given to another carrier while it ran. Recorded by the
/// carrier after the run, never from inside the allocator.
#[cold]
pub(crate) fn preempted(task: &Task) {
    record(Event::about(Kind::Preempt, task, now()));
}

/// The monitor handed off the worker of the carrier stuck running `task`.
#[cold]
pub(crate) fn handed_off(task: &Task) {
    record(Event::about(Kind::HandOff, task, now()));
}

/// This worker stole from worker `victim`.
#[cold]
pub(crate) fn stole(victim: usize) {
    record(Event {
        ts: now(),
        dur: 0,
        id: victim as u64,
        pid: 0,
        kind: Kind::Steal,
        reason: 0,
        name_len: 0,
        name: [0; NAME_BYTES],
    });
}

// ---- sessions ----

enum Msg {
    /// Drain the rings now (a ring is half full).
    Drain,
    /// Drain, flush the file, and ack.
    Flush(std::sync::mpsc::Sender<()>),
    /// Drain, write the closing `]`, ack, and exit.
    Close(std::sync::mpsc::Sender<()>),
}

struct Session {
    tx: SyncSender<Msg>,
    /// Started by `Config::trace` (closed by that `rt::run`) rather than by `SMARM_TRACE`.
    by_run: bool,
}

static SESSION: Mutex<Option<Session>> = Mutex::new(None);

/// Starts recording into `path` unless a trace is already being recorded. Returns whether this
/// call started it.
fn start(path: &Path, by_run: bool) -> io::Result<bool> {
    let mut session = lock(&SESSION);
    if session.is_some() {
        return Ok(false);
    }
    let mut out = BufWriter::with_capacity(1 << 16, File::create(path)?);
    out.write_all(b"[\n")?;
    // Events left from an earlier session belong to no file. No writer runs now (the last one
    // acked its close, and the new one starts below), so we are the rings' only consumer here.
    for r in lock(&REGISTRY).iter() {
        r.head.store(r.tail.load(Acquire), Release);
    }
    let (tx, rx) = sync_channel(4);
    // The origin is taken here, before recording starts, so no event predates it.
    let clock = Clock::new();
    crate::rt::sys::os_thread::spawn(
        std::thread::Builder::new().name("smarm-trace".into()),
        move || writer(out, rx, clock),
    )?;
    DROPPED.store(0, Relaxed);
    *session = Some(Session { tx, by_run });
    register_atexit();
    ON.store(true, Relaxed);
    Ok(true)
}

/// Asks the writer to drain every ring and flush the file (`close`: and complete it, ending the
/// session), and waits up to two seconds for it to be done.
fn drain_and(close: bool) {
    let tx = {
        let mut session = lock(&SESSION);
        if close {
            ON.store(false, Relaxed);
            match session.take() {
                Some(s) => s.tx,
                None => return,
            }
        } else {
            match session.as_ref() {
                Some(s) => s.tx.clone(),
                None => return,
            }
        }
    };
    let (ack_tx, ack_rx) = std::sync::mpsc::channel();
    let msg = if close {
        Msg::Close(ack_tx)
    } else {
        Msg::Flush(ack_tx)
    };
    if tx.send(msg).is_ok() {
        let _ = ack_rx.recv_timeout(Duration::from_secs(2));
    }
}

/// Completes the trace file: drains every buffer, writes the closing `]`, and stops recording.
/// Does nothing when no trace is being recorded.
pub(crate) fn stop() {
    drain_and(true);
}

/// `rt::run`'s start: begins the `Config::trace` session if asked (returns whether it did), and
/// otherwise `SMARM_TRACE`'s.
pub(crate) fn begin_run(path: Option<&Path>) -> bool {
    match path {
        Some(p) => match start(p, true) {
            Ok(started) => started,
            Err(e) => {
                eprintln!("smarm: cannot write the trace to {}: {e}", p.display());
                false
            }
        },
        None => {
            start_from_env();
            false
        }
    }
}

/// `rt::run`'s end: completes the file if this run started the trace, else flushes what the
/// process-wide trace has so far.
pub(crate) fn end_run(started: bool) {
    let by_run = lock(&SESSION).as_ref().is_some_and(|s| s.by_run);
    if started && by_run {
        stop();
    } else if !by_run {
        drain_and(false);
    }
}

/// Starts the `SMARM_TRACE` session (once per process, at the first runtime start).
///
/// A flag, not a `Once`: the start spawns the writer thread, and a `Once` held across a spawn
/// that waits out a `fork` (`sys::os_thread`) would reach the child mid-initialisation.
pub(crate) fn start_from_env() {
    static TRIED: AtomicBool = AtomicBool::new(false);
    if TRIED.load(Relaxed) || TRIED.swap(true, Relaxed) {
        return;
    }
    let Some(path) = std::env::var_os("SMARM_TRACE").filter(|p| !p.is_empty()) else {
        return;
    };
    let path = PathBuf::from(path);
    if let Err(e) = start(&path, false) {
        eprintln!("smarm: cannot write the trace to {}: {e}", path.display());
    }
}

/// Holds the session (held across the writer thread's start) and the ring registry (taken when
/// a thread records its first event) across a `fork`.
pub(crate) fn hold_for_fork() -> Vec<Box<dyn std::any::Any>> {
    vec![Box::new(lock(&SESSION)), Box::new(lock(&REGISTRY))]
}

fn register_atexit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    extern "C" fn at_exit() {
        // Unwinding out of an `extern "C"` function aborts; a failed trace must not.
        let _ = std::panic::catch_unwind(stop);
    }
    ONCE.call_once(|| {
        // SAFETY: `at_exit` is a plain `extern "C" fn()` that never unwinds; libc runs it once
        // when the process exits normally (return from main, `process::exit`).
        unsafe { libc::atexit(at_exit) };
    });
}

// ---- the writer thread ----

/// A line of JSON being built: bytes, so that no UTF-8 re-check runs per number.
struct Line(Vec<u8>);

impl Line {
    fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }
    fn push(&mut self, b: u8) {
        self.0.push(b);
    }
    fn clear(&mut self) {
        self.0.clear();
    }
}

fn writer(mut out: BufWriter<File>, rx: Receiver<Msg>, mut clock: Clock) {
    let _internal = crate::rt::census::Internal::enter();
    let mut first = true;
    let mut named: HashSet<u32> = HashSet::new();
    let mut line = Line(Vec::with_capacity(512));
    let mut emit = |out: &mut BufWriter<File>, line: &Line| {
        let sep: &[u8] = if first { b"" } else { b",\n" };
        first = false;
        let _ = out.write_all(sep).and_then(|_| out.write_all(&line.0));
    };
    let mut drain = |out: &mut BufWriter<File>, line: &mut Line| {
        let rate = clock.rate();
        let rings: Vec<Arc<Ring>> = lock(&REGISTRY).clone();
        for r in &rings {
            let h = r.head.load(Relaxed); // only we write `head`
            let t = r.tail.load(Acquire);
            if h == t {
                continue;
            }
            if named.insert(r.tid) {
                line.clear();
                line.push_str(r#"{"name":"thread_name","ph":"M","pid":1,"tid":"#);
                push_u64(line, u64::from(r.tid));
                line.push_str(r#","args":{"name":""#);
                push_escaped(line, &r.thread_name);
                line.push_str(r#""}}"#);
                emit(out, line);
            }
            for i in h..t {
                // SAFETY: slots in `head..tail` were published by the owner's Release store of
                // `tail`, which we acquired; the owner does not touch them until we move `head`.
                let ev = unsafe { (*r.slots[i % RING_EVENTS].get()).assume_init_read() };
                line.clear();
                format_event(line, r.tid, &ev, &clock, rate);
                emit(out, line);
            }
            r.head.store(t, Release);
        }
        // Rings of exited threads, drained above (they can get no new events), are freed.
        lock(&REGISTRY).retain(|r| {
            !(r.orphaned.load(Acquire) && r.head.load(Relaxed) == r.tail.load(Acquire))
        });
    };
    loop {
        match rx.recv_timeout(DRAIN_INTERVAL) {
            Ok(Msg::Drain) | Err(RecvTimeoutError::Timeout) => drain(&mut out, &mut line),
            Ok(Msg::Flush(ack)) => {
                drain(&mut out, &mut line);
                let _ = out.flush();
                let _ = ack.send(());
            }
            Ok(Msg::Close(ack)) => {
                drain(&mut out, &mut line);
                line.clear();
                line.push_str(
                    r#"{"name":"smarm_trace","ph":"M","pid":1,"tid":0,"args":{"dropped_events":"#,
                );
                push_u64(&mut line, DROPPED.load(Relaxed));
                line.push_str("}}");
                emit(&mut out, &line);
                let _ = out.write_all(b"\n]\n").and_then(|_| out.flush());
                let _ = ack.send(());
                return;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn format_event(line: &mut Line, tid: u32, ev: &Event, clock: &Clock, rate: f64) {
    let ts = clock.ns(ev.ts, rate);
    let name = std::str::from_utf8(&ev.name[..ev.name_len as usize]).unwrap_or("");
    match ev.kind {
        Kind::Run => {
            line.push_str(r#"{"name":""#);
            if name.is_empty() {
                line.push_str("green #");
                push_u64(line, ev.id);
            } else {
                push_escaped(line, name);
            }
            line.push_str(r#"","ph":"X","ts":"#);
            push_micros(line, ts);
            line.push_str(r#","dur":"#);
            let dur = (ev.dur as f64 * rate) as u64;
            push_micros(line, dur);
            push_tail(line, tid, ev, "", None, true);
            if ev.reason != 0 {
                // The park that ended this run, as an instant at its end.
                line.push_str(",\n");
                let reason = WaitReason::from_u8(ev.reason).map_or("other", |r| r.as_str());
                push_instant(line, "park", ts + dur);
                push_tail(line, tid, ev, name, Some(reason), false);
            }
        }
        Kind::Spawn | Kind::Wake | Kind::Preempt | Kind::HandOff => {
            let what = match ev.kind {
                Kind::Spawn => "spawn",
                Kind::Wake => "wake",
                Kind::HandOff => "handoff",
                _ => "preempt",
            };
            push_instant(line, what, ts);
            push_tail(line, tid, ev, name, None, ev.kind == Kind::Spawn);
        }
        Kind::Steal => {
            push_instant(line, "steal", ts);
            line.push_str(r#","pid":1,"tid":"#);
            push_u64(line, u64::from(tid));
            line.push_str(r#","args":{"victim_worker":"#);
            push_u64(line, ev.id);
            line.push_str("}}");
        }
    }
}

/// `{"name":"<what>","ph":"i","ts":<ts>` (the rest is `push_tail`'s). An instant's scope
/// defaults to its thread's track.
fn push_instant(line: &mut Line, what: &str, ts: u64) {
    line.push_str(r#"{"name":""#);
    line.push_str(what);
    line.push_str(r#"","ph":"i","ts":"#);
    push_micros(line, ts);
}

/// `,"pid":1,"tid":..,"args":{"thread":..[,"pid":"<0.i.g>"][,"name":..][,"reason":..]}}`.
fn push_tail(
    line: &mut Line,
    tid: u32,
    ev: &Event,
    name: &str,
    reason: Option<&str>,
    with_pid: bool,
) {
    line.push_str(r#","pid":1,"tid":"#);
    push_u64(line, u64::from(tid));
    line.push_str(r#","args":{"thread":"#);
    push_u64(line, ev.id);
    if with_pid {
        line.push_str(r#","pid":"<0."#);
        push_u64(line, ev.pid >> 32);
        line.push(b'.');
        push_u64(line, ev.pid & 0xFFFF_FFFF);
        line.push_str(r#">""#);
    }
    if !name.is_empty() {
        line.push_str(r#","name":""#);
        push_escaped(line, name);
        line.push(b'"');
    }
    if let Some(r) = reason {
        line.push_str(r#","reason":""#);
        line.push_str(r);
        line.push(b'"');
    }
    line.push_str("}}");
}

/// Decimal digits without `fmt`, two at a time (the writer formats millions of numbers).
fn push_u64(line: &mut Line, mut v: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    line.0.extend_from_slice(&buf[i..]);
}

/// Nanoseconds as the format's microseconds, with three decimals.
fn push_micros(line: &mut Line, ns: u64) {
    push_u64(line, ns / 1000);
    let frac = ns % 1000;
    let digits = [
        b'.',
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ];
    line.0.extend_from_slice(&digits);
}

/// Appends `s` as the inside of a JSON string.
fn push_escaped(line: &mut Line, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in s.as_bytes() {
        match b {
            b'"' => line.push_str("\\\""),
            b'\\' => line.push_str("\\\\"),
            b if b < 0x20 => {
                line.push_str("\\u00");
                line.push(HEX[usize::from(b >> 4)]);
                line.push(HEX[usize::from(b & 15)]);
            }
            b => line.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_as_decimal() {
        for v in [0, 7, 10, 99, 100, 101, 12345, 999_999, u64::MAX] {
            let mut l = Line(Vec::new());
            push_u64(&mut l, v);
            assert_eq!(String::from_utf8(l.0).unwrap(), v.to_string());
        }
        let mut l = Line(Vec::new());
        push_micros(&mut l, 1_234_005);
        assert_eq!(l.0, b"1234.005");
    }

    #[test]
    fn names_are_escaped_and_cut_at_char_boundaries() {
        let mut s = Line(Vec::new());
        push_escaped(&mut s, "a\"b\\c\nd");
        assert_eq!(s.0, br#"a\"b\\c\u000ad"#);
        let task = Task::new_os(Some("ééééééééééééééééé".into())); // 34 bytes
        let ev = Event::about(Kind::Spawn, &task, 5);
        assert_eq!(ev.name_len, 24);
        assert!(std::str::from_utf8(&ev.name[..24]).is_ok());
        let mut line = Line(Vec::new());
        let clock = Clock {
            tsc0: 0,
            t0: Instant::now(),
            ns_per_tick: Some(1.0),
        };
        format_event(&mut line, 3, &ev, &clock, 1.0);
        let line = String::from_utf8(line.0).unwrap();
        assert!(
            line.contains(r#""ph":"i""#) && line.contains(r#""ts":0.005"#),
            "{line}"
        );
    }
}
