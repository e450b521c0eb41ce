//! The VRRP sockets: one per interface and family, shared by every
//! instance there, each with a reader task that turns what it reads into
//! daemon inputs.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::input::Input;
use crate::family::Family;
use crate::io::netlink::LinkState;
use crate::io::vrrp_socket::VrrpSocket;

/// Which socket: an interface and a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketKey {
    pub ifindex: u32,
    pub family: Family,
}

struct SocketEntry {
    sock: Arc<VrrpSocket>,
    reader: JoinHandle<()>,
}

impl Drop for SocketEntry {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

pub struct Sockets {
    open: HashMap<SocketKey, SocketEntry>,
    /// The AH (protocol 51) sockets, by interface index; what they read
    /// goes to the daemon as if read on that interface's IPv4 socket.
    ah: HashMap<u32, SocketEntry>,
    tx: mpsc::UnboundedSender<Input>,
}

impl Sockets {
    pub fn new(tx: mpsc::UnboundedSender<Input>) -> Sockets {
        Sockets {
            open: HashMap::new(),
            ah: HashMap::new(),
            tx,
        }
    }

    pub fn get(&self, key: SocketKey) -> Option<&VrrpSocket> {
        self.open.get(&key).map(|e| e.sock.as_ref())
    }

    /// Opens the socket for `link` and `family` unless it is open; joins
    /// the VRRP group when `multicast` (also on a socket opened earlier for
    /// a unicast instance).
    pub fn ensure(&mut self, link: &LinkState, family: Family, multicast: bool) -> io::Result<()> {
        let key = SocketKey {
            ifindex: link.index,
            family,
        };
        if let Some(e) = self.open.get(&key) {
            if multicast {
                e.sock.join_multicast()?;
            }
            return Ok(());
        }
        let sock = Arc::new(VrrpSocket::open(&link.name, link.index, family, multicast)?);
        let reader = tokio::spawn(read_loop(key, sock.clone(), self.tx.clone()));
        self.open.insert(key, SocketEntry { sock, reader });
        Ok(())
    }

    /// The AH socket of an interface.
    pub fn get_ah(&self, ifindex: u32) -> Option<&VrrpSocket> {
        self.ah.get(&ifindex).map(|e| e.sock.as_ref())
    }

    /// Opens the AH socket for `link` unless it is open; joins the VRRP
    /// group when `multicast`.
    pub fn ensure_ah(&mut self, link: &LinkState, multicast: bool) -> io::Result<()> {
        if let Some(e) = self.ah.get(&link.index) {
            if multicast {
                e.sock.join_multicast()?;
            }
            return Ok(());
        }
        let key = SocketKey {
            ifindex: link.index,
            family: Family::V4,
        };
        let sock = Arc::new(VrrpSocket::open_ah(&link.name, link.index, multicast)?);
        let reader = tokio::spawn(read_loop(key, sock.clone(), self.tx.clone()));
        self.ah.insert(link.index, SocketEntry { sock, reader });
        Ok(())
    }

    /// Everything queued on every socket now, without waiting (what the
    /// readers have not read yet), by socket.
    pub fn drain(&self) -> Vec<(SocketKey, Vec<crate::io::vrrp_socket::Datagram>)> {
        let mut out = Vec::new();
        for (key, e) in &self.open {
            // The reader reports socket failures.
            let _ = e.sock.recv_queued(|batch| {
                out.push((*key, batch));
                true
            });
        }
        out
    }

    /// Closes the sockets no instance needs any more.
    pub fn retain(&mut self, needed: &[SocketKey], needed_ah: &[u32]) {
        self.open.retain(|k, _| needed.contains(k));
        self.ah.retain(|k, _| needed_ah.contains(k));
    }
}

/// A socket read again within this long after its last read is busy:
/// adverts are arriving faster than one wake-up each is worth.
const BUSY_GAP: Duration = Duration::from_millis(2);

/// A socket whose last read took this many datagrams is busy: its adverts
/// come in bursts (many instances on the interface).
const BUSY_BATCH: usize = 8;

/// How long a busy socket's reader waits, once a datagram is queued,
/// before reading: the rest of the burst arrives meanwhile and is read in
/// the same wake-up. A host's masters send their adverts in bursts (the
/// advert grid, `vrrp::next_advert_at`), each datagram of which used to
/// wake the reader on its own: a backup of 64 dual-stack instances at 20 ms
/// woke about 2,000 times a second for 6,400 adverts, one of 2 x 255 at
/// 20 ms 2,700 times (issue 15). A master sends about 1,000 adverts in
/// 4-5 ms on the development VM; a linger shorter than the burst wakes the
/// reader once per linger instead. Only for busy sockets, so a lone
/// advert is read at once; and a backup never takes over on an advert
/// still waiting here: the loop drains the sockets before a Master_Down
/// timer fires. The price: on a busy socket an advert is handled up to
/// about 4 ms later (tokio's timer rounds up to its next millisecond),
/// a priority-0 advert's Skew_Time takeover included.
const LINGER: Duration = Duration::from_millis(3);

/// When a socket's reader reads: at once, or after [`LINGER`] when the
/// socket is busy ([`BUSY_GAP`], [`BUSY_BATCH`]).
#[derive(Debug, Default)]
struct ReadPacing {
    last_read: Option<Instant>,
    /// Datagrams the last wake-up read.
    last_count: usize,
}

impl ReadPacing {
    /// How long to wait, once a datagram is queued, before reading it.
    fn linger(&self, now: Instant) -> Option<Duration> {
        let soon = self
            .last_read
            .is_some_and(|t| now.saturating_duration_since(t) < BUSY_GAP);
        (soon || self.last_count >= BUSY_BATCH).then_some(LINGER)
    }

    /// The socket was read empty at `now`, `count` datagrams in all.
    fn read_at(&mut self, now: Instant, count: usize) {
        self.last_read = Some(now);
        self.last_count = count;
    }

    /// The socket failed: the next datagram is read at once.
    fn reset(&mut self) {
        *self = ReadPacing::default();
    }
}

/// Reads until the daemon goes away; a failing socket is reported and
/// retried after a pause (never a busy loop).
async fn read_loop(key: SocketKey, sock: Arc<VrrpSocket>, tx: mpsc::UnboundedSender<Input>) {
    let mut pacing = ReadPacing::default();
    let mut watch = None;
    loop {
        match read_once(key, &sock, &mut watch, &mut pacing, &tx).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                if tx.send(Input::SocketFailed(key, e)).is_err() {
                    return;
                }
                watch = None;
                pacing.reset();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Waits for a datagram, lingers if the socket is busy, then hands over
/// everything queued. False when the daemon is gone.
async fn read_once(
    key: SocketKey,
    sock: &Arc<VrrpSocket>,
    watch: &mut Option<AsyncFd<Arc<VrrpSocket>>>,
    pacing: &mut ReadPacing,
    tx: &mpsc::UnboundedSender<Input>,
) -> io::Result<bool> {
    let fd = match watch {
        Some(fd) => fd,
        None => watch.insert(sock.watch()?),
    };
    let mut guard = fd.readable().await?;
    let hand_over = || sock.recv_queued(|batch| tx.send(Input::Packets(key, batch)).is_ok());
    let handed = match pacing.linger(Instant::now()) {
        None => {
            let handed = hand_over()?;
            // Read until the kernel had fewer than asked: empty then. A
            // datagram arriving since raises a new edge that tokio's
            // readiness tick keeps from being cleared here.
            guard.clear_ready();
            handed
        }
        Some(wait) => {
            // Out of epoll while the burst arrives: epoll is edge-triggered,
            // and every datagram arriving on a registered socket wakes the
            // thread even when no task waits for it. Registered again
            // before the next wait, which then sees at once what came after
            // this read.
            drop(guard);
            *watch = None;
            tokio::time::sleep(wait).await;
            hand_over()?
        }
    };
    let Some(count) = handed else {
        return Ok(false);
    };
    pacing.read_at(Instant::now(), count);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_lingers_only_while_busy() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut p = ReadPacing::default();
        assert_eq!(p.linger(t0), None, "the first datagram is read at once");
        p.read_at(t0, 1);
        assert_eq!(p.linger(ms(1)), Some(LINGER), "read again within BUSY_GAP");
        assert_eq!(p.linger(ms(2)), None, "a lone advert after a pause");
        assert_eq!(p.linger(ms(20)), None);
        p.read_at(ms(20), BUSY_BATCH - 1);
        assert_eq!(p.linger(ms(40)), None, "a few instances: at once");
        p.read_at(ms(40), BUSY_BATCH);
        assert_eq!(
            p.linger(ms(60)),
            Some(LINGER),
            "a burst: the next one lingers from its first datagram"
        );
        p.reset();
        assert_eq!(p.linger(ms(60)), None, "after a failure, at once");
    }
}
