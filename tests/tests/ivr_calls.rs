//! IVR flows end to end with real SIP peers: SIPp plays the carrier calling a DID routed to a
//! flow and presses keys with RFC 4733 events from SIPp's captures; a second SIPp is the
//! extension's phone the flow transfers to. One call walks the welcome recording, a menu (a
//! wrong key, then the right one), digit collection, an HTTP look-up against a local server
//! answering JSON, and a transfer to the extension the answer names; another leaves a
//! voicemail. The calls' events show every node, key, branch and variable.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::{json, Value};
use tests::ports::free_udp_port;
use tests::{
    inbound_setup, latest_call_record, on_both_backends, run_sipp, tone_wav, Backend, InboundSetup,
    TestDatabase, TestServer, CARRIER_IP,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const UAC_IVR: &str = include_str!("../sipp/uac_ivr.xml");
const UAS_ANSWER: &str = include_str!("../sipp/uas_answer.xml");

/// A caller scenario: after the ACK, each step is a pause in milliseconds and then a key
/// (`0`–`9`, `#`), `audio` (SIPp's A-law capture) or nothing.
fn caller(steps: &[(u32, &str)]) -> String {
    let mut actions = String::new();
    for (pause, what) in steps {
        actions.push_str(&format!("  <pause milliseconds=\"{pause}\"/>\n"));
        let capture = match *what {
            "" => continue,
            "audio" => "g711a.pcap".to_owned(),
            "#" => "dtmf_2833_pound.pcap".to_owned(),
            key => format!("dtmf_2833_{key}.pcap"),
        };
        actions.push_str(&format!(
            "  <nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/{capture}\"/></action></nop>\n"
        ));
    }
    UAC_IVR
        .replace("DID", "02161234567")
        .replace("ACTIONS", &actions)
}

/// [`caller`], but callcore hangs up at the end: the caller waits for its BYE.
fn caller_released(steps: &[(u32, &str)]) -> String {
    let scenario = caller(steps);
    let start = scenario.find("<!-- HANGUP_START -->").unwrap_or(0);
    let end = scenario
        .find("<!-- HANGUP_END -->")
        .unwrap_or(scenario.len());
    let released = r#"<recv request="BYE"/>
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
  "#;
    format!("{}{released}{}", &scenario[..start], &scenario[end..])
}

/// A local CRM answering every request with `answer` and noting the request lines.
async fn crm(answer: Value) -> anyhow::Result<(u16, Arc<Mutex<Vec<String>>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let noted = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buffer = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            let line = String::from_utf8_lossy(&head)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            if let Ok(mut seen) = noted.lock() {
                seen.push(line);
            }
            let body = answer.to_string();
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    Ok((port, seen))
}

fn text(items: &[&str]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|t| json!({ "kind": "TEXT", "text": t, "reading": "NUMBER", "loops": 1 }))
            .collect(),
    )
}

/// The flow of the scenario (the manual's node types), with `welcome` as its first prompt and
/// the CRM at `crm_port`.
fn flow(welcome: &str, crm_port: u16) -> Value {
    json!({
        "entry": "welcome",
        "variables": [
            { "name": "member", "description": "会员号" },
            { "name": "level", "description": "等级" },
            { "name": "target_ext", "description": "专属坐席" }
        ],
        "nodes": [
            { "key": "welcome", "name": "欢迎语", "number": "1", "type": "PLAYBACK",
              "playback": { "prompts": [{ "kind": "RECORDING", "voiceId": welcome, "reading": "DIGITS", "loops": 1 }], "next": "menu" } },
            { "key": "menu", "name": "主菜单", "number": "2", "type": "MENU",
              "menu": { "prompts": text(&["查询请按1，留言请按2"]),
                        "options": [{ "key": "1", "next": "collect" }, { "key": "2", "next": "voicemail" }],
                        "timeoutSeconds": 5, "invalidPrompts": text(&["输入有误"]), "maxAttempts": 3, "failNext": "goodbye" } },
            { "key": "collect", "name": "会员号", "number": "3", "type": "COLLECT_DIGITS",
              "collectDigits": { "prompts": text(&["请输入会员号，以井号结束"]), "minDigits": 4, "maxDigits": 8,
                                 "terminator": "#", "timeoutSeconds": 5, "variable": "member", "next": "lookup", "failNext": "goodbye" } },
            { "key": "lookup", "name": "查询会员", "number": "4", "type": "HTTP",
              "http": { "method": "GET", "url": format!("http://127.0.0.1:{crm_port}/member?id=${{member}}&from=${{caller_number}}"),
                        "body": "", "timeoutMs": 2000,
                        "outputs": [{ "field": "data.level", "variable": "level" }, { "field": "data.agent", "variable": "target_ext" }],
                        "successNext": "tell", "failureNext": "goodbye" } },
            { "key": "tell", "name": "播报等级", "number": "5", "type": "PLAYBACK",
              "playback": { "prompts": [
                  { "kind": "TEXT", "text": "您的等级是", "reading": "NUMBER", "loops": 1 },
                  { "kind": "IVR_VARIABLE", "variable": "level", "reading": "DIGITS", "loops": 1 }
              ], "next": "transfer" } },
            { "key": "transfer", "name": "转专属坐席", "number": "6", "type": "TRANSFER",
              "transfer": { "prompts": text(&["正在为您转接"]), "target": "VARIABLE", "variable": "target_ext",
                            "failurePrompts": text(&["转接失败"]), "failureNext": "voicemail" } },
            { "key": "voicemail", "name": "留言", "number": "7", "type": "VOICEMAIL",
              "voicemail": { "prompts": text(&["请留言"]), "maxSeconds": 60 } },
            { "key": "goodbye", "name": "再见", "number": "8", "type": "HANGUP",
              "hangup": { "prompts": text(&["再见"]) } }
        ]
    })
}

struct Fixture {
    server: TestServer,
    boss: String,
    phone_port: u16,
    crm_seen: Arc<Mutex<Vec<String>>>,
    flow_id: String,
    crm_port: u16,
    welcome: String,
}

/// Enterprise `acme` (extension 1001 registered by SIPp), an approved welcome recording, the
/// scenario's flow published, and DID 02161234567 routed to it.
async fn fixture(backend: Backend) -> anyhow::Result<Fixture> {
    fixture_with(backend, |_| {}).await
}

/// [`fixture`] on a node whose settings `adjust` changes.
async fn fixture_with(
    backend: Backend,
    adjust: impl FnOnce(&mut callcore::config::Config),
) -> anyhow::Result<Fixture> {
    // An IVR caller sends RTP only while it presses keys or speaks: a long media timeout.
    let server = TestServer::start_configured(TestDatabase::new(backend).await?, |config| {
        config.media_timeout_seconds = 30;
        adjust(config);
    })
    .await?;
    let InboundSetup {
        boss,
        phone_port,
        extension_id,
        ..
    } = inbound_setup(&server, 5).await?;
    let operator = server.operator().await?;
    let (status, uploaded) = server
        .upload_voice(&boss, "欢迎语", tone_wav(16_000, 2, 0.4, 523.0))
        .await?;
    ensure!(status == 201, "upload: {status} {uploaded}");
    let welcome = uploaded["voice"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    server
        .ok(
            Some(&operator),
            "mutation($v: ID!) { reviewVoice(id: $v, approve: true) { status } }",
            json!({ "v": welcome }),
        )
        .await?;
    let (crm_port, crm_seen) = crm(json!({ "data": { "level": 7, "agent": "1001" } })).await?;
    let created = server
        .ok(
            Some(&boss),
            "mutation { createIvrFlow(name: \"总机导航\") { id version } }",
            json!({}),
        )
        .await?;
    let flow_id = created["createIvrFlow"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let published = server
        .ok(
            Some(&boss),
            "mutation($id: ID!, $d: IvrDefinitionInput!) { publishIvrFlow(id: $id, name: \"总机导航\", definition: $d) { version warnings definition { entry nodes { key type } } } }",
            json!({ "id": flow_id, "d": flow(&welcome, crm_port) }),
        )
        .await?;
    ensure!(
        published["publishIvrFlow"]["version"] == 1
            && published["publishIvrFlow"]["warnings"] == json!([]),
        "{published}"
    );
    let routes = server
        .ok(
            Some(&boss),
            "{ routes { edges { node { id } } } }",
            json!({}),
        )
        .await?;
    let route_id = routes["routes"]["edges"][0]["node"]["id"].clone();
    server
        .ok(
            Some(&boss),
            "mutation($r: ID!, $f: ID!) { updateRoute(id: $r, settings: { destination: { kind: \"IVR\", targetId: $f }, maxConcurrent: 5, priority: 1 }) { destination { kind } } }",
            json!({ "r": route_id, "f": flow_id }),
        )
        .await?;
    let _ = extension_id;
    Ok(Fixture {
        server,
        boss,
        phone_port,
        crm_seen,
        flow_id,
        crm_port,
        welcome,
    })
}

/// Runs the carrier's `scenario` and, when given, the phone's `phone` scenario together.
async fn call(
    server: &TestServer,
    scenario: String,
    phone: Option<(&str, u16)>,
) -> anyhow::Result<()> {
    let target = server.sip_addr.to_string();
    let phone_task = phone.map(|(scenario, port)| {
        let scenario = scenario.to_owned();
        let port = port.to_string();
        tokio::task::spawn_blocking(move || {
            run_sipp(&scenario, &["-p", &port, "-t", "u1", "-timeout", "40"])
        })
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller_port = free_udp_port("127.0.0.1")?.to_string();
    tokio::task::spawn_blocking(move || {
        run_sipp(
            &scenario,
            &[
                "-i",
                CARRIER_IP,
                "-p",
                &caller_port,
                "-t",
                "u1",
                "-timeout",
                "40",
                &target,
            ],
        )
    })
    .await??;
    if let Some(task) = phone_task {
        task.await?.context("the phone's scenario")?;
    }
    Ok(())
}

/// The call's events as `(type, payload)`.
async fn events(server: &TestServer, call: Uuid) -> anyhow::Result<Vec<(String, Value)>> {
    Ok(server
        .node
        .log
        .read_stream(call)
        .await?
        .into_iter()
        .map(|e| {
            let payload = serde_json::from_str(&e.payload).unwrap_or(Value::Null);
            (e.event_type, payload)
        })
        .collect())
}

fn of_type<'a>(events: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|(t, _)| t == kind)
        .map(|(_, p)| p)
        .collect()
}

async fn a_caller_walks_the_flow_to_an_extension(backend: Backend) -> anyhow::Result<()> {
    let Fixture {
        server,
        boss,
        phone_port,
        crm_seen,
        flow_id,
        ..
    } = fixture(backend).await?;
    // The welcome (0.4 s) is not interruptible; the menu is: 9 is no option, 1 is. The
    // member number 2345 ends with #. The level is read out, then the transfer rings 1001.
    let scenario = caller(&[
        (1_500, "9"),
        (1_200, "1"),
        (1_200, "2"),
        (400, "3"),
        (400, "4"),
        (400, "5"),
        (400, "#"),
        (7_000, ""),
    ]);
    call(&server, scenario, Some((UAS_ANSWER, phone_port))).await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["status"] == "answered" && record["extension"] == "1001",
        "{record}"
    );
    let call_id = Uuid::parse_str(record["id"].as_str().unwrap_or_default())?;
    let events = events(&server, call_id).await?;
    let started = of_type(&events, "IvrStarted");
    ensure!(
        started.len() == 1
            && started[0]["flow_id"] == flow_id.as_str()
            && started[0]["version"] == 1,
        "{events:?}"
    );
    let nodes: Vec<&str> = of_type(&events, "IvrNodeEntered")
        .iter()
        .filter_map(|p| p["node"].as_str())
        .collect();
    ensure!(
        nodes == ["welcome", "menu", "collect", "lookup", "tell", "transfer"],
        "{nodes:?}"
    );
    let branches: Vec<String> = of_type(&events, "IvrBranchTaken")
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["node"].as_str().unwrap_or_default(),
                p["branch"].as_str().unwrap_or_default()
            )
        })
        .collect();
    ensure!(
        branches
            == [
                "menu invalid key 9",
                "menu key 1",
                "collect collected",
                "lookup success",
                "transfer connected"
            ],
        "{branches:?}"
    );
    let variables: Vec<String> = of_type(&events, "IvrVariableSet")
        .iter()
        .map(|p| {
            format!(
                "{}={}",
                p["name"].as_str().unwrap_or_default(),
                p["value"].as_str().unwrap_or_default()
            )
        })
        .collect();
    ensure!(
        variables == ["member=2345", "level=7", "target_ext=1001"],
        "{variables:?}"
    );
    let keys: String = of_type(&events, "DigitReceived")
        .iter()
        .filter(|p| p["leg"] == "a")
        .filter_map(|p| p["key"].as_str())
        .collect();
    ensure!(keys == "912345#", "{keys}");
    ensure!(
        of_type(&events, "PromptFailed").is_empty(),
        "prompts failed: {events:?}"
    );
    let bridged = of_type(&events, "LegsBridged");
    ensure!(
        bridged.len() == 1 && bridged[0]["leg"] == "a" && bridged[0]["other"] == "b",
        "{events:?}"
    );
    // The HTTP node asked the CRM with the collected number and the caller's number.
    let seen = crm_seen.lock().map(|s| s.clone()).unwrap_or_default();
    ensure!(
        seen == ["GET /member?id=2345&from=013800138000 HTTP/1.1"],
        "{seen:?}"
    );
    // Prompt starts were measured.
    let metrics = reqwest::get(server.url("/metrics")).await?.text().await?;
    ensure!(
        metrics.lines().any(
            |l| l.starts_with("callcore_ivr_prompt_start_seconds_count ") && !l.ends_with(" 0")
        ),
        "{metrics}"
    );
    server.stop().await;
    Ok(())
}

async fn a_caller_leaves_a_voicemail(backend: Backend) -> anyhow::Result<()> {
    let Fixture { server, boss, .. } = fixture(backend).await?;
    // Key 2 during the menu, then three seconds of speech (SIPp's A-law capture).
    let scenario = caller(&[(1_500, "2"), (2_500, "audio"), (3_000, "")]);
    call(&server, scenario, None).await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(record["hangupSide"] == "caller", "{record}");
    let call_id = Uuid::parse_str(record["id"].as_str().unwrap_or_default())?;
    let events = events(&server, call_id).await?;
    let nodes: Vec<&str> = of_type(&events, "IvrNodeEntered")
        .iter()
        .filter_map(|p| p["node"].as_str())
        .collect();
    ensure!(nodes == ["welcome", "menu", "voicemail"], "{nodes:?}");
    ensure!(
        of_type(&events, "VoicemailStarted").len() == 1
            && of_type(&events, "VoicemailRecorded").len() == 1,
        "{events:?}"
    );
    let from = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let mut message = Value::Null;
    for _ in 0..50 {
        let data = server
            .ok(
                Some(&boss),
                "query($f: DateTime!, $t: DateTime!) { voicemails(filter: { time: { from: $f, to: $t } }) { totalCount edges { node { callId caller called routeId durationMs ended url } } } }",
                json!({ "f": from, "t": to }),
            )
            .await?;
        message = data["voicemails"]["edges"][0]["node"].clone();
        if message["ended"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(
        message["caller"] == "+8613800138000"
            && message["called"] == "+862161234567"
            && message["callId"] == call_id.to_string()
            && !message["routeId"].is_null(),
        "{message}"
    );
    let duration = message["durationMs"].as_i64().unwrap_or(0);
    ensure!((2_500..=8_000).contains(&duration), "{message}");
    // The message holds the caller's speech, not silence: SIPp's capture is speech with
    // pauses, and about 3 s of it were played (over 7,000 samples above the threshold in
    // the runs seen; silence gives none).
    let url = message["url"].as_str().unwrap_or_default().to_owned();
    let (status, bytes) = server.download(&boss, &url).await?;
    ensure!(status == 200, "{status}");
    let samples: Vec<i16> = hound::WavReader::new(std::io::Cursor::new(bytes))?
        .into_samples::<i16>()
        .collect::<Result<_, _>>()?;
    let loud = samples.iter().filter(|s| s.unsigned_abs() > 1_000).count();
    ensure!(
        loud > 4_000,
        "{loud} loud samples of {} in the voicemail",
        samples.len()
    );
    server.stop().await;
    Ok(())
}

fn entered_nodes(events: &[(String, Value)]) -> Vec<String> {
    of_type(events, "IvrNodeEntered")
        .iter()
        .filter_map(|p| p["node"].as_str().map(str::to_owned))
        .collect()
}

async fn a_call_keeps_the_version_it_started_with(backend: Backend) -> anyhow::Result<()> {
    let Fixture {
        server,
        boss,
        flow_id,
        crm_port,
        welcome,
        ..
    } = fixture(backend).await?;
    // Version 2 sends key 2 to the goodbye node instead of voicemail.
    let mut v2 = flow(&welcome, crm_port);
    v2["nodes"][1]["menu"]["options"][1]["next"] = json!("goodbye");
    let publish = "mutation($id: ID!, $d: IvrDefinitionInput!) { publishIvrFlow(id: $id, name: \"总机导航\", definition: $d) { version } }";
    // The call enters version 1; version 2 is published while it waits in the menu.
    let scenario = caller(&[(3_500, "2"), (2_000, "")]);
    let during = async {
        tokio::time::sleep(Duration::from_millis(1_800)).await;
        server
            .ok(
                Some(&boss),
                publish,
                json!({ "id": flow_id, "d": v2.clone() }),
            )
            .await
    };
    let (called, published) = tokio::join!(call(&server, scenario, None), during);
    called?;
    ensure!(published?["publishIvrFlow"]["version"] == 2);
    let first = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    let first = events(
        &server,
        Uuid::parse_str(first["id"].as_str().unwrap_or_default())?,
    )
    .await?;
    ensure!(
        of_type(&first, "IvrStarted")[0]["version"] == 1
            && entered_nodes(&first) == ["welcome", "menu", "voicemail"],
        "{first:?}"
    );
    // The next call runs version 2.
    call(&server, caller_released(&[(1_500, "2")]), None).await?;
    let second = latest_call_record(&server, &boss, "INBOUND", 2).await?;
    let second = events(
        &server,
        Uuid::parse_str(second["id"].as_str().unwrap_or_default())?,
    )
    .await?;
    ensure!(
        of_type(&second, "IvrStarted")[0]["version"] == 2
            && entered_nodes(&second) == ["welcome", "menu", "goodbye"],
        "{second:?}"
    );
    server.stop().await;
    Ok(())
}

async fn without_tts_text_prompts_fail_as_events_and_the_call_goes_on(
    backend: Backend,
) -> anyhow::Result<()> {
    let Fixture { server, boss, .. } = fixture_with(backend, |config| {
        config.tts_program = "/nonexistent/espeak-ng".into();
    })
    .await?;
    // The menu's text cannot be spoken; key 2 still leads to voicemail, whose text prompt
    // fails too, and the message is recorded.
    call(
        &server,
        caller(&[(1_500, "2"), (500, "audio"), (2_000, "")]),
        None,
    )
    .await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    let events = events(
        &server,
        Uuid::parse_str(record["id"].as_str().unwrap_or_default())?,
    )
    .await?;
    ensure!(
        entered_nodes(&events) == ["welcome", "menu", "voicemail"],
        "{events:?}"
    );
    let failures = of_type(&events, "PromptFailed");
    ensure!(
        failures.len() >= 2
            && failures.iter().all(|f| f["reason"]
                .as_str()
                .is_some_and(|r| r.contains("/nonexistent/espeak-ng could not run"))),
        "{failures:?}"
    );
    ensure!(
        of_type(&events, "VoicemailRecorded").len() == 1,
        "{events:?}"
    );
    server.stop().await;
    Ok(())
}

on_both_backends!(
    a_caller_walks_the_flow_to_an_extension,
    a_caller_leaves_a_voicemail,
    a_call_keeps_the_version_it_started_with,
    without_tts_text_prompts_fail_as_events_and_the_call_goes_on
);
