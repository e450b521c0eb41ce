//! A DHCPv4 server (dnsmasq) on the lab switch, and host-side helpers to read
//! the DHCP address.
//!
//! Invocation (in the switch namespace, after `ip addr add SERVER_CIDR dev
//! br0`):
//!
//! ```text
//! dnsmasq --no-daemon --log-facility=- --conf-file=/dev/null --port=0
//!     --interface=br0 --bind-interfaces --no-ping --dhcp-authoritative
//!     --dhcp-range=START,END,LEASE --dhcp-leasefile=TMP/dnsmasq-N.leases
//!     --pid-file=TMP/dnsmasq-N.pid --log-dhcp [extra...]
//! ```
//!
//! dnsmasq clamps the lease time to at least 120 s ("The minimum lease time
//! is two minutes", dhcp-range in dnsmasq(8)); it logs the effective value in
//! its "DHCP, IP range ..., lease time ..." line. The renewal time T1 (which
//! networkd honours, default lease/2) can be made shorter with
//! `--dhcp-option=option:T1,SECS` (and `option:T2,SECS`), see
//! [`dhcp_t1_t2`].

use super::{BRIDGE, Host, IfAddr, Lab, ProcHandle, out_text, parse_ip_o_addr, run_ok, wait_until};
use std::path::PathBuf;
use std::time::Duration;

/// Extra dnsmasq arguments that make clients renew after `t1` s and rebind
/// after `t2` s (DHCP options 58/59) whatever the lease time.
pub fn dhcp_t1_t2(t1: u32, t2: u32) -> Vec<String> {
    vec![
        format!("--dhcp-option=option:T1,{t1}"),
        format!("--dhcp-option=option:T2,{t2}"),
    ]
}

impl Lab {
    /// Gives `br0` the address `server_cidr` (e.g. "10.9.52.1/24") and runs
    /// dnsmasq as a DHCPv4 server for `range` ("START,END") with a lease of
    /// `lease_secs` (dnsmasq makes it at least 120). Returns once dnsmasq
    /// logged its DHCP range. The lease file sits next to the log (see
    /// [`dhcp_leases`]).
    pub fn start_dhcp(&self, server_cidr: &str, range: &str, lease_secs: u32) -> ProcHandle {
        self.start_dhcp_with(server_cidr, range, lease_secs, &[])
    }

    /// `start_dhcp` with extra dnsmasq arguments (e.g. [`dhcp_t1_t2`]).
    pub fn start_dhcp_with(
        &self,
        server_cidr: &str,
        range: &str,
        lease_secs: u32,
        extra: &[&str],
    ) -> ProcHandle {
        super::require_tool("dnsmasq");
        assert!(
            range.split(',').count() == 2,
            "lab: DHCP range must be \"START,END\", got {range:?}"
        );
        let sw = &self.shared.sw_ns;
        let have = run_ok(&["ip", "-n", sw, "-o", "addr", "show", "dev", BRIDGE]);
        if !have.contains(&format!(" {server_cidr} ")) {
            run_ok(&["ip", "-n", sw, "addr", "add", server_cidr, "dev", BRIDGE]);
        }
        let seq = self.shared.next_seq();
        let base = self.shared.tmpdir.join(format!("dnsmasq-{seq}"));
        let path = |ext: &str| base.with_extension(ext).to_string_lossy().into_owned();
        let (leases, pid, log) = (path("leases"), path("pid"), path("log"));
        let dhcp_range = format!("--dhcp-range={range},{lease_secs}");
        let leasefile = format!("--dhcp-leasefile={leases}");
        let pidfile = format!("--pid-file={pid}");
        let iface = format!("--interface={BRIDGE}");
        let mut args = vec![
            "dnsmasq",
            "--no-daemon",
            "--log-facility=-",
            "--conf-file=/dev/null",
            "--port=0",
            &iface,
            "--bind-interfaces",
            "--no-ping",
            "--dhcp-authoritative",
            &dhcp_range,
            &leasefile,
            &pidfile,
            "--log-dhcp",
        ];
        args.extend_from_slice(extra);
        let proc = self.spawn_in_switch(&args, PathBuf::from(&log));
        let ok = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            proc.log().contains("DHCP, IP range") || !proc.is_running()
        });
        if !ok || !proc.is_running() {
            let l = proc.log();
            proc.kill();
            panic!(
                "lab: dnsmasq did not start (args {args:?}):\n{l}\n--- br0 ---\n{}",
                out_text(&self.switch_exec(&["ip", "addr", "show", BRIDGE]))
            );
        }
        proc
    }
}

/// The effective lease time in seconds from dnsmasq's "DHCP, IP range ...,
/// lease time 2m" log line (None if not found/parsable).
pub fn dhcp_effective_lease(server: &ProcHandle) -> Option<u32> {
    let log = server.log();
    let line = log.lines().find(|l| l.contains("DHCP, IP range"))?;
    let t = line.rsplit("lease time ").next()?.trim();
    parse_dnsmasq_duration(t)
}

/// Parses dnsmasq's duration format ("2m", "1h", "1h30m", "45s", "infinite").
fn parse_dnsmasq_duration(t: &str) -> Option<u32> {
    if t == "infinite" {
        return Some(u32::MAX);
    }
    let mut total = 0u32;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u32 = num.parse().ok()?;
        num.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return None,
        };
    }
    if !num.is_empty() {
        total += num.parse::<u32>().ok()?;
    }
    Some(total)
}

/// One line of the dnsmasq lease file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpLease {
    /// Expiry, seconds since the epoch.
    pub expiry: u64,
    pub mac: String,
    pub ip: String,
    pub hostname: String,
}

/// Leases currently in the server's lease file (dnsmasq rewrites it on every
/// change).
pub fn dhcp_leases(server: &ProcHandle) -> Vec<DhcpLease> {
    let path = server.log_path().with_extension("leases");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() < 4 {
                return None;
            }
            Some(DhcpLease {
                expiry: w[0].parse().ok()?,
                mac: w[1].to_owned(),
                ip: w[2].to_owned(),
                hostname: w[3].to_owned(),
            })
        })
        .collect()
}

/// Number of DHCPACKs the server logged for `ip` (each DISCOVER/REQUEST
/// cycle, renewal and rebind ends with one).
pub fn dhcp_acks(server: &ProcHandle, ip: &str) -> usize {
    let needle = format!(" {ip} ");
    server
        .log()
        .lines()
        .filter(|l| l.contains("DHCPACK(") && l.contains(&needle))
        .count()
}

impl Host {
    /// The first IPv4 address on `dev` with a finite lifetime ("dynamic",
    /// i.e. from DHCP), if any.
    pub fn dhcp_addr(&self, dev: &str) -> Option<IfAddr> {
        let o = self.exec(&["ip", "-o", "-4", "addr", "show", "dev", dev]);
        parse_ip_o_addr(&String::from_utf8_lossy(&o.stdout))
            .into_iter()
            .find(|a| a.flags.iter().any(|f| f == "dynamic"))
    }

    /// Waits until `server` has a lease for `dev`'s MAC and that address is
    /// on `dev` (whatever its lifetime: with KeepConfiguration=dhcp/yes
    /// networkd installs DHCP addresses as permanent). Panics on timeout.
    pub fn wait_lease_addr(&self, server: &ProcHandle, dev: &str, timeout: Duration) -> IfAddr {
        let mac = super::format_mac(&self.mac(dev));
        let mut found = None;
        wait_until(timeout, Duration::from_millis(50), || {
            found = dhcp_leases(server)
                .into_iter()
                .find(|l| l.mac.eq_ignore_ascii_case(&mac))
                .and_then(|l| {
                    let ip: std::net::IpAddr = l.ip.parse().ok()?;
                    self.addrs(dev).into_iter().find(|a| a.addr == ip)
                });
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!(
                "lab: {}: no leased address ({mac}) on {dev} within {timeout:?}:\n{}\n\
                 --- leases ---\n{:?}\n--- server log tail ---\n{}",
                self.name,
                out_text(&self.exec(&["ip", "addr", "show", "dev", dev])),
                dhcp_leases(server),
                server.log_tail(20)
            )
        })
    }

    /// Waits for `dhcp_addr(dev)`; panics with `ip addr` on timeout.
    pub fn wait_dhcp_addr(&self, dev: &str, timeout: Duration) -> IfAddr {
        let mut found = None;
        wait_until(timeout, Duration::from_millis(50), || {
            found = self.dhcp_addr(dev);
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!(
                "lab: {}: no DHCP address on {dev} within {timeout:?}:\n{}",
                self.name,
                out_text(&self.exec(&["ip", "addr", "show", "dev", dev]))
            )
        })
    }

    /// Remaining valid lifetime in seconds of `addr` (no prefix) on `dev`;
    /// None if the address is absent, Some(u32::MAX) if "forever".
    pub fn addr_valid_lft(&self, dev: &str, addr: &str) -> Option<u32> {
        let o = self.exec(&["ip", "-o", "addr", "show", "dev", dev]);
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let needle = format!(" {addr}/");
        let line = text.lines().find(|l| l.contains(&needle))?;
        let mut w = line.split_whitespace();
        w.by_ref().find(|x| *x == "valid_lft")?;
        let v = w.next()?;
        if v == "forever" {
            return Some(u32::MAX);
        }
        v.trim_end_matches("sec").parse().ok()
    }
}
