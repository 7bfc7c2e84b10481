//! Runtime-core scenarios and stress: spawning, yielding, parking, timers, panics, `rt::run`.
//! Tests call smarm both from the test harness's OS threads and from inside green threads.

use smarm::rt::{self, Config};
use smarm::thread;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Re-runs this test binary for one test with `SMARM_CHILD=<scenario>` set and returns its output.
fn run_child(test: &str, scenario: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SMARM_CHILD", scenario);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("failed to re-run the test binary")
}

fn child_scenario() -> Option<String> {
    std::env::var("SMARM_CHILD").ok()
}

#[test]
fn spawn_join_100k_in_batches_from_test_thread() {
    let mut total = 0u64;
    for batch in 0..100u64 {
        let hs: Vec<_> = (0..1000u64)
            .map(|i| thread::spawn(move || batch * 1000 + i))
            .collect();
        total += hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>();
    }
    let n = 100_000u64;
    assert_eq!(total, n * (n - 1) / 2);
}

#[test]
fn spawn_join_100k_in_batches_from_green_thread() {
    let total = rt::run(Config::new().workers(2), || {
        let mut total = 0u64;
        for batch in 0..100u64 {
            let hs: Vec<_> = (0..1000u64)
                .map(|i| thread::spawn(move || batch * 1000 + i))
                .collect();
            total += hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>();
        }
        total
    });
    let n = 100_000u64;
    assert_eq!(total, n * (n - 1) / 2);
}

#[test]
fn nested_spawns_join_from_green_threads() {
    let h = thread::spawn(|| {
        let inner: Vec<_> = (0..50u32)
            .map(|i| {
                thread::spawn(move || {
                    let hs: Vec<_> = (0..i).map(|j| thread::spawn(move || j)).collect();
                    hs.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
                })
            })
            .collect();
        inner.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
    });
    assert_eq!(
        h.join().unwrap(),
        (0..50u32).map(|i| i * i.saturating_sub(1) / 2).sum::<u32>()
    );
}

#[test]
fn million_yields_across_two_workers() {
    let yields = Arc::new(AtomicU64::new(0));
    let y = yields.clone();
    rt::run(Config::new().workers(2), move || {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let y = y.clone();
                thread::spawn(move || {
                    for _ in 0..125_000 {
                        thread::yield_now();
                        y.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    assert_eq!(yields.load(Ordering::Relaxed), 1_000_000);
}

#[test]
fn unpark_before_park_returns_at_once() {
    // OS thread.
    thread::current().unpark();
    let t = Instant::now();
    thread::park();
    assert!(t.elapsed() < Duration::from_secs(5));
    // Green thread.
    thread::spawn(|| {
        thread::current().unpark();
        thread::park();
    })
    .join()
    .unwrap();
}

#[test]
fn tokens_do_not_accumulate() {
    let check = || {
        let me = thread::current();
        me.unpark();
        me.unpark();
        thread::park(); // consumes the one token
        let t = Instant::now();
        thread::park_timeout(Duration::from_millis(30)); // no token left: times out
        assert!(t.elapsed() >= Duration::from_millis(30));
    };
    check();
    thread::spawn(check).join().unwrap();
}

/// Two threads hand a turn back and forth `rounds` times with park/unpark. `a_green`/`b_green`
/// choose whether each side is a green thread or a plain OS thread.
fn ping_pong(rounds: u64, a_green: bool, b_green: bool) {
    let turn = Arc::new(AtomicU64::new(0));
    let (tx, rx) = std::sync::mpsc::channel::<thread::Thread>();
    let (tx2, rx2) = std::sync::mpsc::channel::<thread::Thread>();
    let side = move |me: u64,
                     peer_rx: std::sync::mpsc::Receiver<thread::Thread>,
                     my_tx: std::sync::mpsc::Sender<thread::Thread>,
                     turn: Arc<AtomicU64>| {
        my_tx.send(thread::current()).unwrap();
        let peer = peer_rx.recv().unwrap();
        for i in 0..rounds {
            while turn.load(Ordering::Acquire) != 2 * i + me {
                thread::park();
            }
            turn.store(2 * i + me + 1, Ordering::Release);
            peer.unpark();
        }
    };
    let run_side = |green: bool, f: Box<dyn FnOnce() + Send>| -> Box<dyn FnOnce()> {
        if green {
            let h = thread::spawn(f);
            Box::new(move || h.join().unwrap())
        } else {
            let h = std::thread::spawn(f);
            Box::new(move || h.join().unwrap())
        }
    };
    let t1 = turn.clone();
    let a = run_side(a_green, Box::new(move || side(0, rx2, tx, t1)));
    let b = run_side(b_green, Box::new(move || side(1, rx, tx2, turn)));
    a();
    b();
}

#[test]
fn park_unpark_race_green_green_10k() {
    ping_pong(10_000, true, true);
}

#[test]
fn park_unpark_race_os_green_10k() {
    ping_pong(10_000, false, true);
}

#[test]
fn park_unpark_race_green_os_10k() {
    ping_pong(10_000, true, false);
}

#[test]
fn park_unpark_race_on_explicit_two_worker_runtime() {
    rt::run(Config::new().workers(2), || {
        for _ in 0..4 {
            ping_pong(2_500, true, true);
        }
    });
}

/// Many waiters, racing unparks from many threads: every parked thread must be woken.
#[test]
fn unpark_storm_loses_no_wakeup() {
    for round in 0..20 {
        let go = Arc::new(AtomicBool::new(false));
        let waiters: Vec<_> = (0..200)
            .map(|_| {
                let go = go.clone();
                thread::spawn(move || {
                    while !go.load(Ordering::Acquire) {
                        thread::park();
                    }
                })
            })
            .collect();
        let threads: Arc<Vec<thread::Thread>> =
            Arc::new(waiters.iter().map(|h| h.thread().clone()).collect());
        go.store(true, Ordering::Release);
        // Half the wakers are green, half are OS threads; each unparks everyone.
        let mut wakers = Vec::new();
        for k in 0..4 {
            let ts = threads.clone();
            let f = move || {
                for t in ts.iter() {
                    t.unpark();
                }
            };
            if (k + round) % 2 == 0 {
                let h = thread::spawn(f);
                wakers.push(Box::new(move || h.join().unwrap()) as Box<dyn FnOnce()>);
            } else {
                let h = std::thread::spawn(f);
                wakers.push(Box::new(move || h.join().unwrap()));
            }
        }
        for w in wakers {
            w();
        }
        for h in waiters {
            h.join().unwrap();
        }
    }
}

#[test]
fn sleep_lower_bound_green_and_os() {
    for d in [1u64, 5, 20] {
        let d = Duration::from_millis(d);
        let t = Instant::now();
        thread::sleep(d);
        assert!(t.elapsed() >= d, "OS sleep {:?} < {:?}", t.elapsed(), d);
        let e = thread::spawn(move || {
            let t = Instant::now();
            thread::sleep(d);
            t.elapsed()
        })
        .join()
        .unwrap();
        assert!(e >= d, "green sleep {e:?} < {d:?}");
    }
}

#[test]
fn many_concurrent_sleepers_all_wake_after_their_deadline() {
    let hs: Vec<_> = (0..2000u64)
        .map(|i| {
            thread::spawn(move || {
                let d = Duration::from_millis(i % 25);
                let t = Instant::now();
                thread::sleep(d);
                t.elapsed() >= d
            })
        })
        .collect();
    assert!(hs.into_iter().all(|h| h.join().unwrap()));
}

#[test]
fn park_timeout_lower_bound_and_early_wake() {
    let d = Duration::from_millis(20);
    let t = Instant::now();
    thread::park_timeout(d);
    assert!(t.elapsed() >= d);
    let e = thread::spawn(move || {
        let t = Instant::now();
        thread::park_timeout(d);
        t.elapsed()
    })
    .join()
    .unwrap();
    assert!(e >= d);

    // An unpark ends a long park_timeout early (green and OS waiters).
    let long = Duration::from_secs(30);
    let g = thread::spawn(move || {
        let t = Instant::now();
        thread::park_timeout(long);
        t.elapsed()
    });
    while !g.is_finished() {
        g.thread().unpark();
        thread::sleep(Duration::from_millis(1));
    }
    assert!(g.join().unwrap() < long);
}

#[test]
fn sleeping_green_threads_do_not_block_others() {
    // One worker: a green thread sleeping must not stop another from running.
    rt::run(Config::new().workers(1), || {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let sleeper = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            f.load(Ordering::SeqCst)
        });
        let runner = thread::spawn(move || flag.store(true, Ordering::SeqCst));
        runner.join().unwrap();
        assert!(sleeper.join().unwrap());
    });
}

#[test]
fn join_returns_panic_payload() {
    let h = thread::Builder::new()
        .name("payload".into())
        .spawn(|| -> u32 { std::panic::panic_any(7u32) })
        .unwrap();
    let err = h.join().unwrap_err();
    assert_eq!(err.downcast_ref::<u32>(), Some(&7));
    let five = std::hint::black_box(5);
    let h = thread::spawn(move || panic!("formatted {}", five));
    let err = h.join().unwrap_err();
    assert_eq!(
        err.downcast_ref::<String>().map(String::as_str),
        Some("formatted 5")
    );
}

#[test]
fn panic_reports_name_like_std() {
    if child_scenario().as_deref() == Some("panic") {
        let h = thread::Builder::new()
            .name("boom-7".into())
            .spawn(|| panic!("kaboom"))
            .unwrap();
        assert!(h.join().is_err());
        let h = thread::spawn(|| panic!("anonymous"));
        assert!(h.join().is_err());
        return;
    }
    let out = run_child(
        "panic_reports_name_like_std",
        "panic",
        &[("RUST_BACKTRACE", "0")],
    );
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let named = err
        .lines()
        .position(|l| l.starts_with("thread 'boom-7' ("))
        .expect(&err);
    assert!(
        err.lines()
            .nth(named)
            .unwrap()
            .contains(") panicked at tests/runtime.rs:"),
        "{err}"
    );
    assert_eq!(err.lines().nth(named + 1), Some("kaboom"));
    assert!(err.contains("thread '<unnamed>' ("), "{err}");
    assert!(err.contains("note: run with `RUST_BACKTRACE=1`"), "{err}");
    assert!(
        !err.contains("smarm-worker"),
        "reported the worker's name: {err}"
    );
}

#[test]
fn panic_backtrace_honours_rust_backtrace() {
    if child_scenario().as_deref() == Some("bt") {
        let h = thread::Builder::new()
            .name("bt".into())
            .spawn(|| panic!("with trace"))
            .unwrap();
        assert!(h.join().is_err());
        return;
    }
    let out = run_child(
        "panic_backtrace_honours_rust_backtrace",
        "bt",
        &[("RUST_BACKTRACE", "1")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("thread 'bt' ("), "{err}");
    assert!(err.contains("stack backtrace:"), "{err}");
}

#[test]
fn hundreds_of_simultaneous_panics_are_all_reported_without_deadlock() {
    if child_scenario().as_deref() == Some("many") {
        let go = Arc::new(AtomicBool::new(false));
        let hs: Vec<_> = (0..400)
            .map(|i| {
                let go = go.clone();
                thread::Builder::new()
                    .name(format!("p{i}"))
                    .spawn(move || {
                        while !go.load(Ordering::Acquire) {
                            thread::yield_now();
                        }
                        panic!("many {i}");
                    })
                    .unwrap()
            })
            .collect();
        go.store(true, Ordering::Release);
        let errs = hs
            .into_iter()
            .filter(|_| true)
            .map(|h| h.join().is_err())
            .filter(|e| *e);
        assert_eq!(errs.count(), 400);
        return;
    }
    let out = run_child(
        "hundreds_of_simultaneous_panics_are_all_reported_without_deadlock",
        "many",
        &[("RUST_BACKTRACE", "0")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let reports = err.lines().filter(|l| l.starts_with("thread 'p")).count();
    assert_eq!(reports, 400);
}

#[test]
fn rt_run_returns_only_when_all_spawned_work_is_done() {
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let r = rt::run(Config::new().workers(2), move || {
        for i in 0..100u64 {
            let d = d.clone();
            // Detached, nested and sleeping: run must still wait for all of them.
            thread::spawn(move || {
                let d2 = d.clone();
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(i % 10));
                    d2.fetch_add(1, Ordering::SeqCst);
                });
                thread::sleep(Duration::from_millis(i % 7));
                d.fetch_add(1, Ordering::SeqCst);
            });
        }
        "ret"
    });
    assert_eq!(r, "ret");
    assert_eq!(done.load(Ordering::SeqCst), 200);
}

#[test]
fn rt_run_resumes_a_panic_of_its_closure() {
    let r = std::panic::catch_unwind(|| rt::run(Config::new().workers(1), || panic!("inside run")));
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside run"));
}

#[test]
fn rt_run_borrows_from_the_caller() {
    let data = [1, 2, 3];
    let sum = rt::run(Config::new().workers(2), || data.iter().sum::<i32>());
    assert_eq!(sum, 6);
}

#[test]
fn current_names_and_ids() {
    let me = thread::current();
    let h = thread::Builder::new()
        .name("named".into())
        .spawn(|| {
            (
                thread::current().name().map(String::from),
                thread::current().id(),
            )
        })
        .unwrap();
    let spawned_id = h.thread().id();
    let (name, id) = h.join().unwrap();
    assert_eq!(name.as_deref(), Some("named"));
    assert_eq!(id, spawned_id);
    assert_ne!(id, me.id());
    assert_eq!(thread::current().id(), me.id());
    assert_eq!(
        thread::spawn(|| thread::current().name().map(String::from))
            .join()
            .unwrap(),
        None
    );
}

/// Recurses until at least `bytes` of stack below `top` are in use; returns the depth reached.
fn recurse_until(top: usize, bytes: usize, depth: usize) -> usize {
    let buf = std::hint::black_box([depth as u8; 512]);
    let here = &buf as *const _ as usize;
    if top - here >= bytes {
        depth
    } else {
        let d = recurse_until(top, bytes, depth + 1);
        std::hint::black_box(&buf); // keeps the frame (and its buffer) alive across the call
        d
    }
}

#[test]
fn recursion_one_mib_deep_with_default_stack() {
    let deep = || {
        let top = std::hint::black_box(0u8);
        recurse_until(&top as *const u8 as usize, 1 << 20, 0)
    };
    // The same program on a std thread (2 MiB default) as the yardstick, then on a green thread.
    let std_depth = std::thread::spawn(deep).join().unwrap();
    let green_depth = thread::spawn(deep).join().unwrap();
    assert!(std_depth > 0 && green_depth > 0);
    assert_eq!(green_depth, std_depth);
}

#[test]
fn builder_stack_size_is_honoured() {
    fn recurse(depth: usize) -> usize {
        let buf = std::hint::black_box([0u8; 4096]);
        if depth == 0 {
            buf.len()
        } else {
            recurse(depth - 1) + buf[depth % 4096] as usize
        }
    }
    // 8 MiB requested: 4 MiB of frames fit.
    let h = thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(|| recurse(1000))
        .unwrap();
    assert_eq!(h.join().unwrap(), 4096);
}

#[test]
fn is_finished_reports_completion() {
    let h = thread::spawn(thread::park);
    assert!(!h.is_finished());
    while !h.is_finished() {
        h.thread().unpark();
        thread::yield_now();
    }
    h.join().unwrap();
}

/// Mapping stacks past `vm.max_map_count` gives a clear `io::Error`, never a crash. Runs in a child
/// process that first uses up most of its map budget with plain one-page mappings.
#[test]
fn spawn_past_map_count_limit_is_a_clear_error() {
    if child_scenario().as_deref() == Some("maps") {
        let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        if limit > 1 << 20 {
            println!("SKIP: vm.max_map_count is {limit}; too many mappings to exhaust quickly");
            return;
        }
        // Start the runtime (and its worker threads) before the budget runs out.
        thread::spawn(|| ()).join().unwrap();
        let page = 4096;
        let mut maps = Vec::new();
        loop {
            // Alternate protections so neighbouring mappings cannot merge into one.
            let prot = if maps.len() % 2 == 0 {
                libc::PROT_READ
            } else {
                libc::PROT_NONE
            };
            // SAFETY: a fresh anonymous mapping, unmapped below.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    page,
                    prot,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                break;
            }
            maps.push(p as usize);
        }
        // Leave room for a few stacks (and for the heap to grow), not for many.
        for p in maps.drain(maps.len() - 64..) {
            // SAFETY: unmapping one of our own mappings.
            unsafe { libc::munmap(p as *mut libc::c_void, page) };
        }
        let mut parked = Vec::new();
        let err = loop {
            match thread::Builder::new().spawn(thread::park) {
                Ok(h) => parked.push(h),
                Err(e) => break e,
            }
            assert!(parked.len() < 1000, "the map-count limit was never hit");
        };
        println!("ERROR: {err}");
        assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory);
        assert!(err.to_string().contains("vm.max_map_count"));
        // `spawn` panics with the same message, as std's does.
        let p = std::panic::catch_unwind(|| thread::spawn(|| ())).unwrap_err();
        let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("vm.max_map_count"), "{msg}");
        // Freeing room makes spawning work again; the parked threads are still fine.
        for p in maps.drain(..) {
            // SAFETY: as above.
            unsafe { libc::munmap(p as *mut libc::c_void, page) };
        }
        thread::spawn(|| ()).join().unwrap();
        for h in &parked {
            h.thread().unpark();
        }
        for h in parked {
            h.join().unwrap();
        }
        println!("CHILD OK");
        return;
    }
    let out = run_child("spawn_past_map_count_limit_is_a_clear_error", "maps", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("CHILD OK") || stdout.contains("SKIP:"),
        "{stdout}"
    );
}

/// `SMARM_STACK_SIZE` and `RUST_MIN_STACK` set the default reservation (checked in child
/// processes, since the global runtime reads them once).
#[test]
fn stack_size_environment_variables_are_honoured() {
    if let Some(s) = child_scenario() {
        if s == "stack-env" {
            // 6 MiB deep: more than the 2 MiB default holds.
            let depth = thread::spawn(|| {
                let top = std::hint::black_box(0u8);
                recurse_until(&top as *const u8 as usize, 6 << 20, 0)
            })
            .join()
            .unwrap();
            assert!(depth > 0);
            println!("CHILD OK");
        }
        return;
    }
    for var in ["SMARM_STACK_SIZE", "RUST_MIN_STACK"] {
        let out = run_child(
            "stack_size_environment_variables_are_honoured",
            "stack-env",
            &[(var, &(16usize << 20).to_string())],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("CHILD OK"),
            "{var}: {out:?}"
        );
    }
}

/// A lone worker must still re-check the queues before sleeping (a wake from an OS thread that
/// lands between its last look and its sleep must not be lost).
#[test]
fn one_worker_runtime_loses_no_wakeup_from_os_threads() {
    rt::run(Config::new().workers(1), || ping_pong(50_000, true, false));
}

/// When the worker watching timers leaves its sleep to run a long task, another idle worker
/// takes the watch: a short sleep elsewhere is not held up by the long task.
#[test]
fn timer_watch_passes_to_an_idle_worker() {
    rt::run(Config::new().workers(2), || {
        let hog = thread::spawn(|| {
            thread::sleep(Duration::from_millis(5)); // woken by the timer watcher...
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(800) {
                std::hint::spin_loop(); // ...which then runs this without switching
            }
        });
        thread::sleep(Duration::from_millis(1));
        let t = Instant::now();
        thread::sleep(Duration::from_millis(20));
        let slept = t.elapsed();
        hog.join().unwrap();
        // Generous bound: the failure mode is waiting for the whole 800 ms hog.
        assert!(
            slept < Duration::from_millis(500),
            "sleep(20ms) took {slept:?}"
        );
    });
}

struct RecordDrop(Arc<std::sync::Mutex<Option<thread::ThreadId>>>);
impl Drop for RecordDrop {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(thread::current().id());
    }
}

/// A detached thread drops its own result on its own stack; a finished thread's result is
/// dropped by whoever drops the handle — as std's `Packet` behaves.
#[test]
fn detached_results_are_dropped_by_the_last_owner() {
    let who = Arc::new(std::sync::Mutex::new(None));
    let w = who.clone();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        RecordDrop(w)
    });
    let id = h.thread().id();
    drop(h); // detached while running
    while who.lock().unwrap().is_none() {
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        *who.lock().unwrap(),
        Some(id),
        "dropped on the green thread itself"
    );

    let who = Arc::new(std::sync::Mutex::new(None));
    let w = who.clone();
    let h = thread::spawn(move || RecordDrop(w));
    while !h.is_finished() {
        thread::yield_now();
    }
    drop(h); // finished first: the dropper drops the result
    assert_eq!(*who.lock().unwrap(), Some(thread::current().id()));
}

#[test]
fn a_result_that_panics_on_drop_aborts_like_std() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("bomb");
        }
    }
    if child_scenario().as_deref() == Some("bomb") {
        drop(thread::spawn(|| {
            thread::sleep(Duration::from_millis(10));
            Bomb
        }));
        thread::sleep(Duration::from_secs(5));
        println!("NOT ABORTED");
        return;
    }
    let out = run_child(
        "a_result_that_panics_on_drop_aborts_like_std",
        "bomb",
        &[("RUST_BACKTRACE", "0")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("NOT ABORTED"));
    assert!(
        stderr.contains("thread result panicked on drop"),
        "{stderr}"
    );
}

/// A `Drop` that joins another green thread while unwinding: the unwinding thread keeps its OS
/// thread (see `rt::park`), its worker's queued work moves to the other worker, and both finish.
#[test]
fn unwinding_drop_that_joins_a_sibling_completes_on_two_workers() {
    struct JoinOnDrop(Option<thread::JoinHandle<u32>>, Arc<AtomicU64>);
    impl Drop for JoinOnDrop {
        fn drop(&mut self) {
            assert!(thread::panicking());
            let v = self.0.take().unwrap().join().unwrap();
            self.1.store(v as u64, Ordering::SeqCst);
            assert!(thread::panicking());
        }
    }
    rt::run(Config::new().workers(2), || {
        let got = Arc::new(AtomicU64::new(0));
        let g = got.clone();
        let t = thread::spawn(move || {
            let child = thread::spawn(|| {
                thread::sleep(Duration::from_millis(10));
                41
            });
            let _guard = JoinOnDrop(Some(child), g);
            panic!("unwind with a join in Drop");
        });
        assert!(t.join().is_err());
        assert_eq!(got.load(Ordering::SeqCst), 41);
        // Both workers are clean afterwards.
        for _ in 0..10 {
            assert!(!thread::spawn(thread::panicking).join().unwrap());
        }
    });
}
