//! Reading the configuration file before the YAML parser sees it: only a
//! regular file, at most [`MAX_CONFIG_BYTES`], nested at most
//! [`MAX_NESTING`] levels.
//!
//! Why: the daemon must never stall on its own configuration. Opening a
//! FIFO blocks until a writer comes, a device may never end, and
//! serde_norway's scanner is quadratic in nesting depth (`instances: `
//! followed by 40,000 `[` and `]`, 80 KB, takes 8.5 s). A vipd
//! configuration nests about six levels and weighs a few kilobytes, so the
//! limits are far above any real file and far below any that hurts.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use super::ConfigError;

/// The largest configuration file read (1 MiB): a configuration of 255
/// instances with trackers and hooks is under 100 KB.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The deepest nesting accepted (block and flow levels together). A vipd
/// configuration nests at most six (instances, an instance, its notify
/// hooks, a hook, its command, an argument).
pub const MAX_NESTING: usize = 64;

/// The text of the file at `path`, refused unless it is a regular file of at
/// most [`MAX_CONFIG_BYTES`] bytes in UTF-8, nested at most [`MAX_NESTING`]
/// levels. Never blocks on a FIFO or a device: the file is opened
/// non-blocking and its type checked on the opened descriptor (no race with
/// a rename between a check and the open).
pub fn read_config_text(path: &Path) -> Result<String, ConfigError> {
    let whole = |m: String| ConfigError::whole_file(path, m);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| whole(format!("cannot read the configuration file: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| whole(format!("cannot read the configuration file: {e}")))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO (named pipe)"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(whole(format!(
            "is {what}, not a regular file: vipd reads its configuration only from a regular \
             file; put the configuration in a regular file at this path (check it with \
             `vipctl check`)"
        )));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_big(path));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow between the stat and the read: read one byte more
    // than allowed to tell.
    read_at_most(file, MAX_CONFIG_BYTES + 1, &mut bytes)
        .map_err(|e| whole(format!("cannot read the configuration file: {e}")))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_big(path));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let (line, column) = line_column(e.as_bytes(), at);
        ConfigError {
            file: path.to_path_buf(),
            line: Some(line),
            column: Some(column),
            message: "not UTF-8 text: save the file as UTF-8".into(),
        }
    })?;
    check_nesting(&text, path)?;
    Ok(text)
}

fn read_at_most(file: File, limit: u64, out: &mut Vec<u8>) -> std::io::Result<()> {
    file.take(limit).read_to_end(out).map(|_| ())
}

fn too_big(path: &Path) -> ConfigError {
    ConfigError::whole_file(
        path,
        format!(
            "larger than {MAX_CONFIG_BYTES} bytes (1 MiB), the most vipd reads: a configuration \
             is a few kilobytes; is this the right file?"
        ),
    )
}

/// 1-based line and column of byte `at`.
fn line_column(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    (line, at - start + 1)
}

/// Refuses text nested deeper than [`MAX_NESTING`], located where the limit
/// is crossed. A linear scan that over-estimates rather than misses: block
/// levels are the indentation columns open on the indentation stack (each
/// `- ` or `? ` opening one more), flow levels the `[` and `{` open outside
/// quotes and comments. It never rejects a file serde_norway would take at
/// a sane depth, because every level it counts is a level the YAML scanner
/// keeps too.
pub fn check_nesting(text: &str, path: &Path) -> Result<(), ConfigError> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<u8> = None;
    for (n, line) in text.lines().enumerate() {
        let b = line.as_bytes();
        let mut i = 0;
        if quote.is_none() && flow == 0 {
            // Block context: the indentation of this line closes deeper
            // levels and may open one.
            let lead = b.iter().take_while(|c| **c == b' ').count();
            let rest = &b[lead..];
            if rest.is_empty() || rest[0] == b'#' {
                continue;
            }
            while indents.last().is_some_and(|top| *top > lead) {
                indents.pop();
            }
            if indents.last() != Some(&lead) {
                indents.push(lead);
            }
            i = lead;
            // Compact nested sequences and keys: `- - - x`, `? - x`.
            while i + 1 < b.len() && matches!(b[i], b'-' | b'?') && b[i + 1] == b' ' {
                i += 2;
                while i < b.len() && b[i] == b' ' {
                    i += 1;
                }
                indents.push(i);
                if indents.len() + flow > MAX_NESTING {
                    return Err(too_deep(path, n + 1, i + 1));
                }
            }
            if indents.len() > MAX_NESTING {
                return Err(too_deep(path, n + 1, lead + 1));
            }
        }
        // The rest of the line: quotes, comments and flow brackets.
        let mut prev_sig: Option<u8> = None;
        while i < b.len() {
            let c = b[i];
            match quote {
                Some(b'"') => {
                    if c == b'\\' {
                        i += 1;
                    } else if c == b'"' {
                        quote = None;
                    }
                }
                Some(_) => {
                    if c == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 1;
                        } else {
                            quote = None;
                        }
                    }
                }
                None => match c {
                    b'#' if i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t' => break,
                    b'"' | b'\'' if starts_value(prev_sig, flow) => quote = Some(c),
                    b'[' | b'{' if flow > 0 || starts_value(prev_sig, flow) => {
                        flow += 1;
                        if indents.len() + flow > MAX_NESTING {
                            return Err(too_deep(path, n + 1, i + 1));
                        }
                    }
                    b']' | b'}' if flow > 0 => flow -= 1,
                    _ => {}
                },
            }
            if quote.is_none() && c != b' ' && c != b'\t' {
                prev_sig = Some(c);
            }
            i += 1;
        }
    }
    Ok(())
}

/// Whether a character after `prev` (the last non-blank one on the line,
/// None at its start) begins a value: a quote or bracket there is syntax,
/// elsewhere it is part of a plain scalar (`name: a[1]`).
fn starts_value(prev: Option<u8>, flow: usize) -> bool {
    match prev {
        None => true,
        Some(b':' | b'-' | b'?') => true,
        Some(b'[' | b'{' | b',') => flow > 0,
        Some(_) => false,
    }
}

fn too_deep(path: &Path, line: usize, column: usize) -> ConfigError {
    ConfigError {
        file: path.to_path_buf(),
        line: Some(line),
        column: Some(column),
        message: format!(
            "nested deeper than {MAX_NESTING} levels: a vipd configuration nests a few levels \
             (instances, an instance, its lists); check the brackets and indentation here"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("vipd-read-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn depth_err(text: &str) -> Option<(usize, usize)> {
        check_nesting(text, Path::new("t"))
            .err()
            .map(|e| (e.line.unwrap(), e.column.unwrap()))
    }

    #[test]
    fn real_configs_pass_the_nesting_check() {
        let real = "instances:\n  - name: web\n    interface: eth0\n    vips: [192.0.2.1/24, {a: [1, [2]]}]\n    notify:\n      master:\n        - command: [\"/bin/echo\", 'it''s [', \"a\\\" {\"]\n    # comment [[[[[\n    name2: a[b{c # [[[\n";
        assert_eq!(depth_err(real), None);
        // Every seed configuration in the tree passes.
        for dir in ["tests/fixtures", "units/examples", "netplan-examples"] {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "yaml")
                    && let Ok(t) = std::fs::read_to_string(&p)
                {
                    assert_eq!(depth_err(&t), None, "{}", p.display());
                }
            }
        }
    }

    #[test]
    fn deep_flow_and_block_nesting_is_refused_where_it_crosses() {
        let flow = format!("instances: {}{}\n", "[".repeat(40_000), "]".repeat(40_000));
        // `instances: ` is 11 columns; 1 block level + 64 flow levels fit.
        assert_eq!(depth_err(&flow), Some((1, 12 + 63)));
        let at_limit = format!("x: {}{}\n", "[".repeat(63), "]".repeat(63));
        assert_eq!(depth_err(&at_limit), None);
        let over = format!("x: {}{}\n", "[".repeat(64), "]".repeat(64));
        assert_eq!(depth_err(&over), Some((1, 67)));
        // Across lines, and in a mapping.
        let lines = format!("a:\n  b: {}\n{}\n", "{k: ".repeat(100), "}".repeat(100));
        assert!(matches!(depth_err(&lines), Some((2, _))));
        // Compact block sequences: `- - - ...`.
        let dashes = format!("instances:\n{}x\n", "- ".repeat(40_000));
        assert_eq!(depth_err(&dashes), Some((2, 2 * 64 + 1)));
        // Indentation, one level per line.
        let mut stairs = String::new();
        for d in 0..100 {
            stairs.push_str(&format!("{}k{d}:\n", " ".repeat(d)));
        }
        assert_eq!(depth_err(&stairs), Some((65, 65)));
        // Levels close again: many shallow blocks are fine.
        let wide = "a:\n  - [1, [2]]\n".repeat(10_000);
        assert_eq!(depth_err(&wide), None);
    }

    #[test]
    fn only_regular_files_are_read() {
        let d = dir();
        let fifo = d.join("fifo.yaml");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // Returns at once (no writer): the open is non-blocking.
        let e = read_config_text(&fifo).unwrap_err();
        assert!(e.message.contains("FIFO"), "{e}");
        assert!(e.message.contains("regular file"), "{e}");
        let e = read_config_text(&d).unwrap_err();
        assert!(e.message.contains("is a directory"), "{e}");
        let e = read_config_text(Path::new("/dev/zero")).unwrap_err();
        assert!(e.message.contains("character device"), "{e}");
        assert_eq!(e.to_string().split(':').next(), Some("/dev/zero"));
        let _ = std::fs::remove_file(&fifo);
    }

    #[test]
    fn size_and_encoding_limits() {
        let d = dir();
        let big = d.join("big.yaml");
        std::fs::write(&big, vec![b'#'; MAX_CONFIG_BYTES as usize + 1]).unwrap();
        let e = read_config_text(&big).unwrap_err();
        assert!(e.message.contains("1 MiB"), "{e}");
        std::fs::write(&big, vec![b'#'; MAX_CONFIG_BYTES as usize]).unwrap();
        assert!(read_config_text(&big).is_ok());
        std::fs::write(&big, b"a: 1\nb: x\xffy\n").unwrap();
        let e = read_config_text(&big).unwrap_err();
        assert_eq!((e.line, e.column), (Some(2), Some(5)), "{e}");
        let _ = std::fs::remove_file(&big);
    }
}
