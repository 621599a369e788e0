//! Read model `credentials`: the password hash of each sub-account, for login only; never served.

use domain::account::{Account, AccountEvent};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `credentials` read model, whose documents are each a credential.
pub const CREDENTIALS: crate::handle::Model<CredentialDoc> =
    crate::handle::Model::new("credentials", "credential");

/// What login needs to check a password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialDoc {
    /// The sub-account.
    pub account_id: Uuid,
    /// argon2id hash.
    pub password_hash: String,
}

/// The projection.
pub struct Credentials;

impl Projection for Credentials {
    fn name(&self) -> &'static str {
        CREDENTIALS.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Account>(event)? else {
            return Ok(());
        };
        let account_id = event.stream_id;
        let key = account_id.to_string();
        match e {
            AccountEvent::AccountCreated {
                enterprise_id,
                password_hash,
                ..
            } => {
                docs.put(
                    key,
                    Some(enterprise_id),
                    &CredentialDoc {
                        account_id,
                        password_hash,
                    },
                );
            }
            AccountEvent::AccountPasswordChanged { password_hash, .. } => {
                docs.update(&key, |d: &mut CredentialDoc| {
                    d.password_hash = password_hash
                });
            }
            AccountEvent::AccountDeleted { .. } => docs.remove(&key),
            _ => {}
        }
        Ok(())
    }
}
