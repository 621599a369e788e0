//! How far the jobs running on this node are: rows (or recordings) done out of a total, kept
//! in memory and read by the API's queries and subscriptions. Progress is not an event: the
//! states are; a job's progress is gone once it ends (the file then says how many rows).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use uuid::Uuid;

/// A job's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobProgress {
    /// Done.
    pub done: u64,
    /// Out of (0 while unknown).
    pub total: u64,
}

/// The counters of one running job, shared with its worker.
#[derive(Debug, Default)]
pub struct Counter {
    done: AtomicU64,
    total: AtomicU64,
}

impl Counter {
    /// Sets the total.
    pub fn total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// Counts `n` more done.
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Where it is.
    pub fn get(&self) -> JobProgress {
        JobProgress {
            done: self.done.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
        }
    }
}

/// The progress of every job running on this node.
#[derive(Debug, Default)]
pub struct ProgressBoard {
    jobs: DashMap<Uuid, Arc<Counter>>,
}

impl ProgressBoard {
    /// A fresh counter for job `id`.
    pub fn start(&self, id: Uuid) -> Arc<Counter> {
        let counter = Arc::new(Counter::default());
        self.jobs.insert(id, counter.clone());
        counter
    }

    /// Forgets job `id`.
    pub fn end(&self, id: Uuid) {
        self.jobs.remove(&id);
    }

    /// Job `id`'s progress, when it runs here.
    pub fn get(&self, id: Uuid) -> Option<JobProgress> {
        self.jobs.get(&id).map(|c| c.get())
    }
}
