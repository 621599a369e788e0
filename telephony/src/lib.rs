//! Telephony: SIP (rsip confined to `sip::message`), digest authentication, and in later steps
//! transactions, dialogs, RTP media and the call runtime. Everything here is sans-IO: inputs
//! (bytes, time) in, outputs (bytes to send, decisions) out; only a driver will own sockets.

pub mod driver;
pub mod media;
pub mod registrar;
pub mod sdp;
pub mod sip;
