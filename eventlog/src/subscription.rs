//! A reader that catches up from a position and then follows the live tail, never out of
//! order and never skipping a position.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

use crate::backend::Backend;
use crate::{error::EventLogError, model::RecordedEvent};

/// Events read from the database per round trip while catching up.
const CATCH_UP_PAGE: i64 = 2_000;

/// A subscription to the log; see [`crate::log::EventLog::subscribe`].
pub struct Subscription {
    backend: Arc<dyn Backend>,
    live: broadcast::Receiver<Arc<RecordedEvent>>,
    announced: Option<watch::Receiver<i64>>,
    last: i64,
    buffer: VecDeque<Arc<RecordedEvent>>,
    catching_up: bool,
    poll_interval: Duration,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("last", &self.last)
            .field("catching_up", &self.catching_up)
            .finish()
    }
}

impl Subscription {
    pub(crate) fn new(
        backend: Arc<dyn Backend>,
        live: broadcast::Receiver<Arc<RecordedEvent>>,
        announced: Option<watch::Receiver<i64>>,
        after: i64,
        poll_interval: Duration,
    ) -> Self {
        Self {
            backend,
            live,
            announced,
            last: after,
            buffer: VecDeque::new(),
            catching_up: true,
            poll_interval,
        }
    }

    /// The position of the last event returned (or the starting position).
    pub fn position(&self) -> i64 {
        self.last
    }

    /// The next event: position `position() + 1`. Waits for it when the log has no more.
    pub async fn next(&mut self) -> Result<Arc<RecordedEvent>, EventLogError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.last = event.position;
                return Ok(event);
            }
            if self.catching_up {
                let page = self.backend.read_all(self.last, CATCH_UP_PAGE).await?;
                if page.is_empty() {
                    self.catching_up = false;
                } else {
                    self.buffer.extend(page.into_iter().map(Arc::new));
                }
                continue;
            }
            if let Some(announced) = self.announced.as_mut() {
                if announced.has_changed().unwrap_or(false)
                    && *announced.borrow_and_update() > self.last
                {
                    // Another node committed past us.
                    self.catching_up = true;
                    continue;
                }
            }
            // Resolves with the newly announced head (`changed` marks it seen).
            let announced = async {
                if let Some(a) = self.announced.as_mut() {
                    if a.changed().await.is_ok() {
                        return *a.borrow_and_update();
                    }
                }
                std::future::pending::<i64>().await
            };
            let received = tokio::select! {
                received = tokio::time::timeout(self.poll_interval, self.live.recv()) => received,
                head = announced => {
                    if head > self.last {
                        self.catching_up = true;
                    }
                    continue;
                }
            };
            match received {
                Ok(Ok(event)) if event.position <= self.last => {}
                Ok(Ok(event)) if event.position == self.last + 1 => self.buffer.push_back(event),
                // A gap (another node's events, or events committed before we subscribed):
                // read them from the database.
                Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) | Err(_) => self.catching_up = true,
                Ok(Err(RecvError::Closed)) => return Err(EventLogError::Closed),
            }
        }
    }

    /// Up to `max` events already available without waiting (possibly none).
    pub async fn next_batch(
        &mut self,
        max: usize,
    ) -> Result<Vec<Arc<RecordedEvent>>, EventLogError> {
        let mut out = Vec::new();
        out.push(self.next().await?);
        while out.len() < max {
            if self.buffer.is_empty() {
                if self.catching_up {
                    let page = self.backend.read_all(self.last, CATCH_UP_PAGE).await?;
                    if page.is_empty() {
                        self.catching_up = false;
                    }
                    self.buffer.extend(page.into_iter().map(Arc::new));
                }
                while let Ok(event) = self.live.try_recv() {
                    if event.position == self.last + 1 + self.buffer.len() as i64 {
                        self.buffer.push_back(event);
                    } else if event.position > self.last + 1 + self.buffer.len() as i64 {
                        self.catching_up = true;
                        break;
                    }
                }
                if self.buffer.is_empty() {
                    break;
                }
            }
            if let Some(event) = self.buffer.pop_front() {
                self.last = event.position;
                out.push(event);
            }
        }
        Ok(out)
    }
}
