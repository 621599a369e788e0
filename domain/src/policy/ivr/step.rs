//! What goes in and out of one step of a flow: the facts the flow knows of the call, the
//! inputs that step it, the facts a step records and the actions it asks the call runtime for.

use uuid::Uuid;

use crate::ivr::HttpMethod;

/// What the flow knows of the call from its start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallFacts {
    /// The caller's number as it is read out (national form).
    pub caller_number: String,
    /// The number called, likewise.
    pub called_number: String,
    /// The caller's region (`广东省深圳市`), when the number is known.
    pub caller_region: Option<String>,
}

/// Something the call runtime reports to the flow.
#[derive(Debug, Clone, PartialEq)]
pub enum IvrInput {
    /// Everything asked to play has been played.
    PlaybackFinished,
    /// The caller pressed a key.
    Digit(char),
    /// The timer of the last [`IvrAction::StartTimer`] ran out.
    Timeout,
    /// The HTTP request was answered (`body` when it was JSON).
    HttpAnswered {
        /// Status code.
        status: u16,
        /// The body, parsed.
        body: Option<serde_json::Value>,
    },
    /// The HTTP request failed (no answer in time, connection refused…).
    HttpFailed {
        /// Why, for the record.
        reason: String,
    },
    /// The transfer's target answered: the flow is done.
    TransferConnected,
    /// The transfer failed.
    TransferFailed {
        /// Why, for the record.
        reason: String,
    },
}

/// A fact of a step, recorded as an event of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvrFact {
    /// The call entered a node.
    NodeEntered {
        /// Its key.
        node: String,
        /// Its type.
        node_type: String,
    },
    /// A variable got a value.
    VariableSet {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
    },
    /// A node decided where the call goes.
    BranchTaken {
        /// The node.
        node: String,
        /// What decided it (`key 1`, `timeout`, `rule 2`, `otherwise`, `success`…).
        branch: String,
    },
}

/// Something to say: a recording, or a text for TTS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Utterance {
    /// A recording of the voice library.
    Recording {
        /// The recording.
        voice_id: Uuid,
    },
    /// A text for TTS, with digits already spaced when they are read one by one.
    Speech {
        /// The text.
        text: String,
    },
}

/// The flow's target of a transfer, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTo {
    /// An extension by id.
    Extension(Uuid),
    /// An extension by number (a variable's value).
    ExtensionNumber(String),
    /// A queue.
    Queue(Uuid),
}

/// What the call runtime does after the step's facts are committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvrAction {
    /// Plays to the caller, stopping what played before; reports
    /// [`IvrInput::PlaybackFinished`] at the end unless it is `background` (played under a
    /// transfer, looping until stopped).
    Play {
        /// What to say, in order.
        items: Vec<Utterance>,
        /// Whether a key press stops it.
        interruptible: bool,
        /// Whether it is music under a transfer (no finish is reported).
        background: bool,
    },
    /// Stops what plays.
    StopPlayback,
    /// Reports [`IvrInput::Timeout`] after this long, replacing the previous timer.
    StartTimer {
        /// Seconds.
        seconds: u32,
    },
    /// Sends an HTTP request; reports [`IvrInput::HttpAnswered`] or [`IvrInput::HttpFailed`].
    Http {
        /// Method.
        method: HttpMethod,
        /// URL, with the variables filled in.
        url: String,
        /// Body, with the variables filled in (POST).
        body: String,
        /// Longest wait.
        timeout_ms: u32,
    },
    /// Transfers the call; reports [`IvrInput::TransferConnected`] or
    /// [`IvrInput::TransferFailed`].
    Transfer(TransferTo),
    /// Records the caller until they hang up (or the timer of the same step runs out).
    RecordVoicemail {
        /// Longest message.
        max_seconds: u32,
    },
    /// Releases the call.
    Hangup,
}

/// What one step produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IvrStep {
    /// Facts to record.
    pub facts: Vec<IvrFact>,
    /// Actions to carry out after the facts are committed.
    pub actions: Vec<IvrAction>,
}
