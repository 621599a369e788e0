//! Read model `trunks`: one document per trunk (platform-wide, no tenant).

use chrono::{DateTime, Utc};
use domain::trunk::{Trunk, TrunkEvent, TrunkSettings};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `trunks` read model, whose documents are each a trunk.
pub const TRUNKS: crate::handle::Model<TrunkDoc> = crate::handle::Model::new("trunks", "trunk");

/// A trunk as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrunkDoc {
    /// Id.
    pub id: Uuid,
    /// Settings.
    pub settings: TrunkSettings,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// The projection.
pub struct Trunks;

impl Projection for Trunks {
    fn name(&self) -> &'static str {
        TRUNKS.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Trunk>(event)? else {
            return Ok(());
        };
        let id = event.stream_id;
        let key = id.to_string();
        match e {
            TrunkEvent::TrunkCreated { settings, at } => docs.put(
                key,
                None,
                &TrunkDoc {
                    id,
                    settings,
                    created_at: at,
                },
            ),
            TrunkEvent::TrunkUpdated { settings, .. } => {
                docs.update(&key, |d: &mut TrunkDoc| d.settings = settings)
            }
            TrunkEvent::TrunkDeleted { .. } => docs.remove(&key),
        }
        Ok(())
    }
}
