//! What agents and supervisors do to a live call from the API (manual §7): hang it up, hold
//! the customer with music and resume, transfer it blind (to an extension, an outside number,
//! a queue or an IVR flow), and a supervisor's forced hang-up (强拆), take-over (抢线) and
//! joining the call (see `monitor`). Each reaches the call's
//! actor as a [`Control`]; the actor records the step, then carries it out, and answers
//! whether it did: a control the call's state does not allow is refused with a
//! [`ControlRefused`] and records nothing.

use std::sync::Arc;

use chrono::Utc;
use domain::call::{CallCommand, Cause, Side, SupervisorAction};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::plan::{self, Target};
use super::queue::default_music;
use super::session::{hangup, Flow, Session, Which};

/// How a supervisor takes part in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorMode {
    /// Hears both sides; nobody hears the supervisor (监听).
    Listen,
    /// Hears both sides; only the agent hears the supervisor (密语).
    Whisper,
    /// Three-way: everyone hears everyone (强插).
    Barge,
}

impl From<MonitorMode> for telephony::media::relay::MonitorMode {
    fn from(mode: MonitorMode) -> Self {
        match mode {
            MonitorMode::Listen => Self::Listen,
            MonitorMode::Whisper => Self::Whisper,
            MonitorMode::Barge => Self::Barge,
        }
    }
}

/// Where a blind transfer sends the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// Another extension of the enterprise.
    Extension(Uuid),
    /// An outside number (the agent's extension must be allowed to dial out).
    Number(String),
    /// A queue.
    Queue(Uuid),
    /// An IVR flow.
    Ivr(Uuid),
}

/// Why a call did not carry out a control (nothing was recorded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlRefused {
    /// It needs the customer connected to an agent.
    #[error("the call is not connected to an agent")]
    NotConnected,
    /// Hold while on hold.
    #[error("the customer is on hold already")]
    AlreadyHeld,
    /// Resume while not on hold.
    #[error("the customer is not on hold")]
    NotHeld,
    /// A transfer target that cannot be rung.
    #[error("the transfer target cannot be reached: {0}")]
    Unreachable(&'static str),
    /// Another supervisor listens, whispers or barged in already.
    #[error("another supervisor is on this call")]
    OtherSupervisor,
    /// The supervisor's own extension cannot be rung.
    #[error("your extension cannot be rung: {0}")]
    SupervisorUnreachable(&'static str),
    /// The supervisor's own seat rings for or is on another call.
    #[error("your seat is busy with another call")]
    SupervisorBusy,
    /// The relay could not open the supervisor's media.
    #[error("the call's media could not take the supervisor in")]
    NoMedia,
    /// Stop monitoring by a supervisor that is not on the call.
    #[error("you are not on this call")]
    NotMonitoring,
}

/// Where the answer to a control goes.
pub type ControlReply = oneshot::Sender<Result<(), ControlRefused>>;

/// Why `cause` keeps a leg from being rung, in words.
pub(super) fn unreachable_because(cause: &Cause) -> &'static str {
    match cause {
        Cause::Unavailable => "it is not registered",
        Cause::OutboundNotAllowed => "the extension may not dial out",
        Cause::NoCallerId => "the enterprise has no licensed caller-ID number",
        Cause::NoRoute => "no route to that number",
        _ => "it cannot be rung",
    }
}

/// An action on a live call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The agent hangs up (or a supervisor forces the call down).
    HangUp {
        /// The supervisor forcing it, rather than the agent.
        by_supervisor: Option<Uuid>,
    },
    /// A supervisor replaces the agent: its own extension rings and the agent leaves.
    TakeOver {
        /// The supervisor's sub-account.
        supervisor: Uuid,
        /// Its extension.
        extension: Uuid,
    },
    /// A supervisor answers a waiting caller on its own extension (its seat's offer is
    /// decided already; this records the action).
    AnswerWaiting {
        /// The supervisor's sub-account.
        supervisor: Uuid,
    },
    /// The agent holds the customer, who hears music.
    Hold,
    /// The agent takes the customer back.
    Resume,
    /// The agent transfers the customer and leaves the call.
    Transfer(TransferTarget),
    /// A supervisor listens, whispers to the agent or barges in, on its own extension (rung
    /// the first time), or switches between the three.
    Monitor {
        /// The supervisor's sub-account.
        supervisor: Uuid,
        /// Its extension.
        extension: Uuid,
        /// How it takes part.
        mode: MonitorMode,
    },
    /// The supervisor leaves the call it monitors.
    StopMonitoring {
        /// The supervisor's sub-account.
        supervisor: Uuid,
    },
}

impl Session {
    /// Carries out `control` on the call, or refuses it.
    pub(super) async fn on_control(
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
                self.stop_hold_music();
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
                if self.hold_music.is_some() {
                    return (Flow::Continue, Err(ControlRefused::AlreadyHeld));
                }
                self.record(vec![CallCommand::Hold {
                    leg: "a".into(),
                    at: Utc::now(),
                }])
                .await;
                if let Some(relay) = &self.relay {
                    relay.set_held(true);
                }
                self.hold_music = self.spawn_hold_music();
                (Flow::Continue, Ok(()))
            }
            Control::Resume => {
                if self.hold_music.is_none() {
                    return (Flow::Continue, Err(ControlRefused::NotHeld));
                }
                self.record(vec![CallCommand::Resume {
                    leg: "a".into(),
                    at: Utc::now(),
                }])
                .await;
                self.stop_hold_music();
                if let Some(relay) = &self.relay {
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
                let flow = self.transfer_blind(target, leg).await;
                // The call's agent is the supervisor now: its seat is freed when the call ends.
                self.agent = Some(extension);
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
    pub(super) async fn supervised(&mut self, supervisor: Uuid, action: SupervisorAction) {
        self.record(vec![CallCommand::Supervise {
            supervisor,
            action,
            at: Utc::now(),
        }])
        .await;
    }

    /// Music to the held customer, looping until stopped.
    fn spawn_hold_music(&self) -> Option<JoinHandle<()>> {
        let relay = Arc::clone(self.relay.as_ref()?);
        let codec = self.a_codec();
        Some(tokio::spawn(async move {
            let music = default_music();
            loop {
                relay.play(true, &music, codec).finished().await;
            }
        }))
    }

    fn stop_hold_music(&mut self) {
        if let Some(music) = self.hold_music.take() {
            music.abort();
        }
        if let Some(relay) = &self.relay {
            relay.set_held(false);
        }
    }

    /// The leg a blind transfer of the bridged call to `target` rings: an extension's or an
    /// outside number's (none for a queue or a flow), or why it cannot be rung.
    async fn transfer_leg(&self, target: &TransferTarget) -> Result<Option<Target>, Cause> {
        let caller = self.caller_number();
        match target {
            TransferTarget::Extension(id) => {
                plan::extension_by_id(&self.node, self.enterprise, *id, &caller)
                    .await
                    .map(Some)
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
        let Some(slot) = self.b.as_ref().filter(|b| b.answered) else {
            return Flow::Continue;
        };
        let transferor = slot.name.clone();
        let described = match &target {
            TransferTarget::Extension(id) => format!("extension:{id}"),
            TransferTarget::Number(number) => format!("number:{number}"),
            TransferTarget::Queue(id) => format!("queue:{id}"),
            TransferTarget::Ivr(id) => format!("ivr:{id}"),
        };
        self.stop_hold_music();
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
                forwarded: false,
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
