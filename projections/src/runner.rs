//! The projection runner: feeds committed events to every read model, commits their documents
//! and checkpoints together, and tells waiters how far the read models have come.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use eventlog::{EventLog, RecordedEvent};
use tokio::sync::{broadcast, watch};
use tracing::error;

use crate::doc_store::{DocStore, ModelChanges};
use crate::docs::{Doc, Docs};
use crate::error::ProjectionError;
use crate::projection::Projection;
use crate::tables::store::TableStore;
use crate::tables::writer::TableModels;
use crate::tables::AnyTableProjection;

/// Events applied per transaction at most.
const BATCH: usize = 2_000;
/// How long the runner lets events gather after a batch that did not fill up.
const GATHER: Duration = Duration::from_millis(2);
/// How often applied changes are saved to the database.
const SAVE_EVERY: Duration = Duration::from_millis(250);

/// The documents changed since the last save, by model.
type Unsaved = BTreeMap<&'static str, BTreeSet<String>>;

/// One read model: its projection, its documents in memory and its checkpoint.
pub struct ReadModel {
    projection: Box<dyn Projection>,
    docs: RwLock<BTreeMap<String, Doc>>,
    checkpoint: AtomicI64,
}

impl std::fmt::Debug for ReadModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadModel")
            .field("name", &self.projection.name())
            .field("checkpoint", &self.checkpoint.load(Ordering::Relaxed))
            .finish()
    }
}

impl ReadModel {
    pub(crate) fn new(
        projection: Box<dyn Projection>,
        checkpoint: i64,
        docs: BTreeMap<String, Doc>,
    ) -> Self {
        Self {
            projection,
            docs: RwLock::new(docs),
            checkpoint: AtomicI64::new(checkpoint),
        }
    }

    /// The model's name.
    pub fn name(&self) -> &'static str {
        self.projection.name()
    }

    /// Position of the last event applied.
    pub fn checkpoint(&self) -> i64 {
        self.checkpoint.load(Ordering::Acquire)
    }

    /// Read access to the documents.
    pub fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Doc>> {
        // A poisoned lock only means a reader panicked; the map itself is intact.
        self.docs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The document at `key`.
    pub fn get(&self, key: &str) -> Option<Doc> {
        self.read().get(key).cloned()
    }

    /// Applies `events` (those after the checkpoint) into an overlay, without committing.
    pub(crate) fn stage(
        &self,
        events: &[Arc<RecordedEvent>],
    ) -> Result<Option<ModelChanges>, ProjectionError> {
        let checkpoint = self.checkpoint();
        let fresh: Vec<_> = events.iter().filter(|e| e.position > checkpoint).collect();
        let Some(last) = fresh.last() else {
            return Ok(None);
        };
        let base = self.read();
        let mut overlay = BTreeMap::new();
        let mut docs = Docs {
            base: &base,
            overlay: &mut overlay,
        };
        for event in &fresh {
            self.projection.apply(event, &mut docs)?;
        }
        Ok(Some(ModelChanges {
            model: self.name().to_owned(),
            writes: overlay,
            checkpoint: last.position,
        }))
    }

    /// Makes committed changes visible.
    pub(crate) fn publish(&self, changes: ModelChanges) {
        let mut docs = self
            .docs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (key, doc) in changes.writes {
            match doc {
                Some(doc) => docs.insert(key, doc),
                None => docs.remove(&key),
            };
        }
        self.checkpoint.store(changes.checkpoint, Ordering::Release);
    }

    /// Every document, for digests.
    pub fn snapshot(&self) -> BTreeMap<String, Doc> {
        self.read().clone()
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every read model of a node, and the task that keeps them current.
#[derive(Clone)]
pub struct ReadModels {
    models: Arc<BTreeMap<&'static str, Arc<ReadModel>>>,
    store: DocStore,
    applied: watch::Receiver<i64>,
    applied_tx: Arc<watch::Sender<i64>>,
    feed: broadcast::Sender<Arc<RecordedEvent>>,
    unsaved: Arc<std::sync::Mutex<Unsaved>>,
    saving: Arc<tokio::sync::Mutex<()>>,
    tables: TableModels,
}

impl std::fmt::Debug for ReadModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadModels")
            .field("models", &self.models.keys())
            .finish()
    }
}

impl ReadModels {
    /// Loads the stored documents and checkpoints of `projections` (kept in memory) and the
    /// checkpoints of `tables` (kept in tables).
    pub async fn load(
        store: DocStore,
        projections: Vec<Box<dyn Projection>>,
        tables: Vec<Box<dyn AnyTableProjection>>,
    ) -> Result<Self, ProjectionError> {
        let tables = TableModels::load(TableStore::new(store.pool().clone()), tables).await?;
        let mut models = BTreeMap::new();
        for projection in projections {
            let (checkpoint, docs) = store.load(projection.name()).await?;
            models.insert(
                projection.name(),
                Arc::new(ReadModel::new(projection, checkpoint, docs)),
            );
        }
        let low = models.values().map(|m| m.checkpoint()).min().unwrap_or(0);
        let (applied_tx, applied) = watch::channel(low);
        let (feed, _) = broadcast::channel(16_384);
        Ok(Self {
            models: Arc::new(models),
            store,
            applied,
            applied_tx: Arc::new(applied_tx),
            feed,
            unsaved: Arc::default(),
            saving: Arc::default(),
            tables,
        })
    }

    /// The models kept in tables.
    pub fn tables(&self) -> &TableModels {
        &self.tables
    }

    /// The model stored as `name`, if the node runs it (see [`ReadModels::of`]).
    pub(crate) fn model_named(&self, name: &str) -> Option<&Arc<ReadModel>> {
        self.models.get(name)
    }

    /// Every model.
    pub fn models(&self) -> impl Iterator<Item = &Arc<ReadModel>> {
        self.models.values()
    }

    /// The lowest checkpoint of all models, in memory and in tables.
    pub fn applied(&self) -> i64 {
        self.memory_applied().min(self.tables.applied())
    }

    /// The lowest checkpoint of the models in memory.
    fn memory_applied(&self) -> i64 {
        *self.applied.borrow()
    }

    /// Waits until every model, in memory and in tables, has applied `position` (or `timeout`
    /// passes; returns whether it was reached).
    pub async fn wait_for(&self, position: i64, timeout: Duration) -> bool {
        let mut applied = self.applied.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        tokio::time::timeout_at(deadline, applied.wait_for(|p| *p >= position))
            .await
            .is_ok_and(|r| r.is_ok())
            && self
                .tables
                .wait_for(
                    position,
                    deadline.saturating_duration_since(tokio::time::Instant::now()),
                )
                .await
    }

    /// Saves every document changed since the last save, each model with its checkpoint, in
    /// one transaction. What is saved is always a state the model was in: the documents and the
    /// checkpoint are read together. On failure the changes stay unsaved for the next try.
    pub async fn save(&self) -> Result<(), ProjectionError> {
        let _one_at_a_time = self.saving.lock().await;
        let changes: Vec<ModelChanges> = {
            let mut unsaved = self
                .unsaved
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            std::mem::take(&mut *unsaved)
                .into_iter()
                .filter_map(|(name, keys)| {
                    let model = self.models.get(name)?;
                    let docs = model.read();
                    let checkpoint = model.checkpoint();
                    let writes = keys
                        .into_iter()
                        .map(|key| {
                            let doc = docs.get(&key).cloned();
                            (key, doc)
                        })
                        .collect();
                    Some(ModelChanges {
                        model: name.to_owned(),
                        writes,
                        checkpoint,
                    })
                })
                .collect()
        };
        if changes.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.store.commit(&changes).await {
            let mut unsaved = self
                .unsaved
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for change in changes {
                if let Some((&name, _)) = self.models.get_key_value(change.model.as_str()) {
                    unsaved
                        .entry(name)
                        .or_default()
                        .extend(change.writes.into_keys());
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// Events as they become visible in the read models, for live feeds.
    pub fn feed(&self) -> broadcast::Receiver<Arc<RecordedEvent>> {
        self.feed.subscribe()
    }

    /// Applies every event up to the log's current head, then returns (used at start and by tools).
    pub async fn catch_up(&self, log: &EventLog) -> Result<(), ProjectionError> {
        let head = log.stored_head().await?;
        let mut subscription = log.subscribe(self.memory_applied());
        while subscription.position() < head {
            let batch = subscription.next_batch(BATCH).await?;
            self.apply_batch(&batch).await?;
        }
        self.save().await
    }

    /// Follows the log forever (until the log shuts down), applying batches as they come; the
    /// table models follow it in a task of their own.
    pub async fn run(self, log: EventLog) {
        // The table task ends by itself once the log has shut down and it has applied the rest.
        tokio::spawn(self.tables.clone().run(log.clone()));
        let saver = {
            let models = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(SAVE_EVERY).await;
                    if let Err(e) = models.save().await {
                        error!(error = %e, "read models: saving failed; retrying");
                    }
                }
            })
        };
        let _stop_saver = AbortOnDrop(saver);
        let mut subscription = log.subscribe(self.memory_applied());
        loop {
            let batch = match subscription.next_batch(BATCH).await {
                Ok(batch) => batch,
                Err(eventlog::EventLogError::Closed) => return,
                Err(e) => {
                    error!(error = %e, "read models: reading the log failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    subscription = log.subscribe(self.memory_applied());
                    continue;
                }
            };
            if let Err(e) = self.apply_batch(&batch).await {
                error!(error = %e, "read models: applying events failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                subscription = log.subscribe(self.memory_applied());
            }
            if batch.len() < BATCH {
                // Under load, let events gather: a batch costs every model a pass.
                tokio::time::sleep(GATHER).await;
            }
        }
    }

    /// Applies one batch to every model and makes it visible; the changed documents are saved
    /// with their models' checkpoints by [`ReadModels::save`] (every 250 ms while running).
    pub async fn apply_batch(&self, batch: &[Arc<RecordedEvent>]) -> Result<(), ProjectionError> {
        let Some(last) = batch.last() else {
            return Ok(());
        };
        {
            // Marking and publishing under one lock: a save sees either both or neither.
            let mut unsaved = self
                .unsaved
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for model in self.models.values() {
                if let Some(change) = model.stage(batch)? {
                    unsaved
                        .entry(model.name())
                        .or_default()
                        .extend(change.writes.keys().cloned());
                    model.publish(change);
                }
            }
        }
        self.applied_tx.send_replace(last.position);
        for event in batch {
            let _ = self.feed.send(event.clone());
        }
        Ok(())
    }
}
