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

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, sendmsg,
};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
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

/// The receive buffers: the datagram and its control messages.
struct Scratch {
    data: [u8; 2048],
    cmsg: Vec<u8>,
}

thread_local! {
    /// Reused for every datagram read on this thread: no allocation per
    /// packet but the payload's own.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch {
        data: [0u8; 2048],
        cmsg: nix::cmsg_space!(libc::in6_pktinfo, libc::c_int),
    });
}

pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
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
        // SAFETY: `sock` owns its descriptor and AsyncFd takes ownership of
        // it, so the fd stays open and unchanged for the AsyncFd's lifetime.
        let fd = unsafe { AsyncFd::register(sock) }.map_err(|e| e.into_parts().1)?;
        Ok(VrrpSocket {
            fd,
            family,
            ifindex,
            proto,
        })
    }

    /// Joins the VRRP multicast group later (an instance switched to multicast on reload).
    pub fn join_multicast(&self) -> io::Result<()> {
        let sock = self.fd.get_ref();
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

    /// Waits for datagrams, then returns all that are there (at most
    /// `max`): under load one wake-up reads many.
    pub async fn recv_batch(&self, max: usize) -> io::Result<Vec<Datagram>> {
        let mut out = Vec::new();
        loop {
            let mut guard = self.fd.readable().await?;
            loop {
                match guard.try_io(|fd| self.recv_now(fd.get_ref())) {
                    Ok(Ok(Some(d))) => {
                        out.push(d);
                        if out.len() >= max {
                            return Ok(out);
                        }
                    }
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) if out.is_empty() => return Err(e),
                    Ok(Err(_)) => return Ok(out),
                    // Drained: readiness is cleared, wait for more.
                    Err(_would_block) => break,
                }
            }
            if !out.is_empty() {
                return Ok(out);
            }
        }
    }

    fn recv_now(&self, sock: &Socket) -> io::Result<Option<Datagram>> {
        SCRATCH.with_borrow_mut(|s| {
            let Scratch { data, cmsg } = s;
            self.recv_into(sock, data, cmsg)
        })
    }

    /// One datagram into `buf` (reused, as `cmsg`: no allocation but the
    /// payload's own).
    fn recv_into(
        &self,
        sock: &Socket,
        buf: &mut [u8; 2048],
        cmsg: &mut [u8],
    ) -> io::Result<Option<Datagram>> {
        let (len, src, ttl6, dst6) = {
            let mut iov = [IoSliceMut::new(&mut buf[..])];
            let msg = recvmsg::<SockaddrStorage>(
                sock.as_raw_fd(),
                &mut iov,
                Some(cmsg),
                MsgFlags::empty(),
            )
            .map_err(io::Error::from)?;
            let mut hop = None;
            let mut dst = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    match c {
                        ControlMessageOwned::Ipv6HopLimit(h) => hop = Some(h),
                        ControlMessageOwned::Ipv6PacketInfo(pi) => {
                            dst = Some(Ipv6Addr::from(pi.ipi6_addr.s6_addr));
                        }
                        _ => {}
                    }
                }
            }
            let src = msg.address.as_ref().and_then(|a| {
                a.as_sockaddr_in6()
                    .map(|s| IpAddr::V6(s.ip()))
                    .or_else(|| a.as_sockaddr_in().map(|s| IpAddr::V4(s.ip())))
            });
            (msg.bytes, src, hop, dst)
        };
        let buf = &buf[..len.min(buf.len())];
        if self.family == Family::V6 {
            let (Some(src), Some(hop), Some(dst)) = (src, ttl6, dst6) else {
                return Ok(None);
            };
            Ok(Some(Datagram::Vrrp(Received {
                src,
                dst: IpAddr::V6(dst),
                ttl: hop.clamp(0, 255) as u8,
                payload: buf.to_vec(),
                ah: None,
            })))
        } else {
            // IPv4 raw sockets deliver the IP header.
            let (h, payload) = match crate::wire::ipv4::parse_ipv4(buf) {
                Ok(parsed) => parsed,
                Err(e) => return Ok(Some(Datagram::BadIpHeader(e))),
            };
            let received = |payload: &[u8], ah| Received {
                src: IpAddr::V4(h.src),
                dst: IpAddr::V4(h.dst),
                ttl: h.ttl,
                payload: payload.to_vec(),
                ah,
            };
            Ok(Some(match self.proto {
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
            }))
        }
    }

    /// Sends a whole IPv4 datagram, header included (the AH socket).
    pub fn send_datagram(&self, datagram: &[u8], dst: std::net::Ipv4Addr) -> io::Result<()> {
        let to = socket2::SockAddr::from(SocketAddrV4::new(dst, 0));
        self.fd.get_ref().send_to(datagram, &to).map(|_| ())
    }

    /// Sends one VRRP message from `src` to `dst` (multicast group or a unicast peer).
    pub fn send(&self, payload: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
        let fd = self.fd.get_ref().as_fd();
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
                    &[ControlMessage::Ipv4PacketInfo(&info)],
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
                sendmsg(
                    fd.as_raw_fd(),
                    &iov,
                    &[ControlMessage::Ipv6PacketInfo(&info)],
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
