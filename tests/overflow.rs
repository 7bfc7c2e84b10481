//! Stack overflow in a green thread is reported as std reports it for an OS thread, then the
//! process aborts; other faults keep their default behaviour. Each case runs in a child process
//! (this test binary, re-run with an environment variable naming the case).

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

const CHILD: &str = "SMARM_OVERFLOW_CHILD";

/// Recurses with a frame the optimiser cannot remove, until the stack runs out.
#[inline(never)]
fn dive(depth: u64) -> u64 {
    let pad = std::hint::black_box([depth; 64]);
    if depth == u64::MAX {
        return pad[0];
    }
    dive(depth + 1).wrapping_add(std::hint::black_box(pad[3]))
}

fn run_child(case: &str) -> (Option<i32>, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, case)
        .output()
        .expect("re-running the test binary");
    (
        out.status.signal(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The body the child runs; a no-op in the parent's own test run.
#[test]
fn child() {
    match std::env::var(CHILD).as_deref() {
        Ok("overflow") => {
            let h = smarm::thread::Builder::new()
                .name("deep-diver".into())
                .stack_size(64 * 1024)
                .spawn(|| dive(0))
                .unwrap();
            let _ = h.join();
            unreachable!("the overflow aborts the process");
        }
        Ok("segv") => {
            let h = smarm::thread::spawn(|| {
                // SAFETY: deliberately not: a write to an unmapped address, to fault outside any
                // guard page.
                unsafe { std::ptr::write_volatile(16 as *mut u64, 1) };
            });
            let _ = h.join();
            unreachable!("the fault kills the process");
        }
        _ => {}
    }
}

#[test]
fn overflowing_green_thread_is_reported_like_std_and_aborts() {
    let (signal, stderr) = run_child("overflow");
    assert_eq!(signal, Some(libc::SIGABRT), "stderr: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("has overflowed its stack"))
        .unwrap_or_else(|| panic!("no overflow report in: {stderr}"));
    assert!(
        line.starts_with("thread 'deep-diver' (") && line.ends_with(") has overflowed its stack"),
        "{line}"
    );
    assert!(
        stderr.contains("fatal runtime error: stack overflow, aborting"),
        "{stderr}"
    );
}

#[test]
fn other_faults_in_green_threads_are_not_called_overflows() {
    let (signal, stderr) = run_child("segv");
    assert_eq!(signal, Some(libc::SIGSEGV), "stderr: {stderr}");
    assert!(!stderr.contains("overflowed"), "{stderr}");
}
