//! The registrar's decisions (RFC 3261 §10.3), sans-IO: a REGISTER and the account it names in,
//! a challenge, a refusal or the bindings to record out. The caller commits the bindings as
//! events and only then sends the 200 built by [`ok_response`].

mod nonces;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sip::digest::{Algorithm, Challenge, Credentials};
use crate::sip::message::{param, Request, Response, SipUri};
use crate::sip::transaction::response_to;

pub use nonces::{NonceCheck, NonceUse, Nonces, NONCE_SECONDS};

/// Shortest registration accepted (Min-Expires).
pub const MIN_EXPIRES: u64 = 60;
/// Longest registration granted.
pub const MAX_EXPIRES: u64 = 3_600;
/// The password checked when a request names no account, so that an unknown account costs
/// the same work as a known one.
const NO_ACCOUNT_PASSWORD: &str = "\u{0}no account\u{0}";

/// The SIP account of an extension, as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAccount {
    /// Opaque id the caller uses to find the extension again.
    pub id: String,
    /// The SIP password.
    pub password: String,
}

/// A contact to add or refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBinding {
    /// Contact URI (without angle brackets or parameters).
    pub contact: String,
    /// Seconds granted.
    pub expires: u64,
}

/// What to do with a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterDecision {
    /// Answer with this (401 challenge, 403, 404, 400, 423) and change nothing.
    Respond(Response),
    /// Authenticated: record these changes for `account_id`, then send [`ok_response`].
    Bind {
        /// The account (from [`SipAccount::id`]).
        account_id: String,
        /// Contacts added or refreshed.
        bindings: Vec<NewBinding>,
        /// Contacts removed (Expires 0).
        removed: Vec<String>,
        /// `Contact: *`: remove every binding.
        remove_all: bool,
    },
}

/// The account a request was authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    /// The account.
    pub account: SipAccount,
    /// The SIP domain (the enterprise code), lower case.
    pub domain: String,
    /// The user (the extension number).
    pub user: String,
}

/// What to do with a request that must come from a known extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDecision {
    /// Answer with this (407 challenge, 403, 404, 400) and go no further.
    Respond(Response),
    /// The request comes from this account.
    Authenticated(Identified),
}

/// Where a kind of authentication reads and writes its headers.
struct AuthScheme {
    identity: &'static str,
    bad_identity: &'static str,
    status: u16,
    reason: &'static str,
    challenge: &'static str,
    credentials: &'static str,
    bad_credentials: &'static str,
}

/// REGISTER: the To URI is the account, challenged with 401 (RFC 3261 §22.2).
const REGISTER_AUTH: AuthScheme = AuthScheme {
    identity: "To",
    bad_identity: "Bad Request (To)",
    status: 401,
    reason: "Unauthorized",
    challenge: "WWW-Authenticate",
    credentials: "Authorization",
    bad_credentials: "Bad Request (Authorization)",
};

/// Other requests: the From URI is the account, challenged with 407 (RFC 3261 §22.3).
const PROXY_AUTH: AuthScheme = AuthScheme {
    identity: "From",
    bad_identity: "Bad Request (From)",
    status: 407,
    reason: "Proxy Authentication Required",
    challenge: "Proxy-Authenticate",
    credentials: "Proxy-Authorization",
    bad_credentials: "Bad Request (Proxy-Authorization)",
};

/// Decides REGISTERs and authenticates other requests; its nonces are bound to their use.
#[derive(Debug, Clone)]
pub struct Registrar {
    nonces: Arc<Nonces>,
}

impl Registrar {
    /// A registrar whose nonces are signed with `secret` (random per process is fine: a restart
    /// only makes phones answer one more challenge).
    pub fn new(secret: [u8; 32]) -> Self {
        Self {
            nonces: Arc::new(Nonces::new(secret)),
        }
    }

    /// Authenticates a request other than REGISTER (an INVITE from a phone) as the extension
    /// named in its From URI: a 407 challenge with `Proxy-Authenticate` until the request
    /// carries a valid `Proxy-Authorization`.
    pub fn authenticate(
        &self,
        request: &Request,
        source: IpAddr,
        lookup: impl Fn(&str, &str) -> Option<SipAccount>,
        now: u64,
    ) -> AuthDecision {
        match self.check(request, source, &PROXY_AUTH, lookup, now) {
            Ok(identified) => AuthDecision::Authenticated(identified),
            Err(response) => AuthDecision::Respond(response),
        }
    }

    /// Finds the account a request names and checks its digest credentials. Every request
    /// is challenged the same way whether or not its account exists, and a wrong password is
    /// refused the same way too; the nonce is judged only once the digest proves the password
    /// (so `stale=true` goes only to a client that knows it).
    fn check(
        &self,
        request: &Request,
        source: IpAddr,
        scheme: &AuthScheme,
        lookup: impl Fn(&str, &str) -> Option<SipAccount>,
        now: u64,
    ) -> Result<Identified, Response> {
        let tag = self.nonces.tag(now);
        let reply = |status, reason: &str| response_to(request, status, reason, Some(&tag));
        let Some(uri) = request.headers.get(scheme.identity).and_then(SipUri::parse) else {
            return Err(reply(400, scheme.bad_identity));
        };
        let user = uri.user.clone().unwrap_or_default();
        let domain = uri.host.to_ascii_lowercase();
        let use_ = NonceUse {
            status: scheme.status,
            source,
            realm: &domain,
            user: &user,
        };
        let challenge = |stale: bool| {
            let mut response = reply(scheme.status, scheme.reason);
            let mut value = Challenge {
                realm: domain.clone(),
                nonce: self.nonces.issue(&use_, now),
                algorithm: Algorithm::Md5,
            }
            .header_value();
            if stale {
                value.push_str(", stale=true");
            }
            response.headers.push(scheme.challenge, value);
            response
        };
        let Some(authorization) = request.headers.get(scheme.credentials) else {
            return Err(challenge(false));
        };
        let Ok(credentials) = Credentials::parse(authorization) else {
            return Err(reply(400, scheme.bad_credentials));
        };
        if !same_uri(&credentials.uri, &request.uri) {
            return Err(reply(
                400,
                "Bad Request (digest uri is not the Request-URI)",
            ));
        }
        let Some(count) = credentials.count() else {
            return Err(reply(400, scheme.bad_credentials));
        };
        let account = (!user.is_empty()).then(|| lookup(&domain, &user)).flatten();
        let proven = match &account {
            Some(account) => credentials.verify(request.method.as_str(), &account.password),
            None => {
                std::hint::black_box(
                    credentials.verify(request.method.as_str(), NO_ACCOUNT_PASSWORD),
                );
                false
            }
        };
        let named_self =
            credentials.username == user && credentials.realm.eq_ignore_ascii_case(&domain);
        let (Some(account), true, true) = (account, proven, named_self) else {
            return Err(reply(403, "Forbidden"));
        };
        if self.nonces.use_once(&credentials.nonce, &use_, count, now) == NonceCheck::Stale {
            return Err(challenge(true));
        }
        Ok(Identified {
            account,
            domain,
            user,
        })
    }

    /// Decides a REGISTER. `lookup(domain, user)` finds the account named in the To URI; `now`
    /// is seconds since the epoch.
    pub fn decide(
        &self,
        request: &Request,
        source: IpAddr,
        lookup: impl Fn(&str, &str) -> Option<SipAccount>,
        now: u64,
    ) -> RegisterDecision {
        let tag = self.nonces.tag(now);
        let reply = |status, reason: &str| {
            RegisterDecision::Respond(response_to(request, status, reason, Some(&tag)))
        };
        let account = match self.check(request, source, &REGISTER_AUTH, lookup, now) {
            Ok(identified) => identified.account,
            Err(response) => return RegisterDecision::Respond(response),
        };
        let default_expires = request
            .headers
            .get("Expires")
            .and_then(|e| e.trim().parse::<u64>().ok())
            .unwrap_or(MAX_EXPIRES);
        let contacts = request.headers.get_all("Contact");
        if contacts.iter().any(|c| c.trim() == "*") {
            return if default_expires == 0 && contacts.len() == 1 {
                RegisterDecision::Bind {
                    account_id: account.id,
                    bindings: Vec::new(),
                    removed: Vec::new(),
                    remove_all: true,
                }
            } else {
                reply(400, "Bad Request (Contact *)")
            };
        }
        let mut bindings = Vec::new();
        let mut removed = Vec::new();
        for contact in contacts {
            let uri = match (contact.find('<'), contact.find('>')) {
                (Some(open), Some(close)) if open < close => {
                    contact[open + 1..close].trim().to_owned()
                }
                _ => contact
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            };
            if SipUri::parse(&uri).is_none() {
                return reply(400, "Bad Request (Contact)");
            }
            let expires = param(contact, "expires")
                .and_then(|e| e.parse::<u64>().ok())
                .unwrap_or(default_expires);
            match expires {
                0 => removed.push(uri),
                e if e < MIN_EXPIRES => {
                    let mut response = response_to(request, 423, "Interval Too Brief", Some(&tag));
                    response
                        .headers
                        .push("Min-Expires", MIN_EXPIRES.to_string());
                    return RegisterDecision::Respond(response);
                }
                e => bindings.push(NewBinding {
                    contact: uri,
                    expires: e.min(MAX_EXPIRES),
                }),
            }
        }
        RegisterDecision::Bind {
            account_id: account.id,
            bindings,
            removed,
            remove_all: false,
        }
    }
}

/// The 200 to a REGISTER, listing every current binding with its remaining seconds.
pub fn ok_response(request: &Request, current: &[(String, u64)], to_tag: &str) -> Response {
    let mut response = response_to(request, 200, "OK", Some(to_tag));
    for (contact, expires) in current {
        response
            .headers
            .push("Contact", format!("<{contact}>;expires={expires}"));
    }
    response
}

/// Whether the digest's `uri` names the Request-URI: the same text, or the same user, host
/// (in any case) and port.
fn same_uri(digest_uri: &str, request_uri: &str) -> bool {
    if digest_uri == request_uri {
        return true;
    }
    match (SipUri::parse(digest_uri), SipUri::parse(request_uri)) {
        (Some(a), Some(b)) => {
            a.user == b.user && a.host.eq_ignore_ascii_case(&b.host) && a.port == b.port
        }
        _ => false,
    }
}

/// Seconds since the epoch now (for drivers; decisions take the time as an argument).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
