//! Read model `sessions`: open login sessions by id, to check bearer tokens.

use chrono::{DateTime, Utc};
use domain::account::{Account, AccountEvent};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, runner::Projection};

/// The `sessions` read model, whose documents are each a session.
pub const SESSIONS: crate::handle::Model<SessionDoc> =
    crate::handle::Model::new("sessions", "session");

/// An open session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionDoc {
    /// The session.
    pub session_id: Uuid,
    /// Its sub-account.
    pub account_id: Uuid,
    /// SHA-256 of the token's secret, hex.
    pub token_hash: String,
    /// When it ends by itself.
    pub expires_at: DateTime<Utc>,
}

/// The projection.
pub struct Sessions;

impl Projection for Sessions {
    fn name(&self) -> &'static str {
        SESSIONS.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Account>(event)? else {
            return Ok(());
        };
        match e {
            AccountEvent::SessionOpened {
                session_id,
                token_hash,
                expires_at,
                ..
            } => {
                let doc = SessionDoc {
                    session_id,
                    account_id: event.stream_id,
                    token_hash,
                    expires_at,
                };
                docs.put(session_id.to_string(), event.metadata.tenant_id, &doc);
            }
            AccountEvent::SessionClosed { session_id, .. } => docs.remove(&session_id.to_string()),
            _ => {}
        }
        Ok(())
    }
}
