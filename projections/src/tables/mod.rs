//! Table read models: projections whose documents are rows of an indexed table of their own
//! (call records, the audit log), written with their checkpoint in one transaction and queried
//! in SQL, so they grow with the years of traffic on disk and not in memory (ADR 0014).

pub(crate) mod lease;
pub(crate) mod rows;
pub(crate) mod spec;
pub(crate) mod sql;
pub(crate) mod store;
pub(crate) mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use eventlog::RecordedEvent;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ProjectionError;
pub use rows::Rows;
pub use spec::{Cell, Row, StoredRow, TableSpec};

/// A projection kept in a table of typed rows: it says which row each event reads (fetched and
/// decoded once before the batch applies), changes rows in place while the batch applies, and
/// says which column values a row has. Must be deterministic, as every projection.
pub trait TableProjection: Send + Sync + 'static {
    /// A row's document.
    type Row: Serialize + DeserializeOwned + Send;

    /// Stable name; also the name of its checkpoint.
    fn name(&self) -> &'static str;

    /// Its table.
    fn spec(&self) -> &'static TableSpec;

    /// The keys of the rows `event` reads or changes in place, as far as the event tells:
    /// they are fetched before the batch applies. A row read that is not named here is fetched
    /// too, at the cost of applying the batch again.
    fn reads(&self, event: &RecordedEvent, keys: &mut Vec<String>);

    /// Applies one event to the rows of the batch.
    fn apply(
        &self,
        event: &RecordedEvent,
        rows: &mut Rows<Self::Row>,
    ) -> Result<(), ProjectionError>;

    /// The values of the indexed columns of `row`, in the order of [`TableSpec::columns`].
    fn columns(&self, row: &Self::Row) -> Vec<Cell>;
}

/// A table projection with its row type hidden, as the writer holds one.
pub trait AnyTableProjection: Send + Sync + 'static {
    /// Stable name.
    fn name(&self) -> &'static str;

    /// Its table.
    fn spec(&self) -> &'static TableSpec;

    /// The keys of the rows `event` reads, as far as the event tells.
    fn reads(&self, event: &RecordedEvent, keys: &mut Vec<String>);

    /// Applies `events` to `stored`, the rows found at `fetched`: each row written (`None`:
    /// deleted), encoded for the store, or the keys it looked at that were not fetched.
    fn apply_batch(
        &self,
        events: &[&Arc<RecordedEvent>],
        stored: &[StoredRow],
        fetched: &BTreeSet<String>,
    ) -> Result<Applied, ProjectionError>;
}

/// The outcome of applying a batch to the rows fetched for it.
pub enum Applied {
    /// The rows written (`None`: deleted), encoded for the store.
    Writes(BTreeMap<String, Option<Row>>),
    /// Rows to fetch before the batch is applied again.
    Wants(BTreeSet<String>),
}

impl<P: TableProjection> AnyTableProjection for P {
    fn name(&self) -> &'static str {
        TableProjection::name(self)
    }

    fn spec(&self) -> &'static TableSpec {
        TableProjection::spec(self)
    }

    fn reads(&self, event: &RecordedEvent, keys: &mut Vec<String>) {
        TableProjection::reads(self, event, keys)
    }

    fn apply_batch(
        &self,
        events: &[&Arc<RecordedEvent>],
        stored: &[StoredRow],
        fetched: &BTreeSet<String>,
    ) -> Result<Applied, ProjectionError> {
        let mut rows = Rows::decode(stored, fetched)?;
        for event in events {
            self.apply(event, &mut rows)?;
        }
        let wanted = rows.take_wanted();
        if !wanted.is_empty() {
            return Ok(Applied::Wants(wanted));
        }
        Ok(Applied::Writes(rows.encode(|row| self.columns(row))?))
    }
}
