//! A leg callcore rings: its INVITE and the dialog the INVITE makes. It rings until the ring
//! deadline, answers a trunk's digest challenge once, confirms the dialog from the 2xx and
//! acknowledges it (again whenever the 2xx comes again), and ends with a CANCEL while it
//! rings or a BYE once answered.

use std::net::SocketAddr;
use std::time::Duration;

use telephony::sip::digest::answer_challenge;
use telephony::sip::message::{cseq, Method, Request, Response, SipMessage};
use tokio::time::Instant;

use super::leg::{ack_of, cancel_of, random_hex, Leg};
use super::outbound::Outbound;

/// What a response meant for the leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Nothing new: a retransmission absorbed, an answer to callcore's CANCEL or BYE, or to
    /// an INVITE sent again with credentials.
    Nothing,
    /// It rings (180 or 183 before the answer).
    Ringing,
    /// A digest challenge was answered: the INVITE went again with credentials.
    Challenged,
    /// It answered; the dialog is confirmed and acknowledged. The body is its session
    /// description.
    Answered {
        /// The 2xx's body.
        body: Vec<u8>,
    },
    /// It refused before answering, with this status (a challenge that could not be answered
    /// included).
    Refused {
        /// The final status.
        status: u16,
    },
}

/// Where the INVITE stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Sent; no final response yet.
    Ringing,
    /// A 2xx confirmed the dialog.
    Answered,
    /// Refused, cancelled or hung up.
    Ended,
}

/// An INVITE callcore sent and the dialog it makes.
#[derive(Debug, Clone)]
pub struct OutgoingInvite {
    leg: Leg,
    invite: Request,
    ack: Option<Request>,
    state: State,
    credentials: Option<(String, String)>,
    auth_tried: bool,
    ring_deadline: Instant,
}

impl OutgoingInvite {
    /// Sends an INVITE with `body` on the new dialog `leg` from `local`; it rings until
    /// `now + ring_for`. `call_info` adds a `Call-Info` header (auto-answer); `credentials`
    /// answer a digest challenge once.
    pub fn start(
        mut leg: Leg,
        local: SocketAddr,
        body: Vec<u8>,
        call_info: Option<String>,
        credentials: Option<(String, String)>,
        now: Instant,
        ring_for: Duration,
    ) -> (Self, Outbound) {
        let mut invite = leg.request(Method::Invite, local, body);
        if let Some(value) = call_info {
            invite.headers.push("Call-Info", value);
        }
        let send = Outbound::Request {
            request: invite.clone(),
            peer: leg.peer,
            transport: leg.transport,
        };
        let call = Self {
            leg,
            invite,
            ack: None,
            state: State::Ringing,
            credentials,
            auth_tried: false,
            ring_deadline: now + ring_for,
        };
        (call, send)
    }

    /// The dialog.
    pub fn leg(&self) -> &Leg {
        &self.leg
    }

    /// The Call-ID of its dialog.
    pub fn call_id(&self) -> &str {
        &self.leg.call_id
    }

    /// The INVITE in its latest form (with credentials after a challenge).
    #[cfg(test)]
    pub fn invite(&self) -> &Request {
        &self.invite
    }

    /// The ACK sent for its 2xx, once answered.
    #[cfg(test)]
    pub fn ack(&self) -> Option<&Request> {
        self.ack.as_ref()
    }

    /// Whether it answered and has not ended.
    pub fn is_answered(&self) -> bool {
        self.state == State::Answered
    }

    /// Whether it still rings.
    pub fn is_ringing(&self) -> bool {
        self.state == State::Ringing
    }

    /// When it stops ringing.
    pub fn ring_deadline(&self) -> Instant {
        self.ring_deadline
    }

    /// Whether it rang past its deadline at `now` without an answer.
    pub fn ring_timed_out(&self, now: Instant) -> bool {
        self.is_ringing() && now >= self.ring_deadline
    }

    /// What `response` (to a request of this dialog) means, and what to send for it.
    pub fn on_response(
        &mut self,
        response: &Response,
        local: SocketAddr,
    ) -> (Progress, Vec<Outbound>) {
        let nothing = (Progress::Nothing, Vec::new());
        if response.headers.get("Call-ID") != Some(self.leg.call_id.as_str()) {
            return nothing;
        }
        let current = cseq(&self.invite.headers).map(|(n, _)| n);
        match cseq(&response.headers) {
            Some((number, Method::Invite)) if Some(number) == current => {}
            // Answers to callcore's BYE or CANCEL, or to the INVITE a challenge replaced.
            _ => return nothing,
        }
        match (response.status, self.state) {
            (180 | 183, State::Ringing) => (Progress::Ringing, Vec::new()),
            (200..=299, State::Answered) => {
                // callcore's ACK was lost: the 2xx comes again.
                (
                    Progress::Nothing,
                    self.ack.iter().map(|ack| self.raw(ack)).collect(),
                )
            }
            (200..=299, State::Ringing) => {
                self.leg.confirm(response);
                let ack = ack_of(&self.leg, &self.invite, local);
                let send = self.raw(&ack);
                self.ack = Some(ack);
                self.state = State::Answered;
                (
                    Progress::Answered {
                        body: response.body.clone(),
                    },
                    vec![send],
                )
            }
            (401 | 407, State::Ringing) if !self.auth_tried => {
                self.auth_tried = true;
                match self.invite_with_credentials(response, local) {
                    Some(send) => (Progress::Challenged, vec![send]),
                    None => self.refused(response.status),
                }
            }
            (300.., State::Ringing) => self.refused(response.status),
            _ => nothing,
        }
    }

    fn refused(&mut self, status: u16) -> (Progress, Vec<Outbound>) {
        self.state = State::Ended;
        (Progress::Refused { status }, Vec::new())
    }

    /// The INVITE again, answering the challenge of `response` with the leg's credentials.
    fn invite_with_credentials(
        &mut self,
        response: &Response,
        local: SocketAddr,
    ) -> Option<Outbound> {
        let (header_in, header_out) = if response.status == 401 {
            ("WWW-Authenticate", "Authorization")
        } else {
            ("Proxy-Authenticate", "Proxy-Authorization")
        };
        let (user, password) = self.credentials.as_ref()?;
        let challenge = response.headers.get(header_in)?;
        let answer = answer_challenge(
            challenge,
            "INVITE",
            &self.invite.uri,
            user,
            password,
            &random_hex(8),
        )
        .ok()?;
        let body = self.invite.body.clone();
        let mut invite = self.leg.request(Method::Invite, local, body);
        for call_info in self.invite.headers.get_all("Call-Info") {
            invite.headers.push("Call-Info", call_info);
        }
        invite.headers.push(header_out, answer);
        self.invite = invite.clone();
        Some(Outbound::Request {
            request: invite,
            peer: self.leg.peer,
            transport: self.leg.transport,
        })
    }

    /// Stops it ringing: the CANCEL of its INVITE.
    pub fn cancel(&mut self) -> Outbound {
        self.state = State::Ended;
        Outbound::Request {
            request: cancel_of(&self.invite),
            peer: self.leg.peer,
            transport: self.leg.transport,
        }
    }

    /// A BYE in its dialog (the leg is over for callcore).
    pub fn bye(&mut self, local: SocketAddr) -> Outbound {
        self.state = State::Ended;
        let bye = self.leg.request(Method::Bye, local, Vec::new());
        Outbound::Request {
            request: bye,
            peer: self.leg.peer,
            transport: self.leg.transport,
        }
    }

    /// Ends it whatever its state: a BYE once answered, else a CANCEL.
    pub fn hang_up(&mut self, local: SocketAddr) -> Outbound {
        if self.is_answered() {
            self.bye(local)
        } else {
            self.cancel()
        }
    }

    /// The peer ended the dialog (its BYE was answered): nothing more is sent on it.
    pub fn ended_by_peer(&mut self) {
        self.state = State::Ended;
    }

    fn raw(&self, request: &Request) -> Outbound {
        Outbound::Raw {
            message: SipMessage::Request(request.clone()),
            peer: self.leg.peer,
            transport: self.leg.transport,
        }
    }
}

#[cfg(test)]
mod tests;
