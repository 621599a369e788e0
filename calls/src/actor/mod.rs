//! A call's actor: one task per call, owning its legs, its media and its journal. It hears
//! SIP messages, the dispatcher's offers, the API's controls and its own tasks' reports
//! through its inbox, lets the dialog layer (`crate::dialog`) decide what they mean for the
//! legs, records each step in the call's stream, and only then carries the step out.
//!
//! [`session`] holds the state and the helpers every part uses; each other module is one part
//! of a call's life: [`spawn`] its start, [`events`] its loop and timers, [`bridge`] the legs
//! callcore rings and the bridge, [`requests`] requests inside its dialogs, [`queue`],
//! [`forks`] and [`announce`] waiting in a queue, [`ivr`] the flow, [`control`] and
//! [`monitor`] what agents and supervisors do, and [`dial_out`] click-to-dial.

pub(crate) mod announce;
pub(crate) mod bridge;
pub(crate) mod control;
pub(crate) mod dial_out;
pub(crate) mod events;
pub(crate) mod forks;
pub(crate) mod ivr;
pub(crate) mod ivr_driver;
pub(crate) mod legs;
pub(crate) mod monitor;
pub(crate) mod parts;
pub(crate) mod queue;
pub(crate) mod requests;
pub(crate) mod session;
pub(crate) mod spawn;
