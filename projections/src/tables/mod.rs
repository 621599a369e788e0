//! Table read models: projections whose documents are rows of an indexed table of their own
//! (call records, the audit log), written with their checkpoint in one transaction and queried
//! in SQL, so they grow with the years of traffic on disk and not in memory (ADR 0014).

pub(crate) mod lease;
pub(crate) mod sql;
pub(crate) mod store;
pub(crate) mod writer;

use eventlog::RecordedEvent;

use crate::docs::Doc;
use crate::projection::Projection;

/// A value of an indexed column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// An integer (times are microseconds since the Unix epoch).
    Int(Option<i64>),
    /// Text (ids are their hyphenated lowercase form).
    Text(Option<String>),
    /// A flag.
    Bool(bool),
}

/// The table a table projection writes: besides `key`, `tenant_id` and `doc`, the indexed
/// columns its queries filter on.
#[derive(Debug)]
pub struct TableSpec {
    /// The live table.
    pub table: &'static str,
    /// The table `callcore replay` rebuilds into.
    pub rebuild: &'static str,
    /// The indexed columns, in the order [`TableProjection::columns`] gives their values.
    pub columns: &'static [&'static str],
}

/// A projection kept in a table: it changes documents like any [`Projection`], and says which
/// row each event reads (fetched before the batch applies) and which column values a document
/// has.
pub trait TableProjection: Projection {
    /// Its table.
    fn spec(&self) -> &'static TableSpec;

    /// The key of the row `event` reads or changes in place, if any. A projection only reads
    /// rows named here.
    fn reads(&self, event: &RecordedEvent) -> Option<String>;

    /// The values of the indexed columns of `doc`, in the order of [`TableSpec::columns`].
    fn columns(&self, doc: &Doc) -> Vec<Cell>;
}
