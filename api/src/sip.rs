//! The SIP front end: binds the SIP sockets, answers REGISTER (digest-authenticated, bindings
//! committed as extension events before the 200 goes out) and OPTIONS, expires lapsed
//! bindings, and hands INVITEs and in-dialog messages to the call runtime (`calls`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::extension::{Binding, Extension, ExtensionCommand};
use eventlog::Metadata;
use projections::{EnterpriseDoc, ExtensionDoc};
use rand::RngCore;
use telephony::driver::{answer_with, serve, DriverStats, SipChannel, SipSender, SipService};
use telephony::registrar::{
    ok_response, unix_now, AuthDecision, RegisterDecision, Registrar, SipAccount,
};
use telephony::sip::message::{param, Method, Request, Response};
use telephony::sip::transaction::{response_to, TransactionKey, Transport};
use tokio::sync::watch;
use tracing::{info, warn};
use uuid::Uuid;

use crate::app::App;
use crate::calls::{self, CallInput, CallSettings, Caller, Calls, Incoming};

/// How often lapsed bindings are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// A running SIP front end.
#[derive(Debug)]
pub struct SipHandle {
    /// The bound address (UDP and TCP).
    pub addr: SocketAddr,
    /// Driver counters.
    pub stats: Arc<DriverStats>,
    /// The call runtime.
    pub calls: Arc<Calls>,
    stop: watch::Sender<bool>,
}

impl std::ops::Deref for SipHandle {
    type Target = DriverStats;

    fn deref(&self) -> &DriverStats {
        &self.stats
    }
}

impl SipHandle {
    /// Stops the driver and the sweeper.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

struct Frontend {
    app: App,
    registrar: Registrar,
    tag: String,
    calls: Arc<Calls>,
}

/// Binds `addr` on UDP and TCP (the same port) and serves SIP for `app` until the handle is
/// stopped.
pub async fn start(
    app: App,
    addr: SocketAddr,
    settings: CallSettings,
) -> std::io::Result<SipHandle> {
    let (socket, listener) = bind_both(addr).await?;
    let addr = socket.local_addr()?;
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let calls = Arc::new(Calls::new(settings, &app.data_dir));
    let _ = app.calls.set(calls.clone());
    let tts_checked = calls.clone();
    tokio::spawn(async move {
        tts_checked.prompts.check_tts().await;
    });
    let frontend = Arc::new(Frontend {
        app: app.clone(),
        registrar: Registrar::new(secret),
        tag: hex::encode(&secret[..4]),
        calls: calls.clone(),
    });
    let stats = Arc::new(DriverStats::default());
    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let channel = SipChannel::new(&socket);
    let _ = calls.sip.set(channel.sender());
    tokio::spawn(serve(
        channel,
        socket,
        listener,
        frontend.clone(),
        stats.clone(),
        until_stopped(stopped.clone()),
    ));
    let dispatcher = (app.clone(), calls.clone(), until_stopped(stopped.clone()));
    tokio::spawn(async move {
        let (app, calls, stopped) = dispatcher;
        tokio::select! {
            () = calls::acd::dispatch(app, calls) => {}
            () = stopped => {}
        }
    });
    tokio::spawn(sweep(app, until_stopped(stopped)));
    info!(%addr, "SIP listening (UDP and TCP)");
    Ok(SipHandle {
        addr,
        stats,
        calls,
        stop,
    })
}

/// Binds UDP and TCP on one port. With port 0 the system picks the UDP port, and the same TCP
/// port may be taken (by any connection's local end): then another port is tried.
async fn bind_both(
    addr: SocketAddr,
) -> std::io::Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let socket = tokio::net::UdpSocket::bind(addr).await?;
        match tokio::net::TcpListener::bind(socket.local_addr()?).await {
            Ok(listener) => return Ok((socket, listener)),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no port for UDP and TCP")))
}

impl SipService for Frontend {
    fn request(
        &self,
        key: TransactionKey,
        request: Request,
        from: SocketAddr,
        transport: Transport,
        sip: SipSender,
    ) {
        let new_dialog = request
            .headers
            .get("To")
            .is_some_and(|to| param(to, "tag").is_none());
        match request.method {
            Method::Register => {
                let (app, registrar, tag) =
                    (self.app.clone(), self.registrar.clone(), self.tag.clone());
                answer_with(key, sip, async move {
                    register(&app, &registrar, &tag, request, from, transport).await
                });
            }
            Method::Options => {
                let mut ok = response_to(&request, 200, "OK", Some(&self.tag));
                ok.headers.push(
                    "Allow",
                    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, REFER, UPDATE",
                );
                sip.respond(&key, ok);
            }
            Method::Invite if new_dialog => {
                let caller = if calls::plan::is_trunk_source(&self.app, from) {
                    Caller::Trunk
                } else {
                    let decision = self.registrar.authenticate(
                        &request,
                        |domain, user| {
                            account(&self.app, domain, user).map(|(_, e)| SipAccount {
                                id: e.id.to_string(),
                                password: e.sip_password,
                            })
                        },
                        unix_now(),
                    );
                    match decision {
                        AuthDecision::Respond(response) => return sip.respond(&key, response),
                        AuthDecision::Authenticated(who) => {
                            match account(&self.app, &who.domain, &who.user) {
                                Some((_, extension)) => Caller::Extension(Box::new(extension)),
                                None => {
                                    return sip.respond(
                                        &key,
                                        response_to(&request, 404, "Not Found", None),
                                    )
                                }
                            }
                        }
                    }
                };
                let incoming = Incoming {
                    key,
                    invite: request,
                    from,
                    transport,
                };
                calls::start(self.app.clone(), self.calls.clone(), incoming, sip, caller);
            }
            _ => {
                let call_id = request
                    .headers
                    .get("Call-ID")
                    .unwrap_or_default()
                    .to_owned();
                let request_copy = request.clone();
                if !self.calls.deliver(
                    &call_id,
                    CallInput::Request {
                        key: key.clone(),
                        request,
                    },
                ) {
                    calls::no_such_call(&sip, &key, &request_copy);
                }
            }
        }
    }

    fn ack(&self, request: Request, _from: SocketAddr, _sip: SipSender) {
        let call_id = request
            .headers
            .get("Call-ID")
            .unwrap_or_default()
            .to_owned();
        self.calls.deliver(&call_id, CallInput::Ack(request));
    }

    fn response(&self, _key: TransactionKey, response: Response, _sip: SipSender) {
        let call_id = response
            .headers
            .get("Call-ID")
            .unwrap_or_default()
            .to_owned();
        self.calls.deliver(&call_id, CallInput::Response(response));
    }
}

fn account(app: &App, domain: &str, user: &str) -> Option<(EnterpriseDoc, ExtensionDoc)> {
    let enterprise_id = domain::ids::enterprise_id(domain);
    let enterprise: EnterpriseDoc = app
        .models
        .model("enterprises")
        .ok()?
        .get(&enterprise_id.to_string())?
        .decode()?;
    if !enterprise.enabled {
        return None;
    }
    let extension: ExtensionDoc = app
        .models
        .model("extensions")
        .ok()?
        .get(&domain::ids::extension_id(enterprise_id, user).to_string())?
        .decode()?;
    Some((enterprise, extension))
}

async fn register(
    app: &App,
    registrar: &Registrar,
    tag: &str,
    request: Request,
    from: SocketAddr,
    transport: Transport,
) -> Response {
    let decision = registrar.decide(
        &request,
        |domain, user| {
            account(app, domain, user).map(|(_, e)| SipAccount {
                id: e.id.to_string(),
                password: e.sip_password,
            })
        },
        unix_now(),
    );
    let (account_id, bindings, removed, remove_all) = match decision {
        RegisterDecision::Respond(response) => return response,
        RegisterDecision::Bind {
            account_id,
            bindings,
            removed,
            remove_all,
        } => (account_id, bindings, removed, remove_all),
    };
    let Ok(extension_id) = Uuid::parse_str(&account_id) else {
        return response_to(&request, 500, "Server Internal Error", Some(tag));
    };
    let user_agent = request
        .headers
        .get("User-Agent")
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect::<String>();
    let transport_name = match transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    };
    // A concurrent expiry sweep can move the stream on: decide again on the new state.
    for _ in 0..3 {
        let now = Utc::now();
        let Some(doc) = app
            .models
            .model("extensions")
            .ok()
            .and_then(|m| m.get(&extension_id.to_string()))
            .and_then(|d| d.decode::<ExtensionDoc>())
        else {
            return response_to(&request, 404, "Not Found", Some(tag));
        };
        let command = ExtensionCommand::Register {
            bindings: bindings
                .iter()
                .map(|b| Binding {
                    contact: b.contact.clone(),
                    expires_at: now
                        + chrono::Duration::seconds(i64::try_from(b.expires).unwrap_or(3_600)),
                    source: from.to_string(),
                    transport: transport_name.into(),
                    user_agent: user_agent.clone(),
                })
                .collect(),
            removed: removed.clone(),
            remove_all,
            at: now,
        };
        match app
            .execute::<Extension>(
                extension_id,
                command,
                Metadata::new(Some(doc.enterprise_id), None),
            )
            .await
        {
            Ok(_) => {
                let current = current_bindings(app, extension_id, Utc::now());
                return ok_response(&request, &current, tag);
            }
            Err(error) if error.code() == "CONFLICT" => continue,
            Err(error) => {
                warn!(
                    code = error.code(),
                    message = error.message(),
                    "recording a registration failed"
                );
                return response_to(&request, 500, "Server Internal Error", Some(tag));
            }
        }
    }
    response_to(&request, 503, "Service Unavailable", Some(tag))
}

fn current_bindings(app: &App, extension_id: Uuid, now: DateTime<Utc>) -> Vec<(String, u64)> {
    app.models
        .model("extensions")
        .ok()
        .and_then(|m| m.get(&extension_id.to_string()))
        .and_then(|d| d.decode::<ExtensionDoc>())
        .map(|doc| {
            doc.bindings
                .into_iter()
                .filter(|b| b.expires_at > now)
                .map(|b| {
                    (
                        b.contact,
                        u64::try_from((b.expires_at - now).num_seconds()).unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Expires lapsed bindings every few seconds (an event each, so an auditor sees when a phone
/// went offline).
async fn sweep(app: App, stopped: impl std::future::Future<Output = ()>) {
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        let now = Utc::now();
        let lapsed: Vec<(Uuid, Uuid)> = match app.models.model("extensions") {
            Ok(model) => model
                .read()
                .values()
                .filter_map(|d| d.decode::<ExtensionDoc>())
                .filter(|e| e.bindings.iter().any(|b| b.expires_at <= now))
                .map(|e| (e.id, e.enterprise_id))
                .collect(),
            Err(_) => return,
        };
        for (id, enterprise) in lapsed {
            let _ = app
                .execute::<Extension>(
                    id,
                    ExtensionCommand::ExpireBindings { at: now },
                    Metadata::new(Some(enterprise), None),
                )
                .await;
        }
    }
}
