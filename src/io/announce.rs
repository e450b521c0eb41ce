//! Gratuitous ARP and unsolicited neighbour advertisements (RFC 5798 6.4.1,
//! 6.4.2: "broadcast a gratuitous ARP request ... for each IPv4 address",
//! "send an Unsolicited ND Neighbor Advertisement ... for each IPv6 address").
//!
//! Frames are built by `wire::arp` / `wire::ndisc` and sent whole through an
//! AF_PACKET socket, so the Ethernet source is exactly the MAC of the device
//! that holds the VIP (the virtual MAC on a MACVLAN), whatever the routing
//! table says.

use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::wire::{arp, ndisc};

pub struct Announcer {
    fd: OwnedFd,
}

impl Announcer {
    /// A send-only packet socket (protocol 0: the kernel delivers it nothing).
    pub fn open() -> io::Result<Announcer> {
        // SAFETY: plain socket(2) call; the fd is owned right away.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(Announcer {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn send_frame(&self, ifindex: u32, frame: &[u8]) -> io::Result<()> {
        if frame.len() < 14 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame shorter than an Ethernet header",
            ));
        }
        // SAFETY: sockaddr_ll is plain old data; zeroed is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = u16::from_be_bytes([frame[12], frame[13]]).to_be();
        sll.sll_ifindex = ifindex as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: valid fd, buffer and sockaddr with their true lengths.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// One announcement for `vip` out of device `ifindex` with source `mac`.
    /// `link_local` is the device's IPv6 link-local address, the preferred
    /// NA source (RFC 4861 7.2.2); without one the VIP itself is used.
    pub fn announce(
        &self,
        ifindex: u32,
        mac: [u8; 6],
        vip: IpAddr,
        link_local: Option<Ipv6Addr>,
    ) -> io::Result<()> {
        match vip {
            IpAddr::V4(v4) => self.send_frame(ifindex, &arp::gratuitous_arp(mac, v4)),
            IpAddr::V6(v6) => self.send_frame(
                ifindex,
                &ndisc::unsolicited_na(mac, link_local.unwrap_or(v6), v6),
            ),
        }
    }
}
