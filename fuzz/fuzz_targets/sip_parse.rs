//! Fuzz target: any bytes through the SIP parsing path (parse, the 400 answer, the transaction
//! layer and the registrar) must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telephony::registrar::{Registrar, SipAccount};
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
                    let _ = registrar.decide(
                        &request,
                        |_, _| Some(SipAccount { id: "x".into(), password: "p".into() }),
                        1_800_000_000,
                    );
                    let _ = layer.on_request(request, peer, Transport::Udp, 0);
                }
                SipMessage::Response(response) => {
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
