//! Pure decisions of callcore: aggregates (commands, events, state, errors) and policies.
//!
//! Nothing here does I/O, reads a clock or generates ids: time, ids and looked-up data come in
//! the commands. Every aggregate implements `esrs::Aggregate`; its events are the stored
//! contract (each variant has a stable `type` name).

pub mod account;
pub mod agent;
pub mod announcement;
pub mod call;
pub mod data_file;
pub mod enterprise;
pub mod extension;
pub mod ids;
pub mod ivr;
pub mod number;
pub mod permission;
pub mod phone;
pub mod policy;
pub mod queue;
pub mod region;
pub mod role;
pub mod route;
pub mod schema;
pub mod testing;
pub mod trunk;
pub mod validate;
pub mod voice;

pub use permission::{Permission, PermissionScope, PermissionSetting};
