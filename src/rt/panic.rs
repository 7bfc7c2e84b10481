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

use crate::rt::task::Task;

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
