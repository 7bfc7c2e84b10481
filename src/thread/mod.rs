//! `smarm::thread`: `std::thread`'s API, backed by green threads.
//!
//! Every function works from a green thread and from a plain OS thread (`main`, a test thread,
//! a thread made with `std::thread`): on a green thread, blocking parks the green thread and its
//! worker runs others; on an OS thread it blocks the OS thread, as std does.
//!
//! ```
//! use smarm::thread;
//! use std::time::Duration;
//!
//! let h = thread::Builder::new()
//!     .name("sleeper".into())
//!     .spawn(|| {
//!         thread::sleep(Duration::from_millis(1));
//!         thread::current().name().map(String::from)
//!     })
//!     .unwrap();
//! assert_eq!(h.join().unwrap().as_deref(), Some("sleeper"));
//! ```

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::rt::park::{self, WaitKind, WaitReason};
use crate::rt::sched;
use crate::rt::task::Task;

mod scoped;

pub use crate::rt::task::ThreadId;
pub use scoped::{Scope, ScopedJoinHandle, scope};
pub use std::thread::available_parallelism;
/// std's own: a green thread has its own thread pointer and TLS area, so `std::thread_local!` is
/// per green thread exactly as it is per OS thread (values, lazy initialisation, destructors when
/// the thread ends, `AccessError` during destruction). These re-exports only keep the
/// `smarm::thread::LocalKey` path of earlier releases working.
pub use std::thread::{AccessError, LocalKey};

/// A specialized [`Result`](std::result::Result) type for threads, as `std::thread::Result`:
/// what [`JoinHandle::join`] returns, `Err` holding the payload of the panic that ended the
/// thread.
///
/// # Examples
///
/// ```
/// use smarm::thread;
///
/// fn answer() -> thread::Result<u32> {
///     thread::spawn(|| 6 * 7).join()
/// }
///
/// assert_eq!(answer().unwrap(), 42);
///
/// let r: thread::Result<()> = thread::spawn(|| std::panic::panic_any(7u8)).join();
/// assert_eq!(r.unwrap_err().downcast_ref::<u8>(), Some(&7));
/// ```
pub type Result<T> = std::result::Result<T, Box<dyn std::any::Any + Send + 'static>>;

/// A handle to a thread (green or OS), as `std::thread::Thread`.
///
/// Threads are represented through the `Thread` type, which you can get in one of two ways: by
/// spawning a new thread (with [`spawn`] or [`Builder::spawn`]) and calling
/// [`JoinHandle::thread`], or by asking for the calling thread's handle with [`current`]. The
/// handle is cheap to clone and may be sent to other threads; it refers to the same thread
/// whichever worker that green thread runs on.
///
/// # Examples
///
/// ```
/// use smarm::thread;
///
/// let handle = thread::Builder::new()
///     .name("named".into())
///     .spawn(|| thread::current())
///     .unwrap();
/// let spawned = handle.thread().clone();
/// let from_inside = handle.join().unwrap();
/// assert_eq!(spawned.name(), Some("named"));
/// assert_eq!(spawned.id(), from_inside.id());
/// ```
#[derive(Clone)]
pub struct Thread {
    inner: Arc<Task>,
}

impl Thread {
    /// Gets the thread's unique identifier.
    ///
    /// Ids are never reused while the process runs, for green and OS threads alike.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// let here = thread::current().id();
    /// let there = thread::spawn(|| thread::current().id()).join().unwrap();
    /// assert_eq!(thread::current().id(), here);
    /// assert_ne!(here, there);
    /// ```
    pub fn id(&self) -> ThreadId {
        self.inner.id
    }

    /// Gets the thread's name, if it was given one (`"main"` for the main thread), as
    /// `std::thread::Thread::name`.
    ///
    /// # Examples
    ///
    /// A thread spawned without a name has none:
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// let unnamed = thread::spawn(|| thread::current().name().map(String::from));
    /// assert_eq!(unnamed.join().unwrap(), None);
    /// ```
    ///
    /// A name given with [`Builder::name`]:
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// let named = thread::Builder::new()
    ///     .name("worker-1".into())
    ///     .spawn(|| thread::current().name().map(String::from))
    ///     .unwrap();
    /// assert_eq!(named.join().unwrap().as_deref(), Some("worker-1"));
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Gives the thread a park token, waking it if it is blocked in [`park()`] or
    /// [`park_timeout`]. Tokens do not accumulate: several unparks before a park make one.
    ///
    /// Works on any thread, green or OS, from any thread: waking a green thread puts it back on
    /// a run queue; waking an OS thread wakes it as std's `unpark` does.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::thread;
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// let ready = Arc::new(AtomicBool::new(false));
    /// let r = Arc::clone(&ready);
    /// let parked = thread::spawn(move || {
    ///     // `park` may return spuriously: loop on the condition.
    ///     while !r.load(Ordering::Acquire) {
    ///         thread::park();
    ///     }
    ///     "woken"
    /// });
    ///
    /// ready.store(true, Ordering::Release);
    /// parked.thread().unpark();
    /// assert_eq!(parked.join().unwrap(), "woken");
    /// ```
    pub fn unpark(&self) {
        park::unpark(&self.inner, WaitKind::User);
    }
}

impl Thread {
    pub(crate) fn task(&self) -> &Arc<Task> {
        &self.inner
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// Gets a handle to the thread that invokes it: the running green thread, or the OS thread when
/// called outside the runtime, as `std::thread::current`.
///
/// # Examples
///
/// ```
/// use smarm::thread;
///
/// let handle = thread::Builder::new()
///     .name("named thread".into())
///     .spawn(|| {
///         let me = thread::current();
///         assert_eq!(me.name(), Some("named thread"));
///         me.id()
///     })
///     .unwrap();
/// let id = handle.thread().id();
/// assert_eq!(handle.join().unwrap(), id);
/// ```
pub fn current() -> Thread {
    Thread {
        inner: crate::rt::task::current::current_thread_task(),
    }
}

/// Blocks until the current thread's park token is available, then consumes it, as
/// `std::thread::park`.
///
/// Every thread has one token, initially absent; [`Thread::unpark`] makes it available. If it
/// is already available, `park` consumes it and returns at once. On a green thread `park`
/// blocks the green thread, not its worker: the worker runs other green threads meanwhile.
/// As with std, `park` may also return spuriously, so callers should loop on their own
/// condition.
///
/// # Examples
///
/// ```
/// use smarm::thread;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let flag = Arc::new(AtomicBool::new(false));
/// let flag2 = Arc::clone(&flag);
///
/// let parked_thread = thread::spawn(move || {
///     // We want to wait until the flag is set. We *could* spin, but using park/unpark is
///     // more efficient: the green thread costs nothing while it waits.
///     while !flag2.load(Ordering::Acquire) {
///         thread::park();
///         // We *could* get here spuriously, i.e., way before the flag is set below: the
///         // loop checks again.
///     }
///     true
/// });
///
/// flag.store(true, Ordering::Release);
/// parked_thread.thread().unpark();
/// assert!(parked_thread.join().unwrap());
/// ```
///
/// An unpark that comes first is not lost: the token waits for the next `park`.
///
/// ```
/// use smarm::thread;
///
/// thread::current().unpark();
/// thread::park(); // returns at once, consuming the token
/// ```
pub fn park() {
    park::park_for(WaitKind::User, WaitReason::Park, None);
}

/// Blocks until the current thread's park token is available or `dur` has passed, as
/// `std::thread::park_timeout`.
///
/// Like [`park()`], it may return spuriously, and it does not say why it returned: keep your own
/// deadline and condition, as below. A green thread parks (its worker runs others) and is woken
/// by the runtime's timer.
///
/// # Examples
///
/// ```
/// use smarm::thread;
/// use std::time::{Duration, Instant};
///
/// let timeout = Duration::from_millis(2);
/// let start = Instant::now();
/// // Nobody unparks us: wait out the timeout, however many spurious wake-ups come.
/// loop {
///     let elapsed = start.elapsed();
///     let Some(left) = timeout.checked_sub(elapsed) else { break };
///     thread::park_timeout(left);
/// }
/// assert!(start.elapsed() >= timeout);
/// ```
pub fn park_timeout(dur: Duration) {
    park::park_for(
        WaitKind::User,
        WaitReason::Park,
        Instant::now().checked_add(dur),
    );
}

/// Puts the current thread to sleep for at least `dur`, as `std::thread::sleep`.
///
/// A green thread parks until the runtime's timer wakes it: it blocks the green thread, not the
/// worker, which runs other green threads meanwhile. An OS thread sleeps as with
/// `std::thread::sleep`.
///
/// # Examples
///
/// ```
/// use smarm::thread;
/// use std::time::{Duration, Instant};
///
/// let slept = thread::spawn(|| {
///     let start = Instant::now();
///     thread::sleep(Duration::from_millis(2));
///     start.elapsed()
/// });
/// assert!(slept.join().unwrap() >= Duration::from_millis(2));
/// ```
pub fn sleep(dur: Duration) {
    if crate::rt::task::current::current_task().is_none() {
        return std::thread::sleep(dur);
    }
    let Some(deadline) = Instant::now().checked_add(dur) else {
        loop {
            park::park_for(WaitKind::Wake, WaitReason::Sleep, None); // an unrepresentable deadline: forever
        }
    };
    while Instant::now() < deadline {
        park::park_for(WaitKind::Wake, WaitReason::Sleep, Some(deadline));
    }
}

/// Whether the current thread is unwinding because of a panic, as `std::thread::panicking`.
///
/// Per green thread: a green thread that blocks while it unwinds keeps its OS thread until it is
/// done (see `rt::park`), so std's per-OS-thread count always belongs to the green thread running
/// on that OS thread, and other green threads never see a neighbour's panic.
///
/// # Examples
///
/// ```
/// use smarm::thread;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// struct SomeStruct(Arc<AtomicBool>);
///
/// impl Drop for SomeStruct {
///     fn drop(&mut self) {
///         // Record whether we are dropped by an unwinding panic.
///         self.0.store(thread::panicking(), Ordering::Relaxed);
///     }
/// }
///
/// let dropped_in_panic = Arc::new(AtomicBool::new(false));
/// let flag = Arc::clone(&dropped_in_panic);
/// let r = thread::spawn(move || {
///     let _a = SomeStruct(flag);
///     panic!("unwinding drops `_a`");
/// })
/// .join();
///
/// assert!(r.is_err());
/// assert!(dropped_in_panic.load(Ordering::Relaxed));
/// assert!(!thread::panicking());
/// ```
pub fn panicking() -> bool {
    std::thread::panicking()
}

/// Gives up the rest of this timeslice, as `std::thread::yield_now`: a green thread goes to the
/// back of its worker's queue, so the other green threads queued there run first; an OS thread
/// calls `sched_yield` as std does.
///
/// A spin loop that waits for another green thread must yield (or block): with one worker, the
/// thread it waits for can only run when the spinner lets it.
///
/// # Examples
///
/// ```
/// use smarm::thread;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let done = Arc::new(AtomicBool::new(false));
/// let d = Arc::clone(&done);
/// let waiter = thread::spawn(move || {
///     while !d.load(Ordering::Acquire) {
///         thread::yield_now();
///     }
/// });
/// thread::spawn(move || done.store(true, Ordering::Release));
/// waiter.join().unwrap();
/// ```
pub fn yield_now() {
    if crate::rt::task::current::current_task().is_some() {
        sched::switch::yield_green();
    } else {
        std::thread::yield_now();
    }
}

/// Spawns a green thread and returns its [`JoinHandle`], as `std::thread::spawn`.
///
/// The new thread runs `f` on its own stack, scheduled by the runtime's workers (the global
/// runtime starts on first use). Dropping the handle detaches the thread; [`JoinHandle::join`]
/// waits for it and returns `f`'s result, or the panic that ended it. As with std, `f` and its
/// result must be [`Send`] and `'static`: the thread may outlive the caller's stack frame, so
/// use [`scope`] to borrow from it.
///
/// # Panics
/// If the green thread cannot be created (e.g. `vm.max_map_count` is reached, or the default
/// stack cannot be mapped), with the error's message, as std panics when the OS refuses a
/// thread. Use [`Builder::spawn`] to get the error.
///
/// # Examples
///
/// ```
/// use smarm::thread;
///
/// let handler = thread::spawn(|| {
///     // thread code
///     "computed in a green thread".len()
/// });
/// assert_eq!(handler.join().unwrap(), 26);
/// ```
///
/// Communicating through a channel, as with std's threads:
///
/// ```
/// use smarm::sync::mpsc;
/// use smarm::thread;
///
/// let (tx, rx) = mpsc::channel();
/// let sender = thread::spawn(move || {
///     tx.send("Hello, thread".to_owned()).expect("receiver alive");
/// });
/// let receiver = thread::spawn(move || rx.recv().expect("sender alive"));
///
/// sender.join().unwrap();
/// assert_eq!(receiver.join().unwrap(), "Hello, thread");
/// ```
///
/// A green thread is as cheap as std's are not: ten thousand are fine.
///
/// ```
/// use smarm::thread;
///
/// let hs: Vec<_> = (0..10_000u64).map(|i| thread::spawn(move || i)).collect();
/// assert_eq!(hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>(), 49_995_000);
/// ```
///
/// The closure must be `Send`: an [`Rc`](std::rc::Rc) cannot move into a thread.
///
/// ```compile_fail,E0277
/// use smarm::thread;
/// use std::rc::Rc;
///
/// let rc = Rc::new(5);
/// thread::spawn(move || *rc).join().unwrap();
/// ```
///
/// And `'static`: the thread may outlive the local it would borrow (use [`scope`] for that).
///
/// ```compile_fail,E0373
/// use smarm::thread;
///
/// let v = vec![1, 2, 3];
/// thread::spawn(|| v.len()).join().unwrap();
/// ```
///
/// Moving a reference in does not help: the borrow is still not `'static`.
///
/// ```compile_fail,E0597
/// use smarm::thread;
///
/// let v = vec![1, 2, 3];
/// let first = &v[0];
/// thread::spawn(move || *first).join().unwrap();
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).expect("failed to spawn thread")
}

/// Thread factory, which can be used in order to configure the properties of a new thread, as
/// `std::thread::Builder`.
///
/// Two settings are available: the name, shown in panic messages and by [`Thread::name`], and
/// the stack size, the reservation of the green thread's stack (only the pages it touches cost
/// memory). [`thread::spawn`](spawn) is `Builder::new().spawn(f).unwrap()`.
///
/// # Examples
///
/// ```
/// use smarm::thread;
///
/// let builder = thread::Builder::new()
///     .name("small".into())
///     .stack_size(64 * 1024);
///
/// let handler = builder
///     .spawn(|| thread::current().name().map(String::from))
///     .unwrap();
/// assert_eq!(handler.join().unwrap().as_deref(), Some("small"));
/// ```
#[derive(Debug, Default)]
#[must_use = "must eventually spawn the thread"]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// Generates the base configuration for spawning a thread, from which configuration
    /// methods can be chained: no name, and the runtime's default stack size.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// let handler = thread::Builder::new()
    ///     .spawn(|| thread::current().name().is_none())
    ///     .unwrap();
    /// assert!(handler.join().unwrap());
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the thread-to-be (shown in panic messages and by [`Thread::name`]).
    ///
    /// # Panics
    ///
    /// [`spawn`](Builder::spawn) panics if the name contains a NUL byte, as std's does.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// let handler = thread::Builder::new()
    ///     .name("foo".into())
    ///     .spawn(|| {
    ///         assert_eq!(thread::current().name(), Some("foo"));
    ///     })
    ///     .unwrap();
    /// handler.join().unwrap();
    /// ```
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// The stack reservation in bytes. Only pages the thread touches cost memory. Sizes below
    /// 32 KiB are raised to 32 KiB and sizes are rounded up to whole pages; a size above 64 TiB
    /// (no such stack can be mapped; `usize::MAX` would overflow the rounding) makes
    /// [`spawn`](Builder::spawn) fail with [`io::ErrorKind::InvalidInput`], as std's does.
    ///
    /// # Examples
    ///
    /// A thread with a 256 KiB stack, enough for a 128 KiB array on it:
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// let handler = thread::Builder::new()
    ///     .stack_size(256 * 1024)
    ///     .spawn(|| {
    ///         let buf = [1u8; 128 * 1024];
    ///         std::hint::black_box(&buf).iter().map(|&b| b as u32).sum::<u32>()
    ///     })
    ///     .unwrap();
    /// assert_eq!(handler.join().unwrap(), 128 * 1024);
    /// ```
    ///
    /// A size no stack can have:
    ///
    /// ```
    /// let e = smarm::thread::Builder::new().stack_size(usize::MAX).spawn(|| ()).unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawns a new green thread by taking ownership of the `Builder`, and returns an
    /// [`io::Result`] to its [`JoinHandle`], as `std::thread::Builder::spawn`.
    ///
    /// Unlike [`thread::spawn`](spawn), this returns the error when the thread cannot be created
    /// (an invalid stack size, or the kernel refusing the stack's memory mapping) instead of
    /// panicking.
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
    /// let handler = thread::Builder::new()
    ///     .spawn(|| 2 + 2)
    ///     .expect("green thread created");
    /// assert_eq!(handler.join().unwrap(), 4);
    /// ```
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // SAFETY: `F` and `T` are 'static, so nothing the thread holds can dangle.
        unsafe { self.spawn_unchecked(f) }
    }

    /// Spawns a thread whose closure and result may borrow non-`'static` data.
    ///
    /// This is [`spawn`](Builder::spawn) without the `'static` bounds on the closure and its
    /// result, as `std::thread::Builder::spawn_unchecked`. Prefer [`scope`], which gives the
    /// same freedom safely.
    ///
    /// # Safety
    ///
    /// As `std::thread::Builder::spawn_unchecked`: the caller must make sure the thread is joined
    /// (or otherwise finished) before anything it borrows is dropped. Detaching it (dropping the
    /// handle) or leaking the handle while the thread runs is undefined behaviour if the thread
    /// then touches the borrowed data.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// let x = 1;
    /// let thread_x = &x;
    ///
    /// let builder = thread::Builder::new();
    /// // SAFETY: the thread is joined below, while `x` is still alive.
    /// let handler = unsafe { builder.spawn_unchecked(move || *thread_x + 1) }.unwrap();
    /// assert_eq!(handler.join().unwrap(), 2);
    /// ```
    pub unsafe fn spawn_unchecked<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        if let Some(name) = &self.name {
            assert!(
                !name.contains('\0'),
                "thread name may not contain interior null bytes"
            );
        }
        if let Some(size) = self.stack_size {
            // Before any arithmetic on the size (rounding to pages, adding the guard page).
            crate::rt::config::check_stack_size(size)?;
        }
        let name = self.name.map(String::into_boxed_str);
        // SAFETY: the caller promises the borrowed data outlives the thread.
        let task = crate::rt::runtime::with_current_rt(|rt| unsafe {
            sched::spawn::spawn(rt, name, self.stack_size, f)
        })?;
        Ok(JoinHandle {
            thread: Thread { inner: task },
            _result: PhantomData,
        })
    }
}

/// An owned permission to join a green thread (block on its termination), as
/// `std::thread::JoinHandle`. Dropping it detaches the thread: it keeps running, and nobody can
/// join it any more.
///
/// Created by [`spawn`] and [`Builder::spawn`]. A handle may be sent to and joined from any
/// thread, green or OS.
///
/// # Examples
///
/// ```
/// use smarm::thread;
/// use std::time::Duration;
///
/// let original = thread::spawn(|| {
///     let detached = thread::spawn(|| {
///         // Runs on after `original` has finished: nobody joins it.
///         thread::sleep(Duration::from_millis(1));
///     });
///     drop(detached);
///     "original done"
/// });
/// assert_eq!(original.join().unwrap(), "original done");
/// ```
///
/// # `JoinHandleExt`
///
/// std's `std::os::unix::thread::JoinHandleExt` is implemented, so code that forwards it (as
/// crossbeam-utils' scoped handles do) builds unchanged. `as_pthread_t` is the green thread's own
/// glibc descriptor: exactly what `pthread_self()` returns inside that green thread, fixed from
/// spawn to end, unique among live threads (green and OS), so `pthread_equal` and maps keyed by
/// `pthread_t` work. It is a `pthread_t` for identity only: the kernel thread under a green thread
/// changes as it migrates, so
/// - `pthread_join` and `pthread_detach` on it are not allowed (glibc would wait for a kernel
///   thread exit that never comes, or free memory smarm owns); join with [`join`](Self::join);
/// - `pthread_kill` reaches the OS thread the green thread last ran on, not the green thread;
/// - after the green thread ends its descriptor is reused by a later green thread, as a joined
///   pthread's is by glibc.
///
/// `into_pthread_t` returns the same value and detaches the thread (dropping the handle), since
/// its std contract, that the caller must then join or detach the pthread itself, cannot be kept
/// for a green thread.
///
/// ```
/// use std::os::unix::thread::JoinHandleExt;
/// use smarm::sync::mpsc;
/// use smarm::thread;
///
/// let (tx, rx) = mpsc::channel();
/// // SAFETY (of the FFI call): pthread_self has no preconditions.
/// let h = thread::spawn(move || tx.send(unsafe { libc::pthread_self() }).unwrap());
/// let inside = rx.recv().unwrap();
/// assert_eq!(h.as_pthread_t(), inside);
/// h.join().unwrap();
/// ```
pub struct JoinHandle<T> {
    thread: Thread,
    _result: PhantomData<T>,
}

// SAFETY: as std's JoinHandle: the handle only moves the result out once, in `join(self)`.
unsafe impl<T> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only exposes `thread()` and `is_finished()`, which touch no `T`.
unsafe impl<T> Sync for JoinHandle<T> {}

impl<T> std::os::unix::thread::JoinHandleExt for JoinHandle<T> {
    /// The green thread's `pthread_self()`: an identity, not a joinable pthread (see
    /// [`JoinHandle`]'s section on `JoinHandleExt`).
    fn as_pthread_t(&self) -> std::os::unix::thread::RawPthread {
        let tp = self.thread.inner.green.as_ref().map_or(0, |g| g.tp);
        crate::rt::sys::tls::pthread_self_of(tp) as std::os::unix::thread::RawPthread
    }

    /// The same value as `as_pthread_t`; the handle is dropped, which detaches the thread.
    fn into_pthread_t(self) -> std::os::unix::thread::RawPthread {
        self.as_pthread_t()
    }
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish: `Ok` with its result, or `Err` with the payload of the
    /// panic that ended it, as `std::thread::JoinHandle::join`.
    ///
    /// Called from a green thread, this blocks the green thread, not the worker: the worker runs
    /// other green threads (the one joined, perhaps) meanwhile. The thread's thread-local
    /// destructors have run when `join` returns, as with std.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// let computation = thread::spawn(|| (1..=10).product::<u64>());
    /// assert_eq!(computation.join().unwrap(), 3_628_800);
    ///
    /// let failed = thread::spawn(|| panic!("oops"));
    /// let payload = failed.join().unwrap_err();
    /// assert_eq!(payload.downcast_ref::<&str>(), Some(&"oops"));
    /// ```
    pub fn join(self) -> Result<T> {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; we take its one field out.
        let thread = unsafe { std::ptr::read(&this.thread) };
        match sched::spawn::join(&thread.inner) {
            // SAFETY: this handle was made for a closure returning `T`, erased by `sched::spawn`.
            Ok(v) => Ok(unsafe { v.into_inner::<T>() }),
            Err(payload) => Err(payload),
        }
    }

    /// Extracts a handle to the underlying thread, as `std::thread::JoinHandle::thread`.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::thread;
    ///
    /// let join_handle = thread::spawn(|| thread::current().id());
    /// let id = join_handle.thread().id();
    /// assert_eq!(join_handle.join().unwrap(), id);
    /// ```
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// Checks whether the thread has finished running (its result is ready for `join`), as
    /// `std::thread::JoinHandle::is_finished`. Never blocks; once it returns `true`,
    /// [`join`](Self::join) returns without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::sync::mpsc;
    /// use smarm::thread;
    ///
    /// let (go, wait) = mpsc::channel::<()>();
    /// let handle = thread::spawn(move || wait.recv().unwrap());
    /// // It cannot finish before it receives.
    /// assert!(!handle.is_finished());
    ///
    /// go.send(()).unwrap();
    /// while !handle.is_finished() {
    ///     thread::yield_now();
    /// }
    /// handle.join().unwrap();
    /// ```
    pub fn is_finished(&self) -> bool {
        self.thread.inner.is_finished()
    }
}

impl<T> Drop for JoinHandle<T> {
    /// Detaches the thread, as dropping std's handle does; its result is dropped by whichever of
    /// the two finishes last.
    fn drop(&mut self) {
        sched::spawn::detach(&self.thread.inner);
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}
