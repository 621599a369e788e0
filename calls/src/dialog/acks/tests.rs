//! 2xx retransmission until the ACK, on a virtual clock.

use std::net::SocketAddr;
use std::time::Duration;

use telephony::sip::message::Method;

use super::*;
use crate::dialog::fixtures::{answer, new_leg, request, t0, CARRIER_INVITE};

fn ok_and_leg(transport: Transport) -> (Response, Leg) {
    let invite = request(CARRIER_INVITE);
    let mut leg = new_leg();
    leg.call_id = "call-1@carrier".into();
    leg.transport = transport;
    (answer(&invite, "SIP/2.0 200 OK\n"), leg)
}

fn ack(call_id: &str, number: u32) -> Request {
    request(&format!(
        "ACK sip:callcore@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-ack-{number}
From: <sip:13800138000@10.0.0.9>;tag=c1
To: <sip:02161234567@10.0.0.1>;tag=cc-a
Call-ID: {call_id}
CSeq: {number} ACK
"
    ))
}

fn at(ms: u64) -> Instant {
    t0() + Duration::from_millis(ms)
}

#[test]
fn a_2xx_is_sent_again_at_t1_doubling_up_to_t2() {
    let (ok, leg) = ok_and_leg(Transport::Udp);
    let mut acks = AckWait::default();
    acks.expect(ok.clone(), &leg, 7, t0(), true);
    assert_eq!(acks.next_deadline(), Some(at(500)));
    assert!(acks.on_timer(at(499)).send.is_empty());
    let mut sent_at = Vec::new();
    for ms in (0..20_000).step_by(100) {
        let out = acks.on_timer(at(ms));
        for send in out.send {
            assert_eq!(
                send,
                Outbound::Raw {
                    message: SipMessage::Response(ok.clone()),
                    peer: SocketAddr::from(([10, 0, 0, 2], 5062)),
                    transport: Transport::Udp,
                }
            );
            sent_at.push(ms);
        }
    }
    // 0.5 s, then 1, 2 and 4 s apart, and 4 s (T2) from then on.
    assert_eq!(sent_at, [500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500]);
}

#[test]
fn its_ack_stops_it() {
    let (ok, leg) = ok_and_leg(Transport::Udp);
    let mut acks = AckWait::default();
    acks.expect(ok, &leg, 7, t0(), true);
    acks.acked(&ack("call-1@carrier", 6));
    acks.acked(&ack("another@carrier", 7));
    assert!(
        acks.next_deadline().is_some(),
        "another dialog's or transaction's ACK"
    );
    acks.acked(&ack("call-1@carrier", 7));
    assert_eq!(acks.next_deadline(), None);
    assert_eq!(acks.on_timer(at(1_000)), Retransmitted::default());
}

#[test]
fn an_initial_2xx_never_acknowledged_is_given_up_after_64_t1() {
    let (ok, leg) = ok_and_leg(Transport::Udp);
    let mut acks = AckWait::default();
    acks.expect(ok.clone(), &leg, 7, t0(), true);
    acks.expect(ok, &leg, 8, t0(), false);
    let mut lost = None;
    for ms in (0..40_000).step_by(250) {
        if acks.on_timer(at(ms)).initial_lost {
            lost = Some(ms);
            break;
        }
    }
    assert_eq!(lost, Some(32_000));
    assert!(acks.next_deadline().is_none());
}

#[test]
fn a_re_invite_s_2xx_given_up_does_not_end_the_call() {
    let (ok, leg) = ok_and_leg(Transport::Udp);
    let mut acks = AckWait::default();
    acks.expect(ok, &leg, 8, t0(), false);
    let out = acks.on_timer(at(32_000));
    assert!(!out.initial_lost && out.send.is_empty() && acks.next_deadline().is_none());
}

#[test]
fn over_tcp_nothing_is_sent_again() {
    let (ok, leg) = ok_and_leg(Transport::Tcp);
    let mut acks = AckWait::default();
    acks.expect(ok, &leg, 7, t0(), true);
    assert!(acks.next_deadline().is_none());
    assert_eq!(ack("x", 1).method, Method::Ack);
}
