//! The call runtime, first part: inbound calls from a trunk to a DID, routed to an extension.
//! Each call is a task (an actor) owning its two legs; it turns SIP happenings into commands on
//! its `call` aggregate and carries out the effect (answering, forwarding, hanging up) only
//! after the events deciding it are committed. Media is anchored: each leg talks to callcore's
//! RTP relay for the call (`MediaRelay`), with the session descriptions rewritten to point at it.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use dashmap::DashMap;
use domain::call::{Call, CallCommand, CallEvent, Cause, Direction, Party, RouteCheck, Side};
use domain::route::Destination;
use eventlog::Metadata;
use projections::{CallRecordDoc, CallStatus, ExtensionDoc, RouteDoc, TrunkDoc};
use rand::RngCore;
use telephony::driver::SipSender;
use telephony::media::relay::{MediaRelay, RelayStats};
use telephony::sdp;
use telephony::sip::message::{
    cseq, param, Headers, Method, Request, Response, SipMessage, SipUri,
};
use telephony::sip::transaction::{response_to, TransactionKey, Transport};
use tokio::sync::mpsc;
use tracing::warn;
use uuid::Uuid;

use crate::app::App;

/// Something for a call's actor.
#[derive(Debug)]
pub enum CallInput {
    /// A request in one of its dialogs (CANCEL, BYE, re-INVITE).
    Request {
        /// Its server transaction.
        key: TransactionKey,
        /// The request.
        request: Request,
    },
    /// A response to one of its client transactions.
    Response(Response),
    /// An ACK of a 2xx.
    Ack,
}

/// The live calls of the node, by SIP Call-ID of either leg.
#[derive(Debug)]
pub struct Calls {
    by_call_id: DashMap<String, mpsc::UnboundedSender<CallInput>>,
    ring_timeout: Duration,
    media_timeout: Duration,
    /// RTP packets relayed from callers to callees by calls that have ended.
    pub relayed_to_callee: std::sync::atomic::AtomicU64,
    /// RTP packets relayed from callees to callers by calls that have ended.
    pub relayed_to_caller: std::sync::atomic::AtomicU64,
}

impl Calls {
    /// No calls yet; an extension rings at most `ring_timeout` before the call is missed, and
    /// an answered call without RTP for `media_timeout` is hung up.
    pub fn new(ring_timeout: Duration, media_timeout: Duration) -> Self {
        Self {
            by_call_id: DashMap::new(),
            ring_timeout,
            media_timeout,
            relayed_to_callee: Default::default(),
            relayed_to_caller: Default::default(),
        }
    }

    /// Hands `input` to the call owning `call_id`; false when there is none.
    pub fn deliver(&self, call_id: &str, input: CallInput) -> bool {
        self.by_call_id
            .get(call_id)
            .is_some_and(|tx| tx.send(input).is_ok())
    }

    /// Calls in progress on this node.
    pub fn len(&self) -> usize {
        self.by_call_id.len()
    }

    /// Whether no call is up.
    pub fn is_empty(&self) -> bool {
        self.by_call_id.is_empty()
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

fn branch() -> String {
    format!("z9hG4bK{}", random_hex(8))
}

/// What a running inbound call knows.
struct Leg {
    call_id: String,
    local_tag: String,
    remote_tag: Option<String>,
    local_uri: String,
    remote_uri: String,
    remote_target: String,
    peer: SocketAddr,
    transport: Transport,
    cseq: u32,
}

/// Starts the actor of a new inbound INVITE.
pub fn start_inbound(
    app: App,
    calls: Arc<Calls>,
    key: TransactionKey,
    invite: Request,
    from: SocketAddr,
    transport: Transport,
    sip: SipSender,
) {
    let call_id = invite.headers.get("Call-ID").unwrap_or_default().to_owned();
    let (tx, inbox) = mpsc::unbounded_channel();
    calls.by_call_id.insert(call_id.clone(), tx.clone());
    tokio::spawn(async move {
        let mut ids = vec![call_id];
        let mut media = None;
        inbound(
            &app, &calls, &key, &invite, from, transport, &sip, inbox, tx, &mut ids, &mut media,
        )
        .await;
        if let Some(stats) = media {
            calls
                .relayed_to_callee
                .fetch_add(stats.a_to_b.load(Ordering::Relaxed), Ordering::Relaxed);
            calls
                .relayed_to_caller
                .fetch_add(stats.b_to_a.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        for id in ids {
            calls.by_call_id.remove(&id);
        }
    });
}

fn is_trunk_source(app: &App, from: SocketAddr) -> bool {
    let ip = from.ip().to_string();
    app.models.model("trunks").is_ok_and(|m| {
        m.read()
            .values()
            .filter_map(|d| d.decode::<TrunkDoc>())
            .any(|t| t.settings.host == ip || t.settings.allowed_sources.contains(&ip))
    })
}

async fn commit(
    app: &App,
    call: Uuid,
    enterprise: Uuid,
    command: CallCommand,
) -> Option<Vec<CallEvent>> {
    match app
        .execute::<Call>(call, command, Metadata::new(Some(enterprise), None))
        .await
    {
        Ok(events) => Some(
            events
                .iter()
                .filter_map(|e| serde_json::from_str(&e.payload).ok())
                .collect(),
        ),
        Err(error) => {
            warn!(%call, code = error.code(), message = error.message(), "call command failed");
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn inbound(
    app: &App,
    calls: &Calls,
    key: &TransactionKey,
    invite: &Request,
    from: SocketAddr,
    transport: Transport,
    sip: &SipSender,
    mut inbox: mpsc::UnboundedReceiver<CallInput>,
    tx: mpsc::UnboundedSender<CallInput>,
    ids: &mut Vec<String>,
    media: &mut Option<Arc<RelayStats>>,
) {
    let a_tag = random_hex(6);
    let reply = |status: u16, reason: &str| {
        sip.respond(key, response_to(invite, status, reason, Some(&a_tag)))
    };
    if !is_trunk_source(app, from) {
        return reply(403, "Forbidden (not a trunk)");
    }
    let Some(did) = invite
        .headers
        .get("To")
        .and_then(SipUri::parse)
        .and_then(|u| u.user)
        .and_then(|user| domain::phone::normalize("to", &user).ok())
    else {
        return reply(404, "Not Found");
    };
    let route: Option<RouteDoc> = app
        .models
        .model("routes")
        .ok()
        .and_then(|m| m.get(&domain::ids::route_id(&did).to_string()))
        .and_then(|d| d.decode());
    let Some(route) = route else {
        return reply(404, "Not Found");
    };
    let active = app.models.model("call_records").map_or(0, |m| {
        m.read()
            .values()
            .filter_map(|d| d.decode::<CallRecordDoc>())
            .filter(|r| r.route_id == Some(route.id) && r.status == CallStatus::InProgress)
            .count()
    });
    let caller_user = invite
        .headers
        .get("From")
        .and_then(SipUri::parse)
        .and_then(|u| u.user)
        .unwrap_or_default();
    let caller_number = domain::phone::normalize("from", &caller_user).unwrap_or(caller_user);
    let call = Uuid::new_v4();
    let enterprise = route.enterprise_id;
    let offer = CallCommand::Offer {
        enterprise_id: enterprise,
        direction: Direction::Inbound,
        caller: Party::External {
            number: caller_number.clone(),
        },
        called: did.clone(),
        route: Some(RouteCheck {
            route_id: route.id,
            enabled: route.enabled,
            active_calls: u32::try_from(active).unwrap_or(u32::MAX),
            max_concurrent: route.settings.max_concurrent,
        }),
        outbound_allowed: false,
        at: Utc::now(),
    };
    let Some(events) = commit(app, call, enterprise, offer).await else {
        return reply(500, "Server Internal Error");
    };
    if let Some(CallEvent::CallRefused { cause, .. }) = events.first() {
        return match cause {
            Cause::RouteLimitReached => reply(486, "Busy Here"),
            _ => reply(480, "Temporarily Unavailable"),
        };
    }
    let hang_up_a = |cause: Cause| hangup("a", Side::System, cause);
    let extension: Option<ExtensionDoc> = match route.settings.destination {
        Destination::Extension { extension_id } => app
            .models
            .model("extensions")
            .ok()
            .and_then(|m| m.get(&extension_id.to_string()))
            .and_then(|d| d.decode()),
        Destination::Ivr { .. } | Destination::Queue { .. } => None,
    };
    let now = Utc::now();
    let target = extension.as_ref().and_then(|e| {
        e.bindings
            .iter()
            .find(|b| b.expires_at > now)
            .map(|b| (e.clone(), b.clone()))
    });
    let Some((extension, binding)) = target else {
        commit(app, call, enterprise, hang_up_a(Cause::Unavailable)).await;
        return reply(480, "Temporarily Unavailable");
    };
    let Ok(peer) = binding.source.parse::<SocketAddr>() else {
        commit(app, call, enterprise, hang_up_a(Cause::Unavailable)).await;
        return reply(480, "Temporarily Unavailable");
    };
    let add = CallCommand::AddLeg {
        leg: "b".into(),
        party: Party::Extension {
            extension_id: extension.id,
            number: extension.number.clone(),
        },
        caller_id: caller_number.clone(),
        forwarded: false,
        at: Utc::now(),
    };
    if commit(app, call, enterprise, add).await.is_none() {
        return reply(500, "Server Internal Error");
    }
    // The B leg: a new dialog towards the registered phone.
    let local = sip.local_addr();
    let b_transport = if binding.transport == "tcp" {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    let mut b = Leg {
        call_id: format!("{}@callcore", random_hex(12)),
        local_tag: random_hex(6),
        remote_tag: None,
        local_uri: format!("sip:{caller_number}@{local}"),
        remote_uri: format!("sip:{}@{local}", extension.number),
        remote_target: binding.contact.clone(),
        peer,
        transport: b_transport,
        cseq: 1,
    };
    ids.push(b.call_id.clone());
    calls.by_call_id.insert(b.call_id.clone(), tx);
    // Media is anchored: each leg is offered callcore's relay, not the other party.
    let media_ip = if local.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        local.ip()
    };
    let a_offer = sdp::parse_offer(&String::from_utf8_lossy(&invite.body)).ok();
    let relay = match &a_offer {
        Some(_) => MediaRelay::open(media_ip).await.ok(),
        None => None,
    };
    *media = relay.as_ref().map(|r| r.stats.clone());
    let b_body = match (&a_offer, &relay) {
        (Some(offer), Some(relay)) => {
            relay.set_a(SocketAddr::new(offer.address, offer.port));
            let towards_b = sdp::AudioOffer {
                address: media_ip,
                port: relay.b_port,
                ..offer.clone()
            };
            sdp::print_offer(&towards_b, rand::random::<u32>().into(), 1).into_bytes()
        }
        _ => invite.body.clone(), // no usable offer: pass it through
    };
    let b_branch = branch();
    let b_invite = leg_request(&b, Method::Invite, &b_branch, local, b_transport, b_body, 1);
    sip.request(b_invite.clone(), peer, b_transport);

    // The A leg's dialog as seen from callcore.
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
    };
    let mut a = a;
    let mut answered = false;
    let ring_deadline = tokio::time::Instant::now() + calls.ring_timeout;
    loop {
        let input = if answered {
            // No RTP for too long (a lost BYE, a dead phone): hang up both sides.
            let check = calls.media_timeout.min(Duration::from_secs(5));
            match tokio::time::timeout(check, inbox.recv()).await {
                Ok(input) => input,
                Err(_) => {
                    if relay
                        .as_ref()
                        .is_some_and(|r| r.idle_for() >= calls.media_timeout)
                    {
                        stop_recording(app, call, enterprise, relay.as_ref()).await;
                        b.cseq += 1;
                        sip.request(
                            leg_request(
                                &b,
                                Method::Bye,
                                &branch(),
                                local,
                                b_transport,
                                Vec::new(),
                                b.cseq,
                            ),
                            peer,
                            b_transport,
                        );
                        a.cseq += 1;
                        sip.request(
                            leg_request(
                                &a,
                                Method::Bye,
                                &branch(),
                                local,
                                a.transport,
                                Vec::new(),
                                a.cseq,
                            ),
                            a.peer,
                            a.transport,
                        );
                        for leg in ["b", "a"] {
                            commit(
                                app,
                                call,
                                enterprise,
                                hangup(leg, Side::System, Cause::MediaTimeout),
                            )
                            .await;
                        }
                        return;
                    }
                    continue;
                }
            }
        } else {
            match tokio::time::timeout_at(ring_deadline, inbox.recv()).await {
                Ok(input) => input,
                Err(_) => {
                    // Nobody answered: a missed call.
                    sip.request(cancel_of(&b_invite), peer, b_transport);
                    commit(
                        app,
                        call,
                        enterprise,
                        hangup("b", Side::System, Cause::NoAnswer),
                    )
                    .await;
                    commit(app, call, enterprise, hang_up_a(Cause::NoAnswer)).await;
                    reply(480, "Temporarily Unavailable");
                    return;
                }
            }
        };
        let Some(input) = input else { return };
        match input {
            CallInput::Response(response) => {
                let Some((_, method)) = cseq(&response.headers) else {
                    continue;
                };
                if method != Method::Invite
                    || response.headers.get("Call-ID") != Some(b.call_id.as_str())
                {
                    continue; // answers to our BYE or CANCEL
                }
                match response.status {
                    180 | 183 if !answered => {
                        commit(
                            app,
                            call,
                            enterprise,
                            CallCommand::Ringing {
                                leg: "b".into(),
                                at: Utc::now(),
                            },
                        )
                        .await;
                        reply(180, "Ringing");
                    }
                    200..=299 if !answered => {
                        b.remote_tag = response.headers.get("To").and_then(|t| param(t, "tag"));
                        if let Some(target) = response.headers.get("Contact").and_then(contact_uri)
                        {
                            b.remote_target = target;
                        }
                        let ack = leg_request(
                            &b,
                            Method::Ack,
                            &branch(),
                            local,
                            b_transport,
                            Vec::new(),
                            1,
                        );
                        let at = Utc::now();
                        for command in [
                            CallCommand::Answer {
                                leg: "b".into(),
                                at,
                            },
                            CallCommand::Answer {
                                leg: "a".into(),
                                at,
                            },
                            CallCommand::Bridge {
                                leg: "a".into(),
                                other: "b".into(),
                                at,
                            },
                        ] {
                            commit(app, call, enterprise, command).await;
                        }
                        sip.raw(&SipMessage::Request(ack), peer, b_transport);
                        if let Some(relay) = &relay {
                            // The bridged part is recorded; the event comes first.
                            let file =
                                format!("recordings/{}/{call}.wav", Utc::now().format("%Y/%m/%d"));
                            if commit(
                                app,
                                call,
                                enterprise,
                                CallCommand::StartRecording {
                                    file: file.clone(),
                                    at: Utc::now(),
                                },
                            )
                            .await
                            .is_some()
                            {
                                if let Err(error) = relay.start_recording(&app.data_dir.join(&file))
                                {
                                    warn!(%call, %error, "recording did not start");
                                }
                            }
                        }
                        let mut ok = response_to(invite, 200, "OK", Some(&a_tag));
                        ok.headers
                            .push("Contact", format!("<sip:callcore@{local}>"));
                        ok.body = match (&a_offer, &relay) {
                            (Some(offer), Some(relay)) => {
                                let b_answer =
                                    sdp::parse_offer(&String::from_utf8_lossy(&response.body)).ok();
                                if let Some(b_answer) = &b_answer {
                                    relay.set_b(SocketAddr::new(b_answer.address, b_answer.port));
                                }
                                let codec = b_answer
                                    .and_then(|a| a.codecs.first().copied())
                                    .or(offer.codecs.first().copied());
                                match codec {
                                    Some(codec) => sdp::print(
                                        &sdp::AudioAnswer {
                                            address: media_ip,
                                            port: relay.a_port,
                                            codec,
                                            telephone_event: offer.telephone_event,
                                            direction: offer.direction.answer(),
                                        },
                                        rand::random::<u32>().into(),
                                        1,
                                    )
                                    .into_bytes(),
                                    None => response.body.clone(),
                                }
                            }
                            _ => response.body.clone(),
                        };
                        if !ok.body.is_empty() {
                            ok.headers.push("Content-Type", "application/sdp");
                        }
                        sip.respond(key, ok);
                        answered = true;
                    }
                    300.. if !answered => {
                        let cause = if response.status == 486 {
                            Cause::Busy
                        } else {
                            Cause::Rejected(response.status)
                        };
                        commit(
                            app,
                            call,
                            enterprise,
                            hangup("b", Side::Callee, cause.clone()),
                        )
                        .await;
                        commit(app, call, enterprise, hang_up_a(cause)).await;
                        let reason = if response.status == 486 {
                            "Busy Here"
                        } else {
                            "Temporarily Unavailable"
                        };
                        reply(if response.status == 486 { 486 } else { 480 }, reason);
                        return;
                    }
                    _ => {}
                }
            }
            CallInput::Request {
                key: request_key,
                request,
            } => {
                let from_b = request.headers.get("Call-ID") == Some(b.call_id.as_str());
                match (&request.method, from_b, answered) {
                    (Method::Cancel, false, false) => {
                        sip.respond(&request_key, response_to(&request, 200, "OK", Some(&a_tag)));
                        sip.request(cancel_of(&b_invite), peer, b_transport);
                        commit(
                            app,
                            call,
                            enterprise,
                            hangup("a", Side::Caller, Cause::Cancelled),
                        )
                        .await;
                        commit(
                            app,
                            call,
                            enterprise,
                            hangup("b", Side::System, Cause::Cancelled),
                        )
                        .await;
                        reply(487, "Request Terminated");
                        return;
                    }
                    (Method::Bye, false, true) => {
                        sip.respond(&request_key, response_to(&request, 200, "OK", None));
                        stop_recording(app, call, enterprise, relay.as_ref()).await;
                        commit(
                            app,
                            call,
                            enterprise,
                            hangup("a", Side::Caller, Cause::Normal),
                        )
                        .await;
                        b.cseq += 1;
                        sip.request(
                            leg_request(
                                &b,
                                Method::Bye,
                                &branch(),
                                local,
                                b_transport,
                                Vec::new(),
                                b.cseq,
                            ),
                            peer,
                            b_transport,
                        );
                        commit(
                            app,
                            call,
                            enterprise,
                            hangup("b", Side::System, Cause::Normal),
                        )
                        .await;
                        return;
                    }
                    (Method::Bye, true, true) => {
                        sip.respond(&request_key, response_to(&request, 200, "OK", None));
                        stop_recording(app, call, enterprise, relay.as_ref()).await;
                        commit(
                            app,
                            call,
                            enterprise,
                            hangup("b", Side::Callee, Cause::Normal),
                        )
                        .await;
                        a.cseq += 1;
                        sip.request(
                            leg_request(
                                &a,
                                Method::Bye,
                                &branch(),
                                local,
                                a.transport,
                                Vec::new(),
                                a.cseq,
                            ),
                            a.peer,
                            a.transport,
                        );
                        commit(app, call, enterprise, hang_up_a(Cause::Normal)).await;
                        return;
                    }
                    _ => sip.respond(
                        &request_key,
                        response_to(&request, 501, "Not Implemented", Some(&a_tag)),
                    ),
                }
            }
            CallInput::Ack => {}
        }
    }
}

/// The command that ends `leg` now.
fn hangup(leg: &str, side: Side, cause: Cause) -> CallCommand {
    CallCommand::Hangup {
        leg: leg.to_owned(),
        side,
        cause,
        at: Utc::now(),
    }
}

/// Finishes the recording (if one runs) and records its length.
async fn stop_recording(app: &App, call: Uuid, enterprise: Uuid, relay: Option<&MediaRelay>) {
    let Some(result) = relay.and_then(MediaRelay::stop_recording) else {
        return;
    };
    match result {
        Ok(duration_ms) => {
            commit(
                app,
                call,
                enterprise,
                CallCommand::StopRecording {
                    duration_ms,
                    at: Utc::now(),
                },
            )
            .await;
        }
        Err(error) => warn!(%call, %error, "recording did not finish"),
    }
}

/// The URI inside a Contact value.
fn contact_uri(value: &str) -> Option<String> {
    match (value.find('<'), value.find('>')) {
        (Some(open), Some(close)) if open < close => Some(value[open + 1..close].to_owned()),
        _ => value
            .split(';')
            .next()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()),
    }
}

/// A request in `leg`'s dialog from callcore's side.
fn leg_request(
    leg: &Leg,
    method: Method,
    branch: &str,
    local: SocketAddr,
    transport: Transport,
    body: Vec<u8>,
    cseq: u32,
) -> Request {
    let mut headers = Headers::new();
    let proto = if transport == Transport::Tcp {
        "TCP"
    } else {
        "UDP"
    };
    headers.push("Via", format!("SIP/2.0/{proto} {local};branch={branch}"));
    headers.push("Max-Forwards", "70");
    let name_addr = |uri: &str| {
        if uri.contains('<') {
            uri.to_owned()
        } else {
            format!("<{uri}>")
        }
    };
    headers.push(
        "From",
        format!(
            "{};tag={}",
            name_addr(&leg.local_uri)
                .split(";tag=")
                .next()
                .unwrap_or_default(),
            leg.local_tag
        ),
    );
    let to = name_addr(&leg.remote_uri)
        .split(";tag=")
        .next()
        .unwrap_or_default()
        .to_owned();
    headers.push(
        "To",
        match &leg.remote_tag {
            Some(tag) => format!("{to};tag={tag}"),
            None => to,
        },
    );
    headers.push("Call-ID", leg.call_id.clone());
    headers.push("CSeq", format!("{cseq} {method}"));
    if method == Method::Invite {
        headers.push("Contact", format!("<sip:callcore@{local}>"));
    }
    if !body.is_empty() {
        headers.push("Content-Type", "application/sdp");
    }
    Request {
        method,
        uri: leg.remote_target.clone(),
        headers,
        body,
    }
}

/// The CANCEL of a client INVITE: same Request-URI, top Via, From, To, Call-ID and CSeq number.
fn cancel_of(invite: &Request) -> Request {
    let mut headers = Headers::new();
    for name in ["Via", "Max-Forwards", "From", "To", "Call-ID"] {
        if let Some(value) = invite.headers.get_all(name).first() {
            headers.push(name, *value);
        }
    }
    let number = cseq(&invite.headers).map_or(1, |(n, _)| n);
    headers.push("CSeq", format!("{number} CANCEL"));
    Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        headers,
        body: Vec::new(),
    }
}

/// Answers a request for a dialog callcore does not know.
pub fn no_such_call(sip: &SipSender, key: &TransactionKey, request: &Request) {
    sip.respond(
        key,
        response_to(request, 481, "Call/Transaction Does Not Exist", None),
    );
}
