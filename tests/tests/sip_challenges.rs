//! Phones prove who they are the same way whatever they claim: every REGISTER and INVITE from
//! outside the trunks is challenged alike, for extensions and enterprises that exist or not;
//! and a digest credential serves only the request it was made for, once: another Request-URI
//! is refused, a replay is challenged again (`stale=true`) and dials nothing.

use std::net::SocketAddr;

use anyhow::{ensure, Context};
use serde_json::json;
use telephony::sip::digest::answer_challenge;
use tests::sip_peer::{header, Peer};
use tests::{inbound_setup, on_both_backends, Backend, TestServer};

/// A REGISTER or INVITE as a phone at `at` sends it.
fn request(method: &str, uri: &str, user: &str, domain: &str, at: SocketAddr, n: u32) -> String {
    let (to, cseq_method) = if method == "REGISTER" {
        (format!("<sip:{user}@{domain}>"), "REGISTER")
    } else {
        (format!("<{uri}>"), "INVITE")
    };
    format!(
        "{method} {uri} SIP/2.0
Via: SIP/2.0/UDP {at};branch=z9hG4bK-{method}-{n}
Max-Forwards: 70
From: <sip:{user}@{domain}>;tag=t{n}
To: {to}
Call-ID: {method}-{n}@phone
CSeq: {n} {cseq_method}
Contact: <sip:{user}@{at}>
Expires: 60"
    )
}

/// The status, reason and challenge (nonce left out) of the answer to `text`.
async fn challenge_shape(
    phone: &Peer,
    text: &str,
    method: &str,
) -> anyhow::Result<(String, String)> {
    phone.send(text, "").await?;
    let number = text
        .lines()
        .find_map(|l| l.strip_prefix("CSeq: "))
        .unwrap_or_default();
    let answer = phone.final_answer(number).await?;
    let first = answer.lines().next().unwrap_or_default().to_owned();
    let header_name = if method == "REGISTER" {
        "WWW-Authenticate"
    } else {
        "Proxy-Authenticate"
    };
    let challenge = header(&answer, header_name).unwrap_or_default();
    let without_nonce = challenge
        .split(", ")
        .filter(|p| !p.starts_with("nonce="))
        .collect::<Vec<_>>()
        .join(", ");
    Ok((first, without_nonce))
}

async fn every_phone_request_is_challenged_alike(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    inbound_setup(&server, 5).await?;
    let phone = Peer::bind("127.0.0.1", server.sip_addr).await?;
    let at = phone.address()?;
    for method in ["REGISTER", "INVITE"] {
        let uri = |user: &str, domain: &str| {
            if method == "REGISTER" {
                format!("sip:{domain}")
            } else {
                format!("sip:{user}@{domain}")
            }
        };
        let known = challenge_shape(
            &phone,
            &request(method, &uri("1001", "acme"), "1001", "acme", at, 1),
            method,
        )
        .await?;
        let status = if method == "REGISTER" { "401" } else { "407" };
        ensure!(known.0.contains(status), "{known:?}");
        for (n, (user, domain)) in [("4040", "acme"), ("1001", "nosuch")].iter().enumerate() {
            let n = u32::try_from(n).unwrap_or(0) + 2;
            let text = request(method, &uri(user, domain), user, domain, at, n);
            let unknown = challenge_shape(&phone, &text, method).await?;
            let expected = (known.0.clone(), known.1.replace("acme", domain));
            ensure!(
                unknown == expected,
                "{user}@{domain}: {unknown:?} against {expected:?}"
            );
        }
    }
    Ok(())
}

async fn a_credential_serves_its_own_request_once(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let setup = inbound_setup(&server, 5).await?;
    let op = server.operator().await?;
    let created = server
        .ok(
            Some(&op),
            "mutation($e: ID!) { createExtension(enterpriseId: $e, number: \"1002\") { sipPassword } }",
            json!({ "e": setup.enterprise }),
        )
        .await?;
    let password = created["createExtension"]["sipPassword"]
        .as_str()
        .context("the new extension's SIP password")?
        .to_owned();
    let phone = Peer::bind("127.0.0.1", server.sip_addr).await?;
    let at = phone.address()?;
    let target = "sip:1001@acme";
    phone
        .send(&request("INVITE", target, "1002", "acme", at, 1), "")
        .await?;
    let challenged = phone.expect("SIP/2.0 407", "INVITE").await?;
    let challenge = header(&challenged, "Proxy-Authenticate").context("a challenge")?;
    let credential = answer_challenge(&challenge, "INVITE", target, "1002", &password, "c0ffee")?;
    let with_credential = |uri: &str, n: u32| {
        let mut text = request("INVITE", uri, "1002", "acme", at, n);
        text.push_str(&format!("\nProxy-Authorization: {credential}"));
        text
    };
    // Sent with another Request-URI (to dial out), the credential is refused.
    phone
        .send(&with_credential("sip:008613800138000@acme", 2), "")
        .await?;
    phone.expect("SIP/2.0 400", "2 INVITE").await?;
    // Its own request is let through (1001's phone does not answer: the ring time runs out).
    phone.send(&with_credential(target, 3), "").await?;
    let answered = phone.final_answer("3 INVITE").await?;
    let first = answered.lines().next().unwrap_or_default();
    ensure!(
        !["400", "403", "407"].iter().any(|s| first.contains(s)),
        "the credential's own request was refused: {first}"
    );
    // Replayed: challenged again as stale (no call starts before authentication).
    phone.send(&with_credential(target, 4), "").await?;
    let replayed = phone.expect("SIP/2.0 407", "4 INVITE").await?;
    let again = header(&replayed, "Proxy-Authenticate").unwrap_or_default();
    ensure!(again.contains("stale=true"), "{again}");
    Ok(())
}

on_both_backends!(
    every_phone_request_is_challenged_alike,
    a_credential_serves_its_own_request_once
);
