//! The one error-code table: every rejection maps to a GraphQL `extensions.code` and an HTTP
//! status here, and nowhere else.

use async_graphql::ErrorExtensions;
use domain::account::AccountError;
use domain::announcement::AnnouncementError;
use domain::enterprise::EnterpriseError;
use domain::role::RoleError;
use domain::validate::FieldError;
use eventlog::{AppendError, EventLogError, StoreError};

/// An error as the API reports it. It deliberately has no `Display`: it becomes a GraphQL error
/// only through the conversion below, which keeps its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No valid session.
    Unauthenticated(String),
    /// The caller lacks a permission.
    Forbidden(String),
    /// No such object (or another tenant's).
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
    /// Too many attempts.
    RateLimited(String),
    /// Something failed inside; details are in the server log only.
    Internal,
}

impl ApiError {
    /// The `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Validation { .. } => "VALIDATION",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::RateLimited(_) => "RATE_LIMITED",
            ApiError::Internal => "INTERNAL",
        }
    }

    /// The message for a person (never internals).
    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::RateLimited(m) => m.clone(),
            ApiError::Validation { field, message } => format!("{field}: {message}"),
            ApiError::Internal => "internal error".into(),
        }
    }

    /// The HTTP status for plain-HTTP endpoints.
    pub fn http_status(&self) -> u16 {
        match self {
            ApiError::Unauthenticated(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::Validation { .. } => 422,
            ApiError::Conflict(_) => 409,
            ApiError::RateLimited(_) => 429,
            ApiError::Internal => 500,
        }
    }

    /// A validation failure of `field`.
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// An internal failure, logged with its cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        ApiError::Internal
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        let field = match &error {
            ApiError::Validation { field, .. } => Some(field.clone()),
            _ => None,
        };
        async_graphql::Error::new(error.message()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(field) = field {
                ext.set("field", field);
            }
        })
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Validation {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<EnterpriseError> for ApiError {
    fn from(e: EnterpriseError) -> Self {
        match e {
            EnterpriseError::Invalid(f) => f.into(),
            EnterpriseError::NotFound => ApiError::NotFound(e.to_string()),
            EnterpriseError::AlreadyExists | EnterpriseError::PlatformProtected => {
                ApiError::Conflict(e.to_string())
            }
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(f) => f.into(),
            AccountError::NotFound => ApiError::NotFound(e.to_string()),
            AccountError::PlatformPermission(_) => {
                ApiError::validation("permissions", e.to_string())
            }
            AccountError::Disabled | AccountError::EnterpriseDisabled => {
                ApiError::Unauthenticated(e.to_string())
            }
            AccountError::AlreadyExists | AccountError::OperatorProtected => {
                ApiError::Conflict(e.to_string())
            }
        }
    }
}

impl From<RoleError> for ApiError {
    fn from(e: RoleError) -> Self {
        match e {
            RoleError::Invalid(f) => f.into(),
            RoleError::NotFound => ApiError::NotFound(e.to_string()),
            RoleError::PlatformPermission(_) => ApiError::validation("permissions", e.to_string()),
            RoleError::AlreadyExists | RoleError::InUse(_) => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<AnnouncementError> for ApiError {
    fn from(e: AnnouncementError) -> Self {
        match e {
            AnnouncementError::Invalid(f) => f.into(),
            AnnouncementError::NotFound => ApiError::NotFound(e.to_string()),
            AnnouncementError::AlreadyExists => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::extension::ExtensionError> for ApiError {
    fn from(e: domain::extension::ExtensionError) -> Self {
        use domain::extension::ExtensionError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => ApiError::NotFound(e.to_string()),
            E::PermittedElsewhere(_) => ApiError::validation("signInAccounts", e.to_string()),
            E::AlreadyExists => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::trunk::TrunkError> for ApiError {
    fn from(e: domain::trunk::TrunkError) -> Self {
        use domain::trunk::TrunkError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => ApiError::NotFound(e.to_string()),
            E::AlreadyExists | E::InUse(_) => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::number::NumberError> for ApiError {
    fn from(e: domain::number::NumberError) -> Self {
        use domain::number::NumberError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => ApiError::NotFound(e.to_string()),
            E::AlreadyExists | E::InUse(_) => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::route::RouteError> for ApiError {
    fn from(e: domain::route::RouteError) -> Self {
        use domain::route::RouteError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => ApiError::NotFound(e.to_string()),
            E::AlreadyExists => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::call::CallError> for ApiError {
    fn from(e: domain::call::CallError) -> Self {
        use domain::call::CallError as E;
        match e {
            E::NotFound | E::NoSuchLeg(_) => ApiError::NotFound(e.to_string()),
            E::AlreadyExists | E::Ended | E::LegExists(_) | E::WrongState { .. } | E::NotInIvr => {
                ApiError::Conflict(e.to_string())
            }
        }
    }
}

impl From<domain::ivr::IvrFlowError> for ApiError {
    fn from(e: domain::ivr::IvrFlowError) -> Self {
        use domain::ivr::IvrFlowError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => ApiError::NotFound(e.to_string()),
            E::NameTaken => ApiError::validation("name", e.to_string()),
            E::AlreadyExists | E::InUse(_) => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::queue::QueueError> for ApiError {
    fn from(e: domain::queue::QueueError) -> Self {
        use domain::queue::QueueError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => ApiError::NotFound(e.to_string()),
            E::NameTaken => ApiError::validation("name", e.to_string()),
            E::AlreadyExists | E::InUse(_) => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::agent::AgentError> for ApiError {
    fn from(e: domain::agent::AgentError) -> Self {
        use domain::agent::AgentError as E;
        match e {
            E::NotPermitted => ApiError::Forbidden(e.to_string()),
            E::NotSignedIn
            | E::Occupied
            | E::Busy
            | E::NotTheCall
            | E::WrappingUp
            | E::NotWrappingUp => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<domain::voice::VoiceError> for ApiError {
    fn from(e: domain::voice::VoiceError) -> Self {
        use domain::voice::VoiceError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => ApiError::NotFound(e.to_string()),
            E::NameTaken => ApiError::validation("name", e.to_string()),
            E::AlreadyExists | E::InUse(_) => ApiError::Conflict(e.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Log(EventLogError::Rejected(AppendError::VersionConflict { .. })) => {
                ApiError::Conflict(
                    "it was changed by someone else at the same time; try again".into(),
                )
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<EventLogError> for ApiError {
    fn from(e: EventLogError) -> Self {
        StoreError::Log(e).into()
    }
}

impl From<projections::ProjectionError> for ApiError {
    fn from(e: projections::ProjectionError) -> Self {
        ApiError::internal(e)
    }
}

/// Result of API operations.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_status() {
        let all = [
            (
                ApiError::Unauthenticated(String::new()),
                "UNAUTHENTICATED",
                401,
            ),
            (ApiError::Forbidden(String::new()), "FORBIDDEN", 403),
            (ApiError::NotFound(String::new()), "NOT_FOUND", 404),
            (ApiError::validation("f", ""), "VALIDATION", 422),
            (ApiError::Conflict(String::new()), "CONFLICT", 409),
            (ApiError::RateLimited(String::new()), "RATE_LIMITED", 429),
            (ApiError::Internal, "INTERNAL", 500),
        ];
        for (error, code, status) in all {
            assert_eq!(error.code(), code);
            assert_eq!(error.http_status(), status);
        }
    }

    #[test]
    fn a_role_in_use_is_a_conflict() {
        assert_eq!(ApiError::from(RoleError::InUse(3)).code(), "CONFLICT");
    }
}
