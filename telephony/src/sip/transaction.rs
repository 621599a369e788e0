//! The RFC 3261 §17 transaction layer, sans-IO: messages and the time come in, messages to
//! send and happenings for the transaction user come out, and `next_deadline` says when to call
//! `on_timer` again. Covers INVITE and non-INVITE, client and server, timers A–K (plus the
//! RFC 6026 Accepted state, timers L and M), retransmissions over UDP, and the ACK of non-2xx
//! final responses. The driver owns the sockets and the clock; tests use a virtual clock.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use super::message::{cseq, param, Headers, Method, Request, Response, SipMessage};

/// RTT estimate (RFC 3261 T1), in milliseconds.
pub const T1: u64 = 500;
/// Longest retransmit interval for non-INVITE requests and INVITE responses.
pub const T2: u64 = 4_000;
/// Longest time a message stays in the network.
pub const T4: u64 = 5_000;

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: the layer retransmits.
    Udp,
    /// TCP: reliable, no retransmissions, no lingering.
    Tcp,
}

/// Identifies a transaction: top Via branch, sent-by, and method (ACK counts as INVITE).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionKey {
    /// Branch parameter of the top Via.
    pub branch: String,
    /// Host and port of the top Via.
    pub sent_by: String,
    /// INVITE, CANCEL, BYE…
    pub method: String,
}

impl TransactionKey {
    /// The key of a message, from its top Via and its CSeq (or request) method.
    pub fn of(headers: &Headers, method: &Method) -> Option<TransactionKey> {
        let via = headers.get_all("Via").into_iter().next()?;
        let branch = param(via, "branch")?;
        let sent_by = via
            .split(';')
            .next()?
            .split_whitespace()
            .nth(1)?
            .to_ascii_lowercase();
        let method = if *method == Method::Ack {
            Method::Invite
        } else {
            method.clone()
        };
        Some(TransactionKey {
            branch,
            sent_by,
            method: method.as_str().to_owned(),
        })
    }
}

/// Something for the driver to do or the transaction user to handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send these bytes.
    Send {
        /// To whom.
        to: SocketAddr,
        /// Over which transport.
        transport: Transport,
        /// The message.
        bytes: Vec<u8>,
    },
    /// A new request for the transaction user (answer it with [`TransactionLayer::respond`]).
    Request {
        /// The server transaction.
        key: TransactionKey,
        /// The request.
        request: Request,
        /// Who sent it.
        from: SocketAddr,
        /// Over which transport.
        transport: Transport,
    },
    /// An ACK that matches no transaction: the ACK of a 2xx, for the dialog layer.
    AckFor2xx {
        /// The ACK.
        request: Request,
        /// Who sent it.
        from: SocketAddr,
    },
    /// A response for a client transaction's user (retransmissions are absorbed).
    Response {
        /// The client transaction.
        key: TransactionKey,
        /// The response.
        response: Response,
    },
    /// A transaction gave up: no final response (timer B or F), or no ACK for a final
    /// response (timer H). The transaction user must clean up (a 408 for a client).
    Timeout {
        /// The transaction.
        key: TransactionKey,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Trying,
    Calling,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(usize)]
enum Timer {
    /// A (INVITE request), E (non-INVITE request) or G (INVITE final response): retransmit.
    Retransmit,
    /// B, F (no final response) or H (no ACK): give up.
    Timeout,
    /// D, I, J, K, L, M: forget the transaction.
    Linger,
}

#[derive(Debug)]
struct ServerTransaction {
    deadlines: [Option<u64>; 3],
    invite: bool,
    state: State,
    peer: SocketAddr,
    transport: Transport,
    last_response: Option<Vec<u8>>,
    interval: u64,
}

#[derive(Debug)]
struct ClientTransaction {
    deadlines: [Option<u64>; 3],
    invite: bool,
    state: State,
    peer: SocketAddr,
    transport: Transport,
    request: Request,
    bytes: Vec<u8>,
    interval: u64,
    ack: Option<Vec<u8>>,
}

/// All transactions of a SIP endpoint. Each transaction remembers its armed deadlines; the
/// timer queue may hold stale entries, which are skipped when they come up, so arming and
/// disarming cost O(log n) and O(1).
#[derive(Debug, Default)]
pub struct TransactionLayer {
    servers: HashMap<TransactionKey, ServerTransaction>,
    clients: HashMap<TransactionKey, ClientTransaction>,
    timers: BTreeMap<(u64, TransactionKey, bool, Timer), ()>,
}

/// Why a request cannot start a client transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// No top Via with a branch.
    #[error("the request has no top Via with a branch")]
    NoBranch,
    /// A transaction with this key exists.
    #[error("a transaction with this branch already exists")]
    Duplicate,
    /// The key names no live server transaction.
    #[error("no such server transaction")]
    Unknown,
}

impl TransactionLayer {
    /// An empty layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Live transactions (server, client).
    pub fn len(&self) -> (usize, usize) {
        (self.servers.len(), self.clients.len())
    }

    /// When `on_timer` must be called next (possibly early, for a timer disarmed since: calling
    /// `on_timer` then does nothing).
    pub fn next_deadline(&mut self) -> Option<u64> {
        while let Some(((at, key, server, timer), ())) = self.timers.pop_first() {
            let live = self
                .deadlines(&key, server)
                .is_some_and(|d| d[timer as usize] == Some(at));
            if live {
                self.timers.insert((at, key, server, timer), ());
                return Some(at);
            }
        }
        None
    }

    fn deadlines(&mut self, key: &TransactionKey, server: bool) -> Option<&mut [Option<u64>; 3]> {
        if server {
            self.servers.get_mut(key).map(|t| &mut t.deadlines)
        } else {
            self.clients.get_mut(key).map(|t| &mut t.deadlines)
        }
    }

    fn arm(&mut self, at: u64, key: &TransactionKey, server: bool, timer: Timer) {
        if let Some(deadlines) = self.deadlines(key, server) {
            deadlines[timer as usize] = Some(at);
            self.timers.insert((at, key.clone(), server, timer), ());
        }
    }

    fn disarm(&mut self, key: &TransactionKey, server: bool, timer: Timer) {
        if let Some(deadlines) = self.deadlines(key, server) {
            deadlines[timer as usize] = None;
        }
    }

    fn disarm_all(&mut self, key: &TransactionKey, server: bool) {
        if let Some(deadlines) = self.deadlines(key, server) {
            *deadlines = [None; 3];
        }
    }

    /// Whether the queue entry is the transaction's current deadline for that timer.
    fn is_due(&mut self, at: u64, key: &TransactionKey, server: bool, timer: Timer) -> bool {
        self.deadlines(key, server).is_some_and(|d| {
            let due = d[timer as usize] == Some(at);
            if due {
                d[timer as usize] = None;
            }
            due
        })
    }

    /// A request arrived. New requests go to the transaction user; retransmissions are
    /// answered from the transaction; an ACK of a non-2xx final response completes its INVITE
    /// transaction.
    pub fn on_request(
        &mut self,
        request: Request,
        from: SocketAddr,
        transport: Transport,
        now: u64,
    ) -> Vec<Output> {
        let Some(key) = TransactionKey::of(&request.headers, &request.method) else {
            // RFC 2543 peers without a branch are not supported; the driver answers 400.
            return Vec::new();
        };
        if request.method == Method::Ack {
            let Some(server) = self.servers.get_mut(&key) else {
                return vec![Output::AckFor2xx { request, from }];
            };
            if server.state == State::Completed {
                server.state = State::Confirmed;
                let reliable = server.transport == Transport::Tcp;
                self.disarm(&key, true, Timer::Retransmit);
                self.disarm(&key, true, Timer::Timeout);
                self.arm(
                    now + if reliable { 0 } else { T4 },
                    &key,
                    true,
                    Timer::Linger,
                );
            }
            return Vec::new(); // absorbed (also in Accepted: RFC 6026 passes it to the TU, which needs only one)
        }
        if let Some(server) = self.servers.get(&key) {
            // A retransmission: answer with the last response, if any.
            return server
                .last_response
                .iter()
                .map(|bytes| Output::Send {
                    to: server.peer,
                    transport: server.transport,
                    bytes: bytes.clone(),
                })
                .collect();
        }
        let invite = request.method == Method::Invite;
        let mut out = Vec::new();
        let mut transaction = ServerTransaction {
            deadlines: [None; 3],
            invite,
            state: if invite {
                State::Proceeding
            } else {
                State::Trying
            },
            peer: from,
            transport,
            last_response: None,
            interval: T1,
        };
        if invite {
            // Answer at once so the client stops retransmitting (RFC 3261 §17.2.1).
            let trying =
                SipMessage::Response(response_to(&request, 100, "Trying", None)).to_bytes();
            out.push(Output::Send {
                to: from,
                transport,
                bytes: trying.clone(),
            });
            transaction.last_response = Some(trying);
        }
        self.servers.insert(key.clone(), transaction);
        out.push(Output::Request {
            key,
            request,
            from,
            transport,
        });
        out
    }

    /// The transaction user answers server transaction `key`.
    pub fn respond(
        &mut self,
        key: &TransactionKey,
        response: Response,
        now: u64,
    ) -> Result<Vec<Output>, TransactionError> {
        let server = self.servers.get_mut(key).ok_or(TransactionError::Unknown)?;
        if matches!(
            server.state,
            State::Completed | State::Confirmed | State::Accepted
        ) {
            return Ok(Vec::new()); // a final response was sent already
        }
        let bytes = SipMessage::Response(response.clone()).to_bytes();
        let out = vec![Output::Send {
            to: server.peer,
            transport: server.transport,
            bytes: bytes.clone(),
        }];
        server.last_response = Some(bytes);
        let reliable = server.transport == Transport::Tcp;
        let (invite, status) = (server.invite, response.status);
        match (invite, status) {
            (_, 100..=199) => {
                server.state = State::Proceeding;
            }
            (true, 200..=299) => {
                // RFC 6026: absorb INVITE retransmissions for a while; the TU retransmits the 2xx.
                server.state = State::Accepted;
                server.last_response = None;
                self.arm(now + 64 * T1, key, true, Timer::Linger);
            }
            (true, _) => {
                server.state = State::Completed;
                server.interval = T1;
                if !reliable {
                    self.arm(now + T1, key, true, Timer::Retransmit);
                }
                self.arm(now + 64 * T1, key, true, Timer::Timeout);
            }
            (false, _) => {
                server.state = State::Completed;
                self.arm(
                    now + if reliable { 0 } else { 64 * T1 },
                    key,
                    true,
                    Timer::Linger,
                );
            }
        }
        Ok(out)
    }

    /// Starts a client transaction: sends `request` to `to` and keeps retransmitting it over UDP
    /// until a response (or timer B/F) ends that.
    pub fn send_request(
        &mut self,
        request: Request,
        to: SocketAddr,
        transport: Transport,
        now: u64,
    ) -> Result<(TransactionKey, Vec<Output>), TransactionError> {
        let key = TransactionKey::of(&request.headers, &request.method)
            .ok_or(TransactionError::NoBranch)?;
        if self.clients.contains_key(&key) {
            return Err(TransactionError::Duplicate);
        }
        let invite = request.method == Method::Invite;
        let bytes = SipMessage::Request(request.clone()).to_bytes();
        let out = vec![Output::Send {
            to,
            transport,
            bytes: bytes.clone(),
        }];
        self.clients.insert(
            key.clone(),
            ClientTransaction {
                deadlines: [None; 3],
                invite,
                state: if invite {
                    State::Calling
                } else {
                    State::Trying
                },
                peer: to,
                transport,
                request,
                bytes,
                interval: T1,
                ack: None,
            },
        );
        if transport == Transport::Udp {
            self.arm(now + T1, &key, false, Timer::Retransmit);
        }
        self.arm(now + 64 * T1, &key, false, Timer::Timeout);
        Ok((key, out))
    }

    /// A response arrived for a client transaction.
    pub fn on_response(&mut self, response: Response, now: u64) -> Vec<Output> {
        let Some((_, method)) = cseq(&response.headers) else {
            return Vec::new();
        };
        let Some(key) = TransactionKey::of(&response.headers, &method) else {
            return Vec::new();
        };
        let Some(client) = self.clients.get_mut(&key) else {
            return Vec::new(); // stray or late: dropped (RFC 3261 §18.1.2)
        };
        let reliable = client.transport == Transport::Tcp;
        let status = response.status;
        let deliver = Output::Response {
            key: key.clone(),
            response: response.clone(),
        };
        match (client.invite, client.state, status) {
            (_, State::Calling | State::Trying | State::Proceeding, 100..=199) => {
                let was_calling = client.state == State::Calling;
                client.state = State::Proceeding;
                if client.invite && was_calling {
                    self.disarm(&key, false, Timer::Retransmit);
                    self.disarm(&key, false, Timer::Timeout);
                }
                vec![deliver]
            }
            (true, State::Calling | State::Proceeding, 200..=299) => {
                client.state = State::Accepted;
                self.disarm_all(&key, false);
                self.arm(now + 64 * T1, &key, false, Timer::Linger);
                vec![deliver]
            }
            (true, State::Accepted, 200..=299) => vec![deliver], // 2xx retransmissions go to the TU
            (true, State::Calling | State::Proceeding, _) => {
                let ack = SipMessage::Request(ack_for(&client.request, &response)).to_bytes();
                client.ack = Some(ack.clone());
                client.state = State::Completed;
                let out = vec![
                    Output::Send {
                        to: client.peer,
                        transport: client.transport,
                        bytes: ack,
                    },
                    deliver,
                ];
                self.disarm_all(&key, false);
                self.arm(
                    now + if reliable { 0 } else { 32_000 },
                    &key,
                    false,
                    Timer::Linger,
                );
                out
            }
            (true, State::Completed, 300..) => client
                .ack
                .iter()
                .map(|ack| Output::Send {
                    to: client.peer,
                    transport: client.transport,
                    bytes: ack.clone(),
                })
                .collect(),
            (false, State::Trying | State::Proceeding, 200..) => {
                client.state = State::Completed;
                self.disarm_all(&key, false);
                self.arm(
                    now + if reliable { 0 } else { T4 },
                    &key,
                    false,
                    Timer::Linger,
                );
                vec![deliver]
            }
            _ => Vec::new(), // retransmitted final response of a completed non-INVITE: absorbed
        }
    }

    /// Fires every timer due at `now`.
    pub fn on_timer(&mut self, now: u64) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some(((at, key, server, timer), ())) = self.timers.pop_first() {
            if at > now {
                self.timers.insert((at, key, server, timer), ());
                break;
            }
            if !self.is_due(at, &key, server, timer) {
                continue; // disarmed or re-armed since
            }
            match (server, timer) {
                (true, Timer::Retransmit) => {
                    if let Some(t) = self.servers.get_mut(&key) {
                        if t.state == State::Completed {
                            if let Some(bytes) = &t.last_response {
                                out.push(Output::Send {
                                    to: t.peer,
                                    transport: t.transport,
                                    bytes: bytes.clone(),
                                });
                            }
                            t.interval = (t.interval * 2).min(T2);
                            let next = at + t.interval;
                            self.arm(next, &key, true, Timer::Retransmit);
                        }
                    }
                }
                (false, Timer::Retransmit) => {
                    if let Some(t) = self.clients.get_mut(&key) {
                        if matches!(t.state, State::Calling | State::Trying | State::Proceeding) {
                            out.push(Output::Send {
                                to: t.peer,
                                transport: t.transport,
                                bytes: t.bytes.clone(),
                            });
                            t.interval = if t.invite {
                                t.interval * 2
                            } else if t.state == State::Proceeding {
                                T2
                            } else {
                                (t.interval * 2).min(T2)
                            };
                            let next = at + t.interval;
                            self.arm(next, &key, false, Timer::Retransmit);
                        }
                    }
                }
                (true, Timer::Timeout) => {
                    if self.servers.remove(&key).is_some() {
                        self.disarm_all(&key, true);
                        out.push(Output::Timeout { key });
                    }
                }
                (false, Timer::Timeout) => {
                    if self.clients.remove(&key).is_some() {
                        self.disarm_all(&key, false);
                        out.push(Output::Timeout { key });
                    }
                }
                (true, Timer::Linger) => {
                    self.servers.remove(&key);
                    self.disarm_all(&key, true);
                }
                (false, Timer::Linger) => {
                    self.clients.remove(&key);
                    self.disarm_all(&key, false);
                }
            }
        }
        out
    }
}

/// A response to `request` copying Via, From, To (with `to_tag` added when given), Call-ID
/// and CSeq, as RFC 3261 §8.2.6 says.
pub fn response_to(request: &Request, status: u16, reason: &str, to_tag: Option<&str>) -> Response {
    let mut headers = Headers::new();
    for via in request.headers.get_all("Via") {
        headers.push("Via", via);
    }
    if let Some(from) = request.headers.get("From") {
        headers.push("From", from);
    }
    if let Some(to) = request.headers.get("To") {
        match to_tag {
            Some(tag) if param(to, "tag").is_none() => {
                headers.push("To", format!("{to};tag={tag}"))
            }
            _ => headers.push("To", to),
        }
    }
    for name in ["Call-ID", "CSeq"] {
        if let Some(value) = request.headers.get(name) {
            headers.push(name, value);
        }
    }
    Response {
        status,
        reason: reason.to_owned(),
        headers,
        body: Vec::new(),
    }
}

/// The ACK of a non-2xx final response (RFC 3261 §17.1.1.3): same Request-URI, top Via,
/// From, Call-ID and Route as the INVITE, To of the response, CSeq number of the INVITE.
fn ack_for(invite: &Request, response: &Response) -> Request {
    let mut headers = Headers::new();
    if let Some(via) = invite.headers.get_all("Via").into_iter().next() {
        headers.push("Via", via);
    }
    headers.push("Max-Forwards", "70");
    for (name, source) in [
        ("From", &invite.headers),
        ("To", &response.headers),
        ("Call-ID", &invite.headers),
    ] {
        if let Some(value) = source.get(name) {
            headers.push(name, value);
        }
    }
    let number = cseq(&invite.headers).map_or(1, |(n, _)| n);
    headers.push("CSeq", format!("{number} ACK"));
    for route in invite.headers.get_all("Route") {
        headers.push("Route", route);
    }
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        headers,
        body: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
