//! A small jitter buffer, sans-IO: the packets of one RTP stream in, in whatever order the
//! network delivered them, and frames out in sequence order. A missing packet is waited for
//! until `depth` later packets have arrived, then given up as lost; duplicates and packets
//! older than what was already released are dropped. Sequence numbers are extended past their
//! 16-bit wrap (RFC 3550 §A.1).

use std::collections::BTreeMap;

/// What became of a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Kept for release.
    Accepted,
    /// The same sequence number is already held or released.
    Duplicate,
    /// Older than the frames already released.
    Late,
}

/// A frame released in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The packet with this RTP timestamp and payload.
    Audio {
        /// RTP timestamp.
        timestamp: u32,
        /// Payload.
        payload: Vec<u8>,
    },
    /// The packet with this extended sequence number never came.
    Lost {
        /// Its extended sequence number.
        sequence: u64,
    },
}

/// The buffer of one stream.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    depth: usize,
    held: BTreeMap<u64, (u32, Vec<u8>)>,
    /// The extended sequence number of the last frame released (audio or lost).
    released: Option<u64>,
    /// The highest extended sequence number seen.
    highest: Option<u64>,
}

impl JitterBuffer {
    /// A buffer that waits for a missing packet until `depth` later ones arrived (3 packets is
    /// 60 ms of 20 ms frames).
    pub fn new(depth: usize) -> JitterBuffer {
        JitterBuffer {
            depth: depth.max(1),
            held: BTreeMap::new(),
            released: None,
            highest: None,
        }
    }

    /// The extended form of `sequence`: the one closest to the highest seen.
    fn extend(&self, sequence: u16) -> u64 {
        let Some(highest) = self.highest else {
            return u64::from(sequence) + (1 << 16); // room to go back over a wrap
        };
        let cycle = highest & !0xFFFF;
        let candidates = [
            cycle.saturating_sub(1 << 16) | u64::from(sequence),
            cycle | u64::from(sequence),
            (cycle + (1 << 16)) | u64::from(sequence),
        ];
        candidates
            .into_iter()
            .min_by_key(|c| c.abs_diff(highest))
            .unwrap_or(u64::from(sequence))
    }

    /// Takes a packet in.
    pub fn push(&mut self, sequence: u16, timestamp: u32, payload: impl Into<Vec<u8>>) -> Pushed {
        let extended = self.extend(sequence);
        if self.released.is_some_and(|last| extended <= last) {
            return Pushed::Late;
        }
        if self.held.contains_key(&extended) {
            return Pushed::Duplicate;
        }
        self.held.insert(extended, (timestamp, payload.into()));
        self.highest = Some(self.highest.map_or(extended, |h| h.max(extended)));
        Pushed::Accepted
    }

    /// Lets a packet past the buffer when it is the one due next (or the first) and nothing is
    /// held: it counts as released, and the caller uses it as it is, without it being copied
    /// into the buffer. False when it must go through [`JitterBuffer::push`].
    pub fn pass(&mut self, sequence: u16) -> bool {
        if !self.held.is_empty() {
            return false;
        }
        let extended = self.extend(sequence);
        if self.released.is_some_and(|last| extended != last + 1) {
            return false;
        }
        self.released = Some(extended);
        self.highest = Some(self.highest.map_or(extended, |h| h.max(extended)));
        true
    }

    /// The extended sequence number due next.
    fn next(&self) -> Option<u64> {
        match self.released {
            Some(last) => Some(last + 1),
            None => self.held.first_key_value().map(|(&first, _)| first),
        }
    }

    /// The next frame in order, if it is due: present, or given up after `depth` later
    /// packets arrived. `None` while waiting.
    pub fn pop(&mut self) -> Option<Frame> {
        let next = self.next()?;
        if let Some((timestamp, payload)) = self.held.remove(&next) {
            self.released = Some(next);
            return Some(Frame::Audio { timestamp, payload });
        }
        // Everything held is later than `next` (earlier ones were released or refused).
        if self.held.len() >= self.depth {
            self.released = Some(next);
            return Some(Frame::Lost { sequence: next });
        }
        None
    }

    /// Every frame still held, in order, with the gaps between them (at the end of a stream).
    pub fn drain(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(next) = self.next().filter(|_| !self.held.is_empty()) {
            frames.push(match self.held.remove(&next) {
                Some((timestamp, payload)) => Frame::Audio { timestamp, payload },
                None => Frame::Lost { sequence: next },
            });
            self.released = Some(next);
        }
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn released(buffer: &mut JitterBuffer) -> Vec<String> {
        std::iter::from_fn(|| buffer.pop())
            .map(|f| match f {
                Frame::Audio { timestamp, .. } => format!("ts{timestamp}"),
                Frame::Lost { .. } => "lost".into(),
            })
            .collect()
    }

    #[test]
    fn reordered_packets_come_out_in_order() {
        let mut buffer = JitterBuffer::new(3);
        assert_eq!(buffer.push(10, 1_600, vec![1]), Pushed::Accepted);
        assert_eq!(released(&mut buffer), ["ts1600"]);
        buffer.push(12, 1_920, vec![3]);
        assert!(released(&mut buffer).is_empty(), "11 is awaited");
        buffer.push(11, 1_760, vec![2]);
        assert_eq!(released(&mut buffer), ["ts1760", "ts1920"]);
        // Before anything is released, an earlier packet still starts the stream.
        let mut fresh = JitterBuffer::new(3);
        fresh.push(21, 320, Vec::new());
        assert_eq!(fresh.push(20, 160, Vec::new()), Pushed::Accepted);
        assert_eq!(released(&mut fresh), ["ts160", "ts320"]);
    }

    #[test]
    fn only_the_packet_due_next_passes_while_nothing_is_held() {
        let mut buffer = JitterBuffer::new(3);
        assert!(buffer.pass(65_535), "the first");
        assert!(buffer.pass(0), "the next, over the wrap");
        assert!(!buffer.pass(0), "a duplicate is not due");
        assert_eq!(buffer.push(0, 160, vec![1]), Pushed::Late);
        assert!(!buffer.pass(2), "1 is missing");
        buffer.push(2, 480, vec![3]);
        assert!(!buffer.pass(1), "2 is held: 1 goes through the buffer");
        buffer.push(1, 320, vec![2]);
        assert_eq!(released(&mut buffer), ["ts320", "ts480"]);
        assert!(buffer.pass(3));
    }

    #[test]
    fn a_missing_packet_is_lost_after_depth_later_ones() {
        let mut buffer = JitterBuffer::new(3);
        buffer.push(1, 160, Vec::new());
        released(&mut buffer);
        for (sequence, timestamp) in [(3, 480), (4, 640)] {
            buffer.push(sequence, timestamp, Vec::new());
            assert!(released(&mut buffer).is_empty());
        }
        buffer.push(5, 800, Vec::new());
        assert_eq!(released(&mut buffer), ["lost", "ts480", "ts640", "ts800"]);
        assert_eq!(
            buffer.push(2, 320, Vec::new()),
            Pushed::Late,
            "too late now"
        );
    }

    #[test]
    fn duplicates_are_dropped_and_sequences_wrap() {
        let mut buffer = JitterBuffer::new(2);
        buffer.push(65_534, 0, Vec::new());
        assert_eq!(buffer.push(65_534, 0, Vec::new()), Pushed::Duplicate);
        buffer.push(0, 320, Vec::new());
        buffer.push(65_535, 160, Vec::new());
        buffer.push(1, 480, Vec::new());
        assert_eq!(released(&mut buffer), ["ts0", "ts160", "ts320", "ts480"]);
    }

    #[test]
    fn draining_releases_what_is_held_with_its_gaps() {
        let mut buffer = JitterBuffer::new(5);
        buffer.push(7, 0, Vec::new());
        buffer.push(9, 320, Vec::new());
        let frames = buffer.drain();
        assert_eq!(frames.len(), 3);
        assert_eq!(
            frames[1],
            Frame::Lost {
                sequence: 65_536 + 8
            }
        );
        assert!(buffer.drain().is_empty());
    }
}
