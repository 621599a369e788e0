//! The running node: event log, read models and the services the API uses.

use std::sync::Arc;

use eventlog::{EventLog, EventLogConfig};
use projections::{all_projections, DocStore, ReadModels};

use crate::auth::{Auth, LoginPolicy};
use crate::config::Config;
use crate::metrics::Metrics;

/// Shared state of a node. Cheap to clone.
#[derive(Clone)]
pub struct App {
    /// The event log.
    pub log: EventLog,
    /// The read models.
    pub models: ReadModels,
    /// Authentication.
    pub auth: Arc<Auth>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Where recordings and other files are kept.
    pub data_dir: std::path::PathBuf,
    /// The node's calls, once its SIP front end runs (agents' and supervisors' actions reach
    /// calls through it).
    pub calls: Arc<std::sync::OnceLock<Arc<crate::calls::Calls>>>,
    /// The supervisors' board feed, started with the first `queueBoard` subscription.
    pub board_feed: Arc<std::sync::OnceLock<crate::graphql::BoardFeed>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("log", &self.log).finish()
    }
}

impl App {
    /// Opens the database, starts the log writer, loads and catches up the read models, and
    /// starts following the log.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        if config.database_url.is_none() {
            std::fs::create_dir_all(&config.data_dir)?;
        }
        let backend = eventlog::open_backend(&config.database()).await?;
        let log = EventLog::start(backend, EventLogConfig::default()).await?;
        let models = ReadModels::load(DocStore::new(log.pool()), all_projections()).await?;
        models.catch_up(&log).await?;
        tokio::spawn(models.clone().run(log.clone()));
        let policy = LoginPolicy {
            session: chrono::Duration::hours(i64::from(config.session_hours)),
            max_failures: config.max_failed_logins,
            lockout: chrono::Duration::minutes(i64::from(config.lockout_minutes)),
        };
        let app = Self {
            auth: Arc::new(Auth::new(policy)),
            metrics: Arc::new(Metrics::default()),
            data_dir: config.data_dir.clone(),
            calls: Arc::default(),
            board_feed: Arc::default(),
            log,
            models,
        };
        app.close_calls_left_open().await?;
        Ok(app)
    }

    /// Ends, with an explicit `NodeRestart` event, every call the log still shows in progress:
    /// the process that carried them is gone, and no record may stay "in progress".
    async fn close_calls_left_open(&self) -> anyhow::Result<()> {
        let open: Vec<(uuid::Uuid, uuid::Uuid)> = self
            .models
            .model("call_records")?
            .read()
            .values()
            .filter_map(|d| d.decode::<projections::CallRecordDoc>())
            .filter(|r| r.status == projections::CallStatus::InProgress)
            .map(|r| (r.id, r.enterprise_id))
            .collect();
        // The seats those calls rang or were on are freed too: no agent stays stuck.
        let seats: Vec<projections::AgentDoc> = self
            .models
            .model("agents")?
            .read()
            .values()
            .filter_map(|d| d.decode::<projections::AgentDoc>())
            .filter(|a| a.offered_call.is_some() || a.on_call.is_some())
            .collect();
        for seat in seats {
            let at = chrono::Utc::now();
            let mut commands = Vec::new();
            if let Some(call) = seat.offered_call {
                commands.push(domain::agent::AgentCommand::Withdraw { call_id: call, at });
            }
            if let Some(call) = seat.on_call {
                commands.push(domain::agent::AgentCommand::EndCall {
                    call_id: call,
                    wrap_up_seconds: 0,
                    at,
                });
            }
            for command in commands {
                if let Err(error) = self
                    .execute::<domain::agent::Agent>(
                        seat.id,
                        command,
                        eventlog::Metadata::new(Some(seat.enterprise_id), None),
                    )
                    .await
                {
                    tracing::warn!(seat = %seat.id, code = error.code(), "freeing a seat after a restart failed");
                }
            }
        }
        for (call, enterprise) in open {
            let command = domain::call::CallCommand::CloseAfterRestart {
                at: chrono::Utc::now(),
            };
            if let Err(error) = self
                .execute::<domain::call::Call>(
                    call,
                    command,
                    eventlog::Metadata::new(Some(enterprise), None),
                )
                .await
            {
                tracing::warn!(%call, code = error.code(), message = error.message(), "closing a call left open failed");
            }
        }
        Ok(())
    }

    /// Stops taking appends, commits what was accepted and lets read models apply it.
    pub async fn shutdown(&self) {
        self.log.shutdown().await;
        let head = self.log.head();
        self.models
            .wait_for(head, std::time::Duration::from_secs(10))
            .await;
        if let Err(error) = self.models.save().await {
            tracing::error!(%error, "read models: the last save failed (they are rebuilt from the log at start)");
        }
    }
}
