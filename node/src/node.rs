//! A node's shared state and its life: opening the database, starting the log writer, loading
//! and catching up the read models, following the log, and the clean shutdown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use eventlog::{EventLog, EventLogConfig};
use projections::{all_projections, all_table_projections, DocStore, ReadModels};

use crate::error::StartError;
use crate::metrics::Metrics;

/// Where a node keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    /// The data directory: the SQLite file (when no database URL is given), recordings and
    /// other files.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL; `None` for SQLite under the data directory.
    pub database_url: Option<String>,
}

impl NodeSettings {
    /// The URL of the event-log database: the configured one, or SQLite under the data dir.
    pub fn database(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => self
                .data_dir
                .join("callcore.db")
                .to_string_lossy()
                .into_owned(),
        }
    }
}

/// Shared state of a node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    /// The event log.
    pub log: EventLog,
    /// The read models.
    pub models: ReadModels,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Where recordings and other files are kept.
    pub data_dir: PathBuf,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("log", &self.log).finish()
    }
}

impl Node {
    /// Opens the log only (no read models): for tools that read or migrate it.
    pub async fn open_log(settings: &NodeSettings) -> Result<EventLog, StartError> {
        if settings.database_url.is_none() {
            std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartError::DataDir {
                path: settings.data_dir.clone(),
                source,
            })?;
        }
        let backend = eventlog::open_backend(&settings.database()).await?;
        Ok(EventLog::start(backend, EventLogConfig::default()).await?)
    }

    /// Opens the database, starts the log writer, loads and catches up the read models, and
    /// starts following the log.
    pub async fn start(settings: &NodeSettings) -> Result<Self, StartError> {
        let log = Self::open_log(settings).await?;
        let models = ReadModels::load(
            DocStore::new(log.pool()),
            all_projections(),
            all_table_projections(),
        )
        .await?;
        models.catch_up(&log).await?;
        tokio::spawn(models.clone().run(log.clone()));
        Ok(Self {
            metrics: Arc::new(Metrics::default()),
            data_dir: settings.data_dir.clone(),
            log,
            models,
        })
    }

    /// Stops taking appends, commits what was accepted and lets read models apply it.
    pub async fn shutdown(&self) {
        self.log.shutdown().await;
        let head = self.log.head();
        self.models.wait_for(head, Duration::from_secs(10)).await;
        if let Err(error) = self.models.save().await {
            tracing::error!(%error, "read models: the last save failed (they are rebuilt from the log at start)");
        }
    }
}
