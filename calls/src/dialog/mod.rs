//! The SIP side of a call, sans-IO: each leg's dialog and the INVITE transactions callcore
//! runs on it, as state machines that take messages and the time and return what to send
//! ([`Outbound`]) and what happened ([`Progress`]). Nothing here owns a socket, reads a clock
//! or writes an event; the call's actor does that with what these types decide, and the unit
//! tests drive them with literal SIP text on a virtual clock.

mod acks;
#[cfg(test)]
mod fixtures;
mod in_dialog;
mod incoming;
mod leg;
mod matching;
mod media;
mod outbound;
mod outgoing;

pub use acks::AckWait;
pub use in_dialog::{decide, info_digit, refer_target, InDialog, LegsUp, Which};
pub use incoming::{refusal_status, IncomingInvite};
pub use leg::{random_hex, Leg};
pub use matching::{cancels, in_dialog};
pub use media::{answer_body, call_formats, offer_towards_b, reinvite_codec};
pub use outbound::Outbound;
pub use outgoing::{OutgoingInvite, Progress};
