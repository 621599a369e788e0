//! Queue traffic at a fixed rate while supervisors watch: SIPp as the carrier calls a DID
//! routed to a queue of `--agents` extensions, all registered to one SIPp phone that answers
//! every call; `--subscribers` websocket clients follow the queue's board. Reports calls
//! answered and lost, the time from each event's commit (as a log subscriber in this process
//! sees it) and from its `recorded_at` to its board message reaching each
//! subscriber, and CPU per call.
//!
//! `cargo run --release -p benches --bin queue_load -- --rate 100 --calls 1000 --subscribers 100`
//! (callers hang up 300 ms after callcore answers them), or with `--agent-talk-ms 200` (agents
//! hang up after 200 ms of talk; callers wait in the queue until they are served).

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use benches::cpu_time;
use clap::Parser;
use dashmap::DashMap;
use domain::agent::{Agent, AgentCommand, Endpoint};
use eventlog::Metadata;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::json;
use tests::ports::free_udp_port;
use tests::{every_call_record, inbound_setup, run_sipp, Backend, TestDatabase, TestServer};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// Options.
#[derive(Debug, Parser)]
struct Options {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Calls started per second.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Calls in all.
    #[arg(long, default_value_t = 1_000)]
    calls: u32,
    /// Agents (extensions in the queue, all signed in).
    #[arg(long, default_value_t = 100)]
    agents: u32,
    /// Websocket clients following the queue's board.
    #[arg(long, default_value_t = 100)]
    subscribers: u32,
    /// How long each answered call lasts, in milliseconds.
    #[arg(long, default_value_t = 300)]
    hold_ms: u32,
    /// The agents hang up after this many milliseconds of talk and the callers wait until
    /// they are released (instead of hanging up `hold_ms` after callcore answers them).
    #[arg(long)]
    agent_talk_ms: Option<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let backend = match options.backend.as_str() {
        "sqlite" => Backend::Sqlite,
        "postgres" => Backend::Postgres,
        other => bail!("unknown backend {other}"),
    };
    let server = TestServer::start_configured(TestDatabase::new(backend).await?, |config| {
        config.media_timeout_seconds = 120;
    })
    .await?;
    let setup = inbound_setup(&server, 10_000).await?;
    let operator = server.operator().await?;
    let enterprise = Uuid::parse_str(&setup.enterprise)?;
    // Every agent's extension registers to the one SIPp phone.
    let mut extensions = vec![setup.extension_id.clone()];
    for n in 2..=options.agents {
        let number = format!("{}", 1_000 + n);
        let created = server
            .ok(
                Some(&operator),
                "mutation($e: ID!, $n: String!) { createExtension(enterpriseId: $e, number: $n) { id sipPassword } }",
                json!({ "e": setup.enterprise, "n": number }),
            )
            .await?;
        let id = created["createExtension"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let password = created["createExtension"]["sipPassword"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let register = include_str!("../../../tests/sipp/register.xml")
            .replace("USER", &number)
            .replace("DOMAIN", "acme")
            .replace("EXPIRES", "3600")
            .replace("EXPECTED_STATUS", "200");
        let (target, port) = (server.sip_addr.to_string(), setup.phone_port.to_string());
        tokio::task::spawn_blocking(move || {
            run_sipp(
                &register,
                &[
                    "-p", &port, "-t", "u1", "-au", &number, "-ap", &password, &target,
                ],
            )
        })
        .await??;
        extensions.push(id);
    }
    for extension in &extensions {
        let extension_id = Uuid::parse_str(extension)?;
        server
            .node
            .execute::<Agent>(
                domain::ids::agent_id(extension_id),
                AgentCommand::SignIn {
                    extension_id,
                    enterprise_id: enterprise,
                    account_id: Uuid::new_v4(),
                    permitted: true,
                    endpoint: Endpoint::SipPhone,
                    at: chrono::Utc::now(),
                },
                Metadata::new(Some(enterprise), None),
            )
            .await
            .map_err(|e| anyhow::anyhow!("sign-in: {}", e.message()))?;
    }
    let queue = server
        .ok(
            Some(&setup.boss),
            "mutation { createQueue(settings: { name: \"load\", maxWaiting: 999, promptIntervalSeconds: 0, rule: LONGEST_IDLE, webAutoAnswer: false, announceAgentNumber: false, excludedStates: [BREAK, AWAY], queueTimeoutSeconds: 120, overflow: RELEASE, agentRingTimeoutSeconds: 20, maxMissedOffers: 0, screenPop: \"\" }) { id } }",
            json!({}),
        )
        .await?["createQueue"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    server
        .ok(
            Some(&setup.boss),
            "mutation($q: ID!, $m: [ID!]!) { setQueueMembers(id: $q, extensionIds: $m) { id } }",
            json!({ "q": queue, "m": extensions }),
        )
        .await?;
    server
        .ok(
            Some(&setup.boss),
            "mutation($r: ID!, $q: ID!) { updateRoute(id: $r, settings: { destination: { kind: \"QUEUE\", targetId: $q }, maxConcurrent: 10000, priority: 1 }) { id } }",
            json!({ "r": setup.route_id, "q": queue }),
        )
        .await?;

    // When each event's commit became known in this process: a log subscriber notes the
    // moment the committed event reaches it (the commit has returned by then).
    let committed: Arc<DashMap<i64, Instant>> = Arc::new(DashMap::new());
    let log_watcher = {
        let committed = committed.clone();
        let mut subscription = server
            .node
            .log
            .subscribe(server.node.log.stored_head().await?);
        tokio::spawn(async move {
            while let Ok(event) = subscription.next().await {
                committed.insert(event.position, Instant::now());
            }
        })
    };
    // The supervisors: each follows the board and notes how late each message comes, from
    // the commit (as above) and from the event's `recorded_at` (taken before the
    // transaction's inserts, so it also holds the commit's own write and fsync).
    let latencies = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let from_recorded = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let mut watchers = Vec::new();
    let query = format!(
        "subscription {{ queueBoard(queueIds: [\"{queue}\"]) {{ change position recordedAt }} }}"
    );
    for n in 0..options.subscribers {
        let (mut socket, ack) = tests::ws::connect(&server, &setup.boss).await?;
        if ack["type"] != "connection_ack" {
            bail!("subscriber {n}: {ack}");
        }
        tests::ws::subscribe(&mut socket, "board", &query).await?;
        let latencies = latencies.clone();
        let from_recorded = from_recorded.clone();
        let committed = committed.clone();
        watchers.push(tokio::spawn(async move {
            while let Some(Ok(Message::Text(text))) = socket.next().await {
                let received = chrono::Utc::now();
                let received_instant = Instant::now();
                let Ok(message) = serde_json::from_str::<serde_json::Value>(&text) else {
                    continue;
                };
                let update = &message["payload"]["data"]["queueBoard"];
                if update["change"] == "SNAPSHOT" {
                    continue;
                }
                let Some(at) = update["recordedAt"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                else {
                    continue;
                };
                let late = (received - at.with_timezone(&chrono::Utc))
                    .num_microseconds()
                    .unwrap_or(0)
                    .max(0);
                if let Ok(mut h) = from_recorded.lock() {
                    let _ = h.record(u64::try_from(late).unwrap_or(0));
                }
                // A message ahead of the log subscriber's note counts as 0 late.
                let since_commit = update["position"]
                    .as_i64()
                    .and_then(|p| committed.get(&p).map(|c| *c))
                    .map_or(0, |c| {
                        received_instant.saturating_duration_since(c).as_micros()
                    });
                if let Ok(mut h) = latencies.lock() {
                    let _ = h.record(u64::try_from(since_commit).unwrap_or(0));
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let dir = tempfile::tempdir()?;
    let calls = options.calls.to_string();
    let caller_scenario = match options.agent_talk_ms {
        Some(_) => include_str!("../../sipp/uac_load_released.xml"),
        None => include_str!("../../sipp/uac_load.xml"),
    };
    std::fs::write(
        dir.path().join("load.xml"),
        caller_scenario
            .replace("DID", "02161234567")
            .replace("HOLD_MS", &options.hold_ms.to_string()),
    )?;
    let agent_scenario = match options.agent_talk_ms {
        Some(talk) => {
            std::fs::write(
                dir.path().join("agent.xml"),
                include_str!("../../sipp/uas_agent.xml").replace("TALK_MS", &talk.to_string()),
            )?;
            ["-sf", "agent.xml"]
        }
        None => ["-sn", "uas"],
    };
    let mut phone = Command::new("sipp")
        .current_dir(dir.path())
        .args(agent_scenario)
        .args(["-p", &setup.phone_port.to_string()])
        .args(["-t", "u1", "-i", "127.0.0.1", "-m", &calls])
        .args(["-nostdin", "-timeout", "600"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("sipp must be installed")?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu_before = cpu_time();
    let started = Instant::now();
    let caller = Command::new("sipp")
        .current_dir(dir.path())
        .args(["-sf", "load.xml", "-t", "u1", "-i", tests::CARRIER_IP])
        .args(["-p", &free_udp_port("127.0.0.1")?.to_string()])
        .args(["-r", &options.rate.to_string(), "-m", &calls])
        .args(["-nostdin", "-timeout", "600"])
        .arg(server.sip_addr.to_string())
        .output()
        .context("sipp must be installed")?;
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    // Every call must have been answered by an agent.
    let mut answered = 0;
    let mut others = std::collections::BTreeMap::new();
    for _ in 0..100 {
        let records = every_call_record(&server).await?;
        answered = records
            .iter()
            .filter(|r| r.status == projections::CallStatus::Answered && r.queue_id.is_some())
            .count();
        others = records
            .iter()
            .filter(|r| r.status != projections::CallStatus::Answered || r.queue_id.is_none())
            .fold(std::collections::BTreeMap::new(), |mut counts, r| {
                *counts.entry(format!("{:?}", r.status)).or_insert(0u32) += 1;
                counts
            });
        if records.iter().all(|r| r.ended_at.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Calls that never reached an agent would keep the phone waiting: it stops here.
    let _ = phone.kill();
    let _ = phone.wait();
    let failed_at_carrier = String::from_utf8_lossy(&caller.stdout)
        .lines()
        .find(|l| l.contains("Failed call"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for watcher in &watchers {
        watcher.abort();
    }
    log_watcher.abort();
    let h = latencies
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram"))?
        .clone();
    let r = from_recorded
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram"))?
        .clone();
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
    let recorded_ms = |q: f64| r.value_at_quantile(q) as f64 / 1_000.0;
    println!(
        "backend={} rate={}/s calls={} agents={} subscribers={}: {:.1} s, sipp exit {:?} ({failed_at_carrier}), answered by agents {answered}, lost {} {others:?}; board messages {} (all subscribers): commit→message p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; recorded_at→message p50 {:.2} ms, p99 {:.2} ms; CPU {:.2} ms per call ({:.1} % of a core)",
        options.backend,
        options.rate,
        options.calls,
        options.agents,
        options.subscribers,
        elapsed.as_secs_f64(),
        caller.status.code(),
        i64::from(options.calls) - answered as i64,
        h.len(),
        ms(0.5),
        ms(0.99),
        h.max() as f64 / 1_000.0,
        recorded_ms(0.5),
        recorded_ms(0.99),
        cpu.as_secs_f64() * 1_000.0 / f64::from(options.calls),
        cpu.as_secs_f64() * 100.0 / elapsed.as_secs_f64(),
    );
    server.stop().await;
    Ok(())
}
