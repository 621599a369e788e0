//! The `callcore` command line: `serve`, `replay`, `audit`, `migrate`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use eventlog::EventLog;
use indicatif::{ProgressBar, ProgressStyle};
use node::Node;
use projections::{
    all_projections, all_table_projections, rebuild_and_compare, rebuild_tables_and_compare,
    DocStore, TableStore,
};
use uuid::Uuid;

use crate::bootstrap::Bootstrap;
use crate::config::{Config, Overrides};
use crate::{node_settings, start};

/// callcore: an event-sourced cloud call center.
#[derive(Debug, Parser)]
#[command(name = "callcore", version, about)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives (shared by every command).
#[derive(Debug, Args, Clone)]
pub struct Location {
    /// Data directory: the SQLite database and stored files.
    #[arg(long, env = "CALLCORE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://…) instead of the embedded SQLite.
    #[arg(long, env = "CALLCORE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Optional TOML configuration file.
    #[arg(long, env = "CALLCORE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the server.
    Serve {
        /// Where the data lives.
        #[command(flatten)]
        location: Location,
        /// HTTP listen address.
        #[arg(long, env = "CALLCORE_HTTP")]
        http: Option<SocketAddr>,
        /// SIP listen address (UDP and TCP).
        #[arg(long, env = "CALLCORE_SIP")]
        sip: Option<SocketAddr>,
        /// The address phones and carriers reach callcore at (put in SIP headers and SDP).
        #[arg(long, env = "CALLCORE_PUBLIC_IP")]
        public_ip: Option<std::net::IpAddr>,
    },
    /// Rebuilds every read model from position 0 and proves it equal to the live one.
    Replay {
        /// Where the data lives.
        #[command(flatten)]
        location: Location,
        /// Replace a live model that differs by its rebuilt copy.
        #[arg(long)]
        swap: bool,
    },
    /// Prints the full history of one stream (a UUID, or `enterprise:<code>`).
    Audit {
        /// Where the data lives.
        #[command(flatten)]
        location: Location,
        /// The stream.
        stream: String,
    },
    /// Applies the database migrations and exits.
    Migrate {
        /// Where the data lives.
        #[command(flatten)]
        location: Location,
    },
}

fn config(
    location: &Location,
    http: Option<SocketAddr>,
    sip: Option<SocketAddr>,
) -> anyhow::Result<Config> {
    Ok(Config::resolve(Overrides {
        data_dir: location.data_dir.clone(),
        http,
        sip,
        database_url: location.database_url.clone(),
        public_ip: None,
        config_file: location.config.clone(),
    })?)
}

async fn open_log(config: &Config) -> anyhow::Result<EventLog> {
    Ok(Node::open_log(&node_settings(config)).await?)
}

/// Runs a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve {
            location,
            http,
            sip,
            public_ip,
        } => {
            let mut config = config(&location, http, sip)?;
            config.public_ip = public_ip.or(config.public_ip);
            serve(config).await
        }
        Command::Replay { location, swap } => replay(config(&location, None, None)?, swap).await,
        Command::Audit { location, stream } => audit(config(&location, None, None)?, &stream).await,
        Command::Migrate { location } => {
            let config = config(&location, None, None)?;
            let log = open_log(&config).await?;
            println!(
                "migrations applied to {} ({})",
                node_settings(&config).database(),
                log.backend_name()
            );
            log.shutdown().await;
            Ok(0)
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<i32> {
    let running = start(&config, std::env::var("CALLCORE_ADMIN_PASSWORD").ok()).await?;
    match &running.bootstrap {
        Bootstrap::AlreadyDone => {}
        Bootstrap::Created => println!("created the platform operator: enterprise 'platform', account 'admin'"),
        Bootstrap::CreatedWithGeneratedPassword(password) => println!(
            "created the platform operator: enterprise 'platform', account 'admin', password '{password}' \
             (shown once; change it after logging in)"
        ),
    }
    println!(
        "callcore listening on http://{} (GraphiQL at /graphiql) and sip:{} (UDP and TCP), {} backend",
        running.http_addr,
        running.sip_addr(),
        running.node.log.backend_name()
    );
    shutdown_signal().await;
    running.stop().await;
    println!("callcore stopped cleanly");
    Ok(0)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

async fn replay(config: Config, swap: bool) -> anyhow::Result<i32> {
    let log = open_log(&config).await?;
    let store = DocStore::new(log.pool());
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} replaying [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let digests = rebuild_and_compare(&log, &store, all_projections(), swap, |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(u64::try_from(total).unwrap_or(0));
            bar.set_position(u64::try_from(done).unwrap_or(0));
        }
    })
    .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let tables = rebuild_tables_and_compare(
        &log,
        &TableStore::new(log.pool()),
        all_table_projections(),
        swap,
    )
    .await?;
    let digests: Vec<_> = digests.into_iter().chain(tables).collect();
    println!(
        "{:<16} {:>10} {:>8}  {:<64}  result",
        "read model", "position", "docs", "digest (live)"
    );
    let mut all_equal = true;
    for d in &digests {
        let verdict = if d.equal() {
            "equal".to_owned()
        } else if swap {
            format!("DIFFERENT (rebuilt {}; replaced)", d.rebuilt)
        } else {
            format!("DIFFERENT (rebuilt {})", d.rebuilt)
        };
        all_equal &= d.equal();
        println!(
            "{:<16} {:>10} {:>8}  {:<64}  {verdict}",
            d.model, d.position, d.live_docs, d.live
        );
    }
    log.shutdown().await;
    if all_equal {
        println!("every read model equals its rebuild from the log");
        Ok(0)
    } else {
        println!("some read models differ from their rebuild");
        Ok(1)
    }
}

async fn audit(config: Config, stream: &str) -> anyhow::Result<i32> {
    let id = match stream.strip_prefix("enterprise:") {
        Some(code) => domain::ids::enterprise_id(code),
        None => Uuid::parse_str(stream)
            .with_context(|| format!("'{stream}' is neither a stream id nor enterprise:<code>"))?,
    };
    let log = open_log(&config).await?;
    let events = log.read_stream(id).await?;
    if events.is_empty() {
        println!("stream {id} has no events");
        log.shutdown().await;
        return Ok(1);
    }
    println!(
        "stream {id} ({}), {} events",
        events[0].stream_type,
        events.len()
    );
    for e in events {
        let mut payload: serde_json::Value =
            serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::Null);
        projections::redact(&mut payload);
        if let Some(object) = payload.as_object_mut() {
            object.remove("type");
            object.remove(domain::schema::VERSION_FIELD);
        }
        let actor = e
            .metadata
            .actor_id
            .map_or("system".to_owned(), |a| a.to_string());
        println!(
            "\n#{} v{} {} {}\n  actor {}  correlation {}{}\n  {}",
            e.position,
            e.version,
            e.recorded_at.to_rfc3339(),
            e.event_type,
            actor,
            e.metadata.correlation_id,
            e.metadata
                .causation_id
                .map(|c| format!("  causation {c}"))
                .unwrap_or_default(),
            serde_json::to_string_pretty(&payload)
                .unwrap_or_default()
                .replace('\n', "\n  ")
        );
    }
    log.shutdown().await;
    Ok(0)
}
