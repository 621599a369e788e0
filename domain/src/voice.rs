//! The voice library (语音库, manual §2.7): recordings an enterprise uploads for its IVR flows
//! and queues. An upload is pending until the platform operator approves or rejects it; only
//! approved recordings can be played. A recording a flow (or a queue) uses cannot be deleted.
//! The audio itself is a file under the data directory; the events hold its metadata.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validate::{optional_text, required_text, FieldError};

/// The recording aggregate.
pub struct Voice;

/// Where a recording is in its review.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Uploaded, not reviewed yet (待审核).
    #[default]
    Pending,
    /// Approved: flows may play it (审核通过).
    Approved,
    /// Rejected (审核不通过).
    Rejected,
}

/// What a recording is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VoiceState {
    /// Whether it exists.
    pub exists: bool,
    /// Its review.
    pub status: ReviewStatus,
}

/// Commands on a recording.
#[derive(Debug, Clone, PartialEq)]
pub enum VoiceCommand {
    /// Keeps an uploaded file, already checked and converted to 8 kHz mono.
    Upload {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Its name, unique in the enterprise.
        name: String,
        /// The file, relative to the data directory.
        file: String,
        /// Length in milliseconds.
        duration_ms: u64,
        /// Size of the kept file in bytes.
        size_bytes: u64,
        /// Whether another recording of the enterprise has this name (looked up).
        name_taken: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// The operator's review.
    Review {
        /// Approve, else reject.
        approve: bool,
        /// Why (for a rejection).
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deletes it.
    Delete {
        /// The flows and queues that play it (looked up).
        used_by: Vec<String>,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Facts about a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum VoiceEvent {
    /// Uploaded, pending review.
    VoiceUploaded {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Name.
        name: String,
        /// File, relative to the data directory.
        file: String,
        /// Length in milliseconds.
        duration_ms: u64,
        /// Size in bytes.
        size_bytes: u64,
        /// When.
        at: DateTime<Utc>,
    },
    /// Approved.
    VoiceApproved {
        /// When.
        at: DateTime<Utc>,
    },
    /// Rejected.
    VoiceRejected {
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deleted.
    VoiceDeleted {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a recording command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoiceError {
    /// It exists.
    #[error("the recording already exists")]
    AlreadyExists,
    /// No such recording.
    #[error("recording not found")]
    NotFound,
    /// Another recording has this name.
    #[error("a recording with this name already exists")]
    NameTaken,
    /// Flows or queues play it.
    #[error("the recording is used by {}", .0.join(", "))]
    InUse(Vec<String>),
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

impl esrs::Aggregate for Voice {
    const NAME: &'static str = "voice";
    type State = VoiceState;
    type Command = VoiceCommand;
    type Event = VoiceEvent;
    type Error = VoiceError;

    fn handle_command(
        state: &VoiceState,
        command: VoiceCommand,
    ) -> Result<Vec<VoiceEvent>, VoiceError> {
        match command {
            VoiceCommand::Upload {
                enterprise_id,
                name,
                file,
                duration_ms,
                size_bytes,
                name_taken,
                at,
            } => {
                if state.exists {
                    return Err(VoiceError::AlreadyExists);
                }
                let name = required_text("name", &name, 64)?;
                if name_taken {
                    return Err(VoiceError::NameTaken);
                }
                Ok(vec![VoiceEvent::VoiceUploaded {
                    enterprise_id,
                    name,
                    file,
                    duration_ms,
                    size_bytes,
                    at,
                }])
            }
            VoiceCommand::Review {
                approve,
                reason,
                at,
            } => {
                if !state.exists {
                    return Err(VoiceError::NotFound);
                }
                let reason = optional_text("reason", &reason, 200)?;
                Ok(match (approve, state.status) {
                    (true, ReviewStatus::Approved) => vec![],
                    (true, _) => vec![VoiceEvent::VoiceApproved { at }],
                    (false, _) => vec![VoiceEvent::VoiceRejected { reason, at }],
                })
            }
            VoiceCommand::Delete { used_by, at } => {
                if !state.exists {
                    return Err(VoiceError::NotFound);
                }
                if !used_by.is_empty() {
                    return Err(VoiceError::InUse(used_by));
                }
                Ok(vec![VoiceEvent::VoiceDeleted { at }])
            }
        }
    }

    fn apply_event(mut state: VoiceState, event: VoiceEvent) -> VoiceState {
        match event {
            VoiceEvent::VoiceUploaded { .. } => {
                state = VoiceState {
                    exists: true,
                    status: ReviewStatus::Pending,
                }
            }
            VoiceEvent::VoiceApproved { .. } => state.status = ReviewStatus::Approved,
            VoiceEvent::VoiceRejected { .. } => state.status = ReviewStatus::Rejected,
            VoiceEvent::VoiceDeleted { .. } => state = VoiceState::default(),
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    fn uploaded() -> VoiceEvent {
        VoiceEvent::VoiceUploaded {
            enterprise_id: Uuid::from_u128(1),
            name: "欢迎语".into(),
            file: "voices/1/2.wav".into(),
            duration_ms: 2_500,
            size_bytes: 40_044,
            at: at(),
        }
    }

    #[test]
    fn an_upload_is_pending_then_reviewed() {
        given::<Voice>(vec![])
            .when(VoiceCommand::Upload {
                enterprise_id: Uuid::from_u128(1),
                name: " 欢迎语 ".into(),
                file: "voices/1/2.wav".into(),
                duration_ms: 2_500,
                size_bytes: 40_044,
                name_taken: false,
                at: at(),
            })
            .then(vec![uploaded()]);
        given::<Voice>(vec![uploaded()])
            .when(VoiceCommand::Review {
                approve: true,
                reason: String::new(),
                at: at(),
            })
            .then(vec![VoiceEvent::VoiceApproved { at: at() }]);
        given::<Voice>(vec![uploaded(), VoiceEvent::VoiceApproved { at: at() }])
            .when(VoiceCommand::Review {
                approve: true,
                reason: String::new(),
                at: at(),
            })
            .then(vec![]);
        given::<Voice>(vec![uploaded()])
            .when(VoiceCommand::Review {
                approve: false,
                reason: "噪音太大".into(),
                at: at(),
            })
            .then(vec![VoiceEvent::VoiceRejected {
                reason: "噪音太大".into(),
                at: at(),
            }]);
    }

    #[test]
    fn a_duplicate_name_and_a_used_recording_are_refused() {
        given::<Voice>(vec![])
            .when(VoiceCommand::Upload {
                enterprise_id: Uuid::from_u128(1),
                name: "欢迎语".into(),
                file: "voices/1/3.wav".into(),
                duration_ms: 1,
                size_bytes: 1,
                name_taken: true,
                at: at(),
            })
            .then_err(VoiceError::NameTaken);
        given::<Voice>(vec![uploaded()])
            .when(VoiceCommand::Delete {
                used_by: vec!["flow 总机导航".into()],
                at: at(),
            })
            .then_err(VoiceError::InUse(vec!["flow 总机导航".into()]));
        given::<Voice>(vec![uploaded()])
            .when(VoiceCommand::Delete {
                used_by: vec![],
                at: at(),
            })
            .then(vec![VoiceEvent::VoiceDeleted { at: at() }]);
    }
}
