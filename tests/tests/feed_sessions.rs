//! A live feed lasts as long as the session that opened it: logging out, changing the
//! password, being disabled or losing the feed's permission ends it within a second with an
//! UNAUTHENTICATED error, and later events never reach it. A socket that never says who it is
//! (no valid `connection_init`) is closed after ten seconds.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use futures::StreamExt;
use serde_json::{json, Value};
use tests::ws::{connect, next_json, open, subscribe, Socket};
use tests::{on_both_backends, Backend, TestServer};
use tokio_tungstenite::tungstenite::Message;

const CREATE_ROLE: &str =
    "mutation($n: String!) { createRole(input: { name: $n, permissions: [] }) { id } }";

/// `acme` with its admin `boss` and `auditor`, who may read the audit log; their tokens and
/// the auditor's id.
async fn acme(server: &TestServer) -> anyhow::Result<(String, String, String)> {
    let operator = server.operator().await?;
    server
        .ok(
            Some(&operator),
            "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }",
            json!({}),
        )
        .await?;
    let boss = server.login("acme", "boss", "boss-password").await?;
    let auditor = server
        .ok(
            Some(&boss),
            "mutation { createSubAccount(input: { account: \"auditor\", password: \"auditor-password\", name: \"审计\", permissions: [\"audit_log.read\", \"roles.manage\"] }) { id } }",
            json!({}),
        )
        .await?;
    let auditor_id = auditor["createSubAccount"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = server.login("acme", "auditor", "auditor-password").await?;
    Ok((boss, token, auditor_id))
}

/// `token`'s audit-log feed, once it delivers (it starts asynchronously).
async fn live_feed(server: &TestServer, token: &str, boss: &str) -> anyhow::Result<Socket> {
    let (mut socket, ack) = connect(server, token).await?;
    ensure!(ack["type"] == "connection_ack", "{ack}");
    subscribe(&mut socket, "1", "subscription { auditLog { eventType } }").await?;
    for attempt in 0..50 {
        server
            .ok(
                Some(boss),
                CREATE_ROLE,
                json!({ "n": format!("probe-{attempt}") }),
            )
            .await?;
        if let Ok(Some(Ok(Message::Text(_)))) =
            tokio::time::timeout(Duration::from_millis(200), socket.next()).await
        {
            // Drain what the other probes may still bring.
            while let Ok(Some(Ok(_))) =
                tokio::time::timeout(Duration::from_millis(300), socket.next()).await
            {}
            return Ok(socket);
        }
    }
    bail!("the feed never delivered")
}

/// Waits for the feed's end: an UNAUTHENTICATED error within `within` of now, then nothing
/// more of the feed even as events happen.
async fn ends(
    server: &TestServer,
    mut socket: Socket,
    boss: &str,
    within: Duration,
) -> anyhow::Result<()> {
    let since = Instant::now();
    let mut ended: Option<Value> = None;
    while since.elapsed() < within + Duration::from_secs(2) {
        let message = next_json(&mut socket).await?;
        if message.to_string().contains("UNAUTHENTICATED") {
            ended = Some(message);
            break;
        }
    }
    let Some(message) = ended else {
        bail!("the feed did not end");
    };
    ensure!(
        since.elapsed() <= within,
        "it ended after {:?}: {message}",
        since.elapsed()
    );
    for n in 0..2 {
        server
            .ok(
                Some(boss),
                CREATE_ROLE,
                json!({ "n": format!("after-{n}") }),
            )
            .await?;
    }
    while let Ok(Some(Ok(Message::Text(text)))) =
        tokio::time::timeout(Duration::from_millis(500), socket.next()).await
    {
        ensure!(
            !text.contains("RoleCreated"),
            "an event after the end: {text}"
        );
    }
    Ok(())
}

async fn a_feed_ends_when_its_session_is_logged_out(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (boss, auditor, _) = acme(&server).await?;
    let socket = live_feed(&server, &auditor, &boss).await?;
    server
        .ok(Some(&auditor), "mutation { logout }", json!({}))
        .await?;
    ends(&server, socket, &boss, Duration::from_millis(1_500)).await
}

async fn a_feed_ends_when_the_password_changes(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (boss, auditor, _) = acme(&server).await?;
    let socket = live_feed(&server, &auditor, &boss).await?;
    let other = server.login("acme", "auditor", "auditor-password").await?;
    server
        .ok(
            Some(&other),
            "mutation { changeMyPassword(oldPassword: \"auditor-password\", newPassword: \"auditor-password-2\") }",
            json!({}),
        )
        .await?;
    ends(&server, socket, &boss, Duration::from_millis(1_500)).await
}

async fn a_feed_ends_when_the_account_is_disabled(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (boss, auditor, auditor_id) = acme(&server).await?;
    let socket = live_feed(&server, &auditor, &boss).await?;
    server
        .ok(
            Some(&boss),
            "mutation($id: ID!) { setSubAccountEnabled(id: $id, enabled: false) { enabled } }",
            json!({ "id": auditor_id }),
        )
        .await?;
    ends(&server, socket, &boss, Duration::from_millis(1_500)).await
}

async fn a_feed_ends_when_its_permission_is_removed(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (boss, auditor, auditor_id) = acme(&server).await?;
    let socket = live_feed(&server, &auditor, &boss).await?;
    server
        .ok(
            Some(&boss),
            "mutation($id: ID!) { setSubAccountPermissions(id: $id, followRole: false, permissions: [\"roles.manage\"]) { permissions } }",
            json!({ "id": auditor_id }),
        )
        .await?;
    ends(&server, socket, &boss, Duration::from_millis(1_500)).await
}

async fn a_socket_that_never_says_who_it_is_is_closed(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let mut socket = open(&server).await?;
    let since = Instant::now();
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(15), socket.next()).await {
            Err(_) => break false,
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => break true,
            Ok(Some(Ok(_))) => continue,
        }
    };
    ensure!(closed, "the socket stayed open");
    let waited = since.elapsed();
    ensure!(
        waited >= Duration::from_secs(9) && waited <= Duration::from_secs(12),
        "closed after {waited:?}"
    );
    Ok(())
}

on_both_backends!(
    a_feed_ends_when_its_session_is_logged_out,
    a_feed_ends_when_the_password_changes,
    a_feed_ends_when_the_account_is_disabled,
    a_feed_ends_when_its_permission_is_removed,
    a_socket_that_never_says_who_it_is_is_closed,
);
