//! Green threads own their thread-locals (`rt::sys::tls`): std's `thread_local!`, errno and
//! `std::thread::current()` are per green thread wherever it resumes; destructors run once when it
//! ends; TLS areas are reused, so a million spawns leave RSS flat. Each test also runs on the
//! `arch_prctl` fallback, in a child process of this binary with `SMARM_TLS_SWITCH=arch_prctl`.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use smarm::rt::{Config, run};
use smarm::thread;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

thread_local! {
    static LOG: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    static HELD: RefCell<u64> = const { RefCell::new(0) };
}

/// The program: every green thread pushes its own index around sleeps and yields, on 2
/// workers, so most calls resume on another OS thread. Each must see only its own values.
#[test]
fn migrating_threads_keep_their_own_locals() {
    static MOVED: AtomicUsize = AtomicUsize::new(0);
    let ids: HashSet<std::thread::ThreadId> = run(Config::new().workers(2), || {
        let hs: Vec<_> = (0..1000u32)
            .map(|i| {
                thread::spawn(move || {
                    for round in 0..20u32 {
                        let before = carrier();
                        LOG.with(|l| l.borrow_mut().push(i));
                        if round % 2 == 0 {
                            thread::sleep(Duration::from_micros(10));
                        } else {
                            thread::yield_now();
                        }
                        if carrier() != before {
                            MOVED.fetch_add(1, Relaxed);
                        }
                        LOG.with(|l| l.borrow_mut().push(i));
                    }
                    LOG.with(|l| {
                        let l = l.borrow();
                        assert_eq!(l.len(), 40, "thread {i} lost or gained values");
                        assert!(l.iter().all(|&x| x == i), "thread {i} saw another's values");
                    });
                    std::thread::current().id()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        ids.len(),
        1000,
        "std::thread::current() is per green thread"
    );
    assert!(
        MOVED.load(Relaxed) > 0,
        "no call resumed on another OS thread: the test tested nothing"
    );
}

/// The OS thread running the caller, as the kernel knows it (`gettid` is a syscall, so it cannot
/// be cached across a migration).
fn carrier() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc_gettid() }
}

unsafe extern "C" {
    #[link_name = "gettid"]
    fn libc_gettid() -> i32;
}

/// A `RefCell` borrowed across a smarm call stays borrowed for its own green thread only: other
/// green threads (on the same carriers) borrow their own.
#[test]
fn a_borrow_held_across_a_switch_is_invisible_to_others() {
    run(Config::new().workers(2), || {
        let hs: Vec<_> = (0..200u64)
            .map(|i| {
                thread::spawn(move || {
                    HELD.with(|h| {
                        let mut b = h.borrow_mut();
                        *b = i;
                        for _ in 0..10 {
                            thread::sleep(Duration::from_micros(50));
                            assert_eq!(*b, i);
                        }
                        *b += 1000;
                    });
                    HELD.with(|h| *h.borrow())
                })
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i as u64 + 1000);
        }
    });
}

/// errno is per green thread: a value set before a switch is still there after it, whatever other
/// green threads did to theirs meanwhile.
#[test]
fn errno_is_per_green_thread() {
    run(Config::new().workers(2), || {
        let hs: Vec<_> = (1..=300i32)
            .map(|i| {
                thread::spawn(move || {
                    for _ in 0..10 {
                        // SAFETY: __errno_location returns this thread's errno.
                        unsafe { *errno_location() = i };
                        thread::sleep(Duration::from_micros(20));
                        // SAFETY: as above.
                        assert_eq!(unsafe { *errno_location() }, i);
                        assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(i));
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}

unsafe extern "C" {
    #[link_name = "__errno_location"]
    fn errno_location() -> *mut i32;
}

static DROPS: AtomicU64 = AtomicU64::new(0);

struct Counted(#[allow(dead_code)] Vec<u8>);

impl Drop for Counted {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Relaxed);
    }
}

thread_local! {
    static A: RefCell<Option<Counted>> = const { RefCell::new(None) };
    static B: RefCell<Option<Counted>> = const { RefCell::new(None) };
    static C: Cell<u64> = const { Cell::new(0) };
    static D: Counted = Counted(vec![1; 100]);
}

/// A million spawns (release; 100k in debug), each touching several std thread-locals with
/// destructors and allocating: every destructor runs exactly once, TLS areas are reused (their
/// number stays at the peak of live threads), and RSS after warm-up stays flat.
#[test]
fn a_million_spawns_run_every_destructor_once_and_rss_stays_flat() {
    // RSS is process-wide: measure in a child process of our own, away from the other tests.
    if std::env::var_os("GREEN_TLS_SOAK_CHILD").is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_million_spawns_run_every_destructor_once_and_rss_stays_flat",
                "--nocapture",
            ])
            .env("GREEN_TLS_SOAK_CHILD", "1")
            .output()
            .unwrap();
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "the soak failed in its child");
        return;
    }
    let total: u64 = if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    };
    const BATCH: u64 = 1000;
    DROPS.store(0, Relaxed);
    let (warm, end, areas) = run(Config::new().workers(2), || {
        let mut warm = 0;
        for round in 0..total / BATCH {
            let hs: Vec<_> = (0..BATCH)
                .map(|i| {
                    thread::spawn(move || {
                        A.with(|a| *a.borrow_mut() = Some(Counted(vec![0; 64 + (i % 7) as usize])));
                        B.with(|b| *b.borrow_mut() = Some(Counted(vec![0; 16])));
                        C.set(C.get() + i);
                        D.with(|d| assert_eq!(d.0.len(), 100));
                        let v: Vec<u64> = (0..(i % 50)).collect();
                        if i % 10 == 0 {
                            thread::yield_now();
                        }
                        v.len() as u64 + C.get()
                    })
                })
                .collect();
            for (i, h) in hs.into_iter().enumerate() {
                let i = i as u64;
                assert_eq!(h.join().unwrap(), i % 50 + i);
            }
            if round == 20 {
                warm = rss_kib();
            }
        }
        (warm, rss_kib(), smarm::rt::stats().tls_areas)
    });
    eprintln!("RSS {warm} KiB after warm-up, {end} KiB after {total} spawns; {areas} TLS areas");
    assert_eq!(
        DROPS.load(Relaxed),
        total * 3,
        "each of 3 destructors once per thread"
    );
    assert!(
        areas <= 4 * BATCH,
        "{areas} TLS areas for {BATCH} live threads: areas are not reused"
    );
    assert!(
        end <= warm + 16 * 1024,
        "RSS grew from {warm} KiB after warm-up to {end} KiB"
    );
    eprintln!("RSS {warm} KiB after warm-up, {end} KiB after {total} spawns; {areas} TLS areas");
}

/// Destructors run on the green thread itself and may use smarm (spawn, join, channels), and a
/// key touched during destruction is re-initialised and destroyed again, as std does.
#[test]
fn destructors_may_block_and_spawn() {
    struct Joiner;
    impl Drop for Joiner {
        fn drop(&mut self) {
            let h = thread::spawn(|| {
                thread::sleep(Duration::from_millis(1));
                7
            });
            assert_eq!(h.join().unwrap(), 7);
            DTOR_DONE.fetch_add(1, Relaxed);
        }
    }
    thread_local! { static J: RefCell<Option<Joiner>> = const { RefCell::new(None) }; }
    static DTOR_DONE: AtomicUsize = AtomicUsize::new(0);
    run(Config::new().workers(2), || {
        let hs: Vec<_> = (0..50)
            .map(|_| thread::spawn(|| J.with(|j| *j.borrow_mut() = Some(Joiner))))
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        // `join` returns after the joined thread's destructors finished, as with std.
        assert_eq!(DTOR_DONE.load(Relaxed), 50);
    });
}

/// The same tests through `arch_prctl` (a child process of this binary): x86-64's fallback for
/// kernels without FSGSBASE (aarch64 writes `TPIDR_EL0` directly, with no alternative).
#[cfg(target_arch = "x86_64")]
#[test]
fn the_arch_prctl_fallback_passes_too() {
    if std::env::var_os("SMARM_TLS_SWITCH").is_some() {
        // We are the child: say which path we are on, so the parent knows the variable took.
        assert_eq!(smarm::rt::stats().tls_switch, "arch_prctl");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--test-threads=1", "--skip", "a_million"])
        .env("SMARM_TLS_SWITCH", "arch_prctl")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "migrating_threads_keep_their_own_locals",
        "a_borrow_held_across_a_switch_is_invisible_to_others",
        "errno_is_per_green_thread",
        "destructors_may_block_and_spawn",
        "the_arch_prctl_fallback_passes_too",
        "setgid_while_green_threads_run_returns",
        "pthread_keys_are_per_green_thread_and_destroyed",
        "a_detached_result_dropped_with_thread_locals_alive",
        "a_thread_locale_does_not_carry_over",
    ] {
        assert!(
            stdout.contains(&format!("test {name} ... ok")),
            "{name} did not pass in the child:\n{stdout}"
        );
    }
}

/// `setgid` while green threads run: glibc signals every carrier (SIGSETXID) and waits for each
/// to act on its own descriptor; this hung forever when the handler ran on a green descriptor.
/// Run in a child process with a deadline, so that a hang fails instead of stalling the suite.
#[test]
fn setgid_while_green_threads_run_returns() {
    if std::env::var_os("GREEN_TLS_SETXID_CHILD").is_some() {
        let spinner = thread::spawn(|| {
            let t = std::time::Instant::now();
            let mut x = 0u64;
            while t.elapsed() < Duration::from_millis(300) {
                x = std::hint::black_box(x + 1);
            }
        });
        thread::sleep(Duration::from_millis(20));
        // SAFETY: setting the group id to the current one changes nothing.
        assert_eq!(unsafe { setgid(getgid()) }, 0);
        spinner.join().unwrap();
        return;
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "setgid_while_green_threads_run_returns", "-q"])
        .env("GREEN_TLS_SETXID_CHILD", "1")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "child failed: {status}");
            return;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("setgid hung with green threads running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

unsafe extern "C" {
    fn setgid(gid: u32) -> i32;
    fn getgid() -> u32;
    fn pthread_key_create(key: *mut u32, dtor: Option<unsafe extern "C" fn(*mut u8)>) -> i32;
    fn pthread_setspecific(key: u32, value: *const u8) -> i32;
    fn pthread_getspecific(key: u32) -> *mut u8;
    fn pthread_self() -> usize;
}

/// pthread keys are per green thread, as per OS thread: a new green thread sees none of another's
/// values (keys below 32 and above), and every value's destructor runs when its thread ends.
#[test]
fn pthread_keys_are_per_green_thread_and_destroyed() {
    static KEY_DTORS: AtomicUsize = AtomicUsize::new(0);
    unsafe extern "C" fn dtor(_: *mut u8) {
        KEY_DTORS.fetch_add(1, Relaxed);
    }
    const KEYS: usize = 40; // past the first block of 32 that lives in the descriptor
    let keys: Vec<u32> = (0..KEYS)
        .map(|_| {
            let mut k = 0;
            // SAFETY: `k` is written by pthread_key_create.
            assert_eq!(unsafe { pthread_key_create(&mut k, Some(dtor)) }, 0);
            k
        })
        .collect();
    let before = KEY_DTORS.load(Relaxed);
    let selves = run(Config::new().workers(2), || {
        let all_alive = std::sync::Arc::new(smarm::sync::Barrier::new(200));
        let hs: Vec<_> = (0..200usize)
            .map(|i| {
                let keys = keys.clone();
                let all_alive = all_alive.clone();
                thread::spawn(move || {
                    for &k in &keys {
                        // SAFETY: a fresh thread: every key is unset.
                        assert!(
                            unsafe { pthread_getspecific(k) }.is_null(),
                            "a key carried over"
                        );
                        // SAFETY: any non-null value marks the key as set.
                        unsafe { pthread_setspecific(k, (i + 1) as *const u8) };
                    }
                    thread::sleep(Duration::from_micros(50));
                    for &k in &keys {
                        // SAFETY: reads this thread's value.
                        assert_eq!(unsafe { pthread_getspecific(k) } as usize, i + 1);
                    }
                    all_alive.wait(); // so that no two of them share a TLS area
                    // SAFETY: no preconditions.
                    unsafe { pthread_self() }
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<HashSet<_>>()
    });
    assert_eq!(KEY_DTORS.load(Relaxed) - before, 200 * KEYS);
    assert_eq!(
        selves.len(),
        200,
        "pthread_self() is unique per live green thread"
    );
}

/// A detached thread's result is dropped on the thread before its thread-locals are destroyed
/// (as std's packet is), so a `Drop` that touches a thread-local has that value destroyed too.
#[test]
fn a_detached_result_dropped_with_thread_locals_alive() {
    static INITS: AtomicUsize = AtomicUsize::new(0);
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Tracked;
    impl Drop for Tracked {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Relaxed);
        }
    }
    thread_local! {
        static T: Tracked = {
            INITS.fetch_add(1, Relaxed);
            Tracked
        };
    }
    struct Result;
    impl Drop for Result {
        fn drop(&mut self) {
            T.with(|_| ());
        }
    }
    run(Config::new().workers(2), || {
        for _ in 0..500 {
            drop(thread::spawn(|| Result)); // detached
        }
    });
    // Mostly on the spawned threads; where a thread finished before its handle was dropped, the
    // handle's thread drops the result (as std does), initialising its own `T` once.
    assert!(INITS.load(Relaxed) >= 1);
    assert_eq!(
        DROPS.load(Relaxed),
        INITS.load(Relaxed),
        "every value destroyed"
    );
}

/// A green thread that installs its own locale and ends leaves its TLS area with the global one,
/// so the next user of the area does not inherit a locale that may have been freed.
#[test]
fn a_thread_locale_does_not_carry_over() {
    run(Config::new().workers(1), || {
        for _ in 0..50 {
            thread::spawn(|| {
                // SAFETY: a C locale made, installed for this thread, never freed (leaked on
                // purpose: the point is what the next thread sees).
                unsafe {
                    let loc = newlocale(LC_ALL_MASK, c"C".as_ptr(), std::ptr::null_mut());
                    assert!(!loc.is_null());
                    uselocale(loc);
                }
            })
            .join()
            .unwrap();
            let global = thread::spawn(|| {
                // SAFETY: querying the current locale has no preconditions.
                unsafe { uselocale(std::ptr::null_mut()) as isize }
            })
            .join()
            .unwrap();
            assert_eq!(global, -1, "LC_GLOBAL_LOCALE");
        }
    });
}

const LC_ALL_MASK: i32 = 0x1fbf;

unsafe extern "C" {
    fn newlocale(mask: i32, locale: *const std::ffi::c_char, base: *mut u8) -> *mut u8;
    fn uselocale(loc: *mut u8) -> *mut u8;
}

/// After a burst, idle TLS areas give their memory back within a couple of shed intervals
/// (the monitor's, about a second), keeping a warm reserve; a new burst warms them up again.
#[test]
fn idle_tls_areas_go_cold_after_a_burst() {
    const N: usize = 5000;
    let burst = || {
        let (tx, rx) = smarm::sync::mpsc::channel::<()>();
        let rx = std::sync::Arc::new(smarm::sync::Mutex::new(rx));
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || {
                    let _ = rx.lock().unwrap().recv();
                })
            })
            .collect();
        drop(tx);
        for h in hs {
            h.join().unwrap();
        }
    };
    run(Config::new().workers(2), || {
        burst();
        let made = smarm::rt::stats().tls_areas;
        assert!(made >= N as u64);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        // Everything beyond the warm reserve (256) and the workers' own caches (64 each).
        let expect = made as i64 - 256 - 2 * 64 - 64;
        while (smarm::rt::stats().tls_areas_cold as i64) < expect {
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {made} areas went cold",
                smarm::rt::stats().tls_areas_cold
            );
            thread::sleep(Duration::from_millis(100));
        }
        burst(); // cold areas are warmed up and work as before
        migrating_check();
    });
}

/// A short version of the migration test, run inside an existing runtime.
fn migrating_check() {
    let hs: Vec<_> = (0..200u32)
        .map(|i| {
            thread::spawn(move || {
                for _ in 0..5 {
                    LOG.with(|l| l.borrow_mut().push(i));
                    thread::sleep(Duration::from_micros(10));
                }
                LOG.with(|l| assert!(l.borrow().iter().all(|&x| x == i)));
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}
