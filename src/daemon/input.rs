//! Where inputs come from: each source is a task that turns what it hears
//! into an [`Input`] on the daemon's one channel. Sources never decide
//! anything; the loop in `mod.rs` routes each input to its handler.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot};

use super::DaemonError;
use super::bus::Subscription;
use super::hooks::HookMsg;
use super::sockets::SocketKey;
use crate::control::{Request, Response};
use crate::io::netlink::NetlinkEvent;
use crate::io::networkd_dbus::{self, NetworkdUpdate};
use crate::io::vrrp_socket::Datagram;

/// Something for the daemon to handle, in arrival order.
pub enum Input {
    /// Datagrams read from a VRRP socket, in arrival order.
    Packets(SocketKey, Vec<Datagram>),
    SocketFailed(SocketKey, io::Error),
    Netlink(NetlinkEvent),
    /// A `vipctl` request and where its answer goes.
    Control(Request, oneshot::Sender<Response>),
    /// A `vipctl watch` connection asks where its stream starts.
    Watch(oneshot::Sender<WatchStart>),
    /// A notify queue task's result.
    Hook(HookMsg),
    Networkd(NetworkdUpdate),
    /// A tracker runner's report.
    Track(crate::io::track::Report),
    /// SIGHUP.
    Reload,
    /// SIGTERM or SIGINT.
    Terminate,
}

pub type InputTx = mpsc::UnboundedSender<Input>;

/// The start of a watch stream, taken in one go by the loop: the snapshot
/// (status as of event N) and a subscription that gets events N+1, ...
pub struct WatchStart {
    /// The snapshot line (`crate::watch::Snapshot`), serialized.
    pub snapshot: String,
    pub sub: Subscription,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// Forwards every item of a source channel as an input.
fn forward<T: Send + 'static>(
    mut from: mpsc::UnboundedReceiver<T>,
    tx: InputTx,
    wrap: fn(T) -> Input,
) {
    tokio::spawn(async move {
        while let Some(item) = from.recv().await {
            if tx.send(wrap(item)).is_err() {
                return;
            }
        }
    });
}

/// Kernel link and address notifications.
pub fn spawn_netlink(events: mpsc::UnboundedReceiver<NetlinkEvent>, tx: InputTx) {
    forward(events, tx, Input::Netlink);
}

/// The tracker runners' reports.
pub fn spawn_trackers(reports: mpsc::UnboundedReceiver<crate::io::track::Report>, tx: InputTx) {
    forward(reports, tx, Input::Track);
}

/// The notify queue tasks' results.
pub fn spawn_hooks(results: mpsc::UnboundedReceiver<HookMsg>, tx: InputTx) {
    forward(results, tx, Input::Hook);
}

/// systemd-networkd's link states over D-Bus (reconnecting every 5 s).
pub fn spawn_networkd(tx: InputTx) {
    let (ntx, nrx) = mpsc::unbounded_channel();
    tokio::spawn(networkd_dbus::follow(ntx, Duration::from_secs(5)));
    forward(nrx, tx, Input::Networkd);
}

/// SIGHUP reloads; SIGTERM and SIGINT stop.
pub fn spawn_signals(tx: InputTx) -> Result<(), DaemonError> {
    let mut hup =
        signal(SignalKind::hangup()).map_err(io_err("cannot install the SIGHUP handler"))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(io_err("cannot install the SIGTERM handler"))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(io_err("cannot install the SIGINT handler"))?;
    tokio::spawn(async move {
        loop {
            let input = tokio::select! {
                _ = hup.recv() => Input::Reload,
                _ = term.recv() => Input::Terminate,
                _ = int.recv() => Input::Terminate,
            };
            if tx.send(input).is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// The control socket, created 0600 from the start. A socket left by a
/// crashed daemon is replaced; a live daemon's is not.
pub fn bind_control_socket(path: &Path) -> Result<UnixListener, DaemonError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(DaemonError::Io {
                what: format!("another vipd is already listening on {}", path.display()),
                source: io::Error::from(io::ErrorKind::AddrInUse),
            });
        }
        std::fs::remove_file(path)
            .map_err(io_err(format!("cannot remove stale {}", path.display())))?;
    }
    // umask first, so no window exists where another user could connect.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = listener.map_err(io_err(format!("cannot listen on {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err(
        format!("cannot set mode 0600 on {}", path.display()),
    ))?;
    Ok(listener)
}

/// One JSON request per connection, answered with one JSON line; a watch
/// request keeps its connection for the stream.
pub fn spawn_control(listener: UnixListener, tx: InputTx) {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(serve_control(stream, tx.clone()));
        }
    });
}

async fn serve_control(stream: tokio::net::UnixStream, tx: InputTx) {
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(r);
    if reader.read_line(&mut line).await.is_err() {
        return;
    }
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(Request::Watch) => return serve_watch(reader, w, tx).await,
        Ok(req) => {
            let (otx, orx) = oneshot::channel();
            if tx.send(Input::Control(req, otx)).is_err() {
                return;
            }
            match orx.await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
        Err(e) => Response::Error {
            message: format!("bad request: {e}"),
        },
    };
    let mut out = serde_json::to_string(&response).unwrap_or_default();
    out.push('\n');
    let _ = w.write_all(out.as_bytes()).await;
}

/// A watch connection: the snapshot, then every event as the loop sends
/// it, until the daemon ends the stream or the watcher leaves (EOF or a
/// failed write). A slow watcher is told what it missed; the loop never
/// waits for it.
async fn serve_watch(mut reader: BufReader<OwnedReadHalf>, mut w: OwnedWriteHalf, tx: InputTx) {
    let (otx, orx) = oneshot::channel();
    if tx.send(Input::Watch(otx)).is_err() {
        return;
    }
    // No answer: the daemon is stopping (its stream is closed).
    let Ok(WatchStart { snapshot, sub }) = orx.await else {
        return;
    };
    let Subscription { mut lines, alive } = sub;
    let _alive = alive;
    if write_line(&mut w, snapshot).await.is_err() {
        return;
    }
    let mut buf = [0u8; 256];
    loop {
        let next = tokio::select! {
            next = lines.recv() => next,
            // The watcher has nothing to say; EOF means it left.
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            },
        };
        let text = match next {
            Ok(text) => text.to_string(),
            Err(RecvError::Lagged(missed)) => {
                serde_json::to_string(&crate::watch::Lagged { missed }).unwrap_or_default()
            }
            Err(RecvError::Closed) => return,
        };
        if write_line(&mut w, text).await.is_err() {
            return;
        }
    }
}

async fn write_line(w: &mut OwnedWriteHalf, mut text: String) -> io::Result<()> {
    text.push('\n');
    w.write_all(text.as_bytes()).await
}
