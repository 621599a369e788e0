//! Which requests belong to a call (RFC 3261 §12.2.2 and §9.2): a request inside a dialog
//! carries its Call-ID, the peer's tag in From and callcore's tag in To; a CANCEL names the
//! INVITE transaction it ends by that INVITE's top Via, Call-ID, From tag and CSeq number.
//! Knowing a Call-ID alone ends or moves nothing: the rest is answered 481.

use telephony::sip::message::{cseq, param, Request};
use telephony::sip::transaction::TransactionKey;

use super::leg::Leg;

/// Whether `request` (anything but a CANCEL) comes from the peer of the dialog `leg`.
pub fn in_dialog(leg: &Leg, request: &Request) -> bool {
    let headers = &request.headers;
    let from_tag = headers.get("From").and_then(|from| param(from, "tag"));
    let to_tag = headers.get("To").and_then(|to| param(to, "tag"));
    headers.get("Call-ID") == Some(leg.call_id.as_str())
        && leg.remote_tag.is_some()
        && from_tag == leg.remote_tag
        && to_tag.as_deref() == Some(leg.local_tag.as_str())
}

/// Whether `cancel` cancels the INVITE `invite` that arrived.
pub fn cancels(invite: &Request, cancel: &Request) -> bool {
    let tag = |request: &Request| request.headers.get("From").and_then(|f| param(f, "tag"));
    let transaction = |request: &Request| {
        TransactionKey::of(&request.headers, &request.method).map(|key| (key.branch, key.sent_by))
    };
    let number = |request: &Request| cseq(&request.headers).map(|(number, _)| number);
    cancel.headers.get("Call-ID") == invite.headers.get("Call-ID")
        && tag(cancel) == tag(invite)
        && number(cancel).is_some()
        && number(cancel) == number(invite)
        && transaction(cancel).is_some()
        && transaction(cancel) == transaction(invite)
}

#[cfg(test)]
mod tests;
