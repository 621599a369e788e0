//! Read model `voices`: the voice library (语音库), one document per recording with its
//! review status.

use chrono::{DateTime, Utc};
use domain::voice::{ReviewStatus, Voice, VoiceEvent};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `voices` read model, whose documents are each a recording.
pub const VOICES: crate::handle::Model<VoiceDoc> = crate::handle::Model::new("voices", "recording");

/// A recording of the voice library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceDoc {
    /// Id.
    pub id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// Name.
    pub name: String,
    /// File, relative to the data directory (8 kHz mono WAV).
    pub file: String,
    /// Length in milliseconds.
    pub duration_ms: u64,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Review status.
    pub status: ReviewStatus,
    /// Why it was rejected.
    pub reject_reason: String,
    /// Uploaded.
    pub uploaded_at: DateTime<Utc>,
    /// Reviewed.
    pub reviewed_at: Option<DateTime<Utc>>,
}

/// The projection.
pub struct Voices;

impl Projection for Voices {
    fn name(&self) -> &'static str {
        VOICES.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Voice>(event)? else {
            return Ok(());
        };
        let id = event.stream_id;
        let key = id.to_string();
        match e {
            VoiceEvent::VoiceUploaded {
                enterprise_id,
                name,
                file,
                duration_ms,
                size_bytes,
                at,
            } => {
                let doc = VoiceDoc {
                    id,
                    enterprise_id,
                    name,
                    file,
                    duration_ms,
                    size_bytes,
                    status: ReviewStatus::Pending,
                    reject_reason: String::new(),
                    uploaded_at: at,
                    reviewed_at: None,
                };
                docs.put(key, Some(enterprise_id), &doc);
            }
            VoiceEvent::VoiceApproved { at } => docs.update(&key, |d: &mut VoiceDoc| {
                d.status = ReviewStatus::Approved;
                d.reject_reason.clear();
                d.reviewed_at = Some(at);
            }),
            VoiceEvent::VoiceRejected { reason, at } => docs.update(&key, |d: &mut VoiceDoc| {
                d.status = ReviewStatus::Rejected;
                d.reject_reason = reason;
                d.reviewed_at = Some(at);
            }),
            VoiceEvent::VoiceDeleted { .. } => docs.remove(&key),
        }
        Ok(())
    }
}
