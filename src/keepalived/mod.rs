//! Import of a keepalived.conf (its VRRP side) into vipd's configuration.
//!
//! Five stages, one module each:
//!
//! 1. **Lexing** (`lex`): words, quoted strings and braces, each with its
//!    file and line; comments stripped; `include` globs followed.
//! 2. **Parsing** (`parse`): statements (`keyword words... [{ block }]`);
//!    unbalanced braces are errors.
//! 3. **Reading** (`document`, `instance`, `tracking`): `global_defs`, each
//!    `vrrp_instance`, `vrrp_script`, `track_file`, `vrrp_track_process`
//!    and `vrrp_sync_group` block, statement by statement through the tables
//!    of `keywords`, which say for every keyword whether it is translated (by
//!    which handler, with or without a block, and what a repeat means) or has
//!    no vipd equivalent. Everything vipd does not have produces a warning
//!    naming the keyword and its `file:line`. Nothing is dropped silently.
//! 4. **Resolving** (`resolve`, `health`, `merge`, with `command` for the
//!    scripts): defaults, families and versions as keepalived resolves them,
//!    into the instance vipd would read from YAML
//!    ([`crate::config::RawInstance`]); the trackers the instances and sync
//!    groups use (shell idioms become built-in trackers), with keepalived's
//!    weights; notify commands; sync groups as groups, or, one IPv4 and one
//!    IPv6 instance, as one instance advertising both families.
//! 5. **Validation**: vipd's own rules, the ones that check a YAML file
//!    (`InstanceConfig::try_from`, [`crate::config::validate_instances`],
//!    [`crate::config::validate_health`]), so the importer never hands out a
//!    configuration vipd would refuse to load; an error points at the
//!    keepalived block it is about.
//!
//! Where keepalived itself adjusts a configuration (VRRPv2 advert intervals
//! rounded to whole seconds, `auth_pass` cut to 8 characters, IPv6 instances
//! run as VRRPv3, authentication ignored with VRRPv3, ...), the importer does
//! the same and says so, so the imported router keeps talking to keepalived
//! peers exactly as before.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::config::{
    Config, InstanceConfig, Place, RawInstance, RuleError, validate_health, validate_instances,
};

mod addresses;
mod command;
mod document;
mod health;
mod instance;
mod keywords;
mod lex;
mod merge;
mod parse;
mod resolve;
mod tracking;
mod values;
mod wire_variants;

#[cfg(test)]
mod tests;

use instance::RawKeepalivedInstance;
use lex::{Loc, error};

/// How deep `include` may nest before the importer assumes a loop.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// The outcome of an import: a configuration vipd accepts, and what the
/// operator must look at (one line each, `FILE:LINE: ...`).
#[derive(Debug, Clone)]
pub struct Import {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// A keepalived.conf the importer cannot translate, located in its file.
/// `line` is `None` when the error concerns the whole file (e.g. it cannot
/// be read); keepalived.conf errors carry no column.
pub type ImportError = crate::diagnostic::Diagnostic;

/// How an import looks at the world outside the file: where absolute paths
/// lead, and what the devices the configuration names are on this host.
#[derive(Clone, Copy)]
pub struct ImportOptions<'a> {
    /// Where `/` of the configuration is: the host's own tree, or a copy
    /// of another host's (`vipctl import-keepalived --root DIR`).
    pub root: Root<'a>,
    /// What a device named in the configuration is on this host; an
    /// offline import (a copy of another host's tree, a test) answers
    /// [`HostLink::NotLookedUp`].
    pub host_links: &'a dyn Fn(&str) -> HostLink,
}

impl ImportOptions<'_> {
    /// The host's own tree, and no device looked up: the configuration
    /// alone decides.
    pub const OFFLINE: ImportOptions<'static> = ImportOptions {
        root: Root::Host,
        host_links: &|_| HostLink::NotLookedUp,
    };
}

/// Where the absolute paths of a keepalived.conf (the main file's, its
/// `include`s) are looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root<'a> {
    /// As written: this host's files.
    Host,
    /// Under this directory, as if it were `/`: a copy of another host's
    /// `/etc/keepalived` tree imports as it would there. `..` stops at the
    /// directory, as it stops at `/`.
    Copy(&'a Path),
}

impl Root<'_> {
    /// `path` as this root sees it (relative paths are left as they are).
    pub fn resolve(&self, path: &Path) -> PathBuf {
        match self {
            Root::Copy(dir) if path.is_absolute() => dir.join(below_root(path)),
            _ => path.to_path_buf(),
        }
    }
}

/// An absolute path's components below `/`, with `.` dropped and `..`
/// taken back lexically, never above `/` (as the kernel does at `/`).
fn below_root(path: &Path) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    parts.iter().collect()
}

/// What a device that a VIP line names (`dev X`) is on the host the import
/// runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostLink {
    /// Not looked up (offline import): the configuration alone decides.
    NotLookedUp,
    /// This host has no such device.
    Missing,
    /// An IPVLAN.
    Ipvlan,
    /// Another kind of device: its kind as `ip -d link show` names it
    /// (`macvlan`, `dummy`, ...), empty for a plain one (an Ethernet NIC).
    Other(String),
}

/// An import that failed: the error, and what must be seen whatever else
/// happens (every `include` that matched no file, `FILE:LINE: ...`), since
/// a missing file is often why the import failed.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub error: ImportError,
    pub unmatched_includes: Vec<String>,
}

/// Reads and translates a keepalived.conf, following its `include`s, with
/// the host's own tree and nothing looked up on the host.
pub fn import_file(path: &Path) -> Result<Import, ImportError> {
    import_path(path, &ImportOptions::OFFLINE).map_err(|r| r.error)
}

/// Reads and translates a keepalived.conf, following its `include`s, as
/// `options` say.
pub fn import_path(path: &Path, options: &ImportOptions) -> Result<Import, Rejected> {
    let resolved = options.root.resolve(path);
    let text = read_text(&resolved).map_err(|e| {
        let shown = match options.root {
            Root::Copy(dir) if resolved != path => format!(
                "{} (under --root {}: {})",
                path.display(),
                dir.display(),
                resolved.display()
            ),
            _ => path.display().to_string(),
        };
        Rejected {
            error: ImportError::whole_file(
                path,
                format!("cannot read the keepalived configuration {shown}: {e}"),
            ),
            unmatched_includes: Vec::new(),
        }
    })?;
    import_text(&text, &resolved, options)
}

/// Translates keepalived.conf text; `origin` names it in errors and warnings,
/// and `include` patterns are resolved relative to its directory.
pub fn import_str(text: &str, origin: &Path) -> Result<Import, ImportError> {
    import_text(text, origin, &ImportOptions::OFFLINE).map_err(|r| r.error)
}

/// [`import_str`] as `options` say, keeping the unmatched includes of a
/// failed import.
pub fn import_text(text: &str, origin: &Path, options: &ImportOptions) -> Result<Import, Rejected> {
    let mut warnings = Warnings::default();
    match translate(text, origin, options, &mut warnings) {
        Ok(config) => Ok(Import {
            config,
            warnings: warnings.all,
        }),
        Err(error) => Err(Rejected {
            error,
            unmatched_includes: (warnings.unmatched_includes.into_iter())
                .map(|u| u.warning)
                .collect(),
        }),
    }
}

fn translate(
    text: &str,
    origin: &Path,
    options: &ImportOptions,
    warnings: &mut Warnings,
) -> Result<Config, ImportError> {
    let tokens = lex::lex(origin, text, options.root, warnings)?;
    let stmts = parse::parse(tokens)?;
    let document = document::read(&stmts, warnings)?;
    if document.instances.is_empty() {
        return Err(ImportError::whole_file(
            origin,
            nothing_to_import(&warnings.unmatched_includes),
        ));
    }
    let mut resolved = resolve::instances(&document, options.host_links, warnings)?;
    let health = health::resolve(&document, &mut resolved, warnings)?;
    // Where vipd's rules across the file point: the keepalived block.
    let mut written: Vec<(Place, Loc, String)> = resolved
        .iter()
        .map(|(i, r)| (Place::Instance(i.name.clone()), r.loc.clone(), r.context()))
        .collect();
    written.extend(health.group_locs.iter().map(|(g, loc)| {
        let ctx = format!("vrrp_sync_group {g}");
        (Place::Group(g.clone()), loc.clone(), ctx)
    }));
    if let Some(u) = &document.script_user {
        let ctx = "global_defs".to_string();
        written.push((Place::Key("script_user"), u.loc.clone(), ctx));
    }
    let config = Config {
        router_id: document.router_id.clone(),
        instances: validate(resolved)?,
        networkd: Default::default(),
        script_user: health.script_user,
        trackers: health.trackers,
        groups: health.groups,
        // keepalived has no exporter of its own to translate.
        metrics: None,
    };
    validate_health(&config).map_err(|(place, e)| {
        let message = format!("vipd rejects the translation: {}", e.message);
        match written.iter().find(|(p, _, _)| *p == place) {
            Some((_, loc, ctx)) => error(loc, format!("{ctx}: {message}")),
            None => ImportError::whole_file(origin, message),
        }
    })?;
    Ok(config)
}

/// The error of a file without instances; when includes matched nothing,
/// they are the likely reason, and an absolute one suggests a copy of
/// another host's tree.
fn nothing_to_import(unmatched: &[UnmatchedInclude]) -> String {
    let mut m = "no vrrp_instance found (after following includes): nothing to import".to_string();
    if unmatched.is_empty() {
        return m;
    }
    let listed: Vec<String> = unmatched
        .iter()
        .map(|u| format!("{}: include {}", u.loc, u.pattern))
        .collect();
    let n = unmatched.len();
    m.push_str(&format!(
        "; {n} include{} matched no file ({})",
        if n == 1 { "" } else { "s" },
        listed.join(", ")
    ));
    if unmatched
        .iter()
        .any(|u| Path::new(&u.pattern).is_absolute())
    {
        m.push_str(
            ": for a copy of another host's configuration, import with --root DIR, DIR standing for that host's /",
        );
    }
    m
}

/// Checks the resolved instances with vipd's own rules, in order, each
/// against the ones before it (as a YAML file's are), so that an error names
/// the keepalived instance it is about, at its line.
fn validate(
    resolved: Vec<(RawInstance, &RawKeepalivedInstance)>,
) -> Result<Vec<InstanceConfig>, ImportError> {
    let mut instances = Vec::new();
    for (inst, read) in resolved {
        let rejected = |e: RuleError| {
            error(
                &read.loc,
                format!(
                    "{}: vipd rejects the translation: {}",
                    read.context(),
                    e.message
                ),
            )
        };
        instances.push(InstanceConfig::try_from(inst).map_err(rejected)?);
        validate_instances(&instances).map_err(rejected)?;
    }
    Ok(instances)
}

/// keepalived.conf files are mostly ASCII, but comments are often written in
/// Latin-1 by hand: never fail on them.
fn read_text(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What the importer tells the operator, one `FILE:LINE: ...` line each, in
/// the order found.
#[derive(Default)]
struct Warnings {
    all: Vec<String>,
    /// The `include`s that matched no file (their warnings are also in
    /// `all`), reported even when the import fails.
    unmatched_includes: Vec<UnmatchedInclude>,
}

struct UnmatchedInclude {
    loc: Loc,
    /// As written.
    pattern: String,
    warning: String,
}

impl Warnings {
    fn warn(&mut self, loc: &Loc, message: impl fmt::Display) {
        self.all.push(format!("{loc}: {message}"));
    }

    /// A warning about something inside `context` (`vrrp_instance NAME`).
    fn about(&mut self, loc: &Loc, context: &str, message: impl fmt::Display) {
        self.all.push(format!("{loc}: {context}: {message}"));
    }

    /// An `include` (`pattern` as written) that matched no file.
    fn unmatched_include(&mut self, loc: &Loc, pattern: &str, message: impl fmt::Display) {
        let warning = format!("{loc}: {message}");
        self.all.push(warning.clone());
        self.unmatched_includes.push(UnmatchedInclude {
            loc: loc.clone(),
            pattern: pattern.to_string(),
            warning,
        });
    }
}
