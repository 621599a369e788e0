//! Automatic call distribution as a pure decision: given a queue's rule and its members as the
//! dispatcher sees them now, which agents ring for the call at the head of the queue. The
//! caller's place is first come, first served; who rings follows the queue's rule among the
//! members that may take a call. One decision is a single pass over the members.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::agent::WorkState;
use crate::queue::DistributionRule;

/// A member of a queue as the dispatcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The member's extension.
    pub extension_id: Uuid,
    /// Its place in the queue's member list.
    pub order: usize,
    /// Signed in, not ringing, not on a call, and reachable.
    pub free: bool,
    /// Its work state.
    pub state: WorkState,
    /// Since when it has been idle (its last call's end, or its sign-in).
    pub idle_since: DateTime<Utc>,
    /// Calls it answered since signing in.
    pub calls: u32,
    /// Its talk time since signing in, in seconds.
    pub talk_seconds: u64,
}

/// What the dispatcher knows of the call it places.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placing {
    /// Members that already rang for this call without answering (tried last).
    pub tried: BTreeSet<Uuid>,
    /// The member order offered last in this queue (round robin goes on after it).
    pub last_order: Option<usize>,
    /// Random bits for the `Random` rule (the caller draws them).
    pub random: u64,
}

/// The members to ring for the next call under `rule`: none when nobody may take it, all free
/// ones for `RingAll`, else one. Members in `excluded` states take no calls; members that
/// already missed this call are chosen only when nobody else is free.
pub fn choose(
    rule: DistributionRule,
    members: &[Candidate],
    excluded: &BTreeSet<WorkState>,
    placing: &Placing,
) -> Vec<Uuid> {
    let eligible = |m: &&Candidate| m.free && !excluded.contains(&m.state);
    let fresh: Vec<&Candidate> = members
        .iter()
        .filter(eligible)
        .filter(|m| !placing.tried.contains(&m.extension_id))
        .collect();
    let pool: Vec<&Candidate> = if fresh.is_empty() {
        members.iter().filter(eligible).collect()
    } else {
        fresh
    };
    if pool.is_empty() {
        return Vec::new();
    }
    let pick = match rule {
        DistributionRule::RingAll => return pool.iter().map(|m| m.extension_id).collect(),
        DistributionRule::LongestIdle => pool.iter().min_by_key(|m| (m.idle_since, m.order)),
        DistributionRule::FewestCalls => {
            pool.iter().min_by_key(|m| (m.calls, m.idle_since, m.order))
        }
        DistributionRule::LeastTalkTime => pool
            .iter()
            .min_by_key(|m| (m.talk_seconds, m.idle_since, m.order)),
        DistributionRule::Sequential => pool.iter().min_by_key(|m| m.order),
        DistributionRule::RoundRobin => {
            let after = placing.last_order.map_or(0, |o| o + 1);
            // The next order at or after `after`, wrapping around.
            pool.iter().min_by_key(|m| (m.order < after, m.order))
        }
        DistributionRule::Random => {
            let index = usize::try_from(placing.random % pool.len() as u64).unwrap_or(0);
            pool.get(index)
        }
    };
    pick.map(|m| vec![m.extension_id]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
    }

    fn member(n: u128, idle: i64, calls: u32, talk: u64) -> Candidate {
        Candidate {
            extension_id: Uuid::from_u128(n),
            order: usize::try_from(n).unwrap_or(0),
            free: true,
            state: WorkState::Working,
            idle_since: at(idle),
            calls,
            talk_seconds: talk,
        }
    }

    fn members() -> Vec<Candidate> {
        vec![
            member(0, 30, 5, 100),
            member(1, 10, 2, 900),
            member(2, 20, 1, 300),
            member(3, 40, 9, 50),
        ]
    }

    fn chosen(rule: DistributionRule, members: &[Candidate], placing: &Placing) -> Vec<u128> {
        let excluded = BTreeSet::from([WorkState::Break, WorkState::Away]);
        choose(rule, members, &excluded, placing)
            .into_iter()
            .map(|id| id.as_u128())
            .collect()
    }

    #[test]
    fn each_rule_picks_its_member() {
        let none = Placing::default();
        use DistributionRule as R;
        assert_eq!(chosen(R::LongestIdle, &members(), &none), [1]);
        assert_eq!(chosen(R::FewestCalls, &members(), &none), [2]);
        assert_eq!(chosen(R::LeastTalkTime, &members(), &none), [3]);
        assert_eq!(chosen(R::Sequential, &members(), &none), [0]);
        assert_eq!(chosen(R::RingAll, &members(), &none), [0, 1, 2, 3]);
        let after_two = Placing {
            last_order: Some(2),
            ..Placing::default()
        };
        assert_eq!(chosen(R::RoundRobin, &members(), &after_two), [3]);
        let after_last = Placing {
            last_order: Some(3),
            ..Placing::default()
        };
        assert_eq!(chosen(R::RoundRobin, &members(), &after_last), [0]);
        let random = Placing {
            random: 6,
            ..Placing::default()
        };
        assert_eq!(chosen(R::Random, &members(), &random), [2]);
    }

    #[test]
    fn busy_excluded_and_already_tried_members_wait_their_turn() {
        let mut team = members();
        team[1].free = false; // ringing or on a call
        team[3].state = WorkState::Break;
        let tried = Placing {
            tried: BTreeSet::from([Uuid::from_u128(2)]),
            ..Placing::default()
        };
        // Member 2 already missed this call: member 0 rings first.
        assert_eq!(chosen(DistributionRule::LongestIdle, &team, &tried), [0]);
        team[0].free = false;
        // Nobody else is free: member 2 rings again.
        assert_eq!(chosen(DistributionRule::LongestIdle, &team, &tried), [2]);
        team[2].free = false;
        assert!(chosen(DistributionRule::RingAll, &team, &tried).is_empty());
    }
}
