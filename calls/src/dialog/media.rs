//! Offer and answer for an anchored call: each leg talks to callcore's relay, so each leg gets
//! a session description pointing at the relay's side for it; the codecs of the two legs are
//! chosen here, and the relay transcodes when they differ.

use std::net::IpAddr;

use telephony::media::relay::Formats;
use telephony::sdp::{self, AudioAnswer, AudioOffer, Codec, Direction};

/// The offer sent to the legs of the b slot: `offer` (leg `a`'s) pointed at the relay's b side
/// (`media_ip`, `b_port`), with both G.711 laws (callcore transcodes) and telephone-events.
pub fn offer_towards_b(offer: &AudioOffer, media_ip: IpAddr, b_port: u16, session: u64) -> Vec<u8> {
    let mut codecs = offer.codecs.clone();
    for codec in [Codec::Pcmu, Codec::Pcma] {
        if !codecs.contains(&codec) {
            codecs.push(codec);
        }
    }
    let towards_b = AudioOffer {
        address: media_ip,
        port: b_port,
        codecs,
        telephone_event: offer.telephone_event.or(Some(101)),
        ..offer.clone()
    };
    sdp::print_offer(&towards_b, session, 1).into_bytes()
}

/// What each leg speaks once the b leg answered with `b_answer` to leg `a`'s `a_offer`: leg
/// `a` keeps `a_kept` when it was answered before (a transfer, an IVR), else takes the b
/// leg's codec when `a` offered it, else its own first; leg b speaks what it answered.
/// `None` when leg `a` offered no codec callcore speaks.
pub fn call_formats(
    a_offer: &AudioOffer,
    b_answer: Option<&AudioOffer>,
    a_kept: Option<Formats>,
) -> Option<(Formats, Formats)> {
    let b_codec = b_answer.and_then(|answer| answer.codecs.first().copied());
    let a_codec = match a_kept {
        Some(kept) => Some(kept.codec),
        None => b_codec
            .filter(|c| a_offer.codecs.contains(c))
            .or(a_offer.codecs.first().copied()),
    }?;
    Some((
        Formats {
            codec: a_codec,
            telephone_event: a_offer.telephone_event,
        },
        Formats {
            codec: b_codec.unwrap_or(a_codec),
            telephone_event: b_answer.and_then(|answer| answer.telephone_event),
        },
    ))
}

/// The session description answering an offer: the relay's side at `address:port`.
pub fn answer_body(
    address: IpAddr,
    port: u16,
    formats: Formats,
    direction: Direction,
    session: u64,
    version: u64,
) -> Vec<u8> {
    sdp::print(
        &AudioAnswer {
            address,
            port,
            codec: formats.codec,
            telephone_event: formats.telephone_event,
            direction,
        },
        session,
        version,
    )
    .into_bytes()
}

/// The codec a leg speaking `current` answers a new offer with: the same when offered again,
/// else the offer's first (or `current` without an offer).
pub fn reinvite_codec(offer: Option<&AudioOffer>, current: Codec) -> Codec {
    offer
        .and_then(|o| {
            o.codecs
                .contains(&current)
                .then_some(current)
                .or(o.codecs.first().copied())
        })
        .unwrap_or(current)
}

#[cfg(test)]
mod tests;
