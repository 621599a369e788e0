//! Helpers shared by callcore's benchmarks: fresh event logs on either backend and request
//! builders. The criterion benches live under `benches/benches`, load tools under `src/bin`.

use std::time::Duration;

use anyhow::Context;
use eventlog::{AppendRequest, EventLog, EventLogConfig, ExpectedVersion, Metadata, NewEvent};
use sqlx::Connection;
use uuid::Uuid;

/// A backend to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SQLite in a temporary directory.
    Sqlite,
    /// A fresh database on `CALLCORE_BENCH_POSTGRES` (default: the local server).
    Postgres,
}

impl Kind {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }

    /// Parses `sqlite` or `postgres`.
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "sqlite" => Some(Kind::Sqlite),
            "postgres" => Some(Kind::Postgres),
            _ => None,
        }
    }
}

/// An event log on a fresh, empty database; the temporary directory lives as long as it.
pub struct BenchLog {
    /// The log.
    pub log: EventLog,
    _dir: tempfile::TempDir,
}

/// Opens a fresh log of `kind`.
pub async fn fresh_log(kind: Kind) -> anyhow::Result<BenchLog> {
    let dir = tempfile::tempdir()?;
    let url = match kind {
        Kind::Sqlite => dir.path().join("bench.db").to_string_lossy().into_owned(),
        Kind::Postgres => {
            let admin = std::env::var("CALLCORE_BENCH_POSTGRES")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("callcore_bench_{}", Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .with_context(|| format!("PostgreSQL at {admin}"))?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            let base = admin
                .rsplit_once('/')
                .map(|(b, _)| b.to_owned())
                .context("admin URL has a database")?;
            format!("{base}/{name}")
        }
    };
    let backend = eventlog::open_backend(&url).await?;
    let log = EventLog::start(
        backend,
        EventLogConfig {
            poll_interval: Duration::from_secs(5),
            ..EventLogConfig::default()
        },
    )
    .await?;
    Ok(BenchLog { log, _dir: dir })
}

/// A request of `n` small events (a realistic ~150-byte call-leg payload) to `stream` at `version`.
pub fn request(stream: Uuid, version: i64, n: usize) -> AppendRequest {
    AppendRequest {
        stream_type: "call".into(),
        stream_id: stream,
        expected_version: ExpectedVersion::Exact(version),
        events: (0..n)
            .map(|i| NewEvent {
                event_type: "LegRinging".into(),
                payload: format!(
                    "{{\"type\":\"LegRinging\",\"leg\":{i},\"from\":\"+8613800138000\",\"to\":\"+862161234567\",\"at\":\"2026-11-28T10:00:00.000000Z\"}}"
                ),
            })
            .collect(),
        metadata: Metadata::new(Some(Uuid::from_u128(1)), None),
    }
}

/// CPU time of this process so far (user + system), from /proc.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields after the command name: utime is the 12th, stime the 13th (0-based 11 and 12).
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}
