//! GraphQL object and input types, and their construction from read-model documents.

use async_graphql::{InputObject, Json, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::{Permission, PermissionScope, PermissionSetting};
use projections::{AccountDoc, AnnouncementDoc, AuditEntry, EnterpriseDoc, RoleDoc};

use crate::app::App;
use crate::auth::permissions_of;
use crate::error::{ApiError, ApiResult};

/// An enterprise (企业账户).
#[derive(SimpleObject, Debug, Clone)]
pub struct EnterpriseObject {
    /// Id.
    pub id: ID,
    /// Account code used at login.
    pub code: String,
    /// Name.
    pub name: String,
    /// Time zone of reports and schedules.
    pub time_zone: String,
    /// Whether its sub-accounts may log in.
    pub enabled: bool,
    /// The platform operator's own enterprise.
    pub platform: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl From<EnterpriseDoc> for EnterpriseObject {
    fn from(d: EnterpriseDoc) -> Self {
        Self {
            id: ID(d.id.to_string()),
            code: d.code,
            name: d.name,
            time_zone: d.time_zone,
            enabled: d.enabled,
            platform: d.platform,
            created_at: d.created_at,
        }
    }
}

/// A sub-account (子账号).
#[derive(SimpleObject, Debug, Clone)]
pub struct SubAccountObject {
    /// Id (编号).
    pub id: ID,
    /// Its enterprise.
    pub enterprise_id: ID,
    /// Login name (账号), fixed.
    pub account: String,
    /// Person's name (姓名).
    pub name: String,
    /// Agent number (工号).
    pub agent_number: String,
    /// Role.
    pub role_id: Option<ID>,
    /// Role name (角色).
    pub role_name: Option<String>,
    /// Whether permissions follow the role (应用角色权限模块).
    pub follow_role: bool,
    /// Permissions in effect.
    pub permissions: Vec<String>,
    /// Enabled (启用) or disabled (禁用).
    pub enabled: bool,
    /// The platform operator.
    pub operator: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl SubAccountObject {
    /// Builds the object, resolving the role and effective permissions.
    pub fn build(app: &App, d: AccountDoc) -> ApiResult<Self> {
        let role: Option<RoleDoc> = match d.role_id {
            Some(id) => app.node.models.of(projections::ROLES).by_id(id),
            None => None,
        };
        let permissions = permissions_of(&app.node.models, &d)?
            .into_iter()
            .map(|p| p.id().to_owned())
            .collect();
        Ok(Self {
            id: ID(d.id.to_string()),
            enterprise_id: ID(d.enterprise_id.to_string()),
            account: d.account,
            name: d.name,
            agent_number: d.agent_number,
            role_id: d.role_id.map(|r| ID(r.to_string())),
            role_name: role.map(|r| r.name),
            follow_role: d.permissions == PermissionSetting::FollowRole,
            permissions,
            enabled: d.enabled,
            operator: d.operator,
            created_at: d.created_at,
        })
    }
}

/// A role (角色) and its permission template.
#[derive(SimpleObject, Debug, Clone)]
pub struct RoleObject {
    /// Id (编号).
    pub id: ID,
    /// Its enterprise.
    pub enterprise_id: ID,
    /// Name.
    pub name: String,
    /// Permission template.
    pub permissions: Vec<String>,
    /// Sub-accounts that have this role (a role in use cannot be deleted).
    pub accounts_using: i32,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl RoleObject {
    /// Builds the object, counting the accounts that use the role.
    pub fn build(app: &App, d: RoleDoc) -> ApiResult<Self> {
        let using = accounts_using(app, d.id)?;
        Ok(Self {
            id: ID(d.id.to_string()),
            enterprise_id: ID(d.enterprise_id.to_string()),
            name: d.name,
            permissions: d.permissions.iter().map(|p| p.id().to_owned()).collect(),
            accounts_using: i32::try_from(using).unwrap_or(i32::MAX),
            created_at: d.created_at,
        })
    }
}

/// How many sub-accounts have role `role_id`.
pub fn accounts_using(app: &App, role_id: uuid::Uuid) -> ApiResult<u32> {
    let model = app.node.models.of(projections::ACCOUNTS);
    let docs = model.read();
    let count = docs
        .values()
        .filter_map(|d| d.decode::<AccountDoc>())
        .filter(|a| a.role_id == Some(role_id))
        .count();
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// An announcement (公告).
#[derive(SimpleObject, Debug, Clone)]
pub struct AnnouncementObject {
    /// Id.
    pub id: ID,
    /// Its enterprise.
    pub enterprise_id: ID,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Target sub-accounts.
    pub targets: Vec<ID>,
    /// Published (发布时间).
    pub published_at: DateTime<Utc>,
    /// Last edited.
    pub edited_at: Option<DateTime<Utc>>,
}

impl From<AnnouncementDoc> for AnnouncementObject {
    fn from(d: AnnouncementDoc) -> Self {
        Self {
            id: ID(d.id.to_string()),
            enterprise_id: ID(d.enterprise_id.to_string()),
            title: d.title,
            body: d.body,
            targets: d.targets.iter().map(|t| ID(t.to_string())).collect(),
            published_at: d.published_at,
            edited_at: d.edited_at,
        }
    }
}

/// One entry of the audit log (日志).
#[derive(SimpleObject, Debug, Clone)]
pub struct AuditEntryObject {
    /// Position of the event in the log.
    pub position: i64,
    /// When (时间).
    pub at: DateTime<Utc>,
    /// Who.
    pub actor_id: ID,
    /// The actor's login name (账号), if the sub-account still exists.
    pub actor_account: Option<String>,
    /// Kind of thing changed.
    pub stream_type: String,
    /// The thing changed.
    pub stream_id: ID,
    /// What happened.
    pub event_type: String,
    /// Details, secrets removed.
    pub details: Json<serde_json::Value>,
}

impl AuditEntryObject {
    /// Builds the object, resolving the actor's name.
    pub fn build(app: &App, e: AuditEntry) -> ApiResult<Self> {
        let actor: Option<AccountDoc> = app.node.models.of(projections::ACCOUNTS).by_id(e.actor_id);
        Ok(Self {
            position: e.position,
            at: e.at,
            actor_id: ID(e.actor_id.to_string()),
            actor_account: actor.map(|a| a.account),
            stream_type: e.stream_type,
            stream_id: ID(e.stream_id.to_string()),
            event_type: e.event_type,
            details: Json(e.details),
        })
    }
}

/// One event of a stream's full history (for auditors).
#[derive(SimpleObject, Debug, Clone)]
pub struct HistoryEventObject {
    /// Global position.
    pub position: i64,
    /// Version within the stream.
    pub version: i64,
    /// Event type.
    pub event_type: String,
    /// When it was committed.
    pub recorded_at: DateTime<Utc>,
    /// Who caused it.
    pub actor_id: Option<ID>,
    /// Request or call it belongs to.
    pub correlation_id: ID,
    /// What caused it.
    pub causation_id: Option<ID>,
    /// The payload, secrets removed.
    pub payload: Json<serde_json::Value>,
}

/// A permission of the catalogue.
#[derive(SimpleObject, Debug, Clone)]
pub struct PermissionInfo {
    /// Stable id, used in inputs.
    pub id: String,
    /// Manual module.
    pub module: String,
    /// `PLATFORM` or `ENTERPRISE`.
    pub scope: String,
    /// English label.
    pub label_en: String,
    /// Chinese label.
    pub label_zh: String,
}

impl From<Permission> for PermissionInfo {
    fn from(p: Permission) -> Self {
        Self {
            id: p.id().to_owned(),
            module: p.module().to_owned(),
            scope: match p.scope() {
                PermissionScope::Platform => "PLATFORM".into(),
                PermissionScope::Enterprise => "ENTERPRISE".into(),
            },
            label_en: p.label_en().to_owned(),
            label_zh: p.label_zh().to_owned(),
        }
    }
}

/// The welcome page (manual §1): who I am, where, my role and my announcements.
#[derive(SimpleObject, Debug, Clone)]
pub struct MeObject {
    /// My sub-account.
    pub account: SubAccountObject,
    /// My enterprise.
    pub enterprise: EnterpriseObject,
    /// Announcements addressed to me, newest first.
    pub announcements: Vec<AnnouncementObject>,
}

/// A successful login.
#[derive(SimpleObject, Debug, Clone)]
pub struct LoginResult {
    /// Bearer token for `Authorization: Bearer …` and the websocket's `connection_init`.
    pub token: String,
    /// When the session ends by itself.
    pub expires_at: DateTime<Utc>,
    /// The welcome page.
    pub me: MeObject,
}

/// A time range (both ends inclusive, either open).
#[derive(InputObject, Debug, Clone, Default)]
pub struct TimeRange {
    /// From.
    pub from: Option<DateTime<Utc>>,
    /// To.
    pub to: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// Whether `t` lies in the range.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|to| t <= to)
    }
}

/// Parses permission ids; names the unknown one.
pub fn parse_permissions(ids: &[String]) -> ApiResult<std::collections::BTreeSet<Permission>> {
    ids.iter()
        .map(|id| {
            Permission::from_id(id).ok_or_else(|| {
                ApiError::validation("permissions", format!("unknown permission {id}"))
            })
        })
        .collect()
}

/// A registered contact of an extension.
#[derive(SimpleObject, Debug, Clone)]
pub struct RegistrationObject {
    /// Contact URI.
    pub contact: String,
    /// When it lapses unless refreshed.
    pub expires_at: DateTime<Utc>,
    /// Source address of the REGISTER.
    pub source: String,
    /// `udp` or `tcp`.
    pub transport: String,
    /// The phone's User-Agent.
    pub user_agent: String,
}

/// Screen-pop settings of an extension.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "ScreenPopInput")]
pub struct ScreenPopObject {
    /// `none`, `crm` or `url`.
    pub mode: String,
    /// URL template for `url`.
    pub url: String,
    /// `RINGING` or `ANSWERED`.
    pub timing: String,
}

/// An extension (分机).
#[derive(SimpleObject, Debug, Clone)]
pub struct ExtensionObject {
    /// Id.
    pub id: ID,
    /// Its enterprise.
    pub enterprise_id: ID,
    /// Extension number (分机号), fixed.
    pub number: String,
    /// SIP user name for phones (the number).
    pub sip_username: String,
    /// SIP domain for phones (the enterprise's account code).
    pub sip_domain: String,
    /// SIP password: shown once, in the answer of `createExtension` or `rotateSipPassword`
    /// that generated it; null everywhere else.
    pub sip_password: Option<String>,
    /// Manual outbound allowed.
    pub manual_outbound: bool,
    /// Outbound caller ID.
    pub caller_id: String,
    /// Sub-accounts allowed to sign in.
    pub sign_in_accounts: Vec<ID>,
    /// Bound landline or mobile.
    pub bound_number: String,
    /// Forward to the bound number when offline.
    pub forward_when_offline: bool,
    /// Screen pop.
    pub screen_pop: ScreenPopObject,
    /// Whether a phone is registered.
    pub online: bool,
    /// Registered contacts.
    pub registrations: Vec<RegistrationObject>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl ExtensionObject {
    /// Builds the object; `now` decides which bindings still count.
    pub fn build(app: &App, d: projections::ExtensionDoc, now: DateTime<Utc>) -> ApiResult<Self> {
        let domain: Option<EnterpriseDoc> = app
            .node
            .models
            .of(projections::ENTERPRISES)
            .by_id(d.enterprise_id);
        let registrations: Vec<RegistrationObject> = d
            .bindings
            .into_iter()
            .filter(|b| b.expires_at > now)
            .map(|b| RegistrationObject {
                contact: b.contact,
                expires_at: b.expires_at,
                source: b.source,
                transport: b.transport,
                user_agent: b.user_agent,
            })
            .collect();
        let s = d.settings;
        Ok(Self {
            id: ID(d.id.to_string()),
            enterprise_id: ID(d.enterprise_id.to_string()),
            sip_username: d.number.clone(),
            number: d.number,
            sip_domain: domain.map(|e| e.code).unwrap_or_default(),
            sip_password: None,
            manual_outbound: s.manual_outbound,
            caller_id: s.caller_id,
            sign_in_accounts: s
                .sign_in_accounts
                .iter()
                .map(|a| ID(a.to_string()))
                .collect(),
            bound_number: s.bound_number,
            forward_when_offline: s.forward_when_offline,
            screen_pop: ScreenPopObject {
                mode: s.screen_pop.mode,
                url: s.screen_pop.url,
                timing: match s.screen_pop.timing {
                    domain::extension::PopTiming::Ringing => "RINGING".into(),
                    domain::extension::PopTiming::Answered => "ANSWERED".into(),
                },
            },
            online: !registrations.is_empty(),
            registrations,
            created_at: d.created_at,
        })
    }
}
