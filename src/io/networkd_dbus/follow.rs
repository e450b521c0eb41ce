//! Following systemd-networkd as a bus *name*, not as a connection.
//!
//! networkd comes and goes while the bus stays: `systemctl restart
//! systemd-networkd`, a crash, an upgrade. A connection to the bus does not
//! notice (the old code kept saying `connected` with the view of a dead
//! networkd, and a restarted one that configured its links before taking
//! its name sent no change vipd could see). So vipd follows the owner of
//! `org.freedesktop.network1` through the bus's `NameOwnerChanged` signal:
//!
//! - no owner: [`NetworkdUpdate::Absent`] (`vipctl status` says `absent`);
//! - a new owner: a fresh snapshot, [`NetworkdUpdate::Connected`], and the
//!   daemon resyncs its masters (the new networkd may have flushed their
//!   VIPs before it took its name, see docs/networkd-bus.md);
//! - the bus itself gone: [`NetworkdUpdate::BusAbsent`], reconnect every
//!   `retry`.
//!
//! Ordering rule (why no stale signal is replayed): both match rules (owner
//! changes and link PropertiesChanged) are added *before* the owner is
//! asked for and before the snapshot, so nothing that happens after the
//! snapshot can be missed. Signals that were queued meanwhile may however
//! be *older* than the snapshot, and replaying them would move the view
//! backwards (`configured` then a stale `configuring -> initialized`). The
//! bus delivers one sender's messages in the order it sent them, and sd-bus
//! numbers every message it sends from one counter (the header's serial), so
//! networkd's signals and its replies to the snapshot share one order: a
//! signal about link X with a serial below the serial of the reply that
//! gave X's properties was sent before that reply, is already in the
//! snapshot, and is dropped. Signals from any other unique name than the
//! current owner (an earlier incarnation) are dropped too. Arrival order at
//! vipd cannot be used instead: zbus queues replies and each match rule's
//! signals separately.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use zbus::message::Message;
use zbus::{Connection, MatchRule, MessageStream, OwnedObjectPath, OwnedVariant};

use super::{
    DEST, DbusError, LINK_IFACE, LINK_PATH_PREFIX, LinkChange, LinkView, MANAGER_IFACE,
    MANAGER_PATH, call_error, ifindex_of_path, with_timeout,
};

/// Methods of `org.freedesktop.network1.Manager` vipd may use, as named in
/// networkd's introspection data (Reload and ReconfigureLink since 244,
/// Describe since 249).
pub const FEATURES: [&str; 3] = ["Reload", "ReconfigureLink", "Describe"];

/// Who answers for `org.freedesktop.network1`, and what it can do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkdInfo {
    /// The owner's unique bus name (changes with every networkd process).
    pub owner: String,
    pub pid: Option<u32>,
    /// systemd's version, from the `libsystemd-shared-NNN.so` the owner
    /// maps (None where networkd is linked otherwise or /proc is hidden).
    pub version: Option<u32>,
    /// Those of [`FEATURES`] networkd's introspection lists.
    pub features: Vec<String>,
}

/// What the daemon learns from networkd, sent by [`follow`].
#[derive(Debug, Clone)]
pub enum NetworkdUpdate {
    /// A new owner of networkd's name answered: who it is and its view of
    /// every link.
    Connected {
        info: NetworkdInfo,
        links: BTreeMap<u32, LinkView>,
    },
    /// The bus is there, nobody owns networkd's name (stopped, crashed).
    Absent(String),
    /// networkd owns its name but does not answer the snapshot; retried.
    Unresponsive(String),
    /// The system bus cannot be reached; retried every `retry`.
    BusAbsent(String),
    Changed(LinkChange),
}

/// The serials that mark what a snapshot already holds: signals at or
/// below them are older than the snapshot (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotMarks {
    /// networkd's unique name when the snapshot was taken.
    pub owner: String,
    /// Serial of the ListLinks reply: the floor for links it did not list.
    pub list_serial: u32,
    /// Serial of each link's GetAll reply.
    pub link_serial: BTreeMap<u32, u32>,
}

impl SnapshotMarks {
    /// True when a signal about `ifindex` (from `sender`, with `serial`) is
    /// news to the snapshot; false when the snapshot already holds it or it
    /// comes from another networkd than the snapshot's.
    pub fn is_news(&self, sender: &str, serial: u32, ifindex: u32) -> bool {
        if sender != self.owner {
            return false;
        }
        let floor = self
            .link_serial
            .get(&ifindex)
            .copied()
            .unwrap_or(self.list_serial);
        serial > floor
    }
}

/// The method names of `iface` in D-Bus introspection XML. A plain scan:
/// the format is fixed by the specification and only names are needed.
pub fn interface_methods(xml: &str, iface: &str) -> Vec<String> {
    let open = format!("<interface name=\"{iface}\"");
    let Some(start) = xml.find(&open) else {
        return Vec::new();
    };
    let body = &xml[start..];
    let body = &body[..body.find("</interface>").unwrap_or(body.len())];
    body.split("<method name=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// systemd's version from a process's memory map: networkd links
/// `libsystemd-shared-NNN.so` (Debian: `.../systemd/libsystemd-shared-252.so`;
/// distributions that add a suffix keep the leading number).
pub fn version_from_maps(maps: &str) -> Option<u32> {
    maps.lines().find_map(|l| {
        let rest = &l[l.find("libsystemd-shared-")? + "libsystemd-shared-".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

fn bus_err(e: impl std::fmt::Display) -> DbusError {
    DbusError::Bus(e.to_string())
}

fn serial_of(m: &Message) -> u32 {
    m.primary_header().serial_num().get()
}

/// A snapshot of networkd's links from the owner `owner` (called by unique
/// name so that every reply comes from one process), with the serials that
/// date it.
async fn snapshot(
    conn: &Connection,
    owner: &str,
) -> Result<(BTreeMap<u32, LinkView>, SnapshotMarks), DbusError> {
    let call = |path: String, iface: &'static str, method: &'static str, body| {
        let conn = conn.clone();
        let owner = owner.to_string();
        async move {
            with_timeout(method, async {
                let p = zbus::proxy::Builder::<zbus::Proxy<'_>>::new(&conn)
                    .destination(owner)
                    .path(path)
                    .interface(iface)
                    .cache_properties(zbus::proxy::CacheProperties::No)
                    .build()
                    .await
                    .map_err(bus_err)?;
                match body {
                    Some(arg) => p.call_method(method, &(arg,)).await,
                    None => p.call_method(method, &()).await,
                }
                .map_err(|e| call_error(method, e))
            })
            .await
        }
    };
    let reply = call(MANAGER_PATH.into(), MANAGER_IFACE, "ListLinks", None).await?;
    let list: Vec<(i32, String, OwnedObjectPath)> = reply
        .body()
        .deserialize()
        .map_err(|e| call_error("ListLinks", e))?;
    let mut marks = SnapshotMarks {
        owner: owner.to_string(),
        list_serial: serial_of(&reply),
        link_serial: BTreeMap::new(),
    };
    let mut links = BTreeMap::new();
    for (ifindex, _, path) in list {
        let Ok(ifindex) = u32::try_from(ifindex) else {
            continue;
        };
        let reply = match call(
            path.as_str().to_string(),
            "org.freedesktop.DBus.Properties",
            "GetAll",
            Some(LINK_IFACE),
        )
        .await
        {
            Ok(r) => r,
            // The link went away between ListLinks and GetAll.
            Err(DbusError::Call { .. }) => continue,
            Err(e) => return Err(e),
        };
        let props: HashMap<String, OwnedVariant> = reply
            .body()
            .deserialize()
            .map_err(|e| call_error("GetAll", e))?;
        let strings: BTreeMap<String, String> = props
            .into_iter()
            .filter_map(|(k, v)| String::try_from(v).ok().map(|s| (k, s)))
            .collect();
        let mut view = LinkView::default();
        view.apply(&strings);
        marks.link_serial.insert(ifindex, serial_of(&reply));
        links.insert(ifindex, view);
    }
    Ok((links, marks))
}

/// Who `owner` is: its pid, systemd version and features. Best effort:
/// what cannot be learnt stays empty (it is only reported and logged).
async fn identify(conn: &Connection, owner: &str) -> NetworkdInfo {
    let mut info = NetworkdInfo {
        owner: owner.to_string(),
        ..NetworkdInfo::default()
    };
    if let Ok(dbus) = zbus::fdo::DBusProxy::new(conn).await
        && let Ok(name) = zbus::names::BusName::try_from(owner)
        && let Ok(Ok(pid)) = tokio::time::timeout(
            super::CALL_TIMEOUT,
            dbus.get_connection_unix_process_id(name),
        )
        .await
    {
        info.pid = Some(pid);
        info.version = std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .ok()
            .as_deref()
            .and_then(version_from_maps);
    }
    let xml = async {
        let p = zbus::proxy::Builder::<zbus::Proxy<'_>>::new(conn)
            .destination(owner.to_string())
            .path(MANAGER_PATH)
            .interface("org.freedesktop.DBus.Introspectable")
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .ok()?;
        p.introspect().await.ok()
    };
    if let Ok(Some(xml)) = tokio::time::timeout(super::CALL_TIMEOUT, xml).await {
        let methods = interface_methods(&xml, MANAGER_IFACE);
        info.features = FEATURES
            .iter()
            .filter(|f| methods.iter().any(|m| m == *f))
            .map(|f| f.to_string())
            .collect();
    }
    info
}

/// A link PropertiesChanged signal decoded: (sender, serial, change).
fn decode_change(msg: &Message) -> Option<(String, u32, LinkChange)> {
    let header = msg.header();
    let sender = header.sender()?.to_string();
    let ifindex = ifindex_of_path(header.path()?.as_str())?;
    let (iface, props, _invalidated): (String, HashMap<String, OwnedVariant>, Vec<String>) =
        msg.body().deserialize().ok()?;
    if iface != LINK_IFACE {
        return None;
    }
    let changed: BTreeMap<String, String> = props
        .into_iter()
        .filter_map(|(k, v)| String::try_from(v).ok().map(|s| (k, s)))
        .collect();
    (!changed.is_empty()).then_some((sender, serial_of(msg), LinkChange { ifindex, changed }))
}

/// Why [`follow_bus`] returned.
enum Stop {
    /// The daemon is gone: stop following.
    Receiver,
    /// The bus connection failed or ended.
    Bus(String),
}

/// Follows networkd for the daemon's lifetime (see the module docs). Runs
/// in its own task so a slow or absent D-Bus never delays VRRP timers.
pub async fn follow(tx: tokio::sync::mpsc::UnboundedSender<NetworkdUpdate>, retry: Duration) {
    let mut last_bus_error = String::new();
    loop {
        match follow_bus(&tx, retry).await {
            Stop::Receiver => return,
            Stop::Bus(why) => {
                if why != last_bus_error {
                    if tx.send(NetworkdUpdate::BusAbsent(why.clone())).is_err() {
                        return;
                    }
                    last_bus_error = why;
                }
            }
        }
        tokio::time::sleep(retry).await;
    }
}

/// One connection to the system bus, for as long as it lasts.
async fn follow_bus(
    tx: &tokio::sync::mpsc::UnboundedSender<NetworkdUpdate>,
    retry: Duration,
) -> Stop {
    let send = |u| tx.send(u).map_err(|_| Stop::Receiver);
    let setup = async {
        let conn = with_timeout("connect", async {
            Connection::system().await.map_err(bus_err)
        })
        .await?;
        // Subscribe first (see the ordering rule in the module docs).
        let owners_rule = MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .sender("org.freedesktop.DBus")
            .interface("org.freedesktop.DBus")
            .member("NameOwnerChanged")
            .arg(0, DEST)
            .build()
            .map_err(bus_err)?;
        let props_rule = MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface("org.freedesktop.DBus.Properties")
            .member("PropertiesChanged")
            .path_namespace(LINK_PATH_PREFIX.trim_end_matches('/'))
            .build()
            .map_err(bus_err)?;
        let owners =
            MessageStream::for_match_rule(owners_rule, &conn, std::num::NonZeroUsize::new(256))
                .await
                .map_err(bus_err)?;
        let props =
            MessageStream::for_match_rule(props_rule, &conn, std::num::NonZeroUsize::new(4096))
                .await
                .map_err(bus_err)?;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await.map_err(bus_err)?;
        let name = zbus::names::BusName::try_from(DEST).map_err(bus_err)?;
        let owner = match with_timeout("GetNameOwner", async {
            Ok(dbus.get_name_owner(name).await)
        })
        .await?
        {
            Ok(o) => Some(o.to_string()),
            Err(zbus::fdo::Error::NameHasNoOwner(_)) => None,
            Err(e) => return Err(bus_err(e)),
        };
        Ok::<_, DbusError>((conn, owners, props, owner))
    };
    let (conn, mut owners, mut props, mut owner) = match setup.await {
        Ok(x) => x,
        Err(e) => return Stop::Bus(e.to_string()),
    };
    let mut marks: Option<SnapshotMarks> = None;
    let mut need_snapshot = true;
    let mut last_unresponsive = String::new();
    loop {
        if need_snapshot {
            need_snapshot = false;
            marks = None;
            match &owner {
                None => {
                    if let Err(s) = send(NetworkdUpdate::Absent(
                        "no process owns org.freedesktop.network1 on the system bus \
                         (systemd-networkd stopped?)"
                            .into(),
                    )) {
                        return s;
                    }
                }
                Some(o) => match snapshot(&conn, o).await {
                    Ok((links, m)) => {
                        let info = identify(&conn, o).await;
                        marks = Some(m);
                        last_unresponsive.clear();
                        if let Err(s) = send(NetworkdUpdate::Connected { info, links }) {
                            return s;
                        }
                    }
                    Err(DbusError::Bus(e)) => return Stop::Bus(e),
                    Err(e) => {
                        let text = e.to_string();
                        if text != last_unresponsive {
                            if let Err(s) = send(NetworkdUpdate::Unresponsive(text.clone())) {
                                return s;
                            }
                            last_unresponsive = text;
                        }
                    }
                },
            }
        }
        // Owner present and no snapshot yet: try again after `retry`.
        let waiting = owner.is_some() && marks.is_none();
        tokio::select! {
            m = owners.next() => {
                let msg = match m {
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => return Stop::Bus(e.to_string()),
                    None => return Stop::Bus("the system bus closed the connection".into()),
                };
                let Ok((name, _old, new)) = msg.body().deserialize::<(String, String, String)>()
                else {
                    continue;
                };
                if name != DEST {
                    continue;
                }
                let new = (!new.is_empty()).then_some(new);
                if new != owner {
                    owner = new;
                    need_snapshot = true;
                }
            }
            m = props.next() => {
                let msg = match m {
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => return Stop::Bus(e.to_string()),
                    None => return Stop::Bus("the system bus closed the connection".into()),
                };
                let (Some(mk), Some((sender, serial, change))) = (&marks, decode_change(&msg))
                else {
                    continue;
                };
                if mk.is_news(&sender, serial, change.ifindex)
                    && let Err(s) = send(NetworkdUpdate::Changed(change))
                {
                    return s;
                }
            }
            _ = tokio::time::sleep(retry), if waiting => need_snapshot = true,
            _ = tx.closed() => return Stop::Receiver,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks() -> SnapshotMarks {
        SnapshotMarks {
            owner: ":1.7".into(),
            list_serial: 10,
            link_serial: BTreeMap::from([(2, 14), (3, 20)]),
        }
    }

    #[test]
    fn signals_older_than_their_link_snapshot_are_dropped() {
        let m = marks();
        // Sent before the GetAll reply of link 2 (serial 14): in the snapshot.
        assert!(!m.is_news(":1.7", 12, 2));
        assert!(!m.is_news(":1.7", 14, 2));
        // Sent after it, though before link 3's reply: news for link 2.
        assert!(m.is_news(":1.7", 15, 2));
        assert!(!m.is_news(":1.7", 15, 3));
        assert!(m.is_news(":1.7", 21, 3));
        // A link ListLinks did not list: news only after the list.
        assert!(!m.is_news(":1.7", 9, 5));
        assert!(m.is_news(":1.7", 11, 5));
        // Another networkd (an earlier incarnation): never.
        assert!(!m.is_news(":1.6", 99, 2));
    }

    #[test]
    fn manager_methods_come_from_its_own_interface() {
        let xml = r#"<node>
 <interface name="org.freedesktop.DBus.Peer">
  <method name="Ping"/>
 </interface>
 <interface name="org.freedesktop.network1.Manager">
  <method name="ListLinks">
   <arg type="a(iso)" direction="out"/>
  </method>
  <method name="ReconfigureLink"><arg type="i" direction="in"/></method>
  <method name="Reload"/>
  <property name="OperationalState" type="s" access="read"/>
 </interface>
 <interface name="org.freedesktop.network1.Other">
  <method name="Describe"/>
 </interface>
</node>"#;
        assert_eq!(
            interface_methods(xml, MANAGER_IFACE),
            ["ListLinks", "ReconfigureLink", "Reload"]
        );
        assert!(interface_methods(xml, "org.example.None").is_empty());
        assert!(interface_methods("<node><interface name=\"", MANAGER_IFACE).is_empty());
    }

    #[test]
    fn version_comes_from_the_shared_library_name() {
        let maps = "55d0 r-xp 0 08:01 1 /usr/lib/systemd/systemd-networkd\n\
7f00 r-xp 0 08:01 2 /usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-252.so\n";
        assert_eq!(version_from_maps(maps), Some(252));
        assert_eq!(
            version_from_maps("7f r-xp 0 0 1 /usr/lib/systemd/libsystemd-shared-257.9-1.so"),
            Some(257)
        );
        assert_eq!(version_from_maps("7f r-xp 0 0 1 /lib/libc.so.6"), None);
        assert_eq!(version_from_maps("libsystemd-shared-.so"), None);
    }
}
