//! The agent seat (坐席, manual §7.1): a sub-account signed in to an extension, its work state
//! and the call it is offered or on. The seat's stream is the one place an offer is decided, so
//! an agent is offered one call at a time: a second offer decided concurrently on the same
//! version loses the append (optimistic concurrency), not a race of luck. Its stream id is
//! `ids::agent_id(extension)`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The agent seat aggregate.
pub struct Agent;

/// What an agent is doing (工作状态).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum WorkState {
    /// Working, no callback (工作-不可回接): the state after signing in.
    #[default]
    Working,
    /// On a break (小休).
    Break,
    /// Away (离开).
    Away,
    /// Working, callback allowed (工作-可回接): predictive dialling.
    WorkingCallback,
}

/// Where the agent takes calls (通话端).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// The web client (Web插件, default).
    #[default]
    WebClient,
    /// A SIP phone registered to the extension.
    SipPhone,
    /// The extension's bound landline or mobile (话机).
    Phone,
}

/// Who is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The sub-account.
    pub account_id: Uuid,
    /// Its endpoint.
    pub endpoint: Endpoint,
    /// Since when.
    pub since: DateTime<Utc>,
}

/// A call offered to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The call.
    pub call_id: Uuid,
    /// The queue it comes from.
    pub queue_id: Uuid,
    /// Since when it rings.
    pub at: DateTime<Utc>,
}

/// What a seat is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentState {
    /// Its enterprise, once anyone signed in.
    pub enterprise_id: Option<Uuid>,
    /// Who is signed in.
    pub signed_in: Option<SignedIn>,
    /// The work state.
    pub work_state: WorkState,
    /// Since when.
    pub state_since: Option<DateTime<Utc>>,
    /// The call ringing the agent.
    pub offer: Option<Offer>,
    /// The call the agent is on.
    pub on_call: Option<Uuid>,
    /// Offers missed in a row.
    pub missed_in_row: u32,
    /// The end of the wrap-up after the last call (话后整理): no offers before it.
    pub wrap_up_until: Option<DateTime<Utc>>,
}

/// Commands on a seat.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCommand {
    /// A sub-account signs in (签入).
    SignIn {
        /// The extension.
        extension_id: Uuid,
        /// The extension's enterprise.
        enterprise_id: Uuid,
        /// The sub-account.
        account_id: Uuid,
        /// Whether the extension permits it (looked up).
        permitted: bool,
        /// Where it takes calls.
        endpoint: Endpoint,
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent signs out (签出).
    SignOut {
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent changes work state.
    SetWorkState {
        /// The new state.
        state: WorkState,
        /// When.
        at: DateTime<Utc>,
    },
    /// A queue offers the agent a call.
    Offer {
        /// The call.
        call_id: Uuid,
        /// The queue.
        queue_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent answered the offered call.
    Answer {
        /// The call.
        call_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent did not answer in time (or refused).
    Miss {
        /// The call.
        call_id: Uuid,
        /// Offers the queue allows missing in a row before a break (0: no limit).
        max_missed: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// The offer is taken back (the caller left, another agent answered first).
    Withdraw {
        /// The call.
        call_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent's call ended.
    EndCall {
        /// The call.
        call_id: Uuid,
        /// The queue's wrap-up time: seconds after the call before the next offer (0: none).
        wrap_up_seconds: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent places a call itself (click-to-dial): it is on that call from now.
    DialOut {
        /// The call.
        call_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// A supervisor joins another agent's call on its own seat (listening, whispering,
    /// barging in, or taking the call over): it is on that call from now.
    JoinCall {
        /// The call.
        call_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent is done with its wrap-up before its time is up.
    EndWrapUp {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Facts about a seat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AgentEvent {
    /// A sub-account signed in, working.
    AgentSignedIn {
        /// The extension.
        extension_id: Uuid,
        /// The extension's enterprise.
        enterprise_id: Uuid,
        /// The sub-account.
        account_id: Uuid,
        /// Its endpoint.
        endpoint: Endpoint,
        /// When.
        at: DateTime<Utc>,
    },
    /// It signed out.
    AgentSignedOut {
        /// The sub-account.
        account_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The work state changed.
    AgentStateChanged {
        /// The new state.
        state: WorkState,
        /// Why, when the system changed it (`missed offers`).
        reason: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A call rings the agent.
    AgentOffered {
        /// The call.
        call_id: Uuid,
        /// The queue.
        queue_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent answered it.
    AgentAnswered {
        /// The call.
        call_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent missed it.
    AgentMissed {
        /// The call.
        call_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The offer was taken back.
    AgentOfferWithdrawn {
        /// The call.
        call_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent's call ended.
    AgentCallEnded {
        /// The call.
        call_id: Uuid,
        /// When its wrap-up ends (none when the queue allows none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wrap_up_until: Option<DateTime<Utc>>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent placed a call (click-to-dial).
    AgentDialledOut {
        /// The call.
        call_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent ended its wrap-up early.
    AgentWrapUpEnded {
        /// When.
        at: DateTime<Utc>,
    },
    /// The seat's supervisor joined a call (monitoring it or taking it over).
    AgentJoinedCall {
        /// The call.
        call_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a seat command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// Nobody is signed in.
    #[error("no agent is signed in to this extension")]
    NotSignedIn,
    /// The extension does not permit the sub-account.
    #[error("this sub-account may not sign in to this extension")]
    NotPermitted,
    /// Another sub-account is signed in.
    #[error("another sub-account is signed in to this extension")]
    Occupied,
    /// The agent is ringing or on a call.
    #[error("the agent is busy")]
    Busy,
    /// The call named is not the agent's offer or call.
    #[error("that call is not the agent's")]
    NotTheCall,
    /// The agent wraps up its last call.
    #[error("the agent is wrapping up its last call")]
    WrappingUp,
    /// There is no wrap-up to end.
    #[error("the agent is not wrapping up")]
    NotWrappingUp,
}

impl esrs::Aggregate for Agent {
    const NAME: &'static str = "agent";
    type State = AgentState;
    type Command = AgentCommand;
    type Event = AgentEvent;
    type Error = AgentError;

    fn handle_command(
        state: &AgentState,
        command: AgentCommand,
    ) -> Result<Vec<AgentEvent>, AgentError> {
        use AgentCommand as C;
        use AgentEvent as E;
        let offered = |call_id: Uuid| state.offer.as_ref().is_some_and(|o| o.call_id == call_id);
        match command {
            C::SignIn {
                extension_id,
                enterprise_id,
                account_id,
                permitted,
                endpoint,
                at,
            } => {
                if !permitted {
                    return Err(AgentError::NotPermitted);
                }
                match &state.signed_in {
                    Some(s) if s.account_id != account_id => Err(AgentError::Occupied),
                    Some(s) if s.endpoint == endpoint => Ok(vec![]),
                    _ => Ok(vec![E::AgentSignedIn {
                        extension_id,
                        enterprise_id,
                        account_id,
                        endpoint,
                        at,
                    }]),
                }
            }
            C::SignOut { at } => {
                let signed_in = state.signed_in.as_ref().ok_or(AgentError::NotSignedIn)?;
                let mut events = Vec::new();
                // A ringing offer goes back to its queue.
                if let Some(offer) = &state.offer {
                    events.push(E::AgentOfferWithdrawn {
                        call_id: offer.call_id,
                        at,
                    });
                }
                events.push(E::AgentSignedOut {
                    account_id: signed_in.account_id,
                    at,
                });
                Ok(events)
            }
            C::SetWorkState { state: next, at } => {
                if state.signed_in.is_none() {
                    return Err(AgentError::NotSignedIn);
                }
                Ok(if next == state.work_state {
                    vec![]
                } else {
                    vec![E::AgentStateChanged {
                        state: next,
                        reason: None,
                        at,
                    }]
                })
            }
            C::Offer {
                call_id,
                queue_id,
                at,
            } => {
                if state.signed_in.is_none() {
                    return Err(AgentError::NotSignedIn);
                }
                if state.offer.is_some() || state.on_call.is_some() {
                    return Err(AgentError::Busy);
                }
                if state.wrap_up_until.is_some_and(|until| at < until) {
                    return Err(AgentError::WrappingUp);
                }
                Ok(vec![E::AgentOffered {
                    call_id,
                    queue_id,
                    at,
                }])
            }
            C::Answer { call_id, at } => {
                if !offered(call_id) {
                    return Err(AgentError::NotTheCall);
                }
                Ok(vec![E::AgentAnswered { call_id, at }])
            }
            C::Miss {
                call_id,
                max_missed,
                at,
            } => {
                if !offered(call_id) {
                    return Err(AgentError::NotTheCall);
                }
                let mut events = vec![E::AgentMissed { call_id, at }];
                let on_break = state.work_state == WorkState::Break;
                if max_missed > 0 && state.missed_in_row + 1 >= max_missed && !on_break {
                    events.push(E::AgentStateChanged {
                        state: WorkState::Break,
                        reason: Some(format!("{max_missed} offers missed in a row")),
                        at,
                    });
                }
                Ok(events)
            }
            C::Withdraw { call_id, at } => Ok(if offered(call_id) {
                vec![E::AgentOfferWithdrawn { call_id, at }]
            } else {
                vec![]
            }),
            C::EndCall {
                call_id,
                wrap_up_seconds,
                at,
            } => Ok(if state.on_call == Some(call_id) {
                let wrap_up = chrono::Duration::seconds(i64::from(wrap_up_seconds));
                vec![E::AgentCallEnded {
                    call_id,
                    wrap_up_until: (wrap_up_seconds > 0).then(|| at + wrap_up),
                    at,
                }]
            } else {
                vec![]
            }),
            C::DialOut { call_id, at } => {
                if state.signed_in.is_none() {
                    return Err(AgentError::NotSignedIn);
                }
                if state.offer.is_some() || state.on_call.is_some() {
                    return Err(AgentError::Busy);
                }
                Ok(vec![E::AgentDialledOut { call_id, at }])
            }
            C::JoinCall { call_id, at } => {
                if state.signed_in.is_none() {
                    return Err(AgentError::NotSignedIn);
                }
                if state.offer.is_some() || state.on_call.is_some_and(|c| c != call_id) {
                    return Err(AgentError::Busy);
                }
                Ok(if state.on_call == Some(call_id) {
                    vec![]
                } else {
                    vec![E::AgentJoinedCall { call_id, at }]
                })
            }
            C::EndWrapUp { at } => match state.wrap_up_until {
                Some(until) if at < until => Ok(vec![E::AgentWrapUpEnded { at }]),
                _ => Err(AgentError::NotWrappingUp),
            },
        }
    }

    fn apply_event(mut state: AgentState, event: AgentEvent) -> AgentState {
        match event {
            AgentEvent::AgentSignedIn {
                enterprise_id,
                account_id,
                endpoint,
                at,
                ..
            } => {
                let already = state
                    .signed_in
                    .as_ref()
                    .is_some_and(|s| s.account_id == account_id);
                state.enterprise_id = Some(enterprise_id);
                state.signed_in = Some(SignedIn {
                    account_id,
                    endpoint,
                    since: at,
                });
                if !already {
                    state.work_state = WorkState::Working;
                    state.state_since = Some(at);
                    state.missed_in_row = 0;
                }
            }
            AgentEvent::AgentSignedOut { .. } => {
                state.signed_in = None;
                state.offer = None;
                state.wrap_up_until = None;
                state.work_state = WorkState::Working;
                state.state_since = None;
            }
            AgentEvent::AgentStateChanged {
                state: next, at, ..
            } => {
                state.work_state = next;
                state.state_since = Some(at);
                if next != WorkState::Break {
                    state.missed_in_row = 0;
                }
            }
            AgentEvent::AgentOffered {
                call_id,
                queue_id,
                at,
            } => {
                state.offer = Some(Offer {
                    call_id,
                    queue_id,
                    at,
                })
            }
            AgentEvent::AgentAnswered { call_id, .. } => {
                state.offer = None;
                state.on_call = Some(call_id);
                state.missed_in_row = 0;
            }
            AgentEvent::AgentMissed { .. } => {
                state.offer = None;
                state.missed_in_row += 1;
            }
            AgentEvent::AgentOfferWithdrawn { .. } => state.offer = None,
            AgentEvent::AgentCallEnded { wrap_up_until, .. } => {
                state.on_call = None;
                state.wrap_up_until = wrap_up_until;
            }
            AgentEvent::AgentWrapUpEnded { .. } => state.wrap_up_until = None,
            AgentEvent::AgentDialledOut { call_id, .. }
            | AgentEvent::AgentJoinedCall { call_id, .. } => {
                state.on_call = Some(call_id);
                state.wrap_up_until = None;
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
    }

    const CALL: Uuid = Uuid::from_u128(10);
    const QUEUE: Uuid = Uuid::from_u128(20);
    const ACCOUNT: Uuid = Uuid::from_u128(30);

    fn signed_in() -> AgentEvent {
        AgentEvent::AgentSignedIn {
            extension_id: Uuid::from_u128(2),
            enterprise_id: Uuid::from_u128(1),
            account_id: ACCOUNT,
            endpoint: Endpoint::SipPhone,
            at: at(0),
        }
    }

    fn offered(call: Uuid) -> AgentEvent {
        AgentEvent::AgentOffered {
            call_id: call,
            queue_id: QUEUE,
            at: at(5),
        }
    }

    #[test]
    fn a_supervisor_joins_a_call_only_when_free_and_no_queue_offers_it_meanwhile() {
        let joined = AgentEvent::AgentJoinedCall {
            call_id: CALL,
            at: at(7),
        };
        given::<Agent>(vec![signed_in()])
            .when(AgentCommand::JoinCall {
                call_id: CALL,
                at: at(7),
            })
            .then(vec![joined.clone()]);
        // Joining the call it is on already (a take-over after listening) adds nothing.
        given::<Agent>(vec![signed_in(), joined.clone()])
            .when(AgentCommand::JoinCall {
                call_id: CALL,
                at: at(8),
            })
            .then(vec![]);
        given::<Agent>(vec![signed_in(), offered(Uuid::from_u128(13))])
            .when(AgentCommand::JoinCall {
                call_id: CALL,
                at: at(7),
            })
            .then_err(AgentError::Busy);
        given::<Agent>(vec![])
            .when(AgentCommand::JoinCall {
                call_id: CALL,
                at: at(7),
            })
            .then_err(AgentError::NotSignedIn);
        given::<Agent>(vec![signed_in(), joined.clone()])
            .when(AgentCommand::Offer {
                call_id: Uuid::from_u128(13),
                queue_id: QUEUE,
                at: at(8),
            })
            .then_err(AgentError::Busy);
        given::<Agent>(vec![signed_in(), joined])
            .when(AgentCommand::EndCall {
                call_id: CALL,
                wrap_up_seconds: 0,
                at: at(9),
            })
            .then(vec![AgentEvent::AgentCallEnded {
                call_id: CALL,
                wrap_up_until: None,
                at: at(9),
            }]);
    }

    #[test]
    fn an_agent_dials_out_only_when_free_and_is_then_on_that_call() {
        let own = Uuid::from_u128(12);
        given::<Agent>(vec![signed_in()])
            .when(AgentCommand::DialOut {
                call_id: own,
                at: at(7),
            })
            .then(vec![AgentEvent::AgentDialledOut {
                call_id: own,
                at: at(7),
            }]);
        given::<Agent>(vec![signed_in(), offered(CALL)])
            .when(AgentCommand::DialOut {
                call_id: own,
                at: at(7),
            })
            .then_err(AgentError::Busy);
        given::<Agent>(vec![
            signed_in(),
            AgentEvent::AgentDialledOut {
                call_id: own,
                at: at(7),
            },
        ])
        .when(AgentCommand::Offer {
            call_id: CALL,
            queue_id: QUEUE,
            at: at(8),
        })
        .then_err(AgentError::Busy);
    }

    #[test]
    fn no_offer_reaches_an_agent_wrapping_up_until_its_time_is_up_or_it_ends_early() {
        let answered = AgentEvent::AgentAnswered {
            call_id: CALL,
            at: at(6),
        };
        given::<Agent>(vec![signed_in(), offered(CALL), answered.clone()])
            .when(AgentCommand::EndCall {
                call_id: CALL,
                wrap_up_seconds: 30,
                at: at(60),
            })
            .then(vec![AgentEvent::AgentCallEnded {
                call_id: CALL,
                wrap_up_until: Some(at(90)),
                at: at(60),
            }]);
        let ended = AgentEvent::AgentCallEnded {
            call_id: CALL,
            wrap_up_until: Some(at(90)),
            at: at(60),
        };
        let next = Uuid::from_u128(11);
        let history = vec![signed_in(), offered(CALL), answered, ended];
        given::<Agent>(history.clone())
            .when(AgentCommand::Offer {
                call_id: next,
                queue_id: QUEUE,
                at: at(89),
            })
            .then_err(AgentError::WrappingUp);
        given::<Agent>(history.clone())
            .when(AgentCommand::Offer {
                call_id: next,
                queue_id: QUEUE,
                at: at(90),
            })
            .then(vec![AgentEvent::AgentOffered {
                call_id: next,
                queue_id: QUEUE,
                at: at(90),
            }]);
        given::<Agent>(history.clone())
            .when(AgentCommand::EndWrapUp { at: at(70) })
            .then(vec![AgentEvent::AgentWrapUpEnded { at: at(70) }]);
        let mut done = history.clone();
        done.push(AgentEvent::AgentWrapUpEnded { at: at(70) });
        given::<Agent>(done)
            .when(AgentCommand::Offer {
                call_id: next,
                queue_id: QUEUE,
                at: at(71),
            })
            .then(vec![AgentEvent::AgentOffered {
                call_id: next,
                queue_id: QUEUE,
                at: at(71),
            }]);
        given::<Agent>(history)
            .when(AgentCommand::EndWrapUp { at: at(95) })
            .then_err(AgentError::NotWrappingUp);
    }

    #[test]
    fn only_a_permitted_account_signs_in_and_one_at_a_time() {
        let sign_in = |account: Uuid, permitted| AgentCommand::SignIn {
            extension_id: Uuid::from_u128(2),
            enterprise_id: Uuid::from_u128(1),
            account_id: account,
            permitted,
            endpoint: Endpoint::SipPhone,
            at: at(0),
        };
        given::<Agent>(vec![])
            .when(sign_in(ACCOUNT, true))
            .then(vec![signed_in()]);
        given::<Agent>(vec![])
            .when(sign_in(ACCOUNT, false))
            .then_err(AgentError::NotPermitted);
        given::<Agent>(vec![signed_in()])
            .when(sign_in(Uuid::from_u128(31), true))
            .then_err(AgentError::Occupied);
    }

    #[test]
    fn a_second_offer_is_refused_while_one_rings() {
        given::<Agent>(vec![signed_in(), offered(CALL)])
            .when(AgentCommand::Offer {
                call_id: Uuid::from_u128(11),
                queue_id: QUEUE,
                at: at(6),
            })
            .then_err(AgentError::Busy);
        given::<Agent>(vec![])
            .when(AgentCommand::Offer {
                call_id: CALL,
                queue_id: QUEUE,
                at: at(6),
            })
            .then_err(AgentError::NotSignedIn);
    }

    #[test]
    fn missing_too_many_offers_puts_the_agent_on_break() {
        let history = vec![
            signed_in(),
            offered(CALL),
            AgentEvent::AgentMissed {
                call_id: CALL,
                at: at(10),
            },
            offered(CALL),
        ];
        given::<Agent>(history)
            .when(AgentCommand::Miss {
                call_id: CALL,
                max_missed: 2,
                at: at(20),
            })
            .then(vec![
                AgentEvent::AgentMissed {
                    call_id: CALL,
                    at: at(20),
                },
                AgentEvent::AgentStateChanged {
                    state: WorkState::Break,
                    reason: Some("2 offers missed in a row".into()),
                    at: at(20),
                },
            ]);
    }

    #[test]
    fn signing_out_while_offered_withdraws_the_offer() {
        given::<Agent>(vec![signed_in(), offered(CALL)])
            .when(AgentCommand::SignOut { at: at(7) })
            .then(vec![
                AgentEvent::AgentOfferWithdrawn {
                    call_id: CALL,
                    at: at(7),
                },
                AgentEvent::AgentSignedOut {
                    account_id: ACCOUNT,
                    at: at(7),
                },
            ]);
    }
}
