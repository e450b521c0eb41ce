//! rtnetlink: links, addresses, VIP devices, and the event stream.
//!
//! vipd never shells out to `ip`: every change goes through rtnetlink so the
//! daemon sees each result (and each errno) and can say what to do about it.

use std::io;
use std::net::IpAddr;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{
    IpVlanMode, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
};
use rtnetlink::{Handle, LinkIpVlan, LinkMacVlan, LinkUnspec, MulticastGroup};
use tokio::sync::mpsc;

use crate::config::Vip;
use crate::family::Family;

/// A failed netlink operation, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("cannot open a netlink socket: {0}")]
    Open(#[source] io::Error),
    #[error("{what}: {source}{hint}")]
    Request {
        what: String,
        #[source]
        source: io::Error,
        hint: &'static str,
    },
}

impl NetlinkError {
    fn request(what: String, e: rtnetlink::Error) -> NetlinkError {
        let source = match &e {
            rtnetlink::Error::NetlinkError(m) => m.to_io(),
            other => io::Error::other(other.to_string()),
        };
        let hint = match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => {
                " (vipd needs CAP_NET_ADMIN: run it as root or with the shipped unit)"
            }
            Some(libc::ENODEV) => {
                " (the interface does not exist: check `interface:` in the config)"
            }
            Some(libc::EOPNOTSUPP) => {
                " (this kernel lacks the device type: check that its module is available)"
            }
            _ => "",
        };
        NetlinkError::Request { what, source, hint }
    }

    /// The errno behind the failure, if the kernel gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Open(e) => e.raw_os_error(),
            NetlinkError::Request { source, .. } => source.raw_os_error(),
        }
    }
}

/// What vipd needs to know about a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub index: u32,
    pub name: String,
    pub mac: Option<[u8; 6]>,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Carrier present (IFF_LOWER_UP).
    pub lower_up: bool,
}

impl LinkState {
    /// Usable for VRRP: up with carrier.
    pub fn running(&self) -> bool {
        self.up && self.lower_up
    }

    fn from_message(m: &LinkMessage) -> Option<LinkState> {
        let mut name = None;
        let mut mac = None;
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => name = Some(n.clone()),
                LinkAttribute::Address(bytes) if bytes.len() == 6 => {
                    let mut b = [0u8; 6];
                    b.copy_from_slice(bytes);
                    mac = Some(b);
                }
                _ => {}
            }
        }
        Some(LinkState {
            index: m.header.index,
            name: name?,
            mac,
            up: m.header.flags.contains(LinkFlags::Up),
            lower_up: m.header.flags.contains(LinkFlags::LowerUp),
        })
    }
}

/// One address on one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrEntry {
    pub index: u32,
    pub address: IpAddr,
    pub prefix_len: u8,
    pub secondary: bool,
    pub tentative: bool,
}

impl AddrEntry {
    fn from_message(m: &AddressMessage) -> Option<AddrEntry> {
        let mut local = None;
        let mut address = None;
        let mut flags = AddressFlags::from_bits_retain(u32::from(m.header.flags.bits()));
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Flags(f) => flags = *f,
                _ => {}
            }
        }
        // IFA_LOCAL is the interface's own address on point-to-point links;
        // elsewhere both are equal and IPv6 only sends IFA_ADDRESS.
        Some(AddrEntry {
            index: m.header.index,
            address: local.or(address)?,
            prefix_len: m.header.prefix_len,
            secondary: flags.contains(AddressFlags::Secondary),
            tentative: flags.contains(AddressFlags::Tentative),
        })
    }
}

/// Kernel notifications the daemon reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetlinkEvent {
    LinkChanged(LinkState),
    LinkRemoved { index: u32, name: Option<String> },
    AddressAdded(AddrEntry),
    AddressRemoved(AddrEntry),
}

impl NetlinkEvent {
    fn from_message(m: RouteNetlinkMessage) -> Option<NetlinkEvent> {
        match m {
            RouteNetlinkMessage::NewLink(l) => {
                LinkState::from_message(&l).map(NetlinkEvent::LinkChanged)
            }
            RouteNetlinkMessage::DelLink(l) => Some(NetlinkEvent::LinkRemoved {
                index: l.header.index,
                name: LinkState::from_message(&l).map(|s| s.name),
            }),
            RouteNetlinkMessage::NewAddress(a) => {
                AddrEntry::from_message(&a).map(NetlinkEvent::AddressAdded)
            }
            RouteNetlinkMessage::DelAddress(a) => {
                AddrEntry::from_message(&a).map(NetlinkEvent::AddressRemoved)
            }
            _ => None,
        }
    }
}

/// The MAC address RFC 5798 7.3 assigns to a virtual router:
/// 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6.
pub fn virtual_mac(vrid: u8, family: Family) -> [u8; 6] {
    let family_octet = match family {
        Family::V4 => 0x01,
        Family::V6 => 0x02,
    };
    [0x00, 0x00, 0x5e, 0x00, family_octet, vrid]
}

/// A handle for requests; cheap to clone.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens the request connection and a separate subscription to link and
    /// address events, forwarded on the returned channel.
    pub fn open() -> Result<(Netlink, mpsc::UnboundedReceiver<NetlinkEvent>), NetlinkError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Open)?;
        tokio::spawn(conn);
        let (mconn, _mhandle, messages) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ])
        .map_err(NetlinkError::Open)?;
        tokio::spawn(mconn);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(forward_events(messages, tx));
        Ok((Netlink { handle }, rx))
    }

    pub async fn links(&self) -> Result<Vec<LinkState>, NetlinkError> {
        let mut out = Vec::new();
        let mut s = self.handle.link().get().execute();
        while let Some(m) = s.next().await {
            let m = m.map_err(|e| NetlinkError::request("cannot list links".into(), e))?;
            out.extend(LinkState::from_message(&m));
        }
        Ok(out)
    }

    /// Every link's kind, by name, as `ip -d link show` names it (`ipvlan`,
    /// `macvlan`, `dummy`, ...; empty for a plain device such as a NIC):
    /// what the keepalived importer asks about the devices a configuration
    /// names.
    pub async fn link_kinds(&self) -> Result<Vec<(String, String)>, NetlinkError> {
        let mut out = Vec::new();
        let mut s = self.handle.link().get().execute();
        while let Some(m) = s.next().await {
            let m = m.map_err(|e| NetlinkError::request("cannot list links".into(), e))?;
            let mut name = None;
            let mut kind = String::new();
            for a in &m.attributes {
                match a {
                    LinkAttribute::IfName(n) => name = Some(n.clone()),
                    LinkAttribute::LinkInfo(infos) => {
                        for i in infos {
                            if let LinkInfo::Kind(k) = i {
                                kind = k.to_string();
                            }
                        }
                    }
                    _ => {}
                }
            }
            out.extend(name.map(|n| (n, kind)));
        }
        Ok(out)
    }

    pub async fn link_by_name(&self, name: &str) -> Result<Option<LinkState>, NetlinkError> {
        Ok(self.links().await?.into_iter().find(|l| l.name == name))
    }

    pub async fn addresses(&self) -> Result<Vec<AddrEntry>, NetlinkError> {
        let mut out = Vec::new();
        let mut s = self.handle.address().get().execute();
        while let Some(m) = s.next().await {
            let m = m.map_err(|e| NetlinkError::request("cannot list addresses".into(), e))?;
            out.extend(AddrEntry::from_message(&m));
        }
        Ok(out)
    }

    /// Adds a VIP. IPv6 VIPs get IFA_F_NODAD (a VIP must be usable the
    /// moment we are master; VRRP itself guarantees uniqueness) and keep the
    /// kernel's default infinite preferred lifetime, so they stay eligible as
    /// source addresses (keepalived sets preferred_lft 0 on /128 VIPs, which
    /// marks them "deprecated"). Already present is success.
    pub async fn add_vip(&self, index: u32, ifname: &str, vip: &Vip) -> Result<(), NetlinkError> {
        let mut req = self
            .handle
            .address()
            .add(index, vip.address, vip.prefix_len)
            .replace();
        let msg = req.message_mut();
        if vip.address.is_ipv6() {
            msg.header.flags |= AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        if let Some(label) = &vip.label {
            msg.attributes.push(AddressAttribute::Label(label.clone()));
        }
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = NetlinkError::request(format!("cannot add {vip} to {ifname}"), e);
                if e.errno() == Some(libc::EEXIST) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Removes a VIP; already absent is success.
    pub async fn del_vip(&self, index: u32, ifname: &str, vip: &Vip) -> Result<(), NetlinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = match vip.address {
            IpAddr::V4(_) => netlink_packet_route::AddressFamily::Inet,
            IpAddr::V6(_) => netlink_packet_route::AddressFamily::Inet6,
        };
        msg.header.index = index;
        msg.header.prefix_len = vip.prefix_len;
        msg.attributes.push(AddressAttribute::Local(vip.address));
        if vip.address.is_ipv6() {
            msg.attributes.push(AddressAttribute::Address(vip.address));
        }
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = NetlinkError::request(format!("cannot remove {vip} from {ifname}"), e);
                match e.errno() {
                    Some(libc::EADDRNOTAVAIL) | Some(libc::ENODEV) | Some(libc::ENOENT) => Ok(()),
                    _ => Err(e),
                }
            }
        }
    }

    /// Creates a MACVLAN (bridge mode) with the given MAC on `parent`, left
    /// down so the caller can set per-device sysctls before it goes up.
    pub async fn create_macvlan(
        &self,
        parent: u32,
        name: &str,
        mac: [u8; 6],
    ) -> Result<(), NetlinkError> {
        let msg = LinkMacVlan::new(name, parent, MacVlanMode::Bridge)
            .address(mac.to_vec())
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| NetlinkError::request(format!("cannot create MACVLAN {name}"), e))
    }

    /// Creates an IPVLAN in L2 mode on `parent`, left down like the MACVLAN.
    pub async fn create_ipvlan(&self, parent: u32, name: &str) -> Result<(), NetlinkError> {
        let msg = LinkIpVlan::new(name, parent, IpVlanMode::L2).build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| NetlinkError::request(format!("cannot create IPVLAN {name}"), e))
    }

    /// Deletes a link; already gone is success.
    pub async fn delete_link(&self, index: u32, name: &str) -> Result<(), NetlinkError> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = NetlinkError::request(format!("cannot delete {name}"), e);
                if e.errno() == Some(libc::ENODEV) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    pub async fn set_up(&self, index: u32, name: &str) -> Result<(), NetlinkError> {
        let msg = LinkUnspec::new_with_index(index).up().build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| NetlinkError::request(format!("cannot set {name} up"), e))
    }
}

async fn forward_events(
    mut messages: UnboundedReceiver<(
        netlink_packet_core::NetlinkMessage<RouteNetlinkMessage>,
        netlink_sys::SocketAddr,
    )>,
    tx: mpsc::UnboundedSender<NetlinkEvent>,
) {
    while let Some((msg, _)) = messages.next().await {
        if let netlink_packet_core::NetlinkPayload::InnerMessage(inner) = msg.payload
            && let Some(ev) = NetlinkEvent::from_message(inner)
            && tx.send(ev).is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_macs_follow_rfc5798_7_3() {
        assert_eq!(virtual_mac(51, Family::V4), [0, 0, 0x5e, 0, 1, 51]);
        assert_eq!(virtual_mac(255, Family::V6), [0, 0, 0x5e, 0, 2, 255]);
    }
}
