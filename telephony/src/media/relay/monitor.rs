//! A supervisor on a call (manual §7.7): a third socket in the call's relay facing the
//! supervisor's phone. Listening, the supervisor hears both legs mixed and is not heard;
//! whispering, leg B (the agent) hears leg A mixed with the supervisor, and leg A hears nothing
//! of it; barging in, each leg hears the other mixed with the supervisor. Audio that is mixed
//! goes out on the relay's 20 ms tick as a stream of its own instead of being forwarded.

use std::net::{IpAddr, SocketAddr};

use super::latch::Latch;
use super::rtp::Formats;
use crate::media::g711::{alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};
use crate::media::mixer::{Mixer, FRAME};
use crate::media::player::RtpSender;
use crate::sdp::Codec;

/// How a supervisor takes part in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorMode {
    /// Hears both legs; nobody hears the supervisor (监听).
    Listen,
    /// Hears both legs; only leg B, the agent, hears the supervisor (密语).
    Whisper,
    /// A three-way call: everyone hears everyone (强插).
    Barge,
}

/// The mixing state of the supervisor's part, kept with the relay's peers.
#[derive(Debug)]
pub(super) struct Monitor {
    pub(super) mode: MonitorMode,
    /// Where the supervisor's phone receives media, and whose packets are its.
    pub(super) latch: Latch,
    pub(super) formats: Option<Formats>,
    /// What the supervisor hears: leg A (0) and leg B (1).
    pub(super) hears: Mixer,
    /// What leg B hears while whispered to or barged into: leg A (0) and the supervisor (1).
    pub(super) to_b: Mixer,
    /// What leg A hears in a barge: leg B (0) and the supervisor (1).
    pub(super) to_a: Mixer,
    /// The streams sent to the supervisor, to leg A and to leg B.
    pub(super) senders: [Option<RtpSender>; 3],
}

impl Monitor {
    pub(super) fn new(mode: MonitorMode) -> Monitor {
        Monitor {
            mode,
            latch: Latch::default(),
            formats: None,
            hears: Mixer::new(2),
            to_b: Mixer::new(2),
            to_a: Mixer::new(2),
            senders: [None, None, None],
        }
    }

    /// Takes a leg's audio: the supervisor hears it, and in a whisper or a barge it reaches
    /// the other leg through the mix. True when the relay must not forward the packet itself.
    pub(super) fn take_leg_audio(&mut self, from_a: bool, samples: &[i16], held: bool) -> bool {
        self.hears.push(usize::from(!from_a), samples);
        if held {
            return false; // nobody hears the other leg while it is held
        }
        match (self.mode, from_a) {
            (MonitorMode::Whisper | MonitorMode::Barge, true) => {
                self.to_b.push(0, samples);
                true
            }
            (MonitorMode::Barge, false) => {
                self.to_a.push(0, samples);
                true
            }
            _ => false,
        }
    }

    /// Takes the supervisor's audio.
    pub(super) fn take_supervisor_audio(&mut self, samples: &[i16]) {
        match self.mode {
            MonitorMode::Listen => {}
            MonitorMode::Whisper => self.to_b.push(1, samples),
            MonitorMode::Barge => {
                self.to_b.push(1, samples);
                self.to_a.push(1, samples);
            }
        }
    }

    /// Switches to `mode`; what the mixers hold for the legs is dropped.
    pub(super) fn set_mode(&mut self, mode: MonitorMode) {
        self.mode = mode;
        for source in 0..2 {
            self.to_a.clear(source);
            self.to_b.clear(source);
        }
    }
}

/// Where the supervisor's phone receives media (from its SDP; its packets also count from
/// `also_from`) and what it speaks.
pub(super) fn set_peer(
    monitor: &mut Monitor,
    address: SocketAddr,
    also_from: IpAddr,
    formats: Formats,
) {
    monitor.latch.signal(address);
    monitor.latch.also_from(also_from);
    monitor.formats = Some(formats);
}

/// The linear samples of a G.711 payload.
pub(super) fn decode(codec: Codec, payload: &[u8]) -> Vec<i16> {
    let to_linear = match codec {
        Codec::Pcmu => ulaw_to_linear,
        Codec::Pcma => alaw_to_linear,
    };
    payload.iter().map(|&code| to_linear(code)).collect()
}

pub(super) fn encode(codec: Codec, samples: &[i16; FRAME]) -> Vec<u8> {
    let to_code = match codec {
        Codec::Pcmu => linear_to_ulaw,
        Codec::Pcma => linear_to_alaw,
    };
    samples.iter().map(|&sample| to_code(sample)).collect()
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use super::*;
    use crate::media::relay::MediaRelay;
    use tokio::net::UdpSocket;

    const PCMU: Formats = Formats {
        codec: Codec::Pcmu,
        telephone_event: None,
    };

    fn packet(sequence: u16, level: i16) -> Vec<u8> {
        let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        packet[2..4].copy_from_slice(&sequence.to_be_bytes());
        packet[4..8].copy_from_slice(&(u32::from(sequence) * 160).to_be_bytes());
        packet.extend(std::iter::repeat_n(linear_to_ulaw(level), FRAME));
        packet
    }

    /// The levels heard on `socket` within `window` (one per packet, from its middle sample).
    async fn levels(socket: &UdpSocket, window: Duration) -> Vec<i16> {
        let mut heard = Vec::new();
        let mut buffer = [0u8; 2_048];
        let end = tokio::time::Instant::now() + window;
        while let Ok(Ok((n, _))) = tokio::time::timeout_at(end, socket.recv_from(&mut buffer)).await
        {
            if n == 12 + FRAME {
                heard.push(ulaw_to_linear(buffer[12 + FRAME / 2]));
            }
        }
        heard
    }

    /// Leg A speaks at 1,000, leg B at -2,000 and the supervisor at 4,000, 20 ms apart for
    /// `packets` packets each.
    async fn speak(
        relay: &MediaRelay,
        a: &UdpSocket,
        b: &UdpSocket,
        supervisor: &UdpSocket,
        monitor_port: u16,
        packets: u16,
    ) -> std::io::Result<()> {
        for n in 0..packets {
            a.send_to(&packet(n, 1_000), ("127.0.0.1", relay.a_port))
                .await?;
            b.send_to(&packet(n, -2_000), ("127.0.0.1", relay.b_port))
                .await?;
            supervisor
                .send_to(&packet(n, 4_000), ("127.0.0.1", monitor_port))
                .await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    fn close(heard: i16, level: i16) -> bool {
        (i32::from(heard) - i32::from(level)).abs() <= i32::from(level).abs() / 10
    }

    fn near(levels: &[i16], level: i16) -> bool {
        levels.iter().any(|l| close(*l, level))
    }

    fn all_near(levels: &[i16], level: i16) -> bool {
        !levels.is_empty() && levels.iter().all(|l| close(*l, level))
    }

    #[tokio::test]
    async fn listening_hears_both_whispering_reaches_b_barging_reaches_both() -> std::io::Result<()>
    {
        let localhost: IpAddr = "127.0.0.1".parse().map_err(std::io::Error::other)?;
        let relay = MediaRelay::open(localhost).await?;
        let a = UdpSocket::bind("127.0.0.1:0").await?;
        let b = UdpSocket::bind("127.0.0.1:0").await?;
        let supervisor = UdpSocket::bind("127.0.0.1:0").await?;
        relay.set_a(a.local_addr()?, localhost);
        relay.set_b(b.local_addr()?, localhost);
        relay.set_formats(PCMU, PCMU);
        let port = relay.open_monitor(MonitorMode::Listen).await?;
        relay.set_monitor_peer(supervisor.local_addr()?, localhost, PCMU);
        let window = Duration::from_millis(600);

        let (_, at_a, at_b, at_supervisor) = tokio::join!(
            speak(&relay, &a, &b, &supervisor, port, 25),
            levels(&a, window),
            levels(&b, window),
            levels(&supervisor, window),
        );
        assert!(
            near(&at_supervisor, -1_000),
            "both legs mixed: {at_supervisor:?}"
        );
        assert!(all_near(&at_a, -2_000), "B alone: {at_a:?}");
        assert!(all_near(&at_b, 1_000), "A alone: {at_b:?}");

        assert_eq!(relay.open_monitor(MonitorMode::Whisper).await?, port);
        let (_, at_a, at_b, _) = tokio::join!(
            speak(&relay, &a, &b, &supervisor, port, 25),
            levels(&a, window),
            levels(&b, window),
            levels(&supervisor, window),
        );
        assert!(near(&at_b, 5_000), "A and the supervisor: {at_b:?}");
        assert!(!near(&at_a, 2_000) && !near(&at_a, 4_000), "{at_a:?}");

        relay.set_monitor_mode(MonitorMode::Barge);
        let (_, at_a, at_b, _) = tokio::join!(
            speak(&relay, &a, &b, &supervisor, port, 25),
            levels(&a, window),
            levels(&b, window),
            levels(&supervisor, window),
        );
        assert!(near(&at_a, 2_000), "B and the supervisor: {at_a:?}");
        assert!(near(&at_b, 5_000), "A and the supervisor: {at_b:?}");

        relay.close_monitor().await;
        let (_, _, at_b, at_supervisor) = tokio::join!(
            speak(&relay, &a, &b, &supervisor, port, 10),
            levels(&a, window),
            levels(&b, window),
            levels(&supervisor, window),
        );
        assert!(at_supervisor.is_empty(), "{at_supervisor:?}");
        assert!(all_near(&at_b, 1_000), "forwarded again: {at_b:?}");
        Ok(())
    }
}
