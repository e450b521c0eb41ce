//! Reload without failover.
//!
//! [`plan_reload`] compares the running instances with the new file and
//! decides, per instance, what keepalived's reload does not: most changes
//! are applied to the running router in place ([`Event::Reconfigure`]), so
//! a master stays master (no priority-0 advert, no election, VIPs kept).
//! Only a change of what identifies the virtual router on the wire or
//! where it lives restarts it: VRID, interface, address families, VRRP
//! version, VIP device. The executor ([`Daemon::reload`]) carries the plan
//! out.
//!
//! The new file is read and parsed off the event loop ([`Reloads`]): on a
//! blocking thread, its result fed back as [`super::input::Input::ReloadParsed`],
//! so the routers keep advertising while a file is parsed, and the reload
//! applies, in one step of the loop, when parsing finished. Reloads asked
//! for while one is parsed are coalesced: one more parse follows, started
//! after the current one ended, and answers all of them (each answer thus
//! comes from a reading of the file made after it was asked for).

use std::collections::BTreeSet;
use std::path::PathBuf;

use tokio::sync::oneshot;
use tracing::{error, info};

use super::Daemon;
use super::input::{Input, InputTx};
use super::instance::Instance;
use crate::config::{Config, InstanceConfig, Vip};
use crate::control::{Response, UpdatedInstance};
use crate::family::Family;
use crate::io::script::ScriptUser;
use crate::vrrp::{Event, Params, State};

/// Why an instance must restart rather than change in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    /// Another virtual router (RFC 5798 5.2.3).
    Vrid,
    /// Another link: other sockets, other peers.
    Interface,
    /// An address family added or dropped: a stream of adverts starts or
    /// ends, and with it a VRID in that family's space (RFC 5798 7.3).
    Families,
    /// Another protocol: timers, fields and checksum differ.
    Version,
    /// The VIPs move to another device (or onto the interface).
    VipDevice,
}

impl RestartReason {
    pub fn field(self) -> &'static str {
        match self {
            RestartReason::Vrid => "vrid",
            RestartReason::Interface => "interface",
            RestartReason::Families => "address families",
            RestartReason::Version => "version",
            RestartReason::VipDevice => "vip_device",
        }
    }
}

/// A change applied to a running instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InPlace {
    /// The settings that changed, by their configuration key.
    pub changed: Vec<&'static str>,
    /// VIPs no longer configured (a master removes them).
    pub removed_vips: Vec<Vip>,
    /// The addresses moved or advertised changed.
    pub vips_changed: bool,
}

/// What happens to one instance, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Unchanged,
    Update(InPlace),
    Restart(RestartReason),
    Add,
    Remove,
}

/// The plan for every instance: those of the new file in its order, then
/// those it no longer has.
pub fn plan_reload(old: &[InstanceConfig], new: &[InstanceConfig]) -> Vec<(String, Plan)> {
    let mut plans: Vec<(String, Plan)> = new
        .iter()
        .map(|n| {
            let plan = match old.iter().find(|o| o.name == n.name) {
                None => Plan::Add,
                Some(o) if o == n => Plan::Unchanged,
                Some(o) => match restart_reason(o, n) {
                    Some(why) => Plan::Restart(why),
                    None => Plan::Update(in_place(o, n)),
                },
            };
            (n.name.clone(), plan)
        })
        .collect();
    plans.extend(
        old.iter()
            .filter(|o| !new.iter().any(|n| n.name == o.name))
            .map(|o| (o.name.clone(), Plan::Remove)),
    );
    plans
}

fn restart_reason(old: &InstanceConfig, new: &InstanceConfig) -> Option<RestartReason> {
    let families = |c: &InstanceConfig| c.families().collect::<Vec<Family>>();
    if old.vrid != new.vrid {
        Some(RestartReason::Vrid)
    } else if old.interface != new.interface {
        Some(RestartReason::Interface)
    } else if families(old) != families(new) {
        Some(RestartReason::Families)
    } else if old.version != new.version {
        Some(RestartReason::Version)
    } else if old.vip_device != new.vip_device {
        Some(RestartReason::VipDevice)
    } else {
        None
    }
}

/// What changed between two configurations of one instance that may change
/// in place. Every field is named here (the destructuring does not compile
/// when a field is added and forgotten).
fn in_place(old: &InstanceConfig, new: &InstanceConfig) -> InPlace {
    let InstanceConfig {
        name: _,
        interface: _,
        vrid: _,
        version: _,
        vip_device: _,
        priority,
        preempt,
        preempt_delay,
        advert_interval,
        initial_state,
        auth_type,
        found_vips,
        auth_pass,
        vips,
        excluded_vips,
        unicast,
        garp,
        track,
        notify,
        units,
        v3_ipv4_checksum,
        v3_ipv4_checksum_accept,
        dscp,
        lower_priority_master,
    } = new;
    let mut changed = Vec::new();
    let mut note = |differs: bool, key: &'static str| {
        if differs {
            changed.push(key);
        }
    };
    note(old.priority != *priority, "priority");
    note(old.preempt != *preempt, "preempt");
    note(old.preempt_delay != *preempt_delay, "preempt_delay");
    note(old.advert_interval != *advert_interval, "advert_interval");
    note(old.initial_state != *initial_state, "initial_state");
    note(old.auth_type != *auth_type, "auth_type");
    note(old.found_vips != *found_vips, "found_vips");
    note(old.auth_pass != *auth_pass, "auth_pass");
    note(old.vips != *vips, "vips");
    note(old.excluded_vips != *excluded_vips, "excluded_vips");
    note(old.unicast != *unicast, "unicast");
    note(old.garp != *garp, "garp");
    note(old.track != *track, "track");
    note(old.notify != *notify, "notify");
    note(old.units != *units, "units");
    note(
        old.v3_ipv4_checksum != *v3_ipv4_checksum,
        "v3_ipv4_checksum",
    );
    note(
        old.v3_ipv4_checksum_accept != *v3_ipv4_checksum_accept,
        "v3_ipv4_checksum_accept",
    );
    note(old.dscp != *dscp, "dscp");
    note(
        old.lower_priority_master != *lower_priority_master,
        "lower_priority_master",
    );
    let kept: BTreeSet<String> = new.all_vips().map(vip_key).collect();
    InPlace {
        changed,
        removed_vips: old
            .all_vips()
            .filter(|v| !kept.contains(&vip_key(v)))
            .cloned()
            .collect(),
        vips_changed: old.vips != *vips || old.excluded_vips != *excluded_vips,
    }
}

/// A VIP as the kernel holds it: address, prefix, device and label (a
/// change of any is a delete and an add).
fn vip_key(v: &Vip) -> String {
    format!("{v} dev={:?} label={:?}", v.dev, v.label)
}

/// Who asked for a reload: `vipctl reload` waits for its answer; SIGHUP
/// has the outcome logged.
pub enum Requester {
    Control(oneshot::Sender<Response>),
    Signal,
}

/// A configuration read and checked off the loop, ready to apply; or why not.
pub type Parsed = Result<(Config, Option<ScriptUser>), String>;

/// The reloads in flight: at most one parse running, and the requests that
/// wait for it or for the one that follows it.
#[derive(Default)]
pub struct Reloads {
    /// A parse is running; these get its outcome.
    running: Option<Vec<Requester>>,
    /// Asked for while a parse was running: served by one more parse.
    next: Vec<Requester>,
}

impl Reloads {
    /// A parse is running (systemd is told RELOADING=1 until none is).
    pub fn busy(&self) -> bool {
        self.running.is_some()
    }
}

/// Reads and checks the file on a blocking thread; the result comes back as
/// an input. A reader that dies (it does not: no panics on any input) is
/// reported as a failed reload rather than leaving the reload pending.
fn spawn_parse(path: PathBuf, tx: InputTx) {
    tokio::spawn(async move {
        let parsed = tokio::task::spawn_blocking(move || parse_file(&path))
            .await
            .unwrap_or_else(|e| Err(format!("the configuration reader failed: {e}")));
        let _ = tx.send(Input::ReloadParsed(parsed));
    });
}

/// What the loop would do at start, minus the loop: the file, then the
/// scripts it would run and their user.
fn parse_file(path: &std::path::Path) -> Parsed {
    let new = Config::load(path).map_err(|e| e.to_string())?;
    let user = crate::io::track::security::script_user_for(&new)
        .map_err(|problems| problems.join("; "))?;
    Ok((new, user))
}

impl Daemon {
    /// A reload was asked for: a parse starts, or the request waits for the
    /// parse after the running one.
    pub(super) fn request_reload(&mut self, who: Requester) {
        if self.reloads.running.is_some() {
            self.reloads.next.push(who);
            return;
        }
        self.reloads.running = Some(vec![who]);
        spawn_parse(self.opts.config_path.clone(), self.tx.clone());
    }

    /// A parse ended: apply it (or not), answer who waited, and start the
    /// parse the requests that came meanwhile wait for.
    pub(super) async fn reload_parsed(&mut self, parsed: Parsed) {
        let waiting = self.reloads.running.take().unwrap_or_default();
        let response = match parsed {
            Ok((new, user)) => self.reload(new, user).await,
            Err(message) => Response::Error {
                message: format!("configuration not reloaded: {message}"),
            },
        };
        for who in waiting {
            match who {
                Requester::Control(reply) => {
                    let _ = reply.send(response.clone());
                }
                Requester::Signal => {
                    if let Response::Error { message } = &response {
                        error!("reload on SIGHUP failed, configuration unchanged: {message}");
                    }
                }
            }
        }
        if !self.reloads.next.is_empty() {
            self.reloads.running = Some(std::mem::take(&mut self.reloads.next));
            spawn_parse(self.opts.config_path.clone(), self.tx.clone());
        }
    }

    /// Applies a new configuration, read and checked. Each instance as
    /// [`plan_reload`] says; removed ones leave gracefully (priority 0, VIPs
    /// removed).
    async fn reload(&mut self, new: Config, script_user: Option<ScriptUser>) -> Response {
        // First: the one step that can fail here (binding a new address).
        if let Err(message) = self.rebind_metrics(new.metrics.as_ref()).await {
            return Response::Error {
                message: format!("configuration not reloaded: {message}"),
            };
        }
        if self.script_user != script_user {
            // Exec trackers run as the script user: restart them all.
            self.runners = super::health::Runners::default();
        }
        self.script_user = script_user;
        let old: Vec<InstanceConfig> = self.instances.iter().map(|i| i.cfg.clone()).collect();
        let plan = plan_reload(&old, &new.instances);
        self.config = new;
        self.manage_networkd_files();
        let mut running: Vec<Instance> = std::mem::take(&mut self.instances);
        let mut take = |name: &str| {
            let pos = running.iter().position(|i| i.name() == name)?;
            Some(running.remove(pos))
        };
        let mut outcome = Outcome::default();
        let mut to_start = Vec::new();
        for (name, step) in plan {
            let new_cfg = self
                .config
                .instances
                .iter()
                .find(|c| c.name == name)
                .cloned();
            match (step, take(&name), new_cfg) {
                (Plan::Unchanged, Some(inst), _) => {
                    outcome.unchanged.push(name);
                    self.instances.push(inst);
                }
                (Plan::Update(change), Some(mut inst), Some(cfg)) => {
                    info!(instance = %name, changed = ?change.changed, "reloaded in place");
                    self.update_in_place(&mut inst, cfg, &change).await;
                    outcome.updated.push(UpdatedInstance {
                        name,
                        changed: change.changed.iter().map(|s| s.to_string()).collect(),
                    });
                    self.instances.push(inst);
                }
                (Plan::Restart(why), Some(mut inst), Some(cfg)) => {
                    info!(instance = %name, changed = why.field(), "restarting: this change cannot be made in place");
                    self.host.stop(&mut inst).await;
                    outcome.restarted.push(name);
                    to_start.push(self.instances.len());
                    self.instances.push(Instance::new(cfg));
                }
                (Plan::Add, None, Some(cfg)) => {
                    outcome.added.push(name);
                    to_start.push(self.instances.len());
                    self.instances.push(Instance::new(cfg));
                }
                (Plan::Remove, Some(mut inst), None) => {
                    outcome.removed.push(name);
                    self.host.stop(&mut inst).await;
                }
                (step, inst, cfg) => {
                    // plan_reload names each instance of either side once.
                    error!(instance = %name, ?step, running = inst.is_some(), configured = cfg.is_some(), "reload plan does not match the instances; skipped");
                }
            }
        }
        // The list changed: positions first, so what follows is scheduled right.
        self.reindex();
        self.prune_sockets();
        self.host
            .hooks
            .configure(&self.config, self.script_user.clone());
        // Health before the new instances start: a FAULT one never becomes master.
        self.rebuild_board();
        self.start_runners();
        self.reconcile_health().await;
        for idx in to_start {
            self.host.activate(&mut self.instances[idx]).await;
        }
        self.sync_group_links().await;
        self.reindex();
        outcome.log_and_answer()
    }

    /// Carries out an in-place change: VIPs no longer configured leave a
    /// master first, then the router takes its new settings.
    async fn update_in_place(
        &mut self,
        inst: &mut Instance,
        cfg: InstanceConfig,
        change: &InPlace,
    ) {
        if inst.router.state() == State::Master && !change.removed_vips.is_empty() {
            self.host
                .remove_vips(&inst.cfg, change.removed_vips.iter())
                .await;
        }
        inst.cfg = cfg;
        inst.encoded.clear();
        // unicast <-> multicast: the socket joins the group if now needed.
        if let Some(link) = inst.ifindex.and_then(|i| self.host.kernel.link(i)).cloned()
            && let Err(problem) = self.host.open_sockets(inst, &link)
        {
            error!(instance = %inst.name(), "{problem}");
            inst.problem = Some(problem);
        }
        self.host.update_local_addresses(inst);
        let event = Event::Reconfigure {
            params: Params::from_config(&inst.cfg),
            vips_changed: change.vips_changed,
        };
        self.host.feed(inst, event).await;
    }
}

/// What a reload did, by instance name.
#[derive(Default)]
struct Outcome {
    added: Vec<String>,
    removed: Vec<String>,
    updated: Vec<UpdatedInstance>,
    restarted: Vec<String>,
    unchanged: Vec<String>,
}

impl Outcome {
    fn log_and_answer(self) -> Response {
        let updated: Vec<&str> = self.updated.iter().map(|u| u.name.as_str()).collect();
        info!(
            added = ?self.added,
            removed = ?self.removed,
            ?updated,
            restarted = ?self.restarted,
            unchanged = self.unchanged.len(),
            "configuration reloaded"
        );
        Response::Reloaded {
            added: self.added,
            removed: self.removed,
            updated: self.updated,
            restarted: self.restarted,
            unchanged: self.unchanged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const BASE: &str = "    interface: eth0\n    vrid: 51\n    priority: 150\n    advert_interval: 100ms\n    vips: [192.0.2.10/24, 192.0.2.11/24]\n";

    fn one(body: &str) -> Vec<InstanceConfig> {
        let text = format!("instances:\n  - name: web\n{body}");
        Config::parse(&text, Path::new("t")).unwrap().instances
    }

    fn plan_of(old: &str, new: &str) -> Plan {
        let plans = plan_reload(&one(old), &one(new));
        assert_eq!(plans.len(), 1);
        plans.into_iter().next().unwrap().1
    }

    fn update(changed: &[&'static str], removed: &[&str], vips_changed: bool) -> Plan {
        Plan::Update(InPlace {
            changed: changed.to_vec(),
            removed_vips: removed
                .iter()
                .map(|s| {
                    let (address, prefix_len) = crate::config::parse_cidr(s).unwrap();
                    Vip {
                        address,
                        prefix_len,
                        dev: None,
                        label: None,
                    }
                })
                .collect(),
            vips_changed,
        })
    }

    // Each field: in place or restart, and what the plan carries.
    #[test]
    fn each_field_in_place_or_restart() {
        let add = |extra: &str| format!("{BASE}{extra}");
        let cases: Vec<(String, Plan)> = vec![
            (BASE.into(), Plan::Unchanged),
            (
                BASE.replace("150", "120"),
                update(&["priority"], &[], false),
            ),
            (
                add("    preempt: false\n"),
                update(&["preempt"], &[], false),
            ),
            (
                add("    preempt_delay: 5s\n"),
                update(&["preempt_delay"], &[], false),
            ),
            (
                BASE.replace("100ms", "1s"),
                update(&["advert_interval"], &[], false),
            ),
            (
                add("    initial_state: master\n"),
                update(&["initial_state"], &[], false),
            ),
            (
                add("    garp: {repeat: 2}\n"),
                update(&["garp"], &[], false),
            ),
            (
                add("    unicast: {peers: [192.0.2.2]}\n"),
                update(&["unicast"], &[], false),
            ),
            // VIPs: one added, one removed, one moved to excluded.
            (
                BASE.replace("192.0.2.11/24", "192.0.2.12/24"),
                update(&["vips"], &["192.0.2.11/24"], true),
            ),
            (
                BASE.replace(", 192.0.2.11/24", "") + "    excluded_vips: [192.0.2.11/24]\n",
                update(&["vips", "excluded_vips"], &[], true),
            ),
            // A prefix change is a delete and an add of the address.
            (
                BASE.replace("192.0.2.11/24", "192.0.2.11/25"),
                update(&["vips"], &["192.0.2.11/24"], true),
            ),
            (
                BASE.replace("vrid: 51", "vrid: 52"),
                Plan::Restart(RestartReason::Vrid),
            ),
            (
                BASE.replace("eth0", "eth1"),
                Plan::Restart(RestartReason::Interface),
            ),
            (
                BASE.replace("192.0.2.11/24", "\"2001:db8::11/64\""),
                Plan::Restart(RestartReason::Families),
            ),
            (
                BASE.replace("100ms", "1s") + "    version: 2\n",
                Plan::Restart(RestartReason::Version),
            ),
            (
                add("    vip_device: {kind: macvlan}\n"),
                Plan::Restart(RestartReason::VipDevice),
            ),
        ];
        for (new, want) in cases {
            assert_eq!(plan_of(BASE, &new), want, "new config:\n{new}");
        }
        // v2: the password changes in place.
        let v2 = BASE.replace("100ms", "1s") + "    version: 2\n    auth_pass: one\n";
        assert_eq!(
            plan_of(&v2, &v2.replace("auth_pass: one", "auth_pass: two")),
            update(&["auth_pass"], &[], false)
        );
        // So does the authentication type (the AH socket opens with it).
        assert_eq!(
            plan_of(&v2, &(v2.clone() + "    auth_type: ah\n")),
            update(&["auth_type"], &[], false)
        );
        // Several fields at once stay one in-place update.
        assert_eq!(
            plan_of(BASE, &BASE.replace("150", "120").replace("100ms", "200ms")),
            update(&["priority", "advert_interval"], &[], false)
        );
    }

    #[test]
    fn instances_are_matched_by_name() {
        let text = |names: &[&str]| {
            let mut t = String::from("instances:\n");
            for (i, n) in names.iter().enumerate() {
                t.push_str(&format!(
                    "  - name: {n}\n    interface: eth0\n    vrid: {}\n    vips: [192.0.2.{}/24]\n",
                    i + 1,
                    i + 10
                ));
            }
            Config::parse(&t, Path::new("t")).unwrap().instances
        };
        let plans = plan_reload(&text(&["a", "b"]), &text(&["a", "c"]));
        let names: Vec<(&str, &Plan)> = plans.iter().map(|(n, p)| (n.as_str(), p)).collect();
        // "c" takes b's VRID and address: it is a new instance all the same.
        assert_eq!(
            names,
            vec![
                ("a", &Plan::Unchanged),
                ("c", &Plan::Add),
                ("b", &Plan::Remove)
            ]
        );
    }
}
