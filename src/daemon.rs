//! The daemon loop: feeds kernel events, packets, timers and control
//! requests to the per-instance state machines and carries out their actions.
//!
//! Everything that decides lives elsewhere (`vrrp`, `advert`, `config`);
//! everything that touches the kernel lives in `io`. This file only routes.
//! It runs on one thread: an event is handled to the end (VIPs added,
//! GARPs sent) before the next one is looked at, so there are no races
//! between instances or between a packet and a timer.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::advert;
use crate::config::{Config, ConfigError, InstanceConfig, Vip, VipDeviceKind};
use crate::control::{InstanceStatus, Request, Response, Status, Transition};
use crate::family::Family;
use crate::io::announce::Announcer;
use crate::io::netlink::{AddrEntry, LinkState, Netlink, NetlinkError, NetlinkEvent, virtual_mac};
use crate::io::networkd_dbus::{self, LinkView, NetworkdUpdate};
use crate::io::notify::Notifier;
use crate::io::timer::PreciseTimer;
use crate::io::vrrp_socket::{Received, VrrpSocket};
use crate::vrrp::{Action, Event, Params, Router, State, Time};
use crate::wire::vrrp::{VRRP_MCAST_V4, VRRP_MCAST_V6};

/// Failures that stop the daemon, each with what to do.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Netlink(#[from] NetlinkError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

pub struct Options {
    pub config_path: PathBuf,
    pub socket_path: PathBuf,
}

/// A socket is shared by every instance on one interface and family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SockKey {
    ifindex: u32,
    family: Family,
}

enum Input {
    Packet(SockKey, Received),
    SocketFailed(SockKey, io::Error),
    Netlink(NetlinkEvent),
    Control(Request, oneshot::Sender<Response>),
    Networkd(NetworkdUpdate),
    Reload,
    Terminate,
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

#[derive(Default)]
struct Counters {
    adverts_sent: u64,
    adverts_received: u64,
    became_master: u64,
    vips_restored: u64,
    drops: BTreeMap<&'static str, u64>,
}

struct Instance {
    cfg: InstanceConfig,
    router: Router,
    /// The interface's index once it exists.
    ifindex: Option<u32>,
    counters: Counters,
    transition: Option<Transition>,
    problem: Option<String>,
    /// A VIP device (MACVLAN/IPVLAN) this daemon created and must remove.
    created_device: Option<String>,
    /// The interface came back up but the VIP device has no carrier yet
    /// (the kernel passes it on from the parent a little later, through its
    /// link watch): the router is told the link is up only then, since the
    /// announcements it would send at once leave through that device and
    /// would be dropped by its still inactive queue.
    up_waits_for_device: bool,
}

impl Instance {
    fn new(cfg: InstanceConfig) -> Instance {
        Instance {
            router: Router::new(Params::from_config(&cfg)),
            cfg,
            ifindex: None,
            counters: Counters::default(),
            transition: None,
            problem: None,
            created_device: None,
            up_waits_for_device: false,
        }
    }

    fn drop_packet(&mut self, reason: &'static str) {
        *self.counters.drops.entry(reason).or_default() += 1;
    }
}

struct Daemon {
    opts: Options,
    config: Config,
    nl: Netlink,
    announcer: Announcer,
    epoch: Instant,
    links: HashMap<u32, LinkState>,
    addrs: Vec<AddrEntry>,
    sockets: HashMap<SockKey, SocketEntry>,
    instances: Vec<Instance>,
    unmatched_drops: BTreeMap<&'static str, u64>,
    /// systemd-networkd's view of each link it manages, by ifindex.
    networkd_links: BTreeMap<u32, LinkView>,
    /// "connected", or why networkd is not followed.
    networkd_status: String,
    tx: mpsc::UnboundedSender<Input>,
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run(opts: Options) -> Result<(), DaemonError> {
    let config = Config::load(&opts.config_path)?;
    let (nl, mut nl_events) = Netlink::open()?;
    let announcer = Announcer::open().map_err(io_err(
        "cannot open the AF_PACKET socket for gratuitous ARP (needs CAP_NET_RAW)",
    ))?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let timer = PreciseTimer::new().map_err(io_err("cannot create the timerfd"))?;

    let listener = bind_control_socket(&opts.socket_path)?;
    tokio::spawn(accept_control(listener, tx.clone()));
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = nl_events.recv().await {
                if tx.send(Input::Netlink(ev)).is_err() {
                    return;
                }
            }
        });
    }
    spawn_signals(tx.clone())?;
    {
        let (ntx, mut nrx) = mpsc::unbounded_channel();
        tokio::spawn(networkd_dbus::follow(ntx, Duration::from_secs(5)));
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(u) = nrx.recv().await {
                if tx.send(Input::Networkd(u)).is_err() {
                    return;
                }
            }
        });
    }

    let mut d = Daemon {
        opts,
        config: config.clone(),
        nl,
        announcer,
        epoch: Instant::now(),
        links: HashMap::new(),
        addrs: Vec::new(),
        sockets: HashMap::new(),
        instances: config
            .instances
            .iter()
            .cloned()
            .map(Instance::new)
            .collect(),
        unmatched_drops: BTreeMap::new(),
        networkd_links: BTreeMap::new(),
        networkd_status: "not connected yet".into(),
        tx,
    };
    d.manage_networkd_files();
    d.refresh_kernel_view().await?;
    for i in 0..d.instances.len() {
        d.activate(i).await;
    }
    info!(instances = d.instances.len(), config = %d.opts.config_path.display(), "vipd started");
    // systemd (Type=notify): ready only now, with instances started; the
    // watchdog is fed from this loop, so a loop that hangs gets vipd restarted.
    let mut notify = Notifier::from_env();
    notify.ready(d.status_line());
    let mut watchdog = notify.watchdog_interval().map(|p| {
        let mut i = tokio::time::interval(p);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });

    loop {
        let deadline = d.next_deadline();
        tokio::select! {
            input = rx.recv() => {
                let Some(input) = input else { break };
                if matches!(input, Input::Terminate) {
                    break;
                }
                let reload = matches!(input, Input::Reload | Input::Control(Request::Reload, _));
                if reload {
                    notify.reloading();
                }
                d.handle_input(input).await;
                if reload {
                    // READY=1 ends the reload, valid or not (an invalid
                    // file leaves the old configuration running).
                    notify.ready(d.status_line());
                }
            }
            _ = sleep_until_opt(&timer, deadline) => d.fire_timers().await,
            _ = tick_opt(&mut watchdog) => notify.watchdog(),
        }
        if notify.enabled() {
            notify.status(d.status_line());
        }
    }
    notify.stopping();
    d.shutdown().await;
    let _ = std::fs::remove_file(&d.opts.socket_path);
    info!("vipd stopped");
    Ok(())
}

/// The next watchdog tick, or never without a watchdog.
async fn tick_opt(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(timer: &PreciseTimer, deadline: Option<Instant>) {
    match deadline {
        Some(t) => {
            if let Err(e) = timer.sleep_until(t).await {
                // Never spin: fall back to tokio's millisecond timer.
                warn!("timerfd failed ({e}); using the coarse timer");
                tokio::time::sleep_until(t).await;
            }
        }
        None => std::future::pending().await,
    }
}

fn bind_control_socket(path: &Path) -> Result<UnixListener, DaemonError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    }
    // A socket left by a crashed daemon blocks bind; a live daemon answers.
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
    // Created 0600 from the start: umask first, so no window exists where
    // another user could connect.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = listener.map_err(io_err(format!("cannot listen on {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err(
        format!("cannot set mode 0600 on {}", path.display()),
    ))?;
    Ok(listener)
}

async fn accept_control(listener: UnixListener, tx: mpsc::UnboundedSender<Input>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut line = String::new();
            let mut reader = BufReader::new(r);
            if reader.read_line(&mut line).await.is_err() {
                return;
            }
            let response = match serde_json::from_str::<Request>(&line) {
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
        });
    }
}

fn spawn_signals(tx: mpsc::UnboundedSender<Input>) -> Result<(), DaemonError> {
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

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Daemon {
    fn now(&self) -> Time {
        Time::from_epoch(Instant::now().saturating_duration_since(self.epoch))
    }

    /// The instance states for systemd's STATUS= line.
    fn status_line(&self) -> String {
        crate::io::notify::status_line(
            self.instances
                .iter()
                .map(|i| (i.cfg.name.as_str(), i.router.state(), i.problem.is_some())),
        )
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.instances
            .iter()
            .filter_map(|i| i.router.poll_at())
            .min()
            .map(|t| self.epoch + t.since_epoch())
    }

    async fn refresh_kernel_view(&mut self) -> Result<(), DaemonError> {
        self.links = self
            .nl
            .links()
            .await?
            .into_iter()
            .map(|l| (l.index, l))
            .collect();
        self.addrs = self.nl.addresses().await?;
        Ok(())
    }

    fn link_by_name(&self, name: &str) -> Option<&LinkState> {
        self.links.values().find(|l| l.name == name)
    }

    fn is_own_address(&self, a: IpAddr) -> bool {
        self.addrs.iter().any(|e| e.address == a)
    }

    /// Brings an instance up: finds its interface, creates its VIP device and
    /// sockets, and starts its state machine. Problems are recorded in the
    /// instance (shown by `vipctl status`) and retried on link events.
    async fn activate(&mut self, idx: usize) {
        let name = self.instances[idx].cfg.interface.clone();
        let Some(link) = self.link_by_name(&name).cloned() else {
            let inst = &mut self.instances[idx];
            if inst.problem.is_none() {
                warn!(instance = %inst.cfg.name, interface = %name, "interface not found; waiting for it to appear");
            }
            inst.problem = Some(format!("interface {name} not found; waiting for it"));
            return;
        };
        self.instances[idx].ifindex = Some(link.index);
        if let Err(e) = self.ensure_vip_device(idx, &link).await {
            let inst = &mut self.instances[idx];
            error!(instance = %inst.cfg.name, "{e}");
            inst.problem = Some(e.to_string());
            return;
        }
        let families: Vec<Family> = self.instances[idx].cfg.families().collect();
        for family in families {
            let multicast = self.instances[idx].cfg.unicast.is_none();
            if let Err(e) = self.ensure_socket(&link, family, multicast) {
                let inst = &mut self.instances[idx];
                let msg = format!(
                    "cannot open the {family} VRRP socket on {}: {e} (vipd needs CAP_NET_RAW)",
                    link.name
                );
                error!(instance = %inst.cfg.name, "{msg}");
                inst.problem = Some(msg);
                return;
            }
        }
        self.instances[idx].problem = None;
        self.update_local_addresses(idx);
        let now = self.now();
        let mut actions = Vec::new();
        if !link.running() {
            actions.extend(self.instances[idx].router.handle(now, Event::InterfaceDown));
        }
        actions.extend(self.instances[idx].router.handle(now, Event::Startup));
        self.apply(idx, actions).await;
        // A vipd that died without cleaning up (SIGKILL, systemd's watchdog,
        // OOM) leaves its VIPs behind; the restarted one starts as backup
        // and must not hold them while another router is master.
        if self.instances[idx].router.state() != State::Master
            && self.missing_vips(idx) < self.instances[idx].cfg.all_vips().count()
        {
            warn!(instance = %self.instances[idx].cfg.name, "VIPs found on the interface at startup (left by a vipd that did not stop cleanly?); removing them");
            self.apply(idx, vec![Action::RemoveVips]).await;
        }
    }

    async fn ensure_vip_device(
        &mut self,
        idx: usize,
        parent: &LinkState,
    ) -> Result<(), NetlinkError> {
        let made = ensure_vip_device(&self.nl, &self.instances[idx].cfg, parent).await?;
        if let VipDeviceOutcome::Created(name) = &made {
            info!(instance = %self.instances[idx].cfg.name, device = %name, "created VIP device");
            self.instances[idx].created_device = Some(name.clone());
        }
        if let VipDeviceOutcome::Created(name) | VipDeviceOutcome::Existed(name) = &made
            && self.link_by_name(name).is_none()
        {
            self.refresh_kernel_view().await.ok();
        }
        Ok(())
    }

    fn ensure_socket(
        &mut self,
        link: &LinkState,
        family: Family,
        multicast: bool,
    ) -> io::Result<()> {
        let key = SockKey {
            ifindex: link.index,
            family,
        };
        if let Some(e) = self.sockets.get(&key) {
            if multicast {
                e.sock.join_multicast()?;
            }
            return Ok(());
        }
        let sock = Arc::new(VrrpSocket::open(&link.name, link.index, family, multicast)?);
        let reader = {
            let sock = sock.clone();
            let tx = self.tx.clone();
            tokio::spawn(async move {
                loop {
                    let input = match sock.recv().await {
                        Ok(p) => Input::Packet(key, p),
                        Err(e) => {
                            let input = Input::SocketFailed(key, e);
                            if tx.send(input).is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    if tx.send(input).is_err() {
                        return;
                    }
                }
            })
        };
        self.sockets.insert(key, SocketEntry { sock, reader });
        Ok(())
    }

    /// Drops sockets no instance needs any more.
    fn prune_sockets(&mut self) {
        let needed: Vec<SockKey> = self
            .instances
            .iter()
            .filter_map(|i| i.ifindex.map(|ix| (ix, &i.cfg)))
            .flat_map(|(ix, c)| {
                c.families().map(move |family| SockKey {
                    ifindex: ix,
                    family,
                })
            })
            .collect();
        self.sockets.retain(|k, _| needed.contains(k));
    }

    /// Our primary address per family, for the equal-priority tie-break.
    fn update_local_addresses(&mut self, idx: usize) {
        for family in Family::ALL {
            if let Some(a) = self.source_address(idx, family) {
                self.instances[idx].router.set_local_address(a);
            }
        }
    }

    /// The source of our adverts for a family: the configured unicast
    /// source; else the interface's primary address (IPv4: first
    /// non-secondary address that is not a VIP; IPv6 multicast: the
    /// link-local address, RFC 5798 5.1.2.1; IPv6 unicast: a global one);
    /// else, while we hold them, one of our VIPs, so adverts continue while a
    /// DHCP address is briefly gone.
    fn source_address(&self, idx: usize, family: Family) -> Option<IpAddr> {
        let inst = &self.instances[idx];
        let cfg = &inst.cfg;
        if let Some(u) = &cfg.unicast
            && let Some(s) = u.sources.iter().find(|s| family.contains(**s))
        {
            return Some(*s);
        }
        let ifindex = inst.ifindex?;
        let is_vip = |a: &IpAddr| cfg.all_vips().any(|v| v.address == *a);
        let on_if = || {
            self.addrs
                .iter()
                .filter(move |e| e.index == ifindex && family.contains(e.address) && !e.tentative)
        };
        let pick = if family == Family::V6 {
            let ll =
                |e: &&AddrEntry| matches!(e.address, IpAddr::V6(a) if a.is_unicast_link_local());
            if cfg.unicast.is_none() {
                on_if().find(ll).map(|e| e.address)
            } else {
                on_if()
                    .find(|e| !ll(e) && !is_vip(&e.address))
                    .or_else(|| on_if().find(ll))
                    .map(|e| e.address)
            }
        } else {
            on_if()
                .find(|e| !e.secondary && !is_vip(&e.address))
                .or_else(|| on_if().find(|e| !is_vip(&e.address)))
                .map(|e| e.address)
        };
        pick.or_else(|| on_if().find(|e| is_vip(&e.address)).map(|e| e.address))
    }

    async fn fire_timers(&mut self) {
        let now = self.now();
        for idx in 0..self.instances.len() {
            if self.instances[idx]
                .router
                .poll_at()
                .is_some_and(|t| t <= now)
            {
                let actions = self.instances[idx].router.handle_timeout(now);
                self.apply(idx, actions).await;
            }
        }
    }

    async fn handle_input(&mut self, input: Input) {
        match input {
            Input::Packet(key, pkt) => self.on_packet(key, pkt).await,
            Input::SocketFailed(key, e) => {
                warn!(
                    ifindex = key.ifindex,
                    family = %key.family,
                    "VRRP socket receive failed: {e}"
                );
            }
            Input::Netlink(ev) => self.on_netlink(ev).await,
            Input::Control(req, reply) => {
                let resp = match req {
                    Request::Status => Response::Status(self.status()),
                    Request::Reload => self.reload().await,
                    Request::Resync { interface } => {
                        self.resync_request(interface.as_deref()).await
                    }
                    Request::Hold { interface, for_ms } => {
                        self.hold_request(&interface, for_ms).await
                    }
                };
                let _ = reply.send(resp);
            }
            Input::Networkd(u) => self.on_networkd(u).await,
            Input::Reload => {
                let r = self.reload().await;
                if let Response::Error { message } = r {
                    error!("reload on SIGHUP failed, configuration unchanged: {message}");
                }
            }
            Input::Terminate => {}
        }
    }

    async fn on_packet(&mut self, key: SockKey, pkt: Received) {
        if pkt.payload.is_empty() {
            *self.unmatched_drops.entry("bad_ip_header").or_default() += 1;
            return;
        }
        let vrid = pkt.payload.get(1).copied();
        let find = |d: &Daemon, vrid: u8| {
            d.instances.iter().position(|i| {
                i.ifindex == Some(key.ifindex) && i.cfg.vrid == vrid && i.cfg.advertises(key.family)
            })
        };
        let repr = match crate::wire::vrrp::parse(&pkt.payload, pkt.src, pkt.dst) {
            Ok(r) => r,
            Err(e) => {
                match vrid.and_then(|v| find(self, v)) {
                    Some(idx) => self.instances[idx].drop_packet(e.reason()),
                    None => *self.unmatched_drops.entry(e.reason()).or_default() += 1,
                }
                debug!(src = %pkt.src, "dropped VRRP packet: {e}");
                return;
            }
        };
        let Some(idx) = find(self, repr.vrid) else {
            *self.unmatched_drops.entry("unknown_vrid").or_default() += 1;
            return;
        };
        let verdict = advert::check(&self.instances[idx].cfg, &repr, pkt.src, pkt.ttl, |a| {
            self.is_own_address(a)
        });
        if let Err(r) = verdict {
            self.instances[idx].drop_packet(r.reason());
            debug!(instance = %self.instances[idx].cfg.name, src = %pkt.src, reason = r.reason(), "dropped advert");
            return;
        }
        self.instances[idx].counters.adverts_received += 1;
        let now = self.now();
        let ev = Event::Advert {
            src: pkt.src,
            priority: repr.priority,
            max_adver_int: repr.max_adver_int,
        };
        let actions = self.instances[idx].router.handle(now, ev);
        self.apply(idx, actions).await;
    }

    async fn on_netlink(&mut self, ev: NetlinkEvent) {
        match ev {
            NetlinkEvent::LinkChanged(l) => {
                let before = self.links.insert(l.index, l.clone());
                let was_running = before.as_ref().is_some_and(|b| b.running());
                for idx in 0..self.instances.len() {
                    let device = self.instances[idx].cfg.vip_device_name();
                    if self.instances[idx].up_waits_for_device
                        && device.as_deref() == Some(l.name.as_str())
                    {
                        if l.running() {
                            self.device_ready(idx).await;
                        }
                        continue;
                    }
                    if self.instances[idx].cfg.interface != l.name {
                        continue;
                    }
                    if self.instances[idx].ifindex != Some(l.index) {
                        self.activate(idx).await;
                        continue;
                    }
                    let now = self.now();
                    let ev = match (was_running, l.running()) {
                        (true, false) if self.instances[idx].up_waits_for_device => {
                            // Down again before the router heard it was up.
                            self.instances[idx].up_waits_for_device = false;
                            continue;
                        }
                        (true, false) => Event::InterfaceDown,
                        (false, true)
                            if device
                                .as_deref()
                                .and_then(|d| self.link_by_name(d))
                                .is_some_and(|d| !d.running()) =>
                        {
                            info!(instance = %self.instances[idx].cfg.name, interface = %l.name, "link up; waiting for the VIP device's carrier before announcing");
                            self.instances[idx].up_waits_for_device = true;
                            continue;
                        }
                        (false, true) => Event::InterfaceUp,
                        _ => continue,
                    };
                    info!(instance = %self.instances[idx].cfg.name, interface = %l.name, up = l.running(), "link state changed");
                    let actions = self.instances[idx].router.handle(now, ev);
                    self.apply(idx, actions).await;
                }
            }
            NetlinkEvent::LinkRemoved { index, .. } => {
                let gone = self.links.remove(&index);
                self.addrs.retain(|a| a.index != index);
                for idx in 0..self.instances.len() {
                    if self.instances[idx].ifindex == Some(index) {
                        let now = self.now();
                        let actions = self.instances[idx].router.handle(now, Event::InterfaceDown);
                        self.apply(idx, actions).await;
                        self.instances[idx].ifindex = None;
                        self.instances[idx].problem = Some(format!(
                            "interface {} was removed; waiting for it",
                            self.instances[idx].cfg.interface
                        ));
                    } else if let Some(g) = &gone
                        && self.instances[idx].cfg.vip_device_name().as_deref()
                            == Some(g.name.as_str())
                    {
                        if self.instances[idx].up_waits_for_device {
                            // The device the link-up waited for is gone:
                            // the router hears now that the link is up.
                            self.device_ready(idx).await;
                        }
                        if self.instances[idx].router.state() == State::Master {
                            // Our VIP device vanished under a master:
                            // recreate it and restore the VIPs in place.
                            warn!(instance = %self.instances[idx].cfg.name, device = %g.name, "VIP device removed; recreating it");
                            if let Some(parent) = self.instances[idx]
                                .ifindex
                                .and_then(|i| self.links.get(&i))
                                .cloned()
                                && let Err(e) = self.ensure_vip_device(idx, &parent).await
                            {
                                error!(instance = %self.instances[idx].cfg.name, "{e}");
                            }
                            self.restore_vips(idx).await;
                        }
                    }
                }
                self.prune_sockets();
            }
            NetlinkEvent::AddressAdded(a) => {
                match self
                    .addrs
                    .iter_mut()
                    .find(|e| e.index == a.index && e.address == a.address)
                {
                    Some(e) => *e = a,
                    None => self.addrs.push(a),
                }
                self.refresh_sources_on(a.index);
            }
            NetlinkEvent::AddressRemoved(a) => {
                self.addrs
                    .retain(|e| !(e.index == a.index && e.address == a.address));
                self.refresh_sources_on(a.index);
                let owners: Vec<usize> = (0..self.instances.len())
                    .filter(|&i| {
                        let inst = &self.instances[i];
                        inst.router.state() == State::Master
                            && inst.cfg.all_vips().any(|v| {
                                v.address == a.address
                                    && self.link_by_name(&inst.cfg.device_for(v)).map(|l| l.index)
                                        == Some(a.index)
                            })
                    })
                    .collect();
                for idx in owners {
                    warn!(instance = %self.instances[idx].cfg.name, vip = %a.address, "VIP deleted by someone else; restoring it");
                    self.restore_vips(idx).await;
                }
            }
        }
    }

    async fn on_networkd(&mut self, update: NetworkdUpdate) {
        match update {
            NetworkdUpdate::Connected(links) => {
                info!(links = links.len(), "following systemd-networkd over D-Bus");
                self.networkd_links = links;
                self.networkd_status = "connected".into();
                // VIPs may have been purged while networkd was out of sight.
                for idx in 0..self.instances.len() {
                    self.resync(idx).await;
                }
            }
            NetworkdUpdate::Unavailable(why) => {
                info!(
                    "systemd-networkd is not followed ({why}); VIPs are still watched through netlink"
                );
                self.networkd_links.clear();
                self.networkd_status = why;
            }
            NetworkdUpdate::Changed(c) => {
                let view = self.networkd_links.entry(c.ifindex).or_default();
                let before = view.administrative_state.clone();
                view.apply(&c.changed);
                let after = view.administrative_state.clone();
                if before == after {
                    return;
                }
                let name = self
                    .links
                    .get(&c.ifindex)
                    .map(|l| l.name.clone())
                    .unwrap_or_default();
                info!(interface = %name, from = ?before, to = ?after, "systemd-networkd link state");
                // networkd finished (re)configuring the link: whatever it
                // flushed in between must be back now.
                if matches!(
                    after.as_deref(),
                    Some("configured" | "unmanaged" | "failed" | "linger")
                ) {
                    for idx in 0..self.instances.len() {
                        if self.instance_uses_link(idx, c.ifindex) {
                            self.resync(idx).await;
                        }
                    }
                }
            }
        }
    }

    /// Whether an instance runs on, or puts VIPs on, link `ifindex`.
    fn instance_uses_link(&self, idx: usize, ifindex: u32) -> bool {
        let inst = &self.instances[idx];
        inst.ifindex == Some(ifindex)
            || inst.cfg.all_vips().any(|v| {
                self.vip_device_index(&inst.cfg, v)
                    .is_some_and(|(ix, _)| ix == ifindex)
            })
    }

    /// VIPs of an instance that are not on their device right now.
    fn missing_vips(&self, idx: usize) -> usize {
        let cfg = &self.instances[idx].cfg;
        cfg.all_vips().filter(|v| !self.vip_present(cfg, v)).count()
    }

    /// Whether `vip` is on its device right now, as the kernel last told us.
    fn vip_present(&self, cfg: &InstanceConfig, vip: &Vip) -> bool {
        self.vip_device_index(cfg, vip).is_some_and(|(ix, _)| {
            self.addrs
                .iter()
                .any(|e| e.index == ix && e.address == vip.address)
        })
    }

    /// A master puts back whatever is missing (VIP device, VIPs); returns
    /// whether anything was.
    async fn resync(&mut self, idx: usize) -> bool {
        if self.instances[idx].router.state() != State::Master {
            return false;
        }
        if let Some(dev) = self.instances[idx].cfg.vip_device_name()
            && self.link_by_name(&dev).is_none()
            && let Some(parent) = self.instances[idx]
                .ifindex
                .and_then(|i| self.links.get(&i))
                .cloned()
        {
            warn!(instance = %self.instances[idx].cfg.name, device = %dev, "VIP device missing; recreating it");
            if let Err(e) = self.ensure_vip_device(idx, &parent).await {
                error!(instance = %self.instances[idx].cfg.name, "{e}");
            }
        }
        let missing = self.missing_vips(idx);
        if missing == 0 {
            return false;
        }
        warn!(instance = %self.instances[idx].cfg.name, missing, "VIPs missing on resync; restoring them");
        self.restore_vips(idx).await;
        true
    }

    async fn resync_request(&mut self, interface: Option<&str>) -> Response {
        let mut instances = Vec::new();
        let mut restored = Vec::new();
        for idx in 0..self.instances.len() {
            let cfg = &self.instances[idx].cfg;
            let concerned = match interface {
                None => true,
                Some(name) => {
                    cfg.interface == name || cfg.all_vips().any(|v| cfg.device_for(v) == name)
                }
            };
            if !concerned {
                continue;
            }
            let name = cfg.name.clone();
            instances.push(name.clone());
            if self.resync(idx).await {
                restored.push(name);
            }
        }
        Response::Resynced {
            instances,
            restored,
        }
    }

    /// `vipctl hold`: the instances on `interface` keep their state through
    /// a link-down for `for_ms` (0 cancels).
    async fn hold_request(&mut self, interface: &str, for_ms: u64) -> Response {
        if for_ms > crate::control::MAX_HOLD_MS {
            return Response::Error {
                message: format!(
                    "hold of {for_ms} ms refused: at most {} ms (a longer bounce is an outage: let the instance go FAULT)",
                    crate::control::MAX_HOLD_MS
                ),
            };
        }
        let now = self.now();
        let until = now + Duration::from_millis(for_ms);
        let mut instances = Vec::new();
        for idx in 0..self.instances.len() {
            if self.instances[idx].cfg.interface != interface {
                continue;
            }
            instances.push(self.instances[idx].cfg.name.clone());
            info!(instance = %self.instances[idx].cfg.name, %interface, for_ms, "hold: a link-down within this time keeps the state");
            let actions = self.instances[idx]
                .router
                .handle(now, Event::Hold { until });
            self.apply(idx, actions).await;
        }
        Response::Held { instances, for_ms }
    }

    /// With `networkd: {manage_files: true}`: writes networkd's files as
    /// `vipctl networkd install` does and, when they changed, asks networkd
    /// to reload (in the background: D-Bus must never hold up VRRP).
    fn manage_networkd_files(&self) {
        if !self.config.networkd.manage_files {
            return;
        }
        let path = std::path::absolute(&self.opts.config_path)
            .unwrap_or_else(|_| self.opts.config_path.clone());
        let version = crate::networkd::install::live_systemd_version();
        match crate::networkd::install::install(&self.config, &path, Path::new("/"), version, false)
        {
            Ok(outcome) => {
                for n in &outcome.plan.notes {
                    info!("networkd files: {n}");
                }
                if let Some(s) = &outcome.summary {
                    for p in s.written.iter().chain(&s.removed) {
                        info!(path = %p.display(), "networkd file changed");
                    }
                }
                if outcome.changed() {
                    tokio::spawn(async {
                        let r =
                            async { networkd_dbus::NetworkdBus::connect().await?.reload().await }
                                .await;
                        match r {
                            Ok(()) => info!("asked systemd-networkd to reload its files"),
                            Err(e) => warn!("networkd files written but not reloaded: {e}"),
                        }
                    });
                }
            }
            Err(e) => error!("cannot write systemd-networkd files: {e}"),
        }
    }

    async fn restore_vips(&mut self, idx: usize) {
        self.instances[idx].counters.vips_restored += 1;
        let now = self.now();
        let actions = self.instances[idx].router.handle(now, Event::VipsLost);
        self.apply(idx, actions).await;
    }

    fn refresh_sources_on(&mut self, ifindex: u32) {
        for idx in 0..self.instances.len() {
            if self.instances[idx].ifindex == Some(ifindex) {
                self.update_local_addresses(idx);
            }
        }
    }

    /// Resolves the device index a VIP goes on.
    /// The VIP device a link-up waited for has its carrier (or is gone):
    /// the router hears now that the link is up.
    async fn device_ready(&mut self, idx: usize) {
        self.instances[idx].up_waits_for_device = false;
        let now = self.now();
        info!(instance = %self.instances[idx].cfg.name, interface = %self.instances[idx].cfg.interface, up = true, "link state changed");
        let actions = self.instances[idx].router.handle(now, Event::InterfaceUp);
        self.apply(idx, actions).await;
    }

    fn vip_device_index(&self, cfg: &InstanceConfig, vip: &Vip) -> Option<(u32, String)> {
        let name = cfg.device_for(vip);
        self.link_by_name(&name).map(|l| (l.index, name))
    }

    async fn apply(&mut self, idx: usize, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::SendAdvert { priority } => self.send_adverts(idx, priority),
                Action::AddVips => {
                    let cfg = self.instances[idx].cfg.clone();
                    for vip in cfg.all_vips() {
                        match self.vip_device_index(&cfg, vip) {
                            Some((ix, dev)) => {
                                if let Err(e) = self.nl.add_vip(ix, &dev, vip).await {
                                    error!(instance = %cfg.name, "{e}");
                                }
                            }
                            None => {
                                error!(instance = %cfg.name, vip = %vip, device = %cfg.device_for(vip), "cannot add VIP: device not found")
                            }
                        }
                    }
                }
                Action::RemoveVips => {
                    let cfg = self.instances[idx].cfg.clone();
                    for vip in cfg.all_vips() {
                        if let Some((ix, dev)) = self.vip_device_index(&cfg, vip)
                            && let Err(e) = self.nl.del_vip(ix, &dev, vip).await
                        {
                            error!(instance = %cfg.name, "{e}");
                        }
                    }
                }
                Action::Announce { rounds } => self.announce(idx, rounds),
                Action::StateChanged { from, to, reason } => {
                    let inst = &mut self.instances[idx];
                    info!(instance = %inst.cfg.name, vrid = inst.cfg.vrid, %from, %to, %reason, "state change");
                    if to == State::Master {
                        inst.counters.became_master += 1;
                    }
                    inst.transition = Some(Transition {
                        from,
                        to,
                        reason,
                        unix_time: unix_now(),
                    });
                }
            }
        }
    }

    fn send_adverts(&mut self, idx: usize, priority: u8) {
        let Some(ifindex) = self.instances[idx].ifindex else {
            return;
        };
        let families: Vec<Family> = self.instances[idx].cfg.families().collect();
        for family in families {
            let cfg = &self.instances[idx].cfg;
            let Some(src) = self.source_address(idx, family) else {
                self.instances[idx].drop_packet("send_no_source_address");
                continue;
            };
            let repr = advert::build(cfg, family, priority);
            let dsts: Vec<IpAddr> = match &cfg.unicast {
                Some(u) => u
                    .peers
                    .iter()
                    .copied()
                    .filter(|p| family.contains(*p))
                    .collect(),
                None => match family {
                    Family::V4 => vec![IpAddr::V4(VRRP_MCAST_V4)],
                    Family::V6 => vec![IpAddr::V6(VRRP_MCAST_V6)],
                },
            };
            let Some(sock) = self
                .sockets
                .get(&SockKey { ifindex, family })
                .map(|e| e.sock.clone())
            else {
                continue;
            };
            for dst in dsts {
                let sent = repr
                    .to_bytes(src, dst)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
                    .and_then(|bytes| sock.send(&bytes, src, dst));
                match sent {
                    Ok(()) => self.instances[idx].counters.adverts_sent += 1,
                    Err(e) => {
                        self.instances[idx].drop_packet("send_failed");
                        debug!(instance = %self.instances[idx].cfg.name, %dst, "advert not sent: {e}");
                    }
                }
            }
        }
    }

    fn link_local_of(&self, ifindex: u32) -> Option<Ipv6Addr> {
        self.addrs.iter().find_map(|e| match e.address {
            IpAddr::V6(a) if e.index == ifindex && a.is_unicast_link_local() && !e.tentative => {
                Some(a)
            }
            _ => None,
        })
    }

    fn announce(&mut self, idx: usize, rounds: u32) {
        let cfg = &self.instances[idx].cfg;
        let mut targets = Vec::new();
        for vip in cfg.all_vips() {
            if let Some((ix, _)) = self.vip_device_index(cfg, vip)
                && let Some(mac) = self.links.get(&ix).and_then(|l| l.mac)
            {
                targets.push((ix, mac, vip.address, self.link_local_of(ix)));
            }
        }
        let mut failed = 0u64;
        for _ in 0..rounds {
            for (ix, mac, addr, ll) in &targets {
                if let Err(e) = self.announcer.announce(*ix, *mac, *addr, *ll) {
                    failed += 1;
                    debug!(vip = %addr, "announcement not sent: {e}");
                }
            }
        }
        if failed > 0 {
            *self.instances[idx]
                .counters
                .drops
                .entry("announce_failed")
                .or_default() += failed;
        }
    }

    fn status(&self) -> Status {
        let instances = self
            .instances
            .iter()
            .enumerate()
            .map(|(idx, inst)| {
                let cfg = &inst.cfg;
                let r = &inst.router;
                let vips_present = cfg.all_vips().filter(|v| self.vip_present(cfg, v)).count();
                // As master, our own advert source (IPv4 when the instance has it).
                let own = self.source_address(idx, cfg.mac_family());
                InstanceStatus {
                    name: cfg.name.clone(),
                    interface: cfg.interface.clone(),
                    vrid: cfg.vrid,
                    version: cfg.version.number(),
                    state: r.state(),
                    priority: cfg.priority,
                    effective_priority: r.priority(),
                    master_address: if r.state() == State::Master {
                        own
                    } else {
                        r.master_addr()
                    },
                    master_priority: r.master_priority(),
                    advert_interval_ms: r.master_adver_interval().as_millis() as u64,
                    vips: cfg.vips.iter().map(|v| v.to_string()).collect(),
                    excluded_vips: cfg.excluded_vips.iter().map(|v| v.to_string()).collect(),
                    vips_present,
                    last_transition: inst.transition.clone(),
                    adverts_sent: inst.counters.adverts_sent,
                    adverts_received: inst.counters.adverts_received,
                    became_master: inst.counters.became_master,
                    vips_restored: inst.counters.vips_restored,
                    drops: inst
                        .counters
                        .drops
                        .iter()
                        .map(|(k, v)| (k.to_string(), *v))
                        .collect(),
                    problem: inst.problem.clone(),
                    networkd: inst
                        .ifindex
                        .and_then(|ix| self.networkd_links.get(&ix).cloned()),
                }
            })
            .collect();
        Status {
            router_id: self.config.router_id.clone(),
            config_path: self.opts.config_path.display().to_string(),
            pid: std::process::id(),
            instances,
            unmatched_drops: self
                .unmatched_drops
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            networkd: self.networkd_status.clone(),
        }
    }

    /// Applies a new configuration. Invalid: nothing changes. Valid:
    /// instances whose configuration is identical keep their state and VIPs
    /// untouched; removed ones leave gracefully (priority 0, VIPs removed);
    /// changed ones leave and start again; new ones start.
    async fn reload(&mut self) -> Response {
        let new = match Config::load(&self.opts.config_path) {
            Ok(c) => c,
            Err(e) => {
                return Response::Error {
                    message: format!("configuration not reloaded: {e}"),
                };
            }
        };
        self.config = new.clone();
        self.manage_networkd_files();
        let mut old: Vec<Instance> = std::mem::take(&mut self.instances);
        let (mut added, mut removed, mut restarted, mut unchanged) =
            (vec![], vec![], vec![], vec![]);
        let mut next: Vec<Instance> = Vec::new();
        let mut to_start: Vec<usize> = Vec::new();
        for cfg in &new.instances {
            match old.iter().position(|i| i.cfg.name == cfg.name) {
                Some(p) if old[p].cfg == *cfg => {
                    unchanged.push(cfg.name.clone());
                    next.push(old.remove(p));
                }
                Some(p) => {
                    restarted.push(cfg.name.clone());
                    let gone = old.remove(p);
                    self.stop_instance(gone).await;
                    to_start.push(next.len());
                    next.push(Instance::new(cfg.clone()));
                }
                None => {
                    added.push(cfg.name.clone());
                    to_start.push(next.len());
                    next.push(Instance::new(cfg.clone()));
                }
            }
        }
        for gone in old {
            removed.push(gone.cfg.name.clone());
            self.stop_instance(gone).await;
        }
        self.instances = next;
        self.config = new;
        self.prune_sockets();
        for idx in to_start {
            self.activate(idx).await;
        }
        info!(
            ?added,
            ?removed,
            ?restarted,
            unchanged = unchanged.len(),
            "configuration reloaded"
        );
        Response::Reloaded {
            added,
            removed,
            restarted,
            unchanged,
        }
    }

    /// Shuts one instance down gracefully, outside the instance list.
    async fn stop_instance(&mut self, inst: Instance) {
        self.instances.push(inst);
        let idx = self.instances.len() - 1;
        let now = self.now();
        let actions = self.instances[idx].router.handle(now, Event::Shutdown);
        self.apply(idx, actions).await;
        let inst = self.instances.pop().expect("pushed above");
        if let Some(dev) = inst.created_device
            && let Some(l) = self.link_by_name(&dev).cloned()
            && let Err(e) = self.nl.delete_link(l.index, &dev).await
        {
            warn!(device = %dev, "{e}");
        }
    }

    async fn shutdown(&mut self) {
        let all: Vec<Instance> = std::mem::take(&mut self.instances);
        for inst in all {
            self.stop_instance(inst).await;
        }
    }
}

/// Best effort: a failure is logged, not fatal (the knob may not exist on
/// this kernel, or /proc/sys may be read-only in a container).
fn write_sysctl(key: &str, value: &str) {
    let path = format!("/proc/sys/{key}");
    if let Err(e) = std::fs::write(&path, value) {
        warn!("cannot set {path} to {value}: {e}");
    }
}

/// What [`ensure_vip_device`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VipDeviceOutcome {
    /// The instance puts its VIPs on its interface (or per-VIP devices).
    NotConfigured,
    /// The device was there already (made by vipd, networkd or a hook).
    Existed(String),
    Created(String),
}

/// Makes sure an instance's MACVLAN/IPVLAN device exists on `parent`, set up
/// exactly as the daemon wants it: RFC 5798 virtual MAC and bridge mode
/// (MACVLAN) or L2 mode (IPVLAN), ARP sysctls on the parent, no rp_filter,
/// no MAC-derived link-local, up. The daemon and `vipctl resync
/// --create-devices` (the networkd-dispatcher/ifupdown hooks) both call
/// this, so a device recreated by a hook is the same device.
pub async fn ensure_vip_device(
    nl: &Netlink,
    cfg: &InstanceConfig,
    parent: &LinkState,
) -> Result<VipDeviceOutcome, NetlinkError> {
    let (Some(dev), Some(name)) = (cfg.vip_device.clone(), cfg.vip_device_name()) else {
        return Ok(VipDeviceOutcome::NotConfigured);
    };
    if dev.kind == VipDeviceKind::Macvlan {
        // The parent must not tie a VIP to its own MAC: it must not
        // answer ARP for addresses on the MACVLAN (arp_ignore=1), and its
        // own ARP requests must not carry a VIP as the sender
        // (arp_announce=2), or neighbours learn the VIP at the parent's
        // MAC. Whoever created the device (vipd, or networkd from the
        // generated .netdev).
        write_sysctl(&format!("net/ipv4/conf/{}/arp_ignore", parent.name), "1");
        write_sysctl(&format!("net/ipv4/conf/{}/arp_announce", parent.name), "2");
    }
    if nl.link_by_name(&name).await?.is_some() {
        return Ok(VipDeviceOutcome::Existed(name));
    }
    let made = match dev.kind {
        VipDeviceKind::Macvlan => {
            nl.create_macvlan(parent.index, &name, virtual_mac(cfg.vrid, cfg.mac_family()))
                .await
        }
        VipDeviceKind::Ipvlan => nl.create_ipvlan(parent.index, &name).await,
    };
    if let Err(e) = made {
        // networkd (from vipd's .netdev), a hook or the daemon may create
        // the device at the same moment: "exists" means someone else made
        // it, which is fine.
        if e.errno() == Some(libc::EEXIST) {
            return Ok(VipDeviceOutcome::Existed(name));
        }
        return Err(e);
    }
    if dev.kind == VipDeviceKind::Macvlan {
        write_sysctl(&format!("net/ipv4/conf/{name}/rp_filter"), "0");
    }
    // No link-local address derived from a MAC the device shares (the
    // virtual MAC with the other routers, the parent's MAC on IPVLAN):
    // set while the device is still down, before the kernel makes one.
    write_sysctl(&format!("net/ipv6/conf/{name}/addr_gen_mode"), "1");
    if let Some(l) = nl.link_by_name(&name).await?
        && !l.up
    {
        nl.set_up(l.index, &name).await?;
    }
    Ok(VipDeviceOutcome::Created(name))
}
