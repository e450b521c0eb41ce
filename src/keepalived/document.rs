//! Stage 3, reading the top level: `global_defs`, the `vrrp_instance`
//! blocks, and what health is made of (`vrrp_script`, `track_file`,
//! `vrrp_track_process`, `vrrp_sync_group`), through the tables of
//! keywords.rs.

use std::collections::HashMap;

use super::instance::{self, RawKeepalivedInstance};
use super::keywords::{
    GLOBAL_DEFS, SCRIPT, SYNC_GROUP, Section, TOP, TRACK_FILE, TRACK_PROCESS, read_section,
};
use super::lex::{Loc, error};
use super::parse::Stmt;
use super::tracking::{
    RawScript, RawSyncGroup, RawTrackFile, RawTrackProcess, RawUser, read_named, user_of,
};
use super::values::parse_version;
use super::{ImportError, Warnings};
use crate::config::VrrpVersion;

/// What a keepalived.conf says, as read: the VRRP side of `global_defs`,
/// the instances, and the definitions and sync groups, each in the order
/// they appear.
#[derive(Default)]
pub(super) struct Document {
    pub router_id: Option<String>,
    /// `global_defs { vrrp_version }`: the default of the instances.
    pub global_version: Option<VrrpVersion>,
    /// `global_defs { script_user NAME [GROUP] }`.
    pub script_user: Option<RawUser>,
    /// `global_defs { enable_script_security }`.
    pub script_security: Option<Loc>,
    pub instances: Vec<RawKeepalivedInstance>,
    pub scripts: Vec<RawScript>,
    pub track_files: Vec<RawTrackFile>,
    pub track_processes: Vec<RawTrackProcess>,
    pub sync_groups: Vec<RawSyncGroup>,
    /// `global_defs { v3_checksum_as_v2 }` (wire_variants.rs).
    pub global_v3_checksum_as_v2: Option<(bool, Loc)>,
    /// Where each name was first defined, per kind of block.
    first_defined: HashMap<(&'static str, String), Loc>,
}

/// Reads the top-level statements.
pub(super) fn read(stmts: &[Stmt], warnings: &mut Warnings) -> Result<Document, ImportError> {
    let mut doc = Document::default();
    read_section(&TOP, "", stmts, &mut doc, warnings)?;
    Ok(doc)
}

pub(super) fn global_defs(
    warnings: &mut Warnings,
    st: &Stmt,
    doc: &mut Document,
) -> Result<(), ImportError> {
    let block = st.need_block()?;
    read_section(&GLOBAL_DEFS, "global_defs", &block.stmts, doc, warnings)
}

pub(super) fn router_id(
    _: &mut Warnings,
    st: &Stmt,
    doc: &mut Document,
) -> Result<(), ImportError> {
    doc.router_id = Some(st.one_arg()?.text.clone());
    Ok(())
}

pub(super) fn vrrp_version(
    _: &mut Warnings,
    st: &Stmt,
    doc: &mut Document,
) -> Result<(), ImportError> {
    doc.global_version = Some(parse_version(st.one_arg()?)?);
    Ok(())
}

pub(super) fn script_user(
    _: &mut Warnings,
    st: &Stmt,
    doc: &mut Document,
) -> Result<(), ImportError> {
    st.one_arg()?;
    doc.script_user = user_of(&st.args, st.loc());
    Ok(())
}

pub(super) fn enable_script_security(
    _: &mut Warnings,
    st: &Stmt,
    doc: &mut Document,
) -> Result<(), ImportError> {
    doc.script_security = Some(st.loc().clone());
    Ok(())
}

/// keepalived skips a second instance (script, file, process, sync group) of
/// the same name; vipd would run something else than keepalived did, so it
/// is an error.
fn defined_once(doc: &mut Document, kind: &'static str, st: &Stmt) -> Result<(), ImportError> {
    let name = st.args[0].text.clone();
    let loc = st.loc();
    if let Some(first) = doc.first_defined.get(&(kind, name.clone())) {
        return Err(error(
            loc,
            format!(
                "{kind} {name} is defined twice (first at {first}); keepalived skips the second, remove one"
            ),
        ));
    }
    doc.first_defined.insert((kind, name), loc.clone());
    Ok(())
}

pub(super) fn vrrp_instance(
    warnings: &mut Warnings,
    st: &Stmt,
    doc: &mut Document,
) -> Result<(), ImportError> {
    let raw = instance::read(warnings, st)?;
    defined_once(doc, "vrrp_instance", st)?;
    doc.instances.push(raw);
    Ok(())
}

/// A named definition (`vrrp_script NAME { ... }` and the like): read
/// through its table, defined once, kept in the document's `list`.
fn definition<T>(
    warnings: &mut Warnings,
    st: &Stmt,
    doc: &mut Document,
    (kind, section): (&'static str, &Section<T>),
    new: fn(String, Loc) -> T,
    list: fn(&mut Document) -> &mut Vec<T>,
) -> Result<(), ImportError> {
    let empty = new(st.args[0].text.clone(), st.loc().clone());
    let raw = read_named(section, st.kw(), st, empty, warnings)?;
    defined_once(doc, kind, st)?;
    list(doc).push(raw);
    Ok(())
}

type Read = Result<(), ImportError>;

pub(super) fn vrrp_script(w: &mut Warnings, st: &Stmt, doc: &mut Document) -> Read {
    let what = ("vrrp_script", &SCRIPT);
    definition(w, st, doc, what, RawScript::new, |d| &mut d.scripts)
}

/// `track_file NAME { }`, or its old name `vrrp_track_file`.
pub(super) fn track_file(w: &mut Warnings, st: &Stmt, doc: &mut Document) -> Read {
    let what = ("track_file", &TRACK_FILE);
    definition(w, st, doc, what, RawTrackFile::new, |d| &mut d.track_files)
}

pub(super) fn vrrp_track_process(w: &mut Warnings, st: &Stmt, doc: &mut Document) -> Read {
    let what = ("vrrp_track_process", &TRACK_PROCESS);
    definition(w, st, doc, what, RawTrackProcess::new, |d| {
        &mut d.track_processes
    })
}

pub(super) fn vrrp_sync_group(w: &mut Warnings, st: &Stmt, doc: &mut Document) -> Read {
    let what = ("vrrp_sync_group", &SYNC_GROUP);
    definition(w, st, doc, what, RawSyncGroup::new, |d| &mut d.sync_groups)
}
