//! GraphQL of the voice navigation (manual §2.3): IVR flows are created with a name, then
//! published as a whole definition; each publication is a new version.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::ivr::{FlowLookups, IvrFlow, IvrFlowCommand, KnownVoice};
use domain::route::Destination;
use domain::voice::ReviewStatus;
use domain::Permission;
use projections::{EnterpriseDoc, ExtensionDoc, IvrFlowDoc, RouteDoc, VoiceDoc};
use uuid::Uuid;

use super::context::{app, caller, contains, fetch, list, page, parse_id, parse_opt_id, Total};
use super::ivr_types::IvrDefinition;
use super::mutation::meta;
use super::query::list_tenant;
use crate::app::App;
use crate::auth::Caller;
use crate::error::ApiResult;

/// An IVR flow (语音导航).
#[derive(SimpleObject, Debug, Clone)]
pub struct IvrFlowObject {
    /// Id.
    pub id: ID,
    /// Its enterprise.
    pub enterprise_id: ID,
    /// Name.
    pub name: String,
    /// Latest published version (0: not published yet).
    pub version: i32,
    /// The latest published definition.
    pub definition: Option<IvrDefinition>,
    /// Nodes no call can reach, from the last publication.
    pub warnings: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last published.
    pub published_at: Option<DateTime<Utc>>,
}

fn flow_object(d: IvrFlowDoc) -> IvrFlowObject {
    IvrFlowObject {
        id: ID(d.id.to_string()),
        enterprise_id: ID(d.enterprise_id.to_string()),
        name: d.name,
        version: i32::try_from(d.version).unwrap_or(i32::MAX),
        definition: d.definition.map(IvrDefinition::from_domain),
        warnings: d.warnings,
        created_at: d.created_at,
        published_at: d.published_at,
    }
}

/// Filter of `ivrFlows`.
#[derive(InputObject, Debug, Default)]
pub struct IvrFlowFilter {
    /// Enterprise (operator only).
    pub enterprise_id: Option<ID>,
    /// Name contains.
    pub name: Option<String>,
}

/// Whether another flow of `tenant` than `id` is named `name`.
fn flow_name_taken(app: &App, caller: &Caller, tenant: Uuid, id: Uuid, name: &str) -> bool {
    list::<IvrFlowDoc>(app, caller, projections::IVR_FLOWS, Some(tenant))
        .unwrap_or_default()
        .iter()
        .any(|f| f.id != id && f.name == name.trim())
}

/// What a definition of `tenant` is checked against.
fn lookups(app: &App, caller: &Caller, tenant: Uuid) -> ApiResult<FlowLookups> {
    let voices: Vec<VoiceDoc> = list(app, caller, projections::VOICES, Some(tenant))?;
    let extensions: Vec<ExtensionDoc> = list(app, caller, projections::EXTENSIONS, Some(tenant))?;
    let queues: Vec<projections::QueueDoc> = list(app, caller, projections::QUEUES, Some(tenant))?;
    Ok(FlowLookups {
        voices: voices
            .into_iter()
            .map(|v| {
                (
                    v.id,
                    KnownVoice {
                        name: v.name,
                        approved: v.status == ReviewStatus::Approved,
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
        extensions: extensions
            .into_iter()
            .map(|e| e.id)
            .collect::<BTreeSet<_>>(),
        queues: queues.into_iter().map(|q| q.id).collect::<BTreeSet<_>>(),
    })
}

/// Queries of IVR flows.
#[derive(Debug, Default, Clone, Copy)]
pub struct IvrQuery;

#[Object]
impl IvrQuery {
    /// IVR flows, by name.
    async fn ivr_flows(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<IvrFlowFilter>,
    ) -> ApiResult<Connection<String, IvrFlowObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::IvrRead)?;
        let filter = filter.unwrap_or_default();
        let tenant = list_tenant(caller, filter.enterprise_id.as_ref())?;
        let mut items: Vec<IvrFlowDoc> = list(app(ctx), caller, projections::IVR_FLOWS, tenant)?;
        items.retain(|f| contains(&f.name, filter.name.as_ref()));
        items.sort_by(|a, b| a.name.cmp(&b.name));
        page(items.into_iter().map(flow_object).collect(), first, after)
    }

    /// One IVR flow.
    async fn ivr_flow(&self, ctx: &Context<'_>, id: ID) -> ApiResult<IvrFlowObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::IvrRead)?;
        Ok(flow_object(fetch(
            app(ctx),
            caller,
            projections::IVR_FLOWS,
            parse_id("id", &id)?,
        )?))
    }
}

/// Mutations of IVR flows.
#[derive(Debug, Default, Clone, Copy)]
pub struct IvrMutation;

#[Object]
impl IvrMutation {
    /// Creates a flow with a name (新增); publish its definition next.
    async fn create_ivr_flow(
        &self,
        ctx: &Context<'_>,
        name: String,
        enterprise_id: Option<ID>,
    ) -> ApiResult<IvrFlowObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::IvrManage)?;
        let app = app(ctx);
        let tenant = caller.tenant(parse_opt_id("enterpriseId", enterprise_id.as_ref())?)?;
        fetch::<EnterpriseDoc>(app, caller, projections::ENTERPRISES, tenant)?;
        let id = Uuid::new_v4();
        app.node
            .execute::<IvrFlow>(
                id,
                IvrFlowCommand::Create {
                    enterprise_id: tenant,
                    name_taken: flow_name_taken(app, caller, tenant, id, &name),
                    name,
                    at: Utc::now(),
                },
                meta(caller, tenant),
            )
            .await?;
        Ok(flow_object(fetch(app, caller, projections::IVR_FLOWS, id)?))
    }

    /// Checks and publishes a new version of a flow (编辑 → 提交). A failure names the node;
    /// unreachable nodes come back as warnings.
    async fn publish_ivr_flow(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: String,
        definition: IvrDefinition,
    ) -> ApiResult<IvrFlowObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::IvrManage)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: IvrFlowDoc = fetch(app, caller, projections::IVR_FLOWS, id)?;
        let tenant = doc.enterprise_id;
        let definition = definition.into_domain()?;
        app.node
            .execute::<IvrFlow>(
                id,
                IvrFlowCommand::Publish {
                    name_taken: flow_name_taken(app, caller, tenant, id, &name),
                    name,
                    definition,
                    lookups: lookups(app, caller, tenant)?,
                    at: Utc::now(),
                },
                meta(caller, tenant),
            )
            .await?;
        Ok(flow_object(fetch(app, caller, projections::IVR_FLOWS, id)?))
    }

    /// Deletes a flow; refused while an inbound route sends calls to it (naming the route).
    async fn delete_ivr_flow(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let caller = caller(ctx)?;
        caller.require(Permission::IvrManage)?;
        let app = app(ctx);
        let uuid = parse_id("id", &id)?;
        let doc: IvrFlowDoc = fetch(app, caller, projections::IVR_FLOWS, uuid)?;
        let routes: Vec<RouteDoc> =
            list(app, caller, projections::ROUTES, Some(doc.enterprise_id))?;
        let used_by = routes
            .into_iter()
            .filter(|r| r.settings.destination == Destination::Ivr { flow_id: uuid })
            .map(|r| r.name)
            .collect();
        app.node
            .execute::<IvrFlow>(
                uuid,
                IvrFlowCommand::Delete {
                    used_by,
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        Ok(id)
    }
}
