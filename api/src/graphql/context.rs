//! What every resolver starts from: the caller (from the bearer token or the websocket's
//! `connection_init`), the node, ID arguments, tenant-scoped look-ups (another tenant's object
//! is `NOT_FOUND`), and paging.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, OutputType, SimpleObject, ID};
use projections::Model;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::app::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// Who is calling, as established from the bearer token (or the websocket's `connection_init`).
#[derive(Debug, Clone)]
pub enum AuthState {
    /// A valid session.
    Caller(Caller),
    /// No token was given.
    Anonymous,
    /// A token was given but is not valid (expired, revoked, malformed).
    Invalid(ApiError),
}

/// The address a request came from (its TCP peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestSource(pub std::net::IpAddr);

/// Where the request came from; unspecified when the server did not say.
pub(crate) fn source(ctx: &Context<'_>) -> std::net::IpAddr {
    ctx.data_opt::<RequestSource>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |s| s.0)
}

/// The node.
pub(crate) fn app<'a>(ctx: &Context<'a>) -> &'a App {
    // The schema is always built with the App as data (see `build_schema`).
    ctx.data_unchecked::<App>()
}

/// The authenticated caller, or `UNAUTHENTICATED`.
pub(crate) fn caller<'a>(ctx: &Context<'a>) -> ApiResult<&'a Caller> {
    match ctx.data_opt::<AuthState>() {
        Some(AuthState::Caller(caller)) => Ok(caller),
        Some(AuthState::Invalid(error)) => Err(error.clone()),
        Some(AuthState::Anonymous) | None => Err(ApiError::Unauthenticated(
            "log in first: no bearer token".into(),
        )),
    }
}

/// Parses an `ID` argument.
pub(crate) fn parse_id(field: &str, id: &ID) -> ApiResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| ApiError::validation(field, "is not a valid id"))
}

/// Parses an optional `ID` argument.
pub(crate) fn parse_opt_id(field: &str, id: Option<&ID>) -> ApiResult<Option<Uuid>> {
    id.map(|id| parse_id(field, id)).transpose()
}

/// The document `id` of `model`, decoded, if the caller may see it; otherwise `NOT_FOUND`
/// (another tenant's object is never revealed).
pub(crate) fn fetch<T: DeserializeOwned>(
    app: &App,
    caller: &Caller,
    model: Model<T>,
    id: Uuid,
) -> ApiResult<T> {
    app.node
        .models
        .of(model)
        .doc(&id.to_string())
        .filter(|doc| caller.sees(doc.tenant_id))
        .and_then(|doc| doc.decode())
        .ok_or_else(|| ApiError::NotFound(format!("{} not found", model.noun())))
}

/// Every document of `model` the caller may see in `tenant` (all tenants when `None`, for the
/// operator), decoded.
pub(crate) fn list<T: DeserializeOwned>(
    app: &App,
    caller: &Caller,
    model: Model<T>,
    tenant: Option<Uuid>,
) -> ApiResult<Vec<T>> {
    let model = app.node.models.of(model);
    let docs = model.read();
    Ok(docs
        .values()
        .filter(|doc| caller.sees(doc.tenant_id) && (tenant.is_none() || doc.tenant_id == tenant))
        .filter_map(|doc| doc.decode())
        .collect())
}

/// `totalCount` of a connection.
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct Total {
    /// Items matching the filter, across all pages (up to a cap on lists that say so).
    pub total_count: usize,
    /// Whether counting stopped at the list's cap (`totalCount` is then that cap).
    pub total_capped: bool,
}

impl Total {
    /// An exact count.
    pub(crate) fn exact(total_count: usize) -> Self {
        Self {
            total_count,
            total_capped: false,
        }
    }
}

/// The record of call `id` (in progress or not) if the caller may see it; otherwise
/// `NOT_FOUND`.
pub(crate) async fn call_record_of(
    app: &App,
    caller: &Caller,
    id: Uuid,
) -> ApiResult<projections::CallRecordDoc> {
    // A call in progress is read from memory (the table may be a few milliseconds behind).
    let live = app.node.models.of(projections::LIVE_CALLS).by_id(id);
    let record = match live {
        Some(record) => Some(record),
        None => projections::call_record(&app.node.log.pool(), id).await?,
    };
    record
        .filter(|record| caller.sees(Some(record.enterprise_id)))
        .ok_or_else(|| ApiError::NotFound("call not found".into()))
}

/// The page size `first` asks for (50 when absent, at most 500).
pub(crate) fn page_size(first: Option<i32>) -> ApiResult<usize> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if n >= 0 && (n as usize) <= MAX_PAGE => Ok(n as usize),
        Some(_) => Err(ApiError::validation(
            "first",
            format!("must be between 0 and {MAX_PAGE}"),
        )),
    }
}

/// Default and largest page sizes.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;

/// One page of `items` after cursor `after` (an offset), as a Relay connection.
pub(crate) fn page<T: OutputType>(
    items: Vec<T>,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<Connection<String, T, Total>> {
    let first = page_size(first)?;
    let start = match after {
        None => 0,
        Some(cursor) => cursor
            .parse::<usize>()
            .map(|n| n + 1)
            .map_err(|_| ApiError::validation("after", "is not a cursor of this list"))?,
    };
    let total = items.len();
    let mut connection =
        Connection::with_additional_fields(start > 0, start + first < total, Total::exact(total));
    connection.edges.extend(
        items
            .into_iter()
            .enumerate()
            .skip(start)
            .take(first)
            .map(|(i, node)| Edge::new(i.to_string(), node)),
    );
    Ok(connection)
}

/// Whether `haystack` contains `needle`, case-insensitively (empty or absent needle matches).
pub(crate) fn contains(haystack: &str, needle: Option<&String>) -> bool {
    needle.is_none_or(|n| haystack.to_lowercase().contains(&n.trim().to_lowercase()))
}
