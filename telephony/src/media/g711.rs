//! G.711 µ-law and A-law (ITU-T G.711): sample coding and µ-law ↔ A-law transcoding for legs
//! that negotiated different codecs.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

/// Encodes a 16-bit linear sample as µ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample);
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0x00
    };
    pcm = pcm.min(CLIP) + BIAS;
    let exponent = (7 - (pcm.leading_zeros() as i32 - 17)).clamp(0, 7);
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    // Every part is masked to 8 bits, so the conversion cannot fail.
    u8::try_from(!(sign | (exponent << 4) | mantissa) & 0xFF).unwrap_or(0)
}

/// Decodes a µ-law byte to a 16-bit linear sample (a table look-up).
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Every µ-law code decoded, computed at compile time.
static ULAW_TO_LINEAR: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut index = 0;
    while index < 256 {
        let code = !(index as u8);
        let sign = code & 0x80;
        let exponent = ((code >> 4) & 0x07) as i32;
        let mantissa = (code & 0x0F) as i32;
        let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
        // |magnitude| ≤ 32,124, inside i16.
        table[index] = (if sign != 0 { -magnitude } else { magnitude }) as i16;
        index += 1;
    }
    table
};

/// Encodes a 16-bit linear sample as A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let pcm = i32::from(sample);
    let (sign, magnitude) = if pcm >= 0 {
        (0xD5, pcm)
    } else {
        (0x55, -pcm - 1)
    };
    let magnitude = magnitude.min(0x7FFF);
    let code = if magnitude < 256 {
        magnitude >> 4
    } else {
        let exponent = (31 - magnitude.leading_zeros() as i32) - 7; // 1..=7
        (exponent << 4) | ((magnitude >> (exponent + 3)) & 0x0F)
    };
    u8::try_from((code ^ sign) & 0xFF).unwrap_or(0)
}

/// Decodes an A-law byte to a 16-bit linear sample (a table look-up).
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// Every A-law code decoded, computed at compile time.
static ALAW_TO_LINEAR: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut index = 0;
    while index < 256 {
        let code = (index as u8) ^ 0x55;
        let sign = code & 0x80;
        let exponent = ((code >> 4) & 0x07) as i32;
        let mantissa = (code & 0x0F) as i32;
        let magnitude = if exponent == 0 {
            (mantissa << 4) + 8
        } else {
            ((mantissa << 4) + 0x108) << (exponent - 1)
        };
        // |magnitude| ≤ 32,256, inside i16.
        table[index] = (if sign != 0 { magnitude } else { -magnitude }) as i16;
        index += 1;
    }
    table
};

/// The A-law code of each µ-law code, and the µ-law code of each A-law code.
static TRANSCODE: std::sync::LazyLock<([u8; 256], [u8; 256])> = std::sync::LazyLock::new(|| {
    let mut to_alaw = [0u8; 256];
    let mut to_ulaw = [0u8; 256];
    for code in 0..=255u8 {
        to_alaw[usize::from(code)] = linear_to_alaw(ulaw_to_linear(code));
        to_ulaw[usize::from(code)] = linear_to_ulaw(alaw_to_linear(code));
    }
    (to_alaw, to_ulaw)
});

/// Transcodes one µ-law code to A-law.
pub fn ulaw_code_to_alaw(code: u8) -> u8 {
    TRANSCODE.0[usize::from(code)]
}

/// Transcodes one A-law code to µ-law.
pub fn alaw_code_to_ulaw(code: u8) -> u8 {
    TRANSCODE.1[usize::from(code)]
}

/// Transcodes a µ-law payload to A-law, byte for byte.
pub fn ulaw_to_alaw(payload: &[u8]) -> Vec<u8> {
    payload.iter().map(|&c| ulaw_code_to_alaw(c)).collect()
}

/// Transcodes an A-law payload to µ-law, byte for byte.
pub fn alaw_to_ulaw(payload: &[u8]) -> Vec<u8> {
    payload.iter().map(|&c| alaw_code_to_ulaw(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Silence and the extremes, as in the G.711 tables.
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x00), -32_124);
        assert_eq!(ulaw_to_linear(0x80), 32_124);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32_256);
        assert_eq!(alaw_to_linear(0x2A), -32_256);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
    }

    #[test]
    fn every_code_survives_a_round_trip() {
        for code in 0..=255u8 {
            let linear = ulaw_to_linear(code);
            assert_eq!(
                ulaw_to_linear(linear_to_ulaw(linear)),
                linear,
                "µ-law code {code:#04x}"
            );
            let linear = alaw_to_linear(code);
            assert_eq!(linear_to_alaw(linear), code, "A-law code {code:#04x}");
        }
    }

    #[test]
    fn encoding_is_monotonic_and_close() {
        let mut previous = i32::from(ulaw_to_linear(linear_to_ulaw(i16::MIN)));
        for sample in (i16::MIN..=i16::MAX).step_by(97) {
            let back = i32::from(ulaw_to_linear(linear_to_ulaw(sample)));
            assert!(back >= previous, "µ-law not monotonic at {sample}");
            previous = back;
            let error = (back - i32::from(sample)).abs();
            assert!(error <= 1_100, "µ-law error {error} at {sample}");
            let a = i32::from(alaw_to_linear(linear_to_alaw(sample)));
            assert!(
                (a - i32::from(sample)).abs() <= 1_100,
                "A-law error at {sample}"
            );
        }
    }

    #[test]
    fn transcoding_keeps_the_signal() {
        let tone: Vec<u8> = (0..160)
            .map(|i| linear_to_ulaw(((f64::from(i) * 0.3).sin() * 8_000.0) as i16))
            .collect();
        let there_and_back = alaw_to_ulaw(&ulaw_to_alaw(&tone));
        for (a, b) in tone.iter().zip(&there_and_back) {
            let error = (i32::from(ulaw_to_linear(*a)) - i32::from(ulaw_to_linear(*b))).abs();
            assert!(error <= 300, "transcoding error {error}");
        }
    }
}
