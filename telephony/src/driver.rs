//! The SIP driver: the only part of telephony that owns sockets and reads the clock. UDP
//! datagrams and TCP streams (framed by Content-Length, RFC 3261 §18.3) feed one loop that runs
//! the parser and the transaction layer, fires the layer's timers, hands new requests to a
//! [`SipService`] on their own tasks (a slow decision never blocks other messages), and sends
//! what comes out on the transport the request came in on. Malformed requests get a 400 when
//! they can be answered and are dropped otherwise; nothing received stops the loop.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::sip::message::{bad_request, parse, Request, Response, SipMessage, MAX_MESSAGE_BYTES};

use crate::sip::transaction::{Output, TransactionKey, TransactionLayer, Transport};

mod shared;
mod tcp;

pub use shared::DriverStats;
use shared::{Connections, Inbound};
pub use tcp::TcpLimits;

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

/// Serves SIP on `udp` and `tcp` (normally the same address), TCP within `limits`, until
/// `shutdown` completes, carrying out what is sent through `channel`.
pub async fn serve(
    channel: SipChannel,
    udp: UdpSocket,
    tcp: TcpListener,
    limits: TcpLimits,
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
        tokio::spawn(tcp::accept(
            tcp,
            limits,
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
