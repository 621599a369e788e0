//! Who writes the table models in a cluster: on PostgreSQL, the node holding a session advisory
//! lock on a connection of its own; when that node dies its connection closes, the lock is
//! released and another node takes it within a second. SQLite has one node and no lease.
//!
//! The lease saves work; it is not what keeps the tables right: every commit moves a model's
//! checkpoint only from where its writer found it, so a node that lost its lease without
//! knowing writes nothing.

use eventlog::DbPool;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Postgres};

use crate::error::ProjectionError;

/// Key of the advisory lock held by the node that writes the table models.
const TABLE_WRITER_KEY: i64 = 0x6363_7461_626c_6573; // "cctables"

/// The right to write the table models.
pub(crate) enum Lease {
    /// The only node (SQLite).
    Sole,
    /// The lock, held on a connection of its own.
    Held(sqlx::PgConnection),
}

impl Lease {
    /// Takes the lease if no other node holds it.
    pub(crate) async fn try_take(pool: &DbPool) -> Result<Option<Lease>, ProjectionError> {
        match pool {
            DbPool::Sqlite { .. } => Ok(Some(Lease::Sole)),
            DbPool::Postgres(pool) => {
                let connection: PoolConnection<Postgres> = pool.acquire().await?;
                let mut connection = connection.detach();
                let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(TABLE_WRITER_KEY)
                    .fetch_one(&mut connection)
                    .await?;
                if taken {
                    Ok(Some(Lease::Held(connection)))
                } else {
                    let _ = connection.close().await;
                    Ok(None)
                }
            }
        }
    }

    /// Whether the lease still holds (its connection answers).
    pub(crate) async fn holds(&mut self) -> bool {
        match self {
            Lease::Sole => true,
            Lease::Held(connection) => connection.ping().await.is_ok(),
        }
    }
}
