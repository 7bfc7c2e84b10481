//! Panic reports for green threads, worded as std words them for OS threads:
//!
//! ```text
//! thread 'name' (id) panicked at src/main.rs:4:5:
//! message
//! note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
//! ```
//!
//! std's default hook names the *OS* thread, which for a green thread would be its worker; the
//! runtime's hook (installed once, chaining to whatever hook was there for OS threads) calls this
//! instead when the panicking thread is green.

use std::backtrace::Backtrace;
use std::io::Write;
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, Ordering};

use std::panic;
use std::sync::atomic::Ordering::Relaxed;

use crate::rt::task::Task;
use crate::rt::task::current::current_task;

pub(crate) fn report(task: &Task, info: &PanicHookInfo<'_>) {
    let name = task.name.as_deref().unwrap_or("<unnamed>");
    let payload = info.payload();
    let msg = if let Some(s) = payload.downcast_ref::<&str>() {
        *s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "Box<dyn Any>"
    };
    let location = info.location().map(|l| l.to_string()).unwrap_or_default();
    let backtrace = std::env::var("RUST_BACKTRACE").unwrap_or_default();
    let mut out = String::new();
    out.push_str(&format!(
        "\nthread '{name}' ({}) panicked at {location}:\n{msg}\n",
        task.id.as_u64()
    ));
    match backtrace.as_str() {
        "" | "0" => {
            static FIRST: AtomicBool = AtomicBool::new(true);
            if FIRST.swap(false, Ordering::Relaxed) {
                out.push_str(
                    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
                );
            }
        }
        "full" => out.push_str(&format!(
            "stack backtrace:\n{:#}\n",
            Backtrace::force_capture()
        )),
        _ => out.push_str(&format!(
            "stack backtrace:\n{}\n",
            Backtrace::force_capture()
        )),
    }
    // One write under stderr's lock, so reports from many green threads do not interleave.
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
}

pub(crate) static PANIC_HOOK_INSTALLED: AtomicBool = AtomicBool::new(false);

type PanicHook = Box<dyn Fn(&panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Installs, once, the hook that reports a green thread's panic in std's words with the green
/// thread's name (std's default hook would name the OS thread's std handle, which for a green
/// thread is unnamed). A hook the program set before the runtime started is kept and called for
/// every panic, green or not, as std calls it; a hook set later replaces ours, as with std.
pub(crate) fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // std refuses `take_hook`/`set_hook` on a panicking thread (the first smarm use may be a
    // `Drop` running during unwinding, or a user's panic hook): leave it for a later start.
    if std::thread::panicking() {
        return;
    }
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        // `take_hook` leaves std's default hook installed: taking it again gives the default, and
        // the two are the same hook exactly when no one had set one (wide-pointer equality
        // compares address and vtable; the default is a zero-sized fn item, boxed by `take_hook`).
        let default = panic::take_hook();
        let user_hook = !is_same_hook(&previous, &default);
        drop(default);
        PANIC_HOOK_INSTALLED.store(true, Relaxed);
        panic::set_hook(Box::new(move |info| match current_task() {
            // SAFETY: the running task is alive while it runs; the hook does not switch.
            Some(t) if !user_hook => crate::rt::task::panic::report(unsafe { &*t }, info),
            _ => previous(info),
        }));
    });
}

#[allow(ambiguous_wide_pointer_comparisons)]
fn is_same_hook(a: &PanicHook, b: &PanicHook) -> bool {
    // Both boxes come from `take_hook` in one std codegen unit, so one hook type has one vtable
    // there; a mismatch could only make us call std's default hook for green threads (naming
    // them "<unnamed>"), never skip a user's hook.
    std::ptr::eq(&**a, &**b)
}
