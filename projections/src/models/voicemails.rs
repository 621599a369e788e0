//! Read model `voicemails`: the voicemail box (留言箱, manual §2.6.4), one document per message
//! left in an IVR voicemail node: number, route, time, duration and recording.

use chrono::{DateTime, Utc};
use domain::call::{Call, CallEvent};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `voicemails` read model, whose documents are each a voicemail.
pub const VOICEMAILS: crate::handle::Model<VoicemailDoc> =
    crate::handle::Model::new("voicemails", "voicemail");

/// A voicemail message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoicemailDoc {
    /// The call it was left in.
    pub call_id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// Who left it (号码).
    pub caller: String,
    /// The number called.
    pub called: String,
    /// The inbound route (路由).
    pub route_id: Option<Uuid>,
    /// When recording began (时间).
    pub started_at: DateTime<Utc>,
    /// Length in milliseconds (时长), once it ended.
    pub duration_ms: Option<u64>,
    /// Whether it has ended.
    pub ended: bool,
    /// The recording, relative to the data directory.
    pub file: String,
}

/// The projection.
pub struct Voicemails;

impl Projection for Voicemails {
    fn name(&self) -> &'static str {
        VOICEMAILS.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Call>(event)? else {
            return Ok(());
        };
        let key = event.stream_id.to_string();
        match e {
            CallEvent::VoicemailStarted {
                enterprise_id,
                caller,
                called,
                route_id,
                file,
                at,
            } => {
                let doc = VoicemailDoc {
                    call_id: event.stream_id,
                    enterprise_id,
                    caller,
                    called,
                    route_id,
                    started_at: at,
                    duration_ms: None,
                    ended: false,
                    file,
                };
                docs.put(key, Some(enterprise_id), &doc);
            }
            CallEvent::VoicemailRecorded { duration_ms, .. } => {
                docs.update(&key, |d: &mut VoicemailDoc| {
                    d.duration_ms = duration_ms;
                    d.ended = true;
                })
            }
            _ => {}
        }
        Ok(())
    }
}
