//! Read model `queue_board`: the callers waiting in each queue, for supervisors (班长): who,
//! since when, how many offers they missed and whom they ring now. One document per queue
//! (`queue:<id>`) and, while a caller waits, one index document (`call:<id>`) naming its queue.

use chrono::{DateTime, Utc};
use domain::call::{Call, CallEvent, Party};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `queue_board` read model, whose documents are each a queue board.
pub const QUEUE_BOARD: crate::handle::Model<QueueBoardDoc> =
    crate::handle::Model::new("queue_board", "queue board");

/// A caller waiting in a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitingCall {
    /// The call.
    pub call_id: Uuid,
    /// The caller's number.
    pub caller: String,
    /// When it entered the queue.
    pub entered_at: DateTime<Utc>,
    /// Offers that rang out or were refused (坐席未接次数).
    pub missed_offers: u32,
    /// The extensions ringing for it now, by leg.
    pub ringing: Vec<(String, String)>,
}

impl WaitingCall {
    /// `call` from `caller` entered a queue `at`.
    pub fn entered(call: Uuid, caller: String, at: DateTime<Utc>) -> Self {
        Self {
            call_id: call,
            caller,
            entered_at: at,
            missed_offers: 0,
            ringing: Vec::new(),
        }
    }

    /// Leg `leg` rings extension `number` for it.
    pub fn rings(&mut self, leg: String, number: String) {
        self.ringing.push((leg, number));
    }

    /// Leg `leg` ended; one that was ringing for it is a missed offer.
    pub fn leg_ended(&mut self, leg: &str) {
        let before = self.ringing.len();
        self.ringing.retain(|(l, _)| l != leg);
        if self.ringing.len() < before {
            self.missed_offers += 1;
        }
    }
}

/// The callers waiting in one queue, in the order they came.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueBoardDoc {
    /// The queue.
    pub queue_id: Uuid,
    /// The callers.
    pub waiting: Vec<WaitingCall>,
}

/// Which queue a waiting call is in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WaitingIn {
    queue_id: Uuid,
}

/// The document key of `queue`'s board.
pub fn board_key(queue: Uuid) -> String {
    format!("queue:{queue}")
}

fn call_key(call: Uuid) -> String {
    format!("call:{call}")
}

/// The projection.
pub struct QueueBoard;

impl Projection for QueueBoard {
    fn name(&self) -> &'static str {
        QUEUE_BOARD.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Call>(event)? else {
            return Ok(());
        };
        let call = event.stream_id;
        let tenant = event.metadata.tenant_id;
        let queue = || docs_queue(docs, call);
        match e {
            CallEvent::QueueEntered {
                queue_id,
                caller,
                at,
            } => {
                let key = board_key(queue_id);
                let mut board = docs.get_as::<QueueBoardDoc>(&key).unwrap_or(QueueBoardDoc {
                    queue_id,
                    waiting: Vec::new(),
                });
                board.waiting.push(WaitingCall::entered(call, caller, at));
                docs.put(key, tenant, &board);
                docs.put(call_key(call), tenant, &WaitingIn { queue_id });
            }
            CallEvent::LegOffered { leg, party, .. } => {
                let (Some(queue_id), Party::Extension { number, .. }) = (queue(), party) else {
                    return Ok(());
                };
                docs.update(&board_key(queue_id), |b: &mut QueueBoardDoc| {
                    if let Some(w) = b.waiting.iter_mut().find(|w| w.call_id == call) {
                        w.rings(leg, number);
                    }
                });
            }
            CallEvent::LegHungUp { leg, .. } if leg != "a" => {
                let Some(queue_id) = queue() else {
                    return Ok(());
                };
                docs.update(&board_key(queue_id), |b: &mut QueueBoardDoc| {
                    if let Some(w) = b.waiting.iter_mut().find(|w| w.call_id == call) {
                        w.leg_ended(&leg);
                    }
                });
            }
            CallEvent::QueueLeft { queue_id, .. } => leave(docs, queue_id, call),
            CallEvent::CallEnded { .. } => {
                if let Some(queue_id) = queue() {
                    leave(docs, queue_id, call);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The queue `call` waits in, if any.
fn docs_queue(docs: &Docs<'_>, call: Uuid) -> Option<Uuid> {
    docs.get_as::<WaitingIn>(&call_key(call))
        .map(|w| w.queue_id)
}

fn leave(docs: &mut Docs<'_>, queue_id: Uuid, call: Uuid) {
    docs.update(&board_key(queue_id), |b: &mut QueueBoardDoc| {
        b.waiting.retain(|w| w.call_id != call);
    });
    docs.remove(&call_key(call));
}
