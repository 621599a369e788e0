//! Storage of the table models on either backend: the rows a batch reads, the rows and
//! checkpoints it writes (in one transaction, the checkpoint moved only from where the writer
//! found it), and the digest and swap that `callcore replay` uses.

use std::collections::{BTreeMap, BTreeSet};

use eventlog::DbPool;
use futures::TryStreamExt;
use sqlx::Row as _;

use super::spec::{Cell, Row, StoredRow, TableSpec};
use super::sql::{decode_row, Sql};
use crate::docs::DocHasher;
use crate::error::ProjectionError;

/// Keys read per statement at most (SQLite allows 32,766 arguments; PostgreSQL takes an array).
const KEYS_PER_READ: usize = 500;

/// The writes of one table model in one batch, and the checkpoint they move it from and to.
#[derive(Debug)]
pub(crate) struct TableChanges {
    pub model: String,
    pub spec: &'static TableSpec,
    pub table: &'static str,
    pub writes: std::sync::Arc<BTreeMap<String, Option<Row>>>,
    pub from: i64,
    pub to: i64,
}

/// Reads and writes the tables of the table models.
#[derive(Debug, Clone)]
pub struct TableStore {
    pool: DbPool,
}

fn upsert_sql(spec: &TableSpec, table: &str, postgres: bool) -> String {
    let columns: Vec<&str> = ["key", "tenant_id", "doc"]
        .into_iter()
        .chain(spec.columns.iter().copied())
        .collect();
    let placeholders: Vec<String> = (1..=columns.len())
        .map(|n| {
            if postgres {
                format!("${n}")
            } else {
                format!("?{n}")
            }
        })
        .collect();
    let updates: Vec<String> = columns[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT (key) DO UPDATE SET {}",
        columns.join(", "),
        placeholders.join(", "),
        updates.join(", ")
    )
}

fn to_sqlite(cell: &Cell) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match cell {
        Cell::Int(v) => v.map_or(Value::Null, Value::Integer),
        Cell::Text(v) => v.clone().map_or(Value::Null, Value::Text),
        Cell::Bool(v) => Value::Integer(i64::from(*v)),
    }
}

/// The outcome of streaming a table's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDigest {
    /// The model's checkpoint, read in the same snapshot as the rows.
    pub checkpoint: i64,
    /// Rows.
    pub rows: usize,
    /// SHA-256 over every row in key order (key, tenant and canonical JSON), as for documents.
    pub digest: String,
}

impl TableStore {
    /// A store on the log's database.
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }

    /// The database.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// The rows of `table` at `keys` (those that exist), as stored.
    pub(crate) async fn fetch(
        &self,
        table: &str,
        keys: &BTreeSet<String>,
    ) -> Result<Vec<StoredRow>, ProjectionError> {
        let mut found = Vec::with_capacity(keys.len());
        let keys: Vec<&String> = keys.iter().collect();
        for chunk in keys.chunks(KEYS_PER_READ) {
            let mut sql = Sql::new(&self.pool);
            sql.push("SELECT key, tenant_id, doc FROM ")
                .push(table)
                .push(" WHERE key IN (");
            for (n, key) in chunk.iter().enumerate() {
                if n > 0 {
                    sql.push(", ");
                }
                sql.text(key.as_str());
            }
            sql.push(")");
            found.extend(sql.stored_rows(&self.pool).await?);
        }
        Ok(found)
    }

    /// The stored checkpoint of each of `models` (0 when it has none).
    pub(crate) async fn checkpoints(
        &self,
        models: &[String],
    ) -> Result<BTreeMap<String, i64>, ProjectionError> {
        let mut found = BTreeMap::new();
        for model in models {
            let mut sql = Sql::new(&self.pool);
            sql.push(
                "SELECT COALESCE(MAX(position), 0) FROM read_model_checkpoints WHERE model = ",
            )
            .text(model.as_str());
            found.insert(model.clone(), sql.count(&self.pool).await?);
        }
        Ok(found)
    }

    /// Writes the changes of several models in one transaction, each model's checkpoint moved
    /// from `from` to `to` only if it still is at `from`. Returns `false`, having written
    /// nothing, when one was not (another writer moved it). The rows are rebuilt from the log,
    /// so the commit does not wait for the disk; it is atomic, rows with their checkpoint.
    pub(crate) async fn commit(&self, changes: Vec<TableChanges>) -> Result<bool, ProjectionError> {
        match &self.pool {
            DbPool::Sqlite { writer, .. } => Ok(writer
                .rebuildable_transaction(move |tx| {
                    for change in &changes {
                        if !sqlite_move_checkpoint(tx, &change.model, change.from, change.to)? {
                            return Ok(false);
                        }
                    }
                    for change in &changes {
                        sqlite_write(tx, change)?;
                    }
                    Ok(true)
                })
                .await?),
            DbPool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET LOCAL synchronous_commit = off")
                    .execute(&mut *tx)
                    .await?;
                for change in &changes {
                    if !postgres_move_checkpoint(&mut tx, &change.model, change.from, change.to)
                        .await?
                    {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                }
                for change in &changes {
                    postgres_write(&mut tx, change).await?;
                }
                tx.commit().await?;
                Ok(true)
            }
        }
    }

    /// Empties `table` and drops the checkpoint of `model` (before a rebuild into it).
    pub async fn clear(&self, table: &str, model: &str) -> Result<(), ProjectionError> {
        match &self.pool {
            DbPool::Sqlite { writer, .. } => {
                let (table, model) = (table.to_owned(), model.to_owned());
                writer
                    .transaction(move |tx| {
                        tx.execute(&format!("DELETE FROM {table}"), [])?;
                        tx.execute(
                            "DELETE FROM read_model_checkpoints WHERE model = ?1",
                            [&model],
                        )?;
                        Ok(())
                    })
                    .await?;
            }
            DbPool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(&format!("DELETE FROM {table}"))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM read_model_checkpoints WHERE model = $1")
                    .bind(model)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Streams every row of `table` in key order into a digest, with the checkpoint of `model`
    /// read in the same snapshot; memory stays flat however many rows there are.
    pub async fn digest(&self, table: &str, model: &str) -> Result<TableDigest, ProjectionError> {
        let select = format!("SELECT key, tenant_id, doc FROM {table} ORDER BY key");
        let mut hasher = DocHasher::default();
        let mut add = |key: String, tenant: Option<String>, text: String| {
            hasher.add(&key, &decode_row(tenant, &text)?);
            Ok::<(), ProjectionError>(())
        };
        let checkpoint = match &self.pool {
            DbPool::Sqlite { pool, .. } => {
                let mut tx = pool.begin().await?;
                let checkpoint = sqlx::query_scalar::<_, i64>(
                    "SELECT COALESCE(MAX(position), 0) FROM read_model_checkpoints WHERE model = ?",
                )
                .bind(model)
                .fetch_one(&mut *tx)
                .await?;
                let mut stream = sqlx::query(&select).fetch(&mut *tx);
                while let Some(row) = stream.try_next().await? {
                    add(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)?;
                }
                drop(stream);
                tx.commit().await?;
                checkpoint
            }
            DbPool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                let checkpoint = sqlx::query_scalar::<_, i64>(
                    "SELECT COALESCE(MAX(position), 0) FROM read_model_checkpoints WHERE model = $1",
                )
                .bind(model)
                .fetch_one(&mut *tx)
                .await?;
                let mut stream = sqlx::query(&select).fetch(&mut *tx);
                while let Some(row) = stream.try_next().await? {
                    add(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)?;
                }
                drop(stream);
                tx.commit().await?;
                checkpoint
            }
        };
        Ok(TableDigest {
            checkpoint,
            rows: hasher.count,
            digest: hasher.finish(),
        })
    }

    /// Replaces the rows and checkpoint of `live` (table `spec.table`) with those rebuilt under
    /// `rebuilt` (table `spec.rebuild`), in one transaction; the live writer finds its
    /// checkpoint moved and goes on from the new one.
    pub async fn swap(
        &self,
        spec: &'static TableSpec,
        rebuilt: &str,
        live: &str,
    ) -> Result<(), ProjectionError> {
        let statements = [
            format!("DELETE FROM {}", spec.table),
            format!("INSERT INTO {} SELECT * FROM {}", spec.table, spec.rebuild),
            format!("DELETE FROM {}", spec.rebuild),
        ];
        match &self.pool {
            DbPool::Sqlite { writer, .. } => {
                let (rebuilt, live) = (rebuilt.to_owned(), live.to_owned());
                writer
                    .transaction(move |tx| {
                        for statement in &statements {
                            tx.execute(statement, [])?;
                        }
                        tx.execute(
                            "INSERT INTO read_model_checkpoints (model, position) \
                             SELECT ?2, position FROM read_model_checkpoints WHERE model = ?1 \
                             ON CONFLICT (model) DO UPDATE SET position = excluded.position",
                            [&rebuilt, &live],
                        )?;
                        tx.execute(
                            "DELETE FROM read_model_checkpoints WHERE model = ?1",
                            [&rebuilt],
                        )?;
                        Ok(())
                    })
                    .await?;
            }
            DbPool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for statement in &statements {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                sqlx::query(
                    "INSERT INTO read_model_checkpoints (model, position) \
                     SELECT $2, position FROM read_model_checkpoints WHERE model = $1 \
                     ON CONFLICT (model) DO UPDATE SET position = excluded.position",
                )
                .bind(rebuilt)
                .bind(live)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM read_model_checkpoints WHERE model = $1")
                    .bind(rebuilt)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

/// Moves `model`'s checkpoint from `from` to `to` if it is at `from` (absent counts as 0).
fn sqlite_move_checkpoint(
    tx: &rusqlite::Transaction<'_>,
    model: &str,
    from: i64,
    to: i64,
) -> Result<bool, eventlog::EventLogError> {
    let moved = tx.execute(
        "UPDATE read_model_checkpoints SET position = ?3 WHERE model = ?1 AND position = ?2",
        rusqlite::params![model, from, to],
    )?;
    if moved == 1 {
        return Ok(true);
    }
    Ok(from == 0
        && tx.execute(
            "INSERT INTO read_model_checkpoints (model, position) VALUES (?1, ?2) \
             ON CONFLICT (model) DO NOTHING",
            rusqlite::params![model, to],
        )? == 1)
}

/// Writes the rows of one model's batch, one prepared statement per row.
fn sqlite_write(
    tx: &rusqlite::Transaction<'_>,
    change: &TableChanges,
) -> Result<(), eventlog::EventLogError> {
    use rusqlite::types::Value;
    let mut upsert = tx.prepare_cached(&upsert_sql(change.spec, change.table, false))?;
    let mut delete = tx.prepare_cached(&format!("DELETE FROM {} WHERE key = ?1", change.table))?;
    for (key, row) in change.writes.iter() {
        match row {
            Some(row) => {
                let mut values = Vec::with_capacity(3 + row.cells.len());
                values.push(Value::Text(key.clone()));
                values.push(row.tenant.clone().map_or(Value::Null, Value::Text));
                values.push(Value::Text(row.doc.clone()));
                values.extend(row.cells.iter().map(to_sqlite));
                upsert.execute(rusqlite::params_from_iter(values))?;
            }
            None => {
                delete.execute([key])?;
            }
        }
    }
    Ok(())
}

/// Moves `model`'s checkpoint from `from` to `to` if it is at `from` (absent counts as 0).
async fn postgres_move_checkpoint(
    tx: &mut sqlx::PgConnection,
    model: &str,
    from: i64,
    to: i64,
) -> Result<bool, ProjectionError> {
    let moved = sqlx::query(
        "UPDATE read_model_checkpoints SET position = $3 WHERE model = $1 AND position = $2",
    )
    .bind(model)
    .bind(from)
    .bind(to)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 1 {
        return Ok(true);
    }
    Ok(from == 0
        && sqlx::query(
            "INSERT INTO read_model_checkpoints (model, position) VALUES ($1, $2) \
             ON CONFLICT (model) DO NOTHING",
        )
        .bind(model)
        .bind(to)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1)
}

/// One column of a batch's rows, as a PostgreSQL array.
enum Column {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    Bool(Vec<bool>),
}

impl Column {
    fn of(cell: &Cell) -> Self {
        match cell {
            Cell::Int(_) => Self::Int(Vec::new()),
            Cell::Text(_) => Self::Text(Vec::new()),
            Cell::Bool(_) => Self::Bool(Vec::new()),
        }
    }

    fn push(&mut self, cell: &Cell) -> Result<(), ProjectionError> {
        match (self, cell) {
            (Self::Int(values), Cell::Int(v)) => values.push(*v),
            (Self::Text(values), Cell::Text(v)) => values.push(v.clone()),
            (Self::Bool(values), Cell::Bool(v)) => values.push(*v),
            _ => return Err(ProjectionError::Invalid("a column changed its type".into())),
        }
        Ok(())
    }

    fn array_type(&self) -> &'static str {
        match self {
            Self::Int(_) => "bigint[]",
            Self::Text(_) => "text[]",
            Self::Bool(_) => "boolean[]",
        }
    }
}

/// Writes the rows of one model's batch: every upsert in one statement over arrays, every
/// deletion in another.
async fn postgres_write(
    tx: &mut sqlx::PgConnection,
    change: &TableChanges,
) -> Result<(), ProjectionError> {
    let (mut keys, mut tenants, mut docs) = (Vec::new(), Vec::new(), Vec::new());
    let mut columns: Vec<Column> = Vec::new();
    let mut deleted: Vec<&str> = Vec::new();
    for (key, row) in change.writes.iter() {
        let Some(row) = row else {
            deleted.push(key);
            continue;
        };
        if columns.is_empty() {
            columns = row.cells.iter().map(Column::of).collect();
        }
        if row.cells.len() != columns.len() {
            return Err(ProjectionError::Invalid("a row lacks columns".into()));
        }
        for (column, cell) in columns.iter_mut().zip(&row.cells) {
            column.push(cell)?;
        }
        keys.push(key.as_str());
        tenants.push(row.tenant.as_deref());
        docs.push(row.doc.as_str());
    }
    if !keys.is_empty() {
        let names: Vec<&str> = ["key", "tenant_id", "doc"]
            .into_iter()
            .chain(change.spec.columns.iter().copied())
            .collect();
        let arrays: Vec<String> = ["text[]", "text[]", "text[]"]
            .into_iter()
            .chain(columns.iter().map(Column::array_type))
            .enumerate()
            .map(|(n, kind)| format!("${}::{kind}", n + 1))
            .collect();
        let updates: Vec<String> = names[1..]
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        let statement = format!(
            "INSERT INTO {} ({}) SELECT * FROM UNNEST({}) ON CONFLICT (key) DO UPDATE SET {}",
            change.table,
            names.join(", "),
            arrays.join(", "),
            updates.join(", ")
        );
        let mut query = sqlx::query(&statement).bind(keys).bind(tenants).bind(docs);
        for column in columns {
            query = match column {
                Column::Int(values) => query.bind(values),
                Column::Text(values) => query.bind(values),
                Column::Bool(values) => query.bind(values),
            };
        }
        query.execute(&mut *tx).await?;
    }
    if !deleted.is_empty() {
        sqlx::query(&format!("DELETE FROM {} WHERE key = ANY($1)", change.table))
            .bind(deleted)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
