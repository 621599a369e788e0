//! The backend-independent part of a batch commit: version checks and position assignment.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::backend::BatchOutcome;
use crate::{
    error::AppendError, model::AppendRequest, model::ExpectedVersion, model::RecordedEvent,
};

/// Checks each request against the current stream versions (and the requests before it in the
/// same batch) and numbers the accepted events from `head + 1`. Returns one outcome per request;
/// the accepted events, in outcome order, are the rows to insert, in position order.
pub(crate) fn plan_batch(
    batch: &[AppendRequest],
    head: i64,
    stored_versions: &HashMap<Uuid, i64>,
    now: DateTime<Utc>,
) -> Vec<BatchOutcome> {
    let mut versions: HashMap<Uuid, i64> = HashMap::new();
    let mut position = head;
    let mut outcomes = Vec::with_capacity(batch.len());
    for request in batch {
        let current = versions
            .get(&request.stream_id)
            .or_else(|| stored_versions.get(&request.stream_id))
            .copied()
            .unwrap_or(0);
        if request.events.is_empty() {
            outcomes.push(Err(AppendError::Empty));
            continue;
        }
        if let ExpectedVersion::Exact(expected) = request.expected_version {
            if expected != current {
                outcomes.push(Err(AppendError::VersionConflict {
                    stream_id: request.stream_id,
                    expected,
                    actual: current,
                }));
                continue;
            }
        }
        let mut recorded = Vec::with_capacity(request.events.len());
        let mut version = current;
        for event in &request.events {
            position += 1;
            version += 1;
            recorded.push(RecordedEvent {
                position,
                event_id: Uuid::now_v7(),
                stream_type: request.stream_type.clone(),
                stream_id: request.stream_id,
                version,
                event_type: event.event_type.clone(),
                payload: event.payload.clone(),
                metadata: request.metadata.clone(),
                recorded_at: now,
            });
        }
        versions.insert(request.stream_id, version);
        outcomes.push(Ok(recorded));
    }
    outcomes
}

/// The events to insert: the accepted ones, in position order.
pub(crate) fn rows(outcomes: &[BatchOutcome]) -> impl Iterator<Item = &RecordedEvent> {
    outcomes.iter().filter_map(|o| o.as_ref().ok()).flatten()
}
