//! Read model `accounts`: one document per sub-account (never the password hash).

use chrono::{DateTime, Utc};
use domain::account::{Account, AccountEvent};
use domain::PermissionSetting;
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `accounts` read model, whose documents are each a sub-account.
pub const ACCOUNTS: crate::handle::Model<AccountDoc> =
    crate::handle::Model::new("accounts", "sub-account");

/// A sub-account as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountDoc {
    /// Id.
    pub id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// Login name.
    pub account: String,
    /// Person's name.
    pub name: String,
    /// Agent number.
    pub agent_number: String,
    /// Role.
    pub role_id: Option<Uuid>,
    /// Permission setting.
    pub permissions: PermissionSetting,
    /// Whether it may log in.
    pub enabled: bool,
    /// Platform operator.
    pub operator: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The projection.
pub struct Accounts;

impl Projection for Accounts {
    fn name(&self) -> &'static str {
        ACCOUNTS.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Account>(event)? else {
            return Ok(());
        };
        let id = event.stream_id;
        let key = id.to_string();
        match e {
            AccountEvent::AccountCreated {
                enterprise_id,
                account,
                profile,
                permissions,
                operator,
                at,
                ..
            } => {
                let doc = AccountDoc {
                    id,
                    enterprise_id,
                    account,
                    name: profile.name,
                    agent_number: profile.agent_number,
                    role_id: profile.role_id,
                    permissions,
                    enabled: true,
                    operator,
                    created_at: at,
                    updated_at: at,
                };
                docs.put(key, Some(enterprise_id), &doc);
            }
            AccountEvent::AccountUpdated { profile, at } => {
                docs.update(&key, |d: &mut AccountDoc| {
                    d.name = profile.name;
                    d.agent_number = profile.agent_number;
                    d.role_id = profile.role_id;
                    d.updated_at = at;
                })
            }
            AccountEvent::AccountPermissionsSet { permissions, at } => {
                docs.update(&key, |d: &mut AccountDoc| {
                    d.permissions = permissions;
                    d.updated_at = at;
                })
            }
            AccountEvent::AccountDisabled { at } => docs.update(&key, |d: &mut AccountDoc| {
                d.enabled = false;
                d.updated_at = at;
            }),
            AccountEvent::AccountEnabled { at } => docs.update(&key, |d: &mut AccountDoc| {
                d.enabled = true;
                d.updated_at = at;
            }),
            AccountEvent::AccountDeleted { .. } => docs.remove(&key),
            AccountEvent::AccountPasswordChanged { .. }
            | AccountEvent::SessionOpened { .. }
            | AccountEvent::SessionClosed { .. }
            | AccountEvent::LoginFailed { .. } => {}
        }
        Ok(())
    }
}
