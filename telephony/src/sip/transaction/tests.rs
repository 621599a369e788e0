//! The transaction layer on a virtual clock: literal messages in, what it sends and hands up out.

use super::*;
use crate::sip::message::parse;

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5070))
}

fn request(text: &str) -> Request {
    match parse(text.as_bytes()) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

fn response(text: &str) -> Response {
    match parse(text.as_bytes()) {
        Ok(SipMessage::Response(r)) => r,
        other => panic!("not a response: {other:?}"),
    }
}

const INVITE: &str = "INVITE sip:1001@callcore.test SIP/2.0\r\n\
    Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKinv1\r\n\
    Max-Forwards: 70\r\n\
    From: <sip:alice@127.0.0.1>;tag=a1\r\n\
    To: <sip:1001@callcore.test>\r\n\
    Call-ID: call-1\r\n\
    CSeq: 1 INVITE\r\n\
    Content-Length: 0\r\n\r\n";

const REGISTER: &str = "REGISTER sip:callcore.test SIP/2.0\r\n\
    Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKreg1\r\n\
    From: <sip:1001@callcore.test>;tag=r1\r\n\
    To: <sip:1001@callcore.test>\r\n\
    Call-ID: reg-1\r\n\
    CSeq: 1 REGISTER\r\n\
    Content-Length: 0\r\n\r\n";

fn sent(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { bytes, .. } => String::from_utf8(bytes.clone()).ok(),
            _ => None,
        })
        .map(|s| s.lines().next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_retransmitted_invite_is_absorbed_and_answered_from_the_transaction() {
    let mut layer = TransactionLayer::new();
    let out = layer.on_request(request(INVITE), peer(), Transport::Udp, 0);
    assert_eq!(sent(&out), ["SIP/2.0 100 Trying"]);
    let Some(Output::Request { key, .. }) = out.last().cloned() else {
        panic!("the TU gets the INVITE")
    };
    let retransmitted = layer.on_request(request(INVITE), peer(), Transport::Udp, 500);
    assert_eq!(
        sent(&retransmitted),
        ["SIP/2.0 100 Trying"],
        "only the last response, no new request"
    );
    assert!(!retransmitted
        .iter()
        .any(|o| matches!(o, Output::Request { .. })));
    let ringing = response_to(&request(INVITE), 180, "Ringing", Some("b1"));
    layer.respond(&key, ringing, 600).expect("live transaction");
    let again = layer.on_request(request(INVITE), peer(), Transport::Udp, 1_000);
    assert_eq!(sent(&again), ["SIP/2.0 180 Ringing"]);
}

#[test]
fn a_non_2xx_final_response_is_retransmitted_until_acked() {
    let mut layer = TransactionLayer::new();
    let out = layer.on_request(request(INVITE), peer(), Transport::Udp, 0);
    let Some(Output::Request { key, .. }) = out.last().cloned() else {
        panic!("the TU gets the INVITE")
    };
    layer
        .respond(
            &key,
            response_to(&request(INVITE), 486, "Busy Here", Some("b1")),
            0,
        )
        .expect("live");
    // Timer G: 500, then 1000, 2000, 4000, 4000… ms.
    assert_eq!(layer.next_deadline(), Some(500));
    assert_eq!(sent(&layer.on_timer(500)), ["SIP/2.0 486 Busy Here"]);
    assert_eq!(layer.next_deadline(), Some(1_500));
    assert!(layer.on_timer(1_499).is_empty());
    assert_eq!(sent(&layer.on_timer(1_500)), ["SIP/2.0 486 Busy Here"]);
    let ack = INVITE
        .replace("INVITE sip", "ACK sip")
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
        .replace(
            "To: <sip:1001@callcore.test>",
            "To: <sip:1001@callcore.test>;tag=b1",
        );
    assert!(layer
        .on_request(request(&ack), peer(), Transport::Udp, 2_000)
        .is_empty());
    // Confirmed: no more retransmissions; timer I (T4) forgets the transaction.
    assert!(sent(&layer.on_timer(6_999)).is_empty());
    layer.on_timer(7_000);
    assert_eq!(layer.len(), (0, 0));
}

#[test]
fn no_ack_times_out_with_timer_h() {
    let mut layer = TransactionLayer::new();
    let out = layer.on_request(request(INVITE), peer(), Transport::Udp, 0);
    let Some(Output::Request { key, .. }) = out.last().cloned() else {
        panic!("the TU gets the INVITE")
    };
    layer
        .respond(
            &key,
            response_to(&request(INVITE), 404, "Not Found", Some("b1")),
            0,
        )
        .expect("live");
    let mut timeouts = Vec::new();
    let mut now = 0;
    while let Some(at) = layer.next_deadline() {
        now = at;
        timeouts.extend(
            layer
                .on_timer(at)
                .into_iter()
                .filter(|o| matches!(o, Output::Timeout { .. })),
        );
    }
    assert_eq!(now, 64 * T1);
    assert_eq!(timeouts, vec![Output::Timeout { key }]);
    assert_eq!(layer.len(), (0, 0));
}

#[test]
fn an_unmatched_ack_goes_to_the_dialog_layer() {
    let mut layer = TransactionLayer::new();
    let ack = INVITE
        .replace("INVITE sip", "ACK sip")
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
        .replace("z9hG4bKinv1", "z9hG4bKack2");
    let out = layer.on_request(request(&ack), peer(), Transport::Udp, 0);
    assert!(matches!(out.as_slice(), [Output::AckFor2xx { .. }]));
}

#[test]
fn a_non_invite_server_transaction_answers_retransmissions_then_lingers() {
    let mut layer = TransactionLayer::new();
    let out = layer.on_request(request(REGISTER), peer(), Transport::Udp, 0);
    assert!(sent(&out).is_empty(), "no automatic 100 for non-INVITE");
    let Some(Output::Request { key, .. }) = out.last().cloned() else {
        panic!("the TU gets the REGISTER")
    };
    layer
        .respond(
            &key,
            response_to(&request(REGISTER), 200, "OK", Some("x")),
            10,
        )
        .expect("live");
    assert_eq!(
        sent(&layer.on_request(request(REGISTER), peer(), Transport::Udp, 900)),
        ["SIP/2.0 200 OK"]
    );
    layer.on_timer(10 + 64 * T1);
    assert_eq!(layer.len(), (0, 0), "timer J ended it");
    // Over TCP it ends at once.
    let out = layer.on_request(request(REGISTER), peer(), Transport::Tcp, 0);
    let Some(Output::Request { key, .. }) = out.last().cloned() else {
        panic!("the TU gets the REGISTER")
    };
    layer
        .respond(
            &key,
            response_to(&request(REGISTER), 200, "OK", Some("x")),
            0,
        )
        .expect("live");
    layer.on_timer(0);
    assert_eq!(layer.len(), (0, 0));
}

#[test]
fn a_client_invite_retransmits_with_timer_a_and_acks_a_failure() {
    let mut layer = TransactionLayer::new();
    let (key, out) = layer
        .send_request(request(INVITE), peer(), Transport::Udp, 0)
        .expect("has a branch");
    assert_eq!(sent(&out), ["INVITE sip:1001@callcore.test SIP/2.0"]);
    assert_eq!(
        sent(&layer.on_timer(500)),
        ["INVITE sip:1001@callcore.test SIP/2.0"]
    );
    assert_eq!(layer.next_deadline(), Some(1_500), "timer A doubles");
    let busy = "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKinv1\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:1001@callcore.test>;tag=b9\r\nCall-ID: call-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let out = layer.on_response(response(busy), 700);
    let ack = out
        .iter()
        .find_map(|o| match o {
            Output::Send { bytes, .. } => String::from_utf8(bytes.clone()).ok(),
            _ => None,
        })
        .expect("an ACK is sent");
    assert_eq!(
        ack,
        "ACK sip:1001@callcore.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKinv1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:1001@callcore.test>;tag=b9\r\nCall-ID: call-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(out.contains(&Output::Response {
        key: key.clone(),
        response: response(busy)
    }));
    // A retransmitted 486 is answered with the same ACK, not delivered again.
    let again = layer.on_response(response(busy), 1_200);
    assert_eq!(sent(&again), ["ACK sip:1001@callcore.test SIP/2.0"]);
    assert!(
        layer.on_timer(10_000).is_empty(),
        "no more INVITE retransmissions"
    );
}

#[test]
fn a_client_non_invite_times_out_with_timer_f() {
    let mut layer = TransactionLayer::new();
    let (key, _) = layer
        .send_request(request(REGISTER), peer(), Transport::Udp, 0)
        .expect("has a branch");
    let mut retransmissions = Vec::new();
    let mut timeout = None;
    while let Some(at) = layer.next_deadline() {
        for o in layer.on_timer(at) {
            match o {
                Output::Send { .. } => retransmissions.push(at),
                Output::Timeout { key } => timeout = Some((at, key)),
                _ => {}
            }
        }
    }
    // Timer E: 0.5, 1.5, 3.5, 7.5, 11.5 … s (capped at T2), until timer F at 32 s.
    assert_eq!(&retransmissions[..5], &[500, 1_500, 3_500, 7_500, 11_500]);
    assert_eq!(timeout, Some((64 * T1, key)));
}
