//! Stage 3, reading what health is made of: the definitions (`vrrp_script`,
//! `track_file`, `vrrp_track_process`), the sync groups, and the uses and
//! notify commands of an instance or a sync group (`track_script { }`, ...,
//! `notify_master`), each through its table in keywords.rs. What they become
//! in vipd is decided later (health.rs).

use std::time::Duration;

use super::keywords::{Section, read_section};
use super::lex::{Loc, Token, error};
use super::parse::Stmt;
use super::values::{ifname_arg, micros, parse_seconds, parse_u64};
use super::{ImportError, Warnings};

type Read = Result<(), ImportError>;

/// `weight N [reverse]`, as written.
#[derive(Debug, Clone)]
pub(super) struct RawWeight {
    pub value: i32,
    pub reverse: bool,
}

/// `user NAME [GROUP]` of a script, or `script_user NAME [GROUP]`.
#[derive(Debug, Clone)]
pub(super) struct RawUser {
    pub name: String,
    pub group: Option<String>,
    pub loc: Loc,
}

/// `vrrp_script NAME { }`.
pub(super) struct RawScript {
    pub name: String,
    pub loc: Loc,
    pub script: Option<Token>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub weight: Option<RawWeight>,
    pub rise: Option<u32>,
    pub fall: Option<u32>,
    pub user: Option<RawUser>,
    pub init_fail: bool,
}

/// `track_file NAME { }` (`vrrp_track_file`).
pub(super) struct RawTrackFile {
    pub name: String,
    pub loc: Loc,
    pub file: Option<Token>,
    pub weight: Option<RawWeight>,
}

/// `vrrp_track_process NAME { }`.
pub(super) struct RawTrackProcess {
    pub name: String,
    pub loc: Loc,
    /// The process and its parameters.
    pub process: Option<(Token, Vec<Token>)>,
    pub weight: Option<RawWeight>,
    pub quorum: Option<(u32, Loc)>,
}

/// `vrrp_sync_group NAME { }`.
pub(super) struct RawSyncGroup {
    pub name: String,
    pub loc: Loc,
    /// The instance names of `group { }`, as written.
    pub members: Vec<Token>,
    pub health: RawHealth,
    /// `sync_group_tracking_weight` (or the deprecated `global_tracking`):
    /// keepalived then applies its members' weights, as vipd always does.
    pub tracking_weight: bool,
}

/// What an instance or a sync group tracks, and its notify commands.
#[derive(Default)]
pub(super) struct RawHealth {
    pub tracks: Vec<RawTrackUse>,
    pub notify: Vec<RawNotify>,
}

/// What a `track_*` block names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum TrackKind {
    Script,
    Interface,
    File,
    Process,
}

impl TrackKind {
    /// The block that names it.
    pub fn block(self) -> &'static str {
        match self {
            TrackKind::Script => "track_script",
            TrackKind::Interface => "track_interface",
            TrackKind::File => "track_file",
            TrackKind::Process => "track_process",
        }
    }

    /// The definition it names (none for interfaces).
    pub fn definition(self) -> &'static str {
        match self {
            TrackKind::Script => "vrrp_script",
            TrackKind::Interface => "interface",
            TrackKind::File => "track_file",
            TrackKind::Process => "vrrp_track_process",
        }
    }
}

/// One line of a `track_*` block: `NAME [weight N [reverse|noreverse]]`.
#[derive(Debug, Clone)]
pub(super) struct RawTrackUse {
    pub kind: TrackKind,
    pub name: String,
    pub weight: Option<i32>,
    /// `reverse` / `noreverse`, when given.
    pub reverse: Option<bool>,
    pub loc: Loc,
}

impl RawTrackUse {
    /// As written, for messages: `track_script chk weight 2`.
    pub fn shown(&self) -> String {
        let mut s = format!("{} {}", self.kind.block(), self.name);
        if let Some(w) = self.weight {
            s.push_str(&format!(" weight {w}"));
        }
        match self.reverse {
            Some(true) => s.push_str(" reverse"),
            Some(false) => s.push_str(" noreverse"),
            None => {}
        }
        s
    }
}

/// The keys of vipd's `notify:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotifyKey {
    Master,
    Backup,
    Fault,
    Stop,
    Any,
}

/// `notify_master COMMAND [USER [GROUP]]` and the others.
#[derive(Debug, Clone)]
pub(super) struct RawNotify {
    pub key: NotifyKey,
    /// `notify_master`, as written.
    pub keyword: String,
    pub command: Token,
    pub user: Option<RawUser>,
}

/// A block that tracks and notifies: an instance or a sync group.
pub(super) trait Tracking {
    fn health(&mut self) -> &mut RawHealth;
    fn context(&self) -> String;
}

/// Reads a named definition block through its table.
pub(super) fn read_named<T>(
    section: &Section<T>,
    what: &str,
    st: &Stmt,
    mut into: T,
    warnings: &mut Warnings,
) -> Result<T, ImportError> {
    let context = format!("{what} {}", st.args[0].text);
    read_section(
        section,
        &context,
        &st.need_block()?.stmts,
        &mut into,
        warnings,
    )?;
    Ok(into)
}

impl RawScript {
    pub fn new(name: String, loc: Loc) -> RawScript {
        RawScript {
            name,
            loc,
            script: None,
            interval: None,
            timeout: None,
            weight: None,
            rise: None,
            fall: None,
            user: None,
            init_fail: false,
        }
    }

    pub fn context(&self) -> String {
        format!("vrrp_script {}", self.name)
    }
}

impl RawTrackFile {
    pub fn new(name: String, loc: Loc) -> RawTrackFile {
        RawTrackFile {
            name,
            loc,
            file: None,
            weight: None,
        }
    }
}

impl RawTrackProcess {
    pub fn new(name: String, loc: Loc) -> RawTrackProcess {
        RawTrackProcess {
            name,
            loc,
            process: None,
            weight: None,
            quorum: None,
        }
    }
}

impl RawSyncGroup {
    pub fn new(name: String, loc: Loc) -> RawSyncGroup {
        RawSyncGroup {
            name,
            loc,
            members: Vec::new(),
            health: RawHealth::default(),
            tracking_weight: false,
        }
    }
}

impl Tracking for RawSyncGroup {
    fn health(&mut self) -> &mut RawHealth {
        &mut self.health
    }

    fn context(&self) -> String {
        format!("vrrp_sync_group {}", self.name)
    }
}

// --- values ----------------------------------------------------------------

/// A weight in `lo..=hi`; keepalived turns +-254 of scripts and interfaces
/// into +-253 (`clamp_254`), and so does the importer.
fn weight_value(
    w: &mut Warnings,
    ctx: &str,
    t: &Token,
    lo: i64,
    hi: i64,
    clamp_254: bool,
) -> Result<i32, ImportError> {
    let v = match t.text.parse::<i64>() {
        Ok(v) if (lo..=hi).contains(&v) => v,
        _ => {
            return Err(error(
                &t.loc,
                format!(
                    "weight {} is invalid: use a whole number {lo}..{hi}",
                    t.shown()
                ),
            ));
        }
    };
    if clamp_254 && v.abs() == 254 {
        let v = v.signum() * 253;
        w.about(
            &t.loc,
            ctx,
            format_args!(
                "weight {}: set to {v}, as keepalived does (it allows -253..253)",
                t.text
            ),
        );
        return Ok(v as i32);
    }
    Ok(v as i32)
}

/// `weight N [reverse]` of a definition.
fn definition_weight(
    w: &mut Warnings,
    ctx: &str,
    st: &Stmt,
    clamp_254: bool,
) -> Result<RawWeight, ImportError> {
    let value = weight_value(w, ctx, st.one_arg()?, -254, 254, clamp_254)?;
    let reverse = match st.args.get(1).map(|t| t.text.as_str()) {
        None => false,
        Some("reverse") => true,
        Some(_) => return Err(bad_words(st, "weight N [reverse]")),
    };
    if st.args.len() > 2 {
        return Err(bad_words(st, "weight N [reverse]"));
    }
    Ok(RawWeight { value, reverse })
}

fn bad_words(st: &Stmt, want: &str) -> ImportError {
    error(st.loc(), format!("{}: expected {want}", st.shown()))
}

/// `user NAME [GROUP]`, also written `NAME:GROUP` or `NAME :GROUP`.
pub(super) fn user_of(words: &[Token], loc: &Loc) -> Option<RawUser> {
    let mut parts: Vec<&str> = Vec::new();
    for t in words {
        parts.extend(t.text.split(':').filter(|p| !p.is_empty()));
    }
    let name = parts.first()?.to_string();
    Some(RawUser {
        name,
        group: parts.get(1).map(|g| g.to_string()),
        loc: loc.clone(),
    })
}

fn count(st: &Stmt, what: &str) -> Result<u32, ImportError> {
    Ok(parse_u64(st.one_arg()?, what, 1, u64::from(i32::MAX as u32))? as u32)
}

fn seconds(st: &Stmt) -> Result<Duration, ImportError> {
    let t = st.one_arg()?;
    let v = parse_seconds(t, st.kw())?;
    if v == 0.0 {
        return Err(error(
            &t.loc,
            format!("{} 0 is invalid: give a number of seconds above 0", st.kw()),
        ));
    }
    Ok(micros(v))
}

// --- vrrp_script -------------------------------------------------------------

/// keepalived runs the first word (a quoted line is the whole command);
/// words after it are dropped.
pub(super) fn script(w: &mut Warnings, st: &Stmt, r: &mut RawScript) -> Read {
    let t = st.one_arg()?;
    if st.args.len() > 1 {
        w.about(
            &st.args[1].loc,
            &r.context(),
            format_args!(
                "{}: keepalived runs {} only and ignores the words after it: not carried over (quote the whole command to pass arguments)",
                st.shown(),
                t.shown()
            ),
        );
    }
    r.script = Some(t.clone());
    Ok(())
}

pub(super) fn interval(_: &mut Warnings, st: &Stmt, r: &mut RawScript) -> Read {
    r.interval = Some(seconds(st)?);
    Ok(())
}

pub(super) fn timeout(_: &mut Warnings, st: &Stmt, r: &mut RawScript) -> Read {
    r.timeout = Some(seconds(st)?);
    Ok(())
}

pub(super) fn script_weight(w: &mut Warnings, st: &Stmt, r: &mut RawScript) -> Read {
    r.weight = Some(definition_weight(w, &r.context(), st, true)?);
    Ok(())
}

pub(super) fn rise(_: &mut Warnings, st: &Stmt, r: &mut RawScript) -> Read {
    r.rise = Some(count(st, "rise")?);
    Ok(())
}

pub(super) fn fall(_: &mut Warnings, st: &Stmt, r: &mut RawScript) -> Read {
    r.fall = Some(count(st, "fall")?);
    Ok(())
}

pub(super) fn user(_: &mut Warnings, st: &Stmt, r: &mut RawScript) -> Read {
    st.one_arg()?;
    r.user = user_of(&st.args, st.loc());
    Ok(())
}

pub(super) fn init_fail(_: &mut Warnings, _: &Stmt, r: &mut RawScript) -> Read {
    r.init_fail = true;
    Ok(())
}

// --- track_file --------------------------------------------------------------

pub(super) fn file(_: &mut Warnings, st: &Stmt, r: &mut RawTrackFile) -> Read {
    let t = st.one_arg()?;
    if !t.text.starts_with('/') {
        return Err(error(
            &t.loc,
            format!("file {}: give an absolute path", t.shown()),
        ));
    }
    r.file = Some(t.clone());
    Ok(())
}

pub(super) fn file_weight(w: &mut Warnings, st: &Stmt, r: &mut RawTrackFile) -> Read {
    let ctx = format!("track_file {}", r.name);
    r.weight = Some(definition_weight(w, &ctx, st, false)?);
    Ok(())
}

// --- vrrp_track_process ------------------------------------------------------

pub(super) fn process(_: &mut Warnings, st: &Stmt, r: &mut RawTrackProcess) -> Read {
    let t = st.one_arg()?;
    r.process = Some((t.clone(), st.args[1..].to_vec()));
    Ok(())
}

pub(super) fn process_weight(w: &mut Warnings, st: &Stmt, r: &mut RawTrackProcess) -> Read {
    let ctx = format!("vrrp_track_process {}", r.name);
    r.weight = Some(definition_weight(w, &ctx, st, false)?);
    Ok(())
}

pub(super) fn quorum(_: &mut Warnings, st: &Stmt, r: &mut RawTrackProcess) -> Read {
    let t = st.one_arg()?;
    let n = parse_u64(t, "quorum", 1, 65535)? as u32;
    r.quorum = Some((n, t.loc.clone()));
    Ok(())
}

// --- vrrp_sync_group ---------------------------------------------------------

/// `group { A B ... }`: every word is an instance name.
pub(super) fn group(_: &mut Warnings, st: &Stmt, r: &mut RawSyncGroup) -> Read {
    for e in &st.need_block()?.stmts {
        e.no_block()?;
        r.members.push(e.key.clone());
        r.members.extend(e.args.iter().cloned());
    }
    Ok(())
}

pub(super) fn tracking_weight(_: &mut Warnings, _: &Stmt, r: &mut RawSyncGroup) -> Read {
    r.tracking_weight = true;
    Ok(())
}

// --- uses and notify, in instances and sync groups ---------------------------

/// `track_script { }`, `track_interface { }`, `track_file { }`,
/// `track_process { }`: one use per line.
pub(super) fn track<T: Tracking>(w: &mut Warnings, st: &Stmt, r: &mut T) -> Read {
    let kind = match st.kw() {
        "track_script" => TrackKind::Script,
        "track_interface" => TrackKind::Interface,
        "track_file" => TrackKind::File,
        _ => TrackKind::Process,
    };
    let ctx = r.context();
    for e in &st.need_block()?.stmts {
        e.no_block()?;
        let u = track_use(w, &ctx, kind, e)?;
        let health = r.health();
        if let Some(first) = health
            .tracks
            .iter()
            .find(|t| t.kind == kind && t.name == u.name)
        {
            w.about(
                &u.loc,
                &ctx,
                format_args!(
                    "{}: {} is listed twice (also at {}): the repeat is dropped, as keepalived drops it",
                    kind.block(),
                    u.name,
                    first.loc
                ),
            );
            continue;
        }
        health.tracks.push(u);
    }
    Ok(())
}

/// `NAME [weight N [reverse|noreverse]]`.
fn track_use(
    w: &mut Warnings,
    ctx: &str,
    kind: TrackKind,
    e: &Stmt,
) -> Result<RawTrackUse, ImportError> {
    let name = match kind {
        TrackKind::Interface => ifname_arg(&e.key, "track_interface")?,
        _ => e.key.text.clone(),
    };
    let want = "NAME [weight N [reverse|noreverse]]";
    let bad = || {
        error(
            e.loc(),
            format!("{} {}: expected {want}", kind.block(), e.shown()),
        )
    };
    let (weight, reverse) = match e.args.as_slice() {
        [] => (None, None),
        [k, n, rest @ ..] if k.text == "weight" => {
            // keepalived: files take any weight, processes -254..254;
            // scripts and interfaces -253..253 (+-254 set to +-253).
            let clamp = matches!(kind, TrackKind::Script | TrackKind::Interface);
            let v = weight_value(w, ctx, n, -254, 254, clamp)?;
            let reverse = match rest {
                [] => None,
                [r] if r.text == "reverse" => Some(true),
                [r] if r.text == "noreverse" && kind != TrackKind::Interface => Some(false),
                _ => return Err(bad()),
            };
            (Some(v), reverse)
        }
        _ => return Err(bad()),
    };
    Ok(RawTrackUse {
        kind,
        name,
        weight,
        reverse,
        loc: e.loc().clone(),
    })
}

/// `notify COMMAND [USER [GROUP]]` and `notify_master` ... `notify_stop`.
pub(super) fn notify<T: Tracking>(_: &mut Warnings, st: &Stmt, r: &mut T) -> Read {
    let key = match st.kw() {
        "notify_master" => NotifyKey::Master,
        "notify_backup" => NotifyKey::Backup,
        "notify_fault" => NotifyKey::Fault,
        "notify_stop" => NotifyKey::Stop,
        _ => NotifyKey::Any,
    };
    let command = st.one_arg()?.clone();
    let user = user_of(&st.args[1..], st.loc());
    let health = r.health();
    health.notify.retain(|n| n.key != key);
    health.notify.push(RawNotify {
        key,
        keyword: st.kw().to_string(),
        command,
        user,
    });
    Ok(())
}
