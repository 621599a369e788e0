//! The storage contract each database backend fulfils.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use crate::{error::AppendError, error::EventLogError, model::AppendRequest, model::RecordedEvent};

/// The result of one request within a committed batch.
pub type BatchOutcome = Result<Vec<RecordedEvent>, AppendError>;

/// A database that stores the log. All writes go through [`Backend::commit_batch`], called by
/// one writer per node; reads may come from anywhere.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Short name for logs and digests (`sqlite`, `postgres`).
    fn name(&self) -> &'static str;

    /// Commits the accepted requests of `batch` in one transaction and returns one outcome per
    /// request, in order. A request whose version check fails is refused alone; the others
    /// still commit. Positions are dense and follow commit order.
    async fn commit_batch(
        &self,
        batch: Arc<[AppendRequest]>,
    ) -> Result<Vec<BatchOutcome>, EventLogError>;

    /// Up to `limit` events with a position greater than `after`, in position order.
    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, EventLogError>;

    /// Every event of one stream, in version order.
    async fn read_stream(&self, stream_id: Uuid) -> Result<Vec<RecordedEvent>, EventLogError>;

    /// The highest committed position (0 when the log is empty).
    async fn head(&self) -> Result<i64, EventLogError>;

    /// The connection pool, for read models stored in the same database.
    fn pool(&self) -> DbPool;

    /// The highest position other nodes announced, when the backend can push it (PostgreSQL
    /// LISTEN/NOTIFY). Subscribers read the database when it moves past them.
    fn announced_heads(&self) -> Option<tokio::sync::watch::Receiver<i64>> {
        None
    }
}

/// A connection pool of either backend, for code that keeps its own tables beside the log.
#[derive(Clone, Debug)]
pub enum DbPool {
    /// SQLite: reads through the pool, writes through the node's one writer.
    Sqlite {
        /// For reads (and migrations).
        pool: sqlx::SqlitePool,
        /// For every write of this node.
        writer: crate::sqlite_writer::SqliteWriter,
    },
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
}
