//! The call (通话): one aggregate per call, whose events cover every leg — offered, ringing,
//! answered, bridged, held, resumed, transferred, recording, hung up with side and cause — and
//! the refusals decided at the door (paused route, route over its limit, outbound not allowed).
//! The call runtime turns SIP and media happenings into these commands and carries out an
//! effect only after the events deciding it are committed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::policy::ivr::IvrFact;

/// The call aggregate.
pub struct Call;

/// Which way a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From a trunk (a DID) into the enterprise.
    Inbound,
    /// Extension to extension.
    Internal,
    /// From an extension out through a trunk.
    Outbound,
}

/// Who a leg reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Party {
    /// A number outside (E.164).
    External {
        /// The number.
        number: String,
    },
    /// An extension of the enterprise.
    Extension {
        /// The extension.
        extension_id: Uuid,
        /// Its number.
        number: String,
    },
}

/// Why a call or a leg ended, or was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A party hung up after answer.
    Normal,
    /// The callee was busy (486).
    Busy,
    /// Nobody answered in time.
    NoAnswer,
    /// The caller gave up before answer (CANCEL).
    Cancelled,
    /// The callee refused with this SIP status.
    Rejected(u16),
    /// The callee is not registered (and not forwarded).
    Unavailable,
    /// The route is paused.
    RoutePaused,
    /// The route has as many calls as it allows.
    RouteLimitReached,
    /// No route for the number called.
    NoRoute,
    /// The extension may not dial out manually.
    OutboundNotAllowed,
    /// The enterprise has no licensed caller-ID number to dial out with.
    NoCallerId,
    /// Media or signalling stopped (no RTP, session timer).
    MediaTimeout,
    /// The node restarted while the call was up.
    NodeRestart,
}

/// How a caller left a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueOutcome {
    /// An agent answered.
    Answered,
    /// The caller hung up while waiting (abandoned).
    Abandoned,
    /// The queue timeout ran out.
    Timeout,
}

/// What a supervisor does to a call (班长功能).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisorAction {
    /// Forces it down (强拆).
    ForceHangUp,
    /// Answers a waiting caller on the supervisor's own extension.
    AnswerWaiting,
    /// Replaces the agent (抢线).
    TakeOver,
    /// Listens to both sides unheard (监听); the supervisor's own phone rings.
    Listen,
    /// Speaks to the agent only (密语).
    Whisper,
    /// Joins the call three-way (强插).
    Barge,
    /// Leaves the call it listened to, whispered into or barged into.
    StopMonitoring,
}

/// Which side ended a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The caller's side.
    Caller,
    /// The callee's side.
    Callee,
    /// callcore itself (timeouts, refusals, restarts, supervisors).
    System,
}

/// The state of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegState {
    /// Offered, no answer yet.
    Offered,
    /// Ringing.
    Ringing,
    /// Answered.
    Answered,
    /// Ended.
    Ended,
}

/// The route facts a call is decided on (looked up in the runtime's hot state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCheck {
    /// The route.
    pub route_id: Uuid,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Calls on it now.
    pub active_calls: u32,
    /// Its limit.
    pub max_concurrent: u32,
}

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

/// Commands on a call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallCommand {
    /// A call arrives: leg `a` from `caller` to `called`.
    Offer {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Direction.
        direction: Direction,
        /// The calling party.
        caller: Party,
        /// The number or extension dialled.
        called: String,
        /// For inbound calls, the route and its state now.
        route: Option<RouteCheck>,
        /// For calls from an extension: whether it may dial out manually (looked up).
        outbound_allowed: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// Offers a new leg to `party`.
    AddLeg {
        /// Leg name (`b`, `c`…).
        leg: String,
        /// Who it reaches.
        party: Party,
        /// Caller ID presented.
        caller_id: String,
        /// Whether this is a forward to the extension's bound number.
        forwarded: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg rings.
    Ringing {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg answers.
    Answer {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Media of two answered legs is joined.
    Bridge {
        /// One leg.
        leg: String,
        /// The other.
        other: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg goes on hold (sendonly/inactive re-INVITE, or an agent's hold).
    Hold {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A held leg resumes.
    Resume {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The call is transferred (blind) to `target`.
    Transfer {
        /// Who transfers.
        by_leg: String,
        /// Target (extension, number, queue, IVR) as text.
        target: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A key was pressed on a leg (RFC 4733).
    Digit {
        /// The leg.
        leg: String,
        /// The key: `0`–`9`, `*`, `#`, `A`–`D`.
        key: char,
        /// When.
        at: DateTime<Utc>,
    },
    /// Recording of the bridged part starts into `file`.
    StartRecording {
        /// Relative path under the data directory.
        file: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Recording stops.
    StopRecording {
        /// Recorded length in milliseconds.
        duration_ms: u64,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg ends.
    Hangup {
        /// The leg.
        leg: String,
        /// Which side ended it.
        side: Side,
        /// Why.
        cause: Cause,
        /// When.
        at: DateTime<Utc>,
    },
    /// The call enters an IVR flow at one of its versions.
    EnterIvr {
        /// The flow.
        flow_id: Uuid,
        /// The version it runs.
        version: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// Records what a step of the call's IVR run decided.
    Ivr {
        /// The step's facts, in order.
        facts: Vec<IvrFact>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A prompt could not be played.
    PromptFailed {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent's number is read to the caller as they are connected (接通报工号).
    AnnounceAgent {
        /// The agent's extension number.
        number: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller's voicemail starts being recorded into `file`.
    StartVoicemail {
        /// The call's enterprise.
        enterprise_id: Uuid,
        /// Who left it (E.164 or extension number).
        caller: String,
        /// The number called.
        called: String,
        /// The inbound route.
        route_id: Option<Uuid>,
        /// Relative path under the data directory.
        file: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The voicemail ends.
    StopVoicemail {
        /// Recorded length in milliseconds.
        duration_ms: u64,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller enters a queue, unless it holds as many callers as it allows.
    EnterQueue {
        /// The queue.
        queue_id: Uuid,
        /// The caller's number, as the queue's board shows it.
        caller: String,
        /// Callers waiting in it now (looked up in the node's hot state).
        waiting: u32,
        /// Its limit (最大等待数).
        max_waiting: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller leaves its queue.
    LeaveQueue {
        /// How.
        outcome: QueueOutcome,
        /// The extension that answered (`Answered`).
        agent: Option<Uuid>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A supervisor acts on the call.
    Supervise {
        /// The supervisor's sub-account.
        supervisor: Uuid,
        /// What it does.
        action: SupervisorAction,
        /// When.
        at: DateTime<Utc>,
    },
    /// After a restart: end whatever is still up.
    CloseAfterRestart {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Facts about a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CallEvent {
    /// The call arrived (leg `a`).
    CallOffered {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Direction.
        direction: Direction,
        /// Calling party.
        caller: Party,
        /// Dialled number or extension.
        called: String,
        /// The inbound route.
        route_id: Option<Uuid>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The call was refused at the door.
    CallRefused {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Direction.
        direction: Direction,
        /// Calling party.
        caller: Party,
        /// Dialled number or extension.
        called: String,
        /// The inbound route.
        route_id: Option<Uuid>,
        /// Why.
        cause: Cause,
        /// When.
        at: DateTime<Utc>,
    },
    /// A new leg was offered.
    LegOffered {
        /// Leg name.
        leg: String,
        /// Who it reaches.
        party: Party,
        /// Caller ID presented.
        caller_id: String,
        /// A forward to the bound number.
        forwarded: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg rang.
    LegRinging {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg answered.
    LegAnswered {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Two legs were bridged.
    LegsBridged {
        /// One leg.
        leg: String,
        /// The other.
        other: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg went on hold.
    LegHeld {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg resumed.
    LegResumed {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The call was transferred.
    CallTransferred {
        /// Who transferred.
        by_leg: String,
        /// Target.
        target: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A key was pressed on a leg.
    DigitReceived {
        /// The leg.
        leg: String,
        /// The key.
        key: char,
        /// When.
        at: DateTime<Utc>,
    },
    /// Recording started.
    RecordingStarted {
        /// File.
        file: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Recording stopped.
    RecordingStopped {
        /// File.
        file: String,
        /// Length in milliseconds (`None` when the call ended without the recorder saying).
        duration_ms: Option<u64>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The call entered an IVR flow.
    IvrStarted {
        /// The flow.
        flow_id: Uuid,
        /// The version the call runs.
        version: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// The call entered a node of its flow.
    IvrNodeEntered {
        /// The node's key.
        node: String,
        /// Its type.
        node_type: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A variable of the flow got a value.
    IvrVariableSet {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A node decided where the call goes.
    IvrBranchTaken {
        /// The node's key.
        node: String,
        /// What decided it (`key 1`, `timeout`, `rule 2`, `otherwise`, `success`…).
        branch: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A prompt could not be played (TTS unavailable, a recording's file missing).
    PromptFailed {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller was told the number of the agent it is connected to (接通报工号).
    AgentAnnounced {
        /// The agent's extension number.
        number: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller's voicemail is being recorded.
    VoicemailStarted {
        /// The call's enterprise.
        enterprise_id: Uuid,
        /// Who leaves it.
        caller: String,
        /// The number called.
        called: String,
        /// The inbound route.
        route_id: Option<Uuid>,
        /// File, relative to the data directory.
        file: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The voicemail ended.
    VoicemailRecorded {
        /// File.
        file: String,
        /// Length in milliseconds (`None` when the call ended without the recorder saying).
        duration_ms: Option<u64>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller entered a queue.
    QueueEntered {
        /// The queue.
        queue_id: Uuid,
        /// The caller's number.
        caller: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The queue was full: the caller did not enter it.
    QueueFull {
        /// The queue.
        queue_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller left its queue.
    QueueLeft {
        /// The queue.
        queue_id: Uuid,
        /// How.
        outcome: QueueOutcome,
        /// The extension that answered.
        agent: Option<Uuid>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A supervisor acted on the call.
    SupervisorActed {
        /// The supervisor's sub-account.
        supervisor: Uuid,
        /// What it did.
        action: SupervisorAction,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg ended.
    LegHungUp {
        /// The leg.
        leg: String,
        /// Side.
        side: Side,
        /// Cause.
        cause: Cause,
        /// When.
        at: DateTime<Utc>,
    },
    /// Every leg has ended.
    CallEnded {
        /// Cause of the leg that ended the call.
        cause: Cause,
        /// When.
        at: DateTime<Utc>,
    },
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
mod tests {
    use super::*;
    use crate::testing::given;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
    }

    fn caller() -> Party {
        Party::External {
            number: "+8613800138000".into(),
        }
    }

    fn agent() -> Party {
        Party::Extension {
            extension_id: Uuid::from_u128(3),
            number: "1001".into(),
        }
    }

    fn route(enabled: bool, active_calls: u32) -> RouteCheck {
        RouteCheck {
            route_id: Uuid::from_u128(2),
            enabled,
            active_calls,
            max_concurrent: 2,
        }
    }

    fn offer(route: Option<RouteCheck>) -> CallCommand {
        CallCommand::Offer {
            enterprise_id: Uuid::from_u128(1),
            direction: Direction::Inbound,
            caller: caller(),
            called: "+862161234567".into(),
            route,
            outbound_allowed: false,
            at: at(0),
        }
    }

    fn offered() -> CallEvent {
        CallEvent::CallOffered {
            enterprise_id: Uuid::from_u128(1),
            direction: Direction::Inbound,
            caller: caller(),
            called: "+862161234567".into(),
            route_id: Some(Uuid::from_u128(2)),
            at: at(0),
        }
    }

    fn refused(cause: Cause, route_id: Option<Uuid>) -> CallEvent {
        CallEvent::CallRefused {
            enterprise_id: Uuid::from_u128(1),
            direction: Direction::Inbound,
            caller: caller(),
            called: "+862161234567".into(),
            route_id,
            cause,
            at: at(0),
        }
    }

    fn answered_and_bridged() -> Vec<CallEvent> {
        vec![
            offered(),
            CallEvent::LegOffered {
                leg: "b".into(),
                party: agent(),
                caller_id: "+8613800138000".into(),
                forwarded: false,
                at: at(1),
            },
            CallEvent::LegRinging {
                leg: "b".into(),
                at: at(1),
            },
            CallEvent::LegAnswered {
                leg: "b".into(),
                at: at(5),
            },
            CallEvent::LegAnswered {
                leg: "a".into(),
                at: at(5),
            },
            CallEvent::LegsBridged {
                leg: "a".into(),
                other: "b".into(),
                at: at(5),
            },
        ]
    }

    #[test]
    fn an_inbound_call_within_its_route_is_offered() {
        given::<Call>(vec![])
            .when(offer(Some(route(true, 1))))
            .then(vec![offered()]);
    }

    #[test]
    fn the_door_refuses_paused_full_and_unrouted_calls() {
        given::<Call>(vec![])
            .when(offer(Some(route(false, 0))))
            .then(vec![refused(Cause::RoutePaused, Some(Uuid::from_u128(2)))]);
        given::<Call>(vec![])
            .when(offer(Some(route(true, 2))))
            .then(vec![refused(
                Cause::RouteLimitReached,
                Some(Uuid::from_u128(2)),
            )]);
        given::<Call>(vec![])
            .when(offer(None))
            .then(vec![refused(Cause::NoRoute, None)]);
    }

    #[test]
    fn manual_outbound_needs_permission() {
        let command = CallCommand::Offer {
            enterprise_id: Uuid::from_u128(1),
            direction: Direction::Outbound,
            caller: agent(),
            called: "+8613900139000".into(),
            route: None,
            outbound_allowed: false,
            at: at(0),
        };
        given::<Call>(vec![])
            .when(command)
            .then(vec![CallEvent::CallRefused {
                enterprise_id: Uuid::from_u128(1),
                direction: Direction::Outbound,
                caller: agent(),
                called: "+8613900139000".into(),
                route_id: None,
                cause: Cause::OutboundNotAllowed,
                at: at(0),
            }]);
    }

    #[test]
    fn a_refused_call_takes_no_more_commands() {
        given::<Call>(vec![refused(Cause::RoutePaused, None)])
            .when(CallCommand::AddLeg {
                leg: "b".into(),
                party: agent(),
                caller_id: String::new(),
                forwarded: false,
                at: at(1),
            })
            .then_err(CallError::Ended);
    }

    #[test]
    fn bridging_needs_two_answered_legs() {
        given::<Call>(vec![
            offered(),
            CallEvent::LegOffered {
                leg: "b".into(),
                party: agent(),
                caller_id: String::new(),
                forwarded: false,
                at: at(1),
            },
        ])
        .when(CallCommand::Bridge {
            leg: "a".into(),
            other: "b".into(),
            at: at(2),
        })
        .then_err(CallError::WrongState {
            leg: "a".into(),
            state: LegState::Offered,
        });
    }

    #[test]
    fn the_callee_hangs_up_then_the_caller_leg_ends_the_call() {
        let mut history = answered_and_bridged();
        given::<Call>(history.clone())
            .when(CallCommand::Hangup {
                leg: "b".into(),
                side: Side::Callee,
                cause: Cause::Normal,
                at: at(60),
            })
            .then(vec![CallEvent::LegHungUp {
                leg: "b".into(),
                side: Side::Callee,
                cause: Cause::Normal,
                at: at(60),
            }]);
        history.push(CallEvent::LegHungUp {
            leg: "b".into(),
            side: Side::Callee,
            cause: Cause::Normal,
            at: at(60),
        });
        given::<Call>(history.clone())
            .when(CallCommand::Hangup {
                leg: "a".into(),
                side: Side::System,
                cause: Cause::Normal,
                at: at(60),
            })
            .then(vec![
                CallEvent::LegHungUp {
                    leg: "a".into(),
                    side: Side::System,
                    cause: Cause::Normal,
                    at: at(60),
                },
                CallEvent::CallEnded {
                    cause: Cause::Normal,
                    at: at(60),
                },
            ]);
        // A retransmitted BYE changes nothing.
        given::<Call>(history)
            .when(CallCommand::Hangup {
                leg: "b".into(),
                side: Side::Callee,
                cause: Cause::Normal,
                at: at(61),
            })
            .then(vec![]);
    }

    #[test]
    fn hold_and_resume_are_idempotent() {
        let mut history = answered_and_bridged();
        given::<Call>(history.clone())
            .when(CallCommand::Hold {
                leg: "a".into(),
                at: at(10),
            })
            .then(vec![CallEvent::LegHeld {
                leg: "a".into(),
                at: at(10),
            }]);
        history.push(CallEvent::LegHeld {
            leg: "a".into(),
            at: at(10),
        });
        given::<Call>(history.clone())
            .when(CallCommand::Hold {
                leg: "a".into(),
                at: at(11),
            })
            .then(vec![]);
        given::<Call>(history)
            .when(CallCommand::Resume {
                leg: "a".into(),
                at: at(12),
            })
            .then(vec![CallEvent::LegResumed {
                leg: "a".into(),
                at: at(12),
            }]);
    }

    #[test]
    fn key_presses_are_facts_of_live_legs_only() {
        given::<Call>(answered_and_bridged())
            .when(CallCommand::Digit {
                leg: "a".into(),
                key: '7',
                at: at(9),
            })
            .then(vec![CallEvent::DigitReceived {
                leg: "a".into(),
                key: '7',
                at: at(9),
            }]);
        given::<Call>(answered_and_bridged())
            .when(CallCommand::Digit {
                leg: "c".into(),
                key: '7',
                at: at(9),
            })
            .then_err(CallError::NoSuchLeg("c".into()));
    }

    #[test]
    fn a_restart_closes_everything_with_an_explicit_cause() {
        let mut history = answered_and_bridged();
        history.push(CallEvent::RecordingStarted {
            file: "recordings/x.wav".into(),
            at: at(5),
        });
        given::<Call>(history)
            .when(CallCommand::CloseAfterRestart { at: at(100) })
            .then(vec![
                CallEvent::RecordingStopped {
                    file: "recordings/x.wav".into(),
                    duration_ms: None,
                    at: at(100),
                },
                CallEvent::LegHungUp {
                    leg: "a".into(),
                    side: Side::System,
                    cause: Cause::NodeRestart,
                    at: at(100),
                },
                CallEvent::LegHungUp {
                    leg: "b".into(),
                    side: Side::System,
                    cause: Cause::NodeRestart,
                    at: at(100),
                },
                CallEvent::CallEnded {
                    cause: Cause::NodeRestart,
                    at: at(100),
                },
            ]);
    }

    #[test]
    fn a_missed_call_ends_with_no_answer() {
        let history = vec![
            offered(),
            CallEvent::LegOffered {
                leg: "b".into(),
                party: agent(),
                caller_id: String::new(),
                forwarded: false,
                at: at(1),
            },
            CallEvent::LegRinging {
                leg: "b".into(),
                at: at(1),
            },
        ];
        given::<Call>(history)
            .when(CallCommand::Hangup {
                leg: "b".into(),
                side: Side::System,
                cause: Cause::NoAnswer,
                at: at(30),
            })
            .then(vec![CallEvent::LegHungUp {
                leg: "b".into(),
                side: Side::System,
                cause: Cause::NoAnswer,
                at: at(30),
            }]);
    }

    #[test]
    fn recording_stops_with_its_length() {
        let mut history = answered_and_bridged();
        history.push(CallEvent::RecordingStarted {
            file: "recordings/x.wav".into(),
            at: at(5),
        });
        given::<Call>(history)
            .when(CallCommand::StopRecording {
                duration_ms: 55_000,
                at: at(60),
            })
            .then(vec![CallEvent::RecordingStopped {
                file: "recordings/x.wav".into(),
                duration_ms: Some(55_000),
                at: at(60),
            }]);
    }

    #[test]
    fn an_ivr_step_is_recorded_fact_by_fact() {
        let flow_id = Uuid::from_u128(9);
        given::<Call>(vec![offered()])
            .when(CallCommand::Ivr {
                facts: vec![],
                at: at(1),
            })
            .then_err(CallError::NotInIvr);
        let entered = vec![
            offered(),
            CallEvent::IvrStarted {
                flow_id,
                version: 3,
                at: at(1),
            },
        ];
        given::<Call>(entered)
            .when(CallCommand::Ivr {
                facts: vec![
                    IvrFact::BranchTaken {
                        node: "menu".into(),
                        branch: "key 2".into(),
                    },
                    IvrFact::VariableSet {
                        name: "member".into(),
                        value: "2026".into(),
                    },
                    IvrFact::NodeEntered {
                        node: "voicemail".into(),
                        node_type: "voicemail".into(),
                    },
                ],
                at: at(4),
            })
            .then(vec![
                CallEvent::IvrBranchTaken {
                    node: "menu".into(),
                    branch: "key 2".into(),
                    at: at(4),
                },
                CallEvent::IvrVariableSet {
                    name: "member".into(),
                    value: "2026".into(),
                    at: at(4),
                },
                CallEvent::IvrNodeEntered {
                    node: "voicemail".into(),
                    node_type: "voicemail".into(),
                    at: at(4),
                },
            ]);
    }

    #[test]
    fn a_caller_hanging_up_ends_the_voicemail() {
        let history = vec![
            offered(),
            CallEvent::LegAnswered {
                leg: "a".into(),
                at: at(1),
            },
            CallEvent::VoicemailStarted {
                enterprise_id: Uuid::from_u128(1),
                caller: "+8613800138000".into(),
                called: "+862161234567".into(),
                route_id: Some(Uuid::from_u128(2)),
                file: "voicemail/x.wav".into(),
                at: at(5),
            },
        ];
        given::<Call>(history.clone())
            .when(CallCommand::StopVoicemail {
                duration_ms: 7_000,
                at: at(12),
            })
            .then(vec![CallEvent::VoicemailRecorded {
                file: "voicemail/x.wav".into(),
                duration_ms: Some(7_000),
                at: at(12),
            }]);
        given::<Call>(history)
            .when(CallCommand::Hangup {
                leg: "a".into(),
                side: Side::Caller,
                cause: Cause::Normal,
                at: at(12),
            })
            .then(vec![
                CallEvent::LegHungUp {
                    leg: "a".into(),
                    side: Side::Caller,
                    cause: Cause::Normal,
                    at: at(12),
                },
                CallEvent::VoicemailRecorded {
                    file: "voicemail/x.wav".into(),
                    duration_ms: None,
                    at: at(12),
                },
                CallEvent::CallEnded {
                    cause: Cause::Normal,
                    at: at(12),
                },
            ]);
    }
}
