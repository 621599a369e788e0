//! Holds idle TCP connections against an address, as an attacker exhausting a server would:
//! `hold_tcp <target> <count> <first-source-ip> <sources>` opens `count` connections spread over
//! `sources` loopback addresses starting at `first-source-ip`, sends nothing, prints
//! `connected <n> failed <m>`, and holds them until its standard input closes. Tests run
//! several of these so that no process needs more descriptors than its limit allows.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpSocket;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let target: SocketAddr = args.get(1).context("target")?.parse()?;
    let count: u32 = args.get(2).context("count")?.parse()?;
    let first: Ipv4Addr = args.get(3).context("first source ip")?.parse()?;
    let sources: u32 = args.get(4).context("sources")?.parse::<u32>()?.max(1);
    rlimit::increase_nofile_limit(u64::from(count) + 64)?;
    let mut held = Vec::with_capacity(usize::try_from(count)?);
    let mut failed = 0u32;
    for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
        let attempts = chunk.iter().map(|n| {
            let source = IpAddr::V4(Ipv4Addr::from(u32::from(first) + n % sources));
            async move {
                let socket = TcpSocket::new_v4()?;
                socket.bind(SocketAddr::new(source, 0))?;
                tokio::time::timeout(Duration::from_secs(5), socket.connect(target))
                    .await
                    .map_err(std::io::Error::other)?
            }
        });
        for outcome in futures::future::join_all(attempts).await {
            match outcome {
                Ok(stream) => held.push(stream),
                Err(_) => failed += 1,
            }
        }
    }
    println!("connected {} failed {failed}", held.len());
    std::io::Write::flush(&mut std::io::stdout())?;
    // Hold everything until told to stop.
    let mut line = [0u8; 64];
    while std::io::Read::read(&mut std::io::stdin(), &mut line).unwrap_or(0) > 0 {}
    drop(held);
    Ok(())
}
