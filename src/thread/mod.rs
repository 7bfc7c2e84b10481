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

/// `std::thread::Result`: the outcome of `join`, `Err` holding a panic's payload.
pub type Result<T> = std::result::Result<T, Box<dyn std::any::Any + Send + 'static>>;

/// A handle to a thread (green or OS), as `std::thread::Thread`.
#[derive(Clone)]
pub struct Thread {
    inner: Arc<Task>,
}

impl Thread {
    /// The thread's unique id.
    pub fn id(&self) -> ThreadId {
        self.inner.id
    }

    /// The thread's name, if it was given one (`"main"` for the main thread).
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Gives the thread a park token, waking it if it is blocked in [`park`] or
    /// [`park_timeout`]. Tokens do not accumulate: several unparks before a park make one.
    ///
    /// ```
    /// use smarm::thread;
    /// let t = thread::spawn(|| thread::park());
    /// t.thread().unpark();
    /// t.join().unwrap();
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

/// The handle of the calling thread: the running green thread, or the OS thread.
pub fn current() -> Thread {
    Thread {
        inner: sched::current_thread_task(),
    }
}

/// Blocks until the current thread's park token is available, then consumes it.
/// As with std, callers should loop on their own condition.
pub fn park() {
    park::park_for(WaitKind::User, WaitReason::Park, None);
}

/// Like [`park`], returning after `dur` at the latest.
pub fn park_timeout(dur: Duration) {
    park::park_for(
        WaitKind::User,
        WaitReason::Park,
        Instant::now().checked_add(dur),
    );
}

/// Puts the current thread to sleep for at least `dur`. A green thread parks (its worker runs
/// others); an OS thread sleeps as with `std::thread::sleep`.
pub fn sleep(dur: Duration) {
    if sched::current_task().is_none() {
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
pub fn panicking() -> bool {
    std::thread::panicking()
}

/// Gives up the rest of this timeslice: a green thread goes to the back of its worker's queue.
pub fn yield_now() {
    if sched::current_task().is_some() {
        sched::yield_green();
    } else {
        std::thread::yield_now();
    }
}

/// Spawns a green thread and returns its [`JoinHandle`], as `std::thread::spawn`.
///
/// # Panics
/// If the green thread cannot be created (e.g. `vm.max_map_count` is reached, or the default
/// stack cannot be mapped), with the error's message, as std panics when the OS refuses a
/// thread. Use [`Builder::spawn`] to get the error.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).expect("failed to spawn thread")
}

/// Thread configuration, as `std::thread::Builder`.
#[derive(Debug, Default)]
#[must_use = "must eventually spawn the thread"]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the thread (shown in panic messages and by [`Thread::name`]).
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// The stack reservation in bytes. Only pages the thread touches cost memory. Sizes below
    /// 32 KiB are raised to 32 KiB and sizes are rounded up to whole pages; a size above 64 TiB
    /// (no such stack can be mapped; `usize::MAX` would overflow the rounding) makes
    /// [`spawn`](Builder::spawn) fail with [`io::ErrorKind::InvalidInput`], as std's does.
    ///
    /// ```
    /// let e = smarm::thread::Builder::new().stack_size(usize::MAX).spawn(|| ()).unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawns the thread, returning an `io::Error` if it cannot be created.
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
    /// # Safety
    /// As `std::thread::Builder::spawn_unchecked`: the caller must make sure the thread is joined
    /// (or otherwise finished) before anything it borrows is dropped.
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
        let task =
            sched::with_current_rt(|rt| unsafe { sched::spawn(rt, name, self.stack_size, f) })?;
        Ok(JoinHandle {
            thread: Thread { inner: task },
            _result: PhantomData,
        })
    }
}

/// An owned permission to join a green thread, as `std::thread::JoinHandle`. Dropping it detaches
/// the thread.
///
/// Not implemented: std's `std::os::unix::thread::JoinHandleExt` (`as_pthread_t`,
/// `into_pthread_t`). A green thread has a glibc descriptor of its own (its `pthread_self()`
/// is unique), but that value is a `pthread_t` in name only: `pthread_join` on it waits for a
/// kernel thread exit that never comes and then hands the "stack" to glibc's cache,
/// `pthread_detach` may free it there, and `pthread_kill` signals whichever kernel thread the
/// green thread happens to run on. `into_pthread_t`'s contract — the caller must join or
/// detach it — cannot be kept, and the value outlives nothing (the descriptor is reused by the
/// next green thread). Code that needs a thread's identity should compare
/// [`ThreadId`](Thread::id)s.
pub struct JoinHandle<T> {
    thread: Thread,
    _result: PhantomData<T>,
}

// SAFETY: as std's JoinHandle: the handle only moves the result out once, in `join(self)`.
unsafe impl<T> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only exposes `thread()` and `is_finished()`, which touch no `T`.
unsafe impl<T> Sync for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish: `Ok` with its result, or `Err` with its panic payload.
    pub fn join(self) -> Result<T> {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; we take its one field out.
        let thread = unsafe { std::ptr::read(&this.thread) };
        match sched::join(&thread.inner) {
            // SAFETY: this handle was made for a closure returning `T`, erased by `sched::spawn`.
            Ok(v) => Ok(unsafe { v.into_inner::<T>() }),
            Err(payload) => Err(payload),
        }
    }

    /// The spawned thread's handle.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// Whether the thread has finished running (its result is ready for `join`).
    pub fn is_finished(&self) -> bool {
        self.thread.inner.is_finished()
    }
}

impl<T> Drop for JoinHandle<T> {
    /// Detaches the thread, as dropping std's handle does; its result is dropped by whichever of
    /// the two finishes last.
    fn drop(&mut self) {
        sched::detach(&self.thread.inner);
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}
