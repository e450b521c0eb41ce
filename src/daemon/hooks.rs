//! Notify hooks and units in the daemon: each state change of an instance
//! or a group becomes a job on that target's queue; a queue task runs its
//! jobs one after the other, so a target's hooks never overlap and run in
//! event order, while different targets run side by side. The loop never
//! waits for a hook: it only pushes jobs and, later, counts the results
//! the tasks send back ([`HookMsg`], an input like any other).
//!
//! A queue holds at most [`MAX_PENDING`] waiting events; past that the
//! oldest waiting ones are dropped, with a warning, and counted as failed
//! (a hook that hangs until its timeout while the instance flaps must not
//! pile up work without end). A task exists only while its queue has work.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::Daemon;
use super::bus::Bus;
use super::input::Input;
use crate::config::{Config, NotifyConfig};
use crate::control::GroupStatus;
use crate::io::script::{self, ScriptUser};
use crate::io::systemd;
use crate::notify::{
    Facts, HookEvent, HookState, MAX_PENDING, Pending, Step, Target, next_group_state, steps,
};
use crate::vrrp::State;
use crate::watch::Event;

/// How long shutdown waits for the hooks still running or waiting (STOP
/// hooks, units being stopped): within the unit's TimeoutStopSec (15 s).
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// What a queue task tells the loop.
#[derive(Debug)]
pub enum HookMsg {
    /// One step finished.
    Done(StepDone),
    /// The task ran out of work and ended (its last message).
    Idle,
}

#[derive(Debug)]
pub struct StepDone {
    pub target: Target,
    /// The event the step ran for.
    pub seq: u64,
    pub kind: &'static str,
    pub what: String,
    pub exit: String,
    pub ok: bool,
    pub output: String,
    pub duration: Duration,
}

/// An instance's state change, as effects.rs saw it (`facts.seq`: the
/// number of its `transition` event).
pub struct Change {
    pub instance: String,
    pub from: State,
    pub to: State,
    pub facts: Facts,
}

/// One event's work for one target.
struct Job {
    event: HookEvent,
    steps: Vec<Step>,
    timeout: Duration,
    user: Option<ScriptUser>,
}

/// A target's queue, shared with its task while one runs.
struct QueueState {
    pending: Pending<Job>,
    /// A task is running (or about to): pushing does not start another.
    running: bool,
}

type Queue = Arc<Mutex<QueueState>>;

fn lock(q: &Queue) -> MutexGuard<'_, QueueState> {
    q.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a target runs.
struct Hooked {
    notify: NotifyConfig,
    units: Vec<String>,
}

/// A group as its hooks see it.
struct GroupView {
    members: Vec<String>,
    state: Option<HookState>,
    /// Every member's advertised VIPs (`VIPD_VIPS`).
    vips: Vec<String>,
}

/// Results per target.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    pub failed: u64,
}

pub struct Hooks {
    hooked: BTreeMap<Target, Hooked>,
    groups: BTreeMap<String, GroupView>,
    /// Every instance's last state, for its group's.
    states: BTreeMap<String, State>,
    queues: BTreeMap<Target, Queue>,
    counts: BTreeMap<Target, Counts>,
    /// Queue tasks that have not said [`HookMsg::Idle`] yet.
    live_tasks: usize,
    script_user: Option<ScriptUser>,
    done: mpsc::UnboundedSender<HookMsg>,
}

impl Hooks {
    /// Queue tasks report on `done`.
    pub fn new(done: mpsc::UnboundedSender<HookMsg>) -> Hooks {
        Hooks {
            hooked: BTreeMap::new(),
            groups: BTreeMap::new(),
            states: BTreeMap::new(),
            queues: BTreeMap::new(),
            counts: BTreeMap::new(),
            live_tasks: 0,
            script_user: None,
            done,
        }
    }

    /// Takes the (new) configuration. Waiting jobs keep the commands they
    /// were made with (a removed instance's STOP hooks still run); groups
    /// keep their state; counters stay for the instances and groups still
    /// configured.
    pub fn configure(&mut self, config: &Config, script_user: Option<ScriptUser>) {
        self.script_user = script_user;
        self.hooked.clear();
        let wanted =
            |notify: &NotifyConfig, units: &[String]| !notify.is_empty() || !units.is_empty();
        for i in &config.instances {
            if wanted(&i.notify, &i.units) {
                self.hooked.insert(
                    Target::instance(&i.name),
                    Hooked {
                        notify: i.notify.clone(),
                        units: i.units.clone(),
                    },
                );
            }
        }
        let vips_of = |name: &str| -> Vec<String> {
            config
                .instances
                .iter()
                .filter(|i| i.name == name)
                .flat_map(|i| i.vips.iter().map(ToString::to_string))
                .collect()
        };
        let mut groups = BTreeMap::new();
        for (name, g) in &config.groups {
            if wanted(&g.notify, &g.units) {
                self.hooked.insert(
                    Target::group(name),
                    Hooked {
                        notify: g.notify.clone(),
                        units: g.units.clone(),
                    },
                );
            }
            let state = self.groups.get(name).and_then(|v| v.state);
            let view = GroupView {
                members: g.instances.clone(),
                state,
                vips: g.instances.iter().flat_map(|m| vips_of(m)).collect(),
            };
            groups.insert(name.clone(), view);
        }
        self.groups = groups;
        let configured = |t: &Target| match t.kind {
            crate::notify::TargetKind::Instance => {
                config.instances.iter().any(|i| i.name == t.name)
            }
            crate::notify::TargetKind::Group => config.groups.contains_key(&t.name),
        };
        self.states.retain(|n, _| configured(&Target::instance(n)));
        self.counts.retain(|t, _| configured(t));
        self.queues.retain(|t, q| configured(t) || lock(q).running);
    }

    /// An instance changed state (its `transition` event is out): queues
    /// its hooks, and its group's when the group changes with it.
    pub fn instance_changed(&mut self, bus: &mut Bus, c: Change) {
        self.states.insert(c.instance.clone(), c.to);
        if let Some(state) = HookState::of_instance(c.to, c.facts.reason) {
            let event = HookEvent {
                target: Target::instance(&c.instance),
                state,
                previous: c.from.to_string(),
                facts: c.facts.clone(),
            };
            self.enqueue(event, c.from == State::Master);
        }
        self.group_follows(bus, &c);
    }

    /// The group of the instance that changed: its new state, if any, is an
    /// event of its own and runs the group's hooks.
    fn group_follows(&mut self, bus: &mut Bus, c: &Change) {
        let Some((name, g)) = self
            .groups
            .iter_mut()
            .find(|(_, g)| g.members.contains(&c.instance))
        else {
            return;
        };
        let members: Vec<State> = g
            .members
            .iter()
            .map(|m| self.states.get(m).copied().unwrap_or(State::Initialize))
            .collect();
        let Some(next) = next_group_state(g.state, &members) else {
            return;
        };
        let before = g.state.replace(next);
        let previous = before.map_or_else(|| "INIT".to_string(), |s| s.to_string());
        let reason = c.facts.reason;
        info!(group = %name, from = %previous, to = %next, %reason, "group state change");
        let seq = bus.emit(Event::GroupTransition {
            group: name.clone(),
            from: previous.clone(),
            to: next,
            reason,
        });
        let event = HookEvent {
            target: Target::group(name),
            state: next,
            previous,
            facts: Facts {
                vips: g.vips.clone(),
                seq,
                ..c.facts.clone()
            },
        };
        self.enqueue(event, before == Some(HookState::Master));
    }

    /// Puts the event's steps on its target's queue, starting the queue's
    /// task when none runs.
    fn enqueue(&mut self, event: HookEvent, was_master: bool) {
        let Some(h) = self.hooked.get(&event.target) else {
            return;
        };
        let steps = steps(&h.notify, &h.units, was_master, event.state);
        if steps.is_empty() {
            return;
        }
        let target = event.target.clone();
        let job = Job {
            steps,
            timeout: h.notify.timeout,
            user: self.script_user.clone(),
            event,
        };
        let queue = self.queues.entry(target.clone()).or_insert_with(|| {
            Arc::new(Mutex::new(QueueState {
                pending: Pending::new(MAX_PENDING),
                running: false,
            }))
        });
        let (dropped, start) = {
            let mut q = lock(queue);
            let dropped = q.pending.push(job);
            (dropped, !std::mem::replace(&mut q.running, true))
        };
        if start {
            self.live_tasks += 1;
            tokio::spawn(run_queue(queue.clone(), self.done.clone()));
        }
        for d in dropped {
            warn!(on = %target, seq = d.event.facts.seq, state = %d.event.state, "notify queue full ({MAX_PENDING} events waiting): the oldest event's hooks are dropped, counted as failed");
            self.counts.entry(target.clone()).or_default().failed += 1;
        }
    }

    /// A queue task's message: counts a step's result, or that the task ended.
    pub fn take(&mut self, msg: &HookMsg) {
        match msg {
            HookMsg::Done(d) => {
                let c = self.counts.entry(d.target.clone()).or_default();
                if d.ok {
                    c.ok += 1;
                } else {
                    c.failed += 1;
                }
            }
            HookMsg::Idle => self.live_tasks = self.live_tasks.saturating_sub(1),
        }
    }

    /// Whether hooks are running or waiting (and their results not all in).
    pub fn busy(&self) -> bool {
        self.live_tasks > 0
    }

    pub fn counts(&self, target: &Target) -> Counts {
        self.counts.get(target).copied().unwrap_or_default()
    }

    /// Every group, for status.
    pub fn group_status(&self) -> Vec<GroupStatus> {
        self.groups
            .iter()
            .map(|(name, g)| {
                let c = self.counts(&Target::group(name));
                GroupStatus {
                    name: name.clone(),
                    state: g.state,
                    members: g.members.clone(),
                    notify_ok: c.ok,
                    notify_failed: c.failed,
                }
            })
            .collect()
    }
}

/// Runs a queue's jobs until it is empty, then ends (saying so last, after
/// every result).
async fn run_queue(queue: Queue, done: mpsc::UnboundedSender<HookMsg>) {
    loop {
        let job = {
            let mut q = lock(&queue);
            match q.pending.pop() {
                Some(job) => job,
                None => {
                    q.running = false;
                    break;
                }
            }
        };
        run_job(&job, &done).await;
    }
    let _ = done.send(HookMsg::Idle);
}

/// Every step of one event, in order; a failed step does not stop the
/// next (each is counted on its own).
async fn run_job(job: &Job, done: &mpsc::UnboundedSender<HookMsg>) {
    let env = job.event.env();
    for step in &job.steps {
        let started = Instant::now();
        let unit = |r: Result<(), String>| match r {
            Ok(()) => ("done".to_string(), true, String::new()),
            Err(e) => (e, false, String::new()),
        };
        let (exit, ok, output) = match step {
            Step::Command { command, .. } => {
                let ran = script::run(command, job.user.as_ref(), &env, job.timeout).await;
                (ran.exit.to_string(), ran.exit.success(), ran.output)
            }
            Step::StartUnit(u) => unit(systemd::start_unit(u).await),
            Step::StopUnit(u) => unit(systemd::stop_unit(u).await),
        };
        let _ = done.send(HookMsg::Done(StepDone {
            target: job.event.target.clone(),
            seq: job.event.facts.seq,
            kind: step.kind(),
            what: step.what(),
            exit,
            ok,
            output,
            duration: started.elapsed(),
        }));
    }
}

impl Daemon {
    /// At shutdown: waits (at most [`SHUTDOWN_WAIT`]) for the hooks still
    /// running or waiting, STOP hooks included, and takes their results;
    /// other inputs are dropped (the daemon is stopping).
    pub(super) async fn finish_hooks(&mut self, rx: &mut mpsc::UnboundedReceiver<Input>) {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
        while self.host.hooks.busy() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Input::Hook(msg))) => self.on_hook(msg),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    warn!(
                        "notify hooks still running after {}s at shutdown: they are killed",
                        SHUTDOWN_WAIT.as_secs()
                    );
                    return;
                }
            }
        }
    }

    /// A queue task's message: counted, logged and sent to the watchers.
    pub(super) fn on_hook(&mut self, msg: HookMsg) {
        self.host.hooks.take(&msg);
        let HookMsg::Done(d) = msg else {
            return;
        };
        let ms = d.duration.as_millis() as u64;
        if d.ok {
            info!(on = %d.target, seq = d.seq, kind = d.kind, command = %d.what, duration_ms = ms, output = %d.output, "notify: {}", d.exit);
        } else {
            warn!(on = %d.target, seq = d.seq, kind = d.kind, command = %d.what, duration_ms = ms, output = %d.output, "notify failed: {}", d.exit);
        }
        self.host.bus.emit(Event::Notify {
            target: d.target.name,
            target_kind: d.target.kind,
            kind: d.kind.to_string(),
            command: d.what,
            exit: d.exit,
            ok: d.ok,
            duration_ms: ms,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::Reason;
    use std::path::Path;

    fn config(notify: &str) -> Config {
        let text = format!(
            "instances:\n  - name: web\n    interface: eth0\n    vrid: 1\n    vips: [192.0.2.10/24]\n    notify: {notify}\n  - name: db\n    interface: eth0\n    vrid: 2\n    vips: [192.0.2.20/24]\n    notify: {notify}\ngroups:\n  lb: {{instances: [web, db], notify: {notify}}}\n"
        );
        Config::parse(&text, Path::new("t")).unwrap()
    }

    fn change(instance: &str, from: State, to: State, reason: Reason, seq: u64) -> Change {
        Change {
            instance: instance.into(),
            from,
            to,
            facts: Facts {
                reason,
                priority: 100,
                effective_priority: 100,
                vips: vec!["192.0.2.10/24".into()],
                master: None,
                seq,
            },
        }
    }

    /// Drains the results until every task ended.
    async fn results(
        hooks: &mut Hooks,
        rx: &mut mpsc::UnboundedReceiver<HookMsg>,
    ) -> Vec<StepDone> {
        let mut out = Vec::new();
        while hooks.busy() {
            let msg = tokio::time::timeout(Duration::from_secs(20), rx.recv())
                .await
                .expect("hooks finish")
                .expect("channel open");
            hooks.take(&msg);
            if let HookMsg::Done(d) = msg {
                out.push(d);
            }
        }
        out
    }

    // The hooks of one target run one after the other in event order (a
    // slow first hook does not let the second pass it); a group runs its
    // own once all members agree.
    #[tokio::test]
    async fn one_target_in_order_groups_when_members_agree() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut hooks = Hooks::new(tx);
        let mut bus = Bus::default();
        // Earlier events sleep longer: they would finish last if they overlapped.
        let line = r#"[/bin/sh, -c, 'sleep 0.0$((10 - VIPD_SEQ)); echo "$VIPD_KIND $VIPD_NAME $VIPD_SEQ $VIPD_STATE $VIPD_PREVIOUS"']"#;
        hooks.configure(&config(&format!("{{any: {line}}}")), None);
        use State::*;
        let seq = |bus: &mut Bus| {
            bus.emit(Event::VipsRestored {
                instance: "x".into(),
            })
        };
        for (inst, from, to, reason) in [
            ("web", Initialize, Backup, Reason::Startup),
            ("web", Backup, Master, Reason::MasterDown),
            ("db", Initialize, Backup, Reason::Startup),
            ("db", Backup, Master, Reason::MasterDown),
            ("web", Master, Initialize, Reason::Shutdown),
            ("db", Master, Initialize, Reason::Shutdown),
        ] {
            let s = seq(&mut bus);
            hooks.instance_changed(&mut bus, change(inst, from, to, reason, s));
        }
        let done = results(&mut hooks, &mut rx).await;
        let per = |kind: &str, name: &str| -> Vec<String> {
            done.iter()
                .filter(|d| d.output.starts_with(&format!("{kind} {name} ")))
                .map(|d| d.output.splitn(3, ' ').nth(2).unwrap().to_string())
                .collect()
        };
        assert_eq!(
            per("instance", "web"),
            ["1 BACKUP INIT", "3 MASTER BACKUP", "7 STOP MASTER"]
        );
        assert_eq!(
            per("instance", "db"),
            ["4 BACKUP INIT", "5 MASTER BACKUP", "8 STOP MASTER"]
        );
        // The group: BACKUP with web's start, MASTER once db is master too,
        // STOP when the last member stops; each its own event number.
        assert_eq!(
            per("group", "lb"),
            ["2 BACKUP INIT", "6 MASTER BACKUP", "9 STOP MASTER"]
        );
        assert!(done.iter().all(|d| d.ok && d.kind == "any"), "{done:?}");
        assert_eq!(
            hooks.counts(&Target::instance("web")),
            Counts { ok: 3, failed: 0 }
        );
        assert_eq!(hooks.group_status()[0].state, Some(HookState::Stop));
        assert_eq!(hooks.group_status()[0].notify_ok, 3);
    }

    // A flapping instance with a hook that hangs: at most MAX_PENDING
    // events wait, the oldest are dropped and counted as failed.
    #[tokio::test]
    async fn a_full_queue_drops_the_oldest() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut hooks = Hooks::new(tx);
        let mut bus = Bus::default();
        hooks.configure(
            &config("{any: [/bin/sh, -c, 'echo $VIPD_SEQ; [ $VIPD_SEQ -gt 1 ] || sleep 1'], timeout: 5s}"),
            None,
        );
        let n = MAX_PENDING as u64 + 3;
        hooks.instance_changed(
            &mut bus,
            change("web", State::Backup, State::Master, Reason::MasterDown, 1),
        );
        // The task takes event 1 and runs it (1 s) while the others come.
        tokio::time::sleep(Duration::from_millis(200)).await;
        for s in 2..=n {
            let (from, to) = if s % 2 == 1 {
                (State::Backup, State::Master)
            } else {
                (State::Master, State::Backup)
            };
            hooks.instance_changed(&mut bus, change("web", from, to, Reason::MasterDown, s));
        }
        let done = results(&mut hooks, &mut rx).await;
        let ran: Vec<u64> = done
            .iter()
            .filter(|d| d.target == Target::instance("web"))
            .map(|d| d.output.parse().unwrap())
            .collect();
        // The first ran at once; of the n - 1 after it, the 64 newest waited.
        let mut want = vec![1];
        want.extend(n - MAX_PENDING as u64 + 1..=n);
        assert_eq!(ran, want);
        let c = hooks.counts(&Target::instance("web"));
        assert_eq!(c.failed, n - 1 - MAX_PENDING as u64);
        assert_eq!(c.ok, 1 + MAX_PENDING as u64);
    }
}
