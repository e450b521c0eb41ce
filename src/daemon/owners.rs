//! Whose advert is this: the instance for an interface, family and VRID
//! (RFC 5798 7.3: a VRID is unique per interface and family), in O(1). The
//! receive path looked it up by scanning every instance.

use std::collections::HashMap;

use super::instance::Instance;
use super::sockets::SocketKey;
use crate::family::Family;

#[derive(Debug, Default)]
pub struct Owners(HashMap<(u32, Family, u8), usize>);

impl Owners {
    /// The owners of the instances as they are now (rebuilt when an
    /// interface appears or goes, or the list changes).
    pub fn new(instances: &[Instance]) -> Owners {
        let mut map = HashMap::new();
        for (idx, inst) in instances.iter().enumerate() {
            let Some(ifindex) = inst.ifindex else {
                continue;
            };
            for family in inst.cfg.families() {
                map.entry((ifindex, family, inst.cfg.vrid)).or_insert(idx);
            }
        }
        Owners(map)
    }

    /// The instance that owns `vrid` on the socket `key`.
    pub fn get(&self, key: SocketKey, vrid: u8) -> Option<usize> {
        self.0.get(&(key.ifindex, key.family, vrid)).copied()
    }
}
