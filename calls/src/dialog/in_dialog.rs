//! Requests that arrive inside a call's dialogs: what each one means given which leg sent it
//! and how far the call got (a CANCEL before the answer, a BYE, a re-INVITE for a hold, an
//! UPDATE refreshing the session, an INFO key press, a REFER transferring the caller), and
//! the two requests whose content matters (REFER's target, INFO's key).

use telephony::sip::message::{Method, Request, SipUri};

use super::leg::contact_uri;

/// Which leg of the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Leg `a`: the INVITE that started the call (or, for click-to-dial, the agent's phone).
    A,
    /// The leg in the b slot (the one callcore rang and bridges to `a`).
    B,
}

impl Which {
    /// The other leg.
    pub fn other(self) -> Which {
        match self {
            Which::A => Which::B,
            Which::B => Which::A,
        }
    }
}

/// How far the call's legs got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegsUp {
    /// Leg `a` got its 2xx.
    pub a_answered: bool,
    /// The leg in the b slot answered and is bridged to `a`.
    pub bridged: bool,
}

/// What an in-dialog request asks of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InDialog {
    /// The caller gives up before the answer: 200 to the CANCEL, 487 to its INVITE, every
    /// ringing leg cancelled.
    CancelBeforeAnswer,
    /// The caller leaves a call it is in alone (an IVR, a transfer still ringing).
    CallerLeaves,
    /// The answered called side transfers the caller (blind).
    Transfer,
    /// A transfer from anywhere else: refused.
    RefuseTransfer,
    /// One side of the bridge hangs up: the other gets a BYE.
    HangUp,
    /// A new offer on an answered leg (re-INVITE, or UPDATE with SDP): a hold, a resume or a
    /// new media address, answered by callcore.
    Renegotiate,
    /// An UPDATE without SDP on an answered leg: a session refresh, answered 200.
    Refresh,
    /// An INFO on an answered leg: a key press, answered 200.
    Digit,
    /// OPTIONS: answered 200.
    Options,
    /// Anything else: 501.
    NotImplemented,
}

/// What `method` (with or without a body) from leg `which` means when the call's legs are
/// `up` as they are.
pub fn decide(method: &Method, has_body: bool, which: Which, up: LegsUp) -> InDialog {
    let answered = match which {
        Which::A => up.a_answered,
        Which::B => up.bridged,
    };
    match (method, which) {
        (Method::Cancel, Which::A) if !up.a_answered => InDialog::CancelBeforeAnswer,
        (Method::Bye, Which::A) if up.a_answered && !up.bridged => InDialog::CallerLeaves,
        (Method::Refer, Which::B) if up.bridged => InDialog::Transfer,
        (Method::Refer, _) => InDialog::RefuseTransfer,
        (Method::Bye, _) if up.bridged => InDialog::HangUp,
        (Method::Invite, _) if answered => InDialog::Renegotiate,
        (Method::Update, _) if answered && !has_body => InDialog::Refresh,
        (Method::Update, _) if answered => InDialog::Renegotiate,
        (Method::Info, _) if answered => InDialog::Digit,
        (Method::Options, _) => InDialog::Options,
        _ => InDialog::NotImplemented,
    }
}

/// The user part of a REFER's `Refer-To` (the number or extension to transfer to), or the
/// status and reason refusing it: 400 without a usable Refer-To, 501 for an attended transfer
/// (`Replaces`).
pub fn refer_target(refer: &Request) -> Result<String, (u16, &'static str)> {
    let bad = (400, "Bad Request (Refer-To)");
    let refer_to = refer.headers.get("Refer-To").ok_or(bad)?;
    if refer_to.to_ascii_lowercase().contains("replaces=") {
        return Err((501, "Not Implemented (attended transfer)"));
    }
    contact_uri(refer_to)
        .and_then(|uri| SipUri::parse(&uri))
        .and_then(|uri| uri.user)
        .ok_or(bad)
}

/// The key in a SIP INFO (`application/dtmf-relay` `Signal=5`, or `application/dtmf` `5`).
pub fn info_digit(request: &Request) -> Option<char> {
    let body = String::from_utf8_lossy(&request.body);
    let value = body
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| body.trim().to_owned());
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(key), None) if telephony::media::dtmf::event_of(key).is_some() => {
            Some(key.to_ascii_uppercase())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
