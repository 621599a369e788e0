//! The SQLite backend: the embedded default, one file under the data directory in WAL mode.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::types::ValueRef;
use rusqlite::OpenFlags;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use uuid::Uuid;

use crate::backend::{Backend, BatchOutcome, DbPool};
use crate::plan::{plan_batch, rows};
use crate::sqlite_writer::SqliteWriter;
use crate::{error::EventLogError, model::Metadata, model::RecordedEvent};

/// SQLite storage of the log. Appends and reads use rusqlite on blocking threads: a whole batch
/// commit is one hand-off to a thread instead of one per statement, and rows decode several
/// times faster than through sqlx's SQLite driver. The sqlx pool applies migrations and serves
/// the read models' loads; their saves go through the same writer as the log's commits.
#[derive(Debug, Clone)]
pub struct SqliteBackend {
    pool: SqlitePool,
    writer: SqliteWriter,
    readers: Arc<ReaderPool>,
}

/// Idle read-only rusqlite connections to the database file.
#[derive(Debug)]
struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl ReaderPool {
    fn open(&self) -> Result<rusqlite::Connection, EventLogError> {
        let connection = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(Duration::from_secs(30))?;
        Ok(connection)
    }

    /// Runs `read` on an idle connection (opening one when none is idle).
    fn with<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, EventLogError>,
    ) -> Result<T, EventLogError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let connection = match idle {
            Some(connection) => connection,
            None => self.open()?,
        };
        let result = read(&connection);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(connection);
        }
        result
    }

    /// Runs `read` on a blocking thread.
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, EventLogError> + Send + 'static,
    ) -> Result<T, EventLogError> {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || pool.with(read))
            .await
            .map_err(|e| EventLogError::Io(std::io::Error::other(e)))?
    }
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
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        let path = options.get_filename().to_path_buf();
        let writer = rusqlite::Connection::open(&path)?;
        writer.busy_timeout(Duration::from_secs(30))?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        // As the pool's connections: the table models' writes land all over their indexes.
        writer.pragma_update(None, "cache_size", "-65536")?;
        let readers = Arc::new(ReaderPool {
            path,
            idle: Mutex::new(Vec::new()),
        });
        Ok(Self {
            pool,
            writer: SqliteWriter::new(writer),
            readers,
        })
    }
}

fn corrupt(position: i64, reason: impl ToString) -> EventLogError {
    EventLogError::Corrupt {
        position,
        reason: reason.to_string(),
    }
}

fn uuid_at(
    row: &rusqlite::Row<'_>,
    position: i64,
    index: usize,
) -> Result<Option<Uuid>, EventLogError> {
    match row.get_ref(index)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(text) => std::str::from_utf8(text)
            .ok()
            .and_then(|t| Uuid::parse_str(t).ok())
            .map(Some)
            .ok_or_else(|| corrupt(position, format!("column {index} is not a UUID"))),
        _ => Err(corrupt(position, format!("column {index} is not text"))),
    }
}

fn required_uuid(
    row: &rusqlite::Row<'_>,
    position: i64,
    index: usize,
) -> Result<Uuid, EventLogError> {
    uuid_at(row, position, index)?
        .ok_or_else(|| corrupt(position, format!("column {index} is missing")))
}

/// Decodes a row selected with [`COLUMNS`].
fn decode(row: &rusqlite::Row<'_>) -> Result<RecordedEvent, EventLogError> {
    let position: i64 = row.get(0)?;
    let recorded_at: String = row.get(11)?;
    let recorded_at = DateTime::parse_from_rfc3339(&recorded_at)
        .map_err(|e| corrupt(position, e))?
        .with_timezone(&Utc);
    RecordedEvent {
        position,
        event_id: required_uuid(row, position, 1)?,
        stream_type: row.get(2)?,
        stream_id: required_uuid(row, position, 3)?,
        version: row.get(4)?,
        event_type: row.get(5)?,
        payload: row.get(6)?,
        metadata: Metadata {
            tenant_id: uuid_at(row, position, 7)?,
            actor_id: uuid_at(row, position, 8)?,
            correlation_id: required_uuid(row, position, 9)?,
            causation_id: uuid_at(row, position, 10)?,
        },
        recorded_at,
    }
    .upcast()
}

fn collect(
    statement: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<RecordedEvent>, EventLogError> {
    let mut rows = statement.query(params)?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        events.push(decode(row)?);
    }
    Ok(events)
}

/// Writes `batch` in `tx`, an IMMEDIATE transaction (the write lock is taken up front, so a
/// second process on the same file waits instead of failing on a lock upgrade).
fn commit(
    tx: &rusqlite::Transaction<'_>,
    batch: &[crate::model::AppendRequest],
) -> Result<Vec<BatchOutcome>, EventLogError> {
    let outcomes = {
        // A bare MAX is answered from an index seek; wrapped (COALESCE, GROUP BY) it would scan.
        let head: i64 = tx
            .prepare_cached("SELECT MAX(position) FROM events")?
            .query_row([], |row| row.get::<_, Option<i64>>(0))?
            .unwrap_or(0);
        let mut versions: HashMap<Uuid, i64> = HashMap::new();
        let mut version_of =
            tx.prepare_cached("SELECT MAX(version) FROM events WHERE stream_id = ?1")?;
        for request in batch {
            if let std::collections::hash_map::Entry::Vacant(entry) =
                versions.entry(request.stream_id)
            {
                let version = version_of
                    .query_row([request.stream_id.to_string()], |row| {
                        row.get::<_, Option<i64>>(0)
                    })?
                    .unwrap_or(0);
                entry.insert(version);
            }
        }
        let now = Utc::now().trunc_subsecs(6);
        let outcomes = plan_batch(batch, head, &versions, now);
        let recorded_at = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut insert = tx.prepare_cached(&format!(
            "INSERT INTO events ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ))?;
        for e in rows(&outcomes) {
            insert.execute(rusqlite::params![
                e.position,
                e.event_id.to_string(),
                e.stream_type,
                e.stream_id.to_string(),
                e.version,
                e.event_type,
                e.payload,
                e.metadata.tenant_id.map(|u| u.to_string()),
                e.metadata.actor_id.map(|u| u.to_string()),
                e.metadata.correlation_id.to_string(),
                e.metadata.causation_id.map(|u| u.to_string()),
                recorded_at,
            ])?;
        }
        outcomes
    };
    Ok(outcomes)
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
        batch: Arc<[crate::model::AppendRequest]>,
    ) -> Result<Vec<BatchOutcome>, EventLogError> {
        self.writer.transaction(move |tx| commit(tx, &batch)).await
    }

    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.readers
            .run(move |c| {
                let mut statement = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2"
                ))?;
                collect(&mut statement, rusqlite::params![after, limit])
            })
            .await
    }

    async fn read_stream(&self, stream_id: Uuid) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.readers
            .run(move |c| {
                let mut statement = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM events WHERE stream_id = ?1 ORDER BY version"
                ))?;
                collect(&mut statement, rusqlite::params![stream_id.to_string()])
            })
            .await
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
        DbPool::Sqlite {
            pool: self.pool.clone(),
            writer: self.writer.clone(),
        }
    }
}
