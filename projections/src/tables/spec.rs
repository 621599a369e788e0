//! The shapes shared by the table models' parts: a column value, a table's columns, and a row
//! as stored and as written.

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

/// A row to write: its tenant, its document as JSON and its indexed columns.
#[derive(Debug, Clone)]
pub struct Row {
    /// Its enterprise.
    pub tenant: Option<String>,
    /// Its document.
    pub doc: String,
    /// Its indexed columns, in the order of [`TableSpec::columns`].
    pub cells: Vec<Cell>,
}

/// A row as stored: its key, tenant and document text.
#[derive(Debug, Clone)]
pub struct StoredRow {
    /// Its key.
    pub key: String,
    /// Its enterprise.
    pub tenant: Option<String>,
    /// Its document.
    pub doc: String,
}
