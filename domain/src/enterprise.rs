//! The enterprise (企业账户): a tenant of callcore, created by the platform operator.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::validate::{login_name, required_text, FieldError};

/// The enterprise aggregate.
pub struct Enterprise;

/// Default time zone of reports and schedules.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// What an enterprise is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnterpriseState {
    /// Whether it exists.
    pub exists: bool,
    /// Whether its sub-accounts may log in.
    pub enabled: bool,
    /// Display name.
    pub name: String,
    /// Time zone.
    pub time_zone: String,
    /// The platform operator's own enterprise.
    pub platform: bool,
}

/// Commands on an enterprise.
#[derive(Debug, Clone, PartialEq)]
pub enum EnterpriseCommand {
    /// Creates it.
    Create {
        /// Account code used at login (unique, fixed).
        code: String,
        /// Display name.
        name: String,
        /// IANA time zone; empty for the default.
        time_zone: String,
        /// Whether this is the platform operator's own enterprise.
        platform: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// Changes name and time zone.
    Update {
        /// Display name.
        name: String,
        /// IANA time zone.
        time_zone: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Enables or disables all its logins.
    SetEnabled {
        /// The new state.
        enabled: bool,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Facts about an enterprise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EnterpriseEvent {
    /// It was created.
    EnterpriseCreated {
        /// Login code.
        code: String,
        /// Display name.
        name: String,
        /// Time zone.
        time_zone: String,
        /// The operator's own enterprise.
        platform: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// Its details changed.
    EnterpriseUpdated {
        /// Display name.
        name: String,
        /// Time zone.
        time_zone: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// It was disabled.
    EnterpriseDisabled {
        /// When.
        at: DateTime<Utc>,
    },
    /// It was enabled again.
    EnterpriseEnabled {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why an enterprise command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnterpriseError {
    /// An enterprise with this code exists.
    #[error("an enterprise with this account code already exists")]
    AlreadyExists,
    /// No such enterprise.
    #[error("enterprise not found")]
    NotFound,
    /// The platform enterprise cannot be disabled.
    #[error("the platform enterprise cannot be disabled")]
    PlatformProtected,
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

fn time_zone(value: &str) -> Result<String, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(DEFAULT_TIME_ZONE.to_owned());
    }
    let valid = value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(FieldError::new(
            "timeZone",
            "must be an IANA time zone such as Asia/Shanghai",
        ))
    }
}

impl esrs::Aggregate for Enterprise {
    const NAME: &'static str = "enterprise";
    type State = EnterpriseState;
    type Command = EnterpriseCommand;
    type Event = EnterpriseEvent;
    type Error = EnterpriseError;

    fn handle_command(
        state: &EnterpriseState,
        command: EnterpriseCommand,
    ) -> Result<Vec<EnterpriseEvent>, EnterpriseError> {
        match command {
            EnterpriseCommand::Create {
                code,
                name,
                time_zone: tz,
                platform,
                at,
            } => {
                if state.exists {
                    return Err(EnterpriseError::AlreadyExists);
                }
                Ok(vec![EnterpriseEvent::EnterpriseCreated {
                    code: login_name("code", &code)?,
                    name: required_text("name", &name, 64)?,
                    time_zone: time_zone(&tz)?,
                    platform,
                    at,
                }])
            }
            EnterpriseCommand::Update {
                name,
                time_zone: tz,
                at,
            } => {
                if !state.exists {
                    return Err(EnterpriseError::NotFound);
                }
                Ok(vec![EnterpriseEvent::EnterpriseUpdated {
                    name: required_text("name", &name, 64)?,
                    time_zone: time_zone(&tz)?,
                    at,
                }])
            }
            EnterpriseCommand::SetEnabled { enabled, at } => {
                if !state.exists {
                    return Err(EnterpriseError::NotFound);
                }
                if state.platform && !enabled {
                    return Err(EnterpriseError::PlatformProtected);
                }
                Ok(match (state.enabled, enabled) {
                    (true, false) => vec![EnterpriseEvent::EnterpriseDisabled { at }],
                    (false, true) => vec![EnterpriseEvent::EnterpriseEnabled { at }],
                    _ => vec![],
                })
            }
        }
    }

    fn apply_event(mut state: EnterpriseState, event: EnterpriseEvent) -> EnterpriseState {
        match event {
            EnterpriseEvent::EnterpriseCreated {
                name,
                time_zone,
                platform,
                ..
            } => {
                state = EnterpriseState {
                    exists: true,
                    enabled: true,
                    name,
                    time_zone,
                    platform,
                };
            }
            EnterpriseEvent::EnterpriseUpdated {
                name, time_zone, ..
            } => {
                state.name = name;
                state.time_zone = time_zone;
            }
            EnterpriseEvent::EnterpriseDisabled { .. } => state.enabled = false,
            EnterpriseEvent::EnterpriseEnabled { .. } => state.enabled = true,
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

    fn created() -> EnterpriseEvent {
        EnterpriseEvent::EnterpriseCreated {
            code: "acme".into(),
            name: "Acme".into(),
            time_zone: DEFAULT_TIME_ZONE.into(),
            platform: false,
            at: at(),
        }
    }

    #[test]
    fn create_fills_the_default_time_zone() {
        given::<Enterprise>(vec![])
            .when(EnterpriseCommand::Create {
                code: "acme".into(),
                name: " Acme ".into(),
                time_zone: "".into(),
                platform: false,
                at: at(),
            })
            .then(vec![created()]);
    }

    #[test]
    fn a_code_is_taken_once() {
        given::<Enterprise>(vec![created()])
            .when(EnterpriseCommand::Create {
                code: "acme".into(),
                name: "Other".into(),
                time_zone: "".into(),
                platform: false,
                at: at(),
            })
            .then_err(EnterpriseError::AlreadyExists);
    }

    #[test]
    fn a_bad_code_names_the_field() {
        given::<Enterprise>(vec![])
            .when(EnterpriseCommand::Create {
                code: "a b".into(),
                name: "Acme".into(),
                time_zone: "".into(),
                platform: false,
                at: at(),
            })
            .then_err(EnterpriseError::Invalid(FieldError::new(
                "code",
                "may contain only letters, digits, '_', '-', '.' and '@'",
            )));
    }

    #[test]
    fn disabling_twice_is_a_no_op() {
        given::<Enterprise>(vec![
            created(),
            EnterpriseEvent::EnterpriseDisabled { at: at() },
        ])
        .when(EnterpriseCommand::SetEnabled {
            enabled: false,
            at: at(),
        })
        .then(vec![]);
    }

    #[test]
    fn updating_a_missing_enterprise_is_refused() {
        given::<Enterprise>(vec![])
            .when(EnterpriseCommand::Update {
                name: "x".into(),
                time_zone: "".into(),
                at: at(),
            })
            .then_err(EnterpriseError::NotFound);
    }
}
