//! Scoped threads: `thread::scope`, `Scope`, `ScopedJoinHandle`, as std's.
//!
//! Each scoped thread shares a `Packet` with its handle, as std does. The packet holds the result;
//! when the last of the two lets go of it, the result is dropped (or was taken by `join`) *before*
//! the scope's running count goes down, so nothing a scoped thread returns outlives the borrowed
//! environment. An `Err` result dropped without being joined marks the scope as panicked, and
//! `scope` then panics with std's message once every thread has finished.

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{Builder, JoinHandle, Result, Thread, current};
use crate::rt::park::{self, WaitKind};

/// A scope in which threads that borrow from the enclosing stack frame can be spawned.
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

struct ScopeData {
    running: AtomicUsize,
    a_thread_panicked: AtomicBool,
    main: Thread,
}

impl ScopeData {
    fn increment(&self) {
        // Like std: overflowing the count is a bug we refuse to continue past.
        if self.running.fetch_add(1, Ordering::Relaxed) > usize::MAX / 2 {
            self.decrement(false);
            panic!("too many running threads in thread scope");
        }
    }

    fn decrement(&self, panicked: bool) {
        if panicked {
            self.a_thread_panicked.store(true, Ordering::Relaxed);
        }
        if self.running.fetch_sub(1, Ordering::Release) == 1 {
            park::unpark(self.main.task(), WaitKind::Wake);
        }
    }
}

/// An owned permission to join a scoped thread, as `std::thread::ScopedJoinHandle`.
pub struct ScopedJoinHandle<'scope, T> {
    handle: JoinHandle<()>,
    packet: Arc<Packet<'scope, T>>,
}

struct Packet<'scope, T> {
    scope: Arc<ScopeData>,
    result: UnsafeCell<Option<Result<T>>>,
    _marker: PhantomData<Option<&'scope ScopeData>>,
}

// SAFETY: `result` is written once by the scoped thread before it drops its reference, and read
// by the handle only after `join` observed that thread finish (join's handshake orders them).
unsafe impl<T: Send> Sync for Packet<'_, T> {}

impl<T> Drop for Packet<'_, T> {
    fn drop(&mut self) {
        let unhandled_panic = matches!(self.result.get_mut(), Some(Err(_)));
        // Drop the result first: it may borrow from the scope's environment.
        if catch_unwind(AssertUnwindSafe(|| *self.result.get_mut() = None)).is_err() {
            eprintln!("thread result panicked on drop");
            std::process::abort();
        }
        self.scope.decrement(unhandled_panic);
    }
}

/// Creates a scope for spawning threads that borrow non-`'static` data; returns once every thread
/// spawned in it has finished. As with std, a panic in `f` is resumed after that, and a scoped
/// thread's panic that nobody observed through `join` makes `scope` panic.
///
/// ```
/// use smarm::thread;
/// let mut data = vec![1, 2, 3];
/// let mut x = 0;
/// thread::scope(|s| {
///     s.spawn(|| println!("borrowed: {data:?}"));
///     s.spawn(|| x += data[0] + data[2]);
/// });
/// data.push(4);
/// assert_eq!(x, 4);
/// ```
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        data: Arc::new(ScopeData {
            running: AtomicUsize::new(0),
            a_thread_panicked: AtomicBool::new(false),
            main: current(),
        }),
        env: PhantomData,
        scope: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    // Wait for every scoped thread, whatever `f` did. The runtime's wake token (not the user's
    // park token, which std's scope would consume) carries the wake-up.
    while scope.data.running.load(Ordering::Acquire) != 0 {
        park::park_for(WaitKind::Wake, park::WaitReason::Join, None);
    }
    match result {
        Err(e) => resume_unwind(e),
        Ok(_) if scope.data.a_thread_panicked.load(Ordering::Relaxed) => {
            panic!("a scoped thread panicked")
        }
        Ok(r) => r,
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a scoped thread, as `std::thread::Scope::spawn`. Panics if it cannot be created.
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        Builder::new()
            .spawn_scoped(self, f)
            .expect("failed to spawn thread")
    }
}

impl Builder {
    /// Spawns a scoped thread with this configuration, as `std::thread::Builder::spawn_scoped`.
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let packet: Arc<Packet<'scope, T>> = Arc::new(Packet {
            scope: scope.data.clone(),
            result: UnsafeCell::new(None),
            _marker: PhantomData,
        });
        let their_packet = packet.clone();
        let main = move || {
            let r = catch_unwind(AssertUnwindSafe(f));
            // SAFETY: only this thread writes the result, before dropping its reference.
            unsafe { *their_packet.result.get() = Some(r) };
            drop(their_packet);
        };
        scope.data.increment();
        // SAFETY: `scope` does not return before this thread has dropped its packet (the running
        // count only reaches zero in the packet's Drop), so what `f` borrows outlives the thread.
        match unsafe { self.spawn_unchecked(main) } {
            Ok(handle) => Ok(ScopedJoinHandle { handle, packet }),
            // The failed spawn dropped the closure and its packet reference; dropping ours runs
            // `Packet::drop`, which takes this thread off the running count again.
            Err(e) => {
                drop(packet);
                Err(e)
            }
        }
    }
}

impl<'scope, T> ScopedJoinHandle<'scope, T> {
    /// The scoped thread's handle.
    pub fn thread(&self) -> &Thread {
        self.handle.thread()
    }

    /// Waits for the thread to finish: `Ok` with its result, or `Err` with its panic payload.
    pub fn join(self) -> Result<T> {
        // The trampoline sees `Ok(())` always: the scoped closure catches its own panic.
        let _ = self.handle.join();
        // SAFETY: the thread stored the result before it finished, and `join` synchronised with
        // that; nobody else takes it.
        unsafe { (*self.packet.result.get()).take() }.expect("scoped thread result missing")
    }

    /// Whether the thread has finished running.
    pub fn is_finished(&self) -> bool {
        Arc::strong_count(&self.packet) == 1
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field(
                "num_running_threads",
                &self.data.running.load(Ordering::Relaxed),
            )
            .field(
                "a_thread_panicked",
                &self.data.a_thread_panicked.load(Ordering::Relaxed),
            )
            .field("main_thread", &self.data.main)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle").finish_non_exhaustive()
    }
}
