//! The stored JSON of every event variant is a contract. This test prints one sample of each
//! variant as the log stores it (stamped with its schema version) and compares it with
//! `tests/golden/events.json`; a change of shape shows up as a diff. Every shape ever stored is
//! kept in `tests/golden/past_events.json` and must still read, through the upcasters of
//! `domain::schema`, as the current event. Regenerating (`UPDATE_GOLDEN=1`) moves the shapes
//! that are no longer current into the past file: it adds shapes and never drops one.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveTime, Utc};
use domain::account::{AccountEvent, AccountProfile, SessionEnd};
use domain::agent::{AgentEvent, Endpoint, WorkState};
use domain::announcement::{AnnouncementContent, AnnouncementEvent};
use domain::call::{CallEvent, Cause, Direction, Party, QueueOutcome, Side, SupervisorAction};
use domain::data_file::{DataFileEvent, FileJobKind, ImportCounts};
use domain::enterprise::EnterpriseEvent;
use domain::extension::{
    Binding, ExtensionEvent, ExtensionSettings, PopTiming, ScreenPop, UnbindReason,
};
use domain::ivr::{
    AreaRule, CollectNode, FlowDefinition, HttpMethod, HttpNode, HttpOutput, IvrFlowEvent, IvrNode,
    IvrVariable, MenuNode, MenuOption, NodeAction, PromptItem, PromptSource, Reading,
    SystemVariable, TimeRule, TransferNode, TransferTarget,
};
use domain::number::{NumberAssignment, NumberEvent};
use domain::queue::{DistributionRule, QueueEvent, QueueOverflow, QueueSettings};
use domain::role::RoleEvent;
use domain::route::{Destination, RouteEvent, RouteSettings};
use domain::trunk::{TrunkEvent, TrunkSettings};
use domain::voice::VoiceEvent;
use domain::{Permission, PermissionSetting};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// Index of each variant; the match is exhaustive, so a new variant must be added here.
fn enterprise_variant(e: &EnterpriseEvent) -> usize {
    match e {
        EnterpriseEvent::EnterpriseCreated { .. } => 0,
        EnterpriseEvent::EnterpriseUpdated { .. } => 1,
        EnterpriseEvent::EnterpriseDisabled { .. } => 2,
        EnterpriseEvent::EnterpriseEnabled { .. } => 3,
    }
}

fn account_variant(e: &AccountEvent) -> usize {
    match e {
        AccountEvent::AccountCreated { .. } => 0,
        AccountEvent::AccountUpdated { .. } => 1,
        AccountEvent::AccountPermissionsSet { .. } => 2,
        AccountEvent::AccountPasswordChanged { .. } => 3,
        AccountEvent::AccountDisabled { .. } => 4,
        AccountEvent::AccountEnabled { .. } => 5,
        AccountEvent::AccountDeleted { .. } => 6,
        AccountEvent::SessionOpened { .. } => 7,
        AccountEvent::SessionClosed { .. } => 8,
        AccountEvent::LoginFailed { .. } => 9,
    }
}

fn extension_variant(e: &ExtensionEvent) -> usize {
    match e {
        ExtensionEvent::ExtensionCreated { .. } => 0,
        ExtensionEvent::ExtensionUpdated { .. } => 1,
        ExtensionEvent::ExtensionDeleted { .. } => 2,
        ExtensionEvent::ExtensionRegistered { .. } => 3,
        ExtensionEvent::ExtensionUnregistered { .. } => 4,
        ExtensionEvent::SipPasswordRotated { .. } => 5,
    }
}

fn call_variant(e: &CallEvent) -> usize {
    match e {
        CallEvent::CallOffered { .. } => 0,
        CallEvent::CallRefused { .. } => 1,
        CallEvent::LegOffered { .. } => 2,
        CallEvent::LegRinging { .. } => 3,
        CallEvent::LegAnswered { .. } => 4,
        CallEvent::LegsBridged { .. } => 5,
        CallEvent::LegHeld { .. } => 6,
        CallEvent::LegResumed { .. } => 7,
        CallEvent::CallTransferred { .. } => 8,
        CallEvent::RecordingStarted { .. } => 9,
        CallEvent::RecordingStopped { .. } => 10,
        CallEvent::LegHungUp { .. } => 11,
        CallEvent::CallEnded { .. } => 12,
        CallEvent::DigitReceived { .. } => 13,
        CallEvent::IvrStarted { .. } => 14,
        CallEvent::IvrNodeEntered { .. } => 15,
        CallEvent::IvrVariableSet { .. } => 16,
        CallEvent::IvrBranchTaken { .. } => 17,
        CallEvent::PromptFailed { .. } => 18,
        CallEvent::VoicemailStarted { .. } => 19,
        CallEvent::VoicemailRecorded { .. } => 20,
        CallEvent::QueueEntered { .. } => 21,
        CallEvent::QueueFull { .. } => 22,
        CallEvent::QueueLeft { .. } => 23,
        CallEvent::SupervisorActed { .. } => 24,
        CallEvent::AgentAnnounced { .. } => 25,
    }
}

fn ivr_flow_variant(e: &IvrFlowEvent) -> usize {
    match e {
        IvrFlowEvent::IvrFlowCreated { .. } => 0,
        IvrFlowEvent::IvrFlowPublished { .. } => 1,
        IvrFlowEvent::IvrFlowDeleted { .. } => 2,
    }
}

fn voice_variant(e: &VoiceEvent) -> usize {
    match e {
        VoiceEvent::VoiceUploaded { .. } => 0,
        VoiceEvent::VoiceApproved { .. } => 1,
        VoiceEvent::VoiceRejected { .. } => 2,
        VoiceEvent::VoiceDeleted { .. } => 3,
    }
}

fn data_file_variant(e: &DataFileEvent) -> usize {
    match e {
        DataFileEvent::DataFileUploaded { .. } => 0,
        DataFileEvent::FileJobRequested { .. } => 1,
        DataFileEvent::FileJobClaimed { .. } => 2,
        DataFileEvent::FileJobLeaseRenewed { .. } => 3,
        DataFileEvent::FileJobFinished { .. } => 4,
        DataFileEvent::FileJobFailed { .. } => 5,
        DataFileEvent::DataFileDeleted { .. } => 6,
    }
}

/// One node of every type, every prompt source and transfer target.
fn every_node() -> FlowDefinition {
    let prompt = |source| PromptItem {
        source,
        reading: Reading::Digits,
        loops: 2,
    };
    let prompts = vec![
        prompt(PromptSource::Recording { voice_id: id(7) }),
        prompt(PromptSource::Text {
            text: "欢迎致电".into(),
        }),
        prompt(PromptSource::Variable {
            name: "member".into(),
        }),
        PromptItem {
            reading: Reading::Number,
            ..prompt(PromptSource::System {
                variable: SystemVariable::CallerNumber,
            })
        },
    ];
    let node = |key: &str, action| IvrNode {
        key: key.into(),
        name: format!("{key} 节点"),
        number: "01".into(),
        action,
    };
    let time = |h| NaiveTime::from_hms_opt(h, 30, 0).expect("a valid time");
    FlowDefinition {
        entry: "welcome".into(),
        variables: vec![IvrVariable {
            name: "member".into(),
            description: "会员号".into(),
        }],
        nodes: vec![
            node(
                "welcome",
                NodeAction::Playback {
                    prompts: prompts.clone(),
                    next: Some("menu".into()),
                },
            ),
            node(
                "menu",
                NodeAction::Menu(MenuNode {
                    prompts: prompts.clone(),
                    options: vec![MenuOption {
                        key: '1',
                        next: "collect".into(),
                    }],
                    timeout_seconds: 5,
                    invalid_prompts: prompts.clone(),
                    max_attempts: 3,
                    fail_next: None,
                }),
            ),
            node(
                "collect",
                NodeAction::CollectDigits(CollectNode {
                    prompts: prompts.clone(),
                    min_digits: 4,
                    max_digits: 8,
                    terminator: Some('#'),
                    timeout_seconds: 5,
                    variable: "member".into(),
                    next: Some("http".into()),
                    fail_next: Some("bye".into()),
                }),
            ),
            node(
                "http",
                NodeAction::Http(HttpNode {
                    method: HttpMethod::Post,
                    url: "http://crm.example/find?m=${member}".into(),
                    body: "{\"caller\":\"${caller_number}\"}".into(),
                    timeout_ms: 2_000,
                    outputs: vec![HttpOutput {
                        field: "data.level".into(),
                        variable: "member".into(),
                    }],
                    success_next: Some("hours".into()),
                    failure_next: None,
                }),
            ),
            node(
                "hours",
                NodeAction::TimeCondition {
                    rules: vec![TimeRule {
                        start: time(9),
                        end: time(18),
                        weekdays: vec![1, 2, 3, 4, 5],
                        next: "area".into(),
                    }],
                    otherwise: Some("voicemail".into()),
                },
            ),
            node(
                "area",
                NodeAction::CallerArea {
                    rules: vec![AreaRule {
                        regions: vec!["广东省".into()],
                        next: "transfer".into(),
                    }],
                    otherwise: Some("transfer".into()),
                },
            ),
            node(
                "transfer",
                NodeAction::Transfer(TransferNode {
                    prompts: prompts.clone(),
                    target: TransferTarget::Extension {
                        extension_id: id(3),
                    },
                    failure_prompts: prompts.clone(),
                    failure_next: Some("queue".into()),
                }),
            ),
            node(
                "queue",
                NodeAction::Transfer(TransferNode {
                    prompts: vec![],
                    target: TransferTarget::Queue { queue_id: id(4) },
                    failure_prompts: vec![],
                    failure_next: Some("by_variable".into()),
                }),
            ),
            node(
                "by_variable",
                NodeAction::Transfer(TransferNode {
                    prompts: vec![],
                    target: TransferTarget::Variable {
                        name: "member".into(),
                    },
                    failure_prompts: vec![],
                    failure_next: None,
                }),
            ),
            node(
                "voicemail",
                NodeAction::Voicemail {
                    prompts: prompts.clone(),
                    max_seconds: 120,
                },
            ),
            node("bye", NodeAction::Hangup { prompts }),
        ],
    }
}

fn queue_variant(e: &QueueEvent) -> usize {
    match e {
        QueueEvent::QueueCreated { .. } => 0,
        QueueEvent::QueueUpdated { .. } => 1,
        QueueEvent::QueueMembersSet { .. } => 2,
        QueueEvent::QueueDeleted { .. } => 3,
    }
}

fn agent_variant(e: &AgentEvent) -> usize {
    match e {
        AgentEvent::AgentSignedIn { .. } => 0,
        AgentEvent::AgentSignedOut { .. } => 1,
        AgentEvent::AgentStateChanged { .. } => 2,
        AgentEvent::AgentOffered { .. } => 3,
        AgentEvent::AgentAnswered { .. } => 4,
        AgentEvent::AgentMissed { .. } => 5,
        AgentEvent::AgentOfferWithdrawn { .. } => 6,
        AgentEvent::AgentCallEnded { .. } => 7,
        AgentEvent::AgentWrapUpEnded { .. } => 8,
        AgentEvent::AgentDialledOut { .. } => 9,
        AgentEvent::AgentJoinedCall { .. } => 10,
    }
}

fn trunk_variant(e: &TrunkEvent) -> usize {
    match e {
        TrunkEvent::TrunkCreated { .. } => 0,
        TrunkEvent::TrunkUpdated { .. } => 1,
        TrunkEvent::TrunkDeleted { .. } => 2,
    }
}

fn number_variant(e: &NumberEvent) -> usize {
    match e {
        NumberEvent::NumberAssigned { .. } => 0,
        NumberEvent::NumberReassigned { .. } => 1,
        NumberEvent::NumberReleased { .. } => 2,
    }
}

fn route_variant(e: &RouteEvent) -> usize {
    match e {
        RouteEvent::RouteCreated { .. } => 0,
        RouteEvent::RouteUpdated { .. } => 1,
        RouteEvent::RouteEnabled { .. } => 2,
        RouteEvent::RoutePaused { .. } => 3,
        RouteEvent::RouteDeleted { .. } => 4,
    }
}

fn role_variant(e: &RoleEvent) -> usize {
    match e {
        RoleEvent::RoleCreated { .. } => 0,
        RoleEvent::RoleUpdated { .. } => 1,
        RoleEvent::RoleDeleted { .. } => 2,
    }
}

fn announcement_variant(e: &AnnouncementEvent) -> usize {
    match e {
        AnnouncementEvent::AnnouncementPublished { .. } => 0,
        AnnouncementEvent::AnnouncementEdited { .. } => 1,
        AnnouncementEvent::AnnouncementDeleted { .. } => 2,
    }
}

fn profile() -> AccountProfile {
    AccountProfile {
        name: "张三".into(),
        agent_number: "1001".into(),
        role_id: Some(id(3)),
    }
}

fn content() -> AnnouncementContent {
    AnnouncementContent {
        title: "放假通知".into(),
        body: "十一放假七天".into(),
        targets: BTreeSet::from([id(4), id(5)]),
    }
}

/// Checks coverage and round trip, and returns the samples as JSON values.
fn samples<E: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    events: Vec<E>,
    variant: fn(&E) -> usize,
    count: usize,
) -> Vec<serde_json::Value> {
    let covered: BTreeSet<usize> = events.iter().map(variant).collect();
    assert_eq!(
        covered,
        (0..count).collect(),
        "every variant needs a golden sample"
    );
    events
        .iter()
        .map(|e| {
            let value = serde_json::to_value(e).expect("events serialize");
            let back: E = serde_json::from_value(value.clone()).expect("stored JSON reads back");
            assert_eq!(&back, e, "round trip changed the event");
            value
        })
        .collect()
}

#[test]
fn stored_json_of_every_event_variant_matches_the_golden_file() {
    let mut all = BTreeMap::new();
    all.insert(
        "enterprise",
        samples(
            vec![
                EnterpriseEvent::EnterpriseCreated {
                    code: "acme".into(),
                    name: "Acme".into(),
                    time_zone: "Asia/Shanghai".into(),
                    platform: false,
                    at: at(),
                },
                EnterpriseEvent::EnterpriseUpdated {
                    name: "Acme 2".into(),
                    time_zone: "Asia/Urumqi".into(),
                    at: at(),
                },
                EnterpriseEvent::EnterpriseDisabled { at: at() },
                EnterpriseEvent::EnterpriseEnabled { at: at() },
            ],
            enterprise_variant,
            4,
        ),
    );
    all.insert(
        "account",
        samples(
            vec![
                AccountEvent::AccountCreated {
                    enterprise_id: id(1),
                    account: "zhang".into(),
                    profile: profile(),
                    permissions: PermissionSetting::FollowRole,
                    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                    operator: false,
                    first_admin: false,
                    at: at(),
                },
                AccountEvent::AccountUpdated {
                    profile: profile(),
                    at: at(),
                },
                AccountEvent::AccountPermissionsSet {
                    permissions: PermissionSetting::Custom {
                        permissions: BTreeSet::from([
                            Permission::QueuesRead,
                            Permission::AgentWorkstation,
                        ]),
                    },
                    at: at(),
                },
                AccountEvent::AccountPasswordChanged {
                    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                    at: at(),
                },
                AccountEvent::AccountDisabled { at: at() },
                AccountEvent::AccountEnabled { at: at() },
                AccountEvent::AccountDeleted { at: at() },
                AccountEvent::SessionOpened {
                    session_id: id(6),
                    token_hash: "ab".repeat(32),
                    expires_at: at(),
                    at: at(),
                },
                AccountEvent::SessionClosed {
                    session_id: id(6),
                    reason: SessionEnd::AccountDisabled,
                    at: at(),
                },
                AccountEvent::LoginFailed {
                    source: "192.0.2.1".into(),
                    at: at(),
                },
            ],
            account_variant,
            10,
        ),
    );
    all.insert(
        "extension",
        samples(
            vec![
                ExtensionEvent::ExtensionCreated {
                    enterprise_id: id(1),
                    number: "1001".into(),
                    sip_password: "Kq3vX9tLm2Pz8RwA".into(),
                    at: at(),
                },
                ExtensionEvent::ExtensionUpdated {
                    settings: ExtensionSettings {
                        manual_outbound: true,
                        caller_id: "02161234567".into(),
                        sign_in_accounts: BTreeSet::from([id(7)]),
                        bound_number: "013800138000".into(),
                        forward_when_offline: true,
                        screen_pop: ScreenPop {
                            mode: "url".into(),
                            url: "https://crm.example/pop?caller={caller}".into(),
                            timing: PopTiming::Answered,
                        },
                    },
                    at: at(),
                },
                ExtensionEvent::ExtensionDeleted { at: at() },
                ExtensionEvent::ExtensionRegistered {
                    binding: Binding {
                        contact: "<sip:1001@192.0.2.10:5062>".into(),
                        expires_at: at(),
                        source: "192.0.2.10:5062".into(),
                        transport: "udp".into(),
                        user_agent: "Yealink T46U".into(),
                    },
                    at: at(),
                },
                ExtensionEvent::ExtensionUnregistered {
                    contact: "<sip:1001@192.0.2.10:5062>".into(),
                    reason: UnbindReason::Expired,
                    at: at(),
                },
                ExtensionEvent::SipPasswordRotated {
                    sip_password: "Xq7bN2kLm9Pr4tVw".into(),
                    at: at(),
                },
                ExtensionEvent::ExtensionUnregistered {
                    contact: "<sip:1001@192.0.2.10:5062>".into(),
                    reason: UnbindReason::PasswordRotated,
                    at: at(),
                },
            ],
            extension_variant,
            6,
        ),
    );
    let caller = Party::External {
        number: "+8613800138000".into(),
    };
    let agent = Party::Extension {
        extension_id: id(3),
        number: "1001".into(),
    };
    all.insert(
        "call",
        samples(
            vec![
                CallEvent::CallOffered {
                    enterprise_id: id(1),
                    direction: Direction::Inbound,
                    caller: caller.clone(),
                    called: "+862161234567".into(),
                    route_id: Some(id(2)),
                    at: at(),
                },
                CallEvent::CallRefused {
                    enterprise_id: id(1),
                    direction: Direction::Outbound,
                    caller: agent.clone(),
                    called: "+8613900139000".into(),
                    route_id: None,
                    cause: Cause::Rejected(603),
                    at: at(),
                },
                CallEvent::LegOffered {
                    leg: "b".into(),
                    party: agent,
                    caller_id: "+8613800138000".into(),
                    forwarded: false,
                    at: at(),
                },
                CallEvent::LegRinging {
                    leg: "b".into(),
                    at: at(),
                },
                CallEvent::LegAnswered {
                    leg: "b".into(),
                    at: at(),
                },
                CallEvent::LegsBridged {
                    leg: "a".into(),
                    other: "b".into(),
                    at: at(),
                },
                CallEvent::LegHeld {
                    leg: "a".into(),
                    at: at(),
                },
                CallEvent::LegResumed {
                    leg: "a".into(),
                    at: at(),
                },
                CallEvent::CallTransferred {
                    by_leg: "b".into(),
                    target: "extension:1002".into(),
                    at: at(),
                },
                CallEvent::DigitReceived {
                    leg: "a".into(),
                    key: '5',
                    at: at(),
                },
                CallEvent::RecordingStarted {
                    file: "recordings/2026/01/02/call.wav".into(),
                    at: at(),
                },
                CallEvent::RecordingStopped {
                    file: "recordings/2026/01/02/call.wav".into(),
                    duration_ms: Some(61_500),
                    at: at(),
                },
                CallEvent::LegHungUp {
                    leg: "b".into(),
                    side: Side::Callee,
                    cause: Cause::RouteLimitReached,
                    at: at(),
                },
                CallEvent::CallEnded {
                    cause: Cause::NodeRestart,
                    at: at(),
                },
                CallEvent::IvrStarted {
                    flow_id: id(5),
                    version: 3,
                    at: at(),
                },
                CallEvent::IvrNodeEntered {
                    node: "menu".into(),
                    node_type: "menu".into(),
                    at: at(),
                },
                CallEvent::IvrVariableSet {
                    name: "member".into(),
                    value: "2026".into(),
                    at: at(),
                },
                CallEvent::IvrBranchTaken {
                    node: "menu".into(),
                    branch: "key 1".into(),
                    at: at(),
                },
                CallEvent::PromptFailed {
                    reason: "espeak-ng is not installed".into(),
                    at: at(),
                },
                CallEvent::VoicemailStarted {
                    enterprise_id: id(1),
                    caller: "+8613800138000".into(),
                    called: "+862161234567".into(),
                    route_id: Some(id(2)),
                    file: "voicemail/2026/01/02/call.wav".into(),
                    at: at(),
                },
                CallEvent::VoicemailRecorded {
                    file: "voicemail/2026/01/02/call.wav".into(),
                    duration_ms: Some(12_000),
                    at: at(),
                },
                CallEvent::QueueEntered {
                    queue_id: id(4),
                    caller: "+8613800138000".into(),
                    at: at(),
                },
                CallEvent::QueueFull {
                    queue_id: id(4),
                    at: at(),
                },
                CallEvent::QueueLeft {
                    queue_id: id(4),
                    outcome: QueueOutcome::Answered,
                    agent: Some(id(3)),
                    at: at(),
                },
                CallEvent::SupervisorActed {
                    supervisor: id(2),
                    action: SupervisorAction::TakeOver,
                    at: at(),
                },
                CallEvent::AgentAnnounced {
                    number: "1001".into(),
                    at: at(),
                },
            ],
            call_variant,
            26,
        ),
    );
    all.insert(
        "ivr_flow",
        samples(
            vec![
                IvrFlowEvent::IvrFlowCreated {
                    enterprise_id: id(1),
                    name: "总机导航".into(),
                    at: at(),
                },
                IvrFlowEvent::IvrFlowPublished {
                    version: 1,
                    name: "总机导航".into(),
                    definition: every_node(),
                    warnings: vec!["node 'x' (x) cannot be reached from the entry node".into()],
                    at: at(),
                },
                IvrFlowEvent::IvrFlowDeleted { at: at() },
            ],
            ivr_flow_variant,
            3,
        ),
    );
    let queue = QueueSettings {
        name: "售后".into(),
        max_waiting: 10,
        hold_music: Some(id(7)),
        waiting_prompt: Some(id(8)),
        prompt_interval_seconds: 30,
        rule: DistributionRule::RoundRobin,
        web_auto_answer: true,
        announce_agent_number: true,
        excluded_states: BTreeSet::from([WorkState::Break, WorkState::Away]),
        queue_timeout_seconds: 60,
        overflow: QueueOverflow::Flow { flow_id: id(5) },
        agent_ring_timeout_seconds: 20,
        max_missed_offers: 3,
        screen_pop: "https://crm.example/pop?caller={caller}".into(),
        wrap_up_seconds: 10,
    };
    all.insert(
        "queue",
        samples(
            vec![
                QueueEvent::QueueCreated {
                    enterprise_id: id(1),
                    settings: queue.clone(),
                    at: at(),
                },
                QueueEvent::QueueUpdated {
                    settings: QueueSettings {
                        overflow: QueueOverflow::Message { voice_id: id(9) },
                        ..queue.clone()
                    },
                    at: at(),
                },
                QueueEvent::QueueMembersSet {
                    members: vec![id(3), id(6)],
                    at: at(),
                },
                QueueEvent::QueueDeleted { at: at() },
            ],
            queue_variant,
            4,
        ),
    );
    all.insert(
        "agent",
        samples(
            vec![
                AgentEvent::AgentSignedIn {
                    extension_id: id(3),
                    enterprise_id: id(1),
                    account_id: id(2),
                    endpoint: Endpoint::SipPhone,
                    at: at(),
                },
                AgentEvent::AgentSignedOut {
                    account_id: id(2),
                    at: at(),
                },
                AgentEvent::AgentStateChanged {
                    state: WorkState::Break,
                    reason: Some("3 offers missed in a row".into()),
                    at: at(),
                },
                AgentEvent::AgentOffered {
                    call_id: id(10),
                    queue_id: id(4),
                    at: at(),
                },
                AgentEvent::AgentAnswered {
                    call_id: id(10),
                    at: at(),
                },
                AgentEvent::AgentMissed {
                    call_id: id(10),
                    at: at(),
                },
                AgentEvent::AgentOfferWithdrawn {
                    call_id: id(10),
                    at: at(),
                },
                AgentEvent::AgentCallEnded {
                    call_id: id(10),
                    wrap_up_until: Some(at() + chrono::Duration::seconds(15)),
                    at: at(),
                },
                AgentEvent::AgentWrapUpEnded { at: at() },
                AgentEvent::AgentDialledOut {
                    call_id: id(11),
                    at: at(),
                },
                AgentEvent::AgentJoinedCall {
                    call_id: id(12),
                    at: at(),
                },
            ],
            agent_variant,
            11,
        ),
    );
    all.insert(
        "voice",
        samples(
            vec![
                VoiceEvent::VoiceUploaded {
                    enterprise_id: id(1),
                    name: "欢迎语".into(),
                    file: "voices/1/7.wav".into(),
                    duration_ms: 2_500,
                    size_bytes: 40_044,
                    at: at(),
                },
                VoiceEvent::VoiceApproved { at: at() },
                VoiceEvent::VoiceRejected {
                    reason: "噪音太大".into(),
                    at: at(),
                },
                VoiceEvent::VoiceDeleted { at: at() },
            ],
            voice_variant,
            4,
        ),
    );
    let trunk = TrunkSettings {
        name: "Carrier A".into(),
        host: "192.0.2.1".into(),
        port: 5060,
        transport: "udp".into(),
        username: "acct".into(),
        password: "secret".into(),
        allowed_sources: vec!["192.0.2.2".into()],
    };
    all.insert(
        "trunk",
        samples(
            vec![
                TrunkEvent::TrunkCreated {
                    settings: trunk.clone(),
                    at: at(),
                },
                TrunkEvent::TrunkUpdated {
                    settings: trunk,
                    at: at(),
                },
                TrunkEvent::TrunkDeleted { at: at() },
            ],
            trunk_variant,
            3,
        ),
    );
    let assignment = NumberAssignment {
        enterprise_id: id(1),
        trunk_id: id(2),
        caller_id: true,
    };
    all.insert(
        "number",
        samples(
            vec![
                NumberEvent::NumberAssigned {
                    number: "+862161234567".into(),
                    assignment: assignment.clone(),
                    at: at(),
                },
                NumberEvent::NumberReassigned {
                    assignment,
                    at: at(),
                },
                NumberEvent::NumberReleased { at: at() },
            ],
            number_variant,
            3,
        ),
    );
    let route = RouteSettings {
        destination: Destination::Extension {
            extension_id: id(3),
        },
        max_concurrent: 10,
        priority: 5,
        remark: "总机".into(),
    };
    all.insert(
        "route",
        samples(
            vec![
                RouteEvent::RouteCreated {
                    enterprise_id: id(1),
                    name: "总机".into(),
                    entry: "+862161234567".into(),
                    settings: route.clone(),
                    at: at(),
                },
                RouteEvent::RouteUpdated {
                    settings: RouteSettings {
                        destination: Destination::Queue { queue_id: id(4) },
                        ..route.clone()
                    },
                    at: at(),
                },
                RouteEvent::RouteEnabled { at: at() },
                RouteEvent::RoutePaused { at: at() },
                RouteEvent::RouteDeleted { at: at() },
            ],
            route_variant,
            5,
        ),
    );
    all.insert(
        "role",
        samples(
            vec![
                RoleEvent::RoleCreated {
                    enterprise_id: id(1),
                    name: "坐席".into(),
                    permissions: BTreeSet::from([Permission::AgentWorkstation]),
                    at: at(),
                },
                RoleEvent::RoleUpdated {
                    name: "班长".into(),
                    permissions: BTreeSet::from([Permission::SupervisorMonitor]),
                    at: at(),
                },
                RoleEvent::RoleDeleted { at: at() },
            ],
            role_variant,
            3,
        ),
    );
    all.insert(
        "announcement",
        samples(
            vec![
                AnnouncementEvent::AnnouncementPublished {
                    enterprise_id: id(1),
                    content: content(),
                    at: at(),
                },
                AnnouncementEvent::AnnouncementEdited {
                    content: content(),
                    at: at(),
                },
                AnnouncementEvent::AnnouncementDeleted { at: at() },
            ],
            announcement_variant,
            3,
        ),
    );
    all.insert(
        "data_file",
        samples(
            vec![
                DataFileEvent::DataFileUploaded {
                    enterprise_id: id(1),
                    name: "客户名单".into(),
                    file: "files/1/20.xlsx".into(),
                    size_bytes: 10_240,
                    rows: 100,
                    columns: vec!["号码".into(), "姓名".into()],
                    creator: "admin".into(),
                    at: at(),
                },
                DataFileEvent::FileJobRequested {
                    enterprise_id: id(1),
                    name: "导入结果".into(),
                    kind: FileJobKind::Import,
                    source: "import.check".into(),
                    params: serde_json::json!({ "job": "import", "target": "check" }),
                    restartable: false,
                    creator: "admin".into(),
                    at: at(),
                },
                DataFileEvent::FileJobClaimed {
                    node: id(21),
                    attempt: 1,
                    lease_until: at(),
                    at: at(),
                },
                DataFileEvent::FileJobLeaseRenewed { lease_until: at() },
                DataFileEvent::FileJobFinished {
                    file: "files/1/22-rejected.xlsx".into(),
                    size_bytes: 4_096,
                    rows: 1,
                    counts: Some(ImportCounts {
                        imported: 90,
                        skipped: 9,
                        rejected: 1,
                    }),
                    at: at(),
                },
                DataFileEvent::FileJobFailed {
                    reason: "the uploaded file was deleted".into(),
                    at: at(),
                },
                DataFileEvent::DataFileDeleted { at: at() },
            ],
            data_file_variant,
            7,
        ),
    );
    for (stream_type, shapes) in all.iter_mut() {
        for shape in shapes.iter_mut() {
            let event_type = shape["type"].as_str().unwrap_or_default().to_owned();
            domain::schema::stamp(stream_type, &event_type, shape);
        }
    }
    let text = serde_json::to_string_pretty(&all).expect("values serialize") + "\n";
    let golden_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let path = golden_dir.join("events.json");
    let past_path = golden_dir.join("past_events.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let mut past = shapes_in(&past_path);
        for (stream_type, shapes) in shapes_in(&path) {
            for shape in shapes {
                let current = all
                    .get(stream_type.as_str())
                    .is_some_and(|c| c.contains(&shape));
                let entry = past.entry(stream_type.clone()).or_default();
                if !current && !entry.contains(&shape) {
                    entry.push(shape);
                }
            }
        }
        let past_text = serde_json::to_string_pretty(&past).expect("values serialize") + "\n";
        std::fs::write(&past_path, past_text).expect("golden files are writable");
        std::fs::write(&path, &text).expect("golden files are writable");
    }
    let golden = std::fs::read_to_string(&path)
        .expect("tests/golden/events.json exists (run once with UPDATE_GOLDEN=1)");
    assert_eq!(
        golden, text,
        "stored event JSON changed; add an upcaster in domain::schema, then UPDATE_GOLDEN=1"
    );
}

/// The shapes of a golden file, by stream type.
fn shapes_in(path: &std::path::Path) -> BTreeMap<String, Vec<serde_json::Value>> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Reads a stored payload of `stream_type` as the log's readers do: upcast, then decoded as
/// the stream's current events.
fn read_as_current(stream_type: &str, shape: &serde_json::Value) -> Result<(), String> {
    let event_type = shape["type"].as_str().unwrap_or_default();
    let stored = shape.to_string();
    let text = domain::schema::upcast(stream_type, event_type, &stored)
        .map_err(|e| e.to_string())?
        .unwrap_or(stored);
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let current = domain::schema::current_version(stream_type, event_type);
    if value[domain::schema::VERSION_FIELD].as_u64().unwrap_or(1) != current {
        return Err(format!("read as version {}, not {current}", value["v"]));
    }
    fn check<E: DeserializeOwned>(text: &str) -> Result<(), String> {
        serde_json::from_str::<E>(text)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    match stream_type {
        "enterprise" => check::<EnterpriseEvent>(&text),
        "account" => check::<AccountEvent>(&text),
        "extension" => check::<ExtensionEvent>(&text),
        "call" => check::<CallEvent>(&text),
        "ivr_flow" => check::<IvrFlowEvent>(&text),
        "queue" => check::<QueueEvent>(&text),
        "agent" => check::<AgentEvent>(&text),
        "voice" => check::<VoiceEvent>(&text),
        "trunk" => check::<TrunkEvent>(&text),
        "number" => check::<NumberEvent>(&text),
        "route" => check::<RouteEvent>(&text),
        "role" => check::<RoleEvent>(&text),
        "announcement" => check::<AnnouncementEvent>(&text),
        "data_file" => check::<DataFileEvent>(&text),
        other => Err(format!("no events of stream type {other}")),
    }
}

#[test]
fn every_shape_ever_stored_reads_as_the_current_event() {
    let golden_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let past = shapes_in(&golden_dir.join("past_events.json"));
    let current = shapes_in(&golden_dir.join("events.json"));
    assert!(
        past.values().map(Vec::len).sum::<usize>() >= 4,
        "the past shapes are kept"
    );
    let mut failures = Vec::new();
    for (stream_type, shapes) in past.iter().chain(&current) {
        for shape in shapes {
            if let Err(e) = read_as_current(stream_type, shape) {
                failures.push(format!("{stream_type} {shape}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "shapes that no longer read:\n{}",
        failures.join("\n")
    );
}
