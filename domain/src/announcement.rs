//! The announcement (公告): a notice to chosen sub-accounts, shown at the top of their
//! workstation and at login (manual §5.3).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validate::{required_text, FieldError};

/// The announcement aggregate.
pub struct Announcement;

/// What an announcement is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnnouncementState {
    /// Whether it exists.
    pub exists: bool,
}

/// Title, body and audience of an announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncementContent {
    /// Title (标题).
    pub title: String,
    /// Body (正文).
    pub body: String,
    /// Target sub-accounts (目的账号), at least one.
    pub targets: BTreeSet<Uuid>,
}

impl AnnouncementContent {
    fn validated(self) -> Result<Self, FieldError> {
        if self.targets.is_empty() {
            return Err(FieldError::new(
                "targets",
                "choose at least one sub-account",
            ));
        }
        Ok(Self {
            title: required_text("title", &self.title, 100)?,
            body: required_text("body", &self.body, 10_000)?,
            targets: self.targets,
        })
    }
}

/// Commands on an announcement.
#[derive(Debug, Clone, PartialEq)]
pub enum AnnouncementCommand {
    /// Publishes it.
    Publish {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Content.
        content: AnnouncementContent,
        /// When.
        at: DateTime<Utc>,
    },
    /// Edits it.
    Edit {
        /// New content.
        content: AnnouncementContent,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deletes it.
    Delete {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Facts about an announcement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AnnouncementEvent {
    /// Published.
    AnnouncementPublished {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Content.
        content: AnnouncementContent,
        /// When.
        at: DateTime<Utc>,
    },
    /// Edited.
    AnnouncementEdited {
        /// New content.
        content: AnnouncementContent,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deleted.
    AnnouncementDeleted {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why an announcement command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnouncementError {
    /// The id is in use.
    #[error("the announcement already exists")]
    AlreadyExists,
    /// No such announcement.
    #[error("announcement not found")]
    NotFound,
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

impl esrs::Aggregate for Announcement {
    const NAME: &'static str = "announcement";
    type State = AnnouncementState;
    type Command = AnnouncementCommand;
    type Event = AnnouncementEvent;
    type Error = AnnouncementError;

    fn handle_command(
        state: &AnnouncementState,
        command: AnnouncementCommand,
    ) -> Result<Vec<AnnouncementEvent>, AnnouncementError> {
        match command {
            AnnouncementCommand::Publish {
                enterprise_id,
                content,
                at,
            } => {
                if state.exists {
                    return Err(AnnouncementError::AlreadyExists);
                }
                Ok(vec![AnnouncementEvent::AnnouncementPublished {
                    enterprise_id,
                    content: content.validated()?,
                    at,
                }])
            }
            AnnouncementCommand::Edit { content, at } => {
                if !state.exists {
                    return Err(AnnouncementError::NotFound);
                }
                Ok(vec![AnnouncementEvent::AnnouncementEdited {
                    content: content.validated()?,
                    at,
                }])
            }
            AnnouncementCommand::Delete { at } => {
                if !state.exists {
                    return Err(AnnouncementError::NotFound);
                }
                Ok(vec![AnnouncementEvent::AnnouncementDeleted { at }])
            }
        }
    }

    fn apply_event(_state: AnnouncementState, event: AnnouncementEvent) -> AnnouncementState {
        AnnouncementState {
            exists: !matches!(event, AnnouncementEvent::AnnouncementDeleted { .. }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    fn content() -> AnnouncementContent {
        AnnouncementContent {
            title: "放假通知".into(),
            body: "国庆放假七天".into(),
            targets: BTreeSet::from([Uuid::from_u128(5)]),
        }
    }

    #[test]
    fn publish_needs_a_target() {
        given::<Announcement>(vec![])
            .when(AnnouncementCommand::Publish {
                enterprise_id: Uuid::from_u128(1),
                content: AnnouncementContent {
                    targets: BTreeSet::new(),
                    ..content()
                },
                at: at(),
            })
            .then_err(AnnouncementError::Invalid(FieldError::new(
                "targets",
                "choose at least one sub-account",
            )));
    }

    #[test]
    fn publish_then_edit_then_delete() {
        let published = AnnouncementEvent::AnnouncementPublished {
            enterprise_id: Uuid::from_u128(1),
            content: content(),
            at: at(),
        };
        given::<Announcement>(vec![])
            .when(AnnouncementCommand::Publish {
                enterprise_id: Uuid::from_u128(1),
                content: content(),
                at: at(),
            })
            .then(vec![published.clone()]);
        given::<Announcement>(vec![published.clone()])
            .when(AnnouncementCommand::Edit {
                content: AnnouncementContent {
                    title: "新".into(),
                    ..content()
                },
                at: at(),
            })
            .then(vec![AnnouncementEvent::AnnouncementEdited {
                content: AnnouncementContent {
                    title: "新".into(),
                    ..content()
                },
                at: at(),
            }]);
        given::<Announcement>(vec![
            published,
            AnnouncementEvent::AnnouncementDeleted { at: at() },
        ])
        .when(AnnouncementCommand::Delete { at: at() })
        .then_err(AnnouncementError::NotFound);
    }
}
