//! Inbound calls end to end with real SIP peers: SIPp plays the carrier (a trunk at 127.0.0.2)
//! calling a DID, and the registered phone of the extension the route points to. Answered,
//! busy and over-the-limit calls each leave their events and their call record.

use std::net::UdpSocket;
use std::time::Duration;

use anyhow::{ensure, Context};
use chrono::Utc;
use serde_json::{json, Value};
use tests::ports::free_udp_port;
use tests::{
    inbound_setup, latest_call_record, on_both_backends, run_sipp, Backend, InboundSetup,
    TestServer, CARRIER_IP,
};
use uuid::Uuid;

const UAC: &str = include_str!("../sipp/uac_call.xml");
const UAS_ANSWER: &str = include_str!("../sipp/uas_answer.xml");
const UAS_BUSY: &str = include_str!("../sipp/uas_busy.xml");

fn uac(expected_final: u16) -> String {
    let scenario = UAC
        .replace("DID", "02161234567")
        .replace("EXPECTED_FINAL", &expected_final.to_string());
    if expected_final == 200 {
        return scenario;
    }
    let start = scenario
        .find("<!-- ANSWERED_START -->")
        .unwrap_or(scenario.len());
    let end = scenario
        .find("<!-- ANSWERED_END -->")
        .unwrap_or(scenario.len());
    format!("{}{}", &scenario[..start], &scenario[end..])
}

/// Runs `phone` (a UAS scenario on the extension's port) and the carrier's call together.
async fn call_with(
    server: &TestServer,
    phone: Option<&str>,
    phone_port: u16,
    expected_final: u16,
) -> anyhow::Result<()> {
    call_with_scenario(server, phone, phone_port, uac(expected_final)).await
}

/// Runs `phone` and the carrier's `caller` scenario together.
async fn call_with_scenario(
    server: &TestServer,
    phone: Option<&str>,
    phone_port: u16,
    caller: String,
) -> anyhow::Result<()> {
    let target = server.sip_addr.to_string();
    let phone_task = phone.map(|scenario| {
        let scenario = scenario.to_owned();
        let port = phone_port.to_string();
        tokio::task::spawn_blocking(move || run_sipp(&scenario, &["-p", &port, "-t", "u1"]))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller_port = free_udp_port("127.0.0.1")?.to_string();
    let scenario = caller;
    tokio::task::spawn_blocking(move || {
        run_sipp(
            &scenario,
            &["-i", CARRIER_IP, "-p", &caller_port, "-t", "u1", &target],
        )
    })
    .await??;
    if let Some(task) = phone_task {
        task.await?.context("the phone's scenario")?;
    }
    Ok(())
}

struct Fixture {
    server: TestServer,
    boss: String,
    extension_id: String,
    route_id: String,
    phone_port: u16,
}

/// Enterprise `acme` with extension 1001 registered by SIPp, a trunk at 127.0.0.2, and DID
/// 02161234567 routed to the extension.
async fn fixture(backend: Backend) -> anyhow::Result<Fixture> {
    let server = TestServer::start(backend).await?;
    let InboundSetup {
        boss,
        extension_id,
        route_id,
        phone_port,
        ..
    } = inbound_setup(&server, 5).await?;
    Ok(Fixture {
        server,
        boss,
        extension_id,
        route_id,
        phone_port,
    })
}

async fn a_did_reaches_the_registered_extension(backend: Backend) -> anyhow::Result<()> {
    let Fixture {
        server,
        boss,
        extension_id,
        route_id,
        phone_port,
        ..
    } = fixture(backend).await?;
    // Answered, RTP both ways through callcore's relay, then the caller hangs up.
    call_with(&server, Some(UAS_ANSWER), phone_port, 200).await?;
    // The relay reports its count when the call's task ends, just after the last event.
    let relayed = || {
        let relayed = server.calls().relayed();
        (relayed.to_callee, relayed.to_caller)
    };
    for _ in 0..50 {
        if relayed().0 >= 40 && relayed().1 >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (to_callee, to_caller) = relayed();
    ensure!(
        to_callee >= 40 && to_caller >= 40,
        "RTP through the relay: {to_callee} to the callee, {to_caller} to the caller"
    );
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["status"] == "answered"
            && record["hangupSide"] == "caller"
            && record["extension"] == "1001",
        "{record}"
    );
    ensure!(
        record["caller"] == "+8613800138000" && record["called"] == "+862161234567",
        "{record}"
    );
    ensure!(
        record["duration"].as_i64().is_some_and(|d| d >= 1),
        "{record}"
    );
    let call = Uuid::parse_str(record["id"].as_str().unwrap_or_default())?;
    let types: Vec<String> = server
        .node
        .log
        .read_stream(call)
        .await?
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    ensure!(
        types
            == [
                "CallOffered",
                "LegOffered",
                "LegRinging",
                "LegAnswered",
                "LegAnswered",
                "LegsBridged",
                "RecordingStarted",
                "RecordingStopped",
                "LegHungUp",
                "LegHungUp",
                "CallEnded"
            ],
        "{types:?}"
    );

    // The bridged part was recorded: a valid WAV as long as the talk time (within 0.5 s),
    // downloadable with recordings.listen in the call's enterprise only.
    ensure!(record["recorded"] == true, "{record}");
    let talk = {
        let parse =
            |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default());
        (parse(&record["endedAt"])? - parse(&record["answeredAt"])?).num_milliseconds()
    };
    let url = server.url(&format!("/recordings/{call}"));
    let client = reqwest::Client::new();
    let anonymous = client.get(&url).send().await?;
    ensure!(anonymous.status() == 401, "{}", anonymous.status());
    let download = client.get(&url).bearer_auth(&boss).send().await?;
    ensure!(download.status() == 200, "{}", download.status());
    ensure!(download
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "audio/wav"));
    let wav = hound::WavReader::new(std::io::Cursor::new(download.bytes().await?.to_vec()))?;
    ensure!(
        wav.spec().sample_rate == 8_000
            && wav.spec().channels == 1
            && wav.spec().bits_per_sample == 16
    );
    let recorded_ms = i64::from(wav.duration()) * 1_000 / 8_000;
    ensure!(
        (recorded_ms - talk).abs() <= 500,
        "recording {recorded_ms} ms, talk time {talk} ms"
    );
    let samples: Vec<i16> = wav.into_samples::<i16>().collect::<Result<_, _>>()?;
    ensure!(
        samples.iter().filter(|s| s.unsigned_abs() > 100).count() > 4_000,
        "the recording is silent"
    );
    let op = server.operator().await?;
    server
        .ok(Some(&op), "mutation { createEnterprise(input: { code: \"other\", name: \"Other\", adminAccount: \"x\", adminPassword: \"x-password\" }) { id } }", json!({}))
        .await?;
    let stranger = server.login("other", "x", "x-password").await?;
    let foreign = client.get(&url).bearer_auth(&stranger).send().await?;
    ensure!(
        foreign.status() == 404,
        "another enterprise got {}",
        foreign.status()
    );

    // Busy: the phone answers 486, the carrier hears 486, the call is missed.
    call_with(&server, Some(UAS_BUSY), phone_port, 486).await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 2).await?;
    ensure!(
        record["status"] == "missed" && record["cause"] == "busy",
        "{record}"
    );

    // Over the route's limit: refused with 486 before the phone is tried, and recorded.
    server
        .ok(
            Some(&boss),
            "mutation($r: ID!, $x: ID!) { updateRoute(id: $r, settings: { destination: { kind: \"EXTENSION\", targetId: $x }, maxConcurrent: 1, priority: 1 }) { id } }",
            json!({ "r": route_id, "x": extension_id }),
        )
        .await?;
    // One call holds the only place: the phone answers it, the carrier talks for 1.5 s.
    let first = {
        let target = server.sip_addr.to_string();
        let phone = tokio::task::spawn_blocking(move || {
            run_sipp(UAS_ANSWER, &["-p", &phone_port.to_string(), "-t", "u1"])
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let caller_port = free_udp_port("127.0.0.1")?.to_string();
        let caller = tokio::task::spawn_blocking(move || {
            run_sipp(
                &uac(200),
                &["-i", CARRIER_IP, "-p", &caller_port, "-t", "u1", &target],
            )
        });
        (phone, caller)
    };
    let mut up = false;
    for _ in 0..50 {
        up = server
            .node
            .models
            .of(projections::LIVE_CALLS)
            .all()
            .iter()
            .any(|r| r.status == projections::CallStatus::InProgress && r.answered_at.is_some());
        if up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ensure!(up, "the first call was not answered");
    call_with(&server, None, phone_port, 486).await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 4).await?;
    ensure!(
        record["status"] == "refused" && record["cause"] == "route_limit_reached",
        "{record}"
    );
    first.0.await?.context("the first call's phone")?;
    first.1.await?.context("the first call's carrier")?;
    server.stop().await;
    Ok(())
}

async fn the_extension_hangs_up(backend: Backend) -> anyhow::Result<()> {
    let Fixture {
        server,
        boss,
        phone_port,
        ..
    } = fixture(backend).await?;
    let caller = include_str!("../sipp/uac_wait_bye.xml").replace("DID", "02161234567");
    call_with_scenario(
        &server,
        Some(include_str!("../sipp/uas_hangup.xml")),
        phone_port,
        caller,
    )
    .await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["status"] == "answered" && record["hangupSide"] == "callee",
        "{record}"
    );
    server.stop().await;
    Ok(())
}

async fn the_caller_cancels_while_it_rings(backend: Backend) -> anyhow::Result<()> {
    let Fixture {
        server,
        boss,
        phone_port,
        ..
    } = fixture(backend).await?;
    let caller = include_str!("../sipp/uac_cancel.xml").replace("DID", "02161234567");
    call_with_scenario(
        &server,
        Some(include_str!("../sipp/uas_ring.xml")),
        phone_port,
        caller,
    )
    .await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["status"] == "missed"
            && record["hangupSide"] == "caller"
            && record["cause"] == "cancelled",
        "{record}"
    );
    server.stop().await;
    Ok(())
}

async fn nobody_answers_in_time(backend: Backend) -> anyhow::Result<()> {
    let Fixture {
        server,
        boss,
        phone_port,
        ..
    } = fixture(backend).await?;
    // The test server rings for 2 s; then the phone is cancelled and the caller hears 480.
    let caller = include_str!("../sipp/uac_unanswered.xml")
        .replace("DID", "02161234567")
        .replace("EXPECTED_FINAL", "480");
    call_with_scenario(
        &server,
        Some(include_str!("../sipp/uas_ring.xml")),
        phone_port,
        caller,
    )
    .await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["status"] == "missed" && record["cause"] == "no_answer",
        "{record}"
    );
    let missed = server
        .ok(
            Some(&boss),
            "query($f: DateTime!, $t: DateTime!) { callRecords(filter: { kind: MISSED, callTime: { from: $f, to: $t } }) { totalCount } }",
            json!({ "f": (Utc::now() - chrono::Duration::hours(1)).to_rfc3339(), "t": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339() }),
        )
        .await?;
    ensure!(missed["callRecords"]["totalCount"] == 1);
    server.stop().await;
    Ok(())
}

async fn silence_ends_an_answered_call(backend: Backend) -> anyhow::Result<()> {
    let Fixture {
        server,
        boss,
        phone_port,
        ..
    } = fixture(backend).await?;
    // Both parties answer and then say nothing and never hang up (as if a BYE was lost): the
    // test server's media timeout (3 s) ends the call with a BYE to each side.
    let phone = UAS_ANSWER.replace(
        "<exec play_pcap_audio=\"/usr/share/sip-tester/g711a.pcap\"/>",
        "",
    );
    let caller = include_str!("../sipp/uac_wait_bye.xml").replace("DID", "02161234567");
    call_with_scenario(&server, Some(&phone), phone_port, caller).await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["status"] == "answered"
            && record["cause"] == "media_timeout"
            && record["hangupSide"] == "system",
        "{record}"
    );
    server.stop().await;
    Ok(())
}

async fn a_retransmitted_invite_is_one_call(backend: Backend) -> anyhow::Result<()> {
    let Fixture { server, boss, .. } = fixture(backend).await?;
    // The phone registered but is not listening now: the call rings out (2 s) and fails.
    let carrier = UdpSocket::bind((CARRIER_IP, 0))?;
    carrier.set_read_timeout(Some(Duration::from_secs(5)))?;
    let here = carrier.local_addr()?;
    let invite = format!(
        "INVITE sip:02161234567@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {here};branch=z9hG4bKretrans1\r\nFrom: <sip:13800138000@{here}>;tag=r1\r\nTo: <sip:02161234567@{sip}>\r\nCall-ID: retrans-1@{here}\r\nCSeq: 1 INVITE\r\nContact: <sip:13800138000@{here}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        sip = server.sip_addr
    );
    let mut statuses = Vec::new();
    let mut buffer = [0u8; 4_096];
    for _ in 0..3 {
        carrier.send_to(invite.as_bytes(), server.sip_addr)?;
        let (n, _) = carrier.recv_from(&mut buffer)?;
        statuses.push(
            String::from_utf8_lossy(&buffer[..n])
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    ensure!(
        statuses.iter().all(|s| s == "SIP/2.0 100 Trying"),
        "{statuses:?}"
    );
    let final_answer = loop {
        let (n, _) = carrier.recv_from(&mut buffer)?;
        let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
        if !text.starts_with("SIP/2.0 1") {
            break text;
        }
    };
    ensure!(final_answer.starts_with("SIP/2.0 480"), "{final_answer}");
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["status"] == "missed" && record["cause"] == "no_answer",
        "{record}"
    );
    let from = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let all = server
        .ok(Some(&boss), "query($f: DateTime!, $t: DateTime!) { callRecords(filter: { kind: INBOUND, callTime: { from: $f, to: $t } }) { totalCount } }", json!({ "f": from, "t": to }))
        .await?;
    ensure!(
        all["callRecords"]["totalCount"] == 1,
        "three copies of one INVITE made {all}"
    );
    server.stop().await;
    Ok(())
}

on_both_backends!(
    a_did_reaches_the_registered_extension,
    the_extension_hangs_up,
    the_caller_cancels_while_it_rings,
    nobody_answers_in_time,
    silence_ends_an_answered_call,
    a_retransmitted_invite_is_one_call
);
