//! Requests inside the call's dialogs, as the dialog layer classifies them (`decide`): the
//! caller's CANCEL, a BYE from either side, a hold or resume by re-INVITE or UPDATE (answered
//! by callcore, since media is anchored), a session refresh, key presses by SIP INFO, and the
//! called side's blind transfer by REFER.

use std::net::SocketAddr;

use chrono::Utc;
use domain::call::{CallCommand, Cause, Party, Side};
use telephony::media::relay::Digit;
use telephony::sdp;
use telephony::sip::message::{cseq, Method, Request};
use telephony::sip::transaction::{response_to, TransactionKey};

use super::session::{hangup, Flow, Session};
use crate::dialog::{
    answer_body, cancels, decide, in_dialog, info_digit, refer_target, reinvite_codec, InDialog,
    LegsUp, Which,
};
use crate::plan;

impl Session {
    /// A request in one of the call's dialogs.
    pub(crate) async fn on_request(&mut self, key: TransactionKey, request: Request) -> Flow {
        if self.is_monitor(request.headers.get("Call-ID").unwrap_or_default()) {
            return self.on_monitor_request(key, request).await;
        }
        let which = match &self.b {
            Some(slot) if request.headers.get("Call-ID") == Some(slot.call.call_id()) => Which::B,
            _ => Which::A,
        };
        let tag = self
            .leg(which)
            .map(|l| l.local_tag.clone())
            .unwrap_or_default();
        let respond = |session: &Session, status: u16, reason: &str| {
            session.answer_request(&key, response_to(&request, status, reason, Some(&tag)));
        };
        let belongs = match (&request.method, which) {
            (Method::Cancel, Which::A) => self
                .a
                .arrived_invite()
                .is_some_and(|invite| cancels(invite, &request)),
            (Method::Cancel, Which::B) => false,
            _ => self.leg(which).is_some_and(|leg| in_dialog(leg, &request)),
        };
        if !belongs {
            respond(self, 481, "Call/Transaction Does Not Exist");
            return Flow::Continue;
        }
        let up = LegsUp {
            a_answered: self.a_answered(),
            bridged: self.bridged(),
        };
        match decide(&request.method, !request.body.is_empty(), which, up) {
            InDialog::CancelBeforeAnswer => {
                respond(self, 200, "OK");
                let mut commands = self.hangups(Side::Caller, Side::System, Cause::Cancelled, true);
                commands.extend(self.cancel_forks());
                self.record(commands).await;
                if let Some(slot) = self.b.as_mut() {
                    let cancel = slot.call.cancel();
                    self.send(cancel);
                }
                self.reply(487, "Request Terminated");
                Flow::Done
            }
            InDialog::CallerLeaves => {
                // The caller leaves an IVR, a queue, or a transfer that still rings.
                respond(self, 200, "OK");
                let mut commands = vec![hangup("a", Side::Caller, Cause::Normal)];
                if self.b.is_some() {
                    commands.push(hangup(&self.name(Which::B), Side::System, Cause::Cancelled));
                }
                commands.extend(self.cancel_forks());
                self.end(commands).await;
                if let Some(slot) = self.b.as_mut() {
                    let cancel = slot.call.cancel();
                    self.send(cancel);
                }
                Flow::Done
            }
            InDialog::Transfer => {
                self.on_refer(&key, &request).await;
                Flow::Continue
            }
            InDialog::RefuseTransfer => {
                respond(self, 403, "Forbidden (transfer from the called side only)");
                Flow::Continue
            }
            InDialog::HangUp => {
                respond(self, 200, "OK");
                let side = match which {
                    Which::A => Side::Caller,
                    Which::B => Side::Callee,
                };
                self.end(vec![
                    hangup(&self.name(which), side, Cause::Normal),
                    hangup(&self.name(which.other()), Side::System, Cause::Normal),
                ])
                .await;
                self.bye(which.other());
                Flow::Done
            }
            InDialog::Renegotiate => {
                self.on_reinvite(&key, &request, which).await;
                Flow::Continue
            }
            InDialog::Refresh | InDialog::Options => {
                respond(self, 200, "OK");
                Flow::Continue
            }
            InDialog::Digit => {
                respond(self, 200, "OK");
                let Some(key) = info_digit(&request) else {
                    return Flow::Continue;
                };
                self.on_info_digit(which, key, up.bridged).await
            }
            InDialog::NotImplemented => {
                respond(self, 501, "Not Implemented");
                Flow::Continue
            }
        }
    }

    /// Whether an ACK comes from the peer of one of the call's dialogs (a 2xx callcore sent
    /// waits for it); anyone else's is dropped.
    pub(crate) fn ack_belongs(&self, ack: &Request) -> bool {
        [Which::A, Which::B]
            .into_iter()
            .filter_map(|which| self.leg(which))
            .chain(self.monitor.as_ref().map(|m| m.call.leg()))
            .any(|leg| in_dialog(leg, ack))
    }

    /// A key pressed by SIP INFO on `which`: recorded like an RTP key, and carried on to the
    /// other leg as RFC 4733 when it speaks telephone-events.
    async fn on_info_digit(&mut self, which: Which, key: char, bridged: bool) -> Flow {
        let flow = self
            .on_digit(Digit {
                from_a: which == Which::A,
                key,
            })
            .await;
        if let (true, Some(relay), Some((a, b))) = (bridged, &self.media.relay, self.media.formats)
        {
            let onward = if which == Which::A { b } else { a };
            if let Some(pt) = onward.telephone_event {
                if let Some(sending) = relay.send_digit(which == Which::B, key, pt) {
                    sending.detach();
                }
            }
        }
        flow
    }

    /// A key pressed on either leg: recorded; while nobody is bridged it steps the IVR.
    pub(crate) async fn on_digit(&mut self, digit: Digit) -> Flow {
        let leg = self.name(if digit.from_a { Which::A } else { Which::B });
        self.record(vec![CallCommand::Digit {
            leg,
            key: digit.key,
            at: Utc::now(),
        }])
        .await;
        if digit.from_a && !self.bridged() {
            return self
                .ivr_input(domain::policy::ivr::IvrInput::Digit(digit.key))
                .await;
        }
        Flow::Continue
    }

    /// A blind transfer (REFER, RFC 3515) from the answered called side: leg `a` stays, the
    /// transferring leg is released, and a new leg rings the Refer-To target (an extension, or
    /// an outside number when the transferring extension may dial out). Attended transfer
    /// (Replaces) is refused with 501.
    async fn on_refer(&mut self, key: &TransactionKey, request: &Request) {
        let Some(slot) = &self.b else { return };
        let tag = slot.call.leg().local_tag.clone();
        let respond = |session: &Session, status: u16, reason: &str| {
            session.answer_request(key, response_to(request, status, reason, Some(&tag)));
        };
        let user = match refer_target(request) {
            Ok(user) => user,
            Err((status, reason)) => return respond(self, status, reason),
        };
        let target = plan::transfer_target(
            &self.node,
            self.enterprise,
            &slot.target.party,
            &user,
            &slot.target.caller_id,
        )
        .await;
        let target = match target {
            Ok(target) => target,
            Err(cause) => {
                let (status, reason) = match cause {
                    Cause::OutboundNotAllowed => (403, "Forbidden (manual outbound not allowed)"),
                    Cause::NoRoute | Cause::NoCallerId => (404, "Not Found"),
                    _ => (480, "Temporarily Unavailable"),
                };
                return respond(self, status, reason);
            }
        };
        respond(self, 202, "Accepted");
        let transferor = self.name(Which::B);
        let new_leg = self.next_leg_name();
        let at = Utc::now();
        let described = match &target.party {
            Party::Extension { number, .. } => format!("extension:{number}"),
            Party::External { number } => format!("number:{number}"),
        };
        self.record(vec![
            CallCommand::Transfer {
                by_leg: transferor.clone(),
                target: described,
                at,
            },
            hangup(&transferor, Side::Callee, Cause::Normal),
            CallCommand::AddLeg {
                leg: new_leg.clone(),
                party: target.party.clone(),
                caller_id: target.caller_id.clone(),
                forwarded: target.forwarded,
                at,
            },
        ])
        .await;
        // The BYE ends the transferor's dialog and, with it, the REFER's implicit subscription.
        self.bye(Which::B);
        self.ring(target, new_leg);
    }

    /// A re-INVITE (or an UPDATE with SDP) on an answered leg: a hold (`sendonly`/`inactive`),
    /// a resume, or a new media address. callcore answers it itself, since media is anchored
    /// the other leg needs no new offer; the leg put on hold is the other one (when there is
    /// one: a caller holding an IVR holds nobody).
    async fn on_reinvite(&mut self, key: &TransactionKey, request: &Request, which: Which) {
        let offer = sdp::parse_offer(&String::from_utf8_lossy(&request.body)).ok();
        let direction = offer
            .as_ref()
            .map_or(sdp::Direction::SendRecv, |o| o.direction);
        let signalling = self.leg(which).map(|leg| leg.peer.ip());
        if let (Some(offer), Some(relay), Some(signalling)) =
            (&offer, &self.media.relay, signalling)
        {
            if offer.port != 0 && !offer.address.is_unspecified() {
                let address = SocketAddr::new(offer.address, offer.port);
                match which {
                    Which::A => relay.set_a(address, signalling),
                    Which::B => relay.set_b(address, signalling),
                }
            }
        }
        let other_up = match which {
            Which::A => self.bridged(),
            Which::B => self.a_answered(),
        };
        if other_up {
            let held = self.name(which.other());
            let at = Utc::now();
            let command = if direction.is_hold() {
                CallCommand::Hold { leg: held, at }
            } else {
                CallCommand::Resume { leg: held, at }
            };
            self.record(vec![command]).await;
        }
        if self.media.held && !direction.is_hold() {
            // The media timeout counts again from the resume.
            if let Some(relay) = &self.media.relay {
                relay.touch();
            }
        }
        self.media.held = direction.is_hold();
        let tag = self
            .leg(which)
            .map(|l| l.local_tag.clone())
            .unwrap_or_default();
        let mut ok = response_to(request, 200, "OK", Some(&tag));
        ok.headers
            .push("Contact", format!("<sip:callcore@{}>", self.local));
        if let (Some(relay), Some((a, b))) = (&self.media.relay, self.media.formats) {
            let (port, mut formats) = match which {
                Which::A => (relay.a_port, a),
                Which::B => (relay.b_port, b),
            };
            formats.codec = reinvite_codec(offer.as_ref(), formats.codec);
            self.media.sdp_version += 1;
            ok.body = answer_body(
                self.media.ip,
                port,
                formats,
                direction.answer(),
                self.media.sdp_session,
                self.media.sdp_version,
            );
            ok.headers.push("Content-Type", "application/sdp");
        }
        self.answer_request(key, ok.clone());
        if request.method == Method::Invite {
            let number = cseq(&request.headers).map_or(1, |(n, _)| n);
            self.expect_ack(ok, which, number, false);
        }
    }
}
