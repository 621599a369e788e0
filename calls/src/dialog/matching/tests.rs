//! Requests that belong to a call, and requests that only know its Call-ID.

use super::*;
use crate::dialog::fixtures::{peer, request, CARRIER_INVITE};
use crate::dialog::IncomingInvite;
use telephony::sip::transaction::{TransactionKey, Transport};

/// The carrier's INVITE, answered by callcore with tag `cc-a`.
fn carrier_call() -> (Request, Leg) {
    let invite = request(CARRIER_INVITE);
    let key = TransactionKey::of(&invite.headers, &invite.method)
        .unwrap_or_else(|| panic!("the fixture has a top Via with a branch"));
    let incoming = IncomingInvite::new(key, invite.clone(), peer(), Transport::Udp, "cc-a".into());
    (invite, incoming.leg().clone())
}

fn bye(call_id: &str, from_tag: &str, to_tag: &str) -> Request {
    request(&format!(
        "BYE sip:callcore@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-carrier-2
From: \"Carrier\" <sip:13800138000@10.0.0.9>;tag={from_tag}
To: <sip:02161234567@10.0.0.1>;tag={to_tag}
Call-ID: {call_id}
CSeq: 8 BYE
"
    ))
}

fn cancel(branch: &str, from_tag: &str, number: u32) -> Request {
    request(&format!(
        "CANCEL sip:02161234567@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.9:5060;branch={branch}
From: \"Carrier\" <sip:13800138000@10.0.0.9>;tag={from_tag}
To: <sip:02161234567@10.0.0.1>
Call-ID: call-1@carrier
CSeq: {number} CANCEL
"
    ))
}

#[test]
fn a_bye_with_the_call_id_and_both_tags_belongs_to_the_dialog() {
    let (_, leg) = carrier_call();
    assert!(in_dialog(&leg, &bye("call-1@carrier", "c1", "cc-a")));
}

#[test]
fn a_bye_knowing_only_the_call_id_does_not() {
    let (_, leg) = carrier_call();
    assert!(!in_dialog(&leg, &bye("call-1@carrier", "guess", "cc-a")));
    assert!(!in_dialog(&leg, &bye("call-1@carrier", "c1", "guess")));
    assert!(!in_dialog(&leg, &bye("call-2@carrier", "c1", "cc-a")));
    let untagged = request(
        "BYE sip:callcore@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.66:5060;branch=z9hG4bK-x
From: <sip:13800138000@10.0.0.9>
To: <sip:02161234567@10.0.0.1>
Call-ID: call-1@carrier
CSeq: 8 BYE
",
    );
    assert!(!in_dialog(&leg, &untagged));
}

#[test]
fn a_cancel_names_the_invite_transaction() {
    let (invite, _) = carrier_call();
    assert!(cancels(&invite, &cancel("z9hG4bK-carrier-1", "c1", 7)));
    assert!(!cancels(&invite, &cancel("z9hG4bK-other", "c1", 7)));
    assert!(!cancels(&invite, &cancel("z9hG4bK-carrier-1", "guess", 7)));
    assert!(!cancels(&invite, &cancel("z9hG4bK-carrier-1", "c1", 8)));
}
