//! Literal SIP messages for the dialog tests, and helpers that parse them as the driver would
//! (lines joined with CRLF, Content-Length counted) or answer a request callcore built, echoing
//! the identifiers it chose (branch, tags, Call-ID, CSeq).

use std::net::SocketAddr;

use telephony::sip::message::{parse, Request, Response, SipMessage};
use telephony::sip::transaction::{TransactionKey, Transport};
use tokio::time::Instant;

use super::leg::Leg;

/// callcore's SIP address in the tests.
pub(super) fn local() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 5060))
}

/// The phone or carrier callcore talks to in the tests.
pub(super) fn peer() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 2], 5062))
}

/// The start of the virtual clock: one instant for the whole test run.
pub(super) fn t0() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// An SDP offer of PCMA and PCMU with telephone-events, as a phone sends it.
pub(super) const OFFER: &str = "v=0
o=phone 1 1 IN IP4 10.0.0.2
s=-
c=IN IP4 10.0.0.2
t=0 0
m=audio 40000 RTP/AVP 8 0 101
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=sendrecv
";

/// The INVITE a carrier sends for a DID, through a proxy that records its route.
pub(super) const CARRIER_INVITE: &str = "INVITE sip:02161234567@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-carrier-1
Max-Forwards: 70
From: \"Carrier\" <sip:13800138000@10.0.0.9>;tag=c1
To: <sip:02161234567@10.0.0.1>
Call-ID: call-1@carrier
CSeq: 7 INVITE
Contact: <sip:13800138000@10.0.0.9:5070>
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
Content-Type: application/sdp

v=0
o=carrier 1 1 IN IP4 10.0.0.9
s=-
c=IN IP4 10.0.0.9
t=0 0
m=audio 30000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
";

/// `text` as the bytes of a message on the wire: CRLF line ends and a Content-Length.
fn wire(text: &str) -> Vec<u8> {
    let (head, body) = text.split_once("\n\n").unwrap_or((text.trim_end(), ""));
    let body = body.replace('\n', "\r\n");
    format!(
        "{}\r\nContent-Length: {}\r\n\r\n{body}",
        head.trim_end().replace('\n', "\r\n"),
        body.len()
    )
    .into_bytes()
}

/// The request written in `text`.
pub(super) fn request(text: &str) -> Request {
    match parse(&wire(text)) {
        Ok(SipMessage::Request(request)) => request,
        other => panic!("not a request: {other:?}"),
    }
}

/// The response written in `text`.
pub(super) fn response(text: &str) -> Response {
    match parse(&wire(text)) {
        Ok(SipMessage::Response(response)) => response,
        other => panic!("not a response: {other:?}"),
    }
}

/// A response to `request`: the status line and headers of `text` (a `To` there replaces
/// the request's), after the request's Via, From, To, Call-ID and CSeq, as a peer sends it.
pub(super) fn answer(request: &Request, text: &str) -> Response {
    let (start, rest) = text.split_once('\n').unwrap_or((text, ""));
    let (own_headers, body) = rest.split_once("\n\n").unwrap_or((rest, ""));
    let mut lines = vec![start.to_owned()];
    for via in request.headers.get_all("Via") {
        lines.push(format!("Via: {via}"));
    }
    for name in ["From", "To", "Call-ID", "CSeq"] {
        let replaced = own_headers.lines().any(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        });
        if let (false, Some(value)) = (replaced, request.headers.get(name)) {
            lines.push(format!("{name}: {value}"));
        }
    }
    lines.extend(
        own_headers
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned),
    );
    response(&format!("{}\n\n{body}", lines.join("\n")))
}

/// The To of `request` with the peer's `tag`.
pub(super) fn to_with_tag(request: &Request, tag: &str) -> String {
    format!(
        "To: {};tag={tag}",
        request.headers.get("To").unwrap_or_default()
    )
}

/// The server transaction of `request`.
pub(super) fn key_of(request: &Request) -> TransactionKey {
    TransactionKey::of(&request.headers, &request.method).unwrap_or(TransactionKey {
        branch: String::new(),
        sent_by: String::new(),
        method: String::new(),
    })
}

/// A new dialog callcore opens towards extension 1001's phone at [`peer`].
pub(super) fn new_leg() -> Leg {
    Leg {
        call_id: "leg-b@callcore".into(),
        local_tag: "cc-b".into(),
        remote_tag: None,
        local_uri: "sip:13800138000@10.0.0.1:5060".into(),
        remote_uri: "sip:1001@10.0.0.1:5060".into(),
        remote_target: "sip:1001@10.0.0.2:5062".into(),
        peer: peer(),
        transport: Transport::Udp,
        cseq: 0,
        route_set: Vec::new(),
    }
}
