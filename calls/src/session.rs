//! One call's actor: a B2BUA between leg `a` (the INVITE that arrived) and the leg in the `b`
//! slot (an INVITE callcore sends: the planned target, a transfer's target). When the call is
//! routed to an IVR flow, callcore answers leg `a` itself and runs the flow (see `ivr`) with
//! the b slot empty until a transfer node rings someone. The actor turns SIP and media
//! happenings into commands on the call's aggregate and carries out each effect (ringing,
//! answering, hanging up, holding, playing) only after the events deciding it are committed.
//! Media is anchored in the call's `MediaRelay`, with each leg's session description pointing
//! at it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::call::{CallCommand, CallEvent, Cause, Party, Side};
use domain::policy::ivr::IvrRun;
use telephony::driver::SipSender;
use telephony::media::relay::{Digit, Formats, MediaRelay, RelayStats};
use telephony::sdp::{self, AudioAnswer, AudioOffer, Codec};
use telephony::sip::digest::answer_challenge;
use telephony::sip::message::{cseq, param, Method, Request, Response, SipMessage, SipUri};
use telephony::sip::transaction::{response_to, TransactionKey, Transport};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::warn;
use uuid::Uuid;

use super::dialog::{ack_of, cancel_of, contact_uri, random_hex, route_values, Leg};
use super::ivr::{local_now, IvrDriver, IvrNotice};
use super::journal::CallJournal;
use super::plan::{self, Plan, Routed, Target};
use super::queue::Waiting;
use super::{CallInput, Calls, Incoming, RoutePlace};
use node::Node;

/// RFC 3261 T1 and T2: the 2xx to an INVITE is resent at T1, doubling up to T2, until its ACK
/// arrives, for at most 64·T1.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

/// Which leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Which {
    A,
    B,
}

impl Which {
    fn other(self) -> Which {
        match self {
            Which::A => Which::B,
            Which::B => Which::A,
        }
    }
}

/// A 2xx to an INVITE, resent until its ACK comes.
#[derive(Debug)]
struct PendingOk {
    response: Response,
    call_id: String,
    cseq: u32,
    peer: SocketAddr,
    transport: Transport,
    next: Instant,
    interval: Duration,
    give_up: Instant,
    /// The initial INVITE's 2xx: without its ACK the call is torn down.
    initial: bool,
}

/// Whether the actor goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Done,
}

/// The SIP status answering leg `a` when the call ends before answer with `cause`.
fn status_for(cause: &Cause) -> (u16, &'static str) {
    match cause {
        Cause::Busy | Cause::RouteLimitReached => (486, "Busy Here"),
        Cause::OutboundNotAllowed => (403, "Forbidden (manual outbound not allowed)"),
        Cause::NoCallerId => (403, "Forbidden (no licensed caller ID)"),
        Cause::NoRoute => (503, "Service Unavailable (no trunk)"),
        Cause::Cancelled => (487, "Request Terminated"),
        Cause::Rejected(488) => (488, "Not Acceptable Here"),
        Cause::Rejected(status) if (404..=699).contains(status) && *status != 407 => {
            (*status, "Rejected")
        }
        _ => (480, "Temporarily Unavailable"),
    }
}

/// The command that ends `leg` now.
pub fn hangup(leg: &str, side: Side, cause: Cause) -> CallCommand {
    CallCommand::Hangup {
        leg: leg.to_owned(),
        side,
        cause,
        at: Utc::now(),
    }
}

/// The leg in the b slot: callcore's INVITE towards a target, and its dialog once answered.
pub(super) struct Slot {
    /// The dialog.
    pub(super) leg: Leg,
    /// The INVITE (its latest form, after a digest challenge).
    pub(super) invite: Request,
    /// The ACK of its 2xx, resent when the 2xx comes again.
    pub(super) ack: Option<Request>,
    /// Where it goes.
    pub(super) target: Target,
    /// The leg's name in the call (`b`, `c`…).
    pub(super) name: String,
    /// Whether it answered (and is bridged to leg `a`).
    pub(super) answered: bool,
    /// Whether a digest challenge was answered already.
    pub(super) auth_tried: bool,
    /// When it stops ringing.
    pub(super) ring_deadline: Instant,
}

impl Slot {
    /// The INVITE in its latest form.
    pub(super) fn invite(&self) -> &Request {
        &self.invite
    }
}

/// A running call.
pub(super) struct Session {
    pub(super) node: Node,
    pub(super) calls: Arc<Calls>,
    pub(super) sip: SipSender,
    pub(super) call: Uuid,
    journal: CallJournal,
    /// Held while the call lasts (the route's count of calls in progress).
    _route_place: Option<RoutePlace>,
    key: TransactionKey,
    invite: Request,
    pub(super) a: Leg,
    /// The ACK callcore sent for leg `a`'s 2xx, when callcore placed leg `a` (resent when the
    /// 2xx comes again).
    pub(super) a_ack: Option<Request>,
    pub(super) b: Option<Slot>,
    /// Legs ringing beside the b slot's for the same caller (a ring-all queue).
    pub(super) forks: Vec<Slot>,
    /// The offer sent to a leg in the b slot (the relay's b side).
    pub(super) b_body: Vec<u8>,
    pub(super) local: SocketAddr,
    pub(super) media_ip: IpAddr,
    a_offer: Option<AudioOffer>,
    pub(super) formats: Option<(Formats, Formats)>,
    pub(super) relay: Option<Arc<MediaRelay>>,
    /// Whether a leg is on hold (no media timeout then).
    held: bool,
    /// Whether leg `a` got its 2xx.
    pub(super) a_answered: bool,
    /// Legs offered so far (names the next one).
    legs: u8,
    pub(super) enterprise: Uuid,
    /// The caller's number (E.164 when it is one), the number called and the inbound route.
    caller: String,
    called: String,
    route: Option<Uuid>,
    pub(super) tx: mpsc::UnboundedSender<CallInput>,
    /// Call-IDs of legs callcore created, for the registry's clean-up.
    pub(super) extra_ids: Vec<String>,
    pending: Vec<PendingOk>,
    pub(super) sdp_session: u64,
    sdp_version: u64,
    /// The IVR flow the call runs, when it was routed to one.
    pub(super) ivr: Option<IvrDriver>,
    /// Whether the relay records a voicemail (rather than the bridged call).
    pub(super) voicemail: bool,
    /// Where the IVR's tasks report (for a flow entered later, a queue's overflow).
    pub(super) ivr_notify: mpsc::UnboundedSender<IvrNotice>,
    /// The queue the caller waits in.
    pub(super) waiting: Option<Waiting>,
    /// The agent seat (extension) the caller was connected to from a queue.
    pub(super) agent: Option<Uuid>,
    /// The wrap-up seconds of the queue that connected it.
    pub(super) agent_wrap_up: u32,
    /// Music to the customer while the agent holds it.
    pub(super) hold_music: Option<tokio::task::JoinHandle<()>>,
    /// A supervisor listening, whispering or barging in.
    pub(super) monitor: Option<super::monitor::MonitorLeg>,
}

/// Runs a planned call from its offer to its end; returns the relay's counters.
#[allow(clippy::too_many_arguments)]
pub async fn run(
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
    let a_tag = random_hex(6);
    let reply = |status: u16, reason: &str| {
        sip.respond(&key, response_to(&invite, status, reason, Some(&a_tag)));
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
    let a_offer = sdp::parse_offer(&String::from_utf8_lossy(&invite.body)).ok();
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
        let (status, reason) = status_for(cause);
        reply(status, reason);
        return None;
    }
    let routed = match routed {
        Ok(routed) => routed,
        Err(cause) => {
            let (status, reason) = status_for(&cause);
            reply(status, reason);
            return None;
        }
    };
    let local = calls.advertised(bound);
    // Media is anchored: each leg is offered callcore's relay, not the other party. The relay
    // listens where SIP does and is announced at the advertised address.
    let media_ip = local.ip();
    let mut relay = relay;
    let stats = relay.as_ref().map(|r| r.stats().clone());
    let digits = relay.as_mut().and_then(MediaRelay::take_digits);
    let sdp_session = u64::from(rand::random::<u32>());
    let b_body = match (&a_offer, &relay) {
        (Some(offer), Some(relay)) => {
            relay.set_a(SocketAddr::new(offer.address, offer.port));
            offer_towards_b(offer, media_ip, relay, sdp_session)
        }
        _ => invite.body.clone(), // no usable offer: pass it through
    };
    let a = Leg {
        call_id: invite.headers.get("Call-ID").unwrap_or_default().to_owned(),
        local_tag: a_tag.clone(),
        remote_tag: invite.headers.get("From").and_then(|f| param(f, "tag")),
        local_uri: invite.headers.get("To").unwrap_or_default().to_owned(),
        remote_uri: invite.headers.get("From").unwrap_or_default().to_owned(),
        remote_target: invite
            .headers
            .get("Contact")
            .and_then(contact_uri)
            .unwrap_or_else(|| invite.uri.clone()),
        peer: from,
        transport,
        cseq: 0,
        // As the INVITE's Record-Route lists it (RFC 3261 §12.1.1).
        route_set: route_values(&invite.headers.get_all("Record-Route")),
    };
    let (notify, notices) = mpsc::unbounded_channel();
    let mut session = Session::new(Opening {
        node,
        calls,
        sip,
        call,
        journal,
        route_place,
        key,
        invite,
        a,
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
    session
        .calls
        .by_call
        .insert(session.call, session.tx.clone());
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

/// What a call's actor starts with: the call, leg `a` and the media anchored for it.
pub(super) struct Opening {
    pub(super) node: Node,
    pub(super) calls: Arc<Calls>,
    pub(super) sip: SipSender,
    pub(super) call: Uuid,
    pub(super) journal: CallJournal,
    pub(super) route_place: Option<RoutePlace>,
    /// Leg `a`'s INVITE and its server transaction (callcore's own INVITE, and a key that
    /// names no server transaction, when callcore placed leg `a`).
    pub(super) key: TransactionKey,
    pub(super) invite: Request,
    pub(super) a: Leg,
    /// The offer every leg in the b slot gets.
    pub(super) b_body: Vec<u8>,
    pub(super) local: SocketAddr,
    pub(super) a_offer: Option<AudioOffer>,
    pub(super) relay: Option<Arc<MediaRelay>>,
    pub(super) enterprise: Uuid,
    pub(super) caller: String,
    pub(super) called: String,
    pub(super) route: Option<Uuid>,
    pub(super) tx: mpsc::UnboundedSender<CallInput>,
    pub(super) sdp_session: u64,
    pub(super) ivr_notify: mpsc::UnboundedSender<IvrNotice>,
}

/// The offer sent to the legs of the b slot: `offer` (leg `a`'s) pointed at the relay's b
/// side, with both G.711 laws (callcore transcodes) and telephone-events.
pub(super) fn offer_towards_b(
    offer: &AudioOffer,
    media_ip: IpAddr,
    relay: &MediaRelay,
    sdp_session: u64,
) -> Vec<u8> {
    let mut codecs = offer.codecs.clone();
    for codec in [Codec::Pcmu, Codec::Pcma] {
        if !codecs.contains(&codec) {
            codecs.push(codec);
        }
    }
    let towards_b = AudioOffer {
        address: media_ip,
        port: relay.b_port,
        codecs,
        telephone_event: offer.telephone_event.or(Some(101)),
        ..offer.clone()
    };
    sdp::print_offer(&towards_b, sdp_session, 1).into_bytes()
}

async fn next_digit(digits: &mut Option<mpsc::UnboundedReceiver<Digit>>) -> Option<Digit> {
    match digits {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    /// A call's actor state at its start.
    pub(super) fn new(o: Opening) -> Session {
        Session {
            node: o.node,
            calls: o.calls,
            sip: o.sip,
            call: o.call,
            journal: o.journal,
            _route_place: o.route_place,
            key: o.key,
            invite: o.invite,
            a: o.a,
            a_ack: None,
            b: None,
            forks: Vec::new(),
            b_body: o.b_body,
            local: o.local,
            media_ip: o.local.ip(),
            a_offer: o.a_offer,
            formats: None,
            relay: o.relay,
            held: false,
            a_answered: false,
            legs: 1,
            enterprise: o.enterprise,
            caller: o.caller,
            called: o.called,
            route: o.route,
            tx: o.tx,
            extra_ids: Vec::new(),
            pending: Vec::new(),
            sdp_session: o.sdp_session,
            sdp_version: 1,
            ivr: None,
            voicemail: false,
            ivr_notify: o.ivr_notify,
            waiting: None,
            agent: None,
            agent_wrap_up: 0,
            hold_music: None,
            monitor: None,
        }
    }

    /// Lets go of what the call held once it is over; the Call-IDs of the legs callcore
    /// created go to `ids` (for the registry's clean-up).
    pub(super) async fn finish(&mut self, ids: &mut Vec<String>) {
        if let Some(music) = self.hold_music.take() {
            music.abort();
        }
        self.hang_up_monitor().await;
        self.release_queue_hold().await;
        self.calls.by_call.remove(&self.call);
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.stop();
        }
        ids.append(&mut self.extra_ids);
    }

    /// Commits a step's commands in one write.
    pub(super) async fn record(&mut self, commands: Vec<CallCommand>) -> Option<Vec<CallEvent>> {
        self.journal.record(commands).await
    }

    /// The name of the leg in slot `which` (`b` while the slot is empty).
    fn name(&self, which: Which) -> String {
        match (which, &self.b) {
            (Which::A, _) => "a".into(),
            (Which::B, Some(slot)) => slot.name.clone(),
            (Which::B, None) => "b".into(),
        }
    }

    /// The name of the next leg callcore offers (`b`, `c`…).
    pub(super) fn next_leg_name(&mut self) -> String {
        self.legs = self.legs.saturating_add(1);
        char::from(b'a' + (self.legs - 1).min(25)).to_string()
    }

    /// Whether the leg in the b slot answered: the call is bridged.
    pub(super) fn bridged(&self) -> bool {
        self.b.as_ref().is_some_and(|b| b.answered)
    }

    /// Rings `target` as leg `name` in the b slot (its `AddLeg` is already recorded).
    pub(super) fn ring(&mut self, target: Target, name: String) {
        let mut leg = target.new_leg(self.local);
        self.calls
            .by_call_id
            .insert(leg.call_id.clone(), self.tx.clone());
        self.extra_ids.push(leg.call_id.clone());
        // Every leg in the b slot is offered the relay's b side.
        let invite = leg.request(Method::Invite, self.local, self.b_body.clone());
        self.sip.request(invite.clone(), leg.peer, leg.transport);
        self.b = Some(Slot {
            leg,
            invite,
            ack: None,
            target,
            name,
            answered: false,
            auth_tried: false,
            ring_deadline: Instant::now() + self.calls.ring_timeout,
        });
        self.held = false; // a hold by an earlier leg ends with it
    }

    /// Rings a queue offer's `target` as leg `name`: in the b slot when it is empty, else
    /// beside it (a ring-all queue); it rings for `ring` at most. With `auto_answer` the
    /// INVITE asks the phone to answer at once (`Call-Info: <sip:…>;answer-after=0`).
    pub(super) fn ring_offer(
        &mut self,
        target: Target,
        name: String,
        ring: Duration,
        auto_answer: bool,
    ) {
        let mut leg = target.new_leg(self.local);
        self.calls
            .by_call_id
            .insert(leg.call_id.clone(), self.tx.clone());
        self.extra_ids.push(leg.call_id.clone());
        let mut invite = leg.request(Method::Invite, self.local, self.b_body.clone());
        if auto_answer {
            invite
                .headers
                .push("Call-Info", format!("<sip:{}>;answer-after=0", self.local));
        }
        self.sip.request(invite.clone(), leg.peer, leg.transport);
        let slot = Slot {
            leg,
            invite,
            ack: None,
            target,
            name,
            answered: false,
            auth_tried: false,
            ring_deadline: Instant::now() + ring,
        };
        if self.b.is_none() {
            self.b = Some(slot);
        } else {
            self.forks.push(slot);
        }
    }

    /// The caller's number.
    pub(super) fn caller_number(&self) -> String {
        self.caller.clone()
    }

    /// The number called.
    pub(super) fn called_number(&self) -> String {
        self.called.clone()
    }

    /// The inbound route.
    pub(super) fn route_id(&self) -> Option<Uuid> {
        self.route
    }

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
                    super::queue::NotQueued::Full => Cause::Busy,
                    _ => Cause::Unavailable,
                };
                self.record(vec![hangup("a", Side::System, cause.clone())])
                    .await;
                let (status, reason) = status_for(&cause);
                self.reply(status, reason);
                Flow::Done
            }
        }
    }

    /// Lets leg `a` go when the b slot's leg failed: the final response to its INVITE, or a BYE
    /// when it was answered before (a failed transfer).
    fn release_a(&mut self, status: u16, reason: &str) {
        if self.a_answered {
            self.bye(Which::A);
        } else {
            self.reply(status, reason);
        }
    }

    /// Answers leg `a`'s INVITE (before it was answered).
    fn reply(&self, status: u16, reason: &str) {
        self.sip.respond(
            &self.key,
            response_to(&self.invite, status, reason, Some(&self.a.local_tag)),
        );
    }

    fn leg(&mut self, which: Which) -> Option<&mut Leg> {
        match which {
            Which::A => Some(&mut self.a),
            Which::B => self.b.as_mut().map(|slot| &mut slot.leg),
        }
    }

    /// Sends a BYE on `which`.
    pub(super) fn bye(&mut self, which: Which) {
        let local = self.local;
        let Some(leg) = self.leg(which) else { return };
        let bye = leg.request(Method::Bye, local, Vec::new());
        let (peer, transport) = (leg.peer, leg.transport);
        self.sip.request(bye, peer, transport);
    }

    /// The 200 answering leg `a` from callcore itself (an IVR call): the relay's a side in
    /// the caller's first codec.
    fn answer_a_locally(&mut self) {
        let (Some(offer), Some(relay)) = (self.a_offer.clone(), self.relay.clone()) else {
            return;
        };
        let Some(codec) = offer.codecs.first().copied() else {
            return;
        };
        let formats = Formats {
            codec,
            telephone_event: offer.telephone_event,
        };
        // Until a leg joins, nothing is transcoded.
        relay.set_formats(formats, formats);
        self.formats = Some((formats, formats));
        let mut ok = response_to(&self.invite, 200, "OK", Some(&self.a.local_tag));
        for record_route in self.invite.headers.get_all("Record-Route") {
            ok.headers.push("Record-Route", record_route);
        }
        ok.headers
            .push("Contact", format!("<sip:callcore@{}>", self.local));
        ok.body = sdp::print(
            &AudioAnswer {
                address: self.media_ip,
                port: relay.a_port,
                codec,
                telephone_event: offer.telephone_event,
                direction: offer.direction.answer(),
            },
            self.sdp_session,
            self.sdp_version,
        )
        .into_bytes();
        ok.headers.push("Content-Type", "application/sdp");
        self.sip.respond(&self.key, ok.clone());
        let number = cseq(&self.invite.headers).map_or(1, |(n, _)| n);
        self.expect_ack(ok, Which::A, number, true);
        self.a_answered = true;
        relay.touch();
    }

    /// The codec leg `a` speaks.
    pub(super) fn a_codec(&self) -> Codec {
        self.formats.map_or(Codec::Pcmu, |(a, _)| a.codec)
    }

    pub(super) async fn run(
        &mut self,
        inbox: &mut mpsc::UnboundedReceiver<CallInput>,
        mut digits: Option<mpsc::UnboundedReceiver<Digit>>,
        mut notices: mpsc::UnboundedReceiver<IvrNotice>,
    ) {
        let media_check = self.calls.media_timeout.min(Duration::from_secs(5));
        let mut next_media_check = Instant::now() + media_check;
        loop {
            let mut wake = Instant::now() + Duration::from_secs(3_600);
            if let Some(slot) = self.b.as_ref().filter(|b| !b.answered) {
                wake = wake.min(slot.ring_deadline);
            }
            for fork in &self.forks {
                wake = wake.min(fork.ring_deadline);
            }
            if let Some(monitor) = self.monitor.as_ref().filter(|m| m.ringing()) {
                wake = wake.min(monitor.ring_deadline);
            }
            if let Some(waiting) = &self.waiting {
                wake = wake.min(waiting.deadline);
            }
            if self.a_answered {
                wake = wake.min(next_media_check);
            }
            for pending in &self.pending {
                wake = wake.min(pending.next);
            }
            if let Some(timer) = self.ivr.as_ref().and_then(|i| i.timer) {
                wake = wake.min(timer);
            }
            let flow = tokio::select! {
                input = inbox.recv() => match input {
                    Some(input) => self.on_input(input).await,
                    None => Flow::Done,
                },
                Some(digit) = next_digit(&mut digits) => self.on_digit(digit).await,
                Some(notice) = notices.recv() => self.on_ivr_notice(notice).await,
                () = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    let mut flow = Flow::Continue;
                    if self.b.as_ref().is_some_and(|b| !b.answered && now >= b.ring_deadline) {
                        flow = self.no_answer().await;
                    }
                    if flow == Flow::Continue {
                        self.forks_not_answered(now).await;
                        self.monitor_not_answered(now).await;
                    }
                    if flow == Flow::Continue && self.queue_timer_due(now) {
                        flow = self.on_queue_timeout().await;
                    }
                    if flow == Flow::Continue {
                        flow = self.retransmit(now).await;
                    }
                    if flow == Flow::Continue && self.a_answered && now >= next_media_check {
                        next_media_check = now + media_check;
                        flow = self.check_media().await;
                    }
                    if flow == Flow::Continue && self.ivr_timer_due(now) {
                        flow = self.on_ivr_timer().await;
                    }
                    flow
                }
            };
            if flow == Flow::Done {
                return;
            }
        }
    }

    async fn on_input(&mut self, input: CallInput) -> Flow {
        match input {
            CallInput::Response(response) => self.on_response(response).await,
            CallInput::Request { key, request } => self.on_request(key, request).await,
            CallInput::Offer(offer) => self.on_queue_offer(offer).await,
            CallInput::Release => self.release_caller().await,
            CallInput::Withdrawn(extension) => self.offer_withdrawn(extension).await,
            CallInput::Control(control, reply) => {
                let (flow, outcome) = self.on_control(control).await;
                if let Some(reply) = reply {
                    // The API may have stopped waiting; the control was carried out anyway.
                    let _ = reply.send(outcome);
                }
                flow
            }
            CallInput::Announced { failure } => self.announced(failure).await,
            CallInput::Ack(ack) => {
                let call_id = ack.headers.get("Call-ID").unwrap_or_default();
                let number = cseq(&ack.headers).map(|(n, _)| n);
                self.pending
                    .retain(|p| p.call_id != call_id || Some(p.cseq) != number);
                Flow::Continue
            }
        }
    }

    /// Resends unacknowledged 2xx responses; an initial 2xx never acknowledged ends the call.
    async fn retransmit(&mut self, now: Instant) -> Flow {
        let mut lost_initial = false;
        let sip = &self.sip;
        self.pending.retain_mut(|p| {
            if now >= p.give_up {
                lost_initial |= p.initial;
                return false;
            }
            if now >= p.next {
                sip.raw(
                    &SipMessage::Response(p.response.clone()),
                    p.peer,
                    p.transport,
                );
                p.interval = (p.interval * 2).min(T2);
                p.next = now + p.interval;
            }
            true
        });
        if !lost_initial {
            return Flow::Continue;
        }
        // RFC 3261 §13.3.1.4: no ACK for the 2xx, so the session ends with a BYE.
        self.end(self.hangups(Side::System, Side::System, Cause::MediaTimeout, true))
            .await;
        self.bye(Which::B);
        self.bye(Which::A);
        Flow::Done
    }

    /// The commands ending leg `a` (by `a_side`) and the b slot's leg if there is one (by
    /// `b_side`), for `cause`; the leg that ended the call comes first (`a_first`), since the
    /// first hang-up is where the call was hung up.
    fn hangups(&self, a_side: Side, b_side: Side, cause: Cause, a_first: bool) -> Vec<CallCommand> {
        let mut commands = vec![hangup("a", a_side, cause.clone())];
        if self.b.is_some() {
            let b = hangup(&self.name(Which::B), b_side, cause);
            if a_first {
                commands.push(b);
            } else {
                commands.insert(0, b);
            }
        }
        commands
    }

    /// Nobody answered the b slot's leg in time: a missed call, or a failed IVR transfer.
    async fn no_answer(&mut self) -> Flow {
        let Some(slot) = self.b.take() else {
            return Flow::Continue;
        };
        if self.waiting.is_some() {
            self.sip
                .request(cancel_of(&slot.invite), slot.leg.peer, slot.leg.transport);
            self.queue_offer_failed(&slot.name, Side::System, Cause::NoAnswer)
                .await;
            self.promote_fork();
            return Flow::Continue;
        }
        if self.ivr_waits_for_transfer() {
            self.record(vec![hangup(&slot.name, Side::System, Cause::NoAnswer)])
                .await;
            self.sip
                .request(cancel_of(&slot.invite), slot.leg.peer, slot.leg.transport);
            return self.transfer_failed("no answer").await;
        }
        self.record(vec![
            hangup(&slot.name, Side::System, Cause::NoAnswer),
            hangup("a", Side::System, Cause::NoAnswer),
        ])
        .await;
        self.sip
            .request(cancel_of(&slot.invite), slot.leg.peer, slot.leg.transport);
        self.release_a(480, "Temporarily Unavailable");
        Flow::Done
    }

    /// No RTP for too long (a lost BYE, a dead phone): hang up both sides. A call on hold may
    /// be silent (`inactive`) for as long as it is held.
    async fn check_media(&mut self) -> Flow {
        let idle = !self.held
            && self
                .relay
                .as_ref()
                .is_some_and(|r| r.idle_for() >= self.calls.media_timeout);
        if !idle {
            return Flow::Continue;
        }
        self.end(self.hangups(Side::System, Side::System, Cause::MediaTimeout, false))
            .await;
        self.bye(Which::B);
        self.bye(Which::A);
        Flow::Done
    }

    async fn on_digit(&mut self, digit: Digit) -> Flow {
        let leg = self.name(if digit.from_a { Which::A } else { Which::B });
        self.record(vec![CallCommand::Digit {
            leg,
            key: digit.key,
            at: Utc::now(),
        }])
        .await;
        if digit.from_a && !self.bridged() {
            return self
                .ivr_input(domain::policy::ivr::IvrInput::Digit(digit.key))
                .await;
        }
        Flow::Continue
    }

    async fn on_response(&mut self, response: Response) -> Flow {
        let Some((number, method)) = cseq(&response.headers) else {
            return Flow::Continue;
        };
        let call_id = response.headers.get("Call-ID").unwrap_or_default();
        if self.is_monitor(call_id) {
            return self.on_monitor_response(response).await;
        }
        if call_id == self.a.call_id {
            // callcore placed leg `a` and its ACK was lost: the phone resends its 2xx.
            if let (200..=299, Some(ack)) = (response.status, &self.a_ack) {
                self.sip.raw(
                    &SipMessage::Request(ack.clone()),
                    self.a.peer,
                    self.a.transport,
                );
            }
            return Flow::Continue;
        }
        if let Some(fork) = self.forks.iter().position(|f| f.leg.call_id == call_id) {
            return self.on_fork_response(fork, number, method, response).await;
        }
        let Some(slot) = &self.b else {
            return Flow::Continue;
        };
        let current = cseq(&slot.invite.headers).map(|(n, _)| n);
        if method != Method::Invite
            || response.headers.get("Call-ID") != Some(slot.leg.call_id.as_str())
            || Some(number) != current
        {
            return Flow::Continue; // answers to our BYE or CANCEL, or to a challenged INVITE
        }
        let (answered, auth_tried) = (slot.answered, slot.auth_tried);
        match response.status {
            180 | 183 if !answered => {
                self.record(vec![CallCommand::Ringing {
                    leg: self.name(Which::B),
                    at: Utc::now(),
                }])
                .await;
                if !self.a_answered {
                    self.reply(180, "Ringing");
                }
                Flow::Continue
            }
            200..=299 if answered => {
                // Our ACK was lost: the callee resends its 2xx.
                if let Some((Some(ack), leg)) = self.b.as_ref().map(|s| (&s.ack, &s.leg)) {
                    self.sip
                        .raw(&SipMessage::Request(ack.clone()), leg.peer, leg.transport);
                }
                Flow::Continue
            }
            200..=299 => self.on_answer(response).await,
            401 | 407 if !answered && !auth_tried && self.authenticate(&response) => Flow::Continue,
            300.. if !answered => {
                let cause = if response.status == 486 {
                    Cause::Busy
                } else {
                    Cause::Rejected(response.status)
                };
                self.b_failed(Side::Callee, cause).await
            }
            _ => Flow::Continue,
        }
    }

    /// The b slot's leg refused before answer: the caller is let go, unless an IVR transfer
    /// was waiting for it (the flow then goes on).
    async fn b_failed(&mut self, side: Side, cause: Cause) -> Flow {
        let Some(slot) = self.b.take() else {
            return Flow::Continue;
        };
        if self.waiting.is_some() {
            self.queue_offer_failed(&slot.name, side, cause).await;
            self.promote_fork();
            return Flow::Continue;
        }
        if self.ivr_waits_for_transfer() {
            self.record(vec![hangup(&slot.name, side, cause.clone())])
                .await;
            let reason = match cause {
                Cause::Busy => "busy".to_owned(),
                Cause::Rejected(status) => format!("refused with {status}"),
                other => format!("{other:?}").to_lowercase(),
            };
            return self.transfer_failed(&reason).await;
        }
        self.record(vec![
            hangup(&slot.name, side, cause.clone()),
            hangup("a", Side::System, cause.clone()),
        ])
        .await;
        let (status, reason) = status_for(&cause);
        self.release_a(status, reason);
        Flow::Done
    }

    /// A trunk challenged the INVITE: send it again with the trunk's credentials. False when
    /// there is nothing to answer with (the challenge then ends the call like a refusal).
    fn authenticate(&mut self, response: &Response) -> bool {
        let local = self.local;
        let Some(slot) = self.b.as_mut() else {
            return false;
        };
        slot.auth_tried = true;
        let (header_in, header_out) = if response.status == 401 {
            ("WWW-Authenticate", "Authorization")
        } else {
            ("Proxy-Authenticate", "Proxy-Authorization")
        };
        let answer = match (&slot.target.credentials, response.headers.get(header_in)) {
            (Some((user, password)), Some(challenge)) => answer_challenge(
                challenge,
                "INVITE",
                &slot.invite.uri,
                user,
                password,
                &random_hex(8),
            )
            .ok(),
            _ => None,
        };
        let Some(answer) = answer else {
            return false;
        };
        let body = slot.invite.body.clone();
        let mut invite = slot.leg.request(Method::Invite, local, body);
        invite.headers.push(header_out, answer);
        slot.invite = invite.clone();
        self.sip.request(invite, slot.leg.peer, slot.leg.transport);
        true
    }

    /// The b slot's leg answered: bridge, record, and answer leg `a` with the relay's address
    /// (unless it was answered before: a transfer, or an IVR call).
    pub(super) async fn on_answer(&mut self, response: Response) -> Flow {
        let local = self.local;
        let Some(slot) = self.b.as_mut() else {
            return Flow::Continue;
        };
        slot.leg.confirm(&response);
        let ack = ack_of(&slot.leg, &slot.invite, local);
        let b_name = slot.name.clone();
        let announce = match (&self.waiting, &slot.target.party) {
            (Some(waiting), Party::Extension { number, .. })
                if waiting.queue.settings.announce_agent_number =>
            {
                Some(number.clone())
            }
            _ => None,
        };
        if self.waiting.is_some() {
            // The member answered: the caller leaves the queue; the others stop ringing.
            let cancelled: Vec<CallCommand> = std::mem::take(&mut self.forks)
                .into_iter()
                .map(|fork| {
                    self.sip
                        .request(cancel_of(&fork.invite), fork.leg.peer, fork.leg.transport);
                    hangup(&fork.name, Side::System, Cause::Cancelled)
                })
                .collect();
            if !cancelled.is_empty() {
                self.record(cancelled).await;
            }
            self.queue_answered(&b_name).await;
        }
        let at = Utc::now();
        // The bridged part is recorded: the answer, the bridge and the recording are one step.
        let recording = self
            .relay
            .is_some()
            .then(|| format!("recordings/{}/{}.wav", at.format("%Y/%m/%d"), self.call));
        let mut step = vec![CallCommand::Answer {
            leg: b_name.clone(),
            at,
        }];
        if !self.a_answered {
            step.push(CallCommand::Answer {
                leg: "a".into(),
                at,
            });
        }
        step.push(CallCommand::Bridge {
            leg: "a".into(),
            other: b_name,
            at,
        });
        if let Some(file) = &recording {
            step.push(CallCommand::StartRecording {
                file: file.clone(),
                at,
            });
        }
        let recorded = self.record(step).await;
        if let Some(slot) = self.b.as_mut() {
            self.sip.raw(
                &SipMessage::Request(ack.clone()),
                slot.leg.peer,
                slot.leg.transport,
            );
            slot.ack = Some(ack);
            slot.answered = true;
        }
        let started = recorded.is_some_and(|events| {
            events
                .iter()
                .any(|e| matches!(e, CallEvent::RecordingStarted { .. }))
        });
        if let (Some(file), Some(relay), true) = (&recording, &self.relay, started) {
            relay.start_recording(self.node.data_dir.join(file));
        }
        let mut ok = response_to(&self.invite, 200, "OK", Some(&self.a.local_tag));
        for record_route in self.invite.headers.get_all("Record-Route") {
            ok.headers.push("Record-Route", record_route);
        }
        ok.headers
            .push("Contact", format!("<sip:callcore@{}>", self.local));
        ok.body = match (&self.a_offer, &self.relay) {
            (Some(offer), Some(relay)) => {
                let b_answer = sdp::parse_offer(&String::from_utf8_lossy(&response.body)).ok();
                if let Some(b_answer) = &b_answer {
                    relay.set_b(SocketAddr::new(b_answer.address, b_answer.port));
                }
                let b_codec = b_answer.as_ref().and_then(|a| a.codecs.first().copied());
                // Leg `a` keeps the codec it was answered with.
                let a_codec = match self.formats {
                    Some((a, _)) if self.a_answered => Some(a.codec),
                    _ => b_codec
                        .filter(|c| offer.codecs.contains(c))
                        .or(offer.codecs.first().copied()),
                };
                match a_codec {
                    Some(a_codec) => {
                        let formats = (
                            Formats {
                                codec: a_codec,
                                telephone_event: offer.telephone_event,
                            },
                            Formats {
                                codec: b_codec.unwrap_or(a_codec),
                                telephone_event: b_answer.as_ref().and_then(|a| a.telephone_event),
                            },
                        );
                        relay.set_formats(formats.0, formats.1);
                        self.formats = Some(formats);
                        sdp::print(
                            &AudioAnswer {
                                address: self.media_ip,
                                port: relay.a_port,
                                codec: a_codec,
                                telephone_event: offer.telephone_event,
                                direction: offer.direction.answer(),
                            },
                            self.sdp_session,
                            self.sdp_version,
                        )
                        .into_bytes()
                    }
                    None => response.body.clone(),
                }
            }
            _ => response.body.clone(),
        };
        if !ok.body.is_empty() {
            ok.headers.push("Content-Type", "application/sdp");
        }
        if let Some(number) = announce {
            self.announce_agent(number).await;
        }
        if self.a_answered {
            if self.ivr_waits_for_transfer() {
                return self
                    .ivr_input(domain::policy::ivr::IvrInput::TransferConnected)
                    .await;
            }
            return Flow::Continue;
        }
        self.sip.respond(&self.key, ok.clone());
        let number = cseq(&self.invite.headers).map_or(1, |(n, _)| n);
        self.expect_ack(ok, Which::A, number, true);
        self.a_answered = true;
        Flow::Continue
    }

    /// Keeps `ok` (sent on `which` for the INVITE numbered `number`) for retransmission.
    fn expect_ack(&mut self, ok: Response, which: Which, number: u32, initial: bool) {
        let Some(leg) = self.leg(which).map(|l| l.clone()) else {
            return;
        };
        if leg.transport == Transport::Tcp {
            return; // a reliable transport delivers it (RFC 3261 §13.3.1.4)
        }
        let now = Instant::now();
        self.pending.push(PendingOk {
            response: ok,
            call_id: leg.call_id,
            cseq: number,
            peer: leg.peer,
            transport: leg.transport,
            next: now + T1,
            interval: T1,
            give_up: now + T1 * 64,
            initial,
        });
    }

    /// Finishes the recording or voicemail (if one runs) and records `commands` (the legs'
    /// ends), in one step.
    pub(super) async fn end(&mut self, commands: Vec<CallCommand>) {
        let mut step = Vec::with_capacity(commands.len() + 1);
        match self.relay.as_ref().and_then(|r| r.stop_recording()) {
            Some(Ok(duration_ms)) if self.voicemail => step.push(CallCommand::StopVoicemail {
                duration_ms,
                at: Utc::now(),
            }),
            Some(Ok(duration_ms)) => step.push(CallCommand::StopRecording {
                duration_ms,
                at: Utc::now(),
            }),
            Some(Err(error)) => warn!(call = %self.call, %error, "recording did not finish"),
            None => {}
        }
        step.extend(commands);
        self.record(step).await;
    }

    async fn on_request(&mut self, key: TransactionKey, request: Request) -> Flow {
        if self.is_monitor(request.headers.get("Call-ID").unwrap_or_default()) {
            return self.on_monitor_request(key, request).await;
        }
        let which = match &self.b {
            Some(slot) if request.headers.get("Call-ID") == Some(slot.leg.call_id.as_str()) => {
                Which::B
            }
            _ => Which::A,
        };
        let tag = self
            .leg(which)
            .map(|l| l.local_tag.clone())
            .unwrap_or_default();
        let respond = |sip: &SipSender, status: u16, reason: &str| {
            sip.respond(&key, response_to(&request, status, reason, Some(&tag)));
        };
        let bridged = self.bridged();
        let up = match which {
            Which::A => self.a_answered,
            Which::B => bridged,
        };
        match (&request.method, which) {
            (Method::Cancel, Which::A) if !self.a_answered => {
                respond(&self.sip, 200, "OK");
                let mut commands = self.hangups(Side::Caller, Side::System, Cause::Cancelled, true);
                commands.extend(self.cancel_forks());
                self.record(commands).await;
                if let Some(slot) = &self.b {
                    self.sip
                        .request(cancel_of(&slot.invite), slot.leg.peer, slot.leg.transport);
                }
                self.reply(487, "Request Terminated");
                Flow::Done
            }
            (Method::Bye, Which::A) if self.a_answered && !bridged => {
                // The caller leaves an IVR, or a transfer that still rings.
                respond(&self.sip, 200, "OK");
                let mut commands = vec![hangup("a", Side::Caller, Cause::Normal)];
                if self.b.is_some() {
                    commands.push(hangup(&self.name(Which::B), Side::System, Cause::Cancelled));
                }
                commands.extend(self.cancel_forks());
                self.end(commands).await;
                if let Some(slot) = &self.b {
                    self.sip
                        .request(cancel_of(&slot.invite), slot.leg.peer, slot.leg.transport);
                }
                Flow::Done
            }
            (Method::Refer, Which::B) if bridged => {
                self.on_refer(&key, &request).await;
                Flow::Continue
            }
            (Method::Refer, _) => {
                respond(
                    &self.sip,
                    403,
                    "Forbidden (transfer from the called side only)",
                );
                Flow::Continue
            }
            (Method::Bye, _) if bridged => {
                respond(&self.sip, 200, "OK");
                let side = match which {
                    Which::A => Side::Caller,
                    Which::B => Side::Callee,
                };
                self.end(vec![
                    hangup(&self.name(which), side, Cause::Normal),
                    hangup(&self.name(which.other()), Side::System, Cause::Normal),
                ])
                .await;
                self.bye(which.other());
                Flow::Done
            }
            (Method::Invite, _) if up => {
                self.on_reinvite(&key, &request, which).await;
                Flow::Continue
            }
            // A session refresh (RFC 4028) or, with SDP, a hold or resume (RFC 3311).
            (Method::Update, _) if up && request.body.is_empty() => {
                respond(&self.sip, 200, "OK");
                Flow::Continue
            }
            (Method::Update, _) if up => {
                self.on_reinvite(&key, &request, which).await;
                Flow::Continue
            }
            (Method::Info, _) if up => {
                respond(&self.sip, 200, "OK");
                let Some(key) = info_digit(&request) else {
                    return Flow::Continue;
                };
                let flow = self
                    .on_digit(Digit {
                        from_a: which == Which::A,
                        key,
                    })
                    .await;
                // Carried on to the other leg as RFC 4733 when it speaks telephone-events.
                if let (true, Some(relay), Some((a, b))) = (bridged, &self.relay, self.formats) {
                    let onward = if which == Which::A { b } else { a };
                    if let Some(pt) = onward.telephone_event {
                        if let Some(sending) = relay.send_digit(which == Which::B, key, pt) {
                            sending.detach();
                        }
                    }
                }
                flow
            }
            (Method::Options, _) => {
                respond(&self.sip, 200, "OK");
                Flow::Continue
            }
            _ => {
                respond(&self.sip, 501, "Not Implemented");
                Flow::Continue
            }
        }
    }

    /// A blind transfer (REFER, RFC 3515) from the answered called side: leg `a` stays, the
    /// transferring leg is released, and a new leg rings the Refer-To target (an extension, or
    /// an outside number when the transferring extension may dial out). Attended transfer
    /// (Replaces) is refused with 501.
    async fn on_refer(&mut self, key: &TransactionKey, request: &Request) {
        let Some(slot) = &self.b else { return };
        let tag = slot.leg.local_tag.clone();
        let respond = |sip: &SipSender, status: u16, reason: &str| {
            sip.respond(key, response_to(request, status, reason, Some(&tag)));
        };
        let Some(refer_to) = request.headers.get("Refer-To").map(str::to_owned) else {
            return respond(&self.sip, 400, "Bad Request (Refer-To)");
        };
        if refer_to.to_ascii_lowercase().contains("replaces=") {
            return respond(&self.sip, 501, "Not Implemented (attended transfer)");
        }
        let Some(user) = contact_uri(&refer_to)
            .and_then(|uri| SipUri::parse(&uri))
            .and_then(|uri| uri.user)
        else {
            return respond(&self.sip, 400, "Bad Request (Refer-To)");
        };
        let target = plan::transfer_target(
            &self.node,
            self.enterprise,
            &slot.target.party,
            &user,
            &slot.target.caller_id,
        )
        .await;
        let target = match target {
            Ok(target) => target,
            Err(cause) => {
                let (status, reason) = match cause {
                    Cause::OutboundNotAllowed => (403, "Forbidden (manual outbound not allowed)"),
                    Cause::NoRoute | Cause::NoCallerId => (404, "Not Found"),
                    _ => (480, "Temporarily Unavailable"),
                };
                return respond(&self.sip, status, reason);
            }
        };
        respond(&self.sip, 202, "Accepted");
        let transferor = self.name(Which::B);
        let new_leg = self.next_leg_name();
        let at = Utc::now();
        let described = match &target.party {
            Party::Extension { number, .. } => format!("extension:{number}"),
            Party::External { number } => format!("number:{number}"),
        };
        self.record(vec![
            CallCommand::Transfer {
                by_leg: transferor.clone(),
                target: described,
                at,
            },
            hangup(&transferor, Side::Callee, Cause::Normal),
            CallCommand::AddLeg {
                leg: new_leg.clone(),
                party: target.party.clone(),
                caller_id: target.caller_id.clone(),
                forwarded: false,
                at,
            },
        ])
        .await;
        // The BYE ends the transferor's dialog and, with it, the REFER's implicit subscription.
        self.bye(Which::B);
        self.ring(target, new_leg);
    }

    /// A re-INVITE (or an UPDATE with SDP) on an answered leg: a hold (`sendonly`/`inactive`),
    /// a resume, or a new media address. callcore answers it itself, since media is anchored
    /// the other leg needs no new offer; the leg put on hold is the other one (when there is
    /// one: a caller holding an IVR holds nobody).
    async fn on_reinvite(&mut self, key: &TransactionKey, request: &Request, which: Which) {
        let offer = sdp::parse_offer(&String::from_utf8_lossy(&request.body)).ok();
        let direction = offer
            .as_ref()
            .map_or(sdp::Direction::SendRecv, |o| o.direction);
        if let (Some(offer), Some(relay)) = (&offer, &self.relay) {
            if offer.port != 0 && !offer.address.is_unspecified() {
                let address = SocketAddr::new(offer.address, offer.port);
                match which {
                    Which::A => relay.set_a(address),
                    Which::B => relay.set_b(address),
                }
            }
        }
        let other_up = match which {
            Which::A => self.bridged(),
            Which::B => self.a_answered,
        };
        if other_up {
            let held = self.name(which.other());
            let at = Utc::now();
            let command = if direction.is_hold() {
                CallCommand::Hold { leg: held, at }
            } else {
                CallCommand::Resume { leg: held, at }
            };
            self.record(vec![command]).await;
        }
        if self.held && !direction.is_hold() {
            // The media timeout counts again from the resume.
            if let Some(relay) = &self.relay {
                relay.touch();
            }
        }
        self.held = direction.is_hold();
        let tag = self
            .leg(which)
            .map(|l| l.local_tag.clone())
            .unwrap_or_default();
        let mut ok = response_to(request, 200, "OK", Some(&tag));
        ok.headers
            .push("Contact", format!("<sip:callcore@{}>", self.local));
        if let (Some(relay), Some((a, b))) = (&self.relay, self.formats) {
            let (port, formats) = match which {
                Which::A => (relay.a_port, a),
                Which::B => (relay.b_port, b),
            };
            let codec = offer
                .as_ref()
                .and_then(|o| {
                    o.codecs
                        .contains(&formats.codec)
                        .then_some(formats.codec)
                        .or(o.codecs.first().copied())
                })
                .unwrap_or(formats.codec);
            self.sdp_version += 1;
            ok.body = sdp::print(
                &AudioAnswer {
                    address: self.media_ip,
                    port,
                    codec,
                    telephone_event: formats.telephone_event,
                    direction: direction.answer(),
                },
                self.sdp_session,
                self.sdp_version,
            )
            .into_bytes();
            ok.headers.push("Content-Type", "application/sdp");
        }
        self.sip.respond(key, ok.clone());
        if request.method == Method::Invite {
            let number = cseq(&request.headers).map_or(1, |(n, _)| n);
            self.expect_ack(ok, which, number, false);
        }
    }
}

/// The key in a SIP INFO (`application/dtmf-relay` `Signal=5`, or `application/dtmf` `5`).
fn info_digit(request: &Request) -> Option<char> {
    let body = String::from_utf8_lossy(&request.body);
    let value = body
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| body.trim().to_owned());
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(key), None) if telephony::media::dtmf::event_of(key).is_some() => {
            Some(key.to_ascii_uppercase())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_answer_the_caller_with_matching_statuses() {
        assert_eq!(status_for(&Cause::Busy).0, 486);
        assert_eq!(status_for(&Cause::RouteLimitReached).0, 486);
        assert_eq!(status_for(&Cause::OutboundNotAllowed).0, 403);
        assert_eq!(status_for(&Cause::NoCallerId).0, 403);
        assert_eq!(status_for(&Cause::Rejected(603)).0, 603);
        assert_eq!(status_for(&Cause::Rejected(407)).0, 480);
        assert_eq!(status_for(&Cause::Rejected(302)).0, 480);
        assert_eq!(status_for(&Cause::NoAnswer).0, 480);
        assert_eq!(status_for(&Cause::Cancelled).0, 487);
    }
}
