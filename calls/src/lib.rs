//! The call runtime: the SIP front end, one actor per call (a B2BUA with anchored media and a
//! recording), the queues' dispatcher, IVR execution, supervision and click-to-dial.
//!
//! The API reaches it only through [`CallRuntime`], which starts it on a node and carries out
//! what agents and supervisors ask of live calls ([`control`]). Inside, [`registry`] knows
//! which actor owns each dialog and call, [`frontend`] hands SIP to them, [`plan`] decides
//! where a new call goes from the read models, [`dialog`] is the sans-IO SIP side of a call,
//! `actor` runs each call, [`acd`] offers waiting callers to agents, [`journal`] writes a
//! call's events and [`prompts`] renders what callers hear.
//!
//! Modules import each other along one direction (a test checks it): nothing imports the
//! crate root, and the actor's parts import `actor::session`, never the other way.

mod acd;
mod actor;
pub mod control;
mod dialog;
mod frontend;
pub mod http_guard;
mod inbox;
mod journal;
mod plan;
pub mod prompts;
mod registry;
mod restart;
mod runtime;

pub use registry::CallSettings;
pub use runtime::{AnswerWaitingError, CallRuntime, ControlError, Relayed};
pub use telephony::driver::TcpLimits;
