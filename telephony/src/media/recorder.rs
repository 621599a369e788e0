//! The call recorder: mixes the RTP of both directions of a bridged call on one wall-clock
//! timeline and streams it to an 8 kHz mono 16-bit WAV file, so that the file lasts exactly as
//! long as the recording ran (silence where no packet came). Each direction goes through a
//! `JitterBuffer` and is placed by its RTP timestamps from its first packet's arrival, so
//! network jitter, reordering and duplicates do not move or repeat audio; a timestamp that
//! strays more than a second from the arrival time (a new stream after a hold) re-anchors it.
//! Only G.711 payloads are decoded; telephone-events and other payload types are skipped.

use std::path::Path;
use std::time::Instant;

use super::g711::{alaw_to_linear, ulaw_to_linear};
use super::jitter::{Frame, JitterBuffer};
use super::wav_out::WavOut;

/// Samples per second.
const RATE: u64 = super::wav_out::RATE as u64;
/// How far behind the newest packet the mix is kept open for late packets.
const WINDOW: u64 = RATE / 2;
/// The samples written to the file at a time, once they are past the window (100 ms).
const BLOCK: u64 = RATE / 10;
/// Packets a direction waits for a missing one (60 ms of 20 ms frames).
const JITTER_DEPTH: usize = 3;

/// One RTP packet as the recorder needs it.
#[derive(Debug, Clone, Copy)]
pub struct RtpAudio<'a> {
    /// Sequence number.
    pub sequence: u16,
    /// Timestamp (8 kHz units).
    pub timestamp: u32,
    /// Payload type.
    pub payload_type: u8,
    /// Payload.
    pub payload: &'a [u8],
}

/// One direction of the call.
#[derive(Debug)]
struct Direction {
    jitter: JitterBuffer,
    /// An RTP timestamp and the recording's sample offset it sits at.
    anchor: Option<(u32, u64)>,
}

/// Why a recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// The file or its directory could not be created or written.
    #[error("recording file: {0}")]
    Io(#[from] std::io::Error),
}

/// A recording in progress.
#[derive(Debug)]
pub struct Recorder {
    file: WavOut,
    started: Instant,
    /// Mix of samples from `file.samples()` on.
    pending: Vec<i32>,
    /// Leg A's direction and leg B's.
    directions: [Direction; 2],
}

impl Recorder {
    /// Starts recording into `path` (its directory is created); time zero is now.
    pub fn create(path: &Path) -> Result<Recorder, RecorderError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Recorder {
            file: WavOut::create(path)?,
            started: Instant::now(),
            pending: Vec::new(),
            directions: std::array::from_fn(|_| Direction {
                jitter: JitterBuffer::new(JITTER_DEPTH),
                anchor: None,
            }),
        })
    }

    /// Adds a packet that arrived `at` from leg A (`from_a`) or leg B; the mix is written out
    /// in blocks once they are more than the window behind.
    pub fn add(
        &mut self,
        from_a: bool,
        packet: RtpAudio<'_>,
        at: Instant,
    ) -> Result<(), RecorderError> {
        if !matches!(packet.payload_type, 0 | 8) {
            return Ok(());
        }
        let end = samples_since(self.started, at);
        let arrived_at = end.saturating_sub(packet.payload.len() as u64);
        let direction = usize::from(!from_a);
        let jitter = &mut self.directions[direction].jitter;
        if jitter.pass(packet.sequence) {
            self.place(
                from_a,
                packet.timestamp,
                packet.payload_type,
                packet.payload,
                arrived_at,
            );
        } else {
            let mut tagged = Vec::with_capacity(packet.payload.len() + 1);
            tagged.push(packet.payload_type);
            tagged.extend_from_slice(packet.payload);
            jitter.push(packet.sequence, packet.timestamp, tagged);
            while let Some(frame) = self.directions[direction].jitter.pop() {
                self.place_frame(from_a, frame, arrived_at);
            }
        }
        let until = end.saturating_sub(WINDOW);
        if until >= self.file.samples() + BLOCK {
            self.flush_until(until)?;
        }
        Ok(())
    }

    /// Mixes a frame the jitter buffer released (its payload type first, then its payload).
    fn place_frame(&mut self, from_a: bool, frame: Frame, arrived_at: u64) {
        let Frame::Audio { timestamp, payload } = frame else {
            return; // a lost packet is silence
        };
        if let Some((&payload_type, codes)) = payload.split_first() {
            self.place(from_a, timestamp, payload_type, codes, arrived_at);
        }
    }

    /// Mixes the G.711 `codes` of one direction in at the place `timestamp` gives.
    fn place(
        &mut self,
        from_a: bool,
        timestamp: u32,
        payload_type: u8,
        codes: &[u8],
        arrived_at: u64,
    ) {
        let flushed = self.file.samples();
        let direction = &mut self.directions[usize::from(!from_a)];
        let placed = direction.anchor.and_then(|(anchor_ts, anchor_at)| {
            // The wrapping difference read as signed: a timestamp may be a little behind.
            let delta = i64::from(timestamp.wrapping_sub(anchor_ts) as i32);
            let at = i64::try_from(anchor_at).ok()? + delta;
            let at = u64::try_from(at).ok()?;
            (at.abs_diff(arrived_at) <= RATE).then_some(at)
        });
        let start = placed.unwrap_or_else(|| {
            direction.anchor = Some((timestamp, arrived_at));
            arrived_at
        });
        let end = start + codes.len() as u64;
        if end <= flushed {
            return; // too late for the mix
        }
        let needed = usize::try_from(end - flushed).unwrap_or(usize::MAX);
        if needed > self.pending.len() {
            self.pending.resize(needed, 0);
        }
        let skip = usize::try_from(flushed.saturating_sub(start)).unwrap_or(usize::MAX);
        let first_slot = usize::try_from(start.saturating_sub(flushed)).unwrap_or(0);
        let (slots, codes) = (
            &mut self.pending[first_slot..],
            codes.get(skip..).unwrap_or(&[]),
        );
        if payload_type == 0 {
            mix_in(slots, codes, ulaw_to_linear);
        } else {
            mix_in(slots, codes, alaw_to_linear);
        }
    }

    /// Writes the mix up to sample `until` (silence where nothing was placed).
    fn flush_until(&mut self, until: u64) -> Result<(), RecorderError> {
        let flushed = self.file.samples();
        if until <= flushed {
            return Ok(());
        }
        let count = usize::try_from(until - flushed).unwrap_or(usize::MAX);
        if self.pending.len() < count {
            self.pending.resize(count, 0);
        }
        self.file.append(&self.pending[..count])?;
        self.pending.drain(..count);
        Ok(())
    }

    /// Ends the recording at `at`: what the jitter buffers hold is placed, the mix written up
    /// to `at` and the file finalized. Returns the length in milliseconds.
    pub fn finish(mut self, at: Instant) -> Result<u64, RecorderError> {
        let end = samples_since(self.started, at);
        for from_a in [true, false] {
            let frames = self.directions[usize::from(!from_a)].jitter.drain();
            for frame in frames {
                self.place_frame(from_a, frame, end);
            }
        }
        self.flush_until(end)?;
        self.file.finish()?;
        Ok(end * 1_000 / RATE)
    }
}

/// Adds the decoded `codes` to `slots`, one sample each (generic over the law so that the
/// decoding is inlined into the loop).
fn mix_in(slots: &mut [i32], codes: &[u8], decode: impl Fn(u8) -> i16) {
    for (slot, &code) in slots.iter_mut().zip(codes) {
        *slot += i32::from(decode(code));
    }
}

/// The sample offset of `at` in a recording that started at `start`.
fn samples_since(start: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(start).as_micros() * u128::from(RATE) / 1_000_000)
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_file_lasts_as_long_as_the_recording_and_holds_the_audio(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("callcore-recorder-{}", std::process::id()));
        let path = dir.join("a/b/call.wav");
        let mut recorder = Recorder::create(&path)?;
        let t0 = recorder.started;
        // 1.5 s of A-law packets every 20 ms from one side, with a gap of 200 ms.
        for i in 0..75u64 {
            if (40..50).contains(&i) {
                continue;
            }
            let packet = RtpAudio {
                sequence: u16::try_from(i).unwrap_or(0),
                timestamp: u32::try_from(160 * i).unwrap_or(0),
                payload_type: 8,
                payload: &[0xAA; 160],
            };
            recorder.add(true, packet, t0 + Duration::from_millis(20 * (i + 1)))?;
        }
        let length = recorder.finish(t0 + Duration::from_millis(2_000))?;
        assert_eq!(length, 2_000);
        let reader = hound::WavReader::open(&path)?;
        assert_eq!(
            (reader.spec().sample_rate, reader.spec().channels),
            (8_000, 1)
        );
        assert_eq!(reader.duration(), 16_000);
        let samples: Vec<i16> = reader.into_samples::<i16>().collect::<Result<_, _>>()?;
        assert_eq!(samples[100], 32_256, "A-law 0xAA decoded");
        assert_eq!(samples[40 * 160 + 80], 0, "the gap is silence");
        assert_eq!(samples[15_000], 0, "after the last packet, silence");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn jitter_reordering_and_duplicates_neither_move_nor_repeat_audio(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("callcore-jitter-{}", std::process::id()));
        let path = dir.join("call.wav");
        let mut recorder = Recorder::create(&path)?;
        let t0 = recorder.started;
        // B sends 50 packets (1 s) of a constant level; the network delays each by 0–30 ms,
        // swaps neighbours and repeats every tenth packet.
        let level = crate::media::g711::linear_to_ulaw(3_000);
        let mut arrivals: Vec<(u64, u64)> = (0..50u64)
            .map(|i| (i, 20 * (i + 1) + (i * 7) % 31))
            .collect();
        for pair in arrivals.chunks_mut(2) {
            pair.reverse();
        }
        let repeats: Vec<(u64, u64)> = (0..50u64)
            .step_by(10)
            .map(|i| (i, 20 * (i + 1) + 35))
            .collect();
        arrivals.extend(repeats);
        arrivals.sort_by_key(|(_, at)| *at);
        for (i, at) in arrivals {
            let packet = RtpAudio {
                sequence: u16::try_from(1_000 + i).unwrap_or(0),
                timestamp: u32::try_from(90_000 + 160 * i).unwrap_or(0),
                payload_type: 0,
                payload: &[level; 160],
            };
            recorder.add(false, packet, t0 + Duration::from_millis(at))?;
        }
        recorder.finish(t0 + Duration::from_millis(1_200))?;
        let samples: Vec<i16> = hound::WavReader::open(&path)?
            .into_samples::<i16>()
            .collect::<Result<_, _>>()?;
        let expected = crate::media::g711::ulaw_to_linear(level);
        // The first packet arrived on time, so the audio runs from 0 to 1 s without a hole
        // or a doubled sample, then silence.
        let audio = &samples[..8_000];
        assert!(
            audio.iter().all(|s| *s == expected),
            "{:?}",
            audio.iter().position(|s| *s != expected)
        );
        assert!(samples[8_100..].iter().all(|s| *s == 0));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
