//! The whole `vipctl networkd install` / `remove` flow, shared with the
//! daemon (`networkd: {manage_files: true}`): detect, plan, apply.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    ApplySummary, NetworkdError, Plan, apply, detect_host, link_info_from_sysfs, plan_install,
    plan_remove, systemd_version_from,
};
use crate::config::Config;

/// What an install or remove did (or, dry, would do).
#[derive(Debug)]
pub struct Outcome {
    pub plan: Plan,
    /// None on a dry run.
    pub summary: Option<ApplySummary>,
}

impl Outcome {
    /// Whether networkd must re-read its files.
    pub fn changed(&self) -> bool {
        self.summary
            .as_ref()
            .is_some_and(|s| !s.written.is_empty() || !s.removed.is_empty())
    }
}

/// The running systemd's version, from `networkctl --version`.
pub fn live_systemd_version() -> Option<u32> {
    let out = Command::new("networkctl").arg("--version").output().ok()?;
    systemd_version_from(&String::from_utf8_lossy(&out.stdout))
}

/// Writes the files `config` needs under `root` ("/" for the live system;
/// links are then looked up in /sys, elsewhere in ROOT/sys if present).
pub fn install(
    config: &Config,
    config_path: &Path,
    root: &Path,
    systemd_version: Option<u32>,
    dry_run: bool,
) -> Result<Outcome, NetworkdError> {
    let sys: PathBuf = root.join("sys");
    let (host, mut notes) = detect_host(config, root, systemd_version, |n| {
        link_info_from_sysfs(&sys, n)
    });
    let mut plan = plan_install(config, &host, root, config_path)?;
    notes.append(&mut plan.notes);
    plan.notes = notes;
    let summary = if dry_run {
        None
    } else {
        Some(apply(&plan, root)?)
    };
    Ok(Outcome { plan, summary })
}

/// Removes every file vipd wrote under `root`.
pub fn remove(root: &Path, dry_run: bool) -> Result<Outcome, NetworkdError> {
    let plan = plan_remove(root);
    let summary = if dry_run {
        None
    } else {
        Some(apply(&plan, root)?)
    };
    Ok(Outcome { plan, summary })
}
