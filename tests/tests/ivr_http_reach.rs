//! Where a tenant's IVR HTTP node may reach: never this host or a private network (by address,
//! by a name resolving there, an address in disguise, or through a redirect) unless the operator allowed that service,
//! and never more than 64 KiB of answer. A call walks a flow probing each in turn; the internal
//! services it aims at see no request, and each probe fails naming why.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::ensure;
use serde_json::{json, Value};
use tests::{
    call_through_flow, inbound_setup, on_both_backends, Backend, InboundSetup, TestDatabase,
    TestServer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP service at `address` answering every request with `answer` (a whole response);
/// counts the requests it gets.
async fn service(address: &str, answer: String) -> anyhow::Result<(u16, Arc<AtomicUsize>)> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let port = listener.local_addr()?.port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut head = Vec::new();
            let mut buffer = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    Ok((port, hits))
}

fn json_answer(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn probe(key: &str, url: &str, next: &str) -> Value {
    json!({ "key": key, "name": key, "number": key.trim_start_matches('n'), "type": "HTTP",
            "http": { "method": "GET", "url": url, "body": "", "timeoutMs": 1000,
                      "outputs": [{ "field": "secret", "variable": "secret" }],
                      "successNext": "leaked", "failureNext": next } })
}

async fn ivr_http_nodes_reach_no_internal_service(backend: Backend) -> anyhow::Result<()> {
    // The operator allowed one private service, 127.0.0.3; nothing else on this host.
    let server = TestServer::start_configured(TestDatabase::new(backend).await?, |config| {
        config.ivr_http_allow = vec!["127.0.0.3".into()];
    })
    .await?;
    let InboundSetup { boss, .. } = inbound_setup(&server, 5).await?;
    let secret = json_answer("{\"secret\": \"s3cr3t\"}");
    // Internal services a tenant must not reach.
    let (internal_port, internal_hits) = service("127.0.0.2:0", secret.clone()).await?;
    let (named_port, named_hits) = service("127.0.0.1:0", secret.clone()).await?;
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:{internal_port}/secret\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (redirect_port, _) = service("127.0.0.3:0", redirect).await?;
    let big = json_answer(&format!("{{\"secret\": \"{}\"}}", "x".repeat(100 * 1024)));
    let (big_port, big_hits) = service("127.0.0.3:0", big).await?;
    let flow = json!({
        "entry": "n1",
        "variables": [{ "name": "secret", "description": "" }],
        "nodes": [
            probe("n1", &format!("http://127.0.0.2:{internal_port}/secret"), "n2"),
            probe("n2", &format!("http://localhost:{named_port}/secret"), "n3"),
            probe("n3", "http://169.254.169.254/latest/meta-data/", "n4"),
            probe("n4", &format!("http://127.0.0.3:{redirect_port}/"), "n5"),
            probe("n5", &format!("http://127.0.0.3:{big_port}/"), "n6"),
            // 2130706434 is 127.0.0.2 written as one number.
            probe("n6", &format!("http://2130706434:{internal_port}/secret"), "done"),
            { "key": "leaked", "name": "leaked", "number": "8", "type": "HANGUP", "hangup": { "prompts": [] } },
            { "key": "done", "name": "done", "number": "9", "type": "HANGUP", "hangup": { "prompts": [] } }
        ]
    });
    let call = call_through_flow(&server, &boss, flow).await?;
    let events = server.node.log.read_stream(call).await?;
    let branches: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.event_type == "IvrBranchTaken")
        .filter_map(|e| {
            let payload: Value = serde_json::from_str(&e.payload).ok()?;
            Some((
                payload["node"].as_str()?.to_owned(),
                payload["branch"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let expected = [
        ("n1", "failure: the address 127.0.0.2 is not allowed"),
        ("n2", "failure: the host resolves to no allowed address"),
        ("n3", "failure: the address 169.254.169.254 is not allowed"),
        ("n4", "failure: status 302"),
        ("n5", "failure: the answer is longer than 65536 bytes"),
        ("n6", "failure: the address 127.0.0.2 is not allowed"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, b)| ((*n).to_owned(), (*b).to_owned()))
        .collect();
    ensure!(branches == expected, "{branches:?}");
    ensure!(
        internal_hits.load(Ordering::SeqCst) == 0,
        "the internal service was reached"
    );
    ensure!(
        named_hits.load(Ordering::SeqCst) == 0,
        "localhost was reached"
    );
    ensure!(big_hits.load(Ordering::SeqCst) == 1);
    Ok(())
}

on_both_backends!(ivr_http_nodes_reach_no_internal_service);
