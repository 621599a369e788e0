//! The HTTP server: `/graphql`, `/graphiql`, `/graphql/ws`, the audio files of [`files`], the
//! data files of [`data_files`], `/healthz` and `/metrics`.

use std::future::Future;

use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;

use crate::app::App;
use crate::error::ApiError;
use crate::graphql::{build_schema, AuthState, RequestSource};
use crate::state::{auth_state, bearer, Server};
use crate::{data_files, files};

/// How long a websocket may go without a valid `connection_init` before it is closed.
const CONNECTION_INIT_WITHIN: Duration = Duration::from_secs(10);

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The router of a node.
pub fn router(app: App) -> Router {
    let schema = build_schema(app.clone());
    // Uploads take larger bodies than the rest; the multipart reader enforces their limit,
    // so an oversized upload is told why in the usual error form.
    let uploads = Router::new()
        .route("/voices", post(files::upload_voice))
        .layer(DefaultBodyLimit::max(
            files::MAX_UPLOAD_BYTES + files::FORM_OVERHEAD,
        ));
    let sheet_limit = usize::try_from(app.files.settings().limits.max_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(files::FORM_OVERHEAD);
    let sheets = Router::new()
        .route("/files", post(data_files::upload))
        .layer(DefaultBodyLimit::max(sheet_limit));
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphiql", get(graphiql))
        .route("/graphql/ws", get(graphql_ws))
        .route("/recordings/{call}", get(files::recording))
        .route("/voices/{id}", get(files::voice))
        .route("/voicemails/{call}", get(files::voicemail))
        .route("/files/{id}", get(data_files::download))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .merge(uploads)
        .merge(sheets)
        .with_state(Server { app, schema })
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn graphql(
    State(server): State<Server>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    server.app.node.metrics.http_request();
    server.app.node.metrics.graphql_request();
    let request = request
        .into_inner()
        .data(auth_state(&server.app, bearer(&headers)))
        .data(RequestSource(peer.ip()));
    let response = server.schema.execute(request).await;
    for error in &response.errors {
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map(|v| v.to_string())
            .unwrap_or_default();
        server.app.node.metrics.error(match code.trim_matches('"') {
            "UNAUTHENTICATED" => "UNAUTHENTICATED",
            "FORBIDDEN" => "FORBIDDEN",
            "NOT_FOUND" => "NOT_FOUND",
            "VALIDATION" => "VALIDATION",
            "CONFLICT" => "CONFLICT",
            "RATE_LIMITED" => "RATE_LIMITED",
            "INTERNAL" => "INTERNAL",
            _ => "GRAPHQL",
        });
    }
    response.into()
}

async fn graphiql() -> impl IntoResponse {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .finish(),
    )
}

async fn graphql_ws(
    State(server): State<Server>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    server.app.node.metrics.http_request();
    let Server { app, schema } = server;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| async move {
            let initialized = Arc::new(AtomicBool::new(false));
            let noted = initialized.clone();
            let serving = GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let token = payload
                        .get("token")
                        .or_else(|| payload.get("Authorization"))
                        .or_else(|| payload.get("authorization"))
                        .and_then(|v| v.as_str())
                        .map(|t| t.strip_prefix("Bearer ").unwrap_or(t).to_owned());
                    let state = auth_state(&app, token.as_deref());
                    if let AuthState::Invalid(error) = &state {
                        return Err(async_graphql::Error::from(error.clone()));
                    }
                    noted.store(true, Ordering::Release);
                    let mut data = Data::default();
                    data.insert(RequestSource(peer.ip()));
                    data.insert(state);
                    Ok(data)
                })
                .serve();
            tokio::pin!(serving);
            tokio::select! {
                () = &mut serving => {}
                () = tokio::time::sleep(CONNECTION_INIT_WITHIN) => {
                    // A socket that never said who it is goes (dropping it closes it).
                    if initialized.load(Ordering::Acquire) {
                        serving.await;
                    }
                }
            }
        })
}

async fn healthz(State(server): State<Server>) -> impl IntoResponse {
    let body = serde_json::json!({
        "status": "ok",
        "backend": server.app.node.log.backend_name(),
        "logHead": server.app.node.log.head(),
        "readModelsApplied": server.app.node.models.applied(),
        "writesTables": server.app.node.models.tables().writing(),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

async fn metrics(State(server): State<Server>) -> impl IntoResponse {
    let models: Vec<_> = server
        .app
        .node
        .models
        .models()
        .map(|m| (m.name(), m.checkpoint()))
        .collect();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        server
            .app
            .node
            .metrics
            .render(server.app.node.log.head(), &models),
    )
}

/// An [`ApiError`] as a plain-HTTP response (for downloads and uploads).
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body =
            serde_json::json!({ "error": { "code": self.code(), "message": self.message() } });
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}
