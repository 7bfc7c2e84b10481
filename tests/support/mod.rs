//! Helpers shared by the integration tests that guard against hangs (`mod support;` in each).

// Each test file uses its own subset.
#![allow(dead_code)]

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One test at a time (tests that count threads or need the monitor's attention). A failed test
/// poisons the lock; the next one goes on regardless.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Aborts the process if it is not dropped within its limit (see [`watchdog`]). Dropping it (the
/// test finished, or failed by panicking) disarms it.
pub struct Watchdog(Arc<AtomicBool>);

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// Aborts the process with a message naming `name` and `progress()` unless the returned guard is
/// dropped within `limit`: a hang fails the test binary instead of hanging CI.
pub fn watchdog(
    name: &'static str,
    limit: Duration,
    progress: impl Fn() -> String + Send + 'static,
) -> Watchdog {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(20));
            if d.load(SeqCst) {
                return;
            }
        }
        // Straight to fd 2: `eprintln!` would go to the harness's capture (inherited by this
        // thread) and be lost with the abort.
        let msg = format!(
            "\n`{name}` did not finish within {limit:?} (hung): {}\n",
            progress()
        );
        let _ = std::io::stderr().write_all(msg.as_bytes());
        std::process::abort();
    });
    Watchdog(done)
}
