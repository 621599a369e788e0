//! The registrar's decisions (RFC 3261 §10.3), sans-IO: a REGISTER and the account it names in,
//! a challenge, a refusal or the bindings to record out. The caller commits the bindings as
//! events and only then sends the 200 built by [`ok_response`].

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::sip::digest::{Algorithm, Challenge, Credentials};
use crate::sip::message::{param, Request, Response, SipUri};
use crate::sip::transaction::response_to;

/// Shortest registration accepted (Min-Expires).
pub const MIN_EXPIRES: u64 = 60;
/// Longest registration granted.
pub const MAX_EXPIRES: u64 = 3_600;
/// How long a nonce stays valid.
const NONCE_SECONDS: u64 = 300;

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

/// Issues and checks nonces without keeping state: a nonce is its issue time and a MAC of it.
#[derive(Debug, Clone)]
pub struct Registrar {
    secret: [u8; 32],
}

impl Registrar {
    /// A registrar whose nonces are signed with `secret` (random per process is fine: a restart
    /// only makes phones answer one more challenge).
    pub fn new(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    fn mac(&self, issued: u64) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.secret);
        hasher.update(issued.to_be_bytes());
        hex::encode(&hasher.finalize()[..12])
    }

    /// A fresh nonce for time `now` (seconds since the epoch).
    pub fn nonce(&self, now: u64) -> String {
        format!("{now:x}.{}", self.mac(now))
    }

    /// Whether `nonce` was issued by this registrar within the last five minutes.
    pub fn nonce_is_fresh(&self, nonce: &str, now: u64) -> bool {
        let Some((issued, mac)) = nonce.split_once('.') else {
            return false;
        };
        let Ok(issued) = u64::from_str_radix(issued, 16) else {
            return false;
        };
        mac == self.mac(issued) && issued <= now && now - issued <= NONCE_SECONDS
    }

    /// Authenticates a request other than REGISTER (an INVITE from a phone) as the extension
    /// named in its From URI: a 407 challenge with `Proxy-Authenticate` until the request
    /// carries a valid `Proxy-Authorization`.
    pub fn authenticate(
        &self,
        request: &Request,
        lookup: impl Fn(&str, &str) -> Option<SipAccount>,
        now: u64,
    ) -> AuthDecision {
        match self.check(request, &PROXY_AUTH, lookup, now) {
            Ok(identified) => AuthDecision::Authenticated(identified),
            Err(response) => AuthDecision::Respond(response),
        }
    }

    /// Finds the account a request names and checks its digest credentials.
    fn check(
        &self,
        request: &Request,
        scheme: &AuthScheme,
        lookup: impl Fn(&str, &str) -> Option<SipAccount>,
        now: u64,
    ) -> Result<Identified, Response> {
        let tag = &self.mac(now)[..8];
        let reply = |status, reason: &str| response_to(request, status, reason, Some(tag));
        let Some(uri) = request.headers.get(scheme.identity).and_then(SipUri::parse) else {
            return Err(reply(400, scheme.bad_identity));
        };
        let (Some(user), domain) = (uri.user.clone(), uri.host.to_ascii_lowercase()) else {
            return Err(reply(404, "Not Found"));
        };
        let Some(account) = lookup(&domain, &user) else {
            return Err(reply(404, "Not Found"));
        };
        let challenge = |stale: bool| {
            let mut response = reply(scheme.status, scheme.reason);
            let mut value = Challenge {
                realm: domain.clone(),
                nonce: self.nonce(now),
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
        if credentials.username != user || !credentials.realm.eq_ignore_ascii_case(&domain) {
            return Err(reply(403, "Forbidden"));
        }
        if !self.nonce_is_fresh(&credentials.nonce, now) {
            return Err(challenge(true));
        }
        if !credentials.verify(request.method.as_str(), &account.password) {
            return Err(reply(403, "Forbidden"));
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
        lookup: impl Fn(&str, &str) -> Option<SipAccount>,
        now: u64,
    ) -> RegisterDecision {
        let reply = |status, reason: &str| {
            RegisterDecision::Respond(response_to(
                request,
                status,
                reason,
                Some(&self.mac(now)[..8]),
            ))
        };
        let account = match self.check(request, &REGISTER_AUTH, lookup, now) {
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
                    let mut response = response_to(
                        request,
                        423,
                        "Interval Too Brief",
                        Some(&self.mac(now)[..8]),
                    );
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

/// Seconds since the epoch now (for drivers; decisions take the time as an argument).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{parse, SipMessage};
    use md5::Md5;

    const NOW: u64 = 1_800_000_000;

    fn register(extra: &str) -> Request {
        let text = format!(
            "REGISTER sip:acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1\r\nFrom: <sip:1001@acme>;tag=f1\r\nTo: <sip:1001@acme>\r\nCall-ID: reg-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@127.0.0.1:5070>\r\nExpires: 120\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes()) {
            Ok(SipMessage::Request(r)) => r,
            other => panic!("bad test REGISTER: {other:?}"),
        }
    }

    fn lookup(domain: &str, user: &str) -> Option<SipAccount> {
        (domain == "acme" && user == "1001").then(|| SipAccount {
            id: "ext-1001".into(),
            password: "s3cret-password".into(),
        })
    }

    fn authorization(nonce: &str, password: &str) -> String {
        let ha1 = hex::encode(Md5::digest(format!("1001:acme:{password}").as_bytes()));
        let ha2 = hex::encode(Md5::digest(b"REGISTER:sip:acme"));
        let response = hex::encode(Md5::digest(
            format!("{ha1}:{nonce}:00000001:abc:auth:{ha2}").as_bytes(),
        ));
        format!("Authorization: Digest username=\"1001\", realm=\"acme\", nonce=\"{nonce}\", uri=\"sip:acme\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"abc\"\r\n")
    }

    fn status(decision: &RegisterDecision) -> u16 {
        match decision {
            RegisterDecision::Respond(r) => r.status,
            RegisterDecision::Bind { .. } => 200,
        }
    }

    #[test]
    fn invites_are_challenged_with_407_and_pass_with_proxy_authorization() {
        let registrar = Registrar::new([7; 32]);
        let invite = |extra: &str| {
            let text = format!(
                "INVITE sip:1002@acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKi1\r\nFrom: <sip:1001@acme>;tag=f1\r\nTo: <sip:1002@acme>\r\nCall-ID: inv-1\r\nCSeq: 2 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
            );
            match parse(text.as_bytes()) {
                Ok(SipMessage::Request(r)) => r,
                other => panic!("bad test INVITE: {other:?}"),
            }
        };
        let AuthDecision::Respond(challenge) = registrar.authenticate(&invite(""), lookup, NOW)
        else {
            panic!("a challenge")
        };
        assert_eq!(challenge.status, 407);
        assert!(challenge
            .headers
            .get("Proxy-Authenticate")
            .is_some_and(|v| v.starts_with("Digest realm=\"acme\"")));
        let nonce = registrar.nonce(NOW);
        let credentials = |password: &str| {
            let ha1 = hex::encode(Md5::digest(format!("1001:acme:{password}").as_bytes()));
            let ha2 = hex::encode(Md5::digest(b"INVITE:sip:1002@acme"));
            let response = hex::encode(Md5::digest(format!("{ha1}:{nonce}:{ha2}").as_bytes()));
            format!("Proxy-Authorization: Digest username=\"1001\", realm=\"acme\", nonce=\"{nonce}\", uri=\"sip:1002@acme\", response=\"{response}\"\r\n")
        };
        match registrar.authenticate(&invite(&credentials("s3cret-password")), lookup, NOW + 1) {
            AuthDecision::Authenticated(who) => {
                assert_eq!(
                    (
                        who.account.id.as_str(),
                        who.domain.as_str(),
                        who.user.as_str()
                    ),
                    ("ext-1001", "acme", "1001")
                );
            }
            AuthDecision::Respond(r) => panic!("refused: {}", r.status),
        }
        let AuthDecision::Respond(wrong) =
            registrar.authenticate(&invite(&credentials("guess")), lookup, NOW + 1)
        else {
            panic!("the wrong password passed")
        };
        assert_eq!(wrong.status, 403);
    }

    #[test]
    fn first_register_is_challenged() {
        let registrar = Registrar::new([7; 32]);
        let RegisterDecision::Respond(challenge) = registrar.decide(&register(""), lookup, NOW)
        else {
            panic!("a challenge")
        };
        assert_eq!(challenge.status, 401);
        let value = challenge
            .headers
            .get("WWW-Authenticate")
            .unwrap_or_default();
        assert!(
            value.starts_with("Digest realm=\"acme\", nonce=\""),
            "{value}"
        );
        assert!(param(challenge.headers.get("To").unwrap_or_default(), "tag").is_some());
    }

    #[test]
    fn the_right_password_binds_and_the_wrong_one_is_forbidden() {
        let registrar = Registrar::new([7; 32]);
        let nonce = registrar.nonce(NOW);
        let decision = registrar.decide(
            &register(&authorization(&nonce, "s3cret-password")),
            lookup,
            NOW + 1,
        );
        assert_eq!(
            decision,
            RegisterDecision::Bind {
                account_id: "ext-1001".into(),
                bindings: vec![NewBinding {
                    contact: "sip:1001@127.0.0.1:5070".into(),
                    expires: 120
                }],
                removed: vec![],
                remove_all: false,
            }
        );
        let wrong = registrar.decide(&register(&authorization(&nonce, "guess")), lookup, NOW + 1);
        assert_eq!(status(&wrong), 403);
    }

    #[test]
    fn stale_or_forged_nonces_are_challenged_again() {
        let registrar = Registrar::new([7; 32]);
        let old = registrar.nonce(NOW - 301);
        let RegisterDecision::Respond(r) = registrar.decide(
            &register(&authorization(&old, "s3cret-password")),
            lookup,
            NOW,
        ) else {
            panic!("a new challenge")
        };
        assert_eq!(r.status, 401);
        assert!(r
            .headers
            .get("WWW-Authenticate")
            .unwrap_or_default()
            .ends_with("stale=true"));
        let forged = format!("{NOW:x}.000000000000000000000000");
        assert_eq!(
            status(&registrar.decide(
                &register(&authorization(&forged, "s3cret-password")),
                lookup,
                NOW
            )),
            401
        );
        let other = Registrar::new([8; 32]).nonce(NOW);
        assert_eq!(
            status(&registrar.decide(
                &register(&authorization(&other, "s3cret-password")),
                lookup,
                NOW
            )),
            401
        );
    }

    #[test]
    fn unknown_users_get_404_and_short_intervals_423() {
        let registrar = Registrar::new([7; 32]);
        let unknown = registrar.decide(&register(""), |_: &str, _: &str| None, NOW);
        assert_eq!(status(&unknown), 404);
        let nonce = registrar.nonce(NOW);
        let mut short = register(&authorization(&nonce, "s3cret-password"));
        short.headers.remove("Expires");
        short.headers.push("Expires", "30");
        let RegisterDecision::Respond(r) = registrar.decide(&short, lookup, NOW) else {
            panic!("423")
        };
        assert_eq!((r.status, r.headers.get("Min-Expires")), (423, Some("60")));
    }

    #[test]
    fn expires_zero_and_star_remove() {
        let registrar = Registrar::new([7; 32]);
        let nonce = registrar.nonce(NOW);
        let mut remove = register(&authorization(&nonce, "s3cret-password"));
        remove.headers.remove("Expires");
        remove.headers.push("Expires", "0");
        let RegisterDecision::Bind {
            removed, bindings, ..
        } = registrar.decide(&remove, lookup, NOW)
        else {
            panic!("bind")
        };
        assert_eq!(
            (removed, bindings),
            (vec!["sip:1001@127.0.0.1:5070".to_owned()], vec![])
        );
        remove.headers.remove("Contact");
        remove.headers.push("Contact", "*");
        let RegisterDecision::Bind { remove_all, .. } = registrar.decide(&remove, lookup, NOW)
        else {
            panic!("bind")
        };
        assert!(remove_all);
    }

    #[test]
    fn the_200_lists_current_bindings() {
        let ok = ok_response(
            &register(""),
            &[("sip:1001@127.0.0.1:5070".into(), 118)],
            "t1",
        );
        let text = String::from_utf8(SipMessage::Response(ok).to_bytes()).unwrap_or_default();
        assert!(text.starts_with("SIP/2.0 200 OK\r\n"));
        assert!(text.contains("To: <sip:1001@acme>;tag=t1\r\n"));
        assert!(text.contains("Contact: <sip:1001@127.0.0.1:5070>;expires=118\r\n"));
    }
}
