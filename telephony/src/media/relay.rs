//! The RTP relay of one call: two UDP sockets, one facing each leg, forwarding packets between
//! them. Each side's address is first taken from its SDP and then latched to where its packets
//! really come from (symmetric RTP, so phones behind NAT work). Counters and the time of the
//! last packet tell the call runtime whether media still flows.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::recorder::{Recorder, RecorderError};

/// Packets forwarded, per direction.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// From leg A to leg B.
    pub a_to_b: AtomicU64,
    /// From leg B to leg A.
    pub b_to_a: AtomicU64,
}

#[derive(Debug)]
struct Peers {
    a: Option<SocketAddr>,
    b: Option<SocketAddr>,
    last_packet: Instant,
    recorder: Option<Recorder>,
}

/// A running relay; stops when dropped.
#[derive(Debug)]
pub struct MediaRelay {
    /// Port facing leg A (put in the SDP sent to A).
    pub a_port: u16,
    /// Port facing leg B (put in the SDP sent to B).
    pub b_port: u16,
    /// Counters.
    pub stats: Arc<RelayStats>,
    peers: Arc<Mutex<Peers>>,
    tasks: [JoinHandle<()>; 2],
}

impl MediaRelay {
    /// Binds two sockets on `ip` (ports chosen by the system) and starts forwarding.
    pub async fn open(ip: IpAddr) -> std::io::Result<MediaRelay> {
        let a = Arc::new(UdpSocket::bind(SocketAddr::new(ip, 0)).await?);
        let b = Arc::new(UdpSocket::bind(SocketAddr::new(ip, 0)).await?);
        let peers = Arc::new(Mutex::new(Peers {
            a: None,
            b: None,
            last_packet: Instant::now(),
            recorder: None,
        }));
        let stats = Arc::new(RelayStats::default());
        let tasks = [
            tokio::spawn(forward(
                a.clone(),
                b.clone(),
                peers.clone(),
                stats.clone(),
                Side::A,
            )),
            tokio::spawn(forward(
                b.clone(),
                a.clone(),
                peers.clone(),
                stats.clone(),
                Side::B,
            )),
        ];
        Ok(MediaRelay {
            a_port: a.local_addr()?.port(),
            b_port: b.local_addr()?.port(),
            stats,
            peers,
            tasks,
        })
    }

    /// Where leg A receives media (from its SDP), until its packets say otherwise.
    pub fn set_a(&self, address: SocketAddr) {
        if let Ok(mut p) = self.peers.lock() {
            p.a = Some(address);
        }
    }

    /// Where leg B receives media (from its SDP), until its packets say otherwise.
    pub fn set_b(&self, address: SocketAddr) {
        if let Ok(mut p) = self.peers.lock() {
            p.b = Some(address);
        }
    }

    /// Starts recording both directions into the WAV file at `path`.
    pub fn start_recording(&self, path: &Path) -> Result<(), RecorderError> {
        let recorder = Recorder::create(path)?;
        if let Ok(mut p) = self.peers.lock() {
            p.recorder = Some(recorder);
        }
        Ok(())
    }

    /// Stops recording; returns the recorded length in milliseconds (`None` when not recording).
    pub fn stop_recording(&self) -> Option<Result<u64, RecorderError>> {
        let recorder = self.peers.lock().ok().and_then(|mut p| p.recorder.take())?;
        Some(recorder.finish(Instant::now()))
    }

    /// Time since the last packet in either direction.
    pub fn idle_for(&self) -> std::time::Duration {
        self.peers
            .lock()
            .map(|p| p.last_packet.elapsed())
            .unwrap_or_default()
    }
}

impl Drop for MediaRelay {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The payload type and payload of an RTP packet (RFC 3550 §5.1), past CSRCs and extension.
fn rtp_payload(packet: &[u8]) -> Option<(u8, &[u8])> {
    let first = *packet.first()?;
    if first >> 6 != 2 {
        return None;
    }
    let mut offset = 12 + 4 * usize::from(first & 0x0F);
    if first & 0x10 != 0 {
        let words = u16::from_be_bytes([*packet.get(offset + 2)?, *packet.get(offset + 3)?]);
        offset += 4 + 4 * usize::from(words);
    }
    let end = if first & 0x20 != 0 {
        packet.len().checked_sub(usize::from(*packet.last()?))?
    } else {
        packet.len()
    };
    Some((packet.get(1)? & 0x7F, packet.get(offset..end)?))
}

#[derive(Debug, Clone, Copy)]
enum Side {
    A,
    B,
}

/// Receives on `from` (facing `side`) and sends out of `to` to the other side.
async fn forward(
    from: Arc<UdpSocket>,
    to: Arc<UdpSocket>,
    peers: Arc<Mutex<Peers>>,
    stats: Arc<RelayStats>,
    side: Side,
) {
    let mut buffer = [0u8; 2_048];
    loop {
        let Ok((length, source)) = from.recv_from(&mut buffer).await else {
            continue;
        };
        if length < 12 {
            continue; // not RTP
        }
        let target = match peers.lock() {
            Ok(mut p) => {
                let now = Instant::now();
                p.last_packet = now;
                if let (Some(recorder), Some((pt, payload))) =
                    (p.recorder.as_mut(), rtp_payload(&buffer[..length]))
                {
                    if recorder.add(pt, payload, now).is_err() {
                        p.recorder = None; // a full disk ends the recording, not the call
                    }
                }
                match side {
                    Side::A => {
                        p.a = Some(source);
                        p.b
                    }
                    Side::B => {
                        p.b = Some(source);
                        p.a
                    }
                }
            }
            Err(_) => None,
        };
        let Some(target) = target else { continue };
        if to.send_to(&buffer[..length], target).await.is_ok() {
            match side {
                Side::A => stats.a_to_b.fetch_add(1, Ordering::Relaxed),
                Side::B => stats.b_to_a.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn packets_cross_both_ways_and_latch_to_their_source() -> std::io::Result<()> {
        let localhost: IpAddr = "127.0.0.1".parse().map_err(std::io::Error::other)?;
        let relay = MediaRelay::open(localhost).await?;
        let phone_a = UdpSocket::bind("127.0.0.1:0").await?;
        let phone_b = UdpSocket::bind("127.0.0.1:0").await?;
        // B's SDP address is known; A's is learnt from its first packet.
        relay.set_b(phone_b.local_addr()?);
        let packet = [0x80u8; 172];
        phone_a
            .send_to(&packet, ("127.0.0.1", relay.a_port))
            .await?;
        let mut buffer = [0u8; 2_048];
        let (n, from) = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            phone_b.recv_from(&mut buffer),
        )
        .await??;
        assert_eq!((n, from.port()), (172, relay.b_port));
        phone_b
            .send_to(&packet[..40], ("127.0.0.1", relay.b_port))
            .await?;
        let (n, from) = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            phone_a.recv_from(&mut buffer),
        )
        .await??;
        assert_eq!((n, from.port()), (40, relay.a_port));
        assert_eq!(relay.stats.a_to_b.load(Ordering::Relaxed), 1);
        assert_eq!(relay.stats.b_to_a.load(Ordering::Relaxed), 1);
        assert!(relay.idle_for() < std::time::Duration::from_secs(1));
        Ok(())
    }

    #[test]
    fn rtp_payloads_are_found() {
        let mut packet = vec![0x80, 8, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
        packet.extend([0xAA; 160]);
        assert_eq!(
            rtp_payload(&packet).map(|(pt, p)| (pt, p.len())),
            Some((8, 160))
        );
        let mut with_csrc = vec![0x81, 0x80, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 9, 9, 9, 9];
        with_csrc.extend([0x55; 10]);
        assert_eq!(
            rtp_payload(&with_csrc).map(|(pt, p)| (pt, p.len())),
            Some((0, 10))
        );
        assert_eq!(rtp_payload(&[0x00; 20]), None);
        assert_eq!(rtp_payload(&[0x9F; 13]), None);
    }
}
