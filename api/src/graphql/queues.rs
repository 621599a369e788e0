//! GraphQL of queues (manual §2.5) and agent seats (manual §7.1): the enterprise creates,
//! edits and deletes queues and sets their member extensions; an agent signs in to the
//! extension that permits it, changes work state and signs out.

use async_graphql::connection::Connection;
use async_graphql::{Context, Object, ID};
use chrono::Utc;
use domain::agent::{Agent, AgentCommand, Endpoint};
use domain::queue::{Queue, QueueCommand};
use domain::route::Destination;
use domain::Permission;
use projections::{AgentDoc, ExtensionDoc, IvrFlowDoc, QueueDoc, RouteDoc};
use uuid::Uuid;

use super::context::{app, caller, contains, fetch, list, page, parse_id, parse_opt_id, Total};
use super::mutation::meta;
use super::query::list_tenant;

use crate::error::{ApiError, ApiResult};

use super::queue_types::*;

/// Queries of queues and agents.
#[derive(Debug, Default, Clone, Copy)]
pub struct QueueQuery;

#[Object]
impl QueueQuery {
    /// Queues, by name.
    async fn queues(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<QueueFilter>,
    ) -> ApiResult<Connection<String, QueueObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::QueuesRead)?;
        let filter = filter.unwrap_or_default();
        let tenant = list_tenant(caller, filter.enterprise_id.as_ref())?;
        let mut items: Vec<QueueDoc> = list(app(ctx), caller, projections::QUEUES, tenant)?;
        items.retain(|q| contains(&q.settings.name, filter.name.as_ref()));
        items.sort_by(|a, b| a.settings.name.cmp(&b.settings.name));
        page(items.into_iter().map(queue_object).collect(), first, after)
    }

    /// One queue.
    async fn queue(&self, ctx: &Context<'_>, id: ID) -> ApiResult<QueueObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::QueuesRead)?;
        Ok(queue_object(fetch(
            app(ctx),
            caller,
            projections::QUEUES,
            parse_id("id", &id)?,
        )?))
    }

    /// The boards of the queues named (supervisors): callers waiting, member agents.
    async fn queue_board(
        &self,
        ctx: &Context<'_>,
        queue_ids: Vec<ID>,
    ) -> ApiResult<Vec<super::board::QueueBoardObject>> {
        let caller = caller(ctx)?;
        caller.require(Permission::SupervisorMonitor)?;
        let ids = queue_ids
            .iter()
            .map(|id| parse_id("queueIds", id))
            .collect::<ApiResult<Vec<_>>>()?;
        let queues = super::board::watched(app(ctx), caller, &ids)?;
        Ok(super::board::boards(app(ctx), &queues))
    }

    /// The caller's own seat: the extension it is signed in to, if any.
    async fn my_agent(&self, ctx: &Context<'_>) -> ApiResult<Option<AgentObject>> {
        let caller = caller(ctx)?;
        caller.require(Permission::AgentWorkstation)?;
        let seats: Vec<AgentDoc> = list(
            app(ctx),
            caller,
            projections::AGENTS,
            Some(caller.enterprise_id),
        )?;
        Ok(seats
            .into_iter()
            .find(|s| s.account_id == Some(caller.account_id))
            .map(|d| agent_object(app(ctx), d)))
    }
}

/// Mutations of queues and agents.
#[derive(Debug, Default, Clone, Copy)]
pub struct QueueMutation;

#[Object]
impl QueueMutation {
    /// Creates a queue (新建队列).
    async fn create_queue(
        &self,
        ctx: &Context<'_>,
        settings: QueueSettingsObject,
        enterprise_id: Option<ID>,
    ) -> ApiResult<QueueObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::QueuesManage)?;
        let app = app(ctx);
        let tenant = caller.tenant(parse_opt_id("enterpriseId", enterprise_id.as_ref())?)?;
        let id = Uuid::new_v4();
        let lookups = lookups(app, caller, tenant, id, &settings.name)?;
        app.node
            .execute::<Queue>(
                id,
                QueueCommand::Create {
                    enterprise_id: tenant,
                    settings: settings_in(settings)?,
                    lookups,
                    at: Utc::now(),
                },
                meta(caller, tenant),
            )
            .await?;
        Ok(queue_object(fetch(app, caller, projections::QUEUES, id)?))
    }

    /// Changes a queue's settings (参数编辑).
    async fn update_queue(
        &self,
        ctx: &Context<'_>,
        id: ID,
        settings: QueueSettingsObject,
    ) -> ApiResult<QueueObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::QueuesManage)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: QueueDoc = fetch(app, caller, projections::QUEUES, id)?;
        let lookups = lookups(app, caller, doc.enterprise_id, id, &settings.name)?;
        app.node
            .execute::<Queue>(
                id,
                QueueCommand::Update {
                    settings: settings_in(settings)?,
                    lookups,
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        Ok(queue_object(fetch(app, caller, projections::QUEUES, id)?))
    }

    /// Sets a queue's member extensions, in order (队列分机设置).
    async fn set_queue_members(
        &self,
        ctx: &Context<'_>,
        id: ID,
        extension_ids: Vec<ID>,
    ) -> ApiResult<QueueObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::QueuesManage)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: QueueDoc = fetch(app, caller, projections::QUEUES, id)?;
        let members = extension_ids
            .iter()
            .map(|e| parse_id("extensionIds", e))
            .collect::<ApiResult<Vec<_>>>()?;
        let lookups = lookups(app, caller, doc.enterprise_id, id, &doc.settings.name)?;
        app.node
            .execute::<Queue>(
                id,
                QueueCommand::SetMembers {
                    members,
                    lookups,
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        Ok(queue_object(fetch(app, caller, projections::QUEUES, id)?))
    }

    /// Deletes a queue (删除队列); refused while a route or a flow sends calls to it.
    async fn delete_queue(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let caller = caller(ctx)?;
        caller.require(Permission::QueuesManage)?;
        let app = app(ctx);
        let uuid = parse_id("id", &id)?;
        let doc: QueueDoc = fetch(app, caller, projections::QUEUES, uuid)?;
        let tenant = Some(doc.enterprise_id);
        let routes: Vec<RouteDoc> = list(app, caller, projections::ROUTES, tenant)?;
        let flows: Vec<IvrFlowDoc> = list(app, caller, projections::IVR_FLOWS, tenant)?;
        let mut used_by: Vec<String> = routes
            .into_iter()
            .filter(|r| r.settings.destination == Destination::Queue { queue_id: uuid })
            .map(|r| format!("route '{}'", r.name))
            .collect();
        used_by.extend(
            flows
                .into_iter()
                .filter(|f| {
                    f.definition
                        .as_ref()
                        .is_some_and(|d| d.queues().contains(&uuid))
                })
                .map(|f| format!("IVR flow '{}'", f.name)),
        );
        app.node
            .execute::<Queue>(
                uuid,
                QueueCommand::Delete {
                    used_by,
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        Ok(id)
    }

    /// Signs the caller in to `extensionId` (签入), which must permit it; working, no callback.
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        extension_id: ID,
        endpoint: Option<AgentEndpoint>,
    ) -> ApiResult<AgentObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::AgentWorkstation)?;
        let app = app(ctx);
        let extension_id = parse_id("extensionId", &extension_id)?;
        let extension: ExtensionDoc = fetch(app, caller, projections::EXTENSIONS, extension_id)?;
        // One seat per sub-account: signed in elsewhere is signed out there first.
        let seats: Vec<AgentDoc> = list(
            app,
            caller,
            projections::AGENTS,
            Some(extension.enterprise_id),
        )?;
        if seats
            .iter()
            .any(|s| s.account_id == Some(caller.account_id) && s.extension_id != extension_id)
        {
            return Err(ApiError::Conflict(
                "signed in to another extension: sign out there first".into(),
            ));
        }
        let permitted = extension
            .settings
            .sign_in_accounts
            .contains(&caller.account_id);
        let seat_id = domain::ids::agent_id(extension_id);
        app.node
            .execute::<Agent>(
                seat_id,
                AgentCommand::SignIn {
                    extension_id,
                    enterprise_id: extension.enterprise_id,
                    account_id: caller.account_id,
                    permitted,
                    endpoint: endpoint.map_or(Endpoint::SipPhone, Into::into),
                    at: Utc::now(),
                },
                meta(caller, extension.enterprise_id),
            )
            .await?;
        seat(app, caller, extension_id)
            .map(|d| agent_object(app, d))
            .ok_or_else(|| ApiError::NotFound("agent not found".into()))
    }

    /// Signs the caller out (签出).
    async fn sign_out(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::AgentWorkstation)?;
        let app = app(ctx);
        let seat = own_seat(app, caller)?;
        app.calls
            .sign_out(&seat, meta(caller, seat.enterprise_id))
            .await?;
        Ok(true)
    }

    /// Changes the caller's work state.
    async fn set_work_state(&self, ctx: &Context<'_>, state: AgentState) -> ApiResult<AgentObject> {
        on_own_seat(
            ctx,
            AgentCommand::SetWorkState {
                state: state.into(),
                at: Utc::now(),
            },
        )
        .await
    }

    /// Ends the agent's wrap-up before its time is up (完成整理): calls are offered again.
    async fn end_wrap_up(&self, ctx: &Context<'_>) -> ApiResult<AgentObject> {
        on_own_seat(ctx, AgentCommand::EndWrapUp { at: Utc::now() }).await
    }
}

/// Decides `command` on the caller's own seat, wakes the dispatcher (the seat may take calls
/// now), and returns the seat as it is after.
async fn on_own_seat(ctx: &Context<'_>, command: AgentCommand) -> ApiResult<AgentObject> {
    let caller = caller(ctx)?;
    caller.require(Permission::AgentWorkstation)?;
    let app = app(ctx);
    let own = own_seat(app, caller)?;
    app.calls
        .on_seat(own.id, command, meta(caller, own.enterprise_id))
        .await?;
    seat(app, caller, own.extension_id)
        .map(|d| agent_object(app, d))
        .ok_or_else(|| ApiError::NotFound("agent not found".into()))
}
