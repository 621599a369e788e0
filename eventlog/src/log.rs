//! [`EventLog`]: the handle the rest of callcore uses to append, read and subscribe.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::backend::{Backend, DbPool};
use crate::subscription::Subscription;
use crate::writer::{run_writer, Reply};
use crate::{error::EventLogError, model::AppendRequest, model::RecordedEvent};

/// Tuning of an [`EventLog`].
#[derive(Debug, Clone)]
pub struct EventLogConfig {
    /// Requests that may wait for the writer before callers are slowed down.
    pub queue_depth: usize,
    /// Events kept in the live broadcast for slow subscribers before they fall back to reads.
    pub live_capacity: usize,
    /// How often an idle subscriber checks the database for events appended by other nodes
    /// (a safety net on PostgreSQL, where commits are also announced by NOTIFY).
    pub poll_interval: Duration,
}

impl Default for EventLogConfig {
    fn default() -> Self {
        Self {
            queue_depth: 16_384,
            live_capacity: 16_384,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// The event log of one node. Cheap to clone.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    requests: std::sync::Mutex<Option<mpsc::Sender<(AppendRequest, Reply)>>>,
    live: broadcast::Sender<Arc<RecordedEvent>>,
    head: watch::Receiver<i64>,
    writer: std::sync::Mutex<Option<JoinHandle<()>>>,
    config: EventLogConfig,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("backend", &self.inner.backend.name())
            .finish()
    }
}

impl EventLog {
    /// Starts the writer of a node on `backend`.
    pub async fn start(
        backend: Arc<dyn Backend>,
        config: EventLogConfig,
    ) -> Result<Self, EventLogError> {
        let (tx, rx) = mpsc::channel(config.queue_depth);
        let (live, _) = broadcast::channel(config.live_capacity);
        let (head_tx, head_rx) = watch::channel(backend.head().await?);
        let writer = tokio::spawn(run_writer(backend.clone(), rx, live.clone(), head_tx));
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                requests: std::sync::Mutex::new(Some(tx)),
                live,
                head: head_rx,
                writer: std::sync::Mutex::new(Some(writer)),
                config,
            }),
        })
    }

    /// Appends events to one stream atomically, after its version check. Returns the events as
    /// committed (with positions) once they are durable.
    pub async fn append(
        &self,
        request: AppendRequest,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        let sender = self
            .inner
            .requests
            .lock()
            .map_err(|_| EventLogError::Closed)?
            .clone()
            .ok_or(EventLogError::Closed)?;
        let (reply, answer) = oneshot::channel();
        sender
            .send((request, reply))
            .await
            .map_err(|_| EventLogError::Closed)?;
        answer.await.map_err(|_| EventLogError::Closed)?
    }

    /// Up to `limit` events after position `after`.
    pub async fn read_all(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.inner.backend.read_all(after, limit).await
    }

    /// The whole history of one stream.
    pub async fn read_stream(&self, stream_id: Uuid) -> Result<Vec<RecordedEvent>, EventLogError> {
        self.inner.backend.read_stream(stream_id).await
    }

    /// The highest position committed through this node (or present at start).
    pub fn head(&self) -> i64 {
        *self.inner.head.borrow()
    }

    /// The highest position in the database, including other nodes' appends.
    pub async fn stored_head(&self) -> Result<i64, EventLogError> {
        self.inner.backend.head().await
    }

    /// Every event after `after`, first from the database, then from the live tail.
    pub fn subscribe(&self, after: i64) -> Subscription {
        Subscription::new(
            self.inner.backend.clone(),
            self.inner.live.subscribe(),
            self.inner.backend.announced_heads(),
            after,
            self.inner.config.poll_interval,
        )
    }

    /// The backend's name (`sqlite` or `postgres`).
    pub fn backend_name(&self) -> &'static str {
        self.inner.backend.name()
    }

    /// The database pool, for read models kept beside the log.
    pub fn pool(&self) -> DbPool {
        self.inner.backend.pool()
    }

    /// Whether [`EventLog::shutdown`] has been called.
    pub fn is_shut_down(&self) -> bool {
        self.inner
            .requests
            .lock()
            .map_or(true, |sender| sender.is_none())
    }

    /// Stops accepting appends and waits until everything already accepted is committed.
    pub async fn shutdown(&self) {
        if let Ok(mut sender) = self.inner.requests.lock() {
            sender.take();
        }
        let writer = self.inner.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            let _ = writer.await;
        }
    }
}
