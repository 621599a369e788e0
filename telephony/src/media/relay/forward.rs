//! Forwarding of one relay's packets, as a media thread calls it each tick: what arrived on
//! each leg's socket is read without blocking, recorded, searched for key presses, mixed for a
//! supervisor, rewritten for the other leg and sent on.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::monitor;
use super::peers::{Digit, Peers, Recording, RelayStats};
use super::rtp::{apply, rewrite, rtp_parts, rtp_timestamp, Rewrite};
use crate::media::recorder::RtpAudio;

/// The most packets read from one socket in one tick: a leg sends one per tick, so more is a
/// burst after a stall or a flood; a flood on one call must not hold up the others (the rest
/// waits in the socket's buffer, or is dropped by the kernel when that is full).
const MOST_PER_TICK: usize = 8;

/// Which leg a socket faces.
#[derive(Debug, Clone, Copy)]
pub(super) enum Side {
    A,
    B,
}

/// The part of a relay a media thread holds: the legs' sockets and what forwarding needs.
#[derive(Debug)]
pub(super) struct Legs {
    /// Facing leg A and leg B (non-blocking).
    pub(super) sockets: [Arc<UdpSocket>; 2],
    pub(super) peers: Arc<Mutex<Peers>>,
    pub(super) stats: Arc<RelayStats>,
}

impl Legs {
    /// Forwards what arrived on both sockets since the last tick.
    pub(super) fn pump(&self, buffer: &mut [u8; 2_048]) {
        for side in [Side::A, Side::B] {
            let (from, to) = match side {
                Side::A => (&self.sockets[0], &self.sockets[1]),
                Side::B => (&self.sockets[1], &self.sockets[0]),
            };
            for _ in 0..MOST_PER_TICK {
                // WouldBlock: nothing more this tick; any other error ends this socket's turn.
                let Ok((length, source)) = from.recv_from(buffer) else {
                    break;
                };
                self.forward(side, &mut buffer[..length], source, to);
            }
        }
    }

    /// Takes one packet from `side`, arrived from `source`, and sends it on out of `to`.
    fn forward(&self, side: Side, packet: &mut [u8], source: SocketAddr, to: &UdpSocket) {
        let Some((pt, start, end)) = rtp_parts(packet) else {
            return;
        };
        let (target, change) = match self.peers.lock() {
            Ok(mut p) => {
                let now = Instant::now();
                let own = match side {
                    Side::A => p.a.accept(source, now),
                    Side::B => p.b.accept(source, now),
                };
                if !own {
                    // Not the leg's: neither forwarded, recorded, nor read for keys.
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                p.last_packet = now;
                if let Recording::On(recorder) = &mut p.recording {
                    let audio = RtpAudio {
                        sequence: u16::from_be_bytes([packet[2], packet[3]]),
                        timestamp: rtp_timestamp(packet),
                        payload_type: pt,
                        payload: &packet[start..end],
                    };
                    if recorder.add(matches!(side, Side::A), audio, now).is_err() {
                        p.recording = Recording::Off; // a full disk ends the recording, not the call
                    }
                }
                let (from, onto) = match side {
                    Side::A => (p.a_formats, p.b_formats),
                    Side::B => (p.b_formats, p.a_formats),
                };
                if from.is_some_and(|f| f.telephone_event == Some(pt)) {
                    let timestamp = rtp_timestamp(packet);
                    let keys = match side {
                        Side::A => &mut p.a_keys,
                        Side::B => &mut p.b_keys,
                    };
                    if let Some(key) = keys.on_packet(timestamp, &packet[start..end]) {
                        let _ = p.digits.send(Digit {
                            from_a: matches!(side, Side::A),
                            key,
                        });
                    }
                }
                let change = rewrite(pt, from, onto);
                let held = p.held;
                // With a supervisor on the call, a leg's audio is mixed for it, and in a
                // whisper or a barge it reaches the other leg through the mix instead.
                let mixed = match (p.monitor.as_mut(), from) {
                    (Some(monitor), Some(f)) if pt == f.codec.payload_type() => {
                        let samples = monitor::decode(f.codec, &packet[start..end]);
                        monitor.take_leg_audio(matches!(side, Side::A), &samples, held)
                    }
                    _ => false,
                };
                let target = match side {
                    Side::A => p.b.address(),
                    Side::B => p.a.address(),
                };
                (target.filter(|_| !held && !mixed), change)
            }
            Err(_) => (None, Rewrite::Keep),
        };
        let Some(target) = target else { return };
        if !apply(change, packet, start, end) {
            return;
        }
        if to.send_to(packet, target).is_ok() {
            match side {
                Side::A => self.stats.a_to_b.fetch_add(1, Ordering::Relaxed),
                Side::B => self.stats.b_to_a.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}
