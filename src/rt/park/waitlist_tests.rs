//! Unit tests of the wait list (see the module docs of `rt::park::waitlist`): FIFO `notify_one`,
//! `notify_all`, a timed-out waiter unlinking itself, and a notify racing a timeout counting as
//! exactly one of the two. Waiters are plain OS threads or green threads (of the global runtime,
//! or of a `run`), notifiers OS or green threads.

use super::*;
use crate::rt::{Config, run};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicU8, AtomicUsize};
use std::time::Duration;

const WATCHDOG: Duration = Duration::from_secs(20);

fn far() -> Option<Instant> {
    Some(Instant::now() + WATCHDOG)
}

/// Spins (yielding a green thread, sleeping an OS one) until `cond` holds; panics after
/// [`WATCHDOG`].
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WATCHDOG, "watchdog: never saw {what}");
        if crate::rt::task::current::current_task().is_some() {
            crate::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// The tags of the linked nodes, front first.
fn tags<S>(wl: &WaitList<S>) -> Vec<u8> {
    let l = wl.lock();
    // SAFETY: linked nodes are alive while their waiters block, and we hold the lock.
    l.guard.1.iter().map(|p| unsafe { (*p.0).tag }).collect()
}

/// One wait on `wl` with a node tagged `tag`: `true` if notified.
fn wait_tagged<S>(wl: &WaitList<S>, tag: u8, deadline: Option<Instant>) -> bool {
    let l = wl.lock();
    let mut node = Node::new().tagged(tag);
    wl.wait(l, &mut node, deadline)
}

type Joiner<T> = Box<dyn FnOnce() -> T>;

/// Runs `f` on a new green thread (of the caller's runtime, or the global one) or OS thread.
fn spawn<T: Send + 'static>(green: bool, f: impl FnOnce() -> T + Send + 'static) -> Joiner<T> {
    if green {
        let h = crate::thread::spawn(f);
        Box::new(move || h.join().unwrap())
    } else {
        let h = std::thread::spawn(f);
        Box::new(move || h.join().unwrap())
    }
}

/// `n` waiters, linked one after another (each spawned once the one before is linked), woken by
/// `notify_one` one at a time: they leave in the order they came, and each sees `true`.
fn fifo(waiters_green: impl Fn(usize) -> bool) {
    const N: usize = 6;
    let wl: Arc<WaitList<()>> = Arc::new(WaitList::new(()));
    let seq = Arc::new(AtomicUsize::new(0));
    let order: Arc<Vec<AtomicU8>> = Arc::new((0..N).map(|_| AtomicU8::new(u8::MAX)).collect());
    let mut joins = Vec::new();
    for i in 0..N {
        let (wl2, seq, order) = (wl.clone(), seq.clone(), order.clone());
        joins.push(spawn(waiters_green(i), move || {
            let r = wait_tagged(&wl2, i as u8, far());
            order[seq.fetch_add(1, SeqCst)].store(i as u8, SeqCst);
            r
        }));
        wait_until("the waiter linked", || tags(&wl).len() == i + 1);
    }
    assert_eq!(tags(&wl), (0..N as u8).collect::<Vec<_>>());
    for i in 0..N {
        let mut l = wl.lock();
        assert_eq!(l.front_tag(), Some(i as u8));
        let w = l.notify_one().expect("a waiter is linked");
        drop(l);
        w.wake();
        // The waiter takes its slot (`seq`) and then fills it: wait for the fill, not the take.
        wait_until("the notified waiter returned", || {
            order[i].load(SeqCst) != u8::MAX
        });
        assert_eq!(seq.load(SeqCst), i + 1, "more than one waiter woken");
        assert_eq!(order[i].load(SeqCst), i as u8, "woken out of order");
    }
    let mut l = wl.lock();
    assert!(l.is_empty());
    assert!(l.notify_one().is_none());
    assert_eq!(l.front_tag(), None);
    drop(l);
    for j in joins {
        assert!(j(), "a notified waiter reported a timeout");
    }
}

#[test]
fn notify_one_is_fifo_for_os_waiters() {
    fifo(|_| false);
}

#[test]
fn notify_one_is_fifo_for_green_and_os_waiters_mixed() {
    // Green waiters of the global runtime, an OS notifier.
    fifo(|i| i % 2 == 0);
}

#[test]
fn notify_one_is_fifo_with_a_green_notifier() {
    run(Config::new().workers(2), || fifo(|i| i % 3 != 1));
}

#[test]
fn notify_all_wakes_every_waiter() {
    const N: usize = 8;
    let wl: Arc<WaitList<u32>> = Arc::new(WaitList::new(0));
    let joins: Vec<_> = (0..N)
        .map(|i| {
            let wl = wl.clone();
            spawn(i % 2 == 0, move || {
                let mut l = wl.lock();
                *l += 1;
                let mut node = Node::new().tagged(i as u8);
                wl.wait(l, &mut node, far())
            })
        })
        .collect();
    wait_until("every waiter linked", || tags(&wl).len() == N);
    let mut l = wl.lock();
    assert_eq!(
        *l, N as u32,
        "the owner's state is kept under the same lock"
    );
    let woken = l.notify_all();
    assert_eq!(woken.len(), N);
    assert!(l.is_empty());
    assert!(l.notify_all().is_empty());
    drop(l);
    for w in woken {
        w.wake();
    }
    for j in joins {
        assert!(j(), "a notified waiter reported a timeout");
    }
    assert!(tags(&wl).is_empty());
}

/// Waiters 0, 1, 2 in that order; 1 has a short deadline. It returns `false`, unlinked, and the
/// list goes on as [0, 2].
fn timed_out_waiter_unlinks(green: bool) {
    let wl: Arc<WaitList<()>> = Arc::new(WaitList::new(()));
    let timed_out = Arc::new(AtomicUsize::new(0));
    let mut joins = Vec::new();
    for i in 0..3u8 {
        let (wl2, timed_out) = (wl.clone(), timed_out.clone());
        joins.push(spawn(green, move || {
            let deadline = if i == 1 {
                Some(Instant::now() + Duration::from_millis(20))
            } else {
                far()
            };
            let r = wait_tagged(&wl2, i, deadline);
            if !r {
                timed_out.fetch_add(1, SeqCst);
            }
            r
        }));
        wait_until("the waiter linked", || {
            tags(&wl).len() == usize::from(i) + 1
        });
    }
    let mut joins = joins.into_iter();
    let (j0, j1, j2) = (
        joins.next().unwrap(),
        joins.next().unwrap(),
        joins.next().unwrap(),
    );
    wait_until("the timeout", || timed_out.load(SeqCst) == 1);
    assert!(!j1(), "the timed-out waiter reports a timeout");
    assert_eq!(tags(&wl), [0, 2], "it unlinked itself, and only itself");
    for (expect, j) in [(0, j0), (2, j2)] {
        let mut l = wl.lock();
        assert_eq!(l.front_tag(), Some(expect));
        let w = l.notify_one().unwrap();
        drop(l);
        w.wake();
        assert!(j());
    }
    assert!(wl.lock().is_empty());
    assert_eq!(timed_out.load(SeqCst), 1);
}

#[test]
fn a_timed_out_os_waiter_unlinks_itself() {
    timed_out_waiter_unlinks(false);
}

#[test]
fn a_timed_out_green_waiter_unlinks_itself() {
    timed_out_waiter_unlinks(true);
}

/// One waiter thread waits `ROUNDS` times with short deadlines; the notifier calls `notify_one`
/// around each deadline. Each round, the waiter reports "notified" exactly when the notifier took
/// its node: a timeout that lost the race to a notify counts as notified, and a notify that found
/// the list empty woke nobody. The waiter's task keeps the late wake-ups' stale tokens between
/// rounds, which must not pass for a notification either.
fn notify_races_timeout(waiter_green: bool, rounds: usize) -> (usize, usize) {
    let wl: Arc<WaitList<()>> = Arc::new(WaitList::new(()));
    // Round r: the notifier stores 2r+1 to start it, the waiter 2r+2 (plus its result) to end it.
    let turn = Arc::new(AtomicUsize::new(0));
    let result = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (wl, turn, result) = (wl.clone(), turn.clone(), result.clone());
        spawn(waiter_green, move || {
            for r in 0..rounds {
                wait_until("the round's start", || turn.load(SeqCst) == 2 * r + 1);
                let timeout = Duration::from_micros(20 + (r as u64 * 37) % 300);
                let notified = wait_tagged(&wl, 0, Some(Instant::now() + timeout));
                result.store(notified, SeqCst);
                turn.store(2 * r + 2, SeqCst);
            }
        })
    };
    let (mut notified, mut timed_out) = (0, 0);
    for r in 0..rounds {
        turn.store(2 * r + 1, SeqCst);
        wait_until("the waiter linked or done", || {
            !wl.lock().is_empty() || turn.load(SeqCst) == 2 * r + 2
        });
        let delay = Duration::from_micros((r as u64 * 53) % 350);
        let t0 = Instant::now();
        while t0.elapsed() < delay {
            std::hint::spin_loop();
        }
        let mut l = wl.lock();
        let took = l.notify_one();
        drop(l);
        let took = took.map(Wake::wake).is_some();
        wait_until("the round's end", || turn.load(SeqCst) == 2 * r + 2);
        let saw = result.load(SeqCst);
        assert_eq!(
            saw, took,
            "round {r}: the waiter saw notified={saw}, the notifier took a node: {took}"
        );
        assert!(wl.lock().is_empty(), "round {r}: a node left linked");
        if took {
            notified += 1;
        } else {
            timed_out += 1;
        }
    }
    waiter();
    (notified, timed_out)
}

#[test]
fn a_notify_racing_a_timeout_counts_once_os() {
    let (n, t) = notify_races_timeout(false, 300);
    assert_eq!(n + t, 300);
}

#[test]
fn a_notify_racing_a_timeout_counts_once_green() {
    // A green waiter of the global runtime, an OS notifier.
    let (n, t) = notify_races_timeout(true, 300);
    assert_eq!(n + t, 300);
}

#[test]
fn a_notify_racing_a_timeout_counts_once_all_green() {
    let (n, t) = run(Config::new().workers(2), || notify_races_timeout(true, 200));
    assert_eq!(n + t, 200);
}
