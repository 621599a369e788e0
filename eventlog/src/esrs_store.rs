//! [`LogStore`]: the global log seen through `esrs::store::EventStore`, one aggregate type at a
//! time, so domain aggregates run through `esrs::AggregateManager`.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use esrs::store::{EventStore, EventStoreLockGuard, StoreEvent, UnlockOnDrop};
use esrs::{Aggregate, AggregateState};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::{
    error::EventLogError, log::EventLog, model::AppendRequest, model::ExpectedVersion,
    model::Metadata, model::NewEvent, model::RecordedEvent,
};

/// Failure of a [`LogStore`] operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The log refused or failed the operation.
    #[error(transparent)]
    Log(#[from] EventLogError),
    /// An event could not be turned into or out of JSON.
    #[error("event JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Events are never deleted.
    #[error("the event log is append-only; streams are never deleted")]
    AppendOnly,
}

/// An `esrs` event store for aggregate `A` over the global log, carrying the metadata of one
/// request. Create one per request with [`LogStore::new`]; cheap.
pub struct LogStore<A> {
    log: EventLog,
    metadata: Metadata,
    committed: Arc<Mutex<Vec<RecordedEvent>>>,
    aggregate: PhantomData<fn() -> A>,
}

impl<A> Clone for LogStore<A> {
    /// A handle on the same store: events committed through either show in both.
    fn clone(&self) -> Self {
        Self {
            log: self.log.clone(),
            metadata: self.metadata.clone(),
            committed: self.committed.clone(),
            aggregate: PhantomData,
        }
    }
}

impl<A> LogStore<A> {
    /// A store that stamps `metadata` on every event it appends.
    pub fn new(log: EventLog, metadata: Metadata) -> Self {
        Self {
            log,
            metadata,
            committed: Arc::default(),
            aggregate: PhantomData,
        }
    }

    /// The events this store has committed so far, with their positions.
    pub fn committed(&self) -> Vec<RecordedEvent> {
        self.committed.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// No lock is taken: the per-stream version check of the log rejects concurrent writers.
struct OptimisticLock;
impl UnlockOnDrop for OptimisticLock {}

/// The stable type name of a serialized event: its `type` tag.
fn event_type(value: &serde_json::Value) -> String {
    value
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("Event")
        .to_owned()
}

/// Turns stored rows into typed store events of `A`.
pub(crate) fn to_store_events<E: DeserializeOwned>(
    rows: Vec<RecordedEvent>,
) -> Result<Vec<StoreEvent<E>>, StoreError> {
    rows.into_iter()
        .map(|row| {
            Ok(StoreEvent {
                id: row.event_id,
                aggregate_id: row.stream_id,
                payload: serde_json::from_str(&row.payload)?,
                occurred_on: row.recorded_at,
                sequence_number: i32::try_from(row.version).unwrap_or(i32::MAX),
                version: None,
            })
        })
        .collect()
}

#[async_trait]
impl<A> EventStore for LogStore<A>
where
    A: Aggregate + Send + Sync,
    A::State: Send,
    A::Event: Serialize + DeserializeOwned + Send + Sync,
{
    type Aggregate = A;
    type Error = StoreError;

    async fn lock(&self, _aggregate_id: Uuid) -> Result<EventStoreLockGuard, StoreError> {
        Ok(EventStoreLockGuard::new(OptimisticLock))
    }

    async fn by_aggregate_id(
        &self,
        aggregate_id: Uuid,
    ) -> Result<Vec<StoreEvent<A::Event>>, StoreError> {
        let rows = self.log.read_stream(aggregate_id).await?;
        let rows = rows
            .into_iter()
            .filter(|r| r.stream_type == A::NAME)
            .collect();
        to_store_events(rows)
    }

    async fn persist(
        &self,
        aggregate_state: &mut AggregateState<A::State>,
        events: Vec<A::Event>,
    ) -> Result<Vec<StoreEvent<A::Event>>, StoreError> {
        if events.is_empty() {
            // A command that decided nothing leaves the log as it is.
            return Ok(Vec::new());
        }
        let mut new_events = Vec::with_capacity(events.len());
        for event in &events {
            let mut value = serde_json::to_value(event)?;
            let event_type = event_type(&value);
            domain::schema::stamp(A::NAME, &event_type, &mut value);
            new_events.push(NewEvent {
                event_type,
                payload: serde_json::to_string(&value)?,
            });
        }
        let request = AppendRequest {
            stream_type: A::NAME.to_owned(),
            stream_id: *aggregate_state.id(),
            expected_version: ExpectedVersion::Exact(i64::from(*aggregate_state.sequence_number())),
            events: new_events,
            metadata: self.metadata.clone(),
        };
        let committed = self.log.append(request).await?;
        let store_events = committed
            .iter()
            .zip(events)
            .map(|(row, payload)| StoreEvent {
                id: row.event_id,
                aggregate_id: row.stream_id,
                payload,
                occurred_on: row.recorded_at,
                sequence_number: i32::try_from(row.version).unwrap_or(i32::MAX),
                version: None,
            })
            .collect();
        if let Ok(mut sink) = self.committed.lock() {
            sink.extend(committed);
        }
        Ok(store_events)
    }

    async fn publish(&self, _store_events: &[StoreEvent<A::Event>]) {
        // Committed events reach read models through log subscriptions, not through esrs.
    }

    async fn delete(&self, _aggregate_id: Uuid) -> Result<(), StoreError> {
        Err(StoreError::AppendOnly)
    }
}
