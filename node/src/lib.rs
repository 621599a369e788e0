//! The running node: the event log, the read models that follow it, command execution with
//! read-your-writes, and the node's counters. It knows no transport: the call runtime and the
//! API both work through a [`Node`].

mod error;
mod execute;
mod metrics;
mod node;

pub use error::{CommandError, CommandResult, StartError};
pub use metrics::{Metrics, PromptStarts, PROMPT_START_BOUNDS_US};
pub use node::{Node, NodeSettings};
