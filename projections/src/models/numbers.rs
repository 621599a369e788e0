//! Read model `numbers`: one document per DID, scoped to the enterprise it is assigned to.

use chrono::{DateTime, Utc};
use domain::number::{Number, NumberAssignment, NumberEvent};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `numbers` read model, whose documents are each a number.
pub const NUMBERS: crate::handle::Model<NumberDoc> = crate::handle::Model::new("numbers", "number");

/// A number as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumberDoc {
    /// Id.
    pub id: Uuid,
    /// E.164 form.
    pub number: String,
    /// Assignment.
    pub assignment: NumberAssignment,
    /// Assigned.
    pub created_at: DateTime<Utc>,
}

/// The projection.
pub struct Numbers;

impl Projection for Numbers {
    fn name(&self) -> &'static str {
        NUMBERS.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Number>(event)? else {
            return Ok(());
        };
        let id = event.stream_id;
        let key = id.to_string();
        match e {
            NumberEvent::NumberAssigned {
                number,
                assignment,
                at,
            } => {
                let tenant = Some(assignment.enterprise_id);
                docs.put(
                    key,
                    tenant,
                    &NumberDoc {
                        id,
                        number,
                        assignment,
                        created_at: at,
                    },
                );
            }
            NumberEvent::NumberReassigned { assignment, .. } => {
                if let Some(mut doc) = docs.get_as::<NumberDoc>(&key) {
                    let tenant = Some(assignment.enterprise_id);
                    doc.assignment = assignment;
                    docs.put(key, tenant, &doc);
                }
            }
            NumberEvent::NumberReleased { .. } => docs.remove(&key),
        }
        Ok(())
    }
}
