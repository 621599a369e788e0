//! Kill -9 in the middle of an export: no file is marked ready or left in place, and after a
//! restart the job is taken over (its node's claim lapsed) and finishes with every row. Runs
//! the real `callcore` binary on both backends.

mod support;

use std::time::Duration;

use anyhow::{ensure, Context};
use chrono::Utc;
use serde_json::{json, Value};
use tests::generated_calls::{append_history, History};
use tests::{on_both_backends, Backend, TestDatabase};

use support::{start_with, Node, ADMIN_PASSWORD};

/// Calls in the history: enough that the export is still running when it is killed.
const CALLS: u64 = 20_000;

async fn file(node: &Node, token: &str, id: &str) -> anyhow::Result<Value> {
    let data = node
        .gql(Some(token), "query($id: ID!) { dataFile(id: $id) { state rows attempts url progress { done total } } }", json!({ "id": id }))
        .await?;
    Ok(data["data"]["dataFile"].clone())
}

async fn an_export_killed_midway_is_never_ready_and_resumes(
    backend: Backend,
) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    let history = History {
        calls: CALLS,
        enterprises: 1,
        days: 20,
    };
    append_history(&db.url, history, |_, _| None).await?;
    let config = db.data_dir.join("callcore.toml");
    std::fs::create_dir_all(&db.data_dir)?;
    std::fs::write(&config, "file_job_lease_seconds = 2\n")?;
    let config = config.to_string_lossy().into_owned();
    let mut node = start_with(&db, &["--config", &config]).await?;
    let operator = node.login("platform", "admin", ADMIN_PASSWORD).await?;
    let tenant = tests::generated_calls::GeneratedCall::nth(0, 1, 20, Utc::now(), CALLS)
        .enterprise_id
        .to_string();
    // Every record is in its table before the export starts.
    let window = json!({ "from": Utc::now() - chrono::Duration::days(25), "to": Utc::now() });
    let filter = json!({ "kind": "INBOUND", "enterpriseId": tenant, "callTime": window });
    let inbound = (0..CALLS)
        .map(|n| tests::generated_calls::GeneratedCall::nth(n, 1, 20, Utc::now(), CALLS).kind)
        .filter(|kind| *kind != tests::generated_calls::GeneratedKind::OutboundAnswered)
        .count() as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let total = loop {
        let data = node
            .gql(
                Some(&operator),
                "query($f: CallRecordFilter!) { callRecords(first: 1, filter: $f) { totalCount } }",
                json!({ "f": filter }),
            )
            .await?;
        let count = data["data"]["callRecords"]["totalCount"]
            .as_u64()
            .unwrap_or(0);
        if count == inbound {
            break count;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "{count} of {inbound} records after 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let started = node
        .gql(
            Some(&operator),
            "mutation($f: CallRecordFilter!) { exportCallRecords(filter: $f) { id } }",
            json!({ "f": filter }),
        )
        .await?;
    let id = started["data"]["exportCallRecords"]["id"]
        .as_str()
        .with_context(|| format!("{started}"))?
        .to_owned();
    // Killed once rows are being written.
    loop {
        let now = file(&node, &operator, &id).await?;
        ensure!(
            now["state"] != "READY",
            "the export finished before it could be killed: {now}"
        );
        if now["progress"]["done"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.child.kill()?;
    node.child.wait()?;
    let kept = db
        .data_dir
        .join("files")
        .join(&tenant)
        .join(format!("{id}.xlsx"));
    ensure!(
        !kept.exists(),
        "a half-written export is in place after kill -9"
    );

    let node = start_with(&db, &["--config", &config]).await?;
    let operator = node.login("platform", "admin", ADMIN_PASSWORD).await?;
    let first = file(&node, &operator, &id).await?;
    ensure!(
        first["state"] != "READY",
        "ready without a second run: {first}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let done = loop {
        let now = file(&node, &operator, &id).await?;
        if now["state"] == "READY" || now["state"] == "FAILED" {
            break now;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the export did not resume: {now}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ensure!(
        done["state"] == "READY" && done["attempts"] == 2 && done["rows"] == total,
        "{done}"
    );
    let bytes = node
        .client
        .get(format!("{}/files/{id}", node.base))
        .bearer_auth(&operator)
        .send()
        .await?
        .bytes()
        .await?;
    let rows = tests::sheets::rows_of(&bytes)?;
    ensure!(
        rows.len() as u64 == total + 1,
        "{} rows for {total} records",
        rows.len()
    );
    let partials: Vec<_> = std::fs::read_dir(db.data_dir.join("files").join(&tenant))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .map(|e| e.file_name())
        .collect();
    ensure!(partials.is_empty(), "partial files left: {partials:?}");
    Ok(())
}

on_both_backends!(an_export_killed_midway_is_never_ready_and_resumes);
