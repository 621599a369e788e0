//! The conformance suite every event-log backend passes: version checks, dense positions,
//! atomic appends, stream reads, subscriptions (catch-up then live, under concurrent writers),
//! several nodes on one database, and esrs aggregates over the log.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context};
use esrs::manager::AggregateManager;
use esrs::AggregateState;
use eventlog::{
    AppendError, AppendRequest, EventLog, EventLogConfig, EventLogError, ExpectedVersion, LogStore,
    Metadata, NewEvent,
};
use tests::{on_both_backends, Backend, TestDatabase};
use uuid::Uuid;

async fn open(db: &TestDatabase) -> anyhow::Result<EventLog> {
    open_polling(db, Duration::from_millis(50)).await
}

async fn open_polling(db: &TestDatabase, poll_interval: Duration) -> anyhow::Result<EventLog> {
    let backend = eventlog::open_backend(&db.url).await?;
    Ok(EventLog::start(
        backend,
        EventLogConfig {
            poll_interval,
            ..EventLogConfig::default()
        },
    )
    .await?)
}

fn request(stream: Uuid, expected: ExpectedVersion, n: usize) -> AppendRequest {
    AppendRequest {
        stream_type: "test".into(),
        stream_id: stream,
        expected_version: expected,
        events: (0..n)
            .map(|i| NewEvent {
                event_type: "Happened".into(),
                payload: format!("{{\"i\":{i}}}"),
            })
            .collect(),
        metadata: Metadata::new(Some(Uuid::from_u128(1)), Some(Uuid::from_u128(2))),
    }
}

async fn version_conflict_is_rejected_and_changes_nothing(backend: Backend) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    let log = open(&db).await?;
    let stream = Uuid::new_v4();
    log.append(request(stream, ExpectedVersion::Exact(0), 2))
        .await?;
    let before = log.read_all(0, 100).await?;
    let refused = log
        .append(request(stream, ExpectedVersion::Exact(1), 1))
        .await;
    match refused {
        Err(EventLogError::Rejected(AppendError::VersionConflict {
            expected: 1,
            actual: 2,
            ..
        })) => {}
        other => anyhow::bail!("expected a version conflict, got {other:?}"),
    }
    let refused = log
        .append(request(Uuid::new_v4(), ExpectedVersion::Exact(3), 1))
        .await;
    ensure!(matches!(
        refused,
        Err(EventLogError::Rejected(AppendError::VersionConflict {
            actual: 0,
            ..
        }))
    ));
    let empty = log
        .append(request(stream, ExpectedVersion::Exact(2), 0))
        .await;
    ensure!(matches!(
        empty,
        Err(EventLogError::Rejected(AppendError::Empty))
    ));
    ensure!(
        log.read_all(0, 100).await? == before,
        "a rejected append changed the log"
    );
    let appended = log
        .append(request(stream, ExpectedVersion::Exact(2), 1))
        .await?;
    ensure!(appended[0].position == 3 && appended[0].version == 3);
    log.shutdown().await;
    Ok(())
}

async fn positions_are_dense_and_stream_versions_count_from_one(
    backend: Backend,
) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    let log = open(&db).await?;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    log.append(request(a, ExpectedVersion::Exact(0), 3)).await?;
    log.append(request(b, ExpectedVersion::Exact(0), 2)).await?;
    log.append(request(a, ExpectedVersion::Any, 1)).await?;
    let all = log.read_all(0, 100).await?;
    let positions: Vec<i64> = all.iter().map(|e| e.position).collect();
    ensure!(
        positions == (1..=6).collect::<Vec<_>>(),
        "positions {positions:?}"
    );
    let a_events = log.read_stream(a).await?;
    ensure!(a_events.iter().map(|e| e.version).collect::<Vec<_>>() == vec![1, 2, 3, 4]);
    ensure!(a_events[3].position == 6);
    ensure!(a_events[0].metadata.tenant_id == Some(Uuid::from_u128(1)));
    ensure!(a_events[0].metadata.actor_id == Some(Uuid::from_u128(2)));
    ensure!(
        a_events[0].payload == "{\"i\":0}",
        "payload must be stored byte for byte"
    );
    ensure!(log.read_all(4, 1).await?.first().map(|e| e.position) == Some(5));
    ensure!(log.stored_head().await? == 6 && log.head() == 6);
    log.shutdown().await;
    // The log survives a restart with the same head.
    let log = open(&db).await?;
    ensure!(log.head() == 6);
    ensure!(log.read_stream(b).await?.len() == 2);
    log.shutdown().await;
    Ok(())
}

async fn concurrent_appends_to_one_stream_let_exactly_one_win(
    backend: Backend,
) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    let log = open(&db).await?;
    let stream = Uuid::new_v4();
    let attempts = (0..16).map(|_| {
        let log = log.clone();
        tokio::spawn(async move {
            log.append(request(stream, ExpectedVersion::Exact(0), 1))
                .await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let won = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    ensure!(won == 1, "{won} concurrent appends at version 0 succeeded");
    ensure!(log.read_stream(stream).await?.len() == 1);
    log.shutdown().await;
    Ok(())
}

async fn subscription_catches_up_then_follows_live_without_gap_or_duplicate(
    backend: Backend,
) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    let log = open(&db).await?;
    for _ in 0..50 {
        log.append(request(Uuid::new_v4(), ExpectedVersion::Exact(0), 3))
            .await?;
    }
    let mut subscription = log.subscribe(10);
    let writer = {
        let log = log.clone();
        tokio::spawn(async move {
            for _ in 0..100 {
                log.append(request(Uuid::new_v4(), ExpectedVersion::Exact(0), 2))
                    .await?;
            }
            anyhow::Ok(())
        })
    };
    let mut expected = 11;
    while expected <= 350 {
        let event = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .context("subscription stalled")??;
        ensure!(
            event.position == expected,
            "got position {} where {expected} was due",
            event.position
        );
        expected += 1;
    }
    writer.await??;
    // Nothing more arrives: no duplicate of the tail.
    ensure!(
        tokio::time::timeout(Duration::from_millis(300), subscription.next())
            .await
            .is_err()
    );
    log.shutdown().await;
    Ok(())
}

async fn subscription_order_holds_under_many_concurrent_writers(
    backend: Backend,
) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    let log = open(&db).await?;
    let mut subscription = log.subscribe(0);
    let writers: Vec<_> = (0..16)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move {
                let stream = Uuid::new_v4();
                for version in 0..40 {
                    log.append(request(stream, ExpectedVersion::Exact(version * 2), 2))
                        .await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    let total = 16 * 40 * 2;
    let mut seen = Vec::with_capacity(total);
    while seen.len() < total {
        let batch = tokio::time::timeout(Duration::from_secs(20), subscription.next_batch(500))
            .await
            .context("subscription stalled")??;
        seen.extend(batch.iter().map(|e| (e.position, e.stream_id, e.version)));
    }
    for w in writers {
        w.await??;
    }
    let positions: Vec<i64> = seen.iter().map(|s| s.0).collect();
    ensure!(
        positions == (1..=total as i64).collect::<Vec<_>>(),
        "subscription positions out of order or with gaps"
    );
    // Within each stream, versions arrive in order.
    let mut last = std::collections::HashMap::new();
    for (_, stream, version) in &seen {
        let previous = last.insert(*stream, *version).unwrap_or(0);
        ensure!(
            *version == previous + 1,
            "stream {stream} went from {previous} to {version}"
        );
    }
    log.shutdown().await;
    Ok(())
}

async fn esrs_aggregates_run_over_the_log(backend: Backend) -> anyhow::Result<()> {
    use domain::role::{Role, RoleCommand, RoleError};
    let db = TestDatabase::new(backend).await?;
    let log = open(&db).await?;
    let id = Uuid::new_v4();
    let metadata = Metadata::new(Some(Uuid::from_u128(9)), None);
    let store = LogStore::<Role>::new(log.clone(), metadata);
    let manager = AggregateManager::new(store.clone());
    let create = RoleCommand::Create {
        enterprise_id: Uuid::from_u128(9),
        name: "坐席".into(),
        permissions: BTreeSet::new(),
        name_taken: false,
        by: domain::account::Actor::operator(),
        at: chrono::Utc::now(),
    };
    manager
        .handle_command(AggregateState::with_id(id), create)
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let state = manager.load(id).await?.context("the role was stored")?;
    ensure!(*state.sequence_number() == 1 && state.inner().exists);
    let refused = manager
        .handle_command(
            state,
            RoleCommand::Delete {
                accounts_using: 1,
                at: chrono::Utc::now(),
            },
        )
        .await?;
    ensure!(refused == Err(RoleError::InUse(1)));
    ensure!(store.committed().len() == 1 && store.committed()[0].event_type == "RoleCreated");
    // A stale state (version 0) loses against the stored stream.
    let stale = manager
        .handle_command(
            AggregateState::with_id(id),
            RoleCommand::Create {
                enterprise_id: Uuid::from_u128(9),
                name: "x".into(),
                permissions: BTreeSet::new(),
                name_taken: false,
                by: domain::account::Actor::operator(),
                at: chrono::Utc::now(),
            },
        )
        .await;
    ensure!(matches!(
        stale,
        Err(eventlog::StoreError::Log(EventLogError::Rejected(
            AppendError::VersionConflict { .. }
        )))
    ));
    log.shutdown().await;
    Ok(())
}

async fn two_nodes_on_one_database_keep_one_order(backend: Backend) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    // PostgreSQL announces other nodes' commits (LISTEN/NOTIFY): with a poll interval far
    // beyond the test's deadline, only the announcements can keep node A up to date.
    let poll = if backend == Backend::Postgres {
        Duration::from_secs(600)
    } else {
        Duration::from_millis(50)
    };
    let node_a = open_polling(&db, poll).await?;
    let node_b = open_polling(&db, poll).await?;
    let mut subscription = node_a.subscribe(0);
    let write = |log: EventLog| {
        tokio::spawn(async move {
            for _ in 0..60 {
                log.append(request(Uuid::new_v4(), ExpectedVersion::Exact(0), 2))
                    .await?;
            }
            anyhow::Ok(())
        })
    };
    let (a, b) = (write(node_a.clone()), write(node_b.clone()));
    let mut positions = Vec::new();
    while positions.len() < 240 {
        let event = tokio::time::timeout(Duration::from_secs(20), subscription.next())
            .await
            .context("stalled")??;
        positions.push(event.position);
    }
    a.await??;
    b.await??;
    ensure!(
        positions == (1..=240).collect::<Vec<_>>(),
        "node A saw positions out of order"
    );
    let all = node_b.read_all(0, 1000).await?;
    ensure!(all.len() == 240);
    node_a.shutdown().await;
    node_b.shutdown().await;
    Ok(())
}

async fn appends_after_shutdown_are_refused(backend: Backend) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await?;
    let log = open(&db).await?;
    let pending: Vec<_> = (0..200)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move {
                log.append(request(Uuid::new_v4(), ExpectedVersion::Exact(0), 1))
                    .await
            })
        })
        .collect();
    tokio::task::yield_now().await;
    log.shutdown().await;
    let acknowledged = futures::future::join_all(pending)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(Ok(_))))
        .count();
    ensure!(matches!(
        log.append(request(Uuid::new_v4(), ExpectedVersion::Exact(0), 1))
            .await,
        Err(EventLogError::Closed)
    ));
    let reopened = open(&db).await?;
    ensure!(
        reopened.read_all(0, 1000).await?.len() == acknowledged,
        "every acknowledged append is stored, nothing else"
    );
    reopened.shutdown().await;
    Ok(())
}

on_both_backends!(
    version_conflict_is_rejected_and_changes_nothing,
    positions_are_dense_and_stream_versions_count_from_one,
    concurrent_appends_to_one_stream_let_exactly_one_win,
    subscription_catches_up_then_follows_live_without_gap_or_duplicate,
    subscription_order_holds_under_many_concurrent_writers,
    esrs_aggregates_run_over_the_log,
    two_nodes_on_one_database_keep_one_order,
    appends_after_shutdown_are_refused,
);
