//! The reactor: one epoll instance for the process, and the readiness protocol that lets a thread
//! (green or OS) block on a socket without blocking its worker.
//!
//! ## Registrations
//! A socket is registered at most once, the first time an operation on it would block, and stays
//! registered until it is closed: one edge-triggered registration for
//! `EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`. Its [`ScheduledIo`] keeps, per direction (read,
//! write), a readiness *sequence number* and a list of waiters. The epoll event's user data is a
//! pointer to the `ScheduledIo`, kept alive by a strong reference the reactor owns while the
//! registration exists.
//!
//! ## Waiting without lost wake-ups
//! An I/O operation ([`Source::io`]) is: read the direction's sequence number `seq`; try the
//! syscall; if it would block, lock the direction's waiter list, and **if the sequence number is
//! still `seq`**, link a waiter and park (else retry at once). The reactor, for every event,
//! locks the list, bumps the sequence number, takes every waiter off, unlocks and unparks them.
//! The bump and the check happen under the same lock, so either the event is seen by the check
//! (the waiter retries) or the waiter is on the list when the reactor takes it (it is woken).
//! An event that predates the `seq` load cannot be lost either: the data it announced was
//! already there for the syscall. And an edge that arrives after the syscall failed is a new
//! event (edge-triggered epoll re-arms when the reactor fetches an event), so it bumps the number
//! after our load. Registering lazily keeps this true: `EPOLL_CTL_ADD` queues an event at once if
//! the socket is already ready, which bumps the number from the 0 the waiter read.
//! Timeouts are `park`'s deadlines; a waiter that times out unlinks itself
//! ([`WaitList::wait`]), so a later event never wakes a thread that has moved on.
//!
//! ## No stale wake-ups after close
//! A socket is dropped only when nobody waits on it (waiting borrows it). Its `Drop` removes the
//! registration (`EPOLL_CTL_DEL`) *before* the fd is closed, so the fd number cannot be reused
//! while registered. The reactor may still hold an event for it, fetched by an `epoll_wait` that
//! began before the removal; so the reactor's reference is not dropped at once but moved to a
//! *release list*, which the reactor empties only after it has handled the batch it is working
//! on: every batch that could name the registration began before the removal, so it is either
//! that batch or an earlier one. Events for a released registration are thus never dereferenced.
//!
//! ## Who polls
//! No thread of its own: the workers poll. Whoever polls holds the *driver* (a try-lock), so at
//! most one thread is in `epoll_wait` at a time (which is also what makes the release list above
//! sound: batches are fetched and handled one after another).
//!
//! - A worker about to sleep takes the driver if it is free and sleeps in `epoll_wait` (with its
//!   timer deadline as the timeout, if it watches timers) instead of on its futex
//!   (`Shared::park_worker`); waking it is a write to the reactor's eventfd instead of a futex
//!   wake. Readiness it finds wakes tasks onto its own run queue, so an idle runtime answers an
//!   event with a single thread wake-up — the kernel's.
//! - Busy workers poll without blocking every `GLOBAL_CHECK_INTERVAL` ticks and whenever they run
//!   dry before stealing, if the driver is free, so a loaded runtime needs no sleeper at all.
//! - A worker that slept in the reactor and leaves to run work wakes another sleeper (of its own
//!   runtime, else of the global one), which takes the driver (as the timer watch is handed on),
//!   so a long-running green thread cannot starve socket waiters while other workers idle.
//! - Plain OS threads wait on sockets too, with no runtime of their own: starting the reactor
//!   starts the global runtime (if it is not running yet) and kicks its workers so that one of
//!   them takes the driver; a runtime that stops (`rt::run` returning) kicks them again, in case
//!   one of its workers held the driver last.
//!
//! ## When the reactor cannot be had
//! Starting the reactor takes two fds (the epoll instance and its eventfd) and registering a
//! socket takes kernel memory (and a slot under `fs.epoll.max_user_watches`). A process out of
//! fds (`EMFILE`, `ENFILE`) or memory (`ENOMEM`, `ENOSPC`) gets neither, where std's blocking
//! call would need nothing more: it just blocks in the kernel. So a wait that cannot register
//! falls back to what std does — it blocks this OS thread in `poll(2)` on the one fd (which
//! needs no fd), with the same deadline — and the failure is kept nowhere: the reactor is
//! started by the first call that succeeds, and a socket is registered by its first wait that
//! succeeds. A green thread that falls back holds its worker like any blocking std call (the
//! monitor hands the worker's other green threads on). Any other registration error is that
//! call's error, and is tried afresh by the next.
//!
//! If *every* worker of a runtime runs a green thread that computes (or blocks in a std call)
//! without a smarm blocking call, nobody of that runtime polls; the monitor (`rt::sched::monitor`)
//! notices the stuck carriers and, while sockets are registered, gives a worker to a spare or new
//! carrier, which sleeps in the reactor like any idle worker.

use std::cell::UnsafeCell;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::rt::sys::lock::Mutex;
use std::time::{Duration, Instant};

use crate::rt::park::WaitReason;
use crate::rt::park::waitlist::{Node, WaitList};
use crate::rt::sched;

/// Events fetched per `epoll_wait`.
const EVENTS_PER_POLL: usize = 1024;
/// The eventfd's epoll user data (a `ScheduledIo` pointer is never this small and odd).
const WAKER_TOKEN: u64 = 1;
/// Released registrations that make the poller wake to free them, without an event to wake it.
const RELEASE_BATCH: usize = 256;

/// Which way an operation moves data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// One direction of a registration: how many readiness events it has seen, and who waits.
struct Direction {
    seq: AtomicU64,
    waiters: WaitList<()>,
}

impl Direction {
    const fn new() -> Direction {
        Direction {
            seq: AtomicU64::new(0),
            waiters: WaitList::new(()),
        }
    }

    /// An event for this direction: bump the sequence number and wake every waiter.
    fn ready(&self) {
        let mut locked = self.waiters.lock();
        self.seq.fetch_add(1, Ordering::Release);
        let first = locked.notify_one();
        let rest = if first.is_some() {
            locked.notify_all()
        } else {
            Vec::new()
        };
        drop(locked);
        if let Some(w) = first {
            w.wake();
        }
        for w in rest {
            w.wake();
        }
    }

    /// Parks until the sequence number moves past `seen` or `deadline` passes. Returns `false`
    /// on timeout.
    fn wait(&self, seen: u64, deadline: Option<Instant>) -> bool {
        let locked = self.waiters.lock();
        if self.seq.load(Ordering::Acquire) != seen {
            return true;
        }
        let mut node = Node::waiting_on(WaitReason::Io);
        self.waiters.wait(locked, &mut node, deadline)
    }
}

/// A registration's readiness state, shared by the socket and the reactor.
pub(crate) struct ScheduledIo {
    read: Direction,
    write: Direction,
}

impl ScheduledIo {
    fn new() -> ScheduledIo {
        ScheduledIo {
            read: Direction::new(),
            write: Direction::new(),
        }
    }

    fn dir(&self, interest: Interest) -> &Direction {
        match interest {
            Interest::Read => &self.read,
            Interest::Write => &self.write,
        }
    }

    /// Dispatches the epoll event mask `events` to the directions it concerns.
    fn dispatch(&self, events: u32) {
        let read =
            (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR)
                as u32;
        let write = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        if events & read != 0 {
            self.read.ready();
        }
        if events & write != 0 {
            self.write.ready();
        }
    }
}

/// The process's epoll instance, polled by the workers (module docs).
pub(crate) struct Reactor {
    epoll: OwnedFd,
    /// Wakes the thread blocked in `epoll_wait` (a worker being unparked, or registrations to
    /// free).
    waker: OwnedFd,
    /// Held by the one thread polling (see [`Driver`]).
    driver: AtomicBool,
    /// The event buffer, used only by the driver's holder.
    events: UnsafeCell<Vec<libc::epoll_event>>,
    /// Registrations removed from epoll whose reactor reference is not yet dropped (see the
    /// module docs).
    released: Mutex<Vec<Arc<ScheduledIo>>>,
}

// SAFETY: `events` is touched only by the holder of `driver`; everything else is Sync.
unsafe impl Sync for Reactor {}

/// The reactor of this process, and the fork generation it was made in: a child of `fork` shares
/// its parent's epoll instance and eventfd and inherits a driver flag some parent thread held, so
/// it makes a reactor of its own on first use (the parent's is leaked there, never polled).
static REACTOR: AtomicPtr<Reactor> = AtomicPtr::new(std::ptr::null_mut());
static REACTOR_GEN: AtomicU32 = AtomicU32::new(0);
static REACTOR_START: Mutex<()> = Mutex::new(());

/// This process's reactor, if it has started.
fn current() -> Option<&'static Reactor> {
    let p = REACTOR.load(Ordering::Acquire);
    if p.is_null() || REACTOR_GEN.load(Ordering::Acquire) != crate::rt::task::current::fork_gen() {
        return None;
    }
    // SAFETY: a published reactor is leaked, never freed.
    Some(unsafe { &*p })
}

/// Holds the reactor's locks across a `fork` (see `sched::before_fork`).
pub(crate) fn hold_for_fork() -> Vec<Box<dyn std::any::Any>> {
    let mut v: Vec<Box<dyn std::any::Any>> = vec![Box::new(REACTOR_START.lock())];
    if let Some(r) = current() {
        v.push(Box::new(r.released.lock()));
    }
    v
}

/// Sockets registered with epoll now (for `rt::stats` and the monitor).
static REGISTRATIONS: AtomicU64 = AtomicU64::new(0);

/// How many sockets are registered with the reactor now.
pub(crate) fn registrations() -> u64 {
    REGISTRATIONS.load(Ordering::Relaxed)
}

/// The reactor, started on first use.
pub(crate) fn reactor() -> io::Result<&'static Reactor> {
    if let Some(r) = current() {
        return Ok(r);
    }
    let started = REACTOR_START.lock();
    if let Some(r) = current() {
        return Ok(r);
    }
    let r: &'static Reactor = Box::leak(Box::new(Reactor::new()?));
    REACTOR_GEN.store(crate::rt::task::current::fork_gen(), Ordering::Release);
    REACTOR.store(r as *const Reactor as *mut Reactor, Ordering::Release);
    drop(started);
    // Someone must poll even if only plain OS threads use sockets (module docs): their waits
    // started the global runtime (`runtime::ensure_poller`), whose sleeping workers now poll.
    sched::shared::set_poller(&ReactorPoller);
    sched::shared::kick_global();
    Ok(r)
}

/// A runtime stopped: if one of its workers held the driver last, the global runtime's workers
/// must take over.
pub(crate) fn runtime_stopped() {
    if current().is_some() {
        sched::shared::kick_global();
    }
}

/// The right to poll: at most one thread polls at a time.
/// The reactor as the scheduler sees it (`sched::shared::Poller`): always this process's
/// current reactor.
struct ReactorPoller;

impl sched::shared::Poller for ReactorPoller {
    fn try_drive(&self) -> bool {
        let Some(reactor) = current() else {
            return false;
        };
        !reactor.driver.load(Ordering::Relaxed)
            && reactor
                .driver
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    fn poll(&self, timeout: Option<Duration>, before_dispatch: &mut dyn FnMut()) {
        if let Some(reactor) = current() {
            // Not dropped: the right is given back by `release`.
            std::mem::ManuallyDrop::new(Driver { reactor }).poll(timeout, before_dispatch);
        }
    }

    fn release(&self) {
        if let Some(reactor) = current() {
            reactor.driver.store(false, Ordering::Release);
        }
    }

    fn wake(&self) {
        if let Some(r) = current() {
            r.wake();
        }
    }

    fn registrations(&self) -> u64 {
        registrations()
    }
}

pub(crate) struct Driver {
    reactor: &'static Reactor,
}

impl Driver {
    /// Waits up to `timeout` (`None`: until an event or a wake) for readiness, calls
    /// `before_dispatch` once `epoll_wait` returns, then wakes the waiters of every ready socket.
    pub(crate) fn poll(&self, timeout: Option<Duration>, before_dispatch: impl FnOnce()) {
        let r = self.reactor;
        // SAFETY: we hold the driver, so the event buffer is ours.
        let events = unsafe { &mut *r.events.get() };
        let ms = match timeout {
            None => -1,
            // Round up, so a deadline is never missed by sleeping a little short of it.
            Some(t) => t
                .as_nanos()
                .div_ceil(1_000_000)
                .min(libc::c_int::MAX as u128) as libc::c_int,
        };
        // SAFETY: `events` has room for EVENTS_PER_POLL entries.
        let n = unsafe {
            libc::epoll_wait(
                r.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                EVENTS_PER_POLL as libc::c_int,
                ms,
            )
        };
        before_dispatch();
        for ev in &events[..n.max(0) as usize] {
            let (mask, data) = (ev.events, ev.u64);
            if data == WAKER_TOKEN {
                let mut buf = 0u64;
                // SAFETY: reads 8 bytes into a valid u64 from our eventfd.
                unsafe { libc::read(r.waker.as_raw_fd(), (&raw mut buf).cast(), 8) };
                continue;
            }
            // SAFETY: `data` is a pointer leaked by `register`; the reactor's reference is
            // dropped only from the release list, after this batch (module docs).
            let io = unsafe { &*(data as *const ScheduledIo) };
            io.dispatch(mask);
        }
        // Every batch that could name a released registration has been handled (module docs).
        let released = std::mem::take(&mut *r.released.lock());
        drop(released);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.reactor.driver.store(false, Ordering::Release);
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Reactor {
    fn new() -> io::Result<Reactor> {
        // SAFETY: plain syscalls; each returned fd is owned by exactly one OwnedFd.
        let (epoll, waker) = unsafe {
            let epoll = OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?);
            let waker = OwnedFd::from_raw_fd(cvt(libc::eventfd(
                0,
                libc::EFD_CLOEXEC | libc::EFD_NONBLOCK,
            ))?);
            (epoll, waker)
        };
        let r = Reactor {
            epoll,
            waker,
            driver: AtomicBool::new(false),
            events: UnsafeCell::new(vec![
                libc::epoll_event { events: 0, u64: 0 };
                EVENTS_PER_POLL
            ]),
            released: Mutex::new(Vec::new()),
        };
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: WAKER_TOKEN,
        };
        // SAFETY: both fds are open; `ev` is a valid epoll_event for the call.
        cvt(unsafe {
            libc::epoll_ctl(
                r.epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                r.waker.as_raw_fd(),
                &mut ev,
            )
        })?;
        Ok(r)
    }

    /// Adds `fd` to epoll with `events`; the reactor keeps a reference to `io` until
    /// [`Reactor::deregister`].
    fn register(&self, fd: RawFd, io: &Arc<ScheduledIo>, events: u32) -> io::Result<()> {
        let ptr = Arc::into_raw(io.clone());
        let mut ev = libc::epoll_event {
            events,
            u64: ptr as u64,
        };
        // SAFETY: `fd` is open (our caller owns or borrows it); `ev` is valid for the call.
        let r =
            unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            let e = io::Error::last_os_error();
            // SAFETY: the registration failed, so epoll never saw `ptr`: we take it back.
            drop(unsafe { Arc::from_raw(ptr) });
            return Err(e);
        }
        REGISTRATIONS.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Removes `fd` (still open) from epoll and hands the reactor's reference to `io` to the
    /// release list.
    fn deregister(&self, fd: RawFd, io: Arc<ScheduledIo>) {
        // SAFETY: `fd` is still open: callers deregister before they close it. A failure (the fd
        // was never added after all) leaves nothing to undo.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
        REGISTRATIONS.fetch_sub(1, Ordering::Relaxed);
        let ptr = Arc::as_ptr(&io);
        // SAFETY: `register` leaked one strong reference for epoll's user data; it is ours to
        // take back now that the fd is removed. `io` itself is the caller's reference.
        let reactor_ref = unsafe { Arc::from_raw(ptr) };
        drop(io);
        let mut released = self.released.lock();
        released.push(reactor_ref);
        if released.len() == RELEASE_BATCH {
            drop(released);
            self.wake();
        }
    }

    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our eventfd; a full counter (EAGAIN) still
        // leaves the reactor woken.
        unsafe { libc::write(self.waker.as_raw_fd(), (&raw const one).cast(), 8) };
    }
}

/// A socket (or any pollable fd) that parks on `WouldBlock`: owns `T`, and the registration made
/// the first time an operation on it would block. Dropping it removes the registration before
/// `T` closes the fd.
pub(crate) struct Source<T: AsRawFd> {
    io: T,
    /// The registration, once one succeeded (a failure is not kept: see the module docs).
    reg: OnceLock<Arc<ScheduledIo>>,
    /// Held while registering, so that concurrent first waiters register once.
    registering: Mutex<()>,
}

impl<T: AsRawFd> Source<T> {
    /// Wraps `io`, whose fd must already be in nonblocking mode.
    pub(crate) fn new(io: T) -> Source<T> {
        Source {
            io,
            reg: OnceLock::new(),
            registering: Mutex::new(()),
        }
    }

    /// The wrapped I/O object.
    pub(crate) fn get(&self) -> &T {
        &self.io
    }

    /// Removes the registration (if any) and gives back the wrapped object.
    pub(crate) fn into_inner(self) -> T {
        let mut this = std::mem::ManuallyDrop::new(self);
        this.deregister();
        // SAFETY: `this` is never used or dropped again; each field is moved out once.
        unsafe {
            // (`registering`, a `Mutex<()>`, owns nothing and needs no drop.)
            drop(std::ptr::read(&this.reg));
            std::ptr::read(&this.io)
        }
    }

    fn deregister(&mut self) {
        if let Some(io) = self.reg.take()
            && let Some(r) = current()
        {
            r.deregister(self.io.as_raw_fd(), io);
        }
    }

    /// The registration, made now if this is the first wait that can make it. A failure is this
    /// call's alone: the next wait tries again (module docs).
    fn registration(&self) -> io::Result<&Arc<ScheduledIo>> {
        if let Some(io) = self.reg.get() {
            return Ok(io);
        }
        // Concurrent first waiters (on `&TcpStream`) race here: one registers while the other
        // waits a syscall's time for it, then both use the registration.
        let _registering = self.registering.lock();
        if let Some(io) = self.reg.get() {
            return Ok(io);
        }
        let io = Arc::new(ScheduledIo::new());
        let events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        reactor()?.register(self.io.as_raw_fd(), &io, events)?;
        Ok(self.reg.get_or_init(|| io))
    }

    /// The sequence number of `interest`'s direction (0 before registration).
    fn seq(&self, interest: Interest) -> u64 {
        match self.reg.get() {
            Some(io) => io.dir(interest).seq.load(Ordering::Acquire),
            None => 0,
        }
    }

    /// Runs `op` until it does not fail with `WouldBlock`, parking in between (module docs).
    /// `nonblocking`: return `WouldBlock` instead of parking. `timeout`: how long to wait in all;
    /// `Ok(None)` when it passed (the caller picks the error).
    pub(crate) fn io<R>(
        &self,
        interest: Interest,
        nonblocking: bool,
        timeout: impl FnOnce() -> io::Result<Option<Duration>>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<Option<R>> {
        let mut deadline: Option<Option<Instant>> = None;
        let mut timeout = Some(timeout);
        loop {
            let seen = self.seq(interest);
            match op(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r.map(Some),
            }
            if nonblocking {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let deadline = match deadline {
                Some(d) => d,
                None => {
                    let d = (timeout.take().expect("timeout read once"))()?
                        .map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future));
                    *deadline.insert(d)
                }
            };
            let woken = match self.registration() {
                Ok(io) => io.dir(interest).wait(seen, deadline),
                // No reactor to be had (out of fds or memory): wait as std would (module docs).
                Err(e) if out_of_resources(&e) => poll_fd(self.io.as_raw_fd(), interest, deadline)?,
                Err(e) => return Err(e),
            };
            if !woken && deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }
}

/// Whether registering failed for want of fds or kernel memory: a wait can still be done by
/// blocking in `poll(2)`, which needs neither.
fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOSPC)
    )
}

/// Blocks this OS thread until `fd` is ready for `interest` (or has an error or hang-up
/// pending) or `deadline` passes: the fallback when no reactor registration can be made.
/// Returns `false` on timeout.
fn poll_fd(fd: RawFd, interest: Interest, deadline: Option<Instant>) -> io::Result<bool> {
    let events = match interest {
        Interest::Read => libc::POLLIN | libc::POLLRDHUP,
        Interest::Write => libc::POLLOUT,
    };
    loop {
        let ms = match deadline {
            None => -1,
            // Rounded up, so that the deadline has passed when poll times out.
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_nanos()
                .div_ceil(1_000_000)
                .min(libc::c_int::MAX as u128) as libc::c_int,
        };
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r > 0 {
            return Ok(true);
        }
        if r == 0 {
            return Ok(false); // only with a timeout: -1 never returns 0
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A deadline no program reaches (for timeouts too large for `Instant`).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

impl<T: AsRawFd> Drop for Source<T> {
    fn drop(&mut self) {
        self.deregister();
    }
}

/// A one-shot, level-triggered registration of a private duplicate of `fd` (so that it never
/// collides with a registration of the fd itself, and the caller's fd is left untouched).
pub(crate) fn wait_once(
    fd: BorrowedFd<'_>,
    interest: Interest,
    timeout: Option<Duration>,
) -> io::Result<()> {
    let deadline = timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future));
    let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for readiness");
    let registered = fd.try_clone_to_owned().and_then(|dup| {
        let reactor = reactor()?;
        let io = Arc::new(ScheduledIo::new());
        let events = match interest {
            Interest::Read => libc::EPOLLIN | libc::EPOLLRDHUP,
            Interest::Write => libc::EPOLLOUT,
        } as u32
            | libc::EPOLLONESHOT as u32;
        reactor.register(dup.as_raw_fd(), &io, events)?;
        Ok((dup, reactor, io))
    });
    let (dup, reactor, io) = match registered {
        Ok(r) => r,
        // No fd for the duplicate or the reactor: wait on the fd itself, as std would (module
        // docs).
        Err(e) if out_of_resources(&e) => {
            return match poll_fd(fd.as_raw_fd(), interest, deadline)? {
                true => Ok(()),
                false => Err(timed_out()),
            };
        }
        Err(e) => return Err(e),
    };
    let dir = io.dir(interest);
    let ready = loop {
        if dir.seq.load(Ordering::Acquire) != 0 {
            break true;
        }
        if !dir.wait(0, deadline) && deadline.is_some_and(|d| Instant::now() >= d) {
            break dir.seq.load(Ordering::Acquire) != 0;
        }
    };
    reactor.deregister(dup.as_raw_fd(), io);
    drop(dup);
    if ready { Ok(()) } else { Err(timed_out()) }
}
