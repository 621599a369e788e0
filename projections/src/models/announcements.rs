//! Read model `announcements`: one document per announcement.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use domain::announcement::{Announcement, AnnouncementEvent};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::models::decode;
use crate::{docs::Docs, error::ProjectionError, projection::Projection};

/// The `announcements` read model, whose documents are each a announcement.
pub const ANNOUNCEMENTS: crate::handle::Model<AnnouncementDoc> =
    crate::handle::Model::new("announcements", "announcement");

/// An announcement as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnouncementDoc {
    /// Id.
    pub id: Uuid,
    /// Its enterprise.
    pub enterprise_id: Uuid,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Target sub-accounts.
    pub targets: BTreeSet<Uuid>,
    /// Published (发布时间).
    pub published_at: DateTime<Utc>,
    /// Last edited.
    pub edited_at: Option<DateTime<Utc>>,
}

/// The projection.
pub struct Announcements;

impl Projection for Announcements {
    fn name(&self) -> &'static str {
        ANNOUNCEMENTS.name()
    }

    fn apply(&self, event: &RecordedEvent, docs: &mut Docs<'_>) -> Result<(), ProjectionError> {
        let Some(e) = decode::<Announcement>(event)? else {
            return Ok(());
        };
        let id = event.stream_id;
        let key = id.to_string();
        match e {
            AnnouncementEvent::AnnouncementPublished {
                enterprise_id,
                content,
                at,
            } => {
                let doc = AnnouncementDoc {
                    id,
                    enterprise_id,
                    title: content.title,
                    body: content.body,
                    targets: content.targets,
                    published_at: at,
                    edited_at: None,
                };
                docs.put(key, Some(enterprise_id), &doc);
            }
            AnnouncementEvent::AnnouncementEdited { content, at } => {
                docs.update(&key, |d: &mut AnnouncementDoc| {
                    d.title = content.title;
                    d.body = content.body;
                    d.targets = content.targets;
                    d.edited_at = Some(at);
                })
            }
            AnnouncementEvent::AnnouncementDeleted { .. } => docs.remove(&key),
        }
        Ok(())
    }
}
