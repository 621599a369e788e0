//! The one error-code table: every rejection maps to a GraphQL `extensions.code` and an HTTP
//! status here, and nowhere else.

use async_graphql::ErrorExtensions;
use domain::validate::FieldError;
use node::CommandError;

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

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Unauthenticated(m) => ApiError::Unauthenticated(m),
            CommandError::Forbidden(m) => ApiError::Forbidden(m),
            CommandError::NotFound(m) => ApiError::NotFound(m),
            CommandError::Validation { field, message } => ApiError::Validation { field, message },
            CommandError::Conflict(m) => ApiError::Conflict(m),
            CommandError::Internal => ApiError::Internal,
        }
    }
}

/// A domain refusal, classified as commands classify it.
macro_rules! refusals_as_commands {
    ($($error:ty),* $(,)?) => {
        $(
            impl From<$error> for ApiError {
                fn from(e: $error) -> Self {
                    CommandError::from(e).into()
                }
            }
        )*
    };
}

refusals_as_commands!(
    domain::account::AccountError,
    domain::announcement::AnnouncementError,
    domain::enterprise::EnterpriseError,
    domain::role::RoleError,
    domain::extension::ExtensionError,
    domain::trunk::TrunkError,
    domain::number::NumberError,
    domain::route::RouteError,
    domain::call::CallError,
    domain::ivr::IvrFlowError,
    domain::queue::QueueError,
    domain::agent::AgentError,
    domain::voice::VoiceError,
    domain::data_file::DataFileError,
    eventlog::StoreError,
    eventlog::EventLogError,
);

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
        let in_use = domain::role::RoleError::InUse(3);
        assert_eq!(ApiError::from(in_use).code(), "CONFLICT");
    }
}
