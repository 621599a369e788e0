//! The node's one SQLite write connection. The log's commits and every other writer of the
//! same file (the read models' saves) take turns on it in this process, so none of them waits
//! in SQLite's busy handler, which sleeps in steps of up to 100 ms before it tries the lock
//! again: a save that held the file's write lock for 10 ms could otherwise delay a call's
//! events by 100 ms.

use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::TransactionBehavior;

use crate::error::EventLogError;

/// A handle on the write connection; clones share it.
#[derive(Clone)]
pub struct SqliteWriter {
    connection: Arc<Mutex<rusqlite::Connection>>,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWriter").finish_non_exhaustive()
    }
}

impl SqliteWriter {
    /// Wraps an open connection (WAL mode, its pragmas set).
    pub(crate) fn new(connection: rusqlite::Connection) -> Self {
        Self {
            connection: Arc::new(Mutex::new(connection)),
        }
    }

    /// Runs `work` in one IMMEDIATE transaction on a blocking thread and commits it when
    /// `work` succeeds; on an error nothing of it is kept.
    pub async fn transaction<T, F>(&self, work: F) -> Result<T, EventLogError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, EventLogError> + Send + 'static,
    {
        self.run(true, work).await
    }

    /// As [`Self::transaction`], for data rebuilt from the log (read models): its commit does
    /// not wait for the disk (`synchronous = NORMAL`). It is still atomic, and a later durable
    /// commit of the log makes it durable too; a power cut may only take back the newest such
    /// commits, which their model then applies again from its checkpoint.
    pub async fn rebuildable_transaction<T, F>(&self, work: F) -> Result<T, EventLogError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, EventLogError> + Send + 'static,
    {
        self.run(false, work).await
    }

    async fn run<T, F>(&self, durable: bool, work: F) -> Result<T, EventLogError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, EventLogError> + Send + 'static,
    {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            // A poisoned lock means a panic mid-transaction, which SQLite rolled back when the
            // transaction was dropped: the connection is fine to use.
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            if !durable {
                connection.pragma_update(None, "synchronous", "NORMAL")?;
            }
            let done = (|| {
                let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let done = work(&tx)?;
                tx.commit()?;
                Ok(done)
            })();
            if !durable {
                connection.pragma_update(None, "synchronous", "FULL")?;
            }
            done
        })
        .await
        .map_err(|e| EventLogError::Io(std::io::Error::other(e)))?
    }
}
