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
use std::os::unix::fs::OpenOptionsExt;
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
        let what = crate::file_kind::describe(kind);
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
/// is crossed. A linear scan of what YAML's scanner will stack up: block
/// levels are the indentation columns open on an indentation stack (each
/// `- ` or `? ` opening one more), flow levels the `[` and `{` open outside
/// quotes, comments, block scalars (`|`, `>`) and plain scalars (`a[1`,
/// and a plain scalar's continuation lines). A quote or bracket is taken as
/// syntax only where YAML's scanner takes it so; where the scan cannot
/// tell, it counts.
pub fn check_nesting(text: &str, path: &Path) -> Result<(), ConfigError> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<u8> = None;
    // In a block scalar: lines indented more than `parent` (and at least as
    // much as its first line) are its text.
    let mut literal: Option<(usize, Option<usize>)> = None;
    // How the last content line ended, and its indentation: a line more
    // indented after a plain scalar continues that scalar.
    let mut last_end = LineEnd::Indicator;
    let mut last_lead = 0usize;
    for (n, line) in text.lines().enumerate() {
        let b = line.as_bytes();
        let lead = b.iter().take_while(|c| **c == b' ').count();
        let rest = &b[lead..];
        if let Some((parent, content)) = literal {
            let inside = match content {
                _ if rest.is_empty() => true,
                None => lead > parent,
                Some(c) => lead >= c,
            };
            if inside {
                if content.is_none() && !rest.is_empty() {
                    literal = Some((parent, Some(lead)));
                }
                continue;
            }
            literal = None;
        }
        let mut i = 0;
        // Where the line's own content starts (after `- ` indicators), and
        // the column of its last `- `.
        let mut content_col = 0;
        let mut last_dash = lead;
        // Inside a plain scalar until `: ` or ` #`.
        let mut plain = false;
        if quote.is_none() {
            if rest.is_empty() || rest[0] == b'#' {
                continue;
            }
            plain = flow == 0 && last_end == LineEnd::Plain && lead > last_lead;
            if !plain {
                last_lead = lead;
                // The indentation of this line closes deeper levels and may
                // open one.
                while indents.last().is_some_and(|top| *top > lead) {
                    indents.pop();
                }
                if indents.last() != Some(&lead) {
                    indents.push(lead);
                }
                i = lead;
                // Compact nested sequences and keys: `- - - x`, `? - x`.
                while i + 1 < b.len() && matches!(b[i], b'-' | b'?') && b[i + 1] == b' ' {
                    last_dash = i;
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
                content_col = i;
            }
        }
        // The rest of the line: quotes, comments, plain scalars and flow
        // brackets. `prev` is the last non-blank character outside quotes
        // (`a` for a plain scalar), None at the start of the content.
        let mut prev: Option<u8> = None;
        let mut last_token_col = content_col;
        while i < b.len() {
            let c = b[i];
            let blank_before = i == 0 || matches!(b[i - 1], b' ' | b'\t');
            match quote {
                Some(b'"') => {
                    if c == b'\\' {
                        i += 1;
                    } else if c == b'"' {
                        quote = None;
                        prev = Some(c);
                    }
                }
                Some(_) => {
                    if c == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 1;
                        } else {
                            quote = None;
                            prev = Some(c);
                        }
                    }
                }
                None if c == b'#' && blank_before => break,
                None if matches!(c, b' ' | b'\t') => {}
                None if plain => {
                    // A plain scalar ends at `: `; in flow context also at
                    // `,`, `]` and `}` (handled as syntax below).
                    let ends = c == b':' && matches!(b.get(i + 1), None | Some(b' ' | b'\t'));
                    if ends {
                        plain = false;
                        prev = Some(b':');
                    } else if flow > 0 && matches!(c, b',' | b']' | b'}') {
                        plain = false;
                        if c == b',' {
                            prev = Some(c);
                        } else {
                            flow -= 1;
                            prev = Some(c);
                        }
                    }
                }
                None => {
                    last_token_col = i;
                    let token_start = match prev {
                        None => true,
                        Some(b':' | b'-' | b'?') => blank_before,
                        Some(b'[' | b'{' | b',') => flow > 0,
                        Some(_) => false,
                    };
                    match c {
                        b'"' | b'\'' if token_start => quote = Some(c),
                        b'[' | b'{' if token_start || flow > 0 => {
                            flow += 1;
                            if indents.len() + flow > MAX_NESTING {
                                return Err(too_deep(path, n + 1, i + 1));
                            }
                        }
                        b']' | b'}' if flow > 0 => flow -= 1,
                        b':' | b'-' | b'?' | b',' | b']' | b'}' => {}
                        b'|' | b'>' if token_start && flow == 0 => {}
                        _ => plain = true,
                    }
                    prev = Some(if plain { b'a' } else { c });
                }
            }
            i += 1;
        }
        if quote.is_none() {
            last_end = match prev {
                None | Some(b':' | b'-' | b'?') => LineEnd::Indicator,
                Some(b'a') if flow == 0 => LineEnd::Plain,
                _ => LineEnd::Other,
            };
            // `key: |`, `- >-`, `|2`: a block scalar's text follows.
            let token = b[last_token_col.min(b.len())..]
                .split(|c| *c == b' ' || *c == b'\t')
                .next()
                .unwrap_or(&[]);
            if flow == 0
                && matches!(token.first(), Some(b'|' | b'>'))
                && token[1..]
                    .iter()
                    .all(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-'))
            {
                let parent = if last_token_col > content_col {
                    // `key: |`: the key's column.
                    content_col
                } else if content_col > lead {
                    // `- |`: the dash's column.
                    last_dash
                } else {
                    lead.saturating_sub(1)
                };
                literal = Some((parent, None));
                last_end = LineEnd::Other;
            }
        }
    }
    Ok(())
}

/// How a line ended, for the next one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LineEnd {
    /// `:`, `-`, `?` or nothing: a value may follow on the next line.
    Indicator,
    /// A plain scalar: a more indented next line continues it.
    Plain,
    /// A quoted scalar, a bracket, a block scalar header.
    Other,
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
    use std::path::{Path, PathBuf};

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
        // Block scalars, plain scalars over lines, quotes of every kind.
        let more = "a: |\n  \"text [[[ {{{\n    more ' text\nb: >-\n  x\n- |2\n   'y\nc: abc [\n  def \" [[\nd: 'x''y [' # ]]\ne: \"a\\\" [\"\n";
        assert_eq!(depth_err(more), None);
        // Every YAML file in the tree passes (examples, netplan files).
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "yaml") {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        for dir in ["units", "netplan-examples", "tests"] {
            walk(
                Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).as_path(),
                &mut files,
            );
        }
        assert!(files.len() > 10, "{files:?}");
        for p in files {
            let t = std::fs::read_to_string(&p).unwrap();
            assert_eq!(depth_err(&t), None, "{}", p.display());
        }
    }

    // Quotes, block scalars and plain scalars cannot hide a bomb: each of
    // these puts the scan out of step with YAML if it reads them wrong.
    #[test]
    fn nothing_hides_nesting_from_the_check() {
        let flow = format!("b: {}{}", "[".repeat(40_000), "]".repeat(40_000));
        let dashes = format!("{}x", "- ".repeat(40_000));
        let items = format!("b: {}1{}", "[ \"]\", ".repeat(40_000), "]".repeat(40_000));
        for bomb in [&flow, &dashes, &items] {
            let cases = [
                format!("{bomb}\n"),
                // `key:"x` is a plain scalar, no quote.
                format!("k:\"x\n{bomb}\n"),
                // A block scalar's text, quotes in it.
                format!("a: |\n  \"x\n  'y\n{bomb}\n"),
                format!("- a: >\n    \"x\n  b:\n{bomb}\n"),
                // A plain scalar continued by a line starting with a quote.
                format!("a: abc\n  \"def\n{bomb}\n"),
                // An unclosed bracket inside a plain scalar.
                format!("a: x[\n{bomb}\n"),
                // Comments and quotes before it on the line.
                format!("a: 'it''s' # \"\n{bomb}\n"),
            ];
            for text in cases {
                assert!(
                    depth_err(&text).is_some(),
                    "not refused: {}",
                    &text[..text.len().min(60)]
                );
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
