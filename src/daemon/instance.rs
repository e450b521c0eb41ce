//! One configured instance as the daemon runs it: its state machine and
//! what the daemon knows and counts about it.

use std::fmt;

use super::counters::Counters;
use super::link_gate::LinkGate;
use super::sockets::SocketKey;
use crate::advert::AhSequence;
use crate::config::InstanceConfig;
use crate::control::Transition;
use crate::family::Family;
use crate::vrrp::{Params, Router};

/// Why an instance cannot run right now (shown by `vipctl status`); each is
/// retried when the kernel reports a change of the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    InterfaceMissing {
        interface: String,
    },
    InterfaceRemoved {
        interface: String,
    },
    /// The VIP device could not be made (the netlink error, with its hint).
    VipDevice(String),
    Socket {
        family: Family,
        interface: String,
        error: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::InterfaceMissing { interface } => {
                write!(f, "interface {interface} not found; waiting for it")
            }
            Problem::InterfaceRemoved { interface } => {
                write!(f, "interface {interface} was removed; waiting for it")
            }
            Problem::VipDevice(e) => f.write_str(e),
            Problem::Socket {
                family,
                interface,
                error,
            } => write!(
                f,
                "cannot open the {family} VRRP socket on {interface}: {error} (vipd needs CAP_NET_RAW)"
            ),
        }
    }
}

pub struct Instance {
    pub cfg: InstanceConfig,
    pub router: Router,
    /// The interface's index once it exists.
    pub ifindex: Option<u32>,
    pub counters: Counters,
    pub transition: Option<Transition>,
    pub problem: Option<Problem>,
    /// A VIP device (MACVLAN/IPVLAN) this daemon created and must remove.
    pub created_device: Option<String>,
    pub gate: LinkGate,
    /// VIPs of this master were deleted by someone else: they are put back
    /// once the burst of deletions has been read (one restore, one
    /// announcement, however many were deleted).
    pub restore_pending: bool,
    /// The advert source per family (IPv4, IPv6), kept current on every
    /// change of the interface's addresses: sending does not search them.
    pub sources: [Option<std::net::IpAddr>; 2],
    /// Adverts as last encoded, by family, priority, source and destination:
    /// a master re-sends the same bytes every interval. Cleared when the
    /// configuration changes.
    pub encoded: Vec<Encoded>,
    /// The AH sequence number, sent and received (AH instances only; kept
    /// across reloads, as peers remember the numbers they saw).
    pub ah_seq: AhSequence,
    /// Where the instance stands in the daemon's list (set whenever the list
    /// changes): how the schedule knows which router a change touched.
    pub position: usize,
}

/// One encoded advert.
pub struct Encoded {
    pub family: Family,
    pub priority: u8,
    pub src: std::net::IpAddr,
    pub dst: std::net::IpAddr,
    pub bytes: Vec<u8>,
}

/// The slot of a family in [`Instance::sources`].
pub fn slot(family: Family) -> usize {
    match family {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

impl Instance {
    pub fn new(cfg: InstanceConfig) -> Instance {
        Instance {
            router: Router::new(Params::from_config(&cfg)),
            cfg,
            ifindex: None,
            counters: Counters::default(),
            transition: None,
            problem: None,
            created_device: None,
            gate: LinkGate::default(),
            restore_pending: false,
            sources: [None, None],
            encoded: Vec::new(),
            ah_seq: AhSequence::default(),
            position: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The sockets this instance sends and receives on, once its interface
    /// exists: one per advertised family.
    pub fn socket_keys(&self) -> impl Iterator<Item = SocketKey> + '_ {
        self.ifindex.into_iter().flat_map(|ifindex| {
            self.cfg
                .families()
                .map(move |family| SocketKey { ifindex, family })
        })
    }

    /// The interface whose AH socket the instance uses, if it uses AH.
    pub fn ah_socket(&self) -> Option<u32> {
        self.cfg.ah_key().and(self.ifindex)
    }

    /// Whether `interface` is the instance's interface or a device one of
    /// its VIPs goes on.
    pub fn concerns_interface(&self, interface: &str) -> bool {
        self.cfg.interface == interface
            || self
                .cfg
                .all_vips()
                .any(|v| self.cfg.device_for(v) == interface)
    }
}
