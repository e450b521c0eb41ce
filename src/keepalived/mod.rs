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
use std::path::Path;

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

/// Reads and translates a keepalived.conf, following its `include`s.
pub fn import_file(path: &Path) -> Result<Import, ImportError> {
    let text = read_text(path).map_err(|e| {
        ImportError::whole_file(
            path,
            format!("cannot read the keepalived configuration: {e}"),
        )
    })?;
    import_str(&text, path)
}

/// Translates keepalived.conf text; `origin` names it in errors and warnings,
/// and `include` patterns are resolved relative to its directory.
pub fn import_str(text: &str, origin: &Path) -> Result<Import, ImportError> {
    let mut warnings = Warnings::default();
    let tokens = lex::lex(origin, text, &mut warnings)?;
    let stmts = parse::parse(tokens)?;
    let document = document::read(&stmts, &mut warnings)?;
    if document.instances.is_empty() {
        return Err(ImportError::whole_file(
            origin,
            "no vrrp_instance found (after following includes): nothing to import",
        ));
    }
    let mut resolved = resolve::instances(&document, &mut warnings)?;
    let health = health::resolve(&document, &mut resolved, &mut warnings)?;
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
    Ok(Import {
        config,
        warnings: warnings.0,
    })
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
struct Warnings(Vec<String>);

impl Warnings {
    fn warn(&mut self, loc: &Loc, message: impl fmt::Display) {
        self.0.push(format!("{loc}: {message}"));
    }

    /// A warning about something inside `context` (`vrrp_instance NAME`).
    fn about(&mut self, loc: &Loc, context: &str, message: impl fmt::Display) {
        self.0.push(format!("{loc}: {context}: {message}"));
    }
}
