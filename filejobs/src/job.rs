//! One run of a job: what it works with ([`JobContext`]), why it failed ([`JobFailure`], for
//! a person), and what it made ([`JobOutput`]).

use std::path::PathBuf;
use std::sync::Arc;

use chrono_tz::Tz;
use domain::data_file::ImportCounts;
use node::Node;

use crate::progress::Counter;

/// What a running job works with.
#[derive(Clone)]
pub struct JobContext {
    /// The node: read models and the log's database.
    pub node: Node,
    /// The job's file.
    pub id: uuid::Uuid,
    /// The temporary file it writes (made durable and renamed by the runner).
    pub partial: PathBuf,
    /// A folder for scratch files, removed after the run.
    pub scratch: PathBuf,
    /// The enterprise's time zone.
    pub time_zone: Tz,
    /// Its progress.
    pub counter: Arc<Counter>,
    /// Most rows an import reads.
    pub max_rows: u64,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext").field("id", &self.id).finish()
    }
}

/// Why a job failed, for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JobFailure(pub String);

impl JobFailure {
    /// A failure inside callcore: logged in full, told briefly.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::warn!(%error, "a file job failed");
        Self(format!("internal error: {error}"))
    }

    /// The sheet could not be written.
    pub fn sheet(error: rust_xlsxwriter::XlsxError) -> Self {
        Self(format!("the sheet could not be written: {error}"))
    }

    /// The file could not be written.
    pub fn io(error: std::io::Error) -> Self {
        Self(format!("the file could not be written: {error}"))
    }
}

/// What a job made: its file's rows, and an import's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobOutput {
    /// Rows (or recordings) in the file.
    pub rows: u64,
    /// An import's counts.
    pub counts: Option<ImportCounts>,
}
