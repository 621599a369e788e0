//! Queries: every one checks a permission and scopes to the caller's tenant.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, InputObject, Json, Object, ID};
use domain::Permission;
use projections::{AccountDoc, AnnouncementDoc, EnterpriseDoc, RoleDoc};

use super::context::{
    app, caller, contains, fetch, list, page, page_size, parse_id, parse_opt_id, Total,
};
use super::types::*;
use crate::app::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// Filter of `enterprises`.
#[derive(InputObject, Debug, Default)]
pub struct EnterpriseFilter {
    /// Code contains.
    pub code: Option<String>,
    /// Name contains.
    pub name: Option<String>,
    /// Enabled or disabled only.
    pub enabled: Option<bool>,
}

/// Filter of `subAccounts` (manual §5.1.2).
#[derive(InputObject, Debug, Default)]
pub struct SubAccountFilter {
    /// Enterprise (operator only; others see their own).
    pub enterprise_id: Option<ID>,
    /// Login name contains.
    pub account: Option<String>,
    /// Name contains.
    pub name: Option<String>,
    /// Agent number contains.
    pub agent_number: Option<String>,
    /// Has this role.
    pub role_id: Option<ID>,
    /// Enabled or disabled only.
    pub enabled: Option<bool>,
}

/// Filter of `extensions`.
#[derive(InputObject, Debug, Default)]
pub struct ExtensionFilter {
    /// Enterprise (operator only).
    pub enterprise_id: Option<ID>,
    /// Number contains.
    pub number: Option<String>,
    /// Only extensions with (or without) a registered phone.
    pub online: Option<bool>,
}

/// Filter of `roles`.
#[derive(InputObject, Debug, Default)]
pub struct RoleFilter {
    /// Enterprise (operator only).
    pub enterprise_id: Option<ID>,
    /// Name contains.
    pub name: Option<String>,
}

/// Filter of `announcements`.
#[derive(InputObject, Debug, Default)]
pub struct AnnouncementFilter {
    /// Enterprise (operator only).
    pub enterprise_id: Option<ID>,
    /// Title contains.
    pub title: Option<String>,
    /// Published within.
    pub published: Option<TimeRange>,
}

/// Filter of `auditLog` (manual §5.4.1: by account and time).
#[derive(InputObject, Debug, Default)]
pub struct AuditLogFilter {
    /// Enterprise (operator only).
    pub enterprise_id: Option<ID>,
    /// Done by this sub-account.
    pub actor_id: Option<ID>,
    /// Done by a sub-account whose login name contains this.
    pub account: Option<String>,
    /// Done within.
    pub at: Option<TimeRange>,
    /// Events of this type (`ExtensionCreated`…).
    pub event_type: Option<String>,
    /// Events of this stream (an extension, an account, a call…).
    pub stream_id: Option<ID>,
}

/// Queries of accounts, permissions, extensions and the audit log.
#[derive(Debug, Default, Clone, Copy)]
pub struct AccountsQuery;

/// The tenant a list is scoped to: the caller's own, or for the operator the one named (or all).
pub(crate) fn list_tenant(
    caller: &Caller,
    requested: Option<&ID>,
) -> ApiResult<Option<uuid::Uuid>> {
    let requested = parse_opt_id("enterpriseId", requested)?;
    if caller.operator {
        Ok(requested)
    } else {
        caller.tenant(requested).map(Some)
    }
}

/// The welcome page of `caller`.
pub(crate) fn me_of(app: &App, caller_account: uuid::Uuid) -> ApiResult<MeObject> {
    let account: AccountDoc = app
        .node
        .models
        .of(projections::ACCOUNTS)
        .by_id(caller_account)
        .ok_or_else(|| ApiError::NotFound("sub-account not found".into()))?;
    let enterprise: EnterpriseDoc = app
        .node
        .models
        .of(projections::ENTERPRISES)
        .by_id(account.enterprise_id)
        .ok_or_else(|| ApiError::NotFound("enterprise not found".into()))?;
    let announcements = {
        let model = app.node.models.of(projections::ANNOUNCEMENTS);
        let docs = model.read();
        let mut mine: Vec<AnnouncementDoc> = docs
            .values()
            .filter(|d| d.tenant_id == Some(account.enterprise_id))
            .filter_map(|d| d.decode::<AnnouncementDoc>())
            .filter(|a| a.targets.contains(&account.id))
            .collect();
        mine.sort_by_key(|a| std::cmp::Reverse(a.published_at));
        mine.into_iter().map(AnnouncementObject::from).collect()
    };
    Ok(MeObject {
        account: SubAccountObject::build(app, account)?,
        enterprise: enterprise.into(),
        announcements,
    })
}

#[Object]
impl AccountsQuery {
    /// The welcome page of the logged-in sub-account.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<MeObject> {
        me_of(app(ctx), caller(ctx)?.account_id)
    }

    /// The permission catalogue.
    async fn permission_catalogue(&self, ctx: &Context<'_>) -> ApiResult<Vec<PermissionInfo>> {
        caller(ctx)?;
        Ok(Permission::ALL
            .iter()
            .copied()
            .map(PermissionInfo::from)
            .collect())
    }

    /// Enterprises (operator: all; others: their own).
    async fn enterprises(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<EnterpriseFilter>,
    ) -> ApiResult<Connection<String, EnterpriseObject, Total>> {
        let caller = caller(ctx)?;
        let filter = filter.unwrap_or_default();
        let mut items: Vec<EnterpriseDoc> = list(app(ctx), caller, projections::ENTERPRISES, None)?;
        items.retain(|e| {
            contains(&e.code, filter.code.as_ref())
                && contains(&e.name, filter.name.as_ref())
                && filter.enabled.is_none_or(|x| x == e.enabled)
        });
        items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.code.cmp(&b.code)));
        page(
            items.into_iter().map(EnterpriseObject::from).collect(),
            first,
            after,
        )
    }

    /// One enterprise.
    async fn enterprise(&self, ctx: &Context<'_>, id: ID) -> ApiResult<EnterpriseObject> {
        let caller = caller(ctx)?;
        let doc: EnterpriseDoc = fetch(
            app(ctx),
            caller,
            projections::ENTERPRISES,
            parse_id("id", &id)?,
        )?;
        Ok(doc.into())
    }

    /// Sub-accounts (manual §5.1), newest first.
    async fn sub_accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<SubAccountFilter>,
    ) -> ApiResult<Connection<String, SubAccountObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::SubAccountsRead)?;
        let filter = filter.unwrap_or_default();
        let app = app(ctx);
        let tenant = list_tenant(caller, filter.enterprise_id.as_ref())?;
        let role = parse_opt_id("roleId", filter.role_id.as_ref())?;
        let mut items: Vec<AccountDoc> = list(app, caller, projections::ACCOUNTS, tenant)?;
        items.retain(|a| {
            contains(&a.account, filter.account.as_ref())
                && contains(&a.name, filter.name.as_ref())
                && contains(&a.agent_number, filter.agent_number.as_ref())
                && role.is_none_or(|r| a.role_id == Some(r))
                && filter.enabled.is_none_or(|e| e == a.enabled)
        });
        items.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then(a.account.cmp(&b.account))
        });
        let objects = items
            .into_iter()
            .map(|a| SubAccountObject::build(app, a))
            .collect::<ApiResult<Vec<_>>>()?;
        page(objects, first, after)
    }

    /// One sub-account.
    async fn sub_account(&self, ctx: &Context<'_>, id: ID) -> ApiResult<SubAccountObject> {
        let caller = caller(ctx)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        if id != caller.account_id {
            caller.require(Permission::SubAccountsRead)?;
        }
        SubAccountObject::build(app, fetch(app, caller, projections::ACCOUNTS, id)?)
    }

    /// Extensions (manual §2.4), by number.
    async fn extensions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ExtensionFilter>,
    ) -> ApiResult<Connection<String, ExtensionObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::ExtensionsRead)?;
        let filter = filter.unwrap_or_default();
        let app = app(ctx);
        let tenant = list_tenant(caller, filter.enterprise_id.as_ref())?;
        let mut items: Vec<projections::ExtensionDoc> =
            list(app, caller, projections::EXTENSIONS, tenant)?;
        items.retain(|e| contains(&e.number, filter.number.as_ref()));
        items.sort_by(|a, b| {
            a.number
                .cmp(&b.number)
                .then(a.enterprise_id.cmp(&b.enterprise_id))
        });
        let now = chrono::Utc::now();
        let mut objects = items
            .into_iter()
            .map(|e| ExtensionObject::build(app, e, now))
            .collect::<ApiResult<Vec<_>>>()?;
        objects.retain(|e| filter.online.is_none_or(|o| o == e.online));
        page(objects, first, after)
    }

    /// One extension.
    async fn extension(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ExtensionObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::ExtensionsRead)?;
        let app = app(ctx);
        ExtensionObject::build(
            app,
            fetch(app, caller, projections::EXTENSIONS, parse_id("id", &id)?)?,
            chrono::Utc::now(),
        )
    }

    /// Roles (manual §5.2).
    async fn roles(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<RoleFilter>,
    ) -> ApiResult<Connection<String, RoleObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::RolesRead)?;
        let filter = filter.unwrap_or_default();
        let app = app(ctx);
        let tenant = list_tenant(caller, filter.enterprise_id.as_ref())?;
        let mut items: Vec<RoleDoc> = list(app, caller, projections::ROLES, tenant)?;
        items.retain(|r| contains(&r.name, filter.name.as_ref()));
        items.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.name.cmp(&b.name)));
        let objects = items
            .into_iter()
            .map(|r| RoleObject::build(app, r))
            .collect::<ApiResult<Vec<_>>>()?;
        page(objects, first, after)
    }

    /// One role.
    async fn role(&self, ctx: &Context<'_>, id: ID) -> ApiResult<RoleObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::RolesRead)?;
        let app = app(ctx);
        RoleObject::build(
            app,
            fetch(app, caller, projections::ROLES, parse_id("id", &id)?)?,
        )
    }

    /// Announcements (manual §5.3), newest first.
    async fn announcements(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<AnnouncementFilter>,
    ) -> ApiResult<Connection<String, AnnouncementObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::AnnouncementsManage)?;
        let filter = filter.unwrap_or_default();
        let tenant = list_tenant(caller, filter.enterprise_id.as_ref())?;
        let mut items: Vec<AnnouncementDoc> =
            list(app(ctx), caller, projections::ANNOUNCEMENTS, tenant)?;
        let range = filter.published.unwrap_or_default();
        items.retain(|a| {
            contains(&a.title, filter.title.as_ref()) && range.contains(a.published_at)
        });
        items.sort_by_key(|a| std::cmp::Reverse(a.published_at));
        page(
            items.into_iter().map(AnnouncementObject::from).collect(),
            first,
            after,
        )
    }

    /// One announcement.
    async fn announcement(&self, ctx: &Context<'_>, id: ID) -> ApiResult<AnnouncementObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::AnnouncementsManage)?;
        let doc: AnnouncementDoc = fetch(
            app(ctx),
            caller,
            projections::ANNOUNCEMENTS,
            parse_id("id", &id)?,
        )?;
        Ok(doc.into())
    }

    /// The audit log (manual §5.4), newest first.
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<AuditLogFilter>,
    ) -> ApiResult<Connection<String, AuditEntryObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::AuditLogRead)?;
        let filter = filter.unwrap_or_default();
        let app = app(ctx);
        let tenant = list_tenant(caller, filter.enterprise_id.as_ref())?;
        let actor = parse_opt_id("actorId", filter.actor_id.as_ref())?;
        let range = filter.at.unwrap_or_default();
        let actors = match &filter.account {
            None => actor.map(|a| vec![a]),
            Some(_) => {
                let accounts = app.node.models.of(projections::ACCOUNTS);
                let named: Vec<uuid::Uuid> = accounts
                    .all()
                    .into_iter()
                    .filter(|a| contains(&a.account, filter.account.as_ref()))
                    .map(|a| a.id)
                    .filter(|id| actor.is_none_or(|wanted| wanted == *id))
                    .collect();
                Some(named)
            }
        };
        let query = projections::AuditQuery {
            tenant,
            actors,
            from: range.from,
            to: range.to,
            event_type: filter.event_type.clone(),
            stream_id: parse_opt_id("streamId", filter.stream_id.as_ref())?,
        };
        let first = page_size(first)?;
        let after = after
            .map(|cursor| {
                cursor
                    .parse::<i64>()
                    .map_err(|_| ApiError::validation("after", "is not a cursor of this list"))
            })
            .transpose()?;
        let page = projections::audit_page(&app.node.log.pool(), &query, after, first).await?;
        let mut connection = Connection::with_additional_fields(
            after.is_some(),
            page.has_next,
            Total {
                total_count: usize::try_from(page.total).unwrap_or(0),
                total_capped: page.capped,
            },
        );
        for entry in page.entries {
            let cursor = entry.position.to_string();
            connection
                .edges
                .push(Edge::new(cursor, AuditEntryObject::build(app, entry)?));
        }
        Ok(connection)
    }

    /// The full history of one stream (an enterprise, sub-account, role, announcement…).
    async fn history(
        &self,
        ctx: &Context<'_>,
        stream_id: ID,
    ) -> ApiResult<Vec<HistoryEventObject>> {
        let caller = caller(ctx)?;
        caller.require(Permission::AuditLogRead)?;
        let id = parse_id("streamId", &stream_id)?;
        let events = app(ctx).node.log.read_stream(id).await?;
        if events.is_empty() || !events.iter().all(|e| caller.sees(e.metadata.tenant_id)) {
            return Err(ApiError::NotFound("stream not found".into()));
        }
        Ok(events
            .into_iter()
            .map(|e| {
                let mut payload: serde_json::Value =
                    serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::Null);
                projections::redact(&mut payload);
                HistoryEventObject {
                    position: e.position,
                    version: e.version,
                    event_type: e.event_type,
                    recorded_at: e.recorded_at,
                    actor_id: e.metadata.actor_id.map(|a| ID(a.to_string())),
                    correlation_id: ID(e.metadata.correlation_id.to_string()),
                    causation_id: e.metadata.causation_id.map(|a| ID(a.to_string())),
                    payload: Json(payload),
                }
            })
            .collect())
    }
}
