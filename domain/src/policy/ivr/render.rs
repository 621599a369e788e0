//! What a flow says and sends: prompt lists resolved to utterances (loops unrolled, variables
//! read, digits spaced for TTS), system variables as they read, and the templates of HTTP
//! nodes filled with variables (URL-encoded in URLs, JSON-escaped in bodies).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDateTime, Timelike};

use super::step::{CallFacts, IvrAction, Utterance};
use crate::ivr::{validation::placeholders, PromptItem, PromptSource, Reading, SystemVariable};

pub(super) fn play(items: Vec<Utterance>, interruptible: bool) -> IvrAction {
    IvrAction::Play {
        items,
        interruptible,
        background: false,
    }
}

/// The text a system variable reads as.
pub(super) fn system_value(
    variable: SystemVariable,
    call: &CallFacts,
    now: NaiveDateTime,
) -> String {
    const WEEKDAYS: [&str; 7] = ["一", "二", "三", "四", "五", "六", "日"];
    match variable {
        SystemVariable::CallerNumber => call.caller_number.clone(),
        SystemVariable::CalledNumber => call.called_number.clone(),
        SystemVariable::Date => format!("{}年{}月{}日", now.year(), now.month(), now.day()),
        SystemVariable::Time => format!("{}点{}分", now.hour(), now.minute()),
        SystemVariable::Weekday => format!(
            "星期{}",
            WEEKDAYS[now.weekday().num_days_from_monday() as usize % 7]
        ),
        SystemVariable::QueuePosition | SystemVariable::AgentNumber => String::new(),
    }
}

/// The prompt list resolved: loops unrolled, variables read, digits spaced when read one by
/// one. Empty texts are left out.
pub(super) fn utterances(
    prompts: &[PromptItem],
    variables: &BTreeMap<String, String>,
    call: &CallFacts,
    now: NaiveDateTime,
) -> Vec<Utterance> {
    let mut items = Vec::new();
    for item in prompts {
        let utterance = match &item.source {
            PromptSource::Recording { voice_id } => Utterance::Recording {
                voice_id: *voice_id,
            },
            PromptSource::Text { text } => speech(text, item.reading),
            PromptSource::Variable { name } => {
                speech(&value(variables, name, call, now), item.reading)
            }
            PromptSource::System { variable } => {
                speech(&system_value(*variable, call, now), item.reading)
            }
        };
        if matches!(&utterance, Utterance::Speech { text } if text.trim().is_empty()) {
            continue;
        }
        for _ in 0..item.loops.max(1) {
            items.push(utterance.clone());
        }
    }
    items
}

pub(super) fn speech(text: &str, reading: Reading) -> Utterance {
    let text = match reading {
        Reading::Number => text.to_owned(),
        Reading::Digits => spaced_digits(text),
    };
    Utterance::Speech { text }
}

/// `text` with a space between consecutive digits, so TTS reads them one by one.
pub fn spaced_digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut previous_digit = false;
    for c in text.chars() {
        let digit = c.is_ascii_digit();
        if digit && previous_digit {
            out.push(' ');
        }
        out.push(c);
        previous_digit = digit;
    }
    out
}

/// `template` with every `${name}` replaced by its value, passed through `escape`.
pub(super) fn fill(
    template: &str,
    variables: &BTreeMap<String, String>,
    call: &CallFacts,
    now: NaiveDateTime,
    escape: fn(&str) -> String,
) -> String {
    let Ok(names) = placeholders(template) else {
        return template.to_owned();
    };
    let mut out = template.to_owned();
    for name in names {
        let value = escape(&value(variables, name, call, now));
        out = out.replacen(&format!("${{{name}}}"), &value, 1);
    }
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(super) fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Escapes a value for the inside of a JSON string.
pub(super) fn json_escape(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// The field at a dot-separated `path` of a JSON value, as text (strings as they are, other
/// values as JSON).
pub(super) fn field(value: &serde_json::Value, path: &str) -> Option<String> {
    let mut at = value;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        at = match at {
            serde_json::Value::Object(map) => map.get(part)?,
            serde_json::Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(match at {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// The value of variable `name` (a system variable, or one the flow set) as the flow reads it.
pub(super) fn value(
    variables: &BTreeMap<String, String>,
    name: &str,
    call: &CallFacts,
    now: NaiveDateTime,
) -> String {
    match SystemVariable::from_name(name) {
        Some(system) => system_value(system, call, now),
        None => variables.get(name).cloned().unwrap_or_default(),
    }
}
