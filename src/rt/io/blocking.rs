//! The blocking pool: OS threads for work that can only block (name resolution through
//! `getaddrinfo`, a file read, a foreign library's blocking call), so that it never blocks a worker.
//!
//! A job is queued under one lock; an idle pool thread takes it, or, if none is idle and fewer
//! than [`MAX_THREADS`] exist, a new one is started for it. A pool thread that finds no job for
//! [`KEEP_ALIVE`] retires. The caller of [`block_on_io`] waits on a one-shot slot through `park`,
//! so a green thread parks (its worker runs others) and a plain OS thread sleeps.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::rt::park::{self, WaitKind};
use crate::rt::task::Task;

/// Most pool threads alive at once; more jobs queue. tokio's default is 512 as well: high enough
/// for slow DNS bursts, low enough to bound memory (each thread reserves an OS stack).
const MAX_THREADS: usize = 512;
/// How long an idle pool thread waits for a job before it retires (tokio uses 10 s too).
const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    state: Mutex<State>,
    job_ready: Condvar,
}

struct State {
    /// Jobs with their ids (so a submitter can take its own back).
    queue: VecDeque<(u64, Job)>,
    next_id: u64,
    threads: usize,
    /// Threads waiting for a job and not yet claimed by a submitter.
    idle: usize,
    /// Claims made by submitters (each `notify_one`) not yet taken by a waking thread; they tell
    /// a real wake-up from a spurious one.
    wakeups: usize,
}

static POOL: Pool = Pool {
    state: Mutex::new(State {
        queue: VecDeque::new(),
        next_id: 0,
        threads: 0,
        idle: 0,
        wakeups: 0,
    }),
    job_ready: Condvar::new(),
};

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`. On error the job was taken back unrun (no thread exists to run it).
    fn submit(&'static self, job: Job) -> std::io::Result<()> {
        // Called from green threads: no preemption while the pool's lock is held.
        let _section = crate::rt::sys::lock::Section::enter();
        let mut st = self.lock();
        let id = st.next_id;
        st.next_id += 1;
        st.queue.push_back((id, job));
        if st.idle > 0 {
            st.idle -= 1;
            st.wakeups += 1;
            drop(st);
            self.job_ready.notify_one();
            return Ok(());
        }
        if st.threads >= MAX_THREADS {
            return Ok(()); // a busy thread takes it when done (threads never retire with jobs queued)
        }
        st.threads += 1;
        drop(st);
        let spawned = crate::rt::sys::os_thread::spawn(
            std::thread::Builder::new().name("smarm-blocking".into()),
            move || self.thread_main(),
        );
        if let Err(e) = spawned {
            let mut st = self.lock();
            st.threads -= 1;
            if st.threads == 0
                && let Some(i) = st.queue.iter().position(|(j, _)| *j == id)
            {
                drop(st.queue.remove(i));
                return Err(e);
            }
        }
        Ok(())
    }

    fn thread_main(&'static self) {
        let _internal = crate::rt::census::Internal::enter();
        let mut st = self.lock();
        loop {
            if let Some((_, job)) = st.queue.pop_front() {
                drop(st);
                job();
                st = self.lock();
                continue;
            }
            st.idle += 1;
            loop {
                let (guard, res) = self
                    .job_ready
                    .wait_timeout(st, KEEP_ALIVE)
                    .unwrap_or_else(|e| e.into_inner());
                st = guard;
                if st.wakeups > 0 {
                    st.wakeups -= 1; // claimed: the submitter took us off `idle`
                    break;
                }
                if res.timed_out() {
                    st.idle -= 1;
                    if st.queue.is_empty() {
                        st.threads -= 1;
                        return;
                    }
                    break;
                }
                // Spurious: still idle, wait on.
            }
        }
    }
}

/// The slot a job's result comes back through.
struct Slot<T> {
    result: Mutex<Option<std::thread::Result<T>>>,
    done: AtomicBool,
    waiter: Arc<Task>,
}

/// Runs `f` on the blocking pool and blocks the calling thread until it returns; a green thread
/// parks meanwhile, so its worker keeps running others. Use it for calls that block the OS thread
/// (a `std::fs` read, `getaddrinfo`, a C library). Called from a plain OS thread, `f` simply runs
/// there. A panic in `f` is resumed in the caller.
///
/// # Examples
///
/// ```
/// let n = smarm::thread::spawn(|| smarm::rt::block_on_io(|| std::fs::read("Cargo.toml").map(|v| v.len())))
///     .join()
///     .unwrap()
///     .unwrap();
/// assert!(n > 0);
/// ```
pub fn block_on_io<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    if crate::rt::task::current::current_task().is_none() {
        return f();
    }
    let slot = Slot {
        result: Mutex::new(None),
        done: AtomicBool::new(false),
        waiter: crate::rt::task::current::current_thread_task(),
    };
    let slot_ref: &Slot<T> = &slot;
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
        let r = panic::catch_unwind(AssertUnwindSafe(f));
        *slot_ref.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        let waiter = slot_ref.waiter.clone();
        slot_ref.done.store(true, Ordering::Release);
        // `slot` may be gone from here on; only our own clone of the waiter is used.
        park::unpark(&waiter, WaitKind::Wake);
    });
    // The job borrows `f`'s captures and `slot` from this frame.
    // SAFETY: we do not leave this frame (return or unwind) before the job has stored `done`,
    // after which it touches neither: the wait loop below cannot panic, and a job that cannot
    // be queued is dropped unrun right here.
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
    if let Err(e) = POOL.submit(job) {
        panic!("smarm: failed to start a blocking-pool thread: {e}");
    }
    while !slot.done.load(Ordering::Acquire) {
        park::park_for(WaitKind::Wake, park::WaitReason::Io, None);
    }
    let r = slot
        .result
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("block_on_io: the job finished without a result");
    match r {
        Ok(v) => v,
        Err(payload) => panic::resume_unwind(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn runs_off_the_worker_and_returns() {
        let worker = crate::thread::spawn(|| {
            let here = std::thread::current().id();
            block_on_io(move || std::thread::current().id() != here)
        });
        assert!(worker.join().unwrap());
    }

    #[test]
    fn many_blocking_calls_do_not_block_the_workers() {
        // 64 green threads each block for 50 ms in the pool: with at most a few workers this
        // only finishes in well under 64 * 50 ms if the pool runs them side by side.
        static DONE: AtomicUsize = AtomicUsize::new(0);
        let t0 = std::time::Instant::now();
        let hs: Vec<_> = (0..64)
            .map(|_| {
                crate::thread::spawn(|| {
                    block_on_io(|| std::thread::sleep(Duration::from_millis(50)));
                    DONE.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(DONE.load(Ordering::Relaxed), 64);
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    }

    #[test]
    fn a_panic_is_resumed_in_the_caller() {
        let r = crate::thread::spawn(|| block_on_io(|| panic!("boom"))).join();
        assert!(r.is_err());
    }

    #[test]
    fn borrows_from_the_caller() {
        let out = crate::thread::spawn(|| {
            let mut v = vec![1, 2, 3];
            block_on_io(|| v.push(4));
            v
        })
        .join()
        .unwrap();
        assert_eq!(out, [1, 2, 3, 4]);
    }
}
