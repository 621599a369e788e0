//! Errors of read models.

/// A read model could not be updated or read.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] eventlog::EventLogError),
    /// An event or document is not the JSON it should be.
    #[error("JSON error at position {position}: {source}")]
    Json {
        /// Position of the event being applied (0 for stored documents).
        position: i64,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// A table model's batch is not what its table takes.
    #[error("invalid table rows: {0}")]
    Invalid(String),
}
