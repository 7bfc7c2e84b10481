//! Unit tests of the idle/searching protocol (the numbered rules in `idle.rs`'s module docs): the
//! counters after each transition, and a multi-threaded model of the worker loop that checks the
//! counters' invariants while it runs and that no work is stranded.

use super::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Acquire};
use std::sync::{Arc, Barrier, Condvar};
use std::time::{Duration, Instant};

const WATCHDOG: Duration = Duration::from_secs(20);

/// (searching, unparked, workers) as the state word and `num_workers` say.
fn counts(idle: &Idle) -> (usize, usize, usize) {
    let s = idle.state.load(SeqCst);
    (
        s & SEARCH_MASK,
        s >> UNPARK_SHIFT,
        idle.num_workers.load(SeqCst),
    )
}

/// The sleeper list, sorted.
fn sleepers(idle: &Idle) -> Vec<usize> {
    let mut v = idle.lock().clone();
    v.sort_unstable();
    v
}

/// Under the sleeper lock every worker is either on the list or counted unparked, once, and every
/// searcher is an unparked worker.
fn check_invariants(idle: &Idle) {
    let guard = idle.lock();
    let list: &Vec<usize> = &guard;
    let (searching, unparked, workers) = counts(idle);
    assert_eq!(
        list.len() + unparked,
        workers,
        "sleepers {list:?} + unparked {unparked} != workers {workers}"
    );
    assert!(
        searching <= unparked,
        "{searching} searching, {unparked} unparked"
    );
    let distinct: BTreeSet<_> = list.iter().collect();
    assert_eq!(
        distinct.len(),
        list.len(),
        "a worker asleep twice: {list:?}"
    );
}

#[test]
fn a_new_idle_has_everyone_awake_and_wakes_nobody() {
    let idle = Idle::new(4, 8);
    assert_eq!(counts(&idle), (0, 4, 4));
    assert_eq!(idle.sleeping(), 0);
    assert_eq!(idle.worker_to_notify(), None, "nobody sleeps");
    assert_eq!(idle.another_sleeper(0), None);
    assert!(!idle.is_parked(0));
    check_invariants(&idle);
}

#[test]
fn parking_and_notifying_move_workers_between_the_list_and_the_counts() {
    let idle = Idle::new(4, 4);
    assert!(
        !idle.transition_to_parked(3, false),
        "not searching: not the last searcher"
    );
    assert_eq!(counts(&idle), (0, 3, 4));
    assert_eq!(idle.sleeping(), 1);
    assert!(idle.is_parked(3));
    check_invariants(&idle);
    // Rule 1: nobody searches, one sleeps: it is woken, counted unparked and searching at once.
    assert_eq!(idle.worker_to_notify(), Some(3));
    assert_eq!(counts(&idle), (1, 4, 4));
    assert!(!idle.is_parked(3));
    assert_eq!(idle.sleeping(), 0);
    check_invariants(&idle);
    // Waking itself finds it gone: the notifier already took it off the list.
    assert!(!idle.unpark_self(3));
    assert_eq!(counts(&idle), (1, 4, 4));
    // Rule 2: it finds work and stops searching; it was the last searcher.
    assert!(idle.transition_from_searching());
    assert_eq!(counts(&idle), (0, 4, 4));
    check_invariants(&idle);
}

#[test]
fn a_burst_of_notifies_wakes_one_worker_while_it_searches() {
    let idle = Idle::new(4, 4);
    for w in 0..4 {
        idle.transition_to_parked(w, false);
    }
    assert_eq!(counts(&idle), (0, 0, 4));
    let first = idle.worker_to_notify().expect("all sleep, none searches");
    for _ in 0..10 {
        assert_eq!(
            idle.worker_to_notify(),
            None,
            "one searcher is enough (rule 1)"
        );
    }
    assert_eq!(counts(&idle), (1, 1, 4));
    assert_eq!(idle.sleeping(), 3);
    // Once it stops searching, the next push wakes another sleeper, and so on: each exactly once.
    let mut woken = vec![first];
    while let Some(w) = {
        assert!(
            idle.transition_from_searching(),
            "the only searcher is the last"
        );
        idle.worker_to_notify()
    } {
        woken.push(w);
        check_invariants(&idle);
    }
    woken.sort_unstable();
    assert_eq!(woken, [0, 1, 2, 3]);
    assert_eq!(counts(&idle), (0, 4, 4));
    assert_eq!(idle.worker_to_notify(), None, "everyone is awake");
}

#[test]
fn at_most_half_the_workers_start_searching_and_the_last_one_out_is_told() {
    let idle = Idle::new(4, 4);
    assert!(idle.transition_to_searching());
    assert!(idle.transition_to_searching());
    assert!(
        !idle.transition_to_searching(),
        "rule 4: 2 of 4 already search"
    );
    assert_eq!(counts(&idle), (2, 4, 4));
    assert!(!idle.transition_from_searching(), "one searcher remains");
    assert!(idle.transition_to_searching(), "back under half");
    assert!(!idle.transition_to_searching());
    // Parking searchers: only the last one must re-check the queues (rule 3).
    assert!(!idle.transition_to_parked(0, true));
    assert_eq!(counts(&idle), (1, 3, 4));
    assert!(idle.transition_to_parked(1, true), "the last searcher");
    assert_eq!(counts(&idle), (0, 2, 4));
    check_invariants(&idle);
    // With sleepers and no searcher a push wakes one; a lone worker may always search.
    assert!(idle.worker_to_notify().is_some());
    let lone = Idle::new(1, 1);
    assert!(lone.transition_to_searching());
    assert!(!lone.transition_to_searching());
    assert!(lone.transition_to_parked(0, true));
    assert_eq!(counts(&lone), (0, 0, 1));
    assert_eq!(lone.worker_to_notify(), Some(0));
    assert_eq!(counts(&lone), (1, 1, 1));
}

#[test]
fn a_searcher_suppresses_wakes_until_it_leaves() {
    let idle = Idle::new(3, 3);
    idle.transition_to_parked(0, false);
    idle.transition_to_parked(1, false);
    assert!(idle.transition_to_searching(), "worker 2 searches");
    assert_eq!(idle.worker_to_notify(), None, "worker 2 will find the work");
    // Worker 2 finds nothing and parks as the last searcher: it must re-check; a push after that
    // point sees no searcher and wakes someone.
    assert!(idle.transition_to_parked(2, true));
    assert_eq!(counts(&idle), (0, 0, 3));
    let w = idle
        .worker_to_notify()
        .expect("no searcher: a sleeper is woken");
    assert!(w < 3);
    assert_eq!(counts(&idle), (1, 1, 3));
    check_invariants(&idle);
}

#[test]
fn unpark_self_and_another_sleeper_keep_the_counts() {
    let idle = Idle::new(3, 3);
    idle.transition_to_parked(0, false);
    idle.transition_to_parked(1, false);
    assert_eq!(idle.another_sleeper(0), Some(1));
    assert_eq!(idle.another_sleeper(1), Some(0));
    assert_eq!(idle.another_sleeper(2).map(|w| w < 2), Some(true));
    assert_eq!(sleepers(&idle), [0, 1], "another_sleeper takes nobody off");
    // A timer wakes worker 0 by itself: off the list, unparked, not searching.
    assert!(idle.unpark_self(0));
    assert_eq!(counts(&idle), (0, 2, 3));
    assert!(!idle.unpark_self(0), "only once");
    assert_eq!(counts(&idle), (0, 2, 3));
    assert_eq!(idle.another_sleeper(1), None, "1 is the only sleeper");
    assert_eq!(sleepers(&idle), [1]);
    check_invariants(&idle);
    assert_eq!(idle.worker_to_notify(), Some(1));
    assert_eq!(counts(&idle), (1, 3, 3));
    check_invariants(&idle);
}

#[test]
fn extra_workers_are_counted_in_and_out() {
    let idle = Idle::new(2, 4);
    idle.transition_to_parked(0, false);
    // The monitor hands worker 1's job to a new carrier: unparked and searching at once.
    idle.add_worker();
    assert_eq!(counts(&idle), (1, 2, 3));
    assert_eq!(idle.worker_to_notify(), None, "the new one searches");
    // The stuck carrier counts itself out; not searching.
    assert!(!idle.remove_worker(false));
    assert_eq!(counts(&idle), (1, 1, 2));
    check_invariants(&idle);
    // try_add_worker respects its limit.
    assert!(!idle.try_add_worker(2));
    assert_eq!(counts(&idle), (1, 1, 2));
    assert!(idle.try_add_worker(3));
    assert_eq!(counts(&idle), (2, 2, 3));
    assert!(!idle.try_add_worker(3));
    // The two searchers leave by remove_worker: only the last one out is told (rule 2).
    assert!(!idle.remove_worker(true));
    assert!(idle.remove_worker(true));
    assert_eq!(counts(&idle), (0, 0, 1));
    assert_eq!(idle.sleeping(), 1);
    check_invariants(&idle);
    assert_eq!(idle.worker_to_notify(), Some(0));
}

#[test]
fn sleeping_never_underflows_while_an_extra_worker_is_counted() {
    let idle = Idle::new(1, 2);
    idle.add_worker();
    assert_eq!(counts(&idle), (1, 2, 2));
    assert_eq!(idle.sleeping(), 0);
    assert!(idle.transition_to_parked(1, true));
    assert_eq!(idle.sleeping(), 1);
    check_invariants(&idle);
}

#[test]
fn concurrent_notifiers_wake_exactly_one_sleeper() {
    const W: usize = 6;
    const P: usize = 8;
    for _ in 0..20 {
        let idle = Arc::new(Idle::new(W, W));
        for w in 0..W {
            idle.transition_to_parked(w, false);
        }
        let barrier = Arc::new(Barrier::new(P));
        let got: usize = (0..P)
            .map(|_| {
                let (idle, barrier) = (idle.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    idle.worker_to_notify().is_some()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum();
        assert_eq!(got, 1, "rule 1: a burst wakes one");
        assert_eq!(counts(&idle), (1, 1, W));
        check_invariants(&idle);
    }
}

/// A worker's sleep: its flag, set by a notifier (like `Shared::unpark_worker`'s word).
struct Bed {
    notified: std::sync::Mutex<bool>,
    cv: Condvar,
}

/// A model of the worker loop (`worker.rs`: `run_task`, `steal`, `sleep`) over one shared queue,
/// `W` workers, and producers pushing in bursts. Workers sleep with no timeout, so a lost
/// wake-up strands work and the watchdog fails the test; a checker thread asserts the
/// counters' invariants under the sleeper lock all along.
#[test]
fn stress_the_protocol_with_os_threads() {
    const W: usize = 4;
    const PRODUCERS: usize = 2;
    const ITEMS: u64 = 10_000;
    let idle = Arc::new(Idle::new(W, W));
    let work = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let beds: Arc<Vec<Bed>> = Arc::new(
        (0..W)
            .map(|_| Bed {
                notified: std::sync::Mutex::new(false),
                cv: Condvar::new(),
            })
            .collect(),
    );
    let wake = {
        let beds = beds.clone();
        move |w: usize| {
            *beds[w].notified.lock().unwrap() = true;
            beds[w].cv.notify_one();
        }
    };
    let take = {
        let work = work.clone();
        move || {
            work.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                .is_ok()
        }
    };
    let workers: Vec<_> = (0..W)
        .map(|i| {
            let (idle, work, done, stop, beds) = (
                idle.clone(),
                work.clone(),
                done.clone(),
                stop.clone(),
                beds.clone(),
            );
            let (wake, take) = (wake.clone(), take.clone());
            std::thread::spawn(move || {
                let mut searching = false;
                let (mut ran, mut slept) = (0u64, 0u64);
                let notify = || {
                    if let Some(w) = idle.worker_to_notify() {
                        wake(w);
                    }
                };
                'outer: loop {
                    if stop.load(SeqCst) {
                        break;
                    }
                    let found = take()
                        || ((searching || idle.transition_to_searching()) && {
                            searching = true;
                            take()
                        });
                    if found {
                        // Rule 2.
                        if std::mem::replace(&mut searching, false)
                            && idle.transition_from_searching()
                        {
                            notify();
                        }
                        ran += 1;
                        done.fetch_add(1, SeqCst);
                        continue;
                    }
                    // Rule 3 (after a yield, which widens the window it is about).
                    std::thread::yield_now();
                    let was = std::mem::replace(&mut searching, false);
                    if idle.transition_to_parked(i, was) && work.load(SeqCst) > 0 {
                        if !idle.unpark_self(i) {
                            searching = true; // a producer woke us already
                        }
                        continue;
                    }
                    slept += 1;
                    loop {
                        {
                            let mut n = beds[i].notified.lock().unwrap();
                            while !*n && !stop.load(SeqCst) {
                                n = beds[i].cv.wait(n).unwrap();
                            }
                            *n = false;
                        }
                        if !idle.is_parked(i) {
                            searching = true; // woken by a producer
                            continue 'outer;
                        }
                        if stop.load(SeqCst) {
                            break 'outer;
                        }
                        if work.load(SeqCst) > 0 {
                            if !idle.unpark_self(i) {
                                searching = true;
                            }
                            continue 'outer;
                        }
                    }
                }
                (ran, slept, searching, idle.is_parked(i))
            })
        })
        .collect();
    let checker = {
        let (idle, stop) = (idle.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut checks = 0u64;
            while !stop.load(Acquire) {
                check_invariants(&idle);
                checks += 1;
                std::thread::yield_now();
            }
            checks
        })
    };
    // Producers push bursts, then wait until everything pushed so far is done: each such
    // quiescent point is where a lost wake-up would strand work for good.
    let pushed = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (idle, work, done, pushed) =
                (idle.clone(), work.clone(), done.clone(), pushed.clone());
            let wake = wake.clone();
            std::thread::spawn(move || {
                let mut mine = 0;
                let mut burst = 1 + p as u64;
                let mut round = 0u64;
                while mine < ITEMS / PRODUCERS as u64 {
                    round += 1;
                    if round.is_multiple_of(2) {
                        // Every other burst lands on a pool that is all asleep, or on its way.
                        let start = Instant::now();
                        while idle.sleeping() < W {
                            assert!(start.elapsed() < WATCHDOG, "workers never went to sleep");
                            std::thread::yield_now();
                        }
                    }
                    for _ in 0..burst.min(ITEMS / PRODUCERS as u64 - mine) {
                        work.fetch_add(1, SeqCst);
                        pushed.fetch_add(1, SeqCst);
                        mine += 1;
                        if let Some(w) = idle.worker_to_notify() {
                            wake(w);
                        }
                    }
                    burst = burst % 5 + 1;
                    let target = pushed.load(SeqCst);
                    let start = Instant::now();
                    while done.load(SeqCst) < target {
                        assert!(
                            start.elapsed() < WATCHDOG,
                            "lost wake-up: {} of {target} items done, {} queued, counts {:?}, \
                             asleep {:?}",
                            done.load(SeqCst),
                            work.load(SeqCst),
                            counts(&idle),
                            sleepers(&idle)
                        );
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let produced: Vec<_> = producers.into_iter().map(|p| p.join()).collect();
    if produced.iter().any(Result::is_err) {
        stop.store(true, SeqCst);
        panic!("a producer failed");
    }
    assert_eq!(done.load(SeqCst), ITEMS);
    stop.store(true, SeqCst);
    for w in 0..W {
        wake(w);
    }
    let ends: Vec<_> = workers.into_iter().map(|h| h.join().unwrap()).collect();
    let checks = checker.join().unwrap();
    assert!(checks > 0);
    assert_eq!(work.load(SeqCst), 0);
    assert_eq!(ends.iter().map(|e| e.0).sum::<u64>(), ITEMS, "items run");
    // The counts at the end agree with where each worker stopped.
    check_invariants(&idle);
    let (searching, unparked, workers) = counts(&idle);
    assert_eq!(workers, W);
    assert_eq!(searching, ends.iter().filter(|e| e.2).count());
    let asleep: Vec<_> = (0..W).filter(|&i| ends[i].3).collect();
    assert_eq!(sleepers(&idle), asleep);
    assert_eq!(unparked, W - asleep.len());
    assert!(
        ends.iter().map(|e| e.1).sum::<u64>() > 0,
        "nobody ever slept: the test did not exercise the protocol"
    );
}
