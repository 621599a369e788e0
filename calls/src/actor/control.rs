//! What agents and supervisors do to a live call from the API (manual §7): hang it up, hold
//! the customer with music and resume, transfer it blind (to an extension, an outside number,
//! a queue or an IVR flow), and a supervisor's forced hang-up (强拆), take-over (抢线) and
//! joining the call (see `monitor`). Each arrives as a [`Control`]; the actor records the
//! step, then carries it out, and answers whether it did: a control the call's state does not
//! allow is refused with a [`ControlRefused`] and records nothing.

use std::sync::Arc;

use chrono::Utc;
use domain::call::{CallCommand, Cause, Side, SupervisorAction};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::parts::{default_music, AgentOnCall};
use super::session::{hangup, Flow, Session};
use crate::control::{unreachable_because, Control, ControlRefused, TransferTarget};
use crate::dialog::Which;
use crate::plan::{self, Target};

impl Session {
    /// Carries out `control` on the call, or refuses it.
    pub(crate) async fn on_control(
        &mut self,
        control: Control,
    ) -> (Flow, Result<(), ControlRefused>) {
        match control {
            Control::HangUp { by_supervisor } => {
                if let Some(supervisor) = by_supervisor {
                    self.supervised(supervisor, SupervisorAction::ForceHangUp)
                        .await;
                }
                if !self.bridged() {
                    return (self.release_caller().await, Ok(()));
                }
                let side = if by_supervisor.is_some() {
                    Side::System
                } else {
                    Side::Callee
                };
                let agent_leg = self.b.as_ref().map(|b| b.name.clone()).unwrap_or_default();
                self.media.stop_hold_music();
                self.end(vec![
                    hangup(&agent_leg, side, Cause::Normal),
                    hangup("a", Side::System, Cause::Normal),
                ])
                .await;
                self.bye(Which::B);
                self.bye(Which::A);
                (Flow::Done, Ok(()))
            }
            Control::Hold => {
                if !self.bridged() {
                    return (Flow::Continue, Err(ControlRefused::NotConnected));
                }
                if self.media.hold_music.is_some() {
                    return (Flow::Continue, Err(ControlRefused::AlreadyHeld));
                }
                self.record(vec![CallCommand::Hold {
                    leg: "a".into(),
                    at: Utc::now(),
                }])
                .await;
                if let Some(relay) = &self.media.relay {
                    relay.set_held(true);
                }
                self.media.hold_music = self.spawn_hold_music();
                (Flow::Continue, Ok(()))
            }
            Control::Resume => {
                if self.media.hold_music.is_none() {
                    return (Flow::Continue, Err(ControlRefused::NotHeld));
                }
                self.record(vec![CallCommand::Resume {
                    leg: "a".into(),
                    at: Utc::now(),
                }])
                .await;
                self.media.stop_hold_music();
                if let Some(relay) = &self.media.relay {
                    relay.set_held(false);
                    relay.touch();
                }
                (Flow::Continue, Ok(()))
            }
            Control::Transfer(target) => {
                if !self.bridged() {
                    return (Flow::Continue, Err(ControlRefused::NotConnected));
                }
                match self.transfer_leg(&target).await {
                    Ok(leg) => (self.transfer_blind(target, leg).await, Ok(())),
                    Err(cause) => (
                        Flow::Continue,
                        Err(ControlRefused::Unreachable(unreachable_because(&cause))),
                    ),
                }
            }
            Control::TakeOver {
                supervisor,
                extension,
            } => {
                if !self.bridged() {
                    return (Flow::Continue, Err(ControlRefused::NotConnected));
                }
                let target = TransferTarget::Extension(extension);
                let leg = match self.transfer_leg(&target).await {
                    Ok(leg) => leg,
                    Err(cause) => {
                        return (
                            Flow::Continue,
                            Err(ControlRefused::SupervisorUnreachable(unreachable_because(
                                &cause,
                            ))),
                        )
                    }
                };
                // The supervisor's seat takes the call: it is on it from now (also when it
                // listened until now: its listening leg ends, the seat stays on the call).
                if self.monitored_by(supervisor) {
                    self.end_monitor_leg().await;
                } else if let Err(busy) = self.join_seat(extension).await {
                    return (Flow::Continue, Err(busy));
                }
                self.supervised(supervisor, SupervisorAction::TakeOver)
                    .await;
                let wrap_up_seconds = self.agent.map_or(0, |a| a.wrap_up_seconds);
                let flow = self.transfer_blind(target, leg).await;
                // The call's agent is the supervisor now: its seat is freed when the call ends.
                self.agent = Some(AgentOnCall {
                    extension,
                    wrap_up_seconds,
                });
                (flow, Ok(()))
            }
            Control::Monitor {
                supervisor,
                extension,
                mode,
            } => (
                Flow::Continue,
                self.monitor(supervisor, extension, mode).await,
            ),
            Control::StopMonitoring { supervisor } => {
                (Flow::Continue, self.stop_monitoring(supervisor).await)
            }
            Control::AnswerWaiting { supervisor } => {
                self.supervised(supervisor, SupervisorAction::AnswerWaiting)
                    .await;
                (Flow::Continue, Ok(()))
            }
        }
    }

    /// Records a supervisor's action on the call.
    pub(crate) async fn supervised(&mut self, supervisor: Uuid, action: SupervisorAction) {
        self.record(vec![CallCommand::Supervise {
            supervisor,
            action,
            at: Utc::now(),
        }])
        .await;
    }

    /// Music to the held customer, looping until stopped.
    fn spawn_hold_music(&self) -> Option<JoinHandle<()>> {
        let relay = Arc::clone(self.media.relay.as_ref()?);
        let codec = self.media.a_codec();
        Some(tokio::spawn(async move {
            let music = default_music();
            loop {
                relay.play(true, &music, codec).finished().await;
            }
        }))
    }

    /// The leg a blind transfer of the bridged call to `target` rings: an extension's or an
    /// outside number's (none for a queue or a flow), or why it cannot be rung.
    async fn transfer_leg(&self, target: &TransferTarget) -> Result<Option<Target>, Cause> {
        let caller = self.caller_number();
        match target {
            TransferTarget::Extension(id) => {
                let leg = plan::extension_by_id(&self.node, self.enterprise, *id, &caller).await?;
                // Forwarded to its bound number, the leg leaves through a trunk: the agent
                // transferring must be allowed to dial out.
                let transferor = self.b.as_ref().ok_or(Cause::Unavailable)?;
                if leg.forwarded
                    && plan::dialling_extension(&self.node, &transferor.target.party).is_none()
                {
                    return Err(Cause::OutboundNotAllowed);
                }
                Ok(Some(leg))
            }
            TransferTarget::Number(number) => {
                // The number is dialled as the agent leaving (its permission to dial out).
                let transferor = self.b.as_ref().ok_or(Cause::Unavailable)?;
                plan::transfer_target(
                    &self.node,
                    self.enterprise,
                    &transferor.target.party,
                    number,
                    &caller,
                )
                .await
                .map(Some)
            }
            TransferTarget::Queue(_) | TransferTarget::Ivr(_) => Ok(None),
        }
    }

    /// The agent of the bridged call leaves and the customer goes to `target`: `leg` (from
    /// [`Self::transfer_leg`]) rings in the b slot, or a queue or a flow takes the customer
    /// as if it had just called.
    async fn transfer_blind(&mut self, target: TransferTarget, leg: Option<Target>) -> Flow {
        let Some(slot) = self.b.as_ref().filter(|b| b.answered()) else {
            return Flow::Continue;
        };
        let transferor = slot.name.clone();
        let described = match &target {
            TransferTarget::Extension(id) => format!("extension:{id}"),
            TransferTarget::Number(number) => format!("number:{number}"),
            TransferTarget::Queue(id) => format!("queue:{id}"),
            TransferTarget::Ivr(id) => format!("ivr:{id}"),
        };
        self.media.stop_hold_music();
        let at = Utc::now();
        let mut step = vec![
            CallCommand::Transfer {
                by_leg: transferor.clone(),
                target: described,
                at,
            },
            hangup(&transferor, Side::Callee, Cause::Normal),
        ];
        let new_leg = leg.as_ref().map(|_| self.next_leg_name());
        if let (Some(leg), Some(name)) = (&leg, &new_leg) {
            step.push(CallCommand::AddLeg {
                leg: name.clone(),
                party: leg.party.clone(),
                caller_id: leg.caller_id.clone(),
                forwarded: leg.forwarded,
                at,
            });
        }
        self.record(step).await;
        self.bye(Which::B);
        self.b = None;
        // The agent is free as it leaves.
        self.free_agent().await;
        if let (Some(leg), Some(name)) = (leg, new_leg) {
            self.ring(leg, name);
            return Flow::Continue;
        }
        // The transfer is made: a queue that turns the caller away releases it (recorded).
        match target {
            TransferTarget::Queue(queue) => match self.enter_queue(queue, false).await {
                Ok(()) => Flow::Continue,
                Err(_) => self.release_caller().await,
            },
            TransferTarget::Ivr(flow) => self.enter_flow(flow).await,
            TransferTarget::Extension(_) | TransferTarget::Number(_) => Flow::Continue,
        }
    }
}
