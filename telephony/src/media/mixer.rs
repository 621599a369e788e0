//! Mixing of several audio streams into one, for a supervisor listening to a call or speaking
//! into it. Each source's samples wait in a short buffer; every 20 ms one frame is taken from
//! every source that has audio and the frames are summed. A source starts to count once it has
//! 40 ms buffered (so network jitter does not break it into clicks) and keeps at most 200 ms
//! (so a source whose clock runs fast cannot delay the mix without bound). Sans-IO: the relay
//! pushes what arrives and pulls on its own 20 ms tick.

use std::collections::VecDeque;

/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;

/// Samples a source must hold before it is mixed (40 ms).
const PRIME: usize = 2 * FRAME;

/// Samples a source holds at most (200 ms); older ones are dropped.
const CAPACITY: usize = 10 * FRAME;

#[derive(Debug, Default, Clone)]
struct Source {
    samples: VecDeque<i16>,
    primed: bool,
}

/// A mixer of a fixed number of sources.
#[derive(Debug, Clone)]
pub struct Mixer {
    sources: Vec<Source>,
}

impl Mixer {
    /// A mixer of `sources` sources, numbered from 0.
    pub fn new(sources: usize) -> Mixer {
        Mixer {
            sources: vec![Source::default(); sources],
        }
    }

    /// Adds samples that arrived from `source` (an unknown source is ignored).
    pub fn push(&mut self, source: usize, samples: &[i16]) {
        let Some(source) = self.sources.get_mut(source) else {
            return;
        };
        source.samples.extend(samples.iter().copied());
        let excess = source.samples.len().saturating_sub(CAPACITY);
        source.samples.drain(..excess);
    }

    /// The next 20 ms frame: the sum of every primed source's next samples (a source that runs
    /// dry is padded with silence and waits to be primed again). `None` when no source spoke.
    pub fn pull(&mut self) -> Option<[i16; FRAME]> {
        let mut frame = [0i32; FRAME];
        let mut spoke = false;
        for source in &mut self.sources {
            if !source.primed && source.samples.len() >= PRIME {
                source.primed = true;
            }
            if !source.primed {
                continue;
            }
            let available = source.samples.len().min(FRAME);
            for (slot, sample) in frame.iter_mut().zip(source.samples.drain(..available)) {
                *slot += i32::from(sample);
            }
            spoke |= available > 0;
            if available < FRAME {
                source.primed = false;
            }
        }
        spoke.then(|| {
            frame.map(|s| {
                // Clamped to the i16 range first, so the conversion cannot fail.
                i16::try_from(s.clamp(i32::from(i16::MIN), i32::from(i16::MAX))).unwrap_or(0)
            })
        })
    }

    /// Forgets what a source buffered (it stopped being mixed).
    pub fn clear(&mut self, source: usize) {
        if let Some(source) = self.sources.get_mut(source) {
            source.samples.clear();
            source.primed = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_mixed_until_a_source_holds_40_ms() {
        let mut mixer = Mixer::new(2);
        mixer.push(0, &[100; FRAME]);
        assert_eq!(mixer.pull(), None);
        mixer.push(0, &[100; FRAME]);
        assert_eq!(mixer.pull(), Some([100; FRAME]));
        assert_eq!(mixer.pull(), Some([100; FRAME]));
        assert_eq!(mixer.pull(), None, "dry again: waits to be primed");
    }

    #[test]
    fn two_sources_are_summed_and_clipped() {
        let mut mixer = Mixer::new(2);
        mixer.push(0, &[1_000; PRIME]);
        mixer.push(1, &[-300; PRIME]);
        assert_eq!(mixer.pull(), Some([700; FRAME]));
        mixer.clear(1);
        assert_eq!(mixer.pull(), Some([1_000; FRAME]));
        mixer.push(0, &[30_000; PRIME]);
        mixer.push(1, &[30_000; PRIME]);
        assert_eq!(mixer.pull(), Some([i16::MAX; FRAME]));
    }

    #[test]
    fn a_source_running_dry_is_padded_with_silence() {
        let mut mixer = Mixer::new(1);
        mixer.push(0, &[5; PRIME + 10]);
        assert_eq!(mixer.pull(), Some([5; FRAME]));
        assert_eq!(mixer.pull(), Some([5; FRAME]));
        let mut last = [0; FRAME];
        last[..10].fill(5);
        assert_eq!(mixer.pull(), Some(last));
        assert_eq!(mixer.pull(), None);
    }

    #[test]
    fn a_fast_source_keeps_at_most_200_ms() {
        let mut mixer = Mixer::new(1);
        for n in 0..20i16 {
            mixer.push(0, &[n; FRAME]);
        }
        // The oldest ten frames were dropped: the mix goes on from frame 10.
        assert_eq!(mixer.pull().map(|f| f[0]), Some(10));
        mixer.push(7, &[1; FRAME]);
    }
}
