//! Read model `enterprises`: one document per enterprise.

use chrono::{DateTime, Utc};
use domain::enterprise::{Enterprise, EnterpriseEvent};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `enterprises` read model, whose documents are each a enterprise.
pub const ENTERPRISES: crate::handle::Model<EnterpriseDoc> =
    crate::handle::Model::new("enterprises", "enterprise");

/// An enterprise as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnterpriseDoc {
    /// Id.
    pub id: Uuid,
    /// Login code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Time zone.
    pub time_zone: String,
    /// Whether logins are allowed.
    pub enabled: bool,
    /// The operator's own enterprise.
    pub platform: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// The projection.
pub struct Enterprises;

impl Projection for Enterprises {
    fn name(&self) -> &'static str {
        ENTERPRISES.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Enterprise>(event)? else {
            return Ok(());
        };
        let id = event.stream_id;
        let key = id.to_string();
        match e {
            EnterpriseEvent::EnterpriseCreated {
                code,
                name,
                time_zone,
                platform,
                at,
            } => {
                let doc = EnterpriseDoc {
                    id,
                    code,
                    name,
                    time_zone,
                    enabled: true,
                    platform,
                    created_at: at,
                };
                docs.put(key, Some(id), &doc);
            }
            EnterpriseEvent::EnterpriseUpdated {
                name, time_zone, ..
            } => {
                docs.update(&key, |d: &mut EnterpriseDoc| {
                    d.name = name;
                    d.time_zone = time_zone;
                });
            }
            EnterpriseEvent::EnterpriseDisabled { .. } => {
                docs.update(&key, |d: &mut EnterpriseDoc| d.enabled = false)
            }
            EnterpriseEvent::EnterpriseEnabled { .. } => {
                docs.update(&key, |d: &mut EnterpriseDoc| d.enabled = true)
            }
        }
        Ok(())
    }
}
