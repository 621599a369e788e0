//! Call records and the audit log are table read models (ADR 0014): the screens' filters are
//! answered in SQL with keyset cursors and totals, tenants stay apart, `replay` compares each
//! table with its rebuild (and `--swap` repairs a damaged one) while the node runs, and two
//! writers on one database still apply each event once.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context};
use chrono::Utc;
use eventlog::DbPool;
use projections::{all_table_projections, rebuild_tables_and_compare, TableModels, TableStore};
use serde_json::{json, Value};
use tests::generated_calls::{GeneratedCall, GeneratedKind};
use tests::{error_code, on_both_backends, Backend, TestServer};
use uuid::Uuid;

const QUERY: &str = "query($f: CallRecordFilter!, $after: String, $first: Int) { callRecords(first: $first, after: $after, filter: $f) { totalCount pageInfo { hasNextPage endCursor } edges { node { id startedAt caller extension status recorded } } } }";

/// Creates enterprise `code` with admin `boss`; returns its id and the admin's token.
async fn enterprise(server: &TestServer, code: &str) -> anyhow::Result<(Uuid, String)> {
    let op = server.operator().await?;
    let created = server
        .ok(
            Some(&op),
            "mutation($c: String!) { createEnterprise(input: { code: $c, name: $c, adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }",
            json!({ "c": code }),
        )
        .await?;
    let id = Uuid::parse_str(
        created["createEnterprise"]["id"]
            .as_str()
            .unwrap_or_default(),
    )?;
    Ok((id, server.login(code, "boss", "boss-password").await?))
}

/// Appends `count` generated calls of `enterprise` over the last day; returns them.
async fn append_calls(
    server: &TestServer,
    enterprise: Uuid,
    first: u64,
    count: u64,
) -> anyhow::Result<Vec<GeneratedCall>> {
    let end = Utc::now() - chrono::Duration::minutes(5);
    let mut calls = Vec::new();
    for n in first..first + count {
        let mut call = GeneratedCall::nth(n, 1, 1, end, first + count);
        call.enterprise_id = enterprise;
        calls.push(call);
    }
    // Step by step across the calls, as calls in progress side by side write them.
    for step in 0..3 {
        for call in &calls {
            if let Some(request) = call.append_requests().into_iter().nth(step) {
                server.node.log.append(request).await?;
            }
        }
    }
    let head = server.node.log.head();
    ensure!(
        server
            .node
            .models
            .wait_for(head, Duration::from_secs(10))
            .await,
        "the read models did not reach {head}"
    );
    Ok(calls)
}

fn filter(kind: &str, extra: Value) -> Value {
    let mut f = json!({
        "kind": kind,
        "callTime": {
            "from": (Utc::now() - chrono::Duration::days(2)).to_rfc3339(),
            "to": Utc::now().to_rfc3339(),
        },
    });
    if let (Some(f), Some(extra)) = (f.as_object_mut(), extra.as_object()) {
        f.extend(extra.clone());
    }
    f
}

/// Every record the filter lists, page by page; checks each page's total and order.
async fn all_pages(
    server: &TestServer,
    token: &str,
    filter: &Value,
    page: i64,
) -> anyhow::Result<(Vec<String>, i64)> {
    let mut ids = Vec::new();
    let mut after = Value::Null;
    let mut total = -1;
    let mut last_started = String::from("9999");
    for _ in 0..1_000 {
        let data = server
            .ok(
                Some(token),
                QUERY,
                json!({ "f": filter, "after": after, "first": page }),
            )
            .await?;
        let records = &data["callRecords"];
        let this_total = records["totalCount"].as_i64().unwrap_or(-1);
        ensure!(
            total == -1 || total == this_total,
            "the total changed: {records}"
        );
        total = this_total;
        for edge in records["edges"].as_array().into_iter().flatten() {
            let started = edge["node"]["startedAt"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            ensure!(
                started <= last_started,
                "not newest first: {started} after {last_started}"
            );
            last_started = started;
            ids.push(edge["node"]["id"].as_str().unwrap_or_default().to_owned());
        }
        if records["pageInfo"]["hasNextPage"] != true {
            return Ok((ids, total));
        }
        after = records["pageInfo"]["endCursor"].clone();
    }
    anyhow::bail!("paging did not end")
}

fn ids(calls: &[&GeneratedCall]) -> BTreeSet<String> {
    calls.iter().map(|c| c.id.to_string()).collect()
}

async fn call_records_page_by_cursor_and_filter_in_sql(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (acme, boss) = enterprise(&server, "acme").await?;
    let (globex, globex_boss) = enterprise(&server, "globex").await?;
    let calls = append_calls(&server, acme, 0, 130).await?;
    let theirs = append_calls(&server, globex, 1_000, 40).await?;

    let inbound: Vec<&GeneratedCall> = calls
        .iter()
        .filter(|c| c.kind != GeneratedKind::OutboundAnswered)
        .collect();
    let (listed, total) = all_pages(&server, &boss, &filter("INBOUND", json!({})), 50).await?;
    ensure!(
        total == inbound.len() as i64,
        "total {total} of {}",
        inbound.len()
    );
    ensure!(listed.len() == inbound.len(), "{} listed", listed.len());
    ensure!(
        listed.iter().cloned().collect::<BTreeSet<_>>() == ids(&inbound),
        "pages missed or repeated records"
    );

    // The number fragment, the extension, the result, the recording and the queue.
    let probe = inbound
        .iter()
        .copied()
        .filter(|c| c.kind == GeneratedKind::InboundAnswered)
        .nth(5)
        .context("an answered call")?;
    let fragment = &probe.number[probe.number.len() - 5..];
    let expected: Vec<&GeneratedCall> = inbound
        .iter()
        .copied()
        .filter(|c| c.number.contains(fragment))
        .collect();
    let (found, total) = all_pages(
        &server,
        &boss,
        &filter("INBOUND", json!({ "number": fragment })),
        50,
    )
    .await?;
    ensure!(
        found.iter().cloned().collect::<BTreeSet<_>>() == ids(&expected)
            && total == expected.len() as i64,
        "number {fragment}: {found:?}"
    );
    let answered_by: Vec<&GeneratedCall> = inbound
        .iter()
        .copied()
        .filter(|c| c.kind == GeneratedKind::InboundAnswered && c.extension == probe.extension)
        .collect();
    let (found, _) = all_pages(
        &server,
        &boss,
        &filter(
            "INBOUND",
            json!({ "extension": probe.extension, "result": "answered", "recorded": true }),
        ),
        7,
    )
    .await?;
    ensure!(
        !answered_by.is_empty()
            && found.iter().cloned().collect::<BTreeSet<_>>() == ids(&answered_by),
        "extension {}: {found:?}",
        probe.extension
    );
    let missed: Vec<&GeneratedCall> = calls
        .iter()
        .filter(|c| c.kind == GeneratedKind::Missed)
        .collect();
    let (found, _) = all_pages(&server, &boss, &filter("MISSED", json!({})), 50).await?;
    ensure!(
        found.iter().cloned().collect::<BTreeSet<_>>() == ids(&missed),
        "missed: {found:?}"
    );
    let (found, _) = all_pages(
        &server,
        &boss,
        &filter(
            "INBOUND",
            json!({ "queueId": probe.queue_id.to_string(), "result": "unanswered" }),
        ),
        50,
    )
    .await?;
    let abandoned: Vec<&GeneratedCall> = calls
        .iter()
        .filter(|c| c.kind == GeneratedKind::Abandoned)
        .collect();
    ensure!(
        found.iter().cloned().collect::<BTreeSet<_>>() == ids(&abandoned),
        "queue: {found:?}"
    );

    // Tenants stay apart: globex sees its own calls only, even by acme's numbers.
    let (found, total) =
        all_pages(&server, &globex_boss, &filter("OUTBOUND", json!({})), 50).await?;
    let their_outbound: Vec<&GeneratedCall> = theirs
        .iter()
        .filter(|c| c.kind == GeneratedKind::OutboundAnswered)
        .collect();
    ensure!(
        found.iter().cloned().collect::<BTreeSet<_>>() == ids(&their_outbound)
            && total == their_outbound.len() as i64,
        "globex outbound: {found:?}"
    );
    let (found, _) = all_pages(
        &server,
        &globex_boss,
        &filter("INBOUND", json!({ "number": probe.number })),
        50,
    )
    .await?;
    ensure!(
        found
            .iter()
            .all(|id| theirs.iter().any(|c| c.id.to_string() == *id)),
        "globex saw acme's records: {found:?}"
    );
    let foreign = server
        .gql(
            Some(&globex_boss),
            "mutation($c: ID!) { forceHangUp(callId: $c) }",
            json!({ "c": probe.id.to_string() }),
        )
        .await?;
    ensure!(error_code(&foreign) == "NOT_FOUND", "{foreign}");

    // A cursor that is not one, and a result that is not one, are named.
    let bad = server
        .gql(
            Some(&boss),
            QUERY,
            json!({ "f": filter("INBOUND", json!({})), "after": "12", "first": 5 }),
        )
        .await?;
    ensure!(error_code(&bad) == "VALIDATION", "{bad}");
    let bad = server
        .gql(
            Some(&boss),
            QUERY,
            json!({ "f": filter("INBOUND", json!({ "result": "won" })), "first": 5 }),
        )
        .await?;
    ensure!(error_code(&bad) == "VALIDATION", "{bad}");
    server.stop().await;
    Ok(())
}

/// Runs one statement on the node's database, outside the read models (to damage a row).
async fn execute(pool: &DbPool, statement: &'static str) -> anyhow::Result<()> {
    match pool {
        DbPool::Sqlite { writer, .. } => {
            writer
                .transaction(move |tx| {
                    tx.execute(statement, [])?;
                    Ok(())
                })
                .await?;
        }
        DbPool::Postgres(pool) => {
            sqlx::query(statement).execute(pool).await?;
        }
    }
    Ok(())
}

async fn replay_compares_tables_and_swap_repairs_them_while_running(
    backend: Backend,
) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (acme, boss) = enterprise(&server, "acme").await?;
    let calls = append_calls(&server, acme, 0, 60).await?;
    let pool = server.node.log.pool();
    let store = TableStore::new(pool.clone());
    let report =
        rebuild_tables_and_compare(&server.node.log, &store, all_table_projections(), false)
            .await?;
    ensure!(
        report.len() == 3 && report.iter().all(|d| d.equal()),
        "{report:?}"
    );
    ensure!(
        report
            .iter()
            .any(|d| d.model == "call_records" && d.live_docs == 60),
        "{report:?}"
    );

    execute(&pool, "UPDATE call_records SET status = 'refused', doc = '{}' WHERE key IN (SELECT key FROM call_records ORDER BY key LIMIT 1)").await?;
    let report =
        rebuild_tables_and_compare(&server.node.log, &store, all_table_projections(), false)
            .await?;
    ensure!(
        report
            .iter()
            .any(|d| d.model == "call_records" && !d.equal()),
        "the damage went unseen: {report:?}"
    );
    // Calls go on while the table is rebuilt and swapped.
    let more = append_calls(&server, acme, 500, 5).await?;
    let report =
        rebuild_tables_and_compare(&server.node.log, &store, all_table_projections(), true).await?;
    ensure!(report.iter().any(|d| !d.equal()), "{report:?}");
    let more_after = append_calls(&server, acme, 700, 5).await?;
    let mut equal = false;
    for _ in 0..50 {
        let report =
            rebuild_tables_and_compare(&server.node.log, &store, all_table_projections(), false)
                .await?;
        if report.iter().all(|d| d.equal()) {
            equal = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(equal, "the swapped table does not equal its rebuild");
    let total = calls.len() + more.len() + more_after.len();
    let inbound = calls
        .iter()
        .chain(&more)
        .chain(&more_after)
        .filter(|c| c.kind != GeneratedKind::OutboundAnswered)
        .count();
    let data = server
        .ok(
            Some(&boss),
            QUERY,
            json!({ "f": filter("INBOUND", json!({})), "first": 0 }),
        )
        .await?;
    ensure!(
        data["callRecords"]["totalCount"] == inbound,
        "{data} (of {total} calls, {inbound} inbound)"
    );
    server.stop().await;
    Ok(())
}

async fn two_writers_on_one_database_apply_each_event_once(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let (acme, _) = enterprise(&server, "acme").await?;
    let store = TableStore::new(server.node.log.pool());
    // A second writer of the same tables, as a second node would be without the lease.
    let second = TableModels::load(store.clone(), all_table_projections()).await?;
    let log = server.node.log.clone();
    let racing = {
        let second = second.clone();
        tokio::spawn(async move {
            for _ in 0..40 {
                if let Err(e) = second.catch_up(&log, None).await {
                    return Err(anyhow::anyhow!("{e}"));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(())
        })
    };
    let mut appended = 0;
    for round in 0..8u64 {
        appended += append_calls(&server, acme, round * 100, 25).await?.len();
    }
    racing.await.context("the second writer")??;
    second.catch_up(&server.node.log, None).await?;
    let report =
        rebuild_tables_and_compare(&server.node.log, &store, all_table_projections(), false)
            .await?;
    ensure!(report.iter().all(|d| d.equal()), "{report:?}");
    ensure!(
        report
            .iter()
            .any(|d| d.model == "call_records" && d.live_docs == appended),
        "{report:?}"
    );
    server.stop().await;
    Ok(())
}

on_both_backends!(
    call_records_page_by_cursor_and_filter_in_sql,
    replay_compares_tables_and_swap_repairs_them_while_running,
    two_writers_on_one_database_apply_each_event_once,
);
