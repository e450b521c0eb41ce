//! When the router may hear that its link is up or down.
//!
//! An instance with a VIP device (MACVLAN/IPVLAN) sends its announcements
//! through that device. When the parent interface comes back up, the
//! kernel passes the carrier on to the device a little later (its link
//! watch), and the device's queue drops what is sent before: the GARP
//! burst of a master that resumed at the parent's link-up would be lost
//! (seen in 3 of 6 runs of the hook lab before commit dbac383). So the
//! router hears "up" only once the device has its carrier too, or is gone.
//!
//! Pure: fed the link changes the daemon saw, it says what to tell the
//! router. The races it settles are unit tested here, not only in a lab.

/// What the router must hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateSignal {
    /// The link is usable: [`crate::vrrp::Event::InterfaceUp`].
    Up,
    /// The link is gone: [`crate::vrrp::Event::InterfaceDown`].
    Down,
    /// The parent is up, the VIP device not yet: nothing for the router;
    /// worth a log line.
    WaitingForDevice,
}

/// The VIP device as the kernel mirror knows it when the parent changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceCarrier {
    /// The instance has no VIP device, or it does not exist (now).
    Absent,
    Up,
    Down,
}

impl DeviceCarrier {
    pub fn of(running: Option<bool>) -> DeviceCarrier {
        match running {
            None => DeviceCarrier::Absent,
            Some(true) => DeviceCarrier::Up,
            Some(false) => DeviceCarrier::Down,
        }
    }
}

/// Whether a link-up is being held back until the VIP device has carrier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkGate {
    waiting_for_device: bool,
}

impl LinkGate {
    #[cfg(test)]
    pub fn is_waiting(&self) -> bool {
        self.waiting_for_device
    }

    /// The parent interface changed from `was_running` to `running` (up
    /// with carrier); `device` is the VIP device's state at that moment.
    pub fn parent_changed(
        &mut self,
        was_running: bool,
        running: bool,
        device: DeviceCarrier,
    ) -> Option<GateSignal> {
        match (was_running, running) {
            // Down again before the router heard it was up: nothing to tell.
            (true, false) if self.waiting_for_device => {
                self.waiting_for_device = false;
                None
            }
            (true, false) => Some(GateSignal::Down),
            (false, true) if device == DeviceCarrier::Down => {
                self.waiting_for_device = true;
                Some(GateSignal::WaitingForDevice)
            }
            (false, true) => Some(GateSignal::Up),
            _ => None,
        }
    }

    /// The VIP device changed; `running`: it has its carrier now.
    pub fn device_changed(&mut self, running: bool) -> Option<GateSignal> {
        if self.waiting_for_device && running {
            self.waiting_for_device = false;
            return Some(GateSignal::Up);
        }
        None
    }

    /// The VIP device was removed: a link-up waiting for it goes through
    /// (the device is recreated by whoever notices, and gets its carrier
    /// from the parent, which has it).
    pub fn device_removed(&mut self) -> Option<GateSignal> {
        if std::mem::take(&mut self.waiting_for_device) {
            return Some(GateSignal::Up);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The carrier race of commit dbac383, replayed.
    #[test]
    fn parent_up_with_device_down_waits_for_the_device() {
        let mut g = LinkGate::default();
        assert_eq!(
            g.parent_changed(false, true, DeviceCarrier::Down),
            Some(GateSignal::WaitingForDevice),
            "no up for the router yet"
        );
        assert!(g.is_waiting());
        assert_eq!(g.device_changed(false), None, "still no carrier");
        assert_eq!(g.device_changed(true), Some(GateSignal::Up));
        assert!(!g.is_waiting());
        assert_eq!(g.device_changed(true), None, "only once");
    }

    #[test]
    fn device_removed_while_waiting_gives_up() {
        let mut g = LinkGate::default();
        g.parent_changed(false, true, DeviceCarrier::Down);
        assert_eq!(g.device_removed(), Some(GateSignal::Up));
        assert_eq!(g.device_removed(), None, "nothing was waiting any more");
    }

    #[test]
    fn parent_down_while_waiting_gives_nothing() {
        let mut g = LinkGate::default();
        g.parent_changed(false, true, DeviceCarrier::Down);
        assert_eq!(g.parent_changed(true, false, DeviceCarrier::Down), None);
        assert!(!g.is_waiting());
        assert_eq!(g.device_changed(true), None, "the wait was called off");
    }

    #[test]
    fn without_a_device_in_the_way_signals_pass() {
        let mut g = LinkGate::default();
        assert_eq!(
            g.parent_changed(false, true, DeviceCarrier::Absent),
            Some(GateSignal::Up)
        );
        assert_eq!(
            g.parent_changed(false, true, DeviceCarrier::Up),
            Some(GateSignal::Up)
        );
        assert_eq!(
            g.parent_changed(true, false, DeviceCarrier::Up),
            Some(GateSignal::Down)
        );
        assert_eq!(g.parent_changed(true, true, DeviceCarrier::Down), None);
        assert_eq!(g.parent_changed(false, false, DeviceCarrier::Up), None);
        assert_eq!(g.device_changed(true), None, "not waiting");
        assert_eq!(g.device_removed(), None);
    }
}
