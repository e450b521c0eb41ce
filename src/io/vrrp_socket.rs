//! Raw IP sockets for VRRP (IP protocol 112), one per interface and family,
//! and for VRRPv2 with AH authentication (IP protocol 51, IPv4), one per
//! interface that has an AH instance.
//!
//! The AH socket sends whole datagrams (IP_HDRINCL): the AH ICV covers the
//! IP header, its identification field included, so the header must be
//! fixed before the ICV is computed ([`crate::wire::ah::build_datagram`]).
//! The kernel needs no AH (XFRM) support for this: without an AH security
//! association it hands protocol 51 to raw sockets like any other protocol.
//!
//! Receiving needs what the kernel knows about each packet: for IPv4 the
//! raw socket hands over the IP header (TTL, source, destination); for IPv6
//! the header is stripped, so the hop limit and destination come as control
//! messages (IPV6_RECVHOPLIMIT, IPV6_RECVPKTINFO). The kernel does not verify
//! the VRRP checksum: the codec does, with the pseudo-header built from them.
//! Sending uses IP_PKTINFO / IPV6_PKTINFO to pick the source address per
//! packet, since several instances with different sources share a socket.

use std::io::{self, IoSlice};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;

use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrStorage, sendmsg};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::family::Family;
pub use crate::wire::ah::AhEnvelope;
use crate::wire::ah::{self, IPPROTO_AH};
use crate::wire::vrrp::{IPPROTO_VRRP, ParseError, VRRP_MCAST_V4, VRRP_MCAST_V6};

/// Which IP protocol a socket carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RawProto {
    /// VRRP itself (112), IPv4 or IPv6.
    Vrrp,
    /// VRRPv2 inside IPsec AH (51), IPv4 only.
    Ah,
}

/// What a VRRP socket read.
#[derive(Debug, Clone)]
pub enum Datagram {
    /// A VRRP message with what the IP layer said about it.
    Vrrp(Received),
    /// An IPv4 packet whose IP header could not be read (IPv4 raw sockets
    /// hand the header over; IPv6 ones strip it): counted as a drop, never
    /// passed on as a message from nowhere.
    BadIpHeader(ParseError),
    /// A protocol-51 datagram whose AH header is not keepalived's VRRP form.
    BadAh(ParseError),
}

/// A packet as received, before VRRP parsing.
#[derive(Debug, Clone)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit; RFC 5798 7.1 requires 255.
    pub ttl: u8,
    /// The VRRP message (IP header, and AH header if any, removed).
    pub payload: Vec<u8>,
    /// The AH header it came with (read on the AH socket), if any.
    pub ah: Option<AhEnvelope>,
}

/// Datagrams one recvmmsg(2) reads at most.
pub const RECV_BATCH: usize = 64;

/// Bytes of one datagram's buffer: a VRRP advert with 255 IPv6 addresses
/// and an IPv4 header is 60 + 8 + 255 * 16 = 4148 bytes; adverts that
/// large are refused anyway (more than 1500 bytes cannot come over
/// Ethernet unfragmented), so 2 KiB holds every advert worth reading.
const DATAGRAM_BYTES: usize = 2048;

/// Control-message space per datagram, in u64 words (the kernel's
/// cmsghdr alignment): IPV6_HOPLIMIT (an int) and IPV6_PKTINFO (20
/// bytes), each with its 16-byte header and padding, is 64 bytes.
const CMSG_WORDS: usize = 16;

/// The buffers of one recvmmsg(2) call, reused for every call on this
/// thread: no allocation per packet but the payload's own. The headers
/// point into the buffers, so they are filled in again for each call (the
/// kernel also overwrites the name and control lengths).
struct Batch {
    data: Box<[[u8; DATAGRAM_BYTES]; RECV_BATCH]>,
    cmsg: Box<[[u64; CMSG_WORDS]; RECV_BATCH]>,
    names: Box<[libc::sockaddr_storage; RECV_BATCH]>,
    iov: Box<[libc::iovec; RECV_BATCH]>,
    headers: Box<[libc::mmsghdr; RECV_BATCH]>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            data: Box::new([[0; DATAGRAM_BYTES]; RECV_BATCH]),
            cmsg: Box::new([[0; CMSG_WORDS]; RECV_BATCH]),
            // SAFETY: all-zero is a valid sockaddr_storage (family AF_UNSPEC).
            names: Box::new([unsafe { std::mem::zeroed() }; RECV_BATCH]),
            iov: Box::new(
                [libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                }; RECV_BATCH],
            ),
            headers: Box::new(
                [libc::mmsghdr {
                    // SAFETY: all-zero is a valid msghdr (null pointers,
                    // zero lengths), filled in before each call.
                    msg_hdr: unsafe { std::mem::zeroed() },
                    msg_len: 0,
                }; RECV_BATCH],
            ),
        }
    }
}

thread_local! {
    static BATCH: std::cell::RefCell<Batch> = std::cell::RefCell::new(Batch::new());
}

/// What the kernel said about one datagram, before it becomes a
/// [`Datagram`].
struct Meta {
    src: Option<IpAddr>,
    hop_limit: Option<u8>,
    dst6: Option<Ipv6Addr>,
}

/// The source address in `name` (as recvmmsg filled it).
fn source_of(name: &libc::sockaddr_storage) -> Option<IpAddr> {
    match libc::c_int::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: ss_family says the storage holds a sockaddr_in, and
            // sockaddr_storage is large and aligned enough for it.
            let sin = unsafe { &*(name as *const _ as *const libc::sockaddr_in) };
            Some(IpAddr::from(
                u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*(name as *const _ as *const libc::sockaddr_in6) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// The IPv6 hop limit and destination in the control messages of `hdr`.
fn ipv6_meta(hdr: &libc::msghdr) -> (Option<u8>, Option<Ipv6Addr>) {
    let mut hop = None;
    let mut dst = None;
    // SAFETY: `hdr` is a header the kernel filled in: msg_control points
    // to our buffer and msg_controllen says how much of it holds control
    // messages; CMSG_FIRSTHDR/NXTHDR stay within that, and each payload
    // is read unaligned with its length checked against the type read.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
            if (*c).cmsg_level == libc::IPPROTO_IPV6 {
                if (*c).cmsg_type == libc::IPV6_HOPLIMIT
                    && len >= std::mem::size_of::<libc::c_int>()
                {
                    let h = std::ptr::read_unaligned(data as *const libc::c_int);
                    hop = Some(h.clamp(0, 255) as u8);
                } else if (*c).cmsg_type == libc::IPV6_PKTINFO
                    && len >= std::mem::size_of::<libc::in6_pktinfo>()
                {
                    let pi = std::ptr::read_unaligned(data as *const libc::in6_pktinfo);
                    dst = Some(Ipv6Addr::from(pi.ipi6_addr.s6_addr));
                }
            }
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
    (hop, dst)
}

/// A VRRP or AH raw socket. Not registered with the runtime by itself: its
/// reader registers it ([`VrrpSocket::watch`]) while it waits for
/// datagrams, and may leave it unregistered while it lets a burst arrive
/// (`daemon::sockets`).
pub struct VrrpSocket {
    sock: Socket,
    family: Family,
    ifindex: u32,
    proto: RawProto,
}

fn setsockopt_int(
    sock: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: a valid fd and a pointer to a live c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Receive buffer asked for: room for about a thousand adverts (an
/// advert's buffer costs the kernel about 1 KiB), so 255 dual-stack
/// instances at 10 ms (25,500 adverts a second per socket) can wait 40 ms
/// for a daemon the scheduler put aside. The default (net.core.rmem_default,
/// 208 KiB) held about 200 and overflowed in the scale benchmark on a
/// loaded 2-core machine.
const RECEIVE_BUFFER_BYTES: libc::c_int = 1 << 20;

/// SO_RCVBUFFORCE (CAP_NET_ADMIN, which vipd has: not capped by
/// net.core.rmem_max), else SO_RCVBUF as far as rmem_max allows; a
/// failure leaves the default, which works at lower rates.
fn set_receive_buffer(sock: &Socket) {
    if setsockopt_int(
        sock,
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        RECEIVE_BUFFER_BYTES,
    )
    .is_err()
    {
        let _ = setsockopt_int(
            sock,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            RECEIVE_BUFFER_BYTES,
        );
    }
}

/// IP_MULTICAST_IF by interface index (struct ip_mreqn), which socket2 only
/// offers by address; the interface may have no IPv4 address of its own.
fn set_multicast_if_index_v4(sock: &Socket, ifindex: u32) -> io::Result<()> {
    let mreqn = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: ifindex as libc::c_int,
    };
    // SAFETY: a valid fd and a pointer to a live ip_mreqn of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            &mreqn as *const libc::ip_mreqn as *const libc::c_void,
            std::mem::size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl VrrpSocket {
    /// Opens the socket for `ifname`, joined to the VRRP group when
    /// `multicast` is set (RFC 5798 5.1.1.2 / 5.1.2.2).
    pub fn open(
        ifname: &str,
        ifindex: u32,
        family: Family,
        multicast: bool,
    ) -> io::Result<VrrpSocket> {
        Self::open_proto(ifname, ifindex, family, multicast, RawProto::Vrrp)
    }

    /// The AH socket of `ifname` (IPv4, protocol 51, IP_HDRINCL).
    pub fn open_ah(ifname: &str, ifindex: u32, multicast: bool) -> io::Result<VrrpSocket> {
        Self::open_proto(ifname, ifindex, Family::V4, multicast, RawProto::Ah)
    }

    fn open_proto(
        ifname: &str,
        ifindex: u32,
        family: Family,
        multicast: bool,
        proto: RawProto,
    ) -> io::Result<VrrpSocket> {
        let domain = match family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        let number = match proto {
            RawProto::Vrrp => IPPROTO_VRRP,
            RawProto::Ah => IPPROTO_AH,
        };
        let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(i32::from(number))))?;
        if proto == RawProto::Ah {
            sock.set_header_included_v4(true)?;
        }
        sock.set_nonblocking(true)?;
        sock.bind_device(Some(ifname.as_bytes()))?;
        set_receive_buffer(&sock);
        if family == Family::V6 {
            sock.set_multicast_hops_v6(255)?;
            sock.set_unicast_hops_v6(255)?;
            sock.set_multicast_loop_v6(false)?;
            sock.set_multicast_if_v6(ifindex)?;
            setsockopt_int(&sock, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
            setsockopt_int(&sock, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
            if multicast {
                sock.join_multicast_v6(&VRRP_MCAST_V6, ifindex)?;
            }
        } else {
            sock.set_multicast_ttl_v4(255)?;
            sock.set_ttl_v4(255)?;
            sock.set_multicast_loop_v4(false)?;
            set_multicast_if_index_v4(&sock, ifindex)?;
            // Only the groups this socket joined, not every group of the host.
            setsockopt_int(&sock, libc::IPPROTO_IP, libc::IP_MULTICAST_ALL, 0)?;
            if multicast {
                sock.join_multicast_v4_n(&VRRP_MCAST_V4, &InterfaceIndexOrAddress::Index(ifindex))?;
            }
        }
        Ok(VrrpSocket {
            sock,
            family,
            ifindex,
            proto,
        })
    }

    /// Joins the VRRP multicast group later (an instance switched to multicast on reload).
    pub fn join_multicast(&self) -> io::Result<()> {
        let sock = &self.sock;
        let r = if self.family == Family::V6 {
            sock.join_multicast_v6(&VRRP_MCAST_V6, self.ifindex)
        } else {
            sock.join_multicast_v4_n(
                &VRRP_MCAST_V4,
                &InterfaceIndexOrAddress::Index(self.ifindex),
            )
        };
        match r {
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(()),
            other => other,
        }
    }

    /// The socket registered with the runtime for readability, for as long
    /// as the returned value lives (dropping it unregisters: while nobody
    /// waits, datagrams arriving wake nobody).
    pub fn watch(self: &Arc<Self>) -> io::Result<AsyncFd<Arc<VrrpSocket>>> {
        // SAFETY: the AsyncFd holds an Arc of the socket, which owns the
        // descriptor: it stays open and the same for the AsyncFd's lifetime,
        // and `as_raw_fd` always returns it.
        unsafe { AsyncFd::register_with_interest(self.clone(), Interest::READABLE) }
            .map_err(|e| e.into_parts().1)
    }

    /// What is queued now (at most [`RECV_BATCH`]) from one recvmmsg(2),
    /// without waiting, and how many datagrams the kernel handed over
    /// (fewer than asked: the queue was empty; some may not become
    /// datagrams, an IPv6 one without its control messages).
    fn recv_now(&self) -> io::Result<(Vec<Datagram>, usize)> {
        let mut out = Vec::new();
        loop {
            return match self.recv_many(&self.sock, RECV_BATCH, &mut out) {
                Ok(read) => Ok((out, read)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok((out, 0)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    /// Everything queued now, without waiting: each non-empty batch of up
    /// to [`RECV_BATCH`] datagrams goes to `each`, until the kernel hands
    /// over fewer than asked (the queue is empty) or `each` says stop
    /// (false). How many datagrams were handed over, or None when stopped.
    pub fn recv_queued(
        &self,
        mut each: impl FnMut(Vec<Datagram>) -> bool,
    ) -> io::Result<Option<usize>> {
        let mut count = 0;
        loop {
            let (batch, read) = self.recv_now()?;
            count += batch.len();
            if !batch.is_empty() && !each(batch) {
                return Ok(None);
            }
            if read < RECV_BATCH {
                return Ok(Some(count));
            }
        }
    }

    /// One non-blocking recvmmsg(2) of up to `max` datagrams into `out`;
    /// returns how many the kernel handed over (some may not become
    /// datagrams: an IPv6 one without its control messages).
    fn recv_many(&self, sock: &Socket, max: usize, out: &mut Vec<Datagram>) -> io::Result<usize> {
        BATCH.with_borrow_mut(|b| {
            let Batch {
                data,
                cmsg,
                names,
                iov,
                headers,
            } = b;
            for i in 0..max {
                iov[i] = libc::iovec {
                    iov_base: data[i].as_mut_ptr().cast(),
                    iov_len: DATAGRAM_BYTES,
                };
                let h = &mut headers[i];
                h.msg_len = 0;
                h.msg_hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
                h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as _;
                h.msg_hdr.msg_iov = &mut iov[i];
                h.msg_hdr.msg_iovlen = 1;
                h.msg_hdr.msg_control = cmsg[i].as_mut_ptr().cast();
                h.msg_hdr.msg_controllen = std::mem::size_of::<[u64; CMSG_WORDS]>() as _;
                h.msg_hdr.msg_flags = 0;
            }
            // SAFETY: the first `max` headers point to live buffers of the
            // lengths given (all owned by `b`, borrowed for this call); a
            // null timeout; the kernel writes only within them.
            let rc = unsafe {
                libc::recvmmsg(
                    sock.as_raw_fd(),
                    headers.as_mut_ptr(),
                    max as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            let read = rc as usize;
            for i in 0..read {
                let h = &headers[i];
                let len = (h.msg_len as usize).min(DATAGRAM_BYTES);
                let (hop_limit, dst6) = match self.family {
                    Family::V6 => ipv6_meta(&h.msg_hdr),
                    Family::V4 => (None, None),
                };
                let meta = Meta {
                    src: source_of(&names[i]),
                    hop_limit,
                    dst6,
                };
                if let Some(d) = self.datagram(&data[i][..len], meta) {
                    out.push(d);
                }
            }
            Ok(read)
        })
    }

    /// A datagram from the bytes read and what the kernel said of them.
    fn datagram(&self, buf: &[u8], meta: Meta) -> Option<Datagram> {
        match self.family {
            Family::V6 => {
                let (Some(src), Some(hop), Some(dst)) = (meta.src, meta.hop_limit, meta.dst6)
                else {
                    return None;
                };
                Some(Datagram::Vrrp(Received {
                    src,
                    dst: IpAddr::V6(dst),
                    ttl: hop,
                    payload: buf.to_vec(),
                    ah: None,
                }))
            }
            // IPv4 raw sockets deliver the IP header.
            Family::V4 => {
                let (h, payload) = match crate::wire::ipv4::parse_ipv4(buf) {
                    Ok(parsed) => parsed,
                    Err(e) => return Some(Datagram::BadIpHeader(e)),
                };
                let received = |payload: &[u8], ah| Received {
                    src: IpAddr::V4(h.src),
                    dst: IpAddr::V4(h.dst),
                    ttl: h.ttl,
                    payload: payload.to_vec(),
                    ah,
                };
                Some(match self.proto {
                    RawProto::Vrrp => Datagram::Vrrp(received(payload, None)),
                    RawProto::Ah => {
                        // The header is what precedes the payload (options included).
                        let header_len = usize::from(buf.first().map_or(0, |b| b & 0x0f)) * 4;
                        match ah::parse(payload) {
                            Ok((header, msg)) => Datagram::Vrrp(received(
                                msg,
                                Some(AhEnvelope {
                                    ip_header: buf.get(..header_len).unwrap_or(&[]).to_vec(),
                                    header,
                                }),
                            )),
                            Err(e) => Datagram::BadAh(e),
                        }
                    }
                })
            }
        }
    }

    /// Sends a whole IPv4 datagram, header included (the AH socket).
    pub fn send_datagram(&self, datagram: &[u8], dst: std::net::Ipv4Addr) -> io::Result<()> {
        let to = socket2::SockAddr::from(SocketAddrV4::new(dst, 0));
        self.sock.send_to(datagram, &to).map(|_| ())
    }

    /// Sends one VRRP message from `src` to `dst` (multicast group or a
    /// unicast peer) with `tos` as its IPv4 TOS / IPv6 traffic class
    /// (the instance's DSCP, shifted). The class goes per packet (IP_TOS /
    /// IPV6_TCLASS control messages) because instances of different DSCP
    /// share the socket.
    pub fn send(&self, payload: &[u8], src: IpAddr, dst: IpAddr, tos: u8) -> io::Result<()> {
        let fd = self.sock.as_fd();
        let iov = [IoSlice::new(payload)];
        let r = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let info = libc::in_pktinfo {
                    ipi_ifindex: self.ifindex as libc::c_int,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(s).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                let to = SockaddrStorage::from(SocketAddr::V4(SocketAddrV4::new(d, 0)));
                sendmsg(
                    fd.as_raw_fd(),
                    &iov,
                    &[
                        ControlMessage::Ipv4PacketInfo(&info),
                        ControlMessage::Ipv4Tos(&tos),
                    ],
                    MsgFlags::empty(),
                    Some(&to),
                )
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: s.octets(),
                    },
                    ipi6_ifindex: self.ifindex,
                };
                let scope = if d.is_unicast_link_local() || d.is_multicast() {
                    self.ifindex
                } else {
                    0
                };
                let to = SockaddrStorage::from(SocketAddr::V6(SocketAddrV6::new(d, 0, 0, scope)));
                let tclass = i32::from(tos);
                sendmsg(
                    fd.as_raw_fd(),
                    &iov,
                    &[
                        ControlMessage::Ipv6PacketInfo(&info),
                        ControlMessage::Ipv6TClass(&tclass),
                    ],
                    MsgFlags::empty(),
                    Some(&to),
                )
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "source and destination families differ",
                ));
            }
        };
        r.map(|_| ()).map_err(io::Error::from)
    }
}

impl AsRawFd for VrrpSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }
}
