//! The shapes of events going into and coming out of the log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who and what caused an append; stored with every event it produces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Metadata {
    /// The enterprise the events belong to (`None` for platform-wide facts).
    pub tenant_id: Option<Uuid>,
    /// The account that issued the command (`None` for the system itself).
    pub actor_id: Option<Uuid>,
    /// Groups every event of one user request or call.
    pub correlation_id: Uuid,
    /// The event or command that caused this one, when known.
    pub causation_id: Option<Uuid>,
}

impl Metadata {
    /// Metadata for a fresh request by `actor_id` in `tenant_id`.
    pub fn new(tenant_id: Option<Uuid>, actor_id: Option<Uuid>) -> Self {
        Self {
            tenant_id,
            actor_id,
            correlation_id: Uuid::new_v4(),
            causation_id: None,
        }
    }
}

/// The version a writer expects a stream to be at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Exactly this many events are in the stream (0: the stream is new).
    Exact(i64),
    /// No check (used only for streams with a single writer by construction).
    Any,
}

/// One event to append: its type name and its JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Stable event type name, e.g. `AccountCreated`.
    pub event_type: String,
    /// The JSON payload, stored byte for byte.
    pub payload: String,
}

/// Events to append atomically to one stream.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    /// Aggregate type of the stream, e.g. `account`.
    pub stream_type: String,
    /// The stream.
    pub stream_id: Uuid,
    /// Optimistic-concurrency check.
    pub expected_version: ExpectedVersion,
    /// The events, in order.
    pub events: Vec<NewEvent>,
    /// Stored with every event.
    pub metadata: Metadata,
}

/// An event as committed to the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Global position: dense, starting at 1, in commit order.
    pub position: i64,
    /// Unique id of the event.
    pub event_id: Uuid,
    /// Aggregate type of the stream.
    pub stream_type: String,
    /// The stream.
    pub stream_id: Uuid,
    /// Version within the stream, starting at 1.
    pub version: i64,
    /// Stable event type name.
    pub event_type: String,
    /// The JSON payload as stored.
    pub payload: String,
    /// Who and what caused it.
    pub metadata: Metadata,
    /// When it was committed.
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    /// The event with its payload in the current shape of its type (ADR 0015): a payload
    /// stored in an older schema version is turned into the current one by
    /// [`domain::schema::upcast`]; every other payload is kept as stored.
    pub fn upcast(mut self) -> Result<Self, crate::error::EventLogError> {
        match domain::schema::upcast(&self.stream_type, &self.event_type, &self.payload) {
            Ok(Some(current)) => self.payload = current,
            Ok(None) => {}
            Err(e) => {
                return Err(crate::error::EventLogError::Corrupt {
                    position: self.position,
                    reason: format!("the payload is not JSON: {e}"),
                })
            }
        }
        Ok(self)
    }
}
