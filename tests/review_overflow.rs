//! Review: the SIGSEGV/SIGBUS handler chains to std's for OS threads, and reports green threads
//! that overflow on an extra worker (started by the monitor). Cases run in a child process.
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

const CHILD: &str = "SMARM_REVIEW_OVERFLOW_CHILD";

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

#[test]
fn child() {
    match std::env::var(CHILD).as_deref() {
        Ok("os-thread") => {
            // Start a runtime (installs smarm's handler), then overflow a plain std thread.
            smarm::thread::spawn(|| 1).join().unwrap();
            let h = std::thread::Builder::new()
                .name("os-diver".into())
                .stack_size(256 * 1024)
                .spawn(|| dive(0))
                .unwrap();
            let _ = h.join();
            unreachable!();
        }
        Ok("extra-worker") => {
            smarm::rt::run(
                smarm::rt::Config::new()
                    .workers(1)
                    .blocking_threshold(Duration::from_millis(1)),
                || {
                    let h = smarm::thread::Builder::new()
                        .name("extra-diver".into())
                        .stack_size(64 * 1024)
                        .spawn(|| dive(0))
                        .unwrap();
                    // Hold the only base worker: the diver runs on an extra worker.
                    std::thread::sleep(Duration::from_millis(500));
                    let _ = h.join();
                },
            );
            unreachable!();
        }
        _ => {}
    }
}

#[test]
fn os_thread_overflow_is_still_reported_by_std() {
    let (sig, stderr) = run_child("os-thread");
    assert_eq!(sig, Some(libc::SIGABRT), "stderr: {stderr}");
    assert!(
        stderr.contains("'os-diver'") && stderr.contains("has overflowed its stack"),
        "{stderr}"
    );
}

#[test]
fn green_overflow_on_an_extra_worker_is_reported() {
    let (sig, stderr) = run_child("extra-worker");
    assert_eq!(sig, Some(libc::SIGABRT), "stderr: {stderr}");
    assert!(
        stderr.contains("'extra-diver'") && stderr.contains("has overflowed its stack"),
        "{stderr}"
    );
}
