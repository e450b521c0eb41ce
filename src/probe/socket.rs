//! The system side: the target's address, the ICMP socket with kernel
//! receive timestamps, the schedule's timer, clocks and signals.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::packet::{ICMP_ECHO_REPLY, ICMP6_ECHO_REPLY};
use crate::family::Family;
use crate::io::timer;

/// Resolves `fe80::1%eth0`, an address or a host name.
pub fn resolve_target(s: &str) -> Result<SocketAddr, String> {
    if let Some((addr, scope)) = s.split_once('%') {
        let ip: std::net::Ipv6Addr = addr
            .parse()
            .map_err(|_| format!("{s}: only an IPv6 address can have a %scope"))?;
        let idx = nix::net::if_::if_nametoindex(scope)
            .map_err(|e| format!("{s}: no interface {scope:?}: {e}"))?;
        return Ok(SocketAddr::V6(SocketAddrV6::new(ip, 0, 0, idx)));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 0));
    }
    (s, 0)
        .to_socket_addrs()
        .map_err(|e| format!("{s}: cannot resolve: {e}"))?
        .next()
        .ok_or_else(|| format!("{s}: the name has no address"))
}
pub(super) static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

pub(super) fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts_ns(&ts)
}

/// Nanoseconds of a timespec (the conversions are no-ops on 64-bit Linux,
/// widening on 32-bit).
#[allow(clippy::useless_conversion)]
fn ts_ns(t: &libc::timespec) -> i64 {
    i64::from(t.tv_sec) * 1_000_000_000 + i64::from(t.tv_nsec)
}

/// SO_TIMESTAMPNS (asm-generic and x86: 35); SCM_TIMESTAMPNS is the same.
const SO_TIMESTAMPNS: libc::c_int = 35;

pub(super) struct Prober {
    pub(super) sock: Socket,
    pub(super) family: Family,
    /// IPv4 raw sockets receive the IP header.
    pub(super) ip_header: bool,
    pub(super) kind: &'static str,
    pub(super) id: u16,
    pub(super) dest: SockAddr,
}

pub(super) fn open_socket(dest: SocketAddr) -> io::Result<Prober> {
    let family = Family::of(dest.ip());
    let (domain, proto) = match family {
        Family::V4 => (Domain::IPV4, Protocol::ICMPV4),
        Family::V6 => (Domain::IPV6, Protocol::ICMPV6),
    };
    // Raw needs CAP_NET_RAW; an ICMP datagram socket needs the group in
    // net.ipv4.ping_group_range. Try both, like iputils ping.
    let (sock, raw) = match Socket::new(domain, Type::RAW, Some(proto)) {
        Ok(s) => (s, true),
        Err(raw_err) => match Socket::new(domain, Type::DGRAM, Some(proto)) {
            Ok(s) => (s, false),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "cannot open an ICMP socket: raw: {raw_err} (needs root or CAP_NET_RAW); \
                         datagram: {e} (needs your group in net.ipv4.ping_group_range)"
                    ),
                ));
            }
        },
    };
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a valid fd and an int option value.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_TIMESTAMPNS,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::other(format!(
            "SO_TIMESTAMPNS: {} (kernel receive timestamps are required)",
            io::Error::last_os_error()
        )));
    }
    // Only echo replies wake us up: not our own requests looped back, not
    // neighbour discovery or other pingers' requests.
    if raw {
        icmp_filter(&sock, family)?;
    }
    sock.set_nonblocking(true)?;
    // Replies must not be dropped while we are descheduled.
    let _ = sock.set_recv_buffer_size(1 << 20);
    let id = if raw {
        (std::process::id() & 0xffff) as u16
    } else {
        // The kernel sets the id of a datagram socket's requests to its port.
        let any: SocketAddr = match family {
            Family::V4 => "0.0.0.0:0".parse().unwrap_or(dest),
            Family::V6 => "[::]:0".parse().unwrap_or(dest),
        };
        sock.bind(&any.into())?;
        sock.local_addr()?.as_socket().map_or(0, |a| a.port())
    };
    Ok(Prober {
        sock,
        family,
        ip_header: raw && family == Family::V4,
        kind: if raw { "raw" } else { "dgram" },
        id,
        dest: dest.into(),
    })
}

/// ICMP_FILTER (IPv4 raw: bit set = type blocked) / ICMP6_FILTER (same
/// meaning per RFC 3542's kernel layout): pass echo replies only.
fn icmp_filter(sock: &Socket, family: Family) -> io::Result<()> {
    const SOL_RAW: libc::c_int = 255;
    const ICMP_FILTER: libc::c_int = 1;
    const ICMP6_FILTER: libc::c_int = 1;
    let rc = if family == Family::V6 {
        let mut f = [u32::MAX; 8];
        let t = usize::from(ICMP6_ECHO_REPLY);
        f[t >> 5] &= !(1u32 << (t & 31));
        // SAFETY: setsockopt with a 32-byte icmp6_filter.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_ICMPV6,
                ICMP6_FILTER,
                f.as_ptr() as *const libc::c_void,
                std::mem::size_of_val(&f) as libc::socklen_t,
            )
        }
    } else {
        let f: u32 = !(1u32 << ICMP_ECHO_REPLY);
        // SAFETY: setsockopt with a 4-byte icmp_filter.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                SOL_RAW,
                ICMP_FILTER,
                &f as *const u32 as *const libc::c_void,
                4,
            )
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Prober {
    /// One datagram with its kernel receive time; Ok(None) when drained.
    pub(super) fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<i64>)>> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let mut cbuf = [MaybeUninit::<u64>::uninit(); 32];
        let mut name = MaybeUninit::<libc::sockaddr_storage>::uninit();
        // SAFETY: zeroed msghdr is valid; pointers set below outlive the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = name.as_mut_ptr() as *mut libc::c_void;
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        // SAFETY: msg describes valid buffers.
        let n = unsafe { libc::recvmsg(self.sock.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let mut ts = None;
        // SAFETY: CMSG_* walk the control buffer the kernel filled in,
        // bounded by msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET
                    && (*c).cmsg_type == SO_TIMESTAMPNS
                    && (*c).cmsg_len as usize
                        >= libc::CMSG_LEN(std::mem::size_of::<libc::timespec>() as u32) as usize
                {
                    let t: libc::timespec =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                    ts = Some(ts_ns(&t));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(Some((n as usize, ts)))
    }
}

pub(super) fn set_realtime() -> Result<(), String> {
    let p = libc::sched_param { sched_priority: 10 };
    // SAFETY: plain syscall on this process.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &p) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error().to_string())
    }
}

pub(super) fn install_signals() {
    // No SA_RESTART: poll() returns EINTR and the loop sees the flag.
    let act = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(on_signal),
        nix::sys::signal::SaFlags::empty(),
        nix::sys::signal::SigSet::empty(),
    );
    for s in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
    ] {
        // SAFETY: the handler only touches an atomic.
        let _ = unsafe { nix::sys::signal::sigaction(s, &act) };
    }
}

/// Periodic absolute timerfd on CLOCK_MONOTONIC: first expiry at `start_ns`.
pub(super) fn grid_timer(start_ns: i64, interval_ns: i64) -> io::Result<OwnedFd> {
    let fd = timer::monotonic_timerfd()?;
    timer::set_timerfd(
        &fd,
        libc::TFD_TIMER_ABSTIME,
        Duration::from_nanos(start_ns.max(0) as u64),
        Duration::from_nanos(interval_ns.max(0) as u64),
    )?;
    Ok(fd)
}
