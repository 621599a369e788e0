//! The number (号码): a DID on a trunk, assigned to an enterprise, usable for inbound routes
//! and, when licensed, as an outbound caller ID. Managed by the platform operator.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::phone::normalize;
use crate::validate::FieldError;

/// The number aggregate (stream id: `ids::number_id(e164)`).
pub struct Number;

/// What a number is now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NumberState {
    /// Whether it is on the platform.
    pub exists: bool,
}

/// How a number may be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberAssignment {
    /// The enterprise it belongs to.
    pub enterprise_id: Uuid,
    /// The trunk that carries it.
    pub trunk_id: Uuid,
    /// Licensed as the enterprise's outbound caller ID.
    pub caller_id: bool,
}

/// Commands on a number.
#[derive(Debug, Clone, PartialEq)]
pub enum NumberCommand {
    /// Puts it on the platform for an enterprise.
    Assign {
        /// The number as entered.
        number: String,
        /// Assignment.
        assignment: NumberAssignment,
        /// When.
        at: DateTime<Utc>,
    },
    /// Changes enterprise, trunk or caller-ID licence.
    Reassign {
        /// Assignment.
        assignment: NumberAssignment,
        /// When.
        at: DateTime<Utc>,
    },
    /// Takes it off the platform.
    Release {
        /// Routes still using it (looked up).
        routes_using: u32,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Facts about a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum NumberEvent {
    /// Put on the platform.
    NumberAssigned {
        /// E.164 form.
        number: String,
        /// Assignment.
        assignment: NumberAssignment,
        /// When.
        at: DateTime<Utc>,
    },
    /// Reassigned.
    NumberReassigned {
        /// Assignment.
        assignment: NumberAssignment,
        /// When.
        at: DateTime<Utc>,
    },
    /// Taken off.
    NumberReleased {
        /// When.
        at: DateTime<Utc>,
    },
}

/// Why a number command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Already on the platform.
    #[error("this number is already on the platform")]
    AlreadyExists,
    /// Not on the platform.
    #[error("number not found")]
    NotFound,
    /// Routes use it.
    #[error("{0} inbound route(s) still use this number")]
    InUse(u32),
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

impl esrs::Aggregate for Number {
    const NAME: &'static str = "number";
    type State = NumberState;
    type Command = NumberCommand;
    type Event = NumberEvent;
    type Error = NumberError;

    fn handle_command(
        state: &NumberState,
        command: NumberCommand,
    ) -> Result<Vec<NumberEvent>, NumberError> {
        match command {
            NumberCommand::Assign {
                number,
                assignment,
                at,
            } => {
                if state.exists {
                    return Err(NumberError::AlreadyExists);
                }
                Ok(vec![NumberEvent::NumberAssigned {
                    number: normalize("number", &number)?,
                    assignment,
                    at,
                }])
            }
            NumberCommand::Reassign { assignment, at } => {
                if !state.exists {
                    return Err(NumberError::NotFound);
                }
                Ok(vec![NumberEvent::NumberReassigned { assignment, at }])
            }
            NumberCommand::Release { routes_using, at } => {
                if !state.exists {
                    return Err(NumberError::NotFound);
                }
                if routes_using > 0 {
                    return Err(NumberError::InUse(routes_using));
                }
                Ok(vec![NumberEvent::NumberReleased { at }])
            }
        }
    }

    fn apply_event(_state: NumberState, event: NumberEvent) -> NumberState {
        NumberState {
            exists: !matches!(event, NumberEvent::NumberReleased { .. }),
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

    fn assignment() -> NumberAssignment {
        NumberAssignment {
            enterprise_id: Uuid::from_u128(1),
            trunk_id: Uuid::from_u128(2),
            caller_id: true,
        }
    }

    #[test]
    fn a_number_is_stored_in_e164() {
        given::<Number>(vec![])
            .when(NumberCommand::Assign {
                number: "021-6123-4567".into(),
                assignment: assignment(),
                at: at(),
            })
            .then(vec![NumberEvent::NumberAssigned {
                number: "+862161234567".into(),
                assignment: assignment(),
                at: at(),
            }]);
    }

    #[test]
    fn a_number_in_use_by_routes_is_kept() {
        given::<Number>(vec![NumberEvent::NumberAssigned {
            number: "+862161234567".into(),
            assignment: assignment(),
            at: at(),
        }])
        .when(NumberCommand::Release {
            routes_using: 1,
            at: at(),
        })
        .then_err(NumberError::InUse(1));
    }
}
