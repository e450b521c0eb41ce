//! From tracker states to what the router needs: the effective priority and
//! whether the instance is in FAULT.
//!
//! The rules (keepalived's, where it has one):
//! - a tracker used **without a weight** puts the instance in FAULT while it
//!   is down;
//! - a **positive weight** is added while the tracker is up, a **negative**
//!   one while it is down (keepalived's `weight`);
//! - a `file` tracker adds its number times its multiplier; a total of -254
//!   or less from one file is FAULT (keepalived's `track_file`);
//! - the effective priority is the base plus all that, clamped to 1..254;
//!   the address owner (255) never moves (the configuration refuses weights
//!   on it; a FAULT still applies).

use serde::{Deserialize, Serialize};

use super::tracker::{Status, Tracker};

/// How an instance uses one tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Down puts the instance in FAULT.
    Fault,
    /// Added to the priority: while up if positive, while down if negative.
    Weight(i32),
    /// The tracker's number times this, added (`file` trackers).
    Scaled(i32),
}

/// One tracker's part in an instance's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    pub tracker: String,
    pub status: Status,
    /// What it adds to the priority now (0 when it does not apply).
    pub adds: i32,
    /// Whether it puts the instance in FAULT now.
    pub faults: bool,
}

/// An instance's health: the priority to run with, and FAULT or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    pub base: u8,
    pub priority: u8,
    pub fault: bool,
    pub terms: Vec<Term>,
    /// A member of the instance's group whose link is down: the group is
    /// in FAULT with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_down: Option<String>,
}

/// The lowest total of one `file` tracker that is FAULT (keepalived).
pub const FILE_FAULT_AT: i64 = -254;

impl Health {
    /// The arithmetic for `vipctl status`: `150 - 60 (haproxy down) = 90`,
    /// `100 (web down: FAULT)`.
    pub fn arithmetic(&self) -> String {
        let mut s = self.base.to_string();
        if let Some(m) = &self.member_down {
            s.push_str(&format!(" (group member {m} link down: FAULT)"));
        }
        for t in &self.terms {
            if t.faults {
                s.push_str(&format!(" ({}: FAULT)", t.tracker));
            } else if t.adds != 0 {
                let sign = if t.adds < 0 { '-' } else { '+' };
                let state = match t.status {
                    Status::Up => "up",
                    Status::Down => "down",
                };
                s.push_str(&format!(
                    " {sign} {} ({} {state})",
                    t.adds.unsigned_abs(),
                    t.tracker
                ));
            }
        }
        if self.terms.iter().any(|t| t.adds != 0) {
            s.push_str(&format!(" = {}", self.priority));
        }
        s
    }
}

/// Evaluates `uses` (tracker name, effect) against the trackers' states.
pub fn evaluate<'a>(
    base: u8,
    uses: impl IntoIterator<Item = (&'a str, Effect)>,
    tracker: impl Fn(&str) -> Option<&'a Tracker>,
) -> Health {
    let mut terms = Vec::new();
    for (name, effect) in uses {
        let Some(t) = tracker(name) else { continue };
        let status = t.status();
        let (adds, faults) = match effect {
            Effect::Fault => (0, status == Status::Down),
            Effect::Weight(w) if w > 0 => (if status == Status::Up { w } else { 0 }, false),
            Effect::Weight(w) => (if status == Status::Down { w } else { 0 }, false),
            Effect::Scaled(m) => {
                let total = t.value().saturating_mul(i64::from(m));
                if total <= FILE_FAULT_AT {
                    (0, true)
                } else {
                    (total.clamp(-254, 254) as i32, false)
                }
            }
        };
        terms.push(Term {
            tracker: name.to_string(),
            status,
            adds,
            faults,
        });
    }
    let sum: i32 = terms.iter().map(|t| t.adds).sum();
    let priority = if base == 255 {
        255
    } else {
        (i32::from(base) + sum).clamp(1, 254) as u8
    };
    Health {
        base,
        priority,
        fault: terms.iter().any(|t| t.faults),
        terms,
        member_down: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tracker::Outcome;
    use super::*;
    use crate::vrrp::Time;
    use std::collections::HashMap;

    fn trackers(states: &[(&str, Status)]) -> HashMap<String, Tracker> {
        states
            .iter()
            .map(|(n, s)| (n.to_string(), Tracker::new(1, 1, *s, Time::ZERO)))
            .collect()
    }

    fn eval(base: u8, uses: &[(&str, Effect)], t: &HashMap<String, Tracker>) -> Health {
        evaluate(base, uses.iter().map(|(n, e)| (*n, *e)), |n| t.get(n))
    }

    #[test]
    fn weights_apply_as_keepalived_applies_them() {
        let t = trackers(&[
            ("haproxy", Status::Down),
            ("bonus", Status::Up),
            ("lost", Status::Down),
        ]);
        let h = eval(
            150,
            &[
                ("haproxy", Effect::Weight(-60)),
                ("bonus", Effect::Weight(2)),
                ("lost", Effect::Weight(5)),
            ],
            &t,
        );
        assert_eq!((h.priority, h.fault), (92, false));
        assert_eq!(
            h.arithmetic(),
            "150 - 60 (haproxy down) + 2 (bonus up) = 92"
        );
        let up = trackers(&[("haproxy", Status::Up)]);
        let h = eval(150, &[("haproxy", Effect::Weight(-60))], &up);
        assert_eq!((h.priority, h.arithmetic().as_str()), (150, "150"));
    }

    #[test]
    fn unweighted_down_is_fault_and_the_sum_is_clamped() {
        let t = trackers(&[("web", Status::Down), ("a", Status::Down)]);
        let h = eval(100, &[("web", Effect::Fault)], &t);
        assert!(h.fault);
        assert_eq!(h.arithmetic(), "100 (web: FAULT)");
        let h = eval(10, &[("a", Effect::Weight(-200))], &t);
        assert_eq!(h.priority, 1, "never below 1");
        let t = trackers(&[("a", Status::Up)]);
        let h = eval(250, &[("a", Effect::Weight(100))], &t);
        assert_eq!(h.priority, 254, "never 255: that is the address owner");
        // The owner keeps 255; a fault still applies.
        let t = trackers(&[("a", Status::Down)]);
        let h = eval(255, &[("a", Effect::Fault)], &t);
        assert_eq!((h.priority, h.fault), (255, true));
    }

    #[test]
    fn file_values_scale_and_fault_at_minus_254() {
        let mut t = trackers(&[("f", Status::Up)]);
        t.get_mut("f")
            .unwrap()
            .observe(Time::ZERO, Outcome::Value(-20));
        let h = eval(100, &[("f", Effect::Scaled(2))], &t);
        assert_eq!((h.priority, h.fault), (60, false));
        t.get_mut("f")
            .unwrap()
            .observe(Time::ZERO, Outcome::Value(-127));
        let h = eval(100, &[("f", Effect::Scaled(2))], &t);
        assert!(h.fault, "-254 is FAULT");
        t.get_mut("f")
            .unwrap()
            .observe(Time::ZERO, Outcome::Value(i64::MAX));
        let h = eval(100, &[("f", Effect::Scaled(i32::MAX))], &t);
        assert_eq!(h.priority, 254, "no overflow");
    }

    #[test]
    fn unknown_trackers_are_skipped() {
        let t = trackers(&[]);
        let h = eval(100, &[("nope", Effect::Fault)], &t);
        assert_eq!((h.priority, h.fault, h.terms.len()), (100, false, 0));
    }
}
