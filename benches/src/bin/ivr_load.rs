//! IVR calls at a fixed rate: SIPp as the carrier calls a DID routed to a flow (a welcome
//! text, a menu, a goodbye text), presses 1 with an RFC 4733 capture and is released by the
//! flow. Reports the time from each IVR node being recorded to its prompt's first RTP packet
//! (the prompts are cached after the warm-up call), failed calls and CPU per call.
//!
//! `cargo run --release -p benches --bin ivr_load -- --backend sqlite --rate 20 --calls 400`

use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use benches::cpu_time;
use clap::Parser;
use node::PromptStarts;
use serde_json::json;
use tests::ports::free_udp_port;
use tests::{every_call_record, inbound_setup, Backend, TestDatabase, TestServer};

/// Options.
#[derive(Debug, Parser)]
struct Options {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Calls started per second.
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// Calls in all (after one warm-up call).
    #[arg(long, default_value_t = 400)]
    calls: u32,
}

/// The caller: ACK, key 1 once the menu plays, then the flow's BYE.
const CALLER: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="IVR load">
  <send retrans="500">
    <![CDATA[
      INVITE sip:02161234567@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:02161234567@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:13800138000@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:02161234567@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="2500"/>
  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_1.pcap"/></action></nop>
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"#;

fn sipp(dir: &std::path::Path, target: &str, rate: u32, calls: u32) -> anyhow::Result<i32> {
    let output = Command::new("sipp")
        .current_dir(dir)
        .args(["-sf", "caller.xml", "-t", "u1", "-i", tests::CARRIER_IP])
        .args(["-p", &free_udp_port("127.0.0.1")?.to_string()])
        .args(["-r", &rate.to_string(), "-m", &calls.to_string()])
        .args(["-nostdin", "-timeout", "600"])
        .arg(target)
        .output()
        .context("sipp must be installed")?;
    Ok(output.status.code().unwrap_or(-1))
}

/// The starts between `before` and `after`: `(bound µs, count at or under it)` and the count.
fn between(before: &PromptStarts, after: &PromptStarts) -> (Vec<(u64, u64)>, u64, f64) {
    let buckets = after
        .buckets
        .iter()
        .zip(&before.buckets)
        .map(|((bound, a), (_, b))| (*bound, a - b))
        .collect();
    let count = after.count - before.count;
    let mean_ms = (after.sum_us - before.sum_us) as f64 / count.max(1) as f64 / 1_000.0;
    (buckets, count, mean_ms)
}

/// The smallest bound under which at least `q` of the starts fall.
fn bound_of(buckets: &[(u64, u64)], count: u64, q: f64) -> String {
    buckets
        .iter()
        .find(|(_, n)| *n as f64 >= q * count as f64)
        .map_or("over 250 ms".into(), |(bound, _)| {
            format!("≤ {:.2} ms", *bound as f64 / 1_000.0)
        })
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
        config.media_timeout_seconds = 60;
    })
    .await?;
    let setup = inbound_setup(&server, 10_000).await?;
    let boss = setup.boss.clone();
    let say =
        |text: &str| json!([{ "kind": "TEXT", "text": text, "reading": "NUMBER", "loops": 1 }]);
    let definition = json!({
        "entry": "welcome",
        "variables": [],
        "nodes": [
            { "key": "welcome", "name": "欢迎", "number": "", "type": "PLAYBACK",
              "playback": { "prompts": say("欢迎致电"), "next": "menu" } },
            { "key": "menu", "name": "菜单", "number": "", "type": "MENU",
              "menu": { "prompts": say("查询请按1"), "options": [{ "key": "1", "next": "bye" }],
                        "timeoutSeconds": 10, "invalidPrompts": [], "maxAttempts": 2, "failNext": "bye" } },
            { "key": "bye", "name": "再见", "number": "", "type": "HANGUP", "hangup": { "prompts": say("再见") } }
        ]
    });
    let flow = server
        .ok(
            Some(&boss),
            "mutation { createIvrFlow(name: \"load\") { id } }",
            json!({}),
        )
        .await?["createIvrFlow"]["id"]
        .clone();
    server
        .ok(
            Some(&boss),
            "mutation($f: ID!, $d: IvrDefinitionInput!) { publishIvrFlow(id: $f, name: \"load\", definition: $d) { version } }",
            json!({ "f": flow, "d": definition }),
        )
        .await?;
    server
        .ok(
            Some(&boss),
            "mutation($r: ID!, $f: ID!) { updateRoute(id: $r, settings: { destination: { kind: \"IVR\", targetId: $f }, maxConcurrent: 10000, priority: 1 }) { id } }",
            json!({ "r": setup.route_id, "f": flow }),
        )
        .await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("caller.xml"), CALLER)?;
    let target = server.sip_addr.to_string();
    // The warm-up call fills the TTS cache.
    let warm = sipp(dir.path(), &target, 1, 1)?;
    if warm != 0 {
        bail!("the warm-up call failed (SIPp exit {warm})");
    }
    let before = server.node.metrics.prompt_starts();
    let cpu_before = cpu_time();
    let started = Instant::now();
    let exit = sipp(dir.path(), &target, options.rate, options.calls)?;
    let elapsed = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let after = server.node.metrics.prompt_starts();
    let (buckets, count, mean_ms) = between(&before, &after);
    let calls_seen = every_call_record(&server)
        .await?
        .iter()
        .filter(|r| r.ivr_flow_id.is_some() && r.ended_at.is_some())
        .count();
    println!(
        "backend={} rate={}/s calls={}: {:.1} s, sipp exit {exit}, ended IVR call records {} (of {} with the warm-up); prompt starts {count} (3 per call expected): mean {mean_ms:.2} ms, p50 {}, p99 {}, max {}; CPU {:.2} ms per call",
        options.backend,
        options.rate,
        options.calls,
        elapsed.as_secs_f64(),
        calls_seen,
        options.calls + 1,
        bound_of(&buckets, count, 0.5),
        bound_of(&buckets, count, 0.99),
        bound_of(&buckets, count, 1.0),
        cpu.as_secs_f64() * 1_000.0 / f64::from(options.calls),
    );
    println!(
        "buckets (≤ ms: starts): {}",
        buckets
            .iter()
            .map(|(bound, n)| format!("{}: {n}", *bound as f64 / 1_000.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    server.stop().await;
    Ok(())
}
