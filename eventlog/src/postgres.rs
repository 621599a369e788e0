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

/// Key of the advisory lock that orders appends across nodes.
const APPEND_LOCK_KEY: i64 = 0x6361_6c6c_636f_7265; // "callcore"

/// Channel on which each commit announces the new head to every node.
const HEAD_CHANNEL: &str = "callcore_log_head";

/// PostgreSQL storage of the log.
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    pool: PgPool,
    heads: watch::Receiver<i64>,
}

impl PostgresBackend {
    /// Connects to `url`, applies the migrations and starts listening for other nodes' commits.
    pub async fn connect(url: &str) -> Result<Self, EventLogError> {
        let pool = PgPoolOptions::new().max_connections(8).connect(url).await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(HEAD_CHANNEL).await?;
        let (heads_tx, heads) = watch::channel(0);
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(notification) => {
                        if let Ok(head) = notification.payload().parse::<i64>() {
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
        Ok(Self { pool, heads })
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        // A bare MAX is answered from the primary key; wrapped (COALESCE) it would scan the table.
        let head: i64 = sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(position) FROM events")
            .fetch_one(&mut *tx)
            .await?
            .unwrap_or(0);
        let mut ids: Vec<Uuid> = batch.iter().map(|r| r.stream_id).collect();
        ids.sort_unstable();
        ids.dedup();
        // One index seek per stream (a bare MAX), not a scan of each stream's events.
        let versions: HashMap<Uuid, i64> = sqlx::query_as::<_, (Uuid, i64)>(
            "SELECT s.id, v.version FROM UNNEST($1::UUID[]) AS s(id) \
             CROSS JOIN LATERAL (SELECT MAX(version) AS version FROM events WHERE stream_id = s.id) v \
             WHERE v.version IS NOT NULL",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
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
            sqlx::query(&format!(
                "INSERT INTO events ({COLUMNS}) SELECT p, e, st, s, v, et, pl, t, a, c, ca, $12 \
                 FROM UNNEST($1::BIGINT[], $2::UUID[], $3::TEXT[], $4::UUID[], $5::BIGINT[], \
                 $6::TEXT[], $7::TEXT[], $8::UUID[], $9::UUID[], $10::UUID[], $11::UUID[]) \
                 AS x(p, e, st, s, v, et, pl, t, a, c, ca)"
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
            .execute(&mut *tx)
            .await?;
        }
        if let Some(last) = rows.last() {
            // Delivered to every listening node when the transaction commits.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(HEAD_CHANNEL)
                .bind(last.position.to_string())
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
