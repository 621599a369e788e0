//! The state of the parts a call may have besides its legs: its media (the relay, what each
//! leg speaks, holds), a wait in a queue, the agent it is connected to, and a supervisor's
//! leg. Plain state; the actor's modules act on it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use projections::QueueDoc;
use telephony::media::player::Prompt;
use telephony::media::relay::{Formats, MediaRelay};
use telephony::sdp::{AudioOffer, Codec};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::dialog::OutgoingInvite;

/// The call's media, anchored in its relay.
pub(crate) struct Media {
    /// The relay both legs talk to (none when leg `a` offered no usable SDP).
    pub(crate) relay: Option<Arc<MediaRelay>>,
    /// Leg `a`'s offer.
    pub(crate) a_offer: Option<AudioOffer>,
    /// The offer every leg rung in the b slot gets (the relay's b side).
    pub(crate) b_body: Vec<u8>,
    /// What leg `a` and the b leg speak, once decided.
    pub(crate) formats: Option<(Formats, Formats)>,
    /// The address announced in SDP.
    pub(crate) ip: IpAddr,
    /// The SDP session id and the version of callcore's last description.
    pub(crate) sdp_session: u64,
    pub(crate) sdp_version: u64,
    /// Whether a leg put the other on hold by a re-INVITE (no media timeout then).
    pub(crate) held: bool,
    /// Music to the customer while the agent holds it.
    pub(crate) hold_music: Option<JoinHandle<()>>,
    /// Whether the relay records a voicemail (rather than the bridged call).
    pub(crate) voicemail: bool,
}

impl Media {
    /// The codec leg `a` speaks.
    pub(crate) fn a_codec(&self) -> Codec {
        self.formats.map_or(Codec::Pcmu, |(a, _)| a.codec)
    }

    /// Stops the agent's hold music, if it plays.
    pub(crate) fn stop_hold_music(&mut self) {
        if let Some(music) = self.hold_music.take() {
            music.abort();
        }
        if let Some(relay) = &self.relay {
            relay.set_held(false);
        }
    }
}

/// A caller waiting in a queue.
pub(crate) struct Waiting {
    /// The queue as the caller entered it.
    pub(crate) queue: QueueDoc,
    /// When its timeout runs out.
    pub(crate) deadline: Instant,
    /// The music (and waiting prompt) task.
    pub(crate) music: Option<JoinHandle<()>>,
    /// Whether an IVR transfer put the caller here (its outcome goes back to the flow).
    pub(crate) from_ivr: bool,
    /// The member ringing in each leg, by leg name.
    pub(crate) offers: HashMap<String, Uuid>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(music) = self.music.take() {
            music.abort();
        }
    }
}

/// Why a caller did not get into a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotQueued {
    /// No such queue.
    Missing,
    /// It holds as many callers as it allows.
    Full,
    /// The step could not be recorded.
    Unrecorded,
}

/// The agent seat a call is connected to (from a queue, a take-over, click-to-dial): freed
/// when the call ends, after the wrap-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AgentOnCall {
    /// The agent's extension (its seat's stream is `agent_id(extension)`).
    pub(crate) extension: Uuid,
    /// The wrap-up seconds of the queue that connected it.
    pub(crate) wrap_up_seconds: u32,
}

/// A supervisor's leg: callcore's INVITE to its phone, then the dialog.
pub(crate) struct MonitorLeg {
    /// The INVITE and its dialog.
    pub(crate) call: OutgoingInvite,
    /// The supervisor's sub-account.
    pub(crate) supervisor: Uuid,
    /// The supervisor's extension (its seat is on the call meanwhile).
    pub(crate) extension: Uuid,
}

/// The built-in hold music: a soft two-note chime every two seconds, 8 kHz.
pub(crate) fn default_music() -> Arc<Prompt> {
    static MUSIC: OnceLock<Arc<Prompt>> = OnceLock::new();
    MUSIC
        .get_or_init(|| {
            let mut samples = Vec::with_capacity(16_000);
            for (hz, length) in [(523.25_f64, 2_400usize), (659.25, 2_400), (0.0, 11_200)] {
                for n in 0..length {
                    let fade = (n.min(length - n) as f64 / 400.0).min(1.0);
                    let phase = n as f64 * hz * std::f64::consts::TAU / 8_000.0;
                    samples.push((phase.sin() * 3_000.0 * fade) as i16);
                }
            }
            Arc::new(Prompt::from_samples(samples))
        })
        .clone()
}
