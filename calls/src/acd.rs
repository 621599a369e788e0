//! The node's call distribution: the callers waiting in each queue in the order they came (hot
//! state, rebuilt empty at start since a restart ends every call), and the dispatcher that
//! offers them to agents. Who rings is the pure `domain::policy::acd::choose`; an offer is
//! decided on the agent's seat stream (`AgentCommand::Offer`), so two dispatchers, or two
//! callers, can never ring one agent at once: the loser of the append tries someone else.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use domain::agent::{Agent, AgentCommand};
use domain::policy::acd::{choose, Candidate, Placing};
use eventlog::Metadata;
use projections::{AgentDoc, ExtensionDoc, QueueDoc, AGENTS, EXTENSIONS};
use tokio::sync::{mpsc, Notify};
use tracing::debug;
use uuid::Uuid;

use crate::inbox::{CallInput, QueueOffer};
use node::Node;

/// A caller waiting in a queue.
#[derive(Debug)]
struct Waiter {
    call: Uuid,
    enterprise: Uuid,
    tx: mpsc::UnboundedSender<CallInput>,
    /// Members that rang for this call and did not answer.
    tried: BTreeSet<Uuid>,
    /// Members ringing for it now.
    ringing: HashSet<Uuid>,
}

/// One queue's callers and its round-robin place.
#[derive(Debug, Default)]
struct Line {
    waiting: VecDeque<Waiter>,
    last_order: Option<usize>,
}

/// The waiting callers of every queue on this node.
#[derive(Debug, Default)]
pub struct Acd {
    lines: Mutex<HashMap<Uuid, Line>>,
    /// Members this node offered a call and has not heard back about.
    engaged: Mutex<HashSet<Uuid>>,
    wake: Notify,
}

impl Acd {
    /// Callers waiting in `queue` now.
    pub fn waiting(&self, queue: Uuid) -> u32 {
        self.lines
            .lock()
            .ok()
            .and_then(|lines| lines.get(&queue).map(|l| l.waiting.len()))
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// `call` joins the end of `queue`; its actor hears of offers on `tx`.
    pub fn join(
        &self,
        queue: Uuid,
        call: Uuid,
        enterprise: Uuid,
        tx: mpsc::UnboundedSender<CallInput>,
    ) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.entry(queue).or_default().waiting.push_back(Waiter {
                call,
                enterprise,
                tx,
                tried: BTreeSet::new(),
                ringing: HashSet::new(),
            });
        }
        self.wake.notify_one();
    }

    /// `call` leaves `queue` (answered, abandoned, timed out).
    pub fn leave(&self, queue: Uuid, call: Uuid) {
        if let Ok(mut lines) = self.lines.lock() {
            // The line stays when it empties: round robin goes on where it was.
            if let Some(line) = lines.get_mut(&queue) {
                line.waiting.retain(|w| w.call != call);
            }
        }
        self.wake.notify_one();
    }

    /// The offer of `call` to `extension` ended: `missed` when the member did not answer (it
    /// is tried again only when nobody else is free).
    pub fn offer_ended(&self, queue: Uuid, call: Uuid, extension: Uuid, missed: bool) {
        if let Ok(mut lines) = self.lines.lock() {
            if let Some(waiter) = lines
                .get_mut(&queue)
                .and_then(|l| l.waiting.iter_mut().find(|w| w.call == call))
            {
                waiter.ringing.remove(&extension);
                if missed {
                    waiter.tried.insert(extension);
                }
            }
        }
        self.release(extension);
    }

    /// `extension` may be offered calls again (its call ended, or its offer was withdrawn).
    pub fn release(&self, extension: Uuid) {
        if let Ok(mut engaged) = self.engaged.lock() {
            engaged.remove(&extension);
        }
        self.wake.notify_one();
    }

    /// Notes an offer decided outside the dispatcher (a supervisor answering a waiting
    /// caller): the member is engaged and rings for the caller. False when the caller does
    /// not wait in `queue`.
    pub fn direct_offer(&self, queue: Uuid, call: Uuid, extension: Uuid) -> bool {
        let waits = self
            .lines
            .lock()
            .map(|lines| {
                lines
                    .get(&queue)
                    .is_some_and(|l| l.waiting.iter().any(|w| w.call == call))
            })
            .unwrap_or(false);
        if waits {
            self.engage(extension);
            if let Ok(mut lines) = self.lines.lock() {
                if let Some(waiter) = lines
                    .get_mut(&queue)
                    .and_then(|l| l.waiting.iter_mut().find(|w| w.call == call))
                {
                    waiter.ringing.insert(extension);
                }
            }
        }
        waits
    }

    /// Wakes the dispatcher (an agent signed in or became free).
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// The queues with callers waiting.
    fn queues(&self) -> Vec<Uuid> {
        self.lines
            .lock()
            .map(|lines| {
                lines
                    .iter()
                    .filter(|(_, line)| !line.waiting.is_empty())
                    .map(|(queue, _)| *queue)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first caller of `queue` ringing nobody, with what placing it needs.
    fn head(&self, queue: Uuid) -> Option<(Uuid, Uuid, mpsc::UnboundedSender<CallInput>, Placing)> {
        let lines = self.lines.lock().ok()?;
        let line = lines.get(&queue)?;
        let waiter = line.waiting.iter().find(|w| w.ringing.is_empty())?;
        Some((
            waiter.call,
            waiter.enterprise,
            waiter.tx.clone(),
            Placing {
                tried: waiter.tried.clone(),
                last_order: line.last_order,
                random: rand::random(),
            },
        ))
    }

    /// Reserves `extension` for an offer; false when this node already offered it a call.
    fn engage(&self, extension: Uuid) -> bool {
        self.engaged
            .lock()
            .map(|mut engaged| engaged.insert(extension))
            .unwrap_or(false)
    }

    fn is_engaged(&self, extension: &Uuid) -> bool {
        self.engaged
            .lock()
            .map(|engaged| engaged.contains(extension))
            .unwrap_or(true)
    }

    fn ringing(&self, queue: Uuid, call: Uuid, extension: Uuid, order: usize) {
        if let Ok(mut lines) = self.lines.lock() {
            if let Some(line) = lines.get_mut(&queue) {
                line.last_order = Some(order);
                if let Some(waiter) = line.waiting.iter_mut().find(|w| w.call == call) {
                    waiter.ringing.insert(extension);
                }
            }
        }
    }
}

/// Whether the extension can take a call now: a registered phone, or a bound number it is
/// forwarded to.
fn reachable(extension: &ExtensionDoc) -> bool {
    let now = Utc::now();
    extension.bindings.iter().any(|b| b.expires_at > now)
        || (extension.settings.forward_when_offline && !extension.settings.bound_number.is_empty())
}

/// The members of `queue` as the dispatcher sees them.
fn candidates(node: &Node, acd: &Acd, queue: &QueueDoc) -> Vec<Candidate> {
    let (seats, extensions) = (node.models.of(AGENTS), node.models.of(EXTENSIONS));
    queue
        .members
        .iter()
        .enumerate()
        .filter_map(|(order, extension_id)| {
            let seat: AgentDoc = seats.by_id(domain::ids::agent_id(*extension_id))?;
            seat.account_id?;
            let extension: ExtensionDoc = extensions.by_id(*extension_id)?;
            let free = seat.offered_call.is_none()
                && seat.on_call.is_none()
                && seat.wrap_up_until.is_none_or(|until| until <= Utc::now())
                && !acd.is_engaged(extension_id)
                && reachable(&extension);
            Some(Candidate {
                extension_id: *extension_id,
                order,
                free,
                state: seat.work_state,
                idle_since: seat
                    .idle_since
                    .or(seat.signed_in_at)
                    .unwrap_or_else(Utc::now),
                calls: seat.calls,
                talk_seconds: seat.talk_seconds,
            })
        })
        .collect()
}

/// Offers waiting callers to free members, queue by queue, until nobody free is left; runs
/// for the node's life. It wakes when a caller joins, an offer ends or an agent is freed, and
/// every half second in any case (agents signing in are seen then).
pub async fn dispatch(node: Node, acd: &Acd) {
    loop {
        tokio::select! {
            () = acd.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        for queue_id in acd.queues() {
            place(&node, acd, queue_id).await;
        }
    }
}

/// Places the callers of one queue.
async fn place(node: &Node, acd: &Acd, queue_id: Uuid) {
    let Some(queue) = node.models.of(projections::QUEUES).by_id(queue_id) else {
        return;
    };
    // Members whose seat refused an offer this round (the read model lagged behind it).
    let mut refused = HashSet::new();
    // A bound on the rounds: every round offers at least one member or stops.
    for _ in 0..queue.members.len().max(1) * 2 {
        let Some((call, enterprise, tx, placing)) = acd.head(queue_id) else {
            return;
        };
        let mut members = candidates(node, acd, &queue);
        for member in &mut members {
            member.free &= !refused.contains(&member.extension_id);
        }
        let chosen = choose(
            queue.settings.rule,
            &members,
            &queue.settings.excluded_states,
            &placing,
        );
        if chosen.is_empty() {
            return; // nobody free: the caller at the head waits, and so do the others
        }
        let mut offered = false;
        for extension_id in chosen {
            if !acd.engage(extension_id) {
                continue;
            }
            let decided = node
                .execute::<Agent>(
                    domain::ids::agent_id(extension_id),
                    AgentCommand::Offer {
                        call_id: call,
                        queue_id,
                        at: Utc::now(),
                    },
                    Metadata::new(Some(enterprise), None),
                )
                .await;
            match decided {
                Ok(_) => {
                    let order = members
                        .iter()
                        .find(|m| m.extension_id == extension_id)
                        .map_or(0, |m| m.order);
                    acd.ringing(queue_id, call, extension_id, order);
                    let _ = tx.send(CallInput::Offer(QueueOffer {
                        queue_id,
                        extension_id,
                    }));
                    offered = true;
                }
                Err(error) => {
                    // Its seat refused (busy, signed out, offered elsewhere): someone else.
                    debug!(%extension_id, ?error, "offer refused by the seat");
                    refused.insert(extension_id);
                    acd.release(extension_id);
                }
            }
        }
        if !offered && refused.is_empty() {
            return;
        }
    }
}
