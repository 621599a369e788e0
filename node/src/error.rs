//! Why a command did not happen, classified once: every domain refusal and log failure maps
//! to one [`CommandError`] kind here, and the API turns the kind into its codes and statuses.

use domain::account::AccountError;
use domain::announcement::AnnouncementError;
use domain::enterprise::EnterpriseError;
use domain::role::RoleError;
use domain::validate::FieldError;
use eventlog::{AppendError, EventLogError, StoreError};
use std::path::PathBuf;

/// A command that was refused or failed. Refusals carry a message for a person; internal
/// failures are logged where they happen and carry nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The account may not act (disabled, its enterprise disabled).
    Unauthenticated(String),
    /// The actor lacks a right the command needs.
    Forbidden(String),
    /// No such object.
    NotFound(String),
    /// An input field is invalid.
    Validation {
        /// The input field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The state changed or forbids the change.
    Conflict(String),
    /// Something failed inside; details are in the server log only.
    Internal,
}

impl CommandError {
    /// The kind as a stable code (`NOT_FOUND`, `CONFLICT`…), the API's `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::Unauthenticated(_) => "UNAUTHENTICATED",
            CommandError::Forbidden(_) => "FORBIDDEN",
            CommandError::NotFound(_) => "NOT_FOUND",
            CommandError::Validation { .. } => "VALIDATION",
            CommandError::Conflict(_) => "CONFLICT",
            CommandError::Internal => "INTERNAL",
        }
    }

    /// The message for a person (never internals).
    pub fn message(&self) -> String {
        match self {
            CommandError::Unauthenticated(m)
            | CommandError::Forbidden(m)
            | CommandError::NotFound(m)
            | CommandError::Conflict(m) => m.clone(),
            CommandError::Validation { field, message } => format!("{field}: {message}"),
            CommandError::Internal => "internal error".into(),
        }
    }

    /// A validation failure of `field`.
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        CommandError::Validation {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// An internal failure, logged with its cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        CommandError::Internal
    }
}

impl From<FieldError> for CommandError {
    fn from(e: FieldError) -> Self {
        CommandError::Validation {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<EnterpriseError> for CommandError {
    fn from(e: EnterpriseError) -> Self {
        match e {
            EnterpriseError::Invalid(f) => f.into(),
            EnterpriseError::NotFound => CommandError::NotFound(e.to_string()),
            EnterpriseError::AlreadyExists | EnterpriseError::PlatformProtected => {
                CommandError::Conflict(e.to_string())
            }
        }
    }
}

impl From<AccountError> for CommandError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(f) => f.into(),
            AccountError::NotFound => CommandError::NotFound(e.to_string()),
            AccountError::PlatformPermission(_) => {
                CommandError::validation("permissions", e.to_string())
            }
            AccountError::Disabled | AccountError::EnterpriseDisabled => {
                CommandError::Unauthenticated(e.to_string())
            }
            AccountError::AlreadyExists | AccountError::OperatorProtected => {
                CommandError::Conflict(e.to_string())
            }
            AccountError::Unauthorized(_) => CommandError::Forbidden(e.to_string()),
        }
    }
}

impl From<RoleError> for CommandError {
    fn from(e: RoleError) -> Self {
        match e {
            RoleError::Invalid(f) => f.into(),
            RoleError::NotFound => CommandError::NotFound(e.to_string()),
            RoleError::PlatformPermission(_) => {
                CommandError::validation("permissions", e.to_string())
            }
            RoleError::AlreadyExists | RoleError::InUse(_) => CommandError::Conflict(e.to_string()),
            RoleError::Unauthorized(_) => CommandError::Forbidden(e.to_string()),
        }
    }
}

impl From<AnnouncementError> for CommandError {
    fn from(e: AnnouncementError) -> Self {
        match e {
            AnnouncementError::Invalid(f) => f.into(),
            AnnouncementError::NotFound => CommandError::NotFound(e.to_string()),
            AnnouncementError::AlreadyExists => CommandError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::extension::ExtensionError> for CommandError {
    fn from(e: domain::extension::ExtensionError) -> Self {
        use domain::extension::ExtensionError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => CommandError::NotFound(e.to_string()),
            E::PermittedElsewhere(_) => CommandError::validation("signInAccounts", e.to_string()),
            E::AlreadyExists => CommandError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::trunk::TrunkError> for CommandError {
    fn from(e: domain::trunk::TrunkError) -> Self {
        use domain::trunk::TrunkError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => CommandError::NotFound(e.to_string()),
            E::AlreadyExists | E::InUse(_) => CommandError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::number::NumberError> for CommandError {
    fn from(e: domain::number::NumberError) -> Self {
        use domain::number::NumberError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => CommandError::NotFound(e.to_string()),
            E::AlreadyExists | E::InUse(_) => CommandError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::route::RouteError> for CommandError {
    fn from(e: domain::route::RouteError) -> Self {
        use domain::route::RouteError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => CommandError::NotFound(e.to_string()),
            E::AlreadyExists => CommandError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::call::CallError> for CommandError {
    fn from(e: domain::call::CallError) -> Self {
        use domain::call::CallError as E;
        match e {
            E::NotFound | E::NoSuchLeg(_) => CommandError::NotFound(e.to_string()),
            E::AlreadyExists | E::Ended | E::LegExists(_) | E::WrongState { .. } | E::NotInIvr => {
                CommandError::Conflict(e.to_string())
            }
        }
    }
}

impl From<domain::ivr::IvrFlowError> for CommandError {
    fn from(e: domain::ivr::IvrFlowError) -> Self {
        use domain::ivr::IvrFlowError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => CommandError::NotFound(e.to_string()),
            E::NameTaken => CommandError::validation("name", e.to_string()),
            E::AlreadyExists | E::InUse(_) => CommandError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::queue::QueueError> for CommandError {
    fn from(e: domain::queue::QueueError) -> Self {
        use domain::queue::QueueError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => CommandError::NotFound(e.to_string()),
            E::NameTaken => CommandError::validation("name", e.to_string()),
            E::AlreadyExists | E::InUse(_) => CommandError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::agent::AgentError> for CommandError {
    fn from(e: domain::agent::AgentError) -> Self {
        use domain::agent::AgentError as E;
        match e {
            E::NotPermitted => CommandError::Forbidden(e.to_string()),
            E::NotSignedIn
            | E::Occupied
            | E::Busy
            | E::NotTheCall
            | E::WrappingUp
            | E::NotWrappingUp => CommandError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::voice::VoiceError> for CommandError {
    fn from(e: domain::voice::VoiceError) -> Self {
        use domain::voice::VoiceError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => CommandError::NotFound(e.to_string()),
            E::NameTaken => CommandError::validation("name", e.to_string()),
            E::AlreadyExists | E::InUse(_) => CommandError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::data_file::DataFileError> for CommandError {
    fn from(e: domain::data_file::DataFileError) -> Self {
        use domain::data_file::DataFileError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => CommandError::NotFound(e.to_string()),
            E::AlreadyExists | E::NotClaimable | E::NotHolder => {
                CommandError::Conflict(e.to_string())
            }
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Log(EventLogError::Rejected(AppendError::VersionConflict { .. })) => {
                CommandError::Conflict(
                    "it was changed by someone else at the same time; try again".into(),
                )
            }
            other => CommandError::internal(other),
        }
    }
}

impl From<EventLogError> for CommandError {
    fn from(e: EventLogError) -> Self {
        StoreError::Log(e).into()
    }
}

impl From<projections::ProjectionError> for CommandError {
    fn from(e: projections::ProjectionError) -> Self {
        CommandError::internal(e)
    }
}

/// Result of a command.
pub type CommandResult<T> = Result<T, CommandError>;

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The log could not be opened.
    #[error("event log: {0}")]
    Log(#[from] EventLogError),
    /// The read models could not be loaded or caught up.
    #[error("read models: {0}")]
    Models(#[from] projections::ProjectionError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_in_use_is_a_conflict() {
        assert_eq!(CommandError::from(RoleError::InUse(3)).code(), "CONFLICT");
    }

    #[test]
    fn a_version_conflict_is_a_conflict_and_other_log_failures_are_internal() {
        let conflict = EventLogError::Rejected(AppendError::VersionConflict {
            stream_id: uuid::Uuid::nil(),
            expected: 1,
            actual: 2,
        });
        assert_eq!(CommandError::from(conflict).code(), "CONFLICT");
        assert_eq!(
            CommandError::from(EventLogError::Closed),
            CommandError::Internal
        );
    }
}
