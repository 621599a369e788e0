//! The interpreter stepped by hand through the sample flow, time conditions on a fixed clock,
//! caller areas, and property tests over random inputs and unchecked flows.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use super::*;
use crate::ivr::tests::{node, sample_flow, text, WELCOME_VOICE};
use crate::ivr::{AreaRule, PromptSource, Reading, SystemVariable, TimeRule};

/// Tuesday 2026-12-01, 10:30 in the enterprise's time zone.
fn tuesday_morning() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 12, 1)
        .and_then(|d| d.and_hms_opt(10, 30, 0))
        .unwrap_or_default()
}

fn caller() -> CallFacts {
    CallFacts {
        caller_number: "013800138000".into(),
        called_number: "02161230000".into(),
        caller_region: Some("广东省深圳市".into()),
    }
}

fn entered(node: &str, node_type: &str) -> IvrFact {
    IvrFact::NodeEntered {
        node: node.into(),
        node_type: node_type.into(),
    }
}

fn branch(node: &str, branch: &str) -> IvrFact {
    IvrFact::BranchTaken {
        node: node.into(),
        branch: branch.into(),
    }
}

fn say(text: &str) -> Utterance {
    Utterance::Speech { text: text.into() }
}

fn play(items: Vec<Utterance>, interruptible: bool) -> IvrAction {
    IvrAction::Play {
        items,
        interruptible,
        background: false,
    }
}

/// Steps `run` with each input and returns the last step.
fn walk(run: &mut IvrRun, flow: &FlowDefinition, inputs: Vec<IvrInput>) -> IvrStep {
    let mut last = IvrStep::default();
    for input in inputs {
        last = run.step(flow, &caller(), tuesday_morning(), input);
    }
    last
}

#[test]
fn the_sample_flow_walks_from_welcome_to_the_transfer() {
    let flow = sample_flow();
    let (mut run, step) = IvrRun::start(&flow, &caller(), tuesday_morning());
    assert_eq!(
        step,
        IvrStep {
            facts: vec![entered("welcome", "playback")],
            actions: vec![play(
                vec![Utterance::Recording {
                    voice_id: WELCOME_VOICE
                }],
                false
            )],
        }
    );
    // A key during the welcome is ignored.
    assert_eq!(
        run.step(&flow, &caller(), tuesday_morning(), IvrInput::Digit('1')),
        IvrStep::default()
    );
    let step = run.step(
        &flow,
        &caller(),
        tuesday_morning(),
        IvrInput::PlaybackFinished,
    );
    assert_eq!(step.facts, vec![entered("menu", "menu")]);
    assert_eq!(
        step.actions,
        vec![play(vec![say("查询请按1，留言请按2")], true)]
    );
    // A wrong key: the invalid-key prompt, then the menu again.
    let step = run.step(&flow, &caller(), tuesday_morning(), IvrInput::Digit('9'));
    assert_eq!(step.facts, vec![branch("menu", "invalid key 9")]);
    assert_eq!(
        step.actions,
        vec![
            IvrAction::StopPlayback,
            play(vec![say("输入有误"), say("查询请按1，留言请按2")], true)
        ]
    );
    // The prompts end: the menu waits 5 s for a key; the right key goes on.
    let step = run.step(
        &flow,
        &caller(),
        tuesday_morning(),
        IvrInput::PlaybackFinished,
    );
    assert_eq!(step.actions, vec![IvrAction::StartTimer { seconds: 5 }]);
    let step = run.step(&flow, &caller(), tuesday_morning(), IvrInput::Digit('1'));
    assert_eq!(
        step.facts,
        vec![
            branch("menu", "key 1"),
            entered("collect", "collect_digits")
        ]
    );
    // Digits interrupt the prompt; # ends them.
    let step = walk(
        &mut run,
        &flow,
        vec![
            IvrInput::Digit('2'),
            IvrInput::Digit('0'),
            IvrInput::Digit('2'),
            IvrInput::Digit('6'),
        ],
    );
    assert_eq!(step.actions, vec![IvrAction::StartTimer { seconds: 5 }]);
    let step = run.step(&flow, &caller(), tuesday_morning(), IvrInput::Digit('#'));
    assert_eq!(
        step.facts,
        vec![
            IvrFact::VariableSet {
                name: "member".into(),
                value: "2026".into()
            },
            branch("collect", "collected"),
            entered("lookup", "http"),
        ]
    );
    assert_eq!(
        step.actions,
        vec![IvrAction::Http {
            method: HttpMethod::Get,
            url: "http://127.0.0.1:9/member?id=2026&from=013800138000".into(),
            body: String::new(),
            timeout_ms: 2_000,
        }]
    );
    // The answer fills two variables and the level is read digit by digit.
    let step = run.step(
        &flow,
        &caller(),
        tuesday_morning(),
        IvrInput::HttpAnswered {
            status: 200,
            body: Some(serde_json::json!({"data": {"level": 42, "agent": "1001"}})),
        },
    );
    assert_eq!(
        step.facts,
        vec![
            IvrFact::VariableSet {
                name: "level".into(),
                value: "42".into()
            },
            IvrFact::VariableSet {
                name: "target_ext".into(),
                value: "1001".into()
            },
            branch("lookup", "success"),
            entered("tell", "playback"),
        ]
    );
    assert_eq!(
        step.actions,
        vec![play(vec![say("您的等级是"), say("4 2")], false)]
    );
    let step = run.step(
        &flow,
        &caller(),
        tuesday_morning(),
        IvrInput::PlaybackFinished,
    );
    assert_eq!(step.facts, vec![entered("transfer", "transfer")]);
    assert_eq!(
        step.actions,
        vec![
            IvrAction::Play {
                items: vec![say("正在为您转接")],
                interruptible: false,
                background: true
            },
            IvrAction::Transfer(TransferTo::ExtensionNumber("1001".into()))
        ]
    );
    let step = run.step(
        &flow,
        &caller(),
        tuesday_morning(),
        IvrInput::TransferConnected,
    );
    assert_eq!(step.facts, vec![branch("transfer", "connected")]);
    assert!(run.is_done());
    assert_eq!(run.variable("member"), Some("2026"));
}

#[test]
fn a_failed_transfer_plays_its_prompt_then_goes_to_voicemail() {
    let flow = sample_flow();
    let (mut run, _) = IvrRun::start(&flow, &caller(), tuesday_morning());
    walk(
        &mut run,
        &flow,
        vec![
            IvrInput::PlaybackFinished,
            IvrInput::Digit('1'),
            IvrInput::Digit('1'),
            IvrInput::Digit('2'),
            IvrInput::Digit('3'),
            IvrInput::Digit('4'),
            IvrInput::Digit('#'),
            IvrInput::HttpAnswered {
                status: 200,
                body: Some(serde_json::json!({"data": {"level": "gold", "agent": "1009"}})),
            },
            IvrInput::PlaybackFinished,
        ],
    );
    let step = run.step(
        &flow,
        &caller(),
        tuesday_morning(),
        IvrInput::TransferFailed {
            reason: "busy".into(),
        },
    );
    assert_eq!(step.facts, vec![branch("transfer", "failed: busy")]);
    assert_eq!(step.actions, vec![play(vec![say("转接失败")], false)]);
    let step = run.step(
        &flow,
        &caller(),
        tuesday_morning(),
        IvrInput::PlaybackFinished,
    );
    assert_eq!(step.facts, vec![entered("voicemail", "voicemail")]);
    let step = run.step(
        &flow,
        &caller(),
        tuesday_morning(),
        IvrInput::PlaybackFinished,
    );
    assert_eq!(
        step.actions,
        vec![
            IvrAction::RecordVoicemail { max_seconds: 120 },
            IvrAction::StartTimer { seconds: 120 }
        ]
    );
    let step = run.step(&flow, &caller(), tuesday_morning(), IvrInput::Timeout);
    assert_eq!(step.actions, vec![IvrAction::Hangup]);
}

#[test]
fn too_many_timeouts_leave_the_menu_for_its_fail_node() {
    let flow = sample_flow();
    let (mut run, _) = IvrRun::start(&flow, &caller(), tuesday_morning());
    walk(&mut run, &flow, vec![IvrInput::PlaybackFinished]);
    let mut facts = Vec::new();
    for _ in 0..3 {
        facts.extend(walk(&mut run, &flow, vec![IvrInput::PlaybackFinished]).facts);
        facts.extend(walk(&mut run, &flow, vec![IvrInput::Timeout]).facts);
    }
    assert_eq!(
        facts,
        vec![
            branch("menu", "timeout"),
            branch("menu", "timeout"),
            branch("menu", "timeout, too many attempts"),
            entered("goodbye", "hangup"),
        ]
    );
    let step = walk(&mut run, &flow, vec![IvrInput::PlaybackFinished]);
    assert_eq!(step.actions, vec![IvrAction::Hangup]);
    assert!(run.is_done());
}

#[test]
fn too_few_digits_and_a_failed_lookup_go_to_their_fail_nodes() {
    let flow = sample_flow();
    let (mut run, _) = IvrRun::start(&flow, &caller(), tuesday_morning());
    let step = walk(
        &mut run,
        &flow,
        vec![
            IvrInput::PlaybackFinished,
            IvrInput::Digit('1'),
            IvrInput::Digit('5'),
            IvrInput::Timeout,
        ],
    );
    assert_eq!(
        step.facts,
        vec![
            branch("collect", "too few digits (1)"),
            entered("goodbye", "hangup")
        ]
    );
    let (mut run, _) = IvrRun::start(&flow, &caller(), tuesday_morning());
    let step = walk(
        &mut run,
        &flow,
        vec![
            IvrInput::PlaybackFinished,
            IvrInput::Digit('1'),
            IvrInput::Digit('1'),
            IvrInput::Digit('2'),
            IvrInput::Digit('3'),
            IvrInput::Digit('4'),
            IvrInput::Digit('5'),
            IvrInput::Digit('6'),
            IvrInput::Digit('7'),
            IvrInput::Digit('8'), // the eighth digit ends the input
            IvrInput::HttpAnswered {
                status: 503,
                body: None,
            },
        ],
    );
    assert_eq!(run.variable("member"), Some("12345678"));
    assert_eq!(
        step.facts,
        vec![
            branch("lookup", "failure: status 503"),
            entered("goodbye", "hangup")
        ]
    );
}

fn hours_flow() -> FlowDefinition {
    let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default();
    FlowDefinition {
        entry: "hours".into(),
        variables: vec![],
        nodes: vec![
            node(
                "hours",
                NodeAction::TimeCondition {
                    rules: vec![
                        TimeRule {
                            start: at(9, 0),
                            end: at(12, 0),
                            weekdays: vec![1, 2, 3, 4, 5],
                            next: "morning".into(),
                        },
                        TimeRule {
                            start: at(22, 0),
                            end: at(6, 0),
                            weekdays: vec![1, 2, 3, 4, 5, 6, 7],
                            next: "night".into(),
                        },
                    ],
                    otherwise: Some("closed".into()),
                },
            ),
            node(
                "morning",
                NodeAction::Hangup {
                    prompts: vec![text("上午好")],
                },
            ),
            node(
                "night",
                NodeAction::Hangup {
                    prompts: vec![text("夜间服务")],
                },
            ),
            node(
                "closed",
                NodeAction::Hangup {
                    prompts: vec![text("下班了")],
                },
            ),
        ],
    }
}

#[test]
fn time_conditions_follow_the_first_rule_that_holds() {
    let flow = hours_flow();
    let day = |y, m, d, h, min| {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(h, min, 0))
            .unwrap_or_default()
    };
    let cases = [
        (day(2026, 12, 1, 10, 30), "rule 1", "morning"), // Tuesday morning
        (day(2026, 12, 1, 9, 0), "rule 1", "morning"),   // the start is inside
        (day(2026, 12, 1, 12, 0), "otherwise", "closed"), // the end is not
        (day(2026, 12, 5, 10, 30), "otherwise", "closed"), // Saturday
        (day(2026, 12, 5, 23, 15), "rule 2", "night"),   // across midnight
        (day(2026, 12, 6, 5, 59), "rule 2", "night"),
        (day(2026, 12, 6, 6, 0), "otherwise", "closed"),
    ];
    for (now, rule, target) in cases {
        let (_, step) = IvrRun::start(&flow, &caller(), now);
        assert_eq!(
            step.facts,
            vec![
                entered("hours", "time_condition"),
                branch("hours", rule),
                entered(target, "hangup")
            ],
            "at {now}"
        );
    }
}

fn area_flow() -> FlowDefinition {
    FlowDefinition {
        entry: "area".into(),
        variables: vec![],
        nodes: vec![
            node(
                "area",
                NodeAction::CallerArea {
                    rules: vec![
                        AreaRule {
                            regions: vec!["北京市".into(), "上海市".into()],
                            next: "north_east".into(),
                        },
                        AreaRule {
                            regions: vec!["广东省".into()],
                            next: "south".into(),
                        },
                    ],
                    otherwise: Some("elsewhere".into()),
                },
            ),
            node("north_east", NodeAction::Hangup { prompts: vec![] }),
            node("south", NodeAction::Hangup { prompts: vec![] }),
            node("elsewhere", NodeAction::Hangup { prompts: vec![] }),
        ],
    }
}

#[test]
fn caller_area_rules_match_provinces_and_cities() {
    let flow = area_flow();
    for (region, rule, target) in [
        (Some("广东省深圳市"), "rule 2", "south"),
        (Some("北京市"), "rule 1", "north_east"),
        (Some("四川省成都市"), "otherwise", "elsewhere"),
        (None, "otherwise", "elsewhere"),
    ] {
        let call = CallFacts {
            caller_region: region.map(str::to_owned),
            ..caller()
        };
        let (run, step) = IvrRun::start(&flow, &call, tuesday_morning());
        assert_eq!(
            step.facts,
            vec![
                entered("area", "caller_area"),
                branch("area", rule),
                entered(target, "hangup")
            ],
            "{region:?}"
        );
        assert_eq!(step.actions, vec![IvrAction::Hangup]);
        assert!(run.is_done());
    }
}

#[test]
fn system_variables_read_the_call_and_the_clock() {
    let flow = FlowDefinition {
        entry: "say".into(),
        variables: vec![],
        nodes: vec![node(
            "say",
            NodeAction::Hangup {
                prompts: [
                    SystemVariable::CallerNumber,
                    SystemVariable::Date,
                    SystemVariable::Time,
                    SystemVariable::Weekday,
                    SystemVariable::QueuePosition,
                ]
                .into_iter()
                .map(|variable| PromptItem {
                    source: PromptSource::System { variable },
                    reading: Reading::Number,
                    loops: 1,
                })
                .collect(),
            },
        )],
    };
    let (_, step) = IvrRun::start(&flow, &caller(), tuesday_morning());
    assert_eq!(
        step.actions,
        vec![play(
            vec![
                say("013800138000"),
                say("2026年12月1日"),
                say("10点30分"),
                say("星期二"),
            ],
            false
        )]
    );
}

#[test]
fn templates_are_filled_and_escaped() {
    let run = IvrRun {
        node: String::new(),
        waiting: Waiting::Done,
        variables: [("name".to_owned(), "张 \"三\"&".to_owned())].into(),
        attempts: 0,
        digits: String::new(),
    };
    let http = HttpNode {
        method: HttpMethod::Post,
        url: "http://crm/find?n=${name}&c=${caller_number}".into(),
        body: r#"{"name":"${name}"}"#.into(),
        timeout_ms: 500,
        outputs: vec![],
        success_next: None,
        failure_next: None,
    };
    let action = run.request(&http, &caller(), tuesday_morning());
    assert_eq!(
        action,
        IvrAction::Http {
            method: HttpMethod::Post,
            url: "http://crm/find?n=%E5%BC%A0%20%22%E4%B8%89%22%26&c=013800138000".into(),
            body: r#"{"name":"张 \"三\"&"}"#.into(),
            timeout_ms: 500,
        }
    );
    assert_eq!(spaced_digits("工号1001号"), "工号1 0 0 1号");
    let value = serde_json::json!({"items": [{"name": "a"}, {"name": null}]});
    assert_eq!(field(&value, "items.0.name").as_deref(), Some("a"));
    assert_eq!(field(&value, "items.1.name").as_deref(), Some(""));
    assert_eq!(field(&value, "items.7.name"), None);
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::ivr::{CollectNode, IvrNode, MenuNode, MenuOption};

    fn input() -> impl Strategy<Value = IvrInput> {
        prop_oneof![
            Just(IvrInput::PlaybackFinished),
            prop::sample::select(vec!['0', '1', '2', '5', '9', '*', '#']).prop_map(IvrInput::Digit),
            Just(IvrInput::Timeout),
            (100u16..600, any::<bool>()).prop_map(|(status, json)| IvrInput::HttpAnswered {
                status,
                body: json.then(|| serde_json::json!({"data": {"level": 3, "agent": "1001"}})),
            }),
            Just(IvrInput::HttpFailed {
                reason: "timeout".into()
            }),
            Just(IvrInput::TransferConnected),
            Just(IvrInput::TransferFailed {
                reason: "busy".into()
            }),
        ]
    }

    /// A flow that skipped validation: any node type, jumps to any key, missing ones included.
    fn unchecked_flow() -> impl Strategy<Value = FlowDefinition> {
        let key = prop::sample::select(vec!["n0", "n1", "n2", "n3", "gone"]);
        let jump = prop::option::of(key.clone().prop_map(str::to_owned));
        let action = prop_oneof![
            jump.clone().prop_map(|next| NodeAction::Playback {
                prompts: vec![],
                next
            }),
            (key.clone(), jump.clone(), 0u32..3).prop_map(|(next, fail_next, max_attempts)| {
                NodeAction::Menu(MenuNode {
                    prompts: vec![text("菜单")],
                    options: vec![MenuOption {
                        key: '1',
                        next: next.to_owned(),
                    }],
                    timeout_seconds: 1,
                    invalid_prompts: vec![],
                    max_attempts,
                    fail_next,
                })
            }),
            (jump.clone(), jump.clone(), 0u32..4, 0u32..4).prop_map(
                |(next, fail_next, min, max)| {
                    NodeAction::CollectDigits(CollectNode {
                        prompts: vec![],
                        min_digits: min,
                        max_digits: max,
                        terminator: Some('#'),
                        timeout_seconds: 1,
                        variable: "v".into(),
                        next,
                        fail_next,
                    })
                }
            ),
            jump.clone().prop_map(|otherwise| NodeAction::CallerArea {
                rules: vec![],
                otherwise
            }),
            Just(NodeAction::Hangup { prompts: vec![] }),
        ];
        (prop::collection::vec(action, 1..4), key).prop_map(|(actions, entry)| FlowDefinition {
            entry: entry.to_owned(),
            variables: vec![],
            nodes: actions
                .into_iter()
                .enumerate()
                .map(|(i, action)| IvrNode {
                    key: format!("n{i}"),
                    name: format!("n{i}"),
                    number: String::new(),
                    action,
                })
                .collect(),
        })
    }

    proptest! {
        #[test]
        fn any_input_on_the_sample_flow_is_taken_without_panic(
            inputs in prop::collection::vec(input(), 0..60)
        ) {
            let flow = sample_flow();
            let (mut run, _) = IvrRun::start(&flow, &caller(), tuesday_morning());
            for input in inputs {
                let step = run.step(&flow, &caller(), tuesday_morning(), input);
                // Once over, the run stays over and does nothing more.
                if run.is_done() {
                    prop_assert!(run.step(&flow, &caller(), tuesday_morning(), IvrInput::Timeout)
                        == IvrStep::default());
                }
                prop_assert!(step.facts.len() <= 3 * (MAX_JUMPS_PER_STEP + 1));
            }
        }

        #[test]
        fn an_unchecked_flow_never_spins_or_panics(
            flow in unchecked_flow(),
            inputs in prop::collection::vec(input(), 0..30)
        ) {
            let (mut run, step) = IvrRun::start(&flow, &caller(), tuesday_morning());
            prop_assert!(step.facts.len() <= 3 * (MAX_JUMPS_PER_STEP + 1));
            for input in inputs {
                let step = run.step(&flow, &caller(), tuesday_morning(), input);
                prop_assert!(step.facts.len() <= 3 * (MAX_JUMPS_PER_STEP + 1));
            }
        }
    }
}

#[test]
fn a_variable_holds_at_most_its_length_of_an_answer() {
    let flow = sample_flow();
    let (mut run, _) = IvrRun::start(&flow, &caller(), tuesday_morning());
    walk(
        &mut run,
        &flow,
        vec![
            IvrInput::PlaybackFinished,
            IvrInput::PlaybackFinished,
            IvrInput::Digit('1'),
            IvrInput::Digit('2'),
            IvrInput::Digit('0'),
            IvrInput::Digit('2'),
            IvrInput::Digit('6'),
            IvrInput::Digit('#'),
        ],
    );
    let long = "9".repeat(MAX_VARIABLE_CHARS * 4);
    let step = run.step(
        &flow,
        &caller(),
        tuesday_morning(),
        IvrInput::HttpAnswered {
            status: 200,
            body: Some(serde_json::json!({"data": {"level": long, "agent": "1001"}})),
        },
    );
    let IvrFact::VariableSet { name, value } = &step.facts[0] else {
        panic!("{:?}", step.facts);
    };
    assert_eq!(name, "level");
    assert_eq!(value.chars().count(), MAX_VARIABLE_CHARS);
    assert_eq!(
        run.variable("level").map(str::len),
        Some(MAX_VARIABLE_CHARS)
    );
}
