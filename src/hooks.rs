//! networkd-dispatcher and ifupdown hooks: what `vipctl hooks install` /
//! `remove` write, and what the hooks ask of vipctl.
//!
//! The scripts in `dispatcher-hooks/` are embedded here, so the vipctl
//! binary alone can install them. They stay thin (POSIX sh: read the
//! variables, log, call vipctl under `timeout`); the logic lives in Rust:
//! [`interface_users`] decides whether an interface concerns vipd at all,
//! and [`create_missing_devices`] recreates MACVLAN/IPVLAN devices through
//! the daemon's own [`crate::io::vip_device::ensure_vip_device`].
//!
//! Install rules: networkd-dispatcher runs only scripts owned by root and
//! not writable by group or others, so every script is written 0755
//! root:root (directories 0755). Everything is checked before anything is
//! written (a foreign file with one of our names stops the whole install),
//! files are replaced atomically, an identical file is left alone, and
//! `remove` deletes only files carrying [`MARKER`].

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::{Config, InstanceConfig};
use crate::io::files::{NewFile, write_atomic};
use crate::io::netlink::{Netlink, NetlinkError};
use crate::io::vip_device::{VipDeviceOutcome, ensure_vip_device};

/// The line every script vipd installs carries; `remove` deletes only files
/// that have it, and `install` overwrites only those.
pub const MARKER: &str = "# vipd-hook: written by `vipctl hooks install`";

/// networkd-dispatcher script, installed in each of [`DISPATCHER_STATES`].
pub const DISPATCHER_SCRIPT: &str = include_str!("../dispatcher-hooks/networkd-dispatcher/50-vipd");
/// ifupdown post-up script.
pub const IFUP_SCRIPT: &str = include_str!("../dispatcher-hooks/ifupdown/if-up.d/vipd");
/// ifupdown pre-down script (ifupdown 0.8 runs if-down.d before the link
/// goes down; it never reads if-pre-down.d).
pub const IFDOWN_SCRIPT: &str = include_str!("../dispatcher-hooks/ifupdown/if-down.d/vipd");

/// States whose directories get the dispatcher script: the ones networkd
/// reaches after (re)configuring a link, when VIPs it flushed must return.
/// `off`/`no-carrier` need nothing: vipd sees those links go down itself.
pub const DISPATCHER_STATES: &[&str] = &["routable", "configured", "degraded"];

/// A hook system vipd can install into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HookKind {
    NetworkdDispatcher,
    Ifupdown,
}

impl HookKind {
    pub const ALL: [HookKind; 2] = [HookKind::NetworkdDispatcher, HookKind::Ifupdown];

    pub fn name(self) -> &'static str {
        match self {
            HookKind::NetworkdDispatcher => "networkd-dispatcher",
            HookKind::Ifupdown => "ifupdown",
        }
    }

    /// Paths (relative to the root) whose presence means the system is there.
    /// For ifupdown, /etc/network/ alone is not enough: other packages
    /// (ethtool, openssh, resolvconf...) create it without ifupdown.
    fn evidence(self) -> &'static [&'static str] {
        match self {
            HookKind::NetworkdDispatcher => &[
                "usr/bin/networkd-dispatcher",
                "usr/sbin/networkd-dispatcher",
                "etc/networkd-dispatcher",
            ],
            HookKind::Ifupdown => &["sbin/ifup", "usr/sbin/ifup", "etc/network/interfaces"],
        }
    }

    /// The files this kind gets: path relative to the root, content.
    pub fn files(self) -> Vec<(PathBuf, &'static str)> {
        match self {
            HookKind::NetworkdDispatcher => DISPATCHER_STATES
                .iter()
                .map(|s| {
                    (
                        PathBuf::from(format!("etc/networkd-dispatcher/{s}.d/50-vipd")),
                        DISPATCHER_SCRIPT,
                    )
                })
                .collect(),
            HookKind::Ifupdown => vec![
                (PathBuf::from("etc/network/if-up.d/vipd"), IFUP_SCRIPT),
                (PathBuf::from("etc/network/if-down.d/vipd"), IFDOWN_SCRIPT),
            ],
        }
    }
}

/// What detection found under a root: each kind with the path that showed
/// it, or None.
pub fn detect(root: &Path) -> Vec<(HookKind, Option<PathBuf>)> {
    HookKind::ALL
        .iter()
        .map(|&k| {
            let found = k
                .evidence()
                .iter()
                .map(|p| root.join(p))
                .find(|p| p.exists());
            (k, found)
        })
        .collect()
}

/// One step of an install or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookAction {
    /// Write (new file, or one of ours with other content, mode or owner).
    Write {
        path: PathBuf,
        content: &'static str,
    },
    /// Ours already, identical, 0755 root.
    Unchanged {
        path: PathBuf,
    },
    Remove {
        path: PathBuf,
    },
    /// Not ours: `remove` leaves it alone.
    LeaveForeign {
        path: PathBuf,
    },
}

/// A refused install or failed write, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error(
        "{path} exists and was not written by vipd (no \"vipd-hook\" marker line); nothing was installed. Move it away or merge it by hand, then run `vipctl hooks install` again"
    )]
    Foreign { path: PathBuf },
    #[error("{path} is not a regular file; nothing was installed. Remove it first")]
    NotAFile { path: PathBuf },
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> HookError {
    let path = path.to_path_buf();
    move |source| HookError::Io { what, path, source }
}

/// Plans an install of `kinds` under `root`; reads, never writes. Any
/// foreign file refuses the whole plan.
pub fn plan_install(root: &Path, kinds: &[HookKind]) -> Result<Vec<HookAction>, HookError> {
    let mut plan = Vec::new();
    for kind in kinds {
        for (rel, content) in kind.files() {
            let path = root.join(rel);
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    plan.push(HookAction::Write { path, content });
                    continue;
                }
                Err(e) => return Err(io_err("inspect", &path)(e)),
            };
            if !meta.file_type().is_file() {
                return Err(HookError::NotAFile { path });
            }
            let existing = fs::read(&path).map_err(io_err("read", &path))?;
            if !carries_marker(&existing) {
                return Err(HookError::Foreign { path });
            }
            let proper = existing == content.as_bytes()
                && meta.uid() == 0
                && meta.gid() == 0
                && meta.mode() & 0o7777 == 0o755;
            plan.push(if proper {
                HookAction::Unchanged { path }
            } else {
                HookAction::Write { path, content }
            });
        }
    }
    Ok(plan)
}

/// Plans a remove of every vipd hook under `root` (all kinds, whatever is
/// detected, so a hook left from an earlier install goes too).
pub fn plan_remove(root: &Path) -> Result<Vec<HookAction>, HookError> {
    let mut plan = Vec::new();
    for kind in HookKind::ALL {
        for (rel, _) in kind.files() {
            let path = root.join(rel);
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("inspect", &path)(e)),
            };
            let ours = meta.file_type().is_file()
                && fs::read(&path)
                    .map(|c| carries_marker(&c))
                    .map_err(io_err("read", &path))?;
            plan.push(if ours {
                HookAction::Remove { path }
            } else {
                HookAction::LeaveForeign { path }
            });
        }
    }
    Ok(plan)
}

fn carries_marker(content: &[u8]) -> bool {
    String::from_utf8_lossy(content)
        .lines()
        .take(5)
        .any(|l| l.starts_with(MARKER))
}

/// Carries out a plan. Writes are atomic (temp file in the same directory,
/// 0755, owner root, fsync, rename), so a hook runner never sees half a
/// script.
pub fn apply(plan: &[HookAction]) -> Result<(), HookError> {
    for a in plan {
        match a {
            HookAction::Write { path, content } => write_script(path, content)?,
            HookAction::Remove { path } => match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", path)(e)),
            },
            HookAction::Unchanged { .. } | HookAction::LeaveForeign { .. } => {}
        }
    }
    Ok(())
}

/// Hook scripts: root:root 0755, as networkd-dispatcher demands.
fn write_script(path: &Path, content: &str) -> Result<(), HookError> {
    let script = NewFile {
        mode: 0o755,
        root_owned: true,
    };
    write_atomic(path, content.as_bytes(), script).map_err(|e| HookError::Io {
        what: e.action,
        path: e.path,
        source: e.source,
    })
}

/// How an interface concerns vipd.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InterfaceUsers<'a> {
    /// Instances running VRRP on it (their VIP device hangs off it).
    pub parent_of: Vec<&'a InstanceConfig>,
    /// Instances that put VIPs on it (VIP device, or a VIP's `dev`).
    pub vips_on: Vec<&'a InstanceConfig>,
}

impl InterfaceUsers<'_> {
    pub fn is_empty(&self) -> bool {
        self.parent_of.is_empty() && self.vips_on.is_empty()
    }
}

/// Which instances use `iface`; empty means the hooks have nothing to do.
pub fn interface_users<'a>(config: &'a Config, iface: &str) -> InterfaceUsers<'a> {
    let mut u = InterfaceUsers::default();
    for inst in &config.instances {
        if inst.interface == iface {
            u.parent_of.push(inst);
        } else if inst.vip_device_name().as_deref() == Some(iface)
            || inst.all_vips().any(|v| inst.device_for(v) == iface)
        {
            u.vips_on.push(inst);
        }
    }
    u
}

/// Creates the MACVLAN/IPVLAN devices missing under `iface` for the
/// instances whose parent it is, as the daemon would. Returns one line per
/// device for the log ("created vrrp.51 on eth0", "vrrp.51 on eth0: ...").
/// A missing parent is reported, not an error: the hook may run while
/// the interface is being renamed or removed.
pub async fn create_missing_devices(
    nl: &Netlink,
    users: &InterfaceUsers<'_>,
    iface: &str,
) -> Result<Vec<String>, NetlinkError> {
    let mut lines = Vec::new();
    let needing: Vec<&&InstanceConfig> = users
        .parent_of
        .iter()
        .filter(|i| i.vip_device.is_some())
        .collect();
    if needing.is_empty() {
        return Ok(lines);
    }
    let Some(parent) = nl.link_by_name(iface).await? else {
        lines.push(format!("{iface} does not exist; no VIP device created"));
        return Ok(lines);
    };
    for inst in needing {
        match ensure_vip_device(nl, inst, &parent).await {
            Ok(VipDeviceOutcome::Created(name)) => lines.push(format!(
                "created {name} on {iface} for instance {}",
                inst.name
            )),
            Ok(_) => {}
            Err(e) => lines.push(format!("instance {}: {e}", inst.name)),
        }
    }
    Ok(lines)
}

/// The `vipctl hooks ...`, `vipctl hold` and `vipctl resync
/// --create-devices` commands: they print for the operator (or the hook's
/// log) and return the exit code.
pub mod cli {
    use std::path::Path;
    use std::process::ExitCode;
    use std::time::Duration;

    use super::*;
    use crate::control::{ClientError, Request, Response, request};

    /// `vipctl hooks install`: `only` empty means "what is detected".
    pub fn install(root: &Path, only: &[HookKind], dry_run: bool) -> ExitCode {
        let found = detect(root);
        for (k, at) in &found {
            match at {
                Some(p) => crate::outln!("found {} ({})", k.name(), p.display()),
                None => crate::outln!("no {} under {}", k.name(), root.display()),
            }
        }
        let kinds: Vec<HookKind> = if only.is_empty() {
            found
                .iter()
                .filter(|(_, at)| at.is_some())
                .map(|(k, _)| *k)
                .collect()
        } else {
            only.to_vec()
        };
        if kinds.is_empty() {
            crate::outln!(
                "neither networkd-dispatcher nor ifupdown found: nothing to install (use --only to install anyway)"
            );
            return ExitCode::SUCCESS;
        }
        let plan = match plan_install(root, &kinds) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("vipctl: {e}");
                return ExitCode::FAILURE;
            }
        };
        report(&plan, dry_run);
        finish(&plan, dry_run)
    }

    /// `vipctl hooks remove`.
    pub fn remove(root: &Path, dry_run: bool) -> ExitCode {
        let plan = match plan_remove(root) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("vipctl: {e}");
                return ExitCode::FAILURE;
            }
        };
        if plan.is_empty() {
            crate::outln!("no vipd hooks under {}", root.display());
        }
        report(&plan, dry_run);
        finish(&plan, dry_run)
    }

    fn report(plan: &[HookAction], dry_run: bool) {
        let would = if dry_run { "would " } else { "" };
        for a in plan {
            match a {
                HookAction::Write { path, .. } => {
                    crate::outln!("{would}install {} (0755 root:root)", path.display())
                }
                HookAction::Unchanged { path } => crate::outln!("unchanged {}", path.display()),
                HookAction::Remove { path } => crate::outln!("{would}remove {}", path.display()),
                HookAction::LeaveForeign { path } => {
                    crate::outln!("left {} (not written by vipd)", path.display())
                }
            }
        }
    }

    fn finish(plan: &[HookAction], dry_run: bool) -> ExitCode {
        if dry_run {
            return ExitCode::SUCCESS;
        }
        match apply(plan) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vipctl: {e}");
                ExitCode::FAILURE
            }
        }
    }

    fn load(config: &Path) -> Result<Config, ExitCode> {
        Config::load(config).map_err(|e| {
            eprintln!("{e}");
            ExitCode::FAILURE
        })
    }

    /// Sends a request for a hook: vipd not running is said and is no
    /// failure (there is nothing to tell; it resyncs on start), silence
    /// within `timeout` is a failure (logged by the hook, which exits 0).
    fn ask_for_hook(socket: &Path, req: Request, timeout: Duration) -> Result<Response, ExitCode> {
        match request(socket, &req, timeout) {
            Ok(Response::Error { message }) => {
                eprintln!("vipctl: {message}");
                Err(ExitCode::FAILURE)
            }
            Ok(r) => Ok(r),
            Err(ClientError::Connect { path, source })
                if matches!(
                    source.raw_os_error(),
                    Some(libc::ENOENT) | Some(libc::ECONNREFUSED)
                ) =>
            {
                crate::outln!("vipd is not running (no listener on {path}); nothing to tell it");
                Err(ExitCode::SUCCESS)
            }
            Err(ClientError::Io { path, source })
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                eprintln!(
                    "vipctl: vipd did not answer on {path} within {} ms",
                    timeout.as_millis()
                );
                Err(ExitCode::FAILURE)
            }
            Err(e) => {
                eprintln!("vipctl: {e}");
                Err(ExitCode::FAILURE)
            }
        }
    }

    /// `vipctl resync --interface IF --create-devices`: quiet and 0 when
    /// IF is not vipd's; else recreate missing devices, then ask vipd.
    pub fn resync_creating_devices(
        socket: &Path,
        iface: &str,
        config: &Path,
        timeout: Duration,
    ) -> ExitCode {
        let cfg = match load(config) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let users = interface_users(&cfg, iface);
        if users.is_empty() {
            return ExitCode::SUCCESS;
        }
        let created = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                rt.block_on(async {
                    let (nl, _events) = Netlink::open().map_err(|e| e.to_string())?;
                    create_missing_devices(&nl, &users, iface)
                        .await
                        .map_err(|e| e.to_string())
                })
            });
        let mut code = ExitCode::SUCCESS;
        match created {
            Ok(lines) => lines.iter().for_each(|l| crate::outln!("{l}")),
            Err(e) => {
                // Still ask vipd: it recreates devices itself on resync.
                eprintln!("vipctl: cannot check the VIP devices on {iface}: {e}");
                code = ExitCode::FAILURE;
            }
        }
        let req = Request::Resync {
            interface: Some(iface.to_string()),
        };
        match ask_for_hook(socket, req, timeout) {
            Ok(Response::Resynced {
                instances,
                restored,
            }) => {
                if !restored.is_empty() {
                    crate::outln!(
                        "vipd resynced {}: restored {}",
                        instances.join(","),
                        restored.join(",")
                    );
                }
                code
            }
            Ok(other) => {
                eprintln!("vipctl: unexpected answer: {other:?}");
                ExitCode::FAILURE
            }
            Err(c) if c == ExitCode::SUCCESS => code,
            Err(c) => c,
        }
    }

    /// `vipctl hold`: with a config, quiet and 0 when IF is no instance's
    /// interface.
    pub fn hold(
        socket: &Path,
        iface: &str,
        for_ms: u64,
        config: Option<&Path>,
        timeout: Duration,
    ) -> ExitCode {
        if let Some(config) = config {
            let cfg = match load(config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            if interface_users(&cfg, iface).parent_of.is_empty() {
                return ExitCode::SUCCESS;
            }
        }
        let req = Request::Hold {
            interface: iface.to_string(),
            for_ms,
        };
        match ask_for_hook(socket, req, timeout) {
            Ok(Response::Held { instances, for_ms }) => {
                if instances.is_empty() {
                    crate::outln!("no instance runs on {iface}; nothing held");
                } else if for_ms == 0 {
                    crate::outln!("hold on {iface} cancelled for {}", instances.join(","));
                } else {
                    crate::outln!(
                        "holding {} through a link-down on {iface} for {for_ms} ms",
                        instances.join(",")
                    );
                }
                ExitCode::SUCCESS
            }
            Ok(other) => {
                eprintln!("vipctl: unexpected answer: {other:?}");
                ExitCode::FAILURE
            }
            Err(c) => c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_users_sees_parents_vip_devices_and_vip_devs() {
        let text = "instances:\n  - name: web\n    interface: eth0\n    vrid: 51\n    vips: [192.0.2.10/24]\n    vip_device: {kind: macvlan}\n  - name: db\n    interface: eth1\n    vrid: 52\n    vips: [198.51.100.10/24]\n";
        let cfg = Config::parse(text, Path::new("t.yaml")).unwrap();
        let names = |u: &[&InstanceConfig]| u.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
        let eth0 = interface_users(&cfg, "eth0");
        assert_eq!(names(&eth0.parent_of), ["web"]);
        assert!(eth0.vips_on.is_empty());
        let dev = interface_users(&cfg, "vrrp.51");
        assert!(dev.parent_of.is_empty());
        assert_eq!(names(&dev.vips_on), ["web"]);
        assert_eq!(names(&interface_users(&cfg, "eth1").parent_of), ["db"]);
        assert!(interface_users(&cfg, "eth9").is_empty());
        assert!(interface_users(&cfg, "").is_empty());
    }

    #[test]
    fn every_embedded_script_carries_the_marker() {
        for kind in HookKind::ALL {
            for (path, content) in kind.files() {
                assert!(content.starts_with("#!/bin/sh\n"), "{}", path.display());
                assert!(carries_marker(content.as_bytes()), "{}", path.display());
            }
        }
        assert!(!carries_marker(b"#!/bin/sh\n# vipd-hook? no\n"));
    }
}
