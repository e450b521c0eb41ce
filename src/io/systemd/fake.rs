//! A fake systemd for tests: a private `dbus-daemon` and, on it, a
//! connection that owns `org.freedesktop.systemd1` and answers what vipd
//! asks (Manager.LoadUnit, Subscribe, StartUnit, StopUnit; Properties.Get
//! of a unit's ActiveState and LoadState), emitting PropertiesChanged as
//! systemd does. Tests that need it skip (with a note) where dbus-daemon is
//! not installed.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use zbus::{Connection, MessageStream, ObjectPath, Variant};

use super::{DEST, UNIT_IFACE};

const UNIT_PREFIX: &str = "/org/freedesktop/systemd1/unit/";

/// Units by name: their ActiveState. A unit not in the map is not found.
type Units = Arc<Mutex<HashMap<String, String>>>;

/// How a state change is announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Announce {
    /// PropertiesChanged carrying the new ActiveState.
    Value,
    /// PropertiesChanged naming ActiveState as invalidated, without value.
    Invalidated,
    /// No signal (a lost one): only a re-read sees the change.
    Silent,
}

pub(crate) struct FakeSystemd {
    /// The private bus's address, for the code under test.
    pub address: String,
    dir: PathBuf,
    daemon: Child,
    conn: Option<Connection>,
    units: Units,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// systemd's object path label escaping: `[A-Za-z0-9]` as is, anything else
/// `_xx` in hex (`web.service` → `web_2eservice`).
fn unit_path(unit: &str) -> String {
    let mut p = String::from(UNIT_PREFIX);
    for b in unit.bytes() {
        if b.is_ascii_alphanumeric() {
            p.push(b as char);
        } else {
            p.push_str(&format!("_{b:02x}"));
        }
    }
    p
}

fn unit_of_path(units: &Units, path: &str) -> Option<String> {
    let units = units.lock().ok()?;
    units.keys().find(|u| unit_path(u) == path).cloned()
}

impl FakeSystemd {
    /// A fresh bus with the fake on it; None where dbus-daemon is missing.
    pub async fn start() -> Option<FakeSystemd> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("vipd-fake-systemd-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).ok()?;
        let address = format!("unix:path={}", dir.join("bus").display());
        FakeSystemd::start_at(dir, address).await
    }

    async fn start_at(dir: PathBuf, address: String) -> Option<FakeSystemd> {
        let _ = std::fs::remove_file(dir.join("bus"));
        let daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address"])
            .arg(format!("--address={address}"))
            .stdout(Stdio::piped())
            // Quiet: it complains it cannot raise its fd limit in a container.
            .stderr(Stdio::null())
            .spawn();
        let mut daemon = match daemon {
            Ok(d) => d,
            // Never a silent pass: .ci/install-deps installs dbus.
            Err(e) => panic!("cannot run dbus-daemon ({e}): install dbus (.ci/install-deps does)"),
        };
        // The daemon prints its address once it listens.
        let mut line = String::new();
        let ready = daemon
            .stdout
            .take()
            .map(|o| std::io::BufReader::new(o).read_line(&mut line));
        if !matches!(ready, Some(Ok(n)) if n > 0) {
            let _ = daemon.kill();
            let _ = daemon.wait();
            panic!("dbus-daemon did not start");
        }
        let mut fake = FakeSystemd {
            address,
            dir,
            daemon,
            conn: None,
            units: Units::default(),
            server: None,
        };
        let conn = zbus::connection::Builder::address(fake.address.as_str())
            .build()
            .await
            .expect("connect to the private bus");
        conn.request_name(DEST).await.expect("own the systemd name");
        let stream = MessageStream::from(&conn);
        fake.server = Some(tokio::spawn(serve(
            conn.clone(),
            stream,
            fake.units.clone(),
        )));
        fake.conn = Some(conn);
        Some(fake)
    }

    /// Kills the bus and starts a new one at the same address, with the
    /// same units: systemd and its bus restarted.
    pub async fn restart(mut self) -> Option<FakeSystemd> {
        let units = self.units.lock().map(|u| u.clone()).unwrap_or_default();
        self.shutdown();
        // The new bus lives in the same folder: this one's Drop must not
        // remove it.
        let dir = std::mem::take(&mut self.dir);
        let address = self.address.clone();
        let fake = FakeSystemd::start_at(dir, address).await?;
        for (u, s) in units {
            fake.set(&u, &s);
        }
        Some(fake)
    }

    /// Sets a unit's ActiveState without announcing it.
    pub fn set(&self, unit: &str, state: &str) {
        if let Ok(mut u) = self.units.lock() {
            u.insert(unit.to_string(), state.to_string());
        }
    }

    pub fn state(&self, unit: &str) -> Option<String> {
        self.units.lock().ok()?.get(unit).cloned()
    }

    /// Sets a unit's ActiveState and announces it as `how` says.
    pub async fn change(&self, unit: &str, state: &str, how: Announce) {
        self.set(unit, state);
        if let Some(conn) = &self.conn {
            announce(conn, unit, state, how).await;
        }
    }

    /// Gives up the systemd name (systemd gone, the bus still up).
    pub async fn stop_serving(&self) {
        if let Some(s) = &self.server {
            s.abort();
        }
        if let Some(conn) = &self.conn {
            let _ = conn.release_name(DEST).await;
        }
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
        self.conn = None;
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl Drop for FakeSystemd {
    fn drop(&mut self) {
        self.shutdown();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

async fn announce(conn: &Connection, unit: &str, state: &str, how: Announce) {
    let mut changed: HashMap<&str, Variant<'_>> = HashMap::new();
    let mut invalidated: Vec<&str> = Vec::new();
    match how {
        Announce::Value => {
            changed.insert("ActiveState", Variant::from(state));
            changed.insert("SubState", Variant::from("running"));
        }
        Announce::Invalidated => invalidated.push("ActiveState"),
        Announce::Silent => return,
    }
    let _ = conn
        .emit_signal(
            None::<&str>,
            unit_path(unit).as_str(),
            "org.freedesktop.DBus.Properties",
            "PropertiesChanged",
            &(UNIT_IFACE, changed, invalidated),
        )
        .await;
}

/// Answers the calls vipd makes, as systemd would.
async fn serve(conn: Connection, mut stream: MessageStream, units: Units) {
    while let Some(Ok(msg)) = stream.next().await {
        if msg.message_type() != zbus::message::Type::MethodCall {
            continue;
        }
        let hdr = msg.header();
        let member = hdr.member().map(|m| m.to_string()).unwrap_or_default();
        let path = hdr.path().map(|p| p.to_string()).unwrap_or_default();
        let body = msg.body();
        match member.as_str() {
            "LoadUnit" => {
                let unit: String = body.deserialize().unwrap_or_default();
                let p = unit_path(&unit);
                let _ = conn
                    .reply(&hdr, &ObjectPath::try_from(p.as_str()).unwrap())
                    .await;
            }
            "Subscribe" => {
                let _ = conn.reply(&hdr, &()).await;
            }
            "StartUnit" | "StopUnit" => {
                let (unit, _mode): (String, String) = body.deserialize().unwrap_or_default();
                let known = units.lock().map(|u| u.contains_key(&unit)).unwrap_or(false);
                if !known {
                    let _ = conn
                        .reply_error(
                            &hdr,
                            "org.freedesktop.systemd1.NoSuchUnit",
                            &format!("Unit {unit} not found."),
                        )
                        .await;
                    continue;
                }
                let state = if member == "StartUnit" {
                    "active"
                } else {
                    "inactive"
                };
                if let Ok(mut u) = units.lock() {
                    u.insert(unit.clone(), state.to_string());
                }
                announce(&conn, &unit, state, Announce::Value).await;
                let job = ObjectPath::try_from("/org/freedesktop/systemd1/job/1").unwrap();
                let _ = conn.reply(&hdr, &job).await;
            }
            "Get" => {
                let (_iface, prop): (String, String) = body.deserialize().unwrap_or_default();
                let unit = unit_of_path(&units, &path);
                let active = unit
                    .as_ref()
                    .and_then(|u| units.lock().ok()?.get(u).cloned())
                    .unwrap_or_else(|| "inactive".to_string());
                let load = if unit.is_some() {
                    "loaded"
                } else {
                    "not-found"
                };
                let value = match prop.as_str() {
                    "ActiveState" => active,
                    "LoadState" => load.to_string(),
                    _ => String::new(),
                };
                let _ = conn.reply(&hdr, &Variant::from(value)).await;
            }
            _ => {
                let _ = conn
                    .reply_error(
                        &hdr,
                        "org.freedesktop.DBus.Error.UnknownMethod",
                        &format!("no method {member}"),
                    )
                    .await;
            }
        }
    }
}
