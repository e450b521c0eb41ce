//! systemd-networkd over D-Bus (`org.freedesktop.network1`).
//!
//! vipd does not need networkd to work: netlink alone restores a purged VIP.
//! What D-Bus adds is networkd's own view (is it reconfiguring this link
//! right now?), so vipd can re-check its VIPs when networkd finishes, report
//! that view in `vipctl status`, and ask networkd to reload the files vipd
//! generates. Versions differ: systemd 237 (bionic) has the state
//! properties and no methods, 244 added Reload/Reconfigure/Renew, 249
//! Describe. Features are detected by trying, never by parsing versions.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zbus::{Connection, Proxy};

mod follow;
pub use follow::{
    FEATURES, NetworkdInfo, NetworkdUpdate, SnapshotMarks, follow, interface_methods,
    version_from_maps,
};

const DEST: &str = "org.freedesktop.network1";
const MANAGER_PATH: &str = "/org/freedesktop/network1";
const MANAGER_IFACE: &str = "org.freedesktop.network1.Manager";
const LINK_IFACE: &str = "org.freedesktop.network1.Link";
const LINK_PATH_PREFIX: &str = "/org/freedesktop/network1/link/";

/// D-Bus failures, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    #[error("cannot reach the system D-Bus: {0}")]
    Bus(String),
    #[error("systemd-networkd is not on the system D-Bus ({0})")]
    NotRunning(String),
    #[error("systemd-networkd has no {method} method (systemd older than {since}): {what_to_do}")]
    NotSupported {
        method: &'static str,
        since: u32,
        what_to_do: &'static str,
    },
    #[error("D-Bus call {method} failed: {detail}")]
    Call {
        method: &'static str,
        detail: String,
    },
    #[error("D-Bus call {0} timed out")]
    Timeout(&'static str),
}

/// networkd's view of one link, as `networkctl` shows it. Properties a
/// version lacks stay `None` (systemd 237 has no AddressState).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkView {
    pub administrative_state: Option<String>,
    pub operational_state: Option<String>,
    pub address_state: Option<String>,
}

impl LinkView {
    /// Applies a PropertiesChanged update.
    pub fn apply(&mut self, changed: &BTreeMap<String, String>) {
        for (k, v) in changed {
            match k.as_str() {
                "AdministrativeState" => self.administrative_state = Some(v.clone()),
                "OperationalState" => self.operational_state = Some(v.clone()),
                "AddressState" => self.address_state = Some(v.clone()),
                _ => {}
            }
        }
    }
}

/// A change networkd announced on one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkChange {
    pub ifindex: u32,
    /// Changed string properties (AdministrativeState, OperationalState, ...).
    pub changed: BTreeMap<String, String>,
}

/// Decodes systemd's object-path label escaping: `_XX` is the byte 0xXX
/// (a link's path is `/org/freedesktop/network1/link/_32` for ifindex 2).
pub fn unescape_label(label: &str) -> Option<String> {
    let b = label.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'_' {
            let hex = label.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The ifindex a link object path stands for.
pub fn ifindex_of_path(path: &str) -> Option<u32> {
    unescape_label(path.strip_prefix(LINK_PATH_PREFIX)?)?
        .parse()
        .ok()
}

const CALL_TIMEOUT: Duration = Duration::from_secs(2);

async fn with_timeout<T>(
    method: &'static str,
    f: impl std::future::Future<Output = Result<T, DbusError>>,
) -> Result<T, DbusError> {
    tokio::time::timeout(CALL_TIMEOUT, f)
        .await
        .map_err(|_| DbusError::Timeout(method))?
}

fn call_error(method: &'static str, e: zbus::Error) -> DbusError {
    let text = e.to_string();
    if text.contains("UnknownMethod") || text.contains("Unknown method") {
        let (since, what_to_do) = match method {
            "Reload" => (244, "restart systemd-networkd to load the new files"),
            "Reconfigure" => (
                244,
                "use `networkctl reconfigure` or restart systemd-networkd",
            ),
            "Describe" => (
                249,
                "networkd's matched file is read from /run/systemd/netif instead",
            ),
            _ => (0, "upgrade systemd"),
        };
        return DbusError::NotSupported {
            method,
            since,
            what_to_do,
        };
    }
    if text.contains("ServiceUnknown") || text.contains("NameHasNoOwner") {
        return DbusError::NotRunning(text);
    }
    DbusError::Call {
        method,
        detail: text,
    }
}

pub struct NetworkdBus {
    conn: Connection,
}

impl NetworkdBus {
    /// Connects to the system bus and checks that networkd answers.
    pub async fn connect() -> Result<NetworkdBus, DbusError> {
        let conn = with_timeout("connect", async {
            Connection::system()
                .await
                .map_err(|e| DbusError::Bus(e.to_string()))
        })
        .await?;
        let bus = NetworkdBus { conn };
        bus.list_links().await?;
        Ok(bus)
    }

    async fn proxy(&self, path: &str, iface: &'static str) -> Result<Proxy<'static>, DbusError> {
        zbus::proxy::Builder::new(&self.conn)
            .destination(DEST)
            .path(path.to_string())
            .interface(iface)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .map_err(|e| DbusError::Bus(e.to_string()))
    }

    /// Every link networkd knows: (ifindex, name, object path).
    pub async fn list_links(&self) -> Result<Vec<(i32, String, String)>, DbusError> {
        with_timeout("ListLinks", async {
            let m = self.proxy(MANAGER_PATH, MANAGER_IFACE).await?;
            let links: Vec<(i32, String, zbus::OwnedObjectPath)> =
                m.call("ListLinks", &())
                    .await
                    .map_err(|e| call_error("ListLinks", e))?;
            Ok(links
                .into_iter()
                .map(|(i, n, p)| (i, n, p.as_str().to_string()))
                .collect())
        })
        .await
    }

    /// networkd's view of link `ifindex` (None if networkd does not know it).
    pub async fn link_view(&self, ifindex: u32) -> Result<Option<LinkView>, DbusError> {
        let Some((_, _, path)) = self
            .list_links()
            .await?
            .into_iter()
            .find(|(i, _, _)| *i as u32 == ifindex)
        else {
            return Ok(None);
        };
        with_timeout("Get", async {
            let p = self.proxy(&path, LINK_IFACE).await?;
            let get = |name: &'static str| {
                let p = &p;
                async move { p.get_property::<String>(name).await.ok() }
            };
            Ok(Some(LinkView {
                administrative_state: get("AdministrativeState").await,
                operational_state: get("OperationalState").await,
                address_state: get("AddressState").await,
            }))
        })
        .await
    }

    /// Asks networkd to re-read its configuration files (systemd >= 244).
    pub async fn reload(&self) -> Result<(), DbusError> {
        with_timeout("Reload", async {
            let m = self.proxy(MANAGER_PATH, MANAGER_IFACE).await?;
            m.call::<_, _, ()>("Reload", &())
                .await
                .map_err(|e| call_error("Reload", e))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_paths_decode_to_ifindex() {
        assert_eq!(
            ifindex_of_path("/org/freedesktop/network1/link/_32"),
            Some(2)
        );
        assert_eq!(
            ifindex_of_path("/org/freedesktop/network1/link/_312"),
            Some(12)
        );
        assert_eq!(ifindex_of_path("/org/freedesktop/network1/link/_3z"), None);
        assert_eq!(ifindex_of_path("/org/freedesktop/network1"), None);
        assert_eq!(unescape_label("_"), None);
    }

    #[test]
    fn view_follows_property_changes() {
        let mut v = LinkView::default();
        let mut c = BTreeMap::new();
        c.insert("AdministrativeState".to_string(), "configuring".to_string());
        c.insert("BitRates".to_string(), "x".to_string());
        v.apply(&c);
        assert_eq!(v.administrative_state.as_deref(), Some("configuring"));
        assert_eq!(v.operational_state, None);
    }
}
