//! The supervisor's socket of a relay and its two tasks: one receives the supervisor's RTP
//! (latching to its source) into the mix, the other sends the mixes due every 20 ms to the
//! supervisor and, in a whisper or a barge, to the legs.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::monitor::{decode, encode};
use super::peers::Peers;
use super::rtp::{rand_u32, rtp_parts};
use crate::media::player::RtpSender;

/// The supervisor's socket and the tasks serving it; they stop when this is dropped.
#[derive(Debug)]
pub(super) struct MonitorIo {
    pub(super) port: u16,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for MonitorIo {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl MonitorIo {
    /// Binds the supervisor's socket beside the legs' and starts its receiving and mixing
    /// tasks; `legs` are the sockets facing leg A and leg B.
    pub(super) async fn open(
        legs: [Arc<std::net::UdpSocket>; 2],
        peers: Arc<Mutex<Peers>>,
    ) -> std::io::Result<MonitorIo> {
        let ip = legs[0].local_addr()?.ip();
        let socket = Arc::new(UdpSocket::bind(SocketAddr::new(ip, 0)).await?);
        let port = socket.local_addr()?.port();
        let receiving = tokio::spawn(receive(socket.clone(), peers.clone()));
        let mixing = tokio::spawn(mix(socket, legs, peers));
        Ok(MonitorIo {
            port,
            tasks: [receiving, mixing],
        })
    }
}

/// Receives the supervisor's RTP, from its phone only.
async fn receive(socket: Arc<UdpSocket>, peers: Arc<Mutex<Peers>>) {
    let mut buffer = [0u8; 2_048];
    loop {
        let Ok((length, source)) = socket.recv_from(&mut buffer).await else {
            continue;
        };
        let Some((pt, start, end)) = rtp_parts(&buffer[..length]) else {
            continue;
        };
        let Ok(mut p) = peers.lock() else { return };
        let Some(monitor) = p.monitor.as_mut() else {
            continue;
        };
        if !monitor.latch.accept(source, std::time::Instant::now()) {
            continue;
        }
        if let Some(formats) = monitor.formats.filter(|f| f.codec.payload_type() == pt) {
            let samples = decode(formats.codec, &buffer[start..end]);
            monitor.take_supervisor_audio(&samples);
        }
    }
}

/// Every 20 ms, sends the mixes due: both legs to the supervisor, and the mixed legs of a
/// whisper or a barge.
async fn mix(
    socket: Arc<UdpSocket>,
    legs: [Arc<std::net::UdpSocket>; 2],
    peers: Arc<Mutex<Peers>>,
) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(20));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let mut due = Vec::with_capacity(3);
        {
            let Ok(mut guard) = peers.lock() else { return };
            let p = &mut *guard;
            let Some(monitor) = p.monitor.as_mut() else {
                continue;
            };
            let outlets = [
                (
                    monitor.latch.address(),
                    monitor.formats,
                    &mut monitor.hears,
                    0usize,
                ),
                (p.a.address(), p.a_formats, &mut monitor.to_a, 1),
                (p.b.address(), p.b_formats, &mut monitor.to_b, 2),
            ];
            for (address, formats, mixer, outlet) in outlets {
                let (Some(address), Some(formats)) = (address, formats) else {
                    continue;
                };
                let Some(frame) = mixer.pull() else { continue };
                let sender = monitor.senders[outlet].get_or_insert_with(|| {
                    RtpSender::new(
                        rand_u32(),
                        u16::try_from(rand_u32() & 0x7FFF).unwrap_or(0),
                        rand_u32(),
                        formats.codec.payload_type(),
                    )
                });
                due.push((
                    outlet,
                    address,
                    sender.packet(&encode(formats.codec, &frame)),
                ));
            }
        }
        for (outlet, address, packet) in due {
            let _ = match outlet {
                0 => socket.send_to(&packet, address).await,
                1 => legs[0].send_to(&packet, address),
                _ => legs[1].send_to(&packet, address),
            };
        }
    }
}
