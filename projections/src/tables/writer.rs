//! The table models of a node and the task that keeps them current: the node holding the lease
//! applies each batch of events to every table model and commits rows and checkpoints in one
//! transaction; the other nodes follow the stored checkpoints. Either way the node knows how far
//! the tables have come, for read-your-writes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventlog::{EventLog, RecordedEvent};
use tokio::sync::watch;
use tracing::{error, info};

use super::lease::Lease;
use super::store::{Row, TableChanges, TableStore};
use super::TableProjection;
use crate::docs::Docs;
use crate::error::ProjectionError;

/// Events applied per transaction at most.
const BATCH: usize = 5_000;
/// How long events gather after a batch that did not fill up.
const GATHER: Duration = Duration::from_millis(3);
/// How often a node without the lease reads the stored checkpoints, and tries to take it.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);
/// How often the lease holder checks that its lease still holds.
const CHECK_LEASE_EVERY: Duration = Duration::from_secs(1);

/// One table model: its projection and how far it has applied the log.
struct TableModel {
    projection: Box<dyn TableProjection>,
    /// The stored name of its checkpoint (its name, or its rebuild's).
    checkpoint_name: String,
    /// The table it writes.
    table: &'static str,
    checkpoint: AtomicI64,
}

/// The table models of a node.
#[derive(Clone)]
pub struct TableModels {
    models: Arc<Vec<TableModel>>,
    store: TableStore,
    applied: watch::Receiver<i64>,
    applied_tx: Arc<watch::Sender<i64>>,
    writing: Arc<AtomicBool>,
}

impl std::fmt::Debug for TableModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableModels")
            .field("applied", &*self.applied.borrow())
            .finish()
    }
}

/// Whether a batch was committed or another writer had moved a checkpoint first.
enum Committed {
    Yes,
    Moved,
}

impl TableModels {
    /// The table models of `projections` in their live tables, from their stored checkpoints.
    pub async fn load(
        store: TableStore,
        projections: Vec<Box<dyn TableProjection>>,
    ) -> Result<Self, ProjectionError> {
        Self::open(store, projections, false).await
    }

    /// The table models of `projections` in their live tables, or in their rebuild tables.
    pub(crate) async fn open(
        store: TableStore,
        projections: Vec<Box<dyn TableProjection>>,
        rebuild: bool,
    ) -> Result<Self, ProjectionError> {
        let models: Vec<TableModel> = projections
            .into_iter()
            .map(|projection| {
                let spec = projection.spec();
                let (checkpoint_name, table) = if rebuild {
                    (rebuild_name(projection.name()), spec.rebuild)
                } else {
                    (projection.name().to_owned(), spec.table)
                };
                TableModel {
                    projection,
                    checkpoint_name,
                    table,
                    checkpoint: AtomicI64::new(0),
                }
            })
            .collect();
        let (applied_tx, applied) = watch::channel(0);
        let tables = Self {
            models: Arc::new(models),
            store,
            applied,
            applied_tx: Arc::new(applied_tx),
            writing: Arc::default(),
        };
        tables.reload().await?;
        Ok(tables)
    }

    /// The store.
    pub fn store(&self) -> &TableStore {
        &self.store
    }

    /// Whether this node writes the table models now (holds the lease).
    pub fn writing(&self) -> bool {
        self.writing.load(Ordering::Acquire)
    }

    /// The lowest checkpoint of the table models (the log's end when there are none).
    pub fn applied(&self) -> i64 {
        *self.applied.borrow()
    }

    /// The checkpoint of each model, by name.
    pub fn checkpoints(&self) -> BTreeMap<&'static str, i64> {
        self.models
            .iter()
            .map(|m| (m.projection.name(), m.checkpoint.load(Ordering::Acquire)))
            .collect()
    }

    /// Waits until every table model has applied `position` (or `timeout` passes; returns
    /// whether it was reached).
    pub async fn wait_for(&self, position: i64, timeout: Duration) -> bool {
        let mut applied = self.applied.clone();
        tokio::time::timeout(timeout, applied.wait_for(|p| *p >= position))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Reads the stored checkpoints and makes them the models' own.
    async fn reload(&self) -> Result<(), ProjectionError> {
        if self.models.is_empty() {
            self.applied_tx.send_replace(i64::MAX);
            return Ok(());
        }
        let names: Vec<String> = self
            .models
            .iter()
            .map(|m| m.checkpoint_name.clone())
            .collect();
        let stored = self.store.checkpoints(&names).await?;
        for model in self.models.iter() {
            let position = stored.get(&model.checkpoint_name).copied().unwrap_or(0);
            model.checkpoint.store(position, Ordering::Release);
        }
        self.publish();
        Ok(())
    }

    fn publish(&self) {
        let low = self
            .models
            .iter()
            .map(|m| m.checkpoint.load(Ordering::Acquire))
            .min()
            .unwrap_or(i64::MAX);
        self.applied_tx.send_if_modified(|applied| {
            let changed = *applied != low;
            *applied = low;
            changed
        });
    }

    /// Applies every event up to `upto` (the log's head when `None`), then returns.
    pub async fn catch_up(&self, log: &EventLog, upto: Option<i64>) -> Result<(), ProjectionError> {
        let head = match upto {
            Some(position) => position,
            None => log.stored_head().await?,
        };
        let mut subscription = log.subscribe(self.applied());
        while subscription.position() < head {
            let batch = subscription.next_batch(BATCH).await?;
            let batch: Vec<_> = batch.into_iter().filter(|e| e.position <= head).collect();
            if batch.is_empty() {
                break;
            }
            if let Committed::Moved = self.apply_batch(&batch).await? {
                self.reload().await?;
                subscription = log.subscribe(self.applied());
            }
        }
        Ok(())
    }

    /// Keeps the table models current until the log shuts down: applies the log while this
    /// node holds the lease, follows the stored checkpoints otherwise.
    pub async fn run(self, log: EventLog) {
        if self.models.is_empty() {
            return;
        }
        loop {
            match Lease::try_take(self.store.pool()).await {
                Ok(Some(lease)) => {
                    info!("table models: this node writes them");
                    self.writing.store(true, Ordering::Release);
                    let led = self.lead(&log, lease).await;
                    self.writing.store(false, Ordering::Release);
                    if led.is_break() {
                        return;
                    }
                    info!("table models: the lease was lost");
                }
                Ok(None) => {}
                Err(e) => error!(error = %e, "table models: taking the lease failed"),
            }
            if log.is_shut_down() {
                return;
            }
            tokio::time::sleep(FOLLOW_EVERY).await;
            if let Err(e) = self.reload().await {
                error!(error = %e, "table models: reading checkpoints failed");
            }
        }
    }

    /// Applies the log while `lease` holds; `Break` once the log has shut down and every event
    /// is applied. The lease is watched by a task of its own: a batch being read is never
    /// abandoned half-way (that would skip its events).
    async fn lead(&self, log: &EventLog, lease: Lease) -> std::ops::ControlFlow<()> {
        use std::ops::ControlFlow::{Break, Continue};
        if let Err(e) = self.reload().await {
            error!(error = %e, "table models: reading checkpoints failed");
            return Continue(());
        }
        let lost = Arc::new(AtomicBool::new(false));
        let _watch = AbortOnDrop(tokio::spawn(watch_lease(lease, lost.clone())));
        let mut subscription = log.subscribe(self.applied());
        loop {
            if lost.load(Ordering::Acquire) {
                return Continue(());
            }
            if log.is_shut_down() && self.applied() >= log.head() {
                return Break(());
            }
            let batch = match subscription.next_batch(BATCH).await {
                Ok(batch) => batch,
                Err(eventlog::EventLogError::Closed) => return Break(()),
                Err(e) => {
                    error!(error = %e, "table models: reading the log failed; retrying");
                    tokio::time::sleep(FOLLOW_EVERY).await;
                    subscription = log.subscribe(self.applied());
                    continue;
                }
            };
            if lost.load(Ordering::Acquire) {
                return Continue(());
            }
            match self.apply_batch(&batch).await {
                Ok(Committed::Yes) => {}
                Ok(Committed::Moved) => {
                    // Another writer (a replay's swap, or a node that took the lease) moved a
                    // checkpoint: go on from the stored one.
                    if let Err(e) = self.reload().await {
                        error!(error = %e, "table models: reading checkpoints failed");
                    }
                    subscription = log.subscribe(self.applied());
                }
                Err(e) => {
                    error!(error = %e, "table models: applying events failed; retrying");
                    tokio::time::sleep(FOLLOW_EVERY).await;
                    let _ = self.reload().await;
                    subscription = log.subscribe(self.applied());
                }
            }
            if batch.len() < BATCH {
                tokio::time::sleep(GATHER).await;
            }
        }
    }

    /// Applies one batch to every table model and commits rows and checkpoints together.
    async fn apply_batch(
        &self,
        batch: &[Arc<RecordedEvent>],
    ) -> Result<Committed, ProjectionError> {
        let mut changes = Vec::new();
        for model in self.models.iter() {
            let from = model.checkpoint.load(Ordering::Acquire);
            let fresh: Vec<&Arc<RecordedEvent>> =
                batch.iter().filter(|e| e.position > from).collect();
            let Some(last) = fresh.last() else { continue };
            let reads: BTreeSet<String> = fresh
                .iter()
                .filter_map(|e| model.projection.reads(e))
                .collect();
            let base = self.store.fetch(model.table, &reads).await?;
            let mut overlay = BTreeMap::new();
            let mut docs = Docs {
                base: &base,
                overlay: &mut overlay,
            };
            for event in &fresh {
                model.projection.apply(event, &mut docs)?;
            }
            let writes = overlay
                .into_iter()
                .map(|(key, doc)| {
                    let row = doc.map(|doc| Row {
                        tenant: doc.tenant_id.map(|t| t.to_string()),
                        cells: model.projection.columns(&doc),
                        doc: doc.value.to_string(),
                    });
                    (key, row)
                })
                .collect();
            changes.push(TableChanges {
                model: model.checkpoint_name.clone(),
                spec: model.projection.spec(),
                table: model.table,
                writes,
                from,
                to: last.position,
            });
        }
        if changes.is_empty() {
            return Ok(Committed::Yes);
        }
        let moved_to: Vec<(usize, i64)> = changes
            .iter()
            .map(|c| {
                let index = self
                    .models
                    .iter()
                    .position(|m| m.checkpoint_name == c.model)
                    .unwrap_or(usize::MAX);
                (index, c.to)
            })
            .collect();
        if !self.store.commit(changes).await? {
            return Ok(Committed::Moved);
        }
        for (index, to) in moved_to {
            if let Some(model) = self.models.get(index) {
                model.checkpoint.store(to, Ordering::Release);
            }
        }
        self.publish();
        Ok(Committed::Yes)
    }
}

/// Checks the lease every second; sets `lost` and ends once it no longer holds. Dropping the
/// task closes the lease's connection, which releases it.
async fn watch_lease(mut lease: Lease, lost: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(CHECK_LEASE_EVERY).await;
        if !lease.holds().await {
            lost.store(true, Ordering::Release);
            return;
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The checkpoint name of a model's rebuild.
pub(crate) fn rebuild_name(model: &str) -> String {
    format!("{model}#rebuild")
}
