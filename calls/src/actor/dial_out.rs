//! Click-to-dial (点击外呼, manual §7.1): the agent asks for a number and callcore rings the
//! agent's own phone first; once it answers, callcore dials the customer through the trunk
//! with the extension's licensed caller ID. Leg `a` is the agent's (callcore's own INVITE),
//! leg `b` the customer's, and from then on the call runs in the same actor as any other, an
//! outbound call of the agent's extension.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use domain::agent::{Agent, AgentCommand};
use domain::call::{CallCommand, CallEvent, Cause, Side};
use eventlog::Metadata;
use node::Node;
use projections::ExtensionDoc;
use telephony::driver::SipSender;
use telephony::media::relay::{Formats, MediaRelay};
use telephony::sdp::{self, AudioOffer, Codec, Direction};
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use super::bridge::refusal_cause;
use super::legs::LegA;
use super::parts::AgentOnCall;
use super::session::{hangup, send_via as send, Opening, Session};
use crate::control::DialOutError;
use crate::dialog::{offer_towards_b, OutgoingInvite, Progress, Which};
use crate::inbox::CallInput;
use crate::journal::CallJournal;
use crate::plan;
use crate::registry::Calls;

/// Places a click-to-dial call from `extension` to `number`; returns the call's id once its
/// offer is recorded. The agent's phone rings in the background.
pub(crate) async fn click_to_dial(
    node: &Node,
    calls: &Arc<Calls>,
    extension: &ExtensionDoc,
    number: &str,
) -> Result<Uuid, DialOutError> {
    let sip = calls.sip.get().cloned().ok_or(DialOutError::NoSip)?;
    let (offer, agent, customer) = plan::click_to_dial(node, extension, number)
        .await
        .ok_or(DialOutError::BadNumber)?;
    let call = Uuid::new_v4();
    let mut journal = CallJournal::new(node.clone(), call, extension.enterprise_id);
    let events = journal
        .record(vec![offer])
        .await
        .ok_or(DialOutError::Refused(Cause::Unavailable))?;
    if let Some(CallEvent::CallRefused { cause, .. }) = events.first() {
        return Err(DialOutError::Refused(cause.clone()));
    }
    // The agent is on this call from now: no queue offers it another.
    let seat = domain::ids::agent_id(extension.id);
    let metadata = Metadata::new(Some(extension.enterprise_id), None);
    let on_call = node
        .execute::<Agent>(
            seat,
            AgentCommand::DialOut {
                call_id: call,
                at: Utc::now(),
            },
            metadata.clone(),
        )
        .await;
    if on_call.is_err() {
        journal
            .record(vec![hangup("a", Side::System, Cause::Busy)])
            .await;
        return Err(DialOutError::Busy);
    }
    let free_seat = {
        let node = node.clone();
        move || async move {
            let ended = AgentCommand::EndCall {
                call_id: call,
                wrap_up_seconds: 0,
                at: Utc::now(),
            };
            let _ = node.execute::<Agent>(seat, ended, metadata).await;
        }
    };
    let (agent, customer) = match (agent, customer) {
        (Ok(agent), Ok(customer)) => (agent, customer),
        (Err(cause), _) | (_, Err(cause)) => {
            journal
                .record(vec![hangup("a", Side::System, cause.clone())])
                .await;
            free_seat().await;
            return Err(DialOutError::Refused(cause));
        }
    };
    let local = calls.advertised(sip.local_addr());
    let Ok(relay) = MediaRelay::open(sip.local_addr().ip()).await else {
        journal
            .record(vec![hangup("a", Side::System, Cause::Unavailable)])
            .await;
        free_seat().await;
        return Err(DialOutError::Refused(Cause::Unavailable));
    };
    let agent_seat = extension.id;
    let (node, calls) = (node.clone(), calls.clone());
    let caller = extension.number.clone();
    let enterprise = extension.enterprise_id;
    tokio::spawn(async move {
        let leg = agent.new_leg(local);
        let (tx, mut inbox) = mpsc::unbounded_channel();
        calls.register_call_id(leg.call_id.clone(), tx.clone());
        let mut ids = vec![leg.call_id.clone()];
        let sdp_session = u64::from(rand::random::<u32>());
        let offer = AudioOffer {
            address: local.ip(),
            port: relay.a_port,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: Some(101),
            direction: Direction::SendRecv,
            ptime: Some(20),
        };
        let (agent_leg, invite) = OutgoingInvite::start(
            leg,
            local,
            sdp::print_offer(&offer, sdp_session, 1).into_bytes(),
            None,
            None,
            Instant::now(),
            calls.ring_timeout(),
        );
        send(&sip, invite);
        let answered = ring_agent(&sip, &mut journal, agent_leg, &mut inbox, local).await;
        let Some((agent_leg, answer)) = answered else {
            free_seat().await;
            calls.forget_call_ids(&ids);
            return;
        };
        let mut relay = relay;
        let digits = relay.take_digits();
        let relay = Arc::new(relay);
        let (stats, metrics) = (relay.stats().clone(), node.metrics.clone());
        let (notify, notices) = mpsc::unbounded_channel();
        let mut session = Session::new(Opening {
            node,
            calls: calls.clone(),
            sip,
            call,
            journal,
            route_place: None,
            a: LegA::Placed(agent_leg),
            b_body: offer_towards_b(&answer, local.ip(), relay.b_port, sdp_session),
            local,
            a_offer: Some(answer.clone()),
            relay: Some(relay.clone()),
            enterprise,
            caller,
            called: customer.to_user.clone(),
            route: None,
            tx,
            sdp_session,
            ivr_notify: notify,
        });
        relay.set_a(
            SocketAddr::new(answer.address, answer.port),
            session.a.leg().peer.ip(),
        );
        if let Some(codec) = answer.codecs.first().copied() {
            let formats = Formats {
                codec,
                telephone_event: answer.telephone_event,
            };
            relay.set_formats(formats, formats);
            session.media.formats = Some((formats, formats));
        }
        // Its end frees the seat (`Session::finish`).
        session.agent = Some(AgentOnCall {
            extension: agent_seat,
            wrap_up_seconds: 0,
        });
        relay.touch();
        let name = session.next_leg_name();
        let added = session
            .record(vec![
                CallCommand::Answer {
                    leg: "a".into(),
                    at: Utc::now(),
                },
                CallCommand::AddLeg {
                    leg: name.clone(),
                    party: customer.party.clone(),
                    caller_id: customer.caller_id.clone(),
                    forwarded: false,
                    at: Utc::now(),
                },
            ])
            .await;
        if added.is_some() {
            session.ring(customer, name);
            session.run(&mut inbox, digits, notices).await;
        } else {
            session.bye(Which::A);
        }
        session.finish(&mut ids).await;
        calls.forget_call_ids(&ids);
        metrics.rtp_refused(stats.refused.load(std::sync::atomic::Ordering::Relaxed));
    });
    Ok(call)
}

/// Rings the agent's phone (leg `a`) until it answers, refuses or the ring timeout ends it.
/// On an answer, returns the answered leg and its session description (as what leg `a`
/// speaks).
async fn ring_agent(
    sip: &SipSender,
    journal: &mut CallJournal,
    mut call: OutgoingInvite,
    inbox: &mut mpsc::UnboundedReceiver<CallInput>,
    local: SocketAddr,
) -> Option<(OutgoingInvite, AudioOffer)> {
    loop {
        let input = tokio::select! {
            input = inbox.recv() => input,
            () = tokio::time::sleep_until(call.ring_deadline()) => {
                send(sip, call.cancel());
                journal.record(vec![hangup("a", Side::System, Cause::NoAnswer)]).await;
                return None;
            }
        };
        let response = match input {
            Some(CallInput::Response(response)) => response,
            Some(_) => continue,
            None => return None,
        };
        let (progress, sends) = call.on_response(&response, local);
        for out in sends {
            send(sip, out);
        }
        match progress {
            Progress::Ringing => {
                journal
                    .record(vec![CallCommand::Ringing {
                        leg: "a".into(),
                        at: Utc::now(),
                    }])
                    .await;
            }
            Progress::Answered { body } => {
                let answer = sdp::parse_offer(&String::from_utf8_lossy(&body)).ok();
                match answer.filter(|a| !a.codecs.is_empty()) {
                    Some(answer) => return Some((call, answer)),
                    None => {
                        send(sip, call.bye(local));
                        journal
                            .record(vec![hangup("a", Side::System, Cause::Rejected(488))])
                            .await;
                        return None;
                    }
                }
            }
            Progress::Refused { status } => {
                journal
                    .record(vec![hangup("a", Side::Caller, refusal_cause(status))])
                    .await;
                return None;
            }
            Progress::Challenged | Progress::Nothing => {}
        }
    }
}
