//! keepalived's VRRPv3-over-IPv4 checksum keywords (issue 11), read and
//! resolved in one place: `old_unicast_checksum` (per instance) and
//! `v3_checksum_as_v2` (per instance and in `global_defs`; keepalived 2.3
//! and later) become vipd's `v3_ipv4_checksum`, so an imported router
//! sums its adverts as its keepalived peers expect.

use super::document::Document;
use super::instance::RawKeepalivedInstance;
use super::lex::{Loc, Token, error};
use super::parse::Stmt;
use super::{ImportError, Warnings};
use crate::config::{V3Ipv4ChecksumForm, VrrpVersion};

type Read = Result<(), ImportError>;

/// keepalived's `check_true_false`: no word means true.
fn flag(st: &Stmt) -> Result<bool, ImportError> {
    let Some(t): Option<&Token> = st.args.first() else {
        return Ok(true);
    };
    match t.text.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" => Ok(true),
        "false" | "off" | "no" => Ok(false),
        _ => Err(error(
            &t.loc,
            format!(
                "{} {} is invalid: use true or false (or no word, meaning true)",
                st.kw(),
                t.shown()
            ),
        )),
    }
}

/// `old_unicast_checksum [never]`: keepalived 1.3.6's unicast checksum,
/// the pseudo-header with 224.0.0.18 as destination. `never` only stops
/// keepalived from switching to it on its own, which vipd never does.
pub(super) fn old_unicast_checksum(
    _: &mut Warnings,
    st: &Stmt,
    r: &mut RawKeepalivedInstance,
) -> Read {
    let form = match st.args.first() {
        None => V3Ipv4ChecksumForm::GroupPseudoHeader,
        Some(t) if t.text == "never" => V3Ipv4ChecksumForm::PseudoHeader,
        Some(t) => {
            return Err(error(
                &t.loc,
                format!(
                    "old_unicast_checksum {} is invalid: keepalived knows no word or `never`",
                    t.shown()
                ),
            ));
        }
    };
    r.old_unicast_checksum = Some((form, st.loc().clone()));
    Ok(())
}

/// `v3_checksum_as_v2 [true|false]` in an instance.
pub(super) fn v3_checksum_as_v2(
    _: &mut Warnings,
    st: &Stmt,
    r: &mut RawKeepalivedInstance,
) -> Read {
    r.v3_checksum_as_v2 = Some((flag(st)?, st.loc().clone()));
    Ok(())
}

/// `v3_checksum_as_v2 [true|false]` in `global_defs`: the instances' default.
pub(super) fn global_v3_checksum_as_v2(_: &mut Warnings, st: &Stmt, doc: &mut Document) -> Read {
    doc.global_v3_checksum_as_v2 = Some((flag(st)?, st.loc().clone()));
    Ok(())
}

/// The form the imported instance sends, as keepalived would: the
/// instance's `v3_checksum_as_v2`, else the global one, else
/// `old_unicast_checksum`, else the RFC 5798 form. VRRPv2 has no such
/// choice: a keyword given there is dropped with a warning.
pub(super) fn checksum_form(
    r: &RawKeepalivedInstance,
    global_as_v2: Option<&(bool, Loc)>,
    version: VrrpVersion,
    warnings: &mut Warnings,
) -> V3Ipv4ChecksumForm {
    let ctx = r.context();
    let as_v2 = r.v3_checksum_as_v2.as_ref().or(global_as_v2);
    if version == VrrpVersion::V2 {
        for loc in [
            as_v2.map(|(_, l)| l),
            r.old_unicast_checksum.as_ref().map(|(_, l)| l),
        ]
        .into_iter()
        .flatten()
        {
            warnings.about(
                loc,
                &ctx,
                "VRRPv3 checksum setting: dropped, the instance runs VRRPv2 (whose checksum never has a pseudo-header)",
            );
        }
        return V3Ipv4ChecksumForm::PseudoHeader;
    }
    match (as_v2, &r.old_unicast_checksum) {
        (Some((true, _)), Some((V3Ipv4ChecksumForm::GroupPseudoHeader, loc))) => {
            warnings.about(
                loc,
                &ctx,
                "old_unicast_checksum: dropped, v3_checksum_as_v2 leaves the pseudo-header out altogether (v3_ipv4_checksum: message_only)",
            );
            V3Ipv4ChecksumForm::MessageOnly
        }
        (Some((true, _)), _) => V3Ipv4ChecksumForm::MessageOnly,
        (_, Some((form, _))) => *form,
        (_, None) => V3Ipv4ChecksumForm::PseudoHeader,
    }
}
