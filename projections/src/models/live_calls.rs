//! Read model `live_calls`: the record of each call still in progress, kept in memory for what
//! needs a live call at once (the queue board, an agent's screen pop, closing calls a previous
//! process left open). A call leaves it when it ends, so it holds as many calls as are up.

use domain::call::Call;
use eventlog::RecordedEvent;

use crate::docs::Docs;
use crate::error::ProjectionError;
use crate::models::call_records::{CallRecordDoc, CallRecords, CallStatus};
use crate::projection::Projection;

/// The `live_calls` read model, whose documents are each a call in progress.
pub const LIVE_CALLS: crate::handle::Model<CallRecordDoc> =
    crate::handle::Model::new("live_calls", "call");

/// The projection: the call record's, keeping only calls in progress.
pub struct LiveCalls;

impl Projection for LiveCalls {
    fn name(&self) -> &'static str {
        LIVE_CALLS.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        if event.stream_type != <Call as esrs::Aggregate>::NAME {
            return Ok(());
        }
        CallRecords.apply(event, docs)?;
        let key = event.stream_id.to_string();
        let ended = docs
            .get_as::<CallRecordDoc>(&key)
            .is_some_and(|record| record.status != CallStatus::InProgress);
        if ended {
            docs.remove(&key);
        }
        Ok(())
    }
}
