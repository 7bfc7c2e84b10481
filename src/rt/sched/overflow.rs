//! Stack-overflow reports for green threads (DESIGN.md rule 5).
//!
//! A green thread that runs off the bottom of its stack touches the `PROT_NONE` guard page and
//! the kernel raises `SIGSEGV` (or `SIGBUS`). Without help that is a bare crash. std reports an
//! overflowing *OS* thread as
//!
//! ```text
//! thread 'name' (tid) has overflowed its stack
//! fatal runtime error: stack overflow, aborting
//! ```
//!
//! and aborts; this module does the same for green threads:
//!
//! - [`install`] (once per process, when a runtime starts) puts a `SA_SIGINFO | SA_ONSTACK`
//!   handler on `SIGSEGV` and `SIGBUS`, first saving whatever handler was there (std's own
//!   overflow handler, or a user's).
//! - The handler must run on an alternate signal stack: the faulting stack has no room left.
//!   std gives the threads it spawns one when its own handler is installed; [`AltStack::ensure`],
//!   called by each worker as it starts, maps one where there is none.
//! - In the handler: if the faulting address lies in the guard page of the green thread running
//!   on this worker, write the message with `write(2)` (no allocation, no locks: async-signal-safe)
//!   and `abort()`. Any other fault goes to the previous handler — called directly if it was a
//!   function, or, if it was `SIG_DFL`/`SIG_IGN`, by restoring `SIG_DFL` and returning so the
//!   faulting instruction runs again and the default action (a core dump) happens, exactly as std's
//!   handler does for faults that are not its own.

use std::cell::UnsafeCell;
use std::mem;
use std::ptr;
use std::sync::Once;

use crate::rt::sys::stack::page_size;

/// The handlers found before ours, saved before ours is installed (so the handler only reads
/// them after they are written) and never written again.
struct Previous(UnsafeCell<[libc::sigaction; 2]>);

// SAFETY: written once inside `INSTALL.call_once`, before the handler that reads it exists.
unsafe impl Sync for Previous {}

static PREVIOUS: Previous = Previous(UnsafeCell::new(
    // SAFETY: `sigaction` is a plain C struct for which all-zero is a valid (SIG_DFL) value.
    unsafe { mem::zeroed() },
));
static INSTALL: Once = Once::new();
const SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

/// Installs the overflow handler on `SIGSEGV` and `SIGBUS` (once per process), chaining to the
/// handlers that were there.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        for (i, &sig) in SIGNALS.iter().enumerate() {
            // SAFETY: reading the current action into our static; no handler of ours reads it yet.
            unsafe {
                let prev = &mut (*PREVIOUS.0.get())[i];
                libc::sigaction(sig, ptr::null(), prev);
            }
            // SAFETY: a zeroed sigaction is valid; we fill the handler, flags and an empty mask.
            let mut action: libc::sigaction = unsafe { mem::zeroed() };
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: `sa_mask` is ours to initialise; `sigaction` only reads `action`.
            unsafe {
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, ptr::null_mut());
            }
        }
    });
}

/// Whether `addr` is in the guard page of the green thread running on this OS thread.
fn in_current_guard(addr: usize) -> Option<*const crate::rt::task::Task> {
    let task = crate::rt::task::current::current_task()?;
    // SAFETY: the task running on this worker is alive, and only this OS thread touches its
    // `stack` while it runs (the fault interrupted it, so nothing else is using the field now).
    let stack = unsafe { (*(*task).green.as_ref()?.stack.get()).as_ref()? };
    let (lo, hi) = stack.guard();
    (lo <= addr && addr < hi).then_some(task)
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for a SA_SIGINFO handler; `si_addr` is the
    // faulting address for SIGSEGV/SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(task) = in_current_guard(addr) {
        // SAFETY: the task is alive (see `in_current_guard`); name and id are immutable.
        let (name, id) = unsafe { ((*task).name.as_deref(), (*task).id.as_u64().get()) };
        report(name.unwrap_or("<unknown>"), id);
        // SAFETY: abort is async-signal-safe and does not return.
        unsafe { libc::abort() };
    }
    chain(sig, info, ctx);
}

/// Hands a fault that is not ours to the handler that was installed before.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let i = SIGNALS.iter().position(|&s| s == sig).unwrap_or(0);
    // SAFETY: written before our handler was installed, never written after.
    let prev = unsafe { &(*PREVIOUS.0.get())[i] };
    let h = prev.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // Let the fault happen again with the default action, as std's handler does.
        // SAFETY: a zeroed sigaction is SIG_DFL with an empty mask.
        let mut dfl: libc::sigaction = unsafe { mem::zeroed() };
        dfl.sa_sigaction = libc::SIG_DFL;
        // SAFETY: sigaction is async-signal-safe.
        unsafe { libc::sigaction(sig, &dfl, ptr::null_mut()) };
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so this is its signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { mem::transmute(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO the handler takes the signal number only.
        let f: extern "C" fn(libc::c_int) = unsafe { mem::transmute(h) };
        f(sig);
    }
}

/// Writes std's overflow message to stderr without allocating.
fn report(name: &str, id: u64) {
    let mut buf = [0u8; 512];
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        let k = bytes.len().min(buf.len() - n);
        buf[n..n + k].copy_from_slice(&bytes[..k]);
        n += k;
    };
    put(b"\nthread '");
    put(name.as_bytes());
    put(b"' (");
    let mut digits = [0u8; 20];
    let mut d = digits.len();
    let mut v = id;
    loop {
        d -= 1;
        digits[d] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    put(&digits[d..]);
    put(b") has overflowed its stack\nfatal runtime error: stack overflow, aborting\n");
    // SAFETY: writing our own buffer to fd 2; write is async-signal-safe.
    unsafe { libc::write(2, buf.as_ptr().cast(), n) };
}

/// An alternate signal stack this module mapped for a worker thread, unmapped when it ends.
pub(crate) struct AltStack(Option<(*mut libc::c_void, usize)>);

/// The alternate signal stack for the overflow handler, where one is missing: 64 KiB, eight times
/// glibc's `SIGSTKSZ` (8 KiB) that std sizes its own with (`max(SIGSTKSZ, AT_MINSIGSTKSZ)`). Our
/// handler needs little (it writes its report with `write(2)`), but a fault that is not an
/// overflow of ours is passed to the previous handler on this same stack (`chain`), whose needs
/// we do not know; AVX-512 signal frames alone take about 3.5 KiB of it.
const ALT_SIZE: usize = 64 * 1024;

impl AltStack {
    /// Makes sure the calling thread has an alternate signal stack (std's threads usually do),
    /// mapping one with a guard page below it if not.
    pub(crate) fn ensure() -> AltStack {
        // SAFETY: a zeroed stack_t is valid to pass for the kernel to fill.
        let mut cur: libc::stack_t = unsafe { mem::zeroed() };
        // SAFETY: querying only.
        unsafe { libc::sigaltstack(ptr::null(), &mut cur) };
        if cur.ss_flags & libc::SS_DISABLE == 0 {
            return AltStack(None);
        }
        let page = page_size();
        let len = ALT_SIZE + page;
        // SAFETY: a fresh anonymous mapping aliases nothing; checked before use.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return AltStack(None);
        }
        // SAFETY: the lowest page of our own mapping becomes its guard; then the rest becomes the
        // signal stack of this thread, which `drop` disables before unmapping it.
        unsafe {
            libc::mprotect(base, page, libc::PROT_NONE);
            let st = libc::stack_t {
                ss_sp: base.cast::<u8>().add(page).cast(),
                ss_flags: 0,
                ss_size: ALT_SIZE,
            };
            libc::sigaltstack(&st, ptr::null_mut());
        }
        AltStack(Some((base, len)))
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if let Some((base, len)) = self.0 {
            // SAFETY: we are on the thread whose signal stack this is, not in a handler; disable
            // it first so the kernel never delivers onto unmapped memory.
            unsafe {
                let st = libc::stack_t {
                    ss_sp: ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&st, ptr::null_mut());
                libc::munmap(base, len);
            }
        }
    }
}
