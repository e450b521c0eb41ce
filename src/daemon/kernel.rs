//! The daemon's mirror of the kernel: links and addresses as netlink last
//! reported them, and the questions asked of them.
//!
//! Pure: filled from a dump at start and kept current by [`KernelView::apply`]
//! with every netlink notification; no I/O, so the rules that depend on it
//! (which address adverts come from, whether a VIP is in place) are unit
//! tested with made-up links and addresses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

use rustc_hash::FxHashMap;

use crate::config::{InstanceConfig, Vip, VipDeviceKind};
use crate::family::Family;
use crate::io::netlink::{AddrEntry, LinkState, NetlinkEvent, virtual_mac};
use crate::vrrp::Found;

/// What a netlink notification changed, with what was there before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelChange {
    Link {
        before: Option<LinkState>,
        after: LinkState,
    },
    LinkRemoved {
        index: u32,
        gone: Option<LinkState>,
    },
    AddressAdded(AddrEntry),
    AddressRemoved(AddrEntry),
}

/// Links by index, and every address of every link.
#[derive(Debug, Clone, Default)]
pub struct KernelView {
    links: HashMap<u32, LinkState>,
    /// In the kernel's order (the first usable one is an advert's source).
    addrs: Vec<AddrEntry>,
    /// How many links carry each address: "is this one of ours?" is asked
    /// for every advert heard and must not scan a host's hundreds of VIPs.
    on_links: FxHashMap<IpAddr, u32>,
}

impl KernelView {
    pub fn new(links: Vec<LinkState>, addrs: Vec<AddrEntry>) -> KernelView {
        let mut on_links: FxHashMap<IpAddr, u32> = FxHashMap::default();
        for a in &addrs {
            *on_links.entry(a.address).or_default() += 1;
        }
        KernelView {
            links: links.into_iter().map(|l| (l.index, l)).collect(),
            addrs,
            on_links,
        }
    }

    /// Removes the entries `gone` selects, keeping the count in step.
    fn remove_addrs(&mut self, gone: impl Fn(&AddrEntry) -> bool) {
        let on_links = &mut self.on_links;
        self.addrs.retain(|e| {
            if !gone(e) {
                return true;
            }
            if let Some(n) = on_links.get_mut(&e.address) {
                *n -= 1;
                if *n == 0 {
                    on_links.remove(&e.address);
                }
            }
            false
        });
    }

    /// Takes one notification in.
    pub fn apply(&mut self, event: NetlinkEvent) -> KernelChange {
        match event {
            NetlinkEvent::LinkChanged(l) => KernelChange::Link {
                before: self.links.insert(l.index, l.clone()),
                after: l,
            },
            NetlinkEvent::LinkRemoved { index, .. } => {
                self.remove_addrs(|a| a.index == index);
                KernelChange::LinkRemoved {
                    index,
                    gone: self.links.remove(&index),
                }
            }
            NetlinkEvent::AddressAdded(a) => {
                match self
                    .addrs
                    .iter_mut()
                    .find(|e| e.index == a.index && e.address == a.address)
                {
                    Some(e) => *e = a,
                    None => {
                        self.addrs.push(a);
                        *self.on_links.entry(a.address).or_default() += 1;
                    }
                }
                KernelChange::AddressAdded(a)
            }
            NetlinkEvent::AddressRemoved(a) => {
                self.remove_addrs(|e| e.index == a.index && e.address == a.address);
                KernelChange::AddressRemoved(a)
            }
        }
    }

    /// A VIP vipd has just added, noted before its notification comes back
    /// (which then changes nothing): a restore that runs meanwhile must not
    /// see it missing.
    pub fn note_vip_added(&mut self, index: u32, vip: &Vip) {
        self.apply(NetlinkEvent::AddressAdded(AddrEntry {
            index,
            address: vip.address,
            prefix_len: vip.prefix_len,
            secondary: false,
            tentative: false,
        }));
    }

    /// A link learnt outside the notification stream (one vipd just made,
    /// before its notification arrives).
    pub fn upsert_link(&mut self, link: LinkState) {
        self.links.insert(link.index, link);
    }

    pub fn link(&self, index: u32) -> Option<&LinkState> {
        self.links.get(&index)
    }

    pub fn link_by_name(&self, name: &str) -> Option<&LinkState> {
        self.links.values().find(|l| l.name == name)
    }

    /// Whether `addr` is one of this host's addresses (on any link).
    pub fn is_own_address(&self, addr: IpAddr) -> bool {
        self.on_links.contains_key(&addr)
    }

    /// The usable (not tentative) IPv6 link-local address of a link.
    pub fn link_local_of(&self, index: u32) -> Option<Ipv6Addr> {
        self.addrs.iter().find_map(|e| match e.address {
            IpAddr::V6(a) if e.index == index && a.is_unicast_link_local() && !e.tentative => {
                Some(a)
            }
            _ => None,
        })
    }

    /// The link a VIP goes on (its `dev`, else the VIP device, else the
    /// instance's interface), when it exists.
    pub fn vip_link(&self, cfg: &InstanceConfig, vip: &Vip) -> Option<&LinkState> {
        self.link_by_name(&cfg.device_for(vip))
    }

    /// Whether `vip` is on its link right now.
    pub fn vip_present(&self, cfg: &InstanceConfig, vip: &Vip) -> bool {
        self.vip_link(cfg, vip).is_some_and(|l| {
            self.addrs
                .iter()
                .any(|e| e.index == l.index && e.address == vip.address)
        })
    }

    /// The entry of `addr` on link `index`, when there.
    pub fn address_on(&self, index: u32, addr: IpAddr) -> Option<&AddrEntry> {
        self.addrs
            .iter()
            .find(|e| e.index == index && e.address == addr)
    }

    /// How many of an instance's VIPs are not in place.
    pub fn missing_vips(&self, cfg: &InstanceConfig) -> usize {
        cfg.all_vips().filter(|v| !self.vip_present(cfg, v)).count()
    }

    /// What of an instance is on the host before it starts (the router's
    /// warm-start input; the rule is the router's, see [`Found`]). All
    /// VIPs only when each one is on its device with its configured prefix
    /// length and the VIP device, if any, is one vipd would make (a MACVLAN
    /// carries the RFC virtual MAC of the VRID); a VIP address on another
    /// link of the host also makes the find stray.
    pub fn found_vips(&self, cfg: &InstanceConfig) -> Found {
        let device_as_made = match (&cfg.vip_device, cfg.vip_device_name()) {
            (Some(d), Some(name)) if d.kind == VipDeviceKind::Macvlan => {
                self.link_by_name(&name).is_none_or(|l| {
                    l.mac
                        .is_none_or(|m| m == virtual_mac(cfg.vrid, cfg.mac_family()))
                })
            }
            _ => true,
        };
        let (mut exact, mut other) = (0, 0);
        let total = cfg.all_vips().count();
        for vip in cfg.all_vips() {
            let link = self.vip_link(cfg, vip).map(|l| l.index);
            for e in self.addrs.iter().filter(|e| e.address == vip.address) {
                if Some(e.index) == link && e.prefix_len == vip.prefix_len {
                    exact += 1;
                } else {
                    other += 1;
                }
            }
        }
        match (exact, other) {
            (0, 0) => Found::Nothing,
            (n, 0) if n == total && device_as_made => Found::AllVips,
            _ => Found::Stray,
        }
    }

    /// Whether an instance runs on, or puts VIPs on, link `index`.
    pub fn instance_uses_link(
        &self,
        cfg: &InstanceConfig,
        ifindex: Option<u32>,
        index: u32,
    ) -> bool {
        ifindex == Some(index)
            || cfg
                .all_vips()
                .any(|v| self.vip_link(cfg, v).is_some_and(|l| l.index == index))
    }

    /// The source address of our adverts of one family on link `ifindex`:
    /// - the configured unicast source of that family;
    /// - else the interface's primary address: IPv4, the first
    ///   non-secondary address that is not a VIP (then any non-VIP);
    ///   IPv6 multicast, the link-local address (RFC 5798 5.1.2.1); IPv6
    ///   unicast, a global non-VIP address, else the link-local one;
    /// - else, while we hold them, one of our VIPs, so adverts continue
    ///   while a DHCP address is briefly gone.
    ///
    /// Tentative addresses (IPv6 DAD not done) are never used: the kernel
    /// refuses to send from them.
    pub fn advert_source(
        &self,
        cfg: &InstanceConfig,
        ifindex: Option<u32>,
        family: Family,
    ) -> Option<IpAddr> {
        if let Some(u) = &cfg.unicast
            && let Some(s) = u.sources.iter().find(|s| family.contains(**s))
        {
            return Some(*s);
        }
        let ifindex = ifindex?;
        let is_vip = |a: &IpAddr| cfg.all_vips().any(|v| v.address == *a);
        let on_if = || {
            self.addrs
                .iter()
                .filter(move |e| e.index == ifindex && family.contains(e.address) && !e.tentative)
        };
        let link_local =
            |e: &&AddrEntry| matches!(e.address, IpAddr::V6(a) if a.is_unicast_link_local());
        let pick = match family {
            Family::V6 if cfg.unicast.is_none() => on_if().find(link_local),
            Family::V6 => on_if()
                .find(|e| !link_local(e) && !is_vip(&e.address))
                .or_else(|| on_if().find(link_local)),
            Family::V4 => on_if()
                .find(|e| !e.secondary && !is_vip(&e.address))
                .or_else(|| on_if().find(|e| !is_vip(&e.address))),
        };
        pick.map(|e| e.address)
            .or_else(|| on_if().find(|e| is_vip(&e.address)).map(|e| e.address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn cfg(extra: &str, vips: &str) -> InstanceConfig {
        let text = format!(
            "instances:\n  - name: a\n    interface: eth0\n    vrid: 7\n    vips: {vips}\n{extra}"
        );
        Config::parse(&text, Path::new("t"))
            .unwrap()
            .instances
            .remove(0)
    }

    fn link(index: u32, name: &str) -> LinkState {
        LinkState {
            index,
            name: name.into(),
            mac: Some([2, 0, 0, 0, 0, index as u8]),
            up: true,
            lower_up: true,
        }
    }

    fn addr(index: u32, a: &str) -> AddrEntry {
        AddrEntry {
            index,
            address: a.parse().unwrap(),
            prefix_len: 24,
            secondary: false,
            tentative: false,
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    /// A VIP just added counts as present before its notification, and
    /// the notification then changes nothing: a restore run in between
    /// does not add it again (issue 15's deletion burst: 129 adds for 128
    /// VIPs in one run of three).
    #[test]
    fn a_vip_added_is_present_before_its_notification() {
        let c = cfg("", "[192.0.2.100/24, 192.0.2.101/24]");
        let mut k = KernelView::new(vec![link(1, "eth0")], vec![]);
        assert_eq!(k.missing_vips(&c), 2);
        k.note_vip_added(1, &c.vips[0]);
        assert_eq!(k.missing_vips(&c), 1);
        k.apply(NetlinkEvent::AddressAdded(addr(1, "192.0.2.100")));
        assert_eq!(k.missing_vips(&c), 1, "the echo is not a second VIP");
        assert_eq!(k.addrs.len(), 1);
    }

    // RFC 5798 5.1.1.1 / 5.1.2.1 and the DHCP fallback, one rule at a time.
    #[test]
    fn advert_source_selection() {
        let vips = "[192.0.2.100/24, \"2001:db8::100/64\"]";
        let c = cfg("", vips);
        let mut secondary = addr(1, "192.0.2.5");
        secondary.secondary = true;
        let mut tentative = addr(1, "fe80::9");
        tentative.tentative = true;
        let k = KernelView::new(
            vec![link(1, "eth0"), link(2, "eth1")],
            vec![
                addr(1, "192.0.2.100"),  // a VIP we hold: never first choice
                secondary,               // secondary: only when no primary
                addr(1, "192.0.2.1"),    // the primary address
                addr(2, "198.51.100.1"), // another link
                tentative,               // DAD not done
                addr(1, "2001:db8::1"),  // global
                addr(1, "fe80::1"),      // link-local
            ],
        );
        assert_eq!(k.advert_source(&c, Some(1), Family::V4), ip("192.0.2.1"));
        // IPv6 multicast: the link-local address (RFC 5798 5.1.2.1).
        assert_eq!(k.advert_source(&c, Some(1), Family::V6), ip("fe80::1"));
        // Unknown interface: nothing.
        assert_eq!(k.advert_source(&c, None, Family::V4), None);
        assert_eq!(k.advert_source(&c, Some(3), Family::V4), None);

        // Only a secondary non-VIP address: that one.
        let k2 = KernelView::new(
            vec![link(1, "eth0")],
            vec![addr(1, "192.0.2.100"), secondary],
        );
        assert_eq!(k2.advert_source(&c, Some(1), Family::V4), ip("192.0.2.5"));
        // Only VIPs (the DHCP address is briefly gone): a VIP keeps adverts going.
        let k3 = KernelView::new(
            vec![link(1, "eth0")],
            vec![addr(1, "192.0.2.100"), tentative],
        );
        assert_eq!(k3.advert_source(&c, Some(1), Family::V4), ip("192.0.2.100"));
        assert_eq!(
            k3.advert_source(&c, Some(1), Family::V6),
            None,
            "tentative only"
        );

        // Unicast: the configured source first; IPv6 prefers a global address.
        let u = cfg(
            "    unicast:\n      sources: [192.0.2.9]\n      peers: [192.0.2.2, \"2001:db8::2\"]\n",
            vips,
        );
        assert_eq!(k.advert_source(&u, Some(1), Family::V4), ip("192.0.2.9"));
        assert_eq!(k.advert_source(&u, Some(1), Family::V6), ip("2001:db8::1"));
        let k4 = KernelView::new(vec![link(1, "eth0")], vec![addr(1, "fe80::1")]);
        assert_eq!(k4.advert_source(&u, Some(1), Family::V6), ip("fe80::1"));
    }

    #[test]
    fn mirror_follows_notifications() {
        let mut k = KernelView::new(vec![link(1, "eth0")], vec![addr(1, "192.0.2.1")]);
        let mut down = link(1, "eth0");
        down.lower_up = false;
        let change = k.apply(NetlinkEvent::LinkChanged(down.clone()));
        assert_eq!(
            change,
            KernelChange::Link {
                before: Some(link(1, "eth0")),
                after: down
            }
        );
        let c = cfg("    vip_device: {kind: macvlan}\n", "[192.0.2.100/24]");
        assert_eq!(k.missing_vips(&c), 1, "no device yet");
        k.apply(NetlinkEvent::LinkChanged(link(5, "vrrp.7")));
        k.apply(NetlinkEvent::AddressAdded(addr(5, "192.0.2.100")));
        assert!(k.vip_present(&c, &c.vips[0]));
        assert!(k.instance_uses_link(&c, Some(1), 5));
        assert!(k.is_own_address("192.0.2.100".parse().unwrap()));
        // The same address again replaces, never duplicates.
        k.apply(NetlinkEvent::AddressAdded(addr(5, "192.0.2.100")));
        k.apply(NetlinkEvent::AddressRemoved(addr(5, "192.0.2.100")));
        assert!(!k.is_own_address("192.0.2.100".parse().unwrap()));
        k.apply(NetlinkEvent::AddressAdded(addr(5, "192.0.2.100")));
        let change = k.apply(NetlinkEvent::LinkRemoved {
            index: 5,
            name: None,
        });
        assert!(
            matches!(change, KernelChange::LinkRemoved { gone: Some(l), .. } if l.name == "vrrp.7")
        );
        assert!(
            !k.is_own_address("192.0.2.100".parse().unwrap()),
            "addresses go with the link"
        );
        assert_eq!(k.link_local_of(1), None);
        // One address on two links: ours until it has left both.
        k.apply(NetlinkEvent::AddressAdded(addr(1, "192.0.2.9")));
        k.apply(NetlinkEvent::AddressAdded(addr(6, "192.0.2.9")));
        k.apply(NetlinkEvent::AddressRemoved(addr(6, "192.0.2.9")));
        assert!(k.is_own_address("192.0.2.9".parse().unwrap()));
        k.apply(NetlinkEvent::LinkRemoved {
            index: 1,
            name: None,
        });
        assert!(!k.is_own_address("192.0.2.9".parse().unwrap()));
        assert!(
            !k.is_own_address("192.0.2.1".parse().unwrap()),
            "the dump's address went with eth0"
        );
    }

    // What found_vips reports for each leftover (docs/restart.md).
    #[test]
    fn found_vips_per_leftover() {
        let c = cfg("", "[192.0.2.100/24, \"2001:db8::100/64\"]");
        let v6 = |i, p| AddrEntry {
            prefix_len: p,
            ..addr(i, "2001:db8::100")
        };
        let base = || vec![addr(1, "192.0.2.1")];
        let with = |extra: Vec<AddrEntry>| {
            let mut a = base();
            a.extend(extra);
            KernelView::new(vec![link(1, "eth0"), link(2, "eth1")], a)
        };
        assert_eq!(with(vec![]).found_vips(&c), Found::Nothing);
        assert_eq!(
            with(vec![addr(1, "192.0.2.100"), v6(1, 64)]).found_vips(&c),
            Found::AllVips
        );
        // Only some of them.
        assert_eq!(
            with(vec![addr(1, "192.0.2.100")]).found_vips(&c),
            Found::Stray
        );
        // All, but one with another prefix length.
        assert_eq!(
            with(vec![addr(1, "192.0.2.100"), v6(1, 128)]).found_vips(&c),
            Found::Stray
        );
        // All, and one also on another link.
        assert_eq!(
            with(vec![addr(1, "192.0.2.100"), v6(1, 64), v6(2, 64)]).found_vips(&c),
            Found::Stray
        );
        // On another link only.
        assert_eq!(with(vec![v6(2, 64)]).found_vips(&c), Found::Stray);

        // A MACVLAN VIP device: with the RFC virtual MAC it is vipd's.
        let m = cfg("    vip_device: {kind: macvlan}\n", "[192.0.2.100/24]");
        let dev = |mac| LinkState {
            mac: Some(mac),
            ..link(5, "vrrp.7")
        };
        let vmac = virtual_mac(7, Family::V4);
        let k = KernelView::new(
            vec![link(1, "eth0"), dev(vmac)],
            vec![addr(5, "192.0.2.100")],
        );
        assert_eq!(k.found_vips(&m), Found::AllVips);
        let k = KernelView::new(
            vec![link(1, "eth0"), dev([2, 0, 0, 0, 0, 9])],
            vec![addr(5, "192.0.2.100")],
        );
        assert_eq!(k.found_vips(&m), Found::Stray, "not a device vipd makes");
        // The VIP on the interface while the configuration wants the MACVLAN.
        let k = KernelView::new(vec![link(1, "eth0")], vec![addr(1, "192.0.2.100")]);
        assert_eq!(k.found_vips(&m), Found::Stray);
    }
}
