//! What a read model's logic is: a deterministic function from one event to document changes.

use eventlog::RecordedEvent;

use crate::docs::Docs;
use crate::error::ProjectionError;

/// A read model's logic: how one event changes its documents. Must be deterministic: the same
/// events always give the same documents (that is what replay checks).
pub trait Projection: Send + Sync + 'static {
    /// Stable name; also the name of its stored documents.
    fn name(&self) -> &'static str;

    /// Applies one event. Events the model does not care about are ignored.
    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError>;
}
