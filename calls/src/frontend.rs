//! The SIP front end: answers REGISTER (digest-authenticated, bindings committed as extension
//! events before the 200 goes out) and OPTIONS, expires lapsed bindings, and hands INVITEs and
//! in-dialog messages to the calls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::extension::{Binding, Extension, ExtensionCommand};
use eventlog::Metadata;
use projections::{EnterpriseDoc, ExtensionDoc, EXTENSIONS};
use rand::RngCore;
use telephony::driver::{answer_with, SipSender, SipService};
use telephony::registrar::{
    ok_response, unix_now, AuthDecision, RegisterDecision, Registrar, SipAccount,
};
use telephony::sip::message::{param, Method, Request, Response};
use telephony::sip::transaction::{response_to, TransactionKey, Transport};
use tracing::warn;
use uuid::Uuid;

use crate::inbox::CallInput;
use crate::registry::{Caller, Calls, Incoming};
use node::Node;

/// How often lapsed bindings are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// The transaction user of the SIP driver: REGISTER and OPTIONS answered here, INVITEs and
/// in-dialog messages handed to the calls.
pub(crate) struct Frontend {
    node: Node,
    registrar: Registrar,
    tag: String,
    calls: Arc<Calls>,
}

impl Frontend {
    /// The front end of `calls` on `node`; nonces are signed with a fresh per-process secret.
    pub(crate) fn new(node: Node, calls: Arc<Calls>) -> Self {
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        Self {
            node,
            registrar: Registrar::new(secret),
            tag: hex::encode(&secret[..4]),
            calls,
        }
    }
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
                let (node, registrar, tag) =
                    (self.node.clone(), self.registrar.clone(), self.tag.clone());
                answer_with(key, sip, async move {
                    register(&node, &registrar, &tag, request, from, transport).await
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
                let caller = if crate::plan::is_trunk_source(&self.node, from) {
                    Caller::Trunk
                } else {
                    let decision = self.registrar.authenticate(
                        &request,
                        from.ip(),
                        |domain, user| {
                            account(&self.node, domain, user).map(|(_, e)| SipAccount {
                                id: e.id.to_string(),
                                password: e.sip_password,
                            })
                        },
                        unix_now(),
                    );
                    match decision {
                        AuthDecision::Respond(response) => return sip.respond(&key, response),
                        AuthDecision::Authenticated(who) => {
                            match account(&self.node, &who.domain, &who.user) {
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
                crate::actor::spawn::start(
                    self.node.clone(),
                    self.calls.clone(),
                    incoming,
                    sip,
                    caller,
                );
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
                    no_such_call(&sip, &key, &request_copy);
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

fn account(node: &Node, domain: &str, user: &str) -> Option<(EnterpriseDoc, ExtensionDoc)> {
    let enterprise_id = domain::ids::enterprise_id(domain);
    let enterprise: EnterpriseDoc = node
        .models
        .of(projections::ENTERPRISES)
        .by_id(enterprise_id)?;
    if !enterprise.enabled {
        return None;
    }
    let extension: ExtensionDoc = node
        .models
        .of(projections::EXTENSIONS)
        .by_id(domain::ids::extension_id(enterprise_id, user))?;
    Some((enterprise, extension))
}

async fn register(
    node: &Node,
    registrar: &Registrar,
    tag: &str,
    request: Request,
    from: SocketAddr,
    transport: Transport,
) -> Response {
    let decision = registrar.decide(
        &request,
        from.ip(),
        |domain, user| {
            account(node, domain, user).map(|(_, e)| SipAccount {
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
        let Some(doc) = node.models.of(projections::EXTENSIONS).by_id(extension_id) else {
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
        match node
            .execute::<Extension>(
                extension_id,
                command,
                Metadata::new(Some(doc.enterprise_id), None),
            )
            .await
        {
            Ok(_) => {
                let current = current_bindings(node, extension_id, Utc::now());
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

fn current_bindings(node: &Node, extension_id: Uuid, now: DateTime<Utc>) -> Vec<(String, u64)> {
    node.models
        .of(projections::EXTENSIONS)
        .by_id(extension_id)
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
/// Answers a request for a dialog callcore does not know.
fn no_such_call(sip: &SipSender, key: &TransactionKey, request: &Request) {
    sip.respond(
        key,
        response_to(request, 481, "Call/Transaction Does Not Exist", None),
    );
}

pub(crate) async fn sweep(node: Node, stopped: impl std::future::Future<Output = ()>) {
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        let now = Utc::now();
        let lapsed: Vec<(Uuid, Uuid)> = node
            .models
            .of(EXTENSIONS)
            .read()
            .values()
            .filter_map(|d| d.decode::<ExtensionDoc>())
            .filter(|e| e.bindings.iter().any(|b| b.expires_at <= now))
            .map(|e| (e.id, e.enterprise_id))
            .collect();
        for (id, enterprise) in lapsed {
            let _ = node
                .execute::<Extension>(
                    id,
                    ExtensionCommand::ExpireBindings { at: now },
                    Metadata::new(Some(enterprise), None),
                )
                .await;
        }
    }
}
