//! The address lines of an instance: VIPs (`virtual_ipaddress`,
//! `virtual_ipaddress_excluded`) with their options, and unicast endpoints.

use super::instance::Endpoint;
use super::lex::{Loc, Token, error};
use super::parse::Stmt;
use super::values::ifname_arg;
use super::{ImportError, Warnings};
use crate::config::Vip;
use std::net::IpAddr;

/// `ADDR [dev DEV] [...]` of unicast_src_ip and unicast_peer entries; `what`
/// is the keyword, `addr_tok` the address and `rest` what follows it.
pub(super) fn endpoint(
    w: &mut Warnings,
    what: &str,
    addr_tok: &Token,
    rest: &[Token],
    ctx: &str,
) -> Result<Endpoint, ImportError> {
    let addr: IpAddr = addr_tok.text.parse().map_err(|_| {
        error(
            &addr_tok.loc,
            format!("{what}: {} is not an IP address", addr_tok.shown()),
        )
    })?;
    let mut dev = None;
    let mut i = 0;
    while i < rest.len() {
        let t = &rest[i];
        if t.text == "dev" {
            let Some(d) = rest.get(i + 1) else {
                return Err(error(
                    &t.loc,
                    format!("{what} {addr}: dev needs an interface name"),
                ));
            };
            dev = Some(ifname_arg(d, what)?);
            i += 2;
        } else {
            let shown: Vec<String> = rest[i..].iter().map(Token::shown).collect();
            w.about(
                &t.loc,
                ctx,
                format_args!("{what} {addr}: {}: not carried over", shown.join(" ")),
            );
            break;
        }
    }
    Ok(Endpoint {
        addr,
        dev,
        loc: addr_tok.loc.clone(),
    })
}

/// Options of a VIP line that take a value (`ip addr add` syntax).
const VIP_OPTIONS_WITH_VALUE: &[&str] = &[
    "dev",
    "label",
    "scope",
    "brd",
    "broadcast",
    "peer",
    "track_group",
    "preferred_lft",
    "valid_lft",
];

/// The VIPs of a virtual_ipaddress / virtual_ipaddress_excluded block, one a line.
pub(super) fn vip_block(
    w: &mut Warnings,
    st: &Stmt,
    ctx: &str,
) -> Result<Vec<(Vip, Loc)>, ImportError> {
    let mut vips = Vec::new();
    for e in &st.need_block()?.stmts {
        vips.push((vip(w, e, ctx, st.kw())?, e.loc().clone()));
    }
    Ok(vips)
}

/// One line of virtual_ipaddress / virtual_ipaddress_excluded (`block`).
pub(super) fn vip(w: &mut Warnings, e: &Stmt, ctx: &str, block: &str) -> Result<Vip, ImportError> {
    e.no_block()?;
    let parsed = e.key.text.parse::<Vip>();
    let mut vip = parsed.map_err(|m| error(e.loc(), format!("{block}: {m}")))?;
    let address = vip.address;
    let mut i = 0;
    while i < e.args.len() {
        let opt = &e.args[i];
        let value = e.args.get(i + 1);
        let with_value = VIP_OPTIONS_WITH_VALUE.contains(&opt.text.as_str());
        if with_value && value.is_none() {
            return Err(error(
                &opt.loc,
                format!("{block}: {address}: {} needs a value", opt.text),
            ));
        }
        match (opt.text.as_str(), value) {
            ("dev", Some(v)) => vip.dev = Some(ifname_arg(v, block)?),
            ("label", Some(v)) => vip.label = Some(v.text.clone()),
            // The default scope: nothing lost.
            ("scope", Some(v)) if v.text == "global" => {}
            (o, Some(v)) if with_value => w.about(
                &opt.loc,
                ctx,
                format_args!("{block}: {address}: {o} {}: not carried over", v.shown()),
            ),
            (o, _) => w.about(
                &opt.loc,
                ctx,
                format_args!("{block}: {address}: option {o}: not carried over"),
            ),
        }
        i += if with_value { 2 } else { 1 };
    }
    if let IpAddr::V6(a) = address {
        if vip.label.is_some() {
            vip.label = None;
            w.about(
                e.loc(),
                ctx,
                format_args!(
                    "{block}: {address}: label dropped (labels exist only for IPv4 addresses)"
                ),
            );
        }
        if a.to_ipv4_mapped().is_some() {
            w.about(
                e.loc(),
                ctx,
                format_args!(
                    "{block}: {} is written as an IPv4-mapped IPv6 address (::ffff:a.b.c.d), which hosts never use on the wire: check that this is the address you mean",
                    e.key.text
                ),
            );
        }
    }
    Ok(vip)
}
