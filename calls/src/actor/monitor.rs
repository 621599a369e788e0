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
use telephony::sip::message::{Method, Request, Response};
use telephony::sip::transaction::{response_to, TransactionKey};
use tokio::time::Instant;
use uuid::Uuid;

use super::parts::MonitorLeg;
use super::session::{Flow, Session};
use crate::control::{unreachable_because, ControlRefused, MonitorMode};
use crate::dialog::{in_dialog, OutgoingInvite, Progress};
use crate::plan;

fn action_of(mode: MonitorMode) -> SupervisorAction {
    match mode {
        MonitorMode::Listen => SupervisorAction::Listen,
        MonitorMode::Whisper => SupervisorAction::Whisper,
        MonitorMode::Barge => SupervisorAction::Barge,
    }
}

impl Session {
    /// Whether `call_id` is the supervisor's leg.
    pub(crate) fn is_monitor(&self, call_id: &str) -> bool {
        self.monitor
            .as_ref()
            .is_some_and(|m| m.call.call_id() == call_id)
    }

    /// `supervisor` joins the bridged call in `mode` on its extension `extension`, or changes
    /// how it takes part when it is on the call already. Another supervisor on the call, an
    /// unbridged call or an extension that cannot be rung leave the call as it was and are
    /// refused.
    pub(crate) async fn monitor(
        &mut self,
        supervisor: Uuid,
        extension: Uuid,
        mode: MonitorMode,
    ) -> Result<(), ControlRefused> {
        let Some(relay) = self.media.relay.clone().filter(|_| self.bridged()) else {
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
        let leg = target.new_leg(self.local);
        self.adopt_call_id(&leg.call_id);
        let offer = AudioOffer {
            address: self.media.ip,
            port,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: None,
            direction: Direction::SendRecv,
            ptime: Some(20),
        };
        let body = sdp::print_offer(&offer, self.media.sdp_session, 1).into_bytes();
        let (call, out) = OutgoingInvite::start(
            leg,
            self.local,
            body,
            None,
            None,
            Instant::now(),
            self.calls.ring_timeout(),
        );
        self.send(out);
        self.monitor = Some(MonitorLeg {
            call,
            supervisor,
            extension,
        });
        Ok(())
    }

    /// The supervisor leaves from the API: its phone gets a BYE (or a CANCEL while ringing).
    pub(crate) async fn stop_monitoring(&mut self, supervisor: Uuid) -> Result<(), ControlRefused> {
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
    pub(crate) async fn join_seat(&self, extension: Uuid) -> Result<(), ControlRefused> {
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
    pub(crate) async fn hang_up_monitor(&mut self) {
        if let Some(extension) = self.end_monitor_leg().await {
            self.leave_seat(extension).await;
        }
    }

    /// Ends the supervisor's leg (BYE, or CANCEL while ringing) and returns the extension
    /// whose seat it held.
    pub(crate) async fn end_monitor_leg(&mut self) -> Option<Uuid> {
        let mut monitor = self.monitor.take()?;
        let out = monitor.call.hang_up(self.local);
        self.send(out);
        if let Some(relay) = &self.media.relay {
            relay.close_monitor().await;
        }
        Some(monitor.extension)
    }

    /// The supervisor's phone did not answer in time.
    pub(crate) async fn monitor_not_answered(&mut self, now: Instant) {
        let due = self.monitor.as_ref().filter(|m| m.call.ring_timed_out(now));
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
        if let Some(relay) = &self.media.relay {
            relay.close_monitor().await;
        }
        self.leave_seat(monitor.extension).await;
    }

    /// Whether `supervisor` takes part in the call now.
    pub(crate) fn monitored_by(&self, supervisor: Uuid) -> bool {
        self.monitor
            .as_ref()
            .is_some_and(|m| m.supervisor == supervisor)
    }

    /// A response on the supervisor's leg: once it answers, the relay mixes for it.
    pub(crate) async fn on_monitor_response(&mut self, response: Response) -> Flow {
        let local = self.local;
        let Some(monitor) = self.monitor.as_mut() else {
            return Flow::Continue;
        };
        let (progress, sends) = monitor.call.on_response(&response, local);
        let signalling = monitor.call.leg().peer.ip();
        self.send_all(sends);
        match progress {
            Progress::Answered { body } => {
                let answer = sdp::parse_offer(&String::from_utf8_lossy(&body)).ok();
                let codec = answer.as_ref().and_then(|a| a.codecs.first().copied());
                if let (Some(relay), Some(answer), Some(codec)) =
                    (&self.media.relay, &answer, codec)
                {
                    relay.set_monitor_peer(
                        std::net::SocketAddr::new(answer.address, answer.port),
                        signalling,
                        Formats {
                            codec,
                            telephone_event: None,
                        },
                    );
                }
            }
            Progress::Refused { .. } => self.monitor_left().await,
            Progress::Ringing | Progress::Challenged | Progress::Nothing => {}
        }
        Flow::Continue
    }

    /// A request on the supervisor's leg: its BYE ends its part, not the call.
    pub(crate) async fn on_monitor_request(
        &mut self,
        key: TransactionKey,
        request: Request,
    ) -> Flow {
        let Some(monitor) = self.monitor.as_mut() else {
            return Flow::Continue;
        };
        let tag = monitor.call.leg().local_tag.clone();
        if !in_dialog(monitor.call.leg(), &request) {
            self.answer_request(
                &key,
                response_to(&request, 481, "Call/Transaction Does Not Exist", Some(&tag)),
            );
            return Flow::Continue;
        }
        match request.method {
            Method::Bye => {
                monitor.call.ended_by_peer();
                self.answer_request(&key, response_to(&request, 200, "OK", Some(&tag)));
                self.monitor_left().await;
            }
            Method::Options | Method::Update if request.body.is_empty() => {
                // A session refresh keeps the session as it is.
                self.answer_request(&key, response_to(&request, 200, "OK", Some(&tag)));
            }
            _ => self.answer_request(
                &key,
                response_to(&request, 501, "Not Implemented", Some(&tag)),
            ),
        }
        Flow::Continue
    }
}
