//! Stage 3, reading the top level: `global_defs` and the `vrrp_instance`
//! blocks, through the tables of keywords.rs.

use std::collections::HashMap;

use super::instance::{self, RawKeepalivedInstance};
use super::keywords::{GLOBAL_DEFS, TOP, read_section};
use super::lex::{Loc, error};
use super::parse::Stmt;
use super::values::parse_version;
use super::{ImportError, Warnings};
use crate::config::VrrpVersion;

/// What a keepalived.conf says, as read: the VRRP side of `global_defs` and
/// the instances in the order they appear.
#[derive(Default)]
pub(super) struct Document {
    pub router_id: Option<String>,
    /// `global_defs { vrrp_version }`: the default of the instances.
    pub global_version: Option<VrrpVersion>,
    pub instances: Vec<RawKeepalivedInstance>,
    /// Where each instance name was first defined.
    first_defined: HashMap<String, Loc>,
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

/// keepalived skips a second instance of the same name; vipd would run
/// something else than keepalived did, so it is an error.
pub(super) fn vrrp_instance(
    warnings: &mut Warnings,
    st: &Stmt,
    doc: &mut Document,
) -> Result<(), ImportError> {
    let raw = instance::read(warnings, st)?;
    if let Some(first) = doc.first_defined.get(&raw.name) {
        return Err(error(
            &raw.loc,
            format!(
                "vrrp_instance {} is defined twice (first at {first}); keepalived skips the second, remove one",
                raw.name
            ),
        ));
    }
    doc.first_defined.insert(raw.name.clone(), raw.loc.clone());
    doc.instances.push(raw);
    Ok(())
}
