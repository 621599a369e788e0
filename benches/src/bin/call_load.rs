//! Inbound call load through the B2BUA: SIPp as the carrier calls a DID at a fixed rate, SIPp
//! as the registered phone answers every call; every call event is persisted. Reports calls
//! per second, failed calls, call setup time (INVITE to 200) percentiles and CPU per call.
//!
//! `cargo run --release -p benches --bin call_load -- --backend sqlite --rate 100 --calls 2000`

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use benches::cpu_time;
use clap::Parser;
use serde_json::json;
use tests::generated_calls::{append_history, History};
use tests::ports::free_udp_port;
use tests::{inbound_setup, Backend, TestDatabase, TestServer};

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
    /// How long each call stays up, in milliseconds.
    #[arg(long, default_value_t = 500)]
    hold_ms: u32,
    /// Both sides stream G.711 A-law RTP for the whole call, and the CPU of the relay is
    /// measured while every call is up (from 1 s after the last call started to 1 s before
    /// the first ends).
    #[arg(long)]
    media: bool,
    /// Leaves the node's data directory (database and recordings) in place at the end instead
    /// of removing it. Removing thousands of recordings makes ext4 skip their inodes, each
    /// looked up, for every file created in the next minutes (`recently_deleted`), so in a
    /// series of runs every run after the first would pay for its predecessor's clean-up.
    #[arg(long)]
    keep_data: bool,
    /// Generated calls (200 enterprises, 30 days) appended to the database before the node
    /// starts; the load begins once every read model has applied them.
    #[arg(long, default_value_t = 0)]
    history: u64,
    /// Enterprises the history is spread over.
    #[arg(long, default_value_t = 200)]
    history_enterprises: u64,
    /// Exports the inbound call records of the history's first enterprise (the last 31 days)
    /// while the calls run, and reports how long it took.
    #[arg(long)]
    export_during: bool,
}

/// Writes `seconds` of a 440 Hz tone as raw 8 kHz A-law (what SIPp's `rtp_stream` plays).
fn write_tone(path: &std::path::Path, seconds: u32) -> anyhow::Result<()> {
    let samples = (0..8_000 * seconds).map(|n| {
        let phase = f64::from(n) * 440.0 * std::f64::consts::TAU / 8_000.0;
        // Within i16: the amplitude is 8,000.
        telephony::media::g711::linear_to_alaw((phase.sin() * 8_000.0) as i16)
    });
    std::fs::write(path, samples.collect::<Vec<u8>>())?;
    Ok(())
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
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
    if options.history > 0 {
        let url = db.url.clone();
        let started = Instant::now();
        let history = History {
            calls: options.history,
            enterprises: options.history_enterprises,
            days: 30,
        };
        let head = append_history(&url, history, |_, _| None).await?;
        println!(
            "history: {} calls ({head} events) appended in {:.1} s",
            options.history,
            started.elapsed().as_secs_f64()
        );
    }
    let started = Instant::now();
    let server = TestServer::start_on(db).await?;
    let head = server.node.log.head();
    while server.node.models.applied() < head {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if options.history > 0 {
        println!(
            "node started and every read model caught up in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let setup = inbound_setup(&server, 10_000).await?;
    let phone_port = setup.phone_port;
    let target = server.sip_addr.to_string();

    let calls = options.calls.to_string();
    let dir = tempfile::tempdir()?;
    let tone = dir.path().join("tone.alaw");
    write_tone(&tone, 10)?;
    let phone_scenario = dir.path().join("phone.xml");
    std::fs::write(
        &phone_scenario,
        include_str!("../../sipp/uas_media.xml").replace("STREAM", &tone.to_string_lossy()),
    )?;
    let phone = {
        let (port, calls) = (phone_port.to_string(), calls.clone());
        let scenario: Vec<String> = if options.media {
            vec!["-sf".into(), phone_scenario.to_string_lossy().into_owned()]
        } else {
            vec!["-sn".into(), "uas".into()]
        };
        std::thread::spawn(move || {
            Command::new("sipp")
                .args(&scenario)
                .args([
                    "-p",
                    &port,
                    "-t",
                    "u1",
                    "-i",
                    "127.0.0.1",
                    "-m",
                    &calls,
                    "-nostdin",
                    "-timeout",
                    "600",
                ])
                .output()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut scenario = include_str!("../../sipp/uac_load.xml")
        .replace("DID", "02161234567")
        .replace("HOLD_MS", &options.hold_ms.to_string());
    if options.media {
        scenario = scenario
            .replace(
                "m=audio [media_port] RTP/AVP 0\n      a=rtpmap:0 PCMU/8000",
                "m=audio [rtpstream_audio_port] RTP/AVP 8\n      a=rtpmap:8 PCMA/8000",
            )
            .replace(
                "  <pause milliseconds=",
                &format!(
                    "  <nop><action><exec rtp_stream=\"{},-1,8\"/></action></nop>\n  <pause milliseconds=",
                    tone.display()
                ),
            );
    }
    std::fs::write(dir.path().join("load.xml"), scenario)?;
    let export = if options.export_during {
        let operator = server.operator().await?;
        let tenant = tests::generated_calls::GeneratedCall::nth(
            0,
            options.history_enterprises,
            30,
            chrono::Utc::now(),
            options.history.max(1),
        )
        .enterprise_id;
        let now = chrono::Utc::now();
        let window = json!({ "from": now - chrono::Duration::days(31), "to": now });
        let started = server
            .ok(
                Some(&operator),
                "mutation($f: CallRecordFilter!) { exportCallRecords(filter: $f) { id } }",
                json!({ "f": { "kind": "INBOUND", "enterpriseId": tenant, "callTime": window } }),
            )
            .await?;
        let id = started["exportCallRecords"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Some((operator, id, Instant::now()))
    } else {
        None
    };
    let cpu_before = cpu_time();
    let started = Instant::now();
    // With media: the CPU while every call is up and nothing starts or ends.
    let steady = if options.media {
        let ramp = Duration::from_secs_f64(f64::from(options.calls) / f64::from(options.rate));
        let from = ramp + Duration::from_secs(1);
        let until = Duration::from_millis(u64::from(options.hold_ms))
            .saturating_sub(Duration::from_secs(1));
        if until <= from + Duration::from_secs(2) {
            bail!("with --media, --hold-ms must exceed calls/rate + 4 s");
        }
        let handle = server.calls().clone();
        Some(tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + from)).await;
            let (cpu_from, up_from) = (cpu_time(), handle.live_calls());
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + until)).await;
            let (cpu_until, up_until) = (cpu_time(), handle.live_calls());
            (
                cpu_until.saturating_sub(cpu_from),
                until - from,
                up_from.min(up_until) / 2,
            )
        }))
    } else {
        None
    };
    let caller = Command::new("sipp")
        .current_dir(dir.path())
        .args([
            "-sf",
            "load.xml",
            "-t",
            "u1",
            "-i",
            tests::CARRIER_IP,
            "-p",
            &free_udp_port("127.0.0.1")?.to_string(),
        ])
        .args([
            "-r",
            &options.rate.to_string(),
            "-m",
            &calls,
            "-nostdin",
            "-timeout",
            "600",
            "-trace_rtt",
            "-rtt_freq",
            "1",
            "-trace_stat",
        ])
        .arg(&target)
        .output()
        .context("sipp must be installed")?;
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let _ = phone.join();

    // SIPp's file of setup times: when each call started, how long its setup took.
    let setup_times: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())?
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with("_rtt.csv"))
        .map(|entry| entry.path())
        .collect();
    let mut setup_ms: Vec<f64> = Vec::new();
    for file in &setup_times {
        for line in std::fs::read_to_string(file)?.lines().skip(1) {
            if let Some(value) = line
                .split(';')
                .nth(1)
                .and_then(|v| v.trim().parse::<f64>().ok())
            {
                setup_ms.push(value);
            }
        }
    }
    setup_ms.sort_by(f64::total_cmp);
    // Every call must have become an answered call record.
    let boss = setup.boss.clone();
    let from = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let mut answered = 0;
    let mut in_progress = 0;
    for _ in 0..100 {
        let data = server
            .ok(Some(&boss), "query($f: DateTime!, $t: DateTime!) { callRecords(first: 0, filter: { kind: INBOUND, callTime: { from: $f, to: $t } }) { totalCount } }", json!({ "f": from, "t": to }))
            .await?;
        let total = data["callRecords"]["totalCount"].as_i64().unwrap_or(0);
        in_progress = server.node.models.of(projections::LIVE_CALLS).read().len();
        answered = total - in_progress as i64;
        if in_progress == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed = i64::from(options.calls) - answered;
    println!(
        "backend={} rate={}/s calls={} hold={} ms: {:.1} s, {:.1} calls/s, sipp exit {:?}, records answered={} failed={} in_progress={}; setup p50={:.1} ms p99={:.1} ms max={:.1} ms ({} samples); CPU {:.2} ms per call ({:.1} % of a core)",
        options.backend,
        options.rate,
        options.calls,
        options.hold_ms,
        elapsed.as_secs_f64(),
        f64::from(options.calls) / elapsed.as_secs_f64(),
        caller.status.code(),
        answered,
        failed,
        in_progress,
        percentile(&setup_ms, 0.5),
        percentile(&setup_ms, 0.99),
        setup_ms.last().copied().unwrap_or(f64::NAN),
        setup_ms.len(),
        cpu.as_secs_f64() * 1_000.0 / f64::from(options.calls),
        cpu.as_secs_f64() * 100.0 / elapsed.as_secs_f64(),
    );
    if let Some(steady) = steady {
        let (cpu, window, calls_up) = steady.await?;
        let share = cpu.as_secs_f64() * 100.0 / window.as_secs_f64();
        let relayed = server.calls().relayed();
        println!(
            "media: {calls_up} calls up (both legs streaming A-law, each recorded), over {:.1} s: {share:.2} % of a core in all, {:.4} % of a core per call; RTP packets relayed in all: {} to the phones, {} to the carrier",
            window.as_secs_f64(),
            share / calls_up.max(1) as f64,
            relayed.to_callee,
            relayed.to_caller,
        );
    }
    if let Some((operator, id, since)) = export {
        let file = server.finished_file(&operator, &id, 600).await?;
        let at = |field: &str| {
            file[field]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        };
        let took = match (at("createdAt"), at("finishedAt")) {
            (Some(created), Some(finished)) => (finished - created).num_milliseconds() as f64 / 1e3,
            _ => since.elapsed().as_secs_f64(),
        };
        println!(
            "export during the load: {} {} rows in {took:.1} s (the load took {:.1} s)",
            file["state"],
            file["rows"],
            elapsed.as_secs_f64()
        );
    }
    let db = server.stop().await;
    if options.keep_data {
        let kept = db.keep();
        for file in &setup_times {
            std::fs::copy(file, kept.join("setup_times.csv"))?;
        }
        println!("data kept in {}", kept.display());
    }
    Ok(())
}
