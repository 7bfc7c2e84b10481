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

/// A frame of `stack` in `parked_in_distinctive_fn`, in this file, at one of its lines.
fn has_distinctive_frame(stack: &Stack) -> bool {
    stack.frames().iter().any(|f| {
        f.name
            .as_deref()
            .is_some_and(|n| n.ends_with("parked_in_distinctive_fn"))
            && f.file
                .as_deref()
                .is_some_and(|p| p.ends_with("dump_stacks.rs"))
            && f.line
                .is_some_and(|l| (FIRST_LINE..=LAST_LINE).contains(&l))
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
    // Printed Go-style: the thread's line, its frames, `at file:line`.
    let text = dump.to_string();
    let line = format!("{}", pids[0]);
    let at = text.find(&line).unwrap();
    let block = &text[at..text[at..].find("\n\n").map_or(text.len(), |e| at + e)];
    assert!(block.contains("parked on channel:"), "{block}");
    assert!(block.contains("parked_in_distinctive_fn"), "{block}");
    assert!(block.contains("dump_stacks.rs:"), "{block}");
    // Threads parked at the same place share their stack; the dump without stacks has none.
    assert!(rt::dump_states().threads.iter().all(|t| t.stack.is_none()));
    drop(senders);
    for (_, h) in handles {
        h.join().unwrap();
    }
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
    // From inside a green thread: the others' stacks, and its own line says running.
    let p = pids.clone();
    let (me, h) = smarm::actor::spawn(move || {
        let dump = rt::dump();
        check_stacks(&dump, &p);
        dump
    });
    let dump = h.join().unwrap();
    let mine = dump.threads.iter().find(|t| t.pid == me).unwrap();
    assert_eq!(mine.state, ThreadState::Running);
    assert!(mine.stack.is_none());
    // From the test's thread too.
    check_stacks(&rt::dump(), &pids);
    drop(senders);
    for (_, h) in handles {
        h.join().unwrap();
    }
}

/// Threads that park and wake all the time (ping-pong pairs, `sleep(0)`, `park_timeout` with
/// short timeouts, a contended mutex) while an OS thread and a green thread dump in a loop: no
/// crash, no lost wake-up (every thread finishes its count), no doubled one (counts are exact).
#[test]
fn dumping_while_threads_park_and_wake_loses_nothing() {
    let _s = serial();
    const PAIRS: usize = 8;
    const ROUNDS: usize = 2_000;
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
    let os_dumper =
        {
            let (stop, dumps) = (stop.clone(), dumps.clone());
            std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    let d = rt::dump();
                    assert!(d.threads.iter().all(|t| t.stack.is_none()
                    || matches!(t.state, ThreadState::Parked(_))));
                    dumps.fetch_add(1, SeqCst);
                }
            })
        };
    let green_dumper = {
        let (stop, dumps) = (stop.clone(), dumps.clone());
        smarm::thread::spawn(move || {
            while !stop.load(SeqCst) {
                let _ = rt::dump().to_string();
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
    eprintln!("{} dumps during the run", dumps.load(SeqCst));
}

/// Round trips of one ping-pong pair in `window`, with `background` other threads parked.
fn pingpong_rate(window: Duration, dumping: bool, background: usize) -> (f64, usize) {
    let (senders, handles) = spawn_parked(background);
    let pids: Vec<Pid> = handles.iter().map(|(p, _)| *p).collect();
    wait_parked(&pids);
    let stop = Arc::new(AtomicBool::new(false));
    let dumps = Arc::new(AtomicUsize::new(0));
    let dumper = dumping.then(|| {
        let (stop, dumps) = (stop.clone(), dumps.clone());
        std::thread::spawn(move || {
            while !stop.load(SeqCst) {
                std::hint::black_box(rt::dump());
                dumps.fetch_add(1, SeqCst);
            }
        })
    });
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
    if let Some(d) = dumper {
        d.join().unwrap();
    }
    drop(senders);
    for (_, h) in handles {
        h.join().unwrap();
    }
    (rate, dumps.load(SeqCst))
}

/// "Does not disturb": a ping-pong pair's round trips per second with and without an OS thread
/// dumping in a loop (each dump holds each of the pair's threads it finds parked for one walk).
#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn measure_dump_does_not_disturb() {
    let _s = serial();
    let window = Duration::from_secs(2);
    for background in [0, 1000] {
        let (quiet, _) = pingpong_rate(window, false, background);
        let (busy, dumps) = pingpong_rate(window, true, background);
        let (quiet2, _) = pingpong_rate(window, false, background);
        eprintln!(
            "ping-pong, {background} other parked threads: {:.0} round trips/s without dumps \
             ({:.0} again after), {:.0} with a dump loop ({dumps} dumps in {window:?}): {:+.1} %",
            quiet,
            quiet2,
            busy,
            (busy / ((quiet + quiet2) / 2.0) - 1.0) * 100.0
        );
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
