//! The event stream of `vipctl watch`: what each line says, and how vipctl
//! prints it.
//!
//! On a `{"cmd":"watch"}` connection the daemon sends a snapshot first
//! (`{"event":"snapshot","seq":N,"time":T,"status":{...}}`, the status of
//! `vipctl status --json` as of event N), then one line per event, numbered
//! N+1, N+2, ... without a gap: every kind of event shares one counter, so
//! a watcher knows the order of everything it saw and whether it missed
//! anything. A watcher that reads too slowly for the daemon's buffer is
//! told how many it missed (`{"event":"lagged","missed":M}`) and goes on;
//! the daemon never waits for a watcher. The keys are an interface, like
//! those of `vipctl status --json` (a unit test lists them).

use serde::{Deserialize, Serialize};

use crate::control::Status;
use crate::health;
use crate::notify::{HookState, TargetKind};
use crate::vrrp::{Reason, State};

/// One event, with its number and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    pub seq: u64,
    /// Seconds since the Unix epoch.
    pub time: f64,
    #[serde(flatten)]
    pub event: Event,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// An instance changed state.
    Transition {
        instance: String,
        from: State,
        to: State,
        reason: Reason,
    },
    /// A group changed state (see `crate::notify::group_state`); `from` is
    /// `INIT` before the group's first state.
    GroupTransition {
        group: String,
        from: String,
        to: HookState,
        /// The reason of the member's transition that changed the group.
        reason: Reason,
    },
    /// A tracker went up or down.
    Tracker {
        name: String,
        status: health::Status,
        /// Why the last result was bad; None when good.
        last_result: Option<String>,
    },
    /// An instance's effective priority changed.
    Priority {
        instance: String,
        from: u8,
        to: u8,
        /// As `vipctl status` shows it: `150 - 60 (haproxy down) = 90`.
        arithmetic: String,
    },
    /// Health put an instance in FAULT (`fault: true`) or let it out.
    HealthFault { instance: String, fault: bool },
    /// A master's VIPs were deleted under it and put back.
    VipsRestored { instance: String },
    /// A notify hook or unit step finished.
    Notify {
        /// The instance or group name.
        target: String,
        target_kind: TargetKind,
        /// `master`, `backup`, `fault`, `stop`, `any`, `start_unit` or
        /// `stop_unit`.
        kind: String,
        /// The command line, or the unit.
        command: String,
        /// `exit 0`, `exit 3`, `timed out`, `killed by signal 9`, `could
        /// not start: ...`, or for a unit `done` or systemd's error.
        exit: String,
        ok: bool,
        duration_ms: u64,
    },
}

/// The first line of a watch stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename = "snapshot")]
pub struct Snapshot {
    /// The number of the last event the status includes.
    pub seq: u64,
    pub time: f64,
    pub status: Status,
}

/// Sent instead of the events a slow watcher missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename = "lagged")]
pub struct Lagged {
    pub missed: u64,
}

/// One line of the stream, as vipctl reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Snapshot(Box<Snapshot>),
    Lagged(Lagged),
    Event(EventLine),
    /// An event this vipctl does not know (a newer vipd): shown as it came.
    Other(serde_json::Value),
}

impl Line {
    /// Reads one line; Err only for text that is not JSON.
    pub fn parse(text: &str) -> Result<Line, serde_json::Error> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        let parsed = match v.get("event").and_then(|e| e.as_str()) {
            Some("snapshot") => {
                serde_json::from_value(v.clone()).map(|s| Line::Snapshot(Box::new(s)))
            }
            Some("lagged") => serde_json::from_value(v.clone()).map(Line::Lagged),
            _ => serde_json::from_value(v.clone()).map(Line::Event),
        };
        Ok(parsed.unwrap_or(Line::Other(v)))
    }

    /// The readable form: `#12 11:02:03.123 web BACKUP -> MASTER
    /// (master_down)`; times in the local time zone.
    pub fn render(&self) -> String {
        match self {
            Line::Snapshot(s) => render_snapshot(s),
            Line::Lagged(l) => format!(
                "... {} event(s) missed: this watcher read too slowly",
                l.missed
            ),
            Line::Event(e) => format!("#{} {} {}", e.seq, clock(e.time), describe(&e.event)),
            Line::Other(v) => format!("(unknown event) {v}"),
        }
    }
}

fn render_snapshot(s: &Snapshot) -> String {
    let mut parts: Vec<String> = s
        .status
        .instances
        .iter()
        .map(|i| format!("{} {} (priority {})", i.name, i.state, i.effective_priority))
        .collect();
    parts.extend(s.status.groups.iter().map(|g| {
        let state = g
            .state
            .map_or_else(|| "INIT".to_string(), |s| s.to_string());
        format!("group {} {state}", g.name)
    }));
    if parts.is_empty() {
        parts.push("no instances".into());
    }
    format!("#{} {} now: {}", s.seq, clock(s.time), parts.join(", "))
}

/// An event in words.
fn describe(e: &Event) -> String {
    match e {
        Event::Transition {
            instance,
            from,
            to,
            reason,
        } => format!("{instance} {from} -> {to} ({reason})"),
        Event::GroupTransition {
            group,
            from,
            to,
            reason,
        } => format!("group {group} {from} -> {to} ({reason})"),
        Event::Tracker {
            name,
            status,
            last_result,
        } => match (status, last_result) {
            (health::Status::Down, Some(why)) => format!("tracker {name} down: {why}"),
            (health::Status::Down, None) => format!("tracker {name} down"),
            (health::Status::Up, _) => format!("tracker {name} up"),
        },
        Event::Priority {
            instance,
            from,
            to,
            arithmetic,
        } => format!("{instance} priority {from} -> {to}: {arithmetic}"),
        Event::HealthFault { instance, fault } => match fault {
            true => format!("{instance} health: FAULT"),
            false => format!("{instance} health: no longer FAULT"),
        },
        Event::VipsRestored { instance } => {
            format!("{instance} VIPs deleted by someone else, restored")
        }
        Event::Notify {
            target,
            target_kind,
            kind,
            command,
            exit,
            duration_ms,
            ..
        } => format!("{target_kind} {target} {kind} {command}: {exit} ({duration_ms} ms)"),
    }
}

/// `HH:MM:SS.mmm` in the local time zone.
pub fn clock(unix: f64) -> String {
    let secs = unix.floor();
    let millis = ((unix - secs) * 1000.0) as u32 % 1000;
    let t = secs as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which lives across the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = !unsafe { libc::localtime_r(&t, &mut tm) }.is_null();
    if !ok {
        return format!("{unix:.3}");
    }
    format!(
        "{:02}:{:02}:{:02}.{millis:03}",
        tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(event: Event) -> serde_json::Value {
        serde_json::to_value(EventLine {
            seq: 12,
            time: 1.5,
            event,
        })
        .unwrap()
    }

    fn keys(v: &serde_json::Value) -> Vec<&str> {
        let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort();
        k
    }

    // The stream is an interface (scripts follow it): its shapes change
    // only on purpose, with this list.
    #[test]
    fn event_json_keys_are_stable() {
        let cases = [
            (
                Event::Transition {
                    instance: "web".into(),
                    from: State::Backup,
                    to: State::Master,
                    reason: Reason::MasterDown,
                },
                "transition",
                vec!["event", "from", "instance", "reason", "seq", "time", "to"],
            ),
            (
                Event::GroupTransition {
                    group: "lb".into(),
                    from: "INIT".into(),
                    to: HookState::Backup,
                    reason: Reason::Startup,
                },
                "group_transition",
                vec!["event", "from", "group", "reason", "seq", "time", "to"],
            ),
            (
                Event::Tracker {
                    name: "svc".into(),
                    status: health::Status::Down,
                    last_result: Some("gone".into()),
                },
                "tracker",
                vec!["event", "last_result", "name", "seq", "status", "time"],
            ),
            (
                Event::Priority {
                    instance: "web".into(),
                    from: 150,
                    to: 90,
                    arithmetic: "150 - 60 (svc down) = 90".into(),
                },
                "priority",
                vec![
                    "arithmetic",
                    "event",
                    "from",
                    "instance",
                    "seq",
                    "time",
                    "to",
                ],
            ),
            (
                Event::HealthFault {
                    instance: "web".into(),
                    fault: true,
                },
                "health_fault",
                vec!["event", "fault", "instance", "seq", "time"],
            ),
            (
                Event::VipsRestored {
                    instance: "web".into(),
                },
                "vips_restored",
                vec!["event", "instance", "seq", "time"],
            ),
            (
                Event::Notify {
                    target: "web".into(),
                    target_kind: TargetKind::Instance,
                    kind: "master".into(),
                    command: "/bin/true".into(),
                    exit: "exit 0".into(),
                    ok: true,
                    duration_ms: 3,
                },
                "notify",
                vec![
                    "command",
                    "duration_ms",
                    "event",
                    "exit",
                    "kind",
                    "ok",
                    "seq",
                    "target",
                    "target_kind",
                    "time",
                ],
            ),
        ];
        for (event, tag, want) in cases {
            let v = line(event.clone());
            assert_eq!(v["event"], tag);
            assert_eq!(keys(&v), want, "{tag}");
            // And back: vipctl reads what the daemon writes.
            match Line::parse(&v.to_string()).unwrap() {
                Line::Event(e) => assert_eq!(e.event, event),
                other => panic!("{tag}: {other:?}"),
            }
        }
        let t = line(Event::Transition {
            instance: "web".into(),
            from: State::Initialize,
            to: State::Backup,
            reason: Reason::Startup,
        });
        assert_eq!(
            t.to_string(),
            r#"{"event":"transition","from":"INIT","instance":"web","reason":"startup","seq":12,"time":1.5,"to":"BACKUP"}"#
        );
        assert_eq!(
            serde_json::to_string(&Lagged { missed: 3 }).unwrap(),
            r#"{"event":"lagged","missed":3}"#
        );
    }

    #[test]
    fn lines_read_and_render() {
        let l = Line::parse(r#"{"event":"lagged","missed":4}"#).unwrap();
        assert_eq!(l, Line::Lagged(Lagged { missed: 4 }));
        assert!(l.render().contains("4 event(s) missed"));
        let l = Line::parse(
            r#"{"seq":12,"time":1.25,"event":"transition","instance":"web","from":"BACKUP","to":"MASTER","reason":"master_down"}"#,
        )
        .unwrap();
        let text = l.render();
        assert!(text.starts_with("#12 "), "{text}");
        assert!(
            text.ends_with(".250 web BACKUP -> MASTER (master_down)"),
            "{text}"
        );
        // An event from a newer vipd is shown, not refused.
        let l = Line::parse(r#"{"seq":13,"time":1,"event":"comet","x":1}"#).unwrap();
        assert!(matches!(l, Line::Other(_)));
        assert!(Line::parse("not json").is_err());
        let n = describe(&Event::Notify {
            target: "lb".into(),
            target_kind: TargetKind::Group,
            kind: "any".into(),
            command: "/bin/x".into(),
            exit: "timed out".into(),
            ok: false,
            duration_ms: 10000,
        });
        assert_eq!(n, "group lb any /bin/x: timed out (10000 ms)");
    }
}
