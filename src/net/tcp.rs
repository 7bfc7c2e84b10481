//! [`TcpListener`] and [`TcpStream`]: std's types in nonblocking mode, behind the reactor.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::addr::{self, ToSocketAddrs, each_addr};
use super::{Socket, cvt, set_fd_nonblocking};
use crate::rt::reactor::Interest;

/// A TCP stream between a local and a remote socket — std's [`std::net::TcpStream`], blocking
/// by parking the calling thread (green or OS) rather than its worker.
///
/// Reads and writes wait for the reactor when the socket is not ready; `set_read_timeout` /
/// `set_write_timeout` bound those waits (a timeout is an error of kind `WouldBlock`, as std's on
/// Linux). `Read` and `Write` are implemented for `&TcpStream` too, so a reader and a writer
/// thread can share one stream, and several threads may wait on it at once.
///
/// ```no_run
/// use smarm::net::TcpStream;
/// use std::io::Write;
///
/// let mut stream = TcpStream::connect("127.0.0.1:34254").unwrap();
/// stream.write_all(b"hello").unwrap();
/// ```
pub struct TcpStream {
    sock: Socket<std::net::TcpStream>,
}

/// A TCP socket server, listening for connections — std's [`std::net::TcpListener`]; `accept`
/// parks the calling thread until a connection arrives.
///
/// ```no_run
/// use smarm::net::{TcpListener, TcpStream};
///
/// fn handle_client(stream: TcpStream) { /* ... */ }
///
/// let listener = TcpListener::bind("127.0.0.1:80").unwrap();
/// for stream in listener.incoming() {
///     let stream = stream.unwrap();
///     smarm::thread::spawn(move || handle_client(stream));
/// }
/// ```
pub struct TcpListener {
    sock: Socket<std::net::TcpListener>,
}

/// An iterator that infinitely [`accept`](TcpListener::accept)s connections on a
/// [`TcpListener`]; made by [`TcpListener::incoming`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

/// The accept queue's length. std listens with 128, which a burst of connections to a server
/// that takes thousands overflows (each overflow costs the client a 1 s SYN retransmit); tokio
/// uses 1024 as well. The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: libc::c_int = 1024;

/// Makes a new nonblocking, close-on-exec socket.
fn new_socket(addr: &SocketAddr, ty: libc::c_int) -> io::Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain syscall; the new fd is owned by exactly one OwnedFd.
    unsafe {
        let fd = cvt(libc::socket(
            family,
            ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        ))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

impl TcpStream {
    fn from_std(s: std::net::TcpStream) -> TcpStream {
        TcpStream {
            sock: Socket::new(s),
        }
    }

    /// Opens a TCP connection to a remote host, trying each address `addr` resolves to in order
    /// until one connects (std's behaviour); the error is the last attempt's. Host names are
    /// resolved on the blocking pool.
    ///
    /// ```no_run
    /// let stream = smarm::net::TcpStream::connect("127.0.0.1:8080").unwrap();
    /// ```
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |a| TcpStream::connect_inner(a, None))
    }

    /// Opens a TCP connection to `addr`, waiting at most `timeout`; a timeout is an error of kind
    /// `TimedOut`, a zero `timeout` one of kind `InvalidInput` (both as std).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let addr = "127.0.0.1:8080".parse().unwrap();
    /// let stream = smarm::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    /// ```
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_inner(addr, Some(timeout))
    }

    fn connect_inner(addr: &SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let fd = new_socket(addr, libc::SOCK_STREAM)?;
        let (raw, len) = addr::to_raw(addr);
        let r = loop {
            // SAFETY: `raw` holds a valid sockaddr of `len` bytes; `fd` is open.
            let r = unsafe { libc::connect(fd.as_raw_fd(), (&raw const raw).cast(), len) };
            match cvt(r) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        let stream = TcpStream::from_std(std::net::TcpStream::from(fd));
        match r {
            Ok(_) => return Ok(stream),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        // Connecting: wait for writability, then ask whether it worked.
        let done = stream.sock.src_io_connect(timeout);
        match done {
            Ok(Some(())) => Ok(stream),
            Ok(None) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection timed out",
            )),
            Err(e) => Err(e),
        }
    }

    /// The remote address this stream is connected to.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().peer_addr()
    }

    /// The local address of this end of the stream.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// Shuts down the read half, the write half, or both. A thread blocked reading this stream
    /// wakes and sees end of file after `Shutdown::Read`; the peer sees end of file after
    /// `Shutdown::Write`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.get().shutdown(how)
    }

    /// A new handle to the same socket (a duplicated fd, as std). Both may be used at once, from
    /// different threads; socket options, timeouts and the nonblocking flag are shared.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let s = self.sock.get().try_clone()?;
        Ok(TcpStream {
            sock: self.sock.clone_with(s),
        })
    }

    /// Sets how long a read may wait (`None`: forever). A zero duration is an `InvalidInput`
    /// error, as in std. The value is the socket's `SO_RCVTIMEO`, shared by clones.
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.sock.get().set_read_timeout(dur)
    }

    /// Sets how long a write may wait (`None`: forever); see [`set_read_timeout`](Self::set_read_timeout).
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.sock.get().set_write_timeout(dur)
    }

    /// The read timeout (as the kernel stores it: microsecond resolution, as std reports it).
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.get().read_timeout()
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.get().write_timeout()
    }

    /// Receives data without removing it from the queue, waiting like `read`.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_op(|s| s.peek(buf))
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm when `true`).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock.get().set_nodelay(nodelay)
    }

    /// Gets `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.get().nodelay()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.get().ttl()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.get().take_error()
    }

    /// With `true`, operations that would block return an error of kind `WouldBlock` instead of
    /// waiting (std's nonblocking mode); shared with clones.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Sets `TCP_QUICKACK` (Linux; std has it as the unstable `TcpStreamExt::set_quickack`).
    pub fn set_quickack(&self, quickack: bool) -> io::Result<()> {
        let v = libc::c_int::from(quickack);
        // SAFETY: setsockopt reads one c_int from `v`, alive across the call; the fd is ours.
        cvt(unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&raw const v).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })?;
        Ok(())
    }

    /// Gets `TCP_QUICKACK`.
    pub fn quickack(&self) -> io::Result<bool> {
        let mut v: libc::c_int = 0;
        let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `v`; both outlive the call.
        cvt(unsafe {
            libc::getsockopt(
                self.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&raw mut v).cast(),
                &mut len,
            )
        })?;
        Ok(v != 0)
    }

    fn read_op<R>(&self, op: impl FnMut(&std::net::TcpStream) -> io::Result<R>) -> io::Result<R> {
        let s = self.sock.get();
        self.sock.io(Interest::Read, || s.read_timeout(), op)
    }

    fn write_op<R>(&self, op: impl FnMut(&std::net::TcpStream) -> io::Result<R>) -> io::Result<R> {
        let s = self.sock.get();
        self.sock.io(Interest::Write, || s.write_timeout(), op)
    }
}

impl Socket<std::net::TcpStream> {
    /// Waits for a nonblocking connect to finish: `Ok(Some(()))` connected, `Ok(None)` timed out.
    fn src_io_connect(&self, timeout: Option<Duration>) -> io::Result<Option<()>> {
        self.src.io(
            Interest::Write,
            false,
            || Ok(timeout),
            |s| {
                if let Some(e) = s.take_error()? {
                    return Err(e);
                }
                match s.peer_addr() {
                    Ok(_) => Ok(()),
                    // Still in progress (a failure shows in SO_ERROR at the next event).
                    Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                }
            },
        )
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_op(|mut s| s.read(buf))
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.read_op(|mut s| s.read_vectored(bufs))
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_op(|mut s| s.write(buf))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_op(|mut s| s.write_vectored(bufs))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.sock.get(), f)
    }
}

/// Accepts one connection on the nonblocking listener `fd`: the new socket nonblocking too.
fn accept4(fd: RawFd) -> io::Result<(OwnedFd, SocketAddr)> {
    // SAFETY: sockaddr_storage is plain data.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage`/`len` describe a writable buffer large enough for any address; the new
    // fd is owned by exactly one OwnedFd.
    let fd = unsafe {
        let r = cvt(libc::accept4(
            fd,
            (&raw mut storage).cast(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        ))?;
        OwnedFd::from_raw_fd(r)
    };
    Ok((fd, addr::from_raw(&storage, len)?))
}

impl TcpListener {
    /// Creates a listener bound to `addr` (each address it resolves to is tried in order).
    ///
    /// ```
    /// let listener = smarm::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(listener.local_addr().unwrap().port() > 0);
    /// ```
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let l = each_addr(addr, |a| std::net::TcpListener::bind(a))?;
        l.set_nonblocking(true)?;
        // SAFETY: `listen` on our own listening socket only changes its backlog.
        cvt(unsafe { libc::listen(l.as_raw_fd(), LISTEN_BACKLOG) })?;
        Ok(TcpListener {
            sock: Socket::new(l),
        })
    }

    /// The local address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// A new handle to the same listening socket (a duplicated fd).
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        let l = self.sock.get().try_clone()?;
        Ok(TcpListener {
            sock: self.sock.clone_with(l),
        })
    }

    /// Accepts a new connection, parking the calling thread until one arrives; returns the
    /// stream and the peer's address.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let fd = self.sock.get().as_raw_fd();
        let (s, peer) = self.sock.io(Interest::Read, || Ok(None), |_| accept4(fd))?;
        Ok((TcpStream::from_std(std::net::TcpStream::from(s)), peer))
    }

    /// An iterator over incoming connections: `accept` in a loop; it never returns `None`.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Sets `IP_TTL` for accepted sockets.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.get().ttl()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.get().take_error()
    }

    /// With `true`, `accept` returns an error of kind `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking);
        Ok(())
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.sock.get(), f)
    }
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|p| p.0))
    }
}

impl std::iter::FusedIterator for Incoming<'_> {}

macro_rules! fd_traits {
    ($ty:ident, $std:ty) => {
        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.sock.get().as_fd()
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.sock.get().as_raw_fd()
            }
        }

        impl IntoRawFd for $ty {
            /// Gives up the fd (its registration removed); it stays in nonblocking mode.
            fn into_raw_fd(self) -> RawFd {
                self.sock.into_inner().into_raw_fd()
            }
        }

        impl FromRawFd for $ty {
            /// Takes ownership of `fd`, switching it to nonblocking mode.
            unsafe fn from_raw_fd(fd: RawFd) -> $ty {
                set_fd_nonblocking(fd);
                $ty {
                    // SAFETY: forwarded: the caller gives us an open fd it owns.
                    sock: Socket::new(unsafe { <$std>::from_raw_fd(fd) }),
                }
            }
        }

        impl From<OwnedFd> for $ty {
            /// Takes ownership of `fd`, switching it to nonblocking mode.
            fn from(fd: OwnedFd) -> $ty {
                set_fd_nonblocking(fd.as_raw_fd());
                $ty {
                    sock: Socket::new(<$std>::from(fd)),
                }
            }
        }

        impl From<$ty> for OwnedFd {
            /// Gives up the fd (its registration removed); it stays in nonblocking mode.
            fn from(s: $ty) -> OwnedFd {
                s.sock.into_inner().into()
            }
        }

        impl From<$std> for $ty {
            /// Adopts a std socket (switching it to nonblocking mode).
            fn from(s: $std) -> $ty {
                OwnedFd::from(s).into()
            }
        }
    };
}

fd_traits!(TcpStream, std::net::TcpStream);
fd_traits!(TcpListener, std::net::TcpListener);
pub(crate) use fd_traits;
