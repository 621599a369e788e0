//! Reading the reports' hours in SQL: the hours of one kind (queue or seat) of one enterprise
//! in a period, optionally of some queues or seats only, through `reports_by_tenant_hour`.

use chrono::{DateTime, Utc};
use eventlog::DbPool;
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::models::reports::{ReportRow, REPORTS_TABLE};
use crate::tables::sql::Sql;

/// Which hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// Queues' hours.
    Queue,
    /// Seats' hours.
    Agent,
}

/// The hours of `kind` of enterprise `tenant` starting within `from..=to`, of the queues or
/// extensions `subjects` (all when empty), in time order.
pub async fn report_hours(
    pool: &DbPool,
    tenant: Uuid,
    kind: ReportKind,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    subjects: &[Uuid],
) -> Result<Vec<ReportRow>, ProjectionError> {
    let mut sql = Sql::new(pool);
    sql.push("SELECT key, tenant_id, doc FROM ")
        .push(REPORTS_TABLE.table)
        .push(" WHERE tenant_id = ")
        .text(tenant.to_string())
        .push(" AND kind = ")
        .text(match kind {
            ReportKind::Queue => "queue_hour",
            ReportKind::Agent => "agent_hour",
        })
        .push(" AND hour_us >= ")
        .int(from.timestamp_micros())
        .push(" AND hour_us <= ")
        .int(to.timestamp_micros());
    if !subjects.is_empty() {
        sql.push(" AND subject_id IN (");
        for (n, subject) in subjects.iter().enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            sql.text(subject.to_string());
        }
        sql.push(")");
    }
    sql.push(" ORDER BY hour_us, key");
    sql.stored_rows(pool)
        .await?
        .into_iter()
        .map(|row| {
            serde_json::from_str(&row.doc).map_err(|source| ProjectionError::Json {
                position: 0,
                source,
            })
        })
        .collect()
}
