//! Stage 1, lexing: keepalived's syntax is line based. Words are separated
//! by blanks; `#` and `!` start a comment outside quoted strings; `"..."` is
//! one word; `{` and `}` are tokens of their own even when glued to a word
//! (`virtual_ipaddress{`). A line whose first word is `include` is replaced
//! by the files its glob pattern matches (sorted, relative to the including
//! file's directory, like keepalived), so includes work at any nesting
//! level. Every token keeps its file and line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::{ImportError, MAX_INCLUDE_DEPTH, Root, Warnings, read_text};

/// A position in one read of one file (`file_id` tells two reads of the same
/// file apart, so "same line" is never confused across includes).
#[derive(Debug, Clone)]
pub(super) struct Loc {
    pub file: Rc<PathBuf>,
    pub file_id: usize,
    pub line: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// An import error at `loc`.
pub(super) fn error(loc: &Loc, message: impl Into<String>) -> ImportError {
    ImportError::at_line(&loc.file, loc.line, message)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Word,
    Quoted,
    Open,
    Close,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub text: String,
    pub kind: Kind,
    pub loc: Loc,
}

impl Token {
    pub fn is_word(&self) -> bool {
        matches!(self.kind, Kind::Word | Kind::Quoted)
    }

    pub fn same_line(&self, other: &Token) -> bool {
        self.loc.file_id == other.loc.file_id && self.loc.line == other.loc.line
    }

    /// The word as written (quoted words keep their quotes), for messages.
    pub fn shown(&self) -> String {
        match self.kind {
            Kind::Quoted => format!("{:?}", self.text),
            _ => self.text.clone(),
        }
    }
}

/// The tokens of `text` and of everything it includes; absolute include
/// patterns are looked up under `root`.
pub(super) fn lex(
    origin: &Path,
    text: &str,
    root: Root,
    warnings: &mut Warnings,
) -> Result<Vec<Token>, ImportError> {
    let mut lexer = Lexer {
        tokens: Vec::new(),
        warnings,
        next_file_id: 0,
        root,
    };
    lexer.lex(origin, text, 0)?;
    Ok(lexer.tokens)
}

struct Lexer<'w> {
    tokens: Vec<Token>,
    warnings: &'w mut Warnings,
    next_file_id: usize,
    root: Root<'w>,
}

impl Lexer<'_> {
    fn lex(&mut self, path: &Path, text: &str, depth: usize) -> Result<(), ImportError> {
        let file = Rc::new(path.to_path_buf());
        let file_id = self.next_file_id;
        self.next_file_id += 1;
        for (i, line) in text.lines().enumerate() {
            let loc = Loc {
                file: file.clone(),
                file_id,
                line: i + 1,
            };
            let tokens = lex_line(line, &loc)?;
            let Some(first) = tokens.first() else {
                continue;
            };
            if first.kind == Kind::Word {
                if first.text == "include" {
                    self.include(&tokens, path, depth)?;
                    continue;
                }
                refuse_preprocessor_lines(first, line)?;
            }
            self.tokens.extend(tokens);
        }
        Ok(())
    }

    fn include(
        &mut self,
        tokens: &[Token],
        including: &Path,
        depth: usize,
    ) -> Result<(), ImportError> {
        let kw = &tokens[0];
        let Some(pattern) = tokens.get(1).filter(|t| t.is_word()) else {
            return Err(error(&kw.loc, "include needs a file name or glob pattern"));
        };
        if tokens.len() > 2 {
            let extra: Vec<String> = tokens[2..].iter().map(Token::shown).collect();
            self.warnings.warn(
                &kw.loc,
                format_args!(
                    "include {}: extra words {} ignored (keepalived reads only the first)",
                    pattern.shown(),
                    extra.join(" ")
                ),
            );
        }
        let full = include_glob(&pattern.text, including, self.root);
        let files = self.matching_files(kw, pattern, &full)?;
        if files.is_empty() {
            self.warnings.unmatched_include(
                &kw.loc,
                &pattern.text,
                format_args!(
                    "include {}: no file matches {full:?}; skipped (keepalived skips it too)",
                    pattern.shown()
                ),
            );
            return Ok(());
        }
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return Err(error(
                &kw.loc,
                format!(
                    "include {}: includes nest deeper than {MAX_INCLUDE_DEPTH} levels (does a file include itself?)",
                    pattern.shown()
                ),
            ));
        }
        for file in files {
            let text = read_text(&file).map_err(|e| {
                error(
                    &kw.loc,
                    format!(
                        "include {}: cannot read {}: {e}",
                        pattern.shown(),
                        file.display()
                    ),
                )
            })?;
            self.lex(&file, &text, depth + 1)?;
        }
        Ok(())
    }

    /// The files `full` matches, sorted; directories are skipped with a warning.
    fn matching_files(
        &mut self,
        kw: &Token,
        pattern: &Token,
        full: &str,
    ) -> Result<Vec<PathBuf>, ImportError> {
        let entries = glob::glob(full).map_err(|e| {
            error(
                &kw.loc,
                format!("include {}: invalid glob pattern: {e}", pattern.shown()),
            )
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let path =
                entry.map_err(|e| error(&kw.loc, format!("include {}: {e}", pattern.shown())))?;
            if path.is_dir() {
                self.warnings.warn(
                    &kw.loc,
                    format_args!(
                        "include {}: {} is a directory, skipped",
                        pattern.shown(),
                        path.display()
                    ),
                );
            } else {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }
}

/// The glob of an include pattern: relative patterns are relative to the
/// including file's directory, absolute ones to `root`; both directories
/// are taken literally (only the pattern globs).
fn include_glob(pattern: &str, including: &Path, root: Root) -> String {
    if Path::new(pattern).is_absolute() {
        return match root {
            Root::Host => pattern.to_string(),
            Root::Copy(dir) => {
                let below = super::below_root(Path::new(pattern));
                let dir = glob::Pattern::escape(&dir.to_string_lossy());
                let dir = dir.trim_end_matches(std::path::MAIN_SEPARATOR);
                format!(
                    "{dir}{}{}",
                    std::path::MAIN_SEPARATOR,
                    below.to_string_lossy()
                )
            }
        };
    }
    let base = including.parent().unwrap_or(Path::new(""));
    let base = base.to_string_lossy();
    if base.is_empty() {
        pattern.to_string()
    } else {
        format!(
            "{}{}{pattern}",
            glob::Pattern::escape(&base),
            std::path::MAIN_SEPARATOR,
        )
    }
}

/// keepalived's `@host` conditional lines and `$NAME=...` parameters would
/// need the host's identity and a substitution pass: refused, with what to do.
fn refuse_preprocessor_lines(first: &Token, line: &str) -> Result<(), ImportError> {
    if first.text.starts_with('@') {
        return Err(error(
            &first.loc,
            format!(
                "{}: keepalived's per-host conditional lines (@host) are not supported by the importer: keep the lines meant for this host without the @ prefix and delete the others",
                first.text
            ),
        ));
    }
    if first.text.starts_with('$') && line.contains('=') {
        return Err(error(
            &first.loc,
            "keepalived parameter definitions ($NAME=...) are not supported by the importer: substitute the values by hand",
        ));
    }
    Ok(())
}

fn lex_line(line: &str, loc: &Loc) -> Result<Vec<Token>, ImportError> {
    struct Word {
        text: String,
        quoted: bool,
        started: bool,
    }
    fn flush(out: &mut Vec<Token>, w: &mut Word, loc: &Loc) {
        if w.started {
            out.push(Token {
                text: std::mem::take(&mut w.text),
                kind: if w.quoted { Kind::Quoted } else { Kind::Word },
                loc: loc.clone(),
            });
        }
        w.quoted = false;
        w.started = false;
    }
    let mut out = Vec::new();
    let mut w = Word {
        text: String::new(),
        quoted: false,
        started: false,
    };
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                w.started = true;
                w.quoted = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(ch) => w.text.push(ch),
                        None => {
                            return Err(error(
                                loc,
                                "unterminated quoted string (missing closing \")",
                            ));
                        }
                    }
                }
            }
            '#' | '!' => break,
            '{' | '}' => {
                flush(&mut out, &mut w, loc);
                out.push(Token {
                    text: c.to_string(),
                    kind: if c == '{' { Kind::Open } else { Kind::Close },
                    loc: loc.clone(),
                });
            }
            c if c.is_whitespace() => flush(&mut out, &mut w, loc),
            c => {
                w.started = true;
                w.text.push(c);
            }
        }
    }
    flush(&mut out, &mut w, loc);
    Ok(out)
}
