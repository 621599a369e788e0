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

    mod properties {
        //! A simulated call center: random arrivals, answers, misses, hang-ups, work-state
        //! changes and sign-outs, with the seats decided by the agent aggregate and every
        //! offer chosen by `choose`. No agent is ever left stuck and no caller is lost.

        use std::collections::{BTreeMap, VecDeque};

        use esrs::Aggregate;
        use proptest::prelude::*;

        use super::*;
        use crate::agent::{Agent, AgentCommand, AgentState, Endpoint};

        #[derive(Debug, Clone)]
        enum Happening {
            Arrive,
            Answer(usize),
            Miss(usize),
            CallerHangsUp(usize),
            CallEnds(usize),
            SetState(usize, WorkState),
            SignOut(usize),
            SignIn(usize),
        }

        fn happening() -> impl Strategy<Value = Happening> {
            let agent = 0usize..4;
            prop_oneof![
                3 => Just(Happening::Arrive),
                3 => agent.clone().prop_map(Happening::Answer),
                1 => agent.clone().prop_map(Happening::Miss),
                2 => (0usize..8).prop_map(Happening::CallerHangsUp),
                2 => agent.clone().prop_map(Happening::CallEnds),
                1 => (agent.clone(), prop::sample::select(vec![
                    WorkState::Working, WorkState::Break, WorkState::Away,
                ])).prop_map(|(a, s)| Happening::SetState(a, s)),
                1 => agent.clone().prop_map(Happening::SignOut),
                1 => agent.prop_map(Happening::SignIn),
            ]
        }

        struct Centre {
            seats: Vec<AgentState>,
            waiting: VecDeque<Uuid>,
            /// Ringing or connected calls by agent.
            ringing: BTreeMap<usize, Uuid>,
            connected: BTreeMap<usize, Uuid>,
            ended: Vec<Uuid>,
            arrived: u128,
            now: i64,
        }

        impl Centre {
            fn run(&mut self, agent: usize, command: AgentCommand) -> bool {
                match Agent::handle_command(&self.seats[agent], command) {
                    Ok(events) => {
                        let seat = std::mem::take(&mut self.seats[agent]);
                        self.seats[agent] = events.into_iter().fold(seat, Agent::apply_event);
                        true
                    }
                    Err(_) => false,
                }
            }

            fn at(&mut self) -> DateTime<Utc> {
                self.now += 1;
                DateTime::from_timestamp(1_700_000_000 + self.now, 0).unwrap_or_default()
            }

            /// The dispatcher: offers waiting callers, first come first served.
            fn dispatch(&mut self, rule: DistributionRule) {
                let excluded = BTreeSet::from([WorkState::Break, WorkState::Away]);
                while let Some(&call) = self.waiting.front() {
                    let members: Vec<Candidate> = self
                        .seats
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.signed_in.is_some())
                        .map(|(i, s)| Candidate {
                            extension_id: Uuid::from_u128(i as u128),
                            order: i,
                            free: s.offer.is_none() && s.on_call.is_none(),
                            state: s.work_state,
                            idle_since: s.state_since.unwrap_or_default(),
                            calls: 0,
                            talk_seconds: 0,
                        })
                        .collect();
                    let chosen = choose(rule, &members, &excluded, &Placing::default());
                    let Some(first) = chosen.first() else { return };
                    let agent = first.as_u128() as usize;
                    let at = self.at();
                    let offered = self.run(
                        agent,
                        AgentCommand::Offer {
                            call_id: call,
                            queue_id: Uuid::nil(),
                            at,
                        },
                    );
                    assert!(offered, "a free member refused an offer");
                    self.waiting.pop_front();
                    self.ringing.insert(agent, call);
                }
            }

            fn happen(&mut self, what: Happening) {
                let at = self.at();
                match what {
                    Happening::Arrive => {
                        self.arrived += 1;
                        self.waiting
                            .push_back(Uuid::from_u128(1_000 + self.arrived));
                    }
                    Happening::Answer(agent) => {
                        if let Some(call) = self.ringing.get(&agent).copied() {
                            assert!(self.run(agent, AgentCommand::Answer { call_id: call, at }));
                            self.ringing.remove(&agent);
                            self.connected.insert(agent, call);
                        }
                    }
                    Happening::Miss(agent) => {
                        if let Some(call) = self.ringing.remove(&agent) {
                            assert!(self.run(
                                agent,
                                AgentCommand::Miss {
                                    call_id: call,
                                    max_missed: 2,
                                    at
                                }
                            ));
                            // The caller keeps its place at the head.
                            self.waiting.push_front(call);
                        }
                    }
                    Happening::CallerHangsUp(n) => {
                        if n < self.waiting.len() {
                            if let Some(call) = self.waiting.remove(n) {
                                self.ended.push(call);
                            }
                        } else if let Some((&agent, &call)) = self.ringing.iter().next() {
                            self.run(agent, AgentCommand::Withdraw { call_id: call, at });
                            self.ringing.remove(&agent);
                            self.ended.push(call);
                        }
                    }
                    Happening::CallEnds(agent) => {
                        if let Some(call) = self.connected.remove(&agent) {
                            assert!(self.run(
                                agent,
                                AgentCommand::EndCall {
                                    call_id: call,
                                    wrap_up_seconds: 0,
                                    at,
                                }
                            ));
                            self.ended.push(call);
                        }
                    }
                    Happening::SetState(agent, state) => {
                        self.run(agent, AgentCommand::SetWorkState { state, at });
                    }
                    Happening::SignOut(agent) => {
                        if self.connected.contains_key(&agent) {
                            return; // an agent on a call signs out after it
                        }
                        if self.run(agent, AgentCommand::SignOut { at }) {
                            if let Some(call) = self.ringing.remove(&agent) {
                                self.waiting.push_front(call);
                            }
                        }
                    }
                    Happening::SignIn(agent) => {
                        self.run(
                            agent,
                            AgentCommand::SignIn {
                                extension_id: Uuid::from_u128(agent as u128),
                                enterprise_id: Uuid::nil(),
                                account_id: Uuid::from_u128(500 + agent as u128),
                                permitted: true,
                                endpoint: Endpoint::SipPhone,
                                at,
                            },
                        );
                    }
                }
            }

            fn check(&self) {
                for (i, seat) in self.seats.iter().enumerate() {
                    // The seat and the centre agree, and a seat holds one call at most.
                    assert_eq!(
                        seat.offer.as_ref().map(|o| o.call_id),
                        self.ringing.get(&i).copied()
                    );
                    assert_eq!(seat.on_call, self.connected.get(&i).copied());
                    assert!(!(seat.offer.is_some() && seat.on_call.is_some()));
                }
                // Every caller is in exactly one place.
                let total = self.waiting.len()
                    + self.ringing.len()
                    + self.connected.len()
                    + self.ended.len();
                assert_eq!(total as u128, self.arrived, "a caller was lost");
                // Nobody waits while a member who may take calls sits idle.
                let idle = self.seats.iter().any(|s| {
                    s.signed_in.is_some()
                        && s.offer.is_none()
                        && s.on_call.is_none()
                        && s.work_state == WorkState::Working
                });
                assert!(
                    self.waiting.is_empty() || !idle,
                    "a caller waits beside an idle agent"
                );
            }
        }

        proptest! {
            #[test]
            fn no_agent_is_stuck_and_no_caller_is_lost(
                rule in prop::sample::select(vec![
                    DistributionRule::LongestIdle,
                    DistributionRule::RoundRobin,
                    DistributionRule::Sequential,
                    DistributionRule::FewestCalls,
                ]),
                happenings in prop::collection::vec(happening(), 1..120)
            ) {
                let mut centre = Centre {
                    seats: vec![AgentState::default(); 4],
                    waiting: VecDeque::new(),
                    ringing: BTreeMap::new(),
                    connected: BTreeMap::new(),
                    ended: Vec::new(),
                    arrived: 0,
                    now: 0,
                };
                for agent in 0..4 {
                    centre.happen(Happening::SignIn(agent));
                }
                for what in happenings {
                    centre.happen(what);
                    centre.dispatch(rule);
                    centre.check();
                }
                // Everyone finishes: every call ends and every seat is free.
                for agent in 0..4 {
                    centre.happen(Happening::Answer(agent));
                    centre.happen(Happening::CallEnds(agent));
                }
                while let Some(call) = centre.waiting.pop_front() {
                    centre.ended.push(call);
                }
                centre.check();
                prop_assert!(centre.seats.iter().all(|s| s.offer.is_none() && s.on_call.is_none()));
            }
        }
    }
}
