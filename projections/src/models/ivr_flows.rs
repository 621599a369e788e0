//! Read model `ivr_flows`: one document per IVR flow with its latest published version. A
//! call keeps the definition it started with; older versions stay in the flow's events.

use chrono::{DateTime, Utc};
use domain::ivr::{FlowDefinition, IvrFlow, IvrFlowEvent};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `ivr_flows` read model, whose documents are each a IVR flow.
pub const IVR_FLOWS: crate::handle::Model<IvrFlowDoc> =
    crate::handle::Model::new("ivr_flows", "IVR flow");

/// A flow as listed and as calls load it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IvrFlowDoc {
    /// Id.
    pub id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// Name.
    pub name: String,
    /// Latest version (0: never published).
    pub version: u32,
    /// The latest published definition.
    pub definition: Option<FlowDefinition>,
    /// Its warnings.
    pub warnings: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last published.
    pub published_at: Option<DateTime<Utc>>,
}

/// The projection.
pub struct IvrFlows;

impl Projection for IvrFlows {
    fn name(&self) -> &'static str {
        IVR_FLOWS.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<IvrFlow>(event)? else {
            return Ok(());
        };
        let id = event.stream_id;
        let key = id.to_string();
        match e {
            IvrFlowEvent::IvrFlowCreated {
                enterprise_id,
                name,
                at,
            } => {
                let doc = IvrFlowDoc {
                    id,
                    enterprise_id,
                    name,
                    version: 0,
                    definition: None,
                    warnings: Vec::new(),
                    created_at: at,
                    published_at: None,
                };
                docs.put(key, Some(enterprise_id), &doc);
            }
            IvrFlowEvent::IvrFlowPublished {
                version,
                name,
                definition,
                warnings,
                at,
            } => docs.update(&key, |d: &mut IvrFlowDoc| {
                d.version = version;
                d.name = name;
                d.definition = Some(definition);
                d.warnings = warnings;
                d.published_at = Some(at);
            }),
            IvrFlowEvent::IvrFlowDeleted { .. } => docs.remove(&key),
        }
        Ok(())
    }
}
