//! What a node does on start about the calls of a process that is gone: every call the
//! records still show in progress is ended with an explicit `NodeRestart` event, and the seats
//! those calls rang or were on are freed, so no record stays "in progress" and no agent stays
//! stuck.

use domain::agent::{Agent, AgentCommand};
use domain::call::{Call, CallCommand};
use eventlog::Metadata;
use node::Node;
use projections::{AgentDoc, CallStatus, AGENTS, LIVE_CALLS};

/// Closes the calls and frees the seats a previous process left open.
pub(crate) async fn close_calls_left_open(node: &Node) {
    let open: Vec<(uuid::Uuid, uuid::Uuid)> = node
        .models
        .of(LIVE_CALLS)
        .all()
        .into_iter()
        .filter(|r| r.status == CallStatus::InProgress)
        .map(|r| (r.id, r.enterprise_id))
        .collect();
    let seats: Vec<AgentDoc> = node
        .models
        .of(AGENTS)
        .all()
        .into_iter()
        .filter(|a| a.offered_call.is_some() || a.on_call.is_some())
        .collect();
    for seat in seats {
        let at = chrono::Utc::now();
        let mut commands = Vec::new();
        if let Some(call) = seat.offered_call {
            commands.push(AgentCommand::Withdraw { call_id: call, at });
        }
        if let Some(call) = seat.on_call {
            commands.push(AgentCommand::EndCall {
                call_id: call,
                wrap_up_seconds: 0,
                at,
            });
        }
        for command in commands {
            if let Err(error) = node
                .execute::<Agent>(
                    seat.id,
                    command,
                    Metadata::new(Some(seat.enterprise_id), None),
                )
                .await
            {
                tracing::warn!(seat = %seat.id, code = error.code(), "freeing a seat after a restart failed");
            }
        }
    }
    for (call, enterprise) in open {
        let command = CallCommand::CloseAfterRestart {
            at: chrono::Utc::now(),
        };
        if let Err(error) = node
            .execute::<Call>(call, command, Metadata::new(Some(enterprise), None))
            .await
        {
            tracing::warn!(%call, code = error.code(), message = error.message(), "closing a call left open failed");
        }
    }
}
