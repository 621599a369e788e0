//! The statistics reports are sums of the log: queue callers answered in and out of the
//! service level, abandoned, refused full, with their waits and handle times; an agent's
//! signed-in time per work state, calls and talk time; by hour and by the enterprise's day.

use anyhow::ensure;
use chrono::{DateTime, Duration, Utc};
use domain::agent::{Agent, AgentCommand, Endpoint, WorkState};
use domain::call::{Call, CallCommand, Cause, Direction, Party, QueueOutcome, RouteCheck, Side};
use eventlog::Metadata;
use serde_json::json;
use tests::{on_both_backends, Backend, TestServer};
use uuid::Uuid;

fn at(hms: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-30T{hms}Z"))
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

struct Ids {
    enterprise: Uuid,
    queue: Uuid,
    extension: Uuid,
}

async fn call(server: &TestServer, ids: &Ids, commands: Vec<CallCommand>) -> anyhow::Result<()> {
    let call = Uuid::new_v4();
    for command in commands {
        server
            .node
            .execute::<Call>(call, command, Metadata::new(Some(ids.enterprise), None))
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code(), e.message()))?;
    }
    Ok(())
}

fn offered(ids: &Ids, when: DateTime<Utc>) -> Vec<CallCommand> {
    vec![
        CallCommand::Offer {
            enterprise_id: ids.enterprise,
            direction: Direction::Inbound,
            caller: Party::External {
                number: "+8613800138000".into(),
            },
            called: "+862161234567".into(),
            route: Some(RouteCheck {
                route_id: Uuid::from_u128(7),
                enabled: true,
                active_calls: 0,
                max_concurrent: 10,
            }),
            outbound_allowed: false,
            forwarded_out: false,
            at: when,
        },
        CallCommand::Answer {
            leg: "a".into(),
            at: when,
        },
    ]
}

fn enter(ids: &Ids, waiting: u32, when: DateTime<Utc>) -> CallCommand {
    CallCommand::EnterQueue {
        queue_id: ids.queue,
        caller: "+8613800138000".into(),
        waiting,
        max_waiting: 5,
        at: when,
    }
}

/// A caller answered after `wait` seconds who talks `talk` seconds.
fn answered(ids: &Ids, from: DateTime<Utc>, wait: i64, talk: i64) -> Vec<CallCommand> {
    let connected = from + Duration::seconds(wait);
    let ended = connected + Duration::seconds(talk);
    let mut commands = offered(ids, from);
    commands.extend([
        enter(ids, 0, from),
        CallCommand::LeaveQueue {
            outcome: QueueOutcome::Answered,
            agent: Some(ids.extension),
            at: connected,
        },
        CallCommand::Hangup {
            leg: "a".into(),
            side: Side::Caller,
            cause: Cause::Normal,
            at: ended,
        },
    ]);
    commands
}

async fn seat(server: &TestServer, ids: &Ids, command: AgentCommand) -> anyhow::Result<()> {
    server
        .node
        .execute::<Agent>(
            domain::ids::agent_id(ids.extension),
            command,
            Metadata::new(Some(ids.enterprise), None),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code(), e.message()))?;
    Ok(())
}

async fn reports_sum_the_log_by_hour_and_day(backend: Backend) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let operator = server.operator().await?;
    let created = server
        .ok(
            Some(&operator),
            "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }",
            json!({}),
        )
        .await?;
    let enterprise = Uuid::parse_str(
        created["createEnterprise"]["id"]
            .as_str()
            .unwrap_or_default(),
    )?;
    let boss = server.login("acme", "boss", "boss-password").await?;
    let ids = Ids {
        enterprise,
        queue: Uuid::new_v4(),
        extension: Uuid::new_v4(),
    };
    // 09:00–10:00 UTC: answered after 15 s (talk 60 s); abandoned after 40 s; refused full.
    call(&server, &ids, answered(&ids, at("09:10:00"), 15, 60)).await?;
    let mut abandoned = offered(&ids, at("09:20:00"));
    abandoned.extend([
        enter(&ids, 0, at("09:20:00")),
        CallCommand::Hangup {
            leg: "a".into(),
            side: Side::Caller,
            cause: Cause::Normal,
            at: at("09:20:40"),
        },
    ]);
    call(&server, &ids, abandoned).await?;
    let mut full = offered(&ids, at("09:30:00"));
    full.push(enter(&ids, 5, at("09:30:00")));
    call(&server, &ids, full).await?;
    // 10:00–11:00: answered after 30 s (out of the service level), talk 30 s.
    call(&server, &ids, answered(&ids, at("10:05:00"), 30, 30)).await?;
    // The agent: in at 09:00, a break 09:30–09:40, one call 09:10:15–09:11:15, out at 10:30.
    let call_id = Uuid::from_u128(42);
    seat(
        &server,
        &ids,
        AgentCommand::SignIn {
            extension_id: ids.extension,
            enterprise_id: enterprise,
            account_id: Uuid::from_u128(5),
            permitted: true,
            endpoint: Endpoint::SipPhone,
            at: at("09:00:00"),
        },
    )
    .await?;
    for command in [
        AgentCommand::Offer {
            call_id,
            queue_id: ids.queue,
            at: at("09:10:10"),
        },
        AgentCommand::Answer {
            call_id,
            at: at("09:10:15"),
        },
        AgentCommand::EndCall {
            call_id,
            wrap_up_seconds: 0,
            at: at("09:11:15"),
        },
        AgentCommand::SetWorkState {
            state: WorkState::Break,
            at: at("09:30:00"),
        },
        AgentCommand::SetWorkState {
            state: WorkState::Working,
            at: at("09:40:00"),
        },
        AgentCommand::SignOut { at: at("10:30:00") },
    ] {
        seat(&server, &ids, command).await?;
    }

    let query = "query($f: DateTime!, $t: DateTime!, $g: Granularity!) { queueReport(filter: { time: { from: $f, to: $t }, granularity: $g }) { period offered answered abandoned timedOut full serviceLevel averageSpeedOfAnswer averageHandleTime } agentReport(filter: { time: { from: $f, to: $t }, granularity: $g }) { period signedInSeconds workingSeconds breakSeconds calls talkSeconds occupancy } }";
    let vars = |g: &str| json!({ "f": at("00:00:00"), "t": at("23:00:00"), "g": g });
    let hourly = server.ok(Some(&boss), query, vars("HOUR")).await?;
    ensure!(
        hourly["queueReport"]
            == json!([
                { "period": "2026-11-30T09:00:00+00:00", "offered": 3, "answered": 1, "abandoned": 1, "timedOut": 0, "full": 1, "serviceLevel": 0.5, "averageSpeedOfAnswer": 15.0, "averageHandleTime": 60.0 },
                { "period": "2026-11-30T10:00:00+00:00", "offered": 1, "answered": 1, "abandoned": 0, "timedOut": 0, "full": 0, "serviceLevel": 0.0, "averageSpeedOfAnswer": 30.0, "averageHandleTime": 30.0 }
            ]),
        "{hourly}"
    );
    ensure!(
        hourly["agentReport"]
            == json!([
                { "period": "2026-11-30T09:00:00+00:00", "signedInSeconds": 2_400, "workingSeconds": 1_800, "breakSeconds": 600, "calls": 1, "talkSeconds": 60, "occupancy": 0.025 },
                { "period": "2026-11-30T10:00:00+00:00", "signedInSeconds": 3_000, "workingSeconds": 3_000, "breakSeconds": 0, "calls": 0, "talkSeconds": 0, "occupancy": 0.0 }
            ]),
        "{hourly}"
    );
    // One day in Asia/Shanghai (17:00 and 18:00 local).
    let daily = server.ok(Some(&boss), query, vars("DAY")).await?;
    let day = &daily["queueReport"];
    ensure!(
        day.as_array().map(Vec::len) == Some(1)
            && day[0]["period"] == "2026-11-29T16:00:00+00:00"
            && day[0]["offered"] == 4
            && day[0]["answered"] == 2
            && day[0]["averageSpeedOfAnswer"] == 22.5
            && day[0]["averageHandleTime"] == 45.0,
        "{daily}"
    );
    let refused = server
        .gql(
            Some(&boss),
            "{ queueReport(filter: { time: { from: \"2026-01-01T00:00:00Z\", to: \"2026-03-01T00:00:00Z\" }, granularity: DAY }) { offered } }",
            json!({}),
        )
        .await?;
    ensure!(tests::error_code(&refused) == "VALIDATION", "{refused}");
    server.stop().await;
    Ok(())
}

on_both_backends!(reports_sum_the_log_by_hour_and_day);
