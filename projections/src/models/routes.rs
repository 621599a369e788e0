//! Read model `routes`: one document per inbound route.

use chrono::{DateTime, Utc};
use domain::route::{Route, RouteEvent, RouteSettings};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `routes` read model, whose documents are each a route.
pub const ROUTES: crate::handle::Model<RouteDoc> = crate::handle::Model::new("routes", "route");

/// A route as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteDoc {
    /// Id.
    pub id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// Name.
    pub name: String,
    /// Entry number (E.164) or IP.
    pub entry: String,
    /// Settings.
    pub settings: RouteSettings,
    /// Enabled or paused.
    pub enabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// The projection.
pub struct Routes;

impl Projection for Routes {
    fn name(&self) -> &'static str {
        ROUTES.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Route>(event)? else {
            return Ok(());
        };
        let id = event.stream_id;
        let key = id.to_string();
        match e {
            RouteEvent::RouteCreated {
                enterprise_id,
                name,
                entry,
                settings,
                at,
            } => {
                let doc = RouteDoc {
                    id,
                    enterprise_id,
                    name,
                    entry,
                    settings,
                    enabled: true,
                    created_at: at,
                };
                docs.put(key, Some(enterprise_id), &doc);
            }
            RouteEvent::RouteUpdated { settings, .. } => {
                docs.update(&key, |d: &mut RouteDoc| d.settings = settings)
            }
            RouteEvent::RouteEnabled { .. } => {
                docs.update(&key, |d: &mut RouteDoc| d.enabled = true)
            }
            RouteEvent::RoutePaused { .. } => {
                docs.update(&key, |d: &mut RouteDoc| d.enabled = false)
            }
            RouteEvent::RouteDeleted { .. } => docs.remove(&key),
        }
        Ok(())
    }
}
