//! Phones register to extensions: SIPp (a real SIP peer, Debian's `sip-tester`) sends REGISTER
//! with digest authentication over UDP to a running node. The right password binds the contact
//! (an `ExtensionRegistered` event, visible through GraphQL), the wrong one gets 403 and
//! changes nothing, and Expires 0 unbinds. Malformed datagrams get a 400 or are dropped and the
//! registrar keeps serving.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::json;
use tests::ports::free_udp_port;
use tests::{on_both_backends, Backend, TestServer};

/// Runs the REGISTER scenario once with `password` over UDP, expecting `status`.
fn sipp_register(
    server: &TestServer,
    password: &str,
    expires: u32,
    status: u16,
    port: u16,
) -> anyhow::Result<()> {
    sipp_register_over(server, "u1", password, expires, status, port)
}

/// Runs the REGISTER scenario once over `transport` (`u1` UDP, `t1` TCP).
fn sipp_register_over(
    server: &TestServer,
    transport: &str,
    password: &str,
    expires: u32,
    status: u16,
    port: u16,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let scenario = include_str!("../sipp/register.xml")
        .replace("USER", "1001")
        .replace("DOMAIN", "acme")
        .replace("EXPIRES", &expires.to_string())
        .replace("EXPECTED_STATUS", &status.to_string());
    let path = dir.path().join("register.xml");
    std::fs::write(&path, scenario)?;
    let output = Command::new("sipp")
        .current_dir(dir.path())
        .arg("-sf")
        .arg(&path)
        .args([
            "-m",
            "1",
            "-l",
            "1",
            "-t",
            transport,
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args([
            "-au",
            "1001",
            "-ap",
            password,
            "-auth_uri",
            "acme",
            "-timeout",
            "15",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .arg(server.sip_addr.to_string())
        .output()
        .context("sipp must be installed (Debian package sip-tester)")?;
    let errors: String = std::fs::read_dir(dir.path())?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("errors"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    ensure!(
        output.status.success(),
        "SIPp REGISTER expecting {status} failed ({:?}): {}\n{errors}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

async fn sipp_registers_with_digest(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let operator = server.operator().await?;
    server
        .ok(Some(&operator), "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }", json!({}))
        .await?;
    let enterprise = server
        .ok(
            Some(&operator),
            "{ enterprises(filter: { code: \"acme\" }) { edges { node { id } } } }",
            json!({}),
        )
        .await?;
    let enterprise_id = enterprise["enterprises"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let created = server
        .ok(Some(&operator), "mutation($e: ID!) { createExtension(enterpriseId: $e, number: \"1001\") { id sipUsername sipDomain sipPassword online } }", json!({ "e": enterprise_id }))
        .await?;
    let extension = &created["createExtension"];
    ensure!(
        extension["sipUsername"] == "1001"
            && extension["sipDomain"] == "acme"
            && extension["online"] == false
    );
    let password = extension["sipPassword"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let id = extension["id"].as_str().unwrap_or_default().to_owned();
    let port = free_udp_port("127.0.0.1")?;

    // Wrong password: 403, and the log does not move.
    let head = server.node.log.stored_head().await?;
    let sip_server = &server;
    let wrong = tokio::task::block_in_place(|| {
        sipp_register(sip_server, "not-the-password", 120, 403, port)
    });
    wrong?;
    ensure!(
        server.node.log.stored_head().await? == head,
        "a refused REGISTER changed the log"
    );

    // Right password: 200, a binding, an event.
    tokio::task::block_in_place(|| sipp_register(sip_server, &password, 120, 200, port))?;
    let contact = format!("sip:1001@127.0.0.1:{port}");
    let seen = server
        .ok(Some(&operator), "query($id: ID!) { extension(id: $id) { online registrations { contact transport userAgent expiresAt } } }", json!({ "id": id }))
        .await?;
    ensure!(seen["extension"]["online"] == true, "{seen}");
    ensure!(
        seen["extension"]["registrations"][0]["contact"] == contact.as_str(),
        "{seen}"
    );
    ensure!(seen["extension"]["registrations"][0]["userAgent"] == "SIPp register test");
    let history = server
        .node
        .log
        .read_stream(uuid::Uuid::parse_str(&id)?)
        .await?;
    let types: Vec<&str> = history.iter().map(|e| e.event_type.as_str()).collect();
    ensure!(
        types == ["ExtensionCreated", "ExtensionRegistered"],
        "{types:?}"
    );
    ensure!(
        history[1]
            .payload
            .contains(&format!("\"source\":\"127.0.0.1:{port}\"")),
        "{}",
        history[1].payload
    );

    // Malformed input: answered with 400 when possible, never stops the registrar.
    let probe = UdpSocket::bind("127.0.0.1:0")?;
    probe.set_read_timeout(Some(Duration::from_secs(5)))?;
    probe.send_to(b"\x16\x03\x01garbage that is not SIP", server.sip_addr)?;
    probe.send_to(&vec![b'A'; 70_000][..65_000], server.sip_addr)?;
    let truncated = "REGISTER sip:acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad1\r\nFrom: <sip:1001@acme>;tag=1\r\nTo: <sip:1001@acme>\r\nCall-ID: bad-1\r\nCSeq: 1 REGISTER\r\nContent-Length: 500\r\n\r\nshort";
    probe.send_to(truncated.as_bytes(), server.sip_addr)?;
    let mut buffer = [0u8; 2048];
    let (n, _) = probe.recv_from(&mut buffer)?;
    let answer = String::from_utf8_lossy(&buffer[..n]);
    ensure!(answer.starts_with("SIP/2.0 400 Bad Request"), "{answer}");
    ensure!(answer.contains("Call-ID: bad-1"));
    let options = "OPTIONS sip:acme SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKopt1\r\nFrom: <sip:probe@acme>;tag=1\r\nTo: <sip:acme>\r\nCall-ID: opt-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    probe.send_to(options.as_bytes(), server.sip_addr)?;
    let (n, _) = probe.recv_from(&mut buffer)?;
    ensure!(
        String::from_utf8_lossy(&buffer[..n]).starts_with("SIP/2.0 200 OK"),
        "the node stopped serving after bad input"
    );

    // The same over TCP: a second binding, marked tcp.
    let tcp_port = free_udp_port("127.0.0.1")?;
    tokio::task::block_in_place(|| {
        sipp_register_over(sip_server, "t1", &password, 120, 200, tcp_port)
    })?;
    let seen = server
        .ok(
            Some(&operator),
            "query($id: ID!) { extension(id: $id) { registrations { contact transport } } }",
            json!({ "id": id }),
        )
        .await?;
    let transports: Vec<&str> = seen["extension"]["registrations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["transport"].as_str())
        .collect();
    ensure!(
        transports.contains(&"tcp") && transports.contains(&"udp"),
        "{seen}"
    );
    ensure!(
        server
            .calls()
            .driver_stats()
            .tcp_connections
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    tokio::task::block_in_place(|| {
        sipp_register_over(sip_server, "t1", &password, 0, 200, tcp_port)
    })?;

    // Expires 0 unbinds.
    tokio::task::block_in_place(|| sipp_register(sip_server, &password, 0, 200, port))?;
    let seen = server
        .ok(
            Some(&operator),
            "query($id: ID!) { extension(id: $id) { online } }",
            json!({ "id": id }),
        )
        .await?;
    ensure!(seen["extension"]["online"] == false, "{seen}");
    let history = server
        .node
        .log
        .read_stream(uuid::Uuid::parse_str(&id)?)
        .await?;
    ensure!(history.last().map(|e| e.event_type.as_str()) == Some("ExtensionUnregistered"));
    ensure!(history
        .last()
        .is_some_and(|e| e.payload.contains("\"reason\":\"unregistered\"")));
    server.stop().await;
    Ok(())
}

on_both_backends!(sipp_registers_with_digest);
