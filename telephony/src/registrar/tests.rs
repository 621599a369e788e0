//! The registrar's decisions on literal REGISTER and INVITE text.

use super::*;
use crate::sip::message::{parse, SipMessage};
use md5::Md5;
use sha2::Digest as _;

const NOW: u64 = 1_800_000_000;

/// Where the phone of the tests sends from.
fn phone_ip() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

fn message(text: &str) -> Request {
    match parse(text.as_bytes()) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("bad test request: {other:?}"),
    }
}

fn register(extra: &str) -> Request {
    message(&format!(
        "REGISTER sip:acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1\r\nFrom: <sip:1001@acme>;tag=f1\r\nTo: <sip:1001@acme>\r\nCall-ID: reg-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:1001@127.0.0.1:5070>\r\nExpires: 120\r\n{extra}Content-Length: 0\r\n\r\n"
    ))
}

fn register_as(user: &str, extra: &str) -> Request {
    message(&format!(
        "REGISTER sip:acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1\r\nFrom: <sip:{user}@acme>;tag=f1\r\nTo: <sip:{user}@acme>\r\nCall-ID: reg-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:5070>\r\n{extra}Content-Length: 0\r\n\r\n"
    ))
}

fn invite(to: &str, extra: &str) -> Request {
    message(&format!(
        "INVITE sip:{to}@acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKi1\r\nFrom: <sip:1001@acme>;tag=f1\r\nTo: <sip:{to}@acme>\r\nCall-ID: inv-1\r\nCSeq: 2 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
    ))
}

fn lookup(domain: &str, user: &str) -> Option<SipAccount> {
    (domain == "acme" && user == "1001").then(|| SipAccount {
        id: "ext-1001".into(),
        password: "s3cret-password".into(),
    })
}

/// Digest credentials for `method` on `uri` as user `user` of `acme`, with count `nc`.
fn digest(
    header: &str,
    method: &str,
    uri: &str,
    user: &str,
    nonce: &str,
    password: &str,
    nc: u32,
) -> String {
    let ha1 = hex::encode(Md5::digest(format!("{user}:acme:{password}").as_bytes()));
    let ha2 = hex::encode(Md5::digest(format!("{method}:{uri}").as_bytes()));
    let response = hex::encode(Md5::digest(
        format!("{ha1}:{nonce}:{nc:08x}:abc:auth:{ha2}").as_bytes(),
    ));
    format!("{header}: Digest username=\"{user}\", realm=\"acme\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc={nc:08x}, cnonce=\"abc\"\r\n")
}

fn authorization(nonce: &str, password: &str) -> String {
    digest(
        "Authorization",
        "REGISTER",
        "sip:acme",
        "1001",
        nonce,
        password,
        1,
    )
}

fn status(decision: &RegisterDecision) -> u16 {
    match decision {
        RegisterDecision::Respond(r) => r.status,
        RegisterDecision::Bind { .. } => 200,
    }
}

/// The nonce of the challenge in `response`.
fn nonce_of(response: &Response, header: &str) -> String {
    let value = response.headers.get(header).unwrap_or_default();
    let start = value.find("nonce=\"").map_or(value.len(), |i| i + 7);
    value[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A nonce from a REGISTER challenge to the phone.
fn register_nonce(registrar: &Registrar, now: u64) -> String {
    match registrar.decide(&register(""), phone_ip(), lookup, now) {
        RegisterDecision::Respond(r) => nonce_of(&r, "WWW-Authenticate"),
        RegisterDecision::Bind { .. } => panic!("bound without credentials"),
    }
}

#[test]
fn invites_are_challenged_with_407_and_pass_with_proxy_authorization() {
    let registrar = Registrar::new([7; 32]);
    let AuthDecision::Respond(challenge) =
        registrar.authenticate(&invite("1002", ""), phone_ip(), lookup, NOW)
    else {
        panic!("a challenge")
    };
    assert_eq!(challenge.status, 407);
    assert!(challenge
        .headers
        .get("Proxy-Authenticate")
        .is_some_and(|v| v.starts_with("Digest realm=\"acme\"")));
    let nonce = nonce_of(&challenge, "Proxy-Authenticate");
    let credentials = |password: &str, nc: u32| {
        digest(
            "Proxy-Authorization",
            "INVITE",
            "sip:1002@acme",
            "1001",
            &nonce,
            password,
            nc,
        )
    };
    let wrong = registrar.authenticate(
        &invite("1002", &credentials("guess", 1)),
        phone_ip(),
        lookup,
        NOW + 1,
    );
    assert!(matches!(wrong, AuthDecision::Respond(ref r) if r.status == 403));
    match registrar.authenticate(
        &invite("1002", &credentials("s3cret-password", 1)),
        phone_ip(),
        lookup,
        NOW + 1,
    ) {
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
}

#[test]
fn a_captured_invite_credential_dials_nothing_else_and_nothing_again() {
    let registrar = Registrar::new([7; 32]);
    let AuthDecision::Respond(challenge) =
        registrar.authenticate(&invite("1002", ""), phone_ip(), lookup, NOW)
    else {
        panic!("a challenge")
    };
    let nonce = nonce_of(&challenge, "Proxy-Authenticate");
    let captured = digest(
        "Proxy-Authorization",
        "INVITE",
        "sip:1002@acme",
        "1001",
        &nonce,
        "s3cret-password",
        1,
    );
    let decide = |request: &Request, from: IpAddr| match registrar.authenticate(
        request,
        from,
        lookup,
        NOW + 1,
    ) {
        AuthDecision::Authenticated(_) => (200, String::new()),
        AuthDecision::Respond(r) => (
            r.status,
            r.headers
                .get("Proxy-Authenticate")
                .unwrap_or_default()
                .to_owned(),
        ),
    };
    // The credential sent to dial another number: its uri is not the Request-URI.
    assert_eq!(
        decide(&invite("00862112345678", &captured), phone_ip()).0,
        400
    );
    // Its own use passes once.
    assert_eq!(decide(&invite("1002", &captured), phone_ip()).0, 200);
    // Replayed (same nc), or from another address: a new challenge, marked stale.
    let (status, challenge) = decide(&invite("1002", &captured), phone_ip());
    assert_eq!(status, 407);
    assert!(challenge.ends_with("stale=true"), "{challenge}");
    let (status, _) = decide(&invite("1002", &captured), IpAddr::from([10, 9, 9, 9]));
    assert_eq!(status, 407);
    // The phone's next use of the nonce counts up and passes.
    let next = captured.replace("nc=00000001", "nc=00000002");
    let next = next.replace(
        &digest_response(&captured),
        &digest_response(&digest(
            "Proxy-Authorization",
            "INVITE",
            "sip:1002@acme",
            "1001",
            &nonce,
            "s3cret-password",
            2,
        )),
    );
    assert_eq!(decide(&invite("1002", &next), phone_ip()).0, 200);
}

/// The `response` parameter of a credential header line.
fn digest_response(header: &str) -> String {
    let start = header.find("response=\"").map_or(header.len(), |i| i + 10);
    header[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn first_register_is_challenged() {
    let registrar = Registrar::new([7; 32]);
    let RegisterDecision::Respond(challenge) =
        registrar.decide(&register(""), phone_ip(), lookup, NOW)
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
    let nonce = register_nonce(&registrar, NOW);
    let wrong = registrar.decide(
        &register(&authorization(&nonce, "guess")),
        phone_ip(),
        lookup,
        NOW + 1,
    );
    assert_eq!(status(&wrong), 403);
    let decision = registrar.decide(
        &register(&authorization(&nonce, "s3cret-password")),
        phone_ip(),
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
}

#[test]
fn stale_or_forged_nonces_are_challenged_again() {
    let registrar = Registrar::new([7; 32]);
    let old = register_nonce(&registrar, NOW - 301);
    let RegisterDecision::Respond(r) = registrar.decide(
        &register(&authorization(&old, "s3cret-password")),
        phone_ip(),
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
    let forged = format!("{NOW:x}.0.{}", "0".repeat(32));
    let other = register_nonce(&Registrar::new([8; 32]), NOW);
    for nonce in [forged, other] {
        let decision = registrar.decide(
            &register(&authorization(&nonce, "s3cret-password")),
            phone_ip(),
            lookup,
            NOW,
        );
        assert_eq!(status(&decision), 401);
    }
}

#[test]
fn unknown_and_known_accounts_are_answered_alike() {
    let registrar = Registrar::new([7; 32]);
    let shape = |decision: RegisterDecision| match decision {
        RegisterDecision::Respond(r) => {
            let challenge = r.headers.get("WWW-Authenticate").unwrap_or_default();
            let nonce = nonce_of(&r, "WWW-Authenticate");
            (r.status, r.reason, challenge.replace(&nonce, "N"))
        }
        RegisterDecision::Bind { .. } => (200, "OK".into(), String::new()),
    };
    let known = shape(registrar.decide(&register_as("1001", ""), phone_ip(), lookup, NOW));
    for user in ["1002", "9999", ""] {
        let request = if user.is_empty() {
            message("REGISTER sip:acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1\r\nFrom: <sip:acme>;tag=f1\r\nTo: <sip:acme>\r\nCall-ID: reg-1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
        } else {
            register_as(user, "")
        };
        let unknown = shape(registrar.decide(&request, phone_ip(), lookup, NOW));
        assert_eq!(unknown, known, "{user}");
    }
    // With credentials: an unknown account is refused like a wrong password.
    let nonce = register_nonce(&registrar, NOW);
    let wrong = status(&registrar.decide(
        &register(&authorization(&nonce, "guess")),
        phone_ip(),
        lookup,
        NOW,
    ));
    let unknown = digest(
        "Authorization",
        "REGISTER",
        "sip:acme",
        "9999",
        &nonce,
        "guess",
        1,
    );
    let unknown =
        status(&registrar.decide(&register_as("9999", &unknown), phone_ip(), lookup, NOW));
    assert_eq!((wrong, unknown), (403, 403));
}

#[test]
fn short_intervals_get_423() {
    let registrar = Registrar::new([7; 32]);
    let nonce = register_nonce(&registrar, NOW);
    let mut short = register(&authorization(&nonce, "s3cret-password"));
    short.headers.remove("Expires");
    short.headers.push("Expires", "30");
    let RegisterDecision::Respond(r) = registrar.decide(&short, phone_ip(), lookup, NOW) else {
        panic!("423")
    };
    assert_eq!((r.status, r.headers.get("Min-Expires")), (423, Some("60")));
}

#[test]
fn expires_zero_and_star_remove() {
    let registrar = Registrar::new([7; 32]);
    let nonce = register_nonce(&registrar, NOW);
    let mut remove = register(&authorization(&nonce, "s3cret-password"));
    remove.headers.remove("Expires");
    remove.headers.push("Expires", "0");
    let RegisterDecision::Bind {
        removed, bindings, ..
    } = registrar.decide(&remove, phone_ip(), lookup, NOW)
    else {
        panic!("bind")
    };
    assert_eq!(
        (removed, bindings),
        (vec!["sip:1001@127.0.0.1:5070".to_owned()], vec![])
    );
    let nonce = register_nonce(&registrar, NOW);
    let mut remove = register(&authorization(&nonce, "s3cret-password"));
    remove.headers.remove("Expires");
    remove.headers.push("Expires", "0");
    remove.headers.remove("Contact");
    remove.headers.push("Contact", "*");
    let RegisterDecision::Bind { remove_all, .. } =
        registrar.decide(&remove, phone_ip(), lookup, NOW)
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
