//! Read model `live_calls`: the record of each call still in progress, kept in memory for what
//! needs a live call at once (the queue board, an agent's screen pop, closing calls a previous
//! process left open). A call leaves it when it ends, so it holds as many calls as are up.

use eventlog::RecordedEvent;

use crate::docs::Docs;
use crate::error::ProjectionError;
use crate::models::call_records::{change, CallRecordDoc, CallStatus, Change};
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
        let key = event.stream_id.to_string();
        let record = match change(event)? {
            Change::Open(record) => *record,
            Change::Update(change) => {
                let Some(mut record) = docs.get_as::<CallRecordDoc>(&key) else {
                    return Ok(());
                };
                change(&mut record);
                record
            }
            Change::Keep => return Ok(()),
        };
        if record.status == CallStatus::InProgress {
            docs.put(key, Some(record.enterprise_id), &record);
        } else if docs.get(&key).is_some() {
            docs.remove(&key);
        }
        Ok(())
    }
}
