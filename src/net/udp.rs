//! [`UdpSocket`]: std's type in nonblocking mode, behind the reactor.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::addr::{ToSocketAddrs, each_addr};
use super::tcp::fd_traits;
use super::{Socket, set_fd_nonblocking};
use crate::rt::io::reactor::Interest;

/// A UDP socket: std's [`std::net::UdpSocket`] for green threads.
///
/// After creating a `UdpSocket` by [`bind`](UdpSocket::bind)ing it to a socket address, data
/// can be [sent to](UdpSocket::send_to) and [received from](UdpSocket::recv_from) any other
/// socket address. As with std, UDP is a datagram protocol: a datagram may be lost, duplicated
/// or reordered on a real network; on loopback, as in these examples, it arrives.
///
/// Receiving blocks the green thread, not the worker: the calling thread parks until a datagram
/// arrives or the read timeout passes (an error of kind `WouldBlock`, as std's on Linux), and
/// its worker runs other green threads meanwhile.
///
/// # Examples
///
/// ```
/// use smarm::net::UdpSocket;
///
/// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
/// a.send_to(b"ping", b.local_addr().unwrap()).unwrap();
///
/// let mut buf = [0; 16];
/// let (n, from) = b.recv_from(&mut buf).unwrap();
/// assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
///
/// // Reply to whoever sent it.
/// b.send_to(&buf[..n], from).unwrap();
/// let (n, _) = a.recv_from(&mut buf).unwrap();
/// assert_eq!(&buf[..n], b"ping");
/// ```
pub struct UdpSocket {
    sock: Socket<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Creates a UDP socket from the given address.
    ///
    /// The address type can be any implementor of the [`ToSocketAddrs`] trait. See its
    /// documentation for concrete examples.
    ///
    /// If `addr` yields multiple addresses, `bind` will be attempted with each of the addresses
    /// until one succeeds and returns the socket. If none of the addresses succeed in creating a
    /// socket, the error returned from the last attempt (the last address) is returned.
    ///
    /// # Examples
    ///
    /// Creates a UDP socket bound to a port the OS picks on `127.0.0.1`:
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(socket.local_addr().unwrap().port(), 0);
    /// ```
    ///
    /// An address that is taken fails, and the next one is tried:
    ///
    /// ```
    /// use smarm::net::{SocketAddr, UdpSocket};
    ///
    /// let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let addrs = [
    ///     taken.local_addr().unwrap(),
    ///     SocketAddr::from(([127, 0, 0, 1], 0)),
    /// ];
    /// let socket = UdpSocket::bind(&addrs[..]).unwrap();
    /// assert_ne!(socket.local_addr().unwrap(), addrs[0]);
    /// ```
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let s = each_addr(addr, |a| std::net::UdpSocket::bind(a))?;
        s.set_nonblocking(true)?;
        Ok(UdpSocket {
            sock: Socket::new(s),
        })
    }

    fn read_op<R>(&self, op: impl FnMut(&std::net::UdpSocket) -> io::Result<R>) -> io::Result<R> {
        let s = self.sock.get();
        self.sock.io(Interest::Read, || s.read_timeout(), op)
    }

    fn write_op<R>(&self, op: impl FnMut(&std::net::UdpSocket) -> io::Result<R>) -> io::Result<R> {
        let s = self.sock.get();
        self.sock.io(Interest::Write, || s.write_timeout(), op)
    }

    /// Receives a single datagram message on the socket. On success, returns the number of bytes
    /// read and the origin.
    ///
    /// The function must be called with valid byte array `buf` of sufficient size to hold the
    /// message bytes. If a message is too long to fit in the supplied buffer, excess bytes may be
    /// discarded. It blocks the green thread, not the worker, until a datagram arrives (bounded by
    /// the [read timeout](UdpSocket::set_read_timeout)).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    /// use smarm::thread;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let addr = socket.local_addr().unwrap();
    ///
    /// // This green thread parks in recv_from until the sender's datagram arrives.
    /// let receiver = thread::spawn(move || {
    ///     let mut buf = [0; 10];
    ///     let (n, _src) = socket.recv_from(&mut buf).unwrap();
    ///     buf[..n].to_vec()
    /// });
    /// let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// sender.send_to(b"hello", addr).unwrap();
    /// assert_eq!(receiver.join().unwrap(), b"hello");
    /// ```
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.read_op(|s| s.recv_from(buf))
    }

    /// Receives a single datagram message on the socket, without removing it from the queue. On
    /// success, returns the number of bytes read and the origin.
    ///
    /// Successive calls return the same data. This is accomplished by passing `MSG_PEEK` as a flag
    /// to the underlying `recvfrom` system call. Like [`recv_from`](UdpSocket::recv_from), it blocks
    /// the green thread, not the worker, until a datagram arrives.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.send_to(b"hi", b.local_addr().unwrap()).unwrap();
    ///
    /// let mut buf = [0; 10];
    /// let (n, src) = b.peek_from(&mut buf).unwrap();
    /// assert_eq!((&buf[..n], src), (&b"hi"[..], a.local_addr().unwrap()));
    /// // Still queued:
    /// assert_eq!(b.recv_from(&mut buf).unwrap(), (n, src));
    /// ```
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.read_op(|s| s.peek_from(buf))
    }

    /// Sends data on the socket to the given address. On success, returns the number of bytes
    /// written. Note that the operating system may refuse buffers larger than 65507. However,
    /// partial writes are not possible until buffer sizes above `i32::MAX`.
    ///
    /// Address type can be any implementor of [`ToSocketAddrs`] trait. See its documentation for
    /// concrete examples. It is possible for `addr` to yield multiple addresses, but `send_to` will
    /// only send data to the first address yielded by `addr`; an `addr` that yields none is an
    /// error of kind [`InvalidInput`](io::ErrorKind::InvalidInput).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let target = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let n = socket.send_to(&[0; 10], target.local_addr().unwrap()).unwrap();
    /// assert_eq!(n, 10);
    ///
    /// let none: &[smarm::net::SocketAddr] = &[];
    /// let err = socket.send_to(&[0; 10], none).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        match addr.to_socket_addrs()?.next() {
            Some(a) => self.write_op(|s| s.send_to(buf, a)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no addresses to send data to",
            )),
        }
    }

    /// Returns the socket address of the remote peer this socket was connected to.
    ///
    /// If the socket isn't connected, it will return a [`NotConnected`](io::ErrorKind::NotConnected)
    /// error.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    /// use std::io::ErrorKind;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_eq!(socket.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
    ///
    /// let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.connect(peer.local_addr().unwrap()).unwrap();
    /// assert_eq!(socket.peer_addr().unwrap(), peer.local_addr().unwrap());
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().peer_addr()
    }

    /// Returns the socket address that this socket was created from.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{IpAddr, Ipv4Addr, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let addr = socket.local_addr().unwrap();
    /// assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    /// assert_ne!(addr.port(), 0);
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// Creates a new independently owned handle to the underlying socket.
    ///
    /// The returned `UdpSocket` is a reference to the same socket that this object references (a
    /// duplicated fd). Both handles will read and write the same port, and options set on one
    /// socket will be propagated to the other — the nonblocking flag included. One green thread can
    /// receive through one handle while another sends through the other.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let clone = socket.try_clone().unwrap();
    /// assert_eq!(clone.local_addr().unwrap(), socket.local_addr().unwrap());
    ///
    /// // A datagram sent to the port is received through either handle.
    /// let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// sender.send_to(b"x", socket.local_addr().unwrap()).unwrap();
    /// let mut buf = [0; 1];
    /// assert_eq!(clone.recv_from(&mut buf).unwrap().0, 1);
    /// ```
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        let s = self.sock.get().try_clone()?;
        Ok(UdpSocket {
            sock: self.sock.clone_with(s),
        })
    }

    /// Sets the read timeout to the timeout specified.
    ///
    /// If the value specified is [`None`], then [`recv_from`](UdpSocket::recv_from) and
    /// [`recv`](UdpSocket::recv) calls will block indefinitely. An [`Err`] is returned if the zero
    /// [`Duration`] is passed to this method. A receive blocks the green thread, not the worker, for
    /// at most this long, then fails with an error of kind
    /// [`WouldBlock`](io::ErrorKind::WouldBlock), as std's does on Linux.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    /// use std::io::ErrorKind;
    /// use std::time::Duration;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    ///
    /// // Nobody sends: the receive gives up after 10 ms.
    /// let err = socket.recv_from(&mut [0; 8]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::WouldBlock);
    ///
    /// let err = socket.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// ```
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.sock.get().set_read_timeout(dur)
    }

    /// Sets the write timeout to the timeout specified.
    ///
    /// If the value specified is [`None`], then [`send_to`](UdpSocket::send_to) and
    /// [`send`](UdpSocket::send) calls will block indefinitely. An [`Err`] is returned if the zero
    /// [`Duration`] is passed to this method.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    /// use std::time::Duration;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(socket.write_timeout().unwrap(), Some(Duration::from_secs(1)));
    /// assert!(socket.set_write_timeout(Some(Duration::ZERO)).is_err());
    /// ```
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.sock.get().set_write_timeout(dur)
    }

    /// Returns the read timeout of this socket.
    ///
    /// If the timeout is [`None`], then [`recv_from`](UdpSocket::recv_from) calls will block
    /// indefinitely.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    /// use std::time::Duration;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_eq!(socket.read_timeout().unwrap(), None);
    /// socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    /// assert_eq!(socket.read_timeout().unwrap(), Some(Duration::from_secs(2)));
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.get().read_timeout()
    }

    /// Returns the write timeout of this socket.
    ///
    /// If the timeout is [`None`], then [`send_to`](UdpSocket::send_to) calls will block
    /// indefinitely.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    /// use std::time::Duration;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_eq!(socket.write_timeout().unwrap(), None);
    /// socket.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    /// assert_eq!(socket.write_timeout().unwrap(), Some(Duration::from_secs(2)));
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.get().write_timeout()
    }

    /// Sets the value of the `SO_BROADCAST` option for this socket.
    ///
    /// When enabled, this socket is allowed to send packets to a broadcast address.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_broadcast(false).unwrap();
    /// assert!(!socket.broadcast().unwrap());
    /// ```
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.sock.get().set_broadcast(broadcast)
    }

    /// Gets the value of the `SO_BROADCAST` option for this socket.
    ///
    /// For more information about this option, see [`set_broadcast`](UdpSocket::set_broadcast).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_broadcast(true).unwrap();
    /// assert!(socket.broadcast().unwrap());
    /// ```
    pub fn broadcast(&self) -> io::Result<bool> {
        self.sock.get().broadcast()
    }

    /// Sets the value of the `IP_MULTICAST_LOOP` option for this socket.
    ///
    /// If enabled, multicast packets will be looped back to the local socket. Note that this might
    /// not have any effect on IPv6 sockets.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_multicast_loop_v4(false).unwrap();
    /// assert!(!socket.multicast_loop_v4().unwrap());
    /// ```
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.sock.get().set_multicast_loop_v4(on)
    }

    /// Gets the value of the `IP_MULTICAST_LOOP` option for this socket.
    ///
    /// For more information about this option, see
    /// [`set_multicast_loop_v4`](UdpSocket::set_multicast_loop_v4).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(socket.multicast_loop_v4().unwrap()); // on by default
    /// ```
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.sock.get().multicast_loop_v4()
    }

    /// Sets the value of the `IP_MULTICAST_TTL` option for this socket.
    ///
    /// Indicates the time-to-live value of outgoing multicast packets for this socket. The default
    /// value is 1 which means that multicast packets don't leave the local network unless
    /// explicitly requested.
    ///
    /// Note that this might not have any effect on IPv6 sockets.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_multicast_ttl_v4(42).unwrap();
    /// assert_eq!(socket.multicast_ttl_v4().unwrap(), 42);
    /// ```
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_multicast_ttl_v4(ttl)
    }

    /// Gets the value of the `IP_MULTICAST_TTL` option for this socket.
    ///
    /// For more information about this option, see
    /// [`set_multicast_ttl_v4`](UdpSocket::set_multicast_ttl_v4).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_eq!(socket.multicast_ttl_v4().unwrap(), 1); // the default
    /// ```
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.sock.get().multicast_ttl_v4()
    }

    /// Sets the value of the `IPV6_MULTICAST_LOOP` option for this socket.
    ///
    /// Controls whether this socket sees the multicast packets it sends itself. Note that this
    /// might not have any effect on IPv4 sockets; this example binds an IPv6 socket and is skipped
    /// (passes) where the machine has no IPv6 loopback.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// if let Ok(socket) = UdpSocket::bind("[::1]:0") {
    ///     socket.set_multicast_loop_v6(false).unwrap();
    ///     assert!(!socket.multicast_loop_v6().unwrap());
    /// }
    /// ```
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.sock.get().set_multicast_loop_v6(on)
    }

    /// Gets the value of the `IPV6_MULTICAST_LOOP` option for this socket.
    ///
    /// For more information about this option, see
    /// [`set_multicast_loop_v6`](UdpSocket::set_multicast_loop_v6).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// // Skipped where the machine has no IPv6 loopback.
    /// if let Ok(socket) = UdpSocket::bind("[::1]:0") {
    ///     socket.set_multicast_loop_v6(true).unwrap();
    ///     assert!(socket.multicast_loop_v6().unwrap());
    /// }
    /// ```
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.sock.get().multicast_loop_v6()
    }

    /// Sets the value for the `IP_TTL` option on this socket.
    ///
    /// This value sets the time-to-live field that is used in every packet sent from this socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_ttl(42).unwrap();
    /// assert_eq!(socket.ttl().unwrap(), 42);
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_ttl(ttl)
    }

    /// Gets the value of the `IP_TTL` option for this socket.
    ///
    /// For more information about this option, see [`set_ttl`](UdpSocket::set_ttl).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_ttl(100).unwrap();
    /// assert_eq!(socket.ttl().unwrap(), 100);
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.get().ttl()
    }

    /// Executes an operation of the `IP_ADD_MEMBERSHIP` type.
    ///
    /// This function specifies a new multicast group for this socket to join. The address must be a
    /// valid multicast address, and `interface` is the address of the local interface with which
    /// the system should join the multicast group. If it's equal to [`UNSPECIFIED`](Ipv4Addr::UNSPECIFIED)
    /// then an appropriate interface is chosen by the system.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{Ipv4Addr, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let group = Ipv4Addr::new(239, 255, 0, 1);
    /// // Joining needs a multicast-capable interface; the loopback one is not on every machine.
    /// if socket.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST).is_ok() {
    ///     socket.leave_multicast_v4(&group, &Ipv4Addr::LOCALHOST).unwrap();
    /// }
    /// // An address outside 224.0.0.0/4 is refused.
    /// assert!(socket.join_multicast_v4(&Ipv4Addr::LOCALHOST, &Ipv4Addr::LOCALHOST).is_err());
    /// ```
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.sock.get().join_multicast_v4(multiaddr, interface)
    }

    /// Executes an operation of the `IPV6_ADD_MEMBERSHIP` type.
    ///
    /// This function specifies a new multicast group for this socket to join. The address must be a
    /// valid multicast address, and `interface` is the index of the interface to join/leave (or 0
    /// to indicate any interface).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{Ipv6Addr, UdpSocket};
    ///
    /// // Skipped where the machine has no IPv6 loopback.
    /// if let Ok(socket) = UdpSocket::bind("[::1]:0") {
    ///     // A non-multicast address is refused.
    ///     assert!(socket.join_multicast_v6(&Ipv6Addr::LOCALHOST, 0).is_err());
    ///     let group = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x1234);
    ///     if socket.join_multicast_v6(&group, 0).is_ok() {
    ///         socket.leave_multicast_v6(&group, 0).unwrap();
    ///     }
    /// }
    /// ```
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock.get().join_multicast_v6(multiaddr, interface)
    }

    /// Executes an operation of the `IP_DROP_MEMBERSHIP` type.
    ///
    /// For more information about this option, see
    /// [`join_multicast_v4`](UdpSocket::join_multicast_v4).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{Ipv4Addr, UdpSocket};
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let group = Ipv4Addr::new(239, 255, 0, 2);
    /// // Leaving a group this socket never joined is an error.
    /// assert!(socket.leave_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED).is_err());
    /// ```
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.sock.get().leave_multicast_v4(multiaddr, interface)
    }

    /// Executes an operation of the `IPV6_DROP_MEMBERSHIP` type.
    ///
    /// For more information about this option, see
    /// [`join_multicast_v6`](UdpSocket::join_multicast_v6).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{Ipv6Addr, UdpSocket};
    ///
    /// // Skipped where the machine has no IPv6 loopback.
    /// if let Ok(socket) = UdpSocket::bind("[::1]:0") {
    ///     let group = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x1235);
    ///     // Leaving a group this socket never joined is an error.
    ///     assert!(socket.leave_multicast_v6(&group, 0).is_err());
    /// }
    /// ```
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock.get().leave_multicast_v6(multiaddr, interface)
    }

    /// Gets the value of the `SO_ERROR` option on this socket.
    ///
    /// This will retrieve the stored error in the underlying socket, clearing the field in the
    /// process. This can be useful for checking errors between calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(socket.take_error().unwrap().is_none());
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.get().take_error()
    }

    /// Connects this UDP socket to a remote address, allowing the `send` and `recv` syscalls to be
    /// used to send data and also applies filters to only receive data from the specified address.
    ///
    /// If `addr` yields multiple addresses, `connect` will be attempted with each of the addresses
    /// until the underlying OS function returns no error. Note that usually, a successful `connect`
    /// call does not specify that there is a remote server listening on the port, rather, such an
    /// error would only be detected after the first send.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.connect(b.local_addr().unwrap()).unwrap();
    /// b.connect(a.local_addr().unwrap()).unwrap();
    ///
    /// a.send(b"hi").unwrap();
    /// let mut buf = [0; 2];
    /// assert_eq!(b.recv(&mut buf).unwrap(), 2);
    /// assert_eq!(&buf, b"hi");
    /// ```
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |a| self.sock.get().connect(a))
    }

    /// Sends data on the socket to the remote address to which it is connected. On success,
    /// returns the number of bytes written.
    ///
    /// [`connect`](UdpSocket::connect) can be called to connect the socket to a remote address;
    /// this method will fail if the socket is not connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(socket.send(b"nobody").is_err()); // not connected
    ///
    /// let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.connect(peer.local_addr().unwrap()).unwrap();
    /// assert_eq!(socket.send(&[0, 1, 2]).unwrap(), 3);
    /// ```
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_op(|s| s.send(buf))
    }

    /// Receives a single datagram message on the socket from the remote address to which it is
    /// connected. On success, returns the number of bytes read.
    ///
    /// The function must be called with valid byte array `buf` of sufficient size to hold the
    /// message bytes. If a message is too long to fit in the supplied buffer, excess bytes may be
    /// discarded. It blocks the green thread, not the worker, until a datagram arrives (bounded by
    /// the read timeout). [`connect`](UdpSocket::connect) can be called to connect the socket to a
    /// remote address; this method will fail if the socket is not connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    /// use smarm::thread;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.connect(peer.local_addr().unwrap()).unwrap();
    /// let addr = socket.local_addr().unwrap();
    ///
    /// let receiver = thread::spawn(move || {
    ///     let mut buf = [0; 10];
    ///     let n = socket.recv(&mut buf).unwrap(); // parks this green thread
    ///     buf[..n].to_vec()
    /// });
    /// peer.send_to(b"data", addr).unwrap();
    /// assert_eq!(receiver.join().unwrap(), b"data");
    /// ```
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_op(|s| s.recv(buf))
    }

    /// Receives single datagram on the socket from the remote address to which it is connected,
    /// without removing the message from input queue. On success, returns the number of bytes
    /// peeked.
    ///
    /// Successive calls return the same data. Like [`recv`](UdpSocket::recv), it blocks the green
    /// thread, not the worker, until a datagram arrives, and fails if the socket is not connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// b.connect(a.local_addr().unwrap()).unwrap();
    /// a.send_to(b"peek", b.local_addr().unwrap()).unwrap();
    ///
    /// let mut buf = [0; 4];
    /// assert_eq!(b.peek(&mut buf).unwrap(), 4);
    /// assert_eq!(b.peek(&mut buf).unwrap(), 4); // the same datagram again
    /// assert_eq!(b.recv(&mut buf).unwrap(), 4);
    /// assert_eq!(&buf, b"peek");
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_op(|s| s.peek(buf))
    }

    /// Moves this UDP socket into or out of nonblocking mode.
    ///
    /// This will result in `recv`, `recv_from`, `send`, and `send_to` system operations becoming
    /// nonblocking, i.e., immediately returning from their calls. If the IO operation is
    /// successful, `Ok` is returned and no further action is required. If the IO operation could
    /// not be completed and needs to be retried, an error with kind
    /// [`io::ErrorKind::WouldBlock`] is returned. In blocking mode (the default) they block the
    /// green thread, not the worker. The flag is shared with [clones](UdpSocket::try_clone).
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::UdpSocket;
    /// use std::io::ErrorKind;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_nonblocking(true).unwrap();
    ///
    /// let mut buf = [0; 10];
    /// let err = socket.recv_from(&mut buf).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::WouldBlock);
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking);
        Ok(())
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.sock.get(), f)
    }
}

fd_traits!(UdpSocket, std::net::UdpSocket);
