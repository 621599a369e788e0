//! Errors of the event log.

/// Why one append request was refused; the log is unchanged by it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The stream is not at the version the caller expected (optimistic concurrency).
    #[error("stream {stream_id} is at version {actual}, expected {expected}")]
    VersionConflict {
        /// The stream.
        stream_id: uuid::Uuid,
        /// The version the caller expected.
        expected: i64,
        /// The version the stream is at.
        actual: i64,
    },
    /// The request carries no events.
    #[error("an append must carry at least one event")]
    Empty,
}

/// An operational failure of the log (database, I/O, shutdown).
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// The request was refused; nothing was written.
    #[error(transparent)]
    Rejected(#[from] AppendError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite reader failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A blocking reader could not run.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Applying the schema failed.
    #[error("migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored event could not be decoded.
    #[error("stored event at position {position} is malformed: {reason}")]
    Corrupt {
        /// Position of the row.
        position: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// The writer has stopped (the node is shutting down).
    #[error("the event log is shut down")]
    Closed,
}
