//! Cross-aggregate reactions as pure functions: state and inputs in, decisions out. The call
//! runtime carries the decisions out after recording them.

pub mod acd;
pub mod ivr;
