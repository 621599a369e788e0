//! The SIP driver: the only part of telephony that owns sockets and reads the clock. UDP
//! datagrams and TCP streams (framed by Content-Length, RFC 3261 §18.3) feed one loop that runs
//! the parser and the transaction layer, fires the layer's timers, hands new requests to a
//! [`SipService`] on their own tasks (a slow decision never blocks other messages), and sends
//! what comes out on the transport the request came in on. Malformed requests get a 400 when
//! they can be answered and are dropped otherwise; nothing received stops the loop.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::sip::message::{bad_request, parse, Request, Response, SipMessage, MAX_MESSAGE_BYTES};
use crate::sip::transaction::{Output, TransactionKey, TransactionLayer, Transport};

/// A boxed future, for services that answer asynchronously.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// What the transaction user asks the driver to do.
#[derive(Debug)]
enum Command {
    Respond {
        key: TransactionKey,
        response: Response,
    },
    Request {
        request: Request,
        to: SocketAddr,
        transport: Transport,
    },
    Raw {
        bytes: Vec<u8>,
        to: SocketAddr,
        transport: Transport,
    },
}

/// The transaction user's handle on the driver: answer server transactions, start client
/// transactions, send messages outside transactions (ACK of a 2xx, 2xx retransmissions).
#[derive(Debug, Clone)]
pub struct SipSender {
    commands: mpsc::UnboundedSender<Command>,
    local: SocketAddr,
}

impl SipSender {
    /// Sends `response` on server transaction `key` (provisional or final).
    pub fn respond(&self, key: &TransactionKey, response: Response) {
        let _ = self.commands.send(Command::Respond {
            key: key.clone(),
            response,
        });
    }

    /// Starts a client transaction; its responses come to [`SipService::response`].
    pub fn request(&self, request: Request, to: SocketAddr, transport: Transport) {
        let _ = self.commands.send(Command::Request {
            request,
            to,
            transport,
        });
    }

    /// Sends a message outside any transaction.
    pub fn raw(&self, message: &SipMessage, to: SocketAddr, transport: Transport) {
        let _ = self.commands.send(Command::Raw {
            bytes: message.to_bytes(),
            to,
            transport,
        });
    }

    /// The address the driver listens on (for Via and Contact).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

/// What handles SIP above the transaction layer: the registrar and the call runtime. Each call
/// must return quickly; long work goes to a task of the service's own.
pub trait SipService: Send + Sync + 'static {
    /// A new request (never an ACK of a 2xx or a retransmission); answer through `sip`.
    fn request(
        &self,
        key: TransactionKey,
        request: Request,
        from: SocketAddr,
        transport: Transport,
        sip: SipSender,
    );

    /// An ACK that matched no transaction: the ACK of a 2xx.
    fn ack(&self, request: Request, from: SocketAddr, sip: SipSender) {
        let _ = (request, from, sip);
    }

    /// A response to a client transaction started with [`SipSender::request`].
    fn response(&self, key: TransactionKey, response: Response, sip: SipSender) {
        let _ = (key, response, sip);
    }

    /// A transaction gave up (no final response, or no ACK).
    fn timeout(&self, key: TransactionKey, sip: SipSender) {
        let _ = (key, sip);
    }
}

/// Adapts a service that answers each request with one final response.
pub fn answer_with<F>(key: TransactionKey, sip: SipSender, answer: F)
where
    F: Future<Output = Response> + Send + 'static,
{
    tokio::spawn(async move {
        let response = answer.await;
        sip.respond(&key, response);
    });
}

/// Counters of a running driver.
#[derive(Debug, Default)]
pub struct DriverStats {
    /// Messages received (datagrams, or framed TCP messages).
    pub received: AtomicU64,
    /// Messages that did not parse.
    pub malformed: AtomicU64,
    /// TCP connections accepted.
    pub tcp_connections: AtomicU64,
}

/// One message from either transport.
struct Inbound {
    bytes: Vec<u8>,
    from: SocketAddr,
    transport: Transport,
}

/// Writers of the open TCP connections, by peer.
type Connections = Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>>;

/// The driver's command queue, made before it serves so that the application can send
/// (callcore starting a call of its own) before any message has arrived.
#[derive(Debug)]
pub struct SipChannel {
    sender: SipSender,
    commands: mpsc::UnboundedReceiver<Command>,
}

impl SipChannel {
    /// A queue for the driver that will serve `udp`.
    pub fn new(udp: &UdpSocket) -> SipChannel {
        let local = udp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5060)));
        let (commands_tx, commands) = mpsc::unbounded_channel::<Command>();
        SipChannel {
            sender: SipSender {
                commands: commands_tx,
                local,
            },
            commands,
        }
    }

    /// A handle that sends through the driver.
    pub fn sender(&self) -> SipSender {
        self.sender.clone()
    }
}

/// Serves SIP on `udp` and `tcp` (normally the same address) until `shutdown` completes,
/// carrying out what is sent through `channel`.
pub async fn serve(
    channel: SipChannel,
    udp: UdpSocket,
    tcp: TcpListener,
    service: Arc<dyn SipService>,
    stats: Arc<DriverStats>,
    shutdown: impl Future<Output = ()>,
) {
    let SipChannel {
        sender: sip,
        mut commands,
    } = channel;
    let udp = Arc::new(udp);
    let connections: Connections = Arc::default();
    let (inbound_tx, mut inbound) = mpsc::channel::<Inbound>(8_192);
    let readers = [
        tokio::spawn(read_udp(udp.clone(), inbound_tx.clone())),
        tokio::spawn(accept_tcp(
            tcp,
            inbound_tx,
            connections.clone(),
            stats.clone(),
        )),
    ];
    let started = Instant::now();
    let now = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut layer = TransactionLayer::new();
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
            () = &mut shutdown => break,
            Some(message) = inbound.recv() => {
                stats.received.fetch_add(1, Ordering::Relaxed);
                receive(&mut layer, message, now(), &stats)
            }
            Some(command) = commands.recv() => match command {
                // An error means the transaction timed out meanwhile: nothing to send.
                Command::Respond { key, response } => layer.respond(&key, response, now()).unwrap_or_default(),
                Command::Request { request, to, transport } => match layer.send_request(request, to, transport, now()) {
                    Ok((_, outputs)) => outputs,
                    Err(error) => {
                        warn!(%error, "client transaction not started");
                        Vec::new()
                    }
                },
                Command::Raw { bytes, to, transport } => vec![Output::Send { to, transport, bytes }],
            },
            () = timer => layer.on_timer(now()),
        };
        for output in outputs {
            match output {
                Output::Send {
                    to,
                    transport,
                    bytes,
                } => send(&udp, &connections, to, transport, bytes).await,
                Output::Request {
                    key,
                    request,
                    from,
                    transport,
                } => service.request(key, request, from, transport, sip.clone()),
                Output::AckFor2xx { request, from } => service.ack(request, from, sip.clone()),
                Output::Response { key, response } => service.response(key, response, sip.clone()),
                Output::Timeout { key } => service.timeout(key, sip.clone()),
            }
        }
    }
    for reader in readers {
        reader.abort();
    }
}

async fn send(
    udp: &UdpSocket,
    connections: &Connections,
    to: SocketAddr,
    transport: Transport,
    bytes: Vec<u8>,
) {
    match transport {
        Transport::Udp => {
            if let Err(error) = udp.send_to(&bytes, to).await {
                warn!(%error, %to, "SIP send failed");
            }
        }
        Transport::Tcp => {
            let writer = connections.lock().ok().and_then(|c| c.get(&to).cloned());
            match writer {
                Some(writer) => {
                    let _ = writer.send(bytes);
                }
                None => debug!(%to, "TCP connection gone; message dropped"),
            }
        }
    }
}

fn receive(
    layer: &mut TransactionLayer,
    message: Inbound,
    now: u64,
    stats: &DriverStats,
) -> Vec<Output> {
    let Inbound {
        bytes,
        from,
        transport,
    } = message;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Vec::new(); // keep-alive (RFC 5626 CRLF)
    }
    match parse(&bytes) {
        Ok(SipMessage::Request(request)) => layer.on_request(request, from, transport, now),
        Ok(SipMessage::Response(response)) => layer.on_response(response, now),
        Err(error) => {
            stats.malformed.fetch_add(1, Ordering::Relaxed);
            debug!(%error, %from, "malformed SIP");
            bad_request(&bytes, &error)
                .map(|bytes| Output::Send {
                    to: from,
                    transport,
                    bytes,
                })
                .into_iter()
                .collect()
        }
    }
}

async fn read_udp(socket: Arc<UdpSocket>, inbound: mpsc::Sender<Inbound>) {
    let mut buffer = vec![0u8; MAX_MESSAGE_BYTES + 1];
    loop {
        match socket.recv_from(&mut buffer).await {
            Ok((length, from)) => {
                let message = Inbound {
                    bytes: buffer[..length].to_vec(),
                    from,
                    transport: Transport::Udp,
                };
                if inbound.send(message).await.is_err() {
                    return;
                }
            }
            // ICMP errors surface here on some systems; the socket stays usable.
            Err(error) => debug!(%error, "SIP UDP receive error"),
        }
    }
}

async fn accept_tcp(
    listener: TcpListener,
    inbound: mpsc::Sender<Inbound>,
    connections: Connections,
    stats: Arc<DriverStats>,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        stats.tcp_connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve_connection(
            stream,
            peer,
            inbound.clone(),
            connections.clone(),
        ));
    }
}

/// Reads framed messages from one TCP connection and writes what the loop sends it.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    inbound: mpsc::Sender<Inbound>,
    connections: Connections,
) {
    let (mut reader, mut writer) = stream.into_split();
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
    let mut buffer: Vec<u8> = Vec::with_capacity(4_096);
    let mut chunk = vec![0u8; 16_384];
    'read: loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        loop {
            match next_frame(&mut buffer) {
                Frame::Message(bytes) => {
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
    }
    if let Ok(mut c) = connections.lock() {
        c.remove(&peer);
    }
    writing.abort();
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
}
