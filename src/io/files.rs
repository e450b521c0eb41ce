//! Files vipd writes into a system (networkd's files, the hook scripts,
//! the ifupdown migration): written so that their reader (networkd,
//! ifupdown, networkd-dispatcher, run-parts) never sees half a file, with a
//! fixed mode whatever the umask. One implementation for the three writers;
//! each maps [`FsError`] into its own error type.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A failed filesystem step: on which path, doing what.
#[derive(Debug)]
pub struct FsError {
    pub path: PathBuf,
    pub action: &'static str,
    pub source: std::io::Error,
}

fn fs_err(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> FsError {
    let path = path.to_path_buf();
    move |source| FsError {
        path,
        action,
        source,
    }
}

/// Mode and owner of what [`write_atomic`] and [`ensure_dir`] create.
#[derive(Debug, Clone, Copy)]
pub struct NewFile {
    /// Mode of the file (directories created on the way get 0755).
    pub mode: u32,
    /// chown root:root what is created: networkd-dispatcher refuses scripts
    /// owned by anyone else.
    pub root_owned: bool,
}

/// Creates `dir` and its missing parents, 0755 (root-owned if asked); a
/// path that exists and is not a directory (after symlinks) is an error.
pub fn ensure_dir(dir: &Path, root_owned: bool) -> Result<(), FsError> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(FsError {
                path: dir.to_path_buf(),
                action: "use as a directory",
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "it exists and is not a directory",
                ),
            });
        }
        Err(_) => {}
    }
    if let Some(parent) = dir.parent() {
        ensure_dir(parent, root_owned)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
                .map_err(fs_err(dir, "set the mode of"))?;
            if root_owned {
                std::os::unix::fs::chown(dir, Some(0), Some(0)).map_err(fs_err(dir, "chown"))?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(fs_err(dir, "create the directory")(e)),
    }
}

/// Writes `content` to `path`: a dot-named temporary file in the same
/// directory (run-parts and networkd-dispatcher skip dot names), its mode
/// and owner set before the content, fsync, rename over `path`, fsync the
/// directory. The temporary file is removed on failure.
pub fn write_atomic(path: &Path, content: &[u8], new: NewFile) -> Result<(), FsError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    ensure_dir(dir, new.root_owned)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.vipd-tmp"));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(fs_err(&tmp, "create"))?;
        if new.root_owned {
            std::os::unix::fs::fchown(&f, Some(0), Some(0))
                .map_err(fs_err(&tmp, "make root the owner of (run as root)"))?;
        }
        f.set_permissions(fs::Permissions::from_mode(new.mode))
            .map_err(fs_err(&tmp, "set the mode of"))?;
        f.write_all(content).map_err(fs_err(&tmp, "write"))?;
        f.sync_all().map_err(fs_err(&tmp, "fsync"))?;
        fs::rename(&tmp, path).map_err(fs_err(path, "rename the new file into"))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fs_err(dir, "fsync the directory"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vipd-files-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn writes_with_the_mode_asked_and_creates_parents_0755() {
        let d = scratch("mode");
        let f = d.join("a/b/c.conf");
        let new = NewFile {
            mode: 0o644,
            root_owned: false,
        };
        write_atomic(&f, b"one\n", new).unwrap();
        write_atomic(&f, b"two\n", new).unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"two\n");
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o7777, 0o644);
        for dir in [d.join("a"), d.join("a/b")] {
            assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o7777, 0o755);
        }
        // No temporary file left next to it.
        let names: Vec<_> = fs::read_dir(d.join("a/b")).unwrap().collect();
        assert_eq!(names.len(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_file_in_the_way_of_a_directory_is_named() {
        let d = scratch("blocked");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("x"), "").unwrap();
        let e = write_atomic(
            &d.join("x/y.conf"),
            b"",
            NewFile {
                mode: 0o644,
                root_owned: false,
            },
        )
        .unwrap_err();
        assert_eq!(e.path, d.join("x"));
        assert_eq!(e.action, "use as a directory");
        fs::remove_dir_all(&d).unwrap();
    }
}
