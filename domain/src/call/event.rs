//! The events of a call, stored as JSON (`#[serde(tag = "type")]`, the variant name is the
//! stored `event_type`): a contract, checked against the golden file.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::parties::{Cause, Direction, Party, QueueOutcome, Side, SupervisorAction};

/// Facts about a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CallEvent {
    /// The call arrived (leg `a`).
    CallOffered {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Direction.
        direction: Direction,
        /// Calling party.
        caller: Party,
        /// Dialled number or extension.
        called: String,
        /// The inbound route.
        route_id: Option<Uuid>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The call was refused at the door.
    CallRefused {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Direction.
        direction: Direction,
        /// Calling party.
        caller: Party,
        /// Dialled number or extension.
        called: String,
        /// The inbound route.
        route_id: Option<Uuid>,
        /// Why.
        cause: Cause,
        /// When.
        at: DateTime<Utc>,
    },
    /// A new leg was offered.
    LegOffered {
        /// Leg name.
        leg: String,
        /// Who it reaches.
        party: Party,
        /// Caller ID presented.
        caller_id: String,
        /// A forward to the bound number.
        forwarded: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg rang.
    LegRinging {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg answered.
    LegAnswered {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Two legs were bridged.
    LegsBridged {
        /// One leg.
        leg: String,
        /// The other.
        other: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg went on hold.
    LegHeld {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg resumed.
    LegResumed {
        /// The leg.
        leg: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The call was transferred.
    CallTransferred {
        /// Who transferred.
        by_leg: String,
        /// Target.
        target: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A key was pressed on a leg.
    DigitReceived {
        /// The leg.
        leg: String,
        /// The key.
        key: char,
        /// When.
        at: DateTime<Utc>,
    },
    /// Recording started.
    RecordingStarted {
        /// File.
        file: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Recording stopped.
    RecordingStopped {
        /// File.
        file: String,
        /// Length in milliseconds (`None` when the call ended without the recorder saying).
        duration_ms: Option<u64>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The call entered an IVR flow.
    IvrStarted {
        /// The flow.
        flow_id: Uuid,
        /// The version the call runs.
        version: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// The call entered a node of its flow.
    IvrNodeEntered {
        /// The node's key.
        node: String,
        /// Its type.
        node_type: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A variable of the flow got a value.
    IvrVariableSet {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A node decided where the call goes.
    IvrBranchTaken {
        /// The node's key.
        node: String,
        /// What decided it (`key 1`, `timeout`, `rule 2`, `otherwise`, `success`…).
        branch: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A prompt could not be played (TTS unavailable, a recording's file missing).
    PromptFailed {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller was told the number of the agent it is connected to (接通报工号).
    AgentAnnounced {
        /// The agent's extension number.
        number: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller's voicemail is being recorded.
    VoicemailStarted {
        /// The call's enterprise.
        enterprise_id: Uuid,
        /// Who leaves it.
        caller: String,
        /// The number called.
        called: String,
        /// The inbound route.
        route_id: Option<Uuid>,
        /// File, relative to the data directory.
        file: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The voicemail ended.
    VoicemailRecorded {
        /// File.
        file: String,
        /// Length in milliseconds (`None` when the call ended without the recorder saying).
        duration_ms: Option<u64>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller entered a queue.
    QueueEntered {
        /// The queue.
        queue_id: Uuid,
        /// The caller's number.
        caller: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The queue was full: the caller did not enter it.
    QueueFull {
        /// The queue.
        queue_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The caller left its queue.
    QueueLeft {
        /// The queue.
        queue_id: Uuid,
        /// How.
        outcome: QueueOutcome,
        /// The extension that answered.
        agent: Option<Uuid>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A supervisor acted on the call.
    SupervisorActed {
        /// The supervisor's sub-account.
        supervisor: Uuid,
        /// What it did.
        action: SupervisorAction,
        /// When.
        at: DateTime<Utc>,
    },
    /// A leg ended.
    LegHungUp {
        /// The leg.
        leg: String,
        /// Side.
        side: Side,
        /// Cause.
        cause: Cause,
        /// When.
        at: DateTime<Utc>,
    },
    /// Every leg has ended.
    CallEnded {
        /// Cause of the leg that ended the call.
        cause: Cause,
        /// When.
        at: DateTime<Utc>,
    },
}
