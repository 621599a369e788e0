//! RTP packets as the relay handles them: where the payload is, what each leg speaks, and
//! what a packet needs on its way to the other leg (transcoding between the G.711 laws, a
//! telephone-event renumbered or dropped).

use crate::media::g711::{alaw_code_to_ulaw, ulaw_code_to_alaw};
use crate::sdp::Codec;

/// What one leg speaks, as negotiated in its SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    /// Its G.711 law.
    pub codec: Codec,
    /// Its telephone-event payload type, when it negotiated one.
    pub telephone_event: Option<u8>,
}

/// Random bits for an RTP stream's SSRC, first sequence number and timestamp (RFC 3550 asks
/// for unpredictable ones; the hasher's per-process random keys are enough for that).
pub(super) fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    hasher.write_u128(now.map_or(0, |d| d.as_nanos()));
    u32::try_from(hasher.finish() & u64::from(u32::MAX)).unwrap_or(0)
}

/// The payload type and where the payload starts and ends in an RTP packet.
pub(super) fn rtp_parts(packet: &[u8]) -> Option<(u8, usize, usize)> {
    let first = *packet.first()?;
    if first >> 6 != 2 {
        return None;
    }
    let mut offset = 12 + 4 * usize::from(first & 0x0F);
    if first & 0x10 != 0 {
        let words = u16::from_be_bytes([*packet.get(offset + 2)?, *packet.get(offset + 3)?]);
        offset += 4 + 4 * usize::from(words);
    }
    let end = if first & 0x20 != 0 {
        packet.len().checked_sub(usize::from(*packet.last()?))?
    } else {
        packet.len()
    };
    packet.get(offset..end)?;
    Some((packet.get(1)? & 0x7F, offset, end))
}

/// The RTP timestamp of a packet at least 12 bytes long.
pub(super) fn rtp_timestamp(packet: &[u8]) -> u32 {
    u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]])
}

/// What to do to a packet on its way to the other leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rewrite {
    /// Forward as it is.
    Keep,
    /// Transcode the payload to `to` and set its payload type.
    Transcode { to: Codec },
    /// Set the payload type (a telephone-event numbered differently on the other leg).
    Retype(u8),
    /// The other leg cannot take it (telephone-events it did not negotiate).
    Drop,
}

/// Decides the rewrite of a packet of payload type `pt` from a leg speaking `from` to a leg
/// speaking `to`.
pub(super) fn rewrite(pt: u8, from: Option<Formats>, to: Option<Formats>) -> Rewrite {
    let (Some(from), Some(to)) = (from, to) else {
        return Rewrite::Keep;
    };
    if pt == from.codec.payload_type() && from.codec != to.codec {
        return Rewrite::Transcode { to: to.codec };
    }
    if Some(pt) == from.telephone_event {
        return match to.telephone_event {
            Some(other) if other == pt => Rewrite::Keep,
            Some(other) => Rewrite::Retype(other),
            None => Rewrite::Drop,
        };
    }
    Rewrite::Keep
}

/// Applies `rewrite` to `packet` in place (the payload starts at `start` and ends at `end`);
/// false when the packet is to be dropped.
pub(super) fn apply(rewrite: Rewrite, packet: &mut [u8], start: usize, end: usize) -> bool {
    let set_pt = |packet: &mut [u8], pt: u8| packet[1] = (packet[1] & 0x80) | (pt & 0x7F);
    match rewrite {
        Rewrite::Keep => true,
        Rewrite::Drop => false,
        Rewrite::Retype(pt) => {
            set_pt(packet, pt);
            true
        }
        Rewrite::Transcode { to } => {
            let transcode = match to {
                Codec::Pcmu => alaw_code_to_ulaw,
                Codec::Pcma => ulaw_code_to_alaw,
            };
            for code in &mut packet[start..end] {
                *code = transcode(*code);
            }
            set_pt(packet, to.payload_type());
            true
        }
    }
}
