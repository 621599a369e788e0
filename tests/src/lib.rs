//! Shared helpers of callcore's cross-crate tests: fresh databases on both backends, an
//! in-process server, and a small GraphQL client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context};
use serde_json::{json, Value};
use sqlx::Connection;

pub mod generated_calls;
pub mod media;
pub mod ports;
pub mod sheets;
pub mod sip_peer;

/// The two event-log backends every suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in a temporary directory.
    Sqlite,
    /// PostgreSQL on `CALLCORE_TEST_POSTGRES` (default: the local server), a fresh database.
    Postgres,
}

/// The PostgreSQL server tests use (an admin connection that may create databases).
pub fn postgres_admin_url() -> String {
    std::env::var("CALLCORE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty database for one test. Its data directory goes with the value (unless kept);
/// a PostgreSQL database is left on the server.
pub struct TestDatabase {
    /// Where the log is: the SQLite file under the data directory, or the PostgreSQL URL.
    pub url: String,
    /// The data directory (SQLite file, or unused for PostgreSQL).
    pub data_dir: PathBuf,
    dir: tempfile::TempDir,
}

impl TestDatabase {
    /// Creates one on `backend`.
    pub async fn new(backend: Backend) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let data_dir = dir.path().to_path_buf();
        let url = match backend {
            Backend::Sqlite => data_dir.join("callcore.db").to_string_lossy().into_owned(),
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("callcore_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin).await.with_context(|| {
                    format!(
                        "PostgreSQL is required for these tests and is not reachable at {admin}"
                    )
                })?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .ok_or_else(|| anyhow!("bad URL {admin}"))?;
                format!("{base}/{name}")
            }
        };
        Ok(Self { url, data_dir, dir })
    }

    /// Keeps the data directory instead of removing it with the value, and returns it.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }

    /// The `database_url` setting for callcore (`None` for SQLite under the data dir).
    pub fn database_url(&self) -> Option<String> {
        self.url.starts_with("postgres").then(|| self.url.clone())
    }
}

/// Every call record in the server's table, oldest id first (tests and load tools read their
/// small tables whole).
pub async fn every_call_record(
    server: &TestServer,
) -> anyhow::Result<Vec<projections::CallRecordDoc>> {
    let pool = server.node.log.pool();
    let mut sql = projections::Sql::new(&pool);
    sql.push("SELECT key, tenant_id, doc FROM call_records ORDER BY key");
    Ok(sql
        .documents(&pool)
        .await?
        .into_iter()
        .filter_map(|(_, doc)| doc.decode())
        .collect())
}

/// A callcore node serving HTTP and SIP on ports the system picks on loopback, inside the test
/// process, started as the binary starts one ([`callcore::start`]).
pub struct TestServer {
    /// The node.
    pub node: node::Node,
    /// Where it listens (HTTP).
    pub addr: SocketAddr,
    /// Where it listens for SIP (UDP and TCP).
    pub sip_addr: SocketAddr,
    running: callcore::Running,
    /// Its database (kept alive with the server).
    pub db: TestDatabase,
    client: reqwest::Client,
}

/// The operator's password in tests.
pub const ADMIN_PASSWORD: &str = "operator-secret-1";

impl TestServer {
    /// Starts a node on a fresh database of `backend`, with the operator created.
    pub async fn start(backend: Backend) -> anyhow::Result<Self> {
        Self::start_on(TestDatabase::new(backend).await?).await
    }

    /// Starts a node on `db`.
    pub async fn start_on(db: TestDatabase) -> anyhow::Result<Self> {
        Self::start_configured(db, |_| {}).await
    }

    /// Starts a node on `db` with the test settings as `adjust` leaves them.
    pub async fn start_configured(
        db: TestDatabase,
        adjust: impl FnOnce(&mut callcore::config::Config),
    ) -> anyhow::Result<Self> {
        let mut config = callcore::config::Config {
            data_dir: db.data_dir.clone(),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            sip: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: db.database_url(),
            session_hours: 12,
            max_failed_logins: 5,
            lockout_minutes: 15,
            login_attempts_per_minute: 60,
            ring_timeout_seconds: 2,
            media_timeout_seconds: 3,
            public_ip: None,
            tts_program: "espeak-ng".into(),
            tts_voice: "cmn".into(),
            // The tests' own HTTP services for IVR nodes listen on loopback.
            ivr_http_allow: vec!["127.0.0.1".into()],
            sip_tcp: calls::TcpLimits::default(),
            prompt_budget: calls::prompts::PromptBudget::default(),
            file_jobs: callcore::config::FileJobConfig::default(),
        };
        adjust(&mut config);
        let running = callcore::start(&config, Some(ADMIN_PASSWORD.into())).await?;
        Ok(Self {
            node: running.node.clone(),
            addr: running.http_addr,
            sip_addr: running.sip_addr(),
            running,
            db,
            client: reqwest::Client::new(),
        })
    }

    /// Stops serving and shuts the node down cleanly; returns the database for a restart.
    pub async fn stop(self) -> TestDatabase {
        self.running.stop().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.db
    }

    /// The node's call runtime (its counters, its live calls).
    pub fn calls(&self) -> &calls::CallRuntime {
        &self.running.calls
    }

    /// What its HTTP server serves (its authentication, for session checks).
    pub fn api(&self) -> &api::app::App {
        &self.running.api
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.db.data_dir
    }

    /// The base URL.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A GraphQL client of this node.
    pub fn graphql(&self) -> GraphqlClient {
        GraphqlClient {
            base: format!("http://{}", self.addr),
            client: self.client.clone(),
            operator_password: ADMIN_PASSWORD.into(),
        }
    }

    /// Posts a GraphQL request and returns the whole JSON response.
    pub async fn gql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        self.graphql().gql(token, query, variables).await
    }

    /// Posts a GraphQL request that must succeed; returns `data`.
    pub async fn ok(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        self.graphql().ok(token, query, variables).await
    }

    /// Logs in and returns the token.
    pub async fn login(
        &self,
        enterprise: &str,
        account: &str,
        password: &str,
    ) -> anyhow::Result<String> {
        self.graphql().login(enterprise, account, password).await
    }

    /// Logs in as the platform operator.
    pub async fn operator(&self) -> anyhow::Result<String> {
        self.graphql().operator().await
    }

    /// Uploads `file` to the voice library as `name` (`POST /voices`); returns the HTTP
    /// status and the JSON answer.
    pub async fn upload_voice(
        &self,
        token: &str,
        name: &str,
        file: Vec<u8>,
    ) -> anyhow::Result<(u16, Value)> {
        let form = reqwest::multipart::Form::new()
            .text("name", name.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(file).file_name("upload.wav"),
            );
        let response = self
            .client
            .post(self.url("/voices"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        let json = serde_json::from_str(&body)
            .map_err(|e| anyhow!("upload answered {status} with {body:?}: {e}"))?;
        Ok((status, json))
    }

    /// Uploads `bytes` named `file_name` to file management (`POST /files`); returns the HTTP
    /// status and the JSON answer.
    pub async fn upload_file(
        &self,
        token: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<(u16, Value)> {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()),
        );
        let response = self
            .client
            .post(self.url("/files"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        let json = serde_json::from_str(&body)
            .map_err(|e| anyhow!("upload answered {status} with {body:?}: {e}"))?;
        Ok((status, json))
    }

    /// Waits (at most `seconds`) until data file `id` is ready or failed; returns it.
    pub async fn finished_file(
        &self,
        token: &str,
        id: &str,
        seconds: u64,
    ) -> anyhow::Result<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let data = self
                .ok(Some(token), "query($id: ID!) { dataFile(id: $id) { id name kind source state reason rows sizeBytes columns imported skipped rejected url creator createdAt finishedAt attempts progress { done total } } }", json!({ "id": id }))
                .await?;
            let file = data["dataFile"].clone();
            if file["state"] == "READY" || file["state"] == "FAILED" {
                return Ok(file);
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("file {id} did not finish within {seconds} s: {file}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET path` with the bearer token: the status and the body.
    pub async fn download(&self, token: &str, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.bytes().await?.to_vec()))
    }
}

/// A WAV file of `seconds` of a `hz` tone at `rate` Hz, `channels` channels, 16-bit.
pub fn tone_wav(rate: u32, channels: u16, seconds: f64, hz: f64) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    if let Ok(mut writer) = hound::WavWriter::new(&mut bytes, spec) {
        let frames = (f64::from(rate) * seconds) as u32;
        for n in 0..frames {
            let phase = f64::from(n) * hz * std::f64::consts::TAU / f64::from(rate);
            for _ in 0..channels {
                let _ = writer.write_sample((phase.sin() * 12_000.0) as i16);
            }
        }
        let _ = writer.finalize();
    }
    bytes.into_inner()
}

/// Talks GraphQL over HTTP to a node (in this process or a `callcore` child process).
#[derive(Debug, Clone)]
pub struct GraphqlClient {
    base: String,
    client: reqwest::Client,
    operator_password: String,
}

impl GraphqlClient {
    /// A client of the node at `base` (`http://host:port`) whose operator `admin` has
    /// `operator_password`.
    pub fn new(base: &str, operator_password: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            operator_password: operator_password.to_owned(),
        }
    }

    /// The same client, its connections made from `ip` (a loopback address such as
    /// 127.0.0.2), so the node sees requests from another source.
    pub fn from_address(&self, ip: std::net::IpAddr) -> anyhow::Result<Self> {
        Ok(Self {
            base: self.base.clone(),
            client: reqwest::Client::builder().local_address(ip).build()?,
            operator_password: self.operator_password.clone(),
        })
    }

    /// Posts a GraphQL request and returns the whole JSON response.
    pub async fn gql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Ok(request.send().await?.json().await?)
    }

    /// Posts a GraphQL request that must succeed; returns `data`.
    pub async fn ok(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        let response = self.gql(token, query, variables).await?;
        if let Some(errors) = response.get("errors") {
            return Err(anyhow!("GraphQL errors: {errors}"));
        }
        Ok(response["data"].clone())
    }

    /// Logs in and returns the token.
    pub async fn login(
        &self,
        enterprise: &str,
        account: &str,
        password: &str,
    ) -> anyhow::Result<String> {
        let data = self
            .ok(
                None,
                "mutation($e: String!, $a: String!, $p: String!) { login(enterprise: $e, account: $a, password: $p) { token } }",
                json!({ "e": enterprise, "a": account, "p": password }),
            )
            .await?;
        data["login"]["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no token in {data}"))
    }

    /// Logs in as the platform operator.
    pub async fn operator(&self) -> anyhow::Result<String> {
        self.login("platform", "admin", &self.operator_password)
            .await
    }
}

/// The address the carrier's SIPp runs on in the call tests: a trunk's address, apart from
/// the phones' 127.0.0.1 (requests from a trunk are calls for a DID, the phones' are
/// authenticated as extensions).
pub const CARRIER_IP: &str = "127.0.0.2";

/// Runs SIPp with `scenario` (the XML text) and `args` (local address 127.0.0.1 unless they
/// give `-i`), in a temporary directory; fails with
/// SIPp's error log when the scenario fails. SIPp must be installed (Debian's `sip-tester`).
pub fn run_sipp(scenario: &str, args: &[&str]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scenario.xml");
    std::fs::write(&path, scenario)?;
    let output = std::process::Command::new("sipp")
        .current_dir(dir.path())
        .arg("-sf")
        .arg(&path)
        .args(if args.contains(&"-i") {
            &[][..]
        } else {
            &["-i", "127.0.0.1"][..]
        })
        .args([
            "-m",
            "1",
            "-l",
            "1",
            "-timeout",
            "20",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .args(args)
        .output()
        .context("sipp must be installed (Debian package sip-tester)")?;
    if output.status.success() {
        return Ok(());
    }
    let errors: String = std::fs::read_dir(dir.path())?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("errors"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    Err(anyhow!(
        "SIPp failed ({:?}): {}\n{errors}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// The newest call record of `kind` (`INBOUND`, `OUTBOUND`, `INTERNAL`, `MISSED`) once there
/// are at least `calls` of them and the newest has ended (call events reach the read model a
/// moment after the call's SIP exchange).
pub async fn latest_call_record(
    server: &TestServer,
    token: &str,
    kind: &str,
    calls: i64,
) -> anyhow::Result<Value> {
    let from = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let query = format!(
        "query($f: DateTime!, $t: DateTime!) {{ callRecords(first: 1, filter: {{ kind: {kind}, callTime: {{ from: $f, to: $t }} }}) {{ totalCount edges {{ node {{ id status cause hangupSide duration extension caller called recorded answeredAt endedAt }} }} }} }}"
    );
    for _ in 0..50 {
        let data = server
            .ok(Some(token), &query, json!({ "f": from, "t": to }))
            .await?;
        let node = data["callRecords"]["edges"][0]["node"].clone();
        let total = data["callRecords"]["totalCount"].as_i64().unwrap_or(0);
        if total >= calls && !node.is_null() && node["status"] != "in_progress" {
            return Ok(node);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow!("no ended {kind} record of call {calls}"))
}

/// The `extensions.code` of the first error of a response (or `""`).
pub fn error_code(response: &Value) -> String {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Declares each listed `async fn name(backend: Backend) -> anyhow::Result<()>` as two tests,
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Publishes `flow` (an `IvrDefinitionInput`) as a new IVR flow of the enterprise of `boss`,
/// routes DID 02161234567 (from [`inbound_setup`]) to it, lets the carrier call that DID with
/// SIPp and wait for callcore's BYE, and returns the call's id.
pub async fn call_through_flow(
    server: &TestServer,
    boss: &str,
    flow: Value,
) -> anyhow::Result<uuid::Uuid> {
    let created = server
        .ok(
            Some(boss),
            "mutation { createIvrFlow(name: \"测试流程\") { id } }",
            json!({}),
        )
        .await?;
    let flow_id = created["createIvrFlow"]["id"].clone();
    server
        .ok(
            Some(boss),
            "mutation($id: ID!, $d: IvrDefinitionInput!) { publishIvrFlow(id: $id, name: \"测试流程\", definition: $d) { version } }",
            json!({ "id": flow_id, "d": flow }),
        )
        .await?;
    let routes = server
        .ok(
            Some(boss),
            "{ routes { edges { node { id } } } }",
            json!({}),
        )
        .await?;
    server
        .ok(
            Some(boss),
            "mutation($r: ID!, $f: ID!) { updateRoute(id: $r, settings: { destination: { kind: \"IVR\", targetId: $f }, maxConcurrent: 5, priority: 1 }) { id } }",
            json!({ "r": routes["routes"]["edges"][0]["node"]["id"], "f": flow_id }),
        )
        .await?;
    let scenario = include_str!("../sipp/uac_wait_bye.xml").replace("DID", "02161234567");
    let target = server.sip_addr.to_string();
    let port = ports::free_udp_port(CARRIER_IP)?.to_string();
    tokio::task::spawn_blocking(move || {
        run_sipp(
            &scenario,
            &["-i", CARRIER_IP, "-p", &port, "-t", "u1", &target],
        )
    })
    .await?
    .context("the carrier's call")?;
    let record = latest_call_record(server, boss, "INBOUND", 1).await?;
    Ok(uuid::Uuid::parse_str(
        record["id"].as_str().unwrap_or_default(),
    )?)
}

/// What [`inbound_setup`] made.
#[derive(Debug, Clone)]
pub struct InboundSetup {
    /// Token of `boss`, the enterprise's admin.
    pub boss: String,
    /// The enterprise `acme`.
    pub enterprise: String,
    /// Extension 1001.
    pub extension_id: String,
    /// The route of DID 02161234567.
    pub route_id: String,
    /// The UDP port the extension's phone registered from (run the phone's SIPp there).
    pub phone_port: u16,
}

/// Enterprise `acme` with extension 1001 registered by SIPp, a trunk at [`CARRIER_IP`], and DID
/// 02161234567 routed to the extension with `max_concurrent` calls.
pub async fn inbound_setup(
    server: &TestServer,
    max_concurrent: u32,
) -> anyhow::Result<InboundSetup> {
    inbound_setup_on(&server.graphql(), server.sip_addr, max_concurrent).await
}

/// [`inbound_setup`] on any node, through `server` (GraphQL) and `sip_addr`.
pub async fn inbound_setup_on(
    server: &GraphqlClient,
    sip_addr: SocketAddr,
    max_concurrent: u32,
) -> anyhow::Result<InboundSetup> {
    let op = server.operator().await?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let created = server
        .ok(Some(&op), "mutation { createEnterprise(input: { code: \"acme\", name: \"Acme\", adminAccount: \"boss\", adminPassword: \"boss-password\" }) { id } }", json!({}))
        .await?;
    let enterprise = text(&created["createEnterprise"]["id"]);
    let boss = server.login("acme", "boss", "boss-password").await?;
    let extension = server
        .ok(Some(&op), "mutation($e: ID!) { createExtension(enterpriseId: $e, number: \"1001\") { id sipPassword } }", json!({ "e": enterprise }))
        .await?;
    let extension_id = text(&extension["createExtension"]["id"]);
    let password = text(&extension["createExtension"]["sipPassword"]);
    let trunk = server
        .ok(
            Some(&op),
            "mutation { createTrunk(input: { name: \"carrier\", host: \"127.0.0.2\" }) { id } }",
            json!({}),
        )
        .await?;
    let trunk = text(&trunk["createTrunk"]["id"]);
    server
        .ok(Some(&op), "mutation($e: ID!, $t: ID!) { assignNumber(number: \"02161234567\", input: { enterpriseId: $e, trunkId: $t, callerId: false }) { id } }", json!({ "e": enterprise, "t": trunk }))
        .await?;
    let route = server
        .ok(
            Some(&op),
            "mutation($e: ID!, $x: ID!, $m: Int!) { createRoute(enterpriseId: $e, name: \"main\", entry: \"02161234567\", settings: { destination: { kind: \"EXTENSION\", targetId: $x }, maxConcurrent: $m, priority: 1 }) { id } }",
            json!({ "e": enterprise, "x": extension_id, "m": max_concurrent }),
        )
        .await?;
    let route_id = text(&route["createRoute"]["id"]);
    let phone_port = ports::free_udp_port("127.0.0.1")?;
    let register = include_str!("../sipp/register.xml")
        .replace("USER", "1001")
        .replace("DOMAIN", "acme")
        .replace("EXPIRES", "3600")
        .replace("EXPECTED_STATUS", "200");
    let (target, port) = (sip_addr.to_string(), phone_port.to_string());
    tokio::task::spawn_blocking(move || {
        run_sipp(
            &register,
            &[
                "-p",
                &port,
                "-t",
                "u1",
                "-au",
                "1001",
                "-ap",
                &password,
                "-auth_uri",
                "acme",
                &target,
            ],
        )
    })
    .await??;
    Ok(InboundSetup {
        boss,
        enterprise,
        extension_id,
        route_id,
        phone_port,
    })
}

/// A GraphQL client over `/graphql/ws` (graphql-transport-ws), for subscriptions.
pub mod ws {
    use std::time::Duration;

    use anyhow::{bail, Context};
    use futures::{SinkExt, StreamExt};
    use serde_json::{json, Value};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    use crate::TestServer;

    /// An open websocket.
    pub type Socket = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    /// Opens `/graphql/ws` (graphql-transport-ws) and sends nothing.
    pub async fn open(server: &TestServer) -> anyhow::Result<Socket> {
        let mut request = format!("ws://{}/graphql/ws", server.addr).into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(socket)
    }

    /// Connects with `token` in `connection_init`; returns the socket and the server's answer.
    pub async fn connect(server: &TestServer, token: &str) -> anyhow::Result<(Socket, Value)> {
        let mut socket = open(server).await?;
        socket
            .send(Message::text(
                json!({ "type": "connection_init", "payload": { "token": token } }).to_string(),
            ))
            .await?;
        let first = next_json(&mut socket).await?;
        Ok((socket, first))
    }

    /// Starts subscription `id` with `query`.
    pub async fn subscribe(socket: &mut Socket, id: &str, query: &str) -> anyhow::Result<()> {
        socket
            .send(Message::text(
                json!({ "id": id, "type": "subscribe", "payload": { "query": query } }).to_string(),
            ))
            .await?;
        Ok(())
    }

    /// The next JSON message (a close is `{"type": "closed"}`); fails after 10 s of silence.
    pub async fn next_json(socket: &mut Socket) -> anyhow::Result<Value> {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .context("no message within 10 s")?;
            match message {
                Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text)?),
                Some(Ok(Message::Close(frame))) => {
                    return Ok(
                        json!({ "type": "closed", "frame": frame.map(|f| f.reason.to_string()) }),
                    )
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => bail!("websocket error: {e}"),
                None => return Ok(json!({ "type": "closed" })),
            }
        }
    }
}
