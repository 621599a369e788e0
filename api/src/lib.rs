//! The composition root of callcore: configuration, the HTTP/GraphQL server, authentication,
//! command execution and the `callcore` command-line tools.

pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod calls;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod files;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod sip;
