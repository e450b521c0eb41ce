//! `vipctl migrate-ifupdown`: move a netplan/systemd-networkd host to
//! ifupdown, keeping vipd's VIP devices.
//!
//! The order is fixed so nothing is half-applied: read and merge every
//! netplan file ([`netplan`]), read the vipd configuration, render everything
//! ([`render`]) and check every target path; only when all of that succeeded
//! is anything written. An existing `/etc/network/interfaces` whose content
//! differs is first copied to `interfaces.vipd-backup-<UTC time>` (a new name
//! each time, never over an older backup); an identical one is left alone, so
//! running the migration twice gives no second backup. Files are written
//! atomically (temporary file, fsync, rename, fsync of the directory).
//!
//! The migration writes everything into `/etc/network/interfaces` itself
//! (keeping Debian's `source /etc/network/interfaces.d/*` line, so snippets
//! already there still apply) and, for netplan's renames by MAC address
//! (`match.macaddress` + `set-name`), one systemd `.link` file per rename in
//! `/etc/systemd/network/`: ifupdown cannot rename interfaces, and udev
//! applies `.link` files even when systemd-networkd is disabled. It never
//! runs the commands that switch the host over; it prints them.

pub mod netplan;
pub mod render;

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use crate::config::{Config, ConfigError, DEFAULT_CONFIG_PATH};
use crate::io::files::{FsError, NewFile, write_atomic};

pub use netplan::{NetplanError, load as load_netplan};
pub use render::{HEADER, Rendered, render};

/// Where the migration writes the interfaces definitions.
pub const INTERFACES_PATH: &str = "/etc/network/interfaces";

/// Everything that stops a migration; nothing has been written when one of
/// these is returned before the write phase.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    Netplan(#[from] NetplanError),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error(
        "no netplan configuration under {root}: no *.yaml in /lib/netplan, /etc/netplan or /run/netplan; nothing to migrate"
    )]
    NoNetplan { root: PathBuf },
    #[error("the configuration cannot be rendered for ifupdown; nothing was written:\n{}", .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Render(Vec<String>),
    #[error(
        "{path} exists and was not written by vipctl migrate-ifupdown; move it away or merge it by hand, then run again (nothing was written)"
    )]
    Foreign { path: PathBuf },
    #[error("{path}: cannot {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
}

impl From<FsError> for MigrateError {
    fn from(e: FsError) -> Self {
        MigrateError::Io {
            path: e.path,
            action: e.action,
            source: e.source,
        }
    }
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> MigrateError {
    let path = path.to_path_buf();
    move |source| MigrateError::Io {
        path,
        action,
        source,
    }
}

/// A computed migration: what would be written and what the operator runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The netplan files read, in merge order (target-system paths).
    pub netplan_files: Vec<PathBuf>,
    /// The vipd configuration used, if any.
    pub vipd_config: Option<PathBuf>,
    pub rendered: Rendered,
    /// Files to write: (target-system path, content).
    pub files: Vec<(PathBuf, String)>,
    /// The follow-up commands, printed, never run.
    pub commands: Vec<String>,
    pub notes: Vec<String>,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub written: Vec<PathBuf>,
    pub unchanged: Vec<PathBuf>,
    pub backups: Vec<PathBuf>,
}

/// `path` (absolute on the target system) under `root`.
fn reroot(root: &Path, path: &Path) -> PathBuf {
    let mut out = root.to_path_buf();
    for c in path.components() {
        if let Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

/// Reads netplan and vipd's configuration under `root` and renders the
/// migration. `config`: an explicit vipd configuration file (an error if
/// unreadable); `None` uses `/etc/vipd/vipd.yaml` under `root` if it exists.
pub fn plan(root: &Path, config: Option<&Path>) -> Result<Plan, MigrateError> {
    let np = netplan::load(root)?;
    if np.files.is_empty() {
        return Err(MigrateError::NoNetplan {
            root: root.to_path_buf(),
        });
    }
    let mut notes = Vec::new();
    let (cfg, cfg_path) = match config {
        Some(p) => (Some(Config::load(p)?), Some(p.to_path_buf())),
        None => {
            let p = reroot(root, Path::new(DEFAULT_CONFIG_PATH));
            if p.exists() {
                (Some(Config::load(&p)?), Some(p))
            } else {
                notes.push(format!(
                    "no vipd configuration at {}: no VIP devices are created by the interfaces file",
                    p.display()
                ));
                (None, None)
            }
        }
    };
    let rendered = render(&np, cfg.as_ref()).map_err(MigrateError::Render)?;

    let mut files = vec![(PathBuf::from(INTERFACES_PATH), rendered.interfaces.clone())];
    files.extend(rendered.link_files.iter().cloned());

    let d = reroot(root, Path::new("/etc/network/interfaces.d"));
    if let Ok(entries) = fs::read_dir(&d) {
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        if !names.is_empty() {
            notes.push(format!(
                "/etc/network/interfaces.d/ holds {}: they stay sourced by the new file; check they do not configure the same interfaces",
                names.join(", ")
            ));
        }
    }
    if cfg.as_ref().is_some_and(|c| c.networkd.manage_files) {
        notes.push(
            "the vipd configuration has networkd: {manage_files: true}: set it to false, there is no networkd after the migration".into(),
        );
    }

    let pkgs: Vec<&str> = rendered.packages.iter().copied().collect();
    let moved: Vec<String> = np.files.iter().map(|f| f.display().to_string()).collect();
    let mut commands = Vec::new();
    if np.files.iter().any(|f| f.ends_with("50-cloud-init.yaml")) {
        // cloud-init writes its netplan file again at every boot otherwise.
        commands.push(
            "echo 'network: {config: disabled}' > /etc/cloud/cloud.cfg.d/99-disable-network-config.cfg".to_string(),
        );
    }
    commands.extend([
        format!("apt-get install {}", pkgs.join(" ")),
        "vipctl networkd remove".to_string(),
        format!(
            "mkdir -p /etc/netplan.vipd-migrated && mv {} /etc/netplan.vipd-migrated/",
            moved.join(" ")
        ),
        "systemctl unmask networking.service".to_string(),
        "systemctl enable networking.service".to_string(),
        "systemctl disable --now systemd-networkd.service systemd-networkd.socket systemd-networkd-wait-online.service".to_string(),
        "systemctl restart networking.service   # or reboot; from a console, the network is reconfigured".to_string(),
    ]);
    Ok(Plan {
        netplan_files: np.files,
        vipd_config: cfg_path,
        rendered,
        files,
        commands,
        notes,
    })
}

/// What is at a target path now.
enum Present {
    Missing,
    Same,
    Differs,
}

fn present(real: &Path, content: &str) -> Result<Present, MigrateError> {
    match fs::symlink_metadata(real) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Present::Missing),
        Err(e) => Err(io_err(real, "inspect")(e)),
        Ok(m) if !m.is_file() => Err(MigrateError::Foreign {
            path: real.to_path_buf(),
        }),
        Ok(_) => {
            let old = fs::read(real).map_err(io_err(real, "read"))?;
            Ok(if old == content.as_bytes() {
                Present::Same
            } else {
                Present::Differs
            })
        }
    }
}

/// Writes `plan` under `root`: checks every target first (a `.link` file
/// in the way that the migration did not write stops everything), backs up
/// a differing `/etc/network/interfaces`, then writes atomically.
pub fn apply(plan: &Plan, root: &Path, now_unix: u64) -> Result<Outcome, MigrateError> {
    let mut todo = Vec::new();
    for (path, content) in &plan.files {
        let real = reroot(root, path);
        let p = present(&real, content)?;
        if matches!(p, Present::Differs) && path != Path::new(INTERFACES_PATH) {
            let old = fs::read(&real).map_err(io_err(&real, "read"))?;
            if !old.starts_with(HEADER.as_bytes()) {
                return Err(MigrateError::Foreign { path: real });
            }
        }
        todo.push((path, real, content, p));
    }
    let mut out = Outcome::default();
    for (path, real, content, p) in todo {
        match p {
            Present::Same => {
                out.unchanged.push(real);
                continue;
            }
            Present::Differs if path == Path::new(INTERFACES_PATH) => {
                out.backups.push(backup(&real, now_unix)?);
            }
            _ => {}
        }
        write_atomic(
            &real,
            content.as_bytes(),
            NewFile {
                mode: 0o644,
                root_owned: false,
            },
        )?;
        out.written.push(real);
    }
    Ok(out)
}

/// Copies `real` to `<name>.vipd-backup-<UTC time>[-N]`, never replacing a file.
fn backup(real: &Path, now_unix: u64) -> Result<PathBuf, MigrateError> {
    let data = fs::read(real).map_err(io_err(real, "read"))?;
    let stamp = utc_stamp(now_unix);
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for n in 0..1000 {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let b = real.with_file_name(format!("{name}.vipd-backup-{stamp}{suffix}"));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&b)
        {
            Ok(mut f) => {
                f.write_all(&data).map_err(io_err(&b, "write"))?;
                f.sync_all().map_err(io_err(&b, "fsync"))?;
                return Ok(b);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(&b, "create the backup")(e)),
        }
    }
    Err(MigrateError::Io {
        path: real.to_path_buf(),
        action: "find a free backup name for",
        source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "1000 backups exist"),
    })
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time (proleptic Gregorian, UTC).
pub fn utc_stamp(unix: u64) -> String {
    let days = (unix / 86400) as i64;
    let secs = unix % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The whole command: plan, print or write, print the follow-up commands.
pub fn run_cli(root: &Path, config: Option<&Path>, dry_run: bool) -> ExitCode {
    let plan = match plan(root, config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("vipctl: {}", e.to_string().trim_end());
            return ExitCode::FAILURE;
        }
    };
    for n in &plan.notes {
        eprintln!("note: {n}");
    }
    if dry_run {
        for (path, content) in &plan.files {
            let real = reroot(root, path);
            if path == Path::new(INTERFACES_PATH)
                && matches!(present(&real, content), Ok(Present::Differs))
            {
                crate::outln!(
                    "would back up {} to {}.vipd-backup-<UTC time>",
                    real.display(),
                    real.display()
                );
            }
            crate::outln!("would write {}:\n{content}", real.display());
        }
    } else {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        match apply(&plan, root, now) {
            Ok(o) => {
                for b in &o.backups {
                    crate::outln!("backed up the previous file to {}", b.display());
                }
                for w in &o.written {
                    crate::outln!("wrote {}", w.display());
                }
                for u in &o.unchanged {
                    crate::outln!("unchanged {}", u.display());
                }
            }
            Err(e) => {
                eprintln!("vipctl: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    crate::outln!(
        "\nThen, on the host (not run by vipctl; from a console, the network is reconfigured):"
    );
    for c in &plan.commands {
        crate::outln!("  {c}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests;
