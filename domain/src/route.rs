//! The inbound route (呼入路由, manual §2.1): an entry number (or IP) of an enterprise, where its
//! calls go, how many may be up at once, priority and remark. The operator creates, deletes and
//! enables or pauses routes; the enterprise edits destination, limit, priority and remark.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::phone::normalize;
use crate::validate::{optional_text, required_text, FieldError};

/// The route aggregate (stream id: `ids::route_id(entry)`).
pub struct Route;

/// Where a route's calls go (路由目的).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Destination {
    /// An extension (转分机).
    Extension {
        /// The extension.
        extension_id: Uuid,
    },
    /// An IVR flow (转IVR).
    Ivr {
        /// The flow.
        flow_id: Uuid,
    },
    /// A queue (转队列).
    Queue {
        /// The queue.
        queue_id: Uuid,
    },
}

/// What the enterprise may edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSettings {
    /// Destination.
    pub destination: Destination,
    /// Calls allowed up at once (并发限制).
    pub max_concurrent: u32,
    /// Priority of the route's traffic (优先级), 0–100.
    pub priority: u8,
    /// Remark (备注).
    pub remark: String,
}

impl RouteSettings {
    fn validated(self) -> Result<Self, FieldError> {
        if !(1..=10_000).contains(&self.max_concurrent) {
            return Err(FieldError::new("maxConcurrent", "must be 1 to 10000"));
        }
        if self.priority > 100 {
            return Err(FieldError::new("priority", "must be 0 to 100"));
        }
        Ok(Self {
            remark: optional_text("remark", &self.remark, 200)?,
            ..self
        })
    }
}

/// The route's entry: a DID in E.164 form, or the IP address calls come from.
pub fn route_entry(input: &str) -> Result<String, FieldError> {
    let input = input.trim();
    if let Ok(ip) = input.parse::<std::net::IpAddr>() {
        return Ok(ip.to_string());
    }
    normalize("entry", input)
        .map_err(|_| FieldError::new("entry", "must be a phone number or an IP address"))
}

/// What a route is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteState {
    /// Whether it exists.
    pub exists: bool,
    /// Enabled (启用) or paused (暂停).
    pub enabled: bool,
}

/// Commands on a route.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteCommand {
    /// Creates it (operator), enabled.
    Create {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Name (编号).
        name: String,
        /// Entry number or IP (号码).
        entry: String,
        /// Settings.
        settings: RouteSettings,
        /// When.
        at: DateTime<Utc>,
    },
    /// Edits it (enterprise).
    Update {
        /// Settings.
        settings: RouteSettings,
        /// When.
        at: DateTime<Utc>,
    },
    /// Enables or pauses it (operator).
    SetEnabled {
        /// New state.
        enabled: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deletes it (operator).
    Delete {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Facts about a route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RouteEvent {
    /// Created.
    RouteCreated {
        /// Its enterprise.
        enterprise_id: Uuid,
        /// Name.
        name: String,
        /// Entry.
        entry: String,
        /// Settings.
        settings: RouteSettings,
        /// When.
        at: DateTime<Utc>,
    },
    /// Edited.
    RouteUpdated {
        /// Settings.
        settings: RouteSettings,
        /// When.
        at: DateTime<Utc>,
    },
    /// Enabled again.
    RouteEnabled {
        /// When.
        at: DateTime<Utc>,
    },
    /// Paused: its calls are refused.
    RoutePaused {
        /// When.
        at: DateTime<Utc>,
    },
    /// Deleted.
    RouteDeleted {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a route command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A route with this entry exists.
    #[error("a route with this entry already exists")]
    AlreadyExists,
    /// No such route.
    #[error("route not found")]
    NotFound,
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

impl esrs::Aggregate for Route {
    const NAME: &'static str = "route";
    type State = RouteState;
    type Command = RouteCommand;
    type Event = RouteEvent;
    type Error = RouteError;

    fn handle_command(
        state: &RouteState,
        command: RouteCommand,
    ) -> Result<Vec<RouteEvent>, RouteError> {
        if !matches!(command, RouteCommand::Create { .. }) && !state.exists {
            return Err(RouteError::NotFound);
        }
        match command {
            RouteCommand::Create {
                enterprise_id,
                name,
                entry,
                settings,
                at,
            } => {
                if state.exists {
                    return Err(RouteError::AlreadyExists);
                }
                Ok(vec![RouteEvent::RouteCreated {
                    enterprise_id,
                    name: required_text("name", &name, 64)?,
                    entry: route_entry(&entry)?,
                    settings: settings.validated()?,
                    at,
                }])
            }
            RouteCommand::Update { settings, at } => Ok(vec![RouteEvent::RouteUpdated {
                settings: settings.validated()?,
                at,
            }]),
            RouteCommand::SetEnabled { enabled, at } => Ok(match (state.enabled, enabled) {
                (true, false) => vec![RouteEvent::RoutePaused { at }],
                (false, true) => vec![RouteEvent::RouteEnabled { at }],
                _ => vec![],
            }),
            RouteCommand::Delete { at } => Ok(vec![RouteEvent::RouteDeleted { at }]),
        }
    }

    fn apply_event(mut state: RouteState, event: RouteEvent) -> RouteState {
        match event {
            RouteEvent::RouteCreated { .. } => {
                state = RouteState {
                    exists: true,
                    enabled: true,
                }
            }
            RouteEvent::RouteEnabled { .. } => state.enabled = true,
            RouteEvent::RoutePaused { .. } => state.enabled = false,
            RouteEvent::RouteDeleted { .. } => state = RouteState::default(),
            RouteEvent::RouteUpdated { .. } => {}
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

    fn settings() -> RouteSettings {
        RouteSettings {
            destination: Destination::Extension {
                extension_id: Uuid::from_u128(3),
            },
            max_concurrent: 10,
            priority: 5,
            remark: " 总机 ".into(),
        }
    }

    fn created() -> RouteEvent {
        RouteEvent::RouteCreated {
            enterprise_id: Uuid::from_u128(1),
            name: "总机".into(),
            entry: "+862161234567".into(),
            settings: RouteSettings {
                remark: "总机".into(),
                ..settings()
            },
            at: at(),
        }
    }

    #[test]
    fn a_route_is_created_enabled_with_a_normalized_entry() {
        given::<Route>(vec![])
            .when(RouteCommand::Create {
                enterprise_id: Uuid::from_u128(1),
                name: "总机".into(),
                entry: "02161234567".into(),
                settings: settings(),
                at: at(),
            })
            .then(vec![created()]);
    }

    #[test]
    fn limits_are_checked() {
        given::<Route>(vec![created()])
            .when(RouteCommand::Update {
                settings: RouteSettings {
                    max_concurrent: 0,
                    ..settings()
                },
                at: at(),
            })
            .then_err(RouteError::Invalid(FieldError::new(
                "maxConcurrent",
                "must be 1 to 10000",
            )));
    }

    #[test]
    fn pause_and_enable() {
        given::<Route>(vec![created()])
            .when(RouteCommand::SetEnabled {
                enabled: false,
                at: at(),
            })
            .then(vec![RouteEvent::RoutePaused { at: at() }]);
        given::<Route>(vec![created(), RouteEvent::RoutePaused { at: at() }])
            .when(RouteCommand::SetEnabled {
                enabled: true,
                at: at(),
            })
            .then(vec![RouteEvent::RouteEnabled { at: at() }]);
    }

    #[test]
    fn an_ip_entry_is_kept() {
        assert_eq!(route_entry(" 192.0.2.7 ").as_deref(), Ok("192.0.2.7"));
        assert!(route_entry("nowhere").is_err());
    }
}
