//! What a script vipd runs must be, before it runs it: a regular file, and
//! neither it nor any directory above it writable by anyone but root (else
//! whoever can write there gets the script user's, or worse, vipd's hands).
//! keepalived's `enable_script_security` has the same rule.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::{Command, Config, TrackerKind};
use crate::io::script::ScriptUser;

/// What a configuration needs before it may run: safe scripts, and the
/// script user (None when nothing runs scripts). Checked by the daemon at
/// start and on reload (a failure refuses the file) and by `vipctl check`.
pub fn script_user_for(config: &Config) -> Result<Option<ScriptUser>, Vec<String>> {
    if commands(config).is_empty() {
        return Ok(None);
    }
    let mut problems = check(config);
    let user = ScriptUser::resolve(config.script_user.as_deref()).map_err(|e| problems.push(e));
    match (problems.is_empty(), user) {
        (true, Ok(u)) => Ok(Some(u)),
        _ => Err(problems),
    }
}

/// Every command the configuration runs, with where it is configured.
pub fn commands(c: &Config) -> Vec<(String, &Command)> {
    let mut out = Vec::new();
    for (name, t) in &c.trackers {
        if let TrackerKind::Exec(cmd) = &t.kind {
            out.push((format!("tracker {name:?}"), cmd));
        }
    }
    for i in &c.instances {
        for (key, cmd) in i.notify.commands() {
            out.push((format!("instance {:?} notify.{key}", i.name), cmd));
        }
    }
    for (name, g) in &c.groups {
        for (key, cmd) in g.notify.commands() {
            out.push((format!("group {name:?} notify.{key}"), cmd));
        }
    }
    out
}

/// Every unsafe script of the configuration, one message each (empty: all
/// are safe).
pub fn check(c: &Config) -> Vec<String> {
    commands(c)
        .into_iter()
        .filter_map(|(place, cmd)| {
            let program = cmd.program()?;
            check_path(Path::new(program))
                .err()
                .map(|e| format!("{place}: {e}"))
        })
        .collect()
}

/// Whether `path` is safe to run: an executable regular file, it and its
/// directories owned by root and not writable by group or others.
pub fn check_path(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}: the script must exist", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if meta.mode() & 0o111 == 0 {
        return Err(format!(
            "{} is not executable: chmod 755 it",
            path.display()
        ));
    }
    let mut at: Option<PathBuf> = Some(path.to_path_buf());
    while let Some(p) = at {
        let m = std::fs::metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        if m.uid() != 0 || m.mode() & 0o022 != 0 {
            return Err(format!(
                "{} is writable by someone other than root (owner uid {}, mode {:o}): whoever can write it could run anything as the script user; chown root and chmod go-w it",
                p.display(),
                m.uid(),
                m.mode() & 0o7777
            ));
        }
        at = p
            .parent()
            .map(Path::to_path_buf)
            .filter(|q| !q.as_os_str().is_empty());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    // Runs as root in CI (the labs need it); as another user the owner
    // checks cannot be set up, so the test says so and checks less.
    #[test]
    fn unsafe_scripts_are_named() {
        assert!(
            check_path(Path::new("/bin/sh")).is_ok(),
            "a system binary is safe"
        );
        let dir = std::env::temp_dir().join(format!("vipd-sec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let script = dir.join("check");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = check_path(&script).unwrap_err();
        assert!(e.contains("not executable"), "{e}");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_path(&script).unwrap_err();
        assert!(e.contains("writable by someone other than root"), "{e}");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        // /tmp itself is world-writable (sticky): a script below it is unsafe.
        let e = check_path(&script).unwrap_err();
        assert!(
            e.contains(&std::env::temp_dir().display().to_string())
                || !nix::unistd::Uid::effective().is_root(),
            "{e}"
        );
        let e = check_path(&dir.join("missing")).unwrap_err();
        assert!(e.contains("must exist"), "{e}");
        assert!(check_path(&dir).unwrap_err().contains("not a regular file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
