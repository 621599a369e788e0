//! SIP over TCP within limits: at most so many connections per node and per source address
//! (more are closed at once and counted), a connection that sends no message within the
//! first-message time or nothing at all for the idle time is closed, and accept errors (out
//! of file descriptors) back off instead of spinning. An idle connection holds no read
//! buffer: bytes are read only once the socket is readable.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::warn;

use super::shared::{Connections, DriverStats, Inbound};
use crate::sip::message::MAX_MESSAGE_BYTES;
use crate::sip::transaction::Transport;

/// Limits on SIP over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Connections open at once on the node.
    pub max_connections: usize,
    /// Connections open at once from one source address.
    pub max_per_source: usize,
    /// How long a new connection may take to send its first whole message.
    pub first_message: Duration,
    /// How long a connection may send nothing (a phone re-registers well within this).
    pub idle: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            max_connections: 4_096,
            max_per_source: 128,
            first_message: Duration::from_secs(10),
            idle: Duration::from_secs(3_900),
        }
    }
}

/// The longest pause after an accept error.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Open connections, in all and by source address.
#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// A place among the open connections, given back when dropped.
struct Place {
    open: Arc<Mutex<Open>>,
    source: IpAddr,
    stats: Arc<DriverStats>,
}

impl Place {
    /// A place for a connection from `source`, if the limits leave one.
    fn take(
        open: &Arc<Mutex<Open>>,
        source: IpAddr,
        limits: &TcpLimits,
        stats: &Arc<DriverStats>,
    ) -> Option<Place> {
        // A poisoned lock only means a thread panicked mid-update of two counters.
        let mut counts = open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let from_source = counts.by_source.get(&source).copied().unwrap_or(0);
        if counts.total >= limits.max_connections || from_source >= limits.max_per_source {
            return None;
        }
        counts.total += 1;
        counts.by_source.insert(source, from_source + 1);
        let now_open = stats.tcp_open.fetch_add(1, Ordering::Relaxed) + 1;
        stats.tcp_open_peak.fetch_max(now_open, Ordering::Relaxed);
        Some(Place {
            open: open.clone(),
            source,
            stats: stats.clone(),
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.stats.tcp_open.fetch_sub(1, Ordering::Relaxed);
        let mut counts = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_source.remove(&self.source);
            }
        }
    }
}

/// Accepts connections on `listener` within `limits`, each served on a task of its own.
pub(super) async fn accept(
    listener: TcpListener,
    limits: TcpLimits,
    inbound: mpsc::Sender<Inbound>,
    connections: Connections,
    stats: Arc<DriverStats>,
) {
    let open = Arc::new(Mutex::new(Open::default()));
    let mut backoff = Duration::ZERO;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = Duration::ZERO;
                accepted
            }
            Err(error) => {
                // Out of descriptors or memory: wait for connections to close instead of
                // spinning on the same error.
                backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
                warn!(%error, ?backoff, "SIP TCP accept failed");
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let Some(place) = Place::take(&open, peer.ip(), &limits, &stats) else {
            stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        stats.tcp_connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve_connection(
            stream,
            peer,
            limits,
            place,
            inbound.clone(),
            connections.clone(),
            stats.clone(),
        ));
    }
}

/// Reads framed messages from one TCP connection and writes what the loop sends it.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    limits: TcpLimits,
    place: Place,
    inbound: mpsc::Sender<Inbound>,
    connections: Connections,
    stats: Arc<DriverStats>,
) {
    let (reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    if let Ok(mut c) = connections.lock() {
        c.insert(peer, tx);
    }
    let writing = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                return;
            }
        }
    });
    let mut buffer: Vec<u8> = Vec::new();
    let mut spoke = false;
    'read: loop {
        let wait = if spoke {
            limits.idle
        } else {
            limits.first_message
        };
        match tokio::time::timeout(wait, reader.readable()).await {
            Err(_) => {
                stats.tcp_idle_closed.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Ok(Err(_)) => break,
            Ok(Ok(())) => {}
        }
        buffer.reserve(4_096);
        match reader.try_read_buf(&mut buffer) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => break,
        }
        loop {
            match next_frame(&mut buffer) {
                Frame::Message(bytes) => {
                    spoke = true;
                    if inbound
                        .send(Inbound {
                            bytes,
                            from: peer,
                            transport: Transport::Tcp,
                        })
                        .await
                        .is_err()
                    {
                        break 'read;
                    }
                }
                Frame::Incomplete => break,
                Frame::Unusable => break 'read, // no way to find the next message: close
            }
        }
        if buffer.is_empty() {
            buffer = Vec::new(); // an idle connection keeps no buffer
        }
    }
    if let Ok(mut c) = connections.lock() {
        c.remove(&peer);
    }
    writing.abort();
    drop(place);
}

/// What the front of a TCP byte stream holds.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    /// A whole message, removed from the buffer.
    Message(Vec<u8>),
    /// Not a whole message yet.
    Incomplete,
    /// Larger than allowed, or a Content-Length that cannot be read.
    Unusable,
}

/// Takes the first message off `buffer`, skipping keep-alive CRLFs before it.
fn next_frame(buffer: &mut Vec<u8>) -> Frame {
    let start = buffer
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(buffer.len());
    buffer.drain(..start);
    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buffer.len() > MAX_MESSAGE_BYTES {
            Frame::Unusable
        } else {
            Frame::Incomplete
        };
    };
    let head = String::from_utf8_lossy(&buffer[..end]);
    let mut length = 0usize;
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            match value.trim().parse() {
                Ok(n) => length = n,
                Err(_) => return Frame::Unusable,
            }
        }
    }
    let total = end + 4 + length;
    if total > MAX_MESSAGE_BYTES {
        return Frame::Unusable;
    }
    if buffer.len() < total {
        return Frame::Incomplete;
    }
    Frame::Message(buffer.drain(..total).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_frames_split_on_content_length() {
        let mut buffer = b"\r\n\r\nOPTIONS sip:a SIP/2.0\r\nl: 3\r\n\r\nabcSIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\nINVITE".to_vec();
        assert_eq!(
            next_frame(&mut buffer),
            Frame::Message(b"OPTIONS sip:a SIP/2.0\r\nl: 3\r\n\r\nabc".to_vec())
        );
        assert_eq!(
            next_frame(&mut buffer),
            Frame::Message(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec())
        );
        assert_eq!(next_frame(&mut buffer), Frame::Incomplete);
        assert_eq!(buffer, b"INVITE");
    }

    #[test]
    fn a_partial_body_waits_and_a_bad_length_closes() {
        let mut buffer = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 10\r\n\r\nabc".to_vec();
        assert_eq!(next_frame(&mut buffer), Frame::Incomplete);
        let mut bad = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: x\r\n\r\n".to_vec();
        assert_eq!(next_frame(&mut bad), Frame::Unusable);
        let mut huge = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 999999\r\n\r\n".to_vec();
        assert_eq!(next_frame(&mut huge), Frame::Unusable);
        let mut endless = vec![b'a'; MAX_MESSAGE_BYTES + 2];
        assert_eq!(next_frame(&mut endless), Frame::Unusable);
    }

    #[test]
    fn places_are_limited_per_node_and_per_source_and_given_back() {
        let open = Arc::new(Mutex::new(Open::default()));
        let limits = TcpLimits {
            max_connections: 3,
            max_per_source: 2,
            ..TcpLimits::default()
        };
        let stats = Arc::new(DriverStats::default());
        let take = |source| Place::take(&open, source, &limits, &stats);
        let a = IpAddr::from([192, 0, 2, 1]);
        let b = IpAddr::from([192, 0, 2, 2]);
        let first = take(a);
        let second = take(a);
        assert!(first.is_some() && second.is_some());
        assert!(take(a).is_none(), "per source");
        let third = take(b);
        assert!(third.is_some());
        assert!(take(b).is_none(), "per node");
        assert_eq!(stats.tcp_open.load(Ordering::Relaxed), 3);
        drop(first);
        assert!(take(a).is_some(), "given back");
        drop((second, third));
        assert_eq!(stats.tcp_open.load(Ordering::Relaxed), 0);
        assert_eq!(stats.tcp_open_peak.load(Ordering::Relaxed), 3);
        let counts = open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert_eq!(counts.total, 0);
        assert!(counts.by_source.is_empty());
    }
}
