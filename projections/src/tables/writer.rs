//! The table models of a node and the task that keeps them current: the node holding the lease
//! applies each batch of events to every table model and commits rows and checkpoints in one
//! transaction; the other nodes follow the stored checkpoints. Either way the node knows how far
//! the tables have come, for read-your-writes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventlog::{EventLog, RecordedEvent};
use tokio::sync::{watch, Notify};
use tracing::{error, info};

use super::lease::Lease;
use super::spec::{Row, StoredRow};
use super::store::{TableChanges, TableStore};
use super::{AnyTableProjection, Applied};
use crate::error::ProjectionError;

/// Events applied per transaction at most.
const BATCH: usize = 10_000;
/// How long events gather after a batch that did not fill up, unless someone waits for them
/// ([`TableModels::wait_for`]): under load a commit costs the database a transaction per batch,
/// and readers of the tables do not need them sooner than a screen refreshes.
const GATHER: Duration = Duration::from_millis(15);
/// How often a node without the lease reads the stored checkpoints, and tries to take it.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);
/// How often the lease holder checks that its lease still holds.
const CHECK_LEASE_EVERY: Duration = Duration::from_secs(1);

/// One table model: its projection and how far it has applied the log.
struct TableModel {
    projection: Box<dyn AnyTableProjection>,
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
    /// Told when someone waits for a position not applied yet: the writer stops gathering.
    awaited: Arc<Notify>,
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
        projections: Vec<Box<dyn AnyTableProjection>>,
    ) -> Result<Self, ProjectionError> {
        Self::open(store, projections, false).await
    }

    /// The table models of `projections` in their live tables, or in their rebuild tables.
    pub(crate) async fn open(
        store: TableStore,
        projections: Vec<Box<dyn AnyTableProjection>>,
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
            awaited: Arc::default(),
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
        if *applied.borrow() < position {
            self.awaited.notify_one();
        }
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

    /// The checkpoint of each model, in the models' order.
    fn positions(&self) -> Vec<i64> {
        self.models
            .iter()
            .map(|m| m.checkpoint.load(Ordering::Acquire))
            .collect()
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
            let prepared = self.prepare(&batch, &self.positions(), &[]).await?;
            if let Committed::Moved = self.clone().commit(prepared).await? {
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
    ///
    /// Two batches are in hand at once: while one commits (on the database's side), the next
    /// is read and applied, reading the rows the committing one writes from its writes rather
    /// than from the tables. If that commit fails or finds a checkpoint moved, the next batch
    /// is dropped and the models go on from the stored checkpoints.
    async fn lead(&self, log: &EventLog, lease: Lease) -> std::ops::ControlFlow<()> {
        use std::ops::ControlFlow::{Break, Continue};
        if let Err(e) = self.reload().await {
            error!(error = %e, "table models: reading checkpoints failed");
            return Continue(());
        }
        let lost = Arc::new(AtomicBool::new(false));
        let _watch = AbortOnDrop(tokio::spawn(watch_lease(lease, lost.clone())));
        let mut subscription = log.subscribe(self.applied());
        let mut planned = self.positions();
        let mut committing: Option<Committing> = None;
        let flow = loop {
            if lost.load(Ordering::Acquire) {
                break Continue(());
            }
            if log.is_shut_down() && committing.is_none() && self.applied() >= log.head() {
                break Break(());
            }
            // With nothing more to read now, the batch in hand is committed before waiting for
            // events: its outcome (a moved checkpoint) must not wait for the next event.
            if subscription.position() >= log.head() {
                if let Some(in_hand) = committing.take() {
                    let done = in_hand.done().await;
                    if !self.went_through(done).await {
                        subscription = log.subscribe(self.applied());
                        planned = self.positions();
                    }
                    continue;
                }
            }
            let batch = match subscription.next_batch(BATCH).await {
                Ok(batch) => batch,
                Err(eventlog::EventLogError::Closed) => {
                    if let Some(committing) = committing.take() {
                        let _ = committing.done().await;
                    }
                    if self.applied() >= log.head() {
                        break Break(());
                    }
                    // The last batch was not committed: its events go on the next writer.
                    break Continue(());
                }
                Err(e) => {
                    error!(error = %e, "table models: reading the log failed; retrying");
                    self.settle(&mut committing).await;
                    tokio::time::sleep(FOLLOW_EVERY).await;
                    subscription = log.subscribe(self.applied());
                    planned = self.positions();
                    continue;
                }
            };
            if lost.load(Ordering::Acquire) {
                break Continue(());
            }
            let pending = committing.as_ref().map_or(&[][..], |c| &c.writes[..]);
            let prepared = self.prepare(&batch, &planned, pending).await;
            let previous = match committing.take() {
                Some(committing) => committing.done().await,
                None => Ok(Committed::Yes),
            };
            let prepared = match prepared {
                Ok(prepared) if self.went_through(previous).await => prepared,
                prepared => {
                    if let Err(e) = prepared {
                        error!(error = %e, "table models: applying events failed; retrying");
                        tokio::time::sleep(FOLLOW_EVERY).await;
                        let _ = self.reload().await;
                    }
                    subscription = log.subscribe(self.applied());
                    planned = self.positions();
                    continue;
                }
            };
            for (index, to) in &prepared.moved_to {
                if let Some(position) = planned.get_mut(*index) {
                    *position = *to;
                }
            }
            let writes = prepared.writes();
            let task = tokio::spawn(self.clone().commit(prepared));
            committing = Some(Committing { task, writes });
            if batch.len() < BATCH {
                tokio::select! {
                    () = tokio::time::sleep(GATHER) => {}
                    () = self.awaited.notified() => {}
                }
            }
        };
        self.settle(&mut committing).await;
        flow
    }

    /// Whether a commit went through; when it did not (it failed, or another writer — a
    /// replay's swap, a node that took the lease — had moved a checkpoint), the stored
    /// checkpoints are made the models' own, to go on from.
    async fn went_through(&self, commit: Result<Committed, ProjectionError>) -> bool {
        match commit {
            Ok(Committed::Yes) => return true,
            Ok(Committed::Moved) => {}
            Err(e) => {
                error!(error = %e, "table models: committing events failed; retrying");
                tokio::time::sleep(FOLLOW_EVERY).await;
            }
        }
        if let Err(e) = self.reload().await {
            error!(error = %e, "table models: reading checkpoints failed");
        }
        false
    }

    /// Waits for the batch being committed, if any, and makes the stored checkpoints the
    /// models' own.
    async fn settle(&self, committing: &mut Option<Committing>) {
        if let Some(committing) = committing.take() {
            let _ = committing.done().await;
        }
        if let Err(e) = self.reload().await {
            error!(error = %e, "table models: reading checkpoints failed");
        }
    }

    /// Applies one batch to every table model from `from` (each model's position, in order),
    /// reading the rows of `pending` (a batch being committed) from there; returns the writes
    /// to commit.
    async fn prepare(
        &self,
        batch: &[Arc<RecordedEvent>],
        from: &[i64],
        pending: &[(usize, Arc<Writes>)],
    ) -> Result<Prepared, ProjectionError> {
        let mut changes = Vec::new();
        let mut moved_to = Vec::new();
        for (index, model) in self.models.iter().enumerate() {
            let from = from.get(index).copied().unwrap_or(0);
            let fresh: Vec<&Arc<RecordedEvent>> =
                batch.iter().filter(|e| e.position > from).collect();
            let Some(last) = fresh.last() else { continue };
            let pending = pending
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, writes)| writes.as_ref());
            let mut keys = Vec::new();
            for event in &fresh {
                model.projection.reads(event, &mut keys);
            }
            let mut fetched: BTreeSet<String> = keys.into_iter().collect();
            let mut stored = self.read_rows(model.table, &fetched, pending).await?;
            let writes = loop {
                match model.projection.apply_batch(&fresh, &stored, &fetched)? {
                    Applied::Writes(writes) => break writes,
                    Applied::Wants(more) => {
                        stored.extend(self.read_rows(model.table, &more, pending).await?);
                        fetched.extend(more);
                    }
                }
            };
            moved_to.push((index, last.position));
            changes.push(TableChanges {
                model: model.checkpoint_name.clone(),
                spec: model.projection.spec(),
                table: model.table,
                writes: Arc::new(writes),
                from,
                to: last.position,
            });
        }
        Ok(Prepared { changes, moved_to })
    }

    /// The rows at `keys`: from `pending` where it writes them, else from the table.
    async fn read_rows(
        &self,
        table: &str,
        keys: &BTreeSet<String>,
        pending: Option<&Writes>,
    ) -> Result<Vec<StoredRow>, ProjectionError> {
        let Some(pending) = pending else {
            return self.store.fetch(table, keys).await;
        };
        let mut rows = Vec::new();
        let mut unknown = BTreeSet::new();
        for key in keys {
            match pending.get(key) {
                Some(Some(row)) => rows.push(StoredRow {
                    key: key.clone(),
                    tenant: row.tenant.clone(),
                    doc: row.doc.clone(),
                }),
                Some(None) => {}
                None => {
                    unknown.insert(key.clone());
                }
            }
        }
        rows.extend(self.store.fetch(table, &unknown).await?);
        Ok(rows)
    }

    /// Commits a prepared batch, rows and checkpoints together, and publishes the new
    /// checkpoints.
    async fn commit(self, prepared: Prepared) -> Result<Committed, ProjectionError> {
        if prepared.changes.is_empty() {
            return Ok(Committed::Yes);
        }
        if !self.store.commit(prepared.changes).await? {
            return Ok(Committed::Moved);
        }
        for (index, to) in prepared.moved_to {
            if let Some(model) = self.models.get(index) {
                model.checkpoint.store(to, Ordering::Release);
            }
        }
        self.publish();
        Ok(Committed::Yes)
    }
}

/// The rows one model's batch writes (`None`: deleted).
type Writes = BTreeMap<String, Option<Row>>;

/// A batch applied and ready to commit.
struct Prepared {
    changes: Vec<TableChanges>,
    /// Each model's index and the position its checkpoint moves to.
    moved_to: Vec<(usize, i64)>,
}

impl Prepared {
    /// Each model's index and its writes.
    fn writes(&self) -> Vec<(usize, Arc<Writes>)> {
        self.moved_to
            .iter()
            .zip(&self.changes)
            .map(|((index, _), change)| (*index, change.writes.clone()))
            .collect()
    }
}

/// A batch being committed, and its writes for the next batch to read.
struct Committing {
    task: tokio::task::JoinHandle<Result<Committed, ProjectionError>>,
    writes: Vec<(usize, Arc<Writes>)>,
}

impl Committing {
    async fn done(self) -> Result<Committed, ProjectionError> {
        self.task
            .await
            .map_err(|e| ProjectionError::Invalid(format!("the commit task failed: {e}")))?
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
