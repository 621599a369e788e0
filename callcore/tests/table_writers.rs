//! The table read models (call records, the audit log, the reports) across crashes and nodes, on the real
//! binary: kill -9 in the middle of a catch-up into the tables loses nothing and applies
//! nothing twice; two nodes on one PostgreSQL write the tables one at a time, and when the
//! writer is killed mid-run the other takes over, so every write through either node is in the
//! tables and `callcore replay` finds each equal to its rebuild (the reports included: counted
//! once, as one node counts the same events).

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use chrono::Utc;
use serde_json::{json, Value};
use support::{command, start, Node, ADMIN_PASSWORD};
use tests::generated_calls::History;
use tests::{on_both_backends, Backend, TestDatabase};

impl Node {
    async fn health(&self) -> anyhow::Result<Value> {
        Ok(self
            .client
            .get(format!("{}/healthz", self.base))
            .send()
            .await?
            .json()
            .await?)
    }

    /// Waits until the node's read models (tables included) have applied its log's head.
    async fn caught_up(&self, within: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + within;
        loop {
            let health = self.health().await?;
            if health["readModelsApplied"].as_i64() >= health["logHead"].as_i64() {
                return Ok(health);
            }
            if Instant::now() > deadline {
                bail!("the read models did not catch up: {health}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the node cleanly (SIGINT).
    fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()?;
        ensure!(status.success());
        self.child.wait()?;
        Ok(())
    }
}

/// Appends `calls` generated calls to the stopped node's database; returns the log's head.
async fn append_history(db: &TestDatabase, calls: u64) -> anyhow::Result<i64> {
    append_calls(db.url.clone(), calls).await
}

/// Appends `calls` generated calls (queued and answered by agents, recorded, missed,
/// abandoned) to the log at `url`, as a node's calls write them; returns the log's head.
async fn append_calls(url: String, calls: u64) -> anyhow::Result<i64> {
    let history = History {
        calls,
        enterprises: 10,
        days: 3,
    };
    tests::generated_calls::append_history(&url, history, |_, _| None).await
}

/// `callcore replay` on `db`: every read model must equal its rebuild.
fn replay_says_equal(db: &TestDatabase) -> anyhow::Result<String> {
    let replay = command(db, &["replay"])?.output()?;
    let report = String::from_utf8_lossy(&replay.stdout).into_owned();
    ensure!(
        replay.status.success()
            && report.contains("every read model equals its rebuild from the log"),
        "{report} {}",
        String::from_utf8_lossy(&replay.stderr)
    );
    ensure!(
        report
            .lines()
            .any(|l| l.starts_with("call_records") && l.ends_with("equal"))
            && report
                .lines()
                .any(|l| l.starts_with("audit_log") && l.ends_with("equal"))
            && report
                .lines()
                .any(|l| l.starts_with("reports") && l.ends_with("equal")),
        "{report}"
    );
    Ok(report)
}

async fn kill_9_during_table_catch_up_loses_and_doubles_nothing(
    backend: Backend,
) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    start(&db).await?.stop()?;
    let head = append_history(&db, 6_000).await?;

    let mut node = start(&db).await?;
    let mut killed_at = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let applied = node.health().await?["readModelsApplied"]
            .as_i64()
            .unwrap_or(0);
        if applied >= head {
            break;
        }
        if applied > head / 10 {
            node.child.kill()?; // SIGKILL, with the tables part-way
            node.child.wait()?;
            killed_at = Some(applied);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed_at =
        killed_at.context("the tables caught up before the kill; more history is needed")?;

    let node = start(&db).await?;
    node.caught_up(Duration::from_secs(120)).await?;
    let operator = node.login("platform", "admin", ADMIN_PASSWORD).await?;
    let now = Utc::now();
    let mut records = 0;
    for kind in ["INBOUND", "OUTBOUND"] {
        let data = node
            .gql(
                Some(&operator),
                "query($f: CallRecordFilter!) { callRecords(first: 0, filter: $f) { totalCount } }",
                json!({ "f": { "kind": kind, "callTime": { "from": now - chrono::Duration::days(4), "to": now } } }),
            )
            .await?;
        records += data["data"]["callRecords"]["totalCount"]
            .as_i64()
            .context("a total")?;
    }
    ensure!(records == 6_000, "{records} call records of 6,000 calls");
    node.stop()?;
    let report = replay_says_equal(&db)?;
    println!("killed with the tables at {killed_at} of {head}\n{report}");
    Ok(())
}

/// Creates roles through `node` until told to stop; the names acknowledged.
fn role_writer(
    node: &Node,
    token: &str,
    prefix: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<BTreeSet<String>> {
    let client = node.client.clone();
    let url = format!("{}/graphql", node.base);
    let token = token.to_owned();
    tokio::spawn(async move {
        let mut acknowledged = BTreeSet::new();
        for i in 0.. {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            let name = format!("{prefix}-{i}");
            let Ok(response) = client
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({ "query": "mutation($n: String!) { createRole(input: { name: $n, permissions: [] }) { id } }", "variables": { "n": name } }))
                .send()
                .await
            else {
                break;
            };
            let Ok(body) = response.json::<Value>().await else {
                break;
            };
            if body["data"]["createRole"]["id"].is_string() {
                acknowledged.insert(name);
            }
        }
        acknowledged
    })
}

async fn two_nodes_write_the_tables_one_at_a_time_and_the_other_takes_over() -> anyhow::Result<()> {
    let db = TestDatabase::new(Backend::Postgres).await?;
    let mut first = start(&db).await?;
    let operator = first.login("platform", "admin", ADMIN_PASSWORD).await?;
    let created = first
        .gql(Some(&operator), "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }", json!({}))
        .await?;
    ensure!(created.get("errors").is_none(), "{created}");
    let second = start(&db).await?;
    ensure!(
        first.health().await?["writesTables"] == true
            && second.health().await?["writesTables"] == false,
        "the first node should write the tables, the second follow"
    );
    let on_first = first.login("acme", "boss", "boss-password").await?;
    let on_second = second.login("acme", "boss", "boss-password").await?;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let never = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| role_writer(&first, &on_first, format!("first{w}"), never.clone()))
        .chain((0..3).map(|w| role_writer(&second, &on_second, format!("second{w}"), stop.clone())))
        .collect();
    // Calls go on meanwhile (queued, answered, abandoned): the reports count them once.
    let calls = tokio::spawn(append_calls(db.url.clone(), 3_000));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    first.child.kill()?; // SIGKILL of the node writing the tables, mid-run
    first.child.wait()?;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = BTreeSet::new();
    for writer in writers {
        acknowledged.extend(writer.await?);
    }
    ensure!(
        acknowledged.iter().any(|n| n.starts_with("first"))
            && acknowledged.iter().any(|n| n.starts_with("second")),
        "writes went through one node only"
    );

    calls.await??;
    let health = second.caught_up(Duration::from_secs(20)).await?;
    ensure!(
        health["writesTables"] == true,
        "the second node did not take over: {health}"
    );
    let audit = second
        .gql(
            Some(&on_second),
            "{ auditLog(first: 0, filter: { eventType: \"RoleCreated\" }) { totalCount totalCapped } }",
            json!({}),
        )
        .await?;
    // Every role in the log (acknowledged, or committed as the first node died) is audited once.
    let mut roles = BTreeSet::new();
    let mut after = Value::Null;
    loop {
        let page = second
            .gql(Some(&on_second), "query($a: String) { roles(first: 500, after: $a) { pageInfo { hasNextPage endCursor } edges { node { name } } } }", json!({ "a": after }))
            .await?;
        let listed = &page["data"]["roles"];
        for edge in listed["edges"].as_array().context("roles listed")? {
            let name = edge["node"]["name"].as_str().unwrap_or_default();
            if name.starts_with("first") || name.starts_with("second") {
                roles.insert(name.to_owned());
            }
        }
        if listed["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = listed["pageInfo"]["endCursor"].clone();
    }
    ensure!(
        acknowledged.is_subset(&roles),
        "acknowledged roles are missing: {:?}",
        acknowledged.difference(&roles).collect::<Vec<_>>()
    );
    ensure!(
        audit["data"]["auditLog"]["totalCount"].as_u64() == Some(roles.len() as u64),
        "{} roles created, audit log: {audit}",
        roles.len()
    );
    second.stop()?;
    replay_says_equal(&db)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_postgres_write_the_tables_one_at_a_time() -> anyhow::Result<()> {
    two_nodes_write_the_tables_one_at_a_time_and_the_other_takes_over().await
}

on_both_backends!(kill_9_during_table_catch_up_loses_and_doubles_nothing);
