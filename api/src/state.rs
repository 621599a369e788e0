//! What every HTTP handler gets: the node's API state and schema, and who is calling (the
//! bearer token of a request, resolved to a caller).

use axum::http::{header, HeaderMap};
use chrono::Utc;

use crate::app::App;
use crate::graphql::{AuthState, CallcoreSchema};

/// The state every handler gets.
#[derive(Clone)]
pub(crate) struct Server {
    /// The node.
    pub(crate) app: App,
    /// The GraphQL schema.
    pub(crate) schema: CallcoreSchema,
}

/// The caller of a request bearing `token` (none: anonymous).
pub(crate) fn auth_state(app: &App, token: Option<&str>) -> AuthState {
    match token {
        None => AuthState::Anonymous,
        Some(token) => match app.auth.authenticate(&app.node.models, token, Utc::now()) {
            Ok(caller) => AuthState::Caller(caller),
            Err(error) => AuthState::Invalid(error),
        },
    }
}

/// The bearer token of a request.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
}
