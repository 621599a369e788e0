//! Conversion of uploaded and synthesized audio to the telephony form, sans-IO: a WAV file of
//! any common layout (PCM 8/16/24/32-bit or 32-bit float, 1–8 channels, 8–96 kHz) in, 8 kHz
//! mono 16-bit samples out. Channels are averaged; the rate is changed by a windowed-sinc
//! low-pass filter below the new Nyquist frequency followed by interpolation, so a 44.1 kHz
//! upload does not alias into the 4 kHz telephone band.

use std::collections::VecDeque;
use std::io::{Cursor, Read};

use hound::{SampleFormat, WavReader, WavSpec, WavWriter};

/// The telephony sample rate.
pub const TELEPHONY_RATE: u32 = 8_000;

/// Why audio could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The bytes are not a WAV file hound can read.
    #[error("not a valid WAV file ({0})")]
    NotWav(String),
    /// A WAV layout this converter does not take.
    #[error("unsupported WAV format: {0}")]
    Unsupported(String),
    /// No audio in it.
    #[error("the WAV file holds no audio")]
    Empty,
    /// Longer than allowed.
    #[error("the audio lasts {seconds} s, longer than the {max_seconds} s allowed")]
    TooLong {
        /// Its length.
        seconds: u64,
        /// The limit.
        max_seconds: u64,
    },
}

/// Reads the WAV in `bytes` and returns it as 8 kHz mono 16-bit samples; refuses audio longer
/// than `max_seconds`.
pub fn to_telephony(bytes: &[u8], max_seconds: u64) -> Result<Vec<i16>, ConvertError> {
    to_telephony_from(Cursor::new(bytes), max_seconds)
}

/// Reads a WAV from `source` (a file, unread until now) frame by frame and returns it as 8 kHz
/// mono 16-bit samples; refuses audio longer than `max_seconds`. Memory holds the output and
/// a filter's width of input, never the whole upload.
pub fn to_telephony_from<R: Read>(source: R, max_seconds: u64) -> Result<Vec<i16>, ConvertError> {
    let reader = WavReader::new(source).map_err(|e| ConvertError::NotWav(e.to_string()))?;
    let spec = reader.spec();
    if !(1..=8).contains(&spec.channels) {
        return Err(ConvertError::Unsupported(format!(
            "{} channels",
            spec.channels
        )));
    }
    if !(8_000..=96_000).contains(&spec.sample_rate) {
        return Err(ConvertError::Unsupported(format!(
            "{} Hz (8000 to 96000 Hz are accepted)",
            spec.sample_rate
        )));
    }
    let frames = u64::from(reader.duration());
    let seconds = frames / u64::from(spec.sample_rate);
    if seconds > max_seconds {
        return Err(ConvertError::TooLong {
            seconds,
            max_seconds,
        });
    }
    let capacity = usize::try_from(
        frames.saturating_mul(u64::from(TELEPHONY_RATE)) / u64::from(spec.sample_rate) + 1,
    )
    .unwrap_or(0);
    let mut converted = Conversion {
        resampler: Resampler::new(spec.sample_rate, TELEPHONY_RATE),
        channels: usize::from(spec.channels),
        frame: Vec::with_capacity(usize::from(spec.channels)),
        scratch: Vec::new(),
        out: Vec::with_capacity(capacity),
    };
    let bad = |e: hound::Error| ConvertError::NotWav(e.to_string());
    match (spec.sample_format, spec.bits_per_sample) {
        (SampleFormat::Float, 32) => {
            for sample in reader.into_samples::<f32>() {
                converted.push(sample.map_err(bad)?);
            }
        }
        (SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = (1u64 << (bits - 1)) as f32;
            for sample in reader.into_samples::<i32>() {
                converted.push(sample.map_err(bad)? as f32 / scale);
            }
        }
        (format, bits) => {
            return Err(ConvertError::Unsupported(format!(
                "{bits}-bit {}",
                match format {
                    SampleFormat::Float => "float",
                    SampleFormat::Int => "integer",
                }
            )))
        }
    }
    converted.finish()
}

/// A conversion under way: interleaved samples in, 8 kHz mono out.
struct Conversion {
    resampler: Resampler,
    channels: usize,
    frame: Vec<f32>,
    scratch: Vec<f32>,
    out: Vec<i16>,
}

impl Conversion {
    /// One sample of the next frame; a whole frame is averaged and resampled.
    fn push(&mut self, sample: f32) {
        self.frame.push(sample);
        if self.frame.len() < self.channels {
            return;
        }
        let mono = self.frame.iter().sum::<f32>() / self.channels as f32;
        self.frame.clear();
        self.resampler.push(mono, &mut self.scratch);
        self.drain();
    }

    fn drain(&mut self) {
        self.out.extend(
            self.scratch
                .drain(..)
                .map(|s| (s * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16),
        );
    }

    fn finish(mut self) -> Result<Vec<i16>, ConvertError> {
        if self.resampler.received == 0 {
            return Err(ConvertError::Empty);
        }
        let resampler = std::mem::replace(&mut self.resampler, Resampler::new(1, 1));
        resampler.finish(&mut self.scratch);
        self.drain();
        Ok(self.out)
    }
}

/// `input` at `from` Hz, resampled to `to` Hz. Going down, a windowed-sinc low-pass (Blackman
/// window, 16 zero crossings each side) is evaluated at each output instant, so filtering and
/// interpolation are one step; going up, the same kernel interpolates.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    let mut resampler = Resampler::new(from, to);
    let mut out = Vec::new();
    for sample in input {
        resampler.push(*sample, &mut out);
    }
    resampler.finish(&mut out);
    out
}

/// [`resample`] one sample at a time: each output comes out once the input window after it
/// has arrived, and only that window is kept.
pub struct Resampler {
    ratio: f64,
    cutoff: f64,
    half_width: f64,
    identity: bool,
    window: VecDeque<f32>,
    window_start: usize,
    received: usize,
    next_out: usize,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz.
    pub fn new(from: u32, to: u32) -> Self {
        let ratio = f64::from(to) / f64::from(from.max(1));
        // Cut-off just below the lower of the two Nyquist frequencies, as a fraction of `from`.
        let cutoff = 0.95 * ratio.min(1.0);
        Self {
            ratio,
            cutoff,
            half_width: (16.0 / cutoff).ceil(),
            identity: from == to,
            window: VecDeque::new(),
            window_start: 0,
            received: 0,
            next_out: 0,
        }
    }

    /// The next input sample; outputs now complete are appended to `out`.
    pub fn push(&mut self, sample: f32, out: &mut Vec<f32>) {
        self.received += 1;
        if self.identity {
            out.push(sample);
            return;
        }
        self.window.push_back(sample);
        loop {
            let centre = self.next_out as f64 / self.ratio;
            let last = (centre + self.half_width).floor() as usize;
            if last >= self.received {
                break;
            }
            out.push(self.output_at(centre, last));
            self.next_out += 1;
            let next_first = (self.next_out as f64 / self.ratio - self.half_width)
                .ceil()
                .max(0.0) as usize;
            while self.window_start < next_first && !self.window.is_empty() {
                self.window.pop_front();
                self.window_start += 1;
            }
        }
    }

    /// The outputs left once the input has ended.
    pub fn finish(mut self, out: &mut Vec<f32>) {
        if self.identity || self.received == 0 {
            return;
        }
        let out_len = ((self.received as f64) * self.ratio).floor() as usize;
        while self.next_out < out_len {
            let centre = self.next_out as f64 / self.ratio;
            let last = ((centre + self.half_width).floor() as usize).min(self.received - 1);
            out.push(self.output_at(centre, last));
            self.next_out += 1;
        }
    }

    /// The filtered value at input instant `centre`, from the inputs up to `last`.
    fn output_at(&self, centre: f64, last: usize) -> f32 {
        let first = (centre - self.half_width).ceil().max(0.0) as usize;
        let mut sum = 0.0f64;
        for k in first.max(self.window_start)..=last {
            let Some(sample) = self.window.get(k - self.window_start) else {
                break;
            };
            let x = k as f64 - centre;
            let window = blackman(x / self.half_width);
            sum += f64::from(*sample) * self.cutoff * sinc(self.cutoff * x) * window;
        }
        sum as f32
    }
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-9 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// The Blackman window over [-1, 1].
fn blackman(t: f64) -> f64 {
    if t.abs() >= 1.0 {
        return 0.0;
    }
    let phase = std::f64::consts::PI * (t + 1.0);
    0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos()
}

/// `samples` (8 kHz mono) as the bytes of a 16-bit PCM WAV file.
pub fn wav_bytes(samples: &[i16]) -> Result<Vec<u8>, ConvertError> {
    let spec = WavSpec {
        channels: 1,
        sample_rate: TELEPHONY_RATE,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    };
    let mut bytes = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    let fail = |e: hound::Error| ConvertError::Unsupported(e.to_string());
    let mut writer = WavWriter::new(&mut bytes, spec).map_err(fail)?;
    for sample in samples {
        writer.write_sample(*sample).map_err(fail)?;
    }
    writer.finalize().map_err(fail)?;
    Ok(bytes.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(spec: WavSpec, frames: usize, value: impl Fn(usize, u16) -> f64) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        let mut writer = WavWriter::new(&mut bytes, spec).expect("a valid spec");
        for n in 0..frames {
            for channel in 0..spec.channels {
                let v = value(n, channel);
                match (spec.sample_format, spec.bits_per_sample) {
                    (SampleFormat::Float, _) => writer.write_sample(v as f32),
                    (_, 16) => writer.write_sample((v * 32_767.0) as i16),
                    (_, bits) => {
                        writer.write_sample((v * ((1i64 << (bits - 1)) - 1) as f64) as i32)
                    }
                }
                .expect("writes to memory");
            }
        }
        writer.finalize().expect("finalizes in memory");
        bytes.into_inner()
    }

    fn tone(rate: u32, hz: f64) -> impl Fn(usize, u16) -> f64 {
        move |n, _| 0.5 * (std::f64::consts::TAU * hz * n as f64 / f64::from(rate)).sin()
    }

    /// The level of `hz` in `samples` (8 kHz), by correlation.
    fn level(samples: &[i16], hz: f64) -> f64 {
        let (mut re, mut im) = (0.0, 0.0);
        for (n, s) in samples.iter().enumerate() {
            let phase = std::f64::consts::TAU * hz * n as f64 / 8_000.0;
            re += f64::from(*s) * phase.cos();
            im += f64::from(*s) * phase.sin();
        }
        2.0 * (re * re + im * im).sqrt() / samples.len() as f64 / 32_768.0
    }

    #[test]
    fn a_cd_quality_stereo_upload_becomes_8_khz_mono_without_aliasing() {
        let spec = WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: SampleFormat::Int,
        };
        // 1 s: 1 kHz in the band plus 6 kHz above the new Nyquist frequency.
        let high = tone(44_100, 6_000.0);
        let low = tone(44_100, 1_000.0);
        let bytes = wav(spec, 44_100, |n, c| 0.5 * low(n, c) + 0.5 * high(n, c));
        let samples = to_telephony(&bytes, 60).expect("converts");
        assert_eq!(samples.len(), 8_000);
        let kept = level(&samples[400..7_600], 1_000.0);
        let folded = level(&samples[400..7_600], 2_000.0); // 6 kHz would alias to 2 kHz
        assert!((0.2..0.3).contains(&kept), "1 kHz at {kept}");
        assert!(folded < 0.005, "alias at {folded}");
    }

    #[test]
    fn narrowband_float_24_bit_and_8_bit_files_are_read() {
        for (format, bits, rate) in [
            (SampleFormat::Int, 16, 8_000),
            (SampleFormat::Float, 32, 16_000),
            (SampleFormat::Int, 24, 48_000),
            (SampleFormat::Int, 8, 11_025),
        ] {
            let spec = WavSpec {
                channels: 1,
                sample_rate: rate,
                bits_per_sample: bits,
                sample_format: format,
            };
            let bytes = wav(spec, rate as usize / 2, tone(rate, 500.0));
            let samples = to_telephony(&bytes, 60).expect("converts");
            assert!(
                samples.len().abs_diff(4_000) <= 1,
                "{bits} bits at {rate} Hz"
            );
            let at = level(&samples[200..3_800], 500.0);
            assert!((0.4..0.6).contains(&at), "{bits} bits at {rate} Hz: {at}");
        }
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        assert!(matches!(
            to_telephony(b"ID3 this is an mp3", 60),
            Err(ConvertError::NotWav(_))
        ));
        let spec = WavSpec {
            channels: 1,
            sample_rate: 8_000,
            bits_per_sample: 16,
            sample_format: SampleFormat::Int,
        };
        let long = wav(spec, 8_000 * 3, tone(8_000, 400.0));
        assert_eq!(
            to_telephony(&long, 2),
            Err(ConvertError::TooLong {
                seconds: 3,
                max_seconds: 2
            })
        );
        assert_eq!(
            to_telephony(&wav(spec, 0, tone(8_000, 1.0)), 2),
            Err(ConvertError::Empty)
        );
        let truncated = &long[..30];
        assert!(to_telephony(truncated, 60).is_err());
    }

    /// The resampler as it was before it streamed: the whole input at once.
    fn resample_whole(input: &[f32], from: u32, to: u32) -> Vec<f32> {
        if from == to || input.is_empty() {
            return input.to_vec();
        }
        let ratio = f64::from(to) / f64::from(from);
        let cutoff = 0.95 * ratio.min(1.0);
        let half_width = (16.0 / cutoff).ceil();
        let out_len = ((input.len() as f64) * ratio).floor() as usize;
        (0..out_len)
            .map(|n| {
                let centre = n as f64 / ratio;
                let first = (centre - half_width).ceil().max(0.0) as usize;
                let last = ((centre + half_width).floor() as usize).min(input.len() - 1);
                let mut sum = 0.0f64;
                for (k, sample) in input.iter().enumerate().take(last + 1).skip(first) {
                    let x = k as f64 - centre;
                    sum +=
                        f64::from(*sample) * cutoff * sinc(cutoff * x) * blackman(x / half_width);
                }
                sum as f32
            })
            .collect()
    }

    #[test]
    fn streaming_resampling_gives_what_whole_resampling_gave() {
        let input: Vec<f32> = (0..5_000)
            .map(|n| ((n * 7_919) % 2_001) as f32 / 1_000.0 - 1.0)
            .collect();
        for (from, to) in [
            (44_100, 8_000),
            (48_000, 8_000),
            (11_025, 8_000),
            (8_000, 16_000),
            (8_000, 8_000),
        ] {
            for len in [0, 1, 50, 500, 5_000] {
                let streamed = resample(&input[..len], from, to);
                let whole = resample_whole(&input[..len], from, to);
                assert_eq!(streamed, whole, "{from} -> {to}, {len} samples");
            }
        }
    }

    #[test]
    fn samples_round_trip_through_a_wav_file() {
        let samples: Vec<i16> = (0..800).map(|n| (n * 40 - 16_000) as i16).collect();
        let bytes = wav_bytes(&samples).expect("writes");
        assert_eq!(to_telephony(&bytes, 1).expect("reads"), samples);
    }
}
