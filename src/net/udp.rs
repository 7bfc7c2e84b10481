//! [`UdpSocket`]: std's type in nonblocking mode, behind the reactor.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::addr::{ToSocketAddrs, each_addr};
use super::tcp::fd_traits;
use super::{Socket, set_fd_nonblocking};
use crate::rt::reactor::Interest;

/// A UDP socket — std's [`std::net::UdpSocket`]; receiving parks the calling thread (green or
/// OS) until a datagram arrives or the read timeout passes (an error of kind `WouldBlock`, as
/// std's on Linux).
///
/// ```
/// use smarm::net::UdpSocket;
///
/// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
/// a.send_to(b"ping", b.local_addr().unwrap()).unwrap();
/// let mut buf = [0; 16];
/// let (n, from) = b.recv_from(&mut buf).unwrap();
/// assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
/// ```
pub struct UdpSocket {
    sock: Socket<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Creates a socket bound to `addr` (each address it resolves to is tried in order).
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

    /// Receives one datagram, waiting for it; returns its length and sender. Excess bytes of a
    /// datagram longer than `buf` are discarded.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.read_op(|s| s.recv_from(buf))
    }

    /// Like [`recv_from`](Self::recv_from) but leaves the datagram queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.read_op(|s| s.peek_from(buf))
    }

    /// Sends `buf` to the first address `addr` resolves to (std's behaviour); an address list
    /// that resolves to nothing is an `InvalidInput` error.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        match addr.to_socket_addrs()?.next() {
            Some(a) => self.write_op(|s| s.send_to(buf, a)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no addresses to send data to",
            )),
        }
    }

    /// The address this socket is connected to.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().peer_addr()
    }

    /// The address this socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.get().local_addr()
    }

    /// A new handle to the same socket (a duplicated fd); options and the nonblocking flag are
    /// shared.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        let s = self.sock.get().try_clone()?;
        Ok(UdpSocket {
            sock: self.sock.clone_with(s),
        })
    }

    /// Sets how long a receive may wait (`None`: forever); zero is an `InvalidInput` error.
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.sock.get().set_read_timeout(dur)
    }

    /// Sets how long a send may wait (`None`: forever); zero is an `InvalidInput` error.
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.sock.get().set_write_timeout(dur)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.get().read_timeout()
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.sock.get().write_timeout()
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.sock.get().set_broadcast(broadcast)
    }

    /// Gets `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.sock.get().broadcast()
    }

    /// Sets `IP_MULTICAST_LOOP`.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.sock.get().set_multicast_loop_v4(on)
    }

    /// Gets `IP_MULTICAST_LOOP`.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.sock.get().multicast_loop_v4()
    }

    /// Sets `IP_MULTICAST_TTL`.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_multicast_ttl_v4(ttl)
    }

    /// Gets `IP_MULTICAST_TTL`.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.sock.get().multicast_ttl_v4()
    }

    /// Sets `IPV6_MULTICAST_LOOP`.
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.sock.get().set_multicast_loop_v6(on)
    }

    /// Gets `IPV6_MULTICAST_LOOP`.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.sock.get().multicast_loop_v6()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.get().set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.sock.get().ttl()
    }

    /// Joins an IPv4 multicast group (`IP_ADD_MEMBERSHIP`) on `interface`.
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.sock.get().join_multicast_v4(multiaddr, interface)
    }

    /// Joins an IPv6 multicast group (`IPV6_ADD_MEMBERSHIP`) on interface index `interface`.
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock.get().join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv4 multicast group.
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.sock.get().leave_multicast_v4(multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.sock.get().leave_multicast_v6(multiaddr, interface)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.get().take_error()
    }

    /// Connects to a remote address (each address `addr` resolves to is tried in order), so that
    /// `send`/`recv` use it and datagrams from elsewhere are dropped.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |a| self.sock.get().connect(a))
    }

    /// Sends `buf` to the connected address.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_op(|s| s.send(buf))
    }

    /// Receives one datagram from the connected address, waiting for it.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_op(|s| s.recv(buf))
    }

    /// Like [`recv`](Self::recv) but leaves the datagram queued.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_op(|s| s.peek(buf))
    }

    /// With `true`, operations that would block return an error of kind `WouldBlock` instead of
    /// waiting; shared with clones.
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
