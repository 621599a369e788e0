//! A SIP peer written by hand for tests that need requests no SIPp scenario sends: literal
//! text out, answers read back by status and CSeq method.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{ensure, Context};
use tokio::net::UdpSocket;

use crate::ports::free_udp_port;

/// A SIP peer written by hand: sends literal requests and reads the answers.
pub struct Peer {
    socket: UdpSocket,
    server: SocketAddr,
}

impl Peer {
    /// A peer on `ip` (a free port) talking to `server`.
    pub async fn bind(ip: &str, server: SocketAddr) -> anyhow::Result<Self> {
        let socket = UdpSocket::bind((ip, free_udp_port(ip)?)).await?;
        Ok(Self { socket, server })
    }

    /// Its address.
    pub fn address(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    /// Sends `head` (header lines joined by CRLF) with `body`.
    pub async fn send(&self, head: &str, body: &str) -> anyhow::Result<()> {
        let text = format!(
            "{}\r\nContent-Length: {}\r\n\r\n{body}",
            head.trim_end().replace('\n', "\r\n"),
            body.len()
        );
        self.socket.send_to(text.as_bytes(), self.server).await?;
        Ok(())
    }

    /// The next answer whose first line starts with `status` (`SIP/2.0 200`) and whose CSeq
    /// ends with `cseq` (`INVITE`, `2 INVITE`); requests from callcore, provisional answers and
    /// answers to other requests are skipped, another final answer to this one is an error.
    pub async fn expect(&self, status: &str, cseq_method: &str) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut buffer = vec![0u8; 65_535];
        loop {
            let (n, _) = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buffer))
                .await
                .with_context(|| format!("waiting for {status} to {cseq_method}"))??;
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let cseq = header(&text, "CSeq").unwrap_or_default();
            if text.starts_with(status) && cseq.ends_with(cseq_method) {
                return Ok(text);
            }
            let first = text.lines().next().unwrap_or_default();
            ensure!(
                first.starts_with("SIP/2.0 1")
                    || !first.starts_with("SIP/2.0")
                    || !cseq.ends_with(cseq_method),
                "{first} (to {cseq}) instead of {status} to {cseq_method}"
            );
        }
    }

    /// The next final answer (2xx-6xx) whose CSeq ends with `cseq_method`, skipping anything
    /// else.
    pub async fn final_answer(&self, cseq_method: &str) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut buffer = vec![0u8; 65_535];
        loop {
            let (n, _) = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buffer))
                .await
                .with_context(|| format!("waiting for a final answer to {cseq_method}"))??;
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let cseq = header(&text, "CSeq").unwrap_or_default();
            if text.starts_with("SIP/2.0 ")
                && !text.starts_with("SIP/2.0 1")
                && cseq.ends_with(cseq_method)
            {
                return Ok(text);
            }
        }
    }
}

/// The value of header `name` in `message`.
pub fn header(message: &str, name: &str) -> Option<String> {
    message.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// The `tag` parameter of a From or To value.
pub fn tag(value: &str) -> Option<String> {
    value
        .split(';')
        .find_map(|p| p.trim().strip_prefix("tag=").map(str::to_owned))
}
