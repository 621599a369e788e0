//! What the driver's loop and its TCP connections share: the message each hands the loop,
//! the writers of the open connections, and the counters.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::sip::transaction::Transport;

/// Counters of a running driver.
#[derive(Debug, Default)]
pub struct DriverStats {
    /// Messages received (datagrams, or framed TCP messages).
    pub received: AtomicU64,
    /// Messages that did not parse.
    pub malformed: AtomicU64,
    /// TCP connections accepted.
    pub tcp_connections: AtomicU64,
    /// TCP connections closed at once: over the node's or the source's limit.
    pub tcp_refused: AtomicU64,
    /// TCP connections open now.
    pub tcp_open: AtomicU64,
    /// The most TCP connections ever open at once.
    pub tcp_open_peak: AtomicU64,
    /// TCP connections closed for saying nothing: no message within the first-message time,
    /// or nothing at all for the idle time.
    pub tcp_idle_closed: AtomicU64,
}

/// One message from either transport.
pub(crate) struct Inbound {
    pub(crate) bytes: Vec<u8>,
    pub(crate) from: SocketAddr,
    pub(crate) transport: Transport,
}

/// Writers of the open TCP connections, by peer.
pub(crate) type Connections = Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>>;
