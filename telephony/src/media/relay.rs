//! The RTP relay of one call: two UDP sockets, one facing each leg, forwarding packets between
//! them. Each side's address is first taken from its SDP and then latched to where its packets
//! really come from (symmetric RTP, so phones behind NAT work). When the legs negotiated
//! different G.711 laws the payload is transcoded on the way, and telephone-event payload types
//! are renumbered; RFC 4733 key presses are reported to the call runtime. Counters and the time
//! of the last packet tell the call runtime whether media still flows. A supervisor may join
//! through a third socket (see `monitor`): listening, whispering to leg B or barging in.

mod forward;
mod latch;
mod monitor;
mod monitor_io;
mod peers;
mod pump;
mod rtp;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use forward::Legs;

use super::dtmf::{event_of, DtmfReceiver, TelephoneEvent};
use super::player::{Prompt, RtpSender};
use super::recorder::{Recorder, RecorderError};
use crate::sdp::Codec;
use latch::Latch;
pub use latch::LEARNING_WINDOW;
use monitor::Monitor;
pub use monitor::MonitorMode;
use monitor_io::MonitorIo;
pub use peers::{Digit, RelayStats};
use peers::{Peers, Recording};
use rtp::rand_u32;
pub use rtp::Formats;
#[cfg(test)]
use rtp::{rewrite, rtp_parts, rtp_timestamp, Rewrite};

/// A running relay; stops when dropped.
#[derive(Debug)]
pub struct MediaRelay {
    /// Port facing leg A (put in the SDP sent to A).
    pub a_port: u16,
    /// Port facing leg B (put in the SDP sent to B).
    pub b_port: u16,
    /// The sockets, peers and counters, shared with the media thread forwarding this relay
    /// (it lets go when this is dropped).
    legs: Arc<Legs>,
    digits: Option<mpsc::UnboundedReceiver<Digit>>,
    /// The supervisor's socket, while one is on the call.
    monitor: tokio::sync::Mutex<Option<MonitorIo>>,
}

/// A prompt or key press being sent; stopped when dropped, unless detached.
#[derive(Debug)]
pub struct Playback {
    task: Option<JoinHandle<()>>,
}

/// Called with the time a playback's first packet left.
pub type OnFirstPacket = Box<dyn FnOnce(Instant) + Send>;

impl Playback {
    /// Waits until everything was sent.
    pub async fn finished(&mut self) {
        if let Some(task) = self.task.as_mut() {
            let _ = task.await;
        }
    }

    /// Lets it run to its end on its own.
    pub fn detach(mut self) {
        self.task = None;
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl MediaRelay {
    /// Binds two sockets on `ip` (ports chosen by the system) and hands them to a media
    /// thread, which forwards between them each tick.
    pub async fn open(ip: IpAddr) -> std::io::Result<MediaRelay> {
        let bind = || -> std::io::Result<Arc<UdpSocket>> {
            let socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
            socket.set_nonblocking(true)?;
            Ok(Arc::new(socket))
        };
        let (a, b) = (bind()?, bind()?);
        let (digits, digits_out) = mpsc::unbounded_channel();
        let peers = Arc::new(Mutex::new(Peers {
            a: Latch::default(),
            b: Latch::default(),
            last_packet: Instant::now(),
            recording: Recording::Off,
            a_formats: None,
            b_formats: None,
            a_keys: DtmfReceiver::default(),
            b_keys: DtmfReceiver::default(),
            digits,
            held: false,
            monitor: None,
        }));
        let (a_port, b_port) = (a.local_addr()?.port(), b.local_addr()?.port());
        let legs = Arc::new(Legs {
            sockets: [a, b],
            peers,
            stats: Arc::new(RelayStats::default()),
        });
        pump::attach(&legs)?;
        Ok(MediaRelay {
            a_port,
            b_port,
            legs,
            digits: Some(digits_out),
            monitor: tokio::sync::Mutex::new(None),
        })
    }

    /// Plays `prompt` to leg A (`to_a`) or leg B in `codec`, one 20 ms packet at a time from
    /// the socket facing that leg; frames due while the leg's address is unknown are skipped.
    pub fn play(&self, to_a: bool, prompt: &Prompt, codec: Codec) -> Playback {
        self.play_noting_start(to_a, prompt, codec, Box::new(|_| {}))
    }

    /// [`MediaRelay::play`], calling `on_first_packet` when the first packet has left.
    pub fn play_noting_start(
        &self,
        to_a: bool,
        prompt: &Prompt,
        codec: Codec,
        on_first_packet: OnFirstPacket,
    ) -> Playback {
        let frames = prompt.frames(codec);
        let socket = self.legs.sockets[usize::from(!to_a)].clone();
        let peers = self.legs.peers.clone();
        let mut sender = RtpSender::new(
            rand_u32(),
            u16::try_from(rand_u32() & 0x7FFF).unwrap_or(0),
            rand_u32(),
            codec.payload_type(),
        );
        let task =
            tokio::spawn(async move {
                let mut on_first_packet = Some(on_first_packet);
                let mut ticks = tokio::time::interval(std::time::Duration::from_millis(20));
                for frame in frames {
                    ticks.tick().await;
                    let target = peers.lock().ok().and_then(|p| {
                        if to_a {
                            p.a.address()
                        } else {
                            p.b.address()
                        }
                    });
                    let packet = sender.packet(&frame);
                    if let Some(target) = target {
                        let sent = socket.send_to(&packet, target).is_ok();
                        if let Some(note) = on_first_packet.take_if(|_| sent) {
                            note(Instant::now());
                        }
                    }
                }
            });
        Playback { task: Some(task) }
    }

    /// Sends `key` to leg A (`to_a`) or leg B as RFC 4733 events of `payload_type`: 100 ms of
    /// updates every 20 ms, then the end three times (RFC 4733 §2.5.1.4), from the socket facing
    /// the leg. `None` for a key that is not a DTMF key.
    pub fn send_digit(&self, to_a: bool, key: char, payload_type: u8) -> Option<Playback> {
        let event = event_of(key)?;
        let socket = self.legs.sockets[usize::from(!to_a)].clone();
        let peers = self.legs.peers.clone();
        let mut sender = RtpSender::new(
            rand_u32(),
            u16::try_from(rand_u32() & 0x7FFF).unwrap_or(0),
            rand_u32(),
            payload_type,
        );
        let task =
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(std::time::Duration::from_millis(20));
                let updates = (1..=5u16).map(|n| (false, n * 160));
                let ends = std::iter::repeat_n((true, 800u16), 3);
                for (end, duration) in updates.chain(ends) {
                    ticks.tick().await;
                    let payload = TelephoneEvent {
                        event,
                        end,
                        volume: 10,
                        duration,
                    }
                    .to_bytes();
                    let packet = sender.event_packet(&payload);
                    let target = peers.lock().ok().and_then(|p| {
                        if to_a {
                            p.a.address()
                        } else {
                            p.b.address()
                        }
                    });
                    if let Some(target) = target {
                        let _ = socket.send_to(&packet, target);
                    }
                }
                sender.skip(800);
            });
        Some(Playback { task: Some(task) })
    }

    /// Packets forwarded, per direction.
    pub fn stats(&self) -> &Arc<RelayStats> {
        &self.legs.stats
    }

    /// The key presses of both legs, from now on (the receiver can be taken once).
    pub fn take_digits(&mut self) -> Option<mpsc::UnboundedReceiver<Digit>> {
        self.digits.take()
    }

    /// What each leg speaks: packets are transcoded between G.711 laws and telephone-events
    /// renumbered when the legs differ. Until this is called packets pass unchanged.
    pub fn set_formats(&self, a: Formats, b: Formats) {
        if let Ok(mut p) = self.legs.peers.lock() {
            p.a_formats = Some(a);
            p.b_formats = Some(b);
        }
    }

    /// Holds the legs apart (`true`: neither hears the other; a prompt played to a leg still
    /// reaches it) or joins them again.
    pub fn set_held(&self, held: bool) {
        if let Ok(mut p) = self.legs.peers.lock() {
            p.held = held;
        }
    }

    /// Where leg A receives media (from its SDP); its packets are taken from that address
    /// (and from `also_from`, the address its SIP comes from), their source learnt for a
    /// moment after the first one and then locked (see `latch`).
    pub fn set_a(&self, address: SocketAddr, also_from: IpAddr) {
        if let Ok(mut p) = self.legs.peers.lock() {
            p.a.signal(address);
            p.a.also_from(also_from);
        }
    }

    /// Where leg B receives media, as [`MediaRelay::set_a`] for leg A.
    pub fn set_b(&self, address: SocketAddr, also_from: IpAddr) {
        if let Ok(mut p) = self.legs.peers.lock() {
            p.b.signal(address);
            p.b.also_from(also_from);
        }
    }

    /// Starts recording both directions into the WAV file at `path`. The file is created on a
    /// blocking thread (creating a file can take milliseconds on a busy file system), so the
    /// call goes on at once and recording begins when the file is open; a failure is logged.
    pub fn start_recording(&self, path: PathBuf) {
        if let Ok(mut p) = self.legs.peers.lock() {
            p.recording = Recording::Opening;
        }
        let peers = self.legs.peers.clone();
        tokio::task::spawn_blocking(move || {
            let opened = Recorder::create(&path);
            let Ok(mut p) = peers.lock() else { return };
            match opened {
                Ok(recorder) if matches!(p.recording, Recording::Opening) => {
                    p.recording = Recording::On(Box::new(recorder));
                }
                Ok(recorder) => {
                    drop(p); // stopped while the file was being created: an empty recording
                    if let Err(error) = recorder.finish(Instant::now()) {
                        warn!(path = %path.display(), %error, "recording did not finish");
                    }
                }
                Err(error) => {
                    p.recording = Recording::Off;
                    warn!(path = %path.display(), %error, "recording did not start");
                }
            }
        });
    }

    /// Stops recording; returns the recorded length in milliseconds (`None` when not
    /// recording, `Some(Ok(0))` when stopped before its file was open).
    pub fn stop_recording(&self) -> Option<Result<u64, RecorderError>> {
        let state = self
            .legs
            .peers
            .lock()
            .ok()
            .map(|mut p| std::mem::replace(&mut p.recording, Recording::Off))?;
        match state {
            Recording::Off => None,
            Recording::Opening => Some(Ok(0)),
            Recording::On(recorder) => Some(recorder.finish(Instant::now())),
        }
    }

    /// Lets a supervisor take part in `mode`: the first time, a third socket is bound beside
    /// the legs' and its port returned (put it in the SDP offered to the supervisor's phone);
    /// later, the mode changes on the socket already open.
    pub async fn open_monitor(&self, mode: MonitorMode) -> std::io::Result<u16> {
        let mut io = self.monitor.lock().await;
        if let Some(io) = io.as_ref() {
            self.set_monitor_mode(mode);
            return Ok(io.port);
        }
        let opened = MonitorIo::open(self.legs.sockets.clone(), self.legs.peers.clone()).await?;
        let port = opened.port;
        if let Ok(mut p) = self.legs.peers.lock() {
            p.monitor = Some(Monitor::new(mode));
        }
        *io = Some(opened);
        Ok(port)
    }

    /// Where the supervisor's phone receives media (from its SDP; its packets also count from
    /// `also_from`, the address its SIP comes from) and what it speaks.
    pub fn set_monitor_peer(&self, address: SocketAddr, also_from: IpAddr, formats: Formats) {
        if let Ok(mut p) = self.legs.peers.lock() {
            if let Some(monitor) = p.monitor.as_mut() {
                monitor::set_peer(monitor, address, also_from, formats);
            }
        }
    }

    /// Changes how the supervisor on the call takes part.
    pub fn set_monitor_mode(&self, mode: MonitorMode) {
        if let Ok(mut p) = self.legs.peers.lock() {
            if let Some(monitor) = p.monitor.as_mut() {
                monitor.set_mode(mode);
            }
        }
    }

    /// The supervisor leaves: its socket closes and the legs are forwarded directly again.
    pub async fn close_monitor(&self) {
        if let Ok(mut p) = self.legs.peers.lock() {
            p.monitor = None;
        }
        self.monitor.lock().await.take();
    }

    /// Counts media as flowing from now (a call resumed from a hold that sent nothing).
    pub fn touch(&self) {
        if let Ok(mut p) = self.legs.peers.lock() {
            p.last_packet = Instant::now();
        }
    }

    /// Time since the last packet in either direction (or the last [`MediaRelay::touch`]).
    pub fn idle_for(&self) -> std::time::Duration {
        self.legs
            .peers
            .lock()
            .map(|p| p.last_packet.elapsed())
            .unwrap_or_default()
    }
}

/// The payload type and payload of an RTP packet (RFC 3550 §5.1), past CSRCs and extension.
#[cfg(test)]
fn rtp_payload(packet: &[u8]) -> Option<(u8, &[u8])> {
    let (pt, start, end) = rtp_parts(packet)?;
    Some((pt, packet.get(start..end)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::{linear_to_alaw, ulaw_to_linear};
    use std::sync::atomic::Ordering;
    use tokio::net::UdpSocket;

    #[tokio::test]
    async fn a_stranger_spraying_the_ports_hears_nothing_and_is_counted() -> std::io::Result<()> {
        let localhost: IpAddr = "127.0.0.1".parse().map_err(std::io::Error::other)?;
        let relay = MediaRelay::open(localhost).await?;
        let phone_a = UdpSocket::bind("127.0.0.1:0").await?;
        let phone_b = UdpSocket::bind("127.0.0.1:0").await?;
        let stranger = UdpSocket::bind("127.0.0.3:0").await?;
        relay.set_a(phone_a.local_addr()?, localhost);
        relay.set_b(phone_b.local_addr()?, localhost);
        let packet = [0x80u8; 172];
        for port in [relay.a_port, relay.b_port] {
            for _ in 0..5 {
                stranger.send_to(&packet, ("127.0.0.1", port)).await?;
            }
        }
        // The legs speak: each hears the other, the stranger nothing.
        phone_a
            .send_to(&packet, ("127.0.0.1", relay.a_port))
            .await?;
        let mut buffer = [0u8; 2_048];
        let (n, _) = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            phone_b.recv_from(&mut buffer),
        )
        .await??;
        assert_eq!(n, 172);
        phone_b
            .send_to(&packet, ("127.0.0.1", relay.b_port))
            .await?;
        tokio::time::timeout(
            std::time::Duration::from_secs(2),
            phone_a.recv_from(&mut buffer),
        )
        .await??;
        let heard = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            stranger.recv_from(&mut buffer),
        )
        .await;
        assert!(heard.is_err(), "the stranger heard the call");
        assert_eq!(relay.stats().refused.load(Ordering::Relaxed), 10);
        assert_eq!(relay.stats().a_to_b.load(Ordering::Relaxed), 1);
        Ok(())
    }

    #[tokio::test]
    async fn packets_cross_both_ways_and_latch_to_their_source() -> std::io::Result<()> {
        let localhost: IpAddr = "127.0.0.1".parse().map_err(std::io::Error::other)?;
        let relay = MediaRelay::open(localhost).await?;
        let phone_a = UdpSocket::bind("127.0.0.1:0").await?;
        let phone_b = UdpSocket::bind("127.0.0.1:0").await?;
        // B's SDP address is known; A signalled its address but sends from another port (NAT):
        // learnt from its first packet.
        relay.set_b(phone_b.local_addr()?, localhost);
        relay.set_a(SocketAddr::new(localhost, 9), localhost);
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
        assert_eq!(relay.stats().a_to_b.load(Ordering::Relaxed), 1);
        assert_eq!(relay.stats().b_to_a.load(Ordering::Relaxed), 1);
        assert!(relay.idle_for() < std::time::Duration::from_secs(1));
        Ok(())
    }

    #[tokio::test]
    async fn held_legs_do_not_hear_each_other() -> std::io::Result<()> {
        let localhost: IpAddr = "127.0.0.1".parse().map_err(std::io::Error::other)?;
        let relay = MediaRelay::open(localhost).await?;
        let phone_a = UdpSocket::bind("127.0.0.1:0").await?;
        let phone_b = UdpSocket::bind("127.0.0.1:0").await?;
        relay.set_a(phone_a.local_addr()?, localhost);
        relay.set_b(phone_b.local_addr()?, localhost);
        relay.set_held(true);
        let packet = [0x80u8; 172];
        phone_a
            .send_to(&packet, ("127.0.0.1", relay.a_port))
            .await?;
        phone_b
            .send_to(&packet, ("127.0.0.1", relay.b_port))
            .await?;
        let mut buffer = [0u8; 2_048];
        let quiet = std::time::Duration::from_millis(300);
        assert!(tokio::time::timeout(quiet, phone_b.recv_from(&mut buffer))
            .await
            .is_err());
        assert!(tokio::time::timeout(quiet, phone_a.recv_from(&mut buffer))
            .await
            .is_err());
        relay.set_held(false);
        phone_a
            .send_to(&packet, ("127.0.0.1", relay.a_port))
            .await?;
        let (n, _) = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            phone_b.recv_from(&mut buffer),
        )
        .await??;
        assert_eq!(n, 172);
        Ok(())
    }

    fn packet(pt: u8, timestamp: u32, payload: &[u8]) -> Vec<u8> {
        let mut packet = vec![0x80, pt, 0, 1];
        packet.extend(timestamp.to_be_bytes());
        packet.extend([0, 0, 0, 7]);
        packet.extend(payload);
        packet
    }

    #[tokio::test]
    async fn laws_are_transcoded_and_key_presses_renumbered_and_reported() -> std::io::Result<()> {
        let localhost: IpAddr = "127.0.0.1".parse().map_err(std::io::Error::other)?;
        let mut relay = MediaRelay::open(localhost).await?;
        let mut digits = relay.take_digits().ok_or(std::io::ErrorKind::NotFound)?;
        let phone_a = UdpSocket::bind("127.0.0.1:0").await?;
        let phone_b = UdpSocket::bind("127.0.0.1:0").await?;
        relay.set_a(phone_a.local_addr()?, localhost);
        relay.set_b(phone_b.local_addr()?, localhost);
        relay.set_formats(
            Formats {
                codec: Codec::Pcma,
                telephone_event: Some(101),
            },
            Formats {
                codec: Codec::Pcmu,
                telephone_event: Some(96),
            },
        );
        let loud = [linear_to_alaw(8_000); 160];
        let mut buffer = [0u8; 2_048];
        phone_a
            .send_to(&packet(8, 160, &loud), ("127.0.0.1", relay.a_port))
            .await?;
        let (n, _) = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            phone_b.recv_from(&mut buffer),
        )
        .await??;
        assert_eq!(n, 172);
        assert_eq!(buffer[1] & 0x7F, 0, "B speaks µ-law");
        let sample = ulaw_to_linear(buffer[12]);
        assert!((7_500..=8_500).contains(&sample), "{sample}");
        // Digit 5 pressed on A: start, then three end packets of one event.
        for payload in [
            [5u8, 0x0A, 0x00, 0xA0],
            [5, 0x8A, 0x03, 0x20],
            [5, 0x8A, 0x03, 0x20],
            [5, 0x8A, 0x03, 0x20],
        ] {
            phone_a
                .send_to(&packet(101, 320, &payload), ("127.0.0.1", relay.a_port))
                .await?;
            let (n, _) = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                phone_b.recv_from(&mut buffer),
            )
            .await??;
            assert_eq!((n, buffer[1] & 0x7F), (16, 96), "renumbered for B");
        }
        let digit = tokio::time::timeout(std::time::Duration::from_secs(2), digits.recv())
            .await
            .map_err(std::io::Error::other)?;
        assert_eq!(
            digit,
            Some(Digit {
                from_a: true,
                key: '5'
            })
        );
        assert!(digits.try_recv().is_err(), "one press, one report");
        Ok(())
    }

    #[tokio::test]
    async fn a_prompt_plays_to_one_leg_in_20_ms_packets() -> std::io::Result<()> {
        let localhost: IpAddr = "127.0.0.1".parse().map_err(std::io::Error::other)?;
        let relay = MediaRelay::open(localhost).await?;
        let phone_a = UdpSocket::bind("127.0.0.1:0").await?;
        relay.set_a(phone_a.local_addr()?, localhost);
        let prompt = Prompt::from_samples(vec![4_000; 800]);
        let started = Instant::now();
        let mut playback = relay.play(true, &prompt, Codec::Pcmu);
        let mut buffer = [0u8; 2_048];
        let mut packets = Vec::new();
        for _ in 0..5 {
            let (n, from) = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                phone_a.recv_from(&mut buffer),
            )
            .await??;
            assert_eq!(from.port(), relay.a_port, "sent from the socket facing A");
            packets.push(buffer[..n].to_vec());
        }
        playback.finished().await;
        // Five frames at 20 ms: the last leaves about 80 ms after the first.
        assert!(started.elapsed() >= std::time::Duration::from_millis(75));
        assert!(packets.iter().all(|p| p.len() == 172 && p[1] & 0x7F == 0));
        assert_eq!(packets[0][1] & 0x80, 0x80, "marker on the first");
        let sequence = |p: &Vec<u8>| u16::from_be_bytes([p[2], p[3]]);
        assert_eq!(sequence(&packets[4]), sequence(&packets[0]).wrapping_add(4));
        let sample = ulaw_to_linear(packets[2][50]);
        assert!((3_800..=4_200).contains(&sample), "{sample}");
        Ok(())
    }

    #[tokio::test]
    async fn a_key_is_sent_as_rfc_4733_events_that_a_receiver_reads_once() -> std::io::Result<()> {
        let localhost: IpAddr = "127.0.0.1".parse().map_err(std::io::Error::other)?;
        let relay = MediaRelay::open(localhost).await?;
        let phone_b = UdpSocket::bind("127.0.0.1:0").await?;
        relay.set_b(phone_b.local_addr()?, localhost);
        let mut sending = relay
            .send_digit(false, '#', 101)
            .ok_or(std::io::ErrorKind::InvalidInput)?;
        let mut receiver = DtmfReceiver::default();
        let mut keys = Vec::new();
        let mut timestamps = std::collections::BTreeSet::new();
        let mut buffer = [0u8; 2_048];
        for _ in 0..8 {
            let (n, _) = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                phone_b.recv_from(&mut buffer),
            )
            .await??;
            assert_eq!((n, buffer[1] & 0x7F), (16, 101));
            timestamps.insert(rtp_timestamp(&buffer[..n]));
            keys.extend(receiver.on_packet(rtp_timestamp(&buffer[..n]), &buffer[12..n]));
        }
        sending.finished().await;
        assert_eq!(keys, ['#']);
        assert_eq!(timestamps.len(), 1, "one event, one timestamp");
        assert!(relay.send_digit(true, 'x', 101).is_none());
        Ok(())
    }

    #[test]
    fn rewrites_follow_the_formats() {
        let pcmu = Formats {
            codec: Codec::Pcmu,
            telephone_event: Some(101),
        };
        let pcma = Formats {
            codec: Codec::Pcma,
            telephone_event: None,
        };
        assert_eq!(rewrite(0, None, Some(pcma)), Rewrite::Keep);
        assert_eq!(rewrite(0, Some(pcmu), Some(pcmu)), Rewrite::Keep);
        assert_eq!(
            rewrite(0, Some(pcmu), Some(pcma)),
            Rewrite::Transcode { to: Codec::Pcma }
        );
        assert_eq!(rewrite(101, Some(pcmu), Some(pcma)), Rewrite::Drop);
        assert_eq!(rewrite(13, Some(pcmu), Some(pcma)), Rewrite::Keep);
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
