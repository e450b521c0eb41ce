//! systemd's manager over D-Bus: starting and stopping the units of the
//! `units:` shortcut (`Manager.StartUnit` / `StopUnit`, "replace" mode,
//! 10 s timeout).
//!
//! A placeholder with the final signatures: the D-Bus implementation comes
//! from another branch and replaces this file when they are merged. Until
//! then every call fails, and the failure is logged and counted like a
//! failed notify hook.

/// Starts `name` (e.g. `haproxy.service`) and waits for systemd's job.
pub async fn start_unit(name: &str) -> Result<(), String> {
    let _ = name;
    Err("systemd D-Bus support not built yet".into())
}

/// Stops `name` and waits for systemd's job.
pub async fn stop_unit(name: &str) -> Result<(), String> {
    let _ = name;
    Err("systemd D-Bus support not built yet".into())
}
