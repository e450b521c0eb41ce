//! `vipctl probe`: an ICMP/ICMPv6 echo prober that measures how long a VIP is
//! unreachable, for operators during maintenance and for the labs.
//!
//! Why not `ping -i 0.01`: iputils ping sleeps with millisecond rounding and
//! timestamps replies after it was scheduled, so on a loaded VM it only
//! manages ~60 requests/s and reports 30-140 ms "gaps" that are its own
//! scheduling delay. Here:
//! - requests go out on an absolute CLOCK_MONOTONIC grid (a periodic timerfd:
//!   the kernel keeps the grid, a late wake-up does not shift later slots);
//! - receive times are the kernel's (SO_TIMESTAMPNS), so the prober's own
//!   scheduling delay does not lengthen a measured gap;
//! - replies are matched by id + sequence number + a per-run token in the
//!   payload, so other pingers' replies, duplicates and garbage are ignored.
//!
//! The pure parts (packet build/parse, sequence unwrapping, statistics) are
//! separate from the socket loop and unit-tested with byte vectors and
//! synthetic timestamps.

use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::family::Family;
use crate::io::timer;

/// Arguments of `vipctl probe`.
#[derive(clap::Args, Debug, Clone)]
pub struct ProbeArgs {
    /// Time between two requests, in milliseconds (absolute schedule).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub interval_ms: u64,
    /// Stop after this many requests (and their replies or timeouts).
    #[arg(long, conflicts_with = "duration_ms", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop sending after this many milliseconds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration_ms: Option<u64>,
    /// A request without a reply after this long is reported lost.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,
    /// Print the summary as one JSON object instead of a `summary` line.
    #[arg(long)]
    pub json: bool,
    /// Ask for SCHED_FIFO (priority 10) so that sends are not delayed by
    /// other processes; a warning is printed and the probe goes on if this
    /// is not allowed.
    #[arg(long)]
    pub realtime: bool,
    /// IPv4/IPv6 address or host name; link-local IPv6 as `fe80::1%eth0`.
    pub target: String,
}

// ---------------------------------------------------------------------------
// Pure parts: packets
// ---------------------------------------------------------------------------

const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;
/// Payload: token (8 bytes), full 64-bit sequence number (8), marker (8).
const MARKER: &[u8; 8] = b"vipdprob";
const PAYLOAD_LEN: usize = 24;
const ECHO_LEN: usize = 8 + PAYLOAD_LEN;

/// Internet checksum (RFC 1071) of `data`.
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request. For ICMPv6 the checksum is left 0: the kernel computes
/// it (it covers a pseudo-header with the source address we do not know).
pub fn echo_request(family: Family, id: u16, seq: u64, token: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(ECHO_LEN);
    p.push(match family {
        Family::V4 => ICMP_ECHO_REQUEST,
        Family::V6 => ICMP6_ECHO_REQUEST,
    });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&(seq as u16).to_be_bytes());
    p.extend_from_slice(&token.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(MARKER);
    if family == Family::V4 {
        let c = inet_checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// An echo reply that carries our payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply {
    pub id: u16,
    /// Sequence number from the ICMP header (16 bits).
    pub seq16: u16,
    pub token: u64,
    /// Full sequence number from the payload.
    pub seq: u64,
}

/// Parses a received datagram. `ip_header`: IPv4 raw sockets hand over the
/// IP header too. Returns None for anything that is not a well-formed echo
/// reply with our payload layout (never panics, whatever the bytes).
pub fn parse_echo_reply(buf: &[u8], family: Family, ip_header: bool) -> Option<EchoReply> {
    let icmp = if ip_header {
        let first = *buf.first()?;
        if first >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(first & 0x0f) * 4;
        if ihl < 20 || *buf.get(9)? != 1 {
            return None;
        }
        buf.get(ihl..)?
    } else {
        buf
    };
    if icmp.len() < ECHO_LEN {
        return None;
    }
    let want = match family {
        Family::V4 => ICMP_ECHO_REPLY,
        Family::V6 => ICMP6_ECHO_REPLY,
    };
    if icmp[0] != want || icmp[1] != 0 {
        return None;
    }
    // IPv4: the checksum must verify (the kernel checks ICMPv6's).
    if family == Family::V4 && inet_checksum(icmp) != 0 {
        return None;
    }
    if &icmp[24..32] != MARKER {
        return None;
    }
    let be64 = |b: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        u64::from_be_bytes(a)
    };
    let r = EchoReply {
        id: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq16: u16::from_be_bytes([icmp[6], icmp[7]]),
        token: be64(&icmp[8..16]),
        seq: be64(&icmp[16..24]),
    };
    // Header and payload sequence numbers must agree.
    (r.seq as u16 == r.seq16).then_some(r)
}

// ---------------------------------------------------------------------------
// Pure parts: bookkeeping and statistics
// ---------------------------------------------------------------------------

/// What happened to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Pending,
    Replied { recv_ns: i64 },
    Lost,
}

/// One request: when it was sent (epoch ns), and its fate.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub sent_ns: i64,
    /// CLOCK_MONOTONIC at send: timeouts are judged on it, so a wall-clock
    /// step (NTP) does not declare requests lost or keep them pending.
    pub sent_mono: i64,
    pub fate: Fate,
}

/// What a received reply was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// First reply to a pending request: (seq, rtt in ns).
    Fresh { seq: u64, rtt_ns: i64 },
    /// Already answered.
    Duplicate,
    /// Arrived after the request was declared lost.
    Late { seq: u64 },
    /// Not one of our requests.
    Foreign,
}

/// The longest time between two successive replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub gap_ns: i64,
    /// Reply before the gap: its seq and kernel receive time.
    pub after_seq: u64,
    pub from_ns: i64,
    /// Reply that ended the gap.
    pub before_seq: u64,
    pub to_ns: i64,
}

/// All requests of a run and the reply-gap tracking.
#[derive(Debug, Default)]
pub struct Tracker {
    pub requests: Vec<Request>,
    pub duplicates: u64,
    pub late: u64,
    pub foreign: u64,
    pub send_errors: u64,
    /// Schedule slots that passed while the prober was not running (timer
    /// overruns): no request was sent for them.
    pub skipped_slots: u64,
    /// Last fresh reply: (seq, recv_ns).
    last_reply: Option<(u64, i64)>,
    pub longest_gap: Option<Gap>,
    /// Oldest request that may still be pending (everything before is
    /// resolved), so expiring is O(new requests).
    first_pending: usize,
}

impl Tracker {
    pub fn sent(&mut self, sent_ns: i64, sent_mono: i64) -> u64 {
        self.requests.push(Request {
            sent_ns,
            sent_mono,
            fate: Fate::Pending,
        });
        self.requests.len() as u64 - 1
    }

    /// Accounts a parsed reply received at `recv_ns` (kernel time).
    pub fn reply(&mut self, seq: u64, recv_ns: i64) -> ReplyKind {
        let Some(req) = usize::try_from(seq)
            .ok()
            .and_then(|i| self.requests.get_mut(i))
        else {
            return self.foreign();
        };
        match req.fate {
            Fate::Replied { .. } => {
                self.duplicates += 1;
                ReplyKind::Duplicate
            }
            Fate::Lost => {
                self.late += 1;
                ReplyKind::Late { seq }
            }
            Fate::Pending => {
                req.fate = Fate::Replied { recv_ns };
                let rtt_ns = recv_ns - req.sent_ns;
                if let Some((prev_seq, prev_ns)) = self.last_reply {
                    let gap_ns = recv_ns - prev_ns;
                    if gap_ns >= 0 && self.longest_gap.is_none_or(|g| gap_ns > g.gap_ns) {
                        self.longest_gap = Some(Gap {
                            gap_ns,
                            after_seq: prev_seq,
                            from_ns: prev_ns,
                            before_seq: seq,
                            to_ns: recv_ns,
                        });
                    }
                }
                // Kernel timestamps grow in arrival order; keep the later one
                // should the realtime clock step back.
                if self.last_reply.is_none_or(|(_, t)| recv_ns >= t) {
                    self.last_reply = Some((seq, recv_ns));
                }
                ReplyKind::Fresh { seq, rtt_ns }
            }
        }
    }

    pub fn foreign(&mut self) -> ReplyKind {
        self.foreign += 1;
        ReplyKind::Foreign
    }

    /// Declares lost every pending request sent (monotonic clock) at or
    /// before `deadline_mono` (sent + timeout <= now); returns their seqs.
    pub fn expire(&mut self, deadline_mono: i64) -> Vec<u64> {
        let mut lost = Vec::new();
        while let Some(r) = self.requests.get(self.first_pending) {
            match r.fate {
                Fate::Pending if r.sent_mono <= deadline_mono => {
                    self.requests[self.first_pending].fate = Fate::Lost;
                    lost.push(self.first_pending as u64);
                }
                Fate::Pending => break,
                _ => {}
            }
            self.first_pending += 1;
        }
        lost
    }

    pub fn pending(&self) -> bool {
        self.requests[self.first_pending.min(self.requests.len())..]
            .iter()
            .any(|r| r.fate == Fate::Pending)
    }

    /// Monotonic send time of the oldest pending request.
    pub fn oldest_pending(&self) -> Option<i64> {
        self.requests[self.first_pending.min(self.requests.len())..]
            .iter()
            .find(|r| r.fate == Fate::Pending)
            .map(|r| r.sent_mono)
    }

    pub fn summary(&self, target: String, interval_ns: i64, max_send_late_ns: i64) -> Summary {
        let mut rtts: Vec<i64> = self
            .requests
            .iter()
            .filter_map(|r| match r.fate {
                Fate::Replied { recv_ns } => Some(recv_ns - r.sent_ns),
                _ => None,
            })
            .collect();
        rtts.sort_unstable();
        let received = rtts.len() as u64;
        let sent = self.requests.len() as u64;
        let lost = self
            .requests
            .iter()
            .filter(|r| r.fate == Fate::Lost)
            .count() as u64;
        let median = match rtts.len() {
            0 => None,
            n if n % 2 == 1 => Some(rtts[n / 2]),
            n => Some((rtts[n / 2 - 1] + rtts[n / 2]) / 2),
        };
        let mean_interval_ns = match (self.requests.first(), self.requests.last()) {
            (Some(a), Some(b)) if sent >= 2 => Some((b.sent_ns - a.sent_ns) / (sent as i64 - 1)),
            _ => None,
        };
        let us = |ns: i64| ns / 1000;
        Summary {
            target,
            interval_us: us(interval_ns),
            sent,
            received,
            lost,
            duplicates: self.duplicates,
            late: self.late,
            foreign: self.foreign,
            send_errors: self.send_errors,
            skipped_slots: self.skipped_slots,
            rtt_min_us: rtts.first().copied().map(us),
            rtt_median_us: median.map(us),
            rtt_max_us: rtts.last().copied().map(us),
            mean_interval_us: mean_interval_ns.map(us),
            max_send_late_us: us(max_send_late_ns),
            longest_gap_us: self.longest_gap.map(|g| us(g.gap_ns)),
            longest_gap: self.longest_gap,
        }
    }
}

/// End-of-run figures (`summary` line / `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub target: String,
    pub interval_us: i64,
    pub sent: u64,
    pub received: u64,
    /// No reply within the timeout (late replies do not undo this).
    pub lost: u64,
    pub duplicates: u64,
    pub late: u64,
    /// Echo replies that were not ours, and unparsable packets.
    pub foreign: u64,
    pub send_errors: u64,
    pub skipped_slots: u64,
    pub rtt_min_us: Option<i64>,
    pub rtt_median_us: Option<i64>,
    pub rtt_max_us: Option<i64>,
    /// (last send - first send) / (sent - 1): the interval achieved.
    pub mean_interval_us: Option<i64>,
    /// Worst delay of a send after its slot on the schedule.
    pub max_send_late_us: i64,
    /// Longest time between two successive replies (kernel receive times).
    pub longest_gap_us: Option<i64>,
    pub longest_gap: Option<Gap>,
}

impl Summary {
    /// One `key=value` line; absent values are `-`.
    pub fn line(&self) -> String {
        let o = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        let gap = match &self.longest_gap {
            Some(g) => format!(
                "longest_gap_us={} gap_after_seq={} gap_before_seq={} gap_from={} gap_to={}",
                g.gap_ns / 1000,
                g.after_seq,
                g.before_seq,
                g.from_ns,
                g.to_ns
            ),
            None => "longest_gap_us=-".to_owned(),
        };
        format!(
            "summary target={} sent={} received={} lost={} duplicates={} late={} foreign={} \
             send_errors={} skipped_slots={} rtt_min_us={} rtt_median_us={} rtt_max_us={} interval_us={} \
             mean_interval_us={} max_send_late_us={} {gap}",
            self.target,
            self.sent,
            self.received,
            self.lost,
            self.duplicates,
            self.late,
            self.foreign,
            self.send_errors,
            self.skipped_slots,
            o(self.rtt_min_us),
            o(self.rtt_median_us),
            o(self.rtt_max_us),
            self.interval_us,
            o(self.mean_interval_us),
            self.max_send_late_us,
        )
    }
}

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

// ---------------------------------------------------------------------------
// The socket loop
// ---------------------------------------------------------------------------

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

fn clock_ns(clock: libc::clockid_t) -> i64 {
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

struct Prober {
    sock: Socket,
    family: Family,
    /// IPv4 raw sockets receive the IP header.
    ip_header: bool,
    kind: &'static str,
    id: u16,
    dest: SockAddr,
}

fn open_socket(dest: SocketAddr) -> io::Result<Prober> {
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
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<i64>)>> {
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

fn set_realtime() -> Result<(), String> {
    let p = libc::sched_param { sched_priority: 10 };
    // SAFETY: plain syscall on this process.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &p) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error().to_string())
    }
}

fn install_signals() {
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
fn grid_timer(start_ns: i64, interval_ns: i64) -> io::Result<OwnedFd> {
    let fd = timer::monotonic_timerfd()?;
    timer::set_timerfd(
        &fd,
        libc::TFD_TIMER_ABSTIME,
        Duration::from_nanos(start_ns.max(0) as u64),
        Duration::from_nanos(interval_ns.max(0) as u64),
    )?;
    Ok(fd)
}

/// Runs `vipctl probe`. Exit code 0 if at least one reply came back, 1 if
/// none, 2 on a usage or socket error.
pub fn main(args: ProbeArgs) -> ExitCode {
    match run(&args, &mut io::stdout()) {
        Ok(s) if s.received > 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("vipctl probe: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &ProbeArgs, out: &mut impl Write) -> Result<Summary, String> {
    let dest = resolve_target(&args.target)?;
    let target = match dest {
        SocketAddr::V6(a) if a.scope_id() != 0 => args.target.clone(),
        a => a.ip().to_string(),
    };
    let p = open_socket(dest).map_err(|e| format!("{target}: {e}"))?;
    let rt = if args.realtime {
        match set_realtime() {
            Ok(()) => "fifo",
            Err(e) => {
                eprintln!("vipctl probe: SCHED_FIFO not allowed ({e}); going on without");
                "other"
            }
        }
    } else {
        "other"
    };
    install_signals();
    let interval_ns = args.interval_ms as i64 * 1_000_000;
    let timeout_ns = args.timeout_ms as i64 * 1_000_000;
    let token =
        (clock_ns(libc::CLOCK_REALTIME) as u64).rotate_left(17) ^ u64::from(std::process::id());
    let start_mono = clock_ns(libc::CLOCK_MONOTONIC) + 1_000_000;
    let stop_mono = args.duration_ms.map(|d| start_mono + d as i64 * 1_000_000);
    let timer = grid_timer(start_mono, interval_ns).map_err(|e| format!("timerfd: {e}"))?;
    let pr = |out: &mut dyn Write, s: String| {
        // A closed stdout (`| head`) must not stop the measurement.
        let _ = writeln!(out, "{s}");
    };
    pr(
        out,
        format!(
            "probe target={target} interval_us={} timeout_ms={} socket={} id={} sched={rt}",
            interval_ns / 1000,
            args.timeout_ms,
            p.kind,
            p.id
        ),
    );
    let mut t = Tracker::default();
    let mut max_late_ns = 0i64;
    let mut sending = true;
    let mut buf = vec![0u8; 65536];
    let mut seen_signals = 0;
    let mut ticks: u64 = 0;
    loop {
        let signals = SIGNALS.load(Ordering::Relaxed);
        if signals > seen_signals {
            seen_signals = signals;
            if !sending || signals >= 2 {
                break; // second signal, or already draining: stop now
            }
            sending = false;
        }
        let now_mono = clock_ns(libc::CLOCK_MONOTONIC);
        if sending
            && (args.count.is_some_and(|c| t.requests.len() as u64 >= c)
                || stop_mono.is_some_and(|s| now_mono >= s))
        {
            sending = false;
        }
        for seq in t.expire(clock_ns(libc::CLOCK_MONOTONIC) - timeout_ns) {
            let sent = t.requests[seq as usize].sent_ns;
            pr(out, format!("lost seq={seq} sent={sent}"));
        }
        if !sending && !t.pending() {
            break;
        }
        // Wake up for the next loss deadline (ms resolution is enough for
        // that; sends come from the timerfd, replies from the socket).
        let wait_ms = t
            .oldest_pending()
            .map(|s| {
                let left = s + timeout_ns - clock_ns(libc::CLOCK_MONOTONIC);
                (left / 1_000_000 + 1).clamp(0, 1000) as i32
            })
            .unwrap_or(1000);
        let mut fds = [
            libc::pollfd {
                fd: p.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: timer.as_raw_fd(),
                events: if sending { libc::POLLIN } else { 0 },
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, wait_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll: {e}"));
        }
        if sending && fds[1].revents & libc::POLLIN != 0 {
            let mut exp = [0u8; 8];
            // SAFETY: reading 8 bytes into an 8-byte buffer.
            let r = unsafe { libc::read(timer.as_raw_fd(), exp.as_mut_ptr() as *mut _, 8) };
            if r == 8 {
                // Slots are start + k * interval; send once for the latest
                // one due (no burst after a stall: missed slots are counted).
                let expirations = u64::from_ne_bytes(exp).max(1);
                t.skipped_slots += expirations - 1;
                ticks += expirations;
                let seq = t.requests.len() as u64;
                let now = clock_ns(libc::CLOCK_MONOTONIC);
                let slot = start_mono + (ticks as i64 - 1) * interval_ns;
                max_late_ns = max_late_ns.max(now - slot);
                let pkt = echo_request(p.family, p.id, seq, token);
                let sent_ns = clock_ns(libc::CLOCK_REALTIME);
                t.sent(sent_ns, clock_ns(libc::CLOCK_MONOTONIC));
                if let Err(e) = p.sock.send_to(&pkt, &p.dest) {
                    t.send_errors += 1;
                    pr(out, format!("error seq={seq} sent={sent_ns} send: {e}"));
                }
            }
        }
        if fds[0].revents & (libc::POLLIN | libc::POLLERR) != 0 {
            loop {
                match p.recv(&mut buf) {
                    Ok(None) => break,
                    Ok(Some((len, ts))) => {
                        let recv_ns = ts.unwrap_or_else(|| clock_ns(libc::CLOCK_REALTIME));
                        let kind = match parse_echo_reply(&buf[..len], p.family, p.ip_header) {
                            Some(r) if r.id == p.id && r.token == token => t.reply(r.seq, recv_ns),
                            _ => t.foreign(),
                        };
                        match kind {
                            ReplyKind::Fresh { seq, rtt_ns } => pr(
                                out,
                                format!(
                                    "reply seq={seq} sent={} recv={recv_ns} rtt_us={}",
                                    recv_ns - rtt_ns,
                                    rtt_ns / 1000
                                ),
                            ),
                            ReplyKind::Late { seq } => pr(
                                out,
                                format!(
                                    "late seq={seq} recv={recv_ns} rtt_us={}",
                                    (recv_ns - t.requests[seq as usize].sent_ns) / 1000
                                ),
                            ),
                            ReplyKind::Duplicate | ReplyKind::Foreign => {}
                        }
                    }
                    // ICMP errors queued on a datagram socket (host
                    // unreachable...): the request is simply not answered.
                    Err(_) => break,
                }
            }
        }
    }
    // Interrupted while draining: whatever is still pending is lost.
    for seq in t.expire(i64::MAX) {
        let sent = t.requests[seq as usize].sent_ns;
        pr(out, format!("lost seq={seq} sent={sent}"));
    }
    let s = t.summary(target, interval_ns, max_late_ns);
    if args.json {
        pr(out, serde_json::to_string(&s).unwrap_or_default());
    } else {
        pr(out, s.line());
    }
    let _ = out.flush();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo reply as a peer would send it: our request with the type
    /// changed and the checksum fixed.
    fn reply_of(req: &[u8], family: Family) -> Vec<u8> {
        let mut r = req.to_vec();
        r[0] = match family {
            Family::V4 => ICMP_ECHO_REPLY,
            Family::V6 => ICMP6_ECHO_REPLY,
        };
        r[2] = 0;
        r[3] = 0;
        if family == Family::V4 {
            let c = inet_checksum(&r);
            r[2..4].copy_from_slice(&c.to_be_bytes());
        }
        r
    }

    fn ipv4_header(payload_len: usize) -> Vec<u8> {
        let total = (20 + payload_len) as u16;
        let mut h = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
        ];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h
    }

    #[test]
    fn request_bytes_and_checksum() {
        let p = echo_request(Family::V4, 0x1234, 0x1_0005, 0x0102_0304_0506_0708);
        assert_eq!(p.len(), 32);
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0x00, 0x05], "id, seq low 16 bits");
        assert_eq!(&p[8..16], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&p[16..24], &[0, 0, 0, 0, 0, 1, 0, 5]);
        assert_eq!(&p[24..], b"vipdprob");
        assert_eq!(inet_checksum(&p), 0, "a correct checksum sums to 0");
        let p6 = echo_request(Family::V6, 1, 2, 3);
        assert_eq!(
            (p6[0], p6[2], p6[3]),
            (128, 0, 0),
            "kernel fills ICMPv6 sum"
        );
    }

    #[test]
    fn checksum_known_vector() {
        // RFC 1071 example: 00 01 f2 03 f4 f5 f6 f7 -> sum ddf2, checksum 220d.
        assert_eq!(
            inet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        // Odd length: the last byte is padded with a zero.
        assert_eq!(inet_checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn parses_replies_v4_raw_dgram_and_v6() {
        let req = echo_request(Family::V4, 7, 300, 42);
        let rep = reply_of(&req, Family::V4);
        let want = EchoReply {
            id: 7,
            seq16: 300,
            token: 42,
            seq: 300,
        };
        assert_eq!(parse_echo_reply(&rep, Family::V4, false), Some(want));
        let mut raw = ipv4_header(rep.len());
        raw.extend_from_slice(&rep);
        assert_eq!(parse_echo_reply(&raw, Family::V4, true), Some(want));
        // IPv4 header with options (ihl = 6).
        let mut opt = ipv4_header(rep.len() + 4);
        opt[0] = 0x46;
        opt.extend_from_slice(&[1, 1, 1, 0]);
        opt.extend_from_slice(&rep);
        assert_eq!(parse_echo_reply(&opt, Family::V4, true), Some(want));
        let rep6 = reply_of(&echo_request(Family::V6, 7, 300, 42), Family::V6);
        assert_eq!(parse_echo_reply(&rep6, Family::V6, false), Some(want));
    }

    #[test]
    fn rejects_what_is_not_our_reply() {
        let req = echo_request(Family::V4, 7, 300, 42);
        let rep = reply_of(&req, Family::V4);
        // Our own request (seen on loopback), an ICMPv6 reply on v4...
        assert_eq!(parse_echo_reply(&req, Family::V4, false), None);
        assert_eq!(parse_echo_reply(&rep, Family::V6, false), None);
        // Bad checksum.
        let mut bad = rep.clone();
        bad[31] ^= 1;
        assert_eq!(parse_echo_reply(&bad, Family::V4, false), None);
        // Foreign payload (iputils ping's timestamp payload) with a valid sum.
        let mut foreign = rep.clone();
        foreign[24..].copy_from_slice(b"abcdefgh");
        foreign[2] = 0;
        foreign[3] = 0;
        let c = inet_checksum(&foreign);
        foreign[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(parse_echo_reply(&foreign, Family::V4, false), None);
        // Header seq disagreeing with the payload seq.
        let mut mismatch = reply_of(&echo_request(Family::V4, 7, 300, 42), Family::V4);
        mismatch[7] = 1;
        mismatch[2] = 0;
        mismatch[3] = 0;
        let c = inet_checksum(&mismatch);
        mismatch[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(parse_echo_reply(&mismatch, Family::V4, false), None);
        // Not IPv4 / not ICMP in the IP header / truncated.
        let mut raw = ipv4_header(rep.len());
        raw.extend_from_slice(&rep);
        let mut v = raw.clone();
        v[0] = 0x65;
        assert_eq!(parse_echo_reply(&v, Family::V4, true), None);
        let mut udp = raw.clone();
        udp[9] = 17;
        assert_eq!(parse_echo_reply(&udp, Family::V4, true), None);
        let mut short_ihl = raw.clone();
        short_ihl[0] = 0x44;
        assert_eq!(parse_echo_reply(&short_ihl, Family::V4, true), None);
        let mut huge_ihl = raw[..30].to_vec();
        huge_ihl[0] = 0x4f;
        assert_eq!(parse_echo_reply(&huge_ihl, Family::V4, true), None);
        for n in 0..raw.len() {
            assert_eq!(
                parse_echo_reply(&raw[..n], Family::V4, true),
                None,
                "len {n}"
            );
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A cheap deterministic generator: every length up to 80, many patterns.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..80 {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                for (family, hdr) in [(Family::V4, true), (Family::V4, false), (Family::V6, false)]
                {
                    let _ = parse_echo_reply(&bytes, family, hdr);
                }
            }
        }
    }

    const MS: i64 = 1_000_000;

    #[test]
    fn tracker_rtt_duplicates_late_foreign_and_gap() {
        let mut t = Tracker::default();
        // 10 requests 10 ms apart; replies 1 ms later, except 3..=6 (lost).
        for i in 0..10 {
            assert_eq!(t.sent(i * 10 * MS, i * 10 * MS), i as u64);
        }
        for i in [0, 1, 2, 7, 8, 9] {
            let k = t.reply(i, i as i64 * 10 * MS + MS);
            assert_eq!(k, ReplyKind::Fresh { seq: i, rtt_ns: MS });
        }
        assert_eq!(t.reply(8, 81 * MS + 5), ReplyKind::Duplicate);
        assert_eq!(t.reply(99, 5), ReplyKind::Foreign);
        // Timeout 1 s: at t = 1.035 s requests 0..=3 are due, only 3 pending.
        assert_eq!(t.expire(35 * MS), vec![3]);
        assert!(t.pending());
        assert_eq!(t.expire(1000 * MS), vec![4, 5, 6]);
        assert!(!t.pending());
        assert_eq!(t.reply(5, 1200 * MS), ReplyKind::Late { seq: 5 });
        let g = t.longest_gap.unwrap();
        assert_eq!(
            g,
            Gap {
                gap_ns: 50 * MS,
                after_seq: 2,
                from_ns: 21 * MS,
                before_seq: 7,
                to_ns: 71 * MS
            }
        );
        let s = t.summary("10.0.0.1".into(), 10 * MS, 2 * MS);
        assert_eq!((s.sent, s.received, s.lost), (10, 6, 4));
        assert_eq!((s.duplicates, s.late, s.foreign), (1, 1, 1));
        assert_eq!(
            (s.rtt_min_us, s.rtt_median_us, s.rtt_max_us),
            (Some(1000), Some(1000), Some(1000))
        );
        assert_eq!(s.mean_interval_us, Some(10_000));
        assert_eq!(s.longest_gap_us, Some(50_000));
        let line = s.line();
        assert!(
            line.starts_with("summary target=10.0.0.1 sent=10 received=6 lost=4 "),
            "{line}"
        );
        assert!(
            line.contains(" longest_gap_us=50000 gap_after_seq=2 gap_before_seq=7 "),
            "{line}"
        );
        let j: serde_json::Value = serde_json::to_value(&s).unwrap();
        assert_eq!(j["longest_gap"]["before_seq"], 7);
        assert_eq!(j["mean_interval_us"], 10_000);
    }

    #[test]
    fn median_of_even_count_and_out_of_order_replies() {
        let mut t = Tracker::default();
        for i in 0..4 {
            t.sent(i * 10 * MS, i * 10 * MS);
        }
        // Reply 1 overtakes reply 0; rtts 14, 1, 2, 8 ms -> median 5 ms.
        t.reply(1, 11 * MS);
        t.reply(0, 14 * MS);
        t.reply(2, 22 * MS);
        t.reply(3, 38 * MS);
        let s = t.summary("x".into(), 10 * MS, 0);
        assert_eq!(s.rtt_median_us, Some(5000));
        assert_eq!((s.rtt_min_us, s.rtt_max_us), (Some(1000), Some(14_000)));
        // Gaps in arrival order: 3, 8, 16 ms.
        let g = t.longest_gap.unwrap();
        assert_eq!((g.gap_ns, g.after_seq, g.before_seq), (16 * MS, 2, 3));
        // A realtime clock step back does not make a negative "gap".
        let mut t = Tracker::default();
        t.sent(0, 0);
        t.sent(10 * MS, 10 * MS);
        t.sent(20 * MS, 20 * MS);
        t.reply(0, MS);
        t.reply(1, 11 * MS);
        t.reply(2, 5 * MS);
        assert_eq!(t.longest_gap.unwrap().gap_ns, 10 * MS);
    }

    #[test]
    fn timeouts_follow_the_monotonic_clock_not_the_wall_clock() {
        let mut t = Tracker::default();
        // Wall clock stepped: sent "in the future" by wall time, 5 ms by
        // the monotonic clock.
        t.sent(3_000_000 * MS, 5 * MS);
        assert!(t.expire(4 * MS).is_empty());
        assert_eq!(t.oldest_pending(), Some(5 * MS));
        assert_eq!(t.expire(5 * MS), vec![0]);
        assert_eq!(t.oldest_pending(), None);
    }

    #[test]
    fn empty_and_single_runs() {
        let t = Tracker::default();
        let s = t.summary("x".into(), MS, 0);
        assert_eq!((s.sent, s.received, s.mean_interval_us), (0, 0, None));
        assert!(s.line().ends_with("longest_gap_us=-"), "{}", s.line());
        let mut t = Tracker::default();
        t.sent(0, 0);
        t.reply(0, 5);
        assert_eq!(t.summary("x".into(), MS, 0).longest_gap_us, None);
    }

    #[test]
    fn targets() {
        assert_eq!(
            resolve_target("192.0.2.1").unwrap(),
            "192.0.2.1:0".parse().unwrap()
        );
        assert!(resolve_target("2001:db8::1").unwrap().is_ipv6());
        let lo = resolve_target("fe80::1%lo").unwrap();
        assert!(matches!(lo, SocketAddr::V6(a) if a.scope_id() != 0));
        assert!(resolve_target("fe80::1%no-such-if0").is_err());
        assert!(resolve_target("10.0.0.1%lo").is_err());
    }
}
