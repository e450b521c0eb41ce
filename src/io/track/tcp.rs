//! `tcp` trackers: a connect to the address at every interval, within the
//! timeout (the `</dev/tcp/HOST/PORT` check, without a shell). Connected is
//! good; refused, unreachable or timed out (unless `on_timeout: success`)
//! is bad. The connection is closed at once.

use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::{Reporter, interval};
use crate::config::{OnTimeout, TrackerConfig};
use crate::health::Outcome;

pub async fn run(addr: SocketAddr, cfg: &TrackerConfig, out: Reporter) {
    let mut tick = interval(cfg.interval);
    loop {
        tick.tick().await;
        let outcome = match tokio::time::timeout(cfg.timeout, TcpStream::connect(addr)).await {
            Ok(Ok(_)) => Outcome::Good,
            Ok(Err(e)) => Outcome::Bad(format!("connect to {addr}: {e}")),
            Err(_) if cfg.on_timeout == OnTimeout::Success => Outcome::Good,
            Err(_) => Outcome::Bad(format!("connect to {addr}: timed out")),
        };
        if !out.send(outcome) {
            return;
        }
    }
}
