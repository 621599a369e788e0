//! The call recorder: mixes the RTP of both directions of a bridged call on one wall-clock
//! timeline and streams it to an 8 kHz mono 16-bit WAV file, so that the file lasts exactly as
//! long as the recording ran (silence where no packet came). Only G.711 payloads are decoded;
//! telephone-events and other payload types are skipped.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::Instant;

use hound::{SampleFormat, WavSpec, WavWriter};

use super::g711::{alaw_to_linear, ulaw_to_linear};

/// Samples per second.
const RATE: u64 = 8_000;
/// How far behind the newest packet the mix is kept open for late packets.
const WINDOW: u64 = RATE / 2;

/// Why a recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// The file could not be created or written.
    #[error("recording file: {0}")]
    Wav(#[from] hound::Error),
    /// The directory could not be created.
    #[error("recording directory: {0}")]
    Io(#[from] std::io::Error),
}

/// A recording in progress.
pub struct Recorder {
    writer: WavWriter<BufWriter<File>>,
    started: Instant,
    /// Samples already written.
    flushed: u64,
    /// Mix of samples from `flushed` on.
    pending: VecDeque<i32>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("flushed", &self.flushed)
            .finish()
    }
}

impl Recorder {
    /// Starts recording into `path` (its directory is created); time zero is now.
    pub fn create(path: &Path) -> Result<Recorder, RecorderError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let spec = WavSpec {
            channels: 1,
            sample_rate: 8_000,
            bits_per_sample: 16,
            sample_format: SampleFormat::Int,
        };
        Ok(Recorder {
            writer: WavWriter::create(path, spec)?,
            started: Instant::now(),
            flushed: 0,
            pending: VecDeque::new(),
        })
    }

    /// Mixes one RTP packet (payload type `pt`) in at the moment it arrived, `at`.
    pub fn add(&mut self, pt: u8, payload: &[u8], at: Instant) -> Result<(), RecorderError> {
        let decode: fn(u8) -> i16 = match pt {
            0 => ulaw_to_linear,
            8 => alaw_to_linear,
            _ => return Ok(()),
        };
        let end = samples_since(self.started, at);
        let start = end.saturating_sub(payload.len() as u64);
        for (offset, code) in (start..).zip(payload) {
            if offset < self.flushed {
                continue; // too late for the mix
            }
            let slot = usize::try_from(offset - self.flushed).unwrap_or(usize::MAX);
            if slot >= self.pending.len() {
                self.pending.resize(slot + 1, 0);
            }
            self.pending[slot] += i32::from(decode(*code));
        }
        let keep_from = end.saturating_sub(WINDOW);
        self.flush_until(keep_from)
    }

    fn flush_until(&mut self, until: u64) -> Result<(), RecorderError> {
        while self.flushed < until {
            let sample = self.pending.pop_front().unwrap_or(0);
            self.writer
                .write_sample(sample.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16)?;
            self.flushed += 1;
        }
        Ok(())
    }

    /// Ends the recording at `at`: the file then lasts from its start to `at`. Returns the
    /// length in milliseconds.
    pub fn finish(mut self, at: Instant) -> Result<u64, RecorderError> {
        let end = samples_since(self.started, at);
        self.flush_until(end)?;
        self.writer.finalize()?;
        Ok(end * 1_000 / RATE)
    }
}

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
            recorder.add(8, &[0xAA; 160], t0 + Duration::from_millis(20 * (i + 1)))?;
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
}
