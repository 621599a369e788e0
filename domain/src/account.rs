//! The sub-account (子账号): a person's login within an enterprise, with its role, its
//! permissions and its sessions. The platform operator is a sub-account of the platform
//! enterprise.

mod authority;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::permission::{Permission, PermissionScope, PermissionSetting};
use crate::validate::{login_name, optional_text, required_text, FieldError};
pub use authority::{may_grant, Actor, Unauthorized};
use authority::{may_manage, may_repermission};

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
    /// Whether it is its enterprise's first admin (made with the enterprise).
    pub first_admin: bool,
    /// Its role.
    pub role_id: Option<Uuid>,
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
        /// Whether it is its enterprise's first admin (made with the enterprise).
        first_admin: bool,
        /// The permissions it will hold (its custom set, or its role's; looked up).
        granted: BTreeSet<Permission>,
        /// Who creates it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Changes details; the login name cannot change.
    Update {
        /// New details.
        profile: AccountProfile,
        /// The permissions of the role in `profile` (looked up; empty without one).
        role_permissions: BTreeSet<Permission>,
        /// The permissions it holds now (looked up).
        held: BTreeSet<Permission>,
        /// Who changes it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Sets where permissions come from.
    SetPermissions {
        /// The setting.
        permissions: PermissionSetting,
        /// The account's role now (looked up), needed to follow a role.
        role_id: Option<Uuid>,
        /// The permissions the setting gives (looked up).
        granted: BTreeSet<Permission>,
        /// The permissions it holds now (looked up).
        held: BTreeSet<Permission>,
        /// Who changes it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Replaces the password.
    ChangePassword {
        /// argon2id hash of the new password.
        password_hash: String,
        /// The permissions it holds now (looked up).
        held: BTreeSet<Permission>,
        /// Who changes it (itself, or an admin resetting it).
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Enables or disables login; disabling ends every session.
    SetEnabled {
        /// New state.
        enabled: bool,
        /// The permissions it holds now (looked up).
        held: BTreeSet<Permission>,
        /// Who changes it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deletes it for good; its sessions end.
    Delete {
        /// The permissions it holds now (looked up).
        held: BTreeSet<Permission>,
        /// Who deletes it.
        by: Actor,
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
    /// Notes a login with a wrong password, for the audit log (never the password itself).
    RecordFailedLogin {
        /// Where the attempt came from (an IP address).
        source: String,
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
        /// Its enterprise's first admin (absent, false, in events stored before it existed).
        #[serde(default, skip_serializing_if = "is_false")]
        first_admin: bool,
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
    /// A login failed: the password was wrong.
    LoginFailed {
        /// Where the attempt came from (an IP address).
        source: String,
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
    /// The actor may not do this.
    #[error(transparent)]
    Unauthorized(#[from] Unauthorized),
}

fn is_false(value: &bool) -> bool {
    !*value
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

/// Whether only the operator may change the account: the enterprise's first admin, or the
/// operator itself.
fn protected(state: &AccountState) -> bool {
    state.first_admin || state.operator
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
                first_admin,
                granted,
                by,
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
                may_grant(&by, &granted)?;
                require_password_hash(&password_hash)?;
                Ok(vec![E::AccountCreated {
                    enterprise_id,
                    account,
                    profile,
                    permissions,
                    password_hash,
                    operator,
                    first_admin,
                    at,
                }])
            }
            C::Update {
                profile,
                role_permissions,
                held,
                by,
                at,
            } => {
                require_existing(state)?;
                if profile.role_id != state.role_id {
                    may_repermission(&by, protected(state), &held, &role_permissions)?;
                }
                Ok(vec![E::AccountUpdated {
                    profile: profile.validated()?,
                    at,
                }])
            }
            C::SetPermissions {
                permissions,
                role_id,
                granted,
                held,
                by,
                at,
            } => {
                require_existing(state)?;
                if state.operator {
                    return Err(AccountError::OperatorProtected);
                }
                check_permissions(&permissions, role_id)?;
                may_repermission(&by, protected(state), &held, &granted)?;
                Ok(vec![E::AccountPermissionsSet { permissions, at }])
            }
            C::ChangePassword {
                password_hash,
                held,
                by,
                at,
            } => {
                require_existing(state)?;
                if !by.itself {
                    may_manage(&by, protected(state), &held)?;
                }
                require_password_hash(&password_hash)?;
                let mut events = vec![E::AccountPasswordChanged { password_hash, at }];
                events.extend(close_all(state, SessionEnd::PasswordChanged, at));
                Ok(events)
            }
            C::SetEnabled {
                enabled,
                held,
                by,
                at,
            } => {
                require_existing(state)?;
                if state.operator {
                    return Err(AccountError::OperatorProtected);
                }
                may_manage(&by, protected(state), &held)?;
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
            C::Delete { held, by, at } => {
                require_existing(state)?;
                if state.operator {
                    return Err(AccountError::OperatorProtected);
                }
                may_manage(&by, protected(state), &held)?;
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
            C::RecordFailedLogin { source, at } => {
                require_existing(state)?;
                let source: String = source.chars().take(64).collect();
                Ok(vec![E::LoginFailed { source, at }])
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
                first_admin,
                profile,
                ..
            } => {
                state = AccountState {
                    status: AccountStatus::Enabled,
                    enterprise_id,
                    operator,
                    first_admin,
                    role_id: profile.role_id,
                    sessions: BTreeMap::new(),
                };
            }
            E::AccountUpdated { profile, .. } => state.role_id = profile.role_id,
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
            E::AccountPermissionsSet { .. }
            | E::AccountPasswordChanged { .. }
            | E::LoginFailed { .. } => {}
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
mod tests;
