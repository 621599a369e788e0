//! argon2id on a small pool of threads of its own: hashing and checking passwords is slow by
//! design, so it never runs on the async runtime's threads nor on the blocking pool the log's
//! writer uses, and no more of it runs at once than the pool has threads. A job that finds the
//! pool's queue full is refused (`RATE_LIMITED`) instead of waiting.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use tokio::sync::oneshot;

use crate::error::{ApiError, ApiResult};

/// One password job and where its answer goes.
enum Job {
    Hash(String, oneshot::Sender<ApiResult<String>>),
    Verify(String, String, oneshot::Sender<bool>),
}

/// The pool. Its threads end when it is dropped.
pub struct PasswordPool {
    jobs: SyncSender<Job>,
}

impl std::fmt::Debug for PasswordPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordPool").finish()
    }
}

fn busy() -> ApiError {
    ApiError::RateLimited("the server is busy checking passwords; try again in a moment".into())
}

impl PasswordPool {
    /// A pool of `threads` threads with room for `queue` waiting jobs.
    pub fn new(threads: usize, queue: usize) -> Self {
        let (jobs, receiver) = sync_channel::<Job>(queue.max(1));
        let receiver: Arc<Mutex<Receiver<Job>>> = Arc::new(Mutex::new(receiver));
        for n in 0..threads.max(1) {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || loop {
                    let next = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    match next {
                        Ok(Job::Hash(password, answer)) => {
                            let _ = answer.send(hash_password(&password));
                        }
                        Ok(Job::Verify(password, hash, answer)) => {
                            let _ = answer.send(verify_password(&password, &hash));
                        }
                        Err(_) => return, // the pool was dropped
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "a password thread could not start");
            }
        }
        Self { jobs }
    }

    fn submit(&self, job: Job) -> ApiResult<()> {
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(busy()),
            Err(TrySendError::Disconnected(_)) => {
                Err(ApiError::internal("the password pool stopped"))
            }
        }
    }

    /// The argon2id hash of `password`.
    pub async fn hash(&self, password: &str) -> ApiResult<String> {
        let (answer, hashed) = oneshot::channel();
        self.submit(Job::Hash(password.to_owned(), answer))?;
        hashed.await.map_err(ApiError::internal)?
    }

    /// Whether `password` matches the stored `hash`.
    pub async fn verify(&self, password: &str, hash: &str) -> ApiResult<bool> {
        let (answer, checked) = oneshot::channel();
        self.submit(Job::Verify(password.to_owned(), hash.to_owned(), answer))?;
        checked.await.map_err(ApiError::internal)
    }
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> ApiResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Checks a password against a stored argon2id hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_a_full_queue_is_refused() -> anyhow::Result<()> {
        let pool = PasswordPool::new(1, 1);
        let hash = pool
            .hash("correct horse")
            .await
            .map_err(|e| anyhow::anyhow!(e.message()))?;
        assert!(pool
            .verify("correct horse", &hash)
            .await
            .map_err(|e| anyhow::anyhow!(e.message()))?);
        assert!(!pool
            .verify("wrong horse", &hash)
            .await
            .map_err(|e| anyhow::anyhow!(e.message()))?);
        // One thread and one place in the queue: of many jobs at once, some are refused.
        let jobs: Vec<_> = (0..8).map(|_| pool.verify("x", &hash)).collect();
        let outcomes = futures::future::join_all(jobs).await;
        let refused = outcomes
            .iter()
            .filter(|o| o.as_ref().err().map(ApiError::code) == Some("RATE_LIMITED"))
            .count();
        assert!(refused >= 1, "{refused}");
        Ok(())
    }
}
