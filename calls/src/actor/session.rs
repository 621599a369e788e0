//! One call's actor state and the helpers every part of the actor uses: recording a step in
//! the call's journal, sending what the dialog layer decided, naming and ringing legs, ending
//! legs, and letting go of everything when the call is over. The call's parts (the bridge,
//! in-dialog requests, queues, the IVR, controls, supervision) are in modules of their own,
//! each extending [`Session`] with what it does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::call::{CallCommand, CallEvent, Cause, Side};
use node::Node;
use telephony::driver::SipSender;
use telephony::media::relay::{Formats, MediaRelay};
use telephony::sdp::AudioOffer;
use telephony::sip::message::Response;
use telephony::sip::transaction::TransactionKey;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::warn;
use uuid::Uuid;

use super::ivr_driver::{IvrDriver, IvrNotice};
use super::legs::{LegA, Slot};
use super::parts::{AgentOnCall, Media, MonitorLeg, Waiting};
use crate::dialog::{answer_body, AckWait, Leg, Outbound, OutgoingInvite, Which};
use crate::inbox::CallInput;
use crate::journal::CallJournal;
use crate::plan::Target;
use crate::registry::{Calls, RoutePlace};

/// Whether the actor goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// The call goes on.
    Continue,
    /// The call is over.
    Done,
}

/// The command that ends `leg` now.
pub(crate) fn hangup(leg: &str, side: Side, cause: Cause) -> CallCommand {
    CallCommand::Hangup {
        leg: leg.to_owned(),
        side,
        cause,
        at: Utc::now(),
    }
}

/// Hands `out` to the SIP driver behind `sip`.
pub(crate) fn send_via(sip: &SipSender, out: Outbound) {
    match out {
        Outbound::Respond { key, response } => sip.respond(&key, response),
        Outbound::Request {
            request,
            peer,
            transport,
        } => sip.request(request, peer, transport),
        Outbound::Raw {
            message,
            peer,
            transport,
        } => sip.raw(&message, peer, transport),
    }
}

/// A running call.
pub(crate) struct Session {
    /// The node (log, read models).
    pub(crate) node: Node,
    /// The node's calls and shared services.
    pub(crate) calls: Arc<Calls>,
    sip: SipSender,
    /// The call's id (its stream).
    pub(crate) call: Uuid,
    /// Its enterprise.
    pub(crate) enterprise: Uuid,
    /// The caller's number (E.164 when it is one), the number called and the inbound route.
    caller: String,
    called: String,
    route: Option<Uuid>,
    journal: CallJournal,
    /// Held while the call lasts (the route's count of calls in progress).
    _route_place: Option<RoutePlace>,
    /// The actor's own inbox, for its tasks and the registry.
    pub(crate) tx: mpsc::UnboundedSender<CallInput>,
    /// Call-IDs of legs callcore created, for the registry's clean-up.
    extra_ids: Vec<String>,
    /// callcore's advertised SIP address.
    pub(crate) local: SocketAddr,
    /// Leg `a`.
    pub(crate) a: LegA,
    /// The leg in the b slot.
    pub(crate) b: Option<Slot>,
    /// Legs ringing beside the b slot's for the same caller (a ring-all queue).
    pub(crate) forks: Vec<Slot>,
    /// 2xx responses waiting for their ACKs.
    pub(crate) acks: AckWait,
    /// Legs offered so far (names the next one).
    legs: u8,
    /// The relay and what each leg speaks.
    pub(crate) media: Media,
    /// The IVR flow the call runs, when it was routed to one.
    pub(crate) ivr: Option<IvrDriver>,
    /// Where the IVR's tasks report (for a flow entered later, a queue's overflow).
    pub(crate) ivr_notify: mpsc::UnboundedSender<IvrNotice>,
    /// The queue the caller waits in.
    pub(crate) waiting: Option<Waiting>,
    /// The agent seat the caller is connected to.
    pub(crate) agent: Option<AgentOnCall>,
    /// A supervisor listening, whispering or barging in.
    pub(crate) monitor: Option<MonitorLeg>,
}

/// What a call's actor starts with: the call, leg `a` and the media anchored for it.
pub(crate) struct Opening {
    pub(crate) node: Node,
    pub(crate) calls: Arc<Calls>,
    pub(crate) sip: SipSender,
    pub(crate) call: Uuid,
    pub(crate) journal: CallJournal,
    pub(crate) route_place: Option<RoutePlace>,
    pub(crate) a: LegA,
    /// The offer every leg in the b slot gets.
    pub(crate) b_body: Vec<u8>,
    pub(crate) local: SocketAddr,
    pub(crate) a_offer: Option<AudioOffer>,
    pub(crate) relay: Option<Arc<MediaRelay>>,
    pub(crate) enterprise: Uuid,
    pub(crate) caller: String,
    pub(crate) called: String,
    pub(crate) route: Option<Uuid>,
    pub(crate) tx: mpsc::UnboundedSender<CallInput>,
    pub(crate) sdp_session: u64,
    pub(crate) ivr_notify: mpsc::UnboundedSender<IvrNotice>,
}

impl Session {
    /// A call's actor state at its start; the API reaches it by its id from now.
    pub(crate) fn new(o: Opening) -> Session {
        o.calls.register_call(o.call, o.tx.clone());
        Session {
            node: o.node,
            calls: o.calls,
            sip: o.sip,
            call: o.call,
            enterprise: o.enterprise,
            caller: o.caller,
            called: o.called,
            route: o.route,
            journal: o.journal,
            _route_place: o.route_place,
            tx: o.tx,
            extra_ids: Vec::new(),
            local: o.local,
            a: o.a,
            b: None,
            forks: Vec::new(),
            acks: AckWait::default(),
            legs: 1,
            media: Media {
                relay: o.relay,
                a_offer: o.a_offer,
                b_body: o.b_body,
                formats: None,
                ip: o.local.ip(),
                sdp_session: o.sdp_session,
                sdp_version: 1,
                held: false,
                hold_music: None,
                voicemail: false,
            },
            ivr: None,
            ivr_notify: o.ivr_notify,
            waiting: None,
            agent: None,
            monitor: None,
        }
    }

    /// Lets go of what the call held once it is over; the Call-IDs of the legs callcore
    /// created go to `ids` (for the registry's clean-up).
    pub(crate) async fn finish(&mut self, ids: &mut Vec<String>) {
        self.media.stop_hold_music();
        self.hang_up_monitor().await;
        self.release_queue_hold().await;
        self.calls.forget_call(self.call);
        if let Some(ivr) = self.ivr.as_mut() {
            ivr.stop();
        }
        ids.append(&mut self.extra_ids);
    }

    /// Commits a step's commands in one write.
    pub(crate) async fn record(&mut self, commands: Vec<CallCommand>) -> Option<Vec<CallEvent>> {
        self.journal.record(commands).await
    }

    /// Hands what the dialog layer decided to the SIP driver.
    pub(crate) fn send(&self, out: Outbound) {
        send_via(&self.sip, out);
    }

    /// Answers the server transaction `key` (a request in one of the call's dialogs).
    pub(crate) fn answer_request(&self, key: &TransactionKey, response: Response) {
        self.sip.respond(key, response);
    }

    /// Sends each of `all`.
    pub(crate) fn send_all(&self, all: Vec<Outbound>) {
        for out in all {
            self.send(out);
        }
    }

    /// The caller's number.
    pub(crate) fn caller_number(&self) -> String {
        self.caller.clone()
    }

    /// The number called.
    pub(crate) fn called_number(&self) -> String {
        self.called.clone()
    }

    /// The inbound route.
    pub(crate) fn route_id(&self) -> Option<Uuid> {
        self.route
    }

    /// The name of the leg in slot `which` (`b` while the slot is empty).
    pub(crate) fn name(&self, which: Which) -> String {
        match (which, &self.b) {
            (Which::A, _) => "a".into(),
            (Which::B, Some(slot)) => slot.name.clone(),
            (Which::B, None) => "b".into(),
        }
    }

    /// The name of the next leg callcore offers (`b`, `c`…).
    pub(crate) fn next_leg_name(&mut self) -> String {
        self.legs = self.legs.saturating_add(1);
        char::from(b'a' + (self.legs - 1).min(25)).to_string()
    }

    /// Whether the leg in the b slot answered: the call is bridged.
    pub(crate) fn bridged(&self) -> bool {
        self.b.as_ref().is_some_and(Slot::answered)
    }

    /// Whether leg `a` got its 2xx.
    pub(crate) fn a_answered(&self) -> bool {
        self.a.answered()
    }

    /// The dialog of `which`.
    pub(crate) fn leg(&self, which: Which) -> Option<&Leg> {
        match which {
            Which::A => Some(self.a.leg()),
            Which::B => self.b.as_ref().map(|slot| slot.call.leg()),
        }
    }

    /// Routes the messages of a dialog callcore opened for this call to this actor.
    pub(crate) fn adopt_call_id(&mut self, call_id: &str) {
        self.calls
            .register_call_id(call_id.to_owned(), self.tx.clone());
        self.extra_ids.push(call_id.to_owned());
    }

    /// Sends an INVITE offering the relay's b side to `target` as leg `name`, ringing for
    /// `ring` (asking the phone to pick up at once with `auto_answer`).
    fn invite(&mut self, target: Target, name: String, ring: Duration, auto_answer: bool) -> Slot {
        let leg = target.new_leg(self.local);
        self.adopt_call_id(&leg.call_id);
        let call_info = auto_answer.then(|| format!("<sip:{}>;answer-after=0", self.local));
        let (call, out) = OutgoingInvite::start(
            leg,
            self.local,
            self.media.b_body.clone(),
            call_info,
            target.credentials.clone(),
            Instant::now(),
            ring,
        );
        self.send(out);
        Slot { call, target, name }
    }

    /// Rings `target` as leg `name` in the b slot (its `AddLeg` is already recorded).
    pub(crate) fn ring(&mut self, target: Target, name: String) {
        let ring = self.calls.ring_timeout();
        self.b = Some(self.invite(target, name, ring, false));
        self.media.held = false; // a hold by an earlier leg ends with it
    }

    /// Rings a queue offer's `target` as leg `name`: in the b slot when it is empty, else
    /// beside it (a ring-all queue); it rings for `ring` at most. With `auto_answer` the
    /// INVITE asks the phone to answer at once (`Call-Info: <sip:…>;answer-after=0`).
    pub(crate) fn ring_offer(
        &mut self,
        target: Target,
        name: String,
        ring: Duration,
        auto_answer: bool,
    ) {
        let slot = self.invite(target, name, ring, auto_answer);
        if self.b.is_none() {
            self.b = Some(slot);
        } else {
            self.forks.push(slot);
        }
    }

    /// Answers leg `a`'s INVITE (before it was answered).
    pub(crate) fn reply(&self, status: u16, reason: &str) {
        if let Some(out) = self.a.reply(status, reason) {
            self.send(out);
        }
    }

    /// Lets leg `a` go when the b slot's leg failed: the final response to its INVITE, or a BYE
    /// when it was answered before (a failed transfer).
    pub(crate) fn release_a(&mut self, status: u16, reason: &str) {
        if self.a_answered() {
            self.bye(Which::A);
        } else {
            self.reply(status, reason);
        }
    }

    /// Sends a BYE on `which` (the b slot's leg: a CANCEL while it rings).
    pub(crate) fn bye(&mut self, which: Which) {
        let local = self.local;
        let out = match which {
            Which::A => Some(self.a.bye(local)),
            Which::B => self.b.as_mut().map(|slot| slot.call.hang_up(local)),
        };
        if let Some(out) = out {
            self.send(out);
        }
    }

    /// Keeps `ok`, sent on `which` for the INVITE numbered `number`, for retransmission.
    pub(crate) fn expect_ack(&mut self, ok: Response, which: Which, number: u32, initial: bool) {
        let Some(leg) = self.leg(which).cloned() else {
            return;
        };
        self.acks.expect(ok, &leg, number, Instant::now(), initial);
    }

    /// The 200 answering leg `a` from callcore itself (an IVR or queue call): the relay's a
    /// side in the caller's first codec.
    pub(crate) fn answer_a_locally(&mut self) {
        let (Some(offer), Some(relay)) = (self.media.a_offer.clone(), self.media.relay.clone())
        else {
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
        self.media.formats = Some((formats, formats));
        let body = answer_body(
            self.media.ip,
            relay.a_port,
            formats,
            offer.direction.answer(),
            self.media.sdp_session,
            self.media.sdp_version,
        );
        self.answer_a(body);
        relay.touch();
    }

    /// Sends leg `a` its 200 with `body` and waits for its ACK (a placed leg `a` is answered
    /// already).
    pub(crate) fn answer_a(&mut self, body: Vec<u8>) {
        let LegA::Called { invite, answered } = &mut self.a else {
            return;
        };
        let ok = invite.ok(self.local, body);
        let number = invite.cseq();
        let out = invite.respond(ok.clone());
        *answered = true;
        self.send(out);
        self.expect_ack(ok, Which::A, number, true);
    }

    /// Finishes the recording or voicemail (if one runs) and records `commands` (the legs'
    /// ends), in one step.
    pub(crate) async fn end(&mut self, commands: Vec<CallCommand>) {
        let mut step = Vec::with_capacity(commands.len() + 1);
        // Finishing a recording flushes it to the disk (file and directory): off the runtime's
        // threads, so other calls' signalling does not wait for the disk.
        let finished = match self.media.relay.clone() {
            Some(relay) => tokio::task::spawn_blocking(move || relay.stop_recording())
                .await
                .unwrap_or_else(|error| {
                    warn!(call = %self.call, %error, "finishing the recording stopped");
                    None
                }),
            None => None,
        };
        match finished {
            Some(Ok(duration_ms)) if self.media.voicemail => {
                step.push(CallCommand::StopVoicemail {
                    duration_ms,
                    at: Utc::now(),
                })
            }
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

    /// The commands ending leg `a` (by `a_side`) and the b slot's leg if there is one (by
    /// `b_side`), for `cause`; the leg that ended the call comes first (`a_first`), since the
    /// first hang-up is where the call was hung up.
    pub(crate) fn hangups(
        &self,
        a_side: Side,
        b_side: Side,
        cause: Cause,
        a_first: bool,
    ) -> Vec<CallCommand> {
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
}
