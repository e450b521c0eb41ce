//! Tracker runners: one task per tracker that watches its thing and
//! reports results to the daemon, which feeds them to the pure
//! `crate::health` board. A runner reports at every `interval`, and the
//! event-driven ones (process, unit, file) also at once when what they watch
//! changes. Nothing here decides anything.
//!
//! Layout: `exec` (commands, as the script user), `tcp` (connects),
//! `process` (/proc scan plus pidfd exit notification), `unit` (systemd
//! over D-Bus), `file` (inotify), `security` (what a script file must be).
//! `interface` trackers need no runner of their own: the daemon answers
//! them from its kernel mirror, on every link change and at each tick.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::config::{TrackerConfig, TrackerKind};
use crate::health::Outcome;
use crate::io::script::ScriptUser;

mod exec;
pub mod file;
pub mod process;
pub mod security;
mod tcp;
pub mod unit;

/// One result of one tracker, or (interface trackers) a request to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Result {
        tracker: String,
        outcome: Outcome,
    },
    /// Time for the daemon to report an `interface` tracker's state.
    Due {
        tracker: String,
    },
}

/// Where runners send their reports.
#[derive(Debug, Clone)]
pub struct Reporter {
    tracker: String,
    tx: mpsc::UnboundedSender<Report>,
}

impl Reporter {
    pub fn new(tracker: &str, tx: mpsc::UnboundedSender<Report>) -> Reporter {
        Reporter {
            tracker: tracker.to_string(),
            tx,
        }
    }

    pub fn name(&self) -> &str {
        &self.tracker
    }

    /// False once the daemon is gone (the runner then ends).
    pub fn send(&self, outcome: Outcome) -> bool {
        self.tx
            .send(Report::Result {
                tracker: self.tracker.clone(),
                outcome,
            })
            .is_ok()
    }

    fn due(&self) -> bool {
        self.tx
            .send(Report::Due {
                tracker: self.tracker.clone(),
            })
            .is_ok()
    }
}

/// A running tracker; stopped when dropped.
pub struct Runner(JoinHandle<()>);

impl Drop for Runner {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the runner of tracker `name`.
pub fn spawn(
    name: &str,
    cfg: &TrackerConfig,
    user: Option<ScriptUser>,
    tx: mpsc::UnboundedSender<Report>,
) -> Runner {
    let out = Reporter::new(name, tx);
    let cfg = cfg.clone();
    Runner(tokio::spawn(async move {
        match &cfg.kind {
            TrackerKind::Exec(cmd) => exec::run(cmd, &cfg, user.as_ref(), out).await,
            TrackerKind::Tcp(addr) => tcp::run(*addr, &cfg, out).await,
            TrackerKind::Process(m) => process::run(m, cfg.interval, out).await,
            TrackerKind::Unit(u) => unit::run(u, cfg.interval, out).await,
            TrackerKind::File(p) => file::run(p, cfg.interval, out).await,
            TrackerKind::Interface(_) => ticks(cfg.interval, out).await,
        }
    }))
}

/// A tick every `interval`, the first at once; missed ticks are not
/// made up (a late tick is one tick).
pub fn interval(every: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval(every);
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    i
}

/// `interface` trackers: asks the daemon to look at each tick.
async fn ticks(every: Duration, out: Reporter) {
    let mut tick = interval(every);
    loop {
        tick.tick().await;
        if !out.due() {
            return;
        }
    }
}
