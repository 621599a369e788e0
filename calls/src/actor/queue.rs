//! The queue part of a call's actor: the caller waits with music (and the queue's periodic
//! prompt) while the dispatcher (`acd`) offers the call to members; each offer rings in the b
//! slot (or, for ring-all, beside it as a fork: see `forks`). An answer connects the caller
//! and ends the wait; a member that does not answer in time is missed on its seat and the wait
//! goes on; the queue timeout ends the wait with the queue's overflow (or, for an IVR
//! transfer, the flow's failure branch). When the call ends, the seat it held is freed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::agent::{Agent, AgentCommand};
use domain::call::{CallCommand, CallEvent, Cause, QueueOutcome, Side};
use domain::policy::ivr::{IvrInput, Utterance};
use domain::queue::QueueOverflow;
use eventlog::Metadata;
use projections::{QueueDoc, QUEUES};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::warn;
use uuid::Uuid;

use super::parts::{default_music, AgentOnCall, NotQueued, Waiting};
use super::session::{hangup, Flow, Session};
use crate::dialog::Which;
use crate::inbox::QueueOffer;
use crate::plan;

impl Session {
    /// Puts the caller in queue `queue_id` (with music), unless it is missing or full.
    pub(crate) async fn enter_queue(
        &mut self,
        queue_id: Uuid,
        from_ivr: bool,
    ) -> Result<(), NotQueued> {
        let queue: QueueDoc = self
            .node
            .models
            .of(QUEUES)
            .by_id(queue_id)
            .filter(|q| q.enterprise_id == self.enterprise)
            .ok_or(NotQueued::Missing)?;
        let events = self
            .record(vec![CallCommand::EnterQueue {
                queue_id,
                caller: self.caller_number(),
                waiting: self.calls.acd.waiting(queue_id),
                max_waiting: queue.settings.max_waiting,
                at: Utc::now(),
            }])
            .await
            .ok_or(NotQueued::Unrecorded)?;
        if !events
            .iter()
            .any(|e| matches!(e, CallEvent::QueueEntered { .. }))
        {
            return Err(NotQueued::Full);
        }
        let timeout = Duration::from_secs(u64::from(queue.settings.queue_timeout_seconds));
        let music = self.spawn_music(&queue);
        self.waiting = Some(Waiting {
            queue,
            deadline: Instant::now() + timeout,
            music,
            from_ivr,
            offers: HashMap::new(),
        });
        self.calls
            .acd
            .join(queue_id, self.call, self.enterprise, self.tx.clone());
        Ok(())
    }

    /// Music for the waiting caller, looping; every `prompt_interval_seconds` the waiting
    /// prompt plays in between.
    fn spawn_music(&self, queue: &QueueDoc) -> Option<JoinHandle<()>> {
        let relay = self.media.relay.clone()?;
        let (calls, node, enterprise) = (self.calls.clone(), self.node.clone(), self.enterprise);
        let codec = self.media.a_codec();
        let settings = queue.settings.clone();
        Some(tokio::spawn(async move {
            let render = |voice: Option<Uuid>| {
                let (calls, node) = (calls.clone(), node.clone());
                async move {
                    let voice = voice?;
                    let items = [Utterance::Recording { voice_id: voice }];
                    let (prompt, _) = calls.prompts.render(&node, enterprise, &items).await;
                    (!prompt.samples().is_empty()).then(|| Arc::new(prompt))
                }
            };
            let music = render(settings.hold_music)
                .await
                .unwrap_or_else(default_music);
            let prompt = render(settings.waiting_prompt).await;
            let interval = Duration::from_secs(u64::from(settings.prompt_interval_seconds));
            let mut next_prompt = Instant::now() + interval;
            loop {
                let mut playing = relay.play(true, &music, codec);
                match (&prompt, interval.is_zero()) {
                    (Some(prompt), false) => {
                        tokio::select! {
                            () = playing.finished() => {}
                            () = tokio::time::sleep_until(next_prompt) => {
                                drop(playing);
                                relay.play(true, prompt, codec).finished().await;
                                next_prompt = Instant::now() + interval;
                            }
                        }
                    }
                    _ => playing.finished().await,
                }
            }
        }))
    }

    /// The dispatcher offers the waiting caller to a member: ring it.
    pub(crate) async fn on_queue_offer(&mut self, offer: QueueOffer) -> Flow {
        let waits_there = self
            .waiting
            .as_ref()
            .is_some_and(|w| w.queue.id == offer.queue_id);
        if !waits_there {
            // The caller left meanwhile: the seat is free again.
            self.seat(offer.extension_id, |call, at| AgentCommand::Withdraw {
                call_id: call,
                at,
            })
            .await;
            self.calls.acd.release(offer.extension_id);
            return Flow::Continue;
        }
        let target = plan::extension_by_id(
            &self.node,
            self.enterprise,
            offer.extension_id,
            &self.caller_number(),
        )
        .await;
        let Ok(target) = target else {
            // Registered a moment ago, gone now: withdraw, and try the others first.
            self.seat(offer.extension_id, |call, at| AgentCommand::Withdraw {
                call_id: call,
                at,
            })
            .await;
            self.calls
                .acd
                .offer_ended(offer.queue_id, self.call, offer.extension_id, true);
            return Flow::Continue;
        };
        let name = self.next_leg_name();
        let recorded = self
            .record(vec![CallCommand::AddLeg {
                leg: name.clone(),
                party: target.party.clone(),
                caller_id: target.caller_id.clone(),
                forwarded: target.forwarded,
                at: Utc::now(),
            }])
            .await;
        if recorded.is_none() {
            return Flow::Continue;
        }
        let ring = self.waiting.as_ref().map_or(30, |w| {
            u64::from(w.queue.settings.agent_ring_timeout_seconds)
        });
        // A web-client agent of a queue that auto-answers picks up by itself: its INVITE asks
        // so (`Call-Info: …;answer-after=0`, which SIP.js and most desk phones honour).
        let auto_answer = self
            .waiting
            .as_ref()
            .is_some_and(|w| w.queue.settings.web_auto_answer)
            && plan::seat_endpoint(&self.node, offer.extension_id)
                == Some(domain::agent::Endpoint::WebClient);
        if let Some(waiting) = self.waiting.as_mut() {
            waiting.offers.insert(name.clone(), offer.extension_id);
        }
        self.ring_offer(target, name, Duration::from_secs(ring), auto_answer);
        Flow::Continue
    }

    /// The leg `name` of a queue offer failed before answer (`cause`): the member missed the
    /// call; the caller waits on.
    pub(crate) async fn queue_offer_failed(&mut self, name: &str, side: Side, cause: Cause) {
        self.record(vec![hangup(name, side, cause)]).await;
        let Some((queue_id, extension, max_missed)) = self.waiting.as_mut().and_then(|w| {
            let extension = w.offers.remove(name)?;
            Some((w.queue.id, extension, w.queue.settings.max_missed_offers))
        }) else {
            return;
        };
        self.seat(extension, |call, at| AgentCommand::Miss {
            call_id: call,
            max_missed,
            at,
        })
        .await;
        self.calls
            .acd
            .offer_ended(queue_id, self.call, extension, true);
    }

    /// The member ringing in leg `name` answered: the caller leaves the queue, the other
    /// members ringing for it are let go.
    pub(crate) async fn queue_answered(&mut self, name: &str) {
        let Some(mut waiting) = self.waiting.take() else {
            return;
        };
        let extension = waiting.offers.remove(name);
        self.record(vec![CallCommand::LeaveQueue {
            outcome: QueueOutcome::Answered,
            agent: extension,
            at: Utc::now(),
        }])
        .await;
        if let Some(extension) = extension {
            self.seat(extension, |call, at| AgentCommand::Answer {
                call_id: call,
                at,
            })
            .await;
            self.agent = Some(AgentOnCall {
                extension,
                wrap_up_seconds: waiting.queue.settings.wrap_up_seconds,
            });
        }
        for (_, other) in waiting.offers.drain() {
            self.seat(other, |call, at| AgentCommand::Withdraw {
                call_id: call,
                at,
            })
            .await;
            self.calls.acd.release(other);
        }
        self.calls.acd.leave(waiting.queue.id, self.call);
    }

    /// Whether the queue timeout ran out by `now`.
    pub(crate) fn queue_timer_due(&self, now: Instant) -> bool {
        self.waiting.as_ref().is_some_and(|w| now >= w.deadline)
    }

    /// The queue timeout ran out: the members ringing are let go, then the queue's overflow
    /// (or the flow's failure branch) takes the caller.
    pub(crate) async fn on_queue_timeout(&mut self) -> Flow {
        let Some(waiting) = self.waiting.take() else {
            return Flow::Continue;
        };
        let mut step = vec![CallCommand::LeaveQueue {
            outcome: QueueOutcome::Timeout,
            agent: None,
            at: Utc::now(),
        }];
        step.extend(self.cancel_forks_and_ringing(Cause::NoAnswer));
        self.record(step).await;
        self.let_offers_go(&waiting).await;
        self.calls.acd.leave(waiting.queue.id, self.call);
        if waiting.from_ivr {
            return self.transfer_failed("queue timeout").await;
        }
        match waiting.queue.settings.overflow.clone() {
            QueueOverflow::Release => self.release_caller().await,
            QueueOverflow::Message { voice_id } => {
                self.play_then_release(vec![Utterance::Recording { voice_id }]);
                Flow::Continue
            }
            QueueOverflow::Flow { flow_id } => self.enter_flow(flow_id).await,
        }
    }

    /// Withdraws the offers still ringing for a caller that left `waiting`.
    async fn let_offers_go(&mut self, waiting: &Waiting) {
        for extension in waiting.offers.values() {
            self.seat(*extension, |call, at| AgentCommand::Withdraw {
                call_id: call,
                at,
            })
            .await;
            self.calls.acd.release(*extension);
        }
    }

    /// Ends the call from callcore's side: leg `a` is released with a BYE.
    pub(crate) async fn release_caller(&mut self) -> Flow {
        self.end(vec![hangup("a", Side::System, Cause::Normal)])
            .await;
        self.bye(Which::A);
        Flow::Done
    }

    /// Plays `items` to the caller, then releases it (through the actor's inbox).
    fn play_then_release(&mut self, items: Vec<Utterance>) {
        let (Some(relay), codec) = (self.media.relay.clone(), self.media.a_codec()) else {
            return;
        };
        let (calls, node, enterprise, tx) = (
            self.calls.clone(),
            self.node.clone(),
            self.enterprise,
            self.tx.clone(),
        );
        tokio::spawn(async move {
            let (prompt, _) = calls.prompts.render(&node, enterprise, &items).await;
            if !prompt.samples().is_empty() {
                relay.play(true, &prompt, codec).finished().await;
            }
            let _ = tx.send(crate::inbox::CallInput::Release);
        });
    }

    /// Runs `command` (built from the call's id and the time) on the seat of `extension`;
    /// a refusal is logged (the seat's state has moved on).
    pub(crate) async fn seat(
        &self,
        extension: Uuid,
        command: impl FnOnce(Uuid, chrono::DateTime<Utc>) -> AgentCommand,
    ) {
        let decided = self
            .node
            .execute::<Agent>(
                domain::ids::agent_id(extension),
                command(self.call, Utc::now()),
                Metadata::new(Some(self.enterprise), None),
            )
            .await;
        if let Err(error) = decided {
            warn!(call = %self.call, %extension, ?error, "the agent seat refused");
        }
    }

    /// Frees what the call held when it ends: the seat of the agent it was bridged to, the
    /// members ringing for it, its place in the queue.
    pub(crate) async fn release_queue_hold(&mut self) {
        if let Some(waiting) = self.waiting.take() {
            self.let_offers_go(&waiting).await;
            self.calls.acd.leave(waiting.queue.id, self.call);
        }
        self.free_agent().await;
    }

    /// The agent's call ends: its seat is free again after the queue's wrap-up time.
    pub(crate) async fn free_agent(&mut self) {
        if let Some(agent) = self.agent.take() {
            let wrap_up_seconds = agent.wrap_up_seconds;
            self.seat(agent.extension, |call, at| AgentCommand::EndCall {
                call_id: call,
                wrap_up_seconds,
                at,
            })
            .await;
            self.calls.acd.release(agent.extension);
        }
    }

    /// The IVR transfer node's queue target.
    pub(crate) async fn transfer_to_queue(&mut self, queue_id: Uuid) -> Option<IvrInput> {
        match self.enter_queue(queue_id, true).await {
            Ok(()) => None,
            Err(NotQueued::Full) => Some(IvrInput::TransferFailed {
                reason: "the queue is full".into(),
            }),
            Err(NotQueued::Missing) => Some(IvrInput::TransferFailed {
                reason: "no such queue".into(),
            }),
            Err(NotQueued::Unrecorded) => Some(IvrInput::TransferFailed {
                reason: "the queue entry could not be recorded".into(),
            }),
        }
    }
}
