//! Read model `reports` (统计报表, manual §6): per queue and per agent seat, counts by hour (UTC
//! hours; a query sums them into days). A queue's hour holds the callers offered to it,
//! answered, abandoned, timed out and refused full, those answered within 20 s, their total
//! wait and handle time; a seat's hour holds its calls, talk time and the time spent signed in
//! and in each work state. Time is counted at each change, into the hour the change happens.
//! Small working rows follow a caller from entry to answer and end, and each seat's current
//! state. The rows live in the `reports` table, written by the one node holding the table
//! models' lease, so each event is counted once in a cluster.

use chrono::{DateTime, Duration, DurationRound, Utc};
use domain::agent::{Agent, AgentEvent, WorkState};
use domain::call::{Call, CallEvent, QueueOutcome};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::models::decode;
use crate::tables::{Cell, Rows, TableProjection, TableSpec};

/// The `reports` table: the hours of queues and seats, and the working rows.
pub const REPORTS_TABLE: TableSpec = TableSpec {
    table: "reports",
    rebuild: "reports_rebuild",
    columns: &["kind", "subject_id", "hour_us"],
};

/// Answered within this many seconds counts for the service level.
pub const SERVICE_LEVEL_SECONDS: i64 = 20;

/// A queue's counts in one hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueHour {
    /// The queue.
    pub queue_id: Uuid,
    /// The hour (UTC, its start).
    pub hour: DateTime<Utc>,
    /// Callers offered: entered, or refused because the queue was full.
    pub offered: u32,
    /// Answered by an agent.
    pub answered: u32,
    /// Given up while waiting.
    pub abandoned: u32,
    /// Left by the queue timeout.
    pub timed_out: u32,
    /// Refused: the queue was full.
    pub full: u32,
    /// Answered within [`SERVICE_LEVEL_SECONDS`].
    pub answered_in_time: u32,
    /// Total wait of the answered callers, in seconds (speed of answer).
    pub wait_seconds: i64,
    /// Total handle time (answer to hang-up) of calls that ended, in seconds.
    pub handle_seconds: i64,
    /// Calls whose handle time is counted.
    pub handled: u32,
}

/// A seat's counts in one hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentHour {
    /// The extension.
    pub extension_id: Uuid,
    /// The hour (UTC, its start).
    pub hour: DateTime<Utc>,
    /// Calls answered.
    pub calls: u32,
    /// Talk time, in seconds.
    pub talk_seconds: i64,
    /// Time signed in, in seconds.
    pub signed_in_seconds: i64,
    /// Time per work state, in seconds: working, break, away, working-callback.
    pub state_seconds: [i64; 4],
}

/// A caller from queue entry to its call's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedCall {
    /// The queue.
    pub queue_id: Uuid,
    /// When the caller entered it.
    pub entered_at: DateTime<Utc>,
    /// When an agent answered.
    pub connected_at: Option<DateTime<Utc>>,
}

/// A seat's state, to count the time until its next change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatNow {
    /// The extension.
    pub extension_id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// Signed in.
    pub signed_in: bool,
    /// Its work state.
    pub state: WorkState,
    /// Since when it is in this state.
    pub since: DateTime<Utc>,
    /// Since when it is on its current call.
    pub call_since: Option<DateTime<Utc>>,
}

/// A row of the `reports` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReportRow {
    /// A queue's hour.
    QueueHour(QueueHour),
    /// A seat's hour.
    AgentHour(AgentHour),
    /// A caller in or through a queue.
    Queued(QueuedCall),
    /// A seat's current state.
    Seat(SeatNow),
}

impl ReportRow {
    /// The `kind` column of its row.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::QueueHour(_) => "queue_hour",
            Self::AgentHour(_) => "agent_hour",
            Self::Queued(_) => "queued",
            Self::Seat(_) => "seat",
        }
    }
}

fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(Duration::hours(1)).unwrap_or(at)
}

/// The key of `queue`'s hour holding `at`.
pub fn queue_hour_key(queue: Uuid, at: DateTime<Utc>) -> String {
    format!("queue:{queue}:{}", hour_of(at).format("%Y%m%d%H"))
}

/// The key of `extension`'s hour holding `at`.
pub fn agent_hour_key(extension: Uuid, at: DateTime<Utc>) -> String {
    format!("agent:{extension}:{}", hour_of(at).format("%Y%m%d%H"))
}

fn state_index(state: WorkState) -> usize {
    match state {
        WorkState::Working => 0,
        WorkState::Break => 1,
        WorkState::Away => 2,
        WorkState::WorkingCallback => 3,
    }
}

/// The projection.
pub struct Reports;

/// The events the reports count (the type tag of each); every other event is skipped before
/// its payload is decoded.
const COUNTED: &[&str] = &[
    "QueueEntered",
    "QueueFull",
    "QueueLeft",
    "CallEnded",
    "AgentSignedIn",
    "AgentSignedOut",
    "AgentStateChanged",
    "AgentAnswered",
    "AgentCallEnded",
];

fn queued_key(call: Uuid) -> String {
    format!("queued:{call}")
}

fn seat_key(agent: Uuid) -> String {
    format!("seat:{agent}")
}

impl Reports {
    fn queue_hour(
        rows: &mut Rows<ReportRow>,
        tenant: Option<Uuid>,
        queue: Uuid,
        at: DateTime<Utc>,
        change: impl FnOnce(&mut QueueHour),
    ) {
        let key = queue_hour_key(queue, at);
        if let Some(ReportRow::QueueHour(hour)) = rows.get_mut(&key) {
            change(hour);
            return;
        }
        let mut hour = QueueHour {
            queue_id: queue,
            hour: hour_of(at),
            ..QueueHour::default()
        };
        change(&mut hour);
        rows.put(key, tenant, ReportRow::QueueHour(hour));
    }

    fn agent_hour(
        rows: &mut Rows<ReportRow>,
        tenant: Option<Uuid>,
        extension: Uuid,
        at: DateTime<Utc>,
        change: impl FnOnce(&mut AgentHour),
    ) {
        let key = agent_hour_key(extension, at);
        if let Some(ReportRow::AgentHour(hour)) = rows.get_mut(&key) {
            change(hour);
            return;
        }
        let mut hour = AgentHour {
            extension_id: extension,
            hour: hour_of(at),
            ..AgentHour::default()
        };
        change(&mut hour);
        rows.put(key, tenant, ReportRow::AgentHour(hour));
    }

    fn queued(rows: &mut Rows<ReportRow>, key: &str) -> Option<QueuedCall> {
        match rows.get(key) {
            Some(ReportRow::Queued(queued)) => Some(queued.clone()),
            _ => None,
        }
    }

    fn call(&self, event: &RecordedEvent, e: CallEvent, rows: &mut Rows<ReportRow>) {
        let tenant = event.metadata.tenant_id;
        let key = queued_key(event.stream_id);
        match e {
            CallEvent::QueueEntered { queue_id, at, .. } => {
                Self::queue_hour(rows, tenant, queue_id, at, |h| h.offered += 1);
                let queued = QueuedCall {
                    queue_id,
                    entered_at: at,
                    connected_at: None,
                };
                rows.put(key, tenant, ReportRow::Queued(queued));
            }
            CallEvent::QueueFull { queue_id, at } => {
                Self::queue_hour(rows, tenant, queue_id, at, |h| {
                    h.offered += 1;
                    h.full += 1;
                });
            }
            CallEvent::QueueLeft {
                queue_id,
                outcome,
                at,
                ..
            } => {
                let queued = Self::queued(rows, &key);
                let waited = queued
                    .as_ref()
                    .map_or(0, |q| (at - q.entered_at).num_seconds().max(0));
                Self::queue_hour(rows, tenant, queue_id, at, |h| match outcome {
                    QueueOutcome::Answered => {
                        h.answered += 1;
                        h.wait_seconds += waited;
                        if waited <= SERVICE_LEVEL_SECONDS {
                            h.answered_in_time += 1;
                        }
                    }
                    QueueOutcome::Abandoned => h.abandoned += 1,
                    QueueOutcome::Timeout => h.timed_out += 1,
                });
                match (outcome, queued) {
                    (QueueOutcome::Answered, Some(mut queued)) => {
                        queued.connected_at = Some(at);
                        rows.put(key, tenant, ReportRow::Queued(queued));
                    }
                    (_, Some(_)) => rows.remove(&key),
                    (_, None) => {}
                }
            }
            CallEvent::CallEnded { at, .. } => {
                if let Some(queued) = Self::queued(rows, &key) {
                    if let Some(connected) = queued.connected_at {
                        let handled = (at - connected).num_seconds().max(0);
                        Self::queue_hour(rows, tenant, queued.queue_id, at, |h| {
                            h.handle_seconds += handled;
                            h.handled += 1;
                        });
                    }
                    rows.remove(&key);
                }
            }
            _ => {}
        }
    }

    fn seat(&self, event: &RecordedEvent, e: AgentEvent, rows: &mut Rows<ReportRow>) {
        let key = seat_key(event.stream_id);
        let tenant = event.metadata.tenant_id;
        let now = match rows.get(&key) {
            Some(ReportRow::Seat(seat)) => Some(seat.clone()),
            _ => None,
        };
        // Counts the time since the seat's last change into the hour of this one.
        let close = |rows: &mut Rows<ReportRow>, seat: &SeatNow, at: DateTime<Utc>| {
            if !seat.signed_in {
                return;
            }
            let elapsed = (at - seat.since).num_seconds().max(0);
            Self::agent_hour(rows, Some(seat.enterprise_id), seat.extension_id, at, |h| {
                h.signed_in_seconds += elapsed;
                h.state_seconds[state_index(seat.state)] += elapsed;
            });
        };
        match e {
            AgentEvent::AgentSignedIn {
                extension_id,
                enterprise_id,
                at,
                ..
            } => {
                if let Some(seat) = &now {
                    close(rows, seat, at);
                }
                let seat = SeatNow {
                    extension_id,
                    enterprise_id,
                    signed_in: true,
                    state: WorkState::Working,
                    since: at,
                    call_since: None,
                };
                rows.put(key, Some(enterprise_id), ReportRow::Seat(seat));
            }
            AgentEvent::AgentSignedOut { at, .. } => {
                if let Some(mut seat) = now {
                    close(rows, &seat, at);
                    seat.signed_in = false;
                    seat.since = at;
                    rows.put(key, tenant, ReportRow::Seat(seat));
                }
            }
            AgentEvent::AgentStateChanged { state, at, .. } => {
                if let Some(mut seat) = now {
                    close(rows, &seat, at);
                    seat.state = state;
                    seat.since = at;
                    rows.put(key, tenant, ReportRow::Seat(seat));
                }
            }
            AgentEvent::AgentAnswered { at, .. } => {
                if let Some(mut seat) = now {
                    Self::agent_hour(rows, tenant, seat.extension_id, at, |h| h.calls += 1);
                    seat.call_since = Some(at);
                    rows.put(key, tenant, ReportRow::Seat(seat));
                }
            }
            AgentEvent::AgentCallEnded { at, .. } => {
                if let Some(mut seat) = now {
                    if let Some(since) = seat.call_since.take() {
                        let talk = (at - since).num_seconds().max(0);
                        Self::agent_hour(rows, tenant, seat.extension_id, at, |h| {
                            h.talk_seconds += talk
                        });
                    }
                    rows.put(key, tenant, ReportRow::Seat(seat));
                }
            }
            AgentEvent::AgentOffered { .. }
            | AgentEvent::AgentWrapUpEnded { .. }
            | AgentEvent::AgentDialledOut { .. }
            | AgentEvent::AgentJoinedCall { .. }
            | AgentEvent::AgentMissed { .. }
            | AgentEvent::AgentOfferWithdrawn { .. } => {}
        }
    }
}

impl TableProjection for Reports {
    type Row = ReportRow;

    fn name(&self) -> &'static str {
        REPORTS_TABLE.table
    }

    fn spec(&self) -> &'static TableSpec {
        &REPORTS_TABLE
    }

    fn reads(&self, event: &RecordedEvent, keys: &mut Vec<String>) {
        if event.stream_type == <Call as esrs::Aggregate>::NAME {
            if matches!(
                event.event_type.as_str(),
                "QueueEntered" | "QueueLeft" | "CallEnded"
            ) {
                keys.push(queued_key(event.stream_id));
            }
        } else if event.stream_type == <Agent as esrs::Aggregate>::NAME {
            keys.push(seat_key(event.stream_id));
        }
    }

    fn apply(
        &self,
        event: &RecordedEvent,
        rows: &mut Rows<ReportRow>,
    ) -> Result<(), ProjectionError> {
        if !COUNTED.contains(&event.event_type.as_str()) {
            return Ok(());
        }
        if let Some(e) = decode::<Call>(event)? {
            self.call(event, e, rows);
        } else if let Some(e) = decode::<Agent>(event)? {
            self.seat(event, e, rows);
        }
        Ok(())
    }

    fn columns(&self, row: &ReportRow) -> Vec<Cell> {
        let (subject, hour) = match row {
            ReportRow::QueueHour(h) => (h.queue_id, Some(h.hour)),
            ReportRow::AgentHour(h) => (h.extension_id, Some(h.hour)),
            ReportRow::Queued(q) => (q.queue_id, None),
            ReportRow::Seat(s) => (s.extension_id, None),
        };
        vec![
            Cell::Text(Some(row.kind().to_owned())),
            Cell::Text(Some(subject.to_string())),
            Cell::Int(hour.map(|h| h.timestamp_micros())),
        ]
    }
}
