//! GraphQL of queues (manual §2.5) and agent seats (manual §7.1): the enterprise creates,
//! edits and deletes queues and sets their member extensions; an agent signs in to the
//! extension that permits it, changes work state and signs out.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::agent::{Agent, AgentCommand, Endpoint, WorkState};
use domain::call::Cause;
use domain::queue::{
    DistributionRule, Queue, QueueCommand, QueueLookups, QueueOverflow, QueueSettings,
};
use domain::route::Destination;
use domain::voice::ReviewStatus;
use domain::Permission;
use projections::{AgentDoc, ExtensionDoc, IvrFlowDoc, QueueDoc, RouteDoc, VoiceDoc};
use uuid::Uuid;

use super::mutation::meta;
use super::query::list_tenant;
use super::{app, caller, contains, fetch, list, page, parse_id, parse_opt_id, Total};
use calls::control::Control;
use calls::{AnswerWaitingError, ControlError};

use crate::app::App;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

/// A distribution rule (转接规则).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "DistributionRule")]
pub enum Rule {
    /// The agent idle the longest (default).
    LongestIdle,
    /// Members in turn.
    RoundRobin,
    /// The fewest calls since signing in.
    FewestCalls,
    /// The least talk time since signing in.
    LeastTalkTime,
    /// Every free member at once.
    RingAll,
    /// Members in order, from the first.
    Sequential,
    /// Any free member.
    Random,
}

/// An agent's work state (工作状态).
/// How a supervisor joins a call.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "calls::control::MonitorMode")]
pub enum SupervisionMode {
    /// Hears both sides; nobody hears the supervisor (监听).
    Listen,
    /// Hears both sides; only the agent hears the supervisor (密语).
    Whisper,
    /// Three-way: everyone hears everyone (强插).
    Barge,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "WorkState")]
pub enum AgentState {
    /// Working, no callback (工作-不可回接).
    Working,
    /// Break (小休).
    Break,
    /// Away (离开).
    Away,
    /// Working, callback allowed (工作-可回接).
    WorkingCallback,
}

/// Where an agent takes calls (通话端).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "Endpoint")]
pub enum AgentEndpoint {
    /// The web client.
    WebClient,
    /// A SIP phone registered to the extension.
    SipPhone,
    /// The extension's bound number.
    Phone,
}

/// What happens when a caller's queue timeout runs out.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowKind {
    /// The call is released.
    Release,
    /// A recording, then the release.
    Message,
    /// The caller goes on in an IVR flow.
    Flow,
}

/// A queue's settings, as read and as sent.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "QueueSettingsInput")]
pub struct QueueSettingsObject {
    /// Name (队列名称).
    pub name: String,
    /// Callers allowed to wait (最大等待数), 0–999.
    pub max_waiting: i32,
    /// Music while waiting (等待音乐): an approved recording; null: the built-in tone.
    pub hold_music: Option<ID>,
    /// Waiting prompt (等待语音提示): an approved recording.
    pub waiting_prompt: Option<ID>,
    /// Seconds between waiting prompts (提示间隔), 0–60.
    pub prompt_interval_seconds: i32,
    /// Distribution rule (转接规则).
    pub rule: Rule,
    /// Web-client agents connected without ringing.
    pub web_auto_answer: bool,
    /// The agent's number read to the caller on connect (接通报工号).
    pub announce_agent_number: bool,
    /// Work states that take no calls (分机不可用状态).
    pub excluded_states: Vec<AgentState>,
    /// Seconds a caller may wait (队列超时时长), 1–999.
    pub queue_timeout_seconds: i32,
    /// What happens then.
    pub overflow: OverflowKind,
    /// The recording (`MESSAGE`) or flow (`FLOW`) of the overflow.
    pub overflow_target_id: Option<ID>,
    /// Seconds an agent rings (分机超时时长), 1–999.
    pub agent_ring_timeout_seconds: i32,
    /// Missed offers in a row that put an agent on break (0: never).
    pub max_missed_offers: i32,
    /// Screen-pop page (弹屏设置).
    pub screen_pop: String,
    /// Seconds an agent has after each call before the next offer (话后整理), 0–600.
    #[graphql(default)]
    pub wrap_up_seconds: i32,
}

/// A queue (队列).
#[derive(SimpleObject, Debug, Clone)]
pub struct QueueObject {
    /// Id.
    pub id: ID,
    /// Its enterprise.
    pub enterprise_id: ID,
    /// Settings.
    pub settings: QueueSettingsObject,
    /// Member extensions, in order (分机).
    pub member_ids: Vec<ID>,
    /// Created (创建时间).
    pub created_at: DateTime<Utc>,
}

fn count(field: &str, value: i32) -> ApiResult<u32> {
    u32::try_from(value).map_err(|_| ApiError::validation(field, "must not be negative"))
}

fn settings_in(input: QueueSettingsObject) -> ApiResult<QueueSettings> {
    let opt_id = |field: &str, id: &Option<ID>| parse_opt_id(field, id.as_ref());
    let target = || {
        opt_id("overflowTargetId", &input.overflow_target_id)?
            .ok_or_else(|| ApiError::validation("overflowTargetId", "is required"))
    };
    let overflow = match input.overflow {
        OverflowKind::Release => QueueOverflow::Release,
        OverflowKind::Message => QueueOverflow::Message {
            voice_id: target()?,
        },
        OverflowKind::Flow => QueueOverflow::Flow { flow_id: target()? },
    };
    Ok(QueueSettings {
        name: input.name,
        max_waiting: count("maxWaiting", input.max_waiting)?,
        hold_music: opt_id("holdMusic", &input.hold_music)?,
        waiting_prompt: opt_id("waitingPrompt", &input.waiting_prompt)?,
        prompt_interval_seconds: count("promptIntervalSeconds", input.prompt_interval_seconds)?,
        rule: input.rule.into(),
        web_auto_answer: input.web_auto_answer,
        announce_agent_number: input.announce_agent_number,
        excluded_states: input.excluded_states.into_iter().map(Into::into).collect(),
        queue_timeout_seconds: count("queueTimeoutSeconds", input.queue_timeout_seconds)?,
        overflow,
        agent_ring_timeout_seconds: count(
            "agentRingTimeoutSeconds",
            input.agent_ring_timeout_seconds,
        )?,
        max_missed_offers: count("maxMissedOffers", input.max_missed_offers)?,
        screen_pop: input.screen_pop,
        wrap_up_seconds: count("wrapUpSeconds", input.wrap_up_seconds)?,
    })
}

fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn settings_out(s: QueueSettings) -> QueueSettingsObject {
    let (overflow, overflow_target_id) = match s.overflow {
        QueueOverflow::Release => (OverflowKind::Release, None),
        QueueOverflow::Message { voice_id } => {
            (OverflowKind::Message, Some(ID(voice_id.to_string())))
        }
        QueueOverflow::Flow { flow_id } => (OverflowKind::Flow, Some(ID(flow_id.to_string()))),
    };
    QueueSettingsObject {
        name: s.name,
        max_waiting: int(s.max_waiting),
        hold_music: s.hold_music.map(|v| ID(v.to_string())),
        waiting_prompt: s.waiting_prompt.map(|v| ID(v.to_string())),
        prompt_interval_seconds: int(s.prompt_interval_seconds),
        rule: s.rule.into(),
        web_auto_answer: s.web_auto_answer,
        announce_agent_number: s.announce_agent_number,
        excluded_states: s.excluded_states.into_iter().map(Into::into).collect(),
        queue_timeout_seconds: int(s.queue_timeout_seconds),
        overflow,
        overflow_target_id,
        agent_ring_timeout_seconds: int(s.agent_ring_timeout_seconds),
        max_missed_offers: int(s.max_missed_offers),
        screen_pop: s.screen_pop,
        wrap_up_seconds: int(s.wrap_up_seconds),
    }
}

fn queue_object(d: QueueDoc) -> QueueObject {
    QueueObject {
        id: ID(d.id.to_string()),
        enterprise_id: ID(d.enterprise_id.to_string()),
        settings: settings_out(d.settings),
        member_ids: d.members.into_iter().map(|m| ID(m.to_string())).collect(),
        created_at: d.created_at,
    }
}

/// What queue settings and members are checked against in `tenant`; `id` is the queue itself
/// (not counted when its own name is checked).
fn lookups(
    app: &App,
    caller: &Caller,
    tenant: Uuid,
    id: Uuid,
    name: &str,
) -> ApiResult<QueueLookups> {
    let voices: Vec<VoiceDoc> = list(app, caller, projections::VOICES, Some(tenant))?;
    let flows: Vec<IvrFlowDoc> = list(app, caller, projections::IVR_FLOWS, Some(tenant))?;
    let extensions: Vec<ExtensionDoc> = list(app, caller, projections::EXTENSIONS, Some(tenant))?;
    let queues: Vec<QueueDoc> = list(app, caller, projections::QUEUES, Some(tenant))?;
    Ok(QueueLookups {
        approved_voices: voices
            .into_iter()
            .filter(|v| v.status == ReviewStatus::Approved)
            .map(|v| v.id)
            .collect(),
        flows: flows
            .into_iter()
            .filter(|f| f.version > 0)
            .map(|f| f.id)
            .collect(),
        extensions: extensions.into_iter().map(|e| e.id).collect(),
        name_taken: queues
            .iter()
            .any(|q| q.id != id && q.settings.name == name.trim()),
    })
}

/// Filter of `queues`.
#[derive(InputObject, Debug, Default)]
pub struct QueueFilter {
    /// Enterprise (operator only).
    pub enterprise_id: Option<ID>,
    /// Name contains.
    pub name: Option<String>,
}

/// An agent seat: an extension and who is signed in to it.
#[derive(SimpleObject, Debug, Clone)]
pub struct AgentObject {
    /// The extension.
    pub extension_id: ID,
    /// Its enterprise.
    pub enterprise_id: ID,
    /// The signed-in sub-account (签入).
    pub account_id: Option<ID>,
    /// Where it takes calls (通话端).
    pub endpoint: AgentEndpoint,
    /// Work state (工作状态).
    pub work_state: AgentState,
    /// Seconds in that state (持续时间).
    pub state_seconds: i64,
    /// The call ringing the agent.
    pub offered_call_id: Option<ID>,
    /// The call the agent is on.
    pub call_id: Option<ID>,
    /// Calls answered since signing in.
    pub calls: i32,
    /// Talk time since signing in, in seconds.
    pub talk_seconds: i64,
    /// The end of the wrap-up after its last call (话后整理), while it lasts: no call is
    /// offered before.
    pub wrap_up_until: Option<DateTime<Utc>>,
    /// The ringing call's caller number (来电提醒).
    pub offered_caller: Option<String>,
    /// The ringing call's inbound route.
    pub offered_route_id: Option<ID>,
    /// The IVR variables the ringing call's flow set.
    pub offered_ivr_variables: Vec<VariableValue>,
    /// The screen-pop page for the ringing call (the queue's, else the extension's URL), with
    /// `{caller}` filled in.
    pub screen_pop_url: Option<String>,
}

/// An IVR variable and its value.
#[derive(SimpleObject, Debug, Clone)]
pub struct VariableValue {
    /// The variable.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// The GraphQL object of a seat, with what the call ringing it brings (screen pop).
pub(crate) fn agent_object(app: &App, d: AgentDoc) -> AgentObject {
    let now = Utc::now();
    let models = &app.node.models;
    let record = d
        .offered_call
        .and_then(|c| models.of(projections::CALL_RECORDS).by_id(c));
    let queue_pop = d
        .offered_queue
        .and_then(|q| models.of(projections::QUEUES).by_id(q))
        .map(|q| q.settings.screen_pop)
        .filter(|p| !p.trim().is_empty());
    let extension_pop = models
        .of(projections::EXTENSIONS)
        .by_id(d.extension_id)
        .filter(|e| e.settings.screen_pop.mode == "url")
        .map(|e| e.settings.screen_pop.url);
    let caller = record.as_ref().map(|r| r.caller.clone());
    let screen_pop_url = match (&caller, queue_pop.or(extension_pop)) {
        (Some(caller), Some(template)) => Some(template.replace("{caller}", caller)),
        _ => None,
    };
    AgentObject {
        offered_caller: caller,
        offered_route_id: record
            .as_ref()
            .and_then(|r| r.route_id)
            .map(|r| ID(r.to_string())),
        offered_ivr_variables: record
            .map(|r| {
                r.ivr_variables
                    .into_iter()
                    .map(|(name, value)| VariableValue { name, value })
                    .collect()
            })
            .unwrap_or_default(),
        screen_pop_url,
        extension_id: ID(d.extension_id.to_string()),
        enterprise_id: ID(d.enterprise_id.to_string()),
        account_id: d.account_id.map(|a| ID(a.to_string())),
        endpoint: d.endpoint.into(),
        work_state: d.work_state.into(),
        state_seconds: d.state_since.map_or(0, |s| (now - s).num_seconds().max(0)),
        offered_call_id: d.offered_call.map(|c| ID(c.to_string())),
        call_id: d.on_call.map(|c| ID(c.to_string())),
        calls: i32::try_from(d.calls).unwrap_or(i32::MAX),
        talk_seconds: i64::try_from(d.talk_seconds).unwrap_or(i64::MAX),
        wrap_up_until: d.wrap_up_until.filter(|until| *until > Utc::now()),
    }
}

/// The seat of `extension`, as the caller sees it; `None` when nobody signed in yet.
fn seat(app: &App, caller: &Caller, extension: Uuid) -> Option<AgentDoc> {
    fetch(
        app,
        caller,
        projections::AGENTS,
        domain::ids::agent_id(extension),
    )
    .ok()
}

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

/// Where an agent transfers a call.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallTransferKind {
    /// Another extension.
    Extension,
    /// An outside number.
    Number,
    /// A queue.
    Queue,
    /// An IVR flow.
    Ivr,
}

/// A blind transfer's target.
#[derive(InputObject, Debug, Clone)]
pub struct CallTransferInput {
    /// Where to.
    pub kind: CallTransferKind,
    /// The extension, queue or flow.
    pub target_id: Option<ID>,
    /// The number (`NUMBER`).
    pub number: Option<String>,
}

/// Hands `control` to the call's actor and waits for its answer: `true` once carried out, a
/// `CONFLICT` naming why the call refused it, `NOT_FOUND` when it is not up on this node.
async fn control(app: &App, call: Uuid, control: Control) -> ApiResult<bool> {
    match app.calls.control(call, control).await {
        Ok(()) => Ok(true),
        Err(ControlError::NoSuchCall) => Err(ApiError::NotFound("call not found".into())),
        Err(error @ (ControlError::Refused(_) | ControlError::NoAnswer)) => {
            Err(ApiError::Conflict(error.to_string()))
        }
    }
}

/// The call `id` as the agent's own: the one its seat is on.
fn own_call(app: &App, caller: &Caller, id: &ID) -> ApiResult<Uuid> {
    let call = parse_id("callId", id)?;
    let seat = own_seat(app, caller)?;
    if seat.on_call != Some(call) {
        return Err(ApiError::NotFound("call not found".into()));
    }
    Ok(call)
}

/// The agent's and the supervisor's actions on live calls.
#[derive(Debug, Default, Clone, Copy)]
pub struct CallControlMutation;

#[Object]
impl CallControlMutation {
    /// Hangs up the agent's call.
    async fn hang_up_call(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::AgentWorkstation)?;
        let call = own_call(app(ctx), caller, &call_id)?;
        control(
            app(ctx),
            call,
            Control::HangUp {
                by_supervisor: None,
            },
        )
        .await
    }

    /// Click-to-dial (点击外呼): rings the agent's own phone (the extension it is signed in
    /// to) and, once it answers, dials `number` through the trunk with the extension's caller
    /// ID. Returns the call's id; the extension must be allowed to dial out.
    async fn dial_out(&self, ctx: &Context<'_>, number: String) -> ApiResult<ID> {
        use calls::control::DialOutError;
        let caller = caller(ctx)?;
        caller.require(Permission::AgentWorkstation)?;
        let app = app(ctx);
        let seat = own_seat(app, caller)?;
        let extension: ExtensionDoc =
            fetch(app, caller, projections::EXTENSIONS, seat.extension_id)?;
        match app.calls.dial_out(&extension, &number).await {
            Ok(call) => Ok(ID(call.to_string())),
            Err(DialOutError::BadNumber) => {
                Err(ApiError::validation("number", "is not a phone number"))
            }
            Err(DialOutError::Refused(Cause::OutboundNotAllowed)) => Err(ApiError::Forbidden(
                "manual outbound is not allowed on this extension".into(),
            )),
            Err(DialOutError::Refused(Cause::NoCallerId)) => Err(ApiError::Conflict(
                "the extension has no licensed caller ID".into(),
            )),
            Err(DialOutError::Refused(Cause::NoRoute)) => {
                Err(ApiError::Conflict("no trunk carries the caller ID".into()))
            }
            Err(DialOutError::Refused(_)) => Err(ApiError::Conflict(
                "the agent's phone cannot be reached".into(),
            )),
            Err(DialOutError::NoSip) => Err(ApiError::Conflict("SIP is not running".into())),
            Err(DialOutError::Busy) => Err(ApiError::Conflict("the agent is busy".into())),
        }
    }

    /// Holds the customer of the agent's call (the customer hears music).
    async fn hold_call(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::AgentWorkstation)?;
        let call = own_call(app(ctx), caller, &call_id)?;
        control(app(ctx), call, Control::Hold).await
    }

    /// Takes the held customer back.
    async fn resume_call(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::AgentWorkstation)?;
        let call = own_call(app(ctx), caller, &call_id)?;
        control(app(ctx), call, Control::Resume).await
    }

    /// Transfers the agent's customer blind to an extension, a number, a queue or a flow of
    /// the enterprise; the agent leaves the call.
    async fn transfer_call(
        &self,
        ctx: &Context<'_>,
        call_id: ID,
        target: CallTransferInput,
    ) -> ApiResult<bool> {
        use calls::control::TransferTarget as T;
        let caller = caller(ctx)?;
        caller.require(Permission::AgentWorkstation)?;
        let app = app(ctx);
        let call = own_call(app, caller, &call_id)?;
        let id = || {
            target
                .target_id
                .as_ref()
                .ok_or_else(|| ApiError::validation("target.targetId", "is required"))
                .and_then(|id| parse_id("target.targetId", id))
        };
        let tenant = caller.enterprise_id;
        let in_tenant = |doc: Option<projections::Doc>, what: &str, id: Uuid| -> ApiResult<Uuid> {
            if doc.is_some_and(|d| d.tenant_id == Some(tenant)) {
                Ok(id)
            } else {
                Err(ApiError::validation(
                    "target.targetId",
                    format!("no such {what} in this enterprise"),
                ))
            }
        };
        let models = &app.node.models;
        let to = match target.kind {
            CallTransferKind::Extension => {
                let id = id()?;
                let doc = models.of(projections::EXTENSIONS).doc(&id.to_string());
                T::Extension(in_tenant(doc, "extension", id)?)
            }
            CallTransferKind::Queue => {
                let id = id()?;
                let doc = models.of(projections::QUEUES).doc(&id.to_string());
                T::Queue(in_tenant(doc, "queue", id)?)
            }
            CallTransferKind::Ivr => {
                let id = id()?;
                let doc = models.of(projections::IVR_FLOWS).doc(&id.to_string());
                T::Ivr(in_tenant(doc, "IVR flow", id)?)
            }
            CallTransferKind::Number => T::Number(
                target
                    .number
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .ok_or_else(|| ApiError::validation("target.number", "is required"))?,
            ),
        };
        control(app, call, Control::Transfer(to)).await
    }

    /// Forces a call of the enterprise down (supervisors, 强拆).
    async fn force_hang_up(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::SupervisorIntervene)?;
        let app = app(ctx);
        let call = parse_id("callId", &call_id)?;
        fetch::<projections::CallRecordDoc>(app, caller, projections::CALL_RECORDS, call)?;
        control(
            app,
            call,
            Control::HangUp {
                by_supervisor: Some(caller.account_id),
            },
        )
        .await
    }

    /// Joins a call of the enterprise on the supervisor's own extension (the seat it is signed
    /// in to), which rings: `LISTEN` hears both sides unheard (监听), `WHISPER` speaks to the
    /// agent only (密语), `BARGE` joins three-way (强插). Called again with another mode while
    /// on the call, it switches without ringing again.
    async fn monitor_call(
        &self,
        ctx: &Context<'_>,
        call_id: ID,
        mode: SupervisionMode,
    ) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::SupervisorIntervene)?;
        let app = app(ctx);
        let call = parse_id("callId", &call_id)?;
        fetch::<projections::CallRecordDoc>(app, caller, projections::CALL_RECORDS, call)?;
        let seat = own_seat(app, caller)?;
        control(
            app,
            call,
            Control::Monitor {
                supervisor: caller.account_id,
                extension: seat.extension_id,
                mode: mode.into(),
            },
        )
        .await
    }

    /// Leaves a call the supervisor listens to, whispers into or barged into (its phone gets a
    /// BYE).
    async fn stop_monitoring(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::SupervisorIntervene)?;
        let app = app(ctx);
        let call = parse_id("callId", &call_id)?;
        fetch::<projections::CallRecordDoc>(app, caller, projections::CALL_RECORDS, call)?;
        control(
            app,
            call,
            Control::StopMonitoring {
                supervisor: caller.account_id,
            },
        )
        .await
    }

    /// Replaces the agent of a call with the supervisor (抢线): the supervisor's own extension
    /// (the seat it is signed in to) rings and the agent leaves the call.
    async fn take_over(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::SupervisorIntervene)?;
        let app = app(ctx);
        let call = parse_id("callId", &call_id)?;
        fetch::<projections::CallRecordDoc>(app, caller, projections::CALL_RECORDS, call)?;
        let seat = own_seat(app, caller)?;
        control(
            app,
            call,
            Control::TakeOver {
                supervisor: caller.account_id,
                extension: seat.extension_id,
            },
        )
        .await
    }

    /// Answers a caller waiting in a queue on the supervisor's own extension (the seat it is
    /// signed in to), ahead of the queue's order.
    async fn answer_waiting_call(&self, ctx: &Context<'_>, call_id: ID) -> ApiResult<bool> {
        let caller = caller(ctx)?;
        caller.require(Permission::SupervisorIntervene)?;
        let app = app(ctx);
        let call = parse_id("callId", &call_id)?;
        let record: projections::CallRecordDoc =
            fetch(app, caller, projections::CALL_RECORDS, call)?;
        let queue = record
            .queue_id
            .ok_or_else(|| ApiError::Conflict("the call waits in no queue".into()))?;
        let seat = own_seat(app, caller)?;
        let answered = app
            .calls
            .answer_waiting(
                caller.account_id,
                &seat,
                call,
                queue,
                meta(caller, seat.enterprise_id),
            )
            .await;
        match answered {
            Ok(()) => Ok(true),
            Err(AnswerWaitingError::Seat(refused)) => Err(refused.into()),
            Err(error @ AnswerWaitingError::NotWaiting) => {
                Err(ApiError::Conflict(error.to_string()))
            }
        }
    }
}

/// The seat the caller is signed in to.
fn own_seat(app: &App, caller: &Caller) -> ApiResult<AgentDoc> {
    let seats: Vec<AgentDoc> = list(app, caller, projections::AGENTS, Some(caller.enterprise_id))?;
    seats
        .into_iter()
        .find(|s| s.account_id == Some(caller.account_id))
        .ok_or_else(|| ApiError::Conflict("not signed in".into()))
}
