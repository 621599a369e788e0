//! Persistence of read-model documents and checkpoints, for either backend.

use std::collections::BTreeMap;

use eventlog::DbPool;
use sqlx::Row;
use uuid::Uuid;

use crate::docs::Doc;
use crate::error::ProjectionError;

/// The writes of one model in one batch.
pub(crate) struct ModelChanges {
    pub model: String,
    pub writes: BTreeMap<String, Option<Doc>>,
    pub checkpoint: i64,
}

/// One model's writes as the SQLite writer stores them: the model, each key with its
/// document (tenant, JSON text) or none for a delete, and the checkpoint.
type SqliteRows = (String, Vec<(String, Option<(Option<String>, String)>)>, i64);

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

    /// The database.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// The checkpoint and every document of `model`, read in one snapshot.
    pub async fn load(&self, model: &str) -> Result<(i64, BTreeMap<String, Doc>), ProjectionError> {
        let mut docs = BTreeMap::new();
        let checkpoint;
        match &self.pool {
            DbPool::Sqlite { pool, .. } => {
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
            DbPool::Sqlite { writer, .. } => {
                // Owned rows, encoded here: the statements run on the writer's thread.
                let rows: Vec<SqliteRows> = changes
                    .iter()
                    .map(|change| {
                        let writes = change
                            .writes
                            .iter()
                            .map(|(key, doc)| {
                                let doc = doc.as_ref().map(|doc| {
                                    (doc.tenant_id.map(|t| t.to_string()), doc.value.to_string())
                                });
                                (key.clone(), doc)
                            })
                            .collect();
                        (change.model.clone(), writes, change.checkpoint)
                    })
                    .collect();
                writer
                    .transaction(move |tx| {
                        let mut upsert = tx.prepare_cached(
                            "INSERT INTO read_model_docs (model, key, tenant_id, doc) VALUES (?1, ?2, ?3, ?4) \
                             ON CONFLICT (model, key) DO UPDATE SET tenant_id = excluded.tenant_id, doc = excluded.doc",
                        )?;
                        let mut delete = tx.prepare_cached(
                            "DELETE FROM read_model_docs WHERE model = ?1 AND key = ?2",
                        )?;
                        let mut checkpoint = tx.prepare_cached(
                            "INSERT INTO read_model_checkpoints (model, position) VALUES (?1, ?2) \
                             ON CONFLICT (model) DO UPDATE SET position = excluded.position",
                        )?;
                        for (model, writes, position) in &rows {
                            for (key, doc) in writes {
                                match doc {
                                    Some((tenant, text)) => {
                                        upsert.execute(rusqlite::params![model, key, tenant, text])?
                                    }
                                    None => delete.execute(rusqlite::params![model, key])?,
                                };
                            }
                            checkpoint.execute(rusqlite::params![model, position])?;
                        }
                        Ok(())
                    })
                    .await?;
            }
            DbPool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for change in changes {
                    // Several nodes save the same models: the checkpoint moves only forward,
                    // and a save older than the stored one is dropped (the node that saved
                    // further had applied every event this one had, so its rows are newer).
                    let moved: Option<i64> = sqlx::query_scalar(
                        "INSERT INTO read_model_checkpoints (model, position) VALUES ($1, $2) \
                         ON CONFLICT (model) DO UPDATE SET position = excluded.position \
                         WHERE read_model_checkpoints.position <= excluded.position \
                         RETURNING position",
                    )
                    .bind(&change.model)
                    .bind(change.checkpoint)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if moved.is_none() {
                        continue;
                    }
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
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Drops every document and the checkpoint of `model`.
    pub async fn drop_model(&self, model: &str) -> Result<(), ProjectionError> {
        match &self.pool {
            DbPool::Sqlite { writer, .. } => {
                let model = model.to_owned();
                writer
                    .transaction(move |tx| {
                        tx.execute("DELETE FROM read_model_docs WHERE model = ?1", [&model])?;
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
            DbPool::Sqlite { writer, .. } => {
                let (from, to) = (from.to_owned(), to.to_owned());
                writer
                    .transaction(move |tx| {
                        for sql in [
                            "DELETE FROM read_model_docs WHERE model = ?2 AND ?1 = ?1",
                            "DELETE FROM read_model_checkpoints WHERE model = ?2 AND ?1 = ?1",
                            "UPDATE read_model_docs SET model = ?2 WHERE model = ?1",
                            "UPDATE read_model_checkpoints SET model = ?2 WHERE model = ?1",
                        ] {
                            tx.execute(sql, [&from, &to])?;
                        }
                        Ok(())
                    })
                    .await?;
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
