//! The flow aggregate and the checks of a flow, given/when/then, with the sample flow the
//! interpreter tests walk.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveTime, Utc};
use uuid::Uuid;

use super::*;
use crate::testing::given;

pub(crate) fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

pub(crate) fn text(text: &str) -> PromptItem {
    PromptItem {
        source: PromptSource::Text { text: text.into() },
        reading: Reading::Number,
        loops: 1,
    }
}

pub(crate) fn node(key: &str, action: NodeAction) -> IvrNode {
    IvrNode {
        key: key.into(),
        name: format!("{key} node"),
        number: String::new(),
        action,
    }
}

pub(crate) const WELCOME_VOICE: Uuid = Uuid::from_u128(0x77);

/// The flow of the acceptance scenario: welcome, a menu, digit collection, an HTTP look-up,
/// a transfer to the extension the look-up names, and voicemail.
pub(crate) fn sample_flow() -> FlowDefinition {
    FlowDefinition {
        entry: "welcome".into(),
        variables: vec![
            IvrVariable {
                name: "member".into(),
                description: "会员号".into(),
            },
            IvrVariable {
                name: "level".into(),
                description: "会员等级".into(),
            },
            IvrVariable {
                name: "target_ext".into(),
                description: "专属坐席分机".into(),
            },
        ],
        nodes: vec![
            node(
                "welcome",
                NodeAction::Playback {
                    prompts: vec![PromptItem {
                        source: PromptSource::Recording {
                            voice_id: WELCOME_VOICE,
                        },
                        reading: Reading::Digits,
                        loops: 1,
                    }],
                    next: Some("menu".into()),
                },
            ),
            node(
                "menu",
                NodeAction::Menu(MenuNode {
                    prompts: vec![text("查询请按1，留言请按2")],
                    options: vec![
                        MenuOption {
                            key: '1',
                            next: "collect".into(),
                        },
                        MenuOption {
                            key: '2',
                            next: "voicemail".into(),
                        },
                    ],
                    timeout_seconds: 5,
                    invalid_prompts: vec![text("输入有误")],
                    max_attempts: 3,
                    fail_next: Some("goodbye".into()),
                }),
            ),
            node(
                "collect",
                NodeAction::CollectDigits(CollectNode {
                    prompts: vec![text("请输入会员号，以井号结束")],
                    min_digits: 4,
                    max_digits: 8,
                    terminator: Some('#'),
                    timeout_seconds: 5,
                    variable: "member".into(),
                    next: Some("lookup".into()),
                    fail_next: Some("goodbye".into()),
                }),
            ),
            node(
                "lookup",
                NodeAction::Http(HttpNode {
                    method: HttpMethod::Get,
                    url: "http://127.0.0.1:9/member?id=${member}&from=${caller_number}".into(),
                    body: String::new(),
                    timeout_ms: 2_000,
                    outputs: vec![
                        HttpOutput {
                            field: "data.level".into(),
                            variable: "level".into(),
                        },
                        HttpOutput {
                            field: "data.agent".into(),
                            variable: "target_ext".into(),
                        },
                    ],
                    success_next: Some("tell".into()),
                    failure_next: Some("goodbye".into()),
                }),
            ),
            node(
                "tell",
                NodeAction::Playback {
                    prompts: vec![
                        text("您的等级是"),
                        PromptItem {
                            source: PromptSource::Variable {
                                name: "level".into(),
                            },
                            reading: Reading::Digits,
                            loops: 1,
                        },
                    ],
                    next: Some("transfer".into()),
                },
            ),
            node(
                "transfer",
                NodeAction::Transfer(TransferNode {
                    prompts: vec![text("正在为您转接")],
                    target: TransferTarget::Variable {
                        name: "target_ext".into(),
                    },
                    failure_prompts: vec![text("转接失败")],
                    failure_next: Some("voicemail".into()),
                }),
            ),
            node(
                "voicemail",
                NodeAction::Voicemail {
                    prompts: vec![text("请在提示音后留言")],
                    max_seconds: 120,
                },
            ),
            node(
                "goodbye",
                NodeAction::Hangup {
                    prompts: vec![text("再见")],
                },
            ),
        ],
    }
}

pub(crate) fn lookups() -> FlowLookups {
    FlowLookups {
        voices: BTreeMap::from([(
            WELCOME_VOICE,
            KnownVoice {
                name: "welcome".into(),
                approved: true,
            },
        )]),
        extensions: BTreeSet::new(),
        queues: BTreeSet::new(),
    }
}

fn with_node(mut flow: FlowDefinition, replaced: IvrNode) -> FlowDefinition {
    match flow.nodes.iter_mut().find(|n| n.key == replaced.key) {
        Some(n) => *n = replaced,
        None => flow.nodes.push(replaced),
    }
    flow
}

fn field_error(flow: &FlowDefinition, lookups: &FlowLookups) -> FieldError {
    match validate_flow(flow, lookups) {
        Ok(warnings) => panic!("expected a failure, got warnings {warnings:?}"),
        Err(error) => error,
    }
}

#[test]
fn the_sample_flow_is_valid_without_warnings() {
    assert_eq!(validate_flow(&sample_flow(), &lookups()), Ok(vec![]));
}

#[test]
fn a_jump_to_a_missing_node_is_refused_naming_the_node() {
    let mut flow = sample_flow();
    if let Some(NodeAction::Menu(menu)) = flow
        .nodes
        .iter_mut()
        .find(|n| n.key == "menu")
        .map(|n| &mut n.action)
    {
        menu.options[0].next = "nowhere".into();
    }
    let error = field_error(&flow, &lookups());
    assert_eq!(error.field, "nodes.menu");
    assert_eq!(
        error.message,
        "node 'menu' (menu node): key 1 jumps to 'nowhere', which does not exist"
    );
}

#[test]
fn a_flow_without_its_entry_is_refused() {
    let flow = FlowDefinition {
        entry: String::new(),
        ..sample_flow()
    };
    assert_eq!(field_error(&flow, &lookups()).field, "entry");
    let flow = FlowDefinition {
        entry: "gone".into(),
        ..sample_flow()
    };
    let error = field_error(&flow, &lookups());
    assert_eq!(
        (error.field.as_str(), error.message.as_str()),
        ("entry", "the entry node 'gone' does not exist")
    );
}

#[test]
fn an_unreachable_node_is_a_warning() {
    let flow = with_node(
        sample_flow(),
        node(
            "orphan",
            NodeAction::Hangup {
                prompts: vec![text("不会播放")],
            },
        ),
    );
    assert_eq!(
        validate_flow(&flow, &lookups()),
        Ok(vec![
            "node 'orphan' (orphan node) cannot be reached from the entry node".to_owned()
        ])
    );
}

#[test]
fn a_loop_without_prompt_or_input_is_refused() {
    let rule = |next: &str| TimeRule {
        start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
        end: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default(),
        weekdays: vec![1, 2, 3, 4, 5],
        next: next.into(),
    };
    let flow = FlowDefinition {
        entry: "hours".into(),
        variables: vec![],
        nodes: vec![
            node(
                "hours",
                NodeAction::TimeCondition {
                    rules: vec![rule("area")],
                    otherwise: Some("bye".into()),
                },
            ),
            node(
                "area",
                NodeAction::CallerArea {
                    rules: vec![AreaRule {
                        regions: vec!["广东省".into()],
                        next: "hours".into(),
                    }],
                    otherwise: Some("bye".into()),
                },
            ),
            node("bye", NodeAction::Hangup { prompts: vec![] }),
        ],
    };
    let error = field_error(&flow, &lookups());
    assert_eq!(error.field, "nodes.area");
    assert!(
        error
            .message
            .contains("loops back through area → hours without a prompt or an input"),
        "{}",
        error.message
    );
    // A menu in the loop makes it a loop the caller drives: allowed.
    let menu = node(
        "hours",
        NodeAction::Menu(MenuNode {
            prompts: vec![],
            options: vec![MenuOption {
                key: '1',
                next: "area".into(),
            }],
            timeout_seconds: 5,
            invalid_prompts: vec![],
            max_attempts: 2,
            fail_next: Some("bye".into()),
        }),
    );
    assert!(validate_flow(&with_node(flow, menu), &lookups()).is_ok());
}

#[test]
fn a_recording_that_is_not_approved_is_refused() {
    let mut lookups = lookups();
    lookups.voices.insert(
        WELCOME_VOICE,
        KnownVoice {
            name: "welcome".into(),
            approved: false,
        },
    );
    let error = field_error(&sample_flow(), &lookups);
    assert_eq!(
        error.message,
        "node 'welcome' (welcome node): prompts: item 1: recording 'welcome' is not approved"
    );
    let error = field_error(&sample_flow(), &FlowLookups::default());
    assert!(
        error.message.contains("does not exist"),
        "{}",
        error.message
    );
}

#[test]
fn variables_are_declared_and_well_named() {
    let mut flow = sample_flow();
    flow.variables.retain(|v| v.name != "member");
    let error = field_error(&flow, &lookups());
    assert_eq!(error.field, "nodes.collect");
    assert!(error.message.contains("variable 'member' is not declared"));
    let mut flow = sample_flow();
    flow.variables.push(IvrVariable {
        name: "bad-name".into(),
        description: String::new(),
    });
    assert_eq!(field_error(&flow, &lookups()).field, "variables");
    let mut flow = sample_flow();
    flow.variables.push(IvrVariable {
        name: "caller_number".into(),
        description: String::new(),
    });
    assert!(field_error(&flow, &lookups())
        .message
        .contains("system variable"));
}

#[test]
fn an_http_template_names_only_known_variables() {
    let mut flow = sample_flow();
    if let Some(NodeAction::Http(http)) = flow
        .nodes
        .iter_mut()
        .find(|n| n.key == "lookup")
        .map(|n| &mut n.action)
    {
        http.url = "http://crm.example/${unknown".into();
    }
    assert!(field_error(&flow, &lookups())
        .message
        .contains("is not closed"));
}

#[test]
fn a_flow_is_created_then_published_in_versions() {
    let flow_id_events = vec![IvrFlowEvent::IvrFlowCreated {
        enterprise_id: Uuid::from_u128(1),
        name: "总机导航".into(),
        at: at(),
    }];
    given::<IvrFlow>(vec![])
        .when(IvrFlowCommand::Create {
            enterprise_id: Uuid::from_u128(1),
            name: " 总机导航 ".into(),
            name_taken: false,
            at: at(),
        })
        .then(flow_id_events.clone());
    let publish = || IvrFlowCommand::Publish {
        name: "总机导航".into(),
        definition: sample_flow(),
        lookups: lookups(),
        name_taken: false,
        at: at(),
    };
    let published = |version| IvrFlowEvent::IvrFlowPublished {
        version,
        name: "总机导航".into(),
        definition: sample_flow(),
        warnings: vec![],
        at: at(),
    };
    given::<IvrFlow>(flow_id_events.clone())
        .when(publish())
        .then(vec![published(1)]);
    let mut history = flow_id_events;
    history.push(published(1));
    given::<IvrFlow>(history)
        .when(publish())
        .then(vec![published(2)]);
}

#[test]
fn a_broken_flow_is_not_published_and_a_used_flow_not_deleted() {
    let created = IvrFlowEvent::IvrFlowCreated {
        enterprise_id: Uuid::from_u128(1),
        name: "总机导航".into(),
        at: at(),
    };
    let broken = FlowDefinition {
        entry: "gone".into(),
        ..sample_flow()
    };
    given::<IvrFlow>(vec![created.clone()])
        .when(IvrFlowCommand::Publish {
            name: "总机导航".into(),
            definition: broken,
            lookups: lookups(),
            name_taken: false,
            at: at(),
        })
        .then_err(IvrFlowError::Invalid(FieldError::new(
            "entry",
            "the entry node 'gone' does not exist",
        )));
    given::<IvrFlow>(vec![created.clone()])
        .when(IvrFlowCommand::Delete {
            used_by: vec!["总机".into()],
            at: at(),
        })
        .then_err(IvrFlowError::InUse(vec!["总机".into()]));
    given::<IvrFlow>(vec![created])
        .when(IvrFlowCommand::Delete {
            used_by: vec![],
            at: at(),
        })
        .then(vec![IvrFlowEvent::IvrFlowDeleted { at: at() }]);
}
