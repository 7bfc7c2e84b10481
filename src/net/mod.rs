//! `smarm::net`: std's blocking sockets — [`TcpListener`], [`TcpStream`], [`UdpSocket`] — for
//! green threads. Change `use std::net` to `use smarm::net` and thread-per-connection code runs
//! with a green thread per connection: a socket operation that would block parks the calling
//! thread, and its worker runs others meanwhile.
//!
//! ```
//! use smarm::net::{TcpListener, TcpStream};
//! use smarm::thread;
//! use std::io::{Read, Write};
//!
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = thread::spawn(move || {
//!     let (mut s, _) = listener.accept().unwrap();
//!     let mut buf = [0; 5];
//!     s.read_exact(&mut buf).unwrap();
//!     s.write_all(&buf).unwrap();
//! });
//! let mut c = TcpStream::connect(addr).unwrap();
//! c.write_all(b"hello").unwrap();
//! let mut buf = [0; 5];
//! c.read_exact(&mut buf).unwrap();
//! assert_eq!(&buf, b"hello");
//! server.join().unwrap();
//! ```
//!
//! How it works: every socket is created in nonblocking mode; an operation tries its syscall
//! first and, only if that would block, waits for the reactor (`rt::io::reactor`, epoll,
//! edge-triggered, one registration per socket for its life) to report readiness, then retries.
//! Timeouts (`set_read_timeout`, `connect_timeout`) are deadlines of that wait, and give std's
//! error kinds: `WouldBlock` (EAGAIN) for read and write timeouts, as std on Linux,
//! `TimedOut` for `connect_timeout`. `set_nonblocking(true)` makes operations return
//! `WouldBlock` instead of waiting, as with std. Everything works from plain OS threads as well.
//!
//! Differences from std, all at the edges:
//! - The fd behind a socket is always in nonblocking mode (`O_NONBLOCK`), whatever
//!   `set_nonblocking` says: an fd taken out with `as_raw_fd`/`into_raw_fd` and handed to code
//!   that expects a blocking fd sees `EAGAIN`. `from_raw_fd` switches the fd it is given to
//!   nonblocking mode.
//! - [`ToSocketAddrs`] is smarm's own trait (same shape, same implementations as std's) so that
//!   host names resolve on the blocking pool; a type of your own implementing only std's trait
//!   must be converted to addresses first.
//! - The first wait of the process starts the reactor, which takes two fds (an epoll instance
//!   and an eventfd). A process out of fds at that moment (`ulimit -n` reached) waits as std
//!   does instead — blocking its OS thread in `poll(2)` — and starts the reactor at a later wait,
//!   once fds are free; the failure is never kept on the socket (see `rt::io::reactor`).
//! - The Windows-only methods (`as_raw_socket`, `as_socket`, `from_raw_socket`,
//!   `into_raw_socket`) do not exist: smarm runs on Linux only.

mod addr;
mod tcp;
mod udp;

pub use addr::ToSocketAddrs;
pub use std::net::{
    AddrParseError, IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6,
};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::rt::io::reactor::{Interest, Source};

/// A std socket (in nonblocking mode) plus what smarm adds: its reactor registration and the
/// user's nonblocking flag. The flag is shared by `try_clone`s, as std's `O_NONBLOCK` is shared
/// by the duplicated fds.
pub(crate) struct Socket<T: AsRawFd> {
    src: Source<T>,
    nonblocking: Arc<AtomicBool>,
}

impl<T: AsRawFd> Socket<T> {
    /// Wraps `io`, whose fd is already nonblocking.
    pub(crate) fn new(io: T) -> Socket<T> {
        Socket {
            src: Source::new(io),
            nonblocking: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A socket for a duplicate of this one's fd (made by `try_clone`).
    pub(crate) fn clone_with(&self, io: T) -> Socket<T> {
        Socket {
            src: Source::new(io),
            nonblocking: self.nonblocking.clone(),
        }
    }

    pub(crate) fn get(&self) -> &T {
        self.src.get()
    }

    pub(crate) fn into_inner(self) -> T {
        self.src.into_inner()
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
    }

    fn nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::Relaxed)
    }

    /// Runs `op` until it does not block; a timeout (as `timeout` reads it, e.g. from
    /// `SO_RCVTIMEO`) is `EAGAIN`, std's error for a socket timeout on Linux.
    pub(crate) fn io<R>(
        &self,
        interest: Interest,
        timeout: impl FnOnce() -> io::Result<Option<Duration>>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        // Called once, when `op` would block: a plain OS thread is about to wait for the reactor.
        let timeout = || {
            crate::rt::runtime::ensure_poller();
            timeout()
        };
        self.src
            .io(interest, self.nonblocking(), timeout, op)?
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EAGAIN))
    }
}

/// Puts `fd` into nonblocking mode (for `from_raw_fd`, which cannot report an error: a failure
/// here means the fd is not usable as a socket anyway, and the first operation will say so).
pub(crate) fn set_fd_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a caller-provided fd; an invalid fd just fails with EBADF.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 && flags & libc::O_NONBLOCK == 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// Turns a libc return value into an `io::Result`.
pub(crate) fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}
