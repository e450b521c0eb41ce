//! The control socket: one JSON request per line, one JSON response per line
//! (`watch` excepted: its answer is a stream of lines, see `crate::watch`).
//!
//! A Unix stream socket, created 0600 and owned by root, so only root (or
//! the daemon's own user) can ask for a reload. JSON keeps `vipctl status
//! --json` and scripts on the same schema as the daemon's own view.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::io::networkd_dbus::LinkView;
use crate::vrrp::{Reason, State};

/// Where the daemon listens when `--control-socket` is not given.
pub const DEFAULT_SOCKET_PATH: &str = "/run/vipd/vipd.sock";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    Reload,
    /// Re-check every master's VIPs (on one interface, or all) and restore
    /// what is missing: for networkd-dispatcher and ifupdown hooks.
    Resync {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interface: Option<String>,
    },
    /// A planned bounce of `interface` is coming (ifupdown's pre-down hook):
    /// for `for_ms`, a link-down on it does not fault its instances; they
    /// resume as soon as the link is back (see `vrrp::Event::Hold`).
    /// `for_ms: 0` cancels a hold.
    Hold {
        interface: String,
        for_ms: u64,
    },
    /// Follow the daemon's events (`vipctl watch`): the connection stays
    /// open; a snapshot line, then one line per event (`crate::watch`).
    Watch,
}

/// The longest hold `vipctl hold` may ask for: a bounce longer than this is
/// an outage, and the instance should say FAULT.
pub const MAX_HOLD_MS: u64 = 60_000;

/// The hold `vipctl hold` asks for when not told: enough for `ifdown; ifup`
/// of a static interface (well under a second here) with margin for DHCP.
pub const DEFAULT_HOLD_MS: u64 = 5_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Status(Status),
    Reloaded {
        added: Vec<String>,
        removed: Vec<String>,
        /// Changed in place: the router kept its state (see the reload rule in
        /// docs/operations.md).
        #[serde(default)]
        updated: Vec<UpdatedInstance>,
        /// Stopped and started again (VRID, interface, address families,
        /// version or VIP device changed).
        restarted: Vec<String>,
        unchanged: Vec<String>,
    },
    /// Instances looked at, and those whose VIPs (or VIP device) were put back.
    Resynced {
        instances: Vec<String>,
        restored: Vec<String>,
    },
    /// Instances on the interface that now hold through a link-down.
    Held {
        instances: Vec<String>,
        for_ms: u64,
    },
    Error {
        message: String,
    },
}

/// An instance a reload changed in place, and the settings that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatedInstance {
    pub name: String,
    pub changed: Vec<String>,
}

/// The version of `vipctl status --json`'s schema (docs/status.schema.json):
/// raised when a key is renamed or removed or changes meaning; adding a key
/// does not raise it (consumers ignore keys they do not know).
pub const STATUS_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// [`STATUS_SCHEMA_VERSION`] of the daemon that answered; 0 from
    /// daemons older than the schema.
    #[serde(default)]
    pub schema_version: u32,
    pub router_id: Option<String>,
    pub config_path: String,
    pub pid: u32,
    pub instances: Vec<InstanceStatus>,
    /// Packets dropped before they could be tied to an instance (bad IP
    /// header, unknown VRID, ...), by reason.
    pub unmatched_drops: BTreeMap<String, u64>,
    /// "connected", or why systemd-networkd is not followed.
    pub networkd: String,
    /// Where systemd-networkd stands on the bus (absent from older
    /// daemons' answers).
    #[serde(default)]
    pub networkd_bus: NetworkdBusStatus,
    #[serde(default)]
    pub trackers: Vec<TrackerStatus>,
    #[serde(default)]
    pub groups: Vec<GroupStatus>,
}

/// systemd-networkd as vipd follows it: the owner of the bus name
/// `org.freedesktop.network1` (docs/networkd-bus.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkdBusState {
    /// Not looked yet (the first seconds after start).
    #[default]
    Starting,
    /// networkd owns its name and answered a snapshot.
    Running,
    /// The bus is there and nobody owns networkd's name (stopped, crashed).
    Absent,
    /// networkd owns its name and does not answer; retried.
    Unresponsive,
    /// The system bus cannot be reached; retried.
    BusAbsent,
}

impl NetworkdBusState {
    pub fn name(self) -> &'static str {
        match self {
            NetworkdBusState::Starting => "starting",
            NetworkdBusState::Running => "running",
            NetworkdBusState::Absent => "absent",
            NetworkdBusState::Unresponsive => "unresponsive",
            NetworkdBusState::BusAbsent => "bus_absent",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkdBusStatus {
    pub state: NetworkdBusState,
    /// When `state` last changed (Unix time, seconds).
    pub since_unix_time: f64,
    /// systemd's version of the running networkd, when known.
    pub version: Option<u32>,
    /// Manager methods networkd offers (Reload, ReconfigureLink, Describe).
    pub features: Vec<String>,
    /// networkd's unique bus name and pid while running.
    pub owner: Option<String>,
    pub pid: Option<u32>,
    /// Times a networkd appeared (start, restart) and the masters were
    /// resynced.
    pub resyncs: u64,
    /// Why networkd is not followed; empty while running.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    pub state: State,
    /// Configured priority.
    pub priority: u8,
    /// Priority in use (trackers may move it).
    pub effective_priority: u8,
    /// The master as last heard; our own address when we are master.
    pub master_address: Option<IpAddr>,
    pub master_priority: Option<u8>,
    /// Advert interval in use, milliseconds (a v3 backup adopts the master's).
    pub advert_interval_ms: u64,
    pub vips: Vec<String>,
    pub excluded_vips: Vec<String>,
    /// VIPs currently present on their device, as the daemon last saw.
    pub vips_present: usize,
    pub last_transition: Option<Transition>,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub became_master: u64,
    pub vips_restored: u64,
    /// Split-brain episodes: as master, another master we outrank was heard
    /// (`lower_priority_master`). Absent from older daemons' answers.
    #[serde(default)]
    pub dual_master: u64,
    pub drops: BTreeMap<String, u64>,
    /// Set when the instance cannot run (missing interface, socket error).
    pub problem: Option<String>,
    /// systemd-networkd's view of the interface, when networkd manages it.
    pub networkd: Option<LinkView>,
    /// The group the instance moves with.
    #[serde(default)]
    pub group: Option<String>,
    /// How the effective priority comes about: `150 - 60 (haproxy down) = 90`.
    #[serde(default)]
    pub priority_arithmetic: String,
    /// Health holds the instance in FAULT (a tracker without weight is down,
    /// or a member of its group faulted).
    #[serde(default)]
    pub health_fault: bool,
    /// Each tracker the instance counts (its group's included), and what it
    /// does now.
    #[serde(default)]
    pub trackers: Vec<crate::health::Term>,
    /// Notify hooks and unit steps of this instance that succeeded.
    #[serde(default)]
    pub notify_ok: u64,
    /// ... that failed (exit status not 0, timed out, could not start, a
    /// unit systemd refused), or were dropped from a full queue.
    #[serde(default)]
    pub notify_failed: u64,
}

/// A group: its state as its hooks see it, and its hooks' counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStatus {
    pub name: String,
    /// MASTER, BACKUP, FAULT or STOP; null before the group had a state
    /// (see `crate::notify::group_state`).
    pub state: Option<crate::notify::HookState>,
    pub members: Vec<String>,
    pub notify_ok: u64,
    pub notify_failed: u64,
}

/// One tracker, as its runner last reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackerStatus {
    pub name: String,
    /// exec, unit, process, file, interface or tcp.
    pub kind: String,
    pub status: crate::health::Status,
    /// Why the last result was bad, or the file's number; None when good.
    pub last_result: Option<String>,
    /// When the status last changed (seconds since the Unix epoch).
    pub since_unix_time: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub reason: Reason,
    /// Seconds since the Unix epoch.
    pub unix_time: f64,
}

/// Errors of the client side, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot connect to {path}: {source} (is vipd running? pass --socket if it uses another path)"
    )]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("control socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("control socket {path}: unreadable answer: {source}")]
    Decode {
        path: String,
        source: serde_json::Error,
    },
}

/// Sends one request and waits for its response.
pub fn request(path: &Path, req: &Request, timeout: Duration) -> Result<Response, ClientError> {
    let p = path.display().to_string();
    let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
        path: p.clone(),
        source,
    })?;
    let io = |source| ClientError::Io {
        path: p.clone(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    let mut line = serde_json::to_string(req).unwrap_or_default();
    line.push('\n');
    send_all(&stream, line.as_bytes()).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).map_err(io)?;
    serde_json::from_str(&answer).map_err(|source| ClientError::Decode { path: p, source })
}

/// Opens a watch stream (`vipctl watch`): the lines to read, without a
/// timeout (the stream is quiet while nothing happens). The first line is
/// the snapshot, or an error answer (`{"result":"error",...}`) from a vipd
/// that refused the request.
pub fn open_watch(path: &Path) -> Result<BufReader<UnixStream>, ClientError> {
    let p = path.display().to_string();
    let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
        path: p.clone(),
        source,
    })?;
    let mut line = serde_json::to_string(&Request::Watch).unwrap_or_default();
    line.push('\n');
    send_all(&stream, line.as_bytes()).map_err(|source| ClientError::Io { path: p, source })?;
    Ok(BufReader::new(stream))
}

/// Writes all of `bytes` with MSG_NOSIGNAL: a daemon that closed the
/// control connection (a request refused as too long) is an error to
/// report, whatever the caller does with SIGPIPE.
fn send_all(stream: &UnixStream, mut bytes: &[u8]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    while !bytes.is_empty() {
        match nix::sys::socket::send(
            stream.as_raw_fd(),
            bytes,
            nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
        ) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A status with every part filled in (an instance, a tracker, a group):
/// for the tests that hold the JSON keys, the schema and the metrics.
#[cfg(test)]
pub(crate) fn sample_status() -> Status {
    Status {
        schema_version: STATUS_SCHEMA_VERSION,
        router_id: Some("r1".into()),
        config_path: "/etc/vipd/vipd.yaml".into(),
        pid: 1,
        instances: vec![InstanceStatus {
            name: "web".into(),
            interface: "eth0".into(),
            vrid: 51,
            version: 3,
            state: State::Master,
            priority: 100,
            effective_priority: 40,
            master_address: Some("192.0.2.1".parse().unwrap()),
            master_priority: Some(100),
            advert_interval_ms: 1000,
            vips: vec!["192.0.2.10/24".into()],
            excluded_vips: vec![],
            vips_present: 1,
            last_transition: Some(Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::MasterDown,
                unix_time: 1.5,
            }),
            adverts_sent: 7,
            adverts_received: 2,
            became_master: 1,
            vips_restored: 0,
            dual_master: 0,
            drops: BTreeMap::from([("bad_ttl".to_string(), 1)]),
            problem: None,
            networkd: Some(LinkView::default()),
            group: Some("lb".into()),
            priority_arithmetic: "100 - 60 (haproxy down) = 40".into(),
            health_fault: false,
            trackers: vec![crate::health::Term {
                tracker: "haproxy".into(),
                status: crate::health::Status::Down,
                adds: -60,
                faults: false,
            }],
            notify_ok: 3,
            notify_failed: 1,
        }],
        unmatched_drops: BTreeMap::from([("unknown_vrid".to_string(), 2)]),
        networkd: "connected".into(),
        networkd_bus: NetworkdBusStatus::default(),
        trackers: vec![TrackerStatus {
            name: "haproxy".into(),
            kind: "process".into(),
            status: crate::health::Status::Down,
            last_result: Some("0 haproxy running, 1 wanted".into()),
            since_unix_time: 1.5,
        }],
        groups: vec![GroupStatus {
            name: "lb".into(),
            state: Some(crate::notify::HookState::Master),
            members: vec!["web".into()],
            notify_ok: 1,
            notify_failed: 0,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_stable() {
        assert_eq!(
            serde_json::to_string(&Request::Status).unwrap(),
            r#"{"cmd":"status"}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"cmd":"reload"}"#).unwrap(),
            Request::Reload
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"explode"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Request::Watch).unwrap(),
            r#"{"cmd":"watch"}"#
        );
        assert_eq!(
            serde_json::to_string(&Request::Hold {
                interface: "eth0".into(),
                for_ms: 5000
            })
            .unwrap(),
            r#"{"cmd":"hold","interface":"eth0","for_ms":5000}"#
        );
        assert_eq!(
            serde_json::to_string(&State::Initialize).unwrap(),
            r#""INIT""#
        );
        assert_eq!(
            serde_json::to_string(&State::Master).unwrap(),
            r#""MASTER""#
        );
        let r = Response::Error {
            message: "x".into(),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"result":"error","message":"x"}"#
        );
    }

    /// Every key path of a JSON value, objects' keys joined with '.',
    /// arrays as '[]' (map keys of counters excluded: they are data).
    fn key_paths(v: &serde_json::Value, at: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let path = format!("{at}.{k}");
                    out.push(path.clone());
                    if !k.ends_with("drops") {
                        key_paths(v, &path, out);
                    }
                }
            }
            serde_json::Value::Array(a) => {
                for v in a {
                    key_paths(v, &format!("{at}[]"), out);
                }
            }
            _ => {}
        }
    }

    // `vipctl status --json` is an interface (scripts, monitoring): its
    // keys change only on purpose, with this list (service health added
    // group, priority_arithmetic, health_fault and the trackers; notify
    // hooks added notify_ok, notify_failed and the groups).
    #[test]
    fn status_json_keys_are_stable() {
        let status = sample_status();
        let mut keys = Vec::new();
        key_paths(&serde_json::to_value(&status).unwrap(), "", &mut keys);
        keys.sort();
        let want = [
            ".config_path",
            ".groups",
            ".groups[].members",
            ".groups[].name",
            ".groups[].notify_failed",
            ".groups[].notify_ok",
            ".groups[].state",
            ".instances",
            ".instances[].advert_interval_ms",
            ".instances[].adverts_received",
            ".instances[].adverts_sent",
            ".instances[].became_master",
            ".instances[].drops",
            ".instances[].dual_master",
            ".instances[].effective_priority",
            ".instances[].excluded_vips",
            ".instances[].group",
            ".instances[].health_fault",
            ".instances[].interface",
            ".instances[].last_transition",
            ".instances[].last_transition.from",
            ".instances[].last_transition.reason",
            ".instances[].last_transition.to",
            ".instances[].last_transition.unix_time",
            ".instances[].master_address",
            ".instances[].master_priority",
            ".instances[].name",
            ".instances[].networkd",
            ".instances[].networkd.address_state",
            ".instances[].networkd.administrative_state",
            ".instances[].networkd.operational_state",
            ".instances[].notify_failed",
            ".instances[].notify_ok",
            ".instances[].priority",
            ".instances[].priority_arithmetic",
            ".instances[].problem",
            ".instances[].state",
            ".instances[].trackers",
            ".instances[].trackers[].adds",
            ".instances[].trackers[].faults",
            ".instances[].trackers[].status",
            ".instances[].trackers[].tracker",
            ".instances[].version",
            ".instances[].vips",
            ".instances[].vips_present",
            ".instances[].vips_restored",
            ".instances[].vrid",
            ".networkd",
            ".networkd_bus",
            ".networkd_bus.detail",
            ".networkd_bus.features",
            ".networkd_bus.owner",
            ".networkd_bus.pid",
            ".networkd_bus.resyncs",
            ".networkd_bus.since_unix_time",
            ".networkd_bus.state",
            ".networkd_bus.version",
            ".pid",
            ".router_id",
            ".schema_version",
            ".trackers",
            ".trackers[].kind",
            ".trackers[].last_result",
            ".trackers[].name",
            ".trackers[].since_unix_time",
            ".trackers[].status",
            ".unmatched_drops",
        ];
        assert_eq!(keys, want);
    }

    /// The errors of `value` against docs/status.schema.json.
    fn schema_errors(value: &serde_json::Value) -> Vec<String> {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../docs/status.schema.json")).unwrap();
        let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
        validator
            .iter_errors(value)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }

    // docs/status.schema.json describes what the daemon's serializer
    // writes: every key, each required, none other. A key renamed here
    // (or there) fails this test, as do a value of the wrong type and a
    // schema_version not raised with the schema's.
    #[test]
    fn status_json_matches_its_schema() {
        let mut status = sample_status();
        let value = serde_json::to_value(&status).unwrap();
        assert_eq!(schema_errors(&value), Vec::<String>::new());
        // The nulls and empty lists a fresh daemon writes.
        status.router_id = None;
        let i = &mut status.instances[0];
        (i.master_address, i.master_priority, i.last_transition) = (None, None, None);
        (i.networkd, i.group, i.problem) = (None, None, Some("no eth0".into()));
        status.groups[0].state = None;
        let value = serde_json::to_value(&status).unwrap();
        assert_eq!(schema_errors(&value), Vec::<String>::new());

        // The schema can fail: a renamed key, a wrong type, another version.
        let mut renamed = serde_json::to_value(sample_status()).unwrap();
        let inst = renamed["instances"][0].as_object_mut().unwrap();
        let v = inst.remove("adverts_sent").unwrap();
        inst.insert("adverts_tx".into(), v);
        let errors = schema_errors(&renamed);
        assert!(
            errors.iter().any(|e| e.contains("adverts_sent"))
                && errors.iter().any(|e| e.contains("adverts_tx")),
            "{errors:?}"
        );
        let mut wrong = serde_json::to_value(sample_status()).unwrap();
        wrong["instances"][0]["state"] = "LEADER".into();
        assert_eq!(schema_errors(&wrong).len(), 1);
        let mut newer = serde_json::to_value(sample_status()).unwrap();
        newer["schema_version"] = (STATUS_SCHEMA_VERSION + 1).into();
        assert_eq!(schema_errors(&newer).len(), 1);
    }
}
