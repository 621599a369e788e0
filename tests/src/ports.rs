//! Ports for the SIP peers the tests start (SIPp, baresip), which must be told a port before
//! they bind it: the system picks a free one, and this process never hands the same port out
//! twice, so tests running in parallel do not collide with each other. callcore itself always
//! binds port 0 and is asked which port it got (`TestServer::sip_addr`, the node's "listening
//! on" line).

use std::collections::BTreeSet;
use std::net::{TcpListener, UdpSocket};
use std::sync::Mutex;

use anyhow::bail;

/// Every port handed out by this process.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Reserves `port` for the caller; false when it was handed out before.
fn reserve(port: u16) -> bool {
    HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(port)
}

/// A port on `ip` free now for both UDP and TCP (a SIP peer may listen on both), never
/// handed out before by this process.
pub fn free_udp_port(ip: &str) -> anyhow::Result<u16> {
    for _ in 0..50 {
        let udp = UdpSocket::bind((ip, 0))?;
        let port = udp.local_addr()?.port();
        if TcpListener::bind((ip, port)).is_ok() && reserve(port) {
            return Ok(port);
        }
    }
    bail!("no free port on {ip}")
}

/// A TCP port on `ip` free now, never handed out before by this process.
pub fn free_tcp_port(ip: &str) -> anyhow::Result<u16> {
    for _ in 0..50 {
        let port = TcpListener::bind((ip, 0))?.local_addr()?.port();
        if reserve(port) {
            return Ok(port);
        }
    }
    bail!("no free TCP port on {ip}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_handed_out_once() -> anyhow::Result<()> {
        let ports: BTreeSet<u16> = (0..20)
            .map(|_| free_udp_port("127.0.0.1"))
            .collect::<anyhow::Result<_>>()?;
        assert_eq!(ports.len(), 20);
        for port in &ports {
            assert!(!reserve(*port), "port {port} handed out again");
        }
        Ok(())
    }
}
