//! A supervisor joining a live call (manual §7.7): callcore rings the supervisor's own
//! extension and, once it answers, mixes the call for it in the relay: listening (监听), the
//! supervisor hears both sides unheard; whispering (密语), only the agent hears it; barging in
//! (强插), everyone hears everyone. The supervisor may switch between the three on the same
//! phone call, and leaves by hanging up or from the API. Each step is a `SupervisorActed`
//! event naming the supervisor, recorded before it takes effect. While it takes part, the
//! supervisor's own seat is on the call (`AgentJoinedCall`), so no queue offers it another.

use chrono::Utc;
use domain::agent::{Agent, AgentCommand};
use domain::call::SupervisorAction;
use eventlog::Metadata;
use telephony::media::relay::Formats;
use telephony::sdp::{self, AudioOffer, Codec, Direction};
use telephony::sip::message::{cseq, Method, Request, Response, SipMessage};
use telephony::sip::transaction::{response_to, TransactionKey};
use tokio::time::Instant;
use uuid::Uuid;

use super::control::{unreachable_because, ControlRefused, MonitorMode};
use super::dialog::{ack_of, cancel_of, Leg};
use super::plan;
use super::session::{Flow, Session};

/// The supervisor's leg: callcore's INVITE to its phone, then the dialog.
pub(super) struct MonitorLeg {
    leg: Leg,
    invite: Request,
    /// The ACK of its 2xx, once it answered (resent when the 2xx comes again).
    ack: Option<Request>,
    supervisor: Uuid,
    /// The supervisor's extension (its seat is on the call meanwhile).
    extension: Uuid,
    /// When it stops ringing.
    pub(super) ring_deadline: Instant,
}

impl MonitorLeg {
    /// Whether it rings still.
    pub(super) fn ringing(&self) -> bool {
        self.ack.is_none()
    }
}

fn action_of(mode: MonitorMode) -> SupervisorAction {
    match mode {
        MonitorMode::Listen => SupervisorAction::Listen,
        MonitorMode::Whisper => SupervisorAction::Whisper,
        MonitorMode::Barge => SupervisorAction::Barge,
    }
}

impl Session {
    /// Whether `call_id` is the supervisor's leg.
    pub(super) fn is_monitor(&self, call_id: &str) -> bool {
        self.monitor
            .as_ref()
            .is_some_and(|m| m.leg.call_id == call_id)
    }

    /// `supervisor` joins the bridged call in `mode` on its extension `extension`, or changes
    /// how it takes part when it is on the call already. Another supervisor on the call, an
    /// unbridged call or an extension that cannot be rung leave the call as it was and are
    /// refused.
    pub(super) async fn monitor(
        &mut self,
        supervisor: Uuid,
        extension: Uuid,
        mode: MonitorMode,
    ) -> Result<(), ControlRefused> {
        let Some(relay) = self.relay.clone().filter(|_| self.bridged()) else {
            return Err(ControlRefused::NotConnected);
        };
        if let Some(current) = &self.monitor {
            if current.supervisor != supervisor {
                return Err(ControlRefused::OtherSupervisor);
            }
            self.supervised(supervisor, action_of(mode)).await;
            relay.set_monitor_mode(mode.into());
            return Ok(());
        }
        let caller = self.caller_number();
        let target = plan::extension_by_id(&self.node, self.enterprise, extension, &caller)
            .await
            .map_err(|cause| ControlRefused::SupervisorUnreachable(unreachable_because(&cause)))?;
        self.join_seat(extension).await?;
        let Ok(port) = relay.open_monitor(mode.into()).await else {
            self.leave_seat(extension).await;
            return Err(ControlRefused::NoMedia);
        };
        self.supervised(supervisor, action_of(mode)).await;
        let mut leg = target.new_leg(self.local);
        self.calls
            .by_call_id
            .insert(leg.call_id.clone(), self.tx.clone());
        self.extra_ids.push(leg.call_id.clone());
        let offer = AudioOffer {
            address: self.media_ip,
            port,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: None,
            direction: Direction::SendRecv,
            ptime: Some(20),
        };
        let body = sdp::print_offer(&offer, self.sdp_session, 1).into_bytes();
        let invite = leg.request(Method::Invite, self.local, body);
        self.sip.request(invite.clone(), leg.peer, leg.transport);
        self.monitor = Some(MonitorLeg {
            leg,
            invite,
            ack: None,
            supervisor,
            extension,
            ring_deadline: Instant::now() + self.calls.ring_timeout,
        });
        Ok(())
    }

    /// The supervisor leaves from the API: its phone gets a BYE (or a CANCEL while ringing).
    pub(super) async fn stop_monitoring(&mut self, supervisor: Uuid) -> Result<(), ControlRefused> {
        if !self.monitored_by(supervisor) {
            return Err(ControlRefused::NotMonitoring);
        }
        self.supervised(supervisor, SupervisorAction::StopMonitoring)
            .await;
        self.hang_up_monitor().await;
        Ok(())
    }

    /// Puts the supervisor's seat on this call; a seat that rings for or is on another call
    /// refuses.
    pub(super) async fn join_seat(&self, extension: Uuid) -> Result<(), ControlRefused> {
        self.node
            .execute::<Agent>(
                domain::ids::agent_id(extension),
                AgentCommand::JoinCall {
                    call_id: self.call,
                    at: Utc::now(),
                },
                Metadata::new(Some(self.enterprise), None),
            )
            .await
            .map(|_| ())
            .map_err(|_| ControlRefused::SupervisorBusy)
    }

    /// The supervisor's seat leaves this call and is free for queues again.
    async fn leave_seat(&self, extension: Uuid) {
        self.seat(extension, |call, at| AgentCommand::EndCall {
            call_id: call,
            wrap_up_seconds: 0,
            at,
        })
        .await;
        self.calls.acd.release(extension);
    }

    /// Ends the supervisor's leg without recording anything on the call (the call ends, or
    /// the leaving was recorded already); its seat is freed.
    pub(super) async fn hang_up_monitor(&mut self) {
        if let Some(extension) = self.end_monitor_leg().await {
            self.leave_seat(extension).await;
        }
    }

    /// Ends the supervisor's leg (BYE, or CANCEL while ringing) and returns the extension
    /// whose seat it held.
    pub(super) async fn end_monitor_leg(&mut self) -> Option<Uuid> {
        let mut monitor = self.monitor.take()?;
        if !monitor.ringing() {
            let bye = monitor.leg.request(Method::Bye, self.local, Vec::new());
            self.sip
                .request(bye, monitor.leg.peer, monitor.leg.transport);
        } else {
            self.sip.request(
                cancel_of(&monitor.invite),
                monitor.leg.peer,
                monitor.leg.transport,
            );
        }
        if let Some(relay) = &self.relay {
            relay.close_monitor().await;
        }
        Some(monitor.extension)
    }

    /// The supervisor's phone did not answer in time.
    pub(super) async fn monitor_not_answered(&mut self, now: Instant) {
        let due = self
            .monitor
            .as_ref()
            .filter(|m| m.ringing() && now >= m.ring_deadline);
        if let Some(supervisor) = due.map(|m| m.supervisor) {
            self.supervised(supervisor, SupervisorAction::StopMonitoring)
                .await;
            self.hang_up_monitor().await;
        }
    }

    /// The supervisor's phone ended its part itself (a refusal, a BYE): recorded, and the
    /// relay forwards the legs directly again.
    async fn monitor_left(&mut self) {
        let Some(monitor) = self.monitor.take() else {
            return;
        };
        self.supervised(monitor.supervisor, SupervisorAction::StopMonitoring)
            .await;
        if let Some(relay) = &self.relay {
            relay.close_monitor().await;
        }
        self.leave_seat(monitor.extension).await;
    }

    /// Whether `supervisor` takes part in the call now.
    pub(super) fn monitored_by(&self, supervisor: Uuid) -> bool {
        self.monitor
            .as_ref()
            .is_some_and(|m| m.supervisor == supervisor)
    }

    /// A response on the supervisor's leg.
    pub(super) async fn on_monitor_response(&mut self, response: Response) -> Flow {
        let local = self.local;
        let Some(monitor) = self.monitor.as_mut() else {
            return Flow::Continue;
        };
        let is_invite = cseq(&response.headers).is_some_and(|(_, m)| m == Method::Invite);
        match response.status {
            200..=299 if is_invite && !monitor.ringing() => {
                if let Some(ack) = &monitor.ack {
                    self.sip.raw(
                        &SipMessage::Request(ack.clone()),
                        monitor.leg.peer,
                        monitor.leg.transport,
                    );
                }
            }
            200..=299 if is_invite => {
                monitor.leg.confirm(&response);
                let ack = ack_of(&monitor.leg, &monitor.invite, local);
                self.sip.raw(
                    &SipMessage::Request(ack.clone()),
                    monitor.leg.peer,
                    monitor.leg.transport,
                );
                monitor.ack = Some(ack);
                let answer = sdp::parse_offer(&String::from_utf8_lossy(&response.body)).ok();
                let codec = answer.as_ref().and_then(|a| a.codecs.first().copied());
                if let (Some(relay), Some(answer), Some(codec)) = (&self.relay, &answer, codec) {
                    relay.set_monitor_peer(
                        std::net::SocketAddr::new(answer.address, answer.port),
                        Formats {
                            codec,
                            telephone_event: None,
                        },
                    );
                }
            }
            300.. if is_invite && monitor.ringing() => self.monitor_left().await,
            _ => {}
        }
        Flow::Continue
    }

    /// A request on the supervisor's leg: its BYE ends its part, not the call.
    pub(super) async fn on_monitor_request(
        &mut self,
        key: TransactionKey,
        request: Request,
    ) -> Flow {
        let Some(monitor) = &self.monitor else {
            return Flow::Continue;
        };
        let tag = monitor.leg.local_tag.clone();
        match request.method {
            Method::Bye => {
                self.sip
                    .respond(&key, response_to(&request, 200, "OK", Some(&tag)));
                self.monitor_left().await;
            }
            Method::Options | Method::Update if request.body.is_empty() => {
                // A session refresh keeps the session as it is.
                self.sip
                    .respond(&key, response_to(&request, 200, "OK", Some(&tag)));
            }
            _ => self.sip.respond(
                &key,
                response_to(&request, 501, "Not Implemented", Some(&tag)),
            ),
        }
        Flow::Continue
    }
}
