//! The INVITE that arrived: its dialog and the answers callcore gives on it.

use telephony::sip::message::Method;

use super::*;
use crate::dialog::fixtures::{key_of, local, request, CARRIER_INVITE};

fn carrier_call() -> IncomingInvite {
    let invite = request(CARRIER_INVITE);
    let key = key_of(&invite);
    IncomingInvite::new(
        key,
        invite,
        SocketAddr::from(([10, 0, 0, 9], 5060)),
        Transport::Udp,
        "cc-a".into(),
    )
}

#[test]
fn the_dialog_is_read_from_the_invite() {
    let call = carrier_call();
    let leg = call.leg();
    assert_eq!(leg.call_id, "call-1@carrier");
    assert_eq!(leg.local_tag, "cc-a");
    assert_eq!(leg.remote_tag.as_deref(), Some("c1"));
    assert_eq!(leg.local_uri, "<sip:02161234567@10.0.0.1>");
    assert_eq!(
        leg.remote_uri,
        "\"Carrier\" <sip:13800138000@10.0.0.9>;tag=c1"
    );
    assert_eq!(leg.remote_target, "sip:13800138000@10.0.0.9:5070");
    // The UAS keeps Record-Route in its order (RFC 3261 §12.1.1).
    assert_eq!(
        leg.route_set,
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(call.cseq(), 7);
}

#[test]
fn without_a_contact_the_request_uri_is_the_remote_target() {
    let invite = request(&CARRIER_INVITE.replace("Contact: <sip:13800138000@10.0.0.9:5070>\n", ""));
    let call = IncomingInvite::new(key_of(&invite), invite, local(), Transport::Tcp, "t".into());
    assert_eq!(call.leg().remote_target, "sip:02161234567@10.0.0.1:5060");
    assert_eq!(call.leg().transport, Transport::Tcp);
}

#[test]
fn a_reply_carries_callcore_s_tag_on_the_invite_s_transaction() {
    let call = carrier_call();
    let Outbound::Respond { key, response } = call.reply(486, "Busy Here") else {
        panic!("a response on the server transaction");
    };
    assert_eq!(key, key_of(call.invite()));
    assert_eq!(
        (response.status, response.reason.as_str()),
        (486, "Busy Here")
    );
    assert_eq!(
        response.headers.get("To"),
        Some("<sip:02161234567@10.0.0.1>;tag=cc-a")
    );
    assert_eq!(response.headers.get("CSeq"), Some("7 INVITE"));
    assert_eq!(
        response.headers.get("Via"),
        Some("SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-carrier-1")
    );
}

#[test]
fn the_200_carries_the_record_route_callcore_s_contact_and_the_answer() {
    let call = carrier_call();
    let ok = call.ok(local(), b"v=0\r\n".to_vec());
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.headers.get_all("Record-Route"),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(
        ok.headers.get("Contact"),
        Some("<sip:callcore@10.0.0.1:5060>")
    );
    assert_eq!(ok.headers.get("Content-Type"), Some("application/sdp"));
    assert_eq!(ok.body, b"v=0\r\n");
    let without_body = call.ok(local(), Vec::new());
    assert!(without_body.headers.get("Content-Type").is_none());
}

#[test]
fn requests_callcore_sends_in_the_dialog_go_to_the_caller_s_contact() {
    let mut call = carrier_call();
    let bye = call.leg_mut().request(Method::Bye, local(), Vec::new());
    assert_eq!(bye.uri, "sip:13800138000@10.0.0.9:5070");
    assert_eq!(
        bye.headers.get("From"),
        Some("<sip:02161234567@10.0.0.1>;tag=cc-a")
    );
    assert_eq!(
        bye.headers.get("To"),
        Some("\"Carrier\" <sip:13800138000@10.0.0.9>;tag=c1")
    );
    assert_eq!(bye.headers.get_all("Route").len(), 2);
}

#[test]
fn causes_answer_the_caller_with_matching_statuses() {
    assert_eq!(refusal_status(&Cause::Busy).0, 486);
    assert_eq!(refusal_status(&Cause::RouteLimitReached).0, 486);
    assert_eq!(refusal_status(&Cause::OutboundNotAllowed).0, 403);
    assert_eq!(refusal_status(&Cause::NoCallerId).0, 403);
    assert_eq!(refusal_status(&Cause::NoRoute).0, 503);
    assert_eq!(refusal_status(&Cause::Rejected(488)).0, 488);
    assert_eq!(refusal_status(&Cause::Rejected(603)).0, 603);
    assert_eq!(refusal_status(&Cause::Rejected(407)).0, 480);
    assert_eq!(refusal_status(&Cause::Rejected(302)).0, 480);
    assert_eq!(refusal_status(&Cause::NoAnswer).0, 480);
    assert_eq!(refusal_status(&Cause::Cancelled).0, 487);
}
