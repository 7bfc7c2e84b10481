//! The call stacks in `rt::dump()`: each parked green thread's frames, unwound from its saved
//! context without resuming it, with function names and file:line, as Go's goroutine dump shows.
//!
//! **Taking a stack** (per parked thread, [`Taker::take`]):
//! 1. hold the thread parked (`park::hold_parked`: a waker meanwhile leaves its token and the
//!    hold's end schedules it; see `rt/park.rs`, "Holding a parked thread"); a thread that is
//!    running or queued is not held and its stack not taken: a queued one may be switched into by
//!    any worker at any moment, and guarding that would cost every switch a check;
//! 2. check that its saved stack pointer lies inside its stack mapping, with room for the frame
//!    `switch` saved there; else take nothing;
//! 3. call the unwinder through `sys::unwind`'s stub, whose CFI makes the parked context its
//!    caller: the walk reads the parked frames (never writes them) and stops at the green thread's
//!    entry trampoline, or at a frame that lies outside the stack; only the return addresses
//!    past the stub are kept, at most [`MAX_FRAMES`];
//! 4. end the hold. The hold lasts one walk: 10,000 threads take 16–29 ms in all here, so about
//!    2 µs each (`tests/dump_stacks.rs` measures that, and what a dump loop costs a ping-pong).
//!
//! **Symbolising** happens after every hold has ended, so it never delays a thread: equal address
//! lists share one [`Stack`] (10,000 threads parked in the same place are one stack), and each
//! distinct address is resolved once per dump, by the `backtrace` crate (gimli's DWARF reader,
//! the code std's own `Backtrace` vendors), which also keeps the parsed debug info between dumps.
//! An address it cannot name (no debug info, stripped binary) is still listed, by address. The
//! runtime's entry frames below the thread's closure are cut ([`ENTRY_FRAME`]).
//!
//! The calling green thread is running while it dumps: its own stack is taken by an ordinary
//! backtrace from inside the dump, as Go's dump shows the goroutine that asked for it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::rt::park;
use crate::rt::sys::unwind;
use crate::rt::task::Task;

/// The most frames taken from one stack, innermost first: Go prints 100; deep recursion in a
/// parked thread is rarely worth more, and the cap bounds a dump's time and memory.
pub(crate) const MAX_FRAMES: usize = 128;

/// The runtime's frame that calls a green thread's closure (`sched::spawn::spawn_placed`'s
/// `run_closure`): the frames outside it are cut from dumped stacks. `tests/dump_stacks.rs`
/// checks that a stack ends there, so a rename or a move is caught.
const ENTRY_FRAME: &str = "smarm::rt::sched::spawn::spawn_placed::run_closure";
/// Where `run_closure` is defined (module path and file, as `ENTRY_FRAME` names it).
const ENTRY_FILE: &str = "src/rt/sched/spawn.rs";

/// Whether `f` is [`ENTRY_FRAME`]: by its path (from the symbol table, or full debug info), or
/// by its bare name and file, which is all `debug = "line-tables-only"` records for a function
/// (`run_closure<my_crate::main::{closure_env#0}, ()>` at `.../src/rt/sched/spawn.rs`).
fn is_entry(f: &Frame) -> bool {
    let Some(name) = f.name.as_deref() else {
        return false;
    };
    name.starts_with(ENTRY_FRAME)
        || (name.starts_with("run_closure")
            && f.file
                .as_deref()
                .is_some_and(|p| std::path::Path::new(p).ends_with(ENTRY_FILE)))
}

/// One frame of a green thread's [`Stack`]: a function, and where in it the thread is.
///
/// A function inlined into its caller is a frame of its own with the caller's `ip`, as in std's
/// backtraces. Any part can be missing: a binary without debug info has names but no lines; a
/// stripped one has neither, and the frame shows its address.
///
/// # Examples
///
/// ```
/// use smarm::rt::{self, ThreadState};
///
/// #[inline(never)]
/// fn waits_here(rx: smarm::sync::mpsc::Receiver<()>) {
///     rx.recv().unwrap();
/// }
///
/// let (tx, rx) = smarm::sync::mpsc::channel::<()>();
/// let (pid, h) = smarm::actor::spawn(move || waits_here(rx));
/// let stack = loop {
///     let dump = rt::dump();
///     let me = dump.threads.iter().find(|t| t.pid == pid).unwrap();
///     match (&me.state, &me.stack) {
///         (ThreadState::Parked(_), Some(stack)) => break stack.clone(),
///         _ => smarm::thread::yield_now(),
///     }
/// };
/// let frame = stack.frames().iter().find(|f| {
///     f.name.as_deref().is_some_and(|n| n.ends_with("waits_here"))
/// });
/// assert!(frame.is_some(), "{stack}");
/// tx.send(()).unwrap();
/// h.join().unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Frame {
    /// The function, demangled without its hash (`my_crate::server::handle`).
    pub name: Option<String>,
    /// Its source file, as the compiler recorded it.
    pub file: Option<String>,
    /// The line in `file`.
    pub line: Option<u32>,
    /// The return address in this frame (the instruction after the call it waits in).
    pub ip: usize,
}

impl fmt::Display for Frame {
    /// `name` then, indented on the next line, `at file:line` (as std prints a backtrace).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => f.write_str(n)?,
            None => write!(f, "{:#x}", self.ip)?,
        }
        if let Some(file) = &self.file {
            write!(f, "\n          at {file}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
        }
        Ok(())
    }
}

/// A parked green thread's call stack in a [`Dump`](crate::rt::Dump), innermost frame first:
/// the runtime's park, then what called it, down to the closure the thread was spawned with and
/// the runtime's call of it (the entry frames below are left out, as Go's dump leaves out
/// `goexit`).
///
/// Cheap to clone: threads parked at the same place share one `Stack`. `Display` prints one
/// frame per line, each followed by its `at file:line`.
///
/// # Examples
///
/// ```
/// let (tx, rx) = smarm::sync::mpsc::channel::<()>();
/// let (pid, h) = smarm::actor::spawn(move || rx.recv().unwrap());
/// let stack = loop {
///     let dump = smarm::rt::dump();
///     match dump.threads.iter().find(|t| t.pid == pid).and_then(|t| t.stack.clone()) {
///         Some(stack) => break stack,
///         None => smarm::thread::yield_now(), // not parked yet
///     }
/// };
/// assert!(!stack.frames().is_empty());
/// println!("{stack}");
/// tx.send(()).unwrap();
/// h.join().unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Stack {
    frames: Arc<[Frame]>,
}

impl Stack {
    /// The frames, innermost first.
    ///
    /// # Examples
    ///
    /// ```
    /// let dump = smarm::rt::dump();
    /// for t in &dump.threads {
    ///     if let Some(stack) = &t.stack {
    ///         let innermost = stack.frames().first().and_then(|f| f.name.as_deref());
    ///         println!("{} is in {innermost:?}", t.pid);
    ///     }
    /// }
    /// ```
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, frame) in self.frames.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{frame}")?;
        }
        Ok(())
    }
}

/// Takes the stacks of one dump: raw addresses first (under each thread's hold), then
/// [`finish`](Taker::finish) symbolises every distinct stack once.
#[derive(Default)]
pub(crate) struct Taker {
    /// Each distinct address list, numbered in order of discovery.
    distinct: HashMap<Box<[usize]>, usize>,
    lists: Vec<Box<[usize]>>,
    /// Reused for every walk.
    buf: Vec<usize>,
}

/// A taken stack, to be turned into a [`Stack`] by [`Taker::finish`].
#[derive(Clone, Copy)]
pub(crate) struct Taken(usize);

impl Taker {
    /// Holds `task` if it is parked and walks its stack (steps 1-4 above); `None` if it is not
    /// parked (running, queued, or held by another dump) or its stack cannot be walked. `f` runs
    /// during the hold, so that what the caller reads there (the wait reason) agrees with it.
    pub(crate) fn take(&mut self, task: &Task, f: impl FnOnce()) -> Option<Taken> {
        // A green dumper is not switched out while it holds a thread (that thread's wake-up
        // would wait for the dumper's next turn).
        let _quiet = crate::NoPreempt::new();
        let held = park::hold_parked(task)?;
        f();
        let walked = walk(held.task(), &mut self.buf);
        drop(held);
        if !walked {
            return None;
        }
        self.intern()
    }

    /// The calling green thread's own stack (it is running: nothing to hold), from the caller of
    /// the dump outwards: `boundaries` are the entry addresses of the dump's functions (`dump`
    /// and the function it calls), whose frames and those inside them are the dump's own. Both
    /// are listed because `dump` may reach the other by a tail call (aarch64 release builds), so
    /// that its own frame is gone; the stack starts after the outermost frame of either.
    pub(crate) fn take_own(&mut self, boundaries: &[usize]) -> Option<Taken> {
        self.buf.clear();
        let _quiet = crate::NoPreempt::new(); // the unwinder's lock is a std Mutex
        let mut all: Vec<(usize, usize)> = Vec::with_capacity(32);
        backtrace::trace(|frame| {
            let ip = frame.ip() as usize;
            if ip == 0 {
                return false;
            }
            all.push((ip, frame.symbol_address() as usize));
            all.len() < MAX_FRAMES + 16
        });
        let at = all.iter().rposition(|(_, sym)| boundaries.contains(sym))?;
        self.buf
            .extend(all[at + 1..].iter().map(|&(ip, _)| ip).take(MAX_FRAMES));
        self.intern()
    }

    /// The number of the address list in `buf` (a new one if it is the first of its kind).
    fn intern(&mut self) -> Option<Taken> {
        if self.buf.is_empty() {
            return None;
        }
        if let Some(&n) = self.distinct.get(self.buf.as_slice()) {
            return Some(Taken(n)); // the common case: no allocation
        }
        let n = self.lists.len();
        let list: Box<[usize]> = self.buf.as_slice().into();
        self.lists.push(list.clone());
        self.distinct.insert(list, n);
        Some(Taken(n))
    }

    /// Symbolises each distinct stack (each distinct address once) and returns them, to be
    /// indexed by the [`Taken`]s handed out.
    pub(crate) fn finish(self) -> Stacks {
        let _quiet = crate::NoPreempt::new(); // the symboliser's lock is a std Mutex
        let mut names: HashMap<usize, Vec<Frame>> = HashMap::new();
        let stacks = self
            .lists
            .iter()
            .map(|ips| {
                let mut frames = Vec::with_capacity(ips.len());
                for &ip in ips.iter() {
                    frames.extend_from_slice(names.entry(ip).or_insert_with(|| resolve(ip)));
                }
                // Below the runtime's call of the thread's closure lie only its entry frames
                // (`catch_unwind`, the trampoline): cut them, as Go's dump ends at the goroutine's
                // function. The call itself stays: without debug info the closure is inlined
                // there and has no frame of its own.
                let entry = frames.iter().position(is_entry);
                if let Some(i) = entry {
                    frames.truncate(i + 1);
                }
                Stack {
                    frames: frames.into(),
                }
            })
            .collect();
        Stacks(stacks)
    }
}

/// The symbolised stacks of one dump.
pub(crate) struct Stacks(Vec<Stack>);

impl Stacks {
    pub(crate) fn get(&self, t: Taken) -> Stack {
        self.0[t.0].clone()
    }
}

/// Step 2 and 3: the return addresses of the held thread's frames into `buf`; `false` if its
/// saved stack pointer is not inside its stack or the walk did not reach it.
fn walk(task: &Task, buf: &mut Vec<usize>) -> bool {
    buf.clear();
    let Some(g) = task.green.as_ref() else {
        return false;
    };
    // SAFETY: the task is held parked (`park::hold_parked` succeeded, and the hold outlives this
    // call), so nobody runs or finalises it: `ctx` and `stack` are not written meanwhile, and the
    // hold's acquire saw the worker's writes of them (made before it completed the park).
    let (sp, bounds) = unsafe {
        let stack = (*g.stack.get()).as_ref();
        (
            *g.ctx.get(),
            stack.map(|s| (s.limit() as usize, s.top() as usize)),
        )
    };
    let Some((low, top)) = bounds else {
        return false;
    };
    if unwind::SAVED_FRAME == 0
        || sp % 16 != 0
        || sp < low
        || sp
            .checked_add(unwind::SAVED_FRAME)
            .is_none_or(|end| end > top)
    {
        return false;
    }
    let stub = unwind::stub_address();
    let mut past_stub = false;
    // SAFETY: `sp` was written by `switch` for a context that stays suspended, with its stack
    // mapped, until the hold ends after this returns; it lies inside that stack with the saved
    // frame above it (checked just above).
    let reached = unsafe {
        unwind::with_suspended_caller(sp, || {
            backtrace::trace(|frame| {
                let ip = frame.ip() as usize;
                if past_stub {
                    // Past the entry trampoline (`.cfi_undefined rip`) libgcc reports one last
                    // frame with a null return address: the end.
                    if ip == 0 {
                        return false;
                    }
                    // Every frame of the parked thread lies between its saved sp and its top;
                    // a frame outside (bad unwind info, code that switched stacks) ends the walk
                    // before the unwinder reads on from there.
                    let cfa = frame.sp() as usize;
                    if cfa < sp || cfa > top {
                        return false;
                    }
                    buf.push(ip);
                    return buf.len() < MAX_FRAMES;
                }
                // The walker's own frames, up to and including the stub's (the cheap range test
                // first; the enclosing function's lookup confirms it).
                if ip.wrapping_sub(stub) < 64 && frame.symbol_address() as usize == stub {
                    past_stub = true;
                }
                true
            });
            past_stub
        })
    };
    reached == Some(true)
}

/// The frames (one per inlined function, innermost first) at return address `ip`.
fn resolve(ip: usize) -> Vec<Frame> {
    let mut frames = Vec::new();
    backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
        frames.push(Frame {
            name: sym.name().map(|n| format!("{n:#}")),
            file: sym.filename().map(|p| p.display().to_string()),
            line: sym.lineno(),
            ip,
        });
    });
    if frames.is_empty() {
        frames.push(Frame {
            name: None,
            file: None,
            line: None,
            ip,
        });
    }
    frames
}
