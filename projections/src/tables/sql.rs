//! Read statements over the table models on either backend: a statement built piece by piece
//! with its arguments (placeholders `?` on SQLite, `$n` on PostgreSQL), and the two ways they
//! are read (rows of documents, one count).

use eventlog::DbPool;
use sqlx::Row;
use uuid::Uuid;

use super::spec::{Cell, StoredRow};
use crate::docs::Doc;
use crate::error::ProjectionError;

/// Binds every argument of a statement to a sqlx query of either backend.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Cell::Int(v) => query.bind(*v),
                Cell::Text(v) => query.bind(v.clone()),
                Cell::Bool(v) => query.bind(*v),
            };
        }
        query
    }};
}

/// A statement and its arguments, for one backend.
#[derive(Debug, Clone)]
pub struct Sql {
    text: String,
    args: Vec<Cell>,
    postgres: bool,
}

impl Sql {
    /// An empty statement for the backend of `pool`.
    pub fn new(pool: &DbPool) -> Self {
        Self {
            text: String::new(),
            args: Vec::new(),
            postgres: matches!(pool, DbPool::Postgres(_)),
        }
    }

    /// Whether the statement is for PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn arg(&mut self, value: Cell) -> &mut Self {
        self.args.push(value);
        if self.postgres {
            self.text.push_str(&format!("${}", self.args.len()));
        } else {
            self.text.push('?');
        }
        self
    }

    /// Appends a text argument.
    pub fn text(&mut self, value: impl Into<String>) -> &mut Self {
        self.arg(Cell::Text(Some(value.into())))
    }

    /// Appends an integer argument.
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.arg(Cell::Int(Some(value)))
    }

    /// `position(needle in column) > 0`: whether `column` contains `needle`, case-sensitively
    /// and with no wildcard characters.
    pub fn contains(&mut self, column: &str, needle: &str) -> &mut Self {
        if self.postgres {
            self.push("strpos(").push(column).push(", ");
        } else {
            self.push("instr(").push(column).push(", ");
        }
        self.text(needle).push(") > 0")
    }

    /// The text, for tests and logs.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Rows of `(key, tenant_id, doc)` the statement selects, in its order, as stored.
    pub(crate) async fn stored_rows(
        &self,
        pool: &DbPool,
    ) -> Result<Vec<StoredRow>, ProjectionError> {
        fn stored(key: String, tenant: Option<String>, doc: String) -> StoredRow {
            StoredRow { key, tenant, doc }
        }
        Ok(match pool {
            DbPool::Sqlite { pool, .. } => bind_all!(sqlx::query(&self.text), &self.args)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|row| Ok(stored(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?,
            DbPool::Postgres(pool) => bind_all!(sqlx::query(&self.text), &self.args)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|row| Ok(stored(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?,
        })
    }

    /// Rows of `(key, tenant_id, doc)` the statement selects, in its order.
    pub async fn documents(&self, pool: &DbPool) -> Result<Vec<(String, Doc)>, ProjectionError> {
        self.stored_rows(pool)
            .await?
            .into_iter()
            .map(|row| Ok((row.key, decode_row(row.tenant, &row.doc)?)))
            .collect()
    }

    /// The one integer the statement selects (a count).
    pub async fn count(&self, pool: &DbPool) -> Result<i64, ProjectionError> {
        Ok(match pool {
            DbPool::Sqlite { pool, .. } => {
                bind_all!(sqlx::query_scalar::<_, i64>(&self.text), &self.args)
                    .fetch_one(pool)
                    .await?
            }
            DbPool::Postgres(pool) => {
                bind_all!(sqlx::query_scalar::<_, i64>(&self.text), &self.args)
                    .fetch_one(pool)
                    .await?
            }
        })
    }
}

/// A stored row as a document.
pub(crate) fn decode_row(tenant: Option<String>, text: &str) -> Result<Doc, ProjectionError> {
    Ok(Doc {
        tenant_id: tenant.and_then(|t| Uuid::parse_str(&t).ok()),
        value: serde_json::from_str(text).map_err(|source| ProjectionError::Json {
            position: 0,
            source,
        })?,
    })
}
