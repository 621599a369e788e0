//! The queue part of a call's actor: the caller waits with music (and the queue's periodic
//! prompt) while the dispatcher (`acd`) offers the call to members; each offer rings in the b
//! slot (or, for ring-all, beside it as a fork). An answer connects the caller and ends the
//! wait; a member that does not answer in time is missed on its seat and the wait goes on;
//! the queue timeout ends the wait with the queue's overflow (or, for an IVR transfer, the
//! flow's failure branch).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::Utc;
use domain::agent::{Agent, AgentCommand};
use domain::call::{CallCommand, CallEvent, Cause, QueueOutcome, Side};
use domain::policy::ivr::{IvrInput, IvrRun, Utterance};
use domain::queue::QueueOverflow;
use eventlog::Metadata;
use projections::QueueDoc;
use telephony::media::player::Prompt;
use telephony::sip::message::{cseq, Method, Response};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::warn;
use uuid::Uuid;

use super::acd::QueueOffer;
use super::dialog::cancel_of;
use super::ivr::{local_now, IvrDriver};
use super::plan;
use super::session::{hangup, Flow, Session, Slot, Which};
use super::CallInput;

/// A caller waiting in a queue.
pub(super) struct Waiting {
    /// The queue as the caller entered it.
    pub(super) queue: QueueDoc,
    /// When its timeout runs out.
    pub(super) deadline: Instant,
    /// The music (and waiting prompt) task.
    music: Option<JoinHandle<()>>,
    /// Whether an IVR transfer put the caller here (its outcome goes back to the flow).
    pub(super) from_ivr: bool,
    /// The member ringing in each leg, by leg name.
    pub(super) offers: HashMap<String, Uuid>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(music) = self.music.take() {
            music.abort();
        }
    }
}

/// Why a caller did not get into a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotQueued {
    /// No such queue.
    Missing,
    /// It holds as many callers as it allows.
    Full,
    /// The step could not be recorded.
    Unrecorded,
}

/// The built-in hold music: a soft two-note chime every two seconds, 8 kHz.
pub(super) fn default_music() -> Arc<Prompt> {
    static MUSIC: OnceLock<Arc<Prompt>> = OnceLock::new();
    MUSIC
        .get_or_init(|| {
            let mut samples = Vec::with_capacity(16_000);
            for (hz, length) in [(523.25_f64, 2_400usize), (659.25, 2_400), (0.0, 11_200)] {
                for n in 0..length {
                    let fade = (n.min(length - n) as f64 / 400.0).min(1.0);
                    let phase = n as f64 * hz * std::f64::consts::TAU / 8_000.0;
                    samples.push((phase.sin() * 3_000.0 * fade) as i16);
                }
            }
            Arc::new(Prompt::from_samples(samples))
        })
        .clone()
}

impl Session {
    /// Puts the caller in queue `queue_id` (with music), unless it is missing or full.
    pub(super) async fn enter_queue(
        &mut self,
        queue_id: Uuid,
        from_ivr: bool,
    ) -> Result<(), NotQueued> {
        let queue: QueueDoc = self
            .node
            .models
            .of(projections::QUEUES)
            .by_id(queue_id)
            .filter(|q: &QueueDoc| q.enterprise_id == self.enterprise)
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
        let relay = self.relay.clone()?;
        let (calls, node, enterprise) = (self.calls.clone(), self.node.clone(), self.enterprise);
        let codec = self.a_codec();
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
    pub(super) async fn on_queue_offer(&mut self, offer: QueueOffer) -> Flow {
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
    pub(super) async fn queue_offer_failed(&mut self, name: &str, side: Side, cause: Cause) {
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
    pub(super) async fn queue_answered(&mut self, name: &str) {
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
            self.agent = Some(extension);
            self.agent_wrap_up = waiting.queue.settings.wrap_up_seconds;
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
    pub(super) fn queue_timer_due(&self, now: Instant) -> bool {
        self.waiting.as_ref().is_some_and(|w| now >= w.deadline)
    }

    /// The queue timeout ran out: the members ringing are let go, then the queue's overflow
    /// (or the flow's failure branch) takes the caller.
    pub(super) async fn on_queue_timeout(&mut self) -> Flow {
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
    pub(super) async fn release_caller(&mut self) -> Flow {
        self.end(vec![hangup("a", Side::System, Cause::Normal)])
            .await;
        self.bye(Which::A);
        Flow::Done
    }

    /// Reads the agent's number to the caller as they are connected (接通报工号), digit by
    /// digit: the legs are held apart while it plays, then joined (see [`Session::announced`]).
    pub(super) async fn announce_agent(&mut self, number: String) {
        let Some(relay) = self.relay.clone() else {
            return;
        };
        self.record(vec![CallCommand::AnnounceAgent {
            number: number.clone(),
            at: Utc::now(),
        }])
        .await;
        relay.set_held(true);
        let digits: Vec<String> = number.chars().map(String::from).collect();
        let items = vec![Utterance::Speech {
            text: format!("工号 {} 为您服务", digits.join(" ")),
        }];
        let (calls, node, enterprise, tx, codec) = (
            self.calls.clone(),
            self.node.clone(),
            self.enterprise,
            self.tx.clone(),
            self.a_codec(),
        );
        tokio::spawn(async move {
            let (prompt, failures) = calls.prompts.render(&node, enterprise, &items).await;
            if !prompt.samples().is_empty() {
                relay.play(true, &prompt, codec).finished().await;
            }
            let failure = failures.first().map(ToString::to_string);
            let _ = tx.send(CallInput::Announced { failure });
        });
    }

    /// The agent's number was read: the caller and the agent hear each other (unless the
    /// agent put the caller on hold meanwhile).
    pub(super) async fn announced(&mut self, failure: Option<String>) -> Flow {
        if let Some(reason) = failure {
            self.record(vec![CallCommand::PromptFailed {
                reason,
                at: Utc::now(),
            }])
            .await;
        }
        if let (Some(relay), None) = (&self.relay, &self.hold_music) {
            relay.set_held(false);
            relay.touch();
        }
        Flow::Continue
    }

    /// Plays `items` to the caller, then releases it (through the actor's inbox).
    fn play_then_release(&mut self, items: Vec<Utterance>) {
        let (Some(relay), codec) = (self.relay.clone(), self.a_codec()) else {
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
            let _ = tx.send(CallInput::Release);
        });
    }

    /// The caller goes on in IVR flow `flow_id` (a queue's overflow, an agent's transfer).
    pub(super) async fn enter_flow(&mut self, flow_id: Uuid) -> Flow {
        let entry = plan::queue_overflow_entry(
            &self.node,
            &self.calls,
            self.enterprise,
            flow_id,
            &self.caller_number(),
            &self.called_number(),
            self.route_id(),
        );
        let Ok(entry) = entry else {
            return self.release_caller().await;
        };
        let (run, step) =
            IvrRun::start(&entry.definition, &entry.facts, local_now(entry.time_zone));
        let at = Utc::now();
        let recorded = self
            .record(vec![
                CallCommand::EnterIvr {
                    flow_id: entry.flow_id,
                    version: entry.version,
                    at,
                },
                CallCommand::Ivr {
                    facts: step.facts,
                    at,
                },
            ])
            .await;
        if recorded.is_none() {
            return self.release_caller().await;
        }
        self.ivr = Some(IvrDriver::new(entry, run, self.ivr_notify.clone()));
        self.ivr_actions(step.actions, std::time::Instant::now())
            .await
    }

    /// Runs `command` (built from the call's id and the time) on the seat of `extension`;
    /// a refusal is logged (the seat's state has moved on).
    pub(super) async fn seat(
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
    pub(super) async fn release_queue_hold(&mut self) {
        if let Some(waiting) = self.waiting.take() {
            self.let_offers_go(&waiting).await;
            self.calls.acd.leave(waiting.queue.id, self.call);
        }
        self.free_agent().await;
    }

    /// The agent's call ends: its seat is free again after the queue's wrap-up time.
    pub(super) async fn free_agent(&mut self) {
        if let Some(extension) = self.agent.take() {
            let wrap_up_seconds = self.agent_wrap_up;
            self.seat(extension, |call, at| AgentCommand::EndCall {
                call_id: call,
                wrap_up_seconds,
                at,
            })
            .await;
            self.calls.acd.release(extension);
        }
    }

    /// The IVR transfer node's queue target.
    pub(super) async fn transfer_to_queue(&mut self, queue_id: Uuid) -> Option<IvrInput> {
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

    /// CANCELs every leg ringing (the b slot's, when not answered, and the forks) and returns
    /// the commands ending them.
    pub(super) fn cancel_forks_and_ringing(&mut self, cause: Cause) -> Vec<CallCommand> {
        let mut commands = Vec::new();
        let forks = std::mem::take(&mut self.forks);
        let ringing_b = self.b.take_if(|b| !b.answered).into_iter().chain(forks);
        for slot in ringing_b {
            self.sip
                .request(cancel_of(slot.invite()), slot.leg.peer, slot.leg.transport);
            commands.push(hangup(&slot.name, Side::System, cause.clone()));
        }
        commands
    }

    /// Forks whose ring time ran out by `now`: CANCELled and missed.
    pub(super) async fn forks_not_answered(&mut self, now: Instant) {
        let (due, keep): (Vec<Slot>, Vec<Slot>) = std::mem::take(&mut self.forks)
            .into_iter()
            .partition(|f| now >= f.ring_deadline);
        self.forks = keep;
        for fork in due {
            self.sip
                .request(cancel_of(&fork.invite), fork.leg.peer, fork.leg.transport);
            self.queue_offer_failed(&fork.name, Side::System, Cause::NoAnswer)
                .await;
        }
    }

    /// The b slot emptied while forks still ring: the first of them takes it.
    pub(super) fn promote_fork(&mut self) {
        if self.b.is_none() && !self.forks.is_empty() {
            self.b = Some(self.forks.remove(0));
        }
    }

    /// CANCELs the forks; returns the commands ending them.
    pub(super) fn cancel_forks(&mut self) -> Vec<CallCommand> {
        std::mem::take(&mut self.forks)
            .into_iter()
            .map(|fork| {
                self.sip
                    .request(cancel_of(&fork.invite), fork.leg.peer, fork.leg.transport);
                hangup(&fork.name, Side::System, Cause::Cancelled)
            })
            .collect()
    }

    /// A response to the INVITE of fork `index`: it rings, answers (and takes the b slot:
    /// the others are cancelled) or refuses (the member missed the call).
    pub(super) async fn on_fork_response(
        &mut self,
        index: usize,
        number: u32,
        method: Method,
        response: Response,
    ) -> Flow {
        let Some(fork) = self.forks.get(index) else {
            return Flow::Continue;
        };
        let current = cseq(&fork.invite.headers).map(|(n, _)| n);
        if method != Method::Invite || Some(number) != current {
            return Flow::Continue; // answers to our CANCEL
        }
        match response.status {
            180 | 183 => {
                let leg = fork.name.clone();
                self.record(vec![CallCommand::Ringing {
                    leg,
                    at: Utc::now(),
                }])
                .await;
                Flow::Continue
            }
            200..=299 => {
                let fork = self.forks.remove(index);
                if let Some(ringing) = self.b.take() {
                    self.forks.push(ringing); // cancelled as the fork answers
                }
                self.b = Some(fork);
                self.on_answer(response).await
            }
            300.. => {
                let fork = self.forks.remove(index);
                let cause = if response.status == 486 {
                    Cause::Busy
                } else {
                    Cause::Rejected(response.status)
                };
                self.queue_offer_failed(&fork.name, Side::Callee, cause)
                    .await;
                Flow::Continue
            }
            _ => Flow::Continue,
        }
    }

    /// The offer ringing `extension` was withdrawn on its seat (the agent signed out): its leg
    /// is cancelled, and the caller is offered to someone else.
    pub(super) async fn offer_withdrawn(&mut self, extension: Uuid) -> Flow {
        let Some((queue_id, name)) = self.waiting.as_mut().and_then(|w| {
            let name = w
                .offers
                .iter()
                .find(|(_, e)| **e == extension)
                .map(|(n, _)| n.clone())?;
            w.offers.remove(&name);
            Some((w.queue.id, name))
        }) else {
            return Flow::Continue;
        };
        let slot = if self.b.as_ref().is_some_and(|b| b.name == name) {
            self.b.take()
        } else {
            self.forks
                .iter()
                .position(|f| f.name == name)
                .map(|i| self.forks.remove(i))
        };
        if let Some(slot) = slot {
            self.sip
                .request(cancel_of(&slot.invite), slot.leg.peer, slot.leg.transport);
            self.record(vec![hangup(&slot.name, Side::System, Cause::Cancelled)])
                .await;
        }
        self.promote_fork();
        self.calls
            .acd
            .offer_ended(queue_id, self.call, extension, false);
        Flow::Continue
    }
}
