//! GraphQL of the telephony set-up: trunks and numbers (platform operator), inbound routes
//! (the operator creates, deletes, enables and pauses; the enterprise edits).

use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::number::{Number, NumberAssignment, NumberCommand};
use domain::route::{Destination, Route, RouteCommand, RouteSettings};
use domain::trunk::{Trunk, TrunkCommand, TrunkSettings};
use domain::Permission;
use projections::{EnterpriseDoc, ExtensionDoc, NumberDoc, RouteDoc, TrunkDoc};
use uuid::Uuid;

use super::context::{app, caller, contains, fetch, list, page, parse_id, Total};
use super::mutation::meta;
use super::query::list_tenant;
use crate::app::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// A trunk: a carrier's SIP peer.
#[derive(SimpleObject, Debug, Clone)]
pub struct TrunkObject {
    /// Id.
    pub id: ID,
    /// Name.
    pub name: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: i32,
    /// `udp` or `tcp`.
    pub transport: String,
    /// Digest user for outbound calls.
    pub username: String,
    /// Whether a digest password is set (never shown).
    pub has_password: bool,
    /// Extra source addresses accepted for inbound calls.
    pub allowed_sources: Vec<String>,
    /// Numbers carried.
    pub numbers: i32,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Input of `createTrunk` and `updateTrunk`.
#[derive(InputObject, Debug)]
pub struct TrunkInput {
    /// Name.
    pub name: String,
    /// Host name or address.
    pub host: String,
    /// Port (default 5060).
    pub port: Option<i32>,
    /// `udp` (default) or `tcp`.
    pub transport: Option<String>,
    /// Digest user for outbound calls.
    pub username: Option<String>,
    /// Digest password for outbound calls (kept when omitted on update).
    pub password: Option<String>,
    /// Extra source addresses accepted for inbound calls.
    pub allowed_sources: Option<Vec<String>>,
}

/// A number (DID) of the platform.
#[derive(SimpleObject, Debug, Clone)]
pub struct NumberObject {
    /// Id.
    pub id: ID,
    /// E.164 form.
    pub number: String,
    /// As the manual writes it (leading 0 for China).
    pub national: String,
    /// Its enterprise.
    pub enterprise_id: ID,
    /// Its trunk.
    pub trunk_id: ID,
    /// Licensed as outbound caller ID.
    pub caller_id: bool,
    /// Assigned.
    pub created_at: DateTime<Utc>,
}

/// Input of `assignNumber` and `reassignNumber`.
#[derive(InputObject, Debug)]
pub struct NumberInput {
    /// The enterprise.
    pub enterprise_id: ID,
    /// The trunk.
    pub trunk_id: ID,
    /// Licensed as outbound caller ID.
    pub caller_id: bool,
}

/// Where a route's calls go.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "DestinationInput")]
pub struct DestinationObject {
    /// `EXTENSION`, `IVR` or `QUEUE`.
    pub kind: String,
    /// The extension, flow or queue.
    pub target_id: ID,
}

/// An inbound route (呼入路由).
#[derive(SimpleObject, Debug, Clone)]
pub struct RouteObject {
    /// Id.
    pub id: ID,
    /// Its enterprise.
    pub enterprise_id: ID,
    /// Name (编号).
    pub name: String,
    /// Entry number (E.164) or IP (号码).
    pub entry: String,
    /// Destination (路由目的).
    pub destination: DestinationObject,
    /// Concurrency limit (并发限制).
    pub max_concurrent: i32,
    /// Priority (优先级).
    pub priority: i32,
    /// Remark (备注).
    pub remark: String,
    /// Enabled (启用) or paused (暂停).
    pub enabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Input of `updateRoute` (and the settings of `createRoute`).
#[derive(InputObject, Debug)]
pub struct RouteSettingsInput {
    /// Destination.
    pub destination: DestinationObject,
    /// Concurrency limit, 1–10000.
    pub max_concurrent: i32,
    /// Priority, 0–100.
    pub priority: i32,
    /// Remark.
    pub remark: Option<String>,
}

/// Filter of `routes`.
#[derive(InputObject, Debug, Default)]
pub struct RouteFilter {
    /// Enterprise (operator only).
    pub enterprise_id: Option<ID>,
    /// Entry contains.
    pub entry: Option<String>,
    /// Enabled or paused only.
    pub enabled: Option<bool>,
}

/// Filter of `numbers`.
#[derive(InputObject, Debug, Default)]
pub struct NumberFilter {
    /// Enterprise (operator only).
    pub enterprise_id: Option<ID>,
    /// Number contains.
    pub number: Option<String>,
    /// Licensed caller IDs only.
    pub caller_id: Option<bool>,
}

fn trunk_object(app: &App, caller: &Caller, d: TrunkDoc) -> ApiResult<TrunkObject> {
    let numbers: Vec<NumberDoc> = list(app, caller, projections::NUMBERS, None)?;
    Ok(TrunkObject {
        id: ID(d.id.to_string()),
        numbers: i32::try_from(
            numbers
                .iter()
                .filter(|n| n.assignment.trunk_id == d.id)
                .count(),
        )
        .unwrap_or(i32::MAX),
        name: d.settings.name,
        host: d.settings.host,
        port: i32::from(d.settings.port),
        transport: d.settings.transport,
        username: d.settings.username,
        has_password: !d.settings.password.is_empty(),
        allowed_sources: d.settings.allowed_sources,
        created_at: d.created_at,
    })
}

fn number_object(d: NumberDoc) -> NumberObject {
    NumberObject {
        id: ID(d.id.to_string()),
        national: domain::phone::national_form(&d.number),
        number: d.number,
        enterprise_id: ID(d.assignment.enterprise_id.to_string()),
        trunk_id: ID(d.assignment.trunk_id.to_string()),
        caller_id: d.assignment.caller_id,
        created_at: d.created_at,
    }
}

fn route_object(d: RouteDoc) -> RouteObject {
    let (kind, target) = match d.settings.destination {
        Destination::Extension { extension_id } => ("EXTENSION", extension_id),
        Destination::Ivr { flow_id } => ("IVR", flow_id),
        Destination::Queue { queue_id } => ("QUEUE", queue_id),
    };
    RouteObject {
        id: ID(d.id.to_string()),
        enterprise_id: ID(d.enterprise_id.to_string()),
        name: d.name,
        entry: d.entry,
        destination: DestinationObject {
            kind: kind.into(),
            target_id: ID(target.to_string()),
        },
        max_concurrent: i32::try_from(d.settings.max_concurrent).unwrap_or(i32::MAX),
        priority: i32::from(d.settings.priority),
        remark: d.settings.remark,
        enabled: d.enabled,
        created_at: d.created_at,
    }
}

fn trunk_settings(input: TrunkInput, keep_password: Option<String>) -> ApiResult<TrunkSettings> {
    let port = input.port.unwrap_or(5060);
    Ok(TrunkSettings {
        name: input.name,
        host: input.host,
        port: u16::try_from(port)
            .map_err(|_| ApiError::validation("port", "must be 1 to 65535"))?,
        transport: input.transport.unwrap_or_else(|| "udp".into()),
        username: input.username.unwrap_or_default(),
        password: input.password.or(keep_password).unwrap_or_default(),
        allowed_sources: input.allowed_sources.unwrap_or_default(),
    })
}

fn assignment(app: &App, caller: &Caller, input: &NumberInput) -> ApiResult<NumberAssignment> {
    let enterprise_id = parse_id("enterpriseId", &input.enterprise_id)?;
    fetch::<EnterpriseDoc>(app, caller, projections::ENTERPRISES, enterprise_id)?;
    let trunk_id = parse_id("trunkId", &input.trunk_id)?;
    fetch::<TrunkDoc>(app, caller, projections::TRUNKS, trunk_id)
        .map_err(|_| ApiError::validation("trunkId", "no such trunk"))?;
    Ok(NumberAssignment {
        enterprise_id,
        trunk_id,
        caller_id: input.caller_id,
    })
}

/// Checks a route's destination (an extension, an IVR flow or a queue) exists in `tenant`.
fn route_settings(
    app: &App,
    caller: &Caller,
    tenant: Uuid,
    input: RouteSettingsInput,
) -> ApiResult<RouteSettings> {
    let target = parse_id("destination.targetId", &input.destination.target_id)?;
    let destination = match input.destination.kind.as_str() {
        "EXTENSION" => {
            let extension: Option<ExtensionDoc> =
                fetch(app, caller, projections::EXTENSIONS, target).ok();
            if extension.is_none_or(|e| e.enterprise_id != tenant) {
                return Err(ApiError::validation(
                    "destination.targetId",
                    "no such extension in this enterprise",
                ));
            }
            Destination::Extension {
                extension_id: target,
            }
        }
        "IVR" => {
            let flow: Option<projections::IvrFlowDoc> =
                fetch(app, caller, projections::IVR_FLOWS, target).ok();
            if flow.is_none_or(|f| f.enterprise_id != tenant) {
                return Err(ApiError::validation(
                    "destination.targetId",
                    "no such IVR flow in this enterprise",
                ));
            }
            Destination::Ivr { flow_id: target }
        }
        "QUEUE" => {
            let queue: Option<projections::QueueDoc> =
                fetch(app, caller, projections::QUEUES, target).ok();
            if queue.is_none_or(|q| q.enterprise_id != tenant) {
                return Err(ApiError::validation(
                    "destination.targetId",
                    "no such queue in this enterprise",
                ));
            }
            Destination::Queue { queue_id: target }
        }
        _ => {
            return Err(ApiError::validation(
                "destination.kind",
                "must be EXTENSION, IVR or QUEUE",
            ))
        }
    };
    Ok(RouteSettings {
        destination,
        max_concurrent: u32::try_from(input.max_concurrent)
            .map_err(|_| ApiError::validation("maxConcurrent", "must be 1 to 10000"))?,
        priority: u8::try_from(input.priority)
            .map_err(|_| ApiError::validation("priority", "must be 0 to 100"))?,
        remark: input.remark.unwrap_or_default(),
    })
}

/// Queries of trunks, numbers and routes.
#[derive(Debug, Default, Clone, Copy)]
pub struct TelephonyQuery;

#[Object]
impl TelephonyQuery {
    /// Trunks (platform operator).
    async fn trunks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<String, TrunkObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformTrunks)?;
        let app = app(ctx);
        let mut items: Vec<TrunkDoc> = list(app, caller, projections::TRUNKS, None)?;
        items.sort_by(|a, b| a.settings.name.cmp(&b.settings.name));
        let objects = items
            .into_iter()
            .map(|t| trunk_object(app, caller, t))
            .collect::<ApiResult<Vec<_>>>()?;
        page(objects, first, after)
    }

    /// Numbers (operator: all; an enterprise: its own).
    async fn numbers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<NumberFilter>,
    ) -> ApiResult<Connection<String, NumberObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::RoutesRead)?;
        let filter = filter.unwrap_or_default();
        let tenant = list_tenant(caller, filter.enterprise_id.as_ref())?;
        let mut items: Vec<NumberDoc> = list(app(ctx), caller, projections::NUMBERS, tenant)?;
        items.retain(|n| {
            contains(&n.number, filter.number.as_ref())
                && filter.caller_id.is_none_or(|c| c == n.assignment.caller_id)
        });
        items.sort_by(|a, b| a.number.cmp(&b.number));
        page(items.into_iter().map(number_object).collect(), first, after)
    }

    /// Inbound routes (manual §2.1).
    async fn routes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<RouteFilter>,
    ) -> ApiResult<Connection<String, RouteObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::RoutesRead)?;
        let filter = filter.unwrap_or_default();
        let tenant = list_tenant(caller, filter.enterprise_id.as_ref())?;
        let mut items: Vec<RouteDoc> = list(app(ctx), caller, projections::ROUTES, tenant)?;
        items.retain(|r| {
            contains(&r.entry, filter.entry.as_ref())
                && filter.enabled.is_none_or(|e| e == r.enabled)
        });
        items.sort_by(|a, b| {
            b.settings
                .priority
                .cmp(&a.settings.priority)
                .then(a.entry.cmp(&b.entry))
        });
        page(items.into_iter().map(route_object).collect(), first, after)
    }

    /// One inbound route.
    async fn route(&self, ctx: &Context<'_>, id: ID) -> ApiResult<RouteObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::RoutesRead)?;
        Ok(route_object(fetch(
            app(ctx),
            caller,
            projections::ROUTES,
            parse_id("id", &id)?,
        )?))
    }
}

/// Mutations of trunks, numbers and routes.
#[derive(Debug, Default, Clone, Copy)]
pub struct TelephonyMutation;

#[Object]
impl TelephonyMutation {
    /// Adds a trunk (platform operator).
    async fn create_trunk(&self, ctx: &Context<'_>, input: TrunkInput) -> ApiResult<TrunkObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformTrunks)?;
        let app = app(ctx);
        let id = Uuid::new_v4();
        let settings = trunk_settings(input, None)?;
        app.node
            .execute::<Trunk>(
                id,
                TrunkCommand::Create {
                    settings,
                    at: Utc::now(),
                },
                meta(caller, caller.enterprise_id),
            )
            .await?;
        trunk_object(app, caller, fetch(app, caller, projections::TRUNKS, id)?)
    }

    /// Changes a trunk (platform operator).
    async fn update_trunk(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: TrunkInput,
    ) -> ApiResult<TrunkObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformTrunks)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: TrunkDoc = fetch(app, caller, projections::TRUNKS, id)?;
        let settings = trunk_settings(input, Some(doc.settings.password))?;
        app.node
            .execute::<Trunk>(
                id,
                TrunkCommand::Update {
                    settings,
                    at: Utc::now(),
                },
                meta(caller, caller.enterprise_id),
            )
            .await?;
        trunk_object(app, caller, fetch(app, caller, projections::TRUNKS, id)?)
    }

    /// Removes a trunk that carries no number (platform operator).
    async fn delete_trunk(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformTrunks)?;
        let app = app(ctx);
        let uuid = parse_id("id", &id)?;
        let doc = trunk_object(app, caller, fetch(app, caller, projections::TRUNKS, uuid)?)?;
        let numbers_using = u32::try_from(doc.numbers).unwrap_or(u32::MAX);
        app.node
            .execute::<Trunk>(
                uuid,
                TrunkCommand::Delete {
                    numbers_using,
                    at: Utc::now(),
                },
                meta(caller, caller.enterprise_id),
            )
            .await?;
        Ok(id)
    }

    /// Puts a number on the platform for an enterprise (platform operator).
    async fn assign_number(
        &self,
        ctx: &Context<'_>,
        number: String,
        input: NumberInput,
    ) -> ApiResult<NumberObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformTrunks)?;
        let app = app(ctx);
        let assignment = assignment(app, caller, &input)?;
        let e164 = domain::phone::normalize("number", &number)?;
        let id = domain::ids::number_id(&e164);
        let tenant = assignment.enterprise_id;
        app.node
            .execute::<Number>(
                id,
                NumberCommand::Assign {
                    number: e164,
                    assignment,
                    at: Utc::now(),
                },
                meta(caller, tenant),
            )
            .await?;
        Ok(number_object(fetch(app, caller, projections::NUMBERS, id)?))
    }

    /// Moves a number to another enterprise or trunk, or changes its caller-ID licence.
    async fn reassign_number(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: NumberInput,
    ) -> ApiResult<NumberObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformTrunks)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        fetch::<NumberDoc>(app, caller, projections::NUMBERS, id)?;
        let assignment = assignment(app, caller, &input)?;
        let tenant = assignment.enterprise_id;
        app.node
            .execute::<Number>(
                id,
                NumberCommand::Reassign {
                    assignment,
                    at: Utc::now(),
                },
                meta(caller, tenant),
            )
            .await?;
        Ok(number_object(fetch(app, caller, projections::NUMBERS, id)?))
    }

    /// Takes a number off the platform; refused while a route uses it.
    async fn release_number(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformTrunks)?;
        let app = app(ctx);
        let uuid = parse_id("id", &id)?;
        let doc: NumberDoc = fetch(app, caller, projections::NUMBERS, uuid)?;
        let routes: Vec<RouteDoc> = list(app, caller, projections::ROUTES, None)?;
        let routes_using = u32::try_from(routes.iter().filter(|r| r.entry == doc.number).count())
            .unwrap_or(u32::MAX);
        app.node
            .execute::<Number>(
                uuid,
                NumberCommand::Release {
                    routes_using,
                    at: Utc::now(),
                },
                meta(caller, doc.assignment.enterprise_id),
            )
            .await?;
        Ok(id)
    }

    /// Creates an inbound route for a number of the enterprise, or an IP (platform operator).
    async fn create_route(
        &self,
        ctx: &Context<'_>,
        enterprise_id: ID,
        name: String,
        entry: String,
        settings: RouteSettingsInput,
    ) -> ApiResult<RouteObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformRoutes)?;
        let app = app(ctx);
        let tenant = caller.tenant(Some(parse_id("enterpriseId", &enterprise_id)?))?;
        fetch::<EnterpriseDoc>(app, caller, projections::ENTERPRISES, tenant)?;
        let entry = domain::route::route_entry(&entry)?;
        if entry.starts_with('+') {
            let number: Option<NumberDoc> = fetch(
                app,
                caller,
                projections::NUMBERS,
                domain::ids::number_id(&entry),
            )
            .ok();
            if number.is_none_or(|n| n.assignment.enterprise_id != tenant) {
                return Err(ApiError::validation(
                    "entry",
                    "the number is not assigned to this enterprise",
                ));
            }
        }
        let settings = route_settings(app, caller, tenant, settings)?;
        let id = domain::ids::route_id(&entry);
        app.node
            .execute::<Route>(
                id,
                RouteCommand::Create {
                    enterprise_id: tenant,
                    name,
                    entry,
                    settings,
                    at: Utc::now(),
                },
                meta(caller, tenant),
            )
            .await?;
        Ok(route_object(fetch(app, caller, projections::ROUTES, id)?))
    }

    /// Edits a route's destination, limit, priority and remark (manual §2.1.1).
    async fn update_route(
        &self,
        ctx: &Context<'_>,
        id: ID,
        settings: RouteSettingsInput,
    ) -> ApiResult<RouteObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::RoutesEdit)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: RouteDoc = fetch(app, caller, projections::ROUTES, id)?;
        let settings = route_settings(app, caller, doc.enterprise_id, settings)?;
        app.node
            .execute::<Route>(
                id,
                RouteCommand::Update {
                    settings,
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        Ok(route_object(fetch(app, caller, projections::ROUTES, id)?))
    }

    /// Enables or pauses a route (platform operator); a paused route refuses calls.
    async fn set_route_enabled(
        &self,
        ctx: &Context<'_>,
        id: ID,
        enabled: bool,
    ) -> ApiResult<RouteObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformRoutes)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: RouteDoc = fetch(app, caller, projections::ROUTES, id)?;
        app.node
            .execute::<Route>(
                id,
                RouteCommand::SetEnabled {
                    enabled,
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        Ok(route_object(fetch(app, caller, projections::ROUTES, id)?))
    }

    /// Deletes a route (platform operator).
    async fn delete_route(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformRoutes)?;
        let app = app(ctx);
        let uuid = parse_id("id", &id)?;
        let doc: RouteDoc = fetch(app, caller, projections::ROUTES, uuid)?;
        app.node
            .execute::<Route>(
                uuid,
                RouteCommand::Delete { at: Utc::now() },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        Ok(id)
    }
}
