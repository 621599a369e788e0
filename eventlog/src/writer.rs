//! The single writer of a node: it takes append requests from many callers and commits them
//! together, one transaction (one fsync) per batch, then publishes the committed events.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::warn;

use crate::backend::{Backend, BatchOutcome};
use crate::{error::EventLogError, model::AppendRequest, model::RecordedEvent};

/// Reply channel of one request.
pub(crate) type Reply = oneshot::Sender<Result<Vec<RecordedEvent>, EventLogError>>;

/// Upper bound of events in one transaction.
const MAX_BATCH_EVENTS: usize = 8_192;

/// The writer task: runs until every sender is dropped, then returns after committing what it
/// had received.
pub(crate) async fn run_writer(
    backend: Arc<dyn Backend>,
    mut requests: mpsc::Receiver<(AppendRequest, Reply)>,
    live: broadcast::Sender<Arc<RecordedEvent>>,
    head: watch::Sender<i64>,
) {
    let mut pending: Vec<(AppendRequest, Reply)> = Vec::new();
    while let Some(first) = requests.recv().await {
        let mut events = first.0.events.len();
        pending.push(first);
        while events < MAX_BATCH_EVENTS {
            match requests.try_recv() {
                Ok(next) => {
                    events += next.0.events.len();
                    pending.push(next);
                }
                Err(_) => break,
            }
        }
        let (batch, replies): (Vec<AppendRequest>, Vec<Reply>) = pending.drain(..).unzip();
        let batch: Arc<[AppendRequest]> = batch.into();
        match backend.commit_batch(batch.clone()).await {
            Ok(outcomes) => deliver(outcomes, replies, &live, &head),
            Err(error) if batch.len() > 1 => {
                // One request may have broken the whole transaction: commit them one by one so
                // only the culprit fails.
                warn!(%error, "batch commit failed; retrying requests one by one");
                for (request, reply) in batch.iter().zip(replies) {
                    match backend.commit_batch(Arc::from([request.clone()])).await {
                        Ok(outcomes) => deliver(outcomes, vec![reply], &live, &head),
                        Err(error) => {
                            let _ = reply.send(Err(error));
                        }
                    }
                }
            }
            Err(error) => {
                for reply in replies {
                    let _ = reply.send(Err(EventLogError::Database(sqlx::Error::Protocol(
                        error.to_string(),
                    ))));
                }
            }
        }
    }
}

fn deliver(
    outcomes: Vec<BatchOutcome>,
    replies: Vec<Reply>,
    live: &broadcast::Sender<Arc<RecordedEvent>>,
    head: &watch::Sender<i64>,
) {
    let mut last = None;
    for (outcome, reply) in outcomes.into_iter().zip(replies) {
        match outcome {
            Ok(events) => {
                for event in &events {
                    last = Some(event.position);
                    // No receiver is fine: subscribers catch up from the database.
                    let _ = live.send(Arc::new(event.clone()));
                }
                let _ = reply.send(Ok(events));
            }
            Err(rejection) => {
                let _ = reply.send(Err(EventLogError::Rejected(rejection)));
            }
        }
    }
    if let Some(position) = last {
        head.send_replace(position);
    }
}
