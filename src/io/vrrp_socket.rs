//! Raw IP sockets for VRRP (IP protocol 112), one per interface and family.
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
use crate::wire::vrrp::{IPPROTO_VRRP, ParseError, VRRP_MCAST_V4, VRRP_MCAST_V6};

/// What a VRRP socket read.
#[derive(Debug, Clone)]
pub enum Datagram {
    /// A VRRP message with what the IP layer said about it.
    Vrrp(Received),
    /// An IPv4 packet whose IP header could not be read (IPv4 raw sockets
    /// hand the header over; IPv6 ones strip it): counted as a drop, never
    /// passed on as a message from nowhere.
    BadIpHeader(ParseError),
}

/// A packet as received, before VRRP parsing.
#[derive(Debug, Clone)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit; RFC 5798 7.1 requires 255.
    pub ttl: u8,
    /// The VRRP message (IP header removed).
    pub payload: Vec<u8>,
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
        let domain = match family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        let sock = Socket::new(
            domain,
            Type::RAW,
            Some(Protocol::from(i32::from(IPPROTO_VRRP))),
        )?;
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
            })))
        } else {
            // IPv4 raw sockets deliver the IP header.
            Ok(Some(match crate::wire::ipv4::parse_ipv4(buf) {
                Ok((h, payload)) => Datagram::Vrrp(Received {
                    src: IpAddr::V4(h.src),
                    dst: IpAddr::V4(h.dst),
                    ttl: h.ttl,
                    payload: payload.to_vec(),
                }),
                Err(e) => Datagram::BadIpHeader(e),
            }))
        }
    }

    /// Sends one VRRP message from `src` to `dst` (multicast group or a
    /// unicast peer) with `tos` as its IPv4 TOS / IPv6 traffic class
    /// (the instance's DSCP, shifted). The class goes per packet (IP_TOS /
    /// IPV6_TCLASS control messages) because instances of different DSCP
    /// share the socket.
    pub fn send(&self, payload: &[u8], src: IpAddr, dst: IpAddr, tos: u8) -> io::Result<()> {
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
