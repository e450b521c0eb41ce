//! A group's state, from its members' states.
//!
//! A group's hooks run when the group as a whole changes, not on every
//! member's step: members move one after the other (one becomes MASTER a
//! moment before the other), and a `master` hook that ran while half of the
//! group still is BACKUP would announce something that is not yet true.

use super::HookState;
use crate::vrrp::State;

/// What the members' states make of their group:
/// - FAULT when any member is in FAULT (the group cannot be master);
/// - MASTER when all are MASTER;
/// - BACKUP when all are BACKUP, or some BACKUP and the rest INIT (a member
///   not started yet, its interface missing, or stopped before the others);
/// - STOP when all are INIT (every member stopped, or none started yet:
///   [`next_group_state`] tells the two apart);
/// - None while the members disagree otherwise (MASTER with BACKUP or INIT:
///   on the way from one state to another).
pub fn group_state(members: &[State]) -> Option<HookState> {
    let all = |f: fn(&State) -> bool| !members.is_empty() && members.iter().all(f);
    if members.contains(&State::Fault) {
        Some(HookState::Fault)
    } else if all(|s| *s == State::Master) {
        Some(HookState::Master)
    } else if all(|s| *s == State::Initialize) {
        Some(HookState::Stop)
    } else if all(|s| matches!(s, State::Backup | State::Initialize)) {
        Some(HookState::Backup)
    } else {
        None
    }
}

/// The group's new state when its members' states change it; None when it
/// stays. `current` is None until the group first had a state: members
/// that have not started yet do not make a STOP, and a stopped group does
/// not stop again.
pub fn next_group_state(current: Option<HookState>, members: &[State]) -> Option<HookState> {
    let implied = group_state(members)?;
    match (current, implied) {
        (None | Some(HookState::Stop), HookState::Stop) => None,
        (Some(c), s) if c == s => None,
        (_, s) => Some(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::{Backup as B, Fault as F, Initialize as I, Master as M};

    #[test]
    fn state_of_a_group() {
        let cases: &[(&[State], Option<HookState>)] = &[
            (&[M, M], Some(HookState::Master)),
            (&[B, B], Some(HookState::Backup)),
            (&[B, I], Some(HookState::Backup)),
            (&[I, B], Some(HookState::Backup)),
            (&[I, I], Some(HookState::Stop)),
            (&[M, F], Some(HookState::Fault)),
            (&[F, I], Some(HookState::Fault)),
            (&[B, F, M], Some(HookState::Fault)),
            (&[M, B], None),
            (&[M, I], None),
            (&[], None),
        ];
        for (members, want) in cases {
            assert_eq!(group_state(members), *want, "{members:?}");
        }
    }

    #[test]
    fn a_group_changes_once_all_members_agree() {
        use HookState::*;
        // Start-up: nothing while no member runs, BACKUP with the first.
        assert_eq!(next_group_state(None, &[I, I]), None);
        assert_eq!(next_group_state(None, &[B, I]), Some(Backup));
        assert_eq!(next_group_state(Some(Backup), &[B, B]), None);
        // Failover: MASTER only when the second member is too.
        assert_eq!(next_group_state(Some(Backup), &[M, B]), None);
        assert_eq!(next_group_state(Some(Backup), &[M, M]), Some(Master));
        // A member faults: the group at once.
        assert_eq!(next_group_state(Some(Master), &[F, M]), Some(Fault));
        assert_eq!(next_group_state(Some(Fault), &[F, I]), None);
        assert_eq!(next_group_state(Some(Fault), &[B, B]), Some(Backup));
        // Shutdown: members stop one by one; STOP with the last, once.
        assert_eq!(next_group_state(Some(Master), &[I, M]), None);
        assert_eq!(next_group_state(Some(Master), &[I, I]), Some(Stop));
        assert_eq!(next_group_state(Some(Stop), &[I, I]), None);
        // Restarted by a reload: back from STOP.
        assert_eq!(next_group_state(Some(Stop), &[B, I]), Some(Backup));
    }
}
