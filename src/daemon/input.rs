//! Where inputs come from: each source is a task that turns what it hears
//! into an [`Input`] on the daemon's one channel. Sources never decide
//! anything; the loop in `mod.rs` routes each input to its handler.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Notify, mpsc, oneshot};
use tracing::warn;

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
    /// A reload's file, read and checked off the loop (`reload::Reloads`).
    ReloadParsed(super::reload::Parsed),
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

/// What each signal does to vipd, for vipd(8) (SIGNALS); kept beside the
/// handlers below so the page changes with them.
pub const SIGNALS: &[(&str, &str)] = &[
    (
        "SIGHUP",
        "Reload the configuration file, as vipctl reload does. The file is parsed off the event loop while the routers keep advertising; instances whose settings did not change are untouched, changed ones are updated in place (a master stays master), and only a change of vrid, interface, address families, version or vip_device restarts an instance. A file that does not load is logged and changes nothing. Under systemd, RELOADING=1 and READY=1 bracket the reload.",
    ),
    (
        "SIGTERM, SIGINT",
        "Stop: every master sends an advert of priority 0 so that a backup takes over at once (RFC 5798 6.4.3) and removes its VIPs; the VIP devices vipd created are deleted; the stop notify hooks run; vipd exits with status 0.",
    ),
    (
        "SIGKILL (and the watchdog, the OOM killer)",
        "Cannot be handled: VIPs and VIP devices stay in place. The unit's ExecStopPost= (vipctl cleanup) removes them unless systemd restarts vipd, and a restarted vipd finds its VIPs and resumes as master (found_vips: keep, the default).",
    ),
];

/// SIGHUP reloads; SIGTERM and SIGINT stop ([`SIGNALS`]).
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
/// crashed daemon is replaced; a live daemon's is not, and nothing that is
/// not a socket is ever removed (a mistyped `--control-socket` must not
/// delete a file).
pub fn bind_control_socket(path: &Path) -> Result<UnixListener, DaemonError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    }
    // Not following a symbolic link: what is at the path itself.
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if !kind.is_socket() {
            let what = crate::file_kind::describe(kind);
            return Err(DaemonError::Io {
                what: format!(
                    "{} is {what}, not a socket: vipd replaces only a socket a previous vipd left \
                     there; move that away, or pass another --control-socket",
                    path.display()
                ),
                source: io::Error::from(io::ErrorKind::AlreadyExists),
            });
        }
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

/// The longest request line read (64 KiB): a request is a short JSON
/// object (`{"cmd":"hold","interface":"eth0","for_ms":5000}`); a longer
/// line is refused with an error answer, and memory stays flat.
pub const MAX_REQUEST_BYTES: u64 = 64 * 1024;

/// How long a connection may take to send its request, and the daemon to
/// write its answer (vipctl sends at once): an idle connection is closed.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections served at once (watch streams included). When all are
/// taken, the oldest one that has not sent its request yet is closed for
/// the newcomer; when none is idle, the newcomer is answered with an error
/// and closed. File descriptors thus stay bounded whatever connects.
pub const MAX_CONNECTIONS: usize = 64;

/// Accept errors back off from this, doubling to [`ACCEPT_BACKOFF_MAX`]:
/// out of file descriptors (EMFILE), accept fails at once again, and
/// retrying at once would spin the loop.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The connections being served, and those of them still waiting for their
/// request (oldest first), each with the signal that closes it.
#[derive(Default)]
struct Connections {
    open: usize,
    idle: std::collections::VecDeque<Idle>,
    next_id: u64,
}

/// A connection that has not sent its request yet: what closes it, and
/// whether it still counts in [`Connections::open`] (an evicted one's place
/// was given away already).
struct Idle {
    id: u64,
    close: Arc<Notify>,
    counted: Arc<AtomicBool>,
}

/// A connection's place in [`Connections`]; dropping it frees the place.
struct Slot {
    conns: Arc<Mutex<Connections>>,
    id: u64,
    counted: Arc<AtomicBool>,
}

impl Slot {
    /// The request is read: the connection can no longer be evicted.
    fn busy(&self) {
        if let Ok(mut c) = self.conns.lock() {
            c.idle.retain(|i| i.id != self.id);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut c) = self.conns.lock() {
            if self.counted.swap(false, Ordering::Relaxed) {
                c.open = c.open.saturating_sub(1);
            }
            c.idle.retain(|i| i.id != self.id);
        }
    }
}

/// A place for a new connection, evicting the oldest idle one when all are
/// taken; None when every place is busy.
fn admit(conns: &Arc<Mutex<Connections>>) -> Option<(Slot, Arc<Notify>)> {
    let mut c = conns.lock().ok()?;
    if c.open >= MAX_CONNECTIONS {
        let evicted = c.idle.pop_front()?;
        // It leaves when it next runs; its place is the newcomer's now.
        evicted.close.notify_one();
        if evicted.counted.swap(false, Ordering::Relaxed) {
            c.open -= 1;
        }
    }
    c.open += 1;
    c.next_id += 1;
    let id = c.next_id;
    let close = Arc::new(Notify::new());
    let counted = Arc::new(AtomicBool::new(true));
    c.idle.push_back(Idle {
        id,
        close: close.clone(),
        counted: counted.clone(),
    });
    Some((
        Slot {
            conns: conns.clone(),
            id,
            counted,
        },
        close,
    ))
}

/// One JSON request per connection, answered with one JSON line; a watch
/// request keeps its connection for the stream. Bounded: request size,
/// time to send it, connections at once, and accept errors back off.
pub fn spawn_control(listener: UnixListener, tx: InputTx) {
    tokio::spawn(async move {
        let conns = Arc::new(Mutex::new(Connections::default()));
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    stream
                }
                Err(e) => {
                    if backoff == ACCEPT_BACKOFF_MIN {
                        warn!("control socket: accept failed ({e}); backing off");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            };
            match admit(&conns) {
                Some((slot, close)) => {
                    tokio::spawn(serve_control(stream, tx.clone(), slot, close));
                }
                None => {
                    tokio::spawn(refuse(stream));
                }
            }
        }
    });
}

/// Every place is busy: say so (without waiting on the peer) and close.
async fn refuse(stream: tokio::net::UnixStream) {
    let response = Response::Error {
        message: format!(
            "vipd serves {MAX_CONNECTIONS} control connections at once and all are busy; \
             try again"
        ),
    };
    let (_, mut w) = stream.into_split();
    let _ = tokio::time::timeout(CONNECTION_TIMEOUT, write_response(&mut w, &response)).await;
}

/// Why a request could not be read.
enum ReadFailure {
    /// EOF, an I/O error, the timeout, or evicted: close without a word.
    Gone,
    TooLong,
}

/// The request line, bounded in size; EOF without a newline is a request too.
async fn read_request(reader: &mut BufReader<OwnedReadHalf>) -> Result<String, ReadFailure> {
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(MAX_REQUEST_BYTES + 1)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|_| ReadFailure::Gone)?;
    if n == 0 {
        return Err(ReadFailure::Gone);
    }
    if line.last() != Some(&b'\n') && n as u64 > MAX_REQUEST_BYTES {
        return Err(ReadFailure::TooLong);
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

async fn serve_control(
    stream: tokio::net::UnixStream,
    tx: InputTx,
    slot: Slot,
    close: Arc<Notify>,
) {
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let read = tokio::select! {
        read = tokio::time::timeout(CONNECTION_TIMEOUT, read_request(&mut reader)) => {
            read.unwrap_or(Err(ReadFailure::Gone))
        }
        _ = close.notified() => Err(ReadFailure::Gone),
    };
    slot.busy();
    let response = match read {
        Err(ReadFailure::Gone) => return,
        Err(ReadFailure::TooLong) => Response::Error {
            message: format!(
                "request longer than {MAX_REQUEST_BYTES} bytes refused (a request is one short \
                 JSON line); connection closed"
            ),
        },
        Ok(line) => match serde_json::from_str::<Request>(&line) {
            Ok(Request::Watch) => return serve_watch(reader, w, tx, slot).await,
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
        },
    };
    let _ = tokio::time::timeout(CONNECTION_TIMEOUT, write_response(&mut w, &response)).await;
    drop(slot);
}

async fn write_response(w: &mut OwnedWriteHalf, response: &Response) -> io::Result<()> {
    let mut out = serde_json::to_string(response).unwrap_or_default();
    out.push('\n');
    w.write_all(out.as_bytes()).await
}

/// A watch connection: the snapshot, then every event as the loop sends
/// it, until the daemon ends the stream or the watcher leaves (EOF or a
/// failed write). A slow watcher is told what it missed; the loop never
/// waits for it.
async fn serve_watch(
    mut reader: BufReader<OwnedReadHalf>,
    mut w: OwnedWriteHalf,
    tx: InputTx,
    _slot: Slot,
) {
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

/// The metrics listener (`metrics:` in the configuration): each scrape
/// asks the loop for the status snapshot `vipctl status` gets, as a
/// control request would, and encodes it on a blocking-pool thread: the
/// runtime has one thread, and encoding hundreds of instances must not
/// delay an advert or a Master_Down timer.
pub fn spawn_metrics(
    listener: std::net::TcpListener,
    tx: InputTx,
) -> io::Result<tokio::task::JoinHandle<()>> {
    crate::io::metrics_http::spawn(listener, move || {
        let tx = tx.clone();
        async move {
            let (reply, answer) = oneshot::channel();
            tx.send(Input::Control(Request::Status, reply)).ok()?;
            let Response::Status(st) = answer.await.ok()? else {
                return None;
            };
            let text = tokio::task::spawn_blocking(move || crate::metrics::encode_status(&st))
                .await
                .ok()?;
            Some((text, crate::metrics::CONTENT_TYPE))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn open(c: &Arc<Mutex<Connections>>) -> usize {
        c.lock().unwrap().open
    }

    // The limit holds whatever connects: the oldest connection that has
    // not sent its request makes room; busy ones are never evicted; a
    // place is freed once, evicted or not.
    #[test]
    fn admission_evicts_the_oldest_idle_and_never_a_busy_one() {
        let c = Arc::new(Mutex::new(Connections::default()));
        let mut slots: Vec<(Slot, Arc<Notify>)> =
            (0..MAX_CONNECTIONS).map(|_| admit(&c).unwrap()).collect();
        assert_eq!(open(&c), MAX_CONNECTIONS);
        // The 65th: the first is told to close, the count stays at the limit.
        let newcomer = admit(&c).unwrap();
        assert_eq!(open(&c), MAX_CONNECTIONS);
        let (first, first_close) = slots.remove(0);
        assert!(first_close.notified().now_or_never().is_some(), "evicted");
        drop(first);
        assert_eq!(
            open(&c),
            MAX_CONNECTIONS,
            "an evicted place is not freed twice"
        );
        // All busy: the next is refused.
        for (s, _) in &slots {
            s.busy();
        }
        newcomer.0.busy();
        assert!(admit(&c).is_none());
        drop(newcomer);
        assert_eq!(open(&c), MAX_CONNECTIONS - 1);
        assert!(admit(&c).is_some());
        drop(slots);
        assert_eq!(open(&c), 0);
    }
}
