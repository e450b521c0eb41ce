//! Whose advert is this: the instance for an interface, family and VRID
//! (RFC 5798 7.3: a VRID is unique per interface and family), in O(1); and
//! who moves an address, so a burst of deletions is matched to its owners
//! without a scan. The receive path looked owners up by scanning every
//! instance.

use std::collections::HashMap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::instance::Instance;
use super::sockets::SocketKey;
use crate::family::Family;

#[derive(Debug, Default)]
pub struct Owners {
    /// Looked up for every advert heard: Fx, not SipHash (the keys are
    /// the host's own interfaces and VRIDs, nothing a peer can choose to
    /// collide; SipHash was a fifth of the receive path's instructions).
    vrids: FxHashMap<(u32, Family, u8), usize>,
    vips: HashMap<IpAddr, Vec<usize>>,
}

impl Owners {
    /// The owners of the instances as they are now (rebuilt when an
    /// interface appears or goes, or the list changes).
    pub fn new(instances: &[Instance]) -> Owners {
        let mut vrids = FxHashMap::default();
        let mut vips: HashMap<IpAddr, Vec<usize>> = HashMap::new();
        for (idx, inst) in instances.iter().enumerate() {
            for v in inst.cfg.all_vips() {
                vips.entry(v.address).or_default().push(idx);
            }
            let Some(ifindex) = inst.ifindex else {
                continue;
            };
            for family in inst.cfg.families() {
                vrids.entry((ifindex, family, inst.cfg.vrid)).or_insert(idx);
            }
        }
        Owners { vrids, vips }
    }

    /// The instance that owns `vrid` on the socket `key`.
    pub fn get(&self, key: SocketKey, vrid: u8) -> Option<usize> {
        self.vrids.get(&(key.ifindex, key.family, vrid)).copied()
    }

    /// The instances that move `addr` (empty: not a VIP).
    pub fn of_vip(&self, addr: IpAddr) -> &[usize] {
        self.vips.get(&addr).map_or(&[], Vec::as_slice)
    }
}
