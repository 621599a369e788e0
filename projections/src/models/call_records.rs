//! Read model `call_records` (通话记录, manual §2.6): one record per call, built from the call's
//! events — inbound, outbound and internal calls, missed calls (offered to an extension, never
//! answered) and refusals at the door, with the columns of the manual.

use chrono::{DateTime, Utc};
use domain::call::{Call, CallEvent, Cause, Direction, LegState, Party, Side};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::models::decode;
use crate::tables::{Cell, Rows, TableProjection, TableSpec};

/// The `call_records` table: one row per call, with the columns its screens filter on.
pub const CALL_RECORDS_TABLE: TableSpec = TableSpec {
    table: "call_records",
    rebuild: "call_records_rebuild",
    columns: &[
        "started_us",
        "direction",
        "status",
        "caller",
        "called",
        "extension",
        "route_id",
        "queue_id",
        "recorded",
    ],
};

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Still up.
    InProgress,
    /// Ended after an extension or the callee answered.
    Answered,
    /// Ended without answer after being offered to an extension (未接来电).
    Missed,
    /// Ended without answer, offered to nobody (e.g. the caller hung up first).
    Unanswered,
    /// Refused at the door (paused route, over the limit, no route, outbound not allowed).
    Refused,
}

/// One call record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecordDoc {
    /// The call.
    pub id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// Direction.
    pub direction: Direction,
    /// Inbound route (路由).
    pub route_id: Option<Uuid>,
    /// Calling number or extension (号码 for inbound).
    pub caller: String,
    /// Called number or extension.
    pub called: String,
    /// Caller ID used on the outside leg (outbound).
    pub caller_id: String,
    /// Time in (呼入时间) or dial time.
    pub started_at: DateTime<Utc>,
    /// First answer by the callee side.
    pub answered_at: Option<DateTime<Utc>>,
    /// End.
    pub ended_at: Option<DateTime<Utc>>,
    /// Handling extension number (处理分机).
    pub extension: Option<String>,
    /// The extension's id.
    pub extension_id: Option<Uuid>,
    /// Who hung up first (挂机位置).
    pub hangup_side: Option<Side>,
    /// Why it ended or was refused.
    pub cause: Option<Cause>,
    /// Status.
    pub status: CallStatus,
    /// Remarks (备注): transfers, forwards.
    pub remarks: Vec<String>,
    /// Recording file under the data directory.
    pub recording: Option<String>,
    /// Recording length in milliseconds.
    pub recording_ms: Option<u64>,
    /// Legs offered to extensions, for the missed-call rule.
    pub offered_to_extension: bool,
    /// Leg states by name.
    pub legs: Vec<(String, LegState)>,
    /// The IVR flow the call went through.
    #[serde(default)]
    pub ivr_flow_id: Option<Uuid>,
    /// The voicemail the caller left, relative to the data directory.
    #[serde(default)]
    pub voicemail: Option<String>,
    /// The queue the caller waited in.
    #[serde(default)]
    pub queue_id: Option<Uuid>,
    /// The IVR variables the call's flow set, last value each (for the agent's screen pop).
    #[serde(default)]
    pub ivr_variables: std::collections::BTreeMap<String, String>,
}

impl CallRecordDoc {
    /// Duration in seconds: inbound and internal calls from entry, outbound calls from answer
    /// (the manual's two definitions); 0 while in progress.
    pub fn duration_seconds(&self) -> i64 {
        let Some(end) = self.ended_at else { return 0 };
        let from = match self.direction {
            Direction::Outbound => match self.answered_at {
                Some(answered) => answered,
                None => return 0,
            },
            Direction::Inbound | Direction::Internal => self.started_at,
        };
        (end - from).num_seconds().max(0)
    }
}

fn party_text(party: &Party) -> String {
    match party {
        Party::External { number } => number.clone(),
        Party::Extension { number, .. } => number.clone(),
    }
}

fn set_leg(doc: &mut CallRecordDoc, leg: &str, state: LegState) {
    match doc.legs.iter_mut().find(|(name, _)| name == leg) {
        Some(entry) => entry.1 = state,
        None => doc.legs.push((leg.to_owned(), state)),
    }
}

/// A new record: in progress, or refused at the door when `refused` names the cause.
#[allow(clippy::too_many_arguments)]
fn opened(
    id: Uuid,
    enterprise_id: Uuid,
    direction: Direction,
    caller: &Party,
    called: String,
    route_id: Option<Uuid>,
    at: DateTime<Utc>,
    refused: Option<Cause>,
) -> CallRecordDoc {
    let (extension, extension_id) = match caller {
        Party::Extension {
            extension_id,
            number,
        } => (Some(number.clone()), Some(*extension_id)),
        Party::External { .. } => (None, None),
    };
    let is_refused = refused.is_some();
    CallRecordDoc {
        id,
        enterprise_id,
        direction,
        route_id,
        caller: party_text(caller),
        called,
        caller_id: String::new(),
        started_at: at,
        answered_at: None,
        ended_at: is_refused.then_some(at),
        extension,
        extension_id,
        hangup_side: is_refused.then_some(Side::System),
        cause: refused,
        status: if is_refused {
            CallStatus::Refused
        } else {
            CallStatus::InProgress
        },
        remarks: Vec::new(),
        recording: None,
        recording_ms: None,
        offered_to_extension: false,
        legs: if is_refused {
            Vec::new()
        } else {
            vec![("a".into(), LegState::Offered)]
        },
        ivr_flow_id: None,
        voicemail: None,
        queue_id: None,
        ivr_variables: std::collections::BTreeMap::new(),
    }
}

/// The text a status or direction is stored and shown as (`in_progress`, `inbound`…).
pub fn snake<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// What one call event does to the call's record.
pub(crate) enum Change {
    /// The record starts (or starts over).
    Open(Box<CallRecordDoc>),
    /// The record changes, when it exists.
    Update(Box<dyn FnOnce(&mut CallRecordDoc) + Send>),
    /// Nothing.
    Keep,
}

impl Change {
    fn update(change: impl FnOnce(&mut CallRecordDoc) + Send + 'static) -> Self {
        Self::Update(Box::new(change))
    }
}

/// The projection of call records, kept in the `call_records` table.
pub struct CallRecords;

impl TableProjection for CallRecords {
    type Row = CallRecordDoc;

    fn name(&self) -> &'static str {
        CALL_RECORDS_TABLE.table
    }

    fn spec(&self) -> &'static TableSpec {
        &CALL_RECORDS_TABLE
    }

    fn reads(&self, event: &RecordedEvent, keys: &mut Vec<String>) {
        if event.stream_type == <Call as esrs::Aggregate>::NAME {
            keys.push(event.stream_id.to_string());
        }
    }

    fn apply(
        &self,
        event: &RecordedEvent,
        rows: &mut Rows<CallRecordDoc>,
    ) -> Result<(), ProjectionError> {
        match change(event)? {
            Change::Open(record) => rows.put(
                event.stream_id.to_string(),
                Some(record.enterprise_id),
                *record,
            ),
            Change::Update(change) => {
                if let Some(record) = rows.get_mut(&event.stream_id.to_string()) {
                    change(record);
                }
            }
            Change::Keep => {}
        }
        Ok(())
    }

    fn columns(&self, r: &CallRecordDoc) -> Vec<Cell> {
        vec![
            Cell::Int(Some(r.started_at.timestamp_micros())),
            Cell::Text(Some(snake(&r.direction))),
            Cell::Text(Some(snake(&r.status))),
            Cell::Text(Some(r.caller.clone())),
            Cell::Text(Some(r.called.clone())),
            Cell::Text(r.extension.clone()),
            Cell::Text(r.route_id.map(|id| id.to_string())),
            Cell::Text(r.queue_id.map(|id| id.to_string())),
            Cell::Bool(r.recording.is_some()),
        ]
    }
}

/// What `event` does to its call's record.
pub(crate) fn change(event: &RecordedEvent) -> Result<Change, ProjectionError> {
    let Some(e) = decode::<Call>(event)? else {
        return Ok(Change::Keep);
    };
    let id = event.stream_id;
    Ok(match e {
        CallEvent::CallOffered {
            enterprise_id,
            direction,
            caller,
            called,
            route_id,
            at,
        } => {
            let doc = opened(
                id,
                enterprise_id,
                direction,
                &caller,
                called,
                route_id,
                at,
                None,
            );
            Change::Open(Box::new(doc))
        }
        CallEvent::CallRefused {
            enterprise_id,
            direction,
            caller,
            called,
            route_id,
            cause,
            at,
        } => {
            let doc = opened(
                id,
                enterprise_id,
                direction,
                &caller,
                called,
                route_id,
                at,
                Some(cause),
            );
            Change::Open(Box::new(doc))
        }
        CallEvent::LegOffered {
            leg,
            party,
            caller_id,
            forwarded,
            ..
        } => Change::update(move |d: &mut CallRecordDoc| {
            set_leg(d, &leg, LegState::Offered);
            if let Party::Extension {
                extension_id,
                number,
            } = &party
            {
                d.offered_to_extension = true;
                if d.direction != Direction::Outbound {
                    d.extension = Some(number.clone());
                    d.extension_id = Some(*extension_id);
                }
            }
            if !caller_id.is_empty() && d.caller_id.is_empty() {
                d.caller_id = caller_id;
            }
            if forwarded {
                d.remarks
                    .push(format!("forwarded to {}", party_text(&party)));
            }
        }),
        CallEvent::LegRinging { leg, .. } => {
            Change::update(move |d: &mut CallRecordDoc| set_leg(d, &leg, LegState::Ringing))
        }
        CallEvent::LegAnswered { leg, at } => Change::update(move |d: &mut CallRecordDoc| {
            set_leg(d, &leg, LegState::Answered);
            if leg != "a" && d.answered_at.is_none() {
                d.answered_at = Some(at);
            }
        }),
        CallEvent::CallTransferred { by_leg, target, .. } => {
            Change::update(move |d: &mut CallRecordDoc| {
                d.remarks
                    .push(format!("transferred by leg {by_leg} to {target}"))
            })
        }
        CallEvent::RecordingStarted { file, .. } => {
            Change::update(move |d: &mut CallRecordDoc| d.recording = Some(file))
        }
        CallEvent::RecordingStopped { duration_ms, .. } => {
            Change::update(move |d: &mut CallRecordDoc| d.recording_ms = duration_ms)
        }
        CallEvent::LegHungUp {
            leg, side, cause, ..
        } => Change::update(move |d: &mut CallRecordDoc| {
            set_leg(d, &leg, LegState::Ended);
            if d.hangup_side.is_none() {
                d.hangup_side = Some(side);
                d.cause = Some(cause);
            }
        }),
        CallEvent::CallEnded { cause, at } => Change::update(move |d: &mut CallRecordDoc| {
            d.ended_at = Some(at);
            if d.cause.is_none() {
                d.cause = Some(cause);
            }
            d.status = if d.answered_at.is_some() {
                CallStatus::Answered
            } else if d.offered_to_extension {
                CallStatus::Missed
            } else {
                CallStatus::Unanswered
            };
        }),
        CallEvent::IvrStarted { flow_id, .. } => {
            Change::update(move |d: &mut CallRecordDoc| d.ivr_flow_id = Some(flow_id))
        }
        CallEvent::QueueEntered { queue_id, .. } | CallEvent::QueueFull { queue_id, .. } => {
            Change::update(move |d: &mut CallRecordDoc| d.queue_id = Some(queue_id))
        }
        CallEvent::IvrVariableSet { name, value, .. } => {
            Change::update(move |d: &mut CallRecordDoc| {
                d.ivr_variables.insert(name, value);
            })
        }
        CallEvent::VoicemailStarted { file, .. } => {
            Change::update(move |d: &mut CallRecordDoc| d.voicemail = Some(file))
        }
        CallEvent::LegsBridged { .. }
        | CallEvent::DigitReceived { .. }
        | CallEvent::LegHeld { .. }
        | CallEvent::LegResumed { .. }
        | CallEvent::IvrNodeEntered { .. }
        | CallEvent::IvrBranchTaken { .. }
        | CallEvent::PromptFailed { .. }
        | CallEvent::AgentAnnounced { .. }
        | CallEvent::VoicemailRecorded { .. }
        | CallEvent::QueueLeft { .. } => Change::Keep,
        CallEvent::SupervisorActed { action, .. } => {
            Change::update(move |d: &mut CallRecordDoc| {
                d.remarks.push(format!(
                    "supervisor: {}",
                    match action {
                        domain::call::SupervisorAction::ForceHangUp => "forced hang-up",
                        domain::call::SupervisorAction::AnswerWaiting =>
                            "answered the waiting caller",
                        domain::call::SupervisorAction::TakeOver => "took over",
                        domain::call::SupervisorAction::Listen => "listened",
                        domain::call::SupervisorAction::Whisper => "whispered to the agent",
                        domain::call::SupervisorAction::Barge => "barged in",
                        domain::call::SupervisorAction::StopMonitoring => "left the call",
                    }
                ))
            })
        }
    })
}
