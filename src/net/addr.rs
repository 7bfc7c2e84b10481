//! Socket addresses: std's address types (plain data, re-exported), a [`ToSocketAddrs`] that
//! resolves host names on the blocking pool, and conversions to and from the C `sockaddr`s.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::{option, slice, vec};

use crate::rt::block_on_io;

/// A trait for objects which can be converted or resolved to one or more [`SocketAddr`] values:
/// std's [`std::net::ToSocketAddrs`], with the same implementations, except that a host name is
/// resolved on smarm's blocking pool, so a green thread waiting for DNS blocks the green thread,
/// not the worker.
///
/// This trait is used for generic address resolution when constructing network objects. By
/// default it is implemented for the following types:
///
///  * [`SocketAddr`]: [`to_socket_addrs`] is the identity function.
///
///  * [`SocketAddrV4`], [`SocketAddrV6`], <code>([IpAddr], [u16])</code>,
///    <code>([Ipv4Addr], [u16])</code>, <code>([Ipv6Addr], [u16])</code>:
///    [`to_socket_addrs`] constructs a [`SocketAddr`] trivially.
///
///  * <code>(&[str], [u16])</code>: <code>&[str]</code> should be either a string representation
///    of an [`IpAddr`] address as expected by [`FromStr`] implementation or a host name.
///    [`u16`] is the port number.
///
///  * <code>&[str]</code>: the string should be either a string representation of a
///    [`SocketAddr`] as expected by its [`FromStr`] implementation or a string like
///    `<host_name>:<port>` pair where `<port>` is a [`u16`] value.
///
///  * <code>&[[SocketAddr]]</code>: all the addresses of the slice, in order.
///
/// Literal addresses are parsed in place, with std's own parser and errors; anything else goes
/// to std's resolver (`getaddrinfo`) on a pool thread. Types of your own that implement only
/// std's trait can be converted first:
/// `smarm::net::TcpStream::connect(&my_addr.to_socket_addrs()?.collect::<Vec<_>>()[..])`.
///
/// [`FromStr`]: std::str::FromStr
/// [`IpAddr`]: std::net::IpAddr
/// [IpAddr]: std::net::IpAddr
/// [Ipv4Addr]: std::net::Ipv4Addr
/// [Ipv6Addr]: std::net::Ipv6Addr
/// [SocketAddr]: std::net::SocketAddr
/// [`SocketAddrV4`]: std::net::SocketAddrV4
/// [`SocketAddrV6`]: std::net::SocketAddrV6
/// [`to_socket_addrs`]: ToSocketAddrs::to_socket_addrs
///
/// # Examples
///
/// Creating a [`SocketAddr`] iterator that yields one item:
///
/// ```
/// use smarm::net::{SocketAddr, ToSocketAddrs};
///
/// let addr = SocketAddr::from(([127, 0, 0, 1], 443));
/// let mut addrs_iter = addr.to_socket_addrs().unwrap();
/// assert_eq!(Some(addr), addrs_iter.next());
/// assert!(addrs_iter.next().is_none());
/// ```
///
/// The same address in other forms:
///
/// ```
/// use smarm::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
///
/// let want: SocketAddr = "127.0.0.1:80".parse().unwrap();
/// let a: Vec<_> = ("127.0.0.1", 80).to_socket_addrs().unwrap().collect();
/// let b: Vec<_> = "127.0.0.1:80".to_socket_addrs().unwrap().collect();
/// let c: Vec<_> = (Ipv4Addr::LOCALHOST, 80).to_socket_addrs().unwrap().collect();
/// assert!([a, b, c].iter().all(|v| v[..] == [want]));
/// ```
///
/// Host names resolve (on the blocking pool) to one or more addresses; an invalid string is an
/// error:
///
/// ```
/// use smarm::net::ToSocketAddrs;
///
/// let mut addrs = "localhost:80".to_socket_addrs().unwrap();
/// assert!(addrs.all(|a| a.ip().is_loopback() && a.port() == 80));
/// assert!("127.0.0.1".to_socket_addrs().is_err()); // no port
/// ```
///
/// Passing a [`ToSocketAddrs`] value to a socket constructor:
///
/// ```
/// use smarm::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
/// let port = listener.local_addr().unwrap().port();
/// let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
/// assert_eq!(stream.peer_addr().unwrap().port(), port);
/// ```
pub trait ToSocketAddrs {
    /// Returned iterator over socket addresses which this type may correspond to.
    type Iter: Iterator<Item = SocketAddr>;

    /// Converts this object to an iterator of resolved [`SocketAddr`]s.
    ///
    /// The returned iterator might not actually yield any values depending on the outcome of any
    /// resolution performed. Resolving a host name blocks the green thread, not the worker: the
    /// lookup runs on smarm's blocking pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use smarm::net::{SocketAddr, ToSocketAddrs};
    ///
    /// let addrs: Vec<SocketAddr> = ("127.0.0.1", 8080).to_socket_addrs().unwrap().collect();
    /// assert_eq!(addrs, [SocketAddr::from(([127, 0, 0, 1], 8080))]);
    ///
    /// let none: &[SocketAddr] = &[];
    /// assert_eq!(none.to_socket_addrs().unwrap().count(), 0);
    /// ```
    fn to_socket_addrs(&self) -> io::Result<Self::Iter>;
}

/// Resolves `v` with std, on the blocking pool.
fn resolve<T: std::net::ToSocketAddrs + Sync + ?Sized>(
    v: &T,
) -> io::Result<vec::IntoIter<SocketAddr>> {
    block_on_io(|| std::net::ToSocketAddrs::to_socket_addrs(v).map(|it| it.collect::<Vec<_>>()))
        .map(Vec::into_iter)
}

macro_rules! literal_impl {
    ($($t:ty),*) => {$(
        impl ToSocketAddrs for $t {
            type Iter = option::IntoIter<SocketAddr>;
            fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
                std::net::ToSocketAddrs::to_socket_addrs(self)
            }
        }
    )*};
}

literal_impl!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (std::net::IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for (&str, u16) {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        let (host, port) = *self;
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)].into_iter());
        }
        resolve(self)
    }
}

impl ToSocketAddrs for (String, u16) {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        (&*self.0, self.1).to_socket_addrs()
    }
}

impl ToSocketAddrs for str {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(vec![addr].into_iter());
        }
        resolve(self)
    }
}

impl ToSocketAddrs for String {
    type Iter = vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        (**self).to_socket_addrs()
    }
}

impl<'a> ToSocketAddrs for &'a [SocketAddr] {
    type Iter = std::iter::Cloned<slice::Iter<'a, SocketAddr>>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        Ok(self.iter().cloned())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    type Iter = T::Iter;
    fn to_socket_addrs(&self) -> io::Result<T::Iter> {
        (**self).to_socket_addrs()
    }
}

/// Calls `f` with each address `addr` resolves to, in order, until one succeeds; std's
/// `each_addr`, with the same errors (the last failure, or "could not resolve to any addresses").
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last_err = None;
    for addr in addr.to_socket_addrs()? {
        match f(&addr) {
            Ok(v) => return Ok(v),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// A C socket address for `addr`, and its length.
pub(crate) fn to_raw(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all zeroes is a valid (unspecified) value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for every sockaddr type.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in>().write(sin) };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in6>().write(sin6) };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The Rust address for a C socket address the kernel filled in.
pub(crate) fn from_raw(
    storage: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> io::Result<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET if len as usize >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family and length say a sockaddr_in is there; storage is aligned for it.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid argument",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_addresses_round_trip() {
        for s in ["127.0.0.1:80", "[::1]:443", "[fe80::1%2]:8080", "0.0.0.0:0"] {
            let a: SocketAddr = s.parse().unwrap();
            let (raw, len) = to_raw(&a);
            assert_eq!(from_raw(&raw, len).unwrap(), a);
        }
    }

    #[test]
    fn literals_parse_in_place_and_errors_match_std() {
        let ours: Vec<_> = "[::1]:9".to_socket_addrs().unwrap().collect();
        assert_eq!(ours, ["[::1]:9".parse::<SocketAddr>().unwrap()]);
        let e1 = "no-port".to_socket_addrs().unwrap_err();
        let e2 = std::net::ToSocketAddrs::to_socket_addrs("no-port").unwrap_err();
        assert_eq!((e1.kind(), e1.to_string()), (e2.kind(), e2.to_string()));
    }

    #[test]
    fn host_names_resolve_from_a_green_thread() {
        let v = crate::thread::spawn(|| ("localhost", 7).to_socket_addrs().map(|i| i.count()))
            .join()
            .unwrap()
            .unwrap();
        assert!(v >= 1);
    }
}
