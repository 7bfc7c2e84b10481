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

/// A scope to spawn scoped threads in, as `std::thread::Scope`: threads that may borrow from
/// the enclosing stack frame, because [`scope`] does not return before they have all finished.
///
/// See [`scope`] for details.
///
/// # Examples
///
/// ```
/// use smarm::thread;
///
/// let words = ["green", "threads"];
/// let total = thread::scope(|s| {
///     let hs: Vec<_> = words.iter().map(|w| s.spawn(move || w.len())).collect();
///     hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
/// });
/// assert_eq!(total, 12);
/// ```
///
/// A scoped thread cannot escape its scope, nor can the borrows it holds:
///
/// ```compile_fail
/// use smarm::thread;
///
/// let data = vec![1, 2, 3];
/// let handle = thread::scope(|s| s.spawn(|| data.len()));
/// handle.join().unwrap();
/// ```
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

/// An owned permission to join a scoped thread (block on its termination), as
/// `std::thread::ScopedJoinHandle`; returned by [`Scope::spawn`] and [`Builder::spawn_scoped`].
///
/// Unlike a [`JoinHandle`], dropping it does not let the thread run past the scope: [`scope`]
/// waits for every thread spawned in it, joined or not.
///
/// # Examples
///
/// ```
/// use smarm::thread;
///
/// let mut v = vec![1, 2, 3];
/// thread::scope(|s| {
///     let handle = s.spawn(|| v.iter().sum::<i32>());
///     assert_eq!(handle.join().unwrap(), 6);
/// });
/// v.push(4); // the borrow ended with the scope
/// assert_eq!(v.len(), 4);
/// ```
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

/// Creates a scope for spawning threads that borrow non-`'static` data, as
/// `std::thread::scope`.
///
/// The function `f` is passed a [`Scope`] object, through which scoped threads can be spawned.
/// Unlike non-scoped threads, scoped threads can borrow non-`'static` data, as the scope
/// guarantees all threads will be joined at the end of the scope: `scope` returns only once
/// every thread spawned in it has finished. Waiting there blocks the calling green thread, not
/// its worker, and works as well from an OS thread such as `main`.
///
/// # Panics
///
/// As with std, a panic in `f` is resumed after every scoped thread has finished, and a scoped
/// thread's panic that nobody observed through [`ScopedJoinHandle::join`] makes `scope` panic
/// with "a scoped thread panicked".
///
/// # Examples
///
/// ```
/// use smarm::thread;
///
/// let mut a = vec![1, 2, 3];
/// let mut x = 0;
///
/// thread::scope(|s| {
///     s.spawn(|| {
///         println!("hello from the first scoped thread");
///         // We can borrow `a` here.
///         assert_eq!(a, [1, 2, 3]);
///     });
///     s.spawn(|| {
///         println!("hello from the second scoped thread");
///         // We can even mutably borrow `x` here, because no other threads are using it.
///         x += a[0] + a[2];
///     });
///     println!("hello from the main thread");
/// });
///
/// // After the scope, we can modify and access our variables again:
/// a.push(4);
/// assert_eq!(x, a.len());
/// ```
///
/// An unjoined scoped thread's panic reaches the scope's caller:
///
/// ```
/// use smarm::thread;
///
/// let r = std::panic::catch_unwind(|| {
///     thread::scope(|s| {
///         s.spawn(|| panic!("lost"));
///     })
/// });
/// assert!(r.is_err());
/// ```
///
/// A scoped thread cannot borrow anything that the scope outlives:
///
/// ```compile_fail,E0373
/// use smarm::thread;
///
/// thread::scope(|s| {
///     let local = vec![1, 2, 3];
///     s.spawn(|| local.len());
/// });
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
    /// Spawns a new green thread within a scope, returning a [`ScopedJoinHandle`] for it, as
    /// `std::thread::Scope::spawn`.
    ///
    /// Unlike non-scoped threads, threads spawned with this function may borrow non-`'static`
    /// data from outside the scope. See [`scope`] for details. The join handle may be used to
    /// join the thread and get its result; if it is not joined, the thread is still waited for
    /// at the end of the scope.
    ///
    /// # Panics
    ///
    /// If the green thread cannot be created. Use [`Builder::spawn_scoped`] to get the error.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// let data = [1, 2, 3, 4];
    /// let (left, right) = data.split_at(2);
    /// let sum = thread::scope(|s| {
    ///     let l = s.spawn(|| left.iter().sum::<i32>());
    ///     let r = s.spawn(|| right.iter().sum::<i32>());
    ///     l.join().unwrap() + r.join().unwrap()
    /// });
    /// assert_eq!(sum, 10);
    /// ```
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
    /// Spawns a new scoped thread using the settings set through this `Builder`, as
    /// `std::thread::Builder::spawn_scoped`.
    ///
    /// Unlike [`Scope::spawn`], this returns the error when the thread cannot be created
    /// instead of panicking. See [`scope`] for details on scoped threads.
    ///
    /// # Panics
    ///
    /// If a thread name was set and it contains NUL bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// let mut a = vec![1, 2, 3];
    /// let mut x = 0;
    ///
    /// thread::scope(|s| {
    ///     thread::Builder::new()
    ///         .name("first".into())
    ///         .spawn_scoped(s, || {
    ///             assert_eq!(thread::current().name(), Some("first"));
    ///             // We can borrow `a` here.
    ///             assert_eq!(a, [1, 2, 3]);
    ///         })
    ///         .unwrap();
    ///     thread::Builder::new()
    ///         .name("second".into())
    ///         .spawn_scoped(s, || {
    ///             // We can even mutably borrow `x` here, because no other threads use it.
    ///             x += a[0] + a[2];
    ///         })
    ///         .unwrap();
    /// });
    ///
    /// // After the scope, we can modify and access our variables again:
    /// a.push(4);
    /// assert_eq!(x, a.len());
    /// ```
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
    /// Extracts a handle to the underlying thread, as `std::thread::ScopedJoinHandle::thread`.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// thread::scope(|s| {
    ///     let t = s.spawn(|| thread::current().id());
    ///     let id = t.thread().id();
    ///     assert_eq!(t.join().unwrap(), id);
    /// });
    /// ```
    pub fn thread(&self) -> &Thread {
        self.handle.thread()
    }

    /// Waits for the thread to finish: `Ok` with its result, or `Err` with the payload of the
    /// panic that ended it, as `std::thread::ScopedJoinHandle::join`. A panic observed here does
    /// not make [`scope`] panic.
    ///
    /// Blocks the calling green thread, not its worker.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// let n = 21;
    /// thread::scope(|s| {
    ///     let doubled = s.spawn(|| n * 2);
    ///     assert_eq!(doubled.join().unwrap(), 42);
    ///
    ///     let failed = s.spawn(|| panic!("observed, so the scope does not panic"));
    ///     assert!(failed.join().is_err());
    /// });
    /// ```
    pub fn join(self) -> Result<T> {
        // The trampoline sees `Ok(())` always: the scoped closure catches its own panic.
        let _ = self.handle.join();
        // SAFETY: the thread stored the result before it finished, and `join` synchronised with
        // that; nobody else takes it.
        unsafe { (*self.packet.result.get()).take() }.expect("scoped thread result missing")
    }

    /// Checks whether the thread has finished running (its result is ready for `join`), as
    /// `std::thread::ScopedJoinHandle::is_finished`. Never blocks; once it returns `true`,
    /// [`join`](Self::join) returns without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc;
    /// use smarm::thread;
    ///
    /// let (go, wait) = mpsc::channel::<()>();
    /// thread::scope(|s| {
    ///     // `move`: a `Receiver` cannot be shared between threads, only sent.
    ///     let t = s.spawn(move || wait.recv().unwrap());
    ///     // It cannot finish before it receives.
    ///     assert!(!t.is_finished());
    ///
    ///     go.send(()).unwrap();
    ///     while !t.is_finished() {
    ///         thread::yield_now();
    ///     }
    ///     t.join().unwrap();
    /// });
    /// ```
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
