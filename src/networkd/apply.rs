//! Carrying out a [`Plan`] under a root directory, atomically per file and
//! all-or-nothing with respect to files vipd did not write.

use std::fs;

use std::path::{Component, Path, PathBuf};

use super::{ApplySummary, FileAction, NetworkdError, Plan, is_vipd_content};
use crate::io::files::{NewFile, write_atomic};

/// `path` (absolute on the target system) under `root`.
pub(crate) fn reroot(root: &Path, path: &Path) -> Result<PathBuf, NetworkdError> {
    let bad = || NetworkdError::BadPath {
        path: path.to_path_buf(),
    };
    let mut comps = path.components();
    if comps.next() != Some(Component::RootDir) {
        return Err(bad());
    }
    let mut out = root.to_path_buf();
    for c in comps {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> NetworkdError {
    let path = path.to_path_buf();
    move |source| NetworkdError::Io {
        path,
        action,
        source,
    }
}

/// What is at a path now.
enum Present {
    Missing,
    /// A regular file vipd wrote, with its content.
    Vipd(Vec<u8>),
    /// An empty-or-not directory.
    Dir,
    /// Anything else: a file without the header, a symlink, a device.
    Foreign,
}

fn present(path: &Path) -> Result<Present, NetworkdError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        // A parent that is not a directory is reported by blocking_ancestor().
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Present::Missing);
        }
        Err(e) => return Err(io_err(path, "inspect")(e)),
    };
    if meta.is_dir() {
        return Ok(Present::Dir);
    }
    if !meta.is_file() {
        return Ok(Present::Foreign);
    }
    let content = fs::read(path).map_err(io_err(path, "read"))?;
    Ok(if is_vipd_content(&content) {
        Present::Vipd(content)
    } else {
        Present::Foreign
    })
}

/// Applies `plan` under `root` ("/" = the live system). Every target is
/// checked first: if any file to write or remove exists without the vipd
/// header, nothing at all is changed and the error names them. Then files
/// are written only where the content differs (temporary file in the same
/// directory, mode 0644, fsync, rename, fsync of the directory; missing
/// directories are created with mode 0755), vipd files are removed, and
/// drop-in directories planned for removal are removed if they are empty by
/// then.
pub fn apply(plan: &Plan, root: &Path) -> Result<ApplySummary, NetworkdError> {
    // 1. Resolve and check everything before touching anything.
    let mut resolved = Vec::with_capacity(plan.actions.len());
    let mut foreign = Vec::new();
    for action in &plan.actions {
        let real = reroot(root, action.path())?;
        let now = present(&real)?;
        match (action, &now) {
            (_, Present::Foreign) | (FileAction::Write { .. }, Present::Dir) => {
                foreign.push(real.clone())
            }
            _ => {}
        }
        if let FileAction::Write { .. } = action
            && let Some(blocker) = blocking_ancestor(root, &real)
        {
            foreign.push(blocker);
        }
        resolved.push((action, real, now));
    }
    if !foreign.is_empty() {
        return Err(NetworkdError::Foreign { paths: foreign });
    }

    // 2. Writes.
    let mut summary = ApplySummary::default();
    for (action, real, now) in &resolved {
        let FileAction::Write { content, .. } = action else {
            continue;
        };
        if let Present::Vipd(old) = now
            && old == content.as_bytes()
        {
            summary.unchanged.push(real.clone());
            continue;
        }
        write_atomic(real, content.as_bytes(), NETWORKD_FILE)?;
        summary.written.push(real.clone());
    }

    // 3. File removals, then directories (only if empty).
    for (action, real, now) in &resolved {
        if let (FileAction::Remove { .. }, Present::Vipd(_)) = (action, now) {
            match fs::remove_file(real) {
                Ok(()) => summary.removed.push(real.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(real, "remove")(e)),
            }
        }
    }
    for (action, real, now) in &resolved {
        if let (FileAction::Remove { .. }, Present::Dir) = (action, now) {
            // Not empty (someone else's drop-in) or gone: leave it.
            if fs::remove_dir(real).is_ok() {
                summary.removed.push(real.clone());
            }
        }
    }
    Ok(summary)
}

/// The nearest existing ancestor of `path` (below `root`) when it is not a
/// directory: the file could not be created there.
fn blocking_ancestor(root: &Path, path: &Path) -> Option<PathBuf> {
    for anc in path.ancestors().skip(1) {
        if anc == root || !anc.starts_with(root) {
            return None;
        }
        match fs::metadata(anc) {
            Ok(m) if m.is_dir() => return None,
            Ok(_) => return Some(anc.to_path_buf()),
            Err(_) if fs::symlink_metadata(anc).is_ok() => return Some(anc.to_path_buf()),
            Err(_) => {}
        }
    }
    None
}

/// networkd reads these files as root; 0644 like the files it ships.
const NETWORKD_FILE: NewFile = NewFile {
    mode: 0o644,
    root_owned: false,
};
