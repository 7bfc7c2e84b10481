//! Unit tests of the park word (see the module docs of `rt::park`): tokens, modes, timeouts and
//! epochs, for plain OS threads (which park on the word as a futex) and for green threads (whose
//! timers carry an epoch).

use super::word::{EPOCH_SHIFT, epoch, try_consume};
use super::*;
use crate::rt::{Config, run};
use std::sync::OnceLock;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;

/// How long a test waits for something that should happen at once before it calls it a hang.
const WATCHDOG: Duration = Duration::from_secs(20);

fn os_task(name: &str) -> Arc<Task> {
    Arc::new(Task::new_os(Some(name.into())))
}

fn mode_of(task: &Task) -> u32 {
    task.state.load(SeqCst) & MODE_MASK
}

/// Spins (sleeping or yielding) until `cond` holds; panics after [`WATCHDOG`].
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WATCHDOG, "watchdog: never saw {what}");
        if crate::rt::task::current::current_task().is_some() {
            crate::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn far() -> Option<Instant> {
    Some(Instant::now() + WATCHDOG)
}

#[test]
fn unpark_before_park_leaves_a_token_the_next_park_takes_at_once() {
    for kind in [WaitKind::User, WaitKind::Wake] {
        let task = os_task("t");
        unpark(&task, kind);
        assert_eq!(
            task.state.load(SeqCst),
            kind.token(),
            "a token, mode still 0"
        );
        // Would block until the watchdog deadline if the token were not there.
        assert!(
            word::park_os(&task, kind, far()),
            "{kind:?}: park did not take the token"
        );
        assert_eq!(
            task.state.load(SeqCst),
            0,
            "{kind:?}: token consumed, mode cleared"
        );
    }
    // The same through the public entry point, on this thread's own task.
    unpark(&crate::rt::task::current::current_os_task(), WaitKind::User);
    assert!(park(WaitKind::User, far()));
    assert_eq!(
        crate::rt::task::current::current_os_task()
            .state
            .load(SeqCst)
            & USER_TOKEN,
        0
    );
}

#[test]
fn tokens_do_not_accumulate() {
    let task = os_task("t");
    unpark(&task, WaitKind::Wake);
    unpark(&task, WaitKind::Wake);
    unpark(&task, WaitKind::Wake);
    assert!(word::park_os(&task, WaitKind::Wake, far()));
    // A second park finds nothing and times out.
    assert!(!word::park_os(
        &task,
        WaitKind::Wake,
        Some(Instant::now() + Duration::from_millis(5))
    ));
    assert_eq!(task.state.load(SeqCst), 0);
}

#[test]
fn user_and_wake_tokens_do_not_mix() {
    let short = || Some(Instant::now() + Duration::from_millis(5));
    for (given, wanted) in [
        (WaitKind::Wake, WaitKind::User),
        (WaitKind::User, WaitKind::Wake),
    ] {
        let task = os_task("t");
        unpark(&task, given);
        assert!(
            !word::park_os(&task, wanted, short()),
            "a {given:?} token satisfied a {wanted:?} park"
        );
        assert_eq!(
            task.state.load(SeqCst),
            given.token(),
            "the {given:?} token is still there, mode back to 0"
        );
        assert!(!try_consume(&task.state, wanted.token()));
        assert!(word::park_os(&task, given, far()), "its own park takes it");
        assert_eq!(task.state.load(SeqCst), 0);
    }
}

#[test]
fn a_wake_token_leaves_a_user_parker_asleep_until_its_own_token() {
    for (wanted, other) in [
        (WaitKind::User, WaitKind::Wake),
        (WaitKind::Wake, WaitKind::User),
    ] {
        let task = os_task("parker");
        let returned = Arc::new(AtomicBool::new(false));
        let parker = {
            let (task, returned) = (task.clone(), returned.clone());
            std::thread::spawn(move || {
                let r = word::park_os(&task, wanted, far());
                returned.store(true, SeqCst);
                r
            })
        };
        wait_until("the parker parked", || mode_of(&task) == wanted.mode());
        unpark(&task, other);
        // The other kind's token is left beside the mode; nothing wakes the parker.
        let s = task.state.load(SeqCst);
        assert_eq!(
            s & MODE_MASK,
            wanted.mode(),
            "{other:?} unpark cleared the mode"
        );
        assert_ne!(s & other.token(), 0);
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !returned.load(SeqCst),
            "a {other:?} token woke a {wanted:?} park"
        );
        unpark(&task, wanted);
        assert!(parker.join().unwrap(), "the parker timed out instead");
        assert_eq!(
            task.state.load(SeqCst),
            other.token(),
            "its own token consumed, mode 0, the other token untouched"
        );
    }
}

#[test]
fn timeouts_return_false_and_leave_the_word_clean() {
    let task = os_task("t");
    // A deadline already passed: at once.
    assert!(!word::park_os(&task, WaitKind::Wake, Some(Instant::now())));
    assert_eq!(task.state.load(SeqCst), 0);
    let d = Instant::now() + Duration::from_millis(10);
    assert!(!word::park_os(&task, WaitKind::User, Some(d)));
    assert!(Instant::now() >= d, "returned before its deadline");
    assert_eq!(task.state.load(SeqCst), 0, "the mode is cleared on timeout");
    // An unpark after the timeout is a token for the next park, not lost.
    unpark(&task, WaitKind::User);
    assert!(word::park_os(&task, WaitKind::User, far()));
    // Through `park` on this thread's own task.
    assert!(!park(
        WaitKind::Wake,
        Some(Instant::now() + Duration::from_millis(2))
    ));
    assert_eq!(mode_of(&crate::rt::task::current::current_os_task()), 0);
}

/// K threads each hand the parker M items, one at a time: they set their flag, unpark, and wait
/// for the parker to take it. A lost wake-up leaves the parker asleep with flags set and everyone
/// waiting: its park then times out (the watchdog) and the test fails.
#[test]
fn many_unparkers_lose_no_wake_up() {
    const K: usize = 4;
    const M: usize = 500;
    let task = os_task("parker");
    let flags: Arc<Vec<AtomicBool>> = Arc::new((0..K).map(|_| AtomicBool::new(false)).collect());
    let unparks = Arc::new(AtomicUsize::new(0));
    let unparkers: Vec<_> = (0..K)
        .map(|i| {
            let (task, flags, unparks) = (task.clone(), flags.clone(), unparks.clone());
            std::thread::spawn(move || {
                for _ in 0..M {
                    flags[i].store(true, SeqCst);
                    unpark(&task, WaitKind::Wake);
                    unparks.fetch_add(1, SeqCst);
                    let start = Instant::now();
                    while flags[i].load(SeqCst) {
                        assert!(start.elapsed() < WATCHDOG, "the parker never took it");
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let (mut taken, mut parks) = (0, 0);
    while taken < K * M {
        for f in flags.iter() {
            if f.swap(false, SeqCst) {
                taken += 1;
            }
        }
        if taken < K * M {
            parks += 1;
            let deadline = Instant::now() + WATCHDOG;
            if !word::park_os(&task, WaitKind::Wake, Some(deadline)) {
                let left: Vec<_> = flags.iter().map(|f| f.load(SeqCst)).collect();
                panic!("lost wake-up: parked for {WATCHDOG:?} with flags {left:?}, {taken} taken");
            }
        }
    }
    for u in unparkers {
        u.join().unwrap();
    }
    assert_eq!(taken, K * M);
    assert_eq!(unparks.load(SeqCst), K * M);
    assert!(parks > 0);
    assert_eq!(mode_of(&task), 0);
}

#[test]
fn an_os_thread_is_never_held() {
    let task = os_task("parker");
    let parker = {
        let task = task.clone();
        std::thread::spawn(move || word::park_os(&task, WaitKind::Wake, far()))
    };
    wait_until("the parker parked", || {
        mode_of(&task) == WaitKind::Wake.mode()
    });
    assert!(hold_parked(&task).is_none());
    assert_eq!(mode_of(&task), WaitKind::Wake.mode());
    unpark(&task, WaitKind::Wake);
    assert!(parker.join().unwrap());
}

/// A green thread that parks in `epoch`, a timer for an older epoch is due: nothing happens. Then
/// a timer for its own epoch: it wakes, and its park reports a timeout. The timers are put in the
/// runtime's wheel by hand, as a park with a deadline would, so the stale one is "late" for sure.
#[test]
fn a_stale_timer_does_nothing_and_a_current_one_times_the_park_out() {
    run(Config::new().workers(2), || {
        let slot: Arc<OnceLock<Arc<Task>>> = Arc::new(OnceLock::new());
        let parker = {
            let slot = slot.clone();
            crate::thread::spawn(move || {
                slot.set(crate::rt::task::current::current_thread_task())
                    .ok()
                    .unwrap();
                // A first park, woken by a token: an older epoch exists.
                let first = park(WaitKind::Wake, None);
                (first, park(WaitKind::Wake, None))
            })
        };
        wait_until("the green thread published its task", || {
            slot.get().is_some()
        });
        let task = slot.get().unwrap().clone();
        wait_until("the first park", || mode_of(&task) == WaitKind::Wake.mode());
        unpark(&task, WaitKind::Wake);
        let mut e = 0;
        wait_until("the second park", || {
            let s = task.state.load(SeqCst);
            e = epoch(s);
            s & MODE_MASK == WaitKind::Wake.mode() && s & WAKE_TOKEN == 0
        });
        let fire = |epoch: u32| {
            let rt = task.green.as_ref().unwrap().rt();
            let (_, earliest) = rt.timers.insert(Instant::now(), task.clone(), epoch);
            if earliest {
                rt.poke_timer_watcher();
            }
            wait_until("the timer fired", || rt.timers.is_empty());
        };
        let stale = e.wrapping_sub(1) & (u32::MAX >> EPOCH_SHIFT);
        fire(stale);
        crate::thread::sleep(Duration::from_millis(20)); // let the worker act on it, if it would
        let s = task.state.load(SeqCst);
        assert_eq!(
            s & MODE_MASK,
            WaitKind::Wake.mode(),
            "a stale timer woke the park"
        );
        assert_eq!(s & TIMEOUT, 0, "a stale timer left TIMEOUT");
        assert_eq!(epoch(s), e);
        assert!(!task.is_finished());
        fire(e);
        let (first, second) = parker.join().unwrap();
        assert!(first, "the first park was woken by its token");
        assert!(
            !second,
            "the current epoch's timer ends the park as a timeout"
        );
    });
}

/// A timer for the current epoch that fires while the green thread still runs leaves TIMEOUT; the
/// next park starts a new epoch, so that TIMEOUT is void and does not end it.
#[test]
fn a_timeout_left_while_running_does_not_end_the_next_park() {
    run(Config::new().workers(2), || {
        let slot: Arc<OnceLock<Arc<Task>>> = Arc::new(OnceLock::new());
        let saw_timeout = Arc::new(AtomicBool::new(false));
        let parker = {
            let (slot, saw_timeout) = (slot.clone(), saw_timeout.clone());
            crate::thread::spawn(move || {
                let me = crate::rt::task::current::current_thread_task();
                slot.set(me.clone()).ok().unwrap();
                let rt = me.green.as_ref().unwrap().rt();
                let e = epoch(me.state.load(SeqCst));
                let (_, earliest) = rt.timers.insert(Instant::now(), me.clone(), e);
                if earliest {
                    rt.poke_timer_watcher();
                }
                let start = Instant::now();
                while me.state.load(SeqCst) & TIMEOUT == 0 && start.elapsed() < WATCHDOG {
                    crate::thread::yield_now();
                }
                saw_timeout.store(me.state.load(SeqCst) & TIMEOUT != 0, SeqCst);
                park(WaitKind::Wake, Some(Instant::now() + WATCHDOG))
            })
        };
        wait_until("the green thread published its task", || {
            slot.get().is_some()
        });
        let task = slot.get().unwrap().clone();
        wait_until("the park", || {
            mode_of(&task) == WaitKind::Wake.mode() || task.is_finished()
        });
        assert!(
            !task.is_finished(),
            "the old TIMEOUT ended the park at once"
        );
        assert_eq!(task.state.load(SeqCst) & TIMEOUT, 0);
        unpark(&task, WaitKind::Wake);
        assert!(parker.join().unwrap(), "the park ended by its token");
        assert!(saw_timeout.load(SeqCst), "the timer never set TIMEOUT");
    });
}

/// A parked green thread held (as a dump holds it): a wake-up meanwhile is kept, not acted on,
/// and the hold's end schedules the thread; a hold without one puts the old mode back.
#[test]
fn a_wake_during_a_hold_is_delayed_not_lost() {
    run(Config::new().workers(2), || {
        let slot: Arc<OnceLock<Arc<Task>>> = Arc::new(OnceLock::new());
        let returned = Arc::new(AtomicBool::new(false));
        let parker = {
            let (slot, returned) = (slot.clone(), returned.clone());
            crate::thread::spawn(move || {
                slot.set(crate::rt::task::current::current_thread_task())
                    .ok()
                    .unwrap();
                let r = park(WaitKind::Wake, None);
                returned.store(true, SeqCst);
                r
            })
        };
        wait_until("the green thread published its task", || {
            slot.get().is_some()
        });
        let task = slot.get().unwrap().clone();
        wait_until("the park", || mode_of(&task) == WaitKind::Wake.mode());
        // A hold with nothing arriving: back to parked for WAKE.
        let held = hold_parked(&task).expect("a parked green thread can be held");
        assert_eq!(mode_of(held.task()), MODE_HELD);
        assert!(hold_parked(&task).is_none(), "held twice");
        drop(held);
        assert_eq!(mode_of(&task), WaitKind::Wake.mode());
        // A hold with a wake-up (and a USER token, which is not its kind) arriving.
        let held = hold_parked(&task).unwrap();
        unpark(&task, WaitKind::User);
        unpark(&task, WaitKind::Wake);
        let s = task.state.load(SeqCst);
        assert_eq!(s & MODE_MASK, MODE_HELD, "a waker took the held thread");
        assert_eq!(s & (USER_TOKEN | WAKE_TOKEN), USER_TOKEN | WAKE_TOKEN);
        crate::thread::sleep(Duration::from_millis(20));
        assert!(!returned.load(SeqCst), "the held thread ran");
        drop(held);
        assert!(parker.join().unwrap(), "woken by its token");
        assert_eq!(
            task.state.load(SeqCst) & (USER_TOKEN | WAKE_TOKEN),
            USER_TOKEN,
            "the WAKE token consumed, the USER one left"
        );
    });
}
