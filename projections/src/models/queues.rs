//! Read model `queues`: one document per queue with its settings and member extensions.

use chrono::{DateTime, Utc};
use domain::queue::{Queue, QueueEvent, QueueSettings};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `queues` read model, whose documents are each a queue.
pub const QUEUES: crate::handle::Model<QueueDoc> = crate::handle::Model::new("queues", "queue");

/// A queue as listed and as calls read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueDoc {
    /// Id.
    pub id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// Settings.
    pub settings: QueueSettings,
    /// Member extensions, in order (队列分机).
    pub members: Vec<Uuid>,
    /// Created (创建时间).
    pub created_at: DateTime<Utc>,
}

/// The projection.
pub struct Queues;

impl Projection for Queues {
    fn name(&self) -> &'static str {
        QUEUES.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Queue>(event)? else {
            return Ok(());
        };
        let id = event.stream_id;
        let key = id.to_string();
        match e {
            QueueEvent::QueueCreated {
                enterprise_id,
                settings,
                at,
            } => {
                let doc = QueueDoc {
                    id,
                    enterprise_id,
                    settings,
                    members: Vec::new(),
                    created_at: at,
                };
                docs.put(key, Some(enterprise_id), &doc);
            }
            QueueEvent::QueueUpdated { settings, .. } => {
                docs.update(&key, |d: &mut QueueDoc| d.settings = settings)
            }
            QueueEvent::QueueMembersSet { members, .. } => {
                docs.update(&key, |d: &mut QueueDoc| d.members = members)
            }
            QueueEvent::QueueDeleted { .. } => docs.remove(&key),
        }
        Ok(())
    }
}
