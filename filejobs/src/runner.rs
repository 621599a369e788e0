//! The node's job runner: it looks for jobs waiting for a node (or whose node's claim
//! lapsed), claims each with an event (two nodes claiming one job: the second gets a
//! conflict, so only one runs it), runs at most `workers` at once, renews its claim while it
//! works, and records the end: the file made durable first, then `FileJobFinished`; or
//! `FileJobFailed` with the reason. A job whose claim it loses (deleted, or taken over after
//! a stall) is stopped and its partial file removed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::data_file::{DataFile, DataFileCommand, DataFileEvent};
use eventlog::Metadata;
use node::{CommandError, Node};
use projections::{DataFileDoc, FileState, DATA_FILES};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::dispatch::{run, suffix};
use crate::inspect::UploadLimits;
use crate::job::{JobContext, JobFailure, JobOutput};
use crate::progress::{JobProgress, ProgressBoard};
use crate::spec::JobSpec;
use crate::store::{make_durable, partial_path, relative_path, sweep_partials};

/// How a node runs file jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileJobSettings {
    /// Jobs run at once.
    pub workers: usize,
    /// How long a claim holds unless renewed (renewed every third of it).
    pub lease: Duration,
    /// What uploads may be (imports read at most `max_rows` rows).
    pub limits: UploadLimits,
}

impl Default for FileJobSettings {
    fn default() -> Self {
        Self {
            workers: 2,
            lease: Duration::from_secs(30),
            limits: UploadLimits::default(),
        }
    }
}

/// How often the runner looks for work when nothing wakes it.
const LOOK_EVERY: Duration = Duration::from_secs(1);

struct Inner {
    node: Node,
    settings: FileJobSettings,
    node_id: Uuid,
    board: ProgressBoard,
    wake: Notify,
    slots: Arc<Semaphore>,
    stop: watch::Sender<bool>,
}

/// The file jobs of a node. Cheap to clone.
#[derive(Clone)]
pub struct FileJobs {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FileJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileJobs")
            .field("node_id", &self.inner.node_id)
            .finish()
    }
}

impl FileJobs {
    /// Starts the runner of `node`.
    pub fn start(node: Node, settings: FileJobSettings) -> Self {
        let removed = sweep_partials(&node.data_dir, settings.lease * 4);
        if removed > 0 {
            tracing::info!(removed, "removed partial files of interrupted jobs");
        }
        let (stop, _) = watch::channel(false);
        let jobs = Self {
            inner: Arc::new(Inner {
                node,
                settings,
                node_id: Uuid::new_v4(),
                board: ProgressBoard::default(),
                wake: Notify::new(),
                slots: Arc::new(Semaphore::new(settings.workers.max(1))),
                stop,
            }),
        };
        tokio::spawn(jobs.clone().look_for_work());
        jobs
    }

    /// The settings it runs by.
    pub fn settings(&self) -> FileJobSettings {
        self.inner.settings
    }

    /// Tells the runner a job was requested.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// How far job `id` is, when it runs on this node.
    pub fn progress(&self, id: Uuid) -> Option<JobProgress> {
        self.inner.board.get(id)
    }

    /// Stops taking jobs and stops those running (their claims lapse and another node, or
    /// this one restarted, takes them over).
    pub fn stop(&self) {
        let _ = self.inner.stop.send(true);
    }

    async fn look_for_work(self) {
        let mut stopped = self.inner.stop.subscribe();
        loop {
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(LOOK_EVERY) => {}
                _ = stopped.changed() => return,
            }
            if *stopped.borrow() {
                return;
            }
            self.claim_waiting().await;
        }
    }

    async fn claim_waiting(&self) {
        let now = Utc::now();
        let mut waiting: Vec<DataFileDoc> = self
            .inner
            .node
            .models
            .of(DATA_FILES)
            .all()
            .into_iter()
            .filter(|d| match d.state {
                FileState::Requested => true,
                FileState::Running => d.lease_until.is_some_and(|until| until < now),
                FileState::Ready | FileState::Failed => false,
            })
            .collect();
        waiting.sort_by_key(|d| d.created_at);
        for doc in waiting {
            let Ok(slot) = self.inner.slots.clone().try_acquire_owned() else {
                return;
            };
            let at = Utc::now();
            let lease = chrono::Duration::from_std(self.inner.settings.lease)
                .unwrap_or(chrono::Duration::seconds(30));
            let claimed = self
                .inner
                .node
                .execute::<DataFile>(
                    doc.id,
                    DataFileCommand::Claim {
                        node: self.inner.node_id,
                        lease_until: at + lease,
                        at,
                    },
                    Metadata::new(Some(doc.enterprise_id), None),
                )
                .await;
            let attempt = match claimed.as_deref() {
                Ok([event]) => match serde_json::from_str::<DataFileEvent>(&event.payload) {
                    Ok(DataFileEvent::FileJobClaimed { attempt, .. }) => attempt,
                    _ => continue,
                },
                Ok(_) => continue,
                Err(CommandError::Conflict(_) | CommandError::NotFound(_)) => continue,
                Err(error) => {
                    tracing::warn!(job = %doc.id, error = %error.message(), "claiming a file job failed");
                    continue;
                }
            };
            let jobs = self.clone();
            tokio::spawn(async move { jobs.run_claimed(doc, attempt, slot).await });
        }
    }

    fn meta(doc: &DataFileDoc) -> Metadata {
        Metadata::new(Some(doc.enterprise_id), None)
    }

    async fn run_claimed(self, doc: DataFileDoc, attempt: u32, _slot: OwnedSemaphorePermit) {
        let node = self.inner.node.clone();
        let node_id = self.inner.node_id;
        let outcome = match serde_json::from_value::<JobSpec>(doc.params.clone()) {
            Ok(spec) if spec.tenant() == doc.enterprise_id => {
                self.run_spec(&doc, attempt, &spec).await
            }
            _ => Err(JobFailure("the job's parameters cannot be read".into())),
        };
        self.inner.board.end(doc.id);
        let recorded = match outcome {
            Ok(None) => return, // its claim was lost: nothing to record
            Ok(Some((file, output, size_bytes))) => {
                let finished = node
                    .execute::<DataFile>(
                        doc.id,
                        DataFileCommand::Finish {
                            node: node_id,
                            file: file.clone(),
                            size_bytes,
                            rows: output.rows,
                            counts: output.counts,
                            at: Utc::now(),
                        },
                        Self::meta(&doc),
                    )
                    .await;
                if finished.is_err() {
                    let _ = tokio::fs::remove_file(node.data_dir.join(&file)).await;
                }
                finished
            }
            Err(failure) => {
                node.execute::<DataFile>(
                    doc.id,
                    DataFileCommand::Fail {
                        node: Some(node_id),
                        reason: failure.0,
                        at: Utc::now(),
                    },
                    Self::meta(&doc),
                )
                .await
            }
        };
        if let Err(error) = recorded {
            tracing::warn!(job = %doc.id, error = %error.message(), "recording a file job's end failed");
        }
    }

    /// Runs `spec` while renewing the claim: the file, its output and size once durable,
    /// `None` when the claim was lost (or the node stops).
    async fn run_spec(
        &self,
        doc: &DataFileDoc,
        attempt: u32,
        spec: &JobSpec,
    ) -> Result<Option<(String, JobOutput, u64)>, JobFailure> {
        let node = &self.inner.node;
        let file = relative_path(doc.enterprise_id, doc.id, suffix(spec));
        let target = node.data_dir.join(&file);
        let partial = partial_path(&target, attempt);
        let scratch = node
            .data_dir
            .join("tmp")
            .join(format!("job-{}-{attempt}", doc.id.simple()));
        for dir in [target.parent().map(PathBuf::from), Some(scratch.clone())]
            .into_iter()
            .flatten()
        {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(JobFailure::io)?;
        }
        // What an interrupted attempt left is thrown away.
        for earlier in 1..attempt {
            let _ = tokio::fs::remove_file(partial_path(&target, earlier)).await;
        }
        let time_zone = node
            .models
            .of(projections::ENTERPRISES)
            .by_id(doc.enterprise_id)
            .and_then(|e| e.time_zone.parse().ok())
            .unwrap_or(chrono_tz::Asia::Shanghai);
        let ctx = JobContext {
            node: node.clone(),
            id: doc.id,
            partial: partial.clone(),
            scratch: scratch.clone(),
            time_zone,
            counter: self.inner.board.start(doc.id),
            max_rows: self.inner.settings.limits.max_rows,
        };
        let mut stopped = self.inner.stop.subscribe();
        let outcome = tokio::select! {
            outcome = run(&ctx, spec) => Some(outcome),
            () = self.hold_claim(doc) => None,
            _ = stopped.changed() => None,
        };
        let _ = tokio::fs::remove_dir_all(&scratch).await;
        let output = match outcome {
            None => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Ok(None);
            }
            Some(Err(failure)) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(failure);
            }
            Some(Ok(output)) => output,
        };
        let durable = {
            let (partial, target) = (partial.clone(), target.clone());
            tokio::task::spawn_blocking(move || {
                make_durable(&partial, &target)?;
                std::fs::metadata(&target).map(|m| m.len())
            })
            .await
            .map_err(|e| JobFailure(format!("the file could not be kept: {e}")))?
        };
        match durable {
            Ok(size) => Ok(Some((file, output, size))),
            Err(error) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(JobFailure::io(error))
            }
        }
    }

    /// Renews the claim on `doc` every third of the lease; returns when it is lost.
    async fn hold_claim(&self, doc: &DataFileDoc) {
        let lease = self.inner.settings.lease;
        loop {
            tokio::time::sleep(lease / 3).await;
            let until = Utc::now()
                + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
            let renewed = self
                .inner
                .node
                .commit::<DataFile>(
                    doc.id,
                    DataFileCommand::Renew {
                        node: self.inner.node_id,
                        lease_until: until,
                    },
                    Self::meta(doc),
                )
                .await;
            match renewed {
                Ok(_) => {}
                Err(CommandError::Conflict(_) | CommandError::NotFound(_)) => return,
                Err(error) => {
                    tracing::warn!(job = %doc.id, error = %error.message(), "renewing a file job's claim failed");
                }
            }
        }
    }
}
