//! A test's own RTP endpoint: a UDP socket that stands in for a phone's media while SIPp
//! carries its signalling. It speaks a steady tone in A-law every 20 ms to whoever sent it RTP
//! (symmetric RTP), and keeps what it hears so a test can tell which tones reached it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telephony::media::g711::{alaw_to_linear, linear_to_alaw, ulaw_to_linear};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// A media endpoint; stops when dropped.
pub struct MediaPeer {
    /// The port it receives on (put it in the SDP of its SIPp scenario).
    pub port: u16,
    heard: Arc<Mutex<Vec<i16>>>,
    task: JoinHandle<()>,
}

impl Drop for MediaPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MediaPeer {
    /// Binds on `ip` and speaks a tone of `hz` at amplitude 6,000.
    pub async fn start(ip: &str, hz: f64) -> anyhow::Result<MediaPeer> {
        let socket = UdpSocket::bind((ip, 0)).await?;
        let port = socket.local_addr()?.port();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(serve(socket, hz, heard.clone()));
        Ok(MediaPeer { port, heard, task })
    }

    /// Forgets what it heard so far.
    pub fn clear(&self) {
        if let Ok(mut heard) = self.heard.lock() {
            heard.clear();
        }
    }

    /// The samples heard since the last [`MediaPeer::clear`].
    pub fn heard(&self) -> Vec<i16> {
        self.heard.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// The amplitude of the tone of `hz` in what it heard (Goertzel), 0 for silence.
    pub fn level_of(&self, hz: f64) -> f64 {
        tone_level(&self.heard(), hz)
    }
}

/// The amplitude of a sinusoid of `hz` in 8 kHz `samples`.
pub fn tone_level(samples: &[i16], hz: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * hz / 8_000.0;
    let (mut re, mut im) = (0.0f64, 0.0f64);
    for (n, sample) in samples.iter().enumerate() {
        let phase = w * n as f64;
        re += f64::from(*sample) * phase.cos();
        im -= f64::from(*sample) * phase.sin();
    }
    2.0 * (re * re + im * im).sqrt() / samples.len() as f64
}

async fn serve(socket: UdpSocket, hz: f64, heard: Arc<Mutex<Vec<i16>>>) {
    let mut peer: Option<SocketAddr> = None;
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    let mut sequence: u16 = 0;
    let mut buffer = [0u8; 2_048];
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let Some(to) = peer else { continue };
                let mut packet = vec![0x80, 8];
                packet.extend(sequence.to_be_bytes());
                packet.extend((u32::from(sequence) * 160).to_be_bytes());
                packet.extend(0x5EED_u32.to_be_bytes());
                for n in 0..160u32 {
                    let t = f64::from(u32::from(sequence) * 160 + n) / 8_000.0;
                    let sample = 6_000.0 * (2.0 * std::f64::consts::PI * hz * t).sin();
                    // |sample| ≤ 6,000: it fits an i16.
                    packet.push(linear_to_alaw(sample as i16));
                }
                sequence = sequence.wrapping_add(1);
                let _ = socket.send_to(&packet, to).await;
            }
            received = socket.recv_from(&mut buffer) => {
                let Ok((n, from)) = received else { continue };
                if n < 12 || buffer[0] >> 6 != 2 {
                    continue;
                }
                peer = Some(from);
                let decode = match buffer[1] & 0x7F {
                    8 => alaw_to_linear,
                    0 => ulaw_to_linear,
                    _ => continue,
                };
                if let Ok(mut heard) = heard.lock() {
                    heard.extend(buffer[12..n].iter().map(|&c| decode(c)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tone_level;

    #[test]
    fn a_tone_is_measured_and_another_is_not() {
        let samples: Vec<i16> = (0..8_000)
            .map(|n| {
                (6_000.0 * (2.0 * std::f64::consts::PI * 500.0 * f64::from(n) / 8_000.0).sin())
                    as i16
            })
            .collect();
        assert!((tone_level(&samples, 500.0) - 6_000.0).abs() < 100.0);
        assert!(tone_level(&samples, 2_300.0) < 50.0);
        assert_eq!(tone_level(&[], 500.0), 0.0);
    }
}
