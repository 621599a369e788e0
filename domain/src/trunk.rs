//! The trunk (中继): a SIP peer of the platform — a carrier gateway that delivers inbound calls
//! for DIDs and takes outbound calls. Managed by the platform operator.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::validate::{optional_text, required_text, FieldError};

/// The trunk aggregate.
pub struct Trunk;

/// How to reach the peer and whom to accept calls from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrunkSettings {
    /// Name.
    pub name: String,
    /// Host name or address of the peer.
    pub host: String,
    /// SIP port.
    pub port: u16,
    /// `udp` or `tcp`.
    pub transport: String,
    /// Digest user for outbound calls, empty for none.
    pub username: String,
    /// Digest password for outbound calls.
    pub password: String,
    /// Source addresses inbound calls may come from (besides `host`).
    pub allowed_sources: Vec<String>,
}

impl TrunkSettings {
    fn validated(self) -> Result<Self, FieldError> {
        let host = required_text("host", &self.host, 253)?;
        if host.contains(char::is_whitespace) || host.contains('/') {
            return Err(FieldError::new(
                "host",
                "must be a host name or an IP address",
            ));
        }
        if self.port == 0 {
            return Err(FieldError::new("port", "must be 1 to 65535"));
        }
        let transport = self.transport.trim().to_ascii_lowercase();
        if !["udp", "tcp"].contains(&transport.as_str()) {
            return Err(FieldError::new("transport", "must be udp or tcp"));
        }
        for source in &self.allowed_sources {
            if source.parse::<std::net::IpAddr>().is_err() {
                return Err(FieldError::new(
                    "allowedSources",
                    format!("{source} is not an IP address"),
                ));
            }
        }
        Ok(Self {
            name: required_text("name", &self.name, 64)?,
            host,
            port: self.port,
            transport,
            username: optional_text("username", &self.username, 64)?,
            password: optional_text("password", &self.password, 128)?,
            allowed_sources: self.allowed_sources,
        })
    }
}

/// What a trunk is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrunkState {
    /// Whether it exists.
    pub exists: bool,
}

/// Commands on a trunk.
#[derive(Debug, Clone, PartialEq)]
pub enum TrunkCommand {
    /// Creates it.
    Create {
        /// Settings.
        settings: TrunkSettings,
        /// When.
        at: DateTime<Utc>,
    },
    /// Changes it.
    Update {
        /// Settings.
        settings: TrunkSettings,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deletes it.
    Delete {
        /// Numbers still on it (looked up).
        numbers_using: u32,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Facts about a trunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TrunkEvent {
    /// Created.
    TrunkCreated {
        /// Settings.
        settings: TrunkSettings,
        /// When.
        at: DateTime<Utc>,
    },
    /// Changed.
    TrunkUpdated {
        /// Settings.
        settings: TrunkSettings,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deleted.
    TrunkDeleted {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a trunk command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrunkError {
    /// The id is in use.
    #[error("the trunk already exists")]
    AlreadyExists,
    /// No such trunk.
    #[error("trunk not found")]
    NotFound,
    /// Numbers still use it.
    #[error("{0} number(s) still use this trunk")]
    InUse(u32),
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

impl esrs::Aggregate for Trunk {
    const NAME: &'static str = "trunk";
    type State = TrunkState;
    type Command = TrunkCommand;
    type Event = TrunkEvent;
    type Error = TrunkError;

    fn handle_command(
        state: &TrunkState,
        command: TrunkCommand,
    ) -> Result<Vec<TrunkEvent>, TrunkError> {
        match command {
            TrunkCommand::Create { settings, at } => {
                if state.exists {
                    return Err(TrunkError::AlreadyExists);
                }
                Ok(vec![TrunkEvent::TrunkCreated {
                    settings: settings.validated()?,
                    at,
                }])
            }
            TrunkCommand::Update { settings, at } => {
                if !state.exists {
                    return Err(TrunkError::NotFound);
                }
                Ok(vec![TrunkEvent::TrunkUpdated {
                    settings: settings.validated()?,
                    at,
                }])
            }
            TrunkCommand::Delete { numbers_using, at } => {
                if !state.exists {
                    return Err(TrunkError::NotFound);
                }
                if numbers_using > 0 {
                    return Err(TrunkError::InUse(numbers_using));
                }
                Ok(vec![TrunkEvent::TrunkDeleted { at }])
            }
        }
    }

    fn apply_event(_state: TrunkState, event: TrunkEvent) -> TrunkState {
        TrunkState {
            exists: !matches!(event, TrunkEvent::TrunkDeleted { .. }),
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

    pub(crate) fn settings() -> TrunkSettings {
        TrunkSettings {
            name: "Carrier A".into(),
            host: "192.0.2.1".into(),
            port: 5060,
            transport: "UDP".into(),
            username: String::new(),
            password: String::new(),
            allowed_sources: vec!["192.0.2.2".into()],
        }
    }

    #[test]
    fn a_trunk_is_created_with_normalized_settings() {
        given::<Trunk>(vec![])
            .when(TrunkCommand::Create {
                settings: settings(),
                at: at(),
            })
            .then(vec![TrunkEvent::TrunkCreated {
                settings: TrunkSettings {
                    transport: "udp".into(),
                    ..settings()
                },
                at: at(),
            }]);
    }

    #[test]
    fn bad_sources_and_transports_are_named() {
        given::<Trunk>(vec![])
            .when(TrunkCommand::Create {
                settings: TrunkSettings {
                    allowed_sources: vec!["x".into()],
                    ..settings()
                },
                at: at(),
            })
            .then_err(TrunkError::Invalid(FieldError::new(
                "allowedSources",
                "x is not an IP address",
            )));
        given::<Trunk>(vec![])
            .when(TrunkCommand::Create {
                settings: TrunkSettings {
                    transport: "sctp".into(),
                    ..settings()
                },
                at: at(),
            })
            .then_err(TrunkError::Invalid(FieldError::new(
                "transport",
                "must be udp or tcp",
            )));
    }

    #[test]
    fn a_trunk_with_numbers_cannot_be_deleted() {
        given::<Trunk>(vec![TrunkEvent::TrunkCreated {
            settings: settings(),
            at: at(),
        }])
        .when(TrunkCommand::Delete {
            numbers_using: 2,
            at: at(),
        })
        .then_err(TrunkError::InUse(2));
    }
}
