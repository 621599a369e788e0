//! Offers and answers of an anchored call.

use std::net::IpAddr;

use telephony::sdp::parse_offer;

use super::*;
use crate::dialog::fixtures::OFFER;

fn pcmu_only() -> AudioOffer {
    AudioOffer {
        codecs: vec![Codec::Pcmu],
        telephone_event: None,
        ..offer()
    }
}

fn offer() -> AudioOffer {
    parse_offer(OFFER).unwrap_or_else(|e| panic!("the fixture parses: {e}"))
}

fn relay_ip() -> IpAddr {
    IpAddr::from([10, 0, 0, 1])
}

#[test]
fn the_b_leg_is_offered_the_relay_with_both_laws_and_telephone_events() {
    let body = offer_towards_b(&pcmu_only(), relay_ip(), 41_000, 77);
    let sent = parse_offer(&String::from_utf8_lossy(&body)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sent.address, relay_ip());
    assert_eq!(sent.port, 41_000);
    assert_eq!(sent.codecs, [Codec::Pcmu, Codec::Pcma]);
    assert_eq!(sent.telephone_event, Some(101));
    let kept = offer_towards_b(&offer(), relay_ip(), 41_000, 77);
    let kept = parse_offer(&String::from_utf8_lossy(&kept)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        kept.codecs,
        [Codec::Pcma, Codec::Pcmu],
        "the caller's order first"
    );
}

#[test]
fn both_legs_speak_the_b_leg_s_codec_when_the_caller_offered_it() {
    let (a, b) =
        call_formats(&offer(), Some(&pcmu_only()), None).unwrap_or_else(|| panic!("formats"));
    assert_eq!((a.codec, b.codec), (Codec::Pcmu, Codec::Pcmu));
    assert_eq!((a.telephone_event, b.telephone_event), (Some(101), None));
}

#[test]
fn legs_speaking_different_laws_are_transcoded() {
    let alaw_only = AudioOffer {
        codecs: vec![Codec::Pcma],
        ..offer()
    };
    let (a, b) =
        call_formats(&pcmu_only(), Some(&alaw_only), None).unwrap_or_else(|| panic!("formats"));
    assert_eq!((a.codec, b.codec), (Codec::Pcmu, Codec::Pcma));
}

#[test]
fn a_caller_answered_before_keeps_its_codec() {
    let kept = Formats {
        codec: Codec::Pcma,
        telephone_event: Some(101),
    };
    let (a, b) =
        call_formats(&offer(), Some(&pcmu_only()), Some(kept)).unwrap_or_else(|| panic!("formats"));
    assert_eq!((a.codec, b.codec), (Codec::Pcma, Codec::Pcmu));
    let no_codec = AudioOffer {
        codecs: vec![],
        ..offer()
    };
    assert_eq!(call_formats(&no_codec, None, None), None);
}

#[test]
fn a_new_offer_keeps_the_codec_when_it_can() {
    assert_eq!(reinvite_codec(Some(&offer()), Codec::Pcmu), Codec::Pcmu);
    assert_eq!(reinvite_codec(Some(&pcmu_only()), Codec::Pcma), Codec::Pcmu);
    assert_eq!(reinvite_codec(None, Codec::Pcma), Codec::Pcma);
}

#[test]
fn a_hold_is_answered_receive_only_at_the_relay() {
    let formats = Formats {
        codec: Codec::Pcma,
        telephone_event: Some(101),
    };
    let body = answer_body(
        relay_ip(),
        41_002,
        formats,
        Direction::SendOnly.answer(),
        77,
        2,
    );
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("c=IN IP4 10.0.0.1"), "{text}");
    assert!(text.contains("m=audio 41002 RTP/AVP 8 101"), "{text}");
    assert!(text.contains("a=recvonly"), "{text}");
    assert!(
        text.contains("o=callcore 77 2 IN IP4") || text.contains(" 77 2 "),
        "{text}"
    );
}
