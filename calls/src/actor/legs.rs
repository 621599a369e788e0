//! The legs a call's actor holds: leg `a` (the INVITE that arrived, or for click-to-dial the
//! agent's phone callcore rang first) and the legs callcore rings in the b slot or beside it,
//! each with what the call knows of it beyond SIP (its name in the call, where it goes).

use std::net::SocketAddr;

use crate::dialog::{IncomingInvite, Leg, Outbound, OutgoingInvite};
use crate::plan::Target;

/// Leg `a`.
pub(crate) enum LegA {
    /// The INVITE that arrived; `answered` once callcore sent its 2xx.
    Called {
        /// The INVITE and its dialog.
        invite: IncomingInvite,
        /// Whether it got its 2xx.
        answered: bool,
    },
    /// The agent's phone callcore rang for click-to-dial (answered before the call runs).
    Placed(OutgoingInvite),
}

impl LegA {
    /// Its dialog.
    pub(crate) fn leg(&self) -> &Leg {
        match self {
            LegA::Called { invite, .. } => invite.leg(),
            LegA::Placed(call) => call.leg(),
        }
    }

    /// The INVITE that arrived (none for a placed leg).
    pub(crate) fn arrived_invite(&self) -> Option<&telephony::sip::message::Request> {
        match self {
            LegA::Called { invite, .. } => Some(invite.invite()),
            LegA::Placed(_) => None,
        }
    }

    /// Whether it was answered.
    pub(crate) fn answered(&self) -> bool {
        match self {
            LegA::Called { answered, .. } => *answered,
            LegA::Placed(_) => true,
        }
    }

    /// A provisional or final response on the arrived INVITE (nothing for a placed leg).
    pub(crate) fn reply(&self, status: u16, reason: &str) -> Option<Outbound> {
        match self {
            LegA::Called { invite, .. } => Some(invite.reply(status, reason)),
            LegA::Placed(_) => None,
        }
    }

    /// A BYE in its dialog.
    pub(crate) fn bye(&mut self, local: SocketAddr) -> Outbound {
        match self {
            LegA::Called { invite, .. } => {
                let leg = invite.leg_mut();
                let bye = leg.request(telephony::sip::message::Method::Bye, local, Vec::new());
                Outbound::Request {
                    request: bye,
                    peer: leg.peer,
                    transport: leg.transport,
                }
            }
            LegA::Placed(call) => call.bye(local),
        }
    }
}

/// A leg callcore rings for the caller: in the b slot (bridged to `a` once it answers) or
/// beside it (a ring-all queue's other members).
pub(crate) struct Slot {
    /// The INVITE and its dialog.
    pub(crate) call: OutgoingInvite,
    /// Where it goes.
    pub(crate) target: Target,
    /// The leg's name in the call (`b`, `c`…).
    pub(crate) name: String,
}

impl Slot {
    /// Whether it answered.
    pub(crate) fn answered(&self) -> bool {
        self.call.is_answered()
    }
}
