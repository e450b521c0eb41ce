//! Import of a keepalived.conf (its VRRP side) into vipd's configuration.
//!
//! Three stages:
//!
//! 1. **Lexing** (`Lexer`): keepalived's syntax is line based. Words are
//!    separated by blanks; `#` and `!` start a comment outside quoted strings;
//!    `"..."` is one word; `{` and `}` are tokens of their own even when glued
//!    to a word (`virtual_ipaddress{`). A line whose first word is `include`
//!    is replaced by the files its glob pattern matches (sorted, relative to
//!    the including file's directory, like keepalived), so includes work at
//!    any nesting level. Every token keeps its file and line.
//! 2. **Parsing** (`Parser`): a statement is a keyword plus the words that
//!    follow it on the same line, optionally followed by a `{ ... }` block
//!    (on the same or the next line). Unbalanced braces are errors.
//! 3. **Translation** (`Importer`): `global_defs` and `vrrp_instance` blocks
//!    become a [`Config`]; everything vipd does not (yet) have produces a
//!    warning naming the keyword and its `file:line`. Nothing is dropped
//!    silently. The result is finally run through [`Config::parse`] so the
//!    importer never hands out YAML that vipd would refuse to load.
//!
//! Where keepalived itself adjusts a configuration (VRRPv2 advert intervals
//! rounded to whole seconds, `auth_pass` cut to 8 characters, IPv6 instances
//! run as VRRPv3, authentication ignored with VRRPv3, ...), the importer does
//! the same and says so, so the imported router keeps talking to keepalived
//! peers exactly as before.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use crate::config::{
    Config, GarpConfig, InitialState, InstanceConfig, UnicastConfig, Vip, VipDevice, VipDeviceKind,
    VrrpVersion, check_ifname, parse_cidr,
};
use crate::family::Family;

/// How deep `include` may nest before the importer assumes a loop.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// Deepest `{ }` nesting accepted (keepalived itself never goes past 4).
const MAX_BLOCK_DEPTH: usize = 64;

/// The outcome of an import: a configuration vipd accepts, and what the
/// operator must look at (one line each, `FILE:LINE: ...`).
#[derive(Debug, Clone)]
pub struct Import {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// A keepalived.conf the importer cannot translate, located in its file.
/// `line` is 0 when the error concerns the whole file (e.g. it cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

impl std::error::Error for ImportError {}

/// Reads and translates a keepalived.conf, following its `include`s.
pub fn import_file(path: &Path) -> Result<Import, ImportError> {
    let text = read_text(path).map_err(|e| ImportError {
        file: path.to_path_buf(),
        line: 0,
        message: format!("cannot read the keepalived configuration: {e}"),
    })?;
    import_str(&text, path)
}

/// Translates keepalived.conf text; `origin` names it in errors and warnings,
/// and `include` patterns are resolved relative to its directory.
pub fn import_str(text: &str, origin: &Path) -> Result<Import, ImportError> {
    let mut lexer = Lexer::default();
    lexer.lex(origin, text, 0)?;
    let Lexer {
        tokens, warnings, ..
    } = lexer;
    let stmts = Parser { tokens, pos: 0 }.parse_seq(None, 0)?;
    let mut importer = Importer {
        warnings,
        ..Importer::default()
    };
    let config = importer.translate(&stmts, origin)?;
    Ok(Import {
        config,
        warnings: importer.warnings,
    })
}

/// keepalived.conf files are mostly ASCII, but comments are often written in
/// Latin-1 by hand: never fail on them.
fn read_text(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

// ---------------------------------------------------------------------------
// Lexing
// ---------------------------------------------------------------------------

/// A position in one read of one file (`file_id` tells two reads of the same
/// file apart, so "same line" is never confused across includes).
#[derive(Debug, Clone)]
struct Loc {
    file: Rc<PathBuf>,
    file_id: usize,
    line: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

fn error(loc: &Loc, message: impl Into<String>) -> ImportError {
    ImportError {
        file: loc.file.as_ref().clone(),
        line: loc.line,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Quoted,
    Open,
    Close,
}

#[derive(Debug, Clone)]
struct Token {
    text: String,
    kind: Kind,
    loc: Loc,
}

impl Token {
    fn is_word(&self) -> bool {
        matches!(self.kind, Kind::Word | Kind::Quoted)
    }

    fn same_line(&self, other: &Token) -> bool {
        self.loc.file_id == other.loc.file_id && self.loc.line == other.loc.line
    }

    /// The word as written (quoted words keep their quotes), for messages.
    fn shown(&self) -> String {
        match self.kind {
            Kind::Quoted => format!("{:?}", self.text),
            _ => self.text.clone(),
        }
    }
}

#[derive(Default)]
struct Lexer {
    tokens: Vec<Token>,
    warnings: Vec<String>,
    next_file_id: usize,
}

impl Lexer {
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
                if first.text.starts_with('@') {
                    return Err(error(
                        &loc,
                        format!(
                            "{}: keepalived's per-host conditional lines (@host) are not supported by the importer: keep the lines meant for this host without the @ prefix and delete the others",
                            first.text
                        ),
                    ));
                }
                if first.text.starts_with('$') && line.contains('=') {
                    return Err(error(
                        &loc,
                        "keepalived parameter definitions ($NAME=...) are not supported by the importer: substitute the values by hand",
                    ));
                }
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
            self.warnings.push(format!(
                "{}: include {}: extra words {} ignored (keepalived reads only the first)",
                kw.loc,
                pattern.shown(),
                extra.join(" ")
            ));
        }
        let full = if Path::new(&pattern.text).is_absolute() {
            pattern.text.clone()
        } else {
            let base = including.parent().unwrap_or(Path::new(""));
            let base = base.to_string_lossy();
            if base.is_empty() {
                pattern.text.clone()
            } else {
                // The directory is taken literally; only the pattern globs.
                format!(
                    "{}{}{}",
                    glob::Pattern::escape(&base),
                    std::path::MAIN_SEPARATOR,
                    pattern.text
                )
            }
        };
        let entries = glob::glob(&full).map_err(|e| {
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
                self.warnings.push(format!(
                    "{}: include {}: {} is a directory, skipped",
                    kw.loc,
                    pattern.shown(),
                    path.display()
                ));
            } else {
                files.push(path);
            }
        }
        files.sort();
        if files.is_empty() {
            self.warnings.push(format!(
                "{}: include {}: no file matches {full:?}; skipped (keepalived skips it too)",
                kw.loc,
                pattern.shown()
            ));
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

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// `keyword args... [{ block }]`
#[derive(Debug)]
struct Stmt {
    key: Token,
    args: Vec<Token>,
    block: Option<Block>,
}

#[derive(Debug)]
struct Block {
    open: Loc,
    stmts: Vec<Stmt>,
}

impl Stmt {
    fn kw(&self) -> &str {
        &self.key.text
    }

    fn loc(&self) -> &Loc {
        &self.key.loc
    }

    /// The statement as written, shortened, for warnings.
    fn shown(&self) -> String {
        let mut s = self.key.shown();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.shown());
        }
        if s.chars().count() > 60 {
            s = s.chars().take(57).collect::<String>() + "...";
        }
        if self.block.is_some() {
            s.push_str(" { ... }");
        }
        s
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn parse_seq(
        &mut self,
        opener: Option<&Token>,
        depth: usize,
    ) -> Result<Vec<Stmt>, ImportError> {
        if depth > MAX_BLOCK_DEPTH {
            let o = opener.expect("depth > 0 has an opener");
            return Err(error(
                &o.loc,
                format!("blocks nest deeper than {MAX_BLOCK_DEPTH} levels"),
            ));
        }
        let mut stmts = Vec::new();
        loop {
            let Some(tok) = self.tokens.get(self.pos).cloned() else {
                return match opener {
                    Some(o) => Err(error(
                        &o.loc,
                        "unbalanced braces: this { is never closed (missing })",
                    )),
                    None => Ok(stmts),
                };
            };
            self.pos += 1;
            match tok.kind {
                Kind::Close => {
                    return match opener {
                        Some(_) => Ok(stmts),
                        None => Err(error(&tok.loc, "unbalanced braces: } without a matching {")),
                    };
                }
                Kind::Open => {
                    return Err(error(
                        &tok.loc,
                        "unexpected {: a block must follow a keyword (e.g. virtual_ipaddress {)",
                    ));
                }
                Kind::Word | Kind::Quoted => {
                    let mut args = Vec::new();
                    while let Some(t) = self.tokens.get(self.pos) {
                        if t.is_word() && t.same_line(&tok) {
                            args.push(t.clone());
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                    let block = match self.tokens.get(self.pos) {
                        Some(t) if t.kind == Kind::Open => {
                            let open = t.clone();
                            self.pos += 1;
                            let inner = self.parse_seq(Some(&open), depth + 1)?;
                            Some(Block {
                                open: open.loc,
                                stmts: inner,
                            })
                        }
                        _ => None,
                    };
                    stmts.push(Stmt {
                        key: tok,
                        args,
                        block,
                    });
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Translation
// ---------------------------------------------------------------------------

const LATER: &str =
    "not carried over yet (tracking/notify/sync groups come in a later vipd release)";

/// Top-level blocks about tracking, notification and sync groups.
const LATER_TOP: &[&str] = &[
    "vrrp_script",
    "vrrp_sync_group",
    "vrrp_track_file",
    "track_file",
    "vrrp_track_process",
    "track_process",
    "bfd_instance",
];

/// Instance keywords about tracking and notification.
const LATER_INSTANCE: &[&str] = &[
    "track_script",
    "track_interface",
    "track_file",
    "track_process",
    "track_bfd",
    "track_src_ip",
    "notify",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "notify_priority_changes",
];

/// A reason for instance keywords vipd has no equivalent for, where one helps.
fn instance_reason(kw: &str) -> &'static str {
    match kw {
        "smtp_alert" => "not carried over (vipd sends no e-mail alerts)",
        "debug" => "not carried over (vipd has no per-instance debug level)",
        "mcast_src_ip" => "not carried over (vipd chooses the advert source address itself)",
        "lvs_sync_daemon_interface" => "not carried over (IPVS is outside vipd's scope)",
        "virtual_routes" | "virtual_rules" => {
            "not carried over (vipd moves addresses only; configure routes and rules in netplan)"
        }
        "garp_master_refresh_repeat" | "garp_lower_prio_delay" | "garp_lower_prio_repeat" => {
            "not carried over (vipd has no equivalent; see the instance's garp settings)"
        }
        _ => "not carried over (no vipd equivalent)",
    }
}

/// `vrrp_instance` as read, before the defaults and cross-checks.
struct RawInstance {
    name: String,
    loc: Loc,
    interface: Option<String>,
    state: Option<(InitialState, Loc)>,
    vrid: Option<u8>,
    priority: Option<u8>,
    advert_int: Option<(f64, Loc)>,
    nopreempt: bool,
    preempt_delay: Option<(Duration, Loc)>,
    version: Option<(VrrpVersion, Loc)>,
    auth: Option<Auth>,
    vips: Vec<(Vip, Loc)>,
    excluded: Vec<(Vip, Loc)>,
    sources: Vec<(IpAddr, Option<String>, Loc)>,
    peers: Vec<(IpAddr, Option<String>, Loc)>,
    garp: GarpConfig,
    garp_interval: Option<(Duration, Loc)>,
    gna_interval: Option<(Duration, Loc)>,
    use_vmac: Option<(Option<String>, Loc)>,
    xmit_base: bool,
    use_ipvlan: Option<(Option<String>, Loc)>,
}

struct Auth {
    loc: Loc,
    kind: Option<(String, Loc)>,
    pass: Option<(String, Loc)>,
}

#[derive(Default)]
struct Importer {
    warnings: Vec<String>,
    router_id: Option<String>,
    global_version: Option<VrrpVersion>,
}

fn one_arg(s: &Stmt) -> Result<&Token, ImportError> {
    s.args
        .first()
        .ok_or_else(|| error(s.loc(), format!("{} needs a value", s.kw())))
}

fn need_block(s: &Stmt) -> Result<&Block, ImportError> {
    s.block
        .as_ref()
        .ok_or_else(|| error(s.loc(), format!("{} needs a {{ }} block", s.kw())))
}

fn no_block(s: &Stmt) -> Result<(), ImportError> {
    match &s.block {
        Some(b) => Err(error(
            &b.open,
            format!(
                "{} takes no {{ }} block (unbalanced or misplaced braces?)",
                s.kw()
            ),
        )),
        None => Ok(()),
    }
}

fn parse_u64(t: &Token, what: &str, min: u64, max: u64) -> Result<u64, ImportError> {
    match t.text.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(error(
            &t.loc,
            format!(
                "{what} {} is invalid: use a whole number {min}-{max}",
                t.shown()
            ),
        )),
    }
}

fn parse_seconds(t: &Token, what: &str) -> Result<f64, ImportError> {
    match t.text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(error(
            &t.loc,
            format!(
                "{what} {} is invalid: use a number of seconds (e.g. 1 or 0.5)",
                t.shown()
            ),
        )),
    }
}

fn micros(secs: f64) -> Duration {
    Duration::from_micros((secs * 1e6).round() as u64)
}

fn ifname_arg(t: &Token, what: &str) -> Result<String, ImportError> {
    check_ifname(&t.text).map_err(|e| error(&t.loc, format!("{what}: {e}")))?;
    Ok(t.text.clone())
}

impl Importer {
    fn warn(&mut self, loc: &Loc, message: impl fmt::Display) {
        self.warnings.push(format!("{loc}: {message}"));
    }

    fn translate(&mut self, stmts: &[Stmt], origin: &Path) -> Result<Config, ImportError> {
        let mut raws = Vec::new();
        let mut seen: HashMap<String, Loc> = HashMap::new();
        for s in stmts {
            match s.kw() {
                "global_defs" => self.global_defs(s)?,
                "vrrp_instance" => {
                    let raw = self.instance(s)?;
                    if let Some(first) = seen.get(&raw.name) {
                        return Err(error(
                            &raw.loc,
                            format!(
                                "vrrp_instance {} is defined twice (first at {first}); keepalived skips the second, remove one",
                                raw.name
                            ),
                        ));
                    }
                    seen.insert(raw.name.clone(), raw.loc.clone());
                    raws.push(raw);
                }
                kw if LATER_TOP.contains(&kw) => self.warn(s.loc(), format_args!("{}: {LATER}", s.shown())),
                "virtual_server" | "virtual_server_group" => self.warn(
                    s.loc(),
                    format_args!(
                        "{}: not carried over (IPVS virtual servers are outside vipd's scope)",
                        s.shown()
                    ),
                ),
                "static_ipaddress" | "static_routes" | "static_rules" => self.warn(
                    s.loc(),
                    format_args!(
                        "{}: not carried over (configure static addresses, routes and rules in netplan)",
                        s.shown()
                    ),
                ),
                _ => self.warn(
                    s.loc(),
                    format_args!("{}: unknown top-level keyword, not carried over", s.shown()),
                ),
            }
        }
        if raws.is_empty() {
            return Err(ImportError {
                file: origin.to_path_buf(),
                line: 0,
                message: "no vrrp_instance found (after following includes): nothing to import"
                    .into(),
            });
        }
        let mut instances = Vec::new();
        let mut names = HashSet::new();
        for raw in raws {
            let loc = raw.loc.clone();
            let orig = raw.name.clone();
            let mut inst = self.finish(raw)?;
            inst.name = self.unique_name(&orig, &loc, &mut names);
            instances.push((inst, loc, orig));
        }
        // Validate one instance at a time so vipd's verdict points at the
        // keepalived instance it is about.
        let mut config = Config {
            router_id: self.router_id.clone(),
            instances: Vec::new(),
            networkd: Default::default(),
        };
        for (inst, loc, orig) in instances {
            config.instances.push(inst);
            if let Err(e) = Config::parse(&config.to_yaml(), origin) {
                // serde's path ("instances: instance \"x\": ") repeats what
                // the keepalived location already says.
                let name = &config.instances.last().expect("just pushed").name;
                let msg = e.message.strip_prefix("instances: ").unwrap_or(&e.message);
                let msg = msg
                    .strip_prefix(&format!("instance {name:?}: "))
                    .unwrap_or(msg);
                return Err(error(
                    &loc,
                    format!("vrrp_instance {orig}: vipd rejects the translation: {msg}"),
                ));
            }
        }
        let parsed = Config::parse(&config.to_yaml(), origin).map_err(|e| ImportError {
            file: origin.to_path_buf(),
            line: 0,
            message: format!("vipd rejects the translation: {}", e.message),
        })?;
        debug_assert_eq!(parsed, config, "the YAML rendering must round-trip");
        Ok(parsed)
    }

    fn unique_name(&mut self, orig: &str, loc: &Loc, names: &mut HashSet<String>) -> String {
        let mut name: String = orig
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        if name.is_empty() {
            name = "instance".into();
        }
        let base = name.clone();
        let mut n = 2;
        while names.contains(&name) {
            let suffix = format!("-{n}");
            name = base.chars().take(64 - suffix.len()).collect::<String>() + &suffix;
            n += 1;
        }
        if name != orig {
            self.warn(
                loc,
                format_args!(
                    "vrrp_instance {orig:?}: renamed to {name:?} (vipd instance names are 1-64 characters of letters, digits, '.', '_' and '-', and unique)"
                ),
            );
        }
        names.insert(name.clone());
        name
    }

    fn global_defs(&mut self, s: &Stmt) -> Result<(), ImportError> {
        for g in &need_block(s)?.stmts {
            match g.kw() {
                "router_id" => {
                    no_block(g)?;
                    self.router_id = Some(one_arg(g)?.text.clone());
                }
                "vrrp_version" => {
                    no_block(g)?;
                    self.global_version = Some(parse_version(one_arg(g)?)?);
                }
                _ => {
                    let shown = g.shown();
                    self.warn(
                        g.loc(),
                        format_args!("global_defs: {shown}: not carried over"),
                    );
                }
            }
        }
        Ok(())
    }

    fn instance(&mut self, s: &Stmt) -> Result<RawInstance, ImportError> {
        let name = match s.args.as_slice() {
            [n] => n.text.clone(),
            _ => return Err(error(s.loc(), "vrrp_instance needs exactly one name")),
        };
        let body = need_block(s)?;
        let mut r = RawInstance {
            name,
            loc: s.loc().clone(),
            interface: None,
            state: None,
            vrid: None,
            priority: None,
            advert_int: None,
            nopreempt: false,
            preempt_delay: None,
            version: None,
            auth: None,
            vips: Vec::new(),
            excluded: Vec::new(),
            sources: Vec::new(),
            peers: Vec::new(),
            garp: GarpConfig::default(),
            garp_interval: None,
            gna_interval: None,
            use_vmac: None,
            xmit_base: false,
            use_ipvlan: None,
        };
        let ctx = format!("vrrp_instance {}", r.name);
        let mut seen: HashMap<&str, Loc> = HashMap::new();
        for st in &body.stmts {
            let kw = st.kw();
            let block_kw = matches!(
                kw,
                "authentication"
                    | "virtual_ipaddress"
                    | "virtual_ipaddress_excluded"
                    | "unicast_peer"
            );
            let skipped = LATER_INSTANCE.contains(&kw) || !is_translated(kw);
            if !block_kw && !skipped {
                no_block(st)?;
                if let Some(prev) = seen.get(kw)
                    && !matches!(kw, "unicast_src_ip")
                {
                    let prev = prev.clone();
                    self.warn(
                        st.loc(),
                        format_args!("{ctx}: {kw} is given twice (also at {prev}); the last one wins, as in keepalived"),
                    );
                }
                seen.insert(kw, st.loc().clone());
            }
            match kw {
                "interface" => r.interface = Some(ifname_arg(one_arg(st)?, "interface")?),
                "state" => {
                    let t = one_arg(st)?;
                    let state = match t.text.as_str() {
                        "MASTER" => InitialState::Master,
                        "BACKUP" => InitialState::Backup,
                        other => {
                            self.warn(
                                &t.loc,
                                format_args!("{ctx}: state {other:?} is not MASTER or BACKUP: using BACKUP, as keepalived does"),
                            );
                            InitialState::Backup
                        }
                    };
                    r.state = Some((state, st.loc().clone()));
                }
                "virtual_router_id" => {
                    r.vrid = Some(parse_u64(one_arg(st)?, "virtual_router_id", 1, 255)? as u8);
                }
                "priority" => r.priority = Some(parse_u64(one_arg(st)?, "priority", 1, 255)? as u8),
                "advert_int" => {
                    let t = one_arg(st)?;
                    let v = parse_seconds(t, "advert_int")?;
                    if v < 0.01 {
                        return Err(error(
                            &t.loc,
                            format!(
                                "advert_int {} is below 0.01 s, the smallest VRRP interval (RFC 5798 5.2.7)",
                                t.shown()
                            ),
                        ));
                    }
                    r.advert_int = Some((v, t.loc.clone()));
                }
                "nopreempt" => r.nopreempt = true,
                // keepalived's default; kept for old configurations.
                "preempt" => r.nopreempt = false,
                "preempt_delay" => {
                    let t = one_arg(st)?;
                    let v = parse_seconds(t, "preempt_delay")?;
                    if v > 1000.0 {
                        return Err(error(
                            &t.loc,
                            format!(
                                "preempt_delay {} is out of range: keepalived allows 0-1000 seconds",
                                t.shown()
                            ),
                        ));
                    }
                    r.preempt_delay = Some((micros(v), t.loc.clone()));
                }
                "version" | "vrrp_version" => {
                    r.version = Some((parse_version(one_arg(st)?)?, st.loc().clone()));
                }
                "authentication" => r.auth = Some(self.authentication(st, &ctx)?),
                "virtual_ipaddress" => {
                    for e in &need_block(st)?.stmts {
                        let v = self.vip(e, &ctx, kw)?;
                        r.vips.push((v, e.loc().clone()));
                    }
                }
                "virtual_ipaddress_excluded" => {
                    for e in &need_block(st)?.stmts {
                        let v = self.vip(e, &ctx, kw)?;
                        r.excluded.push((v, e.loc().clone()));
                    }
                }
                "unicast_src_ip" => {
                    let (addr, dev) = self.address_with_dev(st, &ctx)?;
                    r.sources.push((addr, dev, st.loc().clone()));
                }
                "unicast_peer" => {
                    for e in &need_block(st)?.stmts {
                        no_block(e)?;
                        let (addr, dev) = self.address_with_dev(e, &ctx)?;
                        r.peers.push((addr, dev, e.loc().clone()));
                    }
                }
                "garp_master_delay" => {
                    r.garp.second_burst_after = Duration::from_secs(parse_u64(
                        one_arg(st)?,
                        "garp_master_delay",
                        0,
                        86400,
                    )?);
                }
                "garp_master_repeat" => {
                    r.garp.repeat =
                        parse_u64(one_arg(st)?, "garp_master_repeat", 0, 1_000_000)? as u32;
                }
                "garp_master_refresh" => {
                    r.garp.refresh = Duration::from_secs(parse_u64(
                        one_arg(st)?,
                        "garp_master_refresh",
                        0,
                        86400,
                    )?);
                }
                "garp_interval" => {
                    let t = one_arg(st)?;
                    r.garp_interval = Some((micros(parse_seconds(t, kw)?), t.loc.clone()));
                }
                "gna_interval" => {
                    let t = one_arg(st)?;
                    r.gna_interval = Some((micros(parse_seconds(t, kw)?), t.loc.clone()));
                }
                "use_vmac" => {
                    let name = match st.args.first() {
                        Some(t) => Some(ifname_arg(t, "use_vmac")?),
                        None => None,
                    };
                    if st.args.len() > 1 {
                        self.warn(
                            st.loc(),
                            format_args!("{ctx}: {}: extra words not carried over", st.shown()),
                        );
                    }
                    r.use_vmac = Some((name, st.loc().clone()));
                }
                // vipd always sends its adverts from the base interface (with
                // the base interface's MAC), which is what vmac_xmit_base asks
                // keepalived to do: nothing to translate, nothing lost.
                "vmac_xmit_base" => r.xmit_base = true,
                "use_ipvlan" => {
                    let mut name = None;
                    for t in &st.args {
                        if parse_cidr(&t.text).is_ok() {
                            self.warn(
                                &t.loc,
                                format_args!(
                                    "{ctx}: use_ipvlan address {}: not carried over (vipd puts no address of its own on the IPVLAN device; the VIPs go there)",
                                    t.shown()
                                ),
                            );
                        } else if name.is_none()
                            && !matches!(t.text.as_str(), "bridge" | "private" | "vepa")
                        {
                            name = Some(ifname_arg(t, "use_ipvlan")?);
                        } else {
                            self.warn(
                                &t.loc,
                                format_args!(
                                    "{ctx}: use_ipvlan {}: not carried over (vipd creates IPVLANs in L2 bridge mode)",
                                    t.shown()
                                ),
                            );
                        }
                    }
                    r.use_ipvlan = Some((name, st.loc().clone()));
                }
                kw if LATER_INSTANCE.contains(&kw) => {
                    self.warn(st.loc(), format_args!("{ctx}: {}: {LATER}", st.shown()));
                }
                kw => {
                    let reason = instance_reason(kw);
                    self.warn(st.loc(), format_args!("{ctx}: {}: {reason}", st.shown()));
                }
            }
        }
        if let (Some((_, a)), Some((_, b))) = (&r.use_vmac, &r.use_ipvlan) {
            let first = if a.line <= b.line { a } else { b };
            return Err(error(
                &r.loc,
                format!(
                    "vrrp_instance {}: use_vmac and use_ipvlan exclude each other (see {first}): keep one",
                    r.name
                ),
            ));
        }
        Ok(r)
    }

    fn authentication(&mut self, st: &Stmt, ctx: &str) -> Result<Auth, ImportError> {
        let mut auth = Auth {
            loc: st.loc().clone(),
            kind: None,
            pass: None,
        };
        for a in &need_block(st)?.stmts {
            no_block(a)?;
            match a.kw() {
                "auth_type" => auth.kind = Some((one_arg(a)?.text.clone(), a.loc().clone())),
                "auth_pass" => auth.pass = Some((one_arg(a)?.text.clone(), a.loc().clone())),
                _ => self.warn(
                    a.loc(),
                    format_args!("{ctx}: authentication: {}: not carried over", a.shown()),
                ),
            }
        }
        Ok(auth)
    }

    /// `ADDR [dev DEV] [...]` of unicast_src_ip and unicast_peer entries.
    fn address_with_dev(
        &mut self,
        st: &Stmt,
        ctx: &str,
    ) -> Result<(IpAddr, Option<String>), ImportError> {
        let (what, addr_tok, rest) = if st.kw() == "unicast_src_ip" {
            let t = one_arg(st)?;
            ("unicast_src_ip", t, &st.args[1..])
        } else {
            ("unicast_peer", &st.key, &st.args[..])
        };
        let addr: IpAddr = addr_tok.text.parse().map_err(|_| {
            error(
                &addr_tok.loc,
                format!("{what}: {} is not an IP address", addr_tok.shown()),
            )
        })?;
        let mut dev = None;
        let mut i = 0;
        while i < rest.len() {
            let t = &rest[i];
            if t.text == "dev" {
                let Some(d) = rest.get(i + 1) else {
                    return Err(error(
                        &t.loc,
                        format!("{what} {addr}: dev needs an interface name"),
                    ));
                };
                dev = Some(ifname_arg(d, what)?);
                i += 2;
            } else {
                let shown: Vec<String> = rest[i..].iter().map(Token::shown).collect();
                self.warn(
                    &t.loc,
                    format_args!(
                        "{ctx}: {what} {addr}: {}: not carried over",
                        shown.join(" ")
                    ),
                );
                break;
            }
        }
        Ok((addr, dev))
    }

    /// One line of virtual_ipaddress / virtual_ipaddress_excluded.
    fn vip(&mut self, e: &Stmt, ctx: &str, block: &str) -> Result<Vip, ImportError> {
        no_block(e)?;
        let (address, prefix_len) =
            parse_cidr(&e.key.text).map_err(|m| error(e.loc(), format!("{block}: {m}")))?;
        let mut vip = Vip {
            address,
            prefix_len,
            dev: None,
            label: None,
        };
        let mut i = 0;
        while i < e.args.len() {
            let opt = &e.args[i];
            let value = e.args.get(i + 1);
            let with_value = matches!(
                opt.text.as_str(),
                "dev"
                    | "label"
                    | "scope"
                    | "brd"
                    | "broadcast"
                    | "peer"
                    | "track_group"
                    | "preferred_lft"
                    | "valid_lft"
            );
            if with_value && value.is_none() {
                return Err(error(
                    &opt.loc,
                    format!("{block}: {address}: {} needs a value", opt.text),
                ));
            }
            match (opt.text.as_str(), value) {
                ("dev", Some(v)) => vip.dev = Some(ifname_arg(v, block)?),
                ("label", Some(v)) => vip.label = Some(v.text.clone()),
                // The default scope: nothing lost.
                ("scope", Some(v)) if v.text == "global" => {}
                (o, Some(v)) if with_value => self.warn(
                    &opt.loc,
                    format_args!(
                        "{ctx}: {block}: {address}: {o} {}: not carried over",
                        v.shown()
                    ),
                ),
                (o, _) => self.warn(
                    &opt.loc,
                    format_args!("{ctx}: {block}: {address}: option {o}: not carried over"),
                ),
            }
            i += if with_value { 2 } else { 1 };
        }
        if let IpAddr::V6(a) = address {
            if vip.label.is_some() {
                vip.label = None;
                self.warn(
                    e.loc(),
                    format_args!("{ctx}: {block}: {address}: label dropped (labels exist only for IPv4 addresses)"),
                );
            }
            if a.to_ipv4_mapped().is_some() {
                self.warn(
                    e.loc(),
                    format_args!(
                        "{ctx}: {block}: {} is written as an IPv4-mapped IPv6 address (::ffff:a.b.c.d), which hosts never use on the wire: check that this is the address you mean",
                        e.key.text
                    ),
                );
            }
        }
        Ok(vip)
    }

    /// Defaults, families and versions, as keepalived resolves them.
    fn finish(&mut self, r: RawInstance) -> Result<InstanceConfig, ImportError> {
        let ctx = format!("vrrp_instance {}", r.name);
        let Some(interface) = r.interface.clone() else {
            return Err(error(
                &r.loc,
                format!("{ctx} has no interface: vipd needs the interface the instance runs on"),
            ));
        };
        let Some(vrid) = r.vrid else {
            return Err(error(
                &r.loc,
                format!(
                    "{ctx} has no virtual_router_id: keepalived and vipd both require one (1-255)"
                ),
            ));
        };

        // keepalived derives the family from the first VIP; IPv6 instances
        // always run VRRPv3 (VRRPv2 is IPv4 only).
        let first_family = r
            .vips
            .first()
            .map(|(v, _)| v.family())
            .unwrap_or(Family::V4);
        let version = if first_family == Family::V4 {
            r.version
                .as_ref()
                .map(|(v, _)| *v)
                .or(self.global_version)
                .unwrap_or(VrrpVersion::V2)
        } else {
            if let Some((VrrpVersion::V2, loc)) = &r.version {
                self.warn(
                    loc,
                    format_args!("{ctx}: version 2: VRRPv2 carries IPv4 only, and the instance's first VIP is IPv6: imported as version 3 (as keepalived does in strict mode)"),
                );
            }
            VrrpVersion::V3
        };

        let mut vips: Vec<Vip> = Vec::new();
        let mut excluded: Vec<Vip> = Vec::new();
        let mut addrs = BTreeSet::new();
        for (v, loc) in r.vips.iter().chain(&r.excluded) {
            if !addrs.insert(v.address) {
                self.warn(
                    loc,
                    format_args!(
                        "{ctx}: {} is listed twice: the repeat is dropped",
                        v.address
                    ),
                );
            }
        }
        let mut addrs = BTreeSet::new();
        for (v, _) in &r.vips {
            if addrs.insert(v.address) {
                vips.push(v.clone());
            }
        }
        for (v, _) in &r.excluded {
            if addrs.insert(v.address) {
                excluded.push(v.clone());
            }
        }

        let has = |vips: &[Vip], family: Family| vips.iter().any(|v| v.family() == family);
        if has(&vips, Family::V4) && has(&vips, Family::V6) {
            match version {
                VrrpVersion::V3 => self.warn(
                    &r.loc,
                    format_args!(
                        "{ctx}: virtual_ipaddress mixes IPv4 and IPv6: vipd advertises both families (one advert per family, sharing one state), but a keepalived peer ignored the {} ones and advertised only {}: upgrade the peers together",
                        first_family.other(),
                        first_family
                    ),
                ),
                VrrpVersion::V2 => {
                    let (v6, v4): (Vec<Vip>, Vec<Vip>) = vips.into_iter().partition(|v| v.family() == Family::V6);
                    let moved: Vec<String> = v6.iter().map(|v| v.to_string()).collect();
                    self.warn(
                        &r.loc,
                        format_args!(
                            "{ctx}: virtual_ipaddress mixes IPv4 and IPv6 with VRRPv2, which carries IPv4 only (keepalived silently ignored the IPv6 ones): {} moved to excluded_vips, so vipd moves them with the instance without advertising them",
                            moved.join(", ")
                        ),
                    );
                    vips = v4;
                    let mut moved_vips = v6;
                    moved_vips.append(&mut excluded);
                    excluded = moved_vips;
                }
            }
        }

        // Advert interval, rounded as keepalived rounds it.
        let advert_interval = match &r.advert_int {
            None => Duration::from_secs(1),
            Some((secs, loc)) => {
                let secs = *secs;
                match version {
                    VrrpVersion::V2 => {
                        let mut whole = (secs + 0.5).floor().max(1.0);
                        if whole > 255.0 {
                            whole = 255.0;
                            self.warn(
                                loc,
                                format_args!("{ctx}: advert_int {secs}: VRRPv2 allows at most 255 s: set to 255 s, as keepalived does"),
                            );
                        } else if whole != secs {
                            self.warn(
                                loc,
                                format_args!("{ctx}: advert_int {secs}: VRRPv2 needs whole seconds: rounded to {whole} s, as keepalived does (use version 3 on all routers for sub-second adverts)"),
                            );
                        }
                        Duration::from_secs(whole as u64)
                    }
                    VrrpVersion::V3 => {
                        let mut cs = (secs * 100.0).round();
                        if cs > 4095.0 {
                            cs = 4095.0;
                            self.warn(
                                loc,
                                format_args!("{ctx}: advert_int {secs}: VRRPv3 allows at most 40.95 s: set to 40.95 s, as keepalived does"),
                            );
                        } else if (cs - secs * 100.0).abs() > 1e-6 {
                            self.warn(
                                loc,
                                format_args!("{ctx}: advert_int {secs}: VRRPv3 counts in centiseconds: rounded to {} s, as keepalived does", cs / 100.0),
                            );
                        }
                        Duration::from_millis(cs as u64 * 10)
                    }
                }
            }
        };

        // keepalived: no priority + state MASTER means address owner (255);
        // no state + priority 255 means MASTER.
        let priority = match (r.priority, &r.state) {
            (Some(p), _) => p,
            (None, Some((InitialState::Master, loc))) => {
                self.warn(
                    loc,
                    format_args!("{ctx}: state MASTER without priority: keepalived then uses priority 255 (the address owner): imported as 255; set priority explicitly if the peers expect otherwise"),
                );
                255
            }
            (None, _) => 100,
        };
        let mut initial_state = match &r.state {
            Some((s, _)) => *s,
            None if priority == 255 => InitialState::Master,
            None => InitialState::Backup,
        };
        let ah = r
            .auth
            .as_ref()
            .and_then(|a| a.kind.as_ref())
            .map(|(k, _)| k.eq_ignore_ascii_case("AH"));
        if ah == Some(true)
            && version == VrrpVersion::V2
            && initial_state == InitialState::Master
            && priority != 255
            && let Some((_, loc)) = &r.state
        {
            self.warn(
                loc,
                format_args!("{ctx}: state MASTER: keepalived ignores it with AH authentication (it first waits for an advert to learn the AH sequence number) and starts as BACKUP: imported as initial_state backup"),
            );
            initial_state = InitialState::Backup;
        }

        let mut preempt_delay = r
            .preempt_delay
            .as_ref()
            .map(|(d, _)| *d)
            .unwrap_or_default();
        if let Some((d, loc)) = &r.preempt_delay
            && !d.is_zero()
        {
            if r.nopreempt {
                self.warn(
                    loc,
                    format_args!("{ctx}: preempt_delay: dropped, it has no effect with nopreempt (keepalived drops it too)"),
                );
                preempt_delay = Duration::ZERO;
            } else if initial_state == InitialState::Master {
                self.warn(
                    loc,
                    format_args!("{ctx}: preempt_delay: dropped, it has no effect with state MASTER (keepalived drops it too)"),
                );
                preempt_delay = Duration::ZERO;
            }
        }

        let auth_pass = match &r.auth {
            None => None,
            Some(a) => self.auth_pass(a, &ctx, version),
        };

        let vip_device = match (&r.use_vmac, &r.use_ipvlan) {
            (Some((name, loc)), _) => {
                if !r.xmit_base {
                    self.warn(
                        loc,
                        format_args!("{ctx}: use_vmac without vmac_xmit_base: keepalived sent adverts from the virtual MAC 00:00:5e:00:01:{vrid:02x}, vipd transmits them from the base interface's MAC (keepalived's vmac_xmit_base behaviour): switches and port security see the base MAC"),
                    );
                }
                Some(VipDevice {
                    kind: VipDeviceKind::Macvlan,
                    name: name.clone(),
                })
            }
            (None, Some((name, _))) => Some(VipDevice {
                kind: VipDeviceKind::Ipvlan,
                name: name.clone(),
            }),
            (None, None) => None,
        };
        // A VIP explicitly on the interface is the default, unless a VIP
        // device would otherwise take it.
        if vip_device.is_none() {
            for v in vips.iter_mut().chain(excluded.iter_mut()) {
                if v.dev.as_deref() == Some(interface.as_str()) {
                    v.dev = None;
                }
            }
        }

        let unicast = self.unicast(&r, &ctx, &interface, &mut vips, &mut excluded)?;

        let mut garp = r.garp.clone();
        match (&r.garp_interval, &r.gna_interval) {
            (Some((g, _)), Some((n, loc))) if g != n => {
                let max = (*g).max(*n);
                self.warn(
                    loc,
                    format_args!(
                        "{ctx}: garp_interval {} and gna_interval {} differ: vipd uses one interval for ARP and NA, the larger one ({})",
                        crate::config::duration_text::format(g),
                        crate::config::duration_text::format(n),
                        crate::config::duration_text::format(&max)
                    ),
                );
                garp.interval = max;
            }
            (Some((d, _)), _) | (None, Some((d, _))) => garp.interval = *d,
            (None, None) => {}
        }

        Ok(InstanceConfig {
            name: r.name.clone(),
            interface,
            vrid,
            version,
            priority,
            preempt: !r.nopreempt,
            preempt_delay,
            advert_interval,
            initial_state,
            auth_pass,
            vips,
            excluded_vips: excluded,
            unicast,
            garp,
            vip_device,
        })
    }

    fn auth_pass(&mut self, a: &Auth, ctx: &str, version: VrrpVersion) -> Option<String> {
        let kind = a.kind.as_ref().map(|(k, _)| k.to_ascii_uppercase());
        match kind.as_deref() {
            Some("AH") => {
                let loc = a.kind.as_ref().map(|(_, l)| l).unwrap_or(&a.loc);
                self.warn(
                    loc,
                    format_args!("{ctx}: auth_type AH: AH authentication is not supported by vipd (and not by this kernel): the instance is imported without authentication; peers must drop AH too"),
                );
                None
            }
            Some("PASS") => {
                if version == VrrpVersion::V3 {
                    self.warn(
                        &a.loc,
                        format_args!("{ctx}: authentication: not carried over: VRRPv3 has no authentication (RFC 5798), keepalived ignored it too"),
                    );
                    return None;
                }
                let Some((pass, loc)) = &a.pass else {
                    self.warn(
                        &a.loc,
                        format_args!("{ctx}: authentication: auth_type PASS without auth_pass: not carried over (keepalived ignores it too)"),
                    );
                    return None;
                };
                if pass.chars().count() > 8 {
                    self.warn(
                        loc,
                        format_args!("{ctx}: auth_pass is longer than 8 characters: truncated to its first 8, as keepalived does (the peers send the same 8)"),
                    );
                    Some(pass.chars().take(8).collect())
                } else {
                    Some(pass.clone())
                }
            }
            Some(other) => {
                let loc = a.kind.as_ref().map(|(_, l)| l).unwrap_or(&a.loc);
                self.warn(
                    loc,
                    format_args!("{ctx}: auth_type {other}: unknown authentication type, not carried over (keepalived knows PASS and AH)"),
                );
                None
            }
            None => {
                self.warn(
                    &a.loc,
                    format_args!("{ctx}: authentication without auth_type: not carried over (keepalived ignores it too)"),
                );
                None
            }
        }
    }

    fn unicast(
        &mut self,
        r: &RawInstance,
        ctx: &str,
        interface: &str,
        vips: &mut Vec<Vip>,
        excluded: &mut Vec<Vip>,
    ) -> Result<Option<UnicastConfig>, ImportError> {
        for (addr, dev, loc) in r.sources.iter().chain(&r.peers) {
            if let Some(d) = dev
                && d != interface
            {
                self.warn(
                    loc,
                    format_args!("{ctx}: {addr} dev {d}: not carried over (vipd sends and receives adverts on the instance's interface {interface})"),
                );
            }
        }
        if r.peers.is_empty() {
            if let Some((addr, _, loc)) = r.sources.first() {
                self.warn(
                    loc,
                    format_args!("{ctx}: unicast_src_ip {addr} without unicast_peer: keepalived used it as the multicast source; not carried over (vipd chooses the source address itself)"),
                );
            }
            return Ok(None);
        }
        let mut peers: Vec<IpAddr> = Vec::new();
        // A family without VIPs cannot have peers (its adverts would be empty).
        let vip_families: BTreeSet<Family> = vips.iter().map(Vip::family).collect();
        for (addr, _, loc) in &r.peers {
            if peers.contains(addr) {
                self.warn(
                    loc,
                    format_args!(
                        "{ctx}: unicast_peer {addr} is listed twice: the repeat is dropped"
                    ),
                );
            } else if !vip_families.contains(&Family::of(*addr)) {
                self.warn(
                    loc,
                    format_args!(
                        "{ctx}: unicast_peer {addr}: dropped, the instance has no {} VIP to advertise to it (keepalived rejects such peers too)",
                        Family::of(*addr)
                    ),
                );
            } else {
                peers.push(*addr);
            }
        }
        if peers.is_empty() {
            return Err(error(
                &r.loc,
                format!(
                    "{ctx}: no unicast_peer of the VIPs' address family: add one, or remove unicast_peer for multicast"
                ),
            ));
        }
        // A family with VIPs but no peer: nobody to advertise them to, so they
        // can only move with the instance.
        for fam in Family::ALL {
            if vip_families.contains(&fam)
                && !peers.iter().any(|p| fam.contains(*p))
                && vips.iter().any(|v| v.family() != fam)
            {
                let (moved, kept): (Vec<Vip>, Vec<Vip>) =
                    vips.drain(..).partition(|v| v.family() == fam);
                *vips = kept;
                let shown: Vec<String> = moved.iter().map(|v| v.to_string()).collect();
                self.warn(
                    &r.loc,
                    format_args!(
                        "{ctx}: no {} unicast_peer: {} moved to excluded_vips (moved with the instance, not advertised)",
                        fam,
                        shown.join(", ")
                    ),
                );
                let mut all = moved;
                all.append(excluded);
                *excluded = all;
            }
        }
        let mut sources: Vec<IpAddr> = Vec::new();
        for (addr, _, loc) in &r.sources {
            if let Some(prev) = sources
                .iter()
                .position(|s| Family::of(*s) == Family::of(*addr))
            {
                self.warn(
                    loc,
                    format_args!("{ctx}: unicast_src_ip {addr}: replaces {}, one source per family (the last one wins, as in keepalived)", sources[prev]),
                );
                sources[prev] = *addr;
            } else {
                sources.push(*addr);
            }
        }
        Ok(Some(UnicastConfig { sources, peers }))
    }
}

/// Keywords the instance translator handles itself (everything else warns).
fn is_translated(kw: &str) -> bool {
    matches!(
        kw,
        "interface"
            | "state"
            | "virtual_router_id"
            | "priority"
            | "advert_int"
            | "nopreempt"
            | "preempt"
            | "preempt_delay"
            | "version"
            | "vrrp_version"
            | "authentication"
            | "virtual_ipaddress"
            | "virtual_ipaddress_excluded"
            | "unicast_src_ip"
            | "unicast_peer"
            | "garp_master_delay"
            | "garp_master_repeat"
            | "garp_master_refresh"
            | "garp_interval"
            | "gna_interval"
            | "use_vmac"
            | "vmac_xmit_base"
            | "use_ipvlan"
    )
}

fn parse_version(t: &Token) -> Result<VrrpVersion, ImportError> {
    match t.text.as_str() {
        "2" => Ok(VrrpVersion::V2),
        "3" => Ok(VrrpVersion::V3),
        _ => Err(error(
            &t.loc,
            format!("VRRP version {} is invalid: use 2 or 3", t.shown()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keepalived")
    }

    fn fixture(name: &str) -> Import {
        let path = fixtures().join(name);
        import_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn import(text: &str) -> Result<Import, ImportError> {
        import_str(text, Path::new("/nonexistent/keepalived.conf"))
    }

    fn ok(text: &str) -> Import {
        import(text).unwrap_or_else(|e| panic!("{e}\n--- text ---\n{text}"))
    }

    fn err(text: &str) -> ImportError {
        match import(text) {
            Ok(i) => panic!("expected an error, got {:?}", i.config),
            Err(e) => e,
        }
    }

    /// Asserts that exactly one warning contains every one of `parts`.
    #[track_caller]
    fn warned(i: &Import, parts: &[&str]) {
        let hits = i
            .warnings
            .iter()
            .filter(|w| parts.iter().all(|p| w.contains(p)))
            .count();
        assert_eq!(
            hits,
            1,
            "expected one warning with {parts:?}, got:\n{}",
            i.warnings.join("\n")
        );
    }

    fn vip(s: &str) -> Vip {
        let (address, prefix_len) = parse_cidr(s).unwrap();
        Vip {
            address,
            prefix_len,
            dev: None,
            label: None,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A scratch directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("vipd-keepalived-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const BASE: &str = "vrrp_instance web {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    192.0.2.10/24\n  }\n";

    fn with(extra: &str) -> String {
        format!("{BASE}{extra}\n}}\n")
    }

    // --- fixtures ------------------------------------------------------------

    /// Every fixture imports, round-trips through vipd's parser and renders to
    /// the reviewed `NAME.expected.yaml`; every error fixture fails with
    /// `NAME.expected.err`. `VIPD_BLESS_FIXTURES=1` rewrites the expectations
    /// (review the diff before committing).
    #[test]
    fn fixtures_render_the_expected_yaml() {
        let bless = std::env::var_os("VIPD_BLESS_FIXTURES").is_some();
        let mut confs: Vec<PathBuf> = std::fs::read_dir(fixtures())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        confs.sort();
        assert!(confs.len() >= 17, "fixtures missing: {confs:?}");
        for conf in &confs {
            let imported = import_file(conf).unwrap_or_else(|e| panic!("{e}"));
            let yaml = imported.config.to_yaml();
            let back = Config::parse(&yaml, conf)
                .unwrap_or_else(|e| panic!("{}: {e}\n{yaml}", conf.display()));
            assert_eq!(back, imported.config, "{}: round trip", conf.display());
            let expected = conf.with_extension("expected.yaml");
            if bless {
                std::fs::write(&expected, &yaml).unwrap();
            }
            let want = std::fs::read_to_string(&expected).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run with VIPD_BLESS_FIXTURES=1)",
                    expected.display()
                )
            });
            assert_eq!(
                yaml,
                want,
                "{} differs from {}",
                conf.display(),
                expected.display()
            );
        }
        let mut errors: Vec<PathBuf> = std::fs::read_dir(fixtures().join("errors"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        errors.sort();
        assert!(!errors.is_empty());
        for conf in &errors {
            let e = import_file(conf).expect_err("error fixture must not import");
            assert_eq!(&e.file, conf);
            let got = format!(
                "{}:{}: {}\n",
                e.file.file_name().unwrap().to_string_lossy(),
                e.line,
                e.message
            );
            let expected = conf.with_extension("expected.err");
            if bless {
                std::fs::write(&expected, &got).unwrap();
            }
            let want = std::fs::read_to_string(&expected).unwrap();
            assert_eq!(got, want, "{}", conf.display());
        }
    }

    #[test]
    fn seed002_unicast_vmac_pair() {
        for (file, prio, src, peer) in [
            ("seed002_ha_first.conf", 200, "10.200.51.32", "10.200.51.33"),
            (
                "seed002_ha_second.conf",
                100,
                "10.200.51.33",
                "10.200.51.32",
            ),
        ] {
            let imp = fixture(file);
            let i = &imp.config.instances[0];
            assert_eq!(imp.config.instances.len(), 1);
            assert_eq!((i.name.as_str(), i.interface.as_str()), ("vrrp_1", "ens3"));
            assert_eq!((i.vrid, i.priority, i.version), (1, prio, VrrpVersion::V2));
            assert_eq!(i.initial_state, InitialState::Master);
            assert!(i.preempt);
            assert_eq!(i.advert_interval, Duration::from_secs(1));
            assert_eq!(i.vips, vec![vip("10.200.51.10/32")]);
            assert!(i.excluded_vips.is_empty());
            assert_eq!(
                i.unicast,
                Some(UnicastConfig {
                    sources: vec![ip(src)],
                    peers: vec![ip(peer)]
                })
            );
            assert_eq!(
                i.vip_device,
                Some(VipDevice {
                    kind: VipDeviceKind::Macvlan,
                    name: None
                })
            );
            assert_eq!(i.auth_pass, None);
            assert_eq!(i.garp, GarpConfig::default());
            warned(
                &imp,
                &[&format!(
                    "{file}:4: vrrp_instance vrrp_1: debug 2: not carried over"
                )],
            );
            // dev ens3 is the instance's interface; vmac_xmit_base is what vipd does anyway.
            assert_eq!(imp.warnings.len(), 1, "{:#?}", imp.warnings);
        }
    }

    #[test]
    fn seed003_ah_pair() {
        let master = fixture("seed003_master.conf");
        let i = &master.config.instances[0];
        assert_eq!((i.name.as_str(), i.vrid, i.priority), ("DIENST1", 51, 100));
        assert_eq!(i.version, VrrpVersion::V2);
        assert_eq!(i.auth_pass, None);
        assert_eq!(i.vips, vec![vip("1.2.3.4/32")]);
        // keepalived clears state MASTER when AH is configured.
        assert_eq!(i.initial_state, InitialState::Backup);
        warned(
            &master,
            &[
                "seed003_master.conf:14: vrrp_instance DIENST1: auth_type AH: AH authentication is not supported by vipd (and not by this kernel): the instance is imported without authentication; peers must drop AH too",
            ],
        );
        warned(
            &master,
            &[
                "seed003_master.conf:4:",
                "state MASTER",
                "imported as initial_state backup",
            ],
        );
        warned(
            &master,
            &["seed003_master.conf:5: vrrp_instance DIENST1: smtp_alert: not carried over"],
        );
        assert_eq!(master.warnings.len(), 3, "{:#?}", master.warnings);

        let backup = fixture("seed003_backup.conf");
        let i = &backup.config.instances[0];
        assert_eq!(
            (i.vrid, i.priority, i.initial_state),
            (51, 99, InitialState::Backup)
        );
        assert_eq!(i.auth_pass, None);
        warned(
            &backup,
            &[
                "seed003_backup.conf:13:",
                "AH authentication is not supported by vipd",
            ],
        );
        assert_eq!(backup.warnings.len(), 1, "{:#?}", backup.warnings);
    }

    #[test]
    fn seed003_global_defs_follow_the_include() {
        let imp = fixture("seed003_global_defs.conf");
        assert_eq!(imp.config.router_id, None);
        assert_eq!(imp.config.instances.len(), 1);
        assert_eq!(imp.config.instances[0].name, "DIENST1");
        for (line, kw) in [
            (10, "notification_email { ... }"),
            (14, "notification_email_from root@DOMAIN.TLD"),
            (15, "smtp_server localhost"),
            (16, "smtp_connect_timeout 30"),
        ] {
            warned(
                &imp,
                &[&format!(
                    "seed003_global_defs.conf:{line}: global_defs: {kw}: not carried over"
                )],
            );
        }
        // Warnings from the included file name the included file.
        warned(
            &imp,
            &["seed003_conf.d/DIENST1.conf:5: vrrp_instance DIENST1: smtp_alert"],
        );
        warned(
            &imp,
            &["seed003_conf.d/DIENST1.conf:14:", "AH authentication"],
        );
    }

    #[test]
    fn seed003_tracking_and_notify_are_named() {
        let imp = fixture("seed003_track_script.conf");
        warned(
            &imp,
            &["seed003_track_script.conf:8: global_defs: enable_script_security: not carried over"],
        );
        for (line, what) in [
            (11, "vrrp_script check_service1_health { ... }"),
            (28, "vrrp_instance DIENST1: track_script { ... }"),
            (33, "vrrp_script chk_http_port { ... }"),
            (39, "vrrp_script chk_haproxy { ... }"),
        ] {
            warned(
                &imp,
                &[&format!(
                    "seed003_track_script.conf:{line}: {what}: {LATER}"
                )],
            );
        }
        assert_eq!(imp.warnings.len(), 5, "{:#?}", imp.warnings);
        assert_eq!(imp.config.instances[0].vips, vec![vip("1.2.3.4/32")]);

        let imp = fixture("seed003_track_interface.conf");
        warned(
            &imp,
            &[
                "seed003_track_interface.conf:15: vrrp_instance DIENST1: track_interface { ... }: not carried over yet",
            ],
        );
        assert_eq!(imp.warnings.len(), 1);

        let imp = fixture("seed003_notify.conf");
        warned(
            &imp,
            &[
                "seed003_notify.conf:15: vrrp_instance DIENST1: notify /usr/local/sbin/notify-keepalived.sh: not carried over yet (tracking/notify/sync groups come in a later vipd release)",
            ],
        );
        assert_eq!(
            imp.warnings.len(),
            1,
            "commented-out notify_* lines are comments"
        );
    }

    #[test]
    fn seed003_unicast_pair_and_excluded() {
        let m = fixture("seed003_unicast_master.conf");
        let i = &m.config.instances[0];
        assert_eq!(
            i.unicast,
            Some(UnicastConfig {
                sources: vec![ip("1.2.3.4")],
                peers: vec![ip("5.6.7.8")]
            })
        );
        assert_eq!(
            i.vip_device.as_ref().map(|d| d.kind),
            Some(VipDeviceKind::Macvlan)
        );
        assert!(m.warnings.is_empty(), "{:#?}", m.warnings);

        let b = fixture("seed003_unicast_backup.conf");
        let i = &b.config.instances[0];
        assert_eq!(
            i.unicast,
            Some(UnicastConfig {
                sources: vec![ip("5.6.7.8")],
                peers: vec![ip("1.2.3.4")]
            })
        );
        assert_eq!((i.priority, i.initial_state), (99, InitialState::Backup));
        warned(
            &b,
            &[
                "seed003_unicast_backup.conf:22:",
                "notify_master /etc/keepalived/master.sh",
                LATER,
            ],
        );
        assert_eq!(b.warnings.len(), 1);

        let x = fixture("seed003_excluded.conf");
        let i = &x.config.instances[0];
        assert_eq!(i.vips, vec![vip("1.2.3.4/32")]);
        assert_eq!(
            i.excluded_vips,
            vec![vip("::ffff:10.1.1.100"), vip("::ffff:10.1.1.101")]
        );
        assert_eq!(i.excluded_vips[0].prefix_len, 128);
        warned(&x, &["seed003_excluded.conf:16:", "IPv4-mapped"]);
    }

    #[test]
    fn seed004_variants() {
        let mixed = fixture("seed004_mixed.conf");
        let i = &mixed.config.instances[0];
        assert_eq!(
            (i.name.as_str(), i.vrid, i.priority, i.version),
            ("VI_1", 1, 101, VrrpVersion::V2)
        );
        assert_eq!(i.initial_state, InitialState::Backup);
        assert_eq!(i.vips, vec![vip("10.1.1.100/32"), vip("10.1.1.101/32")]);
        assert_eq!(
            i.excluded_vips,
            vec![vip("::ffff:10.1.1.100"), vip("::ffff:10.1.1.101")]
        );
        warned(
            &mixed,
            &[
                "seed004_mixed.conf:17: vrrp_instance VI_1: virtual_ipaddress mixes IPv4 and IPv6 with VRRPv2",
                "moved to excluded_vips",
            ],
        );
        warned(
            &mixed,
            &["seed004_mixed.conf:4: vrrp_script chk_haproxy { ... }: not carried over yet"],
        );
        warned(
            &mixed,
            &[
                "seed004_mixed.conf:34: vrrp_instance VI_1: track_script { ... }: not carried over yet",
            ],
        );

        let two = fixture("seed004_two_instances.conf");
        let [v4, v6] = two.config.instances.as_slice() else {
            panic!("two instances expected")
        };
        assert_eq!(
            (v4.name.as_str(), v4.vrid, v4.version),
            ("VI_1", 1, VrrpVersion::V2)
        );
        assert_eq!(v4.vips, vec![vip("10.1.1.100/32"), vip("10.1.1.101/32")]);
        // IPv6-only: keepalived runs it as VRRPv3, so does vipd.
        assert_eq!(
            (v6.name.as_str(), v6.vrid, v6.version),
            ("VI_2", 2, VrrpVersion::V3)
        );
        assert_eq!(
            v6.vips,
            vec![vip("::ffff:10.1.1.100"), vip("::ffff:10.1.1.101")]
        );
        assert!(!two.warnings.iter().any(|w| w.contains("mixes")));

        let sync = fixture("seed004_sync_group.conf");
        assert_eq!(sync.config.instances, two.config.instances);
        warned(
            &sync,
            &[
                "seed004_sync_group.conf:54: vrrp_sync_group VI_1_2 { ... }: not carried over yet (tracking/notify/sync groups come in a later vipd release)",
            ],
        );

        let excl = fixture("seed004_excluded.conf");
        assert_eq!(excl.config.router_id.as_deref(), Some("elk1"));
        assert_eq!(excl.config.instances, mixed.config.instances);
        assert!(!excl.warnings.iter().any(|w| w.contains("mixes")));
    }

    #[test]
    fn seed000_ipvlan_dev_and_vmac() {
        let imp = fixture("seed000_ipvlan_dev.conf");
        let i = &imp.config.instances[0];
        assert_eq!(i.vips[0].dev.as_deref(), Some("keepalived0"));
        assert_eq!(i.vip_device, None);
        assert!(imp.warnings.is_empty(), "{:#?}", imp.warnings);

        let imp = fixture("seed000_use_vmac.conf");
        let i = &imp.config.instances[0];
        assert_eq!(i.vip_device_name().as_deref(), Some("vrrp.51"));
        warned(
            &imp,
            &[
                "seed000_use_vmac.conf:21:",
                "use_vmac without vmac_xmit_base",
                "vipd transmits them from the base interface's MAC",
            ],
        );
    }

    // --- tokenizer -----------------------------------------------------------

    #[test]
    fn braces_attach_and_comments_strip() {
        let text = "vrrp_instance web{ # comment {\n  interface eth0 ! another }\n  virtual_router_id 51#glued\n  virtual_ipaddress{192.0.2.10/24 dev eth0}\n  virtual_ipaddress_excluded {\n 192.0.2.11}}\n";
        let imp = ok(text);
        let i = &imp.config.instances[0];
        assert_eq!((i.interface.as_str(), i.vrid), ("eth0", 51));
        assert_eq!(i.vips, vec![vip("192.0.2.10/24")]);
        assert_eq!(i.excluded_vips, vec![vip("192.0.2.11/32")]);
        assert!(imp.warnings.is_empty(), "{:#?}", imp.warnings);

        // A block may open on the next line.
        let imp = ok(
            "vrrp_instance web\n{\n interface eth0\n virtual_router_id 9\n virtual_ipaddress\n {\n 192.0.2.1\n }\n}\n",
        );
        assert_eq!(imp.config.instances[0].vrid, 9);
    }

    #[test]
    fn quoted_strings_keep_spaces_and_comment_characters() {
        let imp = ok(&with(
            "  notify_master \"/usr/bin/do it # now ! really\"\n  authentication {\n    auth_type PASS\n    auth_pass \"a b#c!d\"\n  }",
        ));
        warned(
            &imp,
            &["notify_master \"/usr/bin/do it # now ! really\": not carried over yet"],
        );
        assert_eq!(
            imp.config.instances[0].auth_pass.as_deref(),
            Some("a b#c!d")
        );
        // A quoted name with a space is sanitized, with a warning.
        let imp = ok(&BASE
            .replace("vrrp_instance web", "vrrp_instance \"web front/1\"")
            .replace("\n  }\n", "\n  }\n}\n"));
        assert_eq!(imp.config.instances[0].name, "web_front_1");
        warned(
            &imp,
            &["keepalived.conf:1: vrrp_instance \"web front/1\": renamed to \"web_front_1\""],
        );
        // A quoted brace is a word, not a block.
        let e = err("vrrp_instance \"{\" \"}\"\n");
        assert!(e.message.contains("exactly one name"), "{e}");
    }

    #[test]
    fn includes_follow_sorted_globs_relative_to_the_including_file() {
        let t = TempDir::new("glob");
        let main = t.write(
            "etc/keepalived.conf",
            "global_defs {\n  router_id r1\n}\ninclude conf.d/*.conf\ninclude missing/*.conf\n",
        );
        t.write(
            "etc/conf.d/b.conf",
            "vrrp_instance b {\n  interface eth0\n  virtual_router_id 2\n  include ../vips/b.vips\n}\n",
        );
        t.write(
            "etc/conf.d/a.conf",
            "vrrp_instance a {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    192.0.2.1\n  }\n  bogus_keyword 1\n}\n",
        );
        t.write(
            "etc/conf.d/ignored.txt",
            "this is not keepalived syntax {\n",
        );
        t.write("etc/vips/b.vips", "virtual_ipaddress {\n  192.0.2.2\n}\n");
        let imp = import_file(&main).unwrap();
        let names: Vec<&str> = imp
            .config
            .instances
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(imp.config.router_id.as_deref(), Some("r1"));
        assert_eq!(imp.config.instances[1].vips, vec![vip("192.0.2.2/32")]);
        warned(
            &imp,
            &["keepalived.conf:5: include missing/*.conf: no file matches"],
        );
        let a = t.0.join("etc/conf.d/a.conf");
        warned(
            &imp,
            &[&format!(
                "{}:7: vrrp_instance a: bogus_keyword 1: not carried over",
                a.display()
            )],
        );
        assert_eq!(imp.warnings.len(), 2, "{:#?}", imp.warnings);

        // import_str resolves includes against the origin's directory.
        let imp = import_str("include conf.d/a.conf\n", &t.0.join("etc/virtual.conf")).unwrap();
        assert_eq!(imp.config.instances[0].name, "a");
    }

    #[test]
    fn include_loops_stop_at_depth_32() {
        let t = TempDir::new("loop");
        let main = t.write("loop.conf", "# comment\ninclude loop.conf\n");
        let e = import_file(&main).unwrap_err();
        assert_eq!(e.file, main);
        assert_eq!(e.line, 2);
        assert!(e.message.contains("deeper than 32 levels"), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}:2: include loop.conf", main.display())),
            "{e}"
        );

        // 32 levels are fine.
        let t = TempDir::new("deep");
        for n in 0..32 {
            t.write(&format!("l{n}.conf"), &format!("include l{}.conf\n", n + 1));
        }
        t.write("l32.conf", &with(""));
        assert!(import_file(&t.0.join("l0.conf")).is_ok());
        t.write("l32.conf", "include l33.conf\n");
        t.write("l33.conf", &with(""));
        let e = import_file(&t.0.join("l0.conf")).unwrap_err();
        assert_eq!(
            (e.file.file_name().unwrap().to_str(), e.line),
            (Some("l32.conf"), 1),
            "{e}"
        );
    }

    // --- errors --------------------------------------------------------------

    #[test]
    fn syntax_errors_name_file_and_line() {
        let cases: &[(&str, usize, &str)] = &[
            ("vrrp_instance a {\n interface eth0\n", 1, "never closed"),
            ("global_defs {\n}\n}\n", 3, "} without a matching {"),
            (
                "vrrp_instance a {\n notify \"/bin/x\n}\n",
                2,
                "unterminated quoted string",
            ),
            ("\n{\n}\n", 2, "a block must follow a keyword"),
            ("vrrp_instance a\n", 1, "vrrp_instance needs a { } block"),
            (
                "vrrp_instance a {\n priority 100 {\n }\n}\n",
                2,
                "priority takes no { } block",
            ),
            ("@host1 vrrp_instance a {\n}\n", 1, "@host"),
            ("$IF=eth0\n", 1, "parameter definitions"),
            ("include\n", 1, "include needs a file name"),
        ];
        for (text, line, msg) in cases {
            let e = err(text);
            assert_eq!(
                e.file,
                Path::new("/nonexistent/keepalived.conf"),
                "{text:?}"
            );
            assert_eq!(e.line, *line, "{text:?}: {e}");
            assert!(e.message.contains(msg), "{text:?}: {e}");
        }
        let e = err("global_defs {\n}\n");
        assert!(e.message.contains("no vrrp_instance found"), "{e}");
        assert_eq!(
            e.to_string(),
            format!("/nonexistent/keepalived.conf: {}", e.message)
        );
    }

    #[test]
    fn semantic_errors_name_the_instance() {
        let e = err(
            "\n\nvrrp_instance a {\n interface eth0\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n",
        );
        assert_eq!(e.line, 3);
        assert!(
            e.message
                .contains("vrrp_instance a has no virtual_router_id"),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            format!("/nonexistent/keepalived.conf:3: {}", e.message)
        );
        let e = err("vrrp_instance a {\n virtual_router_id 1\n}\n");
        assert_eq!(e.line, 1);
        assert!(
            e.message.contains("vrrp_instance a has no interface"),
            "{e}"
        );

        // vipd's own validation, pointed at the keepalived instance.
        let e = err(&format!("\n{}", with("  priority 255\n  nopreempt")));
        assert_eq!(e.line, 2, "{e}");
        assert!(
            e.message
                .starts_with("vrrp_instance web: vipd rejects the translation:"),
            "{e}"
        );
        assert!(e.message.contains("always preempts"), "{e}");
        let e = err(&with("  state MASTER\n  priority 100\n  nopreempt"));
        assert!(e.message.contains("must start as backup"), "{e}");
        let e = err(
            "vrrp_instance a {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress_excluded {\n 192.0.2.1\n }\n}\n",
        );
        assert!(e.message.contains("vips is empty"), "{e}");
        // Two instances with one VRID on one interface: the second is blamed.
        let two = format!(
            "{}{}",
            with(""),
            with("")
                .replace("vrrp_instance web", "vrrp_instance api")
                .replace("192.0.2.10", "192.0.2.11")
        );
        let e = err(&two);
        assert_eq!(e.line, 9, "{e}");
        assert!(e.message.contains("both use vrid 51"), "{e}");
        let e = err(&format!("{}{}", with(""), with("")));
        assert!(
            e.message
                .contains("defined twice (first at /nonexistent/keepalived.conf:1)"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_point_at_their_line() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "  virtual_router_id 256",
                7,
                "virtual_router_id 256 is invalid",
            ),
            ("  priority 0", 7, "priority 0 is invalid"),
            ("  advert_int 0.001", 7, "below 0.01"),
            ("  advert_int fast", 7, "advert_int fast is invalid"),
            (
                "  virtual_ipaddress {\n    192.0.2.300\n  }",
                8,
                "is not an IP address",
            ),
            (
                "  virtual_ipaddress {\n    192.0.2.3/33\n  }",
                8,
                "prefix /33",
            ),
            (
                "  unicast_peer {\n    peer.example\n  }",
                8,
                "is not an IP address",
            ),
            ("  interface eth0/1", 7, "not a valid interface name"),
            ("  version 4", 7, "VRRP version 4 is invalid"),
            ("  preempt_delay 2000", 7, "out of range"),
            ("  use_vmac\n  use_ipvlan", 1, "exclude each other"),
        ];
        for (extra, line, msg) in cases {
            let e = err(&with(extra));
            assert_eq!(e.line, *line, "{extra:?}: {e}");
            assert!(e.message.contains(msg), "{extra:?}: {e}");
        }
    }

    // --- translation ----------------------------------------------------------

    #[test]
    fn versions_and_advert_intervals() {
        // keepalived's default is VRRPv2.
        let i = &ok(&with("")).config.instances[0];
        assert_eq!(i.version, VrrpVersion::V2);
        // Global and per-instance versions; sub-second adverts with v3.
        let imp = ok(&format!(
            "global_defs {{\n vrrp_version 3\n}}\n{}",
            with("  advert_int 0.1")
        ));
        let i = &imp.config.instances[0];
        assert_eq!(
            (i.version, i.advert_interval),
            (VrrpVersion::V3, Duration::from_millis(100))
        );
        assert!(imp.warnings.is_empty(), "{:#?}", imp.warnings);
        let i = &ok(&with("  version 3\n  advert_int 2.5")).config.instances[0];
        assert_eq!(
            (i.version, i.advert_interval),
            (VrrpVersion::V3, Duration::from_millis(2500))
        );
        // v3 rounds to centiseconds, v2 to whole seconds, as keepalived does.
        let imp = ok(&with("  vrrp_version 3\n  advert_int 0.123"));
        assert_eq!(
            imp.config.instances[0].advert_interval,
            Duration::from_millis(120)
        );
        warned(
            &imp,
            &[
                "keepalived.conf:8:",
                "advert_int 0.123",
                "rounded to 0.12 s",
            ],
        );
        let imp = ok(&with("  advert_int 1.5"));
        assert_eq!(
            imp.config.instances[0].advert_interval,
            Duration::from_secs(2)
        );
        warned(
            &imp,
            &["advert_int 1.5: VRRPv2 needs whole seconds: rounded to 2 s"],
        );
        let imp = ok(&with("  advert_int 0.3"));
        assert_eq!(
            imp.config.instances[0].advert_interval,
            Duration::from_secs(1)
        );
        let imp = ok(&with("  advert_int 300"));
        assert_eq!(
            imp.config.instances[0].advert_interval,
            Duration::from_secs(255)
        );
        warned(&imp, &["at most 255 s"]);
        // IPv6-only instances are VRRPv3, even against a global version 2.
        let v6 = with("").replace("192.0.2.10/24", "2001:db8::10/64");
        let imp = ok(&format!("global_defs {{\n vrrp_version 2\n}}\n{v6}"));
        assert_eq!(imp.config.instances[0].version, VrrpVersion::V3);
        assert!(imp.warnings.is_empty(), "{:#?}", imp.warnings);
        let imp = ok(&v6.replace("virtual_router_id 51", "virtual_router_id 51\n version 2"));
        assert_eq!(imp.config.instances[0].version, VrrpVersion::V3);
        warned(&imp, &["version 2: VRRPv2 carries IPv4 only"]);
    }

    #[test]
    fn mixed_families() {
        let mixed = with("").replace("192.0.2.10/24", "192.0.2.10/24\n    2001:db8::10/64");
        // v2: the IPv6 VIPs move to excluded_vips.
        let imp = ok(&mixed);
        let i = &imp.config.instances[0];
        assert_eq!(i.vips, vec![vip("192.0.2.10/24")]);
        assert_eq!(i.excluded_vips, vec![vip("2001:db8::10/64")]);
        warned(
            &imp,
            &[
                "keepalived.conf:1: vrrp_instance web: virtual_ipaddress mixes IPv4 and IPv6 with VRRPv2",
                "2001:db8::10/64 moved to excluded_vips",
            ],
        );
        // v3: both families are advertised; the operator is told.
        let imp = ok(&mixed.replace("interface eth0", "interface eth0\n version 3"));
        let i = &imp.config.instances[0];
        assert_eq!(i.vips, vec![vip("192.0.2.10/24"), vip("2001:db8::10/64")]);
        assert!(i.advertises(Family::V4) && i.advertises(Family::V6));
        warned(
            &imp,
            &[
                "mixes IPv4 and IPv6: vipd advertises both families",
                "ignored the IPv6 ones and advertised only IPv4",
            ],
        );
        // First VIP IPv6: keepalived made it an IPv6 (v3) instance.
        let imp = ok(&with("").replace("192.0.2.10/24", "2001:db8::10/64\n    192.0.2.10/24"));
        assert_eq!(imp.config.instances[0].version, VrrpVersion::V3);
        warned(&imp, &["ignored the IPv4 ones and advertised only IPv6"]);
        // v3 unicast with peers of one family only: the other family is not advertised.
        let imp = ok(&mixed.replace(
            "interface eth0",
            "interface eth0\n version 3\n unicast_peer {\n 192.0.2.2\n }",
        ));
        let i = &imp.config.instances[0];
        assert_eq!(i.vips, vec![vip("192.0.2.10/24")]);
        assert_eq!(i.excluded_vips, vec![vip("2001:db8::10/64")]);
        warned(
            &imp,
            &["no IPv6 unicast_peer: 2001:db8::10/64 moved to excluded_vips"],
        );
    }

    #[test]
    fn authentication() {
        let pass =
            |p: &str| format!("  authentication {{\n    auth_type PASS\n    auth_pass {p}\n  }}");
        let imp = ok(&with(&pass("secret")));
        assert_eq!(imp.config.instances[0].auth_pass.as_deref(), Some("secret"));
        assert!(imp.warnings.is_empty());
        let imp = ok(&with(&pass("0123456789")));
        assert_eq!(
            imp.config.instances[0].auth_pass.as_deref(),
            Some("01234567")
        );
        warned(
            &imp,
            &[
                "keepalived.conf:9: vrrp_instance web: auth_pass is longer than 8 characters: truncated",
            ],
        );
        assert!(
            !imp.warnings[0].contains("0123456789"),
            "never echo the password"
        );
        let imp = ok(&with(&format!("  version 3\n{}", pass("secret"))));
        assert_eq!(imp.config.instances[0].auth_pass, None);
        warned(&imp, &["VRRPv3 has no authentication"]);
        let imp = ok(&with(
            "  authentication {\n    auth_type AH\n    auth_pass 1234\n  }",
        ));
        assert_eq!(imp.config.instances[0].auth_pass, None);
        warned(
            &imp,
            &[
                "keepalived.conf:8: vrrp_instance web: auth_type AH: AH authentication is not supported by vipd",
            ],
        );
        let imp = ok(&with("  authentication {\n    auth_type PASS\n  }"));
        warned(&imp, &["auth_type PASS without auth_pass"]);
    }

    #[test]
    fn vips_options_and_devices() {
        let imp = ok(&with(
            "  virtual_ipaddress_excluded {\n    192.0.2.20/24 dev eth0 label eth0:web scope global brd 192.0.2.255\n    192.0.2.21 dev eth1 scope link -nodad\n    2001:db8::5/64 label eth0:v6\n  }",
        ));
        let x = &imp.config.instances[0].excluded_vips;
        assert_eq!(x[0].dev, None, "dev equal to the interface is the default");
        assert_eq!(x[0].label.as_deref(), Some("eth0:web"));
        assert_eq!(x[1].dev.as_deref(), Some("eth1"));
        assert_eq!(x[2].label, None);
        warned(
            &imp,
            &[
                "keepalived.conf:8:",
                "192.0.2.20: brd 192.0.2.255: not carried over",
            ],
        );
        warned(
            &imp,
            &[
                "keepalived.conf:9:",
                "192.0.2.21: scope link: not carried over",
            ],
        );
        warned(&imp, &["192.0.2.21: option -nodad: not carried over"]);
        warned(&imp, &["2001:db8::5: label dropped"]);
        assert_eq!(imp.warnings.len(), 4, "{:#?}", imp.warnings);
        // Duplicates are dropped with a warning, as keepalived does.
        let imp = ok(&with("  virtual_ipaddress_excluded {\n    192.0.2.10\n  }"));
        assert!(imp.config.instances[0].excluded_vips.is_empty());
        warned(&imp, &["192.0.2.10 is listed twice"]);

        // use_vmac with a name, use_ipvlan with name and address.
        let imp = ok(&with("  use_vmac vrrp.web\n  vmac_xmit_base"));
        assert_eq!(
            imp.config.instances[0].vip_device,
            Some(VipDevice {
                kind: VipDeviceKind::Macvlan,
                name: Some("vrrp.web".into())
            })
        );
        assert!(imp.warnings.is_empty());
        let imp = ok(&with("  use_ipvlan ipv.web 192.0.2.99/32 bridge"));
        assert_eq!(
            imp.config.instances[0].vip_device,
            Some(VipDevice {
                kind: VipDeviceKind::Ipvlan,
                name: Some("ipv.web".into())
            })
        );
        warned(
            &imp,
            &["use_ipvlan address 192.0.2.99/32: not carried over"],
        );
        warned(&imp, &["use_ipvlan bridge: not carried over"]);
        let imp = ok(&with("  use_ipvlan"));
        assert_eq!(
            imp.config.instances[0].vip_device_name().as_deref(),
            Some("vipd.51")
        );
    }

    #[test]
    fn unicast_details() {
        let imp = ok(&with(
            "  unicast_src_ip 192.0.2.1 dev eth9\n  unicast_peer {\n    192.0.2.2 dev eth0\n    192.0.2.3 min_ttl 2\n    192.0.2.2\n    2001:db8::3\n  }",
        ));
        let u = imp.config.instances[0].unicast.clone().unwrap();
        assert_eq!(u.sources, vec![ip("192.0.2.1")]);
        assert_eq!(u.peers, vec![ip("192.0.2.2"), ip("192.0.2.3")]);
        warned(
            &imp,
            &["keepalived.conf:7:", "192.0.2.1 dev eth9: not carried over"],
        );
        warned(
            &imp,
            &[
                "keepalived.conf:10:",
                "unicast_peer 192.0.2.3: min_ttl 2: not carried over",
            ],
        );
        warned(
            &imp,
            &[
                "keepalived.conf:11:",
                "unicast_peer 192.0.2.2 is listed twice",
            ],
        );
        warned(
            &imp,
            &[
                "keepalived.conf:12:",
                "unicast_peer 2001:db8::3: dropped, the instance has no IPv6 VIP",
            ],
        );
        assert_eq!(imp.warnings.len(), 4, "{:#?}", imp.warnings);
        let imp = ok(&with("  unicast_src_ip 192.0.2.1"));
        assert_eq!(imp.config.instances[0].unicast, None);
        warned(&imp, &["unicast_src_ip 192.0.2.1 without unicast_peer"]);
        let e = err(&with("  unicast_peer {\n    2001:db8::3\n  }"));
        assert!(
            e.message
                .contains("no unicast_peer of the VIPs' address family"),
            "{e}"
        );
    }

    #[test]
    fn states_priorities_preemption_and_garp() {
        let i = &ok(&with("  nopreempt\n  preempt_delay 0")).config.instances[0];
        assert!(!i.preempt);
        let i = &ok(&with("  preempt\n  preempt_delay 1.5")).config.instances[0];
        assert!(i.preempt);
        assert_eq!(i.preempt_delay, Duration::from_millis(1500));
        let imp = ok(&with("  nopreempt\n  preempt_delay 10"));
        assert_eq!(imp.config.instances[0].preempt_delay, Duration::ZERO);
        warned(
            &imp,
            &["preempt_delay: dropped, it has no effect with nopreempt"],
        );
        // keepalived 2.x: MASTER without priority is the address owner.
        let imp = ok(&with("  state MASTER"));
        let i = &imp.config.instances[0];
        assert_eq!((i.priority, i.initial_state), (255, InitialState::Master));
        warned(&imp, &["state MASTER without priority"]);
        let i = &ok(&with("  priority 255")).config.instances[0];
        assert_eq!(i.initial_state, InitialState::Master);
        let imp = ok(&with("  state master"));
        assert_eq!(imp.config.instances[0].initial_state, InitialState::Backup);
        warned(&imp, &["state \"master\" is not MASTER or BACKUP"]);
        let imp = ok(&with("  priority 100\n  priority 150"));
        assert_eq!(imp.config.instances[0].priority, 150);
        warned(
            &imp,
            &[
                "keepalived.conf:8: vrrp_instance web: priority is given twice (also at /nonexistent/keepalived.conf:7)",
            ],
        );

        let imp = ok(&with(
            "  garp_master_delay 10\n  garp_master_repeat 3\n  garp_interval 0.001\n  garp_master_refresh 60\n  garp_master_refresh_repeat 2",
        ));
        let g = &imp.config.instances[0].garp;
        assert_eq!(
            *g,
            GarpConfig {
                repeat: 3,
                interval: Duration::from_millis(1),
                second_burst_after: Duration::from_secs(10),
                refresh: Duration::from_secs(60),
            }
        );
        warned(
            &imp,
            &[
                "keepalived.conf:11:",
                "garp_master_refresh_repeat 2: not carried over",
            ],
        );
        let imp = ok(&with("  garp_interval 0.01\n  gna_interval 0.05"));
        assert_eq!(
            imp.config.instances[0].garp.interval,
            Duration::from_millis(50)
        );
        warned(
            &imp,
            &[
                "keepalived.conf:8:",
                "garp_interval 10ms and gna_interval 50ms differ",
            ],
        );
        let imp = ok(&with("  garp_interval 0.01\n  gna_interval 0.01"));
        assert!(imp.warnings.is_empty());
    }

    #[test]
    fn nothing_is_dropped_silently() {
        let imp = ok(&format!(
            "global_defs {{\n  router_id lb1\n  vrrp_strict\n  vrrp_garp_master_delay 1\n}}\n{}\nvirtual_server 192.0.2.10 80 {{\n  real_server 10.0.0.1 80 {{\n  }}\n}}\nstatic_routes {{\n}}\nfrobnicate\nvrrp_track_process p {{\n}}\n",
            with(
                "  dont_track_primary\n  accept\n  mcast_src_ip 192.0.2.1\n  track_file {\n    f\n  }\n  notify_fault /bin/x\n  virtual_routes {\n  }"
            )
        ));
        for needle in [
            "keepalived.conf:3: global_defs: vrrp_strict: not carried over",
            "keepalived.conf:4: global_defs: vrrp_garp_master_delay 1: not carried over",
            "keepalived.conf:12: vrrp_instance web: dont_track_primary: not carried over",
            "keepalived.conf:13: vrrp_instance web: accept: not carried over",
            "keepalived.conf:14: vrrp_instance web: mcast_src_ip 192.0.2.1: not carried over",
            "keepalived.conf:15: vrrp_instance web: track_file { ... }: not carried over yet",
            "keepalived.conf:18: vrrp_instance web: notify_fault /bin/x: not carried over yet",
            "keepalived.conf:19: vrrp_instance web: virtual_routes { ... }: not carried over",
            "keepalived.conf:23: virtual_server 192.0.2.10 80 { ... }: not carried over (IPVS",
            "keepalived.conf:27: static_routes { ... }: not carried over",
            "keepalived.conf:29: frobnicate: unknown top-level keyword",
            "keepalived.conf:30: vrrp_track_process p { ... }: not carried over yet",
        ] {
            warned(&imp, &[needle]);
        }
        assert_eq!(imp.warnings.len(), 12, "{:#?}", imp.warnings);
        assert_eq!(imp.config.router_id.as_deref(), Some("lb1"));
    }

    #[test]
    fn names_are_sanitized_and_kept_unique() {
        let a = with("").replace("vrrp_instance web", "vrrp_instance web:1");
        let b = with("")
            .replace("vrrp_instance web", "vrrp_instance web/1")
            .replace("virtual_router_id 51", "virtual_router_id 52")
            .replace("192.0.2.10", "192.0.2.11");
        let imp = ok(&format!("{a}{b}"));
        let names: Vec<&str> = imp
            .config
            .instances
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(names, ["web_1", "web_1-2"]);
        warned(&imp, &["vrrp_instance \"web:1\": renamed to \"web_1\""]);
        warned(&imp, &["vrrp_instance \"web/1\": renamed to \"web_1-2\""]);
        let long = "x".repeat(80);
        let imp = ok(&with("").replace("vrrp_instance web", &format!("vrrp_instance {long}")));
        assert_eq!(imp.config.instances[0].name.len(), 64);
    }

    #[test]
    fn output_always_parses_back() {
        let imp = ok(&format!(
            "global_defs {{\n  router_id 42\n}}\n{}",
            with(
                "  version 3\n  advert_int 0.05\n  preempt_delay 0.25\n  use_vmac\n  garp_interval 0.000125"
            )
        ));
        let yaml = imp.config.to_yaml();
        assert_eq!(
            Config::parse(&yaml, Path::new("x.yaml")).unwrap(),
            imp.config,
            "{yaml}"
        );
        assert_eq!(imp.config.router_id.as_deref(), Some("42"));
        assert_eq!(
            imp.config.instances[0].garp.interval,
            Duration::from_micros(125)
        );
        assert_eq!(
            imp.config.instances[0].vips[0].address,
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))
        );
    }

    #[test]
    fn unreadable_file_is_an_error() {
        let e = import_file(Path::new("/nonexistent/keepalived.conf")).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(
            e.to_string()
                .starts_with("/nonexistent/keepalived.conf: cannot read"),
            "{e}"
        );
    }
}
