//! Every tracker of the configuration, who uses it, and the health each
//! instance last got.
//!
//! Groups: a group shares one health. Every tracker the group or any of its
//! members uses counts once, for every member (a tracker used by two
//! members must have one weight: the configuration checks it), and the
//! members' base priority is one (also checked). So a tracker on one member
//! moves the whole group, weights included (keepalived ignores weighted
//! trackers in a sync group).

use std::collections::BTreeMap;

use super::priority::{Effect, Health, evaluate};
use super::tracker::{Outcome, Status, Tracker};
use crate::config::{Config, TrackUse, TrackerConfig};
use crate::vrrp::Time;

/// An instance whose health changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub instance: String,
    pub before: Health,
    pub after: Health,
}

#[derive(Debug, Clone)]
struct Uses {
    base: u8,
    uses: Vec<(String, Effect)>,
}

/// The trackers' states and the health of every instance.
#[derive(Debug, Clone, Default)]
pub struct Board {
    trackers: BTreeMap<String, Tracker>,
    configs: BTreeMap<String, TrackerConfig>,
    instances: BTreeMap<String, Uses>,
    /// The health each instance was last told.
    told: BTreeMap<String, Health>,
    /// Instance -> its group.
    group_of: BTreeMap<String, String>,
    /// Group members whose link is down: their group is in FAULT.
    links_down: std::collections::BTreeSet<String>,
}

impl Board {
    /// The board for `config`. Trackers of `keep` whose configuration did
    /// not change keep their state (a reload does not reset health).
    pub fn new(config: &Config, now: Time, keep: Option<&Board>) -> Board {
        let trackers = config
            .trackers
            .iter()
            .map(|(name, tc)| {
                let kept = keep
                    .filter(|k| k.configs.get(name) == Some(tc))
                    .and_then(|k| k.trackers.get(name).cloned());
                let t = kept.unwrap_or_else(|| Tracker::new(tc.rise, tc.fall, tc.init, now));
                (name.clone(), t)
            })
            .collect();
        let mut group_of = BTreeMap::new();
        for (g, gc) in &config.groups {
            for m in &gc.instances {
                group_of.insert(m.clone(), g.clone());
            }
        }
        let instances = config
            .instances
            .iter()
            .map(|i| {
                let uses = combined_uses(config, &i.name, &group_of)
                    .into_iter()
                    .filter_map(|u| {
                        let tc = config.trackers.get(&u.tracker)?;
                        Some((u.tracker.clone(), u.effect(tc)))
                    })
                    .collect();
                (
                    i.name.clone(),
                    Uses {
                        base: i.priority,
                        uses,
                    },
                )
            })
            .collect();
        let mut board = Board {
            trackers,
            configs: config.trackers.clone(),
            instances,
            told: BTreeMap::new(),
            links_down: keep.map(|k| k.links_down.clone()).unwrap_or_default(),
            group_of,
        };
        let names: Vec<String> = board.instances.keys().cloned().collect();
        for n in names {
            let h = board.health(&n);
            board.told.insert(n, h);
        }
        board
    }

    /// An instance's health now (base priority alone for an unknown name).
    pub fn health(&self, instance: &str) -> Health {
        let Some(u) = self.instances.get(instance) else {
            return evaluate(0, [], |_| None);
        };
        let mut h = evaluate(u.base, u.uses.iter().map(|(n, e)| (n.as_str(), *e)), |n| {
            self.trackers.get(n)
        });
        // Another member's link is down: the group follows it into FAULT.
        if let Some(g) = self.group_of(instance) {
            h.member_down = self
                .members(g)
                .find(|m| *m != instance && self.links_down.contains(*m))
                .map(String::from);
            h.fault |= h.member_down.is_some();
        }
        h
    }

    /// A group member's link went down (or came back); returns the
    /// instances whose health changed.
    pub fn set_link_down(&mut self, instance: &str, down: bool) -> Vec<Change> {
        if self.group_of(instance).is_none() {
            return Vec::new();
        }
        let changed = if down {
            self.links_down.insert(instance.to_string())
        } else {
            self.links_down.remove(instance)
        };
        if changed { self.retell() } else { Vec::new() }
    }

    /// The health an instance was last told.
    pub fn told(&self, instance: &str) -> Option<&Health> {
        self.told.get(instance)
    }

    pub fn tracker(&self, name: &str) -> Option<&Tracker> {
        self.trackers.get(name)
    }

    pub fn trackers(&self) -> impl Iterator<Item = (&str, &Tracker)> {
        self.trackers.iter().map(|(n, t)| (n.as_str(), t))
    }

    pub fn group_of(&self, instance: &str) -> Option<&str> {
        self.group_of.get(instance).map(String::as_str)
    }

    /// The members of `group`.
    pub fn members(&self, group: &str) -> impl Iterator<Item = &str> {
        self.group_of
            .iter()
            .filter(move |(_, g)| g.as_str() == group)
            .map(|(m, _)| m.as_str())
    }

    /// Takes one result of tracker `name`. Returns the tracker's new status
    /// when it changed, and every instance whose health changed (each is
    /// then told: [`Board::told`] has the new health).
    pub fn observe(
        &mut self,
        now: Time,
        name: &str,
        outcome: Outcome,
    ) -> (Option<Status>, Vec<Change>) {
        let Some(t) = self.trackers.get_mut(name) else {
            return (None, Vec::new());
        };
        let value_before = t.value();
        let changed = t.observe(now, outcome);
        if changed.is_none() && t.value() == value_before {
            return (None, Vec::new());
        }
        (changed, self.retell())
    }

    /// Re-evaluates every instance; returns (and records) what changed.
    fn retell(&mut self) -> Vec<Change> {
        let mut changes = Vec::new();
        let names: Vec<String> = self.instances.keys().cloned().collect();
        for n in names {
            let after = self.health(&n);
            let before = self.told.insert(n.clone(), after.clone());
            if before.as_ref() != Some(&after) {
                changes.push(Change {
                    instance: n,
                    before: before.unwrap_or_else(|| after.clone()),
                    after,
                });
            }
        }
        changes
    }
}

/// What an instance counts: its own uses, or in a group the group's and
/// every member's, each tracker once.
fn combined_uses<'a>(
    config: &'a Config,
    instance: &str,
    group_of: &BTreeMap<String, String>,
) -> Vec<&'a TrackUse> {
    let own = |name: &str| -> Vec<&'a TrackUse> {
        config
            .instances
            .iter()
            .filter(|i| i.name == name)
            .flat_map(|i| i.track.iter())
            .collect()
    };
    let mut all: Vec<&TrackUse> = match group_of.get(instance).and_then(|g| config.groups.get(g)) {
        None => own(instance),
        Some(g) => g
            .track
            .iter()
            .chain(g.instances.iter().flat_map(|m| own(m)))
            .collect(),
    };
    let mut seen = std::collections::BTreeSet::new();
    all.retain(|u| seen.insert(u.tracker.clone()));
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const TEXT: &str = "\
trackers:
  haproxy: {process: haproxy, weight: -60}
  port: {tcp: \"127.0.0.1:80\"}
  bonus: {file: /run/bonus, weight: 2}
instances:
  - name: web4
    interface: eth0
    vrid: 1
    priority: 150
    vips: [192.0.2.1/24]
    track: [haproxy]
  - name: web6
    interface: eth0
    vrid: 2
    priority: 150
    vips: [\"2001:db8::1/64\"]
    track: [port]
  - name: other
    interface: eth0
    vrid: 3
    priority: 100
    vips: [192.0.2.3/24]
    track: [{tracker: haproxy, weight: -10}, bonus]
groups:
  lb: {instances: [web4, web6]}
";

    fn board() -> Board {
        let c = Config::parse(TEXT, Path::new("t")).unwrap();
        Board::new(&c, Time::ZERO, None)
    }

    fn bad() -> Outcome {
        Outcome::Bad("gone".into())
    }

    #[test]
    fn a_members_tracker_moves_the_whole_group() {
        let mut b = board();
        assert_eq!(b.health("web4").priority, 150);
        let (status, changes) = b.observe(Time::from_secs(1), "haproxy", bad());
        assert_eq!(status, Some(Status::Down));
        let moved: Vec<(&str, u8)> = changes
            .iter()
            .map(|c| (c.instance.as_str(), c.after.priority))
            .collect();
        assert_eq!(moved, vec![("other", 90), ("web4", 90), ("web6", 90)]);
        assert_eq!(b.told("web6").unwrap().priority, 90);
        // The port (FAULT, used by web6) faults web4 too.
        let (_, changes) = b.observe(Time::from_secs(2), "port", bad());
        let faulted: Vec<&str> = changes
            .iter()
            .filter(|c| c.after.fault)
            .map(|c| c.instance.as_str())
            .collect();
        assert_eq!(faulted, vec!["web4", "web6"]);
        assert!(!b.health("other").fault, "not in the group");
        assert_eq!(b.members("lb").collect::<Vec<_>>(), vec!["web4", "web6"]);
        assert_eq!(b.group_of("web6"), Some("lb"));
    }

    #[test]
    fn repeated_results_change_nothing_and_values_weigh() {
        let mut b = board();
        b.observe(Time::ZERO, "haproxy", bad());
        let (status, changes) = b.observe(Time::ZERO, "haproxy", bad());
        assert_eq!((status, changes.len()), (None, 0));
        let (status, changes) = b.observe(Time::ZERO, "bonus", Outcome::Value(5));
        assert_eq!(status, None);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].after.priority, 100 - 10 + 10);
        assert_eq!(
            changes[0].after.arithmetic(),
            "100 - 10 (haproxy down) + 10 (bonus up) = 100"
        );
        assert_eq!(b.observe(Time::ZERO, "nope", bad()), (None, vec![]));
    }

    #[test]
    fn a_members_link_down_faults_the_others() {
        let mut b = board();
        let changes = b.set_link_down("web6", true);
        let moved: Vec<(&str, bool)> = changes
            .iter()
            .map(|c| (c.instance.as_str(), c.after.fault))
            .collect();
        assert_eq!(
            moved,
            vec![("web4", true)],
            "web6 itself faults by its link"
        );
        assert_eq!(
            b.health("web4").arithmetic(),
            "150 (group member web6 link down: FAULT)"
        );
        assert!(b.set_link_down("web6", true).is_empty(), "no change");
        assert!(b.set_link_down("other", true).is_empty(), "not in a group");
        let back = b.set_link_down("web6", false);
        assert_eq!(back.len(), 1);
        assert!(!back[0].after.fault);
    }

    #[test]
    fn a_reload_keeps_the_state_of_unchanged_trackers() {
        let mut b = board();
        b.observe(Time::ZERO, "haproxy", bad());
        b.observe(Time::ZERO, "port", bad());
        let text = TEXT.replace("tcp: \"127.0.0.1:80\"", "tcp: \"127.0.0.1:81\"");
        let c = Config::parse(&text, Path::new("t")).unwrap();
        let again = Board::new(&c, Time::from_secs(5), Some(&b));
        assert_eq!(
            again.tracker("haproxy").unwrap().status(),
            Status::Down,
            "kept"
        );
        assert_eq!(
            again.tracker("port").unwrap().status(),
            Status::Up,
            "changed: new"
        );
    }
}
