//! systemd's notification protocol (`sd_notify(3)`), so the unit can be
//! `Type=notify` with a watchdog: READY=1 once instances are started,
//! STATUS= with the instance states, RELOADING=1/READY=1 around a reload,
//! STOPPING=1 on shutdown and WATCHDOG=1 from the daemon loop.
//!
//! A few lines instead of a crate: the protocol is one datagram per message
//! to the socket named by `$NOTIFY_SOCKET` (a path, or `@name` for an
//! abstract socket). Without `$NOTIFY_SOCKET` (vipd started by hand, in the
//! labs, or by another supervisor) every call is a no-op.
//!
//! Sending never blocks the VRRP loop: the socket is non-blocking, and a
//! message that cannot be sent is logged (once until sending works again)
//! and dropped. systemd drains its notification socket promptly, so this
//! only happens when systemd itself is wedged.

use std::cell::Cell;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use tracing::{debug, warn};

/// Where notifications go, and the watchdog period systemd asked for.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
    /// The last STATUS= sent, so unchanged states are not re-sent per packet.
    last_status: String,
    /// Whether the last send failed (to log a failure once, not per packet).
    failing: Cell<bool>,
}

impl Notifier {
    /// From the environment systemd gives a `Type=notify` service:
    /// `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`. Problems are
    /// logged and leave the notifier disabled; they never stop vipd.
    pub fn from_env() -> Notifier {
        let socket = std::env::var("NOTIFY_SOCKET").ok();
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        Notifier::new(
            socket.as_deref(),
            watchdog_period(usec.as_deref(), pid.as_deref(), std::process::id()),
        )
    }

    /// A notifier for `socket` (`NOTIFY_SOCKET` syntax); `None` or an
    /// unusable value gives a disabled notifier.
    pub fn new(socket: Option<&str>, watchdog: Option<Duration>) -> Notifier {
        let target = socket.and_then(|s| match open(s) {
            Ok(t) => Some(t),
            Err(e) => {
                warn!("NOTIFY_SOCKET={s} is not usable ({e}); not notifying systemd");
                None
            }
        });
        Notifier {
            watchdog: target.as_ref().and(watchdog),
            target,
            last_status: String::new(),
            failing: Cell::new(false),
        }
    }

    /// Whether anyone listens (saves building status lines for nobody).
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// How often to send WATCHDOG=1: half the period systemd gave, so one
    /// late turn of the loop does not get vipd killed.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    /// Startup finished: configuration loaded, sockets open, instances started.
    pub fn ready(&mut self, status: String) {
        self.send(&format!("READY=1\nSTATUS={status}"));
        self.last_status = status;
    }

    /// A reload starts. MONOTONIC_USEC lets systemd >= 253 match it with
    /// the reload it asked for; older systemd ignores it.
    pub fn reloading(&self) {
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }

    /// Sends STATUS= when it differs from the last one sent.
    pub fn status(&mut self, status: String) {
        if self.enabled() && status != self.last_status {
            self.send(&format!("STATUS={status}"));
            self.last_status = status;
        }
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping: releasing VIPs");
    }

    fn send(&self, msg: &str) {
        let Some((sock, addr)) = &self.target else {
            return;
        };
        match sock.send_to_addr(msg.as_bytes(), addr) {
            Ok(_) => {
                if self.failing.replace(false) {
                    warn!("notifying systemd works again");
                }
                debug!(message = %msg.replace('\n', " "), "notified systemd");
            }
            Err(e) => {
                if !self.failing.replace(true) {
                    warn!("cannot notify systemd ({e}); dropping notifications until it works");
                }
            }
        }
    }
}

/// Parses `NOTIFY_SOCKET`: an absolute path, or `@name` for an abstract
/// socket (what systemd uses in containers and some versions).
fn notify_addr(s: &str) -> io::Result<SocketAddr> {
    if let Some(name) = s.strip_prefix('@') {
        SocketAddr::from_abstract_name(name.as_bytes())
    } else if s.starts_with('/') {
        SocketAddr::from_pathname(s)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "only absolute paths and @abstract names are supported",
        ))
    }
}

fn open(s: &str) -> io::Result<(UnixDatagram, SocketAddr)> {
    let addr = notify_addr(s)?;
    let sock = UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    Ok((sock, addr))
}

/// The watchdog period from `WATCHDOG_USEC`, if it is meant for this
/// process (`WATCHDOG_PID` absent or equal to `pid`) and positive.
pub fn watchdog_period(
    usec: Option<&str>,
    watchdog_pid: Option<&str>,
    pid: u32,
) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Some(p) = watchdog_pid
        && p.trim().parse::<u32>().ok() != Some(pid)
    {
        return None;
    }
    Some(Duration::from_micros(usec))
}

/// CLOCK_MONOTONIC in microseconds, as systemd expects in MONOTONIC_USEC.
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// The longest list of instances in STATUS=: systemctl shows it on one line.
const STATUS_MAX: usize = 200;

/// One short line of instance states for STATUS=, e.g.
/// `3 instances: web MASTER, db BACKUP, mail INIT; problems: mail (vipctl status)`.
/// Instances that do not fit are counted ("+4 more"), and so are problems.
pub fn status_line<'a>(
    instances: impl ExactSizeIterator<Item = (&'a str, crate::vrrp::State, bool)>,
) -> String {
    let total = instances.len();
    let mut line = format!("{total} instance{}", if total == 1 { "" } else { "s" });
    let mut problems = Vec::new();
    let mut shown = 0;
    // Once one name does not fit, later (shorter) ones are not shown either,
    // so the list keeps the configuration's order.
    let mut full = false;
    for (name, state, problem) in instances {
        if problem {
            problems.push(name);
        }
        let item = format!("{}{name} {state}", if shown == 0 { ": " } else { ", " });
        full = full || line.len() + item.len() > STATUS_MAX;
        if !full {
            line.push_str(&item);
            shown += 1;
        }
    }
    if shown < total {
        line.push_str(&format!(", +{} more", total - shown));
    }
    if !problems.is_empty() {
        let names = problems.join(", ");
        if names.len() <= STATUS_MAX / 2 {
            line.push_str(&format!("; problems: {names} (vipctl status)"));
        } else {
            line.push_str(&format!(
                "; {} with problems (vipctl status)",
                problems.len()
            ));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::State;

    #[test]
    fn watchdog_period_honours_pid_and_zero() {
        let s = Duration::from_secs(10);
        assert_eq!(watchdog_period(Some("10000000"), None, 7), Some(s));
        assert_eq!(watchdog_period(Some("10000000"), Some("7"), 7), Some(s));
        assert_eq!(watchdog_period(Some("10000000"), Some("8"), 7), None);
        assert_eq!(watchdog_period(Some("0"), None, 7), None);
        assert_eq!(watchdog_period(Some("ten"), None, 7), None);
        assert_eq!(watchdog_period(None, Some("7"), 7), None);
    }

    #[test]
    fn status_line_lists_states_and_problems() {
        let l = status_line(
            [
                ("web", State::Master, false),
                ("db", State::Backup, false),
                ("mail", State::Initialize, true),
            ]
            .into_iter(),
        );
        assert_eq!(
            l,
            "3 instances: web MASTER, db BACKUP, mail INIT; problems: mail (vipctl status)"
        );
        assert_eq!(status_line(std::iter::empty()), "0 instances");
    }

    #[test]
    fn status_line_stays_short() {
        let names: Vec<String> = (0..100).map(|i| format!("instance-{i:03}")).collect();
        let l = status_line(names.iter().map(|n| (n.as_str(), State::Backup, false)));
        assert!(l.len() <= STATUS_MAX + 20, "{} chars: {l}", l.len());
        assert!(l.starts_with("100 instances: instance-000 BACKUP, "), "{l}");
        assert!(l.contains(" more"), "{l}");
    }

    #[test]
    fn notify_addr_forms() {
        assert!(
            notify_addr("/run/systemd/notify")
                .unwrap()
                .as_pathname()
                .is_some()
        );
        assert_eq!(
            notify_addr("@sd-notify").unwrap().as_abstract_name(),
            Some(&b"sd-notify"[..])
        );
        assert!(notify_addr("relative").is_err());
        assert!(notify_addr("vsock:2:1234").is_err());
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        let name = format!("vipd-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut n = Notifier::new(Some(&format!("@{name}")), Some(Duration::from_secs(4)));
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(2)));
        let recv = || {
            let mut buf = [0u8; 512];
            let len = rx.recv(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..len]).into_owned()
        };
        n.ready("1 instance: web MASTER".into());
        assert_eq!(recv(), "READY=1\nSTATUS=1 instance: web MASTER");
        // Unchanged status: nothing sent; the next datagram is the watchdog.
        n.status("1 instance: web MASTER".into());
        n.watchdog();
        assert_eq!(recv(), "WATCHDOG=1");
        n.status("1 instance: web BACKUP".into());
        assert_eq!(recv(), "STATUS=1 instance: web BACKUP");
        n.reloading();
        assert!(recv().starts_with("RELOADING=1\nMONOTONIC_USEC="));
        n.stopping();
        assert!(recv().starts_with("STOPPING=1"));
    }

    #[test]
    fn disabled_without_socket() {
        let mut n = Notifier::new(None, Some(Duration::from_secs(10)));
        assert!(!n.enabled());
        assert_eq!(n.watchdog_interval(), None);
        n.ready("x".into());
        n.watchdog();
    }
}
