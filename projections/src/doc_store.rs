//! Persistence of read-model documents and checkpoints, for either backend.

use std::collections::BTreeMap;

use eventlog::DbPool;
use sqlx::Row;
use uuid::Uuid;

use crate::docs::Doc;
use crate::ProjectionError;

/// The writes of one model in one batch.
pub(crate) struct ModelChanges {
    pub model: String,
    pub writes: BTreeMap<String, Option<Doc>>,
    pub checkpoint: i64,
}

/// Reads and writes the `read_model_docs` and `read_model_checkpoints` tables.
#[derive(Debug, Clone)]
pub struct DocStore {
    pool: DbPool,
}

fn decode_doc(position: i64, tenant: Option<Uuid>, text: &str) -> Result<Doc, ProjectionError> {
    Ok(Doc {
        tenant_id: tenant,
        value: serde_json::from_str(text)
            .map_err(|source| ProjectionError::Json { position, source })?,
    })
}

impl DocStore {
    /// A store on the log's database.
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }

    /// The checkpoint and every document of `model`, read in one snapshot.
    pub async fn load(&self, model: &str) -> Result<(i64, BTreeMap<String, Doc>), ProjectionError> {
        let mut docs = BTreeMap::new();
        let checkpoint;
        match &self.pool {
            DbPool::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                checkpoint = sqlx::query_scalar::<_, i64>(
                    "SELECT position FROM read_model_checkpoints WHERE model = ?",
                )
                .bind(model)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or(0);
                for row in
                    sqlx::query("SELECT key, tenant_id, doc FROM read_model_docs WHERE model = ?")
                        .bind(model)
                        .fetch_all(&mut *tx)
                        .await?
                {
                    let tenant: Option<String> = row.try_get("tenant_id")?;
                    let tenant = tenant.and_then(|t| Uuid::parse_str(&t).ok());
                    let text: String = row.try_get("doc")?;
                    docs.insert(row.try_get("key")?, decode_doc(0, tenant, &text)?);
                }
                tx.commit().await?;
            }
            DbPool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .execute(&mut *tx)
                    .await?;
                checkpoint = sqlx::query_scalar::<_, i64>(
                    "SELECT position FROM read_model_checkpoints WHERE model = $1",
                )
                .bind(model)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or(0);
                for row in
                    sqlx::query("SELECT key, tenant_id, doc FROM read_model_docs WHERE model = $1")
                        .bind(model)
                        .fetch_all(&mut *tx)
                        .await?
                {
                    let text: String = row.try_get("doc")?;
                    docs.insert(
                        row.try_get("key")?,
                        decode_doc(0, row.try_get("tenant_id")?, &text)?,
                    );
                }
                tx.commit().await?;
            }
        }
        Ok((checkpoint, docs))
    }

    /// Writes the changes of several models and their checkpoints in one transaction.
    pub(crate) async fn commit(&self, changes: &[ModelChanges]) -> Result<(), ProjectionError> {
        match &self.pool {
            DbPool::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                for change in changes {
                    for (key, doc) in &change.writes {
                        match doc {
                            Some(doc) => {
                                sqlx::query(
                                    "INSERT INTO read_model_docs (model, key, tenant_id, doc) VALUES (?, ?, ?, ?) \
                                     ON CONFLICT (model, key) DO UPDATE SET tenant_id = excluded.tenant_id, doc = excluded.doc",
                                )
                                .bind(&change.model)
                                .bind(key)
                                .bind(doc.tenant_id.map(|t| t.to_string()))
                                .bind(doc.value.to_string())
                                .execute(&mut *tx)
                                .await?;
                            }
                            None => {
                                sqlx::query(
                                    "DELETE FROM read_model_docs WHERE model = ? AND key = ?",
                                )
                                .bind(&change.model)
                                .bind(key)
                                .execute(&mut *tx)
                                .await?;
                            }
                        }
                    }
                    sqlx::query(
                        "INSERT INTO read_model_checkpoints (model, position) VALUES (?, ?) \
                         ON CONFLICT (model) DO UPDATE SET position = excluded.position",
                    )
                    .bind(&change.model)
                    .bind(change.checkpoint)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
            DbPool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for change in changes {
                    for (key, doc) in &change.writes {
                        match doc {
                            Some(doc) => {
                                sqlx::query(
                                    "INSERT INTO read_model_docs (model, key, tenant_id, doc) VALUES ($1, $2, $3, $4) \
                                     ON CONFLICT (model, key) DO UPDATE SET tenant_id = excluded.tenant_id, doc = excluded.doc",
                                )
                                .bind(&change.model)
                                .bind(key)
                                .bind(doc.tenant_id)
                                .bind(doc.value.to_string())
                                .execute(&mut *tx)
                                .await?;
                            }
                            None => {
                                sqlx::query(
                                    "DELETE FROM read_model_docs WHERE model = $1 AND key = $2",
                                )
                                .bind(&change.model)
                                .bind(key)
                                .execute(&mut *tx)
                                .await?;
                            }
                        }
                    }
                    sqlx::query(
                        "INSERT INTO read_model_checkpoints (model, position) VALUES ($1, $2) \
                         ON CONFLICT (model) DO UPDATE SET position = excluded.position",
                    )
                    .bind(&change.model)
                    .bind(change.checkpoint)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Drops every document and the checkpoint of `model`.
    pub async fn drop_model(&self, model: &str) -> Result<(), ProjectionError> {
        match &self.pool {
            DbPool::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                sqlx::query("DELETE FROM read_model_docs WHERE model = ?")
                    .bind(model)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM read_model_checkpoints WHERE model = ?")
                    .bind(model)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            DbPool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("DELETE FROM read_model_docs WHERE model = $1")
                    .bind(model)
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

    /// Renames model `from` to `to`, replacing what `to` had, in one transaction.
    pub async fn swap(&self, from: &str, to: &str) -> Result<(), ProjectionError> {
        match &self.pool {
            DbPool::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                for sql in [
                    "DELETE FROM read_model_docs WHERE model = ?2",
                    "DELETE FROM read_model_checkpoints WHERE model = ?2",
                    "UPDATE read_model_docs SET model = ?2 WHERE model = ?1",
                    "UPDATE read_model_checkpoints SET model = ?2 WHERE model = ?1",
                ] {
                    sqlx::query(sql)
                        .bind(from)
                        .bind(to)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
            DbPool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for sql in [
                    "DELETE FROM read_model_docs WHERE model = $2 AND $1 = $1",
                    "DELETE FROM read_model_checkpoints WHERE model = $2 AND $1 = $1",
                    "UPDATE read_model_docs SET model = $2 WHERE model = $1",
                    "UPDATE read_model_checkpoints SET model = $2 WHERE model = $1",
                ] {
                    sqlx::query(sql)
                        .bind(from)
                        .bind(to)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }
}
