//! The composition root of callcore: the configuration, the one function that builds a running
//! node from it ([`start`]), the first-start bootstrap, and the command line. The `callcore`
//! binary and the test harness both start nodes through [`start`].

pub mod bootstrap;
pub mod cli;
pub mod config;

use std::net::SocketAddr;
use std::time::Duration;

use calls::{CallRuntime, CallSettings};
use node::{CommandError, Node, NodeSettings};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::bootstrap::{ensure_operator, Bootstrap};
use crate::config::Config;

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The log or the read models could not be opened.
    #[error(transparent)]
    Node(#[from] node::StartError),
    /// The platform operator could not be created.
    #[error("creating the platform operator failed: {}", .0.message())]
    Bootstrap(CommandError),
    /// SIP could not be bound.
    #[error("cannot listen for SIP on {addr}: {source}")]
    Sip {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// HTTP could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running node: the log and read models, the call runtime on its SIP port, and the HTTP
/// server. Stop it with [`Running::stop`].
pub struct Running {
    /// The node (log, read models, commands).
    pub node: Node,
    /// The call runtime.
    pub calls: CallRuntime,
    /// What the HTTP server serves (authentication included).
    pub api: api::app::App,
    /// Where HTTP is served.
    pub http_addr: SocketAddr,
    /// What the first-start bootstrap did.
    pub bootstrap: Bootstrap,
    stop_http: Option<oneshot::Sender<()>>,
    http: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("http_addr", &self.http_addr)
            .field("sip_addr", &self.calls.sip_addr())
            .finish()
    }
}

/// The node settings of `config`.
pub fn node_settings(config: &Config) -> NodeSettings {
    NodeSettings {
        data_dir: config.data_dir.clone(),
        database_url: config.database_url.clone(),
    }
}

/// Raises the soft limit of open files to the hard limit (a node holds a socket per SIP TCP
/// connection, per RTP port and per HTTP client), and warns when even that leaves no room for
/// the configured SIP TCP connections.
fn allow_open_files(config: &Config) {
    let wanted = u64::try_from(config.sip_tcp.max_connections)
        .unwrap_or(u64::MAX)
        .saturating_add(4_096);
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit < wanted => tracing::warn!(
            limit,
            sip_tcp_max_connections = config.sip_tcp.max_connections,
            "the open-file limit is below what sip_tcp_max_connections needs"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not raise the open-file limit"),
    }
}

/// The call settings of `config`.
pub fn call_settings(config: &Config) -> CallSettings {
    CallSettings {
        ring_timeout: Duration::from_secs(u64::from(config.ring_timeout_seconds)),
        media_timeout: Duration::from_secs(u64::from(config.media_timeout_seconds)),
        public_ip: config.public_ip,
        tts_program: config.tts_program.clone(),
        tts_voice: config.tts_voice.clone(),
        http_allowed: config
            .ivr_http_allow
            .iter()
            .filter_map(|entry| calls::http_guard::AddressBlock::parse(entry))
            .collect(),
        sip_tcp: config.sip_tcp,
        prompt_budget: config.prompt_budget,
    }
}

/// How `config` has file jobs run and uploads checked.
pub fn file_job_settings(config: &Config) -> filejobs::FileJobSettings {
    filejobs::FileJobSettings {
        workers: config.file_jobs.workers,
        lease: Duration::from_secs(config.file_jobs.lease_seconds),
        limits: filejobs::inspect::UploadLimits {
            max_bytes: config.file_jobs.upload_max_mib << 20,
            max_rows: config.file_jobs.import_max_rows,
            max_unpacked_bytes: config.file_jobs.unpacked_max_mib << 20,
        },
    }
}

/// The login rules of `config`.
pub fn login_policy(config: &Config) -> api::auth::LoginPolicy {
    api::auth::LoginPolicy {
        session: chrono::Duration::hours(i64::from(config.session_hours)),
        max_failures: config.max_failed_logins,
        lockout: chrono::Duration::minutes(i64::from(config.lockout_minutes)),
        attempts_per_source_per_minute: config.login_attempts_per_minute,
        // Half the cores at most check passwords; the log's writer and the calls keep the rest.
        password_threads: std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
        password_queue: 64,
    }
}

/// Builds a running node from `config`: opens the log and the read models, creates the
/// platform operator on an empty log (with `admin_password`, or a generated one), starts the
/// call runtime on `config.sip` and serves HTTP on `config.http` (port 0 in either lets the
/// system pick; [`Running`] tells which).
pub async fn start(config: &Config, admin_password: Option<String>) -> Result<Running, StartError> {
    allow_open_files(config);
    let node = Node::start(&node_settings(config)).await?;
    let bootstrap = ensure_operator(&node, admin_password)
        .await
        .map_err(StartError::Bootstrap)?;
    let calls = CallRuntime::start(node.clone(), config.sip, call_settings(config))
        .await
        .map_err(|source| StartError::Sip {
            addr: config.sip,
            source,
        })?;
    let listener = match tokio::net::TcpListener::bind(config.http).await {
        Ok(listener) => listener,
        Err(source) => {
            calls.stop();
            return Err(StartError::Http {
                addr: config.http,
                source,
            });
        }
    };
    let http_addr = listener.local_addr().map_err(|source| StartError::Http {
        addr: config.http,
        source,
    })?;
    let files = filejobs::FileJobs::start(node.clone(), file_job_settings(config));
    let app = api::app::App::new(
        node.clone(),
        calls.clone(),
        files.clone(),
        login_policy(config),
    );
    let (stop_http, stopped) = oneshot::channel::<()>();
    let http = tokio::spawn(api::http::serve(listener, app.clone(), async {
        let _ = stopped.await;
    }));
    Ok(Running {
        node,
        calls,
        api: app,
        http_addr,
        bootstrap,
        stop_http: Some(stop_http),
        http: Some(http),
    })
}

impl Running {
    /// Where SIP is served (UDP and TCP).
    pub fn sip_addr(&self) -> SocketAddr {
        self.calls.sip_addr()
    }

    /// Stops serving HTTP (requests in flight finish) and SIP, commits the writes accepted and
    /// lets the read models catch up.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop_http.take() {
            let _ = stop.send(());
        }
        if let Some(http) = self.http.take() {
            match http.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "the HTTP server stopped with an error"),
                Err(error) => tracing::warn!(%error, "the HTTP server task failed"),
            }
        }
        self.calls.stop();
        self.api.files.stop();
        self.node.shutdown().await;
    }
}
