//! The API of callcore: GraphQL (queries, mutations, subscriptions) and the plain-HTTP routes
//! (audio files, data files, health, metrics). Each resolver parses its input, checks the caller's
//! permission and tenant, calls a use case of the node or the call runtime, and maps the
//! answer; nothing here runs a call or opens a database.

pub mod app;
pub mod auth;
pub mod data_files;
pub mod error;
pub mod files;
pub mod graphql;
pub mod http;
mod passwords;
mod state;
pub mod uploads;
