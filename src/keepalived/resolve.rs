//! Stage 4, resolving: each instance's defaults, families and versions as
//! keepalived resolves them, into the instance vipd would read from YAML
//! ([`RawInstance`]). Where keepalived adjusts a configuration (VRRPv2
//! advert intervals rounded to whole seconds, `auth_pass` cut to 8
//! characters, IPv6 instances run as VRRPv3, authentication ignored with
//! VRRPv3, ...), the importer does the same and says so.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::document::Document;
use super::instance::{Auth, RawKeepalivedInstance};
use super::lex::{Loc, error};
use super::{HostLink, ImportError, Warnings};
use crate::config::{
    AuthType, GarpConfig, InitialState, RawInstance, UnicastConfig, Vip, VipDevice, VipDeviceKind,
    VrrpVersion, duration_text,
};
use crate::family::Family;

/// Every instance of the document, resolved in order and named uniquely,
/// with the instance it was read from.
pub(super) fn instances<'d>(
    doc: &'d Document,
    host_links: &dyn Fn(&str) -> HostLink,
    warnings: &mut Warnings,
) -> Result<Vec<(RawInstance, &'d RawKeepalivedInstance)>, ImportError> {
    let mut names = HashSet::new();
    let mut resolved = Vec::new();
    for read in &doc.instances {
        let mut inst = Resolver::new(read, warnings).instance(doc.global_version, host_links)?;
        inst.v3_ipv4_checksum = super::wire_variants::checksum_form(
            read,
            doc.global_v3_checksum_as_v2.as_ref(),
            inst.version,
            warnings,
        );
        inst.name = unique_name(&read.name, &read.loc, &mut names, warnings);
        resolved.push((inst, read));
    }
    Ok(resolved)
}

/// vipd instance names are 1-64 characters of letters, digits, '.', '_' and
/// '-', and unique: other characters become '_', repeats get `-2`, `-3`, ...
fn unique_name(
    orig: &str,
    loc: &Loc,
    names: &mut HashSet<String>,
    warnings: &mut Warnings,
) -> String {
    let mut name: String = orig
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        name = "instance".into();
    }
    let base = name.clone();
    let mut n = 2;
    while names.contains(&name) {
        let suffix = format!("-{n}");
        name = base.chars().take(64 - suffix.len()).collect::<String>() + &suffix;
        n += 1;
    }
    if name != orig {
        warnings.warn(
            loc,
            format_args!(
                "vrrp_instance {orig:?}: renamed to {name:?} (vipd instance names are 1-64 characters of letters, digits, '.', '_' and '-', and unique)"
            ),
        );
    }
    names.insert(name.clone());
    name
}

/// One instance being resolved: what was read, and where its warnings go.
struct Resolver<'a> {
    r: &'a RawKeepalivedInstance,
    ctx: String,
    warnings: &'a mut Warnings,
}

/// The instance, its identity and its protocol settings.
impl<'a> Resolver<'a> {
    fn new(r: &'a RawKeepalivedInstance, warnings: &'a mut Warnings) -> Resolver<'a> {
        Resolver {
            r,
            ctx: r.context(),
            warnings,
        }
    }

    fn warn(&mut self, loc: &Loc, message: impl fmt::Display) {
        self.warnings.about(loc, &self.ctx, message);
    }

    /// The instance vipd would read from YAML, resolved step by step in
    /// the order the warnings come out.
    fn instance(
        &mut self,
        global_version: Option<VrrpVersion>,
        host_links: &dyn Fn(&str) -> HostLink,
    ) -> Result<RawInstance, ImportError> {
        let r = self.r;
        let (interface, vrid) = self.interface_and_vrid()?;
        let (version, first_family) = self.version(global_version);
        let (mut vips, mut excluded) = self.vips_once();
        self.split_mixed_families(version, first_family, &mut vips, &mut excluded);
        let advert_interval = self.advert_interval(version);
        let priority = self.priority();
        let initial_state = self.initial_state(priority, version);
        let preempt_delay = self.preempt_delay(initial_state);
        let (auth_type, auth_pass) = match r.auth.as_ref() {
            Some(a) => self.auth(a, version),
            None => (None, None),
        };
        let vip_device = self.vip_device(vrid);
        // A VIP explicitly on the interface is the default, unless a VIP
        // device would otherwise take it.
        if vip_device.is_none() {
            for v in vips.iter_mut().chain(excluded.iter_mut()) {
                if v.dev.as_deref() == Some(interface.as_str()) {
                    v.dev = None;
                }
            }
            self.hint_ipvlan(&interface, host_links);
        }
        let unicast = self.unicast(&interface, &mut vips, &mut excluded)?;
        let garp = self.garp();
        Ok(RawInstance {
            name: r.name.clone(),
            interface,
            vrid,
            version,
            priority,
            preempt: !r.nopreempt,
            preempt_delay,
            advert_interval,
            initial_state,
            auth_type,
            found_vips: Default::default(),
            auth_pass,
            vips,
            excluded_vips: excluded,
            unicast,
            garp,
            vip_device,
            track: Vec::new(),
            notify: Default::default(),
            units: Vec::new(),
            v3_ipv4_checksum: Default::default(),
            v3_ipv4_checksum_accept: Default::default(),
            dscp: Default::default(),
            lower_priority_master: Default::default(),
        })
    }

    /// keepalived refuses an instance without either.
    fn interface_and_vrid(&self) -> Result<(String, u8), ImportError> {
        let r = self.r;
        let ctx = &self.ctx;
        let Some(interface) = r.interface.clone() else {
            return Err(error(
                &r.loc,
                format!("{ctx} has no interface: vipd needs the interface the instance runs on"),
            ));
        };
        let Some(vrid) = r.vrid else {
            return Err(error(
                &r.loc,
                format!(
                    "{ctx} has no virtual_router_id: keepalived and vipd both require one (1-255)"
                ),
            ));
        };
        Ok((interface, vrid))
    }

    /// keepalived derives the family from the first VIP; IPv6 instances
    /// always run VRRPv3 (VRRPv2 is IPv4 only). keepalived's default is
    /// VRRPv2. Returns the version and the first VIP's family.
    fn version(&mut self, global: Option<VrrpVersion>) -> (VrrpVersion, Family) {
        let r = self.r;
        let first_family = r
            .vips
            .first()
            .map(|(v, _)| v.family())
            .unwrap_or(Family::V4);
        if first_family == Family::V4 {
            let version = r.version.as_ref().map(|(v, _)| *v).or(global);
            return (version.unwrap_or(VrrpVersion::V2), first_family);
        }
        if let Some((VrrpVersion::V2, loc)) = &r.version {
            self.warn(
                loc,
                "version 2: VRRPv2 carries IPv4 only, and the instance's first VIP is IPv6: imported as version 3 (as keepalived does in strict mode)",
            );
        }
        (VrrpVersion::V3, first_family)
    }

    /// Advert interval, rounded as keepalived rounds it.
    fn advert_interval(&mut self, version: VrrpVersion) -> Duration {
        match (&self.r.advert_int, version) {
            (None, _) => Duration::from_secs(1),
            (Some((secs, loc)), VrrpVersion::V2) => self.v2_advert_interval(*secs, loc),
            (Some((secs, loc)), VrrpVersion::V3) => self.v3_advert_interval(*secs, loc),
        }
    }

    fn v2_advert_interval(&mut self, secs: f64, loc: &Loc) -> Duration {
        let mut whole = (secs + 0.5).floor().max(1.0);
        if whole > 255.0 {
            whole = 255.0;
            self.warn(
                loc,
                format_args!(
                    "advert_int {secs}: VRRPv2 allows at most 255 s: set to 255 s, as keepalived does"
                ),
            );
        } else if whole != secs {
            self.warn(
                loc,
                format_args!(
                    "advert_int {secs}: VRRPv2 needs whole seconds: rounded to {whole} s, as keepalived does (use version 3 on all routers for sub-second adverts)"
                ),
            );
        }
        Duration::from_secs(whole as u64)
    }

    fn v3_advert_interval(&mut self, secs: f64, loc: &Loc) -> Duration {
        let mut cs = (secs * 100.0).round();
        if cs > 4095.0 {
            cs = 4095.0;
            self.warn(
                loc,
                format_args!(
                    "advert_int {secs}: VRRPv3 allows at most 40.95 s: set to 40.95 s, as keepalived does"
                ),
            );
        } else if (cs - secs * 100.0).abs() > 1e-6 {
            self.warn(
                loc,
                format_args!(
                    "advert_int {secs}: VRRPv3 counts in centiseconds: rounded to {} s, as keepalived does",
                    cs / 100.0
                ),
            );
        }
        Duration::from_millis(cs as u64 * 10)
    }

    /// keepalived: no priority + state MASTER means address owner (255).
    fn priority(&mut self) -> u8 {
        match (self.r.priority, &self.r.state) {
            (Some(p), _) => p,
            (None, Some((InitialState::Master, loc))) => {
                self.warn(
                    loc,
                    "state MASTER without priority: keepalived then uses priority 255 (the address owner): imported as 255; set priority explicitly if the peers expect otherwise",
                );
                255
            }
            (None, _) => 100,
        }
    }

    /// keepalived: no state + priority 255 means MASTER; and with VRRPv2 AH
    /// it ignores state MASTER below 255.
    fn initial_state(&mut self, priority: u8, version: VrrpVersion) -> InitialState {
        let r = self.r;
        let state = match &r.state {
            Some((s, _)) => *s,
            None if priority == 255 => InitialState::Master,
            None => InitialState::Backup,
        };
        let ah = r
            .auth
            .as_ref()
            .and_then(|a| a.kind.as_ref())
            .is_some_and(|(k, _)| k.eq_ignore_ascii_case("AH"));
        if ah
            && version == VrrpVersion::V2
            && state == InitialState::Master
            && priority != 255
            && let Some((_, loc)) = &r.state
        {
            self.warn(
                loc,
                "state MASTER: keepalived ignores it with AH authentication (it first waits for an advert to learn the AH sequence number) and starts as BACKUP: imported as initial_state backup",
            );
            return InitialState::Backup;
        }
        state
    }

    /// keepalived drops a preempt delay that cannot apply.
    fn preempt_delay(&mut self, initial_state: InitialState) -> Duration {
        let Some((delay, loc)) = &self.r.preempt_delay else {
            return Duration::ZERO;
        };
        if delay.is_zero() {
            return *delay;
        }
        if self.r.nopreempt {
            self.warn(
                loc,
                "preempt_delay: dropped, it has no effect with nopreempt (keepalived drops it too)",
            );
            return Duration::ZERO;
        }
        if initial_state == InitialState::Master {
            self.warn(
                loc,
                "preempt_delay: dropped, it has no effect with state MASTER (keepalived drops it too)",
            );
            return Duration::ZERO;
        }
        *delay
    }

    /// The authentication vipd uses, if any: VRRPv2 `auth_type PASS`
    /// (vipd's default `auth_type`, not written out) or `auth_type AH`
    /// (`auth_type: ah`), each with its password.
    fn auth(&mut self, a: &Auth, version: VrrpVersion) -> (Option<AuthType>, Option<String>) {
        let kind = a.kind.as_ref().map(|(k, _)| k.to_ascii_uppercase());
        let kind_loc = a.kind.as_ref().map(|(_, l)| l).unwrap_or(&a.loc);
        match kind.as_deref() {
            Some("AH") => {
                let pass = self.password(a, version, "AH");
                (pass.as_ref().map(|_| AuthType::Ah), pass)
            }
            Some("PASS") => (None, self.password(a, version, "PASS")),
            Some(other) => {
                self.warn(
                    kind_loc,
                    format_args!(
                        "auth_type {other}: unknown authentication type, not carried over (keepalived knows PASS and AH)"
                    ),
                );
                (None, None)
            }
            None => {
                self.warn(
                    &a.loc,
                    "authentication without auth_type: not carried over (keepalived ignores it too)",
                );
                (None, None)
            }
        }
    }

    /// The password of `auth_type PASS` or `AH`: never echo it in a warning.
    fn password(&mut self, a: &Auth, version: VrrpVersion, kind: &str) -> Option<String> {
        if version == VrrpVersion::V3 {
            self.warn(
                &a.loc,
                "authentication: not carried over: VRRPv3 has no authentication (RFC 5798), keepalived ignored it too",
            );
            return None;
        }
        let Some((pass, loc)) = &a.pass else {
            self.warn(
                &a.loc,
                format_args!(
                    "authentication: auth_type {kind} without auth_pass: not carried over (keepalived ignores it too)"
                ),
            );
            return None;
        };
        if pass.chars().count() > 8 {
            self.warn(
                loc,
                "auth_pass is longer than 8 characters: truncated to its first 8, as keepalived does (the peers send the same 8)",
            );
            return Some(pass.chars().take(8).collect());
        }
        Some(pass.clone())
    }

    /// vipd uses one interval for ARP and NA.
    fn garp(&mut self) -> GarpConfig {
        let mut garp = self.r.garp.clone();
        match (&self.r.garp_interval, &self.r.gna_interval) {
            (Some((g, _)), Some((n, loc))) if g != n => {
                let max = (*g).max(*n);
                self.warn(
                    loc,
                    format_args!(
                        "garp_interval {} and gna_interval {} differ: vipd uses one interval for ARP and NA, the larger one ({})",
                        duration_text::format(g),
                        duration_text::format(n),
                        duration_text::format(&max)
                    ),
                );
                garp.interval = max;
            }
            (Some((d, _)), _) | (None, Some((d, _))) => garp.interval = *d,
            (None, None) => {}
        }
        garp
    }
}

/// Addresses: the VIPs, the device they go on, and unicast (which
/// `unicast_peer` turns on), as keepalived keeps them.
impl Resolver<'_> {
    /// The VIPs and excluded VIPs with each address once, as keepalived
    /// keeps them (the first one listed, advertised before excluded).
    fn vips_once(&mut self) -> (Vec<Vip>, Vec<Vip>) {
        let r = self.r;
        let mut seen = BTreeSet::new();
        let vips = self.first_of_each(&mut seen, &r.vips);
        let excluded = self.first_of_each(&mut seen, &r.excluded);
        (vips, excluded)
    }

    fn first_of_each(&mut self, seen: &mut BTreeSet<IpAddr>, listed: &[(Vip, Loc)]) -> Vec<Vip> {
        let mut kept = Vec::new();
        for (v, loc) in listed {
            if seen.insert(v.address) {
                kept.push(v.clone());
            } else {
                self.warn(
                    loc,
                    format_args!("{} is listed twice: the repeat is dropped", v.address),
                );
            }
        }
        kept
    }

    /// keepalived advertises the first VIP's family only. vipd advertises
    /// both with VRRPv3; with VRRPv2 (IPv4 only) the IPv6 VIPs can only move
    /// with the instance.
    fn split_mixed_families(
        &mut self,
        version: VrrpVersion,
        first_family: Family,
        vips: &mut Vec<Vip>,
        excluded: &mut Vec<Vip>,
    ) {
        let has = |family: Family| vips.iter().any(|v| v.family() == family);
        if !(has(Family::V4) && has(Family::V6)) {
            return;
        }
        let loc = &self.r.loc;
        match version {
            VrrpVersion::V3 => self.warn(
                loc,
                format_args!(
                    "virtual_ipaddress mixes IPv4 and IPv6: vipd advertises both families (one advert per family, sharing one state), but a keepalived peer ignored the {} ones and advertised only {}: upgrade the peers together",
                    first_family.other(),
                    first_family
                ),
            ),
            VrrpVersion::V2 => {
                let (v6, v4): (Vec<Vip>, Vec<Vip>) =
                    vips.drain(..).partition(|v| v.family() == Family::V6);
                let moved: Vec<String> = v6.iter().map(|v| v.to_string()).collect();
                self.warn(
                    loc,
                    format_args!(
                        "virtual_ipaddress mixes IPv4 and IPv6 with VRRPv2, which carries IPv4 only (keepalived silently ignored the IPv6 ones): {} moved to excluded_vips, so vipd moves them with the instance without advertising them",
                        moved.join(", ")
                    ),
                );
                *vips = v4;
                excluded.splice(0..0, v6);
            }
        }
    }

    /// A VIP on a device of its own without `use_vmac` / `use_ipvlan` is
    /// most likely the hand-made IPVLAN of seed 000 (`ip link add link eth0
    /// keepalived0 type ipvlan mode l2`, then `10.1.0.1/32 dev
    /// keepalived0`): nothing recreates it after a reboot, and networkd
    /// does not know it. vipd can make and keep it (`vip_device: {kind:
    /// ipvlan}`); the VIP line alone cannot prove the kind, so this is a
    /// hint, confirmed by this host when it has the device, and silent when
    /// this host has it as another kind. Once per device and instance.
    fn hint_ipvlan(&mut self, interface: &str, host_links: &dyn Fn(&str) -> HostLink) {
        let r = self.r;
        let listed = (r.vips.iter().map(|v| ("virtual_ipaddress", v)))
            .chain(r.excluded.iter().map(|v| ("virtual_ipaddress_excluded", v)));
        let mut seen = BTreeSet::new();
        for (block, (vip, loc)) in listed {
            let Some(dev) = vip.dev.as_deref() else {
                continue;
            };
            if dev == interface || !seen.insert(dev) {
                continue;
            }
            let what = match host_links(dev) {
                HostLink::Ipvlan => format!(
                    "{dev} is not the instance's interface {interface} but an IPVLAN on this host (ip -d link show {dev})"
                ),
                HostLink::NotLookedUp => format!(
                    "{dev} is not the instance's interface {interface}; if it is an IPVLAN made by hand (check: ip -d link show {dev})"
                ),
                HostLink::Missing => format!(
                    "{dev} is not the instance's interface {interface} and does not exist on this host; if it is an IPVLAN made by hand on the keepalived host (check there: ip -d link show {dev})"
                ),
                HostLink::Other(_) => continue,
            };
            self.warn(
                loc,
                format_args!(
                    "{block}: {} dev {dev}: {what}, let vipd make and keep it instead: vip_device: {{kind: ipvlan, name: {dev}}}, and drop dev {dev} from the VIPs (as imported, the VIPs go on {dev}, which must exist)",
                    vip
                ),
            );
        }
    }

    fn vip_device(&mut self, vrid: u8) -> Option<VipDevice> {
        match (&self.r.use_vmac, &self.r.use_ipvlan) {
            (Some((name, loc)), _) => {
                if !self.r.xmit_base {
                    self.warn(
                        loc,
                        format_args!(
                            "use_vmac without vmac_xmit_base: keepalived sent adverts from the virtual MAC 00:00:5e:00:01:{vrid:02x}, vipd transmits them from the base interface's MAC (keepalived's vmac_xmit_base behaviour): switches and port security see the base MAC"
                        ),
                    );
                }
                Some(VipDevice {
                    kind: VipDeviceKind::Macvlan,
                    name: name.clone(),
                })
            }
            (None, Some((name, _))) => Some(VipDevice {
                kind: VipDeviceKind::Ipvlan,
                name: name.clone(),
            }),
            (None, None) => None,
        }
    }

    fn unicast(
        &mut self,
        interface: &str,
        vips: &mut Vec<Vip>,
        excluded: &mut Vec<Vip>,
    ) -> Result<Option<UnicastConfig>, ImportError> {
        let r = self.r;
        self.warn_foreign_devices(interface);
        if r.peers.is_empty() {
            if let Some(src) = r.sources.first() {
                self.warn(
                    &src.loc,
                    format_args!(
                        "unicast_src_ip {} without unicast_peer: keepalived used it as the multicast source; not carried over (vipd chooses the source address itself)",
                        src.addr
                    ),
                );
            }
            return Ok(None);
        }
        let peers = self.usable_peers(vips);
        if peers.is_empty() {
            return Err(error(
                &r.loc,
                format!(
                    "{}: no unicast_peer of the VIPs' address family: add one, or remove unicast_peer for multicast",
                    self.ctx
                ),
            ));
        }
        self.exclude_families_without_peer(&peers, vips, excluded);
        let sources = self.sources();
        Ok(Some(UnicastConfig { sources, peers }))
    }

    fn warn_foreign_devices(&mut self, interface: &str) {
        let r = self.r;
        for e in r.sources.iter().chain(&r.peers) {
            if let Some(d) = &e.dev
                && d != interface
            {
                self.warn(
                    &e.loc,
                    format_args!(
                        "{} dev {d}: not carried over (vipd sends and receives adverts on the instance's interface {interface})",
                        e.addr
                    ),
                );
            }
        }
    }

    /// Each peer once, and only of a family with VIPs (its adverts would be
    /// empty otherwise).
    fn usable_peers(&mut self, vips: &[Vip]) -> Vec<IpAddr> {
        let vip_families: BTreeSet<Family> = vips.iter().map(Vip::family).collect();
        let mut peers: Vec<IpAddr> = Vec::new();
        for e in &self.r.peers {
            let addr = e.addr;
            if peers.contains(&addr) {
                self.warn(
                    &e.loc,
                    format_args!("unicast_peer {addr} is listed twice: the repeat is dropped"),
                );
            } else if !vip_families.contains(&Family::of(addr)) {
                self.warn(
                    &e.loc,
                    format_args!(
                        "unicast_peer {addr}: dropped, the instance has no {} VIP to advertise to it (keepalived rejects such peers too)",
                        Family::of(addr)
                    ),
                );
            } else {
                peers.push(addr);
            }
        }
        peers
    }

    /// A family with VIPs but no peer: nobody to advertise them to, so they
    /// can only move with the instance.
    fn exclude_families_without_peer(
        &mut self,
        peers: &[IpAddr],
        vips: &mut Vec<Vip>,
        excluded: &mut Vec<Vip>,
    ) {
        let vip_families: BTreeSet<Family> = vips.iter().map(Vip::family).collect();
        for fam in Family::ALL {
            if vip_families.contains(&fam)
                && !peers.iter().any(|p| fam.contains(*p))
                && vips.iter().any(|v| v.family() != fam)
            {
                let (moved, kept): (Vec<Vip>, Vec<Vip>) =
                    vips.drain(..).partition(|v| v.family() == fam);
                *vips = kept;
                let shown: Vec<String> = moved.iter().map(|v| v.to_string()).collect();
                self.warn(
                    &self.r.loc,
                    format_args!(
                        "no {fam} unicast_peer: {} moved to excluded_vips (moved with the instance, not advertised)",
                        shown.join(", ")
                    ),
                );
                excluded.splice(0..0, moved);
            }
        }
    }

    /// One source per family; the last one wins, as in keepalived.
    fn sources(&mut self) -> Vec<IpAddr> {
        let mut sources: Vec<IpAddr> = Vec::new();
        for e in &self.r.sources {
            let addr = e.addr;
            match sources
                .iter()
                .position(|s| Family::of(*s) == Family::of(addr))
            {
                Some(prev) => {
                    self.warn(
                        &e.loc,
                        format_args!(
                            "unicast_src_ip {addr}: replaces {}, one source per family (the last one wins, as in keepalived)",
                            sources[prev]
                        ),
                    );
                    sources[prev] = addr;
                }
                None => sources.push(addr),
            }
        }
        sources
    }
}
