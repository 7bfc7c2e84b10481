//! std's stdout lock held across blocking calls, differential (std and smarm): 16 threads each
//! hold `stdout().lock()` while they sleep between the lines of a block; no line is lost, cut or
//! interleaved with another thread's block. On smarm the lock's owner is a *green* thread (std's
//! reentrant lock keys on a thread-local, which is per green thread), so a green thread resuming on
//! another worker still owns it, and another green thread on the same worker does not.
//!
//! The output must reach a real file descriptor (the test harness would capture it), so the test
//! runs its workload in a child process of this binary and reads the child's stdout.
//!
//! - `cargo test --test compat_stdout`                       (smarm)
//! - `cargo test --test compat_stdout --features compat-std` (std)

#[cfg(not(feature = "compat-std"))]
use smarm::thread;
#[cfg(feature = "compat-std")]
use std::thread;

use std::io::Write;
use std::time::Duration;

const THREADS: usize = 16;
const BLOCKS: usize = 25;
const LINES: usize = 60;

fn child() {
    let hs: Vec<_> = (0..THREADS)
        .map(|t| {
            thread::spawn(move || {
                for b in 0..BLOCKS {
                    let mut out = std::io::stdout().lock();
                    for l in 0..LINES {
                        writeln!(out, "thread {t} block {b} line {l} {}", "x".repeat(l)).unwrap();
                        if l % 20 == 0 {
                            thread::sleep(Duration::from_micros(200));
                        }
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn stdout_lock_held_across_sleeps_keeps_blocks_whole() {
    if std::env::var_os("COMPAT_STDOUT_CHILD").is_some() {
        child();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stdout_lock_held_across_sleeps_keeps_blocks_whole",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("COMPAT_STDOUT_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("thread ")).collect();
    assert_eq!(lines.len(), THREADS * BLOCKS * LINES, "lines lost");
    // Each block is LINES consecutive lines of one thread, in order.
    for chunk in lines.chunks(LINES) {
        let head: Vec<&str> = chunk[0].split(' ').collect();
        let (t, b) = (head[1], head[3]);
        for (l, line) in chunk.iter().enumerate() {
            let expect = format!("thread {t} block {b} line {l} {}", "x".repeat(l));
            assert_eq!(*line, expect, "a block was interleaved or a line cut");
        }
    }
}
