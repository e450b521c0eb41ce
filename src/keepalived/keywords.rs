//! Every keyword the importer knows, one table per section (the top level,
//! `global_defs`, `vrrp_instance`), and the one reader that walks a section
//! through its table.
//!
//! An entry is one of: translated (its handler, whether it takes a `{ }`
//! block, what a repeat means), not yet carried over (tracking, notify, sync
//! groups: a later vipd release), or not carried over (vipd has no
//! equivalent; the reason says what to do instead). A keyword missing from
//! the table is warned about with its section's generic reason. Because the
//! block check and the "given twice" check run here, from the table, a
//! keyword cannot be translated without them.

use std::collections::HashMap;

use super::document::{self, Document};
use super::instance::{self, RawKeepalivedInstance};
use super::lex::{Loc, error};
use super::parse::Stmt;
use super::{ImportError, Warnings};

/// The reason given for the keywords planned for a later release.
pub(super) const LATER: &str =
    "not carried over yet (tracking/notify/sync groups come in a later vipd release)";

/// Reads one statement into what its section fills in.
pub(super) type Handler<T> = fn(&mut Warnings, &Stmt, &mut T) -> Result<(), ImportError>;

/// A section of keepalived.conf: its keywords, and the reason given for
/// keywords that are not in the table.
pub(super) struct Section<T: 'static> {
    pub unknown: &'static str,
    pub keywords: &'static [Keyword<T>],
}

pub(super) struct Keyword<T: 'static> {
    pub name: &'static str,
    pub meaning: Meaning<T>,
}

pub(super) enum Meaning<T: 'static> {
    Translated {
        handler: Handler<T>,
        takes: Takes,
        repeat: Repeat,
    },
    /// Planned for a later vipd release: warned with [`LATER`].
    NotYet,
    /// vipd has no equivalent: warned with this reason.
    NotCarried(&'static str),
}

/// What follows a translated keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Takes {
    /// Words on its line, and no `{ }` block.
    Words,
    /// A `{ }` block.
    Block,
    /// Exactly one name, then a `{ }` block (`vrrp_instance NAME { ... }`).
    NamedBlock,
}

/// What a second occurrence of a translated keyword in one block means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Repeat {
    /// Each occurrence adds to the earlier ones (VIP and peer blocks, one
    /// instance per `vrrp_instance`, a source address per family).
    Adds,
    /// The last one wins, as in keepalived, and the importer warns that the
    /// keyword "is given twice".
    LastWins,
    /// The last one wins without a warning. Only for the keywords the
    /// importer has always treated so (`authentication`, the `global_defs`
    /// values); making them [`Repeat::LastWins`] adds the warning.
    Replaces,
}

impl<T> Section<T> {
    pub fn find(&self, kw: &str) -> Option<&Keyword<T>> {
        self.keywords.iter().find(|k| k.name == kw)
    }
}

const fn translated<T>(
    name: &'static str,
    takes: Takes,
    repeat: Repeat,
    handler: Handler<T>,
) -> Keyword<T> {
    Keyword {
        name,
        meaning: Meaning::Translated {
            handler,
            takes,
            repeat,
        },
    }
}

const fn not_yet<T>(name: &'static str) -> Keyword<T> {
    Keyword {
        name,
        meaning: Meaning::NotYet,
    }
}

const fn not_carried<T>(name: &'static str, reason: &'static str) -> Keyword<T> {
    Keyword {
        name,
        meaning: Meaning::NotCarried(reason),
    }
}

/// Reasons shared by several keywords.
const IPVS: &str = "not carried over (IPVS virtual servers are outside vipd's scope)";
const STATIC: &str = "not carried over (configure static addresses, routes and rules in netplan)";
const ROUTES: &str =
    "not carried over (vipd moves addresses only; configure routes and rules in netplan)";
const GARP: &str = "not carried over (vipd has no equivalent; see the instance's garp settings)";

use Repeat::{Adds, LastWins, Replaces};
use Takes::{Block, NamedBlock, Words};

/// The top level of keepalived.conf.
pub(super) const TOP: Section<Document> = Section {
    unknown: "unknown top-level keyword, not carried over",
    keywords: &[
        translated("global_defs", Block, Adds, document::global_defs),
        translated("vrrp_instance", NamedBlock, Adds, document::vrrp_instance),
        not_yet("vrrp_script"),
        not_yet("vrrp_sync_group"),
        not_yet("vrrp_track_file"),
        not_yet("track_file"),
        not_yet("vrrp_track_process"),
        not_yet("track_process"),
        not_yet("bfd_instance"),
        not_carried("virtual_server", IPVS),
        not_carried("virtual_server_group", IPVS),
        not_carried("static_ipaddress", STATIC),
        not_carried("static_routes", STATIC),
        not_carried("static_rules", STATIC),
    ],
};

/// `global_defs { ... }`: only what VRRP needs is translated.
pub(super) const GLOBAL_DEFS: Section<Document> = Section {
    unknown: "not carried over",
    keywords: &[
        translated("router_id", Words, Replaces, document::router_id),
        translated("vrrp_version", Words, Replaces, document::vrrp_version),
    ],
};

/// `vrrp_instance NAME { ... }`.
#[rustfmt::skip]
pub(super) const INSTANCE: Section<RawKeepalivedInstance> = Section {
    unknown: "not carried over (no vipd equivalent)",
    keywords: &[
        translated("interface",                  Words, LastWins, instance::interface),
        translated("state",                      Words, LastWins, instance::state),
        translated("virtual_router_id",          Words, LastWins, instance::virtual_router_id),
        translated("priority",                   Words, LastWins, instance::priority),
        translated("advert_int",                 Words, LastWins, instance::advert_int),
        translated("nopreempt",                  Words, LastWins, instance::nopreempt),
        translated("preempt",                    Words, LastWins, instance::preempt),
        translated("preempt_delay",              Words, LastWins, instance::preempt_delay),
        translated("version",                    Words, LastWins, instance::version),
        translated("vrrp_version",               Words, LastWins, instance::version),
        translated("authentication",             Block, Replaces, instance::authentication),
        translated("virtual_ipaddress",          Block, Adds,     instance::virtual_ipaddress),
        translated("virtual_ipaddress_excluded", Block, Adds,     instance::virtual_ipaddress_excluded),
        // One source per family: resolve.rs keeps the last of each.
        translated("unicast_src_ip",             Words, Adds,     instance::unicast_src_ip),
        translated("unicast_peer",               Block, Adds,     instance::unicast_peer),
        translated("garp_master_delay",          Words, LastWins, instance::garp_master_delay),
        translated("garp_master_repeat",         Words, LastWins, instance::garp_master_repeat),
        translated("garp_master_refresh",        Words, LastWins, instance::garp_master_refresh),
        translated("garp_interval",              Words, LastWins, instance::garp_interval),
        translated("gna_interval",               Words, LastWins, instance::gna_interval),
        translated("use_vmac",                   Words, LastWins, instance::use_vmac),
        translated("vmac_xmit_base",             Words, LastWins, instance::vmac_xmit_base),
        translated("use_ipvlan",                 Words, LastWins, instance::use_ipvlan),
        not_yet("track_script"),
        not_yet("track_interface"),
        not_yet("track_file"),
        not_yet("track_process"),
        not_yet("track_bfd"),
        not_yet("track_src_ip"),
        not_yet("notify"),
        not_yet("notify_master"),
        not_yet("notify_backup"),
        not_yet("notify_fault"),
        not_yet("notify_stop"),
        not_yet("notify_deleted"),
        not_yet("notify_master_rx_lower_pri"),
        not_yet("notify_priority_changes"),
        not_carried("smtp_alert",                 "not carried over (vipd sends no e-mail alerts)"),
        not_carried("debug",                      "not carried over (vipd has no per-instance debug level)"),
        not_carried("mcast_src_ip",               "not carried over (vipd chooses the advert source address itself)"),
        not_carried("lvs_sync_daemon_interface",  "not carried over (IPVS is outside vipd's scope)"),
        not_carried("virtual_routes",             ROUTES),
        not_carried("virtual_rules",              ROUTES),
        not_carried("garp_master_refresh_repeat", GARP),
        not_carried("garp_lower_prio_delay",      GARP),
        not_carried("garp_lower_prio_repeat",     GARP),
    ],
};

/// Reads the statements of one block through its section's table.
/// `context` starts every warning about them (`global_defs`,
/// `vrrp_instance NAME`; empty at the top level).
pub(super) fn read_section<T>(
    section: &Section<T>,
    context: &str,
    stmts: &[Stmt],
    into: &mut T,
    warnings: &mut Warnings,
) -> Result<(), ImportError> {
    let prefix = if context.is_empty() {
        String::new()
    } else {
        format!("{context}: ")
    };
    let mut last_seen: HashMap<&str, &Loc> = HashMap::new();
    for st in stmts {
        let reason = match section.find(st.kw()).map(|k| &k.meaning) {
            Some(Meaning::Translated {
                handler,
                takes,
                repeat,
            }) => {
                check_shape(st, *takes)?;
                let previous = last_seen.insert(st.kw(), st.loc());
                if let (Repeat::LastWins, Some(prev)) = (repeat, previous) {
                    warnings.warn(
                        st.loc(),
                        format_args!(
                            "{prefix}{} is given twice (also at {prev}); the last one wins, as in keepalived",
                            st.kw()
                        ),
                    );
                }
                handler(warnings, st, into)?;
                continue;
            }
            Some(Meaning::NotYet) => LATER,
            Some(Meaning::NotCarried(reason)) => reason,
            None => section.unknown,
        };
        warnings.warn(st.loc(), format_args!("{prefix}{}: {reason}", st.shown()));
    }
    Ok(())
}

/// The words and block a translated keyword needs, checked before its
/// handler runs.
fn check_shape(st: &Stmt, takes: Takes) -> Result<(), ImportError> {
    match takes {
        Takes::Words => st.no_block(),
        Takes::Block => st.need_block().map(|_| ()),
        Takes::NamedBlock => {
            if st.args.len() != 1 {
                return Err(error(
                    st.loc(),
                    format!("{} needs exactly one name", st.kw()),
                ));
            }
            st.need_block().map(|_| ())
        }
    }
}
