//! Events as a long-lived contract: the schema version of each event type, stamped into every
//! payload as `"v"` when it is written, and the steps (upcasters) that turn a payload stored
//! in an older version into the current shape when it is read. A payload without `"v"` is of
//! version 1 (written before versions were stamped). An event type's current version is 1 plus
//! the number of its steps; a change of an event's shape adds a step here and its old shape to
//! `tests/golden/past_events.json`.

use serde_json::{Map, Value};

/// The field of a stored payload that holds its schema version.
pub const VERSION_FIELD: &str = "v";

/// One step: turns a payload of `stream_type`/`event_type` at version `from` into version
/// `from + 1`.
struct Step {
    stream_type: &'static str,
    event_type: &'static str,
    from: u64,
    apply: fn(&mut Map<String, Value>),
}

/// Every step, for every event type that changed shape.
const STEPS: &[Step] = &[
    // A queue's settings gained the wrap-up time (话后整理); earlier queues had none.
    Step {
        stream_type: "queue",
        event_type: "QueueCreated",
        from: 1,
        apply: add_wrap_up_seconds,
    },
    Step {
        stream_type: "queue",
        event_type: "QueueUpdated",
        from: 1,
        apply: add_wrap_up_seconds,
    },
    // A caller's queue entry gained the caller's number (for the board); earlier entries do
    // not say it.
    Step {
        stream_type: "call",
        event_type: "QueueEntered",
        from: 1,
        apply: add_unknown_caller,
    },
];

fn add_wrap_up_seconds(payload: &mut Map<String, Value>) {
    if let Some(Value::Object(settings)) = payload.get_mut("settings") {
        settings
            .entry("wrap_up_seconds")
            .or_insert(Value::from(0_u32));
    }
}

fn add_unknown_caller(payload: &mut Map<String, Value>) {
    payload
        .entry("caller")
        .or_insert(Value::String(String::new()));
}

fn steps_of<'a>(
    stream_type: &'a str,
    event_type: &'a str,
) -> impl Iterator<Item = &'static Step> + 'a {
    STEPS
        .iter()
        .filter(move |s| s.stream_type == stream_type && s.event_type == event_type)
}

/// The current schema version of an event type.
pub fn current_version(stream_type: &str, event_type: &str) -> u64 {
    1 + steps_of(stream_type, event_type).count() as u64
}

/// Stamps the current version into a payload about to be written.
pub fn stamp(stream_type: &str, event_type: &str, payload: &mut Value) {
    if let Value::Object(fields) = payload {
        fields.insert(
            VERSION_FIELD.to_owned(),
            Value::from(current_version(stream_type, event_type)),
        );
    }
}

/// The stored payload in its current shape: `None` when it already is (the common case, found
/// without parsing it when its type never changed), else the upcast JSON, stamped with the
/// current version.
pub fn upcast(
    stream_type: &str,
    event_type: &str,
    payload: &str,
) -> Result<Option<String>, serde_json::Error> {
    let current = current_version(stream_type, event_type);
    if current == 1 {
        return Ok(None);
    }
    let mut value: Value = serde_json::from_str(payload)?;
    let Value::Object(fields) = &mut value else {
        return Ok(None);
    };
    let stored = fields
        .get(VERSION_FIELD)
        .and_then(Value::as_u64)
        .unwrap_or(1);
    if stored >= current {
        return Ok(None);
    }
    let mut version = stored;
    for step in steps_of(stream_type, event_type) {
        if step.from == version {
            (step.apply)(fields);
            version += 1;
        }
    }
    fields.insert(VERSION_FIELD.to_owned(), Value::from(version));
    serde_json::to_string(&value).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_that_never_changed_is_version_1_and_left_as_stored() {
        assert_eq!(current_version("account", "AccountCreated"), 1);
        let stored = r#"{"type":"AccountEnabled","at":"2026-01-02T03:04:05Z"}"#;
        assert_eq!(upcast("account", "AccountEnabled", stored).ok(), Some(None));
    }

    #[test]
    fn a_version_1_queue_entry_gains_an_unknown_caller_and_the_current_version() {
        let stored = r#"{"type":"QueueEntered","queue_id":"00000000-0000-0000-0000-000000000004","at":"2026-01-02T03:04:05Z"}"#;
        let upcast = upcast("call", "QueueEntered", stored).ok().flatten();
        let value: Option<Value> = upcast.and_then(|u| serde_json::from_str(&u).ok());
        assert_eq!(
            value,
            Some(serde_json::json!({
                "type": "QueueEntered",
                "queue_id": "00000000-0000-0000-0000-000000000004",
                "caller": "",
                "at": "2026-01-02T03:04:05Z",
                "v": 2
            }))
        );
    }

    #[test]
    fn a_current_payload_is_not_rewritten() {
        let mut value = serde_json::json!({"type": "QueueEntered", "caller": "+861", "queue_id": "x", "at": "t"});
        stamp("call", "QueueEntered", &mut value);
        assert_eq!(value["v"], 2);
        let text = value.to_string();
        assert_eq!(upcast("call", "QueueEntered", &text).ok(), Some(None));
    }

    #[test]
    fn a_version_1_queue_keeps_a_wrap_up_time_it_has_and_gains_one_it_lacks() {
        let without = r#"{"type":"QueueUpdated","settings":{"name":"a"}}"#;
        let upcast_text = upcast("queue", "QueueUpdated", without).ok().flatten();
        let value: Option<Value> = upcast_text.and_then(|u| serde_json::from_str(&u).ok());
        assert_eq!(
            value.map(|v| v["settings"]["wrap_up_seconds"].clone()),
            Some(Value::from(0))
        );
        let with = r#"{"type":"QueueUpdated","settings":{"name":"a","wrap_up_seconds":30}}"#;
        let upcast_text = upcast("queue", "QueueUpdated", with).ok().flatten();
        let value: Option<Value> = upcast_text.and_then(|u| serde_json::from_str(&u).ok());
        assert_eq!(
            value.map(|v| v["settings"]["wrap_up_seconds"].clone()),
            Some(Value::from(30))
        );
    }
}
