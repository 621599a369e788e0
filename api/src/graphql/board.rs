//! The supervisor's board (班长, manual §7.7): for the queues a supervisor picks, the callers
//! waiting and the member agents, built from in-memory read models (`queue_board`, `agents`,
//! `extensions`, `accounts`, `call_records`). The `queueBoard` subscription sends the board,
//! then the board again with what changed after every event touching those queues, so a
//! console never polls and the number of viewers adds no database query.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Enum, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::call::{Call, CallEvent, QueueOutcome};
use eventlog::RecordedEvent;
use projections::{
    AccountDoc, AgentDoc, CallRecordDoc, ExtensionDoc, QueueBoardDoc, QueueDoc, ACCOUNTS, AGENTS,
    EXTENSIONS, LIVE_CALLS, QUEUES, QUEUE_BOARD,
};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::queue_types::{AgentEndpoint, AgentState};
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
    /// The whole board: when the subscription starts, and again whenever the viewer fell
    /// so far behind that changes were dropped (the console replaces its board).
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

/// A message of the `queueBoard` subscription: first the boards (`SNAPSHOT`), then each
/// change with the entry it changed (the caller's, or the agent's), so a console keeps its
/// board without asking again.
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
    /// When the event was committed.
    pub recorded_at: DateTime<Utc>,
    /// The caller's entry after the change (null once it left the queue).
    pub waiting: Option<WaitingCallObject>,
    /// The agent's entry after the change.
    pub agent: Option<BoardAgentObject>,
    /// The whole boards (the snapshot only).
    pub boards: Vec<QueueBoardObject>,
}

/// The queues named, as `caller` may watch them (another enterprise's are `NOT_FOUND`).
pub fn watched(app: &App, caller: &Caller, ids: &[Uuid]) -> ApiResult<Vec<QueueDoc>> {
    ids.iter()
        .map(|id| {
            app.node
                .models
                .of(QUEUES)
                .doc(&id.to_string())
                .filter(|d| caller.sees(d.tenant_id))
                .and_then(|d| d.decode::<QueueDoc>())
                .ok_or_else(|| ApiError::NotFound("queue not found".into()))
        })
        .collect()
}

fn seconds(since: Option<DateTime<Utc>>) -> i64 {
    since.map_or(0, |s| (Utc::now() - s).num_seconds().max(0))
}

/// The waiting entry of `w`.
fn waiting_entry(app: &App, w: projections::WaitingCall) -> WaitingCallObject {
    let record: Option<CallRecordDoc> = app.node.models.of(LIVE_CALLS).by_id(w.call_id);
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
}

/// The board entry of member `extension_id`.
fn agent_entry(app: &App, extension_id: Uuid) -> BoardAgentObject {
    let extension: Option<ExtensionDoc> = app.node.models.of(EXTENSIONS).by_id(extension_id);
    let seat: Option<AgentDoc> = app
        .node
        .models
        .of(AGENTS)
        .by_id(domain::ids::agent_id(extension_id))
        .filter(|s: &AgentDoc| s.account_id.is_some());
    let account: Option<AccountDoc> = seat
        .as_ref()
        .and_then(|s| s.account_id)
        .and_then(|a| app.node.models.of(ACCOUNTS).by_id(a));
    let (call_state, since, call) = match &seat {
        Some(s) if s.on_call.is_some() => (CallState::Talking, s.call_since, s.on_call),
        Some(s) if s.offered_call.is_some() => (CallState::Ringing, s.offered_at, s.offered_call),
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
}

/// The boards of `queues` now.
pub fn boards(app: &App, queues: &[QueueDoc]) -> Vec<QueueBoardObject> {
    queues
        .iter()
        .map(|queue| {
            let board: QueueBoardDoc = app
                .node
                .models
                .of(QUEUE_BOARD)
                .get(&projections::board_key(queue.id))
                .unwrap_or_default();
            QueueBoardObject {
                queue_id: ID(queue.id.to_string()),
                name: queue.settings.name.clone(),
                waiting: board
                    .waiting
                    .into_iter()
                    .map(|w| waiting_entry(app, w))
                    .collect(),
                agents: queue.members.iter().map(|m| agent_entry(app, *m)).collect(),
            }
        })
        .collect()
}

/// One change of one queue's board, computed once for every viewer.
#[derive(Debug, Clone)]
pub struct BoardDelta {
    /// The queue.
    pub queue_id: Uuid,
    /// The update viewers of that queue get.
    pub update: QueueBoardUpdate,
}

/// The node's board feed: one task turns the read models' feed into [`BoardDelta`]s, which
/// every `queueBoard` subscription filters by queue. Started with the first subscription.
pub struct BoardFeed {
    tx: broadcast::Sender<Arc<BoardDelta>>,
}

impl std::fmt::Debug for BoardFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoardFeed").finish()
    }
}

/// Where the node's board feed is kept once started (one per schema).
#[derive(Default)]
pub(crate) struct BoardFeedCell(std::sync::OnceLock<BoardFeed>);

impl BoardFeed {
    /// The feed of `app`, kept in `cell`, started when first asked for.
    pub fn of(app: &App, cell: &BoardFeedCell) -> broadcast::Receiver<Arc<BoardDelta>> {
        let feed = cell.0.get_or_init(|| {
            let (tx, _) = broadcast::channel(16_384);
            // The models' feed is taken now, before any snapshot: no change falls between.
            tokio::spawn(run(app.clone(), tx.clone(), app.node.models.feed()));
            BoardFeed { tx }
        });
        feed.tx.subscribe()
    }
}

/// The queues each extension is a member of.
fn memberships(app: &App) -> HashMap<Uuid, Vec<Uuid>> {
    let mut by_member: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for queue in app.node.models.of(QUEUES).all() {
        for member in queue.members {
            by_member.entry(member).or_default().push(queue.id);
        }
    }
    by_member
}

/// The callers waiting now, each with its queue, as the read model holds them.
fn waiting_calls(app: &App) -> Waiting {
    app.node
        .models
        .of(QUEUE_BOARD)
        .all()
        .into_iter()
        .flat_map(|board| {
            let queue = board.queue_id;
            board
                .waiting
                .into_iter()
                .map(move |w| (w.call_id, (queue, w)))
        })
        .collect()
}

/// The callers waiting, by call: the queue and the entry.
type Waiting = HashMap<Uuid, (Uuid, projections::WaitingCall)>;

async fn run(
    app: App,
    tx: broadcast::Sender<Arc<BoardDelta>>,
    mut feed: broadcast::Receiver<Arc<RecordedEvent>>,
) {
    let mut members = memberships(&app);
    // Kept from the events themselves, in their order (as the `queue_board` model keeps
    // them): the model may already be past the event at hand, the caller having connected
    // and left the queue a moment later, and each change must show the entry as it was.
    let mut waiting = waiting_calls(&app);
    loop {
        let event = match feed.recv().await {
            Ok(event) => event,
            // Events were missed: the callers waiting are taken from the model again, so the
            // feed's copy does not drift.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                waiting = waiting_calls(&app);
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if event.stream_type == <domain::queue::Queue as esrs::Aggregate>::NAME {
            members = memberships(&app);
            continue;
        }
        for delta in deltas(&app, &members, &mut waiting, &event) {
            let _ = tx.send(Arc::new(delta));
        }
    }
}

/// The board changes `event` makes; `waiting` follows the callers waiting.
fn deltas(
    app: &App,
    members: &HashMap<Uuid, Vec<Uuid>>,
    waiting: &mut Waiting,
    event: &RecordedEvent,
) -> Vec<BoardDelta> {
    let update = |change,
                  queue: Uuid,
                  call: Option<Uuid>,
                  entry: Option<&projections::WaitingCall>,
                  extension: Option<Uuid>| {
        let waiting = entry.map(|w| waiting_entry(app, w.clone()));
        BoardDelta {
            queue_id: queue,
            update: QueueBoardUpdate {
                change,
                queue_id: Some(ID(queue.to_string())),
                call_id: call.map(|c| ID(c.to_string())),
                extension_id: extension.map(|e| ID(e.to_string())),
                position: event.position,
                recorded_at: event.recorded_at,
                waiting,
                agent: extension.map(|e| agent_entry(app, e)),
                boards: Vec::new(),
            },
        }
    };
    if event.stream_type == <Call as esrs::Aggregate>::NAME {
        let Ok(e) = serde_json::from_str::<CallEvent>(&event.payload) else {
            return Vec::new();
        };
        let id = event.stream_id;
        let call = Some(id);
        let delta = match e {
            CallEvent::QueueEntered {
                queue_id,
                caller,
                at,
            } => {
                let entry = projections::WaitingCall::entered(id, caller, at);
                let delta = update(BoardChange::CallEntered, queue_id, call, Some(&entry), None);
                waiting.insert(id, (queue_id, entry));
                Some(delta)
            }
            CallEvent::QueueLeft {
                queue_id,
                outcome,
                agent,
                ..
            } => {
                waiting.remove(&id);
                Some(update(
                    if outcome == QueueOutcome::Answered {
                        BoardChange::CallConnected
                    } else {
                        BoardChange::CallLeft
                    },
                    queue_id,
                    call,
                    None,
                    agent,
                ))
            }
            CallEvent::LegOffered { leg, party, .. } => {
                waiting.get_mut(&id).map(|(queue, entry)| {
                    if let domain::call::Party::Extension { number, .. } = party {
                        entry.rings(leg, number);
                    }
                    update(BoardChange::CallOffered, *queue, call, Some(entry), None)
                })
            }
            CallEvent::LegHungUp { leg, .. } if leg != "a" => {
                waiting.get_mut(&id).map(|(queue, entry)| {
                    entry.leg_ended(&leg);
                    update(BoardChange::OfferMissed, *queue, call, Some(entry), None)
                })
            }
            CallEvent::CallEnded { .. } => {
                waiting.remove(&id);
                None
            }
            _ => None,
        };
        return delta.into_iter().collect();
    }
    if event.stream_type == <domain::agent::Agent as esrs::Aggregate>::NAME {
        let Some((extension, queues)) = members
            .iter()
            .find(|(m, _)| domain::ids::agent_id(**m) == event.stream_id)
        else {
            return Vec::new();
        };
        return queues
            .iter()
            .map(|q| update(BoardChange::AgentChanged, *q, None, None, Some(*extension)))
            .collect();
    }
    Vec::new()
}
