//! GraphQL of the voice library (manual §2.7) and the voicemail box (manual §2.6.4). Uploads
//! and downloads are plain HTTP (`POST /voices`, `GET /voices/{id}`, `GET /voicemails/{call}`);
//! listing, review and deletion are here.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::ivr::PromptSource;
use domain::voice::{ReviewStatus, Voice, VoiceCommand};
use domain::Permission;
use projections::{IvrFlowDoc, VoiceDoc, VoicemailDoc};
use uuid::Uuid;

use super::context::{app, caller, contains, fetch, list, page, parse_id, parse_opt_id, Total};
use super::mutation::meta;
use super::query::list_tenant;
use super::types::TimeRange;
use crate::app::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// Where a recording is in its review.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceStatus {
    /// Waiting for the operator (待审核).
    Pending,
    /// Approved: flows may play it.
    Approved,
    /// Rejected.
    Rejected,
}

impl From<ReviewStatus> for VoiceStatus {
    fn from(s: ReviewStatus) -> Self {
        match s {
            ReviewStatus::Pending => VoiceStatus::Pending,
            ReviewStatus::Approved => VoiceStatus::Approved,
            ReviewStatus::Rejected => VoiceStatus::Rejected,
        }
    }
}

/// A recording of the voice library.
#[derive(SimpleObject, Debug, Clone)]
pub struct VoiceObject {
    /// Id.
    pub id: ID,
    /// Its enterprise.
    pub enterprise_id: ID,
    /// Name.
    pub name: String,
    /// Review status.
    pub status: VoiceStatus,
    /// Why it was rejected.
    pub reject_reason: String,
    /// Length in milliseconds (8 kHz mono as kept).
    pub duration_ms: i64,
    /// Size in bytes as kept.
    pub size_bytes: i64,
    /// Uploaded.
    pub uploaded_at: DateTime<Utc>,
    /// Reviewed.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Where to listen or download (`GET`, with the bearer token).
    pub url: String,
}

/// The GraphQL object of a voice document.
pub fn voice_object(d: VoiceDoc) -> VoiceObject {
    VoiceObject {
        url: format!("/voices/{}", d.id),
        id: ID(d.id.to_string()),
        enterprise_id: ID(d.enterprise_id.to_string()),
        name: d.name,
        status: d.status.into(),
        reject_reason: d.reject_reason,
        duration_ms: i64::try_from(d.duration_ms).unwrap_or(i64::MAX),
        size_bytes: i64::try_from(d.size_bytes).unwrap_or(i64::MAX),
        uploaded_at: d.uploaded_at,
        reviewed_at: d.reviewed_at,
    }
}

/// Filter of `voices`.
#[derive(InputObject, Debug, Default)]
pub struct VoiceFilter {
    /// Enterprise (operator only).
    pub enterprise_id: Option<ID>,
    /// Name contains.
    pub name: Option<String>,
    /// Review status.
    pub status: Option<VoiceStatus>,
}

/// A voicemail message (留言箱).
#[derive(SimpleObject, Debug, Clone)]
pub struct VoicemailObject {
    /// The call it was left in.
    pub call_id: ID,
    /// Its enterprise.
    pub enterprise_id: ID,
    /// Who left it (号码).
    pub caller: String,
    /// The number called.
    pub called: String,
    /// The inbound route (路由).
    pub route_id: Option<ID>,
    /// When it began (时间).
    pub started_at: DateTime<Utc>,
    /// Length in milliseconds (时长), once it ended.
    pub duration_ms: Option<i64>,
    /// Whether it has ended.
    pub ended: bool,
    /// Where to listen or download (`GET`, with the bearer token).
    pub url: String,
}

fn voicemail_object(d: VoicemailDoc) -> VoicemailObject {
    VoicemailObject {
        url: format!("/voicemails/{}", d.call_id),
        call_id: ID(d.call_id.to_string()),
        enterprise_id: ID(d.enterprise_id.to_string()),
        caller: d.caller,
        called: d.called,
        route_id: d.route_id.map(|r| ID(r.to_string())),
        started_at: d.started_at,
        duration_ms: d
            .duration_ms
            .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
        ended: d.ended,
    }
}

/// Filter of `voicemails`: the time is required and spans at most a month.
#[derive(InputObject, Debug)]
pub struct VoicemailFilter {
    /// When it was left (required, at most 31 days).
    pub time: TimeRange,
    /// Enterprise (operator only).
    pub enterprise_id: Option<ID>,
    /// Caller's number contains.
    pub number: Option<String>,
    /// Inbound route.
    pub route_id: Option<ID>,
}

/// The flows of `tenant` whose latest version plays `voice`, named for a person.
pub fn flows_playing(app: &App, caller: &Caller, tenant: Uuid, voice: Uuid) -> Vec<String> {
    list::<IvrFlowDoc>(app, caller, projections::IVR_FLOWS, Some(tenant))
        .unwrap_or_default()
        .into_iter()
        .filter(|flow| {
            flow.definition.as_ref().is_some_and(|d| {
                d.nodes.iter().any(|n| {
                    n.action.prompt_lists().iter().any(|(_, items)| {
                        items
                            .iter()
                            .any(|i| i.source == PromptSource::Recording { voice_id: voice })
                    })
                })
            })
        })
        .map(|flow| format!("IVR flow '{}'", flow.name))
        .collect()
}

/// Queries of the voice library and the voicemail box.
#[derive(Debug, Default, Clone, Copy)]
pub struct VoiceQuery;

#[Object]
impl VoiceQuery {
    /// Recordings of the voice library, newest first (the operator sees every enterprise's,
    /// to review them).
    async fn voices(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<VoiceFilter>,
    ) -> ApiResult<Connection<String, VoiceObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::VoiceLibraryRead)?;
        let filter = filter.unwrap_or_default();
        let tenant = list_tenant(caller, filter.enterprise_id.as_ref())?;
        let mut items: Vec<VoiceDoc> = list(app(ctx), caller, projections::VOICES, tenant)?;
        items.retain(|v| {
            contains(&v.name, filter.name.as_ref())
                && filter
                    .status
                    .is_none_or(|s| s == VoiceStatus::from(v.status))
        });
        items.sort_by_key(|v| std::cmp::Reverse(v.uploaded_at));
        page(items.into_iter().map(voice_object).collect(), first, after)
    }

    /// One recording.
    async fn voice(&self, ctx: &Context<'_>, id: ID) -> ApiResult<VoiceObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::VoiceLibraryRead)?;
        Ok(voice_object(fetch(
            app(ctx),
            caller,
            projections::VOICES,
            parse_id("id", &id)?,
        )?))
    }

    /// The voicemail box, newest first.
    async fn voicemails(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: VoicemailFilter,
    ) -> ApiResult<Connection<String, VoicemailObject, Total>> {
        let caller = caller(ctx)?;
        caller.require(Permission::VoicemailRead)?;
        let (Some(from), Some(to)) = (filter.time.from, filter.time.to) else {
            return Err(ApiError::validation(
                "time",
                "both ends of the time are required",
            ));
        };
        if to < from || to - from > chrono::Duration::days(31) {
            return Err(ApiError::validation("time", "must span at most one month"));
        }
        let tenant = list_tenant(caller, filter.enterprise_id.as_ref())?;
        let route = parse_opt_id("routeId", filter.route_id.as_ref())?;
        let mut items: Vec<VoicemailDoc> = list(app(ctx), caller, projections::VOICEMAILS, tenant)?;
        items.retain(|v| {
            filter.time.contains(v.started_at)
                && contains(&v.caller, filter.number.as_ref())
                && route.is_none_or(|r| v.route_id == Some(r))
        });
        items.sort_by_key(|v| std::cmp::Reverse(v.started_at));
        page(
            items.into_iter().map(voicemail_object).collect(),
            first,
            after,
        )
    }
}

/// Mutations of the voice library.
#[derive(Debug, Default, Clone, Copy)]
pub struct VoiceMutation;

#[Object]
impl VoiceMutation {
    /// Approves or rejects an uploaded recording (platform operator).
    async fn review_voice(
        &self,
        ctx: &Context<'_>,
        id: ID,
        approve: bool,
        reason: Option<String>,
    ) -> ApiResult<VoiceObject> {
        let caller = caller(ctx)?;
        caller.require(Permission::PlatformVoiceReview)?;
        let app = app(ctx);
        let id = parse_id("id", &id)?;
        let doc: VoiceDoc = fetch(app, caller, projections::VOICES, id)?;
        app.node
            .execute::<Voice>(
                id,
                VoiceCommand::Review {
                    approve,
                    reason: reason.unwrap_or_default(),
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        Ok(voice_object(fetch(app, caller, projections::VOICES, id)?))
    }

    /// Deletes a recording; refused while a flow plays it (naming the flow). The file is
    /// removed after the deletion is recorded.
    async fn delete_voice(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ID> {
        let caller = caller(ctx)?;
        caller.require(Permission::VoiceLibraryManage)?;
        let app = app(ctx);
        let uuid = parse_id("id", &id)?;
        let doc: VoiceDoc = fetch(app, caller, projections::VOICES, uuid)?;
        let used_by = flows_playing(app, caller, doc.enterprise_id, uuid);
        app.node
            .execute::<Voice>(
                uuid,
                VoiceCommand::Delete {
                    used_by,
                    at: Utc::now(),
                },
                meta(caller, doc.enterprise_id),
            )
            .await?;
        if !doc.file.split('/').any(|part| part == "..") {
            let _ = tokio::fs::remove_file(app.node.data_dir.join(&doc.file)).await;
        }
        Ok(id)
    }
}
