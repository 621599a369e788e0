//! The SIP driver: the only part of telephony that owns sockets and reads the clock. It feeds
//! datagrams to the parser and the transaction layer, runs the layer's timers, hands new
//! requests to a [`SipService`] on their own tasks (a slow decision never blocks other
//! messages), and sends what comes out. Malformed requests get a 400 when they can be answered
//! and are dropped otherwise; nothing received stops the loop.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::sip::message::{bad_request, parse, Request, Response, SipMessage, MAX_MESSAGE_BYTES};
use crate::sip::transaction::{Output, TransactionKey, TransactionLayer, Transport};

/// A boxed response future.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// What answers requests: the registrar, and later the call runtime.
pub trait SipService: Send + Sync + 'static {
    /// The final response to a new request (never called for ACK or retransmissions).
    fn handle(&self, request: Request, from: SocketAddr, transport: Transport) -> ResponseFuture;
}

/// Counters of a running driver.
#[derive(Debug, Default)]
pub struct DriverStats {
    /// Datagrams received.
    pub received: std::sync::atomic::AtomicU64,
    /// Datagrams that did not parse.
    pub malformed: std::sync::atomic::AtomicU64,
}

/// Serves SIP over UDP on `socket` until `shutdown` completes.
pub async fn serve_udp(
    socket: UdpSocket,
    service: Arc<dyn SipService>,
    stats: Arc<DriverStats>,
    shutdown: impl Future<Output = ()>,
) {
    let started = Instant::now();
    let now = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut layer = TransactionLayer::new();
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<(TransactionKey, Response)>();
    let mut buffer = vec![0u8; MAX_MESSAGE_BYTES + 1];
    tokio::pin!(shutdown);
    loop {
        let deadline = layer
            .next_deadline()
            .map(|at| started + Duration::from_millis(at));
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let outputs = tokio::select! {
            () = &mut shutdown => return,
            received = socket.recv_from(&mut buffer) => match received {
                Ok((length, from)) => {
                    stats.received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    receive(&mut layer, &buffer[..length], from, now(), &socket, &stats).await
                }
                Err(error) => {
                    // ICMP errors surface here on some systems; the socket stays usable.
                    debug!(%error, "SIP UDP receive error");
                    Vec::new()
                }
            },
            // An error means the transaction timed out meanwhile: nothing to send.
            Some((key, response)) = answers.recv() => layer.respond(&key, response, now()).unwrap_or_default(),
            () = timer => layer.on_timer(now()),
        };
        for output in outputs {
            match output {
                Output::Send { to, bytes, .. } => {
                    if let Err(error) = socket.send_to(&bytes, to).await {
                        warn!(%error, %to, "SIP send failed");
                    }
                }
                Output::Request { key, request, from } => {
                    let service = service.clone();
                    let answers = answers_tx.clone();
                    tokio::spawn(async move {
                        let response = service.handle(request, from, Transport::Udp).await;
                        let _ = answers.send((key, response));
                    });
                }
                Output::AckFor2xx { .. } | Output::Response { .. } | Output::Timeout { .. } => {}
            }
        }
    }
}

async fn receive(
    layer: &mut TransactionLayer,
    bytes: &[u8],
    from: SocketAddr,
    now: u64,
    socket: &UdpSocket,
    stats: &DriverStats,
) -> Vec<Output> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Vec::new(); // keep-alive (RFC 5626 CRLF)
    }
    match parse(bytes) {
        Ok(SipMessage::Request(request)) => layer.on_request(request, from, Transport::Udp, now),
        Ok(SipMessage::Response(response)) => layer.on_response(response, now),
        Err(error) => {
            stats
                .malformed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            debug!(%error, %from, "malformed SIP");
            if let Some(answer) = bad_request(bytes, &error) {
                let _ = socket.send_to(&answer, from).await;
            }
            Vec::new()
        }
    }
}
