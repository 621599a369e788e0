//! Read model `audit_log` (日志): who did what and when, one entry per event that an account
//! caused, with secrets removed.

use chrono::{DateTime, Utc};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::tables::{Cell, Rows, TableProjection, TableSpec};

/// The `audit_log` table: one row per event an account caused, with the columns its screen
/// filters on.
pub const AUDIT_LOG_TABLE: TableSpec = TableSpec {
    table: "audit_log",
    rebuild: "audit_log_rebuild",
    columns: &[
        "position",
        "at_us",
        "actor_id",
        "stream_type",
        "stream_id",
        "event_type",
    ],
};

/// Payload fields never shown in the audit log or a stream's history, at any depth.
const SECRET_FIELDS: &[&str] = &["password_hash", "token_hash", "sip_password", "password"];

/// Removes every secret field from an event payload, at any depth.
pub fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(object) => {
            object.retain(|key, _| !SECRET_FIELDS.contains(&key.as_str()));
            object.values_mut().for_each(redact);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position of the event in the log.
    pub position: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor_id: Uuid,
    /// Kind of thing changed.
    pub stream_type: String,
    /// The thing changed.
    pub stream_id: Uuid,
    /// What happened.
    pub event_type: String,
    /// The event's details, secrets removed.
    pub details: serde_json::Value,
}

/// Key of an entry: its position, zero-padded so keys sort in log order.
pub fn audit_key(position: i64) -> String {
    format!("{position:020}")
}

/// The audit entry of `event`, when an account caused it.
pub fn audit_entry(event: &RecordedEvent) -> Result<Option<AuditEntry>, ProjectionError> {
    let Some(actor_id) = event.metadata.actor_id else {
        return Ok(None);
    };
    let mut details: serde_json::Value =
        serde_json::from_str(&event.payload).map_err(|source| ProjectionError::Json {
            position: event.position,
            source,
        })?;
    redact(&mut details);
    if let Some(object) = details.as_object_mut() {
        object.remove("type");
        object.remove(domain::schema::VERSION_FIELD);
    }
    Ok(Some(AuditEntry {
        position: event.position,
        at: event.recorded_at,
        actor_id,
        stream_type: event.stream_type.clone(),
        stream_id: event.stream_id,
        event_type: event.event_type.clone(),
        details,
    }))
}

/// The projection of the audit log, kept in the `audit_log` table.
pub struct AuditLog;

impl TableProjection for AuditLog {
    type Row = AuditEntry;

    fn name(&self) -> &'static str {
        AUDIT_LOG_TABLE.table
    }

    fn spec(&self) -> &'static TableSpec {
        &AUDIT_LOG_TABLE
    }

    fn reads(&self, _event: &RecordedEvent, _keys: &mut Vec<String>) {}

    fn apply(
        &self,
        event: &RecordedEvent,
        rows: &mut Rows<AuditEntry>,
    ) -> Result<(), ProjectionError> {
        if let Some(entry) = audit_entry(event)? {
            rows.put(audit_key(event.position), event.metadata.tenant_id, entry);
        }
        Ok(())
    }

    fn columns(&self, e: &AuditEntry) -> Vec<Cell> {
        vec![
            Cell::Int(Some(e.position)),
            Cell::Int(Some(e.at.timestamp_micros())),
            Cell::Text(Some(e.actor_id.to_string())),
            Cell::Text(Some(e.stream_type.clone())),
            Cell::Text(Some(e.stream_id.to_string())),
            Cell::Text(Some(e.event_type.clone())),
        ]
    }
}
