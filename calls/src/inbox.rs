//! What a call's actor hears: SIP messages of its dialogs, offers of the dispatcher, the API's
//! controls and the reports of its own tasks. Each call has one inbox; the registry routes to
//! it by SIP Call-ID and by call id.

use telephony::sip::message::{Request, Response};
use telephony::sip::transaction::TransactionKey;
use uuid::Uuid;

use crate::control::{Control, ControlReply};

/// An offer the dispatcher made: the call's actor rings the member.
#[derive(Debug, Clone)]
pub struct QueueOffer {
    /// The queue.
    pub queue_id: Uuid,
    /// The member's extension.
    pub extension_id: Uuid,
}

/// Something for a call's actor.
#[derive(Debug)]
pub enum CallInput {
    /// A request in one of its dialogs (CANCEL, BYE, re-INVITE, INFO).
    Request {
        /// Its server transaction.
        key: TransactionKey,
        /// The request.
        request: Request,
    },
    /// A response to one of its client transactions.
    Response(Response),
    /// An ACK of a 2xx.
    Ack(Request),
    /// The dispatcher offers the waiting caller to a queue member.
    Offer(QueueOffer),
    /// callcore releases the caller (after a queue's overflow message).
    Release,
    /// The offer ringing this extension is withdrawn (its agent signed out).
    Withdrawn(Uuid),
    /// An agent's or a supervisor's action, and where to answer whether it was carried out.
    Control(Control, Option<ControlReply>),
    /// The agent's number was read to the caller (or could not be: why).
    Announced {
        /// Why it could not be played.
        failure: Option<String>,
    },
}
