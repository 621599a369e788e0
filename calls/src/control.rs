//! What the API asks of live calls and why a call may say no: the controls of agents and
//! supervisors (manual §7: hang up, hold and resume, blind transfer, forced hang-up, take-over,
//! answering a waiting caller, listening, whispering and barging in), click-to-dial's
//! refusals, and the words a refusal is given in. The actor carries the controls out (see
//! `actor::control`); these are only the shapes.

use domain::call::Cause;
use tokio::sync::oneshot;
use uuid::Uuid;

/// How a supervisor takes part in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorMode {
    /// Hears both sides; nobody hears the supervisor (监听).
    Listen,
    /// Hears both sides; only the agent hears the supervisor (密语).
    Whisper,
    /// Three-way: everyone hears everyone (强插).
    Barge,
}

impl From<MonitorMode> for telephony::media::relay::MonitorMode {
    fn from(mode: MonitorMode) -> Self {
        match mode {
            MonitorMode::Listen => Self::Listen,
            MonitorMode::Whisper => Self::Whisper,
            MonitorMode::Barge => Self::Barge,
        }
    }
}

/// Where a blind transfer sends the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// Another extension of the enterprise.
    Extension(Uuid),
    /// An outside number (the agent's extension must be allowed to dial out).
    Number(String),
    /// A queue.
    Queue(Uuid),
    /// An IVR flow.
    Ivr(Uuid),
}

/// Why a call did not carry out a control (nothing was recorded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlRefused {
    /// It needs the customer connected to an agent.
    #[error("the call is not connected to an agent")]
    NotConnected,
    /// Hold while on hold.
    #[error("the customer is on hold already")]
    AlreadyHeld,
    /// Resume while not on hold.
    #[error("the customer is not on hold")]
    NotHeld,
    /// A transfer target that cannot be rung.
    #[error("the transfer target cannot be reached: {0}")]
    Unreachable(&'static str),
    /// Another supervisor listens, whispers or barged in already.
    #[error("another supervisor is on this call")]
    OtherSupervisor,
    /// The supervisor's own extension cannot be rung.
    #[error("your extension cannot be rung: {0}")]
    SupervisorUnreachable(&'static str),
    /// The supervisor's own seat rings for or is on another call.
    #[error("your seat is busy with another call")]
    SupervisorBusy,
    /// The relay could not open the supervisor's media.
    #[error("the call's media could not take the supervisor in")]
    NoMedia,
    /// Stop monitoring by a supervisor that is not on the call.
    #[error("you are not on this call")]
    NotMonitoring,
}

/// Where the answer to a control goes.
pub type ControlReply = oneshot::Sender<Result<(), ControlRefused>>;

/// Why `cause` keeps a leg from being rung, in words.
pub(crate) fn unreachable_because(cause: &Cause) -> &'static str {
    match cause {
        Cause::Unavailable => "it is not registered",
        Cause::OutboundNotAllowed => "the extension may not dial out",
        Cause::NoCallerId => "the enterprise has no licensed caller-ID number",
        Cause::NoRoute => "no route to that number",
        _ => "it cannot be rung",
    }
}

/// An action on a live call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The agent hangs up (or a supervisor forces the call down).
    HangUp {
        /// The supervisor forcing it, rather than the agent.
        by_supervisor: Option<Uuid>,
    },
    /// A supervisor replaces the agent: its own extension rings and the agent leaves.
    TakeOver {
        /// The supervisor's sub-account.
        supervisor: Uuid,
        /// Its extension.
        extension: Uuid,
    },
    /// A supervisor answers a waiting caller on its own extension (its seat's offer is
    /// decided already; this records the action).
    AnswerWaiting {
        /// The supervisor's sub-account.
        supervisor: Uuid,
    },
    /// The agent holds the customer, who hears music.
    Hold,
    /// The agent takes the customer back.
    Resume,
    /// The agent transfers the customer and leaves the call.
    Transfer(TransferTarget),
    /// A supervisor listens, whispers to the agent or barges in, on its own extension (rung
    /// the first time), or switches between the three.
    Monitor {
        /// The supervisor's sub-account.
        supervisor: Uuid,
        /// Its extension.
        extension: Uuid,
        /// How it takes part.
        mode: MonitorMode,
    },
    /// The supervisor leaves the call it monitors.
    StopMonitoring {
        /// The supervisor's sub-account.
        supervisor: Uuid,
    },
}

/// Why a click-to-dial call was not placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialOutError {
    /// Not a phone number.
    #[error("not a phone number")]
    BadNumber,
    /// The call was refused (the extension may not dial out) or cannot be placed.
    #[error("the call cannot be placed: {0:?}")]
    Refused(Cause),
    /// SIP is not running on this node.
    #[error("SIP is not running")]
    NoSip,
    /// The agent rings for or is on another call.
    #[error("the agent is busy")]
    Busy,
}
