//! The read side at call-center volume: appends the events of N realistic calls (11 each, in
//! the three steps the runtime writes them) across 200 enterprises and 30 days, plus one
//! audited action per 5 calls, then runs the real `callcore serve` on that database and
//! measures the projection catch-up into the tables, the start to healthy and the RSS of a
//! restarted node, and the p99 of the call-record and audit screens through GraphQL.
//!
//! `cargo build --release -p callcore -p benches && target/release/read_volume --backend sqlite --calls 100000`

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Parser;
use eventlog::{AppendRequest, ExpectedVersion, Metadata, NewEvent};
use serde_json::{json, Value};
use tests::generated_calls::{append_history, History};
use tests::{Backend, GraphqlClient, TestDatabase};
use uuid::Uuid;

const ADMIN_PASSWORD: &str = "volume-admin-password";

/// Options.
#[derive(Debug, Parser)]
struct Options {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Calls in the generated history.
    #[arg(long, default_value_t = 100_000)]
    calls: u64,
    /// Enterprises the calls are spread over.
    #[arg(long, default_value_t = 200)]
    enterprises: u64,
    /// Days the calls are spread over (ending now).
    #[arg(long, default_value_t = 30)]
    days: i64,
    /// Samples per query kind.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// The `callcore` binary.
    #[arg(long, default_value = "target/release/callcore")]
    callcore: String,
}

/// A running `callcore serve`.
struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Starts the node; returns once it prints where it listens.
    fn start(options: &Options, db: &TestDatabase) -> anyhow::Result<Self> {
        let mut command = Command::new(&options.callcore);
        command
            .args([
                "serve",
                "--http",
                "127.0.0.1:0",
                "--sip",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(&db.data_dir);
        if let Some(url) = db.database_url() {
            command.arg("--database-url").arg(url);
        }
        let mut child = command
            .env("CALLCORE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("CALLCORE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("running {}", options.callcore))?;
        let out = child.stdout.take().context("the node's stdout")?;
        let mut lines = std::io::BufReader::new(out).lines();
        loop {
            let line = lines.next().context("the node ended before listening")??;
            if let Some(rest) = line.strip_prefix("callcore listening on http://") {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                std::thread::spawn(move || for _ in lines.by_ref() {});
                return Ok(Self {
                    child,
                    base: format!("http://{addr}"),
                });
            }
        }
    }

    fn stop(mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        Ok(())
    }

    /// Resident memory of the node, in MB.
    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }

    async fn health(&self) -> anyhow::Result<Value> {
        Ok(reqwest::get(format!("{}/healthz", self.base))
            .await?
            .json()
            .await?)
    }
}

/// One audited action: a failed login of one of the enterprise's 20 accounts.
fn audited(n: u64, enterprises: u64, at: DateTime<Utc>) -> AppendRequest {
    let enterprise = n % enterprises;
    let account = account_id(enterprise, (n / enterprises) % 20);
    AppendRequest {
        stream_type: "account".into(),
        stream_id: account,
        expected_version: ExpectedVersion::Any,
        events: vec![NewEvent {
            event_type: "LoginFailed".into(),
            payload: json!({ "type": "LoginFailed", "source": "203.0.113.7", "at": at })
                .to_string(),
        }],
        metadata: Metadata::new(Some(enterprise_id(enterprise)), Some(account)),
    }
}

fn enterprise_id(enterprise: u64) -> Uuid {
    Uuid::from_u128(0x656e_7465_0000_0000_0000_0000_0000_0000 | u128::from(enterprise))
}

fn account_id(enterprise: u64, account: u64) -> Uuid {
    Uuid::from_u128(
        0x6163_6374_0000_0000_0000_0000_0000_0000
            | (u128::from(enterprise) << 32)
            | u128::from(account),
    )
}

/// Appends the history; returns the log's head.
async fn generate(options: &Options, db: &TestDatabase) -> anyhow::Result<i64> {
    let url = db.url.clone();
    let started = Instant::now();
    let enterprises = options.enterprises;
    let history = History {
        calls: options.calls,
        enterprises,
        days: options.days,
    };
    let head = append_history(&url, history, move |n, call| {
        (n % 5 == 0).then(|| audited(n / 5, enterprises, call.started_at))
    })
    .await?;
    println!(
        "generated {} calls ({head} events) in {:.1} s ({:.0} events/s)",
        options.calls,
        started.elapsed().as_secs_f64(),
        head as f64 / started.elapsed().as_secs_f64()
    );
    Ok(head)
}

fn p99(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

/// Times `samples` runs of a query (variables from `vars(i)`); returns p50 and p99 in ms.
async fn time_query(
    client: &GraphqlClient,
    token: &str,
    query: &str,
    samples: usize,
    vars: impl Fn(usize) -> Value,
) -> anyhow::Result<(f64, f64, Value)> {
    let mut times = Vec::with_capacity(samples);
    let mut last = Value::Null;
    for i in 0..samples {
        let started = Instant::now();
        last = client.ok(Some(token), query, vars(i)).await?;
        times.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    let (p50, p99) = p99(times);
    Ok((p50, p99, last))
}

const RECORDS: &str = "query($f: CallRecordFilter!, $after: String) { callRecords(first: 50, after: $after, filter: $f) { totalCount edges { node { id caller extension status } } } }";

async fn queries(options: &Options, node: &Node) -> anyhow::Result<()> {
    let client = GraphqlClient::new(&node.base, ADMIN_PASSWORD);
    let op = client.operator().await?;
    let now = Utc::now();
    let day = |i: usize| {
        let from = now - chrono::Duration::days(1 + (i as i64 % options.days.max(1)));
        (from, from + chrono::Duration::days(1))
    };
    let enterprise = |i: usize| enterprise_id((i as u64 * 7) % options.enterprises).to_string();
    let filter = |i: usize, extra: Value| {
        let (from, to) = day(i);
        let mut f = json!({ "kind": "INBOUND", "enterpriseId": enterprise(i), "callTime": { "from": from, "to": to } });
        if let (Some(f), Some(extra)) = (f.as_object_mut(), extra.as_object()) {
            f.extend(extra.clone());
        }
        f
    };
    let (p50, p99, sample) = time_query(
        &client,
        &op,
        RECORDS,
        options.samples,
        |i| json!({ "f": filter(i, json!({})) }),
    )
    .await?;
    println!(
        "callRecords one enterprise, one day, first 50 with total: p50 {p50:.1} ms, p99 {p99:.1} ms (total of the last: {})",
        sample["callRecords"]["totalCount"]
    );
    for (name, extra) in [
        ("a number fragment", json!({ "number": "3800" })),
        ("an agent (extension)", json!({ "extension": "8003" })),
        ("a result", json!({ "result": "missed" })),
    ] {
        let (p50, p99, sample) = time_query(
            &client,
            &op,
            RECORDS,
            options.samples,
            |i| json!({ "f": filter(i, extra.clone()) }),
        )
        .await?;
        println!(
            "callRecords filtered by {name}: p50 {p50:.1} ms, p99 {p99:.1} ms (total of the last: {})",
            sample["callRecords"]["totalCount"]
        );
    }
    // The 1,000th page of 50 across every enterprise over the month: its cursor is the 50,000th
    // record's (walked to once, with pages of 500).
    let month = json!({ "kind": "INBOUND", "callTime": { "from": now - chrono::Duration::days(31), "to": now } });
    let mut after = Value::Null;
    let walk = "query($f: CallRecordFilter!, $after: String) { callRecords(first: 500, after: $after, filter: $f) { pageInfo { endCursor hasNextPage } } }";
    let mut walked = 0;
    for _ in 0..100 {
        let page = client
            .ok(Some(&op), walk, json!({ "f": month, "after": after }))
            .await?;
        walked += 500;
        after = page["callRecords"]["pageInfo"]["endCursor"].clone();
        if page["callRecords"]["pageInfo"]["hasNextPage"] != true {
            break;
        }
        if walked >= 49_950 {
            break;
        }
    }
    if walked >= 49_950 {
        let (p50, p99, sample) = time_query(
            &client,
            &op,
            RECORDS,
            options.samples,
            |_| json!({ "f": month, "after": after }),
        )
        .await?;
        println!(
            "callRecords page 1,000 by cursor (all enterprises, a month) with the total: p50 {p50:.1} ms, p99 {p99:.1} ms ({} records on it)",
            sample["callRecords"]["edges"].as_array().map_or(0, Vec::len)
        );
        let page = "query($f: CallRecordFilter!, $after: String) { callRecords(first: 50, after: $after, filter: $f) { edges { node { id caller extension status } } } }";
        let (p50, p99, sample) = time_query(
            &client,
            &op,
            page,
            options.samples,
            |_| json!({ "f": month, "after": after }),
        )
        .await?;
        println!(
            "callRecords page 1,000 by cursor without the total: p50 {p50:.1} ms, p99 {p99:.1} ms ({} records on it)",
            sample["callRecords"]["edges"].as_array().map_or(0, Vec::len)
        );
    } else {
        println!("callRecords page 1,000: fewer than 50,000 inbound records in the month");
    }
    let audit = "query($f: AuditLogFilter) { auditLog(first: 50, filter: $f) { totalCount totalCapped edges { node { eventType } } } }";
    let (p50, p99, sample) = time_query(&client, &op, audit, options.samples, |i| {
        let e = (i as u64 * 13) % options.enterprises;
        json!({ "f": {
            "enterpriseId": enterprise_id(e).to_string(),
            "actorId": account_id(e, i as u64 % 20).to_string(),
            "at": { "from": now - chrono::Duration::days(31), "to": now },
        } })
    })
    .await?;
    println!(
        "auditLog filtered by actor over a month: p50 {p50:.1} ms, p99 {p99:.1} ms (total of the last: {}, capped {})",
        sample["auditLog"]["totalCount"], sample["auditLog"]["totalCapped"]
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let backend = match options.backend.as_str() {
        "sqlite" => Backend::Sqlite,
        "postgres" => Backend::Postgres,
        other => bail!("unknown backend {other}"),
    };
    let db = TestDatabase::new(backend).await?;
    // The first start creates the operator; the history is appended with the node stopped.
    Node::start(&options, &db)?.stop()?;
    let head = generate(&options, &db).await?;

    let started = Instant::now();
    let node = Node::start(&options, &db)?;
    let serving = started.elapsed();
    loop {
        let health = node.health().await?;
        if health["readModelsApplied"].as_i64().unwrap_or(0) >= head {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caught_up = started.elapsed();
    // The table models start applying once the node serves (the memory models catch up
    // first, before it serves): their rate is the events over the time between the two.
    let tables = caught_up.saturating_sub(serving).as_secs_f64();
    println!(
        "first start on the history: serving after {:.1} s (memory models caught up: {:.0} events/s, start included), tables caught up {tables:.1} s later: {:.0} events/s into the tables",
        serving.as_secs_f64(),
        head as f64 / serving.as_secs_f64(),
        head as f64 / tables
    );
    node.stop()?;

    let started = Instant::now();
    let node = Node::start(&options, &db)?;
    loop {
        if node.health().await.is_ok_and(|h| h["status"] == "ok") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let healthy = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "restart: healthy after {:.2} s, RSS {:.0} MB",
        healthy.as_secs_f64(),
        node.rss_mb()
    );
    queries(&options, &node).await?;
    println!("RSS after the queries: {:.0} MB", node.rss_mb());
    node.stop()?;
    Ok(())
}
