//! Read model `roles`: one document per role.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use domain::role::{Role, RoleEvent};
use domain::Permission;
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `roles` read model, whose documents are each a role.
pub const ROLES: crate::handle::Model<RoleDoc> = crate::handle::Model::new("roles", "role");

/// A role as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleDoc {
    /// Id.
    pub id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// Name.
    pub name: String,
    /// Permission template.
    pub permissions: BTreeSet<Permission>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// The projection.
pub struct Roles;

impl Projection for Roles {
    fn name(&self) -> &'static str {
        ROLES.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Role>(event)? else {
            return Ok(());
        };
        let id = event.stream_id;
        let key = id.to_string();
        match e {
            RoleEvent::RoleCreated {
                enterprise_id,
                name,
                permissions,
                at,
            } => {
                docs.put(
                    key,
                    Some(enterprise_id),
                    &RoleDoc {
                        id,
                        enterprise_id,
                        name,
                        permissions,
                        created_at: at,
                    },
                );
            }
            RoleEvent::RoleUpdated {
                name, permissions, ..
            } => docs.update(&key, |d: &mut RoleDoc| {
                d.name = name;
                d.permissions = permissions;
            }),
            RoleEvent::RoleDeleted { .. } => docs.remove(&key),
        }
        Ok(())
    }
}
