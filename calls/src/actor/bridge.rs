//! The bridge: responses to the INVITEs callcore sent (the b slot's leg ringing, answering or
//! refusing; a ring that runs out), and the answer that connects the caller: recorded with the
//! bridge and the recording in one step, then leg `a` answered with the relay's address.

use std::net::SocketAddr;

use chrono::Utc;
use domain::call::{CallCommand, CallEvent, Cause, Party, Side};
use telephony::sdp;
use telephony::sip::message::Response;

use super::legs::LegA;
use super::session::{hangup, Flow, Session};
use crate::dialog::{answer_body, call_formats, refusal_status, Outbound, Progress, Which};

/// The cause of a refusal with `status`.
pub(crate) fn refusal_cause(status: u16) -> Cause {
    if status == 486 {
        Cause::Busy
    } else {
        Cause::Rejected(status)
    }
}

impl Session {
    /// A response to one of the INVITEs (or BYEs, CANCELs) callcore sent for this call.
    pub(crate) async fn on_response(&mut self, response: Response) -> Flow {
        let call_id = response.headers.get("Call-ID").unwrap_or_default();
        if self.is_monitor(call_id) {
            return self.on_monitor_response(response).await;
        }
        let local = self.local;
        if call_id == self.a.leg().call_id {
            // callcore placed leg `a` and its ACK was lost: the phone resends its 2xx.
            if let LegA::Placed(call) = &mut self.a {
                let (_, again) = call.on_response(&response, local);
                self.send_all(again);
            }
            return Flow::Continue;
        }
        if let Some(fork) = self.forks.iter().position(|f| f.call.call_id() == call_id) {
            return self.on_fork_response(fork, response).await;
        }
        let Some(slot) = self.b.as_mut() else {
            return Flow::Continue;
        };
        let (progress, sends) = slot.call.on_response(&response, local);
        match progress {
            Progress::Ringing => {
                let leg = self.name(Which::B);
                self.record(vec![CallCommand::Ringing {
                    leg,
                    at: Utc::now(),
                }])
                .await;
                if !self.a_answered() {
                    self.reply(180, "Ringing");
                }
                Flow::Continue
            }
            Progress::Answered { body } => self.on_answer(body, sends).await,
            Progress::Refused { status } => {
                self.b_failed(Side::Callee, refusal_cause(status)).await
            }
            Progress::Challenged | Progress::Nothing => {
                self.send_all(sends);
                Flow::Continue
            }
        }
    }

    /// The b slot's leg refused before answer: the caller is let go, unless a queue or an IVR
    /// transfer was waiting for it (the call then goes on).
    pub(crate) async fn b_failed(&mut self, side: Side, cause: Cause) -> Flow {
        let Some(slot) = self.b.take() else {
            return Flow::Continue;
        };
        if self.waiting.is_some() {
            self.queue_offer_failed(&slot.name, side, cause).await;
            self.promote_fork();
            return Flow::Continue;
        }
        if self.ivr_waits_for_transfer() {
            self.record(vec![hangup(&slot.name, side, cause.clone())])
                .await;
            let reason = match cause {
                Cause::Busy => "busy".to_owned(),
                Cause::Rejected(status) => format!("refused with {status}"),
                other => format!("{other:?}").to_lowercase(),
            };
            return self.transfer_failed(&reason).await;
        }
        self.record(vec![
            hangup(&slot.name, side, cause.clone()),
            hangup("a", Side::System, cause.clone()),
        ])
        .await;
        let (status, reason) = refusal_status(&cause);
        self.release_a(status, reason);
        Flow::Done
    }

    /// Nobody answered the b slot's leg in time: a missed call, a member that missed the
    /// caller, or a failed IVR transfer.
    pub(crate) async fn no_answer(&mut self) -> Flow {
        let Some(mut slot) = self.b.take() else {
            return Flow::Continue;
        };
        if self.waiting.is_some() {
            self.send(slot.call.cancel());
            self.queue_offer_failed(&slot.name, Side::System, Cause::NoAnswer)
                .await;
            self.promote_fork();
            return Flow::Continue;
        }
        if self.ivr_waits_for_transfer() {
            self.record(vec![hangup(&slot.name, Side::System, Cause::NoAnswer)])
                .await;
            self.send(slot.call.cancel());
            return self.transfer_failed("no answer").await;
        }
        self.record(vec![
            hangup(&slot.name, Side::System, Cause::NoAnswer),
            hangup("a", Side::System, Cause::NoAnswer),
        ])
        .await;
        self.send(slot.call.cancel());
        self.release_a(480, "Temporarily Unavailable");
        Flow::Done
    }

    /// The b slot's leg answered with `body`: the answer, the bridge and the recording are
    /// recorded in one step, then the leg's ACK (`ack`) goes out, the relay is pointed at it
    /// and leg `a` is answered with the relay's address (unless it was answered before: a
    /// transfer, an IVR or queue call).
    pub(crate) async fn on_answer(&mut self, body: Vec<u8>, ack: Vec<Outbound>) -> Flow {
        let Some(slot) = self.b.as_ref() else {
            return Flow::Continue;
        };
        let b_name = slot.name.clone();
        let announce = match (&self.waiting, &slot.target.party) {
            (Some(waiting), Party::Extension { number, .. })
                if waiting.queue.settings.announce_agent_number =>
            {
                Some(number.clone())
            }
            _ => None,
        };
        if self.waiting.is_some() {
            // The member answered: the caller leaves the queue; the others stop ringing.
            let cancelled = self.cancel_forks();
            if !cancelled.is_empty() {
                self.record(cancelled).await;
            }
            self.queue_answered(&b_name).await;
        }
        let at = Utc::now();
        // The bridged part is recorded: the answer, the bridge and the recording are one step.
        let recording = self
            .media
            .relay
            .is_some()
            .then(|| format!("recordings/{}/{}.wav", at.format("%Y/%m/%d"), self.call));
        let a_answered = self.a_answered();
        let mut step = vec![CallCommand::Answer {
            leg: b_name.clone(),
            at,
        }];
        if !a_answered {
            step.push(CallCommand::Answer {
                leg: "a".into(),
                at,
            });
        }
        step.push(CallCommand::Bridge {
            leg: "a".into(),
            other: b_name,
            at,
        });
        if let Some(file) = &recording {
            step.push(CallCommand::StartRecording {
                file: file.clone(),
                at,
            });
        }
        let recorded = self.record(step).await;
        self.send_all(ack);
        let started = recorded.is_some_and(|events| {
            events
                .iter()
                .any(|e| matches!(e, CallEvent::RecordingStarted { .. }))
        });
        if let (Some(file), Some(relay), true) = (&recording, &self.media.relay, started) {
            relay.start_recording(self.node.data_dir.join(file));
        }
        let a_body = self.connect_media(&body, a_answered);
        if let Some(number) = announce {
            self.announce_agent(number).await;
        }
        if a_answered {
            if self.ivr_waits_for_transfer() {
                return self
                    .ivr_input(domain::policy::ivr::IvrInput::TransferConnected)
                    .await;
            }
            return Flow::Continue;
        }
        self.answer_a(a_body);
        Flow::Continue
    }

    /// Points the relay at the b leg that answered with `b_body` and decides what each leg
    /// speaks; returns the answer for leg `a` (leg `a` keeps its codec when it was answered
    /// before). Without an anchored offer the b leg's body passes through.
    fn connect_media(&mut self, b_body: &[u8], a_answered: bool) -> Vec<u8> {
        let (Some(offer), Some(relay)) = (&self.media.a_offer, &self.media.relay) else {
            return b_body.to_vec();
        };
        let b_answer = sdp::parse_offer(&String::from_utf8_lossy(b_body)).ok();
        let signalling = self.b.as_ref().map(|slot| slot.call.leg().peer.ip());
        if let (Some(b_answer), Some(signalling)) = (&b_answer, signalling) {
            relay.set_b(SocketAddr::new(b_answer.address, b_answer.port), signalling);
        }
        let kept = self.media.formats.filter(|_| a_answered).map(|(a, _)| a);
        let Some(formats) = call_formats(offer, b_answer.as_ref(), kept) else {
            return b_body.to_vec();
        };
        relay.set_formats(formats.0, formats.1);
        self.media.formats = Some(formats);
        answer_body(
            self.media.ip,
            relay.a_port,
            formats.0,
            offer.direction.answer(),
            self.media.sdp_session,
            self.media.sdp_version,
        )
    }
}
