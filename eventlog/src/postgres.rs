//! The PostgreSQL backend: production storage, shared by several callcore nodes.
//!
//! A transaction-scoped advisory lock serialises batch commits across nodes, so positions are
//! dense and equal to commit order even with many writers.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::{PgListener, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};
use tokio::sync::watch;
use tracing::warn;
use uuid::Uuid;

use crate::backend::{Backend, BatchOutcome, DbPool};
use crate::plan::{plan_batch, rows};
use crate::{error::EventLogError, model::Metadata, model::RecordedEvent};

/// Opens a batch's transaction and takes the advisory lock that orders appends across nodes.
/// Its key is 0x6361_6c6c_636f_7265 ("callcore" in ASCII), the same on every
/// node and version.
const BEGIN_LOCKED: &str =
    "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(7161124095276315237)";

/// Channel on which each commit announces the new head to every node, as `<position> <node>`.
const HEAD_CHANNEL: &str = "callcore_log_head";

/// PostgreSQL storage of the log.
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    pool: PgPool,
    heads: watch::Receiver<i64>,
    /// How this node signs its announcements, so that it does not hear its own commits (its
    /// subscribers get those from the writer's live broadcast, not from a read).
    node: String,
}

/// The head another node announced, or `None` for this node's own announcement.
fn announced_head(payload: &str, node: &str) -> Option<i64> {
    match payload.split_once(' ') {
        Some((_, from)) if from == node => None,
        Some((head, _)) => head.parse().ok(),
        None => payload.parse().ok(),
    }
}

impl PostgresBackend {
    /// Connects to `url`, applies the migrations and starts listening for other nodes' commits.
    pub async fn connect(url: &str) -> Result<Self, EventLogError> {
        let pool = PgPoolOptions::new().max_connections(8).connect(url).await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(HEAD_CHANNEL).await?;
        let (heads_tx, heads) = watch::channel(0);
        let node = Uuid::new_v4().simple().to_string();
        let me = node.clone();
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(notification) => {
                        if let Some(head) = announced_head(notification.payload(), &me) {
                            heads_tx.send_if_modified(|h| {
                                let newer = head > *h;
                                if newer {
                                    *h = head;
                                }
                                newer
                            });
                        }
                    }
                    // The listener reconnects on the next `recv`; subscribers still poll meanwhile.
                    Err(error) => {
                        warn!(%error, "log head listener lost its connection; reconnecting");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
                if heads_tx.is_closed() {
                    return;
                }
            }
        });
        Ok(Self { pool, heads, node })
    }
}

fn decode(row: &PgRow) -> Result<RecordedEvent, EventLogError> {
    RecordedEvent {
        position: row.try_get("position")?,
        event_id: row.try_get("event_id")?,
        stream_type: row.try_get("stream_type")?,
        stream_id: row.try_get("stream_id")?,
        version: row.try_get("version")?,
        event_type: row.try_get("event_type")?,
        payload: row.try_get("payload")?,
        metadata: Metadata {
            tenant_id: row.try_get("tenant_id")?,
            actor_id: row.try_get("actor_id")?,
            correlation_id: row.try_get("correlation_id")?,
            causation_id: row.try_get("causation_id")?,
        },
        recorded_at: row.try_get::<DateTime<Utc>, _>("recorded_at")?,
    }
    .upcast()
}

const COLUMNS: &str = "position, event_id, stream_type, stream_id, version, event_type, payload, \
                       tenant_id, actor_id, correlation_id, causation_id, recorded_at";

#[async_trait]
impl Backend for PostgresBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn commit_batch(
        &self,
        batch: std::sync::Arc<[crate::model::AppendRequest]>,
    ) -> Result<Vec<BatchOutcome>, EventLogError> {
        let mut ids: Vec<Uuid> = batch.iter().map(|r| r.stream_id).collect();
        ids.sort_unstable();
        ids.dedup();
        // Four round trips: BEGIN with the lock, the heads, the rows with their announcement,
        // COMMIT. In READ COMMITTED each statement reads a fresh snapshot, so the heads read
        // after the lock include every batch committed before it was granted. Bare MAXes, each
        // answered by an index seek, give the log's head (the row without an id) and each
        // stream's version without scanning the table or a stream's events.
        let mut tx = self.pool.begin_with(BEGIN_LOCKED).await?;
        let maxima = sqlx::query_as::<_, (Option<Uuid>, Option<i64>)>(
            "SELECT NULL::UUID, MAX(position) FROM events \
             UNION ALL \
             SELECT s.id, v.version FROM UNNEST($1::UUID[]) AS s(id) \
             CROSS JOIN LATERAL (SELECT MAX(version) AS version FROM events WHERE stream_id = s.id) v \
             WHERE v.version IS NOT NULL",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut head = 0;
        let mut versions: HashMap<Uuid, i64> = HashMap::with_capacity(ids.len());
        for found in maxima {
            match found {
                (None, position) => head = position.unwrap_or(0),
                (Some(stream), Some(version)) => {
                    versions.insert(stream, version);
                }
                (Some(_), None) => {}
            }
        }
        let now = Utc::now().trunc_subsecs(6);
        let outcomes = plan_batch(&batch, head, &versions, now);
        let rows: Vec<&RecordedEvent> = rows(&outcomes).collect();
        if !rows.is_empty() {
            let mut positions = Vec::with_capacity(rows.len());
            let mut event_ids = Vec::with_capacity(rows.len());
            let mut stream_types = Vec::with_capacity(rows.len());
            let mut stream_ids = Vec::with_capacity(rows.len());
            let mut versions = Vec::with_capacity(rows.len());
            let mut event_types = Vec::with_capacity(rows.len());
            let mut payloads = Vec::with_capacity(rows.len());
            let mut tenants = Vec::with_capacity(rows.len());
            let mut actors = Vec::with_capacity(rows.len());
            let mut correlations = Vec::with_capacity(rows.len());
            let mut causations = Vec::with_capacity(rows.len());
            for e in &rows {
                positions.push(e.position);
                event_ids.push(e.event_id);
                stream_types.push(e.stream_type.as_str());
                stream_ids.push(e.stream_id);
                versions.push(e.version);
                event_types.push(e.event_type.as_str());
                payloads.push(e.payload.as_str());
                tenants.push(e.metadata.tenant_id);
                actors.push(e.metadata.actor_id);
                correlations.push(e.metadata.correlation_id);
                causations.push(e.metadata.causation_id);
            }
            // The announcement is delivered to every listening node when the transaction commits.
            sqlx::query(&format!(
                "WITH inserted AS (INSERT INTO events ({COLUMNS}) \
                 SELECT p, e, st, s, v, et, pl, t, a, c, ca, $12 \
                 FROM UNNEST($1::BIGINT[], $2::UUID[], $3::TEXT[], $4::UUID[], $5::BIGINT[], \
                 $6::TEXT[], $7::TEXT[], $8::UUID[], $9::UUID[], $10::UUID[], $11::UUID[]) \
                 AS x(p, e, st, s, v, et, pl, t, a, c, ca)) \
                 SELECT pg_notify($13, $14)"
            ))
            .bind(&positions)
            .bind(&event_ids)
            .bind(&stream_types)
            .bind(&stream_ids)
            .bind(&versions)
            .bind(&event_types)
            .bind(&payloads)
            .bind(&tenants)
            .bind(&actors)
            .bind(&correlations)
            .bind(&causations)
            .bind(now)
            .bind(HEAD_CHANNEL)
            .bind(positions.last().map(|head| format!("{head} {}", self.node)))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, EventLogError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }

    async fn read_stream(&self, stream_id: Uuid) -> Result<Vec<RecordedEvent>, EventLogError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events WHERE stream_id = $1 ORDER BY version"
        ))
        .bind(stream_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }

    async fn head(&self) -> Result<i64, EventLogError> {
        Ok(
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(position) FROM events")
                .fetch_one(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    fn pool(&self) -> DbPool {
        DbPool::Postgres(self.pool.clone())
    }

    fn announced_heads(&self) -> Option<watch::Receiver<i64>> {
        Some(self.heads.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_hears_the_heads_of_others_but_not_its_own() {
        assert_eq!(announced_head("42 b0b", "a11ce"), Some(42));
        assert_eq!(announced_head("42 a11ce", "a11ce"), None);
        // As nodes announced before they signed their announcements.
        assert_eq!(announced_head("42", "a11ce"), Some(42));
        assert_eq!(announced_head("garbage", "a11ce"), None);
    }

    #[test]
    fn a_batch_begins_by_taking_the_append_lock_every_node_takes() {
        let key: i64 = 0x6361_6c6c_636f_7265;
        assert_eq!(
            BEGIN_LOCKED,
            format!("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({key})")
        );
    }
}
