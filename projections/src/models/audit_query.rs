//! Queries of the `audit_log` table (日志, manual §5.4): by enterprise, actor, time, event type
//! and stream, newest first by position with keyset cursors; the total is exact up to
//! [`AUDIT_COUNT_CAP`] and said to be capped beyond.

use chrono::{DateTime, Utc};
use eventlog::DbPool;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::models::audit_log::{AuditEntry, AUDIT_LOG_TABLE};
use crate::tables::sql::Sql;

/// Entries counted at most for a total.
pub const AUDIT_COUNT_CAP: i64 = 10_000;

/// What an audit screen asks for.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// One enterprise, or every one (the operator).
    pub tenant: Option<Uuid>,
    /// Done by one of these accounts (`Some(empty)` matches nothing).
    pub actors: Option<Vec<Uuid>>,
    /// Done at or after.
    pub from: Option<DateTime<Utc>>,
    /// Done at or before.
    pub to: Option<DateTime<Utc>>,
    /// Events of this type.
    pub event_type: Option<String>,
    /// Events of this stream.
    pub stream_id: Option<Uuid>,
}

/// One page of audit entries.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// The entries, newest first.
    pub entries: Vec<AuditEntry>,
    /// Whether more follow.
    pub has_next: bool,
    /// Entries matching, counted up to [`AUDIT_COUNT_CAP`].
    pub total: i64,
    /// Whether the count stopped at the cap.
    pub capped: bool,
}

fn conditions(sql: &mut Sql, query: &AuditQuery) {
    sql.push(" WHERE 1 = 1");
    if let Some(tenant) = query.tenant {
        sql.push(" AND tenant_id = ").text(tenant.to_string());
    }
    if let Some(actors) = &query.actors {
        if actors.is_empty() {
            sql.push(" AND 1 = 0");
        } else {
            sql.push(" AND actor_id IN (");
            for (n, actor) in actors.iter().enumerate() {
                if n > 0 {
                    sql.push(", ");
                }
                sql.text(actor.to_string());
            }
            sql.push(")");
        }
    }
    if let Some(from) = query.from {
        sql.push(" AND at_us >= ").int(from.timestamp_micros());
    }
    if let Some(to) = query.to {
        sql.push(" AND at_us <= ").int(to.timestamp_micros());
    }
    if let Some(event_type) = &query.event_type {
        sql.push(" AND event_type = ").text(event_type.as_str());
    }
    if let Some(stream) = query.stream_id {
        sql.push(" AND stream_id = ").text(stream.to_string());
    }
}

/// The page of at most `first` entries before position `after` (newest first), with the total.
pub async fn audit_page(
    pool: &DbPool,
    query: &AuditQuery,
    after: Option<i64>,
    first: usize,
) -> Result<AuditPage, ProjectionError> {
    let table = AUDIT_LOG_TABLE.table;
    let mut select = Sql::new(pool);
    select.push("SELECT key, tenant_id, doc FROM ").push(table);
    conditions(&mut select, query);
    if let Some(position) = after {
        select.push(" AND position < ").int(position);
    }
    let limit = i64::try_from(first).unwrap_or(i64::MAX - 1) + 1;
    select.push(" ORDER BY position DESC LIMIT ").int(limit);
    let mut entries: Vec<AuditEntry> = select
        .documents(pool)
        .await?
        .into_iter()
        .filter_map(|(_, doc)| doc.decode())
        .collect();
    let has_next = entries.len() > first;
    entries.truncate(first);
    let mut count = Sql::new(pool);
    count
        .push("SELECT COUNT(*) FROM (SELECT 1 FROM ")
        .push(table);
    conditions(&mut count, query);
    count
        .push(" LIMIT ")
        .int(AUDIT_COUNT_CAP + 1)
        .push(") AS matching");
    let counted = count.count(pool).await?;
    Ok(AuditPage {
        entries,
        has_next,
        total: counted.min(AUDIT_COUNT_CAP),
        capped: counted > AUDIT_COUNT_CAP,
    })
}
