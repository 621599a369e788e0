//! Running a domain command: load the aggregate through `esrs::AggregateManager` over the log,
//! decide, append, and (for [`Node::execute`]) wait until the read models show the result
//! (read-your-writes).

use std::time::Duration;

use esrs::manager::AggregateManager;
use esrs::{Aggregate, AggregateState};
use eventlog::{LogStore, Metadata, RecordedEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::error::{CommandError, CommandResult};
use crate::node::Node;

/// How long a command waits for the read models before answering anyway.
const READ_MODEL_WAIT: Duration = Duration::from_secs(5);

impl Node {
    /// Decides `command` on stream `id` of aggregate `A`, commits the events with `metadata`,
    /// and waits until the read models show them (read-your-writes). Returns the committed
    /// events (none when the command changed nothing).
    pub async fn execute<A>(
        &self,
        id: Uuid,
        command: A::Command,
        metadata: Metadata,
    ) -> CommandResult<Vec<RecordedEvent>>
    where
        A: Aggregate + Send + Sync,
        A::State: Send + Sync,
        A::Command: Send,
        A::Event: Serialize + DeserializeOwned + Send + Sync,
        A::Error: Into<CommandError>,
    {
        let committed = self.commit::<A>(id, command, metadata).await?;
        if let Some(last) = committed.last() {
            self.models.wait_for(last.position, READ_MODEL_WAIT).await;
        }
        Ok(committed)
    }

    /// Like [`Node::execute`] but returns as soon as the events are durable, without waiting
    /// for the read models: for the call runtime, whose actors keep their own state.
    pub async fn commit<A>(
        &self,
        id: Uuid,
        command: A::Command,
        metadata: Metadata,
    ) -> CommandResult<Vec<RecordedEvent>>
    where
        A: Aggregate + Send + Sync,
        A::State: Send + Sync,
        A::Command: Send,
        A::Event: Serialize + DeserializeOwned + Send + Sync,
        A::Error: Into<CommandError>,
    {
        let store = LogStore::<A>::new(self.log.clone(), metadata);
        let manager = AggregateManager::new(store.clone());
        let state = manager
            .load(id)
            .await?
            .unwrap_or_else(|| AggregateState::with_id(id));
        match manager.handle_command(state, command).await? {
            Ok(_) => {}
            Err(rejection) => return Err(rejection.into()),
        }
        let committed = store.committed();
        self.metrics.events_appended(committed.len());
        Ok(committed)
    }
}
