//! The INVITE callcore sends, driven with literal responses on a virtual clock.

use std::time::Duration;

use telephony::sip::message::{Method, SipMessage};
use telephony::sip::transaction::Transport;

use super::*;
use crate::dialog::fixtures::{answer, local, new_leg, peer, t0, to_with_tag, OFFER};

const RING: Duration = Duration::from_secs(20);

fn ring(credentials: Option<(&str, &str)>) -> (OutgoingInvite, Outbound) {
    OutgoingInvite::start(
        new_leg(),
        local(),
        OFFER.as_bytes().to_vec(),
        None,
        credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
        t0(),
        RING,
    )
}

fn sent_request(out: &Outbound) -> &Request {
    out.request()
        .unwrap_or_else(|| panic!("not a request: {out:?}"))
}

#[test]
fn the_invite_carries_the_offer_a_contact_and_the_first_cseq() {
    let (call, out) = ring(None);
    let Outbound::Request {
        request,
        peer: to,
        transport,
    } = &out
    else {
        panic!("the INVITE is a client transaction: {out:?}");
    };
    assert_eq!((*to, *transport), (peer(), Transport::Udp));
    assert_eq!(request.method, Method::Invite);
    assert_eq!(request.uri, "sip:1001@10.0.0.2:5062");
    assert_eq!(request.headers.get("CSeq"), Some("1 INVITE"));
    assert_eq!(
        request.headers.get("Contact"),
        Some("<sip:callcore@10.0.0.1:5060>")
    );
    assert_eq!(request.headers.get("Content-Type"), Some("application/sdp"));
    assert_eq!(request.headers.get("To"), Some("<sip:1001@10.0.0.1:5060>"));
    assert_eq!(request.body, OFFER.as_bytes());
    assert!(call.is_ringing() && !call.is_answered());
    assert_eq!(call.invite(), request);
}

#[test]
fn an_auto_answer_invite_asks_for_it_in_call_info() {
    let (_, out) = OutgoingInvite::start(
        new_leg(),
        local(),
        Vec::new(),
        Some("<sip:10.0.0.1:5060>;answer-after=0".into()),
        None,
        t0(),
        RING,
    );
    assert_eq!(
        sent_request(&out).headers.get("Call-Info"),
        Some("<sip:10.0.0.1:5060>;answer-after=0")
    );
}

#[test]
fn ringing_is_reported_for_180_and_183_before_the_answer_only() {
    let (mut call, out) = ring(None);
    let invite = sent_request(&out).clone();
    let trying = answer(&invite, "SIP/2.0 100 Trying\n");
    assert_eq!(call.on_response(&trying, local()).0, Progress::Nothing);
    let ringing = answer(
        &invite,
        &format!("SIP/2.0 180 Ringing\n{}\n", to_with_tag(&invite, "ph1")),
    );
    assert_eq!(
        call.on_response(&ringing, local()),
        (Progress::Ringing, vec![])
    );
    let progress = answer(&invite, "SIP/2.0 183 Session Progress\n");
    assert_eq!(call.on_response(&progress, local()).0, Progress::Ringing);
    let ok = answer(
        &invite,
        &format!(
            "SIP/2.0 200 OK\n{}\nContact: <sip:1001@10.0.0.2:5062>\n",
            to_with_tag(&invite, "ph1")
        ),
    );
    assert!(matches!(
        call.on_response(&ok, local()).0,
        Progress::Answered { .. }
    ));
    assert_eq!(call.on_response(&ringing, local()).0, Progress::Nothing);
}

#[test]
fn the_answer_confirms_the_dialog_and_is_acknowledged_outside_a_transaction() {
    let (mut call, out) = ring(None);
    let invite = sent_request(&out).clone();
    let ok = answer(
        &invite,
        &format!(
            "SIP/2.0 200 OK\n{}\nContact: <sip:1001@10.0.0.7:5080;transport=udp>\nRecord-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\nContent-Type: application/sdp\n\nv=0\n",
            to_with_tag(&invite, "ph1")
        ),
    );
    let (progress, sends) = call.on_response(&ok, local());
    assert_eq!(
        progress,
        Progress::Answered {
            body: b"v=0\r\n".to_vec()
        }
    );
    let [Outbound::Raw {
        message: SipMessage::Request(ack),
        peer: to,
        ..
    }] = sends.as_slice()
    else {
        panic!("one ACK, sent raw: {sends:?}");
    };
    assert_eq!(*to, peer());
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.headers.get("CSeq"), Some("1 ACK"));
    // The remote target is the 2xx's Contact; the route set its Record-Route, reversed.
    assert_eq!(ack.uri, "sip:1001@10.0.0.7:5080;transport=udp");
    assert_eq!(
        ack.headers.get_all("Route"),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(
        ack.headers.get("To"),
        Some("<sip:1001@10.0.0.1:5060>;tag=ph1")
    );
    // A new transaction: not the INVITE's branch.
    assert_ne!(ack.headers.get("Via"), invite.headers.get("Via"));
    assert!(call.is_answered());
    assert_eq!(call.leg().remote_tag.as_deref(), Some("ph1"));
    assert_eq!(call.ack(), Some(ack));
}

#[test]
fn the_2xx_sent_again_gets_the_same_ack_again() {
    let (mut call, out) = ring(None);
    let invite = sent_request(&out).clone();
    let ok = answer(
        &invite,
        &format!("SIP/2.0 200 OK\n{}\n", to_with_tag(&invite, "ph1")),
    );
    let (_, first) = call.on_response(&ok, local());
    let (progress, again) = call.on_response(&ok, local());
    assert_eq!(progress, Progress::Nothing);
    assert_eq!(first, again);
}

#[test]
fn a_refusal_ends_the_leg_with_its_status() {
    let (mut call, out) = ring(None);
    let invite = sent_request(&out).clone();
    let busy = answer(
        &invite,
        &format!("SIP/2.0 486 Busy Here\n{}\n", to_with_tag(&invite, "ph1")),
    );
    assert_eq!(
        call.on_response(&busy, local()),
        (Progress::Refused { status: 486 }, vec![])
    );
    assert!(!call.is_ringing() && !call.is_answered());
    // A 2xx crossing the refusal changes nothing.
    let ok = answer(&invite, "SIP/2.0 200 OK\n");
    assert_eq!(call.on_response(&ok, local()).0, Progress::Nothing);
}

#[test]
fn a_trunk_challenge_is_answered_once_with_its_credentials() {
    let (mut call, out) = ring(Some(("acme", "trunk-secret")));
    let invite = sent_request(&out).clone();
    let challenge = answer(
        &invite,
        "SIP/2.0 407 Proxy Authentication Required\nProxy-Authenticate: Digest realm=\"carrier\", nonce=\"n0nce\", algorithm=MD5, qop=\"auth\"\n",
    );
    let (progress, sends) = call.on_response(&challenge, local());
    assert_eq!(progress, Progress::Challenged);
    let [Outbound::Request { request: again, .. }] = sends.as_slice() else {
        panic!("the INVITE again: {sends:?}");
    };
    assert_eq!(again.headers.get("CSeq"), Some("2 INVITE"));
    assert_eq!(again.body, invite.body);
    let credentials = again.headers.get("Proxy-Authorization").unwrap_or_default();
    assert!(credentials.starts_with("Digest username=\"acme\", realm=\"carrier\", nonce=\"n0nce\""));
    assert!(credentials.contains("uri=\"sip:1001@10.0.0.2:5062\""));
    assert_eq!(call.invite(), again);
    // The first INVITE's late answers are ignored; a second challenge is a refusal.
    assert_eq!(call.on_response(&challenge, local()).0, Progress::Nothing);
    let second = answer(again, "SIP/2.0 407 Proxy Authentication Required\nProxy-Authenticate: Digest realm=\"carrier\", nonce=\"other\"\n");
    assert_eq!(
        call.on_response(&second, local()).0,
        Progress::Refused { status: 407 }
    );
}

#[test]
fn a_401_is_answered_in_authorization() {
    let (mut call, out) = ring(Some(("acme", "trunk-secret")));
    let invite = sent_request(&out).clone();
    let challenge = answer(
        &invite,
        "SIP/2.0 401 Unauthorized\nWWW-Authenticate: Digest realm=\"carrier\", nonce=\"abc\"\n",
    );
    let (_, sends) = call.on_response(&challenge, local());
    let again = sent_request(&sends[0]);
    assert!(again.headers.get("Authorization").is_some());
    assert!(again.headers.get("Proxy-Authorization").is_none());
}

#[test]
fn a_challenge_without_credentials_is_a_refusal() {
    let (mut call, out) = ring(None);
    let invite = sent_request(&out).clone();
    let challenge = answer(
        &invite,
        "SIP/2.0 407 Proxy Authentication Required\nProxy-Authenticate: Digest realm=\"x\", nonce=\"y\"\n",
    );
    assert_eq!(
        call.on_response(&challenge, local()),
        (Progress::Refused { status: 407 }, vec![])
    );
}

#[test]
fn answers_to_other_requests_and_other_dialogs_are_ignored() {
    let (mut call, out) = ring(None);
    let invite = sent_request(&out).clone();
    let cancel_ok = answer(&invite, "SIP/2.0 200 OK\nCSeq: 1 CANCEL\n");
    assert_eq!(call.on_response(&cancel_ok, local()).0, Progress::Nothing);
    let elsewhere = answer(&invite, "SIP/2.0 486 Busy Here\nCall-ID: another@phone\n");
    assert_eq!(call.on_response(&elsewhere, local()).0, Progress::Nothing);
    assert!(call.is_ringing());
}

#[test]
fn it_rings_until_its_deadline_on_the_virtual_clock() {
    let (mut call, out) = ring(None);
    assert_eq!(call.ring_deadline(), t0() + RING);
    assert!(!call.ring_timed_out(t0() + RING - Duration::from_millis(1)));
    assert!(call.ring_timed_out(t0() + RING));
    let invite = sent_request(&out).clone();
    let ok = answer(
        &invite,
        &format!("SIP/2.0 200 OK\n{}\n", to_with_tag(&invite, "ph1")),
    );
    call.on_response(&ok, local());
    assert!(
        !call.ring_timed_out(t0() + RING * 2),
        "an answered leg rings no more"
    );
}

#[test]
fn the_cancel_repeats_the_invite_s_identity() {
    let (mut call, out) = ring(None);
    let invite = sent_request(&out).clone();
    let cancel = call.cancel();
    let cancel = sent_request(&cancel);
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(cancel.uri, invite.uri);
    assert_eq!(cancel.headers.get("CSeq"), Some("1 CANCEL"));
    for name in ["Via", "From", "To", "Call-ID"] {
        assert_eq!(cancel.headers.get(name), invite.headers.get(name), "{name}");
    }
    assert!(!call.is_ringing());
}

#[test]
fn hanging_up_cancels_a_ringing_leg_and_byes_an_answered_one() {
    let (mut ringing, _) = ring(None);
    assert_eq!(
        sent_request(&ringing.hang_up(local())).method,
        Method::Cancel
    );
    let (mut call, out) = ring(None);
    let invite = sent_request(&out).clone();
    let ok = answer(
        &invite,
        &format!(
            "SIP/2.0 200 OK\n{}\nContact: <sip:1001@10.0.0.2:5062>\n",
            to_with_tag(&invite, "ph1")
        ),
    );
    call.on_response(&ok, local());
    let bye = call.hang_up(local());
    let bye = sent_request(&bye);
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.headers.get("CSeq"), Some("2 BYE"));
    assert_eq!(
        bye.headers.get("To"),
        Some("<sip:1001@10.0.0.1:5060>;tag=ph1")
    );
    assert_eq!(
        bye.headers.get("From"),
        Some("<sip:13800138000@10.0.0.1:5060>;tag=cc-b")
    );
    assert!(!call.is_answered());
}
