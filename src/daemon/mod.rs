//! The daemon: feeds kernel events, packets, timers and control requests
//! to the per-instance state machines and carries out their actions.
//!
//! ```text
//!  sources (tasks, input.rs)            the loop (this file)          handlers
//!  ─────────────────────────            ────────────────────          ────────
//!  VRRP sockets (sockets.rs) ─┐                                  ┌─ receive.rs: classify → advert | drop
//!  netlink ───────────────────┤                                  ├─ links.rs:   kernel mirror, link gate,
//!  systemd-networkd (D-Bus) ──┼─► Input ─► select! ─► handle_input ┤              VIPs deleted under a master
//!  control socket (vipctl) ───┤              │                   ├─ networkd.rs, requests.rs, reload.rs
//!  signals ───────────────────┘              └─► timerfd ─► fire_timers
//!                                                        │
//!                      Router (vrrp, pure) ◄── feed ──────┘
//!                             │ Actions
//!                             ▼
//!                      effects.rs: adverts, VIPs (netlink), GARP/NA,
//!                             │ state changes      transitions
//!                             ▼
//!  hooks.rs: one queue task per instance/group ──► results as Input::Hook
//!  bus.rs:   every event numbered ──► vipctl watch connections (input.rs)
//! ```
//!
//! Everything that decides lives elsewhere (`vrrp`, `advert`, `config`, and
//! the pure parts here: `kernel` (the mirror and the advert-source rules),
//! `receive::classify`, `link_gate`, `reload::plan_reload`, `counters`);
//! everything that touches the kernel lives in `io`. The loop only routes.
//! It runs on one thread: an input is handled to the end (VIPs added,
//! GARPs sent) before the next one is looked at, so there are no races
//! between instances or between a packet and a timer.
//!
//! Each file owns one thing: `input` the sources, `sockets` one socket per
//! interface and family, `host` the handles and the clock, `instance` one
//! instance and its problems, `effects` carrying out actions, `lifecycle`
//! bringing instances up, keeping them whole and stopping them, `hooks`
//! notify hooks and units (run off the loop, in event order per target),
//! `bus` the event stream: events are numbered there, in the loop, so
//! their order is the order in which the loop acted.

use std::io;
use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::{Config, ConfigError};
use crate::control::{Request, Response};
use crate::io::announce::Announcer;
use crate::io::netlink::{Netlink, NetlinkError};
use crate::io::notify::Notifier;
use crate::io::timer::PreciseTimer;

mod bus;
mod counters;
mod effects;
mod health;
mod hooks;
mod host;
mod input;
mod instance;
mod kernel;
mod lifecycle;
mod link_gate;
mod links;
mod metrics;
mod networkd;
mod owners;
mod receive;
mod reload;
#[doc(hidden)]
pub mod replay;
mod requests;
mod schedule;
mod sockets;

pub use host::HOST_CHANGES;
pub use input::SIGNALS;

use crate::health::Board;
use crate::io::script::ScriptUser;
use crate::io::track::Report;
use counters::Tally;
use health::Runners;
use hooks::Hooks;
use host::Host;
use input::Input;
use instance::Instance;
use kernel::KernelView;
use networkd::NetworkdView;
use owners::Owners;
use schedule::Schedule;
use sockets::{SocketKey, Sockets};

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
    /// Scripts the configuration would run are unsafe, or their user is missing.
    #[error("{0}")]
    Scripts(String),
}

pub struct Options {
    pub config_path: PathBuf,
    pub socket_path: PathBuf,
}

struct Daemon {
    opts: Options,
    config: Config,
    host: Host,
    instances: Vec<Instance>,
    /// Packets dropped before they could be tied to an instance.
    unmatched_drops: Tally,
    networkd: NetworkdView,
    /// Trackers' states and every instance's health.
    health: Board,
    runners: Runners,
    /// Who runs scripts (None when the configuration runs none).
    script_user: Option<ScriptUser>,
    /// Where tracker runners report.
    track_tx: mpsc::UnboundedSender<Report>,
    /// Who owns which VRID on which socket.
    owners: Owners,
    /// Which router is due when.
    schedule: Schedule,
    /// `host.transitions` when the loop last acted on state changes.
    seen_transitions: u64,
    /// Some instance has `restore_pending` (checked without a scan).
    restores_pending: bool,
    /// Steps since a VIP restore became pending.
    steps_pending: u32,
    /// Reloads being parsed off the loop, and those waiting.
    reloads: reload::Reloads,
    /// Where results computed off the loop come back (reload parses).
    tx: input::InputTx,
    /// The Prometheus listener, when `metrics:` is configured.
    metrics: Option<metrics::MetricsListener>,
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run(opts: Options) -> Result<(), DaemonError> {
    let config = Config::load(&opts.config_path)?;
    let script_user = crate::io::track::security::script_user_for(&config)
        .map_err(|p| DaemonError::Scripts(p.join("; ")))?;
    let (nl, nl_events) = Netlink::open()?;
    let announcer = Announcer::open().map_err(|source| DaemonError::Io {
        what: "cannot open the AF_PACKET socket for gratuitous ARP (needs CAP_NET_RAW)".into(),
        source,
    })?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let timer = PreciseTimer::new().map_err(|source| DaemonError::Io {
        what: "cannot create the timerfd".into(),
        source,
    })?;
    input::spawn_control(input::bind_control_socket(&opts.socket_path)?, tx.clone());
    input::spawn_netlink(nl_events, tx.clone());
    input::spawn_signals(tx.clone())?;
    input::spawn_networkd(tx.clone());
    let (track_tx, track_rx) = mpsc::unbounded_channel();
    input::spawn_trackers(track_rx, tx.clone());
    let (hook_tx, hook_rx) = mpsc::unbounded_channel();
    input::spawn_hooks(hook_rx, tx.clone());

    let metrics = metrics::start(config.metrics.as_ref(), &tx)?;
    let kernel = KernelView::new(nl.links().await?, nl.addresses().await?);
    let mut d = Daemon {
        instances: config
            .instances
            .iter()
            .cloned()
            .map(Instance::new)
            .collect(),
        config,
        opts,
        host: Host::new(
            nl,
            announcer,
            kernel,
            Sockets::new(tx.clone()),
            Hooks::new(hook_tx),
        ),
        unmatched_drops: Tally::default(),
        networkd: NetworkdView::default(),
        health: Board::default(),
        runners: Runners::default(),
        script_user,
        track_tx,
        owners: Owners::default(),
        schedule: Schedule::default(),
        seen_transitions: 0,
        restores_pending: false,
        steps_pending: 0,
        reloads: reload::Reloads::default(),
        tx,
        metrics,
    };
    d.manage_networkd_files();
    d.host.hooks.configure(&d.config, d.script_user.clone());
    d.rebuild_board();
    d.start_runners();
    d.reindex();
    // Health first: an instance whose tracker says FAULT never starts as master.
    d.reconcile_health().await;
    for inst in &mut d.instances {
        d.host.activate(inst).await;
    }
    d.sync_group_links().await;
    d.seen_transitions = d.host.transitions;
    d.reindex();
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
                let reloading = d.reloads.busy();
                let packets_only = matches!(input, Input::Packets(..));
                d.handle_input(input).await;
                d.sync_indexes();
                // RELOADING=1 when a parse starts; READY=1 when the last
                // one queued is applied, valid or not (an invalid file
                // leaves the old configuration running).
                match (reloading, d.reloads.busy()) {
                    (false, true) => notify.reloading(),
                    (true, false) => notify.ready(d.status_line()),
                    _ => {}
                }
                d.after_step(&mut notify, rx.is_empty(), packets_only).await;
            }
            _ = sleep_until_opt(&timer, deadline) => {
                if d.backup_due() {
                    // A backup about to take over hears first what its
                    // master sent meanwhile: adverts read and not yet
                    // handled (the timer then comes back at once), and
                    // those still queued in the sockets. After a stall
                    // (SIGSTOP, a paused VM, a starved CPU) the timer and
                    // the adverts are ready together, and the timer must
                    // not win: tests/soak.rs saw a resumed backup take
                    // over from a master that never stopped.
                    if !rx.is_empty() {
                        continue;
                    }
                    d.drain_sockets().await;
                }
                d.fire_timers().await;
                d.sync_indexes();
                d.after_step(&mut notify, rx.is_empty(), true).await;
            }
            _ = tick_opt(&mut watchdog) => notify.watchdog(),
        }
    }
    notify.stopping();
    d.shutdown().await;
    d.finish_hooks(&mut rx).await;
    // Watchers get every event, then the end of their stream.
    d.host.bus.close(std::time::Duration::from_secs(1)).await;
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

impl Daemon {
    /// When the earliest router timer is due.
    fn next_deadline(&self) -> Option<Instant> {
        self.schedule.next().map(|t| self.host.instant(t))
    }

    /// Whether a router in BACKUP is due: its Master_Down timer would make
    /// it master.
    fn backup_due(&self) -> bool {
        let now = self.host.now();
        self.schedule.due(now).any(|idx| {
            self.instances
                .get(idx)
                .is_some_and(|i| i.router.state() == crate::vrrp::State::Backup)
        })
    }

    /// Handles what is queued on the sockets now.
    async fn drain_sockets(&mut self) {
        for (key, batch) in self.host.sockets.drain() {
            self.handle_input(Input::Packets(key, batch)).await;
        }
        self.sync_indexes();
    }

    /// The routers whose deadline has come, and only those.
    async fn fire_timers(&mut self) {
        let now = self.host.now();
        for idx in self.schedule.take_due(now) {
            let Some(inst) = self.instances.get_mut(idx) else {
                continue;
            };
            let actions = inst.router.handle_timeout(now);
            self.host.apply(inst, actions).await;
        }
    }

    /// The indexes of the instances (who owns a VRID, who is due when)
    /// rebuilt from the instances as they are: at start and when the list
    /// changes (reload).
    fn reindex(&mut self) {
        for (position, inst) in self.instances.iter_mut().enumerate() {
            inst.position = position;
        }
        self.owners = Owners::new(&self.instances);
        self.schedule.rebuild(&self.instances);
        self.host.touched.clear();
        self.host.layout_changed = false;
    }

    /// The indexes brought up to date with what the last step changed: the
    /// deadlines of the routers it fed, the owners if an interface came or
    /// went. O(changed), not O(instances).
    fn sync_indexes(&mut self) {
        for position in std::mem::take(&mut self.host.touched) {
            if let Some(inst) = self.instances.get(position) {
                self.schedule.set(position, inst.router.poll_at());
            }
        }
        if std::mem::take(&mut self.host.layout_changed) {
            self.owners = Owners::new(&self.instances);
        }
    }

    /// What only some steps make necessary, done when they did: VIPs a
    /// burst of deletions took, put back once the burst is read (`idle`: no
    /// input is waiting; or after 64 more inputs under a flood); after a
    /// state change, the groups follow members whose link is down and
    /// systemd's STATUS= shows the new states.
    async fn after_step(&mut self, notify: &mut Notifier, idle: bool, packets_only: bool) {
        if self.restores_pending {
            self.steps_pending += 1;
            if idle || self.steps_pending > 64 {
                self.steps_pending = 0;
                self.restores_pending = false;
                for idx in 0..self.instances.len() {
                    if self.instances[idx].restore_pending {
                        let inst = &mut self.instances[idx];
                        self.host.restore_vips(inst).await;
                    }
                }
            }
        }
        let changed = self.host.transitions != self.seen_transitions;
        if changed {
            self.seen_transitions = self.host.transitions;
            self.sync_group_links().await;
        }
        // STATUS= shows states and problems: only a state change or
        // something other than adverts can have changed them.
        if (changed || !packets_only) && notify.enabled() {
            notify.status(self.status_line());
        }
        self.sync_indexes();
    }

    async fn handle_input(&mut self, input: Input) {
        match input {
            Input::Packets(key, datagrams) => {
                for d in datagrams {
                    self.on_packet(key, d).await;
                }
            }
            Input::SocketFailed(key, e) => {
                warn!(
                    ifindex = key.ifindex,
                    family = %key.family,
                    "VRRP socket receive failed: {e}"
                );
            }
            Input::Netlink(ev) => self.on_netlink(ev).await,
            Input::Track(report) => self.on_track(report).await,
            Input::Control(Request::Reload, reply) => {
                self.request_reload(reload::Requester::Control(reply));
            }
            Input::Control(req, reply) => {
                let resp = match req {
                    Request::Status => Response::Status(self.status()),
                    // Answered when its parse ends (above).
                    Request::Reload => return,
                    Request::Resync { interface } => {
                        self.resync_request(interface.as_deref()).await
                    }
                    Request::Hold { interface, for_ms } => {
                        self.hold_request(&interface, for_ms).await
                    }
                    // The control server answers it with Input::Watch.
                    Request::Watch => Response::Error {
                        message: "watch is a stream: send it on its own connection".into(),
                    },
                };
                let _ = reply.send(resp);
            }
            Input::Watch(reply) => {
                if let Some(start) = self.watch_start() {
                    let _ = reply.send(start);
                }
            }
            Input::Hook(msg) => self.on_hook(msg),
            Input::Networkd(u) => self.on_networkd(u).await,
            Input::Reload => self.request_reload(reload::Requester::Signal),
            Input::ReloadParsed(parsed) => self.reload_parsed(parsed).await,
            Input::Terminate => {}
        }
    }

    /// Closes the sockets no instance needs any more.
    fn prune_sockets(&mut self) {
        let needed: Vec<SocketKey> = self
            .instances
            .iter()
            .flat_map(Instance::socket_keys)
            .collect();
        let needed_ah: Vec<u32> = self
            .instances
            .iter()
            .filter_map(Instance::ah_socket)
            .collect();
        self.host.sockets.retain(&needed, &needed_ah);
    }

    async fn shutdown(&mut self) {
        for inst in &mut self.instances {
            self.host.stop(inst).await;
        }
    }
}
