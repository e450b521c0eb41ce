//! Packet capture (tcpdump in the switch namespace), a std-only classic pcap
//! reader and small decoders for VRRP adverts, gratuitous ARPs and neighbor
//! advertisements. Deliberately independent of the crate under test.

use super::{LabShared, ProcHandle, require_tool};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One captured Ethernet frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Capture timestamp, since the Unix epoch (same clock as `ping -D`).
    pub ts: Duration,
    /// The frame from the destination MAC on (no FCS).
    pub data: Vec<u8>,
}

impl Frame {
    pub fn dst_mac(&self) -> Option<[u8; 6]> {
        self.data.get(0..6).map(|s| s.try_into().unwrap())
    }
    pub fn src_mac(&self) -> Option<[u8; 6]> {
        self.data.get(6..12).map(|s| s.try_into().unwrap())
    }
    /// Ethertype (after any 802.1Q/802.1ad tags) and the L3 payload.
    pub fn l3(&self) -> Option<(u16, &[u8])> {
        let d = &self.data;
        if d.len() < 14 {
            return None;
        }
        let mut et = be16(&d[12..]);
        let mut off = 14;
        while et == 0x8100 || et == 0x88a8 {
            if d.len() < off + 4 {
                return None;
            }
            et = be16(&d[off + 2..]);
            off += 4;
        }
        Some((et, &d[off..]))
    }
}

/// A running tcpdump. Stop it with [`Capture::stop`]; if the test does not,
/// the lab kills it on drop.
pub struct Capture {
    proc: ProcHandle,
    path: PathBuf,
}

pub(super) fn start(lab: &LabShared, ns: &str, iface: &str, filter: &str) -> Capture {
    require_tool("tcpdump");
    let seq = lab.next_seq();
    let path = lab.tmpdir.join(format!("capture-{seq}-{iface}.pcap"));
    let log = PathBuf::from(format!("capture-{seq}-{iface}.log"));
    let path_s = path.to_string_lossy().into_owned();
    // -Z root: Debian's tcpdump drops to user `tcpdump` otherwise and then
    // cannot write into the root-owned lab dir.
    let mut args = vec![
        "tcpdump",
        "-i",
        iface,
        "-w",
        &path_s,
        "-U",
        "-n",
        "--immediate-mode",
        "-Z",
        "root",
    ];
    if !filter.trim().is_empty() {
        args.push(filter);
    }
    let proc = spawn_tcpdump(
        lab,
        ns,
        &args,
        &log,
        &format!("tcpdump on {ns}/{iface} (filter {filter:?})"),
    );
    Capture { proc, path }
}

/// Spawns tcpdump with `args` in namespace `ns` and returns once it says it
/// is listening; panics with its log (naming it `what`) otherwise.
fn spawn_tcpdump(lab: &LabShared, ns: &str, args: &[&str], log: &Path, what: &str) -> ProcHandle {
    let proc = lab.spawn(ns, args, &[], log);
    let ok = super::wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
        proc.log().contains("listening on") || !proc.is_running()
    });
    if !ok || !proc.is_running() {
        let log = proc.log();
        proc.kill();
        panic!("lab: {what} did not start:\n{log}");
    }
    proc
}

impl Capture {
    /// The pcap file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tcpdump process.
    pub fn process(&self) -> &ProcHandle {
        &self.proc
    }

    /// Frames captured so far (tcpdump runs with -U, so every packet is
    /// flushed to the file); the capture keeps running.
    pub fn frames(&self) -> Vec<Frame> {
        read_pcap(&self.path)
    }

    /// Stops tcpdump (SIGINT, up to 3 s, then SIGKILL) and returns all frames.
    pub fn stop(self) -> Vec<Frame> {
        self.proc
            .inner
            .stop_with(libc::SIGINT, Duration::from_secs(3));
        read_pcap(&self.path)
    }
}

/// A running tcpdump that only counts (`-w /dev/null`), for rates too high
/// to keep every frame: read its counters with [`PacketCount::snapshot`]
/// at the start and the end of a window, and subtract. The lab stops it on
/// drop.
pub struct PacketCount {
    proc: ProcHandle,
}

/// tcpdump's counters at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// "packets received by filter": what matched the (kernel) filter so
    /// far, including what the ring could not hold. Frames that arrived
    /// before the filter was attached count too, so only a difference
    /// between two snapshots is exact.
    pub matched: u64,
    /// "packets dropped by kernel" (ring full).
    pub dropped: u64,
    /// Wall clock (since the epoch) when the counters were asked for.
    pub at: Duration,
}

/// Starts a counting tcpdump on `iface` of namespace `ns`, only frames
/// entering `iface` (on a switch port: what the host sent) that match
/// `filter`, with a 96 byte snap length and a 16 MiB ring; returns once it
/// listens. The direction is in the BPF program (`inbound`), so the
/// kernel's match count honours it (`-Q in` would be applied by libpcap
/// after the count).
pub(super) fn start_count(lab: &LabShared, ns: &str, iface: &str, filter: &str) -> PacketCount {
    require_tool("tcpdump");
    let seq = lab.next_seq();
    let log = PathBuf::from(format!("count-{seq}-{iface}.log"));
    let filter = if filter.trim().is_empty() {
        "inbound".to_string()
    } else {
        format!("inbound and ({filter})")
    };
    let args = [
        "tcpdump",
        "-i",
        iface,
        "-w",
        "/dev/null",
        "-s",
        "96",
        "-B",
        "16384",
        "-n",
        &filter,
    ];
    let what = format!("counting tcpdump on {ns}/{iface} (filter {filter:?})");
    PacketCount {
        proc: spawn_tcpdump(lab, ns, &args, &log, &what),
    }
}

/// The number before `what` ("packets received by filter", singular or
/// plural) in a line of tcpdump's statistics.
fn tcpdump_stat(line: &str, what: &str) -> Option<u64> {
    let before = &line[..line.find(what)?];
    let before = before
        .trim_end()
        .strip_suffix("packets")
        .or_else(|| before.trim_end().strip_suffix("packet"))?;
    before.split_whitespace().last()?.parse().ok()
}

impl PacketCount {
    /// The counters now: SIGUSR1 makes tcpdump print them (one line,
    /// "N packets captured, N packets received by filter, N packets
    /// dropped by kernel"); waits up to 2 s for it, panics with the log
    /// otherwise.
    pub fn snapshot(&self) -> Counted {
        let seen = |log: &str| {
            log.lines()
                .filter(|l| l.contains("received by filter"))
                .count()
        };
        let before = seen(&self.proc.log());
        let at = super::now_epoch();
        self.proc.signal(libc::SIGUSR1);
        let mut line = None;
        super::wait_until(Duration::from_secs(2), Duration::from_millis(5), || {
            let log = self.proc.log();
            line = log
                .lines()
                .filter(|l| l.contains("received by filter"))
                .nth(before)
                .map(str::to_owned);
            line.is_some()
        });
        let parsed = line.as_deref().and_then(|l| {
            Some(Counted {
                matched: tcpdump_stat(l, "received by filter")?,
                dropped: tcpdump_stat(l, "dropped by kernel")?,
                at,
            })
        });
        parsed.unwrap_or_else(|| panic!("lab: tcpdump printed no statistics:\n{}", self.proc.log()))
    }

    /// Stops tcpdump (SIGINT, up to 5 s).
    pub fn stop(self) {
        self.proc
            .inner
            .stop_with(libc::SIGINT, Duration::from_secs(5));
    }
}

/// Reads a classic pcap file with Ethernet link type. A missing/empty file
/// gives no frames; a truncated last record is ignored. Panics on a
/// malformed file or a non-Ethernet link type.
pub fn read_pcap(path: &Path) -> Vec<Frame> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("lab: cannot read {}: {e}", path.display()),
    };
    match parse_pcap(&bytes) {
        Ok((1, frames)) => frames,
        Ok((_, frames)) if frames.is_empty() => frames,
        Ok((lt, _)) => panic!(
            "lab: {}: link type {lt}, expected 1 (Ethernet)",
            path.display()
        ),
        Err(e) => panic!("lab: {}: {e}", path.display()),
    }
}

/// Parses classic pcap (both byte orders, µs and ns magic). Returns the link
/// type and the frames. Input shorter than the global header is an empty
/// capture (link type 0).
pub fn parse_pcap(b: &[u8]) -> Result<(u32, Vec<Frame>), String> {
    if b.len() < 24 {
        return Ok((0, Vec::new()));
    }
    let magic_le = u32::from_le_bytes(b[0..4].try_into().unwrap());
    let (le, nanos) = match magic_le {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        m => return Err(format!("not a classic pcap file (magic {m:#010x})")),
    };
    let rd = |off: usize| -> u32 {
        let a: [u8; 4] = b[off..off + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = rd(20) & 0x0fff_ffff;
    let mut frames = Vec::new();
    let mut off = 24;
    while off + 16 <= b.len() {
        let sec = rd(off) as u64;
        let frac = rd(off + 4) as u64;
        let incl = rd(off + 8) as usize;
        let start = off + 16;
        if incl > 0x1000_0000 {
            return Err(format!("bad record length {incl} at offset {off}"));
        }
        if start + incl > b.len() {
            break; // record still being written
        }
        let ts = if nanos {
            Duration::new(sec, frac as u32)
        } else {
            Duration::from_secs(sec) + Duration::from_micros(frac)
        };
        frames.push(Frame {
            ts,
            data: b[start..start + incl].to_vec(),
        });
        off = start + incl;
    }
    Ok((linktype, frames))
}

// ---------------------------------------------------------------------------
// Decoders
// ---------------------------------------------------------------------------

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn v4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

fn v6(b: &[u8]) -> Ipv6Addr {
    let a: [u8; 16] = b[..16].try_into().unwrap();
    Ipv6Addr::from(a)
}

struct IpPkt<'a> {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ttl: u8,
    /// IPv4 TOS or IPv6 traffic class.
    tos: u8,
    payload: &'a [u8],
}

/// IPv4 (unfragmented) or IPv6 (no extension headers) packet of a frame.
fn ip_packet(f: &Frame) -> Option<IpPkt<'_>> {
    let (et, p) = f.l3()?;
    match et {
        0x0800 => {
            if p.len() < 20 || p[0] >> 4 != 4 {
                return None;
            }
            let ihl = (p[0] & 0x0f) as usize * 4;
            let total = be16(&p[2..]) as usize;
            let frag = be16(&p[6..]);
            if ihl < 20 || total < ihl || total > p.len() || frag & 0x3fff != 0 {
                return None;
            }
            Some(IpPkt {
                src: IpAddr::V4(v4(&p[12..])),
                dst: IpAddr::V4(v4(&p[16..])),
                proto: p[9],
                ttl: p[8],
                tos: p[1],
                payload: &p[ihl..total],
            })
        }
        0x86dd => {
            if p.len() < 40 || p[0] >> 4 != 6 {
                return None;
            }
            let plen = be16(&p[4..]) as usize;
            if 40 + plen > p.len() {
                return None;
            }
            Some(IpPkt {
                src: IpAddr::V6(v6(&p[8..])),
                dst: IpAddr::V6(v6(&p[24..])),
                proto: p[6],
                ttl: p[7],
                tos: (p[0] << 4) | (p[1] >> 4),
                payload: &p[40..40 + plen],
            })
        }
        _ => None,
    }
}

fn ones_complement_sum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(be16(c));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// A decoded VRRP advertisement (RFC 3768 v2 / RFC 9568 v3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpPacket {
    pub ts: Duration,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit (must be 255).
    pub ttl: u8,
    /// 2 or 3.
    pub version: u8,
    /// Packet type (1 = advertisement).
    pub kind: u8,
    pub vrid: u8,
    pub priority: u8,
    /// "Count IPvX Addr" field.
    pub count: u8,
    /// v2: seconds ("Adver Int"); v3: centiseconds ("Max Adver Int").
    pub raw_interval: u16,
    /// `raw_interval` as a duration.
    pub interval: Duration,
    /// v2 only: authentication type.
    pub auth_type: Option<u8>,
    pub addrs: Vec<IpAddr>,
    /// v2: checksum over the VRRP message; v3: with the IP pseudo-header.
    pub checksum_ok: bool,
    /// v3 over IPv4: which checksum form verifies, "pseudo_header" (RFC
    /// 5798 with the packet's addresses), "group_pseudo_header" (the
    /// destination replaced by 224.0.0.18: keepalived's old unicast sum)
    /// or "message_only" (RFC 9568); None if none does or not v3/IPv4.
    pub v3_ipv4_form: Option<&'static str>,
    /// IPv4 TOS or IPv6 traffic class octet (DSCP in its upper six bits).
    pub tos: u8,
}

/// All VRRP packets (IPv4 protocol 112 / IPv6 next header 112) in `frames`.
pub fn vrrp_packets(frames: &[Frame]) -> Vec<VrrpPacket> {
    frames.iter().filter_map(decode_vrrp).collect()
}

fn decode_vrrp(f: &Frame) -> Option<VrrpPacket> {
    let ip = ip_packet(f)?;
    if ip.proto != 112 {
        return None;
    }
    let v = ip.payload;
    if v.len() < 8 {
        return None;
    }
    let version = v[0] >> 4;
    let count = v[3];
    let (raw_interval, interval, auth_type, addr_len, checksum_ok) = match version {
        2 => {
            let cs = ones_complement_sum(&[v]) == 0xffff;
            (
                u16::from(v[5]),
                Duration::from_secs(u64::from(v[5])),
                Some(v[4]),
                4,
                cs,
            )
        }
        3 => {
            let ri = be16(&v[4..]) & 0x0fff;
            let len = v.len();
            let cs = match (ip.src, ip.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    let ph = [0u8, 112, (len >> 8) as u8, len as u8];
                    ones_complement_sum(&[&s.octets(), &d.octets(), &ph, v]) == 0xffff
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    let l = (len as u32).to_be_bytes();
                    let ph = [l[0], l[1], l[2], l[3], 0, 0, 0, 112];
                    ones_complement_sum(&[&s.octets(), &d.octets(), &ph, v]) == 0xffff
                }
                _ => false,
            };
            let alen = if ip.src.is_ipv4() { 4 } else { 16 };
            (
                ri,
                Duration::from_millis(u64::from(ri) * 10),
                None,
                alen,
                cs,
            )
        }
        _ => return None,
    };
    let v3_ipv4_form = match (version, ip.src, ip.dst) {
        (3, IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = v.len();
            let ph = [0u8, 112, (len >> 8) as u8, len as u8];
            let group = [224u8, 0, 0, 18];
            if ones_complement_sum(&[&s.octets(), &d.octets(), &ph, v]) == 0xffff {
                Some("pseudo_header")
            } else if ones_complement_sum(&[&s.octets(), &group, &ph, v]) == 0xffff {
                Some("group_pseudo_header")
            } else if ones_complement_sum(&[v]) == 0xffff {
                Some("message_only")
            } else {
                None
            }
        }
        _ => None,
    };
    let mut addrs = Vec::new();
    for i in 0..count as usize {
        let off = 8 + i * addr_len;
        let Some(a) = v.get(off..off + addr_len) else {
            break;
        };
        addrs.push(if addr_len == 4 {
            IpAddr::V4(v4(a))
        } else {
            IpAddr::V6(v6(a))
        });
    }
    Some(VrrpPacket {
        ts: f.ts,
        src_mac: f.src_mac()?,
        dst_mac: f.dst_mac()?,
        src: ip.src,
        dst: ip.dst,
        ttl: ip.ttl,
        version,
        kind: v[0] & 0x0f,
        vrid: v[1],
        priority: v[2],
        count,
        raw_interval,
        interval,
        auth_type,
        addrs,
        checksum_ok,
        v3_ipv4_form,
        tos: ip.tos,
    })
}

/// VRRP adverts as `(timestamp, source IP, vrid, priority)`.
pub fn vrrp_adverts(frames: &[Frame]) -> Vec<(Duration, IpAddr, u8, u8)> {
    vrrp_packets(frames)
        .into_iter()
        .map(|p| (p.ts, p.src, p.vrid, p.priority))
        .collect()
}

/// A decoded ARP packet (Ethernet/IPv4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArpPacket {
    pub ts: Duration,
    /// Ethernet source/destination.
    pub eth_src: [u8; 6],
    pub eth_dst: [u8; 6],
    /// 1 = request, 2 = reply.
    pub op: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
}

/// All Ethernet/IPv4 ARP packets.
pub fn arps(frames: &[Frame]) -> Vec<ArpPacket> {
    frames
        .iter()
        .filter_map(|f| {
            let (et, a) = f.l3()?;
            if et != 0x0806
                || a.len() < 28
                || be16(a) != 1
                || be16(&a[2..]) != 0x0800
                || a[4] != 6
                || a[5] != 4
            {
                return None;
            }
            Some(ArpPacket {
                ts: f.ts,
                eth_src: f.src_mac()?,
                eth_dst: f.dst_mac()?,
                op: be16(&a[6..]),
                sender_mac: a[8..14].try_into().unwrap(),
                sender_ip: v4(&a[14..]),
                target_mac: a[18..24].try_into().unwrap(),
                target_ip: v4(&a[24..]),
            })
        })
        .collect()
}

/// Gratuitous ARPs (requests or replies with sender IP == target IP) as
/// `(timestamp, sender MAC, IP)`.
pub fn garps(frames: &[Frame]) -> Vec<(Duration, [u8; 6], Ipv4Addr)> {
    arps(frames)
        .into_iter()
        .filter(|a| a.sender_ip == a.target_ip)
        .map(|a| (a.ts, a.sender_mac, a.sender_ip))
        .collect()
}

/// A decoded ICMPv6 neighbor advertisement (type 136).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborAdvert {
    pub ts: Duration,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    pub router: bool,
    pub solicited: bool,
    pub override_flag: bool,
    pub target: Ipv6Addr,
    /// Target link-layer address option, if present.
    pub tlla: Option<[u8; 6]>,
}

/// All neighbor advertisements (ICMPv6 type 136 directly after the IPv6
/// header).
pub fn neighbor_adverts(frames: &[Frame]) -> Vec<NeighborAdvert> {
    frames
        .iter()
        .filter_map(|f| {
            let ip = ip_packet(f)?;
            let (IpAddr::V6(src), IpAddr::V6(dst)) = (ip.src, ip.dst) else {
                return None;
            };
            let m = ip.payload;
            if ip.proto != 58 || m.len() < 24 || m[0] != 136 {
                return None;
            }
            let mut tlla = None;
            let mut opts = &m[24..];
            while opts.len() >= 8 {
                let len = opts[1] as usize * 8;
                if len == 0 || len > opts.len() {
                    break;
                }
                if opts[0] == 2 && len >= 8 {
                    tlla = Some(opts[2..8].try_into().unwrap());
                }
                opts = &opts[len..];
            }
            Some(NeighborAdvert {
                ts: f.ts,
                src_mac: f.src_mac()?,
                dst_mac: f.dst_mac()?,
                src,
                dst,
                hop_limit: ip.ttl,
                router: m[4] & 0x80 != 0,
                solicited: m[4] & 0x40 != 0,
                override_flag: m[4] & 0x20 != 0,
                target: v6(&m[8..]),
                tlla,
            })
        })
        .collect()
}

/// Unsolicited neighbor advertisements (type 136 with the Solicited flag
/// clear) as `(timestamp, target)`.
pub fn unsolicited_nas(frames: &[Frame]) -> Vec<(Duration, Ipv6Addr)> {
    neighbor_adverts(frames)
        .into_iter()
        .filter(|n| !n.solicited)
        .map(|n| (n.ts, n.target))
        .collect()
}
