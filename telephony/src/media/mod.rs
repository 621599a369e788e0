//! Media building blocks, sans-IO: G.711 coding and transcoding, and RFC 4733 telephone-events.
//! The RTP relay (with prompt playback), the recorder and the prompt player build on these.

pub mod convert;
pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod mixer;
pub mod player;
pub mod recorder;
pub mod relay;
pub mod wav_out;
