//! One IVR step, pure interpretation (`domain::policy::ivr`): the goal is under 5 µs.
//!
//! `cargo bench -p benches --bench ivr`

use chrono::{NaiveDate, NaiveDateTime};
use criterion::{criterion_main, BatchSize, Criterion};
use domain::ivr::{
    CollectNode, FlowDefinition, HttpMethod, HttpNode, HttpOutput, IvrNode, IvrVariable, MenuNode,
    MenuOption, NodeAction, PromptItem, PromptSource, Reading,
};
use domain::policy::ivr::{CallFacts, IvrInput, IvrRun};

fn text(text: &str) -> PromptItem {
    PromptItem {
        source: PromptSource::Text { text: text.into() },
        reading: Reading::Number,
        loops: 1,
    }
}

fn node(key: &str, action: NodeAction) -> IvrNode {
    IvrNode {
        key: key.into(),
        name: key.into(),
        number: String::new(),
        action,
    }
}

/// A menu with ten keys, digit collection, an HTTP look-up and a playback reading a variable.
fn flow() -> FlowDefinition {
    let variable = |name: &str| IvrVariable {
        name: name.into(),
        description: String::new(),
    };
    FlowDefinition {
        entry: "menu".into(),
        variables: vec![variable("member"), variable("level")],
        nodes: vec![
            node(
                "menu",
                NodeAction::Menu(MenuNode {
                    prompts: vec![text("查询请按1，留言请按2"), text("人工服务请按0")],
                    options: "0123456789"
                        .chars()
                        .map(|key| MenuOption {
                            key,
                            next: "collect".into(),
                        })
                        .collect(),
                    timeout_seconds: 5,
                    invalid_prompts: vec![text("输入有误")],
                    max_attempts: 3,
                    fail_next: Some("bye".into()),
                }),
            ),
            node(
                "collect",
                NodeAction::CollectDigits(CollectNode {
                    prompts: vec![text("请输入会员号，以井号结束")],
                    min_digits: 4,
                    max_digits: 12,
                    terminator: Some('#'),
                    timeout_seconds: 5,
                    variable: "member".into(),
                    next: Some("lookup".into()),
                    fail_next: Some("bye".into()),
                }),
            ),
            node(
                "lookup",
                NodeAction::Http(HttpNode {
                    method: HttpMethod::Get,
                    url: "http://crm.example/member?id=${member}&from=${caller_number}".into(),
                    body: String::new(),
                    timeout_ms: 2_000,
                    outputs: vec![HttpOutput {
                        field: "data.level".into(),
                        variable: "level".into(),
                    }],
                    success_next: Some("tell".into()),
                    failure_next: Some("bye".into()),
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
                    next: Some("bye".into()),
                },
            ),
            node(
                "bye",
                NodeAction::Hangup {
                    prompts: vec![text("再见")],
                },
            ),
        ],
    }
}

fn now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 12, 1)
        .and_then(|d| d.and_hms_opt(10, 30, 0))
        .unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let flow = flow();
    let call = CallFacts {
        caller_number: "013800138000".into(),
        called_number: "02161230000".into(),
        caller_region: Some("北京市".into()),
    };
    let (in_menu, _) = IvrRun::start(&flow, &call, now());
    let mut collecting = in_menu.clone();
    collecting.step(&flow, &call, now(), IvrInput::Digit('1'));
    let mut waiting_http = collecting.clone();
    for key in "2026#".chars() {
        waiting_http.step(&flow, &call, now(), IvrInput::Digit(key));
    }
    let answer = serde_json::json!({"data": {"level": 42}});
    let mut group = c.benchmark_group("ivr_step");
    group.bench_function("enter the flow (menu prompts)", |b| {
        b.iter(|| IvrRun::start(&flow, &call, now()))
    });
    group.bench_function("menu key → collection node", |b| {
        b.iter_batched(
            || in_menu.clone(),
            |mut run| run.step(&flow, &call, now(), IvrInput::Digit('1')),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("collected digit", |b| {
        b.iter_batched(
            || collecting.clone(),
            |mut run| run.step(&flow, &call, now(), IvrInput::Digit('7')),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("HTTP answer → variable → playback", |b| {
        b.iter_batched(
            || (waiting_http.clone(), answer.clone()),
            |(mut run, body)| {
                run.step(
                    &flow,
                    &call,
                    now(),
                    IvrInput::HttpAnswered {
                        status: 200,
                        body: Some(body),
                    },
                )
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

// The macro generates an undocumented function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(ivr, super::bench);
}
criterion_main!(group::ivr);
