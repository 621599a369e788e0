//! The supervisor's board (班长, manual §7.7): for the queues a supervisor picks, the callers
//! waiting and the member agents, built from in-memory read models (`queue_board`, `agents`,
//! `extensions`, `accounts`, `call_records`). The `queueBoard` subscription sends the board,
//! then the board again with what changed after every event touching those queues, so a
//! console never polls and the number of viewers adds no database query.

use async_graphql::{Enum, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::call::{Call, CallEvent, QueueOutcome};
use eventlog::RecordedEvent;
use projections::{AccountDoc, AgentDoc, CallRecordDoc, ExtensionDoc, QueueBoardDoc, QueueDoc};
use uuid::Uuid;

use super::queues::{AgentEndpoint, AgentState};
use crate::app::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// A caller waiting in a queue.
#[derive(SimpleObject, Debug, Clone)]
pub struct WaitingCallObject {
    /// The call.
    pub call_id: ID,
    /// The caller's number (号码).
    pub caller: String,
    /// The inbound route it came by (来源).
    pub route_id: Option<ID>,
    /// When the call started (呼入时间).
    pub call_started_at: Option<DateTime<Utc>>,
    /// When it entered the queue (进入队列时间).
    pub entered_at: DateTime<Utc>,
    /// Seconds since the call started (总时长).
    pub total_seconds: i64,
    /// Seconds waiting in the queue (等待时长).
    pub waiting_seconds: i64,
    /// Offers agents did not answer (坐席未接次数).
    pub missed_offers: i32,
    /// The extensions ringing for it now.
    pub ringing: Vec<String>,
}

/// What an agent's phone is doing.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// No call.
    Idle,
    /// A queue call rings it.
    Ringing,
    /// On a call.
    Talking,
}

/// A member of a queue on the board.
#[derive(SimpleObject, Debug, Clone)]
pub struct BoardAgentObject {
    /// The extension.
    pub extension_id: ID,
    /// Its number.
    pub number: String,
    /// Whether someone is signed in.
    pub signed_in: bool,
    /// The signed-in sub-account.
    pub account_id: Option<ID>,
    /// Its name.
    pub account_name: Option<String>,
    /// Its endpoint (通话端).
    pub endpoint: Option<AgentEndpoint>,
    /// Call state (通话状态).
    pub call_state: CallState,
    /// Seconds in that call state.
    pub call_seconds: i64,
    /// The call ringing or up.
    pub call_id: Option<ID>,
    /// Work state (工作状态).
    pub work_state: Option<AgentState>,
    /// Seconds in that work state.
    pub state_seconds: i64,
}

/// One queue's board.
#[derive(SimpleObject, Debug, Clone)]
pub struct QueueBoardObject {
    /// The queue.
    pub queue_id: ID,
    /// Its name.
    pub name: String,
    /// The callers waiting, in order.
    pub waiting: Vec<WaitingCallObject>,
    /// The member agents, in the queue's order.
    pub agents: Vec<BoardAgentObject>,
}

/// What a board update is about.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardChange {
    /// The board as it is when the subscription starts.
    Snapshot,
    /// A caller entered a queue.
    CallEntered,
    /// A waiting caller rings an agent.
    CallOffered,
    /// An agent's ring ended without an answer.
    OfferMissed,
    /// An agent answered: the caller left the queue connected.
    CallConnected,
    /// The caller left the queue unconnected (abandoned, timed out).
    CallLeft,
    /// An agent signed in or out, or changed state or call.
    AgentChanged,
}

/// A message of the `queueBoard` subscription.
#[derive(SimpleObject, Debug, Clone)]
pub struct QueueBoardUpdate {
    /// What changed.
    pub change: BoardChange,
    /// The queue it happened in (null for a snapshot).
    pub queue_id: Option<ID>,
    /// The call it is about.
    pub call_id: Option<ID>,
    /// The agent's extension it is about.
    pub extension_id: Option<ID>,
    /// The log position of the event.
    pub position: i64,
    /// The boards after the change.
    pub boards: Vec<QueueBoardObject>,
}

fn doc<T: serde::de::DeserializeOwned>(app: &App, model: &str, key: &str) -> Option<T> {
    app.models.model(model).ok()?.get(key)?.decode()
}

/// The queues named, as `caller` may watch them (another enterprise's are `NOT_FOUND`).
pub fn watched(app: &App, caller: &Caller, ids: &[Uuid]) -> ApiResult<Vec<QueueDoc>> {
    ids.iter()
        .map(|id| {
            app.models
                .model("queues")?
                .get(&id.to_string())
                .filter(|d| caller.sees(d.tenant_id))
                .and_then(|d| d.decode::<QueueDoc>())
                .ok_or_else(|| ApiError::NotFound("queue not found".into()))
        })
        .collect()
}

/// The boards of `queues` now.
pub fn boards(app: &App, queues: &[QueueDoc]) -> Vec<QueueBoardObject> {
    let now = Utc::now();
    let seconds =
        |since: Option<DateTime<Utc>>| since.map_or(0, |s| (now - s).num_seconds().max(0));
    queues
        .iter()
        .map(|queue| {
            let board: QueueBoardDoc =
                doc(app, "queue_board", &projections::board_key(queue.id)).unwrap_or_default();
            let waiting = board
                .waiting
                .into_iter()
                .map(|w| {
                    let record: Option<CallRecordDoc> =
                        doc(app, "call_records", &w.call_id.to_string());
                    let started = record.as_ref().map(|r| r.started_at);
                    WaitingCallObject {
                        call_id: ID(w.call_id.to_string()),
                        caller: w.caller,
                        route_id: record
                            .as_ref()
                            .and_then(|r| r.route_id)
                            .map(|r| ID(r.to_string())),
                        call_started_at: started,
                        entered_at: w.entered_at,
                        total_seconds: seconds(started.or(Some(w.entered_at))),
                        waiting_seconds: seconds(Some(w.entered_at)),
                        missed_offers: i32::try_from(w.missed_offers).unwrap_or(i32::MAX),
                        ringing: w.ringing.into_iter().map(|(_, number)| number).collect(),
                    }
                })
                .collect();
            let agents = queue
                .members
                .iter()
                .map(|extension_id| {
                    let extension: Option<ExtensionDoc> =
                        doc(app, "extensions", &extension_id.to_string());
                    let seat: Option<AgentDoc> = doc(
                        app,
                        "agents",
                        &domain::ids::agent_id(*extension_id).to_string(),
                    )
                    .filter(|s: &AgentDoc| s.account_id.is_some());
                    let account: Option<AccountDoc> = seat
                        .as_ref()
                        .and_then(|s| s.account_id)
                        .and_then(|a| doc(app, "accounts", &a.to_string()));
                    let (call_state, since, call) = match &seat {
                        Some(s) if s.on_call.is_some() => {
                            (CallState::Talking, s.call_since, s.on_call)
                        }
                        Some(s) if s.offered_call.is_some() => {
                            (CallState::Ringing, s.offered_at, s.offered_call)
                        }
                        _ => (
                            CallState::Idle,
                            seat.as_ref().and_then(|s| s.idle_since),
                            None,
                        ),
                    };
                    BoardAgentObject {
                        extension_id: ID(extension_id.to_string()),
                        number: extension.map(|e| e.number).unwrap_or_default(),
                        signed_in: seat.is_some(),
                        account_id: seat
                            .as_ref()
                            .and_then(|s| s.account_id)
                            .map(|a| ID(a.to_string())),
                        account_name: account.map(|a| a.name),
                        endpoint: seat.as_ref().map(|s| s.endpoint.into()),
                        call_state,
                        call_seconds: seconds(since),
                        call_id: call.map(|c| ID(c.to_string())),
                        work_state: seat.as_ref().map(|s| s.work_state.into()),
                        state_seconds: seconds(seat.as_ref().and_then(|s| s.state_since)),
                    }
                })
                .collect();
            QueueBoardObject {
                queue_id: ID(queue.id.to_string()),
                name: queue.settings.name.clone(),
                waiting,
                agents,
            }
        })
        .collect()
}

/// A change of the boards: what, in which queue, about which call and which extension.
pub type Change = (BoardChange, Option<Uuid>, Option<Uuid>, Option<Uuid>);

/// What `event` changes on the boards of `queues`, if anything.
pub fn change_of(app: &App, queues: &[QueueDoc], event: &RecordedEvent) -> Option<Change> {
    let watched = |queue: Uuid| queues.iter().any(|q| q.id == queue);
    if event.stream_type == <Call as esrs::Aggregate>::NAME {
        let e: CallEvent = serde_json::from_str(&event.payload).ok()?;
        let call = Some(event.stream_id);
        let waiting_in = || {
            queues.iter().find(|q| {
                doc::<QueueBoardDoc>(app, "queue_board", &projections::board_key(q.id))
                    .is_some_and(|b| b.waiting.iter().any(|w| w.call_id == event.stream_id))
            })
        };
        return match e {
            CallEvent::QueueEntered { queue_id, .. } if watched(queue_id) => {
                Some((BoardChange::CallEntered, Some(queue_id), call, None))
            }
            CallEvent::QueueLeft {
                queue_id,
                outcome,
                agent,
                ..
            } if watched(queue_id) => Some((
                if outcome == QueueOutcome::Answered {
                    BoardChange::CallConnected
                } else {
                    BoardChange::CallLeft
                },
                Some(queue_id),
                call,
                agent,
            )),
            CallEvent::LegOffered { .. } => {
                waiting_in().map(|q| (BoardChange::CallOffered, Some(q.id), call, None))
            }
            CallEvent::LegHungUp { leg, .. } if leg != "a" => {
                waiting_in().map(|q| (BoardChange::OfferMissed, Some(q.id), call, None))
            }
            _ => None,
        };
    }
    if event.stream_type == <domain::agent::Agent as esrs::Aggregate>::NAME {
        let queue = queues.iter().find(|q| {
            q.members
                .iter()
                .any(|m| domain::ids::agent_id(*m) == event.stream_id)
        })?;
        let extension = queue
            .members
            .iter()
            .find(|m| domain::ids::agent_id(**m) == event.stream_id)
            .copied();
        return Some((BoardChange::AgentChanged, Some(queue.id), None, extension));
    }
    None
}
