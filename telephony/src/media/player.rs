//! Prompt playback, sans-IO: a WAV prompt (8 kHz, mono, 16-bit, the voice library's stored
//! form) cut into 20 ms G.711 frames, and the RTP packets that carry them. Whoever owns the
//! socket sends one packet every 20 ms (`MediaRelay::play` does, towards one leg).

use std::path::Path;

use super::g711::{linear_to_alaw, linear_to_ulaw};
use crate::sdp::Codec;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// Why a prompt cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// Not a readable WAV file.
    #[error("not a readable WAV file: {0}")]
    Wav(#[from] hound::Error),
    /// A WAV file in another form than 8 kHz, mono, 16-bit.
    #[error("prompt must be 8 kHz mono 16-bit PCM, this one is {rate} Hz, {channels} channel(s), {bits} bits")]
    Format {
        /// Its sample rate.
        rate: u32,
        /// Its channels.
        channels: u16,
        /// Its bits per sample.
        bits: u16,
    },
}

/// A prompt ready to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    samples: Vec<i16>,
}

impl Prompt {
    /// Reads an 8 kHz mono 16-bit WAV file.
    pub fn load(path: &Path) -> Result<Prompt, PromptError> {
        let reader = hound::WavReader::open(path)?;
        let spec = reader.spec();
        if spec.sample_rate != 8_000
            || spec.channels != 1
            || spec.bits_per_sample != 16
            || spec.sample_format != hound::SampleFormat::Int
        {
            return Err(PromptError::Format {
                rate: spec.sample_rate,
                channels: spec.channels,
                bits: spec.bits_per_sample,
            });
        }
        let samples = reader.into_samples::<i16>().collect::<Result<_, _>>()?;
        Ok(Prompt { samples })
    }

    /// A prompt of these 8 kHz samples.
    pub fn from_samples(samples: Vec<i16>) -> Prompt {
        Prompt { samples }
    }

    /// Its 8 kHz samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// Its length in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 * 1_000 / 8_000
    }

    /// Its 20 ms frames coded in `codec`; the last one is padded with silence.
    pub fn frames(&self, codec: Codec) -> Vec<Vec<u8>> {
        let encode: fn(i16) -> u8 = match codec {
            Codec::Pcmu => linear_to_ulaw,
            Codec::Pcma => linear_to_alaw,
        };
        self.samples
            .chunks(FRAME_SAMPLES)
            .map(|chunk| {
                let mut frame: Vec<u8> = chunk.iter().map(|s| encode(*s)).collect();
                frame.resize(FRAME_SAMPLES, encode(0));
                frame
            })
            .collect()
    }
}

/// Numbers an outgoing RTP stream (RFC 3550 §5.1): sequence, timestamp, SSRC, and the marker
/// on the first packet of a talkspurt.
#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    payload_type: u8,
    marker: bool,
}

impl RtpSender {
    /// A stream of `payload_type` starting at `sequence` and `timestamp` (random in practice).
    pub fn new(ssrc: u32, sequence: u16, timestamp: u32, payload_type: u8) -> RtpSender {
        RtpSender {
            ssrc,
            sequence,
            timestamp,
            payload_type: payload_type & 0x7F,
            marker: true,
        }
    }

    /// The next packet carrying `payload` (one sample per byte, as G.711).
    pub fn packet(&mut self, payload: &[u8]) -> Vec<u8> {
        let advance = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        self.build(payload, advance)
    }

    /// The next packet of an RFC 4733 event: every packet of one event carries the event's
    /// start timestamp; call [`RtpSender::skip`] with its duration once it has ended.
    pub fn event_packet(&mut self, payload: &[u8]) -> Vec<u8> {
        self.build(payload, 0)
    }

    /// Moves the timestamp on by `units` (1/8000 s) without sending.
    pub fn skip(&mut self, units: u32) {
        self.timestamp = self.timestamp.wrapping_add(units);
    }

    fn build(&mut self, payload: &[u8], advance: u32) -> Vec<u8> {
        let mut packet = Vec::with_capacity(12 + payload.len());
        packet.push(0x80);
        packet.push(self.payload_type | if self.marker { 0x80 } else { 0 });
        packet.extend(self.sequence.to_be_bytes());
        packet.extend(self.timestamp.to_be_bytes());
        packet.extend(self.ssrc.to_be_bytes());
        packet.extend_from_slice(payload);
        self.marker = false;
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(advance);
        packet
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::alaw_to_linear;

    #[test]
    fn frames_are_20_ms_and_the_last_is_padded() {
        let prompt = Prompt::from_samples(vec![1_000; 400]);
        assert_eq!(prompt.duration_ms(), 50);
        let frames = prompt.frames(Codec::Pcma);
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|f| f.len() == FRAME_SAMPLES));
        let decoded = alaw_to_linear(frames[2][79]);
        assert!((900..=1_100).contains(&decoded), "{decoded}");
        assert_eq!(frames[2][80], linear_to_alaw(0), "silence after the end");
        assert_eq!(
            Prompt::from_samples(vec![0; 160]).frames(Codec::Pcmu)[0][0],
            0xFF
        );
    }

    #[test]
    fn packets_are_numbered_and_marked_once() {
        let mut sender = RtpSender::new(0xDEAD_BEEF, 65_535, 4_294_967_200, 8);
        let first = sender.packet(&[0xD5; 160]);
        let second = sender.packet(&[0xD5; 160]);
        assert_eq!(
            &first[..12],
            &[0x80, 0x88, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xA0, 0xDE, 0xAD, 0xBE, 0xEF]
        );
        assert_eq!(second[1], 8, "no marker after the first packet");
        assert_eq!(&second[2..4], &[0, 0], "the sequence wraps");
        assert_eq!(
            u32::from_be_bytes([second[4], second[5], second[6], second[7]]),
            64
        );
        assert_eq!(second.len(), 172);
    }

    #[test]
    fn only_8_khz_mono_16_bit_wav_loads() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("callcore-prompt-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let write =
            |name: &str, rate: u32, channels: u16| -> Result<std::path::PathBuf, hound::Error> {
                let path = dir.join(name);
                let spec = hound::WavSpec {
                    channels,
                    sample_rate: rate,
                    bits_per_sample: 16,
                    sample_format: hound::SampleFormat::Int,
                };
                let mut writer = hound::WavWriter::create(&path, spec)?;
                for n in 0..800 {
                    writer.write_sample(i16::try_from(n).unwrap_or(0))?;
                }
                writer.finalize()?;
                Ok(path)
            };
        let good = Prompt::load(&write("good.wav", 8_000, 1)?)?;
        assert_eq!(good.duration_ms(), 100);
        assert!(matches!(
            Prompt::load(&write("wide.wav", 16_000, 1)?),
            Err(PromptError::Format { rate: 16_000, .. })
        ));
        std::fs::write(dir.join("text.wav"), "not a wav")?;
        assert!(matches!(
            Prompt::load(&dir.join("text.wav")),
            Err(PromptError::Wav(_))
        ));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
