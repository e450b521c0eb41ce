//! The VRRP sockets: one per interface and family, shared by every
//! instance there, each with a reader task that turns what it reads into
//! daemon inputs.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

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
            loop {
                match e.sock.try_recv_batch(MAX_BATCH) {
                    Ok(batch) if batch.is_empty() => break,
                    Ok(batch) => {
                        let full = batch.len() >= MAX_BATCH;
                        out.push((*key, batch));
                        if !full {
                            break;
                        }
                    }
                    // The reader reports socket failures.
                    Err(_) => break,
                }
            }
        }
        out
    }

    /// Closes the sockets no instance needs any more.
    pub fn retain(&mut self, needed: &[SocketKey], needed_ah: &[u32]) {
        self.open.retain(|k, _| needed.contains(k));
        self.ah.retain(|k, _| needed_ah.contains(k));
    }
}

/// Datagrams read in one go (what arrived meanwhile): one trip through the
/// daemon's channel and one wake-up for many adverts under load.
const MAX_BATCH: usize = crate::io::vrrp_socket::RECV_BATCH;

/// A socket read again within this long after its last read is busy:
/// many instances' adverts are arriving.
const BUSY_GAP: Duration = Duration::from_millis(2);

/// How long a busy socket's reader waits, once a datagram is queued,
/// before reading: the rest of the burst arrives meanwhile and is read in
/// the same wake-up. A host's masters send their adverts in bursts (the
/// advert grid, `vrrp::next_advert_at`), each datagram of which used to
/// wake the reader on its own: a backup of 64 dual-stack instances at 20 ms
/// woke about 2,000 times a second for 6,400 adverts (issue 15). Only in
/// busy periods, so a lone advert is read at once; and a backup never
/// takes over on an advert still waiting here: the loop drains the sockets
/// before a Master_Down timer fires. The price: under load an advert is
/// handled up to about 2 ms (tokio's timer rounds 1 ms up) later, a
/// priority-0 advert's Skew_Time takeover included.
const LINGER: Duration = Duration::from_millis(1);

/// Reads until the daemon goes away; a failing socket is reported and
/// retried after a pause (never a busy loop).
async fn read_loop(key: SocketKey, sock: Arc<VrrpSocket>, tx: mpsc::UnboundedSender<Input>) {
    let mut last_read: Option<std::time::Instant> = None;
    loop {
        let busy = last_read.is_some_and(|t| t.elapsed() < BUSY_GAP);
        let read = async {
            if busy {
                sock.readable().await?;
                tokio::time::sleep(LINGER).await;
            }
            // Everything queued, in batches of MAX_BATCH.
            loop {
                let batch = sock.recv_batch(MAX_BATCH).await?;
                let full = batch.len() >= MAX_BATCH;
                if tx.send(Input::Packets(key, batch)).is_err() {
                    return Ok(false);
                }
                if !full {
                    return Ok(true);
                }
            }
        };
        match read.await {
            Ok(true) => last_read = Some(std::time::Instant::now()),
            Ok(false) => return,
            Err(e) => {
                if tx.send(Input::SocketFailed(key, e)).is_err() {
                    return;
                }
                last_read = None;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
