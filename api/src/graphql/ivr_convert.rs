//! An IVR flow's definition from its GraphQL shape to the domain's `FlowDefinition` and back:
//! each field checked as it is read (a VALIDATION error names it), the flow as a whole checked
//! by the domain afterwards.

use async_graphql::ID;
use chrono::NaiveTime;
use domain::ivr::{
    AreaRule, CollectNode, FlowDefinition, HttpMethod, HttpNode, HttpOutput, IvrNode, IvrVariable,
    MenuNode, MenuOption, NodeAction, PromptItem, PromptSource, Reading, SystemVariable, TimeRule,
    TransferNode, TransferTarget,
};

use super::context::parse_id;
use super::ivr_types::*;
use crate::error::{ApiError, ApiResult};

fn count(field: &str, value: i32) -> ApiResult<u32> {
    u32::try_from(value).map_err(|_| ApiError::validation(field, "must not be negative"))
}

fn one_key(field: &str, value: &str) -> ApiResult<char> {
    let mut chars = value.trim().chars();
    match (chars.next(), chars.next()) {
        (Some(key), None) => Ok(key),
        _ => Err(ApiError::validation(field, "must be one key")),
    }
}

fn time_of_day(field: &str, value: &str) -> ApiResult<NaiveTime> {
    NaiveTime::parse_from_str(value.trim(), "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(value.trim(), "%H:%M:%S"))
        .map_err(|_| ApiError::validation(field, "must be a time of day such as 09:00"))
}

fn prompts_in(field: &str, items: Vec<PromptItemObject>) -> ApiResult<Vec<PromptItem>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("{field}.{i}");
            let missing = |what: &str| ApiError::validation(&at, format!("needs {what}"));
            let source = match item.kind {
                PromptKind::Recording => PromptSource::Recording {
                    voice_id: parse_id(
                        &format!("{at}.voiceId"),
                        item.voice_id.as_ref().ok_or_else(|| missing("voiceId"))?,
                    )?,
                },
                PromptKind::Text => PromptSource::Text {
                    text: item.text.ok_or_else(|| missing("text"))?,
                },
                PromptKind::IvrVariable => PromptSource::Variable {
                    name: item.variable.ok_or_else(|| missing("variable"))?,
                },
                PromptKind::SystemVariable => PromptSource::System {
                    variable: system_variable(
                        item.system_variable
                            .ok_or_else(|| missing("systemVariable"))?,
                    ),
                },
            };
            Ok(PromptItem {
                source,
                reading: match item.reading {
                    DigitReading::Digits => Reading::Digits,
                    DigitReading::Number => Reading::Number,
                },
                loops: count(&format!("{at}.loops"), item.loops)?,
            })
        })
        .collect()
}

fn system_variable(v: IvrSystemVariable) -> SystemVariable {
    match v {
        IvrSystemVariable::CallerNumber => SystemVariable::CallerNumber,
        IvrSystemVariable::CalledNumber => SystemVariable::CalledNumber,
        IvrSystemVariable::Date => SystemVariable::Date,
        IvrSystemVariable::Time => SystemVariable::Time,
        IvrSystemVariable::Weekday => SystemVariable::Weekday,
        IvrSystemVariable::QueuePosition => SystemVariable::QueuePosition,
        IvrSystemVariable::AgentNumber => SystemVariable::AgentNumber,
    }
}

fn system_variable_out(v: SystemVariable) -> IvrSystemVariable {
    match v {
        SystemVariable::CallerNumber => IvrSystemVariable::CallerNumber,
        SystemVariable::CalledNumber => IvrSystemVariable::CalledNumber,
        SystemVariable::Date => IvrSystemVariable::Date,
        SystemVariable::Time => IvrSystemVariable::Time,
        SystemVariable::Weekday => IvrSystemVariable::Weekday,
        SystemVariable::QueuePosition => IvrSystemVariable::QueuePosition,
        SystemVariable::AgentNumber => IvrSystemVariable::AgentNumber,
    }
}

/// The settings object a node of `kind` needs, or a validation error naming it.
fn settings<T>(key: &str, name: &str, value: Option<T>) -> ApiResult<T> {
    value.ok_or_else(|| {
        ApiError::validation(
            &format!("nodes.{key}.{name}"),
            format!("node '{key}' needs its {name} settings"),
        )
    })
}

impl IvrDefinition {
    /// The domain's definition; fails on a malformed field (the domain then checks the
    /// flow as a whole).
    pub fn into_domain(self) -> ApiResult<FlowDefinition> {
        let nodes = self
            .nodes
            .into_iter()
            .map(node_in)
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(FlowDefinition {
            entry: self.entry.trim().to_owned(),
            variables: self
                .variables
                .into_iter()
                .map(|v| IvrVariable {
                    name: v.name.trim().to_owned(),
                    description: v.description,
                })
                .collect(),
            nodes,
        })
    }

    /// The GraphQL shape of a domain definition.
    pub fn from_domain(definition: FlowDefinition) -> IvrDefinition {
        IvrDefinition {
            entry: definition.entry,
            variables: definition
                .variables
                .into_iter()
                .map(|v| IvrVariableObject {
                    name: v.name,
                    description: v.description,
                })
                .collect(),
            nodes: definition.nodes.into_iter().map(node_out).collect(),
        }
    }
}

fn node_in(node: IvrNodeObject) -> ApiResult<IvrNode> {
    let key = node.key.trim().to_owned();
    let f = |name: &str| format!("nodes.{key}.{name}");
    let action = match node.r#type {
        IvrNodeType::Playback => {
            let s = settings(&key, "playback", node.playback)?;
            NodeAction::Playback {
                prompts: prompts_in(&f("playback.prompts"), s.prompts)?,
                next: s.next,
            }
        }
        IvrNodeType::Menu => {
            let s = settings(&key, "menu", node.menu)?;
            NodeAction::Menu(MenuNode {
                prompts: prompts_in(&f("menu.prompts"), s.prompts)?,
                options: s
                    .options
                    .into_iter()
                    .map(|o| {
                        Ok(MenuOption {
                            key: one_key(&f("menu.options.key"), &o.key)?,
                            next: o.next,
                        })
                    })
                    .collect::<ApiResult<_>>()?,
                timeout_seconds: count(&f("menu.timeoutSeconds"), s.timeout_seconds)?,
                invalid_prompts: prompts_in(&f("menu.invalidPrompts"), s.invalid_prompts)?,
                max_attempts: count(&f("menu.maxAttempts"), s.max_attempts)?,
                fail_next: s.fail_next,
            })
        }
        IvrNodeType::Transfer => {
            let s = settings(&key, "transfer", node.transfer)?;
            let target_id = || {
                s.target_id
                    .as_ref()
                    .ok_or_else(|| ApiError::validation(&f("transfer.targetId"), "is required"))
                    .and_then(|id| parse_id(&f("transfer.targetId"), id))
            };
            let target = match s.target {
                TransferKind::Extension => TransferTarget::Extension {
                    extension_id: target_id()?,
                },
                TransferKind::Queue => TransferTarget::Queue {
                    queue_id: target_id()?,
                },
                TransferKind::Variable => TransferTarget::Variable {
                    name: s.variable.clone().ok_or_else(|| {
                        ApiError::validation(&f("transfer.variable"), "is required")
                    })?,
                },
            };
            NodeAction::Transfer(TransferNode {
                prompts: prompts_in(&f("transfer.prompts"), s.prompts)?,
                target,
                failure_prompts: prompts_in(&f("transfer.failurePrompts"), s.failure_prompts)?,
                failure_next: s.failure_next,
            })
        }
        IvrNodeType::TimeCondition => {
            let s = settings(&key, "timeCondition", node.time_condition)?;
            NodeAction::TimeCondition {
                rules: s
                    .rules
                    .into_iter()
                    .map(|r| {
                        Ok(TimeRule {
                            start: time_of_day(&f("timeCondition.rules.start"), &r.start)?,
                            end: time_of_day(&f("timeCondition.rules.end"), &r.end)?,
                            weekdays: r
                                .weekdays
                                .into_iter()
                                .map(|d| {
                                    u8::try_from(d).map_err(|_| {
                                        ApiError::validation(
                                            &f("timeCondition.rules.weekdays"),
                                            "are 1 to 7",
                                        )
                                    })
                                })
                                .collect::<ApiResult<_>>()?,
                            next: r.next,
                        })
                    })
                    .collect::<ApiResult<_>>()?,
                otherwise: s.otherwise,
            }
        }
        IvrNodeType::CallerArea => {
            let s = settings(&key, "callerArea", node.caller_area)?;
            NodeAction::CallerArea {
                rules: s
                    .rules
                    .into_iter()
                    .map(|r| AreaRule {
                        regions: r.regions,
                        next: r.next,
                    })
                    .collect(),
                otherwise: s.otherwise,
            }
        }
        IvrNodeType::Voicemail => {
            let s = settings(&key, "voicemail", node.voicemail)?;
            NodeAction::Voicemail {
                prompts: prompts_in(&f("voicemail.prompts"), s.prompts)?,
                max_seconds: count(&f("voicemail.maxSeconds"), s.max_seconds)?,
            }
        }
        IvrNodeType::CollectDigits => {
            let s = settings(&key, "collectDigits", node.collect_digits)?;
            NodeAction::CollectDigits(CollectNode {
                prompts: prompts_in(&f("collectDigits.prompts"), s.prompts)?,
                min_digits: count(&f("collectDigits.minDigits"), s.min_digits)?,
                max_digits: count(&f("collectDigits.maxDigits"), s.max_digits)?,
                terminator: s
                    .terminator
                    .filter(|t| !t.trim().is_empty())
                    .map(|t| one_key(&f("collectDigits.terminator"), &t))
                    .transpose()?,
                timeout_seconds: count(&f("collectDigits.timeoutSeconds"), s.timeout_seconds)?,
                variable: s.variable,
                next: s.next,
                fail_next: s.fail_next,
            })
        }
        IvrNodeType::Http => {
            let s = settings(&key, "http", node.http)?;
            NodeAction::Http(HttpNode {
                method: match s.method {
                    IvrHttpMethod::Get => HttpMethod::Get,
                    IvrHttpMethod::Post => HttpMethod::Post,
                },
                url: s.url,
                body: s.body,
                timeout_ms: count(&f("http.timeoutMs"), s.timeout_ms)?,
                outputs: s
                    .outputs
                    .into_iter()
                    .map(|o| HttpOutput {
                        field: o.field,
                        variable: o.variable,
                    })
                    .collect(),
                success_next: s.success_next,
                failure_next: s.failure_next,
            })
        }
        IvrNodeType::Hangup => {
            let s = settings(&key, "hangup", node.hangup)?;
            NodeAction::Hangup {
                prompts: prompts_in(&f("hangup.prompts"), s.prompts)?,
            }
        }
    };
    Ok(IvrNode {
        key,
        name: node.name,
        number: node.number,
        action,
    })
}

fn prompts_out(items: Vec<PromptItem>) -> Vec<PromptItemObject> {
    items
        .into_iter()
        .map(|item| {
            let mut out = PromptItemObject {
                kind: PromptKind::Text,
                voice_id: None,
                text: None,
                variable: None,
                system_variable: None,
                reading: match item.reading {
                    Reading::Digits => DigitReading::Digits,
                    Reading::Number => DigitReading::Number,
                },
                loops: i32::try_from(item.loops).unwrap_or(i32::MAX),
            };
            match item.source {
                PromptSource::Recording { voice_id } => {
                    out.kind = PromptKind::Recording;
                    out.voice_id = Some(ID(voice_id.to_string()));
                }
                PromptSource::Text { text } => out.text = Some(text),
                PromptSource::Variable { name } => {
                    out.kind = PromptKind::IvrVariable;
                    out.variable = Some(name);
                }
                PromptSource::System { variable } => {
                    out.kind = PromptKind::SystemVariable;
                    out.system_variable = Some(system_variable_out(variable));
                }
            }
            out
        })
        .collect()
}

fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn node_out(node: IvrNode) -> IvrNodeObject {
    let mut out = IvrNodeObject {
        key: node.key,
        name: node.name,
        number: node.number,
        r#type: IvrNodeType::Hangup,
        playback: None,
        menu: None,
        transfer: None,
        time_condition: None,
        caller_area: None,
        voicemail: None,
        collect_digits: None,
        http: None,
        hangup: None,
    };
    match node.action {
        NodeAction::Playback { prompts, next } => {
            out.r#type = IvrNodeType::Playback;
            out.playback = Some(PlaybackSettings {
                prompts: prompts_out(prompts),
                next,
            });
        }
        NodeAction::Menu(m) => {
            out.r#type = IvrNodeType::Menu;
            out.menu = Some(MenuSettings {
                prompts: prompts_out(m.prompts),
                options: m
                    .options
                    .into_iter()
                    .map(|o| MenuOptionObject {
                        key: o.key.to_string(),
                        next: o.next,
                    })
                    .collect(),
                timeout_seconds: int(m.timeout_seconds),
                invalid_prompts: prompts_out(m.invalid_prompts),
                max_attempts: int(m.max_attempts),
                fail_next: m.fail_next,
            });
        }
        NodeAction::Transfer(t) => {
            out.r#type = IvrNodeType::Transfer;
            let (target, target_id, variable) = match t.target {
                TransferTarget::Extension { extension_id } => (
                    TransferKind::Extension,
                    Some(ID(extension_id.to_string())),
                    None,
                ),
                TransferTarget::Queue { queue_id } => {
                    (TransferKind::Queue, Some(ID(queue_id.to_string())), None)
                }
                TransferTarget::Variable { name } => (TransferKind::Variable, None, Some(name)),
            };
            out.transfer = Some(TransferSettings {
                prompts: prompts_out(t.prompts),
                target,
                target_id,
                variable,
                failure_prompts: prompts_out(t.failure_prompts),
                failure_next: t.failure_next,
            });
        }
        NodeAction::TimeCondition { rules, otherwise } => {
            out.r#type = IvrNodeType::TimeCondition;
            out.time_condition = Some(TimeConditionSettings {
                rules: rules
                    .into_iter()
                    .map(|r| TimeRuleObject {
                        start: r.start.format("%H:%M").to_string(),
                        end: r.end.format("%H:%M").to_string(),
                        weekdays: r.weekdays.into_iter().map(i32::from).collect(),
                        next: r.next,
                    })
                    .collect(),
                otherwise,
            });
        }
        NodeAction::CallerArea { rules, otherwise } => {
            out.r#type = IvrNodeType::CallerArea;
            out.caller_area = Some(CallerAreaSettings {
                rules: rules
                    .into_iter()
                    .map(|r| AreaRuleObject {
                        regions: r.regions,
                        next: r.next,
                    })
                    .collect(),
                otherwise,
            });
        }
        NodeAction::Voicemail {
            prompts,
            max_seconds,
        } => {
            out.r#type = IvrNodeType::Voicemail;
            out.voicemail = Some(VoicemailSettings {
                prompts: prompts_out(prompts),
                max_seconds: int(max_seconds),
            });
        }
        NodeAction::CollectDigits(c) => {
            out.r#type = IvrNodeType::CollectDigits;
            out.collect_digits = Some(CollectDigitsSettings {
                prompts: prompts_out(c.prompts),
                min_digits: int(c.min_digits),
                max_digits: int(c.max_digits),
                terminator: c.terminator.map(String::from),
                timeout_seconds: int(c.timeout_seconds),
                variable: c.variable,
                next: c.next,
                fail_next: c.fail_next,
            });
        }
        NodeAction::Http(h) => {
            out.r#type = IvrNodeType::Http;
            out.http = Some(HttpSettings {
                method: match h.method {
                    HttpMethod::Get => IvrHttpMethod::Get,
                    HttpMethod::Post => IvrHttpMethod::Post,
                },
                url: h.url,
                body: h.body,
                timeout_ms: int(h.timeout_ms),
                outputs: h
                    .outputs
                    .into_iter()
                    .map(|o| HttpOutputObject {
                        field: o.field,
                        variable: o.variable,
                    })
                    .collect(),
                success_next: h.success_next,
                failure_next: h.failure_next,
            });
        }
        NodeAction::Hangup { prompts } => {
            out.hangup = Some(HangupSettings {
                prompts: prompts_out(prompts),
            });
        }
    }
    out
}
