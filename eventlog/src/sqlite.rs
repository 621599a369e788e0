//! The SQLite backend: the embedded default, one file under the data directory in WAL mode.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, SqlitePool};
use uuid::Uuid;

use crate::backend::{Backend, BatchOutcome, DbPool};
use crate::plan::plan_batch;
use crate::{EventLogError, Metadata, RecordedEvent};

/// Rows per multi-row INSERT: 12 parameters a row stays under SQLite's 32,766 limit.
const ROWS_PER_INSERT: usize = 2_000;

/// SQLite storage of the log.
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteBackend {
    /// Opens (creating when missing) the database at `url` (`sqlite://path` or a plain path) and
    /// applies the migrations.
    pub async fn open(url: &str) -> Result<Self, EventLogError> {
        let options = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)?
        } else {
            SqliteConnectOptions::new().filename(url)
        }
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(30))
        .pragma("cache_size", "-65536");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, readers })
    }
}

fn parse_uuid(position: i64, text: Option<String>) -> Result<Option<Uuid>, EventLogError> {
    text.map(|t| {
        Uuid::parse_str(&t).map_err(|e| EventLogError::Corrupt {
            position,
            reason: e.to_string(),
        })
    })
    .transpose()
}

fn decode(row: &sqlx::sqlite::SqliteRow) -> Result<RecordedEvent, EventLogError> {
    let position: i64 = row.try_get("position")?;
    let required = |name: &str| -> Result<Uuid, EventLogError> {
        let text: String = row.try_get(name)?;
        parse_uuid(position, Some(text))?.ok_or(EventLogError::Corrupt {
            position,
            reason: format!("{name} is missing"),
        })
    };
    let recorded_at: String = row.try_get("recorded_at")?;
    let recorded_at = DateTime::parse_from_rfc3339(&recorded_at)
        .map_err(|e| EventLogError::Corrupt {
            position,
            reason: e.to_string(),
        })?
        .with_timezone(&Utc);
    Ok(RecordedEvent {
        position,
        event_id: required("event_id")?,
        stream_type: row.try_get("stream_type")?,
        stream_id: required("stream_id")?,
        version: row.try_get("version")?,
        event_type: row.try_get("event_type")?,
        payload: row.try_get("payload")?,
        metadata: Metadata {
            tenant_id: parse_uuid(position, row.try_get("tenant_id")?)?,
            actor_id: parse_uuid(position, row.try_get("actor_id")?)?,
            correlation_id: required("correlation_id")?,
            causation_id: parse_uuid(position, row.try_get("causation_id")?)?,
        },
        recorded_at,
    })
}

const COLUMNS: &str = "position, event_id, stream_type, stream_id, version, event_type, payload, \
                       tenant_id, actor_id, correlation_id, causation_id, recorded_at";

#[async_trait]
impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn commit_batch(
        &self,
        batch: &[crate::AppendRequest],
    ) -> Result<Vec<BatchOutcome>, EventLogError> {
        // IMMEDIATE takes the write lock up front, so a second process on the same file waits
        // (busy timeout) instead of failing on a lock upgrade.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        let mut versions: HashMap<Uuid, i64> = HashMap::new();
        let mut ids: Vec<Uuid> = batch.iter().map(|r| r.stream_id).collect();
        ids.sort_unstable();
        ids.dedup();
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::new(
                "SELECT stream_id, MAX(version) AS version FROM events WHERE stream_id IN (",
            );
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(id.to_string());
            }
            query.push(") GROUP BY stream_id");
            for row in query.build().fetch_all(&mut *tx).await? {
                let id: String = row.try_get("stream_id")?;
                let version: i64 = row.try_get("version")?;
                if let Ok(id) = Uuid::parse_str(&id) {
                    versions.insert(id, version);
                }
            }
        }
        let now = Utc::now().trunc_subsecs(6);
        let (outcomes, rows) = plan_batch(batch, head, &versions, now);
        let recorded_at = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::new(format!("INSERT INTO events ({COLUMNS}) "));
            query.push_values(chunk, |mut b, e| {
                b.push_bind(e.position)
                    .push_bind(e.event_id.to_string())
                    .push_bind(e.stream_type.as_str())
                    .push_bind(e.stream_id.to_string())
                    .push_bind(e.version)
                    .push_bind(e.event_type.as_str())
                    .push_bind(e.payload.as_str())
                    .push_bind(e.metadata.tenant_id.map(|u| u.to_string()))
                    .push_bind(e.metadata.actor_id.map(|u| u.to_string()))
                    .push_bind(e.metadata.correlation_id.to_string())
                    .push_bind(e.metadata.causation_id.map(|u| u.to_string()))
                    .push_bind(recorded_at.as_str());
            });
            query.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, EventLogError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(decode).collect()
    }

    async fn read_stream(&self, stream_id: Uuid) -> Result<Vec<RecordedEvent>, EventLogError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events WHERE stream_id = ? ORDER BY version"
        ))
        .bind(stream_id.to_string())
        .fetch_all(&self.readers)
        .await?;
        rows.iter().map(decode).collect()
    }

    async fn head(&self) -> Result<i64, EventLogError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
                .fetch_one(&self.readers)
                .await?,
        )
    }

    fn pool(&self) -> DbPool {
        DbPool::Sqlite(self.writer.clone())
    }
}
