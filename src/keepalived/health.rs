//! Stage 4 for health: the trackers that the instances and sync groups use,
//! their uses with keepalived's weights, the notify commands, the groups
//! and the script user, with a note wherever vipd does something the
//! operator should look at. A definition nothing uses is not carried over,
//! as keepalived does not run it either.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use super::command::{self, Check, How};
use super::document::Document;
use super::instance::RawKeepalivedInstance;
use super::lex::{Loc, error};
use super::merge;
use super::tracking::{RawNotify, RawTrackUse, RawUser, TrackKind};
use super::{ImportError, Warnings};
use crate::config::{
    Command, DEFAULT_NOTIFY_TIMEOUT, GroupConfig, Groups, NotifyConfig, OnTimeout, ProcessMatch,
    RawInstance, TrackUse, TrackerConfig, TrackerKind, Trackers,
};
use crate::health::{Effect, Status};

/// keepalived's `interval` of a `vrrp_script` without one.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// What the document's health becomes, beside the instances' uses and
/// notify commands (set on the instances).
pub(super) struct Health {
    pub script_user: Option<String>,
    pub trackers: Trackers,
    pub groups: Groups,
    /// Where each group's sync group is written, for errors.
    pub group_locs: BTreeMap<String, Loc>,
}

/// Resolves the health of the document into `instances` (in order, named
/// as vipd names them) and returns the rest of it.
pub(super) fn resolve<'d>(
    doc: &'d Document,
    instances: &mut Vec<(RawInstance, &'d RawKeepalivedInstance)>,
    w: &mut Warnings,
) -> Result<Health, ImportError> {
    let mut b = Builder {
        doc,
        trackers: Trackers::new(),
        made: HashMap::new(),
        noted: HashSet::new(),
        commands: Vec::new(),
        notifies: false,
        pending: Vec::new(),
    };
    for (inst, read) in instances.iter_mut() {
        let ctx = read.context();
        let owner = inst.priority == 255;
        for u in &read.health.tracks {
            if let Some(t) = b.use_of(u, &ctx, owner, w)? {
                inst.track.push(t);
            }
        }
        inst.notify = b.notify(&read.health.notify, &ctx, w);
    }
    let (mut groups, group_locs, weighted) = b.groups(instances, w)?;
    let merged = merge::dual_family(instances, &mut groups, &group_locs, w);
    for (g, list) in weighted {
        weights_note(&group_locs[&g], &g, &list, merged.get(&g), w);
    }
    // A tracker whose every use was dropped would run for nothing.
    let used: HashSet<&str> = instances
        .iter()
        .flat_map(|(i, _)| &i.track)
        .chain(groups.values().flat_map(|g| &g.track))
        .map(|u| u.tracker.as_str())
        .collect();
    b.trackers.retain(|name, _| used.contains(name.as_str()));
    for (tracker, notes) in std::mem::take(&mut b.pending) {
        if b.trackers.contains_key(&tracker) {
            w.all.extend(notes.all);
        }
    }
    b.unused(w);
    b.scripts_note(w);
    script_group(doc, w);
    Ok(Health {
        script_user: doc.script_user.as_ref().map(|u| u.name.clone()),
        trackers: b.trackers,
        groups,
        group_locs,
    })
}

/// A keepalived definition, as a tracker.
#[derive(Clone)]
enum Def {
    /// No definition of that name.
    Missing,
    /// Defined, but not carried over (said at the definition).
    Dropped(Loc),
    Made(Made),
}

#[derive(Clone)]
struct Made {
    /// The vipd tracker.
    name: String,
    /// keepalived's weight of a use without one, and its `reverse`.
    weight: i32,
    reverse: bool,
}

struct Builder<'d> {
    doc: &'d Document,
    trackers: Trackers,
    made: HashMap<(TrackKind, String), Def>,
    /// Trackers a note was given for already.
    noted: HashSet<String>,
    /// Where each command vipd runs is written, with its exec tracker (none
    /// for notify commands).
    commands: Vec<(Option<String>, Loc)>,
    /// Whether a notify command is among them.
    notifies: bool,
    /// What to say about a tracker's definition, said only if the tracker
    /// is carried over (a use may drop it).
    pending: Vec<(String, Warnings)>,
}

/// Definitions and their trackers.
impl Builder<'_> {
    fn tracker(
        &mut self,
        kind: TrackKind,
        name: &str,
        w: &mut Warnings,
    ) -> Result<Def, ImportError> {
        let key = (kind, name.to_string());
        if let Some(d) = self.made.get(&key) {
            return Ok(d.clone());
        }
        let def = match kind {
            TrackKind::Script => self.script(name, w)?,
            TrackKind::Interface => self.interface(name),
            TrackKind::File => self.file(name, w)?,
            TrackKind::Process => self.process(name, w)?,
        };
        self.made.insert(key, def.clone());
        Ok(def)
    }

    /// A vipd name for the tracker of a keepalived definition: keepalived
    /// names scripts, files and processes apart, vipd has one namespace.
    fn tracker_name(&self, kind: TrackKind, name: &str) -> String {
        let doc = self.doc;
        let script = |n: &str| doc.scripts.iter().any(|s| s.name == n);
        let file = |n: &str| doc.track_files.iter().any(|f| f.name == n);
        let mut base = match kind {
            TrackKind::Script => name.to_string(),
            TrackKind::File if script(name) => format!("{name}-file"),
            TrackKind::Process if script(name) || file(name) => format!("{name}-process"),
            TrackKind::File | TrackKind::Process => name.to_string(),
            TrackKind::Interface => format!("if-{name}"),
        };
        if kind == TrackKind::Interface && (script(&base) || file(&base)) {
            base.push_str("-interface");
        }
        let mut unique = base.clone();
        let mut n = 2;
        while self.trackers.contains_key(&unique) {
            unique = format!("{base}-{n}");
            n += 1;
        }
        unique
    }

    /// Adds the tracker, with vipd's checks of a written one.
    fn add(
        &mut self,
        name: String,
        t: TrackerConfig,
        loc: &Loc,
        ctx: &str,
    ) -> Result<String, ImportError> {
        let t = t
            .checked()
            .map_err(|e| error(loc, format!("{ctx}: vipd rejects the translation: {e}")))?;
        self.trackers.insert(name.clone(), t);
        Ok(name)
    }

    fn script(&mut self, name: &str, w: &mut Warnings) -> Result<Def, ImportError> {
        let Some(s) = self.doc.scripts.iter().find(|s| s.name == name) else {
            return Ok(Def::Missing);
        };
        let ctx = s.context();
        let check = s.script.as_ref().map(|t| (t, command::check(&t.text)));
        let (tok, check) = match check {
            Some((t, Some(c))) => (t, c),
            Some((t, None)) => {
                w.about(
                    &t.loc,
                    &ctx,
                    "script is empty: keepalived removes the vrrp_script, not carried over",
                );
                return Ok(Def::Dropped(s.loc.clone()));
            }
            None => {
                w.about(
                    &s.loc,
                    &ctx,
                    "no script: keepalived removes the vrrp_script, not carried over",
                );
                return Ok(Def::Dropped(s.loc.clone()));
            }
        };
        let vname = self.tracker_name(TrackKind::Script, name);
        let interval = s.interval.unwrap_or(DEFAULT_INTERVAL);
        let shown = format!("script {}", tok.shown());
        let (kind, note) = match check {
            Check::Process { name, pattern } => {
                let mut note = format!(
                    "{shown}: imported as the built-in tracker process: {name} (vipd watches the process itself, no command runs)"
                );
                if pattern {
                    note.push_str(&format!(
                        "; pgrep matched {name:?} anywhere in a process name, vipd matches the whole name"
                    ));
                }
                (TrackerKind::Process(process_named(name, 1)), note)
            }
            Check::Tcp {
                addr,
                by_sh,
                localhost,
            } => {
                let mut note = format!(
                    "{shown}: imported as the built-in tracker tcp: \"{addr}\" (vipd connects itself within the timeout, no shell runs)"
                );
                if localhost {
                    note.push_str("; localhost taken as 127.0.0.1");
                }
                if by_sh {
                    note.push_str("; keepalived gave the line to /bin/sh, where /dev/tcp works only if /bin/sh is bash (with dash, as on Debian and Ubuntu, its check always failed)");
                }
                (TrackerKind::Tcp(addr), note)
            }
            Check::Unit(u) => (
                TrackerKind::Unit(u.clone()),
                format!(
                    "{shown}: imported as the built-in tracker unit: {u} (vipd follows the unit's state from systemd, no command runs)"
                ),
            ),
            Check::Exec(c, how) => {
                self.commands.push((Some(vname.clone()), tok.loc.clone()));
                let note = exec_note(&shown, &c, how);
                (TrackerKind::Exec(c), note)
            }
        };
        let mut notes = Warnings::default();
        notes.about(&tok.loc, &ctx, note);
        self.user(s.user.as_ref(), &ctx, &mut notes);
        let (weight, reverse) = s
            .weight
            .as_ref()
            .map_or((0, false), |x| (x.value, x.reverse));
        let polled = matches!(kind, TrackerKind::Exec(_) | TrackerKind::Tcp(_));
        let t = TrackerConfig {
            kind,
            interval,
            timeout: if polled {
                s.timeout.unwrap_or(interval)
            } else {
                interval
            },
            on_timeout: OnTimeout::Failure,
            rise: s.rise.unwrap_or(1),
            fall: s.fall.unwrap_or(1),
            weight: (weight != 0 && !reverse).then_some(weight),
            init: if s.init_fail {
                Status::Down
            } else {
                Status::Up
            },
        };
        let name = self.add(vname, t, &s.loc, &ctx)?;
        self.pending.push((name.clone(), notes));
        Ok(Def::Made(Made {
            name,
            weight,
            reverse,
        }))
    }

    fn interface(&mut self, ifname: &str) -> Def {
        let name = self.tracker_name(TrackKind::Interface, ifname);
        self.trackers.insert(
            name.clone(),
            TrackerConfig {
                kind: TrackerKind::Interface(ifname.to_string()),
                interval: DEFAULT_INTERVAL,
                timeout: DEFAULT_INTERVAL,
                on_timeout: OnTimeout::Failure,
                rise: 1,
                fall: 1,
                weight: None,
                init: Status::Up,
            },
        );
        Def::Made(Made {
            name,
            weight: 0,
            reverse: false,
        })
    }

    fn file(&mut self, name: &str, w: &mut Warnings) -> Result<Def, ImportError> {
        let Some(f) = self.doc.track_files.iter().find(|f| f.name == name) else {
            return Ok(Def::Missing);
        };
        let ctx = format!("track_file {name}");
        let Some(path) = &f.file else {
            w.about(
                &f.loc,
                &ctx,
                "no file: keepalived ignores the track_file, not carried over",
            );
            return Ok(Def::Dropped(f.loc.clone()));
        };
        // keepalived's default weight of a file is 1.
        let (weight, reverse) = f
            .weight
            .as_ref()
            .map_or((1, false), |x| (x.value, x.reverse));
        let multiplier = file_multiplier(weight, reverse);
        let t = TrackerConfig {
            kind: TrackerKind::File(path.text.clone().into()),
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_INTERVAL,
            on_timeout: OnTimeout::Failure,
            rise: 1,
            fall: 1,
            weight: multiplier.filter(|m| *m != 1),
            init: Status::Up,
        };
        let name = self.add(self.tracker_name(TrackKind::File, name), t, &f.loc, &ctx)?;
        Ok(Def::Made(Made {
            name,
            weight,
            reverse,
        }))
    }

    fn process(&mut self, name: &str, w: &mut Warnings) -> Result<Def, ImportError> {
        let Some(p) = self.doc.track_processes.iter().find(|p| p.name == name) else {
            return Ok(Def::Missing);
        };
        let ctx = format!("vrrp_track_process {name}");
        let Some((proc_tok, params)) = &p.process else {
            w.about(
                &p.loc,
                &ctx,
                "no process: keepalived ignores the vrrp_track_process, not carried over",
            );
            return Ok(Def::Dropped(p.loc.clone()));
        };
        let written = proc_tok.text.as_str();
        let comm = written.rsplit('/').next().unwrap_or(written).to_string();
        let mut notes = Warnings::default();
        if comm != written {
            notes.about(
                &proc_tok.loc,
                &ctx,
                format_args!(
                    "process {}: vipd matches the process name, imported as {comm:?}",
                    proc_tok.shown()
                ),
            );
        }
        if let Some(first) = params.first() {
            let shown: Vec<String> = params.iter().map(|t| t.shown()).collect();
            notes.about(
                &first.loc,
                &ctx,
                format_args!(
                    "process parameters {}: not carried over (vipd matches the process name, not its command line)",
                    shown.join(" ")
                ),
            );
        }
        let (weight, reverse) = p
            .weight
            .as_ref()
            .map_or((0, false), |x| (x.value, x.reverse));
        let min_count = p.quorum.as_ref().map_or(1, |q| q.0);
        let t = TrackerConfig {
            kind: TrackerKind::Process(process_named(comm, min_count)),
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_INTERVAL,
            on_timeout: OnTimeout::Failure,
            rise: 1,
            fall: 1,
            weight: (weight != 0 && !reverse).then_some(weight),
            init: Status::Up,
        };
        let name = self.add(self.tracker_name(TrackKind::Process, name), t, &p.loc, &ctx)?;
        self.pending.push((name.clone(), notes));
        Ok(Def::Made(Made {
            name,
            weight,
            reverse,
        }))
    }

    /// Definitions nothing uses: keepalived does not run them either.
    fn unused(&mut self, w: &mut Warnings) {
        let doc = self.doc;
        let defs = doc
            .scripts
            .iter()
            .map(|s| (TrackKind::Script, &s.name, &s.loc))
            .chain(
                doc.track_files
                    .iter()
                    .map(|f| (TrackKind::File, &f.name, &f.loc)),
            )
            .chain(
                doc.track_processes
                    .iter()
                    .map(|p| (TrackKind::Process, &p.name, &p.loc)),
            );
        for (kind, name, loc) in defs {
            if !self.made.contains_key(&(kind, name.clone())) {
                w.warn(
                    loc,
                    format_args!(
                        "{} {name}: not used by any vrrp_instance or vrrp_sync_group: not carried over (keepalived does not run it either)",
                        kind.definition()
                    ),
                );
            }
        }
    }
}

fn process_named(name: String, min_count: u32) -> ProcessMatch {
    ProcessMatch {
        name: Some(name),
        pidfile: None,
        min_count,
        absent: false,
    }
}

/// vipd's multiplier of a file for keepalived's weight: keepalived takes a
/// weight of 0 as "any value but 0 is FAULT", which -254 gives for
/// positive values; `reverse` negates. `None`: no equivalent (0 reverse,
/// FAULT while the file holds 0).
fn file_multiplier(weight: i32, reverse: bool) -> Option<i32> {
    match (weight, reverse) {
        (0, false) => Some(-254),
        (0, true) => None,
        (w, true) => Some(-w),
        (w, false) => Some(w),
    }
}

fn exec_note(shown: &str, c: &Command, how: How) -> String {
    let program = c.program().unwrap_or("the command");
    match how {
        How::Argv => format!(
            "{shown}: imported as an exec tracker running {program}: check that script (see the scripts note)"
        ),
        How::Shell => format!(
            "{shown}: imported as an exec tracker with shell: true (the line uses shell syntax; keepalived 2 ran it without a shell, keepalived 1 with /bin/sh): check the line and what it runs"
        ),
        How::Path => format!(
            "{shown}: imported as an exec tracker with shell: true, since keepalived looked {} up in PATH and vipd runs absolute paths only: better give its absolute path",
            c.shell_line
                .as_deref()
                .and_then(|l| l.split_whitespace().next())
                .unwrap_or("the program")
        ),
    }
}

/// Uses and notify commands.
impl Builder<'_> {
    /// One line of a `track_*` block, with keepalived's weight; `None` when
    /// it is not carried over (said here).
    fn use_of(
        &mut self,
        u: &RawTrackUse,
        ctx: &str,
        owner: bool,
        w: &mut Warnings,
    ) -> Result<Option<TrackUse>, ImportError> {
        let shown = u.shown();
        let m = match self.tracker(u.kind, &u.name, w)? {
            Def::Made(m) => m,
            Def::Missing => {
                w.about(
                    &u.loc,
                    ctx,
                    format_args!(
                        "{shown}: there is no {} {}: keepalived ignores it, not carried over",
                        u.kind.definition(),
                        u.name
                    ),
                );
                return Ok(None);
            }
            Def::Dropped(at) => {
                w.about(
                    &u.loc,
                    ctx,
                    format_args!("{shown}: not carried over, as its definition (at {at})"),
                );
                return Ok(None);
            }
        };
        let weight = u.weight.unwrap_or(m.weight);
        let reverse = u.reverse.unwrap_or(m.reverse);
        let tracker_weight = self.trackers[&m.name].weight;
        if u.kind == TrackKind::File {
            let Some(multiplier) = file_multiplier(weight, reverse) else {
                w.about(
                    &u.loc,
                    ctx,
                    format_args!(
                        "{shown}: weight 0 reverse (FAULT while the file holds 0) has no vipd equivalent: not carried over"
                    ),
                );
                return Ok(None);
            };
            if owner {
                w.about(
                    &u.loc,
                    ctx,
                    format_args!(
                        "{shown}: not carried over: the address owner (priority 255) never moves, and a file tracker only weighs in vipd"
                    ),
                );
                return Ok(None);
            }
            if weight == 0 && self.noted.insert(m.name.clone()) {
                w.about(
                    &u.loc,
                    ctx,
                    format_args!(
                        "{shown}: keepalived took any value but 0 in the file as FAULT (weight 0): imported as multiplier -254, which is FAULT for positive values (a negative value would raise the priority: write 0 or a positive number only)"
                    ),
                );
            }
            let default = tracker_weight.unwrap_or(1);
            return Ok(Some(TrackUse {
                tracker: m.name,
                weight: (multiplier != default).then_some(multiplier),
            }));
        }
        if reverse {
            let what = if weight == 0 {
                "FAULT while it is up"
            } else {
                "the weight applied the other way round"
            };
            w.about(
                &u.loc,
                ctx,
                format_args!("{shown}: reverse ({what}) has no vipd equivalent: not carried over"),
            );
            return Ok(None);
        }
        if owner && weight != 0 {
            w.about(
                &u.loc,
                ctx,
                format_args!(
                    "{shown}: keepalived ignores weighted trackers on the address owner (priority 255 never moves): not carried over"
                ),
            );
            return Ok(None);
        }
        let default = tracker_weight.unwrap_or(0);
        Ok(Some(TrackUse {
            tracker: m.name,
            weight: (weight != default).then_some(weight),
        }))
    }

    fn notify(&mut self, list: &[RawNotify], ctx: &str, w: &mut Warnings) -> NotifyConfig {
        // keepalived gives no time limit to notify scripts; vipd's default
        // timeout applies.
        let mut n = NotifyConfig::default();
        if !list.is_empty() {
            n.timeout = DEFAULT_NOTIFY_TIMEOUT;
        }
        for r in list {
            let shown = format!("{} {}", r.keyword, r.command.shown());
            let Some((c, how)) = command::notify(&r.command.text) else {
                w.about(
                    &r.command.loc,
                    ctx,
                    format_args!("{shown}: empty command, not carried over"),
                );
                continue;
            };
            self.commands.push((None, r.command.loc.clone()));
            self.notifies = true;
            match how {
                How::Argv => {}
                How::Shell => w.about(
                    &r.command.loc,
                    ctx,
                    format_args!(
                        "{shown}: imported as [/bin/sh, -c, ...] (the line uses shell syntax; keepalived 2 ran it without a shell, keepalived 1 with /bin/sh): check the line and what it runs"
                    ),
                ),
                How::Path => w.about(
                    &r.command.loc,
                    ctx,
                    format_args!(
                        "{shown}: imported as [/bin/sh, -c, ...], since keepalived looked the program up in PATH and vipd runs absolute paths only: better give its absolute path"
                    ),
                ),
            }
            if r.key == super::tracking::NotifyKey::Any {
                w.about(
                    &r.command.loc,
                    ctx,
                    format_args!(
                        "{shown}: keepalived appended four arguments (GROUP|INSTANCE, the name, MASTER|BACKUP|FAULT|STOP, the priority); vipd appends none and passes the event in the environment: VIPD_KIND (instance|group), VIPD_NAME, VIPD_STATE, VIPD_PRIORITY (and VIPD_PREVIOUS, VIPD_REASON, VIPD_EFFECTIVE_PRIORITY, VIPD_VIPS, VIPD_MASTER): change the script to read them"
                    ),
                );
            }
            self.user(r.user.as_ref(), ctx, w);
            use super::tracking::NotifyKey::*;
            let slot = match r.key {
                Master => &mut n.master,
                Backup => &mut n.backup,
                Fault => &mut n.fault,
                Stop => &mut n.stop,
                Any => &mut n.any,
            };
            *slot = Some(c);
        }
        n
    }

    /// A script's own user: vipd has one script user.
    fn user(&self, user: Option<&RawUser>, ctx: &str, w: &mut Warnings) {
        let Some(u) = user else { return };
        let global = self.doc.script_user.as_ref();
        if global.is_some_and(|g| g.name == u.name && (u.group.is_none() || u.group == g.group)) {
            return;
        }
        let shown = match &u.group {
            Some(g) => format!("{} {g}", u.name),
            None => u.name.clone(),
        };
        let current = match global {
            Some(g) => format!("script_user {}", g.name),
            None => "script_user, not set (vipd-script where it exists, else nobody)".into(),
        };
        w.about(
            &u.loc,
            ctx,
            format_args!(
                "user {shown}: vipd runs every script as one user, {current}: not carried over (set script_user to a user that may run all of them)"
            ),
        );
    }

    /// Once, where the scripts are configured: who runs them and what vipd
    /// demands of them.
    fn scripts_note(&self, w: &mut Warnings) {
        let doc = self.doc;
        let mut commands = self.commands.iter().filter(|(tracker, _)| {
            tracker
                .as_ref()
                .is_none_or(|t| self.trackers.contains_key(t))
        });
        let Some((_, first)) = commands.next() else {
            return;
        };
        let loc = doc
            .script_security
            .as_ref()
            .or(doc.script_user.as_ref().map(|u| &u.loc))
            .unwrap_or(first);
        let user = match &doc.script_user {
            Some(u) => format!("script_user {}", u.name),
            None => "the default script user (vipd-script where it exists, else nobody; keepalived ran them as keepalived_script, else root: set script_user if they need more)".into(),
        };
        let security = if doc.script_security.is_some() {
            "as keepalived's enable_script_security did"
        } else {
            "the check of keepalived's enable_script_security, which this configuration did not set"
        };
        let timeout = if self.notifies {
            format!(
                "; notify commands run one at a time per instance or group and are killed after {} (the notify timeout), where keepalived let them run side by side for as long as they took",
                crate::config::duration_text::format(&DEFAULT_NOTIFY_TIMEOUT)
            )
        } else {
            String::new()
        };
        w.warn(
            loc,
            format_args!(
                "scripts: vipd runs exec trackers and notify commands as {user}, and refuses to run a file that is not owned by root or that others may write, or that sits in such a directory ({security}): check every script this configuration runs{timeout}"
            ),
        );
    }
}

/// Groups.
impl Builder<'_> {
    /// Each sync group as a group of the instances it names (by their vipd
    /// names), with where it is written.
    fn groups(
        &mut self,
        instances: &[(RawInstance, &RawKeepalivedInstance)],
        w: &mut Warnings,
    ) -> Result<Weighted, ImportError> {
        let doc = self.doc;
        let mut groups = Groups::new();
        let mut locs = BTreeMap::new();
        let mut weighted = BTreeMap::new();
        let mut member_of: HashMap<&str, &str> = HashMap::new();
        for g in &doc.sync_groups {
            let ctx = format!("vrrp_sync_group {}", g.name);
            let mut members: Vec<&RawInstance> = Vec::new();
            for t in &g.members {
                let Some((inst, _)) = instances.iter().find(|(_, r)| r.name == t.text) else {
                    w.about(
                        &t.loc,
                        &ctx,
                        format_args!(
                            "group: {}: there is no vrrp_instance {}: keepalived ignores it, not carried over",
                            t.shown(),
                            t.text
                        ),
                    );
                    continue;
                };
                if members.iter().any(|m| m.name == inst.name) {
                    w.about(
                        &t.loc,
                        &ctx,
                        format_args!("group: {} is listed twice: the repeat is dropped", t.text),
                    );
                    continue;
                }
                if let Some(other) = member_of.get(t.text.as_str()) {
                    w.about(
                        &t.loc,
                        &ctx,
                        format_args!(
                            "group: {} is in vrrp_sync_group {other} already: keepalived ignores it here (an instance follows one group), not carried over",
                            t.text
                        ),
                    );
                    continue;
                }
                member_of.insert(&t.text, &g.name);
                members.push(inst);
            }
            if members.is_empty() {
                w.about(
                    &g.loc,
                    &ctx,
                    "no instance is left in it (missing, or in another group): keepalived removes the group, not carried over",
                );
                continue;
            }
            let mut track = Vec::new();
            for u in &g.health.tracks {
                if let Some(t) = self.use_of(u, &ctx, false, w)? {
                    track.push(t);
                }
            }
            let list = self.weighted(&members);
            if !g.tracking_weight && !list.is_empty() {
                weighted.insert(g.name.clone(), list);
            }
            let notify = self.notify(&g.health.notify, &ctx, w);
            groups.insert(
                g.name.clone(),
                GroupConfig {
                    instances: members.iter().map(|m| m.name.clone()).collect(),
                    track,
                    notify,
                    units: Vec::new(),
                },
            );
            locs.insert(g.name.clone(), g.loc.clone());
        }
        Ok((groups, locs, weighted))
    }

    /// The members' weighted uses, as `NAME: TRACKER weight N`.
    fn weighted(&self, members: &[&RawInstance]) -> Vec<String> {
        let mut weighted = Vec::new();
        for m in members {
            for u in &m.track {
                let Some(t) = self.trackers.get(&u.tracker) else {
                    continue;
                };
                match u.effect(t) {
                    Effect::Fault => {}
                    Effect::Weight(x) => {
                        weighted.push(format!("{}: {} weight {x}", m.name, u.tracker))
                    }
                    Effect::Scaled(x) => {
                        weighted.push(format!("{}: {} multiplier {x}", m.name, u.tracker))
                    }
                }
            }
        }
        weighted
    }
}

/// The groups, where their sync groups are written, and the weighted uses
/// of the members of each sync group whose weights keepalived ignored.
type Weighted = (Groups, BTreeMap<String, Loc>, BTreeMap<String, Vec<String>>);

/// keepalived ignores the weights of a sync group's members (unless
/// `sync_group_tracking_weight`); vipd applies them, to the whole group or
/// to the instance it was merged into.
fn weights_note(
    loc: &Loc,
    group: &str,
    list: &[String],
    merged: Option<&String>,
    w: &mut Warnings,
) {
    let whom = match merged {
        Some(i) => format!("to the merged instance {i}: its priority"),
        None => "once for the whole group: the group's priority".to_string(),
    };
    w.about(
        loc,
        &format!("vrrp_sync_group {group}"),
        format_args!(
            "keepalived ignored the weights of its members' trackers ({}), logging \"ignoring tracked script with weights due to SYNC group\"; vipd applies them, {whom} now moves with them, where a keepalived peer's does not",
            list.join("; ")
        ),
    );
}

/// `script_user NAME GROUP`: vipd runs scripts with the user's primary
/// group only.
fn script_group(doc: &Document, w: &mut Warnings) {
    let Some(u) = &doc.script_user else { return };
    let Some(g) = &u.group else { return };
    if *g == u.name || primary_group(&u.name).as_deref() == Some(g.as_str()) {
        return;
    }
    w.about(
        &u.loc,
        "global_defs",
        format_args!(
            "script_user {} {g}: vipd runs scripts with the user's primary group only: group {g} not carried over (make it {}'s primary group if the scripts need it)",
            u.name, u.name
        ),
    );
}

/// The name of `user`'s primary group on this host, if both exist.
fn primary_group(user: &str) -> Option<String> {
    let u = nix::unistd::User::from_name(user).ok().flatten()?;
    let g = nix::unistd::Group::from_gid(u.gid).ok().flatten()?;
    Some(g.name)
}
