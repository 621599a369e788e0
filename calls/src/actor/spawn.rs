//! The start of a call that arrived: one actor per new INVITE, which plans where the call goes,
//! records the offer and its first step together (the second leg, the IVR's entry, or the
//! refusal), anchors the media, then rings, answers into the IVR or queues the caller, and
//! runs the call until it is over.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::Utc;
use domain::call::{CallCommand, CallEvent, Cause, Party, Side};
use domain::policy::ivr::IvrRun;
use node::Node;
use telephony::driver::SipSender;
use telephony::media::relay::{MediaRelay, RelayStats};
use telephony::sdp;
use telephony::sip::transaction::response_to;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::ivr_driver::{local_now, IvrDriver};
use super::legs::LegA;
use super::parts::NotQueued;
use super::session::{hangup, Flow, Opening, Session};
use crate::dialog::{offer_towards_b, random_hex, refusal_status, IncomingInvite};
use crate::inbox::CallInput;
use crate::journal::CallJournal;
use crate::plan::{self, Plan, Routed};
use crate::registry::{Caller, Calls, Incoming};

/// Starts the actor of a new INVITE from `caller`.
pub(crate) fn start(
    node: Node,
    calls: Arc<Calls>,
    incoming: Incoming,
    sip: SipSender,
    caller: Caller,
) {
    let call_id = incoming
        .invite
        .headers
        .get("Call-ID")
        .unwrap_or_default()
        .to_owned();
    let (tx, inbox) = mpsc::unbounded_channel();
    calls.register_call_id(call_id.clone(), tx.clone());
    let metrics = node.metrics.clone();
    tokio::spawn(async move {
        let mut ids = vec![call_id];
        let invite = &incoming.invite;
        let planned = match &caller {
            Caller::Trunk => plan::from_trunk(&node, &calls, invite).await,
            Caller::Extension(extension) => plan::from_extension(&node, invite, extension).await,
        };
        let stats = match planned {
            Ok(planned) => {
                run_inbound(
                    node,
                    calls.clone(),
                    incoming,
                    sip,
                    planned,
                    inbox,
                    tx,
                    &mut ids,
                )
                .await
            }
            Err((status, reason)) => {
                let refusal = response_to(&incoming.invite, status, reason, None);
                sip.respond(&incoming.key, refusal);
                None
            }
        };
        if let Some(stats) = stats {
            calls
                .relayed_to_callee
                .fetch_add(stats.a_to_b.load(Ordering::Relaxed), Ordering::Relaxed);
            calls
                .relayed_to_caller
                .fetch_add(stats.b_to_a.load(Ordering::Relaxed), Ordering::Relaxed);
            metrics.rtp_refused(stats.refused.load(Ordering::Relaxed));
        }
        calls.forget_call_ids(&ids);
    });
}

/// Runs a planned call from its offer to its end; returns the relay's counters.
#[allow(clippy::too_many_arguments)]
async fn run_inbound(
    node: Node,
    calls: Arc<Calls>,
    incoming: Incoming,
    sip: SipSender,
    plan: Plan,
    mut inbox: mpsc::UnboundedReceiver<CallInput>,
    tx: mpsc::UnboundedSender<CallInput>,
    ids: &mut Vec<String>,
) -> Option<Arc<RelayStats>> {
    let Incoming {
        key,
        invite,
        from,
        transport,
    } = incoming;
    let a = IncomingInvite::new(key, invite, from, transport, random_hex(6));
    let reply = |status: u16, reason: &str| {
        super::session::send_via(&sip, a.reply(status, reason));
    };
    let call = Uuid::new_v4();
    let enterprise = plan.enterprise;
    let (caller, called, route) = match &plan.offer {
        CallCommand::Offer {
            caller,
            called,
            route,
            ..
        } => (
            match caller {
                Party::External { number } | Party::Extension { number, .. } => number.clone(),
            },
            called.clone(),
            route.as_ref().map(|r| r.route_id),
        ),
        _ => (String::new(), String::new(), None),
    };
    let mut journal = CallJournal::new(node.clone(), call, enterprise);
    let route_place = plan.route_place;
    let a_offer = sdp::parse_offer(&String::from_utf8_lossy(&a.invite().body)).ok();
    let routed = match plan.target {
        Ok(_) if a_offer.as_ref().is_some_and(|o| o.codecs.is_empty()) => Err(Cause::Rejected(488)),
        // An IVR plays to the caller: without an offer there is nothing to play on.
        Ok(Routed::Ivr(_)) if a_offer.is_none() => Err(Cause::Rejected(488)),
        other => other,
    };
    let bound = sip.local_addr();
    let relay = match &a_offer {
        Some(_) => MediaRelay::open(bound.ip()).await.ok(),
        None => None,
    };
    let routed = match (routed, &relay) {
        (Ok(Routed::Ivr(_)), None) => Err(Cause::Unavailable),
        (other, _) => other,
    };
    // The offer and where the call goes (or the reason it goes nowhere) are one step.
    let now = Utc::now();
    let mut ivr_start = None;
    let second = match &routed {
        Ok(Routed::Leg(target)) => vec![CallCommand::AddLeg {
            leg: "b".into(),
            party: target.party.clone(),
            caller_id: target.caller_id.clone(),
            forwarded: target.forwarded,
            at: now,
        }],
        Ok(Routed::Ivr(entry)) => {
            let (run, step) =
                IvrRun::start(&entry.definition, &entry.facts, local_now(entry.time_zone));
            let commands = vec![
                CallCommand::Answer {
                    leg: "a".into(),
                    at: now,
                },
                CallCommand::EnterIvr {
                    flow_id: entry.flow_id,
                    version: entry.version,
                    at: now,
                },
                CallCommand::Ivr {
                    facts: step.facts,
                    at: now,
                },
            ];
            ivr_start = Some((run, step.actions));
            commands
        }
        // A queue is entered after the offer, in a step of its own.
        Ok(Routed::Queue(_)) => vec![],
        Err(cause) => vec![hangup("a", Side::System, cause.clone())],
    };
    let mut first = vec![plan.offer];
    first.extend(second);
    let Some(events) = journal.record(first).await else {
        reply(500, "Server Internal Error");
        return None;
    };
    let first_recorded = std::time::Instant::now();
    if let Some(CallEvent::CallRefused { cause, .. }) = events.first() {
        let (status, reason) = refusal_status(cause);
        reply(status, reason);
        return None;
    }
    let routed = match routed {
        Ok(routed) => routed,
        Err(cause) => {
            let (status, reason) = refusal_status(&cause);
            reply(status, reason);
            return None;
        }
    };
    let local = calls.advertised(bound);
    // Media is anchored: each leg is offered callcore's relay, not the other party. The relay
    // listens where SIP does and is announced at the advertised address.
    let mut relay = relay;
    let stats = relay.as_ref().map(|r| r.stats().clone());
    let digits = relay.as_mut().and_then(MediaRelay::take_digits);
    let sdp_session = u64::from(rand::random::<u32>());
    let b_body = match (&a_offer, &relay) {
        (Some(offer), Some(relay)) => {
            relay.set_a(
                SocketAddr::new(offer.address, offer.port),
                a.leg().peer.ip(),
            );
            offer_towards_b(offer, local.ip(), relay.b_port, sdp_session)
        }
        _ => a.invite().body.clone(), // no usable offer: pass it through
    };
    let (notify, notices) = mpsc::unbounded_channel();
    let mut session = Session::new(Opening {
        node,
        calls,
        sip,
        call,
        journal,
        route_place,
        a: LegA::Called {
            invite: a,
            answered: false,
        },
        b_body,
        local,
        a_offer,
        relay: relay.map(Arc::new),
        enterprise,
        caller,
        called,
        route,
        tx,
        sdp_session,
        ivr_notify: notify.clone(),
    });
    let started = match (routed, ivr_start) {
        (Routed::Leg(target), _) => {
            let name = session.next_leg_name();
            session.ring(target, name);
            Flow::Continue
        }
        (Routed::Ivr(entry), Some((run, actions))) => {
            session.answer_a_locally();
            session.ivr = Some(IvrDriver::new(entry, run, notify));
            session.ivr_actions(actions, first_recorded).await
        }
        (Routed::Queue(queue_id), _) => session.start_in_queue(queue_id).await,
        // The entry step is planned whenever the route names a flow.
        (Routed::Ivr(_), None) => Flow::Done,
    };
    if started == Flow::Continue {
        session.run(&mut inbox, digits, notices).await;
    }
    session.finish(ids).await;
    stats
}

impl Session {
    /// A call routed straight to a queue: the caller is answered by callcore and waits, or,
    /// when the queue is full, is refused busy.
    async fn start_in_queue(&mut self, queue_id: Uuid) -> Flow {
        match self.enter_queue(queue_id, false).await {
            Ok(()) => {
                let answered = self
                    .record(vec![CallCommand::Answer {
                        leg: "a".into(),
                        at: Utc::now(),
                    }])
                    .await;
                if answered.is_none() {
                    self.reply(500, "Server Internal Error");
                    return Flow::Done;
                }
                self.answer_a_locally();
                Flow::Continue
            }
            Err(why) => {
                let cause = match why {
                    NotQueued::Full => Cause::Busy,
                    _ => Cause::Unavailable,
                };
                self.record(vec![hangup("a", Side::System, cause.clone())])
                    .await;
                let (status, reason) = refusal_status(&cause);
                self.reply(status, reason);
                Flow::Done
            }
        }
    }
}
