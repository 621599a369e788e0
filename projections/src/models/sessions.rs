//! Read model `sessions`: open login sessions by id, to check bearer tokens. A login drops the
//! sessions that have lapsed by its time, so the model stays as large as the sessions in use.

use chrono::{DateTime, Utc};
use domain::account::{Account, AccountEvent};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

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
                // Sessions that have lapsed by this login's time are dropped, so the model holds
                // the sessions that may still be used, not every login ever made.
                for lapsed in docs.keys_where(|s: &SessionDoc| s.expires_at <= event.recorded_at) {
                    docs.remove(&lapsed);
                }
                docs.put(session_id.to_string(), event.metadata.tenant_id, &doc);
            }
            AccountEvent::SessionClosed { session_id, .. } => docs.remove(&session_id.to_string()),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Duration;
    use eventlog::Metadata;

    use super::*;
    use crate::runner::ReadModel;

    fn opened(position: i64, session: u128, at: DateTime<Utc>, hours: i64) -> RecordedEvent {
        let event = AccountEvent::SessionOpened {
            session_id: Uuid::from_u128(session),
            token_hash: "hash".into(),
            expires_at: at + Duration::hours(hours),
            at,
        };
        RecordedEvent {
            position,
            event_id: Uuid::from_u128(1_000 + position as u128),
            stream_type: "account".into(),
            stream_id: Uuid::from_u128(7),
            version: position,
            event_type: "SessionOpened".into(),
            // Serializing a plain event enum cannot fail.
            payload: serde_json::to_string(&event).expect("an event serializes"),
            metadata: Metadata::new(None, None),
            recorded_at: at,
        }
    }

    #[test]
    fn a_login_drops_the_sessions_lapsed_by_its_time() {
        let model = ReadModel::new(Box::new(Sessions), 0, BTreeMap::new());
        let start = DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z")
            .expect("a valid time")
            .with_timezone(&Utc);
        let events: Vec<std::sync::Arc<RecordedEvent>> = vec![
            opened(1, 1, start, 8),
            opened(2, 2, start + Duration::hours(1), 24),
            opened(3, 3, start + Duration::hours(9), 8),
        ]
        .into_iter()
        .map(std::sync::Arc::new)
        .collect();
        let changes = model.stage(&events).expect("the events apply");
        model.publish(changes.expect("there are changes"));
        let left: Vec<String> = model.snapshot().into_keys().collect();
        assert_eq!(
            left,
            vec![Uuid::from_u128(2).to_string(), Uuid::from_u128(3).to_string()],
            "the session lapsed at 16:00 is gone by the 17:00 login; the one valid until tomorrow stays"
        );
    }
}
