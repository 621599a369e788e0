//! Kill -9 in the middle of a burst of writes: after a restart every acknowledged command is
//! there, and `callcore replay` proves every read model equal to its rebuild. Kill -9 during
//! answered calls: the restart closes them with an explicit event, and no call record stays
//! in progress. Runs the real
//! `callcore` binary on both backends (an integration test of this package, so cargo builds
//! the binary first and names it in `CARGO_BIN_EXE_callcore`).

mod support;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::json;
use tests::{
    inbound_setup_on, on_both_backends, Backend, GraphqlClient, InboundSetup, TestDatabase,
    CARRIER_IP,
};

use support::{command, start, Node, ADMIN_PASSWORD};

impl Node {
    async fn role_names(&self, token: &str) -> anyhow::Result<BTreeSet<String>> {
        let mut names = BTreeSet::new();
        let mut after: Option<String> = None;
        loop {
            let data = self
                .gql(Some(token), "query($a: String) { roles(first: 500, after: $a) { pageInfo { hasNextPage endCursor } edges { node { name } } } }", json!({ "a": after }))
                .await?;
            let roles = &data["data"]["roles"];
            for edge in roles["edges"].as_array().context("roles listed")? {
                names.insert(edge["node"]["name"].as_str().unwrap_or_default().to_owned());
            }
            if roles["pageInfo"]["hasNextPage"] != true {
                return Ok(names);
            }
            after = roles["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
    }
}

async fn acknowledged_writes_survive_kill_9_and_replay_agrees(
    backend: Backend,
) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    let mut node = start(&db).await?;
    let operator = node.login("platform", "admin", ADMIN_PASSWORD).await?;
    let created = node
        .gql(Some(&operator), "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }", json!({}))
        .await?;
    ensure!(created.get("errors").is_none(), "{created}");
    let boss = node.login("acme", "boss", "boss-password").await?;
    ensure!(
        node.answers_sip()?,
        "callcore serve does not answer SIP on --sip"
    );

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let client = node.client.clone();
            let url = format!("{}/graphql", node.base);
            let boss = boss.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..10_000 {
                    let name = format!("r{w}-{i}");
                    let response = client
                        .post(&url)
                        .bearer_auth(&boss)
                        .json(&json!({ "query": "mutation($n: String!) { createRole(input: { name: $n, permissions: [] }) { id } }", "variables": { "n": name } }))
                        .send()
                        .await;
                    let Ok(response) = response else { return };
                    let Ok(body) = response.json::<serde_json::Value>().await else { return };
                    if body["data"]["createRole"]["id"].is_string() {
                        let _ = tx.send(name);
                    }
                }
            })
        })
        .collect();
    drop(tx);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    node.child.kill()?; // SIGKILL
    node.child.wait()?;
    for writer in writers {
        let _ = writer.await;
    }
    let mut acknowledged = BTreeSet::new();
    while let Ok(name) = rx.try_recv() {
        acknowledged.insert(name);
    }
    ensure!(
        acknowledged.len() >= 20,
        "the burst was too small to prove anything: {}",
        acknowledged.len()
    );

    let mut node = start(&db).await?;
    let boss = node.login("acme", "boss", "boss-password").await?;
    let stored = node.role_names(&boss).await?;
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    ensure!(
        lost.is_empty(),
        "{} acknowledged writes lost after kill -9: {lost:?}",
        lost.len()
    );
    let pid = node.child.id().to_string();
    let status = Command::new("kill").args(["-INT", &pid]).status()?;
    ensure!(status.success());
    let status = node.child.wait()?;
    let output: Vec<String> = node.stdout.iter().collect();
    ensure!(
        output.iter().any(|line| line.contains("stopped cleanly")),
        "no clean stop ({status}): {output:?}"
    );

    let replay = command(&db, &["replay"])?.output()?;
    let report = String::from_utf8_lossy(&replay.stdout);
    ensure!(
        replay.status.success(),
        "replay failed: {report} {}",
        String::from_utf8_lossy(&replay.stderr)
    );
    ensure!(
        report.contains("every read model equals its rebuild from the log"),
        "{report}"
    );
    ensure!(
        report.lines().filter(|l| l.ends_with("equal")).count()
            == projections::all_projections().len() + projections::all_table_projections().len(),
        "{report}"
    );
    println!(
        "{} acknowledged writes survived kill -9\n{report}",
        acknowledged.len()
    );
    Ok(())
}

/// A SIPp process, killed when dropped.
struct Sipp {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sipp(scenario: &str, args: &[&str]) -> anyhow::Result<Sipp> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scenario.xml");
    std::fs::write(&path, scenario)?;
    let child = Command::new("sipp")
        .current_dir(dir.path())
        .arg("-sf")
        .arg(&path)
        .args(["-nostdin", "-timeout", "60"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("sipp must be installed (Debian package sip-tester)")?;
    Ok(Sipp { child, _dir: dir })
}

async fn records(client: &GraphqlClient, token: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let from = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let data = client
        .ok(Some(token), "query($f: DateTime!, $t: DateTime!) { callRecords(first: 100, filter: { kind: INBOUND, callTime: { from: $f, to: $t } }) { edges { node { status cause answeredAt } } } }", json!({ "f": from, "t": to }))
        .await?;
    Ok(data["callRecords"]["edges"]
        .as_array()
        .context("records listed")?
        .iter()
        .map(|e| e["node"].clone())
        .collect())
}

async fn kill_9_during_calls_closes_them_on_restart(backend: Backend) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    let mut node = start(&db).await?;
    let client = GraphqlClient::new(&node.base, ADMIN_PASSWORD);
    let sip_addr = std::net::SocketAddr::from(([127, 0, 0, 1], node.sip_port));
    let InboundSetup {
        boss, phone_port, ..
    } = inbound_setup_on(&client, sip_addr, 5).await?;
    // Two answered calls that nobody hangs up: the phone answers and waits for a BYE, the
    // carrier waits for one too.
    let phone = sipp(
        include_str!("../../tests/sipp/uas_answer.xml"),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &phone_port.to_string(),
            "-t",
            "u1",
            "-m",
            "2",
        ],
    )?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let carrier = sipp(
        &include_str!("../../tests/sipp/uac_wait_bye.xml").replace("DID", "02161234567"),
        &[
            "-i",
            CARRIER_IP,
            "-t",
            "u1",
            "-m",
            "2",
            "-l",
            "2",
            &sip_addr.to_string(),
        ],
    )?;
    let mut answered = 0;
    for _ in 0..100 {
        answered = records(&client, &boss)
            .await?
            .iter()
            .filter(|r| r["status"] == "in_progress" && r["answeredAt"].is_string())
            .count();
        if answered == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(answered == 2, "{answered} calls up before the kill");
    node.child.kill()?; // SIGKILL, mid-call
    node.child.wait()?;
    drop((phone, carrier));

    let node = start(&db).await?;
    let client = GraphqlClient::new(&node.base, ADMIN_PASSWORD);
    let boss = client.login("acme", "boss", "boss-password").await?;
    let after = records(&client, &boss).await?;
    ensure!(
        after.len() == 2
            && after
                .iter()
                .all(|r| r["status"] == "answered" && r["cause"] == "node_restart"),
        "{after:?}"
    );
    let mut node = node;
    node.child.kill()?;
    node.child.wait()?;
    Ok(())
}

on_both_backends!(
    acknowledged_writes_survive_kill_9_and_replay_agrees,
    kill_9_during_calls_closes_them_on_restart
);
