//! `unit` trackers: a systemd unit's ActiveState, followed over D-Bus the
//! way `systemctl` sees it; nothing is forked or polled from the command
//! line. systemd announces each state change with PropertiesChanged on the
//! unit's object, and the tracker reports the new verdict at once; at every
//! interval it re-reads the state (one D-Bus call) and reports it again,
//! which also repairs a signal lost while systemd re-executed.
//!
//! Good while the unit is `active`, `reloading` or `refreshing` (running,
//! as systemd's own "active or reloading" counts it). Anything else is Bad
//! with the state as the reason: `activating` too, since a service still
//! starting does not serve yet, and a unit systemd has no file for says so.
//!
//! Without the bus or systemd, the tracker reports Bad with the reason at
//! every interval and reconnects with a backoff (0.5 s doubling to 10 s).

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use zbus::{Connection, MatchRule, MessageStream, OwnedObjectPath, OwnedVariant, Proxy};

use super::{Reporter, interval};
use crate::health::Outcome;
use crate::io::systemd::{self, CALL_TIMEOUT, SystemdError, UNIT_IFACE, call_error, with_timeout};

/// The first wait before reconnecting, doubled after each failure.
const RETRY_FIRST: Duration = Duration::from_millis(500);
/// The longest wait: a bus back after a restart is seen within this.
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Follows `unit` on the system bus and reports its verdicts to `out`.
pub async fn run(unit: &str, every: Duration, out: Reporter) {
    run_on(None, unit, every, out).await
}

/// [`run`] on `bus` (None: the system bus; tests give a private bus).
pub(crate) async fn run_on(bus: Option<&str>, unit: &str, every: Duration, out: Reporter) {
    let mut tick = interval(every);
    // The first tick is now, and the first report comes from connecting:
    // a second one right away would count twice toward rise/fall.
    tick.tick().await;
    let mut retry = RETRY_FIRST;
    // The latest verdict, repeated at each tick while nothing newer is known.
    let mut last: Option<Outcome> = None;
    loop {
        let Some(opened) = meanwhile(Watch::open(bus, unit), &mut tick, &out, &last).await else {
            return;
        };
        let lost = match opened {
            Ok((mut watch, first)) => {
                retry = RETRY_FIRST;
                last = Some(first.clone());
                if !out.send(first) {
                    return;
                }
                match watch.follow(unit, &mut tick, &out, &mut last).await {
                    Followed::DaemonGone => return,
                    Followed::Lost(e) => e,
                }
            }
            Err(e) => e,
        };
        tracing::debug!(
            "unit tracker {}: {lost}; retrying in {:?}",
            out.name(),
            retry
        );
        let bad = Outcome::Bad(lost.to_string());
        last = Some(bad.clone());
        if !out.send(bad) {
            return;
        }
        let wait = tokio::time::sleep(retry);
        if meanwhile(wait, &mut tick, &out, &last).await.is_none() {
            return;
        }
        retry = (retry * 2).min(RETRY_MAX);
    }
}

/// Runs `f` to its end, repeating `last` at each tick meanwhile (connecting
/// or waiting to retry must not silence the tracker); None once the daemon
/// is gone.
async fn meanwhile<T>(
    f: impl Future<Output = T>,
    tick: &mut tokio::time::Interval,
    out: &Reporter,
    last: &Option<Outcome>,
) -> Option<T> {
    let mut f = std::pin::pin!(f);
    loop {
        tokio::select! {
            v = &mut f => return Some(v),
            _ = tick.tick() => {
                if let Some(o) = last && !out.send(o.clone()) {
                    return None;
                }
            }
        }
    }
}

/// The verdict on a unit in ActiveState `active`, with its LoadState (when
/// known) to explain a unit that is not there.
pub fn outcome(unit: &str, active: &str, load: Option<&str>) -> Outcome {
    if running(active) {
        return Outcome::Good;
    }
    let why = match load {
        Some("not-found") => " (no such unit)",
        Some("masked") => " (masked)",
        Some("bad-setting" | "error") => " (its unit file has errors: see systemctl status)",
        _ => "",
    };
    Outcome::Bad(format!("{unit} is {active}{why}"))
}

/// systemd's UNIT_IS_ACTIVE_OR_RELOADING.
fn running(active: &str) -> bool {
    matches!(active, "active" | "reloading" | "refreshing")
}

/// What one PropertiesChanged on the unit's object says about ActiveState.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Not about ActiveState (another interface, other properties).
    Unrelated,
    /// The new ActiveState, carried in the signal.
    Now(String),
    /// ActiveState changed without its value (invalidated, or a value of an
    /// unexpected type): read it.
    Reread,
}

/// Reads the body of a PropertiesChanged: (interface, changed, invalidated).
pub fn change(
    iface: &str,
    changed: &HashMap<String, OwnedVariant>,
    invalidated: &[String],
) -> Change {
    if iface != UNIT_IFACE {
        return Change::Unrelated;
    }
    if let Some(v) = changed.get("ActiveState") {
        return match <&str>::try_from(&**v) {
            Ok(s) => Change::Now(s.to_string()),
            Err(_) => Change::Reread,
        };
    }
    if invalidated.iter().any(|p| p == "ActiveState") {
        return Change::Reread;
    }
    Change::Unrelated
}

/// How following a unit ended.
enum Followed {
    /// The daemon stopped listening: the runner ends.
    DaemonGone,
    /// The bus or systemd went away (or stopped answering).
    Lost(SystemdError),
}

/// One connection following one unit.
struct Watch {
    /// Kept for the lifetime of the watch: the match rule and the Subscribe
    /// live as long as the connection.
    _conn: Connection,
    unit: Proxy<'static>,
    changes: MessageStream,
}

impl Watch {
    /// Connects, finds the unit's object (LoadUnit: it need not be loaded
    /// yet, and its path stays valid while systemd unloads and reloads it)
    /// and subscribes to its changes; then reads the first verdict. The
    /// state is read after subscribing, so no change falls between the read
    /// and the first signal.
    async fn open(bus: Option<&str>, name: &str) -> Result<(Watch, Outcome), SystemdError> {
        let conn = systemd::connect(bus).await?;
        let manager = systemd::manager(&conn).await?;
        let path: OwnedObjectPath = with_timeout("LoadUnit", CALL_TIMEOUT, async {
            manager
                .call("LoadUnit", &(name,))
                .await
                .map_err(|e| call_error("LoadUnit", name, e))
        })
        .await?;
        // systemd sends unit signals on the system bus only while some
        // client has subscribed; the subscription ends with the connection.
        // A failure leaves the interval's re-read.
        let subscribe = manager.call::<_, _, ()>("Subscribe", &());
        match tokio::time::timeout(CALL_TIMEOUT, subscribe).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!("systemd Subscribe for {name}: {e}"),
            Err(_) => tracing::debug!("systemd Subscribe for {name}: no answer"),
        }
        // The sender is systemd's well-known name: the bus delivers only
        // what its owner sends, so no other client can fake a state.
        let rule = MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .sender(systemd::DEST)
            .path(path.clone())
            .interface("org.freedesktop.DBus.Properties")
            .member("PropertiesChanged")
            .add_arg(UNIT_IFACE)
            .build()
            .map_err(|e| SystemdError::Bus(e.to_string()))?;
        let changes = with_timeout("AddMatch", CALL_TIMEOUT, async {
            MessageStream::for_match_rule(rule, &conn, None)
                .await
                .map_err(|e| call_error("AddMatch", name, e))
        })
        .await?;
        let unit = systemd::proxy(&conn, path.to_string(), UNIT_IFACE).await?;
        let watch = Watch {
            _conn: conn,
            unit,
            changes,
        };
        let first = watch.read(name).await?;
        Ok((watch, first))
    }

    /// Reports the unit's verdict at every change and at every tick, until
    /// the daemon or the bus goes.
    async fn follow(
        &mut self,
        name: &str,
        tick: &mut tokio::time::Interval,
        out: &Reporter,
        last: &mut Option<Outcome>,
    ) -> Followed {
        loop {
            let verdict = tokio::select! {
                msg = self.changes.next() => {
                    let msg = match msg {
                        Some(Ok(m)) => m,
                        Some(Err(e)) => return Followed::Lost(SystemdError::Bus(e.to_string())),
                        None => {
                            return Followed::Lost(SystemdError::Bus(
                                "the connection closed".into(),
                            ));
                        }
                    };
                    let body: Result<(String, HashMap<String, OwnedVariant>, Vec<String>), _> =
                        msg.body().deserialize();
                    let c = match &body {
                        Ok((iface, changed, invalidated)) => change(iface, changed, invalidated),
                        Err(_) => Change::Reread,
                    };
                    let o = match c {
                        Change::Unrelated => continue,
                        Change::Now(state) => self.verdict(name, &state).await,
                        Change::Reread => self.read(name).await,
                    };
                    // A change is reported when the verdict changes: each
                    // report counts toward rise/fall, and systemd also
                    // announces unrelated property changes of the unit.
                    match o {
                        Ok(o) if last.as_ref() == Some(&o) => continue,
                        o => o,
                    }
                }
                _ = tick.tick() => self.read(name).await,
            };
            match verdict {
                Ok(o) => {
                    *last = Some(o.clone());
                    if !out.send(o) {
                        return Followed::DaemonGone;
                    }
                }
                Err(e) => return Followed::Lost(e),
            }
        }
    }

    /// Reads ActiveState and gives the verdict.
    async fn read(&self, name: &str) -> Result<Outcome, SystemdError> {
        let state = self.property(name, "ActiveState").await?;
        self.verdict(name, &state).await
    }

    /// The verdict on `state`; for a unit not running, LoadState says
    /// whether it exists at all (one more call, only then).
    async fn verdict(&self, name: &str, state: &str) -> Result<Outcome, SystemdError> {
        if running(state) {
            return Ok(Outcome::Good);
        }
        let load = self.property(name, "LoadState").await.ok();
        Ok(outcome(name, state, load.as_deref()))
    }

    async fn property(&self, name: &str, prop: &'static str) -> Result<String, SystemdError> {
        with_timeout("Get", CALL_TIMEOUT, async {
            self.unit
                .get_property::<String>(prop)
                .await
                .map_err(|e| call_error("Get", name, e))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::Report;
    use super::*;
    use crate::io::systemd::fake::{Announce, FakeSystemd};
    use tokio::sync::mpsc::UnboundedReceiver;

    fn variant(s: &str) -> OwnedVariant {
        OwnedVariant::try_from(zbus::Variant::from(s)).unwrap()
    }

    #[test]
    fn states_and_verdicts() {
        for s in ["active", "reloading", "refreshing"] {
            assert_eq!(outcome("haproxy.service", s, None), Outcome::Good, "{s}");
        }
        assert_eq!(
            outcome("haproxy.service", "failed", Some("loaded")),
            Outcome::Bad("haproxy.service is failed".into())
        );
        assert_eq!(
            outcome("haproxy.service", "activating", None),
            Outcome::Bad("haproxy.service is activating".into())
        );
        assert_eq!(
            outcome("hapr0xy.service", "inactive", Some("not-found")),
            Outcome::Bad("hapr0xy.service is inactive (no such unit)".into())
        );
        assert_eq!(
            outcome("x.service", "inactive", Some("masked")),
            Outcome::Bad("x.service is inactive (masked)".into())
        );
    }

    #[test]
    fn properties_changed_bodies() {
        let mut changed = HashMap::new();
        changed.insert("ActiveState".to_string(), variant("failed"));
        changed.insert("SubState".to_string(), variant("failed"));
        assert_eq!(
            change(UNIT_IFACE, &changed, &[]),
            Change::Now("failed".into())
        );
        assert_eq!(
            change("org.freedesktop.systemd1.Service", &changed, &[]),
            Change::Unrelated
        );
        assert_eq!(
            change(UNIT_IFACE, &HashMap::new(), &["ActiveState".to_string()]),
            Change::Reread
        );
        assert_eq!(
            change(UNIT_IFACE, &HashMap::new(), &["SubState".to_string()]),
            Change::Unrelated
        );
        let mut odd = HashMap::new();
        odd.insert(
            "ActiveState".to_string(),
            OwnedVariant::try_from(zbus::Variant::from(7u32)).unwrap(),
        );
        assert_eq!(change(UNIT_IFACE, &odd, &[]), Change::Reread);
    }

    /// A runner following `unit` on the fake's bus, and its reports.
    fn follow(
        fake: &FakeSystemd,
        unit: &'static str,
        every: Duration,
    ) -> (tokio::task::JoinHandle<()>, UnboundedReceiver<Report>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let out = Reporter::new("t", tx);
        let address = fake.address.clone();
        let runner = tokio::spawn(async move { run_on(Some(&address), unit, every, out).await });
        (runner, rx)
    }

    async fn next(rx: &mut UnboundedReceiver<Report>, within: Duration) -> Outcome {
        match tokio::time::timeout(within, rx.recv()).await {
            Ok(Some(Report::Result { outcome, .. })) => outcome,
            other => panic!("no report within {within:?}: {other:?}"),
        }
    }

    // No bus: Bad with the reason at each tick, and no busy loop (about one
    // report per tick, reconnecting with a backoff).
    #[tokio::test]
    async fn without_a_bus_reports_bad_at_each_tick() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let out = Reporter::new("t", tx);
        let runner = tokio::spawn(async move {
            run_on(
                Some("unix:path=/nonexistent/vipd-test/bus"),
                "haproxy.service",
                Duration::from_millis(100),
                out,
            )
            .await
        });
        tokio::time::sleep(Duration::from_millis(330)).await;
        runner.abort();
        let mut reports = Vec::new();
        while let Ok(r) = rx.try_recv() {
            reports.push(r);
        }
        assert!(
            (3..=6).contains(&reports.len()),
            "{} reports: {reports:?}",
            reports.len()
        );
        for r in &reports {
            let Report::Result {
                outcome: Outcome::Bad(why),
                ..
            } = r
            else {
                panic!("{r:?}");
            };
            assert!(why.starts_with("system D-Bus unreachable: "), "{why}");
        }
    }

    // End to end against a fake systemd on a private bus: the first state,
    // a change announced with its value and one announced as invalidated,
    // each reported at once (the interval is an hour); a signal that does
    // not change the verdict is no report.
    #[tokio::test]
    async fn follows_a_unit_over_dbus() {
        let Some(fake) = FakeSystemd::start().await else {
            return;
        };
        fake.set("web.service", "active");
        let (runner, mut rx) = follow(&fake, "web.service", Duration::from_secs(3600));
        let soon = Duration::from_millis(500);
        assert_eq!(next(&mut rx, Duration::from_secs(5)).await, Outcome::Good);

        let t0 = std::time::Instant::now();
        fake.change("web.service", "failed", Announce::Value).await;
        assert_eq!(
            next(&mut rx, soon).await,
            Outcome::Bad("web.service is failed".into())
        );
        fake.change("web.service", "active", Announce::Invalidated)
            .await;
        assert_eq!(next(&mut rx, soon).await, Outcome::Good);
        assert!(
            t0.elapsed() < Duration::from_millis(300),
            "{:?}",
            t0.elapsed()
        );

        // A signal repeating the same verdict is not a new report.
        fake.change("web.service", "reloading", Announce::Value)
            .await;
        fake.change("web.service", "deactivating", Announce::Value)
            .await;
        assert_eq!(
            next(&mut rx, soon).await,
            Outcome::Bad("web.service is deactivating".into())
        );
        runner.abort();
    }

    // A tick re-reads a change no signal announced; the bus restarts and
    // the tracker reconnects; a unit systemd has no file for; systemd
    // leaving the bus.
    #[tokio::test]
    async fn rereads_at_ticks_and_reconnects() {
        let Some(fake) = FakeSystemd::start().await else {
            return;
        };
        fake.set("web.service", "active");
        let every = Duration::from_millis(200);
        let (runner, mut rx) = follow(&fake, "web.service", every);
        assert_eq!(next(&mut rx, Duration::from_secs(5)).await, Outcome::Good);
        fake.change("web.service", "failed", Announce::Silent).await;
        assert_eq!(
            next(&mut rx, Duration::from_secs(1)).await,
            Outcome::Bad("web.service is failed".into()),
            "seen at the next tick"
        );

        let fake = fake.restart().await.expect("restart the bus");
        fake.set("web.service", "active");
        let mut reports = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            let o = next(&mut rx, Duration::from_secs(5)).await;
            reports.push(o.clone());
            if o == Outcome::Good {
                break;
            }
        }
        assert_eq!(reports.last(), Some(&Outcome::Good), "{reports:?}");
        assert!(
            reports.iter().any(|o| matches!(o, Outcome::Bad(_))),
            "the lost bus was reported: {reports:?}"
        );
        runner.abort();

        let (runner, mut rx) = follow(&fake, "nope.service", Duration::from_secs(3600));
        assert_eq!(
            next(&mut rx, Duration::from_secs(5)).await,
            Outcome::Bad("nope.service is inactive (no such unit)".into())
        );
        runner.abort();

        // systemd leaves the bus: said at the next tick.
        let (runner, mut rx) = follow(&fake, "web.service", every);
        assert_eq!(next(&mut rx, Duration::from_secs(5)).await, Outcome::Good);
        fake.stop_serving().await;
        let mut o = next(&mut rx, Duration::from_secs(1)).await;
        while o == Outcome::Good {
            o = next(&mut rx, Duration::from_secs(1)).await;
        }
        assert!(
            matches!(&o, Outcome::Bad(why) if why.starts_with("systemd is not on the system D-Bus")),
            "{o:?}"
        );
        runner.abort();
    }
}
