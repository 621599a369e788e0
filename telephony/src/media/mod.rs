//! Media building blocks, sans-IO: G.711 coding and transcoding, and RFC 4733 telephone-events.
//! The RTP relay, recorder and prompt player of the call runtime are built on these.

pub mod dtmf;
pub mod g711;
pub mod recorder;
pub mod relay;
