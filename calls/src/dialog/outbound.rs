//! What the dialog layer asks the SIP driver to send: a response on a server transaction, a
//! request in a new client transaction, or a message outside any transaction (the ACK of a
//! 2xx, a 2xx sent again).

use std::net::SocketAddr;

use telephony::sip::message::{Request, Response, SipMessage};
use telephony::sip::transaction::{TransactionKey, Transport};

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A response on the server transaction `key`.
    Respond {
        /// The server transaction.
        key: TransactionKey,
        /// The response.
        response: Response,
    },
    /// A request in a new client transaction (INVITE, BYE, CANCEL).
    Request {
        /// The request.
        request: Request,
        /// Where it goes.
        peer: SocketAddr,
        /// Over which transport.
        transport: Transport,
    },
    /// A message outside transactions: the ACK of a 2xx, or a 2xx retransmitted.
    Raw {
        /// The message.
        message: SipMessage,
        /// Where it goes.
        peer: SocketAddr,
        /// Over which transport.
        transport: Transport,
    },
}

impl Outbound {
    /// The request sent, when this is one (in a transaction or not).
    #[cfg(test)]
    pub fn request(&self) -> Option<&Request> {
        match self {
            Outbound::Request { request, .. }
            | Outbound::Raw {
                message: SipMessage::Request(request),
                ..
            } => Some(request),
            _ => None,
        }
    }
}
