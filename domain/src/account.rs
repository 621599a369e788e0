//! The sub-account (子账号): a person's login within an enterprise, with its role, its
//! permissions and its sessions. The platform operator is a sub-account of the platform
//! enterprise.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::permission::{Permission, PermissionScope, PermissionSetting};
use crate::validate::{login_name, optional_text, required_text, FieldError};

/// The sub-account aggregate.
pub struct Account;

/// Life-cycle of a sub-account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Never created (or deleted: the name may be used again).
    #[default]
    Absent,
    /// May log in.
    Enabled,
    /// Kept, but may not log in.
    Disabled,
}

/// What a sub-account is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountState {
    /// Life-cycle.
    pub status: AccountStatus,
    /// The enterprise.
    pub enterprise_id: Uuid,
    /// Whether it is the platform operator.
    pub operator: bool,
    /// Open sessions and when they expire.
    pub sessions: BTreeMap<Uuid, DateTime<Utc>>,
}

/// Editable details of a sub-account (manual §5.1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountProfile {
    /// Person's name (姓名).
    pub name: String,
    /// Agent number (工号), optional.
    pub agent_number: String,
    /// Role, optional.
    pub role_id: Option<Uuid>,
}

impl AccountProfile {
    fn validated(self) -> Result<Self, FieldError> {
        Ok(Self {
            name: required_text("name", &self.name, 32)?,
            agent_number: optional_text("agentNumber", &self.agent_number, 16)?,
            role_id: self.role_id,
        })
    }
}

/// Commands on a sub-account.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountCommand {
    /// Creates it.
    Create {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Login name (账号), fixed once created.
        account: String,
        /// Details.
        profile: AccountProfile,
        /// Permission setting.
        permissions: PermissionSetting,
        /// argon2id hash of the password (hashed outside the domain).
        password_hash: String,
        /// Whether it is the platform operator.
        operator: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// Changes details; the login name cannot change.
    Update {
        /// New details.
        profile: AccountProfile,
        /// When.
        at: DateTime<Utc>,
    },
    /// Sets where permissions come from.
    SetPermissions {
        /// The setting.
        permissions: PermissionSetting,
        /// The account's role now (looked up), needed to follow a role.
        role_id: Option<Uuid>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Replaces the password.
    ChangePassword {
        /// argon2id hash of the new password.
        password_hash: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Enables or disables login; disabling ends every session.
    SetEnabled {
        /// New state.
        enabled: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deletes it for good; its sessions end.
    Delete {
        /// When.
        at: DateTime<Utc>,
    },
    /// Opens a session after a successful password check.
    OpenSession {
        /// The session.
        session_id: Uuid,
        /// SHA-256 of the bearer token, hex.
        token_hash: String,
        /// When it ends by itself.
        expires_at: DateTime<Utc>,
        /// Whether the enterprise is enabled (looked up).
        enterprise_enabled: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// Closes a session (logout).
    CloseSession {
        /// The session.
        session_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnd {
    /// The user logged out.
    Logout,
    /// The account was disabled.
    AccountDisabled,
    /// The account was deleted.
    AccountDeleted,
    /// The password changed.
    PasswordChanged,
}

/// Facts about a sub-account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AccountEvent {
    /// Created.
    AccountCreated {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Login name.
        account: String,
        /// Details.
        profile: AccountProfile,
        /// Permission setting.
        permissions: PermissionSetting,
        /// Password hash.
        password_hash: String,
        /// Platform operator.
        operator: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// Details changed.
    AccountUpdated {
        /// New details.
        profile: AccountProfile,
        /// When.
        at: DateTime<Utc>,
    },
    /// Permission setting changed.
    AccountPermissionsSet {
        /// The setting.
        permissions: PermissionSetting,
        /// When.
        at: DateTime<Utc>,
    },
    /// Password changed.
    AccountPasswordChanged {
        /// New hash.
        password_hash: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Disabled.
    AccountDisabled {
        /// When.
        at: DateTime<Utc>,
    },
    /// Enabled again.
    AccountEnabled {
        /// When.
        at: DateTime<Utc>,
    },
    /// Deleted.
    AccountDeleted {
        /// When.
        at: DateTime<Utc>,
    },
    /// A login succeeded.
    SessionOpened {
        /// The session.
        session_id: Uuid,
        /// SHA-256 of the bearer token, hex.
        token_hash: String,
        /// When it ends by itself.
        expires_at: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A session ended before expiring.
    SessionClosed {
        /// The session.
        session_id: Uuid,
        /// Why.
        reason: SessionEnd,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a sub-account command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The login name is taken in this enterprise.
    #[error("a sub-account with this name already exists")]
    AlreadyExists,
    /// No such sub-account.
    #[error("sub-account not found")]
    NotFound,
    /// The account is disabled.
    #[error("the sub-account is disabled")]
    Disabled,
    /// The enterprise is disabled.
    #[error("the enterprise is disabled")]
    EnterpriseDisabled,
    /// The platform operator cannot be disabled or deleted.
    #[error("the platform operator cannot be disabled or deleted")]
    OperatorProtected,
    /// A platform permission was given to an enterprise sub-account.
    #[error("permission {0} is reserved to the platform operator")]
    PlatformPermission(String),
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

fn check_permissions(
    setting: &PermissionSetting,
    role_id: Option<Uuid>,
) -> Result<(), AccountError> {
    match setting {
        PermissionSetting::FollowRole if role_id.is_none() => Err(AccountError::Invalid(
            FieldError::new("permissions", "following the role needs a role"),
        )),
        PermissionSetting::FollowRole => Ok(()),
        PermissionSetting::Custom { permissions } => {
            match permissions
                .iter()
                .find(|p| p.scope() == PermissionScope::Platform)
            {
                Some(p) => Err(AccountError::PlatformPermission(p.id().to_owned())),
                None => Ok(()),
            }
        }
    }
}

fn require_existing(state: &AccountState) -> Result<(), AccountError> {
    if state.status == AccountStatus::Absent {
        Err(AccountError::NotFound)
    } else {
        Ok(())
    }
}

fn require_password_hash(hash: &str) -> Result<(), AccountError> {
    if hash.starts_with("$argon2id$") {
        Ok(())
    } else {
        Err(AccountError::Invalid(FieldError::new(
            "password",
            "must be stored as an argon2id hash",
        )))
    }
}

impl esrs::Aggregate for Account {
    const NAME: &'static str = "account";
    type State = AccountState;
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;

    fn handle_command(
        state: &AccountState,
        command: AccountCommand,
    ) -> Result<Vec<AccountEvent>, AccountError> {
        use AccountCommand as C;
        use AccountEvent as E;
        match command {
            C::Create {
                enterprise_id,
                account,
                profile,
                permissions,
                password_hash,
                operator,
                at,
            } => {
                if state.status != AccountStatus::Absent {
                    return Err(AccountError::AlreadyExists);
                }
                let account = login_name("account", &account)?;
                let profile = profile.validated()?;
                if !operator {
                    check_permissions(&permissions, profile.role_id)?;
                }
                require_password_hash(&password_hash)?;
                Ok(vec![E::AccountCreated {
                    enterprise_id,
                    account,
                    profile,
                    permissions,
                    password_hash,
                    operator,
                    at,
                }])
            }
            C::Update { profile, at } => {
                require_existing(state)?;
                Ok(vec![E::AccountUpdated {
                    profile: profile.validated()?,
                    at,
                }])
            }
            C::SetPermissions {
                permissions,
                role_id,
                at,
            } => {
                require_existing(state)?;
                if state.operator {
                    return Err(AccountError::OperatorProtected);
                }
                check_permissions(&permissions, role_id)?;
                Ok(vec![E::AccountPermissionsSet { permissions, at }])
            }
            C::ChangePassword { password_hash, at } => {
                require_existing(state)?;
                require_password_hash(&password_hash)?;
                let mut events = vec![E::AccountPasswordChanged { password_hash, at }];
                events.extend(close_all(state, SessionEnd::PasswordChanged, at));
                Ok(events)
            }
            C::SetEnabled { enabled, at } => {
                require_existing(state)?;
                if state.operator {
                    return Err(AccountError::OperatorProtected);
                }
                Ok(match (state.status, enabled) {
                    (AccountStatus::Enabled, false) => {
                        let mut events = close_all(state, SessionEnd::AccountDisabled, at);
                        events.push(E::AccountDisabled { at });
                        events
                    }
                    (AccountStatus::Disabled, true) => vec![E::AccountEnabled { at }],
                    _ => vec![],
                })
            }
            C::Delete { at } => {
                require_existing(state)?;
                if state.operator {
                    return Err(AccountError::OperatorProtected);
                }
                let mut events = close_all(state, SessionEnd::AccountDeleted, at);
                events.push(E::AccountDeleted { at });
                Ok(events)
            }
            C::OpenSession {
                session_id,
                token_hash,
                expires_at,
                enterprise_enabled,
                at,
            } => {
                match state.status {
                    AccountStatus::Absent => return Err(AccountError::NotFound),
                    AccountStatus::Disabled => return Err(AccountError::Disabled),
                    AccountStatus::Enabled => {}
                }
                if !enterprise_enabled {
                    return Err(AccountError::EnterpriseDisabled);
                }
                Ok(vec![E::SessionOpened {
                    session_id,
                    token_hash,
                    expires_at,
                    at,
                }])
            }
            C::CloseSession { session_id, at } => {
                require_existing(state)?;
                Ok(
                    if state.sessions.get(&session_id).is_some_and(|end| *end > at) {
                        vec![E::SessionClosed {
                            session_id,
                            reason: SessionEnd::Logout,
                            at,
                        }]
                    } else {
                        vec![]
                    },
                )
            }
        }
    }

    fn apply_event(mut state: AccountState, event: AccountEvent) -> AccountState {
        use AccountEvent as E;
        match event {
            E::AccountCreated {
                enterprise_id,
                operator,
                ..
            } => {
                state = AccountState {
                    status: AccountStatus::Enabled,
                    enterprise_id,
                    operator,
                    sessions: BTreeMap::new(),
                };
            }
            E::AccountDisabled { .. } => state.status = AccountStatus::Disabled,
            E::AccountEnabled { .. } => state.status = AccountStatus::Enabled,
            E::AccountDeleted { .. } => state = AccountState::default(),
            E::SessionOpened {
                session_id,
                expires_at,
                at,
                ..
            } => {
                state.sessions.retain(|_, end| *end > at);
                state.sessions.insert(session_id, expires_at);
            }
            E::SessionClosed { session_id, .. } => {
                state.sessions.remove(&session_id);
            }
            E::AccountUpdated { .. }
            | E::AccountPermissionsSet { .. }
            | E::AccountPasswordChanged { .. } => {}
        }
        state
    }
}

/// Closes every session still open at `at`.
fn close_all(state: &AccountState, reason: SessionEnd, at: DateTime<Utc>) -> Vec<AccountEvent> {
    state
        .sessions
        .iter()
        .filter(|(_, end)| **end > at)
        .map(|(session_id, _)| AccountEvent::SessionClosed {
            session_id: *session_id,
            reason,
            at,
        })
        .collect()
}

/// The permissions in effect for an account with `setting` whose role grants `role`.
pub fn effective_permissions(
    setting: &PermissionSetting,
    role: Option<&std::collections::BTreeSet<Permission>>,
) -> std::collections::BTreeSet<Permission> {
    match setting {
        PermissionSetting::FollowRole => role.cloned().unwrap_or_default(),
        PermissionSetting::Custom { permissions } => permissions.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;
    use std::collections::BTreeSet;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
    }

    fn ent() -> Uuid {
        Uuid::from_u128(7)
    }

    fn profile() -> AccountProfile {
        AccountProfile {
            name: "张三".into(),
            agent_number: "1001".into(),
            role_id: None,
        }
    }

    fn created() -> AccountEvent {
        AccountEvent::AccountCreated {
            enterprise_id: ent(),
            account: "zhang".into(),
            profile: profile(),
            permissions: PermissionSetting::default(),
            password_hash: HASH.into(),
            operator: false,
            at: at(0),
        }
    }

    fn opened(session: u128, expires: i64) -> AccountEvent {
        AccountEvent::SessionOpened {
            session_id: Uuid::from_u128(session),
            token_hash: "ab".into(),
            expires_at: at(expires),
            at: at(1),
        }
    }

    #[test]
    fn create_validates_and_records_everything() {
        given::<Account>(vec![])
            .when(AccountCommand::Create {
                enterprise_id: ent(),
                account: "zhang".into(),
                profile: AccountProfile {
                    name: " 张三 ".into(),
                    ..profile()
                },
                permissions: PermissionSetting::default(),
                password_hash: HASH.into(),
                operator: false,
                at: at(0),
            })
            .then(vec![created()]);
    }

    #[test]
    fn following_a_role_needs_a_role() {
        given::<Account>(vec![])
            .when(AccountCommand::Create {
                enterprise_id: ent(),
                account: "zhang".into(),
                profile: profile(),
                permissions: PermissionSetting::FollowRole,
                password_hash: HASH.into(),
                operator: false,
                at: at(0),
            })
            .then_err(AccountError::Invalid(FieldError::new(
                "permissions",
                "following the role needs a role",
            )));
    }

    #[test]
    fn platform_permissions_are_refused_for_sub_accounts() {
        given::<Account>(vec![created()])
            .when(AccountCommand::SetPermissions {
                permissions: PermissionSetting::Custom {
                    permissions: BTreeSet::from([
                        Permission::RoutesRead,
                        Permission::PlatformTrunks,
                    ]),
                },
                role_id: None,
                at: at(1),
            })
            .then_err(AccountError::PlatformPermission("platform.trunks".into()));
    }

    #[test]
    fn a_plain_password_is_never_stored() {
        given::<Account>(vec![created()])
            .when(AccountCommand::ChangePassword {
                password_hash: "secret".into(),
                at: at(1),
            })
            .then_err(AccountError::Invalid(FieldError::new(
                "password",
                "must be stored as an argon2id hash",
            )));
    }

    #[test]
    fn disabling_closes_open_sessions_only() {
        given::<Account>(vec![created(), opened(1, 100), opened(2, 5)])
            .when(AccountCommand::SetEnabled {
                enabled: false,
                at: at(10),
            })
            .then(vec![
                AccountEvent::SessionClosed {
                    session_id: Uuid::from_u128(1),
                    reason: SessionEnd::AccountDisabled,
                    at: at(10),
                },
                AccountEvent::AccountDisabled { at: at(10) },
            ]);
    }

    #[test]
    fn a_disabled_account_cannot_log_in() {
        given::<Account>(vec![created(), AccountEvent::AccountDisabled { at: at(1) }])
            .when(AccountCommand::OpenSession {
                session_id: Uuid::from_u128(3),
                token_hash: "ab".into(),
                expires_at: at(100),
                enterprise_enabled: true,
                at: at(2),
            })
            .then_err(AccountError::Disabled);
    }

    #[test]
    fn a_disabled_enterprise_blocks_login() {
        given::<Account>(vec![created()])
            .when(AccountCommand::OpenSession {
                session_id: Uuid::from_u128(3),
                token_hash: "ab".into(),
                expires_at: at(100),
                enterprise_enabled: false,
                at: at(2),
            })
            .then_err(AccountError::EnterpriseDisabled);
    }

    #[test]
    fn logout_of_an_expired_session_is_a_no_op() {
        given::<Account>(vec![created(), opened(1, 5)])
            .when(AccountCommand::CloseSession {
                session_id: Uuid::from_u128(1),
                at: at(10),
            })
            .then(vec![]);
    }

    #[test]
    fn a_deleted_name_can_be_used_again() {
        given::<Account>(vec![created(), AccountEvent::AccountDeleted { at: at(1) }])
            .when(AccountCommand::Create {
                enterprise_id: ent(),
                account: "zhang".into(),
                profile: profile(),
                permissions: PermissionSetting::default(),
                password_hash: HASH.into(),
                operator: false,
                at: at(0),
            })
            .then(vec![created()]);
    }

    #[test]
    fn the_operator_cannot_be_disabled() {
        let mut operator = created();
        if let AccountEvent::AccountCreated { operator: op, .. } = &mut operator {
            *op = true;
        }
        given::<Account>(vec![operator])
            .when(AccountCommand::SetEnabled {
                enabled: false,
                at: at(1),
            })
            .then_err(AccountError::OperatorProtected);
    }

    #[test]
    fn effective_permissions_follow_the_role_or_the_custom_set() {
        let role = BTreeSet::from([Permission::QueuesRead]);
        assert_eq!(
            effective_permissions(&PermissionSetting::FollowRole, Some(&role)),
            role
        );
        assert!(effective_permissions(&PermissionSetting::FollowRole, None).is_empty());
        let custom = PermissionSetting::Custom {
            permissions: BTreeSet::from([Permission::IvrRead]),
        };
        assert_eq!(
            effective_permissions(&custom, Some(&role)),
            BTreeSet::from([Permission::IvrRead])
        );
    }
}
