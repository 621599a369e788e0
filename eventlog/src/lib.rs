//! The append-only event log: one global, densely numbered log of every fact in callcore.
//!
//! Two backends (SQLite, the embedded default, and PostgreSQL) implement [`Backend`];
//! [`EventLog`] puts a single group-committing writer in front of a backend, serves reads and
//! live [`Subscription`]s, and hands out [`LogStore`]s that implement `esrs::store::EventStore`
//! so domain aggregates run through `esrs::AggregateManager`.

mod backend;
mod error;
mod esrs_store;
mod log;
mod model;
mod plan;
mod postgres;
mod sqlite;
mod sqlite_writer;
mod subscription;
mod writer;

pub use backend::{Backend, BatchOutcome, DbPool};
pub use error::{AppendError, EventLogError};
pub use esrs_store::{LogStore, StoreError};
pub use log::{EventLog, EventLogConfig};
pub use model::{AppendRequest, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
pub use postgres::PostgresBackend;
pub use sqlite::SqliteBackend;
pub use sqlite_writer::SqliteWriter;
pub use subscription::Subscription;

/// Opens the backend named by a database URL: `postgres://…` for PostgreSQL, anything else
/// (`sqlite://…` or a file path) for SQLite.
pub async fn open_backend(
    database_url: &str,
) -> Result<std::sync::Arc<dyn Backend>, EventLogError> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(
            PostgresBackend::connect(database_url).await?,
        ))
    } else {
        Ok(std::sync::Arc::new(
            SqliteBackend::open(database_url).await?,
        ))
    }
}
