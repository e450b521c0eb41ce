//! Stage 3, reading one `vrrp_instance` block: each statement through the
//! instance table of keywords.rs into a [`RawKeepalivedInstance`], which
//! keeps what was written and where. Defaults and keepalived's adjustments
//! come later (resolve.rs).

use std::net::IpAddr;
use std::time::Duration;

use super::addresses::{endpoint, vip_block};
use super::keywords::{INSTANCE, read_section};
use super::lex::{Loc, error};
use super::parse::Stmt;
use super::tracking::{RawHealth, Tracking};
use super::values::{ifname_arg, micros, parse_seconds, parse_u64, parse_version};
use super::{ImportError, Warnings};
use crate::config::{GarpConfig, InitialState, V3Ipv4ChecksumForm, Vip, VrrpVersion, parse_cidr};

/// `vrrp_instance` as read, before the defaults and cross-checks.
pub(super) struct RawKeepalivedInstance {
    pub name: String,
    pub loc: Loc,
    pub interface: Option<String>,
    pub state: Option<(InitialState, Loc)>,
    pub vrid: Option<u8>,
    pub priority: Option<u8>,
    pub advert_int: Option<(f64, Loc)>,
    pub nopreempt: bool,
    pub preempt_delay: Option<(Duration, Loc)>,
    pub version: Option<(VrrpVersion, Loc)>,
    pub auth: Option<Auth>,
    pub vips: Vec<(Vip, Loc)>,
    pub excluded: Vec<(Vip, Loc)>,
    pub sources: Vec<Endpoint>,
    pub peers: Vec<Endpoint>,
    pub garp: GarpConfig,
    pub garp_interval: Option<(Duration, Loc)>,
    pub gna_interval: Option<(Duration, Loc)>,
    pub use_vmac: Option<(Option<String>, Loc)>,
    pub xmit_base: bool,
    pub use_ipvlan: Option<(Option<String>, Loc)>,
    /// `track_*` blocks and `notify*` commands.
    pub health: RawHealth,
    // Checksum keywords (wire_variants.rs).
    pub old_unicast_checksum: Option<(V3Ipv4ChecksumForm, Loc)>,
    pub v3_checksum_as_v2: Option<(bool, Loc)>,
}

/// A `unicast_src_ip` or `unicast_peer` address, with its `dev` if given.
pub(super) struct Endpoint {
    pub addr: IpAddr,
    pub dev: Option<String>,
    pub loc: Loc,
}

/// An `authentication { }` block.
pub(super) struct Auth {
    pub loc: Loc,
    pub kind: Option<(String, Loc)>,
    pub pass: Option<(String, Loc)>,
}

impl RawKeepalivedInstance {
    fn new(name: String, loc: Loc) -> RawKeepalivedInstance {
        RawKeepalivedInstance {
            name,
            loc,
            interface: None,
            state: None,
            vrid: None,
            priority: None,
            advert_int: None,
            nopreempt: false,
            preempt_delay: None,
            version: None,
            auth: None,
            vips: Vec::new(),
            excluded: Vec::new(),
            sources: Vec::new(),
            peers: Vec::new(),
            garp: GarpConfig::default(),
            garp_interval: None,
            gna_interval: None,
            use_vmac: None,
            xmit_base: false,
            use_ipvlan: None,
            health: RawHealth::default(),
            old_unicast_checksum: None,
            v3_checksum_as_v2: None,
        }
    }

    /// What the instance's warnings and errors start with.
    pub fn context(&self) -> String {
        format!("vrrp_instance {}", self.name)
    }
}

impl Tracking for RawKeepalivedInstance {
    fn health(&mut self) -> &mut RawHealth {
        &mut self.health
    }

    fn context(&self) -> String {
        RawKeepalivedInstance::context(self)
    }
}

/// Reads `vrrp_instance NAME { ... }` (its name and block already checked
/// against the table).
pub(super) fn read(
    warnings: &mut Warnings,
    st: &Stmt,
) -> Result<RawKeepalivedInstance, ImportError> {
    let mut r = RawKeepalivedInstance::new(st.args[0].text.clone(), st.loc().clone());
    let body = st.need_block()?;
    read_section(&INSTANCE, &r.context(), &body.stmts, &mut r, warnings)?;
    if let (Some((_, a)), Some((_, b))) = (&r.use_vmac, &r.use_ipvlan) {
        let first = if a.line <= b.line { a } else { b };
        return Err(error(
            &r.loc,
            format!(
                "{}: use_vmac and use_ipvlan exclude each other (see {first}): keep one",
                r.context()
            ),
        ));
    }
    Ok(r)
}

// Handlers of the instance table, one per keyword (or pair of synonyms).

type Read = Result<(), ImportError>;

pub(super) fn interface(_: &mut Warnings, st: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    r.interface = Some(ifname_arg(st.one_arg()?, "interface")?);
    Ok(())
}

/// keepalived compares the state case-sensitively and takes anything but
/// MASTER as BACKUP.
pub(super) fn state(w: &mut Warnings, st: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    let t = st.one_arg()?;
    let state = match t.text.as_str() {
        "MASTER" => InitialState::Master,
        "BACKUP" => InitialState::Backup,
        other => {
            w.about(
                &t.loc,
                &r.context(),
                format_args!(
                    "state {other:?} is not MASTER or BACKUP: using BACKUP, as keepalived does"
                ),
            );
            InitialState::Backup
        }
    };
    r.state = Some((state, st.loc().clone()));
    Ok(())
}

pub(super) fn virtual_router_id(
    _: &mut Warnings,
    st: &Stmt,
    r: &mut RawKeepalivedInstance,
) -> Read {
    r.vrid = Some(parse_u64(st.one_arg()?, "virtual_router_id", 1, 255)? as u8);
    Ok(())
}

pub(super) fn priority(_: &mut Warnings, st: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    r.priority = Some(parse_u64(st.one_arg()?, "priority", 1, 255)? as u8);
    Ok(())
}

pub(super) fn advert_int(_: &mut Warnings, st: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    let t = st.one_arg()?;
    let v = parse_seconds(t, "advert_int")?;
    if v < 0.01 {
        return Err(error(
            &t.loc,
            format!(
                "advert_int {} is below 0.01 s, the smallest VRRP interval (RFC 5798 5.2.7)",
                t.shown()
            ),
        ));
    }
    r.advert_int = Some((v, t.loc.clone()));
    Ok(())
}

pub(super) fn nopreempt(_: &mut Warnings, _: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    r.nopreempt = true;
    Ok(())
}

/// keepalived's default; kept for old configurations.
pub(super) fn preempt(_: &mut Warnings, _: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    r.nopreempt = false;
    Ok(())
}

pub(super) fn preempt_delay(_: &mut Warnings, st: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    let t = st.one_arg()?;
    let v = parse_seconds(t, "preempt_delay")?;
    if v > 1000.0 {
        return Err(error(
            &t.loc,
            format!(
                "preempt_delay {} is out of range: keepalived allows 0-1000 seconds",
                t.shown()
            ),
        ));
    }
    r.preempt_delay = Some((micros(v), t.loc.clone()));
    Ok(())
}

/// `version` and `vrrp_version` are synonyms in keepalived.
pub(super) fn version(_: &mut Warnings, st: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    r.version = Some((parse_version(st.one_arg()?)?, st.loc().clone()));
    Ok(())
}

pub(super) fn authentication(w: &mut Warnings, st: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    let mut auth = Auth {
        loc: st.loc().clone(),
        kind: None,
        pass: None,
    };
    for a in &st.need_block()?.stmts {
        a.no_block()?;
        match a.kw() {
            "auth_type" => auth.kind = Some((a.one_arg()?.text.clone(), a.loc().clone())),
            "auth_pass" => auth.pass = Some((a.one_arg()?.text.clone(), a.loc().clone())),
            _ => w.about(
                a.loc(),
                &r.context(),
                format_args!("authentication: {}: not carried over", a.shown()),
            ),
        }
    }
    r.auth = Some(auth);
    Ok(())
}

pub(super) fn virtual_ipaddress(
    w: &mut Warnings,
    st: &Stmt,
    r: &mut RawKeepalivedInstance,
) -> Read {
    let vips = vip_block(w, st, &r.context())?;
    r.vips.extend(vips);
    Ok(())
}

pub(super) fn virtual_ipaddress_excluded(
    w: &mut Warnings,
    st: &Stmt,
    r: &mut RawKeepalivedInstance,
) -> Read {
    let vips = vip_block(w, st, &r.context())?;
    r.excluded.extend(vips);
    Ok(())
}

pub(super) fn unicast_src_ip(w: &mut Warnings, st: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    let t = st.one_arg()?;
    let source = endpoint(w, "unicast_src_ip", t, &st.args[1..], &r.context())?;
    r.sources.push(source);
    Ok(())
}

/// One peer address per line of the block.
pub(super) fn unicast_peer(w: &mut Warnings, st: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    for e in &st.need_block()?.stmts {
        e.no_block()?;
        let peer = endpoint(w, "unicast_peer", &e.key, &e.args, &r.context())?;
        r.peers.push(peer);
    }
    Ok(())
}

pub(super) fn garp_master_delay(
    _: &mut Warnings,
    st: &Stmt,
    r: &mut RawKeepalivedInstance,
) -> Read {
    let secs = parse_u64(st.one_arg()?, "garp_master_delay", 0, 86400)?;
    r.garp.second_burst_after = Duration::from_secs(secs);
    Ok(())
}

pub(super) fn garp_master_repeat(
    _: &mut Warnings,
    st: &Stmt,
    r: &mut RawKeepalivedInstance,
) -> Read {
    r.garp.repeat = parse_u64(st.one_arg()?, "garp_master_repeat", 0, 1_000_000)? as u32;
    Ok(())
}

pub(super) fn garp_master_refresh(
    _: &mut Warnings,
    st: &Stmt,
    r: &mut RawKeepalivedInstance,
) -> Read {
    let secs = parse_u64(st.one_arg()?, "garp_master_refresh", 0, 86400)?;
    r.garp.refresh = Duration::from_secs(secs);
    Ok(())
}

pub(super) fn garp_interval(_: &mut Warnings, st: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    let t = st.one_arg()?;
    r.garp_interval = Some((micros(parse_seconds(t, st.kw())?), t.loc.clone()));
    Ok(())
}

pub(super) fn gna_interval(_: &mut Warnings, st: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    let t = st.one_arg()?;
    r.gna_interval = Some((micros(parse_seconds(t, st.kw())?), t.loc.clone()));
    Ok(())
}

/// `use_vmac [NAME]`.
pub(super) fn use_vmac(w: &mut Warnings, st: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    let name = match st.args.first() {
        Some(t) => Some(ifname_arg(t, "use_vmac")?),
        None => None,
    };
    if st.args.len() > 1 {
        w.about(
            st.loc(),
            &r.context(),
            format_args!("{}: extra words not carried over", st.shown()),
        );
    }
    r.use_vmac = Some((name, st.loc().clone()));
    Ok(())
}

/// vipd always sends its adverts from the base interface (with the base
/// interface's MAC), which is what vmac_xmit_base asks keepalived to do:
/// nothing to translate, nothing lost.
pub(super) fn vmac_xmit_base(_: &mut Warnings, _: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    r.xmit_base = true;
    Ok(())
}

/// `use_ipvlan [NAME] [ADDRESS] [bridge|private|vepa]`, in any order.
pub(super) fn use_ipvlan(w: &mut Warnings, st: &Stmt, r: &mut RawKeepalivedInstance) -> Read {
    let ctx = r.context();
    let mut name = None;
    for t in &st.args {
        if parse_cidr(&t.text).is_ok() {
            w.about(
                &t.loc,
                &ctx,
                format_args!(
                    "use_ipvlan address {}: not carried over (vipd puts no address of its own on the IPVLAN device; the VIPs go there)",
                    t.shown()
                ),
            );
        } else if name.is_none() && !matches!(t.text.as_str(), "bridge" | "private" | "vepa") {
            name = Some(ifname_arg(t, "use_ipvlan")?);
        } else {
            w.about(
                &t.loc,
                &ctx,
                format_args!(
                    "use_ipvlan {}: not carried over (vipd creates IPVLANs in L2 bridge mode)",
                    t.shown()
                ),
            );
        }
    }
    r.use_ipvlan = Some((name, st.loc().clone()));
    Ok(())
}
