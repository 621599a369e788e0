//! Call records (manual §2.6) are a projection of call events: answered, missed and refused
//! calls get the manual's columns, the call time filter is required and bounded, and a restart
//! closes the calls left open with an explicit event so that no record stays in progress.

use anyhow::ensure;
use chrono::{Duration, Utc};
use domain::call::{Call, CallCommand, Cause, Direction, Party, RouteCheck, Side};
use eventlog::Metadata;
use serde_json::{json, Value};
use tests::{error_code, on_both_backends, Backend, TestServer};
use uuid::Uuid;

async fn run(
    server: &TestServer,
    call: Uuid,
    enterprise: Uuid,
    commands: Vec<CallCommand>,
) -> anyhow::Result<()> {
    for command in commands {
        server
            .node
            .execute::<Call>(call, command, Metadata::new(Some(enterprise), None))
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code(), e.message()))?;
    }
    Ok(())
}

fn offer(enterprise: Uuid, route: Uuid, enabled: bool) -> CallCommand {
    CallCommand::Offer {
        enterprise_id: enterprise,
        direction: Direction::Inbound,
        caller: Party::External {
            number: "+8613800138000".into(),
        },
        called: "+862161234567".into(),
        route: Some(RouteCheck {
            route_id: route,
            enabled,
            active_calls: 0,
            max_concurrent: 5,
        }),
        outbound_allowed: false,
        forwarded_out: false,
        at: Utc::now(),
    }
}

async fn records(server: &TestServer, token: &str, kind: &str) -> anyhow::Result<Value> {
    let from = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let to = (Utc::now() + Duration::hours(1)).to_rfc3339();
    server
        .ok(
            Some(token),
            "query($k: CallRecordKind!, $f: DateTime!, $t: DateTime!) { callRecords(filter: { kind: $k, callTime: { from: $f, to: $t } }) { totalCount edges { node { status duration hangupSide cause extension caller called } } } }",
            json!({ "k": kind, "f": from, "t": to }),
        )
        .await
}

async fn calls_become_records_and_a_restart_closes_open_ones(
    backend: Backend,
) -> anyhow::Result<()> {
    let server = TestServer::start(backend).await?;
    let op = server.operator().await?;
    let created = server
        .ok(Some(&op), "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }", json!({}))
        .await?;
    let enterprise = Uuid::parse_str(
        created["createEnterprise"]["id"]
            .as_str()
            .unwrap_or_default(),
    )?;
    let boss = server.login("acme", "boss", "boss-password").await?;
    let extension = Party::Extension {
        extension_id: Uuid::new_v4(),
        number: "1001".into(),
    };
    let route = Uuid::new_v4();
    let at = Utc::now;
    let leg = |name: &str| name.to_owned();

    let answered = Uuid::new_v4();
    run(
        &server,
        answered,
        enterprise,
        vec![
            offer(enterprise, route, true),
            CallCommand::AddLeg {
                leg: leg("b"),
                party: extension.clone(),
                caller_id: "+8613800138000".into(),
                forwarded: false,
                at: at(),
            },
            CallCommand::Ringing {
                leg: leg("b"),
                at: at(),
            },
            CallCommand::Answer {
                leg: leg("b"),
                at: at(),
            },
            CallCommand::Answer {
                leg: leg("a"),
                at: at(),
            },
            CallCommand::Bridge {
                leg: leg("a"),
                other: leg("b"),
                at: at(),
            },
            CallCommand::Hangup {
                leg: leg("b"),
                side: Side::Callee,
                cause: Cause::Normal,
                at: at(),
            },
            CallCommand::Hangup {
                leg: leg("a"),
                side: Side::System,
                cause: Cause::Normal,
                at: at(),
            },
        ],
    )
    .await?;
    let missed = Uuid::new_v4();
    run(
        &server,
        missed,
        enterprise,
        vec![
            offer(enterprise, route, true),
            CallCommand::AddLeg {
                leg: leg("b"),
                party: extension.clone(),
                caller_id: String::new(),
                forwarded: false,
                at: at(),
            },
            CallCommand::Ringing {
                leg: leg("b"),
                at: at(),
            },
            CallCommand::Hangup {
                leg: leg("b"),
                side: Side::System,
                cause: Cause::NoAnswer,
                at: at(),
            },
            CallCommand::Hangup {
                leg: leg("a"),
                side: Side::Caller,
                cause: Cause::Cancelled,
                at: at(),
            },
        ],
    )
    .await?;
    run(
        &server,
        Uuid::new_v4(),
        enterprise,
        vec![offer(enterprise, route, false)],
    )
    .await?;
    let open = Uuid::new_v4();
    run(
        &server,
        open,
        enterprise,
        vec![
            offer(enterprise, route, true),
            CallCommand::AddLeg {
                leg: leg("b"),
                party: extension,
                caller_id: String::new(),
                forwarded: false,
                at: at(),
            },
            CallCommand::Answer {
                leg: leg("b"),
                at: at(),
            },
        ],
    )
    .await?;

    let inbound = records(&server, &boss, "INBOUND").await?;
    ensure!(inbound["callRecords"]["totalCount"] == 4, "{inbound}");
    let statuses: Vec<&str> = inbound["callRecords"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["node"]["status"].as_str())
        .collect();
    for status in ["answered", "missed", "refused", "in_progress"] {
        ensure!(
            statuses.contains(&status),
            "no {status} record in {statuses:?}"
        );
    }
    let node = |status: &str| {
        inbound["callRecords"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["node"]["status"] == status)
            .map(|e| e["node"].clone())
            .unwrap_or_default()
    };
    ensure!(
        node("answered")["hangupSide"] == "callee"
            && node("answered")["extension"] == "1001"
            && node("answered")["caller"] == "+8613800138000"
    );
    ensure!(
        node("refused")["cause"] == "route_paused" && node("refused")["hangupSide"] == "system"
    );
    let missed_list = records(&server, &boss, "MISSED").await?;
    ensure!(
        missed_list["callRecords"]["totalCount"] == 1
            && missed_list["callRecords"]["edges"][0]["node"]["cause"] == "no_answer"
    );

    // The call time is required and spans at most a month.
    let unbounded = server
        .gql(Some(&boss), "{ callRecords(filter: { kind: INBOUND, callTime: { from: \"2026-01-01T00:00:00Z\" } }) { totalCount } }", json!({}))
        .await?;
    ensure!(
        error_code(&unbounded) == "VALIDATION"
            && unbounded["errors"][0]["extensions"]["field"] == "callTime"
    );
    let too_long = server
        .gql(Some(&boss), "{ callRecords(filter: { kind: INBOUND, callTime: { from: \"2026-01-01T00:00:00Z\", to: \"2026-03-01T00:00:00Z\" } }) { totalCount } }", json!({}))
        .await?;
    ensure!(error_code(&too_long) == "VALIDATION");

    // A restart closes the open call explicitly; nothing stays in progress.
    let db = server.stop().await;
    let server = TestServer::start_on(db).await?;
    let boss = server.login("acme", "boss", "boss-password").await?;
    let after = records(&server, &boss, "INBOUND").await?;
    let statuses: Vec<&str> = after["callRecords"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["node"]["status"].as_str())
        .collect();
    ensure!(!statuses.contains(&"in_progress"), "{statuses:?}");
    let history = server.node.log.read_stream(open).await?;
    let tail: Vec<&str> = history
        .iter()
        .rev()
        .take(3)
        .map(|e| e.event_type.as_str())
        .collect();
    ensure!(tail == ["CallEnded", "LegHungUp", "LegHungUp"], "{tail:?}");
    ensure!(history
        .last()
        .is_some_and(|e| e.payload.contains("node_restart")));
    server.stop().await;
    Ok(())
}

on_both_backends!(calls_become_records_and_a_restart_closes_open_ones);
