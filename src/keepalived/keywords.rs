//! Every keyword the importer knows, one table per section (the top level,
//! `global_defs`, `vrrp_instance`, `vrrp_script`, `track_file`,
//! `vrrp_track_process`, `vrrp_sync_group`), and the one reader that walks a
//! section through its table.
//!
//! An entry is either translated (its handler, whether it takes a `{ }`
//! block, what a repeat means) or not carried over (vipd has no equivalent;
//! the reason says what to do instead). A keyword missing from the table is
//! warned about with its section's generic reason. Because the block check
//! and the "given twice" check run here, from the table, a keyword cannot be
//! translated without them.

use std::collections::HashMap;

use super::document::{self, Document};
use super::instance::{self, RawKeepalivedInstance};
use super::lex::{Loc, error};
use super::parse::Stmt;
use super::tracking::{self, RawScript, RawSyncGroup, RawTrackFile, RawTrackProcess, Tracking};
use super::wire_variants;
use super::{ImportError, Warnings};

/// Reads one statement into what its section fills in.
pub(super) type Handler<T> = fn(&mut Warnings, &Stmt, &mut T) -> Result<(), ImportError>;

/// A section of keepalived.conf: its keywords, and the reason given for
/// keywords that are not in the table.
pub(super) struct Section<T: 'static> {
    pub unknown: &'static str,
    pub keywords: &'static [Keyword<T>],
    /// The tracking and notify keywords instances and sync groups share
    /// ([`health_keywords`]); empty elsewhere.
    pub health: &'static [Keyword<T>],
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
        self.all().find(|k| k.name == kw)
    }

    pub fn all(&self) -> impl Iterator<Item = &Keyword<T>> {
        self.keywords.iter().chain(self.health)
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
const LOWER_PRIO: &str = "not carried over (a vipd master hearing a lower-priority master advertises at once and announces its VIPs once per episode: lower_priority_master: reassert, the default)";
const BFD: &str =
    "not carried over (vipd has no BFD; track the neighbour with a tcp, exec or interface tracker)";
const SMTP: &str = "not carried over (vipd sends no e-mail alerts)";
const NOTIFY_DELETED: &str = "not carried over (vipd runs notify stop, with VIPD_STATE=STOP, when a reload removes an instance; move the script there if it should run then)";
const PRIORITY_CHANGES: &str = "not carried over (vipd notifies state changes only; vipctl status shows the effective priority)";
const PROCESS_DELAY: &str = "not carried over (vipd has no delays for processes; set rise/fall on the tracker to ride out a restart)";

use Repeat::{Adds, LastWins, Replaces};
use Takes::{Block, NamedBlock, Words};

/// The top level of keepalived.conf.
#[rustfmt::skip]
pub(super) const TOP: Section<Document> = Section {
    unknown: "unknown top-level keyword, not carried over",
    keywords: &[
        translated("global_defs",        Block,      Adds, document::global_defs),
        translated("vrrp_instance",      NamedBlock, Adds, document::vrrp_instance),
        translated("vrrp_script",        NamedBlock, Adds, document::vrrp_script),
        translated("track_file",         NamedBlock, Adds, document::track_file),
        translated("vrrp_track_file",    NamedBlock, Adds, document::track_file),
        translated("vrrp_track_process", NamedBlock, Adds, document::vrrp_track_process),
        translated("vrrp_sync_group",    NamedBlock, Adds, document::vrrp_sync_group),
        not_carried("bfd_instance",         BFD),
        not_carried("virtual_server",       IPVS),
        not_carried("virtual_server_group", IPVS),
        not_carried("static_ipaddress",     STATIC),
        not_carried("static_routes",        STATIC),
        not_carried("static_rules",         STATIC),
    ],
    health: &[],
};

/// `global_defs { ... }`: only what VRRP and its scripts need is translated.
#[rustfmt::skip]
pub(super) const GLOBAL_DEFS: Section<Document> = Section {
    unknown: "not carried over",
    keywords: &[
        translated("router_id",              Words, Replaces, document::router_id),
        translated("vrrp_version",           Words, Replaces, document::vrrp_version),
        translated("script_user",            Words, LastWins, document::script_user),
        // vipd always checks scripts so: the scripts note says it.
        translated("enable_script_security", Words, LastWins, document::enable_script_security),
        translated("v3_checksum_as_v2",      Words, LastWins, wire_variants::global_v3_checksum_as_v2),
    ],
    health: &[],
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
        translated("old_unicast_checksum",       Words, LastWins, wire_variants::old_unicast_checksum),
        translated("v3_checksum_as_v2",          Words, LastWins, wire_variants::v3_checksum_as_v2),
        not_carried("track_src_ip",               "not carried over (vipd has no tracker of the unicast source address)"),
        not_carried("notify_master_rx_lower_pri", "not carried over (vipd runs no command when a master hears a lower priority)"),
        not_carried("debug",                      "not carried over (vipd has no per-instance debug level)"),
        not_carried("mcast_src_ip",               "not carried over (vipd chooses the advert source address itself)"),
        not_carried("lvs_sync_daemon_interface",  "not carried over (IPVS is outside vipd's scope)"),
        not_carried("virtual_routes",             ROUTES),
        not_carried("virtual_rules",              ROUTES),
        not_carried("garp_master_refresh_repeat", GARP),
        not_carried("garp_lower_prio_delay",      LOWER_PRIO),
        not_carried("garp_lower_prio_repeat",     LOWER_PRIO),
    ],
    health: &INSTANCE_HEALTH,
};

/// `vrrp_script NAME { ... }`.
#[rustfmt::skip]
pub(super) const SCRIPT: Section<RawScript> = Section {
    unknown: "not carried over (no vipd equivalent)",
    keywords: &[
        translated("script",    Words, LastWins, tracking::script),
        translated("interval",  Words, LastWins, tracking::interval),
        translated("timeout",   Words, LastWins, tracking::timeout),
        translated("weight",    Words, LastWins, tracking::script_weight),
        translated("rise",      Words, LastWins, tracking::rise),
        translated("fall",      Words, LastWins, tracking::fall),
        translated("user",      Words, LastWins, tracking::user),
        translated("init_fail", Words, LastWins, tracking::init_fail),
    ],
    health: &[],
};

/// `track_file NAME { ... }` (`vrrp_track_file`).
#[rustfmt::skip]
pub(super) const TRACK_FILE: Section<RawTrackFile> = Section {
    unknown: "not carried over (no vipd equivalent)",
    keywords: &[
        translated("file",   Words, LastWins, tracking::file),
        translated("weight", Words, LastWins, tracking::file_weight),
        not_carried("init_file", "not carried over (vipd does not create or fill the file: create it, e.g. with systemd-tmpfiles, before vipd starts)"),
    ],
    health: &[],
};

/// `vrrp_track_process NAME { ... }`.
#[rustfmt::skip]
pub(super) const TRACK_PROCESS: Section<RawTrackProcess> = Section {
    unknown: "not carried over (no vipd equivalent)",
    keywords: &[
        translated("process", Words, LastWins, tracking::process),
        translated("weight",  Words, LastWins, tracking::process_weight),
        translated("quorum",  Words, LastWins, tracking::quorum),
        not_carried("quorum_max",      "not carried over (vipd counts a minimum of processes only)"),
        not_carried("param_match",     "not carried over (vipd matches the process name, not its parameters)"),
        not_carried("full_command",    "not carried over (vipd matches the process name, not its command line)"),
        not_carried("delay",           PROCESS_DELAY),
        not_carried("fork_delay",      PROCESS_DELAY),
        not_carried("terminate_delay", PROCESS_DELAY),
    ],
    health: &[],
};

/// `vrrp_sync_group NAME { ... }`.
#[rustfmt::skip]
pub(super) const SYNC_GROUP: Section<RawSyncGroup> = Section {
    unknown: "not carried over (no vipd equivalent)",
    keywords: &[
        translated("group",                      Block, Adds,     tracking::group),
        // vipd always applies the weights of a group's trackers.
        translated("sync_group_tracking_weight", Words, LastWins, tracking::tracking_weight),
        translated("global_tracking",            Words, LastWins, tracking::tracking_weight),
    ],
    health: &SYNC_GROUP_HEALTH,
};

/// What instances and sync groups both track and notify with.
#[rustfmt::skip]
const fn health_keywords<T: Tracking>() -> [Keyword<T>; 13] {
    [
        translated("track_script",            Block, Adds,     tracking::track::<T>),
        translated("track_interface",         Block, Adds,     tracking::track::<T>),
        translated("track_file",              Block, Adds,     tracking::track::<T>),
        translated("track_process",           Block, Adds,     tracking::track::<T>),
        translated("notify",                  Words, LastWins, tracking::notify::<T>),
        translated("notify_master",           Words, LastWins, tracking::notify::<T>),
        translated("notify_backup",           Words, LastWins, tracking::notify::<T>),
        translated("notify_fault",            Words, LastWins, tracking::notify::<T>),
        translated("notify_stop",             Words, LastWins, tracking::notify::<T>),
        not_carried("track_bfd",               BFD),
        not_carried("notify_deleted",          NOTIFY_DELETED),
        not_carried("notify_priority_changes", PRIORITY_CHANGES),
        not_carried("smtp_alert",              SMTP),
    ]
}

const INSTANCE_HEALTH: [Keyword<RawKeepalivedInstance>; 13] = health_keywords();
const SYNC_GROUP_HEALTH: [Keyword<RawSyncGroup>; 13] = health_keywords();

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
