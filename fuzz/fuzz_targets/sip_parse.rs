//! Fuzz target: any bytes through the SIP parsing path (parse, the 400 answer, the transaction
//! layer, the registrar and INVITE authentication, SDP offers, answering digest challenges)
//! must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telephony::registrar::{Registrar, SipAccount};
use telephony::sdp::parse_offer;
use telephony::sip::digest::answer_challenge;
use telephony::sip::message::{bad_request, parse, SipMessage};
use telephony::sip::transaction::{TransactionLayer, Transport};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(message) => {
            let printed = message.to_bytes();
            let _ = parse(&printed);
            let mut layer = TransactionLayer::new();
            let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 5060));
            match message {
                SipMessage::Request(request) => {
                    let registrar = Registrar::new([1; 32]);
                    let account = |_: &str, _: &str| Some(SipAccount { id: "x".into(), password: "p".into() });
                    let _ = registrar.decide(&request, std::net::IpAddr::from([127, 0, 0, 1]), account, 1_800_000_000);
                    let _ = registrar.authenticate(&request, std::net::IpAddr::from([127, 0, 0, 1]), account, 1_800_000_000);
                    let _ = parse_offer(&String::from_utf8_lossy(&request.body));
                    let _ = layer.on_request(request, peer, Transport::Udp, 0);
                }
                SipMessage::Response(response) => {
                    for name in ["WWW-Authenticate", "Proxy-Authenticate"] {
                        if let Some(challenge) = response.headers.get(name) {
                            let _ = answer_challenge(challenge, "INVITE", "sip:x@y", "u", "p", "c");
                        }
                    }
                    let _ = parse_offer(&String::from_utf8_lossy(&response.body));
                    let _ = layer.on_response(response, 0);
                }
            }
            let _ = layer.on_timer(100_000);
        }
        Err(error) => {
            let _ = bad_request(data, &error);
        }
    }
});
