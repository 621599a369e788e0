//! The IVR flow (语音导航, manual §2.3): created with a name, then edited and published as a
//! whole. Every publication is a new version that passed [`validate_flow`]; a call runs the
//! version it started with while admins publish newer ones. A flow an inbound route uses cannot
//! be deleted.

pub mod definition;
pub mod validation;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use definition::*;
pub use validation::{validate_flow, FlowLookups, KnownVoice};

use crate::validate::{required_text, FieldError};

/// The IVR flow aggregate.
pub struct IvrFlow;

/// What a flow is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IvrFlowState {
    /// Whether it exists.
    pub exists: bool,
    /// The last published version (0: never published).
    pub version: u32,
}

/// Commands on a flow.
#[derive(Debug, Clone, PartialEq)]
pub enum IvrFlowCommand {
    /// Creates it with a name (新增).
    Create {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Name.
        name: String,
        /// Whether another flow of the enterprise has this name (looked up).
        name_taken: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// Publishes a new version (编辑 → 提交).
    Publish {
        /// Name.
        name: String,
        /// The definition.
        definition: FlowDefinition,
        /// What its references are checked against (looked up).
        lookups: FlowLookups,
        /// Whether another flow of the enterprise has this name (looked up).
        name_taken: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deletes it.
    Delete {
        /// The routes that send calls to it (looked up).
        used_by: Vec<String>,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Facts about a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum IvrFlowEvent {
    /// Created, with no version yet.
    IvrFlowCreated {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Name.
        name: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A version was published.
    IvrFlowPublished {
        /// The version, from 1.
        version: u32,
        /// Name.
        name: String,
        /// The definition.
        definition: FlowDefinition,
        /// Nodes no call can reach, as warnings.
        warnings: Vec<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deleted.
    IvrFlowDeleted {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a flow command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IvrFlowError {
    /// The flow exists.
    #[error("the flow already exists")]
    AlreadyExists,
    /// No such flow.
    #[error("flow not found")]
    NotFound,
    /// Another flow has this name.
    #[error("another flow is named so")]
    NameTaken,
    /// Inbound routes send calls to it.
    #[error("the flow is used by route {}", .0.join(", "))]
    InUse(Vec<String>),
    /// A field or the definition is invalid (the message names the node).
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

impl esrs::Aggregate for IvrFlow {
    const NAME: &'static str = "ivr_flow";
    type State = IvrFlowState;
    type Command = IvrFlowCommand;
    type Event = IvrFlowEvent;
    type Error = IvrFlowError;

    fn handle_command(
        state: &IvrFlowState,
        command: IvrFlowCommand,
    ) -> Result<Vec<IvrFlowEvent>, IvrFlowError> {
        match command {
            IvrFlowCommand::Create {
                enterprise_id,
                name,
                name_taken,
                at,
            } => {
                if state.exists {
                    return Err(IvrFlowError::AlreadyExists);
                }
                let name = required_text("name", &name, 64)?;
                if name_taken {
                    return Err(IvrFlowError::NameTaken);
                }
                Ok(vec![IvrFlowEvent::IvrFlowCreated {
                    enterprise_id,
                    name,
                    at,
                }])
            }
            IvrFlowCommand::Publish {
                name,
                definition,
                lookups,
                name_taken,
                at,
            } => {
                if !state.exists {
                    return Err(IvrFlowError::NotFound);
                }
                let name = required_text("name", &name, 64)?;
                if name_taken {
                    return Err(IvrFlowError::NameTaken);
                }
                let warnings = validate_flow(&definition, &lookups)?;
                Ok(vec![IvrFlowEvent::IvrFlowPublished {
                    version: state.version + 1,
                    name,
                    definition,
                    warnings,
                    at,
                }])
            }
            IvrFlowCommand::Delete { used_by, at } => {
                if !state.exists {
                    return Err(IvrFlowError::NotFound);
                }
                if !used_by.is_empty() {
                    return Err(IvrFlowError::InUse(used_by));
                }
                Ok(vec![IvrFlowEvent::IvrFlowDeleted { at }])
            }
        }
    }

    fn apply_event(mut state: IvrFlowState, event: IvrFlowEvent) -> IvrFlowState {
        match event {
            IvrFlowEvent::IvrFlowCreated { .. } => {
                state = IvrFlowState {
                    exists: true,
                    version: 0,
                }
            }
            IvrFlowEvent::IvrFlowPublished { version, .. } => state.version = version,
            IvrFlowEvent::IvrFlowDeleted { .. } => state.exists = false,
        }
        state
    }
}

#[cfg(test)]
pub(crate) mod tests;
