//! Read model `agents`: one document per agent seat (an extension someone signs in to): who is
//! signed in, the work state and since when, the call ringing or up, and the counts since
//! signing in that distribution rules use (calls answered, talk time, idle since).

use chrono::{DateTime, Utc};
use domain::agent::{Agent, AgentEvent, Endpoint, WorkState};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `agents` read model, whose documents are each a agent.
pub const AGENTS: crate::handle::Model<AgentDoc> = crate::handle::Model::new("agents", "agent");

/// An agent seat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentDoc {
    /// The seat's stream id.
    pub id: Uuid,
    /// The extension.
    pub extension_id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// The signed-in sub-account.
    pub account_id: Option<Uuid>,
    /// Where it takes calls.
    pub endpoint: Endpoint,
    /// Signed in since.
    pub signed_in_at: Option<DateTime<Utc>>,
    /// Work state.
    pub work_state: WorkState,
    /// Since when.
    pub state_since: Option<DateTime<Utc>>,
    /// The call ringing the agent.
    pub offered_call: Option<Uuid>,
    /// The queue it comes from.
    pub offered_queue: Option<Uuid>,
    /// Since when it rings.
    pub offered_at: Option<DateTime<Utc>>,
    /// The call the agent is on.
    pub on_call: Option<Uuid>,
    /// Since when.
    pub call_since: Option<DateTime<Utc>>,
    /// Calls answered since signing in.
    pub calls: u32,
    /// Talk time since signing in, in seconds.
    pub talk_seconds: u64,
    /// The end of the last call, or the sign-in.
    pub idle_since: Option<DateTime<Utc>>,
    /// Offers missed in a row.
    pub missed_in_row: u32,
    /// The end of its wrap-up after the last call (话后整理): no offers before it.
    #[serde(default)]
    pub wrap_up_until: Option<DateTime<Utc>>,
}

/// The projection.
pub struct Agents;

impl Projection for Agents {
    fn name(&self) -> &'static str {
        AGENTS.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Agent>(event)? else {
            return Ok(());
        };
        let key = event.stream_id.to_string();
        match e {
            AgentEvent::AgentSignedIn {
                extension_id,
                enterprise_id,
                account_id,
                endpoint,
                at,
            } => {
                let mut doc = docs.get_as::<AgentDoc>(&key).unwrap_or(AgentDoc {
                    id: event.stream_id,
                    extension_id,
                    enterprise_id,
                    account_id: None,
                    endpoint,
                    signed_in_at: None,
                    work_state: WorkState::Working,
                    state_since: None,
                    offered_call: None,
                    offered_queue: None,
                    offered_at: None,
                    on_call: None,
                    call_since: None,
                    calls: 0,
                    talk_seconds: 0,
                    idle_since: None,
                    missed_in_row: 0,
                    wrap_up_until: None,
                });
                if doc.account_id != Some(account_id) {
                    doc.signed_in_at = Some(at);
                    doc.work_state = WorkState::Working;
                    doc.state_since = Some(at);
                    doc.calls = 0;
                    doc.talk_seconds = 0;
                    doc.idle_since = Some(at);
                    doc.missed_in_row = 0;
                }
                doc.account_id = Some(account_id);
                doc.endpoint = endpoint;
                docs.put(key, Some(enterprise_id), &doc);
            }
            AgentEvent::AgentSignedOut { .. } => docs.update(&key, |d: &mut AgentDoc| {
                d.account_id = None;
                d.wrap_up_until = None;
                d.signed_in_at = None;
                d.state_since = None;
                d.offered_call = None;
                d.offered_queue = None;
                d.offered_at = None;
            }),
            AgentEvent::AgentStateChanged { state, at, .. } => {
                docs.update(&key, |d: &mut AgentDoc| {
                    d.work_state = state;
                    d.state_since = Some(at);
                    if state != WorkState::Break {
                        d.missed_in_row = 0;
                    }
                })
            }
            AgentEvent::AgentOffered {
                call_id,
                queue_id,
                at,
            } => docs.update(&key, |d: &mut AgentDoc| {
                d.offered_call = Some(call_id);
                d.offered_queue = Some(queue_id);
                d.offered_at = Some(at);
            }),
            AgentEvent::AgentAnswered { call_id, at } => docs.update(&key, |d: &mut AgentDoc| {
                d.offered_call = None;
                d.offered_queue = None;
                d.offered_at = None;
                d.on_call = Some(call_id);
                d.call_since = Some(at);
                d.calls += 1;
                d.missed_in_row = 0;
            }),
            AgentEvent::AgentMissed { .. } => docs.update(&key, |d: &mut AgentDoc| {
                d.offered_call = None;
                d.offered_queue = None;
                d.offered_at = None;
                d.missed_in_row += 1;
            }),
            AgentEvent::AgentOfferWithdrawn { .. } => docs.update(&key, |d: &mut AgentDoc| {
                d.offered_call = None;
                d.offered_queue = None;
                d.offered_at = None;
            }),
            AgentEvent::AgentCallEnded {
                at, wrap_up_until, ..
            } => docs.update(&key, |d: &mut AgentDoc| {
                if let Some(since) = d.call_since.take() {
                    d.talk_seconds += u64::try_from((at - since).num_seconds()).unwrap_or(0);
                }
                d.on_call = None;
                d.idle_since = Some(at);
                d.wrap_up_until = wrap_up_until;
            }),
            AgentEvent::AgentDialledOut { call_id, at }
            | AgentEvent::AgentJoinedCall { call_id, at } => {
                docs.update(&key, |d: &mut AgentDoc| {
                    d.on_call = Some(call_id);
                    d.call_since = Some(at);
                    d.wrap_up_until = None;
                })
            }
            AgentEvent::AgentWrapUpEnded { .. } => {
                docs.update(&key, |d: &mut AgentDoc| d.wrap_up_until = None)
            }
        }
        Ok(())
    }
}
