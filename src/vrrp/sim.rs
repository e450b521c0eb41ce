//! A simulated wire of N routers in virtual time, for tests.
//!
//! Modelled on quinn-proto's `Pair::step` and smoltcp's `poll(timestamp)`:
//! nothing sleeps and nothing steps in fixed increments. [`Sim::step`] jumps
//! straight to the earliest thing that happens (a scenario operation, an
//! advert arriving, a router's [`Router::poll_at`]) and runs everything due
//! then, so a minute of VRRP at 10 ms intervals takes a few thousand steps
//! and a test sees the exact times the RFC formulas give.
//!
//! The wire is one segment: an advert a router sends reaches every other
//! router whose link is up, after the wire's delay, unless the loss model
//! drops it. Scenarios are data ([`Op`]s at times), so a new test is a
//! list, not a loop; the [`Trace`] records every action with its time and
//! router for the assertions.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::{
    Action, AnnouncePlan, Event, Found, Params, Reason, Router, State, Time, interval_to_field,
};
use crate::config::{FoundVips, InitialState, VrrpVersion};

/// Test parameters: preempting, starting as backup, one announcement, no
/// second burst or refresh.
pub fn test_params(version: VrrpVersion, priority: u8, interval: Duration) -> Params {
    Params {
        version,
        priority,
        preempt: true,
        preempt_delay: Duration::ZERO,
        advert_interval: interval,
        initial_state: InitialState::Backup,
        found_vips: FoundVips::Keep,
        announce: AnnouncePlan {
            repeat: 1,
            interval: Duration::ZERO,
            second_burst_after: Duration::ZERO,
            refresh: Duration::ZERO,
        },
        lower_priority_master: Default::default(),
    }
}

/// A router's position in the simulation.
pub type NodeId = usize;

/// What a scenario does to a router at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Any event fed to the router (Startup, Shutdown, Hold, SetPriority,
    /// Reconfigure, ...).
    Feed(NodeId, Event),
    /// The router's link goes down: it hears and sends nothing, and is told
    /// [`Event::InterfaceDown`].
    LinkDown(NodeId),
    /// The link comes back ([`Event::InterfaceUp`]).
    LinkUp(NodeId),
    /// The router is cut off the wire without noticing (a switch port or
    /// a partition): nothing it sends arrives, it hears nothing.
    Cut(NodeId),
    /// The cut ends.
    Heal(NodeId),
    /// From now on, lose adverts as `Loss` says.
    SetLoss(Loss),
    /// The router's process dies without a word (SIGKILL, the watchdog,
    /// the OOM killer): it sends and hears nothing from now on, its state
    /// is lost, and its VIPs stay where they are.
    Crash(NodeId),
    /// The dead router's process starts again (a fresh [`Router`] with
    /// the same parameters), told what it finds on the host.
    Restart(NodeId, Found),
}

/// Which adverts the wire loses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    None,
    /// Every advert sent by this router is lost.
    From(NodeId),
    /// Each advert is lost with this probability (per mille), from a
    /// seeded generator: the same seed loses the same adverts.
    Random {
        per_mille: u32,
        seed: u64,
    },
}

/// One recorded step of the simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    pub at: Time,
    pub node: NodeId,
    pub what: Traced,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Traced {
    /// An action the router returned.
    Action(Action),
    /// An advert from `from` reached this router.
    Heard { from: NodeId, priority: u8 },
    /// An advert from `from` to this router was lost on the wire.
    Lost { from: NodeId },
}

/// Everything that happened, in order.
#[derive(Debug, Clone, Default)]
pub struct Trace(pub Vec<TraceEntry>);

impl Trace {
    /// State changes as (time, router, from, to, reason).
    pub fn transitions(&self) -> Vec<(Time, NodeId, State, State, Reason)> {
        self.0
            .iter()
            .filter_map(|e| match e.what {
                Traced::Action(Action::StateChanged { from, to, reason }) => {
                    Some((e.at, e.node, from, to, reason))
                }
                _ => None,
            })
            .collect()
    }

    /// How often `node` became master.
    pub fn became_master(&self, node: NodeId) -> usize {
        self.transitions()
            .iter()
            .filter(|t| t.1 == node && t.3 == State::Master)
            .count()
    }

    /// How often `node` left MASTER.
    pub fn left_master(&self, node: NodeId) -> usize {
        self.transitions()
            .iter()
            .filter(|t| t.1 == node && t.2 == State::Master)
            .count()
    }

    /// Adverts `node` sent with priority `priority`, with their times.
    pub fn adverts(&self, node: NodeId, priority: u8) -> Vec<Time> {
        self.0
            .iter()
            .filter(|e| e.node == node && e.what == Traced::Action(Action::SendAdvert { priority }))
            .map(|e| e.at)
            .collect()
    }

    /// Who holds the VIPs over time: each change as (time, holders), from
    /// the AddVips/RemoveVips actions (a crash leaves them in place).
    pub fn vip_holders(&self) -> Vec<(Time, Vec<NodeId>)> {
        let mut holders: Vec<NodeId> = Vec::new();
        let mut out: Vec<(Time, Vec<NodeId>)> = Vec::new();
        for e in &self.0 {
            let changed = match e.what {
                Traced::Action(Action::AddVips) if !holders.contains(&e.node) => {
                    holders.push(e.node);
                    true
                }
                Traced::Action(Action::RemoveVips) if holders.contains(&e.node) => {
                    holders.retain(|n| *n != e.node);
                    true
                }
                _ => false,
            };
            if changed {
                holders.sort_unstable();
                match out.last_mut() {
                    Some(last) if last.0 == e.at => last.1 = holders.clone(),
                    _ => out.push((e.at, holders.clone())),
                }
            }
        }
        out
    }

    /// How long, between `from` and `until`, no router held the VIPs.
    pub fn vips_unheld(&self, from: Time, until: Time) -> Duration {
        let changes = self.vip_holders();
        let mut total = Duration::ZERO;
        for (i, (at, holders)) in changes.iter().enumerate() {
            let end = changes.get(i + 1).map_or(until, |c| c.0).min(until);
            let start = (*at).max(from);
            if holders.is_empty() && end > start {
                total += end - start;
            }
        }
        total
    }

    /// Actions of one router after a time, in order.
    pub fn actions_of(&self, node: NodeId, from: Time) -> Vec<(Time, Action)> {
        self.0
            .iter()
            .filter(|e| e.node == node && e.at >= from)
            .filter_map(|e| match &e.what {
                Traced::Action(a) => Some((e.at, a.clone())),
                _ => None,
            })
            .collect()
    }
}

struct Node {
    router: Router,
    addr: IpAddr,
    link_up: bool,
    cut: bool,
    /// The process is dead ([`Op::Crash`]) until [`Op::Restart`].
    dead: bool,
}

impl Node {
    fn on_wire(&self) -> bool {
        self.link_up && !self.cut && !self.dead
    }
}

struct InFlight {
    at: Time,
    from: NodeId,
    to: NodeId,
    event: Event,
}

/// N routers on one simulated segment.
pub struct Sim {
    now: Time,
    nodes: Vec<Node>,
    delay: Duration,
    loss: Loss,
    rng: u64,
    in_flight: VecDeque<InFlight>,
    scenario: Vec<(Time, Op)>,
    pub trace: Trace,
}

/// The address router `node` sends from: 192.0.2.(node + 1), so a later
/// router wins an equal-priority tie (RFC 5798 6.4.3).
pub fn node_addr(node: NodeId) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, node as u8 + 1))
}

/// At most this many things may happen at one instant (a loop of zero-delay
/// adverts answering each other would otherwise never end).
const MAX_WORK_PER_INSTANT: usize = 10_000;

impl Sim {
    /// Routers with these parameters, links up, on a lossless wire with no
    /// delay. Nothing runs until the scenario starts them.
    pub fn new(params: impl IntoIterator<Item = Params>) -> Sim {
        let nodes = params
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let mut router = Router::new(p);
                router.set_local_address(node_addr(i));
                Node {
                    router,
                    addr: node_addr(i),
                    link_up: true,
                    cut: false,
                    dead: false,
                }
            })
            .collect();
        Sim {
            now: Time::ZERO,
            nodes,
            delay: Duration::ZERO,
            loss: Loss::None,
            rng: 0,
            in_flight: VecDeque::new(),
            scenario: Vec::new(),
            trace: Trace::default(),
        }
    }

    /// Every advert arrives this long after it was sent.
    pub fn with_delay(mut self, delay: Duration) -> Sim {
        self.delay = delay;
        self
    }

    /// Operations to carry out at their times (in list order for equal times).
    pub fn with_scenario(mut self, ops: impl IntoIterator<Item = (Time, Op)>) -> Sim {
        self.scenario.extend(ops);
        // Stable: operations at one time keep the order they were written in.
        self.scenario.sort_by_key(|(t, _)| *t);
        self
    }

    /// All routers start at time zero.
    pub fn started(self) -> Sim {
        let ops: Vec<(Time, Op)> = (0..self.nodes.len())
            .map(|n| (Time::ZERO, Op::Feed(n, Event::Startup)))
            .collect();
        self.with_scenario(ops)
    }

    pub fn router(&self, node: NodeId) -> &Router {
        &self.nodes[node].router
    }

    pub fn states(&self) -> Vec<State> {
        self.nodes.iter().map(|n| n.router.state()).collect()
    }

    /// The routers in MASTER.
    pub fn masters(&self) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|n| self.nodes[*n].router.state() == State::Master)
            .collect()
    }

    /// When the next thing happens.
    fn next_at(&self) -> Option<Time> {
        let routers = self.nodes.iter().filter_map(|n| n.router.poll_at());
        let wire = self.in_flight.iter().map(|f| f.at);
        let ops = self.scenario.first().map(|(t, _)| *t);
        routers.chain(wire).chain(ops).min()
    }

    /// Jumps to the next time anything happens and runs all of it; false
    /// when nothing is left to happen at or before `limit`.
    pub fn step(&mut self, limit: Time) -> bool {
        let Some(at) = self.next_at().filter(|t| *t <= limit) else {
            return false;
        };
        self.now = self.now.max(at);
        for _ in 0..MAX_WORK_PER_INSTANT {
            if !self.run_one_due() {
                return true;
            }
        }
        panic!(
            "more than {MAX_WORK_PER_INSTANT} things happened at {:?}",
            self.now
        );
    }

    /// Runs the simulation until `limit` (inclusive), then sets the clock there.
    pub fn run_until(&mut self, limit: Time) {
        while self.step(limit) {}
        self.now = self.now.max(limit);
    }

    /// Runs one thing due now; false when nothing is due. Order within an
    /// instant: the scenario, then the routers' timers, then the wire, so
    /// that two timers due at the same instant fire "simultaneously" (both
    /// backups become master, then hear each other and the RFC 5798 6.4.3
    /// tie-break decides), as two real routers would.
    fn run_one_due(&mut self) -> bool {
        if self.scenario.first().is_some_and(|(t, _)| *t <= self.now) {
            let (_, op) = self.scenario.remove(0);
            self.apply_op(op);
            return true;
        }
        let due = (0..self.nodes.len()).find(|n| {
            self.nodes[*n]
                .router
                .poll_at()
                .is_some_and(|t| t <= self.now)
        });
        if let Some(n) = due {
            let actions = self.nodes[n].router.handle_timeout(self.now);
            self.carry_out(n, actions);
            return true;
        }
        if let Some(pos) = self.in_flight.iter().position(|f| f.at <= self.now) {
            let f = self.in_flight.remove(pos).expect("position is in range");
            self.deliver(f);
            return true;
        }
        false
    }

    fn apply_op(&mut self, op: Op) {
        match op {
            Op::Feed(n, event) => self.feed(n, event),
            Op::LinkDown(n) => {
                self.nodes[n].link_up = false;
                self.feed(n, Event::InterfaceDown);
            }
            Op::LinkUp(n) => {
                self.nodes[n].link_up = true;
                self.feed(n, Event::InterfaceUp);
            }
            Op::Cut(n) => self.nodes[n].cut = true,
            Op::Heal(n) => self.nodes[n].cut = false,
            Op::SetLoss(loss) => self.loss = loss,
            Op::Crash(n) => {
                let node = &mut self.nodes[n];
                node.dead = true;
                node.router = Router::new(node.router.params().clone());
                node.router.set_local_address(node.addr);
            }
            Op::Restart(n, found) => {
                self.nodes[n].dead = false;
                self.feed(n, Event::StartupWith(found));
            }
        }
    }

    fn feed(&mut self, n: NodeId, event: Event) {
        let actions = self.nodes[n].router.handle(self.now, event);
        self.carry_out(n, actions);
    }

    fn carry_out(&mut self, n: NodeId, actions: Vec<Action>) {
        for action in actions {
            if let Action::SendAdvert { priority } = action {
                self.send(n, priority);
            }
            self.trace.0.push(TraceEntry {
                at: self.now,
                node: n,
                what: Traced::Action(action),
            });
        }
    }

    fn send(&mut self, from: NodeId, priority: u8) {
        if !self.nodes[from].on_wire() {
            return;
        }
        let params = self.nodes[from].router.params();
        let event = Event::Advert {
            src: self.nodes[from].addr,
            priority,
            max_adver_int: interval_to_field(params.version, params.advert_interval),
        };
        let lost = self.loses(from);
        for to in (0..self.nodes.len()).filter(|to| *to != from) {
            if lost {
                self.trace.0.push(TraceEntry {
                    at: self.now,
                    node: to,
                    what: Traced::Lost { from },
                });
                continue;
            }
            self.in_flight.push_back(InFlight {
                at: self.now + self.delay,
                from,
                to,
                event: event.clone(),
            });
        }
    }

    fn loses(&mut self, from: NodeId) -> bool {
        match self.loss {
            Loss::None => false,
            Loss::From(n) => n == from,
            Loss::Random { per_mille, seed } => {
                if self.rng == 0 {
                    self.rng = seed | 1;
                }
                // xorshift64: deterministic for a seed.
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                (self.rng % 1000) < u64::from(per_mille)
            }
        }
    }

    fn deliver(&mut self, f: InFlight) {
        // The receiver must be on the wire when the advert arrives (one
        // already sent arrives even if its sender was cut since).
        if !self.nodes[f.to].on_wire() {
            return;
        }
        if let Event::Advert { priority, .. } = f.event {
            self.trace.0.push(TraceEntry {
                at: self.now,
                node: f.to,
                what: Traced::Heard {
                    from: f.from,
                    priority,
                },
            });
        }
        self.feed(f.to, f.event);
    }
}
