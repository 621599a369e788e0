//! The INVITE that arrived (leg `a` of an inbound or phone-placed call), from callcore's side:
//! the dialog it opens, provisional and final answers on its server transaction, and the
//! status a refusal gets for each cause.

use std::net::SocketAddr;

use domain::call::Cause;
use telephony::sip::message::{cseq, param, Request, Response};
use telephony::sip::transaction::{response_to, TransactionKey, Transport};

use super::leg::{contact_uri, route_values, Leg};
use super::outbound::Outbound;

/// The SIP status answering the caller when the call ends before answer with `cause`.
pub fn refusal_status(cause: &Cause) -> (u16, &'static str) {
    match cause {
        Cause::Busy | Cause::RouteLimitReached => (486, "Busy Here"),
        Cause::OutboundNotAllowed => (403, "Forbidden (manual outbound not allowed)"),
        Cause::NoCallerId => (403, "Forbidden (no licensed caller ID)"),
        Cause::NoRoute => (503, "Service Unavailable (no trunk)"),
        Cause::Cancelled => (487, "Request Terminated"),
        Cause::Rejected(488) => (488, "Not Acceptable Here"),
        Cause::Rejected(status) if (404..=699).contains(status) && *status != 407 => {
            (*status, "Rejected")
        }
        _ => (480, "Temporarily Unavailable"),
    }
}

/// An INVITE callcore answers, and its server transaction.
#[derive(Debug, Clone)]
pub struct IncomingInvite {
    key: TransactionKey,
    invite: Request,
    leg: Leg,
}

impl IncomingInvite {
    /// The INVITE `invite` on server transaction `key`, from `from` over `transport`; callcore
    /// takes `local_tag` as its tag in the dialog.
    pub fn new(
        key: TransactionKey,
        invite: Request,
        from: SocketAddr,
        transport: Transport,
        local_tag: String,
    ) -> Self {
        let headers = &invite.headers;
        let leg = Leg {
            call_id: headers.get("Call-ID").unwrap_or_default().to_owned(),
            local_tag,
            remote_tag: headers.get("From").and_then(|f| param(f, "tag")),
            local_uri: headers.get("To").unwrap_or_default().to_owned(),
            remote_uri: headers.get("From").unwrap_or_default().to_owned(),
            remote_target: headers
                .get("Contact")
                .and_then(contact_uri)
                .unwrap_or_else(|| invite.uri.clone()),
            peer: from,
            transport,
            cseq: 0,
            // As the INVITE's Record-Route lists it (RFC 3261 §12.1.1).
            route_set: route_values(&headers.get_all("Record-Route")),
        };
        Self { key, invite, leg }
    }

    /// The dialog.
    pub fn leg(&self) -> &Leg {
        &self.leg
    }

    /// The dialog, for requests callcore sends in it.
    pub fn leg_mut(&mut self) -> &mut Leg {
        &mut self.leg
    }

    /// The INVITE.
    pub fn invite(&self) -> &Request {
        &self.invite
    }

    /// The INVITE's CSeq number.
    pub fn cseq(&self) -> u32 {
        cseq(&self.invite.headers).map_or(1, |(n, _)| n)
    }

    /// A provisional or final response without a body (a ringing, a refusal).
    pub fn reply(&self, status: u16, reason: &str) -> Outbound {
        Outbound::Respond {
            key: self.key.clone(),
            response: response_to(&self.invite, status, reason, Some(&self.leg.local_tag)),
        }
    }

    /// The 200 answering it with `body` (a session description, or nothing), callcore's
    /// Contact at `local` and the INVITE's Record-Route.
    pub fn ok(&self, local: SocketAddr, body: Vec<u8>) -> Response {
        let mut ok = response_to(&self.invite, 200, "OK", Some(&self.leg.local_tag));
        for record_route in self.invite.headers.get_all("Record-Route") {
            ok.headers.push("Record-Route", record_route);
        }
        ok.headers
            .push("Contact", format!("<sip:callcore@{local}>"));
        if !body.is_empty() {
            ok.headers.push("Content-Type", "application/sdp");
        }
        ok.body = body;
        ok
    }

    /// Sends `response` on its server transaction.
    pub fn respond(&self, response: Response) -> Outbound {
        Outbound::Respond {
            key: self.key.clone(),
            response,
        }
    }
}

#[cfg(test)]
mod tests;
