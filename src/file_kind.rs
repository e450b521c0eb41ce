//! Names a file's type for error messages ("... is a FIFO (named pipe), not
//! a regular file"), so the config reader and the control socket describe
//! what they found at a path in the same words.

use std::fs::FileType;
use std::os::unix::fs::FileTypeExt;

/// "a regular file", "a directory", "a FIFO (named pipe)", ... for `kind`
/// (from `symlink_metadata` when links must not be followed).
pub fn describe(kind: FileType) -> &'static str {
    if kind.is_file() {
        "a regular file"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a file of unknown type"
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn names_what_is_at_a_path() {
        let dir = std::env::temp_dir();
        let kind = |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap().file_type();
        assert_eq!(describe(kind(&dir)), "a directory");
        assert_eq!(
            describe(kind(std::path::Path::new("/dev/null"))),
            "a character device"
        );
        let file = dir.join(format!("vipd-file-kind-{}", std::process::id()));
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(describe(kind(&file)), "a regular file");
        std::fs::remove_file(&file).unwrap();
    }
}
