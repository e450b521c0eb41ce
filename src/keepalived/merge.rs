//! A sync group of one IPv4 and one IPv6 instance that differ in nothing
//! else becomes one instance advertising both families (keepalived needs
//! two instances for that, vipd does not): one state machine cannot put the
//! IPv4 and the IPv6 VIPs on different routers, which two instances in a
//! group still can (while only one family's adverts get through, say), and
//! there is nothing to synchronise. The instance keeps the IPv4 instance's
//! name and VRID, and runs VRRPv3 (VRRPv2 carries no IPv6); when that
//! changes what goes on the wire, keepalived peers of the group must change
//! too, and the importer says how.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Warnings;
use super::instance::RawKeepalivedInstance;
use super::lex::Loc;
use crate::config::{
    Command, GroupConfig, Groups, NotifyConfig, RawInstance, TrackUse, UnicastConfig, Vip,
    VrrpVersion,
};
use crate::family::Family;

type Instances<'d> = Vec<(RawInstance, &'d RawKeepalivedInstance)>;

/// Merges every group that qualifies, and says why a dual-family group
/// that does not stays a group. Returns each merged group with the
/// instance it became.
pub(super) fn dual_family(
    instances: &mut Instances<'_>,
    groups: &mut Groups,
    locs: &BTreeMap<String, Loc>,
    w: &mut Warnings,
) -> BTreeMap<String, String> {
    let mut merged_into = BTreeMap::new();
    let names: Vec<String> = groups.keys().cloned().collect();
    for g in names {
        let gc = &groups[&g];
        let [a, b] = gc.instances.as_slice() else {
            continue;
        };
        let at = |n: &str| instances.iter().position(|(i, _)| i.name == n);
        let (Some(a), Some(b)) = (at(a), at(b)) else {
            continue;
        };
        let (v4, v6) = match (only_family(&instances[a].0), only_family(&instances[b].0)) {
            (Some(Family::V4), Some(Family::V6)) => (a, b),
            (Some(Family::V6), Some(Family::V4)) => (b, a),
            _ => continue,
        };
        let ctx = format!("vrrp_sync_group {g}");
        let loc = &locs[&g];
        let (i4, i6) = (&instances[v4].0, &instances[v6].0);
        let merged = mergeable(i4, i6, gc);
        let (track, notify) = match merged {
            Ok(m) => m,
            Err(reason) => {
                w.about(
                    loc,
                    &ctx,
                    format_args!(
                        "{} (IPv4) and {} (IPv6) stay two instances in a vipd group rather than one instance advertising both families: {reason}",
                        i4.name, i6.name
                    ),
                );
                continue;
            }
        };
        let group_notifies = !gc.notify.is_empty();
        let (r4, r6) = (instances[v4].1, instances[v6].1);
        let (i6, _) = instances.remove(v6);
        let v4 = if v6 < v4 { v4 - 1 } else { v4 };
        let i4 = &mut instances[v4].0;
        let was = (i4.version, i4.vrid, i6.vrid);
        absorb(i4, i6, track, notify);
        groups.remove(&g);
        let mut note = format!(
            "{} (IPv4) and {} (IPv6) merged into one instance, {}, with the VIPs of both: vipd advertises both families from one state machine, so the IPv4 and IPv6 VIPs always move together and follow the same trackers (two instances in a group could still be split, e.g. while only one family's adverts get through)",
            r4.name, r6.name, i4.name
        );
        if group_notifies {
            note.push_str(&format!(
                "; the group's notify commands run for the instance (VIPD_KIND=instance, VIPD_NAME={})",
                i4.name
            ));
        }
        w.about(loc, &ctx, note);
        peers_must_change(loc, &ctx, was, i4.vrid, (&r4.name, &r6.name), w);
        merged_into.insert(g, i4.name.clone());
    }
    merged_into
}

/// The one family an instance advertises.
fn only_family(i: &RawInstance) -> Option<Family> {
    let first = i.vips.first()?.family();
    i.vips.iter().all(|v| v.family() == first).then_some(first)
}

/// The merged instance's trackers and notify commands, or why the two
/// cannot be one instance.
fn mergeable(
    i4: &RawInstance,
    i6: &RawInstance,
    g: &GroupConfig,
) -> Result<(Vec<TrackUse>, NotifyConfig), String> {
    let differs = [
        ("interface", i4.interface != i6.interface),
        ("priority", i4.priority != i6.priority),
        ("preempt", i4.preempt != i6.preempt),
        ("preempt_delay", i4.preempt_delay != i6.preempt_delay),
        ("state", i4.initial_state != i6.initial_state),
        ("advert_int", i4.advert_interval != i6.advert_interval),
        (
            "unicast_peer (one uses unicast, the other multicast)",
            i4.unicast.is_some() != i6.unicast.is_some(),
        ),
        ("use_vmac/use_ipvlan", i4.vip_device != i6.vip_device),
        ("garp settings", i4.garp != i6.garp),
    ];
    if let Some((what, _)) = differs.iter().find(|(_, d)| *d) {
        return Err(format!("they differ in {what}"));
    }
    if i4.auth_pass.is_some() {
        return Err(format!(
            "{} authenticates with auth_pass, which VRRPv3 (needed for the IPv6 adverts) does not carry",
            i4.name
        ));
    }
    let ms = i4.advert_interval.as_millis();
    if i4.advert_interval > Duration::from_millis(40_950) || !ms.is_multiple_of(10) {
        return Err(format!(
            "advert_int {} s is not a VRRPv3 interval (a multiple of 10 ms up to 40.95 s)",
            i4.advert_interval.as_secs_f64()
        ));
    }
    let mut track: Vec<TrackUse> = Vec::new();
    for u in g.track.iter().chain(&i4.track).chain(&i6.track) {
        match track.iter().find(|t| t.tracker == u.tracker) {
            Some(t) if t.weight != u.weight => {
                return Err(format!(
                    "they use tracker {} with different weights",
                    u.tracker
                ));
            }
            Some(_) => {}
            None => track.push(u.clone()),
        }
    }
    let mut notify = NotifyConfig::default();
    for n in [&g.notify, &i4.notify, &i6.notify] {
        notify.timeout = notify.timeout.max(n.timeout);
    }
    for n in [&g.notify, &i4.notify, &i6.notify] {
        for (key, into, from) in [
            ("master", &mut notify.master, &n.master),
            ("backup", &mut notify.backup, &n.backup),
            ("fault", &mut notify.fault, &n.fault),
            ("stop", &mut notify.stop, &n.stop),
            ("any", &mut notify.any, &n.any),
        ] {
            merge_command(key, into, from)?;
        }
    }
    Ok((track, notify))
}

fn merge_command(
    key: &str,
    into: &mut Option<Command>,
    from: &Option<Command>,
) -> Result<(), String> {
    match (into.as_ref(), from) {
        (_, None) => Ok(()),
        (None, Some(c)) => {
            *into = Some(c.clone());
            Ok(())
        }
        (Some(a), Some(b)) if a == b => Ok(()),
        (Some(_), Some(_)) => Err(format!(
            "their notify {key} commands differ (keepalived ran one per instance)"
        )),
    }
}

/// `i4` takes `i6`'s VIPs and peers, and the merged uses and commands.
fn absorb(i4: &mut RawInstance, i6: RawInstance, track: Vec<TrackUse>, notify: NotifyConfig) {
    i4.version = VrrpVersion::V3;
    i4.vips.extend(i6.vips);
    let known = |list: &[Vip], v: &Vip| list.iter().any(|k| k.address == v.address);
    for v in i6.excluded_vips {
        if !known(&i4.vips, &v) && !known(&i4.excluded_vips, &v) {
            i4.excluded_vips.push(v);
        }
    }
    if let (Some(u4), Some(u6)) = (&mut i4.unicast, i6.unicast) {
        let UnicastConfig { sources, peers } = u6;
        for s in sources {
            if !u4.sources.contains(&s) {
                u4.sources.push(s);
            }
        }
        for p in peers {
            if !u4.peers.contains(&p) {
                u4.peers.push(p);
            }
        }
    }
    i4.track = track;
    i4.notify = notify;
}

/// What keepalived peers of the group must change to keep talking to the
/// merged instance. `was`: the IPv4 instance's version and the VRIDs of
/// both.
fn peers_must_change(
    loc: &Loc,
    ctx: &str,
    was: (VrrpVersion, u8, u8),
    vrid: u8,
    (name4, name6): (&str, &str),
    w: &mut Warnings,
) {
    let (version, vrid4, vrid6) = was;
    let mut changes = Vec::new();
    if version == VrrpVersion::V2 {
        changes.push(format!(
            "{name4} advertised VRRPv2, the merged instance advertises VRRPv3 for both families (VRRPv2 carries no IPv6): set version 3 in their {name4}"
        ));
    }
    if vrid4 != vrid6 {
        changes.push(format!(
            "the IPv6 adverts now carry VRID {vrid} (was {vrid6} in {name6}), the IPv4 instance's: set virtual_router_id {vrid} in their {name6}"
        ));
    }
    if changes.is_empty() {
        return;
    }
    w.about(
        loc,
        ctx,
        format_args!(
            "keepalived peers of this group must change too, or be replaced by vipd at the same time: {}",
            changes.join("; ")
        ),
    );
}
