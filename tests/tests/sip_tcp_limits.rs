//! SIP over TCP is bounded, so that holding connections open cannot take the node down: a
//! source gets at most so many connections, the node at most so many, a connection that sends
//! nothing is closed after the first-message time, and while 20,000 idle connections are held
//! against the SIP port HTTP and SIP over UDP keep answering. Afterwards a phone connects over
//! TCP and is answered.

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use serde_json::json;
use tests::sip_peer::Peer;
use tests::{Backend, TestDatabase, TestServer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// Idle connections the flood holds.
const FLOOD: u32 = 20_000;
/// Connections the node holds at once in this test.
const MAX_CONNECTIONS: usize = 2_000;
/// Loopback addresses the flood comes from (100 connections each, under the per-source cap).
const FLOOD_SOURCES: u32 = 200;

fn options(transport: &str, from: std::net::SocketAddr, n: u32) -> String {
    format!(
        "OPTIONS sip:callcore SIP/2.0\r\nVia: SIP/2.0/{transport} {from};branch=z9hG4bK-opt-{n}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@callcore>;tag=p{n}\r\nTo: <sip:callcore>\r\nCall-ID: opt-{n}@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Waits until `done` holds, for at most `limit`.
async fn until(limit: Duration, what: &str, done: impl Fn() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while !done() {
        ensure!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Starts holders of `FLOOD` connections to `target`, each within this process's file limit.
async fn flood(target: std::net::SocketAddr) -> anyhow::Result<(Vec<Child>, u32)> {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    let per_holder = u32::try_from(hard.saturating_sub(256).min(10_000))?.max(100);
    let mut holders = Vec::new();
    let mut readers = Vec::new();
    let mut assigned = 0;
    while assigned < FLOOD {
        let count = per_holder.min(FLOOD - assigned);
        // Each holder spreads its connections over its own share of the source addresses.
        let sources = (FLOOD_SOURCES * count).div_ceil(FLOOD).max(1);
        let first = std::net::Ipv4Addr::from(
            u32::from(std::net::Ipv4Addr::new(127, 0, 1, 0)) + FLOOD_SOURCES * assigned / FLOOD,
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_hold_tcp"))
            .args([
                target.to_string(),
                count.to_string(),
                first.to_string(),
                sources.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        readers.push(BufReader::new(
            child.stdout.take().context("holder's output")?,
        ));
        holders.push(child);
        assigned += count;
    }
    let mut connected = 0;
    for reader in &mut readers {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(60), reader.read_line(&mut line)).await??;
        let mut words = line.split_whitespace();
        ensure!(words.next() == Some("connected"), "holder said {line:?}");
        connected += words.next().unwrap_or("0").parse::<u32>()?;
    }
    Ok((holders, connected))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sip_over_tcp_is_bounded_and_the_rest_keeps_serving() -> anyhow::Result<()> {
    let server = TestServer::start_configured(TestDatabase::new(Backend::Sqlite).await?, |c| {
        c.sip_tcp.max_connections = MAX_CONNECTIONS;
        c.sip_tcp.max_per_source = 128;
        c.sip_tcp.first_message = Duration::from_secs(5);
    })
    .await?;
    let stats = server.calls().driver_stats();
    let accepted = || stats.tcp_connections.load(Ordering::Relaxed);
    let refused = || stats.tcp_refused.load(Ordering::Relaxed);
    let idle_closed = || stats.tcp_idle_closed.load(Ordering::Relaxed);

    // One source: 128 connections, the rest closed at once.
    let mut one_source = Vec::new();
    for _ in 0..200 {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind("127.0.0.9:0".parse()?)?;
        one_source.push(socket.connect(server.sip_addr).await?);
    }
    until(
        Duration::from_secs(10),
        "one source's connections decided",
        || accepted() + refused() == 200,
    )
    .await?;
    ensure!(
        (accepted(), refused()) == (128, 72),
        "accepted {}, refused {}",
        accepted(),
        refused()
    );
    // Seen from the source: 72 of its connections were closed at once.
    let mut closed = 0;
    for stream in &mut one_source {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(20), stream.read(&mut byte)).await
        {
            closed += 1;
        }
    }
    ensure!(
        closed == 72,
        "{closed} of one source's 200 connections were closed"
    );
    drop(one_source);

    // The flood: 20,000 idle connections from 200 addresses, held.
    let (mut holders, connected) = flood(server.sip_addr).await?;
    ensure!(
        connected >= FLOOD * 9 / 10,
        "only {connected} connections held"
    );
    // HTTP answers.
    let started = Instant::now();
    let answer = server.gql(None, "{ __typename }", json!({})).await?;
    ensure!(answer["data"]["__typename"] == "QueryRoot", "{answer}");
    ensure!(
        started.elapsed() < Duration::from_secs(2),
        "HTTP took {:?}",
        started.elapsed()
    );
    // SIP over UDP answers.
    let phone = Peer::bind("127.0.0.1", server.sip_addr).await?;
    let started = Instant::now();
    let request = options("UDP", phone.address()?, 1).replace("\r\n", "\n");
    let head = request
        .trim_end()
        .trim_end_matches("Content-Length: 0")
        .trim_end();
    phone.send(head, "").await?;
    phone.expect("SIP/2.0 200", "OPTIONS").await?;
    ensure!(
        started.elapsed() < Duration::from_secs(2),
        "UDP took {:?}",
        started.elapsed()
    );
    // The node never held more than its limit.
    let peak = usize::try_from(stats.tcp_open_peak.load(Ordering::Relaxed))?;
    ensure!(
        peak == MAX_CONNECTIONS,
        "{peak} connections were open at most, the limit is {MAX_CONNECTIONS}"
    );
    ensure!(refused() > 72, "nothing of the flood was refused");

    // The silent connections are closed after the first-message time.
    until(Duration::from_secs(30), "silent connections closed", || {
        idle_closed() >= accepted() - 128
    })
    .await?;

    // A phone over TCP is answered again.
    let mut tcp = tokio::net::TcpStream::connect(server.sip_addr).await?;
    let from = tcp.local_addr()?;
    tcp.write_all(options("TCP", from, 2).as_bytes()).await?;
    let mut buffer = vec![0u8; 2_048];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buffer)).await??;
    let answer = String::from_utf8_lossy(&buffer[..n]);
    ensure!(answer.starts_with("SIP/2.0 200"), "{answer}");

    for holder in &mut holders {
        drop(holder.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(10), holder.wait()).await;
    }
    Ok(())
}
