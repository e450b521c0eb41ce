//! systemd's manager over D-Bus (`org.freedesktop.systemd1`), as `systemctl`
//! talks to it: starting and stopping units (the configuration's `units:`,
//! started when an instance becomes MASTER and stopped when it leaves), and
//! the connection `unit` trackers follow a unit's state on
//! (`crate::io::track::unit`). Nothing is forked.
//!
//! Every function takes the bus as `bus: Option<&str>`: `None` is the system
//! bus, the only one production code uses; an address is for tests, which
//! run a private bus with a fake systemd on it (no environment variable
//! decides where vipd sends its requests).

use std::time::Duration;

use zbus::{Connection, Proxy};

#[cfg(test)]
pub(crate) mod fake;

pub(crate) const DEST: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER_IFACE: &str = "org.freedesktop.systemd1.Manager";
pub(crate) const UNIT_IFACE: &str = "org.freedesktop.systemd1.Unit";
const SERVICE_IFACE: &str = "org.freedesktop.systemd1.Service";
const JOB_IFACE: &str = "org.freedesktop.systemd1.Job";

/// How long a read (connect, LoadUnit, a property) may take: systemd answers
/// in microseconds unless it is hung, and a tracker must not wait longer
/// than that to say so.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long StartUnit/StopUnit may take to be answered. systemd answers once
/// the job is queued, not when it is done, but it may be busy with a
/// daemon-reload or a long transaction.
const JOB_TIMEOUT: Duration = Duration::from_secs(10);

/// Failures talking to systemd, phrased for the operator: what failed and
/// what to check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SystemdError {
    #[error("system D-Bus unreachable: {0} (is dbus running?)")]
    Bus(String),
    #[error("systemd is not on the system D-Bus ({0}): is this host running systemd?")]
    NotRunning(String),
    #[error("systemd has no unit {unit} ({detail}): check the name with `systemctl cat {unit}`")]
    NoSuchUnit { unit: String, detail: String },
    #[error("{unit} is masked: `systemctl unmask {unit}` lets it be started")]
    Masked { unit: String },
    #[error(
        "systemd refused {method} ({detail}): vipd needs root, or a polkit rule, to manage units"
    )]
    Denied {
        method: &'static str,
        detail: String,
    },
    #[error("systemd did not answer {method} within {} s: is it hung or busy? (`systemctl list-jobs`)", .after.as_secs())]
    Timeout {
        method: &'static str,
        after: Duration,
    },
    #[error("D-Bus call {method} failed: {detail}")]
    Call {
        method: &'static str,
        detail: String,
    },
}

/// Sorts a zbus error from a call to systemd about `unit` into what the
/// operator can act on.
pub(crate) fn call_error(method: &'static str, unit: &str, e: zbus::Error) -> SystemdError {
    let (name, detail) = match &e {
        zbus::Error::FDO(f) => {
            use zbus::DBusError;
            (
                f.name().to_string(),
                f.description().unwrap_or_default().to_string(),
            )
        }
        zbus::Error::MethodError(name, detail, _) => {
            (name.to_string(), detail.clone().unwrap_or_default())
        }
        zbus::Error::InputOutput(_)
        | zbus::Error::Connection(..)
        | zbus::Error::Handshake(_)
        | zbus::Error::Address(_) => return SystemdError::Bus(e.to_string()),
        _ => {
            return SystemdError::Call {
                method,
                detail: e.to_string(),
            };
        }
    };
    const DBUS: &str = "org.freedesktop.DBus.Error.";
    match name.strip_prefix(DBUS).unwrap_or(&name) {
        // Nobody owns the name; where the bus would start systemd on
        // demand (a service file running /bin/false), the start fails.
        n if n == "ServiceUnknown" || n == "NameHasNoOwner" || n.starts_with("Spawn.") => {
            SystemdError::NotRunning(format!("{name}: {detail}"))
        }
        "AccessDenied" | "InteractiveAuthorizationRequired" => {
            SystemdError::Denied { method, detail }
        }
        "Disconnected" | "IOError" | "NoServer" => SystemdError::Bus(detail),
        "org.freedesktop.systemd1.NoSuchUnit" | "org.freedesktop.systemd1.LoadFailed" => {
            SystemdError::NoSuchUnit {
                unit: unit.to_string(),
                detail,
            }
        }
        "org.freedesktop.systemd1.UnitMasked" => SystemdError::Masked {
            unit: unit.to_string(),
        },
        _ => SystemdError::Call {
            method,
            detail: format!("{name}: {detail}"),
        },
    }
}

/// `f`, or a Timeout error after `after`.
pub(crate) async fn with_timeout<T>(
    method: &'static str,
    after: Duration,
    f: impl Future<Output = Result<T, SystemdError>>,
) -> Result<T, SystemdError> {
    tokio::time::timeout(after, f)
        .await
        .map_err(|_| SystemdError::Timeout { method, after })?
}

/// A connection to `bus` (None: the system bus).
pub(crate) async fn connect(bus: Option<&str>) -> Result<Connection, SystemdError> {
    let builder = match bus {
        None => zbus::connection::Builder::system(),
        Some(address) => zbus::connection::Builder::address(address),
    };
    with_timeout("connect", CALL_TIMEOUT, async {
        builder
            .build()
            .await
            .map_err(|e| SystemdError::Bus(e.to_string()))
    })
    .await
}

/// A proxy for systemd's object `path` and interface `iface`. Properties
/// are not cached: a cache would subscribe to every property of the object,
/// and the tracker wants exactly one, read when it asks.
pub(crate) async fn proxy(
    conn: &Connection,
    path: String,
    iface: &'static str,
) -> Result<Proxy<'static>, SystemdError> {
    zbus::proxy::Builder::new(conn)
        .destination(DEST)
        .path(path)
        .interface(iface)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .map_err(|e| SystemdError::Bus(e.to_string()))
}

/// The manager object (`/org/freedesktop/systemd1`).
pub(crate) async fn manager(conn: &Connection) -> Result<Proxy<'static>, SystemdError> {
    proxy(conn, MANAGER_PATH.to_string(), MANAGER_IFACE).await
}

/// Asks systemd to start `name` (StartUnit, mode "replace", as `systemctl
/// start` does). Returns once systemd has queued the job: a slow unit does
/// not hold the caller, and whether it came up is for a `unit` tracker (or
/// the journal) to tell.
pub async fn start_unit(name: &str) -> Result<(), String> {
    job(None, "StartUnit", name)
        .await
        .map_err(|e| format!("cannot start {name}: {e}"))
}

/// Asks systemd to stop `name` (StopUnit, mode "replace"); returns once the
/// job is queued, as [`start_unit`].
pub async fn stop_unit(name: &str) -> Result<(), String> {
    job(None, "StopUnit", name)
        .await
        .map_err(|e| format!("cannot stop {name}: {e}"))
}

/// A unit's `Restart=` policy and the type of the job running on it, if
/// any (the unit's `Job` property, id 0 when none; the job's `JobType`:
/// `stop` for `systemctl stop`, `start` while a start fails, `restart`,
/// ...), for `vipctl cleanup` run as `ExecStopPost=`.
pub async fn restart_policy(
    bus: Option<&str>,
    unit: &str,
) -> Result<(String, Option<String>), SystemdError> {
    with_timeout("GetUnit", CALL_TIMEOUT, async {
        let conn = connect(bus).await?;
        let m = manager(&conn).await?;
        let path: zbus::OwnedObjectPath = m
            .call("LoadUnit", &(unit,))
            .await
            .map_err(|e| call_error("LoadUnit", unit, e))?;
        let service = proxy(&conn, path.to_string(), SERVICE_IFACE).await?;
        let restart: String = service
            .get_property("Restart")
            .await
            .map_err(|e| call_error("Get", unit, e))?;
        let u = proxy(&conn, path.to_string(), UNIT_IFACE).await?;
        let (job, job_path): (u32, zbus::OwnedObjectPath) = u
            .get_property("Job")
            .await
            .map_err(|e| call_error("Get", unit, e))?;
        if job == 0 {
            return Ok((restart, None));
        }
        let j = proxy(&conn, job_path.to_string(), JOB_IFACE).await?;
        let kind: String = j
            .get_property("JobType")
            .await
            .map_err(|e| call_error("Get", unit, e))?;
        Ok((restart, Some(kind)))
    })
    .await
}

/// Queues a StartUnit/StopUnit job for `unit` on `bus`.
pub(crate) async fn job(
    bus: Option<&str>,
    method: &'static str,
    unit: &str,
) -> Result<(), SystemdError> {
    with_timeout(method, JOB_TIMEOUT, async {
        let conn = connect(bus).await?;
        let m = manager(&conn).await?;
        let _job: zbus::OwnedObjectPath = m
            .call(method, &(unit, "replace"))
            .await
            .map_err(|e| call_error(method, unit, e))?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::fake::FakeSystemd;
    use super::*;

    const NO_BUS: &str = "unix:path=/nonexistent/vipd-test/bus";

    #[tokio::test]
    async fn without_a_bus_the_error_says_so() {
        let e = job(Some(NO_BUS), "StartUnit", "haproxy.service")
            .await
            .unwrap_err();
        assert!(matches!(e, SystemdError::Bus(_)), "{e:?}");
        let text = e.to_string();
        assert!(text.starts_with("system D-Bus unreachable: "), "{text}");
        assert!(text.contains("/nonexistent/vipd-test/bus"), "{text}");
    }

    #[test]
    fn errors_name_what_to_check() {
        let e = |name: &str| {
            let msg = zbus::Message::method_call("/", "X").build(&()).unwrap();
            call_error(
                "StartUnit",
                "web.service",
                zbus::Error::MethodError(
                    zbus::names::OwnedErrorName::try_from(name).unwrap(),
                    Some("Unit web.service not found.".into()),
                    msg,
                ),
            )
            .to_string()
        };
        assert_eq!(
            e("org.freedesktop.systemd1.NoSuchUnit"),
            "systemd has no unit web.service (Unit web.service not found.): \
             check the name with `systemctl cat web.service`"
        );
        assert!(e("org.freedesktop.systemd1.UnitMasked").contains("systemctl unmask web.service"));
        assert!(e("org.example.Other").contains("org.example.Other"));
        let denied = call_error(
            "StopUnit",
            "web.service",
            zbus::Error::FDO(Box::new(zbus::fdo::Error::AccessDenied("no".into()))),
        );
        assert!(denied.to_string().contains("needs root"), "{denied}");
        let gone = call_error(
            "StopUnit",
            "web.service",
            zbus::Error::FDO(Box::new(zbus::fdo::Error::ServiceUnknown("x".into()))),
        );
        assert!(matches!(gone, SystemdError::NotRunning(_)));
    }

    // StartUnit and StopUnit reach systemd (a fake on a private bus), which
    // changes the unit's state; an unknown unit is refused with its name.
    #[tokio::test]
    async fn start_and_stop_through_the_manager() {
        let Some(fake) = FakeSystemd::start().await else {
            return;
        };
        let bus = Some(fake.address.as_str());
        fake.set("web.service", "inactive");
        job(bus, "StartUnit", "web.service").await.unwrap();
        assert_eq!(fake.state("web.service").as_deref(), Some("active"));
        job(bus, "StopUnit", "web.service").await.unwrap();
        assert_eq!(fake.state("web.service").as_deref(), Some("inactive"));
        let e = job(bus, "StartUnit", "missing.service").await.unwrap_err();
        assert!(
            matches!(&e, SystemdError::NoSuchUnit { unit, .. } if unit == "missing.service"),
            "{e:?}"
        );
        fake.stop_serving().await;
        let e = job(bus, "StartUnit", "web.service").await.unwrap_err();
        assert!(matches!(e, SystemdError::NotRunning(_)), "{e:?}");
    }
}
