//! Queues end to end with real SIP peers: SIPp as the carrier calls a DID routed to a queue;
//! the agents are SIPp phones registered to their extensions and signed in over GraphQL. The
//! tests cover the distribution rules, an agent's ring timeout moving the call on, the queue
//! timeout, a full queue and a caller giving up; each checks the call's and the seats' events.

use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::{json, Value};
use tests::media::MediaPeer;
use tests::ports::free_udp_port;
use tests::{
    inbound_setup, latest_call_record, on_both_backends, run_sipp, Backend, InboundSetup,
    TestDatabase, TestServer, CARRIER_IP,
};
use uuid::Uuid;

const UAC_IVR: &str = include_str!("../sipp/uac_ivr.xml");
const UAS_ANSWER: &str = include_str!("../sipp/uas_answer.xml");
const UAS_RING: &str = include_str!("../sipp/uas_ring.xml");

/// The carrier's call: answered by callcore, it stays `hold_ms` and hangs up; or, with
/// `released`, waits for callcore's BYE.
fn caller(hold_ms: u32, released: bool) -> String {
    let scenario = UAC_IVR.replace("DID", "02161234567").replace(
        "ACTIONS",
        &format!("  <pause milliseconds=\"{hold_ms}\"/>\n"),
    );
    if !released {
        return scenario;
    }
    let start = scenario.find("<!-- HANGUP_START -->").unwrap_or(0);
    let end = scenario
        .find("<!-- HANGUP_END -->")
        .unwrap_or(scenario.len());
    let bye = r#"<recv request="BYE"/>
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
    format!("{}{bye}{}", &scenario[..start], &scenario[end..])
}

/// An agent: its extension, the port its phone registered from, its token.
struct Seat {
    extension: String,
    port: u16,
    token: String,
    account: Value,
}

struct Team {
    server: TestServer,
    boss: String,
    queue: String,
    seats: Vec<Seat>,
}

/// The queue's settings as GraphQL input, with `rule` and the timeouts given.
fn settings(rule: &str, ring: u32, timeout: u32, max_waiting: u32, max_missed: u32) -> Value {
    json!({
        "name": "售后", "maxWaiting": max_waiting, "promptIntervalSeconds": 0, "rule": rule,
        "webAutoAnswer": false, "announceAgentNumber": false, "excludedStates": ["BREAK", "AWAY"],
        "queueTimeoutSeconds": timeout, "overflow": "RELEASE", "agentRingTimeoutSeconds": ring,
        "maxMissedOffers": max_missed, "screenPop": ""
    })
}

/// Enterprise `acme` with `agents` extensions (1001, 1002, …) whose SIPp phones registered and
/// whose agents signed in, in that order; a queue of them with `queue_settings`; DID
/// 02161234567 routed to the queue.
async fn team(backend: Backend, agents: usize, queue_settings: Value) -> anyhow::Result<Team> {
    team_with(backend, agents, queue_settings, 30).await
}

/// [`team`] on a node whose media timeout is `media_timeout` seconds.
async fn team_with(
    backend: Backend,
    agents: usize,
    queue_settings: Value,
    media_timeout: u32,
) -> anyhow::Result<Team> {
    let server = TestServer::start_configured(TestDatabase::new(backend).await?, |config| {
        config.media_timeout_seconds = media_timeout;
        config.ring_timeout_seconds = 30;
    })
    .await?;
    let InboundSetup {
        boss,
        enterprise,
        extension_id,
        route_id,
        phone_port,
    } = inbound_setup(&server, 10).await?;
    let operator = server.operator().await?;
    let mut extensions = vec![(extension_id, phone_port)];
    for n in 2..=agents {
        let number = format!("100{n}");
        let created = server
            .ok(
                Some(&operator),
                "mutation($e: ID!, $n: String!) { createExtension(enterpriseId: $e, number: $n) { id sipPassword } }",
                json!({ "e": enterprise, "n": number }),
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
        let port = free_udp_port("127.0.0.1")?;
        let register = include_str!("../sipp/register.xml")
            .replace("USER", &number)
            .replace("DOMAIN", "acme")
            .replace("EXPIRES", "3600")
            .replace("EXPECTED_STATUS", "200");
        let target = server.sip_addr.to_string();
        tokio::task::spawn_blocking(move || {
            run_sipp(
                &register,
                &[
                    "-p",
                    &port.to_string(),
                    "-t",
                    "u1",
                    "-au",
                    &number,
                    "-ap",
                    &password,
                    "-auth_uri",
                    "acme",
                    &target,
                ],
            )
        })
        .await??;
        extensions.push((id, port));
    }
    let mut seats = Vec::new();
    for (n, (extension, port)) in extensions.into_iter().enumerate() {
        let account = format!("agent{}", n + 1);
        let created = server
            .ok(
                Some(&boss),
                "mutation($a: String!) { createSubAccount(input: { account: $a, password: \"agent-password\", name: $a, followRole: false, permissions: [\"agent.workstation\"] }) { id } }",
                json!({ "a": account }),
            )
            .await?;
        let account_id = created["createSubAccount"]["id"].clone();
        server
            .ok(
                Some(&boss),
                "mutation($x: ID!, $a: ID!) { updateExtension(id: $x, input: { manualOutbound: false, signInAccounts: [$a] }) { id } }",
                json!({ "x": extension, "a": account_id }),
            )
            .await?;
        let token = server.login("acme", &account, "agent-password").await?;
        let signed = server
            .ok(
                Some(&token),
                "mutation($x: ID!) { signIn(extensionId: $x, endpoint: SIP_PHONE) { workState accountId } }",
                json!({ "x": extension }),
            )
            .await?;
        ensure!(signed["signIn"]["workState"] == "WORKING", "{signed}");
        // Sign-ins a moment apart: the first agent has been idle the longest.
        tokio::time::sleep(Duration::from_millis(50)).await;
        seats.push(Seat {
            extension,
            port,
            token,
            account: account_id,
        });
    }
    let created = server
        .ok(
            Some(&boss),
            "mutation($s: QueueSettingsInput!) { createQueue(settings: $s) { id } }",
            json!({ "s": queue_settings }),
        )
        .await?;
    let queue = created["createQueue"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let members: Vec<&str> = seats.iter().map(|s| s.extension.as_str()).collect();
    server
        .ok(
            Some(&boss),
            "mutation($q: ID!, $m: [ID!]!) { setQueueMembers(id: $q, extensionIds: $m) { memberIds } }",
            json!({ "q": queue, "m": members }),
        )
        .await?;
    server
        .ok(
            Some(&boss),
            "mutation($r: ID!, $q: ID!) { updateRoute(id: $r, settings: { destination: { kind: \"QUEUE\", targetId: $q }, maxConcurrent: 10, priority: 1 }) { id } }",
            json!({ "r": route_id, "q": queue }),
        )
        .await?;
    Ok(Team {
        server,
        boss,
        queue,
        seats,
    })
}

/// Runs the carrier's `scenario` and the given phones (scenario, port) together.
async fn call(
    server: &TestServer,
    scenario: String,
    phones: Vec<(&'static str, u16)>,
) -> anyhow::Result<()> {
    calls_at_once(server, vec![scenario], phones, 1).await
}

/// Runs the carrier's `scenarios` at once (one SIPp each) with the phones, each of which
/// takes `phone_calls` calls.
async fn calls_at_once(
    server: &TestServer,
    scenarios: Vec<String>,
    phones: Vec<(&'static str, u16)>,
    phone_calls: u32,
) -> anyhow::Result<()> {
    let target = server.sip_addr.to_string();
    let tasks: Vec<_> = phones
        .into_iter()
        .map(|(scenario, port)| {
            let calls = phone_calls.to_string();
            tokio::task::spawn_blocking(move || {
                run_sipp(
                    scenario,
                    &[
                        "-p",
                        &port.to_string(),
                        "-t",
                        "u1",
                        "-timeout",
                        "40",
                        "-m",
                        &calls,
                    ],
                )
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut callers = Vec::new();
    for (n, scenario) in scenarios.into_iter().enumerate() {
        if n > 0 {
            // A little apart, so the callers queue in the order given.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let target = target.clone();
        let caller_port = free_udp_port("127.0.0.1")?.to_string();
        callers.push(tokio::task::spawn_blocking(move || {
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
        }));
    }
    for caller in callers {
        caller.await?.context("a caller's scenario")?;
    }
    for task in tasks {
        task.await?.context("a phone's scenario")?;
    }
    Ok(())
}

/// The events of stream `id` as `(type, payload)`.
async fn events(server: &TestServer, id: Uuid) -> anyhow::Result<Vec<(String, Value)>> {
    Ok(server
        .node
        .log
        .read_stream(id)
        .await?
        .into_iter()
        .map(|e| {
            let payload = serde_json::from_str(&e.payload).unwrap_or(Value::Null);
            (e.event_type, payload)
        })
        .collect())
}

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

/// The seat events of extension `extension` as they are now.
async fn raw_seat_events(
    server: &TestServer,
    extension: &str,
) -> anyhow::Result<Vec<(String, Value)>> {
    events(server, domain::ids::agent_id(Uuid::parse_str(extension)?)).await
}

/// The seat events of extension `extension` once its calls are over: a call's record ends a
/// moment before the seat is freed, so this waits (up to 2 s) for no call to ring or be up.
async fn seat_events(server: &TestServer, extension: &str) -> anyhow::Result<Vec<(String, Value)>> {
    let busy = [
        "AgentOffered",
        "AgentAnswered",
        "AgentDialledOut",
        "AgentJoinedCall",
    ];
    let mut seat = raw_seat_events(server, extension).await?;
    for _ in 0..40 {
        if !seat.last().is_some_and(|(t, _)| busy.contains(&t.as_str())) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        seat = raw_seat_events(server, extension).await?;
    }
    Ok(seat)
}

async fn the_longest_idle_agent_takes_the_call(backend: Backend) -> anyhow::Result<()> {
    let Team {
        server,
        boss,
        queue,
        seats,
    } = team(backend, 2, settings("LONGEST_IDLE", 5, 20, 10, 3)).await?;
    call(
        &server,
        caller(3_000, false),
        vec![(UAS_ANSWER, seats[0].port)],
    )
    .await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["status"] == "answered" && record["extension"] == "1001",
        "{record}"
    );
    let call_id = Uuid::parse_str(record["id"].as_str().unwrap_or_default())?;
    let events = events(&server, call_id).await?;
    let entered = events.iter().find(|(t, _)| t == "QueueEntered");
    ensure!(
        entered.is_some_and(|(_, p)| p["queue_id"] == queue.as_str()),
        "{events:?}"
    );
    let left = events.iter().find(|(t, _)| t == "QueueLeft");
    ensure!(
        left.is_some_and(
            |(_, p)| p["outcome"] == "answered" && p["agent"] == seats[0].extension.as_str()
        ),
        "{events:?}"
    );
    ensure!(types(&events).contains(&"LegsBridged"), "{events:?}");
    let seat = seat_events(&server, &seats[0].extension).await?;
    ensure!(
        types(&seat)
            == [
                "AgentSignedIn",
                "AgentOffered",
                "AgentAnswered",
                "AgentCallEnded"
            ],
        "{seat:?}"
    );
    let other = seat_events(&server, &seats[1].extension).await?;
    ensure!(types(&other) == ["AgentSignedIn"], "{other:?}");
    server.stop().await;
    Ok(())
}

async fn an_agent_not_answering_passes_the_call_on(backend: Backend) -> anyhow::Result<()> {
    // Sequential: 1001 rings first and does not answer in 2 s; 1002 answers. One miss puts
    // 1001 on break.
    let Team {
        server,
        boss,
        seats,
        ..
    } = team(backend, 2, settings("SEQUENTIAL", 2, 20, 10, 1)).await?;
    call(
        &server,
        caller(6_000, false),
        vec![(UAS_RING, seats[0].port), (UAS_ANSWER, seats[1].port)],
    )
    .await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["status"] == "answered" && record["extension"] == "1002",
        "{record}"
    );
    let first = seat_events(&server, &seats[0].extension).await?;
    ensure!(
        types(&first)
            == [
                "AgentSignedIn",
                "AgentOffered",
                "AgentMissed",
                "AgentStateChanged"
            ],
        "{first:?}"
    );
    ensure!(first[3].1["state"] == "break", "{first:?}");
    let second = seat_events(&server, &seats[1].extension).await?;
    ensure!(
        types(&second)
            == [
                "AgentSignedIn",
                "AgentOffered",
                "AgentAnswered",
                "AgentCallEnded"
            ],
        "{second:?}"
    );
    let agent = server
        .ok(
            Some(&seats[0].token),
            "{ myAgent { workState } }",
            json!({}),
        )
        .await?;
    ensure!(agent["myAgent"]["workState"] == "BREAK", "{agent}");
    server.stop().await;
    Ok(())
}

async fn nobody_free_until_the_queue_timeout(backend: Backend) -> anyhow::Result<()> {
    let Team {
        server,
        boss,
        seats,
        ..
    } = team(backend, 1, settings("LONGEST_IDLE", 5, 2, 10, 3)).await?;
    // The only agent takes a break: the caller waits 2 s and is released.
    server
        .ok(
            Some(&seats[0].token),
            "mutation { setWorkState(state: BREAK) { workState } }",
            json!({}),
        )
        .await?;
    call(&server, caller(500, true), vec![]).await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(record["hangupSide"] == "system", "{record}");
    let call_id = Uuid::parse_str(record["id"].as_str().unwrap_or_default())?;
    let events = events(&server, call_id).await?;
    ensure!(
        events
            .iter()
            .any(|(t, p)| t == "QueueLeft" && p["outcome"] == "timeout"),
        "{events:?}"
    );
    server.stop().await;
    Ok(())
}

async fn a_caller_giving_up_abandons_the_queue(backend: Backend) -> anyhow::Result<()> {
    let Team {
        server,
        boss,
        seats,
        ..
    } = team(backend, 1, settings("LONGEST_IDLE", 5, 20, 10, 3)).await?;
    server
        .ok(
            Some(&seats[0].token),
            "mutation { setWorkState(state: AWAY) { workState } }",
            json!({}),
        )
        .await?;
    call(&server, caller(1_000, false), vec![]).await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["hangupSide"] == "caller" && record["status"] == "unanswered",
        "{record}"
    );
    let call_id = Uuid::parse_str(record["id"].as_str().unwrap_or_default())?;
    let events = events(&server, call_id).await?;
    ensure!(
        events
            .iter()
            .any(|(t, p)| t == "QueueLeft" && p["outcome"] == "abandoned"),
        "{events:?}"
    );
    server.stop().await;
    Ok(())
}

async fn a_full_queue_refuses_the_caller_busy(backend: Backend) -> anyhow::Result<()> {
    let Team { server, boss, .. } = team(backend, 1, settings("LONGEST_IDLE", 5, 20, 0, 3)).await?;
    let scenario = UAC_IVR.replace("DID", "02161234567").replace(
        "<recv response=\"200\" rrs=\"true\"/>",
        "<recv response=\"486\"/>",
    );
    let start = scenario
        .find("  <send>\n    <![CDATA[\n      ACK")
        .unwrap_or(0);
    let end = scenario
        .find("<!-- HANGUP_END -->")
        .unwrap_or(scenario.len());
    let ack = r#"  <send>
    <![CDATA[
      ACK sip:02161234567@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:02161234567@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"#;
    let refused = format!("{}{ack}{}", &scenario[..start], &scenario[end..]);
    call(&server, refused, vec![]).await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    let call_id = Uuid::parse_str(record["id"].as_str().unwrap_or_default())?;
    let events = events(&server, call_id).await?;
    ensure!(
        types(&events) == ["CallOffered", "QueueFull", "LegHungUp", "CallEnded"],
        "{events:?}"
    );
    server.stop().await;
    Ok(())
}

async fn ring_all_rings_everyone_and_the_first_answer_wins(backend: Backend) -> anyhow::Result<()> {
    let Team {
        server,
        boss,
        seats,
        ..
    } = team(backend, 2, settings("RING_ALL", 5, 20, 10, 3)).await?;
    call(
        &server,
        caller(3_000, false),
        vec![(UAS_RING, seats[0].port), (UAS_ANSWER, seats[1].port)],
    )
    .await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["status"] == "answered" && record["extension"] == "1002",
        "{record}"
    );
    let first = seat_events(&server, &seats[0].extension).await?;
    ensure!(
        types(&first) == ["AgentSignedIn", "AgentOffered", "AgentOfferWithdrawn"],
        "{first:?}"
    );
    server.stop().await;
    Ok(())
}

/// Calls the queue once per expected agent, in order; each expected agent's phone answers.
async fn calls_answered_by(team: &Team, expected: &[usize]) -> anyhow::Result<()> {
    for (n, agent) in expected.iter().enumerate() {
        call(
            &team.server,
            caller(1_500, false),
            vec![(UAS_ANSWER, team.seats[*agent].port)],
        )
        .await?;
        let record = latest_call_record(&team.server, &team.boss, "INBOUND", n as i64 + 1).await?;
        let number = format!("100{}", agent + 1);
        ensure!(
            record["status"] == "answered" && record["extension"] == number.as_str(),
            "call {}: {record}",
            n + 1
        );
        // The seat is free again before the next call (its call's end reached the seat).
        for _ in 0..50 {
            let seat = raw_seat_events(&team.server, &team.seats[*agent].extension).await?;
            if seat.last().is_some_and(|(t, _)| t == "AgentCallEnded") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

async fn round_robin_takes_members_in_turn(backend: Backend) -> anyhow::Result<()> {
    let team = team(backend, 2, settings("ROUND_ROBIN", 5, 20, 10, 3)).await?;
    calls_answered_by(&team, &[0, 1, 0]).await?;
    team.server.stop().await;
    Ok(())
}

async fn fewest_calls_and_least_talk_time_balance_the_agents(
    backend: Backend,
) -> anyhow::Result<()> {
    // The first call goes to the first member (a tie); the next to the other, who has
    // answered none and talked for none.
    for rule in ["FEWEST_CALLS", "LEAST_TALK_TIME"] {
        let team = team(backend, 2, settings(rule, 5, 20, 10, 3)).await?;
        calls_answered_by(&team, &[0, 1]).await?;
        team.server.stop().await;
    }
    Ok(())
}

/// The seat's events never show a second offer before the first one ended.
fn one_at_a_time(seat: &[(String, Value)]) -> bool {
    let mut busy = false;
    for (kind, _) in seat {
        match kind.as_str() {
            "AgentOffered" if busy => return false,
            "AgentOffered" => busy = true,
            "AgentMissed" | "AgentOfferWithdrawn" | "AgentCallEnded" => busy = false,
            _ => {}
        }
    }
    true
}

async fn two_callers_for_one_agent_are_offered_one_at_a_time(
    backend: Backend,
) -> anyhow::Result<()> {
    let Team {
        server,
        boss,
        seats,
        ..
    } = team(backend, 1, settings("LONGEST_IDLE", 5, 20, 10, 3)).await?;
    calls_at_once(
        &server,
        vec![caller(1_500, false), caller(4_500, false)],
        vec![(UAS_ANSWER, seats[0].port)],
        2,
    )
    .await?;
    latest_call_record(&server, &boss, "INBOUND", 2).await?;
    let seat = seat_events(&server, &seats[0].extension).await?;
    ensure!(
        types(&seat)
            == [
                "AgentSignedIn",
                "AgentOffered",
                "AgentAnswered",
                "AgentCallEnded",
                "AgentOffered",
                "AgentAnswered",
                "AgentCallEnded"
            ]
            && one_at_a_time(&seat),
        "{seat:?}"
    );
    server.stop().await;
    Ok(())
}

async fn two_offers_decided_at_once_on_one_seat_one_wins(backend: Backend) -> anyhow::Result<()> {
    let Team { server, seats, .. } =
        team(backend, 1, settings("LONGEST_IDLE", 5, 20, 10, 3)).await?;
    let seat = domain::ids::agent_id(Uuid::parse_str(&seats[0].extension)?);
    let offer = |call: u128| {
        let app = server.node.clone();
        tokio::spawn(async move {
            app.execute::<domain::agent::Agent>(
                seat,
                domain::agent::AgentCommand::Offer {
                    call_id: Uuid::from_u128(call),
                    queue_id: Uuid::from_u128(99),
                    at: chrono::Utc::now(),
                },
                eventlog::Metadata::new(None, None),
            )
            .await
            .is_ok()
        })
    };
    for round in 0..20u128 {
        let (first, second) = (offer(2 * round + 1), offer(2 * round + 2));
        let (first, second) = (first.await?, second.await?);
        ensure!(first ^ second, "round {round}: {first} and {second}");
        // Free the seat for the next round.
        let events = raw_seat_events(&server, &seats[0].extension).await?;
        let offered = events
            .iter()
            .rev()
            .find(|(t, _)| t == "AgentOffered")
            .and_then(|(_, p)| p["call_id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        server
            .node
            .execute::<domain::agent::Agent>(
                seat,
                domain::agent::AgentCommand::Withdraw {
                    call_id: Uuid::parse_str(&offered)?,
                    at: chrono::Utc::now(),
                },
                eventlog::Metadata::new(None, None),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    }
    ensure!(one_at_a_time(
        &raw_seat_events(&server, &seats[0].extension).await?
    ));
    server.stop().await;
    Ok(())
}

async fn an_agent_signing_out_while_offered_passes_the_call_on(
    backend: Backend,
) -> anyhow::Result<()> {
    let Team {
        server,
        boss,
        seats,
        ..
    } = team(backend, 2, settings("SEQUENTIAL", 15, 30, 10, 3)).await?;
    let sign_out = async {
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        server
            .ok(Some(&seats[0].token), "mutation { signOut }", json!({}))
            .await
    };
    let (called, signed_out) = tokio::join!(
        call(
            &server,
            caller(5_000, false),
            vec![(UAS_RING, seats[0].port), (UAS_ANSWER, seats[1].port)],
        ),
        sign_out
    );
    called?;
    signed_out?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(record["extension"] == "1002", "{record}");
    let first = seat_events(&server, &seats[0].extension).await?;
    ensure!(
        types(&first)
            == [
                "AgentSignedIn",
                "AgentOffered",
                "AgentOfferWithdrawn",
                "AgentSignedOut"
            ],
        "{first:?}"
    );
    server.stop().await;
    Ok(())
}

async fn a_lost_bye_frees_the_agent_by_the_media_timeout(backend: Backend) -> anyhow::Result<()> {
    // The caller goes silent and never hangs up; the agent's phone plays 7 s and stops.
    let Team {
        server,
        boss,
        seats,
        ..
    } = team_with(backend, 1, settings("LONGEST_IDLE", 5, 20, 10, 3), 3).await?;
    call(&server, caller(0, true), vec![(UAS_ANSWER, seats[0].port)]).await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["cause"] == "media_timeout" && record["extension"] == "1001",
        "{record}"
    );
    let seat = seat_events(&server, &seats[0].extension).await?;
    ensure!(types(&seat).last() == Some(&"AgentCallEnded"), "{seat:?}");
    // The read models follow the log a moment later.
    let mut agent = Value::Null;
    for _ in 0..40 {
        agent = server
            .ok(
                Some(&seats[0].token),
                "{ myAgent { callId offeredCallId } }",
                json!({}),
            )
            .await?;
        if agent["myAgent"]["callId"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ensure!(
        agent["myAgent"]["callId"].is_null() && agent["myAgent"]["offeredCallId"].is_null(),
        "{agent}"
    );
    server.stop().await;
    Ok(())
}

async fn the_supervisor_board_shows_a_call_enter_ring_and_connect(
    backend: Backend,
) -> anyhow::Result<()> {
    let Team {
        server,
        boss,
        queue,
        seats,
    } = team(backend, 1, settings("LONGEST_IDLE", 5, 20, 10, 3)).await?;
    let (mut socket, ack) = tests::ws::connect(&server, &boss).await?;
    ensure!(ack["type"] == "connection_ack", "{ack}");
    let query = format!(
        "subscription {{ queueBoard(queueIds: [\"{queue}\"]) {{ change callId position recordedAt waiting {{ callId caller missedOffers ringing }} agent {{ number callState }} boards {{ name waiting {{ callId caller missedOffers ringing }} agents {{ number signedIn callState workState }} }} }} }}"
    );
    tests::ws::subscribe(&mut socket, "board", &query).await?;
    let snapshot = tests::ws::next_json(&mut socket).await?;
    let board = &snapshot["payload"]["data"]["queueBoard"];
    ensure!(
        board["change"] == "SNAPSHOT"
            && board["boards"][0]["waiting"] == json!([])
            && board["boards"][0]["agents"][0]
                == json!({ "number": "1001", "signedIn": true, "callState": "IDLE", "workState": "WORKING" }),
        "{snapshot}"
    );
    let calling = call(
        &server,
        caller(2_000, false),
        vec![(UAS_ANSWER, seats[0].port)],
    );
    let watching = async {
        let mut seen = Vec::new();
        while !seen.iter().any(|m: &Value| m["change"] == "CALL_CONNECTED") {
            let message = tests::ws::next_json(&mut socket).await?;
            seen.push(message["payload"]["data"]["queueBoard"].clone());
        }
        Ok::<_, anyhow::Error>(seen)
    };
    let (called, seen) = tokio::join!(calling, watching);
    called?;
    let seen = seen?;
    let calls: Vec<&str> = seen
        .iter()
        .filter(|m| m["change"] != "AGENT_CHANGED")
        .filter_map(|m| m["change"].as_str())
        .collect();
    ensure!(
        calls == ["CALL_ENTERED", "CALL_OFFERED", "CALL_CONNECTED"],
        "{calls:?} in {seen:?}"
    );
    let positions: Vec<i64> = seen.iter().filter_map(|m| m["position"].as_i64()).collect();
    ensure!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    let entered = seen.iter().find(|m| m["change"] == "CALL_ENTERED");
    ensure!(
        entered.is_some_and(|m| m["waiting"]["caller"] == "+8613800138000"),
        "{seen:?}"
    );
    let offered = seen.iter().find(|m| m["change"] == "CALL_OFFERED");
    ensure!(
        offered.is_some_and(|m| m["waiting"]["ringing"] == json!(["1001"])),
        "{seen:?}"
    );
    let connected = seen.iter().find(|m| m["change"] == "CALL_CONNECTED");
    ensure!(
        connected.is_some_and(|m| m["waiting"].is_null() && m["agent"]["number"] == "1001"),
        "{seen:?}"
    );
    let agent_rang = seen
        .iter()
        .any(|m| m["change"] == "AGENT_CHANGED" && m["agent"]["callState"] == "RINGING");
    ensure!(agent_rang, "{seen:?}");
    server.stop().await;
    Ok(())
}

/// The call the agent of `token` is on, once it is.
async fn agent_call(server: &TestServer, token: &str) -> anyhow::Result<String> {
    for _ in 0..100 {
        let seat = server
            .ok(Some(token), "{ myAgent { callId } }", json!({}))
            .await?;
        if let Some(call) = seat["myAgent"]["callId"].as_str() {
            return Ok(call.to_owned());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the agent never got a call")
}

async fn an_agent_holds_resumes_and_transfers_to_another_queue(
    backend: Backend,
) -> anyhow::Result<()> {
    let Team {
        server,
        boss,
        queue,
        seats,
    } = team(backend, 2, settings("LONGEST_IDLE", 5, 20, 10, 3)).await?;
    // The first queue has agent 1 only; a second queue has agent 2.
    server
        .ok(
            Some(&boss),
            "mutation($q: ID!, $m: [ID!]!) { setQueueMembers(id: $q, extensionIds: $m) { id } }",
            json!({ "q": queue, "m": [seats[0].extension] }),
        )
        .await?;
    let mut second = settings("LONGEST_IDLE", 5, 20, 10, 3);
    second["name"] = json!("二线");
    let created = server
        .ok(
            Some(&boss),
            "mutation($s: QueueSettingsInput!) { createQueue(settings: $s) { id } }",
            json!({ "s": second }),
        )
        .await?;
    let second = created["createQueue"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    server
        .ok(
            Some(&boss),
            "mutation($q: ID!, $m: [ID!]!) { setQueueMembers(id: $q, extensionIds: $m) { id } }",
            json!({ "q": second, "m": [seats[1].extension] }),
        )
        .await?;
    let acting = async {
        let call = agent_call(&server, &seats[0].token).await?;
        let vars = json!({ "c": call });
        server
            .ok(
                Some(&seats[0].token),
                "mutation($c: ID!) { holdCall(callId: $c) }",
                vars.clone(),
            )
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        server
            .ok(
                Some(&seats[0].token),
                "mutation($c: ID!) { resumeCall(callId: $c) }",
                vars.clone(),
            )
            .await?;
        server
            .ok(
                Some(&seats[0].token),
                "mutation($c: ID!, $q: ID!) { transferCall(callId: $c, target: { kind: QUEUE, targetId: $q }) }",
                json!({ "c": call, "q": second }),
            )
            .await?;
        Ok::<_, anyhow::Error>(call)
    };
    let (called, call) = tokio::join!(
        call(
            &server,
            caller(7_000, false),
            vec![(UAS_ANSWER, seats[0].port), (UAS_ANSWER, seats[1].port)],
        ),
        acting
    );
    called?;
    let call = Uuid::parse_str(&call?)?;
    latest_call_record(&server, &boss, "INBOUND", 1).await?;
    let events = events(&server, call).await?;
    let kinds = types(&events);
    let held = kinds.iter().position(|k| *k == "LegHeld");
    let resumed = kinds.iter().position(|k| *k == "LegResumed");
    let transferred = kinds.iter().position(|k| *k == "CallTransferred");
    ensure!(
        held < resumed && resumed < transferred && held.is_some(),
        "{kinds:?}"
    );
    let entered: Vec<&Value> = events
        .iter()
        .filter(|(t, _)| t == "QueueEntered")
        .map(|(_, p)| &p["queue_id"])
        .collect();
    ensure!(entered == [&json!(queue), &json!(second)], "{events:?}");
    let second_seat = seat_events(&server, &seats[1].extension).await?;
    ensure!(
        types(&second_seat)
            == [
                "AgentSignedIn",
                "AgentOffered",
                "AgentAnswered",
                "AgentCallEnded"
            ],
        "{second_seat:?}"
    );
    let first_seat = seat_events(&server, &seats[0].extension).await?;
    ensure!(
        types(&first_seat).last() == Some(&"AgentCallEnded"),
        "{first_seat:?}"
    );
    server.stop().await;
    Ok(())
}

async fn a_supervisor_forces_a_call_down(backend: Backend) -> anyhow::Result<()> {
    let Team {
        server,
        boss,
        seats,
        ..
    } = team(backend, 1, settings("LONGEST_IDLE", 5, 20, 10, 3)).await?;
    let forcing = async {
        let call = agent_call(&server, &seats[0].token).await?;
        // An agent may not force another's call; the supervisor may.
        let refused = server
            .gql(
                Some(&seats[0].token),
                "mutation($c: ID!) { forceHangUp(callId: $c) }",
                json!({ "c": call }),
            )
            .await?;
        ensure!(tests::error_code(&refused) == "FORBIDDEN", "{refused}");
        server
            .ok(
                Some(&boss),
                "mutation($c: ID!) { forceHangUp(callId: $c) }",
                json!({ "c": call }),
            )
            .await?;
        Ok::<_, anyhow::Error>(())
    };
    let (called, forced) = tokio::join!(
        call(&server, caller(0, true), vec![(UAS_ANSWER, seats[0].port)]),
        forcing
    );
    called?;
    forced?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["hangupSide"] == "system" && record["status"] == "answered",
        "{record}"
    );
    server.stop().await;
    Ok(())
}

/// Makes 1001 the queue's only member and the `N` agents after it supervisors too; their
/// tokens, logged in again with the new permissions, in seat order.
async fn supervisors<const N: usize>(
    server: &TestServer,
    boss: &str,
    queue: &str,
    seats: &[Seat],
) -> anyhow::Result<[String; N]> {
    server
        .ok(
            Some(boss),
            "mutation($q: ID!, $m: [ID!]!) { setQueueMembers(id: $q, extensionIds: $m) { id } }",
            json!({ "q": queue, "m": [seats[0].extension] }),
        )
        .await?;
    let mut tokens = Vec::new();
    for (n, seat) in seats.iter().enumerate().skip(1).take(N) {
        promote(server, boss, seat).await?;
        let account = format!("agent{}", n + 1);
        tokens.push(server.login("acme", &account, "agent-password").await?);
    }
    tokens
        .try_into()
        .map_err(|_| anyhow::anyhow!("the team has fewer than {} agents", N + 1))
}

/// Makes the agent of `seat` a supervisor too (it keeps its workstation).
async fn promote(server: &TestServer, boss: &str, seat: &Seat) -> anyhow::Result<()> {
    server
        .ok(
            Some(boss),
            "mutation($a: ID!) { setSubAccountPermissions(id: $a, followRole: false, permissions: [\"agent.workstation\", \"supervisor.monitor\", \"supervisor.intervene\"]) { id } }",
            json!({ "a": seat.account }),
        )
        .await?;
    Ok(())
}

async fn a_supervisor_answers_a_waiting_caller(backend: Backend) -> anyhow::Result<()> {
    let Team {
        server,
        boss,
        queue,
        seats,
    } = team(backend, 2, settings("LONGEST_IDLE", 5, 20, 10, 3)).await?;
    // The queue's only member is on break; the supervisor (on 1002) answers the caller.
    let [supervisor] = supervisors(&server, &boss, &queue, &seats).await?;
    server
        .ok(
            Some(&seats[0].token),
            "mutation { setWorkState(state: BREAK) { workState } }",
            json!({}),
        )
        .await?;
    let answering = async {
        let mut waiting = None;
        for _ in 0..100 {
            let board = server
                .ok(
                    Some(&supervisor),
                    "query($q: [ID!]!) { queueBoard(queueIds: $q) { waiting { callId } } }",
                    json!({ "q": [queue] }),
                )
                .await?;
            if let Some(call) = board["queueBoard"][0]["waiting"][0]["callId"].as_str() {
                waiting = Some(call.to_owned());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let call = waiting.context("nobody waited")?;
        server
            .ok(
                Some(&supervisor),
                "mutation($c: ID!) { answerWaitingCall(callId: $c) }",
                json!({ "c": call }),
            )
            .await?;
        Ok::<_, anyhow::Error>(call)
    };
    let (called, call) = tokio::join!(
        call(
            &server,
            caller(4_000, false),
            vec![(UAS_ANSWER, seats[1].port)]
        ),
        answering
    );
    called?;
    let call = Uuid::parse_str(&call?)?;
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["extension"] == "1002" && record["status"] == "answered",
        "{record}"
    );
    let events = events(&server, call).await?;
    ensure!(
        events
            .iter()
            .any(|(t, p)| t == "SupervisorActed" && p["action"] == "answer_waiting"),
        "{events:?}"
    );
    ensure!(
        events.iter().any(|(t, p)| t == "QueueLeft"
            && p["outcome"] == "answered"
            && p["agent"] == seats[1].extension.as_str()),
        "{events:?}"
    );
    server.stop().await;
    Ok(())
}

async fn a_supervisor_takes_over_from_the_agent(backend: Backend) -> anyhow::Result<()> {
    let Team {
        server,
        boss,
        queue,
        seats,
    } = team(backend, 2, settings("LONGEST_IDLE", 5, 20, 10, 3)).await?;
    let [supervisor] = supervisors(&server, &boss, &queue, &seats).await?;
    let taking = async {
        let call = agent_call(&server, &seats[0].token).await?;
        server
            .ok(
                Some(&supervisor),
                "mutation($c: ID!) { takeOver(callId: $c) }",
                json!({ "c": call }),
            )
            .await?;
        Ok::<_, anyhow::Error>(call)
    };
    let (called, call) = tokio::join!(
        call(
            &server,
            caller(5_000, false),
            vec![(UAS_ANSWER, seats[0].port), (UAS_ANSWER, seats[1].port)],
        ),
        taking
    );
    called?;
    let call = Uuid::parse_str(&call?)?;
    latest_call_record(&server, &boss, "INBOUND", 1).await?;
    let events = events(&server, call).await?;
    let kinds = types(&events);
    let acted = kinds.iter().position(|k| *k == "SupervisorActed");
    let transferred = kinds.iter().position(|k| *k == "CallTransferred");
    ensure!(acted.is_some() && acted < transferred, "{kinds:?}");
    let bridges = events.iter().filter(|(t, _)| t == "LegsBridged").count();
    ensure!(bridges == 2, "{kinds:?}");
    // The supervisor's seat took the call and is freed when it ends.
    let own_seat = seat_events(&server, &seats[1].extension).await?;
    ensure!(
        types(&own_seat).ends_with(&["AgentJoinedCall", "AgentCallEnded"]),
        "{:?}",
        types(&own_seat)
    );
    server.stop().await;
    Ok(())
}

/// A phone whose SIPp answers with SDP pointing at the test's media endpoint on `port`.
fn answering_to(port: u16) -> String {
    let start = UAS_ANSWER.find("<nop>").unwrap_or(0);
    let end = UAS_ANSWER
        .find("</nop>")
        .map_or(start, |e| e + "</nop>".len());
    format!("{}{}", &UAS_ANSWER[..start], &UAS_ANSWER[end..])
        .replace("[media_ip]", "127.0.0.1")
        .replace("[media_port]", &port.to_string())
}

/// The tone levels (customer, agent, supervisor) each endpoint heard over `for_ms`.
async fn listen_to(peers: [&MediaPeer; 3], tones: [f64; 3], for_ms: u64) -> [[f64; 3]; 3] {
    tokio::time::sleep(Duration::from_millis(300)).await; // the mix settles
    for peer in peers {
        peer.clear();
    }
    tokio::time::sleep(Duration::from_millis(for_ms)).await;
    peers.map(|peer| tones.map(|hz| peer.level_of(hz)))
}

async fn a_supervisor_listens_whispers_and_barges_in(backend: Backend) -> anyhow::Result<()> {
    const CUSTOMER: usize = 0;
    const AGENT: usize = 1;
    const SUPERVISOR: usize = 2;
    let Team {
        server,
        boss,
        queue,
        seats,
    } = team(backend, 2, settings("LONGEST_IDLE", 5, 20, 10, 3)).await?;
    let [supervisor] = supervisors(&server, &boss, &queue, &seats).await?;
    // Each party speaks a tone of its own: 500 Hz the customer, 1,100 the agent, 2,300 the
    // supervisor.
    let tones = [500.0, 1_100.0, 2_300.0];
    let customer = MediaPeer::start(CARRIER_IP, tones[CUSTOMER]).await?;
    let agent = MediaPeer::start("127.0.0.1", tones[AGENT]).await?;
    let boss_phone = MediaPeer::start("127.0.0.1", tones[SUPERVISOR]).await?;
    let peers = [&customer, &agent, &boss_phone];
    let caller_scenario = caller(10_000, false)
        .replace("[media_ip]", CARRIER_IP)
        .replace("[media_port]", &customer.port.to_string());
    let agent_scenario: &'static str = Box::leak(answering_to(agent.port).into_boxed_str());
    let boss_scenario: &'static str = Box::leak(answering_to(boss_phone.port).into_boxed_str());
    let monitor = |mode: &'static str, call: String| {
        let server = &server;
        let supervisor = supervisor.clone();
        async move {
            server
                .ok(
                    Some(&supervisor),
                    "mutation($c: ID!, $m: SupervisionMode!) { monitorCall(callId: $c, mode: $m) }",
                    json!({ "c": call, "m": mode }),
                )
                .await
        }
    };
    let script = async {
        let call = agent_call(&server, &seats[0].token).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        monitor("LISTEN", call.clone()).await?;
        for _ in 0..60 {
            if !boss_phone.heard().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let listening = listen_to(peers, tones, 1_500).await;
        // The supervisor's own seat is on the call meanwhile: no queue offers it another.
        let own = server
            .ok(Some(&supervisor), "{ myAgent { callId } }", json!({}))
            .await?;
        ensure!(own["myAgent"]["callId"] == call.as_str(), "{own}");
        monitor("WHISPER", call.clone()).await?;
        let whispering = listen_to(peers, tones, 1_500).await;
        monitor("BARGE", call.clone()).await?;
        let barging = listen_to(peers, tones, 1_500).await;
        server
            .ok(
                Some(&supervisor),
                "mutation($c: ID!) { stopMonitoring(callId: $c) }",
                json!({ "c": call }),
            )
            .await?;
        Ok::<_, anyhow::Error>((call, listening, whispering, barging))
    };
    let (called, script) = tokio::join!(
        call(
            &server,
            caller_scenario,
            vec![
                (agent_scenario, seats[0].port),
                (boss_scenario, seats[1].port)
            ],
        ),
        script
    );
    called?;
    let (call, listening, whispering, barging) = script?;
    let heard = |levels: [[f64; 3]; 3], who: usize, whom: usize| levels[who][whom] > 1_500.0;
    let silent = |levels: [[f64; 3]; 3], who: usize, whom: usize| levels[who][whom] < 600.0;
    // Listening: the supervisor hears both sides, and neither side hears the supervisor.
    ensure!(
        heard(listening, SUPERVISOR, CUSTOMER) && heard(listening, SUPERVISOR, AGENT),
        "listening {listening:?}"
    );
    ensure!(
        heard(listening, CUSTOMER, AGENT) && heard(listening, AGENT, CUSTOMER),
        "the call goes on: {listening:?}"
    );
    ensure!(
        silent(listening, CUSTOMER, SUPERVISOR) && silent(listening, AGENT, SUPERVISOR),
        "listening {listening:?}"
    );
    // Whispering: the agent hears the supervisor and the customer; the customer does not
    // hear the supervisor.
    ensure!(
        heard(whispering, AGENT, SUPERVISOR) && heard(whispering, AGENT, CUSTOMER),
        "whispering {whispering:?}"
    );
    ensure!(
        silent(whispering, CUSTOMER, SUPERVISOR) && heard(whispering, CUSTOMER, AGENT),
        "whispering {whispering:?}"
    );
    ensure!(
        heard(whispering, SUPERVISOR, CUSTOMER) && heard(whispering, SUPERVISOR, AGENT),
        "whispering {whispering:?}"
    );
    // Barging in: everyone hears everyone.
    ensure!(
        heard(barging, CUSTOMER, SUPERVISOR) && heard(barging, CUSTOMER, AGENT),
        "barging {barging:?}"
    );
    ensure!(
        heard(barging, AGENT, SUPERVISOR) && heard(barging, AGENT, CUSTOMER),
        "barging {barging:?}"
    );
    let events = events(&server, Uuid::parse_str(&call)?).await?;
    let acted: Vec<&str> = events
        .iter()
        .filter(|(t, _)| t == "SupervisorActed")
        .filter_map(|(_, p)| p["action"].as_str())
        .collect();
    ensure!(
        acted == ["listen", "whisper", "barge", "stop_monitoring"],
        "{acted:?}"
    );
    let own_seat = seat_events(&server, &seats[1].extension).await?;
    ensure!(
        types(&own_seat).ends_with(&["AgentJoinedCall", "AgentCallEnded"]),
        "{:?}",
        types(&own_seat)
    );
    ensure!(
        events
            .iter()
            .filter(|(t, _)| t == "SupervisorActed")
            .all(|(_, p)| p["supervisor"] == seats[1].account),
        "{events:?}"
    );
    let record = latest_call_record(&server, &boss, "INBOUND", 1).await?;
    ensure!(
        record["extension"] == "1001" && record["status"] == "answered",
        "{record}"
    );
    server.stop().await;
    Ok(())
}

async fn an_agent_wraps_up_before_the_next_offer(backend: Backend) -> anyhow::Result<()> {
    let mut queue_settings = settings("LONGEST_IDLE", 5, 30, 10, 3);
    queue_settings["wrapUpSeconds"] = json!(2);
    let Team { server, seats, .. } = team(backend, 1, queue_settings).await?;
    // Two callers for one agent: the second is offered only once the wrap-up is over.
    calls_at_once(
        &server,
        vec![caller(2_000, false), caller(7_000, false)],
        vec![(UAS_ANSWER, seats[0].port)],
        2,
    )
    .await?;
    let seat = seat_events(&server, &seats[0].extension).await?;
    let time = |p: &Value| {
        p["at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    let ended = seat
        .iter()
        .find(|(t, _)| t == "AgentCallEnded")
        .context("no call ended")?;
    let until = ended.1["wrap_up_until"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .context("no wrap-up recorded")?;
    let wrap_up = until - time(&ended.1).context("no time")?;
    ensure!(wrap_up == chrono::Duration::seconds(2), "{seat:?}");
    let offers: Vec<_> = seat
        .iter()
        .filter(|(t, _)| t == "AgentOffered")
        .filter_map(|(_, p)| time(p))
        .collect();
    ensure!(offers.len() == 2, "{seat:?}");
    ensure!(offers[1] >= until, "offered during the wrap-up: {seat:?}");
    ensure!(
        seat.iter().filter(|(t, _)| t == "AgentAnswered").count() == 2,
        "{seat:?}"
    );
    server.stop().await;
    Ok(())
}

async fn the_caller_hears_the_agents_number_before_the_agent(
    backend: Backend,
) -> anyhow::Result<()> {
    let mut queue_settings = settings("LONGEST_IDLE", 5, 30, 10, 3);
    queue_settings["announceAgentNumber"] = json!(true);
    let Team { server, seats, .. } = team(backend, 1, queue_settings).await?;
    let customer = MediaPeer::start(CARRIER_IP, 500.0).await?;
    let agent = MediaPeer::start("127.0.0.1", 1_100.0).await?;
    let caller_scenario = caller(8_000, false)
        .replace("[media_ip]", CARRIER_IP)
        .replace("[media_port]", &customer.port.to_string());
    let agent_scenario: &'static str = Box::leak(answering_to(agent.port).into_boxed_str());
    let listening = async {
        let call = agent_call(&server, &seats[0].token).await?;
        customer.clear();
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let announcing = customer.heard();
        // "工号 1 0 0 1 为您服务" takes about three seconds to say.
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        customer.clear();
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        Ok::<_, anyhow::Error>((call, announcing, customer.heard()))
    };
    let (called, listened) = tokio::join!(
        call(
            &server,
            caller_scenario,
            vec![(agent_scenario, seats[0].port)]
        ),
        listening
    );
    called?;
    let (call, announcing, talking) = listened?;
    let loudness = |samples: &[i16]| {
        let energy: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum();
        (energy / samples.len().max(1) as f64).sqrt()
    };
    let agent_tone = tests::media::tone_level(&announcing, 1_100.0);
    ensure!(
        loudness(&announcing) > 300.0 && agent_tone < 600.0,
        "the announcement, not the agent: rms {}, agent tone {agent_tone}",
        loudness(&announcing)
    );
    let agent_tone = tests::media::tone_level(&talking, 1_100.0);
    ensure!(agent_tone > 1_500.0, "then the agent: {agent_tone}");
    let events = events(&server, Uuid::parse_str(&call)?).await?;
    ensure!(
        events
            .iter()
            .any(|(t, p)| t == "AgentAnnounced" && p["number"] == "1001"),
        "{:?}",
        types(&events)
    );
    ensure!(
        !events.iter().any(|(t, _)| t == "PromptFailed"),
        "{events:?}"
    );
    server.stop().await;
    Ok(())
}

async fn click_to_dial_rings_the_agent_then_the_customer(backend: Backend) -> anyhow::Result<()> {
    let Team {
        server,
        boss,
        seats,
        ..
    } = team(backend, 1, settings("LONGEST_IDLE", 5, 20, 10, 3)).await?;
    let agent = &seats[0];
    // Without manual outbound the extension may not dial out: refused, nothing rings.
    let refused = server
        .gql(
            Some(&agent.token),
            "mutation { dialOut(number: \"13800138000\") }",
            json!({}),
        )
        .await?;
    ensure!(tests::error_code(&refused) == "FORBIDDEN", "{refused}");
    let operator = server.operator().await?;
    let carrier_port = free_udp_port(CARRIER_IP)?;
    let trunk = server
        .ok(
            Some(&operator),
            "mutation($h: String!, $p: Int!) { createTrunk(input: { name: \"outbound\", host: $h, port: $p }) { id } }",
            json!({ "h": CARRIER_IP, "p": carrier_port }),
        )
        .await?;
    server
        .ok(
            Some(&operator),
            "mutation($e: ID!, $t: ID!) { assignNumber(number: \"02161230000\", input: { enterpriseId: $e, trunkId: $t, callerId: true }) { id } }",
            json!({ "e": domain::ids::enterprise_id("acme").to_string(), "t": trunk["createTrunk"]["id"] }),
        )
        .await?;
    server
        .ok(
            Some(&boss),
            "mutation($x: ID!, $a: ID!) { updateExtension(id: $x, input: { manualOutbound: true, callerId: \"02161230000\", signInAccounts: [$a] }) { id } }",
            json!({ "x": agent.extension, "a": agent.account }),
        )
        .await?;
    // The customer (the carrier's SIPp) checks the number and the caller ID, answers and
    // hangs up after half a second.
    let customer = include_str!("../sipp/uas_hangup.xml").replace(
        "<ereg regexp=\".*\" search_in=\"hdr\" header=\"From:\" assign_to=\"caller\"/>",
        "<ereg regexp=\".*\" search_in=\"hdr\" header=\"From:\" assign_to=\"caller\"/>\
         <ereg regexp=\"^INVITE sip:013800138000@\" search_in=\"msg\" check_it=\"true\" assign_to=\"uri\"/>\
         <ereg regexp=\"sip:02161230000@\" search_in=\"hdr\" header=\"From:\" check_it=\"true\" assign_to=\"shown\"/>\
         <log message=\"[$uri] [$shown]\"/>",
    );
    let carrier = tokio::task::spawn_blocking(move || {
        run_sipp(
            &customer,
            &[
                "-i",
                CARRIER_IP,
                "-p",
                &carrier_port.to_string(),
                "-t",
                "u1",
                "-m",
                "1",
                "-timeout",
                "30",
            ],
        )
    });
    let phone_port = agent.port.to_string();
    let phone = tokio::task::spawn_blocking(move || {
        run_sipp(
            UAS_ANSWER,
            &["-p", &phone_port, "-t", "u1", "-m", "1", "-timeout", "30"],
        )
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let dialled = server
        .ok(
            Some(&agent.token),
            "mutation { dialOut(number: \"13800138000\") }",
            json!({}),
        )
        .await?;
    let call = Uuid::parse_str(dialled["dialOut"].as_str().unwrap_or_default())?;
    phone.await?.context("the agent's phone")?;
    carrier.await?.context("the customer")?;
    let record = latest_call_record(&server, &boss, "OUTBOUND", 1).await?;
    ensure!(
        record["status"] == "answered"
            && record["caller"] == "1001"
            && record["called"] == "+8613800138000",
        "{record}"
    );
    let events = events(&server, call).await?;
    let kinds = types(&events);
    let agent_answered = events
        .iter()
        .position(|(t, p)| t == "LegAnswered" && p["leg"] == "a");
    let customer_offered = events
        .iter()
        .position(|(t, p)| t == "LegOffered" && p["leg"] == "b" && p["caller_id"] == "02161230000");
    ensure!(
        agent_answered.is_some() && agent_answered < customer_offered,
        "the agent first: {kinds:?}"
    );
    ensure!(kinds.contains(&"LegsBridged"), "{kinds:?}");
    ensure!(
        events
            .iter()
            .any(|(t, p)| t == "LegHungUp" && p["leg"] == "b" && p["side"] == "callee"),
        "the customer hung up: {events:?}"
    );
    // The seat was on the call while it lasted, and is free again.
    let seat = seat_events(&server, &agent.extension).await?;
    let seat_kinds = types(&seat);
    ensure!(
        seat_kinds.ends_with(&["AgentDialledOut", "AgentCallEnded"]),
        "{seat_kinds:?}"
    );
    server.stop().await;
    Ok(())
}

async fn random_rings_only_members_that_may_take_calls(backend: Backend) -> anyhow::Result<()> {
    // Random among those free: the member on break never rings.
    let team = team(backend, 3, settings("RANDOM", 5, 20, 10, 3)).await?;
    team.server
        .ok(
            Some(&team.seats[0].token),
            "mutation { setWorkState(state: BREAK) { workState } }",
            json!({}),
        )
        .await?;
    let mut answered = Vec::new();
    let target = team.server.sip_addr.to_string();
    for n in 0..4 {
        // Only the member chosen gets the call: the other phone's SIPp gives up after 5 s.
        let phones: Vec<_> = [team.seats[1].port, team.seats[2].port]
            .into_iter()
            .map(|port| {
                tokio::task::spawn_blocking(move || {
                    run_sipp(
                        UAS_ANSWER,
                        &[
                            "-p",
                            &port.to_string(),
                            "-t",
                            "u1",
                            "-timeout",
                            "5",
                            "-m",
                            "1",
                        ],
                    )
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (scenario, target, port) = (
            caller(1_000, false),
            target.clone(),
            free_udp_port("127.0.0.1")?,
        );
        tokio::task::spawn_blocking(move || {
            run_sipp(
                &scenario,
                &[
                    "-i",
                    CARRIER_IP,
                    "-p",
                    &port.to_string(),
                    "-t",
                    "u1",
                    "-timeout",
                    "20",
                    &target,
                ],
            )
        })
        .await?
        .context("the caller")?;
        for phone in phones {
            let _ = phone.await?;
        }
        let record = latest_call_record(&team.server, &team.boss, "INBOUND", n + 1).await?;
        ensure!(record["status"] == "answered", "{record}");
        answered.push(record["extension"].as_str().unwrap_or_default().to_owned());
    }
    ensure!(
        answered.iter().all(|e| e == "1002" || e == "1003"),
        "{answered:?}"
    );
    let on_break = seat_events(&team.server, &team.seats[0].extension).await?;
    ensure!(
        !on_break.iter().any(|(t, _)| t == "AgentOffered"),
        "{on_break:?}"
    );
    team.server.stop().await;
    Ok(())
}

async fn a_held_customer_hears_music_and_not_the_agent(backend: Backend) -> anyhow::Result<()> {
    let Team { server, seats, .. } =
        team(backend, 1, settings("LONGEST_IDLE", 5, 20, 10, 3)).await?;
    let customer = MediaPeer::start(CARRIER_IP, 500.0).await?;
    let agent = MediaPeer::start("127.0.0.1", 1_100.0).await?;
    let caller_scenario = caller(9_000, false)
        .replace("[media_ip]", CARRIER_IP)
        .replace("[media_port]", &customer.port.to_string());
    let agent_scenario: &'static str = Box::leak(answering_to(agent.port).into_boxed_str());
    // The built-in music is a chime of C5 (523.25 Hz) then E5 every two seconds.
    let (music, customer_tone, agent_tone) = (523.25, 500.0, 1_100.0);
    let script = async {
        let call = agent_call(&server, &seats[0].token).await?;
        let control = |mutation: &'static str| {
            let (server, token, call) = (&server, seats[0].token.clone(), call.clone());
            async move {
                server
                    .ok(Some(&token), mutation, json!({ "c": call }))
                    .await
            }
        };
        let window = |peer: &MediaPeer| {
            peer.clear();
        };
        tokio::time::sleep(Duration::from_millis(800)).await;
        window(&customer);
        window(&agent);
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let talking = (customer.heard(), agent.heard());
        control("mutation($c: ID!) { holdCall(callId: $c) }").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        window(&customer);
        window(&agent);
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        let held = (customer.heard(), agent.heard());
        control("mutation($c: ID!) { resumeCall(callId: $c) }").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        window(&customer);
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let resumed = customer.heard();
        Ok::<_, anyhow::Error>((talking, held, resumed))
    };
    let (called, script) = tokio::join!(
        call(
            &server,
            caller_scenario,
            vec![(agent_scenario, seats[0].port)]
        ),
        script
    );
    called?;
    let ((talk_customer, talk_agent), (held_customer, held_agent), resumed) = script?;
    let level = tests::media::tone_level;
    ensure!(
        level(&talk_customer, agent_tone) > 1_500.0 && level(&talk_agent, customer_tone) > 1_500.0,
        "talking: {} {}",
        level(&talk_customer, agent_tone),
        level(&talk_agent, customer_tone)
    );
    ensure!(
        level(&held_customer, music) > 150.0 && level(&held_customer, agent_tone) < 600.0,
        "held, the customer hears music only: music {}, agent {}",
        level(&held_customer, music),
        level(&held_customer, agent_tone)
    );
    ensure!(
        level(&held_agent, customer_tone) < 600.0,
        "held, the agent does not hear the customer: {}",
        level(&held_agent, customer_tone)
    );
    ensure!(
        level(&resumed, agent_tone) > 1_500.0 && level(&resumed, music) < 150.0,
        "resumed: agent {}, music {}",
        level(&resumed, agent_tone),
        level(&resumed, music)
    );
    server.stop().await;
    Ok(())
}

/// What the call's state does not allow is refused with the reason and records nothing:
/// resume without hold, hold twice, leaving a call one is not on, and a second supervisor
/// joining a call another supervisor listens to.
async fn controls_the_call_does_not_allow_are_refused_with_the_reason(
    backend: Backend,
) -> anyhow::Result<()> {
    let Team {
        server,
        boss,
        queue,
        seats,
    } = team(backend, 3, settings("LONGEST_IDLE", 5, 20, 10, 3)).await?;
    let [first, second] = supervisors(&server, &boss, &queue, &seats).await?;
    let agent = seats[0].token.clone();
    let refusal = |token: String, mutation: &'static str, call: String| {
        let server = &server;
        async move {
            let answer = server
                .gql(Some(&token), mutation, json!({ "c": call }))
                .await?;
            ensure!(
                tests::error_code(&answer) == "CONFLICT",
                "{mutation}: {answer}"
            );
            Ok::<_, anyhow::Error>(
                answer["errors"][0]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    };
    const LISTEN: &str = "mutation($c: ID!) { monitorCall(callId: $c, mode: LISTEN) }";
    const STOP: &str = "mutation($c: ID!) { stopMonitoring(callId: $c) }";
    const HOLD: &str = "mutation($c: ID!) { holdCall(callId: $c) }";
    const RESUME: &str = "mutation($c: ID!) { resumeCall(callId: $c) }";
    let script = async {
        let call = agent_call(&server, &agent).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let c = || json!({ "c": call });
        let not_held = refusal(agent.clone(), RESUME, call.clone()).await?;
        let not_on = refusal(first.clone(), STOP, call.clone()).await?;
        server.ok(Some(&first), LISTEN, c()).await?;
        let taken = refusal(second.clone(), LISTEN, call.clone()).await?;
        server.ok(Some(&agent), HOLD, c()).await?;
        let held_twice = refusal(agent.clone(), HOLD, call.clone()).await?;
        server.ok(Some(&agent), RESUME, c()).await?;
        server.ok(Some(&first), STOP, c()).await?;
        Ok::<_, anyhow::Error>((call, [not_held, not_on, taken, held_twice]))
    };
    let (called, script) = tokio::join!(
        call(
            &server,
            caller(6_000, false),
            vec![(UAS_ANSWER, seats[0].port), (UAS_ANSWER, seats[1].port)],
        ),
        script
    );
    called?;
    let (call, messages) = script?;
    ensure!(
        messages
            == [
                "the customer is not on hold",
                "you are not on this call",
                "another supervisor is on this call",
                "the customer is on hold already",
            ],
        "{messages:?}"
    );
    let events = events(&server, Uuid::parse_str(&call)?).await?;
    let kinds = types(&events);
    // Only what was carried out is in the log: one hold, one resume, the first supervisor
    // joining and leaving.
    ensure!(
        kinds.iter().filter(|k| **k == "LegHeld").count() == 1
            && kinds.iter().filter(|k| **k == "LegResumed").count() == 1,
        "{kinds:?}"
    );
    let acted: Vec<&str> = events
        .iter()
        .filter(|(t, _)| t == "SupervisorActed")
        .map(|(_, e)| e["action"].as_str().unwrap_or_default())
        .collect();
    ensure!(acted == ["listen", "stop_monitoring"], "{acted:?}");
    server.stop().await;
    Ok(())
}

/// A queue with web-client auto-answer asks a web-client agent's phone to pick up by itself
/// (`Call-Info: <…>;answer-after=0` in the INVITE); an agent on a SIP phone is rung as usual.
async fn a_web_client_agent_of_an_auto_answer_queue_is_asked_to_pick_up(
    backend: Backend,
) -> anyhow::Result<()> {
    let mut auto = settings("LONGEST_IDLE", 5, 20, 10, 3);
    auto["webAutoAnswer"] = json!(true);
    let Team {
        server,
        boss,
        seats,
        ..
    } = team(backend, 1, auto).await?;
    let invite = r#"<recv request="INVITE" crlf="true"/>"#;
    ensure!(
        UAS_ANSWER.contains(invite),
        "the phone scenario starts with its INVITE"
    );
    let checking = |check: &str| -> &'static str {
        let checked = format!(
            r#"<recv request="INVITE" crlf="true"><action><ereg regexp="answer-after=0" search_in="hdr" header="Call-Info:" {check}="true" assign_to="asked"/></action></recv><Reference variables="asked"/>"#
        );
        Box::leak(UAS_ANSWER.replace(invite, &checked).into_boxed_str())
    };
    // On a SIP phone: no auto-answer asked (SIPp fails the call if the header is there).
    call(
        &server,
        caller(500, false),
        vec![(checking("check_it_inverse"), seats[0].port)],
    )
    .await?;
    seat_events(&server, &seats[0].extension).await?;
    let signed = server
        .ok(
            Some(&seats[0].token),
            "mutation($x: ID!) { signIn(extensionId: $x, endpoint: WEB_CLIENT) { endpoint } }",
            json!({ "x": seats[0].extension }),
        )
        .await?;
    ensure!(signed["signIn"]["endpoint"] == "WEB_CLIENT", "{signed}");
    // On the web client: asked (SIPp fails the call if the header is missing).
    call(
        &server,
        caller(500, false),
        vec![(checking("check_it"), seats[0].port)],
    )
    .await?;
    let record = latest_call_record(&server, &boss, "INBOUND", 2).await?;
    ensure!(record["status"] == "answered", "{record}");
    server.stop().await;
    Ok(())
}

on_both_backends!(
    a_web_client_agent_of_an_auto_answer_queue_is_asked_to_pick_up,
    controls_the_call_does_not_allow_are_refused_with_the_reason,
    a_held_customer_hears_music_and_not_the_agent,
    random_rings_only_members_that_may_take_calls,
    click_to_dial_rings_the_agent_then_the_customer,
    the_caller_hears_the_agents_number_before_the_agent,
    an_agent_wraps_up_before_the_next_offer,
    a_supervisor_listens_whispers_and_barges_in,
    a_supervisor_answers_a_waiting_caller,
    a_supervisor_takes_over_from_the_agent,
    an_agent_holds_resumes_and_transfers_to_another_queue,
    a_supervisor_forces_a_call_down,
    the_supervisor_board_shows_a_call_enter_ring_and_connect,
    two_callers_for_one_agent_are_offered_one_at_a_time,
    two_offers_decided_at_once_on_one_seat_one_wins,
    an_agent_signing_out_while_offered_passes_the_call_on,
    a_lost_bye_frees_the_agent_by_the_media_timeout,
    round_robin_takes_members_in_turn,
    fewest_calls_and_least_talk_time_balance_the_agents,
    the_longest_idle_agent_takes_the_call,
    an_agent_not_answering_passes_the_call_on,
    nobody_free_until_the_queue_timeout,
    a_caller_giving_up_abandons_the_queue,
    a_full_queue_refuses_the_caller_busy,
    ring_all_rings_everyone_and_the_first_answer_wins
);
