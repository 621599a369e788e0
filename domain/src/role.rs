//! The role (角色): a name and a permission template for sub-accounts (manual §5.2).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::account::{may_grant, Actor, Unauthorized};
use crate::permission::{Permission, PermissionScope};
use crate::validate::{required_text, FieldError};

/// The role aggregate.
pub struct Role;

/// What a role is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleState {
    /// Whether it exists (created and not deleted).
    pub exists: bool,
}

/// Commands on a role.
#[derive(Debug, Clone, PartialEq)]
pub enum RoleCommand {
    /// Creates it.
    Create {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Name.
        name: String,
        /// Permission template.
        permissions: BTreeSet<Permission>,
        /// Whether another role of the enterprise has this name (looked up).
        name_taken: bool,
        /// Who creates it (nobody puts in a role a permission it does not hold).
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Changes name and template.
    Update {
        /// Name.
        name: String,
        /// Permission template.
        permissions: BTreeSet<Permission>,
        /// Whether another role of the enterprise has this name (looked up).
        name_taken: bool,
        /// Who changes it (nobody puts in a role a permission it does not hold).
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deletes it.
    Delete {
        /// How many sub-accounts have this role (looked up).
        accounts_using: u32,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Facts about a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RoleEvent {
    /// Created.
    RoleCreated {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Name.
        name: String,
        /// Permission template.
        permissions: BTreeSet<Permission>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Changed.
    RoleUpdated {
        /// Name.
        name: String,
        /// Permission template.
        permissions: BTreeSet<Permission>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deleted.
    RoleDeleted {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a role command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// The id is in use.
    #[error("the role already exists")]
    AlreadyExists,
    /// No such role.
    #[error("role not found")]
    NotFound,
    /// Sub-accounts still have it.
    #[error("the role is assigned to {0} sub-account(s) and cannot be deleted")]
    InUse(u32),
    /// A platform permission in an enterprise role.
    #[error("permission {0} is reserved to the platform operator")]
    PlatformPermission(String),
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The actor may not do this.
    #[error(transparent)]
    Unauthorized(#[from] Unauthorized),
}

fn check(
    name: &str,
    permissions: &BTreeSet<Permission>,
    name_taken: bool,
) -> Result<String, RoleError> {
    let name = required_text("name", name, 32)?;
    if name_taken {
        return Err(FieldError::new("name", "another role has this name").into());
    }
    if let Some(p) = permissions
        .iter()
        .find(|p| p.scope() == PermissionScope::Platform)
    {
        return Err(RoleError::PlatformPermission(p.id().to_owned()));
    }
    Ok(name)
}

impl esrs::Aggregate for Role {
    const NAME: &'static str = "role";
    type State = RoleState;
    type Command = RoleCommand;
    type Event = RoleEvent;
    type Error = RoleError;

    fn handle_command(
        state: &RoleState,
        command: RoleCommand,
    ) -> Result<Vec<RoleEvent>, RoleError> {
        match command {
            RoleCommand::Create {
                enterprise_id,
                name,
                permissions,
                name_taken,
                by,
                at,
            } => {
                if state.exists {
                    return Err(RoleError::AlreadyExists);
                }
                let name = check(&name, &permissions, name_taken)?;
                may_grant(&by, &permissions)?;
                Ok(vec![RoleEvent::RoleCreated {
                    enterprise_id,
                    name,
                    permissions,
                    at,
                }])
            }
            RoleCommand::Update {
                name,
                permissions,
                name_taken,
                by,
                at,
            } => {
                if !state.exists {
                    return Err(RoleError::NotFound);
                }
                let name = check(&name, &permissions, name_taken)?;
                may_grant(&by, &permissions)?;
                Ok(vec![RoleEvent::RoleUpdated {
                    name,
                    permissions,
                    at,
                }])
            }
            RoleCommand::Delete { accounts_using, at } => {
                if !state.exists {
                    return Err(RoleError::NotFound);
                }
                if accounts_using > 0 {
                    return Err(RoleError::InUse(accounts_using));
                }
                Ok(vec![RoleEvent::RoleDeleted { at }])
            }
        }
    }

    fn apply_event(_state: RoleState, event: RoleEvent) -> RoleState {
        RoleState {
            exists: !matches!(event, RoleEvent::RoleDeleted { .. }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    fn created() -> RoleEvent {
        RoleEvent::RoleCreated {
            enterprise_id: Uuid::from_u128(1),
            name: "坐席".into(),
            permissions: BTreeSet::from([Permission::AgentWorkstation]),
            at: at(),
        }
    }

    #[test]
    fn a_role_is_created_with_its_template() {
        given::<Role>(vec![])
            .when(RoleCommand::Create {
                enterprise_id: Uuid::from_u128(1),
                name: "坐席".into(),
                permissions: BTreeSet::from([Permission::AgentWorkstation]),
                name_taken: false,
                by: Actor::operator(),
                at: at(),
            })
            .then(vec![created()]);
    }

    #[test]
    fn a_role_in_use_cannot_be_deleted() {
        given::<Role>(vec![created()])
            .when(RoleCommand::Delete {
                accounts_using: 2,
                at: at(),
            })
            .then_err(RoleError::InUse(2));
    }

    #[test]
    fn an_unused_role_is_deleted() {
        given::<Role>(vec![created()])
            .when(RoleCommand::Delete {
                accounts_using: 0,
                at: at(),
            })
            .then(vec![RoleEvent::RoleDeleted { at: at() }]);
    }

    #[test]
    fn a_taken_name_is_refused() {
        given::<Role>(vec![created()])
            .when(RoleCommand::Update {
                name: "班长".into(),
                permissions: BTreeSet::new(),
                name_taken: true,
                by: Actor::operator(),
                at: at(),
            })
            .then_err(RoleError::Invalid(FieldError::new(
                "name",
                "another role has this name",
            )));
    }

    #[test]
    fn platform_permissions_are_refused() {
        given::<Role>(vec![])
            .when(RoleCommand::Create {
                enterprise_id: Uuid::from_u128(1),
                name: "x".into(),
                permissions: BTreeSet::from([Permission::PlatformEnterprises]),
                name_taken: false,
                by: Actor::operator(),
                at: at(),
            })
            .then_err(RoleError::PlatformPermission("platform.enterprises".into()));
    }

    #[test]
    fn a_role_holds_only_permissions_its_maker_holds() {
        let maker = Actor {
            permissions: BTreeSet::from([Permission::RolesManage, Permission::RoutesRead]),
            operator: false,
            itself: false,
        };
        given::<Role>(vec![])
            .when(RoleCommand::Create {
                enterprise_id: Uuid::from_u128(1),
                name: "坐席".into(),
                permissions: BTreeSet::from([
                    Permission::RoutesRead,
                    Permission::SubAccountsManage,
                ]),
                name_taken: false,
                by: maker,
                at: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            })
            .then_err(RoleError::Unauthorized(Unauthorized::Grant(
                "sub_accounts.manage".into(),
            )));
    }
}
