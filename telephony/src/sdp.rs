//! SDP offer/answer (RFC 3264, RFC 4566) for G.711 audio with RFC 4733 telephone-events,
//! sans-IO: parse an offer, choose what callcore supports, and print the answer; direction
//! attributes tell holds (`sendonly`, `inactive`) from resumes.

use std::fmt::Write as _;
use std::net::IpAddr;

/// Audio codecs callcore speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law, payload type 0.
    Pcmu,
    /// G.711 A-law, payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name in `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// Media direction of a stream (RFC 3264 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// The offerer only sends: it puts the other side on hold.
    SendOnly,
    /// The offerer only receives.
    RecvOnly,
    /// No media either way (hold).
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answer takes to this offered one.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// Whether this (offered) direction puts the answerer on hold.
    pub fn is_hold(self) -> bool {
        matches!(self, Direction::SendOnly | Direction::Inactive)
    }
}

/// The audio stream of a session description, as callcore needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioOffer {
    /// Where to send RTP.
    pub address: IpAddr,
    /// RTP port (0: the stream is refused).
    pub port: u16,
    /// Codecs offered that callcore speaks, in the offerer's order of preference.
    pub codecs: Vec<Codec>,
    /// Payload type of telephone-event/8000, when offered.
    pub telephone_event: Option<u8>,
    /// Direction.
    pub direction: Direction,
    /// Packetisation time in ms, when given.
    pub ptime: Option<u32>,
}

/// Why a session description cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Not SDP, or no connection address.
    #[error("malformed SDP: {0}")]
    Malformed(&'static str),
    /// No audio stream.
    #[error("no audio stream")]
    NoAudio,
    /// No codec in common (answer 488).
    #[error("no common codec (PCMU or PCMA needed)")]
    NoCommonCodec,
}

/// Parses the first audio stream of `sdp`.
pub fn parse_offer(sdp: &str) -> Result<AudioOffer, SdpError> {
    if !sdp.trim_start().starts_with("v=0") {
        return Err(SdpError::Malformed("does not start with v=0"));
    }
    let mut session_address: Option<IpAddr> = None;
    let mut session_direction = Direction::SendRecv;
    let mut audio: Option<(u16, Vec<u8>)> = None;
    let mut media_address: Option<IpAddr> = None;
    let mut direction: Option<Direction> = None;
    let mut rtpmaps: Vec<(u8, String)> = Vec::new();
    let mut ptime = None;
    let mut in_audio = false;
    let mut seen_audio = false;
    for line in sdp.lines().map(str::trim_end) {
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "m" => {
                in_audio = false;
                if seen_audio {
                    continue;
                }
                let mut parts = value.split_whitespace();
                if parts.next() == Some("audio") {
                    let port = parts
                        .next()
                        .and_then(|p| p.split('/').next()?.parse().ok())
                        .ok_or(SdpError::Malformed("bad m= port"))?;
                    let _proto = parts.next();
                    let formats = parts.filter_map(|f| f.parse().ok()).collect();
                    audio = Some((port, formats));
                    in_audio = true;
                    seen_audio = true;
                }
            }
            "c" => {
                let address = value
                    .split_whitespace()
                    .nth(2)
                    .and_then(|a| a.split('/').next()?.parse().ok());
                if in_audio {
                    media_address = address;
                } else if !seen_audio {
                    session_address = address;
                }
            }
            "a" => {
                let d = match value {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                if let Some(d) = d {
                    if in_audio {
                        direction = Some(d);
                    } else if !seen_audio {
                        session_direction = d;
                    }
                } else if in_audio {
                    if let Some(rest) = value.strip_prefix("rtpmap:") {
                        let mut parts = rest.split_whitespace();
                        if let (Some(Ok(pt)), Some(name)) =
                            (parts.next().map(str::parse), parts.next())
                        {
                            rtpmaps.push((pt, name.to_ascii_lowercase()));
                        }
                    } else if let Some(p) = value.strip_prefix("ptime:") {
                        ptime = p.trim().parse().ok();
                    }
                }
            }
            _ => {}
        }
    }
    let (port, formats) = audio.ok_or(SdpError::NoAudio)?;
    let address = media_address
        .or(session_address)
        .ok_or(SdpError::Malformed("no c= address"))?;
    let named = |pt: u8| {
        rtpmaps
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, n)| n.as_str())
    };
    let mut codecs = Vec::new();
    let mut telephone_event = None;
    for pt in formats {
        match (pt, named(pt)) {
            (0, None) | (_, Some("pcmu/8000")) => codecs.push(Codec::Pcmu),
            (8, None) | (_, Some("pcma/8000")) => codecs.push(Codec::Pcma),
            (_, Some("telephone-event/8000")) => telephone_event = telephone_event.or(Some(pt)),
            _ => {}
        }
    }
    codecs.dedup();
    Ok(AudioOffer {
        address,
        port,
        codecs,
        telephone_event,
        direction: direction.unwrap_or(session_direction),
        ptime,
    })
}

/// What callcore answers with for its side of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioAnswer {
    /// callcore's media address.
    pub address: IpAddr,
    /// callcore's RTP port for this leg.
    pub port: u16,
    /// The codec chosen.
    pub codec: Codec,
    /// The telephone-event payload type, echoed when offered.
    pub telephone_event: Option<u8>,
    /// Direction.
    pub direction: Direction,
}

/// Chooses the answer to `offer`: the offerer's first codec callcore speaks, telephone-event
/// when offered, and the answering direction.
pub fn answer(offer: &AudioOffer, address: IpAddr, port: u16) -> Result<AudioAnswer, SdpError> {
    let codec = *offer.codecs.first().ok_or(SdpError::NoCommonCodec)?;
    Ok(AudioAnswer {
        address,
        port,
        codec,
        telephone_event: offer.telephone_event,
        direction: offer.direction.answer(),
    })
}

/// Prints a session description for one audio stream; `session_id` and `version` go in `o=`
/// (increase `version` for every re-offer of the same session).
pub fn print(media: &AudioAnswer, session_id: u64, version: u64) -> String {
    print_stream(
        media.address,
        media.port,
        &[media.codec],
        media.telephone_event,
        media.direction,
        session_id,
        version,
    )
}

/// Prints an offer of `codecs` (in order of preference) for one audio stream.
pub fn print_offer(offer: &AudioOffer, session_id: u64, version: u64) -> String {
    print_stream(
        offer.address,
        offer.port,
        &offer.codecs,
        offer.telephone_event,
        offer.direction,
        session_id,
        version,
    )
}

fn print_stream(
    address: IpAddr,
    port: u16,
    codecs: &[Codec],
    telephone_event: Option<u8>,
    direction: Direction,
    session_id: u64,
    version: u64,
) -> String {
    let family = if address.is_ipv4() { "IP4" } else { "IP6" };
    let mut sdp = String::new();
    let _ = write!(
        sdp,
        "v=0\r\no=callcore {session_id} {version} IN {family} {address}\r\ns=callcore\r\n"
    );
    let _ = write!(sdp, "c=IN {family} {address}\r\nt=0 0\r\n");
    let mut formats: Vec<String> = codecs
        .iter()
        .map(|c| c.payload_type().to_string())
        .collect();
    if let Some(pt) = telephone_event {
        formats.push(pt.to_string());
    }
    let _ = write!(sdp, "m=audio {port} RTP/AVP {}\r\n", formats.join(" "));
    for codec in codecs {
        let _ = write!(
            sdp,
            "a=rtpmap:{} {}/8000\r\n",
            codec.payload_type(),
            codec.name()
        );
    }
    if let Some(pt) = telephone_event {
        let _ = write!(
            sdp,
            "a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-16\r\n"
        );
    }
    let _ = write!(sdp, "a=ptime:20\r\na={}\r\n", direction.attribute());
    sdp
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

    #[test]
    fn an_offer_is_read() {
        let offer = parse_offer(SIPP_OFFER).expect("valid SDP");
        assert_eq!(
            offer.address,
            "127.0.0.1".parse::<IpAddr>().expect("an address")
        );
        assert_eq!(offer.port, 6000);
        assert_eq!(offer.codecs, vec![Codec::Pcma, Codec::Pcmu]);
        assert_eq!(offer.telephone_event, Some(101));
        assert_eq!(offer.direction, Direction::SendRecv);
    }

    #[test]
    fn the_answer_takes_the_first_common_codec_and_prints_literally() {
        let offer = parse_offer(SIPP_OFFER).expect("valid SDP");
        let chosen = answer(&offer, "192.0.2.5".parse().expect("an address"), 20_000)
            .expect("a common codec");
        assert_eq!(chosen.codec, Codec::Pcma);
        assert_eq!(
            print(&chosen, 42, 1),
            "v=0\r\no=callcore 42 1 IN IP4 192.0.2.5\r\ns=callcore\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 20000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        );
    }

    #[test]
    fn an_offer_reprints_with_another_address() {
        let mut offer = parse_offer(SIPP_OFFER).expect("valid SDP");
        offer.address = "192.0.2.5".parse().expect("an address");
        offer.port = 30_000;
        let printed = print_offer(&offer, 7, 1);
        assert!(
            printed.contains("c=IN IP4 192.0.2.5\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8 0 101\r\n"),
            "{printed}"
        );
        assert_eq!(
            parse_offer(&printed).map(|o| o.codecs),
            Ok(vec![Codec::Pcma, Codec::Pcmu])
        );
    }

    #[test]
    fn holds_are_recognised() {
        let hold = SIPP_OFFER.replace("a=fmtp:101 0-15\r\n", "a=fmtp:101 0-15\r\na=sendonly\r\n");
        let offer = parse_offer(&hold).expect("valid SDP");
        assert!(offer.direction.is_hold());
        assert_eq!(offer.direction.answer(), Direction::RecvOnly);
        let inactive = SIPP_OFFER.replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n");
        assert_eq!(
            parse_offer(&inactive).map(|o| o.direction),
            Ok(Direction::Inactive)
        );
    }

    #[test]
    fn unusable_offers_are_refused() {
        assert_eq!(
            parse_offer("hello"),
            Err(SdpError::Malformed("does not start with v=0"))
        );
        assert_eq!(
            parse_offer("v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 5000 RTP/AVP 96\r\n"),
            Err(SdpError::NoAudio)
        );
        let g729 = parse_offer(
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n",
        )
        .expect("valid SDP");
        assert_eq!(
            answer(&g729, "1.2.3.4".parse().expect("an address"), 1),
            Err(SdpError::NoCommonCodec)
        );
        for cut in 0..SIPP_OFFER.len() {
            let _ = parse_offer(&SIPP_OFFER[..cut]);
        }
    }
}
