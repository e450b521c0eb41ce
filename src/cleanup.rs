//! `vipctl cleanup`: what a vipd that died without cleaning up (SIGKILL,
//! systemd's watchdog, the OOM killer, a crash) left behind, removed after
//! it. The packaged unit runs it as `ExecStopPost=`, which systemd runs
//! after every stop, clean or not (docs/restart.md).
//!
//! Two guarantees pull against each other, and systemd's environment
//! decides between them:
//! - a vipd that dies and is **not** restarted must not leave its VIPs on
//!   the interface while the backup holds them too;
//! - a vipd that dies and **is** restarted (`Restart=on-failure`) must find
//!   them, so it resumes as master without an outage (warm restart). But
//!   systemd runs `ExecStopPost=` before the restart too.
//!
//! So the cleanup asks whether systemd restarts the unit: the unit's
//! `Restart=` policy against `$SERVICE_RESULT` (systemd.service(5)'s table),
//! and the job running on the unit: a stop job (`systemctl stop`) never
//! restarts, a restart job always starts again, a start job that failed
//! leaves it to `Restart=`.
//! When a restart follows, it leaves everything in place; otherwise, and
//! whenever it cannot tell (no D-Bus answer), it removes. Nothing to do
//! after a clean stop (vipd removed its VIPs itself). The residual case:
//! systemd gives up restarting after `StartLimitBurst=` (the last crash's
//! VIPs stay); see docs/restart.md.
//!
//! Only what the configuration says is vipd's is removed: each VIP on the
//! device it goes on, with its configured prefix length, and each VIP
//! device vipd makes (a MACVLAN with the RFC virtual MAC, by its name),
//! unless networkd makes it (`networkd: {manage_files: true}`: networkd
//! owns the device from vipd's .netdev, and a clean stop leaves it too).
//! Nothing is removed while a vipd answers on the control socket.

use crate::config::{Config, VipDeviceKind};
use crate::io::netlink::{AddrEntry, LinkState, virtual_mac};

/// What the configuration says is vipd's and is on the host now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// (instance, link index, link name, VIP).
    pub vips: Vec<(String, u32, String, crate::config::Vip)>,
    /// (instance, link index, device name).
    pub devices: Vec<(String, u32, String)>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.vips.is_empty() && self.devices.is_empty()
    }
}

/// Finds vipd's leftovers among the host's links and addresses.
pub fn leftovers(config: &Config, links: &[LinkState], addrs: &[AddrEntry]) -> Leftovers {
    let by_name = |n: &str| links.iter().find(|l| l.name == n);
    let mut out = Leftovers::default();
    for inst in &config.instances {
        for vip in inst.all_vips() {
            let dev = inst.device_for(vip);
            if let Some(l) = by_name(&dev)
                && addrs.iter().any(|a| {
                    a.index == l.index && a.address == vip.address && a.prefix_len == vip.prefix_len
                })
            {
                out.vips
                    .push((inst.name.clone(), l.index, l.name.clone(), vip.clone()));
            }
        }
        let (Some(d), Some(name)) = (&inst.vip_device, inst.vip_device_name()) else {
            continue;
        };
        if config.networkd.manage_files {
            continue;
        }
        if let Some(l) = by_name(&name) {
            let as_made = match d.kind {
                VipDeviceKind::Macvlan => l.mac == Some(virtual_mac(inst.vrid, inst.mac_family())),
                VipDeviceKind::Ipvlan => true,
            };
            if as_made {
                out.devices.push((inst.name.clone(), l.index, name));
            }
        }
    }
    out
}

/// systemd's account of the stop, as `ExecStopPost=` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopFacts {
    /// `$SERVICE_RESULT`: success, exit-code, signal, core-dump, watchdog,
    /// timeout, oom-kill, ...
    pub service_result: String,
    /// The unit's `Restart=` (no, always, on-success, on-failure,
    /// on-abnormal, on-abort, on-watchdog).
    pub restart: String,
    /// The type of the job running on the unit, if any: `stop` (a
    /// `systemctl stop`: no restart), `restart` (`systemctl restart`: a
    /// start follows), `start` (a start that failed: `Restart=` decides).
    pub job: Option<String>,
}

/// Whether systemd restarts the unit after this stop (systemd.service(5),
/// the table under `Restart=`). Unknown policies and results say no: the
/// cleanup then removes (no VIP left behind).
pub fn restart_follows(f: &StopFacts) -> bool {
    match f.job.as_deref() {
        Some("stop") => return false,
        Some("restart" | "try-restart" | "reload-or-restart") => return true,
        _ => {}
    }
    let r = f.service_result.as_str();
    let clean = r == "success";
    let unclean_signal = matches!(r, "signal" | "core-dump");
    let abnormal = unclean_signal || matches!(r, "timeout" | "watchdog" | "oom-kill");
    match f.restart.as_str() {
        "always" => true,
        "on-success" => clean,
        "on-failure" => !clean && !r.is_empty(),
        "on-abnormal" => abnormal,
        "on-abort" => unclean_signal,
        "on-watchdog" => r == "watchdog",
        _ => false,
    }
}

/// The `vipctl cleanup` command.
pub mod cli {
    use std::path::Path;
    use std::process::ExitCode;
    use std::time::Duration;

    use super::{StopFacts, leftovers, restart_follows};
    use crate::config::Config;
    use crate::control::{Request, request};
    use crate::io::netlink::Netlink;

    pub fn run(socket: &Path, config: &Path, unit: &str) -> ExitCode {
        if request(socket, &Request::Status, Duration::from_secs(2)).is_ok() {
            eprintln!(
                "vipctl cleanup: vipd answers on {}: it runs and owns its VIPs, nothing removed (stop it first)",
                socket.display()
            );
            return ExitCode::FAILURE;
        }
        let cfg = match Config::load(config) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("vipctl cleanup: {e}");
                return ExitCode::FAILURE;
            }
        };
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("vipctl cleanup: {e}");
                return ExitCode::FAILURE;
            }
        };
        rt.block_on(async {
            // Run by systemd as ExecStopPost=: a restart may follow.
            if let Ok(result) = std::env::var("SERVICE_RESULT") {
                match crate::io::systemd::restart_policy(None, unit).await {
                    Ok((restart, job)) => {
                        let facts = StopFacts {
                            service_result: result.clone(),
                            restart,
                            job,
                        };
                        if restart_follows(&facts) {
                            println!(
                                "vipctl cleanup: {unit} stopped ({result}) and systemd restarts it (Restart={}): VIPs and devices left in place for its warm start",
                                facts.restart
                            );
                            return ExitCode::SUCCESS;
                        }
                    }
                    Err(e) => eprintln!(
                        "vipctl cleanup: cannot tell whether systemd restarts {unit} ({e}): cleaning up"
                    ),
                }
            }
            remove(&cfg).await
        })
    }

    async fn remove(cfg: &Config) -> ExitCode {
        let nl = match Netlink::open() {
            Ok((nl, _events)) => nl,
            Err(e) => {
                eprintln!("vipctl cleanup: {e}");
                return ExitCode::FAILURE;
            }
        };
        let (links, addrs) = match (nl.links().await, nl.addresses().await) {
            (Ok(l), Ok(a)) => (l, a),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("vipctl cleanup: {e}");
                return ExitCode::FAILURE;
            }
        };
        let found = leftovers(cfg, &links, &addrs);
        if found.is_empty() {
            println!("vipctl cleanup: nothing of vipd's left on this host");
            return ExitCode::SUCCESS;
        }
        let mut code = ExitCode::SUCCESS;
        for (inst, index, ifname, vip) in &found.vips {
            match nl.del_vip(*index, ifname, vip).await {
                Ok(()) => println!("vipctl cleanup: {inst}: removed {vip} from {ifname}"),
                Err(e) => {
                    eprintln!("vipctl cleanup: {inst}: {e}");
                    code = ExitCode::FAILURE;
                }
            }
        }
        for (inst, index, name) in &found.devices {
            match nl.delete_link(*index, name).await {
                Ok(()) => println!("vipctl cleanup: {inst}: removed VIP device {name}"),
                Err(e) => {
                    eprintln!("vipctl cleanup: {inst}: {e}");
                    code = ExitCode::FAILURE;
                }
            }
        }
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn facts(result: &str, restart: &str, job: Option<&str>) -> StopFacts {
        StopFacts {
            service_result: result.into(),
            restart: restart.into(),
            job: job.map(Into::into),
        }
    }

    // systemd.service(5), the table under Restart=: which exit causes a
    // restart under which setting.
    #[test]
    fn restart_follows_systemds_table() {
        let results = [
            "success",
            "exit-code",
            "signal",
            "core-dump",
            "timeout",
            "watchdog",
        ];
        let table: [(&str, [bool; 6]); 7] = [
            ("no", [false, false, false, false, false, false]),
            ("always", [true, true, true, true, true, true]),
            ("on-success", [true, false, false, false, false, false]),
            ("on-failure", [false, true, true, true, true, true]),
            ("on-abnormal", [false, false, true, true, true, true]),
            ("on-abort", [false, false, true, true, false, false]),
            ("on-watchdog", [false, false, false, false, false, true]),
        ];
        for (policy, row) in table {
            for (result, want) in results.iter().zip(row) {
                // No job (the process died by itself), or a start job
                // that failed (a restart that could not start): Restart=
                // decides.
                for job in [None, Some("start")] {
                    assert_eq!(
                        restart_follows(&facts(result, policy, job)),
                        want,
                        "Restart={policy}, SERVICE_RESULT={result}, job {job:?}"
                    );
                }
                // `systemctl stop`: never; `systemctl restart`: always.
                assert!(!restart_follows(&facts(result, policy, Some("stop"))));
                assert!(restart_follows(&facts(result, policy, Some("restart"))));
            }
        }
        // Unknown: clean up.
        assert!(!restart_follows(&facts("signal", "sometimes", None)));
        assert!(!restart_follows(&facts("", "on-failure", None)));
    }

    fn link(index: u32, name: &str, mac: [u8; 6]) -> LinkState {
        LinkState {
            index,
            name: name.into(),
            mac: Some(mac),
            up: true,
            lower_up: true,
        }
    }

    fn addr(index: u32, a: &str, prefix_len: u8) -> AddrEntry {
        AddrEntry {
            index,
            address: a.parse().unwrap(),
            prefix_len,
            secondary: false,
            tentative: false,
        }
    }

    #[test]
    fn only_what_the_configuration_makes_vipds() {
        let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24, 192.0.2.11/24]\n  - name: db\n    interface: eth0\n    vrid: 52\n    vip_device: {kind: macvlan}\n    vips: [192.0.2.20/24]\n";
        let cfg = Config::parse(text, Path::new("t")).unwrap();
        let vmac = virtual_mac(52, crate::family::Family::V4);
        let links = [
            link(1, "eth0", [2, 0, 0, 0, 0, 1]),
            link(5, "vrrp.52", vmac),
            link(6, "eth1", [2, 0, 0, 0, 0, 6]),
        ];
        let addrs = [
            addr(1, "192.0.2.1", 24),  // the host's own address
            addr(1, "192.0.2.10", 24), // web's VIP
            addr(1, "192.0.2.11", 32), // another prefix: not as vipd puts it
            addr(6, "192.0.2.10", 24), // on another link: not vipd's
            addr(5, "192.0.2.20", 24), // db's VIP on its MACVLAN
        ];
        let l = leftovers(&cfg, &links, &addrs);
        let vips: Vec<_> = l
            .vips
            .iter()
            .map(|(i, _, d, v)| format!("{i} {d} {v}"))
            .collect();
        assert_eq!(vips, ["web eth0 192.0.2.10/24", "db vrrp.52 192.0.2.20/24"]);
        assert_eq!(l.devices, vec![("db".into(), 5, "vrrp.52".into())]);

        // A device of that name with another MAC is not one vipd made.
        let links2 = [link(1, "eth0", [2; 6]), link(5, "vrrp.52", [2; 6])];
        assert!(leftovers(&cfg, &links2, &[]).devices.is_empty());
        // networkd makes the device from vipd's .netdev: left to networkd.
        let managed = Config::parse(
            &format!("networkd: {{manage_files: true}}\n{text}"),
            Path::new("t"),
        )
        .unwrap();
        assert!(leftovers(&managed, &links, &addrs).devices.is_empty());
        // Nothing there: nothing to do.
        assert!(leftovers(&cfg, &links, &addrs[..1]).vips.is_empty());
    }
}
