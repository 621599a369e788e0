//! An extension's SIP password is shown once: in the answer that generated it (`createExtension`
//! or `rotateSipPassword`), never in a query. Issuing a new one takes its own permission,
//! unregisters the phones (an event each), and only the new password registers afterwards.

use std::process::Command;

use anyhow::{ensure, Context};
use serde_json::{json, Value};
use tests::ports::free_udp_port;
use tests::{error_code, on_both_backends, Backend, TestServer};

/// SIPp registers 1001@acme from `port` with `password`, expecting `status`.
fn register(server: &TestServer, password: &str, status: u16, port: u16) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let scenario = include_str!("../sipp/register.xml")
        .replace("USER", "1001")
        .replace("DOMAIN", "acme")
        .replace("EXPIRES", "600")
        .replace("EXPECTED_STATUS", &status.to_string());
    let path = dir.path().join("register.xml");
    std::fs::write(&path, scenario)?;
    let output = Command::new("sipp")
        .current_dir(dir.path())
        .arg("-sf")
        .arg(&path)
        .args(["-m", "1", "-l", "1", "-t", "u1", "-i", "127.0.0.1"])
        .args(["-p", &port.to_string(), "-au", "1001", "-ap", password])
        .args(["-auth_uri", "acme", "-timeout", "15", "-timeout_error"])
        .args(["-nostdin"])
        .arg(server.sip_addr.to_string())
        .output()
        .context("sipp must be installed (Debian package sip-tester)")?;
    ensure!(
        output.status.success(),
        "SIPp REGISTER expecting {status} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

async fn a_sip_password_is_shown_once_and_a_new_one_unregisters_the_phones(
    backend: Backend,
) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let operator = server.operator().await?;
    let created = server
        .ok(Some(&operator), "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }", json!({}))
        .await?;
    let enterprise = text(&created["createEnterprise"]["id"]);
    let created = server
        .ok(Some(&operator), "mutation($e: ID!) { createExtension(enterpriseId: $e, number: \"1001\") { id sipPassword } }", json!({ "e": enterprise }))
        .await?;
    let id = text(&created["createExtension"]["id"]);
    let first = text(&created["createExtension"]["sipPassword"]);
    ensure!(first.len() == 16, "{created}");

    // Nobody reads it back: not the admin, not a reader of extensions, not the operator.
    let boss = server.login("acme", "boss", "boss-password").await?;
    server
        .ok(
            Some(&boss),
            "mutation { createSubAccount(input: { account: \"clerk\", password: \"clerk-password\", name: \"文员\", permissions: [\"extensions.read\", \"extensions.manage\"] }) { id } }",
            json!({}),
        )
        .await?;
    let clerk = server.login("acme", "clerk", "clerk-password").await?;
    for (token, query) in [
        (&boss, "query($id: ID!) { extension(id: $id) { sipPassword } extensions { edges { node { sipPassword } } } }"),
        (&clerk, "query($id: ID!) { extension(id: $id) { sipPassword } extensions { edges { node { sipPassword } } } }"),
        (&operator, "query($id: ID!) { extension(id: $id) { sipPassword } }"),
    ] {
        let listed = server.ok(Some(token), query, json!({ "id": id })).await?;
        ensure!(!listed.to_string().contains(&first), "{listed}");
        ensure!(listed["extension"]["sipPassword"].is_null(), "{listed}");
    }

    // The phone registers with it.
    let port = free_udp_port("127.0.0.1")?;
    tokio::task::block_in_place(|| register(&server, &first, 200, port))?;

    // Issuing a new password takes its own permission.
    let rotate = "mutation($id: ID!) { rotateSipPassword(id: $id) { sipPassword online } }";
    let refused = server
        .gql(Some(&clerk), rotate, json!({ "id": id }))
        .await?;
    ensure!(error_code(&refused) == "FORBIDDEN", "{refused}");
    let rotated = server.ok(Some(&boss), rotate, json!({ "id": id })).await?;
    let second = text(&rotated["rotateSipPassword"]["sipPassword"]);
    ensure!(second.len() == 16 && second != first, "{rotated}");
    ensure!(rotated["rotateSipPassword"]["online"] == false, "{rotated}");
    let history = server
        .node
        .log
        .read_stream(uuid::Uuid::parse_str(&id)?)
        .await?;
    let types: Vec<&str> = history.iter().map(|e| e.event_type.as_str()).collect();
    ensure!(
        types.ends_with(&["ExtensionUnregistered", "SipPasswordRotated"]),
        "{types:?}"
    );
    ensure!(
        history[history.len() - 2]
            .payload
            .contains("\"reason\":\"password_rotated\""),
        "{}",
        history[history.len() - 2].payload
    );
    // The audit log keeps the fact, not the password.
    let audit = server
        .ok(
            Some(&boss),
            "{ auditLog(first: 50) { edges { node { eventType details } } } }",
            json!({}),
        )
        .await?;
    ensure!(audit.to_string().contains("SipPasswordRotated"), "{audit}");
    ensure!(!audit.to_string().contains(&second), "{audit}");

    // Only the new password registers.
    tokio::task::block_in_place(|| register(&server, &first, 403, port))?;
    tokio::task::block_in_place(|| register(&server, &second, 200, port))?;
    Ok(())
}

on_both_backends!(a_sip_password_is_shown_once_and_a_new_one_unregisters_the_phones);
