//! The 2xx responses callcore sent to INVITEs (initial or re-INVITEs) and waits to see
//! acknowledged: over UDP each is sent again at T1, doubling up to T2, until its ACK arrives,
//! for at most 64·T1 (RFC 3261 §13.3.1.4). A reliable transport delivers it once.

use std::time::Duration;

use telephony::sip::message::{cseq, Request, Response, SipMessage};
use telephony::sip::transaction::Transport;
use tokio::time::Instant;

use super::leg::Leg;
use super::outbound::Outbound;

/// RFC 3261 T1: the first retransmission interval.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2: the longest retransmission interval.
pub const T2: Duration = Duration::from_secs(4);

/// A 2xx waiting for its ACK.
#[derive(Debug, Clone)]
struct PendingOk {
    response: Response,
    call_id: String,
    cseq: u32,
    peer: std::net::SocketAddr,
    transport: Transport,
    next: Instant,
    interval: Duration,
    give_up: Instant,
    /// The initial INVITE's 2xx: without its ACK the call is torn down.
    initial: bool,
}

/// What came of the retransmission timer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Retransmitted {
    /// The 2xx responses sent again.
    pub send: Vec<Outbound>,
    /// Whether an initial INVITE's 2xx went unacknowledged for 64·T1: the call must end.
    pub initial_lost: bool,
}

/// The 2xx responses of a call waiting for their ACKs.
#[derive(Debug, Clone, Default)]
pub struct AckWait {
    pending: Vec<PendingOk>,
}

impl AckWait {
    /// Waits for the ACK of `ok`, sent at `now` in `leg` for the INVITE numbered `number`
    /// (`initial`: the dialog's first INVITE). Nothing to wait for over TCP.
    pub fn expect(&mut self, ok: Response, leg: &Leg, number: u32, now: Instant, initial: bool) {
        if leg.transport == Transport::Tcp {
            return;
        }
        self.pending.push(PendingOk {
            response: ok,
            call_id: leg.call_id.clone(),
            cseq: number,
            peer: leg.peer,
            transport: leg.transport,
            next: now + T1,
            interval: T1,
            give_up: now + T1 * 64,
            initial,
        });
    }

    /// An ACK arrived: its 2xx is no longer sent.
    pub fn acked(&mut self, ack: &Request) {
        let call_id = ack.headers.get("Call-ID").unwrap_or_default();
        let number = cseq(&ack.headers).map(|(n, _)| n);
        self.pending
            .retain(|p| p.call_id != call_id || Some(p.cseq) != number);
    }

    /// Sends again what is due at `now` and gives up on what waited too long.
    pub fn on_timer(&mut self, now: Instant) -> Retransmitted {
        let mut out = Retransmitted::default();
        self.pending.retain_mut(|p| {
            if now >= p.give_up {
                out.initial_lost |= p.initial;
                return false;
            }
            if now >= p.next {
                out.send.push(Outbound::Raw {
                    message: SipMessage::Response(p.response.clone()),
                    peer: p.peer,
                    transport: p.transport,
                });
                p.interval = (p.interval * 2).min(T2);
                p.next = now + p.interval;
            }
            true
        });
        out
    }

    /// When [`AckWait::on_timer`] has something to do next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.next.min(p.give_up)).min()
    }
}

#[cfg(test)]
mod tests;
