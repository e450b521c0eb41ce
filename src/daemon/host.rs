//! Everything around the instances: the kernel handles, the kernel mirror,
//! the sockets and the clock. Handlers borrow the host and one instance at
//! a time (`host.apply(&mut instance, ...)`), so an instance never needs to
//! be looked up by position, and nothing but the instance list is mutably
//! shared.

use tokio::time::Instant;

use super::bus::Bus;
use super::hooks::Hooks;
use super::kernel::KernelView;
use super::sockets::Sockets;
use crate::io::announce::Announcer;
use crate::io::netlink::Netlink;
use crate::vrrp::Time;

/// What vipd changes on the host, for vipd(8) (WHAT IT CHANGES ON THE
/// HOST); the host's handles below are the only way it does. The kernel
/// parameters come from [`crate::io::vip_device`]'s constants.
pub const HOST_CHANGES: &[(&str, &str)] = &[
    (
        "Addresses",
        "A master's VIPs are added through rtnetlink (never by running ip) on the instance's interface, its VIP device or a VIP's dev, and removed when it leaves MASTER or stops. IPv6 VIPs are added with nodad and an infinite preferred lifetime. A VIP deleted under a master (by networkd, ip addr flush, anyone) is put back at once and announced again. Nothing else is added or removed.",
    ),
    (
        "Devices",
        "With vip_device, a MACVLAN (bridge mode, the RFC 5798 virtual MAC) or an IPVLAN (L2) on the instance's interface, created at start and deleted when the instance stops; recreated if deleted under a master.",
    ),
    (
        "Packets",
        "VRRP adverts (IP protocol 112) to 224.0.0.18 / ff02::12 or the unicast peers, and on becoming master gratuitous ARPs and unsolicited neighbour advertisements for the VIPs.",
    ),
    (
        "systemd",
        "The units listed in units: are started on MASTER and stopped on leaving it, over D-Bus. With networkd.manage_files, the networkd files of the instances are written (see FILES) and networkd is asked to reload.",
    ),
    (
        "Processes",
        "exec trackers and notify hooks run as script_user (never root), with a clean environment, in their own process group, killed whole at their timeout.",
    ),
];

pub struct Host {
    pub nl: Netlink,
    pub announcer: Announcer,
    pub kernel: KernelView,
    pub sockets: Sockets,
    /// The event stream: every event is numbered here.
    pub bus: Bus,
    /// Notify hooks and units, per instance and group.
    pub hooks: Hooks,
    /// The routers' time zero.
    epoch: Instant,
    /// State changes so far: the loop does what only a state change can
    /// make necessary (group links, systemd's STATUS=) when it moved, not
    /// for every packet.
    pub transitions: u64,
    /// Positions of the instances whose router was fed since the loop last
    /// looked: only their deadlines can have moved.
    pub touched: Vec<usize>,
    /// An instance's interface appeared or went: who owns which VRID where
    /// must be worked out again.
    pub layout_changed: bool,
    /// `networkd: {manage_files: true}`: networkd makes the VIP devices
    /// (from vipd's .netdev files), so they are networkd's, not ours.
    pub networkd_makes_devices: bool,
}

impl Host {
    pub fn new(
        nl: Netlink,
        announcer: Announcer,
        kernel: KernelView,
        sockets: Sockets,
        hooks: Hooks,
    ) -> Host {
        Host {
            nl,
            announcer,
            kernel,
            sockets,
            bus: Bus::default(),
            hooks,
            epoch: Instant::now(),
            transitions: 0,
            touched: Vec::new(),
            layout_changed: false,
            networkd_makes_devices: false,
        }
    }

    /// Now, as the routers count time (monotonic).
    pub fn now(&self) -> Time {
        Time::from_epoch(Instant::now().saturating_duration_since(self.epoch))
    }

    /// A router's time as a deadline for the timer.
    pub fn instant(&self, at: Time) -> Instant {
        self.epoch + at.since_epoch()
    }
}
