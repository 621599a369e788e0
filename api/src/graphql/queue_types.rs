//! The GraphQL shapes of queues and agent seats: distribution rules, work states, endpoints,
//! a queue's settings as read and sent, a seat with the call ringing it (screen pop), and the
//! look-ups of the caller's own seat.

use async_graphql::{Enum, InputObject, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::agent::{Endpoint, WorkState};
use domain::queue::{DistributionRule, QueueLookups, QueueOverflow, QueueSettings};
use domain::voice::ReviewStatus;
use projections::{AgentDoc, ExtensionDoc, IvrFlowDoc, QueueDoc, VoiceDoc};
use uuid::Uuid;

use super::context::{fetch, list, parse_opt_id};

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

/// An agent's work state (工作状态).
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

pub(super) fn count(field: &str, value: i32) -> ApiResult<u32> {
    u32::try_from(value).map_err(|_| ApiError::validation(field, "must not be negative"))
}

pub(super) fn settings_in(input: QueueSettingsObject) -> ApiResult<QueueSettings> {
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

pub(super) fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

pub(super) fn settings_out(s: QueueSettings) -> QueueSettingsObject {
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

pub(super) fn queue_object(d: QueueDoc) -> QueueObject {
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
pub(super) fn lookups(
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
        .and_then(|c| models.of(projections::LIVE_CALLS).by_id(c));
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
pub(super) fn seat(app: &App, caller: &Caller, extension: Uuid) -> Option<AgentDoc> {
    fetch(
        app,
        caller,
        projections::AGENTS,
        domain::ids::agent_id(extension),
    )
    .ok()
}

/// The seat the caller is signed in to.
pub(super) fn own_seat(app: &App, caller: &Caller) -> ApiResult<AgentDoc> {
    let seats: Vec<AgentDoc> = list(app, caller, projections::AGENTS, Some(caller.enterprise_id))?;
    seats
        .into_iter()
        .find(|s| s.account_id == Some(caller.account_id))
        .ok_or_else(|| ApiError::Conflict("not signed in".into()))
}
