//! Service health in the configuration: trackers, how instances and groups
//! use them, groups, notify hooks and units.
//!
//! ```yaml
//! script_user: vipd-script          # who runs exec trackers and notify hooks
//! trackers:
//!   haproxy: {process: haproxy, weight: -60}
//!   port80:  {tcp: "127.0.0.1:80", timeout: 500ms, fall: 2}
//!   check:   {exec: [/usr/local/bin/check, --fast], interval: 2s}
//!   svc:     {unit: haproxy.service}
//!   bonus:   {file: /run/vipd/weight, weight: 2}
//!   uplink:  {interface: eth1, weight: -20}
//! instances:
//!   - name: web
//!     track: [haproxy, {tracker: port80, weight: -30}]
//!     notify: {master: [/usr/local/bin/notify, master], timeout: 10s}
//!     units: [haproxy.service]
//! groups:
//!   lb: {instances: [web4, web6], track: [svc]}
//! ```
//!
//! Every tracker reports at each `interval`; the event-driven ones (unit,
//! process, file, interface) also report at once when what they watch
//! changes. `rise` and `fall` count results in a row.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::duration_text;
use crate::health::{Effect, Status};

/// A command: an argv, or a shell line when `shell` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// What is executed: the argv as written, or `/bin/sh -c LINE`.
    pub argv: Vec<String>,
    /// The line given to the shell, when the command is one.
    pub shell_line: Option<String>,
}

impl Command {
    /// An argv, run without a shell.
    pub fn argv(argv: Vec<String>) -> Command {
        Command {
            argv,
            shell_line: None,
        }
    }

    /// A line for `/bin/sh -c`.
    pub fn shell(line: &str) -> Command {
        Command {
            argv: vec!["/bin/sh".into(), "-c".into(), line.into()],
            shell_line: Some(line.into()),
        }
    }

    /// The file executed (the script a security check looks at): the argv's
    /// first word, or the shell line's first word when it is a path.
    pub fn program(&self) -> Option<&str> {
        match &self.shell_line {
            None => self.argv.first().map(String::as_str),
            Some(line) => line
                .split_whitespace()
                .next()
                .filter(|w| w.starts_with('/')),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shell_line {
            Some(l) => write!(f, "sh -c {l:?}"),
            None => f.write_str(&self.argv.join(" ")),
        }
    }
}

/// A command as written: a list of words, or one string (split at blanks
/// unless it is a shell line; no shell is involved then: quotes and `$`
/// mean nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum CommandForm {
    Line(String),
    Argv(Vec<String>),
}

impl CommandForm {
    fn words(&self) -> Vec<String> {
        match self {
            CommandForm::Line(l) => l.split_whitespace().map(String::from).collect(),
            CommandForm::Argv(a) => a.clone(),
        }
    }
}

/// Which processes a `process` tracker counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessMatch {
    /// The process name (`/proc/PID/comm`, or the base name of its first
    /// argument), as `pidof` matches it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Or the process whose PID is in this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pidfile: Option<PathBuf>,
    /// Good while at least this many match (default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub min_count: u32,
    /// Good while none matches instead (a process that must not run).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub absent: bool,
}

fn one() -> u32 {
    1
}
fn is_one(n: &u32) -> bool {
    *n == 1
}

/// `process: haproxy` or `process: {name: haproxy, min_count: 2}`.
fn deserialize_process<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ProcessMatch>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Name(String),
        Full(ProcessMatch),
    }
    Ok(Some(match Form::deserialize(d)? {
        Form::Name(name) => ProcessMatch {
            name: Some(name),
            pidfile: None,
            min_count: 1,
            absent: false,
        },
        Form::Full(m) => m,
    }))
}

/// What a tracker watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerKind {
    /// Runs a command: exit 0 is good, anything else (a signal, a failure to
    /// start it, a timeout unless `on_timeout: success`) is bad.
    Exec(Command),
    /// A systemd unit's ActiveState over D-Bus: good while `active`.
    Unit(String),
    Process(ProcessMatch),
    /// A number in a file, times the weight (keepalived's `track_file`).
    File(PathBuf),
    /// The carrier of another interface.
    Interface(String),
    /// A TCP connect within the timeout.
    Tcp(SocketAddr),
}

impl TrackerKind {
    pub fn name(&self) -> &'static str {
        match self {
            TrackerKind::Exec(_) => "exec",
            TrackerKind::Unit(_) => "unit",
            TrackerKind::Process(_) => "process",
            TrackerKind::File(_) => "file",
            TrackerKind::Interface(_) => "interface",
            TrackerKind::Tcp(_) => "tcp",
        }
    }
}

/// What a timed-out check counts as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    #[default]
    Failure,
    Success,
}

/// One tracker, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTracker", into = "RawTracker")]
pub struct TrackerConfig {
    pub kind: TrackerKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub on_timeout: OnTimeout,
    pub rise: u32,
    pub fall: u32,
    /// See [`TrackUse::effect`]; for `file` the multiplier.
    pub weight: Option<i32>,
    /// The state before the first result (keepalived's `init_fail`: down).
    pub init: Status,
}

/// A tracker as written: exactly one of the kind keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTracker {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exec: Option<CommandForm>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    shell: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_process"
    )]
    process: Option<ProcessMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tcp: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration"
    )]
    interval: Option<Duration>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration"
    )]
    timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_timeout: Option<OnTimeout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rise: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fall: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weight: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    init: Option<Status>,
}

/// Durations in optional fields, written as elsewhere (`500ms`, `2s`).
mod opt_duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => duration_text::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        duration_text::deserialize(d).map(Some)
    }
}

/// The default interval of every tracker.
pub const DEFAULT_TRACKER_INTERVAL: Duration = Duration::from_secs(1);
/// Weights keepalived accepts (and vipd): a weight can move a priority
/// across the whole range.
pub const WEIGHT_RANGE: std::ops::RangeInclusive<i32> = -254..=254;

impl TryFrom<RawTracker> for TrackerConfig {
    type Error = String;

    fn try_from(r: RawTracker) -> Result<TrackerConfig, String> {
        let kind = tracker_kind(&r)?;
        let interval = r.interval.unwrap_or(DEFAULT_TRACKER_INTERVAL);
        if interval < Duration::from_millis(10) || interval > Duration::from_secs(3600) {
            return Err(format!(
                "interval {} is out of range: use 10ms to 1h",
                duration_text::format(&interval)
            ));
        }
        let timeout = r.timeout.unwrap_or(interval);
        if timeout.is_zero() {
            return Err("timeout 0 would fail every check: give the time a check may take".into());
        }
        let polled = matches!(kind, TrackerKind::Exec(_) | TrackerKind::Tcp(_));
        if !polled && (r.timeout.is_some() || r.on_timeout.is_some()) {
            return Err(format!(
                "timeout and on_timeout apply to exec and tcp trackers only; a {} tracker does not wait for anything",
                kind.name()
            ));
        }
        if r.shell && !matches!(kind, TrackerKind::Exec(_)) {
            return Err("shell applies to exec trackers only".into());
        }
        let (rise, fall) = (r.rise.unwrap_or(1), r.fall.unwrap_or(1));
        for (what, n) in [("rise", rise), ("fall", fall)] {
            if !(1..=1000).contains(&n) {
                return Err(format!(
                    "{what} {n} is out of range: use 1 to 1000 results in a row"
                ));
            }
        }
        if let Some(w) = r.weight
            && !WEIGHT_RANGE.contains(&w)
        {
            return Err(format!("weight {w} is out of range -254..254"));
        }
        if matches!(kind, TrackerKind::File(_)) && r.init.is_some() {
            return Err(
                "init applies to trackers that go up and down; a file tracker weighs".into(),
            );
        }
        Ok(TrackerConfig {
            kind,
            interval,
            timeout,
            on_timeout: r.on_timeout.unwrap_or_default(),
            rise,
            fall,
            weight: r.weight,
            init: r.init.unwrap_or(Status::Up),
        })
    }
}

impl TrackerConfig {
    /// The tracker as its YAML reads back, with the checks of a written
    /// one: for trackers built in code (the keepalived importer), so that
    /// what is accepted always loads.
    pub fn checked(self) -> Result<TrackerConfig, String> {
        TrackerConfig::try_from(RawTracker::from(self))
    }
}

/// The one kind key of a tracker, checked.
fn tracker_kind(r: &RawTracker) -> Result<TrackerKind, String> {
    let mut kinds = Vec::new();
    if let Some(form) = &r.exec {
        kinds.push(exec_kind(form, r.shell)?);
    }
    if let Some(u) = &r.unit {
        kinds.push(TrackerKind::Unit(unit_name(u)?));
    }
    if let Some(p) = &r.process {
        kinds.push(TrackerKind::Process(process_match(p)?));
    }
    if let Some(f) = &r.file {
        if !f.is_absolute() {
            return Err(format!("file {}: give an absolute path", f.display()));
        }
        kinds.push(TrackerKind::File(f.clone()));
    }
    if let Some(i) = &r.interface {
        super::check_ifname(i)?;
        kinds.push(TrackerKind::Interface(i.clone()));
    }
    if let Some(t) = &r.tcp {
        let addr: SocketAddr = t.parse().map_err(|_| {
            format!("tcp {t:?} is not an address and port: write e.g. 127.0.0.1:80 or [::1]:80")
        })?;
        if addr.port() == 0 {
            return Err(format!("tcp {t:?}: port 0 cannot be connected to"));
        }
        kinds.push(TrackerKind::Tcp(addr));
    }
    match kinds.len() {
        1 => Ok(kinds.remove(0)),
        0 => Err("a tracker needs one of exec, unit, process, file, interface or tcp".into()),
        _ => Err(format!(
            "a tracker watches one thing, this one has {}: split it into several trackers",
            kinds
                .iter()
                .map(TrackerKind::name)
                .collect::<Vec<_>>()
                .join(" and ")
        )),
    }
}

fn exec_kind(form: &CommandForm, shell: bool) -> Result<TrackerKind, String> {
    let words = form.words();
    if words.is_empty() {
        return Err("exec is empty: give the command to run".into());
    }
    if shell {
        return match form {
            CommandForm::Line(line) => Ok(TrackerKind::Exec(Command::shell(line))),
            CommandForm::Argv(_) => {
                Err("with shell: true, give exec as one string (the shell line)".into())
            }
        };
    }
    if !words[0].starts_with('/') {
        return Err(format!(
            "exec {:?}: give the program's absolute path (no PATH lookup), or set shell: true for a shell line",
            words[0]
        ));
    }
    Ok(TrackerKind::Exec(Command::argv(words.to_vec())))
}

/// Unit names systemd knows (RFC-free, systemd.unit(5)): NAME.TYPE.
pub fn unit_name(u: &str) -> Result<String, String> {
    const TYPES: &[&str] = &[
        "service",
        "socket",
        "target",
        "mount",
        "timer",
        "path",
        "scope",
        "slice",
        "device",
        "swap",
        "automount",
    ];
    let ok = u.len() <= 255
        && !u.contains('/')
        && !u.chars().any(char::is_whitespace)
        && u.rsplit_once('.')
            .is_some_and(|(n, t)| !n.is_empty() && TYPES.contains(&t));
    if !ok {
        return Err(format!(
            "{u:?} is not a systemd unit name: write it with its type, e.g. haproxy.service"
        ));
    }
    Ok(u.to_string())
}

fn process_match(p: &ProcessMatch) -> Result<ProcessMatch, String> {
    match (&p.name, &p.pidfile) {
        (Some(n), None) if !n.is_empty() && !n.contains('/') => {}
        (None, Some(f)) if f.is_absolute() => {}
        (Some(_), Some(_)) => return Err("process: give name or pidfile, not both".into()),
        (None, None) => return Err("process: give a name or a pidfile".into()),
        (Some(n), None) => {
            return Err(format!(
                "process name {n:?}: give the name as pidof matches it (no '/'), or use pidfile"
            ));
        }
        (None, Some(f)) => return Err(format!("pidfile {}: give an absolute path", f.display())),
    }
    if p.min_count == 0 {
        return Err(
            "process: min_count 0 is always true: use absent: true for a process that must not run"
                .into(),
        );
    }
    if p.absent && p.min_count != 1 {
        return Err("process: absent and min_count exclude each other".into());
    }
    Ok(p.clone())
}

impl From<TrackerConfig> for RawTracker {
    fn from(t: TrackerConfig) -> RawTracker {
        let mut r = RawTracker {
            rise: (t.rise != 1).then_some(t.rise),
            fall: (t.fall != 1).then_some(t.fall),
            weight: t.weight,
            init: (t.init != Status::Up).then_some(t.init),
            interval: (t.interval != DEFAULT_TRACKER_INTERVAL).then_some(t.interval),
            ..RawTracker::default()
        };
        let polled = matches!(t.kind, TrackerKind::Exec(_) | TrackerKind::Tcp(_));
        if polled {
            r.timeout = (t.timeout != t.interval).then_some(t.timeout);
            r.on_timeout = (t.on_timeout != OnTimeout::Failure).then_some(t.on_timeout);
        }
        match t.kind {
            TrackerKind::Exec(c) => match c.shell_line {
                Some(line) => {
                    r.exec = Some(CommandForm::Line(line));
                    r.shell = true;
                }
                None => r.exec = Some(CommandForm::Argv(c.argv)),
            },
            TrackerKind::Unit(u) => r.unit = Some(u),
            TrackerKind::Process(p) => r.process = Some(p),
            TrackerKind::File(f) => r.file = Some(f),
            TrackerKind::Interface(i) => r.interface = Some(i),
            TrackerKind::Tcp(a) => r.tcp = Some(a.to_string()),
        }
        r
    }
}

/// How an instance or a group uses a tracker: `name`, or `{tracker: name,
/// weight: N}` to give this use its own weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackUse {
    pub tracker: String,
    /// Overrides the tracker's weight for this use; 0 means no weight (FAULT).
    pub weight: Option<i32>,
}

impl TrackUse {
    /// What this use does with the tracker's state: a `file` tracker scales
    /// (multiplier 1 by default); otherwise no weight (or 0) is FAULT, a
    /// weight is added as keepalived adds it.
    pub fn effect(&self, tracker: &TrackerConfig) -> Effect {
        let weight = self.weight.or(tracker.weight);
        match (&tracker.kind, weight) {
            (TrackerKind::File(_), w) => Effect::Scaled(w.unwrap_or(1)),
            (_, None | Some(0)) => Effect::Fault,
            (_, Some(w)) => Effect::Weight(w),
        }
    }
}

impl Serialize for TrackUse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.weight {
            None => s.serialize_str(&self.tracker),
            Some(w) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("tracker", &self.tracker)?;
                m.serialize_entry("weight", &w)?;
                m.end()
            }
        }
    }
}

/// A use written as a mapping (`{tracker: NAME, weight: N}`); its own
/// type, so the reference's tests can ask serde for its keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TrackUseMap {
    tracker: String,
    #[serde(default)]
    weight: Option<i32>,
}

impl<'de> Deserialize<'de> for TrackUse {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Name(String),
            Full(TrackUseMap),
        }
        let u = match Form::deserialize(d)? {
            Form::Name(tracker) => TrackUse {
                tracker,
                weight: None,
            },
            Form::Full(f) => TrackUse {
                tracker: f.tracker,
                weight: f.weight,
            },
        };
        if let Some(w) = u.weight
            && !WEIGHT_RANGE.contains(&w)
        {
            return Err(de::Error::custom(format!(
                "weight {w} of tracker {:?} is out of range -254..254",
                u.tracker
            )));
        }
        Ok(u)
    }
}

/// Commands run on state changes. Each is run with the event in its
/// environment (`VIPD_*`, see docs/configuration.md), serialised per instance or group
/// in event order, and killed after `timeout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_command")]
    pub master: Option<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_command")]
    pub backup: Option<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_command")]
    pub fault: Option<Command>,
    /// The instance stops (shutdown, removed by a reload).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_command")]
    pub stop: Option<Command>,
    /// On every transition, after the specific one.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_command")]
    pub any: Option<Command>,
    #[serde(
        default = "default_notify_timeout",
        skip_serializing_if = "is_default_notify_timeout",
        with = "duration_text"
    )]
    pub timeout: Duration,
}

/// How long a notify command may run.
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// No commands and the default timeout: what an instance without `notify:`
/// gets. Written out because a derived default had a zero timeout, so an
/// instance without `notify:` and one with an empty `notify:` parsed to
/// different configurations (the config fuzz target's round trip found it).
impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            master: None,
            backup: None,
            fault: None,
            stop: None,
            any: None,
            timeout: DEFAULT_NOTIFY_TIMEOUT,
        }
    }
}

fn default_notify_timeout() -> Duration {
    DEFAULT_NOTIFY_TIMEOUT
}
fn is_default_notify_timeout(d: &Duration) -> bool {
    *d == DEFAULT_NOTIFY_TIMEOUT
}

impl NotifyConfig {
    pub fn is_empty(&self) -> bool {
        self.commands().next().is_none()
    }

    /// Every command with its key.
    pub fn commands(&self) -> impl Iterator<Item = (&'static str, &Command)> {
        [
            ("master", &self.master),
            ("backup", &self.backup),
            ("fault", &self.fault),
            ("stop", &self.stop),
            ("any", &self.any),
        ]
        .into_iter()
        .filter_map(|(k, c)| c.as_ref().map(|c| (k, c)))
    }
}

/// Notify commands: always an argv (a string is split at blanks); a shell
/// is `[/bin/sh, -c, "..."]`, written out.
mod opt_command {
    use super::*;

    pub fn serialize<S: Serializer>(c: &Option<Command>, s: S) -> Result<S::Ok, S::Error> {
        match c {
            Some(c) => c.argv.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Command>, D::Error> {
        let words = CommandForm::deserialize(d)?.words();
        if words.is_empty() {
            return Err(de::Error::custom("empty command: give the program to run"));
        }
        if !words[0].starts_with('/') {
            return Err(de::Error::custom(format!(
                "{:?}: give the program's absolute path (no PATH lookup)",
                words[0]
            )));
        }
        Ok(Some(Command::argv(words)))
    }
}

/// Instances that are MASTER together or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub instances: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track: Vec<TrackUse>,
    #[serde(default, skip_serializing_if = "NotifyConfig::is_empty")]
    pub notify: NotifyConfig,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<String>,
}

/// Trackers by name, groups by name.
pub type Trackers = BTreeMap<String, TrackerConfig>;
pub type Groups = BTreeMap<String, GroupConfig>;
