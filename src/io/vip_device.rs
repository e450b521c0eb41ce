//! The VIP device of an instance (MACVLAN or IPVLAN), made exactly as vipd
//! wants it, whoever asks: the daemon, or `vipctl resync --create-devices`
//! from the networkd-dispatcher and ifupdown hooks.

use crate::config::{InstanceConfig, VipDeviceKind};
use crate::io::netlink::{LinkState, Netlink, NetlinkError, virtual_mac};
use crate::io::sysctl;

/// The kernel parameters vipd sets around a VIP device (KEY, VALUE), as
/// written here and listed in vipd(8): on the parent of a MACVLAN
/// (net.ipv4.conf.PARENT.KEY; why: where they are written) ...
pub const MACVLAN_PARENT_SYSCTLS: [(&str, &str); 2] = [("arp_ignore", "1"), ("arp_announce", "2")];
/// ... on the parent of an IPVLAN ...
pub const IPVLAN_PARENT_SYSCTLS: [(&str, &str); 1] = [("arp_announce", "2")];
/// ... on a MACVLAN it creates (net.ipv4.conf.DEVICE.KEY) ...
pub const MACVLAN_SYSCTL: (&str, &str) = ("rp_filter", "0");
/// ... and on every VIP device it creates (net.ipv6.conf.DEVICE.KEY).
pub const VIP_DEVICE_IPV6_SYSCTL: (&str, &str) = ("addr_gen_mode", "1");

/// What [`ensure_vip_device`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VipDeviceOutcome {
    /// The instance puts its VIPs on its interface (or per-VIP devices).
    NotConfigured,
    /// The device was there already (made by vipd, networkd or a hook).
    Existed(String),
    Created(String),
}

/// Makes sure an instance's MACVLAN/IPVLAN device exists on `parent`, set up
/// exactly as the daemon wants it: RFC 5798 virtual MAC and bridge mode
/// (MACVLAN) or L2 mode (IPVLAN), ARP sysctls on the parent, no rp_filter,
/// no MAC-derived link-local, up. The daemon and `vipctl resync
/// --create-devices` (the networkd-dispatcher/ifupdown hooks) both call
/// this, so a device recreated by a hook is the same device.
pub async fn ensure_vip_device(
    nl: &Netlink,
    cfg: &InstanceConfig,
    parent: &LinkState,
) -> Result<VipDeviceOutcome, NetlinkError> {
    let (Some(dev), Some(name)) = (cfg.vip_device.clone(), cfg.vip_device_name()) else {
        return Ok(VipDeviceOutcome::NotConfigured);
    };
    if dev.kind == VipDeviceKind::Macvlan {
        // The parent must not tie a VIP to its own MAC: it must not
        // answer ARP for addresses on the MACVLAN (arp_ignore=1), and its
        // own ARP requests must not carry a VIP as the sender
        // (arp_announce=2), or neighbours learn the VIP at the parent's
        // MAC. Whoever created the device (vipd, or networkd from the
        // generated .netdev).
        for (key, value) in MACVLAN_PARENT_SYSCTLS {
            sysctl::write(&format!("net/ipv4/conf/{}/{key}", parent.name), value);
        }
    } else {
        // IPVLAN (L2 mode) hands an incoming ARP reply to the device that
        // holds its target address. If the parent's ARP request carried a
        // VIP as the sender (arp_announce=0 picks the packet's source,
        // and replies from a VIP are routed out of the parent), the answer
        // goes to the IPVLAN device, the parent's neighbour entry fails and
        // the VIP never answers a client that learned it from the GARPs
        // of a failover (found in the VM lab, docs/vm-lab.md).
        // arp_announce=2: the parent asks with its own address.
        for (key, value) in IPVLAN_PARENT_SYSCTLS {
            sysctl::write(&format!("net/ipv4/conf/{}/{key}", parent.name), value);
        }
    }
    if nl.link_by_name(&name).await?.is_some() {
        return Ok(VipDeviceOutcome::Existed(name));
    }
    let made = match dev.kind {
        VipDeviceKind::Macvlan => {
            nl.create_macvlan(parent.index, &name, virtual_mac(cfg.vrid, cfg.mac_family()))
                .await
        }
        VipDeviceKind::Ipvlan => nl.create_ipvlan(parent.index, &name).await,
    };
    if let Err(e) = made {
        // networkd (from vipd's .netdev), a hook or the daemon may create
        // the device at the same moment: "exists" means someone else made
        // it, which is fine.
        if e.errno() == Some(libc::EEXIST) {
            return Ok(VipDeviceOutcome::Existed(name));
        }
        return Err(e);
    }
    if dev.kind == VipDeviceKind::Macvlan {
        let (key, value) = MACVLAN_SYSCTL;
        sysctl::write(&format!("net/ipv4/conf/{name}/{key}"), value);
    }
    // No link-local address derived from a MAC the device shares (the
    // virtual MAC with the other routers, the parent's MAC on IPVLAN):
    // set while the device is still down, before the kernel makes one.
    let (key, value) = VIP_DEVICE_IPV6_SYSCTL;
    sysctl::write(&format!("net/ipv6/conf/{name}/{key}"), value);
    if let Some(l) = nl.link_by_name(&name).await?
        && !l.up
    {
        nl.set_up(l.index, &name).await?;
    }
    Ok(VipDeviceOutcome::Created(name))
}
