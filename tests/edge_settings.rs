//! Issue 15, settings and sizes: bad `SMARM_*` values give one clear warning on stderr and a
//! sane value instead (checked in child processes, since the global runtime reads the
//! environment once); absurd stack sizes are `InvalidInput` errors, never a crash.

use smarm::rt::{self, Config};
use smarm::thread;
use std::io;
use std::process::{Command, Output};

const CHILD: &str = "SMARM_EDGE_SETTINGS_CHILD";

/// Re-runs this test binary for `test` alone, with `env` set (and every variable under test
/// cleared first, so the parent's environment does not leak in).
fn run_child(test: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1");
    for k in [
        "SMARM_WORKERS",
        "SMARM_STACK_SIZE",
        "RUST_MIN_STACK",
        "SMARM_MAX_EXTRA_WORKERS",
        "SMARM_BLOCKING_THRESHOLD_US",
        "SMARM_TIMESLICE_US",
        "SMARM_PREEMPT_INTERVAL",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("failed to re-run the test binary")
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// The lines of the child's stderr that are smarm's warnings.
fn warnings(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("smarm: ignoring"))
        .map(String::from)
        .collect()
}

/// The child's `WORKERS=<n>` line.
fn child_workers(out: &Output) -> usize {
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The harness may print "test name ... " on the same line first.
    let after = stdout
        .split("WORKERS=")
        .nth(1)
        .unwrap_or_else(|| panic!("no WORKERS line: {out:?}"));
    after
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Child: starts the global runtime (twice over: two runtimes read the variables), runs a green
/// thread, and reports the worker count.
#[test]
fn child_reports_workers() {
    if !in_child() {
        return;
    }
    let h = thread::spawn(|| 21 * 2);
    assert_eq!(h.join().unwrap(), 42);
    println!("WORKERS={}", rt::stats().workers.len());
    // A second runtime reads the same variables: the warning is not repeated.
    rt::run(Config::new(), || thread::spawn(|| ()).join().unwrap());
}

#[test]
fn bad_worker_counts_warn_once_and_fall_back() {
    if in_child() {
        return;
    }
    let default = default_workers().min(1024);
    for (value, expect, why) in [
        ("0", default, "below the minimum"),
        ("-1", default, "not a whole number"),
        ("abc", default, "not a whole number"),
        ("1e3", default, "not a whole number"),
        ("100000", 1024, "above the maximum"),
    ] {
        let out = run_child("child_reports_workers", &[("SMARM_WORKERS", value)]);
        assert!(out.status.success(), "{value}: {out:?}");
        assert_eq!(child_workers(&out), expect, "SMARM_WORKERS={value}");
        let w = warnings(&out);
        assert_eq!(w.len(), 1, "SMARM_WORKERS={value}: one warning, got {w:?}");
        assert!(
            w[0].contains(&format!("SMARM_WORKERS=\"{value}\"")) && w[0].contains(why),
            "SMARM_WORKERS={value}: {w:?}"
        );
        assert!(
            w[0].contains(&format!(
                "using {}",
                if expect == 1024 {
                    "1024".to_string()
                } else {
                    format!("the default, {expect}")
                }
            )),
            "{w:?}"
        );
    }
}

#[test]
fn good_and_empty_values_are_silent() {
    if in_child() {
        return;
    }
    for (k, v) in [
        ("SMARM_WORKERS", "3"),
        ("SMARM_WORKERS", " 2 "),
        ("SMARM_WORKERS", ""),
        ("SMARM_STACK_SIZE", "1048576"),
        ("SMARM_MAX_EXTRA_WORKERS", "0"),
        ("SMARM_BLOCKING_THRESHOLD_US", "5000"),
        ("SMARM_TIMESLICE_US", "50"),
        ("SMARM_PREEMPT_INTERVAL", "64"),
        ("RUST_MIN_STACK", "not-a-number"), // std's variable: ignored silently, as std does
    ] {
        let out = run_child("child_reports_workers", &[(k, v)]);
        assert!(out.status.success(), "{k}={v}: {out:?}");
        assert!(warnings(&out).is_empty(), "{k}={v}: {out:?}");
        if k == "SMARM_WORKERS" && !v.is_empty() {
            assert_eq!(child_workers(&out), v.trim().parse::<usize>().unwrap());
        }
    }
}

#[test]
fn bad_values_of_the_other_variables_warn() {
    if in_child() {
        return;
    }
    // (`RUST_MIN_STACK=18446744073709551615` cannot be tried here: std's own test harness then
    // fails to start its test thread, EINVAL, before smarm runs.)
    for (k, v, expect) in [
        (
            "SMARM_STACK_SIZE",
            "18446744073709551615",
            "using the default, 2097152 bytes",
        ),
        (
            "SMARM_STACK_SIZE",
            "2MiB",
            "using the default, 2097152 bytes",
        ),
        ("SMARM_MAX_EXTRA_WORKERS", "100000", "using 60000"),
        (
            "SMARM_MAX_EXTRA_WORKERS",
            "lots",
            "using the default, 10000",
        ),
        ("SMARM_BLOCKING_THRESHOLD_US", "0", "using 100 µs"),
        (
            "SMARM_BLOCKING_THRESHOLD_US",
            "10ms",
            "using the default, 10000 µs",
        ),
        ("SMARM_TIMESLICE_US", "0", "using 1 µs"),
        ("SMARM_TIMESLICE_US", "99999999999", "using 3600000000 µs"),
        ("SMARM_PREEMPT_INTERVAL", "0", "using 1"),
        ("SMARM_PREEMPT_INTERVAL", "99999999999", "using 4294967295"),
    ] {
        let out = run_child("child_reports_workers", &[(k, v)]);
        assert!(out.status.success(), "{k}={v}: {out:?}");
        let w = warnings(&out);
        assert_eq!(w.len(), 1, "{k}={v}: {out:?}");
        assert!(
            w[0].contains(&format!("{k}=\"{v}\"")) && w[0].contains(expect),
            "{k}={v}: {w:?}"
        );
    }
}

/// std: `Builder::stack_size(usize::MAX).spawn` is an `InvalidInput` error (and `spawn` would
/// panic with it); smarm the same, for every size whose page rounding would overflow.
#[test]
fn huge_stack_sizes_are_invalid_input() {
    let e = std::thread::Builder::new()
        .stack_size(usize::MAX)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "std: {e}");
    for size in [
        usize::MAX,
        usize::MAX - 4095,
        usize::MAX - 8192,
        1 << 63,
        1 << 47,
    ] {
        let e = thread::Builder::new()
            .stack_size(size)
            .spawn(|| ())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{size}: {e}");
        assert!(e.to_string().contains("stack size"), "{e}");
    }
    // The runtime is unharmed: a normal spawn still works, from a green thread too.
    let ok = thread::spawn(|| {
        let e = thread::Builder::new()
            .stack_size(usize::MAX)
            .spawn(|| ())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| 7)
            .unwrap()
            .join()
            .unwrap()
    });
    assert_eq!(ok.join().unwrap(), 7);
}

#[test]
fn scoped_builder_checks_sizes_too() {
    thread::scope(|s| {
        let e = thread::Builder::new()
            .stack_size(usize::MAX)
            .spawn_scoped(s, || ())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
#[should_panic(expected = "failed to spawn thread")]
fn spawn_with_huge_size_panics_like_std() {
    // `thread::spawn` has no size; the panic path is Builder's error through `expect`, as std's.
    thread::Builder::new()
        .stack_size(usize::MAX)
        .spawn(|| ())
        .expect("failed to spawn thread");
}

#[test]
#[should_panic(expected = "from 1 to 1024")]
fn config_with_zero_workers_panics() {
    let _ = Config::new().workers(0);
}

#[test]
#[should_panic(expected = "Config::timeslice")]
fn config_with_zero_timeslice_panics() {
    let _ = Config::new().timeslice(std::time::Duration::ZERO);
}
