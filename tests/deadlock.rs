//! The deadlock reports (issue 18, item 1), each case in a child process (this binary run again
//! with `DEADLOCK_CHILD` set).
//!
//! Total: a two-lock deadlock and a lost wake-up where everyone waits are reported (and, with
//! `OnDeadlock::Abort`, end the child); a program whose only waker is a plain OS thread blocked
//! outside smarm for a while is not.
//!
//! Partial (`rt::cycles`): two green threads deadlocked on two mutexes, a `join` cycle, a
//! lock-and-join cycle, an `RwLock`-and-`Mutex` cycle, a three-lock cycle and a thread
//! re-locking its own mutex, each *while other green threads keep running* (so the total report
//! cannot fire), are reported once with each thread's name, Pid and what it waits on; under the
//! default the child keeps waiting, under `SMARM_DEADLOCK=abort` it aborts. Heavy, lock-order-consistent contention for a few seconds
//! is not reported (`DEADLOCK_CONTENTION_ROUNDS=n` repeats it). `cargo test --test deadlock --
//! NAME` runs the cases whose name contains NAME.
//!
//! `harness = false`: the child must have no test-harness threads, which would rightly keep the
//! total check from reporting anything.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use smarm::rt::{self, Config, OnDeadlock};
use smarm::sync::{Arc, Barrier, Mutex, mpsc};
use smarm::thread::{self, JoinHandle};

const MESSAGE: &str = "smarm: all green threads are asleep - deadlock!";
const CYCLE: &str = "smarm: deadlock cycle among green threads:";

fn config() -> Config {
    Config::new().workers(2).on_deadlock(OnDeadlock::Abort)
}

/// Two green threads each hold one lock and wait for the other's.
fn two_locks() {
    rt::run(config(), || {
        let (m1, m2) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(0)));
        let both = Arc::new(Barrier::new(2));
        let spawn = |name: &str, first: Arc<Mutex<i32>>, second: Arc<Mutex<i32>>| {
            let both = both.clone();
            thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    let _a = first.lock().unwrap();
                    both.wait();
                    let _b = second.lock().unwrap();
                })
                .unwrap()
        };
        let a = spawn("left", m1.clone(), m2.clone());
        let b = spawn("right", m2, m1);
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// A receiver waits for a message from the thread that waits for it (the sender is never used).
fn everyone_waits() {
    rt::run(config(), || {
        let (tx, rx) = mpsc::channel::<u32>();
        let h = thread::Builder::new()
            .name("receiver".into())
            .spawn(move || rx.recv().unwrap())
            .unwrap();
        let _kept = tx; // held by the joining thread: the receiver can never get a message
        h.join().unwrap();
    });
}

/// The same on the global runtime, from a plain `main` (SMARM_DEADLOCK=abort).
fn everyone_waits_global() {
    let (tx, rx) = mpsc::channel::<u32>();
    let h = thread::spawn(move || rx.recv().unwrap());
    let _kept = tx;
    h.join().unwrap();
}

/// Not a deadlock: the only sender is held by a plain OS thread that blocks outside smarm for a
/// while (a std sleep) and then sends. The check must stay quiet (a report would abort).
fn os_thread_sends_later() {
    let got = rt::run(config(), || {
        let (tx, rx) = mpsc::channel::<u32>();
        let h = thread::spawn(move || rx.recv().unwrap());
        let os = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            tx.send(5).unwrap();
        });
        let got = h.join().unwrap();
        os.join().unwrap();
        got
    });
    assert_eq!(got, 5);
}

/// Config for the partial cases: the action comes from `SMARM_DEADLOCK` (report by default).
fn partial_config() -> Config {
    Config::new().workers(2)
}

/// Green threads that never stop working (locking, yielding, sleeping a little), so that the
/// runtime is never all asleep and only the cycle check can see a deadlock beside them.
fn keep_busy(n: usize) -> Vec<JoinHandle<()>> {
    let shared = Arc::new(Mutex::new(0u64));
    (0..n)
        .map(|i| {
            let shared = shared.clone();
            thread::Builder::new()
                .name(format!("busy-{i}"))
                .spawn(move || {
                    for k in 0u64.. {
                        *shared.lock().unwrap() += 1;
                        if k % 64 == 0 {
                            thread::sleep(Duration::from_millis(1));
                        } else {
                            thread::yield_now();
                        }
                    }
                })
                .unwrap()
        })
        .collect()
}

/// Keeps the runtime running after the report (the busy threads never end), and prints
/// `rt::stats().deadlock_cycles` once it counts the report.
fn wait_forever(busy: Vec<JoinHandle<()>>) {
    drop(busy); // detached; they run on
    loop {
        thread::sleep(Duration::from_millis(20));
        let n = rt::stats().deadlock_cycles;
        if n > 0 {
            eprintln!("stats: deadlock_cycles {n}");
            loop {
                thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// `n` green threads in a ring: thread `i` takes lock `i`, then (once every thread holds its
/// first) lock `i + 1`. Prints each lock's address and `deadlocking` before the second lock.
fn lock_ring(names: &[&str]) {
    rt::run(partial_config(), || {
        let busy = keep_busy(3);
        let locks: Vec<Arc<Mutex<u32>>> = names.iter().map(|_| Arc::new(Mutex::new(0))).collect();
        for (n, m) in names.iter().zip(&locks) {
            eprintln!("lock of {n}: {:p}", &**m);
        }
        let all = Arc::new(Barrier::new(names.len()));
        let ring: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let first = locks[i].clone();
                let second = locks[(i + 1) % locks.len()].clone();
                let all = all.clone();
                thread::Builder::new()
                    .name(name.to_string())
                    .spawn(move || {
                        let _a = first.lock().unwrap();
                        all.wait();
                        eprintln!("deadlocking");
                        let _b = second.lock().unwrap();
                    })
                    .unwrap()
            })
            .collect();
        drop(ring); // detached: nobody joins them
        wait_forever(busy);
    });
}

/// Two green threads join each other, each given the other's handle through a channel.
fn join_cycle() {
    rt::run(partial_config(), || {
        let busy = keep_busy(3);
        let (to_a, for_a) = mpsc::channel::<JoinHandle<()>>();
        let (to_b, for_b) = mpsc::channel::<JoinHandle<()>>();
        let spawn = |name: &str, rx: mpsc::Receiver<JoinHandle<()>>| {
            thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    let other = rx.recv().unwrap();
                    eprintln!("deadlocking");
                    other.join().unwrap();
                })
                .unwrap()
        };
        let a = spawn("joiner-a", for_a);
        let b = spawn("joiner-b", for_b);
        to_a.send(b).unwrap();
        to_b.send(a).unwrap();
        wait_forever(busy);
    });
}

/// A lock and a join: `holder` takes the lock and joins `locker`, which waits for the lock.
fn lock_join_cycle() {
    rt::run(partial_config(), || {
        let busy = keep_busy(3);
        let m = Arc::new(Mutex::new(0));
        eprintln!("lock of holder: {:p}", &*m);
        let held = Arc::new(Barrier::new(2));
        let locker = {
            let (m, held) = (m.clone(), held.clone());
            thread::Builder::new()
                .name("locker".into())
                .spawn(move || {
                    held.wait();
                    eprintln!("deadlocking");
                    *m.lock().unwrap() += 1;
                })
                .unwrap()
        };
        let holder = thread::Builder::new()
            .name("holder".into())
            .spawn(move || {
                let _g = m.lock().unwrap();
                held.wait();
                locker.join().unwrap();
            })
            .unwrap();
        drop(holder);
        wait_forever(busy);
    });
}

/// An `RwLock` and a `Mutex`: `writer` holds the write lock and waits for the mutex, which
/// `reader` holds while it waits to read.
fn rwlock_cycle() {
    rt::run(partial_config(), || {
        let busy = keep_busy(2);
        let rw = Arc::new(smarm::sync::RwLock::new(0));
        let m = Arc::new(Mutex::new(0));
        eprintln!("lock of writer: {:p}", &*rw);
        eprintln!("lock of reader: {:p}", &*m);
        let both = Arc::new(Barrier::new(2));
        let (rw2, m2, both2) = (rw.clone(), m.clone(), both.clone());
        let writer = thread::Builder::new()
            .name("writer".into())
            .spawn(move || {
                let _w = rw2.write().unwrap();
                both2.wait();
                eprintln!("deadlocking");
                let _m = m2.lock().unwrap();
            })
            .unwrap();
        let reader = thread::Builder::new()
            .name("reader".into())
            .spawn(move || {
                let _m = m.lock().unwrap();
                both.wait();
                let _r = rw.read().unwrap();
            })
            .unwrap();
        drop((writer, reader));
        wait_forever(busy);
    });
}

/// A green thread locks a mutex it holds (std may deadlock or panic; smarm waits for good): a
/// cycle of one.
fn self_lock() {
    rt::run(partial_config(), || {
        let busy = keep_busy(2);
        let m = Arc::new(Mutex::new(0));
        eprintln!("lock of relocker: {:p}", &*m);
        let relocker = thread::Builder::new()
            .name("relocker".into())
            .spawn(move || {
                let _g = m.lock().unwrap();
                eprintln!("deadlocking");
                let _again = m.lock().unwrap();
            })
            .unwrap();
        drop(relocker);
        wait_forever(busy);
    });
}

/// Not a deadlock: many green threads contend for a few locks, always in the same order, with
/// yields, sleeps, condvar waits re-taking a lock, write-held `RwLock`s, joins and timed locks,
/// for a few seconds. Under `SMARM_DEADLOCK=abort` a (false) report would end the child.
fn contention() {
    const SECONDS: u64 = 3;
    static STOP: AtomicBool = AtomicBool::new(false);
    static DONE: AtomicU64 = AtomicU64::new(0);
    let done = rt::run(partial_config(), || {
        let locks: Arc<Vec<Mutex<u64>>> = Arc::new((0..4).map(|_| Mutex::new(0)).collect());
        let rw = Arc::new(smarm::sync::RwLock::new(0u64));
        let flag = Arc::new((Mutex::new(false), smarm::sync::Condvar::new()));
        let hs: Vec<_> = (0..24u64)
            .map(|t| {
                let (locks, rw, flag) = (locks.clone(), rw.clone(), flag.clone());
                thread::spawn(move || {
                    let mut x = t.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                    let mut rand = move || {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x
                    };
                    while !STOP.load(Ordering::Relaxed) {
                        // One to four locks, always in index order (a consistent lock order).
                        let first = (rand() % 4) as usize;
                        let last = first + (rand() % (4 - first as u64)) as usize;
                        let guards: Vec<_> =
                            (first..=last).map(|i| locks[i].lock().unwrap()).collect();
                        match rand() % 8 {
                            0 => thread::yield_now(),
                            1 => thread::sleep(Duration::from_micros(200)),
                            2 => *rw.write().unwrap() += 1,
                            3 => drop(rw.read().unwrap()),
                            _ => {}
                        }
                        drop(guards);
                        match rand() % 16 {
                            0 => thread::spawn(thread::yield_now).join().unwrap(),
                            1 => {
                                let (m, cv) = &*flag;
                                let g = m.lock().unwrap();
                                let _ = cv.wait_timeout(g, Duration::from_micros(100)).unwrap();
                            }
                            2 => {
                                let (m, cv) = &*flag;
                                let mut g = m.lock().unwrap();
                                *g = !*g;
                                cv.notify_all();
                            }
                            3 => drop(locks[3].lock_timeout(Duration::from_micros(50))),
                            _ => thread::yield_now(),
                        }
                        DONE.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        thread::sleep(Duration::from_secs(SECONDS));
        STOP.store(true, Ordering::Relaxed);
        for h in hs {
            h.join().unwrap();
        }
        DONE.load(Ordering::Relaxed)
    });
    assert!(done > 0);
    eprintln!("contention: {done} rounds");
}

fn run_child(case: &str, env: &[(&str, &str)]) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("DEADLOCK_CHILD", case)
        .env_remove("SMARM_DEADLOCK")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // A watchdog, not a timing: a child that neither finishes nor aborts is killed.
    let deadline = start + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err, start.elapsed());
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("case {case}: the child hung (no report, no exit)");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A child whose stderr is read line by line as it comes.
struct Watched {
    case: String,
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<(Instant, String)>,
    seen: Vec<(Instant, String)>,
}

impl Watched {
    fn start(case: &str, env: &[(&str, &str)]) -> Watched {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env("DEADLOCK_CHILD", case)
            .env_remove("SMARM_DEADLOCK")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let err = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in err.lines().map_while(Result::ok) {
                if tx.send((Instant::now(), l)).is_err() {
                    break;
                }
            }
        });
        Watched {
            case: case.into(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads stderr until a line containing `pat` (or the child's end, or a 30 s watchdog).
    fn until(&mut self, pat: &str) -> Option<Instant> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some((t, _)) = self.seen.iter().find(|(_, l)| l.contains(pat)) {
                return Some(*t);
            }
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(l) => self.seen.push(l),
                Err(_) => return None, // stderr closed (the child ended) or the watchdog
            }
        }
    }

    /// Everything read so far, and what arrives within `settle`.
    fn text_after(&mut self, settle: Duration) -> String {
        let until = Instant::now() + settle;
        while let Ok(l) = self
            .lines
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            self.seen.push(l);
        }
        self.seen
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The value after `prefix` on the line that has it (a lock's address).
    fn value(&self, prefix: &str) -> String {
        let line = self
            .seen
            .iter()
            .find_map(|(_, l)| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("case {}: no line {prefix:?}", self.case));
        line.trim().to_string()
    }

    /// The child's exit status, or `None` if it still runs.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.exited() {
                return s;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!("case {}: the child hung (no report, no exit)", self.case);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One report line: `thread 'who' (<pid>) waits …` whose text contains every one of `parts`.
fn report_line<'a>(report: &'a str, who: &str, parts: &[&str]) -> Option<&'a str> {
    report.lines().find(|l| {
        l.trim_start().starts_with(&format!("thread '{who}' (<0."))
            && parts.iter().all(|p| l.contains(p))
    })
}

/// A partial case: `expected` is, per member of the cycle, its name and what its report line
/// must contain. Under the default the cycle is reported once and the child keeps running;
/// under `SMARM_DEADLOCK=abort` it is reported and the child aborts.
fn expect_cycle(case: &str, expected: &[(&str, &[&str])]) {
    // Report (the default): reported once, the process lives on.
    let mut w = Watched::start(case, &[]);
    let formed = w.until("deadlocking");
    let reported = w.until(CYCLE);
    let counted = w.until("stats: deadlock_cycles");
    let text = w.text_after(Duration::from_millis(600));
    let still_running = w.exited().is_none();
    w.kill();
    assert!(reported.is_some(), "case {case}: no cycle report:\n{text}");
    assert!(
        !text.contains(MESSAGE),
        "case {case}: a total report beside running threads:\n{text}"
    );
    assert_eq!(
        text.matches(CYCLE).count(),
        1,
        "case {case}: the cycle must be reported once:\n{text}"
    );
    assert!(
        still_running,
        "case {case}: the child did not keep waiting:\n{text}"
    );
    assert!(
        counted.is_some() && text.lines().any(|l| l == "stats: deadlock_cycles 1"),
        "case {case}: rt::stats() does not count the one report:\n{text}"
    );
    let report = &text[text.find(CYCLE).unwrap()..];
    let mut members = report
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  thread '"));
    assert_eq!(
        members.by_ref().count(),
        expected.len(),
        "case {case}: one line per member:\n{report}"
    );
    for (who, parts) in expected {
        // `@name`: the address the child printed for `name`'s lock.
        let parts: Vec<String> = parts
            .iter()
            .map(|p| match p.split_once('@') {
                Some((before, name)) => {
                    format!("{before}{}", w.value(&format!("lock of {name}: ")))
                }
                None => p.to_string(),
            })
            .collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        assert!(
            report_line(report, who, &parts).is_some(),
            "case {case}: no line for '{who}' with {parts:?}:\n{report}"
        );
    }
    let latency = formed
        .zip(reported)
        .map(|(f, r)| r.saturating_duration_since(f));
    println!("{case}: reported {latency:?} after the cycle formed; the child kept running");

    // SMARM_DEADLOCK=abort: reported, then aborted.
    let mut w = Watched::start(case, &[("SMARM_DEADLOCK", "abort")]);
    let status = w.wait();
    let text = w.text_after(Duration::from_millis(200));
    assert!(
        text.contains(CYCLE),
        "case {case} (abort): no report:\n{text}"
    );
    assert!(
        text.contains("smarm: aborting"),
        "case {case} (abort): no abort notice:\n{text}"
    );
    assert_eq!(
        status.code(),
        None,
        "case {case} (abort): expected an abort (a signal), got {status:?}:\n{text}"
    );
    println!("{case} (SMARM_DEADLOCK=abort): reported and aborted");
}

fn expect_report(case: &str, env: &[(&str, &str)], names: &[&str]) {
    let (code, err, took) = run_child(case, env);
    // Everyone asleep in a lock cycle: the cycle check may see it first, and then aborts first.
    let cycle = err.contains(CYCLE);
    assert!(
        err.contains(MESSAGE) || cycle,
        "case {case}: no report:\n{err}"
    );
    assert_eq!(
        code, None,
        "case {case}: expected an abort (a signal), got {code:?}:\n{err}"
    );
    for n in names {
        let shown = if cycle {
            format!("thread '{n}' (")
        } else {
            format!("'{n}': parked")
        };
        assert!(
            err.contains(&shown),
            "case {case}: the report does not show {n}:\n{err}"
        );
    }
    println!("{case}: reported and aborted after {took:?}");
}

fn main() {
    if let Ok(case) = std::env::var("DEADLOCK_CHILD") {
        match case.as_str() {
            "two_locks" => two_locks(),
            "everyone_waits" => everyone_waits(),
            "everyone_waits_global" => everyone_waits_global(),
            "os_thread_sends_later" => os_thread_sends_later(),
            "partial_two_locks" => lock_ring(&["left", "right"]),
            "partial_three_locks" => lock_ring(&["t0", "t1", "t2"]),
            "partial_join" => join_cycle(),
            "partial_lock_join" => lock_join_cycle(),
            "partial_self_lock" => self_lock(),
            "partial_rwlock" => rwlock_cycle(),
            "contention" => contention(),
            other => panic!("unknown case {other}"),
        }
        return;
    }
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let run = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    let mut passed = 0;
    if run("two_locks") {
        expect_report("two_locks", &[], &["left", "right"]);
        passed += 1;
    }
    if run("everyone_waits") {
        expect_report("everyone_waits", &[], &["receiver"]);
        expect_report("everyone_waits_global", &[("SMARM_DEADLOCK", "abort")], &[]);
        passed += 2;
    }
    if run("os_thread_sends_later") {
        let (code, err, _) = run_child("os_thread_sends_later", &[]);
        assert!(!err.contains(MESSAGE), "a false report:\n{err}");
        assert_eq!(code, Some(0), "the child failed:\n{err}");
        println!("os_thread_sends_later: no report, finished");
        passed += 1;
    }
    if run("partial_two_locks") {
        expect_cycle(
            "partial_two_locks",
            &[
                ("left", &["waits on Mutex @right", "held by 'right' (<0."]),
                ("right", &["waits on Mutex @left", "held by 'left' (<0."]),
            ],
        );
        passed += 1;
    }
    if run("partial_three_locks") {
        expect_cycle(
            "partial_three_locks",
            &[
                ("t0", &["waits on Mutex @t1", "held by 't1' (<0."]),
                ("t1", &["waits on Mutex @t2", "held by 't2' (<0."]),
                ("t2", &["waits on Mutex @t0", "held by 't0' (<0."]),
            ],
        );
        passed += 1;
    }
    if run("partial_join") {
        expect_cycle(
            "partial_join",
            &[
                ("joiner-a", &["waits to join 'joiner-b' (<0."]),
                ("joiner-b", &["waits to join 'joiner-a' (<0."]),
            ],
        );
        passed += 1;
    }
    if run("partial_lock_join") {
        expect_cycle(
            "partial_lock_join",
            &[
                ("holder", &["waits to join 'locker' (<0."]),
                (
                    "locker",
                    &["waits on Mutex @holder", "held by 'holder' (<0."],
                ),
            ],
        );
        passed += 1;
    }
    if run("partial_rwlock") {
        expect_cycle(
            "partial_rwlock",
            &[
                (
                    "writer",
                    &["waits on Mutex @reader", "held by 'reader' (<0."],
                ),
                (
                    "reader",
                    &["waits on RwLock @writer", "write-held by 'writer' (<0."],
                ),
            ],
        );
        passed += 1;
    }
    if run("partial_self_lock") {
        expect_cycle(
            "partial_self_lock",
            &[(
                "relocker",
                &["waits on Mutex @relocker", "held by 'relocker' (<0."],
            )],
        );
        passed += 1;
    }
    if run("contention") {
        let rounds: usize = std::env::var("DEADLOCK_CONTENTION_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        for _ in 0..rounds {
            let (code, err, took) = run_child("contention", &[("SMARM_DEADLOCK", "abort")]);
            assert!(
                !err.contains(CYCLE) && !err.contains(MESSAGE),
                "a false report:\n{err}"
            );
            assert_eq!(code, Some(0), "the child failed:\n{err}");
            println!("contention: no report in {took:?} ({})", err.trim());
        }
        passed += 1;
    }
    println!("test result: ok. {passed} passed");
}
