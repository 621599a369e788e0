//! Read model `reports` (统计报表, manual §6): per queue and per agent seat, counts by hour (UTC
//! hours; a query sums them into days). A queue's hour holds the callers offered to it,
//! answered, abandoned, timed out and refused full, those answered within 20 s, their total
//! wait and handle time; a seat's hour holds its calls, talk time and the time spent signed in
//! and in each work state. Time is counted at each change, into the hour the change happens.
//! Small working documents follow a caller from entry to answer and end, and each seat's
//! current state.

use chrono::{DateTime, Duration, DurationRound, Utc};
use domain::agent::{Agent, AgentEvent, WorkState};
use domain::call::{Call, CallEvent, QueueOutcome};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `reports` read model, whose documents are each a report.
pub const REPORTS: crate::handle::Model<serde_json::Value> =
    crate::handle::Model::new("reports", "report");

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
#[derive(Debug, Clone, Serialize, Deserialize)]
struct QueuedCall {
    queue_id: Uuid,
    entered_at: DateTime<Utc>,
    connected_at: Option<DateTime<Utc>>,
}

/// A seat's state, to count the time until its next change.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SeatNow {
    extension_id: Uuid,
    enterprise_id: Uuid,
    signed_in: bool,
    state: WorkState,
    since: DateTime<Utc>,
    call_since: Option<DateTime<Utc>>,
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

impl Reports {
    fn queue_hour(
        docs: &mut Docs<'_>,
        tenant: Option<Uuid>,
        queue: Uuid,
        at: DateTime<Utc>,
        change: impl FnOnce(&mut QueueHour),
    ) {
        let key = queue_hour_key(queue, at);
        let mut hour = docs.get_as::<QueueHour>(&key).unwrap_or(QueueHour {
            queue_id: queue,
            hour: hour_of(at),
            ..QueueHour::default()
        });
        change(&mut hour);
        docs.put(key, tenant, &hour);
    }

    fn agent_hour(
        docs: &mut Docs<'_>,
        tenant: Option<Uuid>,
        extension: Uuid,
        at: DateTime<Utc>,
        change: impl FnOnce(&mut AgentHour),
    ) {
        let key = agent_hour_key(extension, at);
        let mut hour = docs.get_as::<AgentHour>(&key).unwrap_or(AgentHour {
            extension_id: extension,
            hour: hour_of(at),
            ..AgentHour::default()
        });
        change(&mut hour);
        docs.put(key, tenant, &hour);
    }

    fn call(&self, event: &RecordedEvent, e: CallEvent, docs: &mut Docs<'_>) {
        let tenant = event.metadata.tenant_id;
        let key = format!("queued:{}", event.stream_id);
        match e {
            CallEvent::QueueEntered { queue_id, at, .. } => {
                Self::queue_hour(docs, tenant, queue_id, at, |h| h.offered += 1);
                let queued = QueuedCall {
                    queue_id,
                    entered_at: at,
                    connected_at: None,
                };
                docs.put(key, tenant, &queued);
            }
            CallEvent::QueueFull { queue_id, at } => {
                Self::queue_hour(docs, tenant, queue_id, at, |h| {
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
                let queued = docs.get_as::<QueuedCall>(&key);
                let waited = queued
                    .as_ref()
                    .map_or(0, |q| (at - q.entered_at).num_seconds().max(0));
                Self::queue_hour(docs, tenant, queue_id, at, |h| match outcome {
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
                        docs.put(key, tenant, &queued);
                    }
                    _ => docs.remove(&key),
                }
            }
            CallEvent::CallEnded { at, .. } => {
                if let Some(queued) = docs.get_as::<QueuedCall>(&key) {
                    if let Some(connected) = queued.connected_at {
                        let handled = (at - connected).num_seconds().max(0);
                        Self::queue_hour(docs, tenant, queued.queue_id, at, |h| {
                            h.handle_seconds += handled;
                            h.handled += 1;
                        });
                    }
                    docs.remove(&key);
                }
            }
            _ => {}
        }
    }

    fn seat(&self, event: &RecordedEvent, e: AgentEvent, docs: &mut Docs<'_>) {
        let key = format!("seat:{}", event.stream_id);
        let tenant = event.metadata.tenant_id;
        let now = docs.get_as::<SeatNow>(&key);
        // Counts the time since the seat's last change into the hour of this one.
        let close = |docs: &mut Docs<'_>, seat: &SeatNow, at: DateTime<Utc>| {
            if !seat.signed_in {
                return;
            }
            let elapsed = (at - seat.since).num_seconds().max(0);
            Self::agent_hour(docs, Some(seat.enterprise_id), seat.extension_id, at, |h| {
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
                    close(docs, seat, at);
                }
                let seat = SeatNow {
                    extension_id,
                    enterprise_id,
                    signed_in: true,
                    state: WorkState::Working,
                    since: at,
                    call_since: None,
                };
                docs.put(key, Some(enterprise_id), &seat);
            }
            AgentEvent::AgentSignedOut { at, .. } => {
                if let Some(mut seat) = now {
                    close(docs, &seat, at);
                    seat.signed_in = false;
                    seat.since = at;
                    docs.put(key, tenant, &seat);
                }
            }
            AgentEvent::AgentStateChanged { state, at, .. } => {
                if let Some(mut seat) = now {
                    close(docs, &seat, at);
                    seat.state = state;
                    seat.since = at;
                    docs.put(key, tenant, &seat);
                }
            }
            AgentEvent::AgentAnswered { at, .. } => {
                if let Some(mut seat) = now {
                    Self::agent_hour(docs, tenant, seat.extension_id, at, |h| h.calls += 1);
                    seat.call_since = Some(at);
                    docs.put(key, tenant, &seat);
                }
            }
            AgentEvent::AgentCallEnded { at, .. } => {
                if let Some(mut seat) = now {
                    if let Some(since) = seat.call_since.take() {
                        let talk = (at - since).num_seconds().max(0);
                        Self::agent_hour(docs, tenant, seat.extension_id, at, |h| {
                            h.talk_seconds += talk
                        });
                    }
                    docs.put(key, tenant, &seat);
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

impl Projection for Reports {
    fn name(&self) -> &'static str {
        REPORTS.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        if let Some(e) = decode::<Call>(event)? {
            self.call(event, e, docs);
        } else if let Some(e) = decode::<Agent>(event)? {
            self.seat(event, e, docs);
        }
        Ok(())
    }
}
