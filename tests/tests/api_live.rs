//! Live feeds over `/graphql/ws` (graphql-transport-ws) with the token in `connection_init`.

use std::time::Duration;

use anyhow::ensure;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tests::{on_both_backends, Backend, TestServer};
use tokio_tungstenite::tungstenite::Message;

use tests::ws::{connect, next_json};

async fn audit_feed_pushes_new_entries_in_order(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let operator = server.operator().await?;
    server
        .ok(
            Some(&operator),
            "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }",
            json!({}),
        )
        .await?;
    let boss = server.login("acme", "boss", "boss-password").await?;
    let (mut socket, ack) = connect(&server, &boss).await?;
    ensure!(ack["type"] == "connection_ack", "{ack}");
    socket
        .send(Message::text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { auditLog { eventType details } }" } }).to_string(),
        ))
        .await?;
    // The subscription is live once a probe entry comes through (it starts asynchronously).
    let mut live = false;
    for attempt in 0..50 {
        server
            .ok(
                Some(&boss),
                "mutation($n: String!) { createRole(input: { name: $n, permissions: [] }) { id } }",
                json!({ "n": format!("probe-{attempt}") }),
            )
            .await?;
        if let Ok(Some(Ok(Message::Text(_)))) =
            tokio::time::timeout(Duration::from_millis(200), socket.next()).await
        {
            live = true;
            break;
        }
    }
    ensure!(live, "the subscription never delivered");
    for name in ["一组", "二组"] {
        server
            .ok(
                Some(&boss),
                "mutation($n: String!) { createRole(input: { name: $n, permissions: [] }) { id } }",
                json!({ "n": name }),
            )
            .await?;
    }
    // Another tenant's activity never reaches this feed.
    server
        .ok(
            Some(&operator),
            "mutation { createEnterprise(input: { code: \"other\", name: \"Other\", adminAccount: \"x\", adminPassword: \"x-password\" }) { id } }",
            json!({}),
        )
        .await?;
    server
        .ok(
            Some(&boss),
            "mutation { createRole(input: { name: \"三组\", permissions: [] }) { id } }",
            json!({}),
        )
        .await?;
    let mut names = Vec::new();
    while names.len() < 3 {
        let message = next_json(&mut socket).await?;
        ensure!(message["type"] == "next", "{message}");
        let entry = &message["payload"]["data"]["auditLog"];
        ensure!(
            entry["eventType"] == "RoleCreated",
            "unexpected entry {entry}"
        );
        names.push(
            entry["details"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    ensure!(names == ["一组", "二组", "三组"], "{names:?}");
    server.stop().await;
    Ok(())
}

async fn websocket_needs_a_valid_token_and_permission(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (_socket, answer) =
        connect(&server, "cc1.00000000-0000-0000-0000-000000000000.bad").await?;
    ensure!(
        answer["type"] == "closed",
        "an invalid token must close the connection: {answer}"
    );
    let operator = server.operator().await?;
    server
        .ok(
            Some(&operator),
            "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }",
            json!({}),
        )
        .await?;
    let boss = server.login("acme", "boss", "boss-password").await?;
    server
        .ok(Some(&boss), "mutation { createSubAccount(input: { account: \"agent\", password: \"agent-password\", name: \"A\" }) { id } }", json!({}))
        .await?;
    let agent = server.login("acme", "agent", "agent-password").await?;
    let (mut socket, ack) = connect(&server, &agent).await?;
    ensure!(ack["type"] == "connection_ack");
    socket
        .send(Message::text(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { auditLog { eventType } }" } }).to_string()))
        .await?;
    let refused = next_json(&mut socket).await?;
    ensure!(
        refused["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN",
        "{refused}"
    );
    let platform = server
        .ok(
            Some(&operator),
            "{ enterprises(filter: { code: \"platform\" }) { edges { node { id } } } }",
            json!({}),
        )
        .await?;
    let platform_id = platform["enterprises"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (mut socket, _) = connect(&server, &boss).await?;
    socket
        .send(Message::text(
            json!({ "id": "2", "type": "subscribe", "payload": { "query": format!("subscription {{ auditLog(enterpriseId: \"{platform_id}\") {{ eventType }} }}") } }).to_string(),
        ))
        .await?;
    let foreign = next_json(&mut socket).await?;
    ensure!(
        foreign["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND",
        "{foreign}"
    );
    server.stop().await;
    Ok(())
}

on_both_backends!(
    audit_feed_pushes_new_entries_in_order,
    websocket_needs_a_valid_token_and_permission
);
