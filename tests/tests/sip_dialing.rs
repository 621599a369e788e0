//! Calls placed by phones, end to end with real SIP peers: SIPp registers as extensions and
//! dials another extension (answered, with a key press and a hold), an outside number through
//! the trunk with the extension's licensed caller ID (and refused when manual outbound is not
//! allowed), and an offline extension that forwards to its bound number. Each checks the SIP
//! exchange, the call's events and its call record.

use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::{json, Value};
use tests::ports::free_udp_port;
use tests::{
    inbound_setup, latest_call_record, on_both_backends, run_sipp, Backend, InboundSetup,
    TestServer, CARRIER_IP,
};
use uuid::Uuid;

const CALLER: &str = include_str!("../sipp/uac_extension_call.xml");
const UAS_ANSWER: &str = include_str!("../sipp/uas_answer.xml");

/// The dialling phone's scenario: extension 1002 of `acme` dials `dialled`.
fn dialling(dialled: &str, expected_final: u16) -> String {
    let scenario = CALLER
        .replace("DIALLED", dialled)
        .replace("CALLER", "1002")
        .replace("DOMAIN", "acme")
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

/// The carrier answering an outbound call, checking the Request-URI and the caller ID.
fn carrier_answering(dialled: &str, caller_id: &str) -> String {
    UAS_ANSWER.replace(
        "<recv request=\"INVITE\" crlf=\"true\"/>",
        &format!(
            "<recv request=\"INVITE\" crlf=\"true\"><action>\
             <ereg regexp=\"^INVITE sip:{dialled}@\" search_in=\"msg\" check_it=\"true\" assign_to=\"uri\"/>\
             <ereg regexp=\"sip:{caller_id}@\" search_in=\"hdr\" header=\"From:\" check_it=\"true\" assign_to=\"from\"/>\
             <log message=\"[$uri] [$from]\"/>\
             </action></recv>"
        ),
    )
}

struct Fixture {
    server: TestServer,
    boss: String,
    /// SIP password of extension 1002.
    password: String,
    /// Port the 1001 phone registered from.
    phone_port: u16,
    /// Port of the carrier's SIPp for outbound calls (on [`CARRIER_IP`]).
    carrier_port: u16,
}

/// `acme` with 1001 registered (by SIPp), 1002 allowed to dial out with caller ID
/// 02161230000 (licensed, on a trunk at `CARRIER_IP:carrier_port`), and 1003 offline,
/// forwarding to 13900139000.
async fn fixture(backend: Backend) -> anyhow::Result<Fixture> {
    let server = TestServer::start(backend).await?;
    let InboundSetup {
        boss,
        enterprise,
        phone_port,
        ..
    } = inbound_setup(&server, 5).await?;
    let op = server.operator().await?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let carrier_port = free_udp_port(CARRIER_IP)?;
    let trunk = server
        .ok(
            Some(&op),
            "mutation($h: String!, $p: Int!) { createTrunk(input: { name: \"outbound\", host: $h, port: $p }) { id } }",
            json!({ "h": CARRIER_IP, "p": carrier_port }),
        )
        .await?;
    let trunk = text(&trunk["createTrunk"]["id"]);
    server
        .ok(Some(&op), "mutation($e: ID!, $t: ID!) { assignNumber(number: \"02161230000\", input: { enterpriseId: $e, trunkId: $t, callerId: true }) { id } }", json!({ "e": enterprise, "t": trunk }))
        .await?;
    let mut password = String::new();
    for number in ["1002", "1003"] {
        let created = server
            .ok(Some(&op), "mutation($e: ID!, $n: String!) { createExtension(enterpriseId: $e, number: $n) { id sipPassword } }", json!({ "e": enterprise, "n": number }))
            .await?;
        let id = text(&created["createExtension"]["id"]);
        if number == "1002" {
            password = text(&created["createExtension"]["sipPassword"]);
            set_outbound(&server, &boss, &id, true).await?;
        } else {
            server
                .ok(Some(&boss), "mutation($id: ID!) { updateExtension(id: $id, input: { manualOutbound: false, boundNumber: \"13900139000\", forwardWhenOffline: true }) { id } }", json!({ "id": id }))
                .await?;
        }
    }
    Ok(Fixture {
        server,
        boss,
        password,
        phone_port,
        carrier_port,
    })
}

async fn set_outbound(
    server: &TestServer,
    boss: &str,
    extension: &str,
    allowed: bool,
) -> anyhow::Result<()> {
    server
        .ok(Some(boss), "mutation($id: ID!, $m: Boolean!) { updateExtension(id: $id, input: { manualOutbound: $m, callerId: \"02161230000\" }) { id } }", json!({ "id": extension, "m": allowed }))
        .await?;
    Ok(())
}

/// Runs `callee` (a UAS scenario at `ip:port`, if any) and extension 1002's `scenario`.
async fn dial(
    fixture: &Fixture,
    callee: Option<(String, &str, u16)>,
    scenario: String,
) -> anyhow::Result<()> {
    let callee_task = callee.map(|(scenario, ip, port)| {
        let (ip, port) = (ip.to_owned(), port.to_string());
        tokio::task::spawn_blocking(move || {
            run_sipp(&scenario, &["-i", &ip, "-p", &port, "-t", "u1"])
        })
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let target = fixture.server.sip_addr.to_string();
    let port = free_udp_port("127.0.0.1")?.to_string();
    let password = fixture.password.clone();
    // The digest names the INVITE's Request-URI (SIPp's default is the server's address;
    // SIPp writes the `sip:` itself).
    let request_uri = scenario
        .lines()
        .find_map(|line| line.trim().strip_prefix("INVITE sip:"))
        .and_then(|line| line.split(' ').next())
        .unwrap_or_default()
        .to_owned();
    tokio::task::spawn_blocking(move || {
        run_sipp(
            &scenario,
            &[
                "-p",
                &port,
                "-t",
                "u1",
                "-au",
                "1002",
                "-ap",
                &password,
                "-auth_uri",
                &request_uri,
                &target,
            ],
        )
    })
    .await?
    .context("the dialling phone's scenario")?;
    if let Some(task) = callee_task {
        task.await?.context("the callee's scenario")?;
    }
    Ok(())
}

/// The events of a call, as JSON payloads.
async fn events(server: &TestServer, record: &Value) -> anyhow::Result<Vec<Value>> {
    let call = Uuid::parse_str(record["id"].as_str().unwrap_or_default())?;
    server
        .node
        .log
        .read_stream(call)
        .await?
        .into_iter()
        .map(|e| Ok(serde_json::from_str(&e.payload)?))
        .collect()
}

async fn an_extension_calls_another(backend: Backend) -> anyhow::Result<()> {
    let fixture = fixture(backend).await?;
    dial(
        &fixture,
        Some((UAS_ANSWER.to_owned(), "127.0.0.1", fixture.phone_port)),
        dialling("1001", 200),
    )
    .await?;
    let record = latest_call_record(&fixture.server, &fixture.boss, "INTERNAL", 1).await?;
    ensure!(
        record["status"] == "answered"
            && record["hangupSide"] == "caller"
            && record["caller"] == "1002"
            && record["called"] == "1001",
        "{record}"
    );
    let events = events(&fixture.server, &record).await?;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    ensure!(
        events[0]["direction"] == "internal"
            && events[0]["caller"]
                == json!({ "kind": "extension", "extension_id": events[0]["caller"]["extension_id"], "number": "1002" }),
        "{:?}",
        events[0]
    );
    // The key press travelled as RFC 4733 events and is a fact of the call.
    ensure!(
        events
            .iter()
            .any(|e| e["type"] == "DigitReceived" && e["leg"] == "a" && e["key"] == "1"),
        "{types:?}"
    );
    // So did the key sent in a SIP INFO.
    ensure!(
        events
            .iter()
            .any(|e| e["type"] == "DigitReceived" && e["leg"] == "a" && e["key"] == "7"),
        "{types:?}"
    );
    // The caller put the callee on hold and took it back.
    let held = types.iter().position(|t| *t == "LegHeld");
    let resumed = types.iter().position(|t| *t == "LegResumed");
    ensure!(
        matches!((held, resumed), (Some(h), Some(r)) if h < r),
        "{types:?}"
    );
    ensure!(
        events
            .iter()
            .any(|e| e["type"] == "LegHeld" && e["leg"] == "b"),
        "{types:?}"
    );
    fixture.server.stop().await;
    Ok(())
}

async fn an_extension_dials_out_through_the_trunk(backend: Backend) -> anyhow::Result<()> {
    let fixture = fixture(backend).await?;
    // The carrier sees the national number and the licensed caller ID.
    dial(
        &fixture,
        Some((
            carrier_answering("013800138000", "02161230000"),
            CARRIER_IP,
            fixture.carrier_port,
        )),
        dialling("13800138000", 200),
    )
    .await?;
    let record = latest_call_record(&fixture.server, &fixture.boss, "OUTBOUND", 1).await?;
    ensure!(
        record["status"] == "answered"
            && record["caller"] == "1002"
            && record["called"] == "+8613800138000",
        "{record}"
    );
    let events = events(&fixture.server, &record).await?;
    ensure!(
        events.iter().any(|e| e["type"] == "LegOffered"
            && e["caller_id"] == "02161230000"
            && e["party"]["number"] == "+8613800138000"),
        "{events:?}"
    );
    fixture.server.stop().await;
    Ok(())
}

async fn dialling_out_without_permission_is_refused(backend: Backend) -> anyhow::Result<()> {
    let fixture = fixture(backend).await?;
    let id = domain::ids::extension_id(domain::ids::enterprise_id("acme"), "1002");
    set_outbound(&fixture.server, &fixture.boss, &id.to_string(), false).await?;
    // No carrier runs: the refusal comes before any leg is sent.
    dial(&fixture, None, dialling("13800138000", 403)).await?;
    let record = latest_call_record(&fixture.server, &fixture.boss, "OUTBOUND", 1).await?;
    ensure!(record["cause"] == "outbound_not_allowed", "{record}");
    let events = events(&fixture.server, &record).await?;
    ensure!(
        events.len() == 1
            && events[0]["type"] == "CallRefused"
            && events[0]["cause"] == "outbound_not_allowed",
        "{events:?}"
    );
    fixture.server.stop().await;
    Ok(())
}

/// A call leaves through a trunk only if the extension that placed it may dial out: 1002,
/// not allowed, dials 1003, which is offline and forwards to its bound number; the call is
/// refused (an event) and no carrier is rung.
async fn a_forward_leaves_through_the_trunk_only_for_a_caller_that_may_dial_out(
    backend: Backend,
) -> anyhow::Result<()> {
    let fixture = fixture(backend).await?;
    let id = domain::ids::extension_id(domain::ids::enterprise_id("acme"), "1002");
    set_outbound(&fixture.server, &fixture.boss, &id.to_string(), false).await?;
    // No carrier runs: a leg sent to it would time out instead of this 403.
    dial(&fixture, None, dialling("1003", 403)).await?;
    let record = latest_call_record(&fixture.server, &fixture.boss, "INTERNAL", 1).await?;
    ensure!(record["cause"] == "outbound_not_allowed", "{record}");
    let events = events(&fixture.server, &record).await?;
    ensure!(
        events.len() == 1
            && events[0]["type"] == "CallRefused"
            && events[0]["cause"] == "outbound_not_allowed",
        "{events:?}"
    );
    fixture.server.stop().await;
    Ok(())
}

/// An agent signed in to 1001 with the bound phone as its endpoint (通话端 "话机") gets 1001's
/// calls on the bound number through the trunk, although a SIP phone is registered to 1001.
async fn an_agent_on_the_bound_phone_is_rung_there(backend: Backend) -> anyhow::Result<()> {
    let fixture = fixture(backend).await?;
    let server = &fixture.server;
    let boss = &fixture.boss;
    let id = domain::ids::extension_id(domain::ids::enterprise_id("acme"), "1001").to_string();
    let created = server
        .ok(
            Some(boss),
            "mutation { createSubAccount(input: { account: \"mobile\", password: \"agent-password\", name: \"mobile\", followRole: false, permissions: [\"agent.workstation\"] }) { id } }",
            json!({}),
        )
        .await?;
    server
        .ok(
            Some(boss),
            "mutation($x: ID!, $a: ID!) { updateExtension(id: $x, input: { manualOutbound: false, boundNumber: \"13900139000\", forwardWhenOffline: false, signInAccounts: [$a] }) { id } }",
            json!({ "x": id, "a": created["createSubAccount"]["id"] }),
        )
        .await?;
    let agent = server.login("acme", "mobile", "agent-password").await?;
    let signed = server
        .ok(
            Some(&agent),
            "mutation($x: ID!) { signIn(extensionId: $x, endpoint: PHONE) { endpoint } }",
            json!({ "x": id }),
        )
        .await?;
    ensure!(signed["signIn"]["endpoint"] == "PHONE", "{signed}");
    reaches_the_bound_number(&fixture, "1001").await?;
    fixture.server.stop().await;
    Ok(())
}

/// 1002 dials `extension`; the carrier's SIPp answers for the bound number 13900139000 (with
/// the licensed caller ID), and the call's record and events show the forward.
async fn reaches_the_bound_number(fixture: &Fixture, extension: &str) -> anyhow::Result<()> {
    dial(
        fixture,
        Some((
            carrier_answering("013900139000", "02161230000"),
            CARRIER_IP,
            fixture.carrier_port,
        )),
        dialling(extension, 200),
    )
    .await?;
    let record = latest_call_record(&fixture.server, &fixture.boss, "INTERNAL", 1).await?;
    ensure!(
        record["status"] == "answered" && record["called"] == extension,
        "{record}"
    );
    let events = events(&fixture.server, &record).await?;
    ensure!(
        events.iter().any(|e| e["type"] == "LegOffered"
            && e["forwarded"] == true
            && e["party"] == json!({ "kind": "external", "number": "+8613900139000" })),
        "{events:?}"
    );
    Ok(())
}

async fn an_offline_extension_forwards_to_its_bound_number(backend: Backend) -> anyhow::Result<()> {
    let fixture = fixture(backend).await?;
    reaches_the_bound_number(&fixture, "1003").await?;
    fixture.server.stop().await;
    Ok(())
}

async fn the_called_extension_transfers_the_caller_out(backend: Backend) -> anyhow::Result<()> {
    let fixture = fixture(backend).await?;
    let id = domain::ids::extension_id(domain::ids::enterprise_id("acme"), "1001");
    set_outbound(&fixture.server, &fixture.boss, &id.to_string(), true).await?;
    // The carrier's call for the DID reaches 1001, which transfers it to 13700137000; the
    // carrier (another SIPp) gets the new leg with the licensed caller ID and answers.
    let target_scenario = carrier_answering("013700137000", "02161230000");
    let carrier_port = fixture.carrier_port;
    let transferred_to = tokio::task::spawn_blocking(move || {
        run_sipp(
            &target_scenario,
            &[
                "-i",
                CARRIER_IP,
                "-p",
                &carrier_port.to_string(),
                "-t",
                "u1",
            ],
        )
    });
    let phone_scenario = include_str!("../sipp/uas_transfer.xml").replace("TARGET", "13700137000");
    let phone_port = fixture.phone_port;
    let phone = tokio::task::spawn_blocking(move || {
        run_sipp(
            &phone_scenario,
            &["-p", &phone_port.to_string(), "-t", "u1"],
        )
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller_scenario = include_str!("../sipp/uac_call.xml")
        .replace("DID", "02161234567")
        .replace("EXPECTED_FINAL", "200");
    let target = fixture.server.sip_addr.to_string();
    let caller_port = free_udp_port(CARRIER_IP)?.to_string();
    tokio::task::spawn_blocking(move || {
        run_sipp(
            &caller_scenario,
            &["-i", CARRIER_IP, "-p", &caller_port, "-t", "u1", &target],
        )
    })
    .await?
    .context("the caller's scenario")?;
    phone.await?.context("the transferring phone's scenario")?;
    transferred_to
        .await?
        .context("the transfer target's scenario")?;
    let record = latest_call_record(&fixture.server, &fixture.boss, "INBOUND", 1).await?;
    ensure!(record["status"] == "answered", "{record}");
    let events = events(&fixture.server, &record).await?;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    ensure!(
        events.iter().any(|e| e["type"] == "CallTransferred"
            && e["by_leg"] == "b"
            && e["target"] == "number:+8613700137000"),
        "{types:?}"
    );
    ensure!(
        events.iter().any(|e| e["type"] == "LegOffered"
            && e["leg"] == "c"
            && e["party"] == json!({ "kind": "external", "number": "+8613700137000" })),
        "{events:?}"
    );
    ensure!(
        events
            .iter()
            .any(|e| e["type"] == "LegsBridged" && e["leg"] == "a" && e["other"] == "c"),
        "{types:?}"
    );
    ensure!(types.last() == Some(&"CallEnded"), "{types:?}");
    fixture.server.stop().await;
    Ok(())
}

async fn a_silent_hold_outlasts_the_media_timeout(backend: Backend) -> anyhow::Result<()> {
    let fixture = fixture(backend).await?;
    // No RTP from either side; the caller holds with `inactive` for 4 s (the test server's
    // media timeout is 3 s), resumes and hangs up: the call ends normally.
    let strip_media = |scenario: &str| {
        let mut scenario = scenario.to_owned();
        while let (Some(start), Some(end)) = (scenario.find("<nop>"), scenario.find("</nop>")) {
            scenario.replace_range(start..end + "</nop>".len(), "");
        }
        scenario
    };
    let caller = strip_media(&dialling("1001", 200))
        .replace("a=sendonly", "a=inactive")
        .replacen(
            "<pause milliseconds=\"300\"/>",
            "<pause milliseconds=\"4000\"/>",
            1,
        );
    dial(
        &fixture,
        Some((strip_media(UAS_ANSWER), "127.0.0.1", fixture.phone_port)),
        caller,
    )
    .await?;
    let record = latest_call_record(&fixture.server, &fixture.boss, "INTERNAL", 1).await?;
    ensure!(
        record["status"] == "answered"
            && record["hangupSide"] == "caller"
            && record["cause"] == "normal",
        "{record}"
    );
    fixture.server.stop().await;
    Ok(())
}

async fn a_trunk_that_asks_for_credentials_gets_them(backend: Backend) -> anyhow::Result<()> {
    let fixture = fixture(backend).await?;
    let op = fixture.server.operator().await?;
    let trunks = fixture
        .server
        .ok(
            Some(&op),
            "{ trunks(first: 10) { edges { node { id name } } } }",
            json!({}),
        )
        .await?;
    let outbound = trunks["trunks"]["edges"]
        .as_array()
        .and_then(|edges| edges.iter().find(|e| e["node"]["name"] == "outbound"))
        .and_then(|e| e["node"]["id"].as_str())
        .context("the outbound trunk")?
        .to_owned();
    fixture
        .server
        .ok(Some(&op), "mutation($id: ID!, $h: String!, $p: Int!) { updateTrunk(id: $id, input: { name: \"outbound\", host: $h, port: $p, username: \"trunkuser\", password: \"trunkpass\" }) { id } }", json!({ "id": outbound, "h": CARRIER_IP, "p": fixture.carrier_port }))
        .await?;
    dial(
        &fixture,
        Some((
            include_str!("../sipp/uas_carrier_auth.xml").to_owned(),
            CARRIER_IP,
            fixture.carrier_port,
        )),
        dialling("13800138000", 200),
    )
    .await?;
    let record = latest_call_record(&fixture.server, &fixture.boss, "OUTBOUND", 1).await?;
    ensure!(record["status"] == "answered", "{record}");
    // Without credentials the challenge ends the call at once (not at the ring timeout).
    fixture
        .server
        .ok(Some(&op), "mutation($id: ID!, $h: String!, $p: Int!) { updateTrunk(id: $id, input: { name: \"outbound\", host: $h, port: $p, username: \"\", password: \"\" }) { id } }", json!({ "id": outbound, "h": CARRIER_IP, "p": fixture.carrier_port }))
        .await?;
    let challenge_only = include_str!("../sipp/uas_carrier_auth.xml");
    let cut = challenge_only
        .find("<recv request=\"INVITE\" crlf=\"true\">")
        .context("the second INVITE")?;
    let challenge_only = format!("{}</scenario>\n", &challenge_only[..cut]);
    dial(
        &fixture,
        Some((challenge_only, CARRIER_IP, fixture.carrier_port)),
        dialling("13800138000", 480),
    )
    .await?;
    fixture.server.stop().await;
    Ok(())
}

on_both_backends!(
    an_extension_calls_another,
    a_trunk_that_asks_for_credentials_gets_them,
    a_silent_hold_outlasts_the_media_timeout,
    the_called_extension_transfers_the_caller_out,
    an_extension_dials_out_through_the_trunk,
    dialling_out_without_permission_is_refused,
    a_forward_leaves_through_the_trunk_only_for_a_caller_that_may_dial_out,
    an_offline_extension_forwards_to_its_bound_number,
    an_agent_on_the_bound_phone_is_rung_there,
);
