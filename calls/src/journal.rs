//! A call's events as its actor writes them. The actor is the only writer of its call's
//! stream, so it keeps the call's state itself: each step's commands are decided on that state
//! (the pure `Call::handle_command`) and their events appended in one write with the expected
//! version, instead of loading the stream again for every command. Nothing waits for the read
//! models: the actor reads none of them back.

use domain::call::{Call, CallCommand, CallEvent, CallState};
use esrs::manager::AggregateManager;
use esrs::store::EventStore;
use esrs::{Aggregate, AggregateState};
use eventlog::{LogStore, Metadata};
use tracing::{debug, warn};
use uuid::Uuid;

use node::Node;

/// The writer of one call's stream.
pub struct CallJournal {
    node: Node,
    call: Uuid,
    store: LogStore<Call>,
    /// The state as of the last write; `None` after a failed write (reloaded on the next).
    state: Option<AggregateState<CallState>>,
}

impl std::fmt::Debug for CallJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallJournal")
            .field("call", &self.call)
            .finish()
    }
}

impl CallJournal {
    /// The journal of a new call `call` of `enterprise`.
    pub fn new(node: Node, call: Uuid, enterprise: Uuid) -> Self {
        Self {
            store: LogStore::new(node.log.clone(), Metadata::new(Some(enterprise), None)),
            node,
            call,
            state: Some(AggregateState::with_id(call)),
        }
    }

    /// Decides `commands` in order and commits all their events in one append; a command the
    /// call refuses is logged and skipped. Returns the committed events, or `None` when the
    /// write failed (nothing of the step is then in the log).
    pub async fn record(&mut self, commands: Vec<CallCommand>) -> Option<Vec<CallEvent>> {
        let mut state = match self.state.take() {
            Some(state) => state,
            None => match AggregateManager::new(self.store.clone())
                .load(self.call)
                .await
            {
                Ok(Some(state)) => state,
                Ok(None) => AggregateState::with_id(self.call),
                Err(error) => {
                    warn!(call = %self.call, %error, "the call's stream could not be read");
                    return None;
                }
            },
        };
        let mut scratch = state.inner().clone();
        let mut events = Vec::new();
        for command in commands {
            match Call::handle_command(&scratch, command) {
                Ok(decided) => {
                    for event in decided {
                        scratch = Call::apply_event(scratch, event.clone());
                        events.push(event);
                    }
                }
                // After a refusal at the door the rest of the step has nothing to act on.
                Err(error) if scratch.ended => {
                    debug!(call = %self.call, %error, "call command after the end");
                }
                Err(error) => warn!(call = %self.call, %error, "call command refused"),
            }
        }
        match self.store.persist(&mut state, events.clone()).await {
            Ok(stored) => {
                self.node.metrics.events_appended(stored.len());
                self.state = Some(state.apply_store_events(stored, Call::apply_event));
                Some(events)
            }
            Err(error) => {
                warn!(call = %self.call, %error, "call events not written");
                None
            }
        }
    }
}
