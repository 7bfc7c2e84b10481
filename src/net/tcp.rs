//! [`TcpListener`] and [`TcpStream`]: std's types in nonblocking mode, behind the reactor.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::addr::{self, ToSocketAddrs, each_addr};
use super::{Socket, cvt, set_fd_nonblocking};
use crate::rt::io::reactor::Interest;

/// A TCP stream between a local and a remote socket: std's [`std::net::TcpStream`] for green
/// threads.
///
/// A `TcpStream` is made by [`connect`](TcpStream::connect)ing to a remote host or by
/// [`accept`](TcpListener::accept)ing a connection on a [`TcpListener`]. Data is read and written
/// through its [`Read`] and [`Write`] implementations. The connection is closed when the value is
/// dropped; [`shutdown`](TcpStream::shutdown) closes either half sooner.
///
/// A read or write that cannot proceed blocks the green thread, not the worker: the calling
/// thread parks until the reactor reports the socket ready, and its worker runs other green
/// threads meanwhile (called from a plain OS thread, it parks that thread). `set_read_timeout` /
/// `set_write_timeout` bound those waits; a timeout is an error of kind `WouldBlock`, as std's on
/// Linux. `Read` and `Write` are implemented for `&TcpStream` too, so a reader and a writer thread
/// can share one stream, and several threads may wait on it at once.
///
/// # Examples
///
/// ```
/// use smarm::net::{TcpListener, TcpStream};
/// use std::io::{Read, Write};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let mut stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
/// stream.write_all(b"hello").unwrap();
///
/// let (mut peer, _) = listener.accept().unwrap();
/// let mut buf = [0; 5];
/// peer.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"hello");
/// ```
pub struct TcpStream {
    sock: Socket<std::net::TcpStream>,
}

/// A TCP socket server, listening for connections: std's [`std::net::TcpListener`] for green
/// threads.
///
/// Made by [`bind`](TcpListener::bind)ing to a socket address; connections are taken with
/// [`accept`](TcpListener::accept) or by iterating over [`incoming`](TcpListener::incoming). The
/// socket is closed when the value is dropped.
///
/// Waiting for a connection blocks the green thread, not the worker, so the classic
/// thread-per-connection server runs as a green thread per connection.
///
/// # Examples
///
/// ```
/// use smarm::net::{TcpListener, TcpStream};
/// use smarm::thread;
/// use std::io::{Read, Write};
///
/// fn handle_client(mut stream: TcpStream) {
///     let mut buf = [0; 4];
///     stream.read_exact(&mut buf).unwrap();
///     stream.write_all(&buf).unwrap(); // echo
/// }
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = thread::spawn(move || {
///     // Serve two clients, each on a green thread of its own.
///     for stream in listener.incoming().take(2) {
///         let stream = stream.unwrap();
///         thread::spawn(move || handle_client(stream));
///     }
/// });
///
/// for msg in [b"ping", b"pong"] {
///     let mut client = TcpStream::connect(addr).unwrap();
///     client.write_all(msg).unwrap();
///     let mut buf = [0; 4];
///     client.read_exact(&mut buf).unwrap();
///     assert_eq!(&buf, msg);
/// }
/// server.join().unwrap();
/// ```
pub struct TcpListener {
    sock: Socket<std::net::TcpListener>,
}

/// An iterator that infinitely [`accept`](TcpListener::accept)s connections on a
/// [`TcpListener`].
///
/// This `struct` is created by [`TcpListener::incoming`]. Each `next` blocks the green thread,
/// not the worker, until a connection arrives; it never returns `None`.
///
/// # Examples
///
/// ```
/// use smarm::net::{Incoming, TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
///
/// let mut incoming: Incoming<'_> = listener.incoming();
/// let accepted = incoming.next().unwrap().unwrap();
/// assert_eq!(accepted.peer_addr().unwrap(), client.local_addr().unwrap());
/// ```
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

    /// Opens a TCP connection to a remote host.
    ///
    /// `addr` is an address of the remote host. Anything which implements the [`ToSocketAddrs`]
    /// trait can be supplied for the address; see this trait documentation for concrete examples.
    ///
    /// If `addr` yields multiple addresses, `connect` will be attempted with each of the addresses
    /// until a connection is successful. If none of the addresses result in a successful connection,
    /// the error returned from the last connection attempt (the last address) is returned. Host names
    /// are resolved on smarm's blocking pool, and the connection handshake blocks the green thread,
    /// not the worker.
    ///
    /// # Examples
    ///
    /// Open a TCP connection to a listener on this machine:
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    ///
    /// let stream = TcpStream::connect(addr).unwrap();
    /// assert_eq!(stream.peer_addr().unwrap(), addr);
    /// ```
    ///
    /// If the first address fails, the next one is tried:
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// // A port nobody listens on: bind one and close it again.
    /// let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    /// let addrs = [closed, listener.local_addr().unwrap()];
    ///
    /// let stream = TcpStream::connect(&addrs[..]).unwrap();
    /// assert_eq!(stream.peer_addr().unwrap(), addrs[1]);
    /// ```
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |a| TcpStream::connect_inner(a, None))
    }

    /// Opens a TCP connection to a remote host with a timeout.
    ///
    /// Unlike [`connect`](TcpStream::connect), `connect_timeout` takes a single [`SocketAddr`] since
    /// a timeout must be applied to individual addresses. The wait blocks the green thread, not the
    /// worker. A connection not made within `timeout` is an error of kind
    /// [`TimedOut`](io::ErrorKind::TimedOut); a zero `timeout` is an error of kind
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) (both as std).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    /// use std::io::ErrorKind;
    /// use std::time::Duration;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    ///
    /// let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    /// assert_eq!(stream.peer_addr().unwrap(), addr);
    ///
    /// let err = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
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

    /// Returns the socket address of the remote peer of this TCP connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert_eq!(stream.peer_addr().unwrap(), listener.local_addr().unwrap());
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().peer_addr()
    }

    /// Returns the socket address of the local half of this TCP connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let local = stream.local_addr().unwrap();
    /// assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    ///
    /// let (accepted, _) = listener.accept().unwrap();
    /// assert_eq!(accepted.peer_addr().unwrap(), local);
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// Shuts down the read, write, or both halves of this connection.
    ///
    /// This function will cause all pending and future I/O on the specified portions to return
    /// immediately with an appropriate value (see the documentation of [`Shutdown`]). A thread
    /// blocked reading this stream wakes and sees end of file after `Shutdown::Read`; the peer sees
    /// end of file after `Shutdown::Write`.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{Shutdown, TcpListener, TcpStream};
    /// use std::io::{Read, Write};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let (mut server, _) = listener.accept().unwrap();
    ///
    /// client.write_all(b"last words").unwrap();
    /// client.shutdown(Shutdown::Write).unwrap();
    ///
    /// // The server reads everything, then end of file.
    /// let mut got = String::new();
    /// server.read_to_string(&mut got).unwrap();
    /// assert_eq!(got, "last words");
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.get().shutdown(how)
    }

    /// Creates a new independently owned handle to the underlying socket.
    ///
    /// The returned `TcpStream` is a reference to the same stream that this object references (a
    /// duplicated fd, as std). Both handles will read and write the same stream of data, and options
    /// set on one stream will be propagated to the other stream — including the read and write
    /// timeouts and the nonblocking flag. The two may be used at once, from different threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    /// use smarm::thread;
    /// use std::io::{Read, Write};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let (mut server, _) = listener.accept().unwrap();
    ///
    /// // One green thread writes through the clone while this one reads through the original.
    /// let mut writer = stream.try_clone().unwrap();
    /// let t = thread::spawn(move || writer.write_all(b"hi").unwrap());
    /// let mut buf = [0; 2];
    /// server.read_exact(&mut buf).unwrap();
    /// server.write_all(&buf).unwrap();
    /// (&stream).read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"hi");
    /// t.join().unwrap();
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let s = self.sock.get().try_clone()?;
        Ok(TcpStream {
            sock: self.sock.clone_with(s),
        })
    }

    /// Sets the read timeout to the timeout specified.
    ///
    /// If the value specified is [`None`], then [`read`](Read::read) calls will block indefinitely.
    /// An [`Err`] is returned if the zero [`Duration`] is passed to this method, as in std. The
    /// value is the socket's `SO_RCVTIMEO`, shared by clones.
    ///
    /// A read blocks the green thread, not the worker, for at most this long; when the time passes
    /// it fails with an error of kind [`WouldBlock`](io::ErrorKind::WouldBlock), as std's does on
    /// Linux.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    /// use std::io::{ErrorKind, Read};
    /// use std::time::Duration;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    ///
    /// // Nothing is ever sent, so the read gives up after 10 ms.
    /// let err = stream.read(&mut [0; 8]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::WouldBlock);
    /// ```
    ///
    /// An [`Err`] is returned if the zero [`Duration`] is passed to this method:
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let err = stream.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.sock.get().set_read_timeout(dur)
    }

    /// Sets the write timeout to the timeout specified.
    ///
    /// If the value specified is [`None`], then [`write`](Write::write) calls will block
    /// indefinitely. An [`Err`] is returned if the zero [`Duration`] is passed to this method. A
    /// write that waits (the socket's send buffer is full) blocks the green thread, not the worker,
    /// for at most this long, then fails with an error of kind
    /// [`WouldBlock`](io::ErrorKind::WouldBlock). See also
    /// [`set_read_timeout`](Self::set_read_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(stream.write_timeout().unwrap(), Some(Duration::from_secs(1)));
    /// ```
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.sock.get().set_write_timeout(dur)
    }

    /// Returns the read timeout of this socket.
    ///
    /// If the timeout is [`None`], then [`read`](Read::read) calls will block indefinitely. The value
    /// is as the kernel stores it (rounded to its clock tick), as std reports it.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert_eq!(stream.read_timeout().unwrap(), None);
    ///
    /// stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    /// assert_eq!(stream.read_timeout().unwrap(), Some(Duration::from_secs(2)));
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.get().read_timeout()
    }

    /// Returns the write timeout of this socket.
    ///
    /// If the timeout is [`None`], then [`write`](Write::write) calls will block indefinitely.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert_eq!(stream.write_timeout().unwrap(), None);
    ///
    /// stream.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    /// assert_eq!(stream.write_timeout().unwrap(), Some(Duration::from_secs(2)));
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.get().write_timeout()
    }

    /// Receives data on the socket from the remote address to which it is connected, without
    /// removing that data from the queue. On success, returns the number of bytes peeked.
    ///
    /// Successive calls return the same data. Like a read, it blocks the green thread, not the
    /// worker, until data arrives (bounded by the read timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    /// use std::io::{Read, Write};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let (mut server, _) = listener.accept().unwrap();
    /// client.write_all(b"hello").unwrap();
    ///
    /// let mut buf = [0; 5];
    /// let n = server.peek(&mut buf).unwrap();
    /// assert_eq!(&buf[..n], &b"hello"[..n]);
    ///
    /// // The data is still there for the read.
    /// server.read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"hello");
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_op(|s| s.peek(buf))
    }

    /// Sets the value of the `TCP_NODELAY` option on this socket.
    ///
    /// If set, this option disables the Nagle algorithm. This means that segments are always sent
    /// as soon as possible, even if there is only a small amount of data. When not set, data is
    /// buffered until there is a sufficient amount to send out, thereby avoiding the frequent
    /// sending of small packets.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_nodelay(true).unwrap();
    /// assert!(stream.nodelay().unwrap());
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock.get().set_nodelay(nodelay)
    }

    /// Gets the value of the `TCP_NODELAY` option on this socket.
    ///
    /// For more information about this option, see [`set_nodelay`](Self::set_nodelay).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert!(!stream.nodelay().unwrap()); // off by default, as with std
    /// stream.set_nodelay(true).unwrap();
    /// assert!(stream.nodelay().unwrap());
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.get().nodelay()
    }

    /// Sets the value for the `IP_TTL` option on this socket.
    ///
    /// This value sets the time-to-live field that is used in every packet sent from this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_ttl(100).unwrap();
    /// assert_eq!(stream.ttl().unwrap(), 100);
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_ttl(ttl)
    }

    /// Gets the value of the `IP_TTL` option for this socket.
    ///
    /// For more information about this option, see [`set_ttl`](Self::set_ttl).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_ttl(64).unwrap();
    /// assert_eq!(stream.ttl().unwrap(), 64);
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.get().ttl()
    }

    /// Gets the value of the `SO_ERROR` option on this socket.
    ///
    /// This will retrieve the stored error in the underlying socket, clearing the field in the
    /// process. This can be useful for checking errors between calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// assert!(stream.take_error().unwrap().is_none());
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.get().take_error()
    }

    /// Moves this TCP stream into or out of nonblocking mode.
    ///
    /// In nonblocking mode, `read`, `write`, `recv` and `send` operations return an error of kind
    /// [`WouldBlock`](io::ErrorKind::WouldBlock) instead of waiting; in blocking mode (the default)
    /// they block the green thread, not the worker. The flag is shared with clones made by
    /// [`try_clone`](Self::try_clone). Unlike std, the fd itself is always nonblocking (see the
    /// [module docs](crate::net)).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    /// use std::io::{ErrorKind, Read, Write};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let mut stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_nonblocking(true).unwrap();
    ///
    /// // Nothing has been sent yet: the read returns at once.
    /// let mut buf = [0; 8];
    /// assert_eq!(stream.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    ///
    /// // Back to blocking: the read waits for the peer's data.
    /// let (mut peer, _) = listener.accept().unwrap();
    /// peer.write_all(b"ok").unwrap();
    /// stream.set_nonblocking(false).unwrap();
    /// let mut buf = [0; 2];
    /// stream.read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"ok");
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Sets the value of the `TCP_QUICKACK` option on this socket.
    ///
    /// If set, acks are sent immediately, rather than delayed if needed in accordance to normal TCP
    /// operation. This flag is not permanent: the kernel may clear it again later. Linux only; std
    /// has it as the unstable `TcpStreamExt::set_quickack`.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_quickack(true).unwrap();
    /// assert!(stream.quickack().unwrap());
    /// ```
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

    /// Gets the value of the `TCP_QUICKACK` option on this socket.
    ///
    /// For more information about this option, see [`set_quickack`](Self::set_quickack).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// stream.set_quickack(false).unwrap();
    /// assert!(!stream.quickack().unwrap());
    /// ```
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
    /// Creates a new `TcpListener` which will be bound to the specified address.
    ///
    /// The returned listener is ready for accepting connections.
    ///
    /// Binding with a port number of 0 will request that the OS assigns a port to this listener.
    /// The port allocated can be queried via the [`local_addr`](TcpListener::local_addr) method.
    ///
    /// The address type can be any implementor of the [`ToSocketAddrs`] trait. See its
    /// documentation for concrete examples.
    ///
    /// If `addr` yields multiple addresses, `bind` will be attempted with each of the addresses
    /// until one succeeds and returns the listener. If none of the addresses succeed in creating a
    /// listener, the error returned from the last attempt (the last address) is returned. Unlike
    /// std's (128), the accept queue is 1024 long (capped by the kernel's `net.core.somaxconn`).
    ///
    /// # Examples
    ///
    /// Creates a TCP listener bound to a port the OS picks on `127.0.0.1`:
    ///
    /// ```
    /// use smarm::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(listener.local_addr().unwrap().port() > 0);
    /// ```
    ///
    /// Binding to an address that is taken fails, and the next address is tried:
    ///
    /// ```
    /// use smarm::net::{SocketAddr, TcpListener};
    ///
    /// let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addrs = [
    ///     taken.local_addr().unwrap(),
    ///     SocketAddr::from(([127, 0, 0, 1], 0)),
    /// ];
    /// let listener = TcpListener::bind(&addrs[..]).unwrap();
    /// assert_ne!(listener.local_addr().unwrap(), addrs[0]);
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

    /// Returns the local socket address of this listener.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{IpAddr, Ipv4Addr, TcpListener};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    /// assert_ne!(addr.port(), 0);
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// Creates a new independently owned handle to the underlying socket.
    ///
    /// The returned [`TcpListener`] is a reference to the same socket that this object references
    /// (a duplicated fd). Both handles can be used to accept incoming connections, and options set
    /// on one listener will affect the other.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let clone = listener.try_clone().unwrap();
    /// assert_eq!(clone.local_addr().unwrap(), listener.local_addr().unwrap());
    ///
    /// // A connection made to one is accepted through the other.
    /// let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let (_, peer) = clone.accept().unwrap();
    /// assert_eq!(peer, client.local_addr().unwrap());
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        let l = self.sock.get().try_clone()?;
        Ok(TcpListener {
            sock: self.sock.clone_with(l),
        })
    }

    /// Accept a new incoming connection from this listener.
    ///
    /// This function will block the calling green thread (not the worker) until a new TCP
    /// connection is established. When established, the corresponding [`TcpStream`] and the remote
    /// peer's address will be returned. From a plain OS thread, it parks that thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    /// use smarm::thread;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    ///
    /// // The accepting green thread parks; the worker is free to run the client.
    /// let server = thread::spawn(move || listener.accept().unwrap().1);
    /// let client = thread::spawn(move || TcpStream::connect(addr).unwrap());
    ///
    /// let client = client.join().unwrap();
    /// assert_eq!(server.join().unwrap(), client.local_addr().unwrap());
    /// ```
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let fd = self.sock.get().as_raw_fd();
        let (s, peer) = self.sock.io(Interest::Read, || Ok(None), |_| accept4(fd))?;
        Ok((TcpStream::from_std(std::net::TcpStream::from(s)), peer))
    }

    /// Returns an iterator over the connections being received on this listener.
    ///
    /// The returned iterator will never return [`None`] and will also not yield the peer's
    /// [`SocketAddr`] structure. Iterating over it is equivalent to calling
    /// [`accept`](TcpListener::accept) in a loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    /// use std::io::{Read, Write};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// for i in 0..3u8 {
    ///     TcpStream::connect(addr).unwrap().write_all(&[i]).unwrap();
    /// }
    ///
    /// for (i, stream) in listener.incoming().take(3).enumerate() {
    ///     let mut byte = [0];
    ///     stream.unwrap().read_exact(&mut byte).unwrap();
    ///     assert_eq!(byte[0], i as u8);
    /// }
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Sets the value for the `IP_TTL` option on this socket.
    ///
    /// This value sets the time-to-live field that is used in every packet sent from this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// listener.set_ttl(100).unwrap();
    /// assert_eq!(listener.ttl().unwrap(), 100);
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_ttl(ttl)
    }

    /// Gets the value of the `IP_TTL` option for this socket.
    ///
    /// For more information about this option, see [`set_ttl`](TcpListener::set_ttl).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// listener.set_ttl(42).unwrap();
    /// assert_eq!(listener.ttl().unwrap(), 42);
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.get().ttl()
    }

    /// Gets the value of the `SO_ERROR` option on this socket.
    ///
    /// This will retrieve the stored error in the underlying socket, clearing the field in the
    /// process. This can be useful for checking errors between calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(listener.take_error().unwrap().is_none());
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.get().take_error()
    }

    /// Moves this TCP listener into or out of nonblocking mode.
    ///
    /// This will result in the `accept` operation becoming nonblocking, i.e., immediately returning
    /// from their calls. If the IO operation is successful, `Ok` is returned and no further action
    /// is required. If the IO operation could not be completed and needs to be retried, an error
    /// with kind [`io::ErrorKind::WouldBlock`] is returned. In blocking mode (the default) `accept`
    /// blocks the green thread, not the worker.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{TcpListener, TcpStream};
    /// use std::io::ErrorKind;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// listener.set_nonblocking(true).unwrap();
    ///
    /// // No client yet: accept returns at once.
    /// assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    ///
    /// let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// // The connection is queued once connect returns; poll until it shows.
    /// let (_, peer) = loop {
    ///     match listener.accept() {
    ///         Ok(pair) => break pair,
    ///         Err(e) if e.kind() == ErrorKind::WouldBlock => smarm::thread::yield_now(),
    ///         Err(e) => panic!("{e}"),
    ///     }
    /// };
    /// assert_eq!(peer, client.local_addr().unwrap());
    /// ```
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
