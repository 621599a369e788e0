//! A request changes a call only when it belongs to the call's dialog: Call-ID and both tags
//! for a BYE or re-INVITE, the INVITE's transaction for a CANCEL. A stranger who learnt the
//! Call-ID (and even the caller's tag) gets 481 and the call goes on; the caller's own requests
//! still end it.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use tests::sip_peer::{header, tag, Peer};
use tests::{inbound_setup, on_both_backends, run_sipp, Backend, TestServer, CARRIER_IP};

const UAS_ANSWER: &str = include_str!("../sipp/uas_answer.xml");
const UAS_RING: &str = include_str!("../sipp/uas_ring.xml");

/// A request of the carrier's call `call_id` with the given tags, branch and CSeq.
fn request(
    method: &str,
    from: SocketAddr,
    call_id: &str,
    from_tag: &str,
    to_tag: Option<&str>,
    branch: &str,
    cseq: u32,
) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:02161234567@callcore SIP/2.0
Via: SIP/2.0/UDP {from};branch=z9hG4bK-{branch}
Max-Forwards: 70
From: <sip:13800138000@{ip}>;tag={from_tag}
To: <sip:02161234567@callcore>{to_tag}
Call-ID: {call_id}
CSeq: {cseq} {method}
Contact: <sip:13800138000@{from}>",
        ip = from.ip()
    )
}

fn offer(at: SocketAddr) -> String {
    format!(
        "v=0\r\no=carrier 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n",
        ip = at.ip(),
        port = at.port() + 2
    )
}

/// Starts the extension's SIPp `scenario` on its registered port.
fn phone(scenario: &'static str, port: u16) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let port = port.to_string();
    tokio::task::spawn_blocking(move || run_sipp(scenario, &["-p", &port, "-t", "u1"]))
}

async fn a_bye_or_reinvite_needs_both_tags(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let setup = inbound_setup(&server, 5).await?;
    let answering = phone(UAS_ANSWER, setup.phone_port);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let carrier = Peer::bind(CARRIER_IP, server.sip_addr).await?;
    let stranger = Peer::bind("127.0.0.3", server.sip_addr).await?;
    let at = carrier.address()?;
    let call_id = "dialog-1@carrier";
    carrier
        .send(
            &request("INVITE", at, call_id, "c1", None, "i1", 1),
            &offer(at),
        )
        .await?;
    let ok = carrier.expect("SIP/2.0 200", "INVITE").await?;
    let ours = header(&ok, "To")
        .as_deref()
        .and_then(tag)
        .context("callcore's tag in the 200")?;
    carrier
        .send(&request("ACK", at, call_id, "c1", Some(&ours), "a1", 1), "")
        .await?;

    // The stranger knows the Call-ID; then the caller's tag too; then guesses callcore's.
    let from = stranger.address()?;
    let attempts = [
        request("BYE", from, call_id, "guess", Some(&ours), "s1", 2),
        request("BYE", from, call_id, "c1", Some("guess"), "s2", 2),
        request("BYE", from, call_id, "c1", None, "s3", 2),
        request("INVITE", from, call_id, "guess", Some(&ours), "s4", 2),
    ];
    for attempt in &attempts {
        let body = if attempt.starts_with("INVITE") {
            offer(from)
        } else {
            String::new()
        };
        stranger.send(attempt, &body).await?;
        let method = attempt.split(' ').next().unwrap_or_default();
        stranger
            .expect("SIP/2.0 481", method)
            .await
            .with_context(|| attempt.lines().take(5).collect::<Vec<_>>().join(" | "))?;
    }
    // The caller's own BYE still ends the call (it would be 481 had a stranger ended it).
    carrier
        .send(&request("BYE", at, call_id, "c1", Some(&ours), "b1", 2), "")
        .await?;
    carrier.expect("SIP/2.0 200", "BYE").await?;
    answering.await?.context("the phone's scenario")?;
    Ok(())
}

async fn a_cancel_needs_the_invite_transaction(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let setup = inbound_setup(&server, 5).await?;
    let ringing = phone(UAS_RING, setup.phone_port);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let carrier = Peer::bind(CARRIER_IP, server.sip_addr).await?;
    let stranger = Peer::bind("127.0.0.3", server.sip_addr).await?;
    let at = carrier.address()?;
    let call_id = "dialog-2@carrier";
    carrier
        .send(
            &request("INVITE", at, call_id, "c2", None, "i2", 1),
            &offer(at),
        )
        .await?;
    carrier.expect("SIP/2.0 180", "INVITE").await?;
    // Right Call-ID, From tag and CSeq, but not the INVITE's transaction.
    let from = stranger.address()?;
    stranger
        .send(
            &request("CANCEL", from, call_id, "c2", None, "i2-not", 1),
            "",
        )
        .await?;
    stranger.expect("SIP/2.0 481", "CANCEL").await?;
    // The caller's CANCEL ends the ringing.
    carrier
        .send(&request("CANCEL", at, call_id, "c2", None, "i2", 1), "")
        .await?;
    carrier.expect("SIP/2.0 200", "CANCEL").await?;
    let terminated = carrier.expect("SIP/2.0 487", "INVITE").await?;
    let ours = header(&terminated, "To").as_deref().and_then(tag);
    carrier
        .send(
            &request("ACK", at, call_id, "c2", ours.as_deref(), "i2", 1),
            "",
        )
        .await?;
    match ringing.await? {
        Ok(()) => Ok(()),
        Err(error) => bail!("the phone was not cancelled as it should be: {error:#}"),
    }
}

on_both_backends!(
    a_bye_or_reinvite_needs_both_tags,
    a_cancel_needs_the_invite_transaction
);
