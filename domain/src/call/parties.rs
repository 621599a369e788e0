//! What a call's commands and events speak of: its direction, its parties, a leg's state, the
//! side and cause of a hang-up, a queue's outcome, a supervisor's action, and the route check
//! made at the door.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which way a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From a trunk (a DID) into the enterprise.
    Inbound,
    /// Extension to extension.
    Internal,
    /// From an extension out through a trunk.
    Outbound,
}

/// Who a leg reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Party {
    /// A number outside (E.164).
    External {
        /// The number.
        number: String,
    },
    /// An extension of the enterprise.
    Extension {
        /// The extension.
        extension_id: Uuid,
        /// Its number.
        number: String,
    },
}

/// Why a call or a leg ended, or was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A party hung up after answer.
    Normal,
    /// The callee was busy (486).
    Busy,
    /// Nobody answered in time.
    NoAnswer,
    /// The caller gave up before answer (CANCEL).
    Cancelled,
    /// The callee refused with this SIP status.
    Rejected(u16),
    /// The callee is not registered (and not forwarded).
    Unavailable,
    /// The route is paused.
    RoutePaused,
    /// The route has as many calls as it allows.
    RouteLimitReached,
    /// No route for the number called.
    NoRoute,
    /// The extension may not dial out manually.
    OutboundNotAllowed,
    /// The enterprise has no licensed caller-ID number to dial out with.
    NoCallerId,
    /// Media or signalling stopped (no RTP, session timer).
    MediaTimeout,
    /// The node restarted while the call was up.
    NodeRestart,
}

/// How a caller left a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueOutcome {
    /// An agent answered.
    Answered,
    /// The caller hung up while waiting (abandoned).
    Abandoned,
    /// The queue timeout ran out.
    Timeout,
}

/// What a supervisor does to a call (班长功能).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisorAction {
    /// Forces it down (强拆).
    ForceHangUp,
    /// Answers a waiting caller on the supervisor's own extension.
    AnswerWaiting,
    /// Replaces the agent (抢线).
    TakeOver,
    /// Listens to both sides unheard (监听); the supervisor's own phone rings.
    Listen,
    /// Speaks to the agent only (密语).
    Whisper,
    /// Joins the call three-way (强插).
    Barge,
    /// Leaves the call it listened to, whispered into or barged into.
    StopMonitoring,
}

/// Which side ended a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The caller's side.
    Caller,
    /// The callee's side.
    Callee,
    /// callcore itself (timeouts, refusals, restarts, supervisors).
    System,
}

/// The state of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegState {
    /// Offered, no answer yet.
    Offered,
    /// Ringing.
    Ringing,
    /// Answered.
    Answered,
    /// Ended.
    Ended,
}

/// The route facts a call is decided on (looked up in the runtime's hot state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCheck {
    /// The route.
    pub route_id: Uuid,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Calls on it now.
    pub active_calls: u32,
    /// Its limit.
    pub max_concurrent: u32,
}
