//! The call (通话): one aggregate per call, whose events cover every leg — offered, ringing,
//! answered, bridged, held, resumed, transferred, recording, hung up with side and cause — and
//! the refusals decided at the door (paused route, route over its limit, outbound not allowed).
//! The call runtime turns SIP and media happenings into these commands and carries out an
//! effect only after the events deciding it are committed.

mod command;
mod event;
mod parties;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::policy::ivr::IvrFact;

pub use command::CallCommand;
pub use event::CallEvent;
pub use parties::{
    Cause, Direction, LegState, Party, QueueOutcome, RouteCheck, Side, SupervisorAction,
};

/// The call aggregate.
pub struct Call;

/// What a call is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallState {
    /// Whether it was offered (and not refused).
    pub started: bool,
    /// Whether it ended.
    pub ended: bool,
    /// Legs by name (`a` is the caller's).
    pub legs: BTreeMap<String, LegState>,
    /// Whether two legs are bridged.
    pub bridged: bool,
    /// Legs on hold.
    pub held: Vec<String>,
    /// The recording in progress, if any.
    pub recording: Option<String>,
    /// The voicemail being recorded, if any.
    pub voicemail: Option<String>,
    /// The IVR flow the call is in, if any.
    pub ivr: Option<Uuid>,
    /// The queue the caller waits in, if any.
    pub queue: Option<Uuid>,
    /// When the first leg was offered.
    pub offered_at: Option<DateTime<Utc>>,
}

/// Why a call command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The call was already offered.
    #[error("the call already exists")]
    AlreadyExists,
    /// No such call, or it was refused.
    #[error("call not found")]
    NotFound,
    /// The call has ended.
    #[error("the call has ended")]
    Ended,
    /// No such leg, or it has ended.
    #[error("leg {0} is not up")]
    NoSuchLeg(String),
    /// A leg with this name exists.
    #[error("leg {0} already exists")]
    LegExists(String),
    /// The call is in no IVR flow.
    #[error("the call is in no IVR flow")]
    NotInIvr,
    /// The leg is in the wrong state for this.
    #[error("leg {leg} is {state:?}")]
    WrongState {
        /// The leg.
        leg: String,
        /// Its state.
        state: LegState,
    },
}

fn live_leg(state: &CallState, leg: &str) -> Result<LegState, CallError> {
    match state.legs.get(leg) {
        Some(LegState::Ended) | None => Err(CallError::NoSuchLeg(leg.to_owned())),
        Some(s) => Ok(*s),
    }
}

/// The events that end `leg` and, when it was the last one up, the call.
fn hang_up(
    state: &CallState,
    leg: &str,
    side: Side,
    cause: Cause,
    at: DateTime<Utc>,
) -> Vec<CallEvent> {
    let mut events = vec![CallEvent::LegHungUp {
        leg: leg.to_owned(),
        side,
        cause: cause.clone(),
        at,
    }];
    let others_up = state
        .legs
        .iter()
        .any(|(name, s)| name != leg && *s != LegState::Ended);
    if !others_up {
        if let Some(queue_id) = state.queue {
            events.push(CallEvent::QueueLeft {
                queue_id,
                outcome: QueueOutcome::Abandoned,
                agent: None,
                at,
            });
        }
        if let Some(file) = &state.voicemail {
            events.push(CallEvent::VoicemailRecorded {
                file: file.clone(),
                duration_ms: None,
                at,
            });
        }
        if let Some(file) = &state.recording {
            events.push(CallEvent::RecordingStopped {
                file: file.clone(),
                duration_ms: None,
                at,
            });
        }
        events.push(CallEvent::CallEnded { cause, at });
    }
    events
}

impl esrs::Aggregate for Call {
    const NAME: &'static str = "call";
    type State = CallState;
    type Command = CallCommand;
    type Event = CallEvent;
    type Error = CallError;

    fn handle_command(
        state: &CallState,
        command: CallCommand,
    ) -> Result<Vec<CallEvent>, CallError> {
        use CallCommand as C;
        use CallEvent as E;
        if let C::Offer {
            enterprise_id,
            direction,
            caller,
            called,
            route,
            outbound_allowed,
            forwarded_out,
            at,
        } = command
        {
            if state.started || !state.legs.is_empty() {
                return Err(CallError::AlreadyExists);
            }
            let route_id = route.as_ref().map(|r| r.route_id);
            let refusal = match (&route, direction) {
                (Some(r), _) if !r.enabled => Some(Cause::RoutePaused),
                (Some(r), _) if r.active_calls >= r.max_concurrent => {
                    Some(Cause::RouteLimitReached)
                }
                (None, Direction::Inbound) => Some(Cause::NoRoute),
                (_, Direction::Outbound) if !outbound_allowed => Some(Cause::OutboundNotAllowed),
                (_, Direction::Internal) if forwarded_out && !outbound_allowed => {
                    Some(Cause::OutboundNotAllowed)
                }
                _ => None,
            };
            return Ok(vec![match refusal {
                Some(cause) => E::CallRefused {
                    enterprise_id,
                    direction,
                    caller,
                    called,
                    route_id,
                    cause,
                    at,
                },
                None => E::CallOffered {
                    enterprise_id,
                    direction,
                    caller,
                    called,
                    route_id,
                    at,
                },
            }]);
        }
        if !state.started {
            return Err(CallError::NotFound);
        }
        if state.ended {
            return match command {
                // Late hang-ups and restarts find nothing to do.
                C::Hangup { .. }
                | C::CloseAfterRestart { .. }
                | C::StopRecording { .. }
                | C::StopVoicemail { .. }
                | C::LeaveQueue { .. } => Ok(vec![]),
                _ => Err(CallError::Ended),
            };
        }
        match command {
            C::Offer { .. } => Err(CallError::AlreadyExists),
            C::AddLeg {
                leg,
                party,
                caller_id,
                forwarded,
                at,
            } => {
                if state.legs.contains_key(&leg) {
                    return Err(CallError::LegExists(leg));
                }
                Ok(vec![E::LegOffered {
                    leg,
                    party,
                    caller_id,
                    forwarded,
                    at,
                }])
            }
            C::Ringing { leg, at } => match live_leg(state, &leg)? {
                LegState::Offered => Ok(vec![E::LegRinging { leg, at }]),
                LegState::Ringing => Ok(vec![]),
                other => Err(CallError::WrongState { leg, state: other }),
            },
            C::Answer { leg, at } => match live_leg(state, &leg)? {
                LegState::Offered | LegState::Ringing => Ok(vec![E::LegAnswered { leg, at }]),
                LegState::Answered => Ok(vec![]),
                LegState::Ended => Err(CallError::NoSuchLeg(leg)),
            },
            C::Bridge { leg, other, at } => {
                for l in [&leg, &other] {
                    let s = live_leg(state, l)?;
                    if s != LegState::Answered {
                        return Err(CallError::WrongState {
                            leg: l.clone(),
                            state: s,
                        });
                    }
                }
                Ok(vec![E::LegsBridged { leg, other, at }])
            }
            C::Hold { leg, at } => {
                live_leg(state, &leg)?;
                Ok(if state.held.contains(&leg) {
                    vec![]
                } else {
                    vec![E::LegHeld { leg, at }]
                })
            }
            C::Resume { leg, at } => {
                live_leg(state, &leg)?;
                Ok(if state.held.contains(&leg) {
                    vec![E::LegResumed { leg, at }]
                } else {
                    vec![]
                })
            }
            C::Transfer { by_leg, target, at } => {
                live_leg(state, &by_leg)?;
                Ok(vec![E::CallTransferred { by_leg, target, at }])
            }
            C::Digit { leg, key, at } => {
                live_leg(state, &leg)?;
                Ok(vec![E::DigitReceived { leg, key, at }])
            }
            C::StartRecording { file, at } => Ok(if state.recording.is_some() {
                vec![]
            } else {
                vec![E::RecordingStarted { file, at }]
            }),
            C::StopRecording { duration_ms, at } => Ok(match &state.recording {
                Some(file) => vec![E::RecordingStopped {
                    file: file.clone(),
                    duration_ms: Some(duration_ms),
                    at,
                }],
                None => vec![],
            }),
            C::Hangup {
                leg,
                side,
                cause,
                at,
            } => {
                if state.legs.get(&leg).is_none_or(|s| *s == LegState::Ended) {
                    return Ok(vec![]); // already down: a retransmitted BYE, a late CANCEL
                }
                Ok(hang_up(state, &leg, side, cause, at))
            }
            C::EnterIvr {
                flow_id,
                version,
                at,
            } => Ok(vec![E::IvrStarted {
                flow_id,
                version,
                at,
            }]),
            C::Ivr { facts, at } => {
                if state.ivr.is_none() {
                    return Err(CallError::NotInIvr);
                }
                Ok(facts
                    .into_iter()
                    .map(|fact| match fact {
                        IvrFact::NodeEntered { node, node_type } => E::IvrNodeEntered {
                            node,
                            node_type,
                            at,
                        },
                        IvrFact::VariableSet { name, value } => {
                            E::IvrVariableSet { name, value, at }
                        }
                        IvrFact::BranchTaken { node, branch } => {
                            E::IvrBranchTaken { node, branch, at }
                        }
                    })
                    .collect())
            }
            C::PromptFailed { reason, at } => Ok(vec![E::PromptFailed { reason, at }]),
            C::AnnounceAgent { number, at } => Ok(vec![E::AgentAnnounced { number, at }]),
            C::Supervise {
                supervisor,
                action,
                at,
            } => Ok(vec![E::SupervisorActed {
                supervisor,
                action,
                at,
            }]),
            C::StartVoicemail {
                enterprise_id,
                caller,
                called,
                route_id,
                file,
                at,
            } => Ok(if state.voicemail.is_some() {
                vec![]
            } else {
                vec![E::VoicemailStarted {
                    enterprise_id,
                    caller,
                    called,
                    route_id,
                    file,
                    at,
                }]
            }),
            C::StopVoicemail { duration_ms, at } => Ok(match &state.voicemail {
                Some(file) => vec![E::VoicemailRecorded {
                    file: file.clone(),
                    duration_ms: Some(duration_ms),
                    at,
                }],
                None => vec![],
            }),
            C::EnterQueue {
                queue_id,
                caller,
                waiting,
                max_waiting,
                at,
            } => Ok(if waiting >= max_waiting {
                vec![E::QueueFull { queue_id, at }]
            } else {
                vec![E::QueueEntered {
                    queue_id,
                    caller,
                    at,
                }]
            }),
            C::LeaveQueue { outcome, agent, at } => Ok(match state.queue {
                Some(queue_id) => vec![E::QueueLeft {
                    queue_id,
                    outcome,
                    agent,
                    at,
                }],
                None => vec![],
            }),
            C::CloseAfterRestart { at } => {
                let mut events = Vec::new();
                if let Some(queue_id) = state.queue {
                    events.push(E::QueueLeft {
                        queue_id,
                        outcome: QueueOutcome::Abandoned,
                        agent: None,
                        at,
                    });
                }
                if let Some(file) = &state.voicemail {
                    events.push(E::VoicemailRecorded {
                        file: file.clone(),
                        duration_ms: None,
                        at,
                    });
                }
                if let Some(file) = &state.recording {
                    events.push(E::RecordingStopped {
                        file: file.clone(),
                        duration_ms: None,
                        at,
                    });
                }
                for (leg, s) in &state.legs {
                    if *s != LegState::Ended {
                        events.push(E::LegHungUp {
                            leg: leg.clone(),
                            side: Side::System,
                            cause: Cause::NodeRestart,
                            at,
                        });
                    }
                }
                events.push(E::CallEnded {
                    cause: Cause::NodeRestart,
                    at,
                });
                Ok(events)
            }
        }
    }

    fn apply_event(mut state: CallState, event: CallEvent) -> CallState {
        use CallEvent as E;
        match event {
            E::CallOffered { at, .. } => {
                state.started = true;
                state.offered_at = Some(at);
                state.legs.insert("a".into(), LegState::Offered);
            }
            E::CallRefused { .. } => {
                state.started = true;
                state.ended = true;
            }
            E::LegOffered { leg, .. } => {
                state.legs.insert(leg, LegState::Offered);
            }
            E::LegRinging { leg, .. } => {
                state.legs.insert(leg, LegState::Ringing);
            }
            E::LegAnswered { leg, .. } => {
                state.legs.insert(leg, LegState::Answered);
            }
            E::LegsBridged { .. } => state.bridged = true,
            E::LegHeld { leg, .. } => state.held.push(leg),
            E::LegResumed { leg, .. } => state.held.retain(|l| *l != leg),
            E::CallTransferred { .. }
            | E::DigitReceived { .. }
            | E::IvrNodeEntered { .. }
            | E::IvrVariableSet { .. }
            | E::IvrBranchTaken { .. }
            | E::PromptFailed { .. }
            | E::AgentAnnounced { .. }
            | E::SupervisorActed { .. } => {}
            E::IvrStarted { flow_id, .. } => state.ivr = Some(flow_id),
            E::QueueEntered { queue_id, .. } => state.queue = Some(queue_id),
            E::QueueLeft { .. } => state.queue = None,
            E::QueueFull { .. } => {}
            E::VoicemailStarted { file, .. } => state.voicemail = Some(file),
            E::VoicemailRecorded { .. } => state.voicemail = None,
            E::RecordingStarted { file, .. } => state.recording = Some(file),
            E::RecordingStopped { .. } => state.recording = None,
            E::LegHungUp { leg, .. } => {
                state.legs.insert(leg.clone(), LegState::Ended);
                state.held.retain(|l| *l != leg);
                state.bridged = false;
            }
            E::CallEnded { .. } => {
                state.ended = true;
                state.recording = None;
                state.voicemail = None;
                state.queue = None;
            }
        }
        state
    }
}

#[cfg(test)]
mod tests;
