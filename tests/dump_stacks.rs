//! Stacks in the dump (issue #18): `rt::dump()` shows each parked green thread's call stack with
//! function names and lines, unwound from its saved context while the thread is held parked; a
//! dump never disturbs the threads it walks (no crash, no lost or doubled wake-up).
//!
//! The measurements (`measure_*`, ignored by default) print what the README quotes:
//! `cargo test --release --test dump_stacks -- --ignored --nocapture --test-threads 1`.

mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

use smarm::rt::{self, Dump, Pid, Stack, ThreadState};
use smarm::sync::mpsc::{self, Receiver};
use support::{serial, watchdog};

/// The lines of `parked_in_distinctive_fn`, for checking the line a frame names.
const FIRST_LINE: u32 = line!();
/// Where the dumped threads wait: its name and this file must appear in their stacks.
#[inline(never)]
fn parked_in_distinctive_fn(rx: Receiver<()>) {
    // Err once the sender is gone: that is the release.
    let _ = rx.recv();
    std::hint::black_box(());
}
const LAST_LINE: u32 = line!();

/// A frame of `stack` in `parked_in_distinctive_fn`, in this file, at one of its lines. File and
/// line come from the debug info: the dev profile has it; `cargo test --release` has none (as
/// std's backtraces, the dump then shows names only), so there only the name is required.
fn has_distinctive_frame(stack: &Stack) -> bool {
    let lines = cfg!(debug_assertions);
    stack.frames().iter().any(|f| {
        f.name
            .as_deref()
            .is_some_and(|n| n.ends_with("parked_in_distinctive_fn"))
            && (!lines
                || (f
                    .file
                    .as_deref()
                    .is_some_and(|p| p.ends_with("dump_stacks.rs"))
                    && f.line
                        .is_some_and(|l| (FIRST_LINE..=LAST_LINE).contains(&l))))
    })
}

/// The parked threads: the senders that release them, and their Pids and handles.
type Parked = (
    Vec<mpsc::Sender<()>>,
    Vec<(Pid, smarm::thread::JoinHandle<()>)>,
);

/// Spawns `n` green threads parked in `parked_in_distinctive_fn` (64 KiB stacks: 10,000 of them
/// fit any machine); dropping the senders releases them.
fn spawn_parked(n: usize) -> Parked {
    let mut senders = Vec::with_capacity(n);
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = mpsc::channel::<()>();
        let (pid, h) = smarm::actor::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || parked_in_distinctive_fn(rx))
            .unwrap();
        senders.push(tx);
        handles.push((pid, h));
    }
    (senders, handles)
}

/// Waits (bounded) until every one of `pids` is parked.
fn wait_parked(pids: &[Pid]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let dump = rt::dump_states();
        let parked: std::collections::HashSet<Pid> = dump
            .threads
            .iter()
            .filter(|t| matches!(t.state, ThreadState::Parked(_)))
            .map(|t| t.pid)
            .collect();
        if pids.iter().all(|p| parked.contains(p)) {
            return;
        }
        assert!(Instant::now() < deadline, "threads did not park");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Checks that every one of `pids` is in `dump`, parked, with a stack holding the frame.
fn check_stacks(dump: &Dump, pids: &[Pid]) {
    let by_pid: std::collections::HashMap<Pid, &rt::ThreadInfo> =
        dump.threads.iter().map(|t| (t.pid, t)).collect();
    for pid in pids {
        let t = by_pid
            .get(pid)
            .unwrap_or_else(|| panic!("{pid} not in the dump"));
        assert!(
            matches!(t.state, ThreadState::Parked(_)),
            "{pid}: {}",
            t.state
        );
        let stack = t
            .stack
            .as_ref()
            .unwrap_or_else(|| panic!("{pid} parked without a stack"));
        assert!(
            has_distinctive_frame(stack),
            "{pid}: no frame in parked_in_distinctive_fn at dump_stacks.rs:{FIRST_LINE}..{LAST_LINE}:\n{stack}"
        );
    }
}

#[test]
fn parked_threads_show_their_function_file_and_line() {
    let _s = serial();
    let _w = watchdog(
        "parked_threads_show_their_function_file_and_line",
        Duration::from_secs(60),
        String::new,
    );
    let (senders, handles) = spawn_parked(8);
    let pids: Vec<Pid> = handles.iter().map(|(p, _)| *p).collect();
    wait_parked(&pids);
    let dump = rt::dump();
    check_stacks(&dump, &pids);
    // Innermost first: the runtime's park is above the thread's own function.
    let stack = dump
        .threads
        .iter()
        .find(|t| t.pid == pids[0])
        .unwrap()
        .stack
        .clone()
        .unwrap();
    let pos = |needle: &str| {
        stack
            .frames()
            .iter()
            .position(|f| f.name.as_deref().is_some_and(|n| n.contains(needle)))
    };
    let distinctive = pos("parked_in_distinctive_fn").unwrap();
    let park = pos("park").expect("a park frame");
    assert!(park < distinctive, "{stack}");
    // Outermost: the closure it was spawned with (inlined there without debug info) and the
    // runtime's call of it; the runtime's entry frames below are cut.
    let name = |f: &rt::Frame| f.name.clone().unwrap_or_default();
    let frames = stack.frames();
    let last = name(&frames[frames.len() - 1]);
    assert!(last.contains("run_closure"), "{stack}");
    if cfg!(debug_assertions) {
        let closure = name(&frames[frames.len() - 2]);
        assert!(
            closure.starts_with("dump_stacks::spawn_parked::"),
            "{stack}"
        );
    }
    assert!(
        pos("trampoline").is_none() && pos("catch_unwind").is_none(),
        "{stack}"
    );
    // Printed Go-style: the thread's line, its frames, `at file:line`.
    let text = dump.to_string();
    let line = format!("{}", pids[0]);
    let at = text.find(&line).unwrap();
    let block = &text[at..text[at..].find("\n\n").map_or(text.len(), |e| at + e)];
    assert!(block.contains("parked on channel:"), "{block}");
    assert!(block.contains("parked_in_distinctive_fn"), "{block}");
    if cfg!(debug_assertions) {
        assert!(block.contains("dump_stacks.rs:"), "{block}");
    }
    // Threads parked at the same place share their stack; the dump without stacks has none.
    assert!(rt::dump_states().threads.iter().all(|t| t.stack.is_none()));
    drop(senders);
    for (_, h) in handles {
        h.join().unwrap();
    }
}

/// `kill -QUIT` prints the dump with each parked thread's frames under its line, Go-style (in a
/// child process: the handler is process-wide).
#[test]
fn sigquit_prints_the_stacks() {
    if std::env::var("SMARM_CHILD").as_deref() == Ok("sigquit-stacks") {
        rt::install_dump_on_sigquit().unwrap();
        let (tx, rx) = mpsc::channel::<()>();
        let (pid, h) = smarm::actor::Builder::new()
            .name("quit-stack".into())
            .spawn(move || parked_in_distinctive_fn(rx))
            .unwrap();
        wait_parked(&[pid]);
        // SAFETY: raising a signal whose handler we installed above.
        unsafe { libc::raise(libc::SIGQUIT) };
        // The helper thread prints (reading the debug info first); give it time on a loaded
        // machine.
        std::thread::sleep(Duration::from_millis(1500));
        drop(tx);
        h.join().unwrap();
        println!("still alive");
        return;
    }
    let _s = serial();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "sigquit_prints_the_stacks",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SMARM_CHILD", "sigquit-stacks")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("still alive"), "{stdout}");
    let at = stderr
        .find("'quit-stack': parked on channel:\n")
        .unwrap_or_else(|| panic!("no stack for the thread:\n{stderr}"));
    let block = &stderr[at..stderr[at..].find("\n\n").map_or(stderr.len(), |e| at + e)];
    assert!(
        block.contains("      dump_stacks::parked_in_distinctive_fn\n"),
        "{block}"
    );
}

#[test]
fn ten_thousand_parked_threads_dumped_with_stacks() {
    let _s = serial();
    let _w = watchdog(
        "ten_thousand_parked_threads_dumped_with_stacks",
        Duration::from_secs(120),
        String::new,
    );
    const N: usize = 10_000;
    let (senders, handles) = spawn_parked(N);
    let pids: Vec<Pid> = handles.iter().map(|(p, _)| *p).collect();
    wait_parked(&pids);
    let start = Instant::now();
    let dump = rt::dump();
    let took = start.elapsed();
    check_stacks(&dump, &pids);
    let distinct: std::collections::HashSet<&Stack> = dump
        .threads
        .iter()
        .filter(|t| pids.contains(&t.pid))
        .filter_map(|t| t.stack.as_ref())
        .collect();
    eprintln!(
        "dump of {N} parked threads with stacks: {took:?} ({} distinct stacks)",
        distinct.len()
    );
    assert!(distinct.len() <= 4, "{} distinct stacks", distinct.len());
    let text = dump.to_string();
    assert!(text.matches("parked_in_distinctive_fn").count() >= N);
    drop(senders);
    for (_, h) in handles {
        h.join().unwrap();
    }
}

#[inline(never)]
fn dumps_from_here(pids: &[Pid]) -> Dump {
    let dump = rt::dump();
    check_stacks(&dump, pids);
    dump
}

#[test]
fn dump_from_a_green_thread_and_from_an_os_thread() {
    let _s = serial();
    let _w = watchdog(
        "dump_from_a_green_thread_and_from_an_os_thread",
        Duration::from_secs(60),
        String::new,
    );
    let (senders, handles) = spawn_parked(16);
    let pids: Vec<Pid> = handles.iter().map(|(p, _)| *p).collect();
    wait_parked(&pids);
    // From a plain OS thread (not the test's own thread, which may have a cached runtime task).
    let p = pids.clone();
    std::thread::spawn(move || check_stacks(&rt::dump(), &p))
        .join()
        .unwrap();
    // From inside a green thread: the others' stacks, and its own, running, from its call.
    let p = pids.clone();
    let (me, h) = smarm::actor::spawn(move || dumps_from_here(&p));
    let dump = h.join().unwrap();
    let mine = dump.threads.iter().find(|t| t.pid == me).unwrap();
    assert_eq!(mine.state, ThreadState::Running);
    let own = mine.stack.as_ref().expect("the caller's own stack");
    let first = own.frames()[0].name.as_deref().unwrap_or("");
    assert!(first.ends_with("dumps_from_here"), "{own}");
    // From the test's thread too.
    check_stacks(&rt::dump(), &pids);
    drop(senders);
    for (_, h) in handles {
        h.join().unwrap();
    }
}

/// A parked thread's stack, taken while it stayed parked, is whole: it starts in the runtime's
/// park and ends at the runtime's call of the thread's closure. A walk of a stack that its thread
/// rewrites meanwhile (a broken hold) reads a torn chain of return addresses and ends early.
fn assert_whole(stack: &Stack) {
    let frames = stack.frames();
    let name = |f: &rt::Frame| f.name.clone().unwrap_or_default();
    assert!(
        frames.iter().take(4).any(|f| name(f).contains("park")),
        "a parked stack without the park:\n{stack}"
    );
    assert!(
        name(&frames[frames.len() - 1]).contains("run_closure"),
        "a parked stack that does not reach the thread's entry:\n{stack}"
    );
}

/// Threads that park and wake all the time (ping-pong pairs, `sleep(0)`, `park_timeout` with
/// short timeouts, a contended mutex) while an OS thread and a green thread dump in a loop: no
/// crash, no lost wake-up (every thread finishes its count), no doubled one (counts are exact).
#[test]
fn dumping_while_threads_park_and_wake_loses_nothing() {
    let _s = serial();
    const PAIRS: usize = 8;
    const ROUNDS: usize = 4_000;
    const SLEEPERS: usize = 8;
    const LOCKERS: usize = 8;
    const LOCKS: usize = 500;
    let progress = Arc::new(AtomicUsize::new(0));
    let dumps = Arc::new(AtomicUsize::new(0));
    let (p, d) = (progress.clone(), dumps.clone());
    let _w = watchdog(
        "dumping_while_threads_park_and_wake_loses_nothing",
        Duration::from_secs(120),
        move || format!("progress {}, dumps {}", p.load(SeqCst), d.load(SeqCst)),
    );
    // The first dump reads the debug info (tens of ms): not during the race.
    let _ = rt::dump();
    let stop = Arc::new(AtomicBool::new(false));
    let mut work = Vec::new();
    for _ in 0..PAIRS {
        let (atx, arx) = mpsc::channel::<usize>();
        let (btx, brx) = mpsc::channel::<usize>();
        let pr = progress.clone();
        work.push(smarm::thread::spawn(move || {
            for i in 0..ROUNDS {
                atx.send(i).unwrap();
                assert_eq!(brx.recv().unwrap(), i);
                pr.fetch_add(1, Relaxed);
            }
            ROUNDS
        }));
        work.push(smarm::thread::spawn(move || {
            let mut n = 0;
            while let Ok(i) = arx.recv() {
                btx.send(i).unwrap();
                n += 1;
            }
            n
        }));
    }
    for s in 0..SLEEPERS {
        let pr = progress.clone();
        work.push(smarm::thread::spawn(move || {
            for i in 0..ROUNDS / 4 {
                if s % 2 == 0 {
                    smarm::thread::sleep(Duration::ZERO);
                } else {
                    // Its own timer fires, often while a dump holds it.
                    smarm::thread::park_timeout(Duration::from_micros(20 + (i % 50) as u64));
                }
                pr.fetch_add(1, Relaxed);
            }
            ROUNDS / 4
        }));
    }
    let counter = Arc::new(smarm::sync::Mutex::new(0usize));
    for _ in 0..LOCKERS {
        let (c, pr) = (counter.clone(), progress.clone());
        work.push(smarm::thread::spawn(move || {
            for _ in 0..LOCKS {
                let mut g = c.lock().unwrap();
                *g += 1;
                smarm::thread::yield_now();
                drop(g);
                pr.fetch_add(1, Relaxed);
            }
            LOCKS
        }));
    }
    // The dumpers: a plain OS thread and a green thread.
    let stacks_seen = Arc::new(AtomicUsize::new(0));
    let os_dumper = {
        let (stop, dumps, seen) = (stop.clone(), dumps.clone(), stacks_seen.clone());
        std::thread::spawn(move || {
            while !stop.load(SeqCst) {
                let d = rt::dump();
                for t in &d.threads {
                    if let Some(stack) = &t.stack {
                        assert!(matches!(t.state, ThreadState::Parked(_)), "{}", t.state);
                        assert_whole(stack);
                        seen.fetch_add(1, SeqCst);
                    }
                }
                dumps.fetch_add(1, SeqCst);
            }
        })
    };
    let green_dumper = {
        let (stop, dumps) = (stop.clone(), dumps.clone());
        smarm::thread::spawn(move || {
            let me = smarm::actor::self_pid();
            while !stop.load(SeqCst) {
                let d = rt::dump();
                let others = d.threads.iter().filter(|t| Some(t.pid) != me);
                others
                    .filter_map(|t| t.stack.as_ref())
                    .for_each(assert_whole);
                let _ = d.to_string();
                dumps.fetch_add(1, SeqCst);
                smarm::thread::yield_now();
            }
        })
    };
    let total: usize = work.into_iter().map(|h| h.join().unwrap()).sum();
    stop.store(true, SeqCst);
    os_dumper.join().unwrap();
    green_dumper.join().unwrap();
    assert_eq!(
        total,
        2 * PAIRS * ROUNDS + SLEEPERS * (ROUNDS / 4) + LOCKERS * LOCKS
    );
    assert_eq!(*counter.lock().unwrap(), LOCKERS * LOCKS);
    assert!(dumps.load(SeqCst) >= 2, "the dumpers ran");
    let stacks = stacks_seen.load(SeqCst);
    assert!(stacks > 0, "the dumps took stacks of the working threads");
    eprintln!(
        "{} dumps during the run, {stacks} stacks taken",
        dumps.load(SeqCst)
    );
}

/// What runs beside the measured ping-pong pair.
#[derive(Clone, Copy, Debug)]
enum Beside {
    Nothing,
    /// An OS thread calling `dump_states()` in a loop: the CPU a dump loop takes, without holds.
    StatesLoop,
    /// An OS thread calling `dump()` in a loop: every parked thread held, over and over.
    DumpLoop,
    /// `dump()` every 10 ms: a diagnostic endpoint polled hard.
    DumpEvery10ms,
}

/// Round trips per second of one ping-pong pair in `window` with `beside` running (the threads
/// parked in the background are the caller's), and the dumps taken meanwhile.
fn pingpong_rate(window: Duration, beside: Beside) -> (f64, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let dumps = Arc::new(AtomicUsize::new(0));
    let dumper = {
        let (stop, dumps) = (stop.clone(), dumps.clone());
        std::thread::spawn(move || {
            while !stop.load(SeqCst) {
                match beside {
                    Beside::Nothing => return,
                    Beside::StatesLoop => drop(std::hint::black_box(rt::dump_states())),
                    Beside::DumpLoop => drop(std::hint::black_box(rt::dump())),
                    Beside::DumpEvery10ms => {
                        drop(std::hint::black_box(rt::dump()));
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                dumps.fetch_add(1, SeqCst);
            }
        })
    };
    let (atx, arx) = mpsc::channel::<u64>();
    let (btx, brx) = mpsc::channel::<u64>();
    let echo = smarm::thread::spawn(move || {
        while let Ok(i) = arx.recv() {
            btx.send(i).unwrap();
        }
    });
    let ping = smarm::thread::spawn(move || {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < window {
            for _ in 0..100 {
                atx.send(n).unwrap();
                brx.recv().unwrap();
                n += 1;
            }
        }
        n as f64 / start.elapsed().as_secs_f64()
    });
    let rate = ping.join().unwrap();
    echo.join().unwrap();
    stop.store(true, SeqCst);
    dumper.join().unwrap();
    (rate, dumps.load(SeqCst))
}

/// "Does not disturb": a ping-pong pair's round trips per second beside 100 parked threads, with
/// nothing else running, with a dump every 10 ms, with `dump()` in a loop, and with
/// `dump_states()` in a loop (the control for the loop: CPU and cache lines taken from the
/// workers, no holds). Trials interleave (0.5 s each, 7 rounds); medians are printed.
#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn measure_dump_does_not_disturb() {
    let _s = serial();
    let (senders, handles) = spawn_parked(100);
    let pids: Vec<Pid> = handles.iter().map(|(p, _)| *p).collect();
    wait_parked(&pids);
    let _ = rt::dump(); // reads the debug info once
    let modes = [
        Beside::Nothing,
        Beside::DumpEvery10ms,
        Beside::DumpLoop,
        Beside::StatesLoop,
    ];
    let mut rates = vec![Vec::new(); modes.len()];
    let mut dumps = vec![0; modes.len()];
    for _ in 0..7 {
        for (m, &beside) in modes.iter().enumerate() {
            let (rate, d) = pingpong_rate(Duration::from_millis(500), beside);
            rates[m].push(rate);
            dumps[m] += d;
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = median(&mut rates[0].clone());
    for (m, beside) in modes.iter().enumerate() {
        let r = median(&mut rates[m]);
        eprintln!(
            "ping-pong beside 100 parked threads, {beside:?}: {r:.0} round trips/s \
             ({:+.1} %), {} dumps per second",
            (r / base - 1.0) * 100.0,
            dumps[m] as f64 / 3.5
        );
    }
    drop(senders);
    for (_, h) in handles {
        h.join().unwrap();
    }
}

/// The time to dump 10,000 parked threads, with and without stacks, first and second time.
#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn measure_dump_10k() {
    let _s = serial();
    let (senders, handles) = spawn_parked(10_000);
    let pids: Vec<Pid> = handles.iter().map(|(p, _)| *p).collect();
    wait_parked(&pids);
    for i in 0..3 {
        let t = Instant::now();
        let d = rt::dump();
        let with = t.elapsed();
        let t = Instant::now();
        let text = d.to_string();
        let fmt = t.elapsed();
        let t = Instant::now();
        std::hint::black_box(rt::dump_states());
        let without = t.elapsed();
        eprintln!(
            "dump #{i} of {} threads: {with:?} with stacks ({} bytes printed in {fmt:?}), \
             {without:?} without",
            d.threads.len(),
            text.len()
        );
    }
    drop(senders);
    for (_, h) in handles {
        h.join().unwrap();
    }
}
