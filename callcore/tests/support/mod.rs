//! The real `callcore` binary as the tests of this package run it: started on ports the system
//! picks, spoken to over GraphQL, killed or stopped.
#![allow(dead_code, reason = "each test file uses part of the harness")]

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;
use tests::TestDatabase;

/// The operator's password on every node these tests start.
pub const ADMIN_PASSWORD: &str = "crash-operator-1";

/// A running `callcore serve`.
pub struct Node {
    /// The process.
    pub child: Child,
    /// The lines the node prints, read as they come (so its pipe never fills).
    pub stdout: Receiver<String>,
    /// `http://host:port`.
    pub base: String,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// Its SIP port.
    pub sip_port: u16,
}

impl Node {
    /// Whether the node answers SIP OPTIONS on its `--sip` address.
    pub fn answers_sip(&self) -> anyhow::Result<bool> {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        let here = socket.local_addr()?;
        let options = format!(
            "OPTIONS sip:callcore@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {here};branch=z9hG4bKcrash\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:callcore@127.0.0.1>\r\nCall-ID: crash-probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        socket.send_to(options.as_bytes(), ("127.0.0.1", self.sip_port))?;
        let mut buffer = [0u8; 2_048];
        let (n, _) = socket.recv_from(&mut buffer)?;
        Ok(buffer[..n].starts_with(b"SIP/2.0 200 OK"))
    }
}

/// The `callcore` command line on `db` with `args`.
pub fn command(db: &TestDatabase, args: &[&str]) -> anyhow::Result<Command> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callcore"));
    command.args(args).arg("--data-dir").arg(&db.data_dir);
    if let Some(url) = db.database_url() {
        command.arg("--database-url").arg(url);
    }
    command
        .env("CALLCORE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CALLCORE_LOG", "warn");
    Ok(command)
}

/// Starts a node on ports the system picks, read back from the line it prints once it
/// listens (so no other test can take them in between).
pub async fn start(db: &TestDatabase) -> anyhow::Result<Node> {
    start_with(db, &[]).await
}

/// [`start`] with more arguments for `callcore serve` (such as `--config`).
pub async fn start_with(db: &TestDatabase, more: &[&str]) -> anyhow::Result<Node> {
    let mut args = vec!["serve", "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0"];
    args.extend_from_slice(more);
    let mut child = command(db, &args)?
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let out = child.stdout.take().context("the node's stdout")?;
    let (lines, stdout) = channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let mut node = Node {
        child,
        stdout,
        base: String::new(),
        client: reqwest::Client::new(),
        sip_port: 0,
    };
    for _ in 0..1_200 {
        while let Ok(line) = node.stdout.try_recv() {
            // "callcore listening on http://ADDR (GraphiQL at /graphiql) and sip:ADDR (UDP and TCP), …"
            let address = |after: &str| {
                line.split_once(after)
                    .and_then(|(_, rest)| rest.split(' ').next())
                    .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            };
            if let (Some(http), Some(sip)) = (address("listening on http://"), address(" and sip:"))
            {
                node.base = format!("http://{http}");
                node.sip_port = sip.port();
                return Ok(node);
            }
        }
        if let Some(status) = node.child.try_wait()? {
            bail!("callcore exited on start ({status})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("callcore did not start within 60 s")
}

impl Node {
    /// A GraphQL request.
    pub async fn gql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Ok(request.send().await?.json().await?)
    }

    /// Logs in; the token.
    pub async fn login(
        &self,
        enterprise: &str,
        account: &str,
        password: &str,
    ) -> anyhow::Result<String> {
        let data = self
            .gql(None, "mutation($e: String!, $a: String!, $p: String!) { login(enterprise: $e, account: $a, password: $p) { token } }", json!({ "e": enterprise, "a": account, "p": password }))
            .await?;
        data["data"]["login"]["token"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("login failed: {data}"))
    }
}
