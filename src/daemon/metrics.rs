//! The metrics listener's lifecycle: opened at start when `metrics:` is
//! configured, re-bound by a reload that changes its address, closed by
//! one that removes the key. A reload whose new address cannot be bound is
//! refused as a whole (the old listener and configuration stay): nothing
//! is half-applied.

use std::net::SocketAddr;
use std::time::Duration;

use tracing::info;

use super::input::{self, InputTx};
use super::{Daemon, DaemonError};
use crate::config::MetricsConfig;
use crate::io::metrics_http;

/// A listener being served; dropping it stops the task (and closes the
/// socket once the runtime has dropped the task).
pub struct MetricsListener {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MetricsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn why(addr: SocketAddr, e: &std::io::Error) -> String {
    format!(
        "cannot listen for metrics on {addr}: {e} (another exporter on that port? \
         change metrics.listen, or remove metrics: to serve none)"
    )
}

/// Binds and serves `addr`.
fn open(addr: SocketAddr, tx: &InputTx) -> Result<MetricsListener, String> {
    let listener = metrics_http::bind(addr).map_err(|e| why(addr, &e))?;
    let task = input::spawn_metrics(listener, tx.clone()).map_err(|e| why(addr, &e))?;
    info!(%addr, "serving metrics on http://{addr}/metrics");
    Ok(MetricsListener { addr, task })
}

/// The listener the configuration asks for at start.
pub fn start(
    cfg: Option<&MetricsConfig>,
    tx: &InputTx,
) -> Result<Option<MetricsListener>, DaemonError> {
    cfg.map(|m| open(m.listen, tx))
        .transpose()
        .map_err(|what| DaemonError::Io {
            what,
            source: std::io::Error::from(std::io::ErrorKind::AddrNotAvailable),
        })
}

impl Daemon {
    /// Makes the listener match `want`, before a reload changes anything
    /// else: Err (and the old listener kept) when the new address cannot
    /// be bound.
    pub(super) async fn rebind_metrics(
        &mut self,
        want: Option<&MetricsConfig>,
    ) -> Result<(), String> {
        let want = want.map(|m| m.listen);
        if want == self.metrics.as_ref().map(|m| m.addr) {
            return Ok(());
        }
        let Some(addr) = want else {
            if let Some(old) = self.metrics.take() {
                info!(addr = %old.addr, "metrics listener closed (metrics: removed)");
            }
            return Ok(());
        };
        let first = match open(addr, &self.tx) {
            Ok(l) => {
                self.metrics = Some(l);
                return Ok(());
            }
            Err(e) => e,
        };
        // The old listener may hold the port (127.0.0.1:9638 becoming
        // 0.0.0.0:9638): close it, and bind again once its task is gone.
        let Some(old) = self.metrics.take() else {
            return Err(first);
        };
        let old_addr = old.addr;
        drop(old);
        let mut last = first;
        for _ in 0..20 {
            tokio::task::yield_now().await;
            match open(addr, &self.tx) {
                Ok(l) => {
                    self.metrics = Some(l);
                    return Ok(());
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Put the old one back, as before the reload.
        self.metrics = open(old_addr, &self.tx).ok();
        Err(last)
    }
}
