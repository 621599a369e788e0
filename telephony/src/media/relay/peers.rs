//! The state a relay's sockets share: where each leg is and what it speaks, the last packet's
//! time, the recording, the key-press receivers, the hold and the supervisor's mixing state,
//! and the counters.

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use tokio::sync::mpsc;

use super::latch::Latch;
use super::monitor::Monitor;
use super::rtp::Formats;
use crate::media::dtmf::DtmfReceiver;
use crate::media::recorder::Recorder;

/// A key pressed on one leg (RFC 4733), reported once per press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digit {
    /// Pressed on leg A (else leg B).
    pub from_a: bool,
    /// The key: `0`–`9`, `*`, `#`, `A`–`D`.
    pub key: char,
}

/// Packets forwarded, per direction, and refused.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// From leg A to leg B.
    pub a_to_b: AtomicU64,
    /// From leg B to leg A.
    pub b_to_a: AtomicU64,
    /// From sources that were not the leg's (RTP bleed or injection attempts).
    pub refused: AtomicU64,
}

#[derive(Debug)]
pub(super) struct Peers {
    /// Where leg A's media goes, and whose packets are leg A's.
    pub(super) a: Latch,
    /// Where leg B's media goes, and whose packets are leg B's.
    pub(super) b: Latch,
    pub(super) last_packet: Instant,
    pub(super) recording: Recording,
    pub(super) a_formats: Option<Formats>,
    pub(super) b_formats: Option<Formats>,
    pub(super) a_keys: DtmfReceiver,
    pub(super) b_keys: DtmfReceiver,
    pub(super) digits: mpsc::UnboundedSender<Digit>,
    /// The legs do not hear each other (leg A on hold: it hears what is played to it).
    pub(super) held: bool,
    /// A supervisor on the call.
    pub(super) monitor: Option<Monitor>,
}

/// Whether the relay records.
#[derive(Debug)]
pub(super) enum Recording {
    /// Not recording.
    Off,
    /// The file is being created.
    Opening,
    /// Recording into the file.
    On(Box<Recorder>),
}
