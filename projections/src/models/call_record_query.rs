//! Queries of the `call_records` table (通话记录, manual §2.6.5): every filter of the screens
//! in SQL over the time index, newest first by (call time, id) with keyset cursors, and the
//! total counted within the required time range (at most a month).

use chrono::{DateTime, Utc};
use domain::call::Direction;
use eventlog::DbPool;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::models::call_records::{snake, CallRecordDoc, CallStatus, CALL_RECORDS_TABLE};
use crate::tables::sql::Sql;

/// Which records: one direction, or the missed calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// One direction.
    Direction(Direction),
    /// Offered to an extension, never answered (未接来电).
    Missed,
}

/// What a call-record screen asks for.
#[derive(Debug, Clone)]
pub struct CallRecordQuery {
    /// One enterprise, or every one (the operator).
    pub tenant: Option<Uuid>,
    /// Which records.
    pub kind: RecordKind,
    /// Call time from (inclusive).
    pub from: DateTime<Utc>,
    /// Call time to (inclusive).
    pub to: DateTime<Utc>,
    /// The calling or called number contains this.
    pub number: Option<String>,
    /// Handled by this extension number.
    pub extension: Option<String>,
    /// Came in by this route.
    pub route_id: Option<Uuid>,
    /// Waited in this queue.
    pub queue_id: Option<Uuid>,
    /// Ended so (the result).
    pub status: Option<CallStatus>,
    /// With (or without) a recording.
    pub recorded: Option<bool>,
}

/// Where a page starts: after the record at this call time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCursor {
    started_us: i64,
    key: String,
}

impl RecordCursor {
    /// The cursor of `record`.
    pub fn of(record: &CallRecordDoc) -> Self {
        Self {
            started_us: record.started_at.timestamp_micros(),
            key: record.id.to_string(),
        }
    }

    /// The cursor written as `encode` writes it; `None` when `text` is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let (time, key) = text.split_once(':')?;
        let key = Uuid::parse_str(key).ok()?.to_string();
        Some(Self {
            started_us: time.parse().ok()?,
            key,
        })
    }

    /// The cursor as text.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.started_us, self.key)
    }
}

/// One page of call records.
#[derive(Debug, Clone)]
pub struct RecordPage {
    /// The records, newest first.
    pub records: Vec<CallRecordDoc>,
    /// Whether more follow.
    pub has_next: bool,
    /// Records matching the query within its time range.
    pub total: i64,
}

/// Appends the query's conditions to `sql`.
fn conditions(sql: &mut Sql, query: &CallRecordQuery) {
    sql.push(" WHERE started_us >= ")
        .int(query.from.timestamp_micros())
        .push(" AND started_us <= ")
        .int(query.to.timestamp_micros());
    if let Some(tenant) = query.tenant {
        sql.push(" AND tenant_id = ").text(tenant.to_string());
    }
    match query.kind {
        RecordKind::Direction(direction) => {
            sql.push(" AND direction = ").text(snake(&direction));
        }
        RecordKind::Missed => {
            sql.push(" AND status = ").text(snake(&CallStatus::Missed));
        }
    }
    if let Some(status) = query.status {
        sql.push(" AND status = ").text(snake(&status));
    }
    if let Some(number) = query.number.as_deref().map(str::trim) {
        if !number.is_empty() {
            sql.push(" AND (");
            sql.contains("caller", number).push(" OR ");
            sql.contains("called", number).push(")");
        }
    }
    if let Some(extension) = &query.extension {
        sql.push(" AND extension = ").text(extension.trim());
    }
    if let Some(route) = query.route_id {
        sql.push(" AND route_id = ").text(route.to_string());
    }
    if let Some(queue) = query.queue_id {
        sql.push(" AND queue_id = ").text(queue.to_string());
    }
    if let Some(recorded) = query.recorded {
        sql.push(" AND recorded = ")
            .arg(crate::tables::Cell::Bool(recorded));
    }
}

/// The page of at most `first` records after `after`, with the total when `count` asks for
/// it (0 otherwise).
pub async fn call_records_page(
    pool: &DbPool,
    query: &CallRecordQuery,
    after: Option<&RecordCursor>,
    first: usize,
    count: bool,
) -> Result<RecordPage, ProjectionError> {
    let table = CALL_RECORDS_TABLE.table;
    let mut select = Sql::new(pool);
    select.push("SELECT key, tenant_id, doc FROM ").push(table);
    conditions(&mut select, query);
    if let Some(cursor) = after {
        select
            .push(" AND started_us <= ")
            .int(cursor.started_us)
            .push(" AND (started_us < ")
            .int(cursor.started_us)
            .push(" OR key < ")
            .text(cursor.key.as_str())
            .push(")");
    }
    let limit = i64::try_from(first).unwrap_or(i64::MAX - 1) + 1;
    select
        .push(" ORDER BY started_us DESC, key DESC LIMIT ")
        .int(limit);
    let mut records: Vec<CallRecordDoc> = select
        .documents(pool)
        .await?
        .into_iter()
        .filter_map(|(_, doc)| doc.decode())
        .collect();
    let has_next = records.len() > first;
    records.truncate(first);
    let total = if count {
        let mut count = Sql::new(pool);
        count.push("SELECT COUNT(*) FROM ").push(table);
        conditions(&mut count, query);
        count.count(pool).await?
    } else {
        0
    };
    Ok(RecordPage {
        records,
        has_next,
        total,
    })
}

/// The record of call `id`, if there is one.
pub async fn call_record(
    pool: &DbPool,
    id: Uuid,
) -> Result<Option<CallRecordDoc>, ProjectionError> {
    let mut select = Sql::new(pool);
    select
        .push("SELECT key, tenant_id, doc FROM ")
        .push(CALL_RECORDS_TABLE.table)
        .push(" WHERE key = ")
        .text(id.to_string());
    Ok(select
        .documents(pool)
        .await?
        .into_iter()
        .next()
        .and_then(|(_, doc)| doc.decode()))
}

/// How many records of `tenant` (every tenant when `None`) have each status, for load tools
/// and tests.
pub async fn call_record_statuses(
    pool: &DbPool,
    tenant: Option<Uuid>,
) -> Result<std::collections::BTreeMap<String, i64>, ProjectionError> {
    let mut counts = std::collections::BTreeMap::new();
    for status in [
        CallStatus::InProgress,
        CallStatus::Answered,
        CallStatus::Missed,
        CallStatus::Unanswered,
        CallStatus::Refused,
    ] {
        let mut count = Sql::new(pool);
        count
            .push("SELECT COUNT(*) FROM ")
            .push(CALL_RECORDS_TABLE.table)
            .push(" WHERE status = ")
            .text(snake(&status));
        if let Some(tenant) = tenant {
            count.push(" AND tenant_id = ").text(tenant.to_string());
        }
        counts.insert(snake(&status), count.count(pool).await?);
    }
    Ok(counts)
}
