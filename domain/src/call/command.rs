//! The commands on a call: the offer, each leg's progress, the bridge and the recording, holds,
//! transfers, keys, IVR facts, queueing, voicemail, supervision and the hang-ups.

use chrono::{DateTime, Utc};

use uuid::Uuid;

use super::parties::{Cause, Direction, Party, QueueOutcome, RouteCheck, Side, SupervisorAction};
use crate::policy::ivr::IvrFact;

/// Commands on a call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallCommand {
    /// A call arrives: leg `a` from `caller` to `called`.
    Offer {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Direction.
        direction: Direction,
        /// The calling party.
        caller: Party,
        /// The number or extension dialled.
        called: String,
        /// For inbound calls, the route and its state now.
        route: Option<RouteCheck>,
        /// For calls from an extension: whether it may dial out manually (looked up).
        outbound_allowed: bool,
        /// Whether the call's first leg leaves through a trunk although an extension was
        /// dialled (the extension is forwarded to its bound number): placed by an extension,
        /// it then needs `outbound_allowed` like an outbound call.
        forwarded_out: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// Offers a new leg to `party`.
    AddLeg {
        /// Leg name (`b`, `c`…).
        leg: String,
        /// Who it reaches.
        party: Party,
        /// Caller ID presented.
        caller_id: String,
        /// Whether this is a forward to the extension's bound number.
        forwarded: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg rings.
    Ringing {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg answers.
    Answer {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Media of two answered legs is joined.
    Bridge {
        /// One leg.
        leg: String,
        /// The other.
        other: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg goes on hold (sendonly/inactive re-INVITE, or an agent's hold).
    Hold {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A held leg resumes.
    Resume {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The call is transferred (blind) to `target`.
    Transfer {
        /// Who transfers.
        by_leg: String,
        /// Target (extension, number, queue, IVR) as text.
        target: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A key was pressed on a leg (RFC 4733).
    Digit {
        /// The leg.
        leg: String,
        /// The key: `0`–`9`, `*`, `#`, `A`–`D`.
        key: char,
        /// When.
        at: DateTime<Utc>,
    },
    /// Recording of the bridged part starts into `file`.
    StartRecording {
        /// Relative path under the data directory.
        file: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Recording stops.
    StopRecording {
        /// Recorded length in milliseconds.
        duration_ms: u64,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg ends.
    Hangup {
        /// The leg.
        leg: String,
        /// Which side ended it.
        side: Side,
        /// Why.
        cause: Cause,
        /// When.
        at: DateTime<Utc>,
    },
    /// The call enters an IVR flow at one of its versions.
    EnterIvr {
        /// The flow.
        flow_id: Uuid,
        /// The version it runs.
        version: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// Records what a step of the call's IVR run decided.
    Ivr {
        /// The step's facts, in order.
        facts: Vec<IvrFact>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A prompt could not be played.
    PromptFailed {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The agent's number is read to the caller as they are connected (接通报工号).
    AnnounceAgent {
        /// The agent's extension number.
        number: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller's voicemail starts being recorded into `file`.
    StartVoicemail {
        /// The call's enterprise.
        enterprise_id: Uuid,
        /// Who left it (E.164 or extension number).
        caller: String,
        /// The number called.
        called: String,
        /// The inbound route.
        route_id: Option<Uuid>,
        /// Relative path under the data directory.
        file: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The voicemail ends.
    StopVoicemail {
        /// Recorded length in milliseconds.
        duration_ms: u64,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller enters a queue, unless it holds as many callers as it allows.
    EnterQueue {
        /// The queue.
        queue_id: Uuid,
        /// The caller's number, as the queue's board shows it.
        caller: String,
        /// Callers waiting in it now (looked up in the node's hot state).
        waiting: u32,
        /// Its limit (最大等待数).
        max_waiting: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller leaves its queue.
    LeaveQueue {
        /// How.
        outcome: QueueOutcome,
        /// The extension that answered (`Answered`).
        agent: Option<Uuid>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A supervisor acts on the call.
    Supervise {
        /// The supervisor's sub-account.
        supervisor: Uuid,
        /// What it does.
        action: SupervisorAction,
        /// When.
        at: DateTime<Utc>,
    },
    /// After a restart: end whatever is still up.
    CloseAfterRestart {
        /// When.
        at: DateTime<Utc>,
    },
}
