//! The green-thread dump: `smarm::rt::dump()`, and opt-in printing on SIGQUIT as Go does.
//!
//! The dump walks the Pid table (every live green thread of every runtime in the process has a
//! slot there) and reads, for each thread, its park word and its `wait` byte: a thread whose park
//! mode is set is *parked*, on what its last park recorded (`WaitReason`); otherwise it is
//! *running* if a worker marked it so when it switched in, else *runnable* (queued). The reads are
//! not one atomic snapshot — a thread may change state while the dump walks — but each line is a
//! state the thread really was in, which is what a dump is for.
//!
//! **Stacks.** [`dump`] also takes each parked thread's call stack (`rt/stacks.rs`): it holds the
//! thread parked for the length of one stack walk, reading its reason and its frames in that one
//! state, and symbolises afterwards, each distinct stack once. Running and runnable threads have
//! no stack in the dump: a runnable one may be switched into at any moment, and stopping that
//! would cost every switch a check. [`dump_states`] is the dump without stacks, for polling.
//!
//! **SIGQUIT.** [`install_dump_on_sigquit`] starts one helper OS thread blocked on a pipe and
//! installs a handler that only writes a byte to that pipe (`write` is async-signal-safe;
//! formatting and locking are not). The helper wakes, builds the dump and prints it on stderr.
//! Unlike Go the process keeps running: this is a diagnostic, not an exit.

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering::Relaxed;

use crate::rt::park::word::{MODE_MASK, WAIT_RUNNING, WaitReason};
use crate::rt::stacks::{Stack, Taken, Taker};
use crate::rt::task::pid;
use crate::rt::task::pid::Pid;
use crate::rt::task::{Task, ThreadId};

/// What a green thread was doing when the dump saw it.
///
/// `Display` prints `running`, `runnable` or `parked on <reason>`.
///
/// # Examples
///
/// ```
/// use smarm::rt::{ThreadState, WaitReason};
///
/// assert_eq!(ThreadState::Running.to_string(), "running");
/// assert_eq!(ThreadState::Parked(WaitReason::Sleep).to_string(), "parked on sleep");
///
/// // The main green thread of a runtime is running while it takes the dump.
/// smarm::rt::run(smarm::rt::Config::new(), || {
///     let me = smarm::actor::self_pid().unwrap();
///     let dump = smarm::rt::dump();
///     let info = dump.threads.iter().find(|t| t.pid == me).unwrap();
///     assert_eq!(info.state, ThreadState::Running);
/// });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum ThreadState {
    /// Running on a worker.
    Running,
    /// Ready to run, waiting in a run queue.
    Runnable,
    /// Blocked, waiting on the given thing.
    Parked(WaitReason),
}

impl fmt::Display for ThreadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadState::Running => f.write_str("running"),
            ThreadState::Runnable => f.write_str("runnable"),
            ThreadState::Parked(r) => write!(f, "parked on {r}"),
        }
    }
}

/// One green thread in a [`Dump`].
///
/// # Examples
///
/// ```
/// use smarm::rt::{self, ThreadState, WaitReason};
///
/// let (tx, rx) = smarm::sync::mpsc::channel::<()>();
/// let (pid, h) = smarm::actor::spawn(move || rx.recv().unwrap());
///
/// // Wait until the dump shows the thread parked on its channel.
/// let info = loop {
///     let found = rt::dump().threads.into_iter().find(|t| t.pid == pid);
///     match found {
///         Some(t) if t.state == ThreadState::Parked(WaitReason::Channel) => break t,
///         _ => smarm::thread::yield_now(),
///     }
/// };
/// assert_eq!(info.id, h.thread().id());
/// assert_eq!(info.name, None);
///
/// tx.send(()).unwrap();
/// h.join().unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThreadInfo {
    /// Its Pid.
    pub pid: Pid,
    /// Its `ThreadId` (as `thread::current().id()` gives inside it).
    pub id: ThreadId,
    /// Its name, if it was given one.
    pub name: Option<String>,
    /// What it was doing.
    pub state: ThreadState,
    /// Its call stack, innermost frame first, if it was parked (or is the thread that called
    /// [`dump`]) and the dump took stacks ([`dump`] does, [`dump_states`] does not). `None` for
    /// other running threads and for runnable ones, and where a parked stack cannot be walked
    /// (its saved stack pointer is not inside its stack).
    pub stack: Option<Stack>,
}

/// Every live green thread of the process, from [`dump`]. `Display` prints one line per thread.
///
/// # Examples
///
/// ```
/// use smarm::rt;
///
/// let (tx, rx) = smarm::sync::mpsc::channel::<()>();
/// let h = smarm::thread::Builder::new()
///     .name("dumped".into())
///     .spawn(move || rx.recv().unwrap())
///     .unwrap();
///
/// let dump = rt::dump();
/// assert!(dump.threads.iter().any(|t| t.name.as_deref() == Some("dumped")));
/// let text = dump.to_string(); // "smarm: N live green threads", then one line per thread
/// assert!(text.starts_with("smarm: ") && text.contains("'dumped'"));
///
/// tx.send(()).unwrap();
/// h.join().unwrap();
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dump {
    /// The threads, in Pid slot order.
    pub threads: Vec<ThreadInfo>,
    /// The counters of the caller's runtime (a green thread's own, else the global runtime if it
    /// has started): among them workers vs carriers, hand-offs and preemptions. `None` from a
    /// plain OS thread before the global runtime starts (a dump never starts it).
    pub stats: Option<crate::rt::stats::Stats>,
    /// Whether stacks were taken: `Display` then says which threads have none and why.
    stacks: bool,
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "smarm: {} live green threads", self.threads.len())?;
        if let Some(s) = &self.stats {
            writeln!(
                f,
                "  {} workers on {} carriers (peak {}, {} spare); {} hand-offs, {} preemptions",
                s.worker_count,
                s.carriers,
                s.carriers_peak,
                s.carriers_spare,
                s.handoffs,
                s.preemptions
            )?;
            for h in &s.recent_handoffs {
                writeln!(f, "  hand-off: {h}")?;
            }
        }
        for t in &self.threads {
            write!(
                f,
                "  {} #{} '{}': {}",
                t.pid,
                t.id.as_u64(),
                t.name.as_deref().unwrap_or("<unnamed>"),
                t.state
            )?;
            match &t.stack {
                // Go's layout: the thread's line, then its frames, then a blank line.
                Some(stack) => {
                    f.write_str(":\n")?;
                    for frame in stack.frames() {
                        writeln!(f, "      {frame}")?;
                    }
                    f.write_str("\n")?;
                }
                None if self.stacks && t.state != ThreadState::Running => {
                    writeln!(f, " (stack not taken)")?
                }
                None => f.write_str("\n")?,
            }
        }
        Ok(())
    }
}

/// Lists every live green thread of the process with its Pid, id, name, state — for a parked
/// thread, what it waits on — and each parked thread's call stack, Go-style.
///
/// Taking a stack holds its thread parked for one stack walk (a wake-up meanwhile is delayed by
/// that long, never lost), and symbolises afterwards, each distinct stack once: a dump of 10,000
/// parked threads takes about 20 ms here in release (`tests/dump_stacks.rs`, `measure_dump_10k`).
/// [`dump_states`] skips the stacks (0.5 ms for those 10,000), for code that polls. File and line
/// need the program's debug info; without it frames have names only.
///
/// # Examples
///
/// ```
/// use smarm::rt::{self, ThreadState, WaitReason};
/// let (tx, rx) = smarm::sync::mpsc::channel::<()>();
/// let h = smarm::thread::Builder::new()
///     .name("waiter".into())
///     .spawn(move || rx.recv().unwrap())
///     .unwrap();
/// let parked_on_channel = || {
///     rt::dump_states().threads.iter().any(|t| {
///         t.name.as_deref() == Some("waiter")
///             && t.state == ThreadState::Parked(WaitReason::Channel)
///     })
/// };
/// while !parked_on_channel() {
///     smarm::thread::yield_now();
/// }
/// // "smarm: N live green threads", then each thread's line and its frames:
/// //   <0.3.1> #4 'waiter': parked on channel:
/// //       smarm::rt::sched::switch_out
/// //           at src/rt/sched/mod.rs:942
/// //       ...
/// println!("{}", rt::dump());
/// tx.send(()).unwrap();
/// h.join().unwrap();
/// ```
#[inline(never)] // its frame (or `collect`'s) bounds the caller's own stack (`Taker::take_own`)
pub fn dump() -> Dump {
    collect(true)
}

/// [`dump`] without the stacks: every live green thread's Pid, id, name and state, a few
/// relaxed loads per thread. Never holds a thread, so it suits polling loops.
///
/// # Examples
///
/// ```
/// use smarm::rt::{self, ThreadState, WaitReason};
/// let (tx, rx) = smarm::sync::mpsc::channel::<()>();
/// let (pid, h) = smarm::actor::spawn(move || rx.recv().unwrap());
/// // Wait until it is parked on its channel.
/// while !rt::dump_states().threads.iter().any(|t| {
///     t.pid == pid && t.state == ThreadState::Parked(WaitReason::Channel)
/// }) {
///     smarm::thread::yield_now();
/// }
/// assert!(rt::dump_states().threads.iter().all(|t| t.stack.is_none()));
/// tx.send(()).unwrap();
/// h.join().unwrap();
/// ```
pub fn dump_states() -> Dump {
    collect(false)
}

#[inline(never)] // its frame bounds the caller's own stack when `dump` tail-calls it
fn collect(stacks: bool) -> Dump {
    let mut threads = Vec::new();
    let mut taken: Vec<Option<Taken>> = Vec::new();
    let mut taker = Taker::default();
    let me = crate::rt::task::current::current_task();
    pid::table::for_each_live(|pid, task| {
        let mut state = None;
        let stack = if !stacks {
            None
        } else if me == Some(Arc::as_ptr(&task)) {
            // The caller: running, with its own stack from where it called `dump`.
            taker.take_own(&[
                dump as fn() -> Dump as usize,
                collect as fn(bool) -> Dump as usize,
            ])
        } else {
            // Held parked: its reason is read in the state the stack is taken in.
            taker.take(&task, || state = Some(parked_state(&task)))
        };
        let state = state.unwrap_or_else(|| state_of(&task));
        threads.push(ThreadInfo {
            pid,
            id: task.id,
            name: task.name.as_deref().map(String::from),
            state,
            stack: None,
        });
        taken.push(stack);
    });
    if stacks {
        let symbols = taker.finish();
        for (t, s) in threads.iter_mut().zip(taken) {
            t.stack = s.map(|s| symbols.get(s));
        }
    }
    Dump {
        threads,
        stats: crate::rt::stats::current_if_started(),
        stacks,
    }
}

fn parked_state(task: &Task) -> ThreadState {
    let wait = task.wait.load(Relaxed);
    ThreadState::Parked(WaitReason::from_u8(wait).unwrap_or(WaitReason::Other))
}

fn state_of(task: &Task) -> ThreadState {
    let state = task.state.load(Relaxed);
    let wait = task.wait.load(Relaxed);
    if state & MODE_MASK != 0 {
        parked_state(task)
    } else if wait == WAIT_RUNNING {
        ThreadState::Running
    } else {
        ThreadState::Runnable
    }
}

/// The pipe's write end for the signal handler; -1 until installed.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigquit(_: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Relaxed);
    if fd < 0 {
        return;
    }
    // SAFETY: `__errno_location` is this thread's errno; `write` is async-signal-safe and only
    // reads the one static byte; errno is restored so the interrupted code never sees ours.
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        libc::write(fd, b"q".as_ptr().cast(), 1);
        *errno = saved;
    }
}

/// Whether the SIGQUIT dumper runs; held while it is being started.
static INSTALLED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);

/// Holds [`INSTALLED`] across a `fork`: it is held across the dumper thread's start, which may
/// wait out a fork (`sys::os_thread`).
pub(crate) fn hold_for_fork() -> Box<dyn std::any::Any> {
    Box::new(INSTALLED.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Opt-in: from now on, SIGQUIT (`kill -QUIT pid`, or Ctrl-\ in a terminal) prints
/// [`dump`] on stderr and the program goes on. Calling it again does nothing.
///
/// The handler only writes a byte to a pipe; a helper OS thread named `smarm-dump` reads it and
/// prints, so nothing unsafe runs in signal context.
///
/// # Examples
///
/// ```
/// smarm::rt::install_dump_on_sigquit().unwrap();
/// // From now on `kill -QUIT <pid>` prints every live green thread and what it waits on.
/// smarm::rt::install_dump_on_sigquit().unwrap(); // a second call does nothing
/// ```
pub fn install_dump_on_sigquit() -> io::Result<()> {
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *installed {
        return Ok(());
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors `pipe2` writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_fd, write_fd] = fds;
    let dumper = std::thread::Builder::new().name("smarm-dump".into());
    crate::rt::sys::os_thread::spawn(dumper, move || {
        let _internal = crate::rt::census::Internal::enter();
        let mut byte = 0u8;
        loop {
            // SAFETY: `read_fd` is the pipe's read end, owned by this thread for the rest of
            // the process; the buffer is one byte we own.
            let n = unsafe { libc::read(read_fd, (&mut byte as *mut u8).cast(), 1) };
            if n == 1 {
                let text = dump().to_string();
                let _ = io::stderr().lock().write_all(text.as_bytes());
            } else if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            } else {
                return;
            }
        }
    })?;
    SIGNAL_PIPE.store(write_fd, Relaxed);
    // SAFETY: a zeroed `sigaction` is a valid empty one; we set a handler that only calls
    // async-signal-safe functions, with an empty mask and SA_RESTART so interrupted calls resume.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigquit as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGQUIT, &sa, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    *installed = true;
    Ok(())
}
