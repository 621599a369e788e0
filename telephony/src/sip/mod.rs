//! SIP: messages (parsing, printing, the 400 answer to malformed input) and digest
//! authentication.

pub mod digest;
pub mod message;
pub mod transaction;

pub use message::{
    bad_request, parse, Headers, Method, ParseError, Request, Response, SipMessage, SipUri,
};
