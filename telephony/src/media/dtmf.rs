//! RFC 4733 telephone-events: the 4-byte DTMF payload of RTP, read and written.

/// One telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0–9 digits, 10 `*`, 11 `#`, 12–15 `A`–`D`.
    pub event: u8,
    /// The last packet(s) of the event.
    pub end: bool,
    /// Power level in −dBm0 (0–63).
    pub volume: u8,
    /// Duration so far, in timestamp units (1/8000 s).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads a payload; `None` when it is not 4+ bytes.
    pub fn parse(payload: &[u8]) -> Option<TelephoneEvent> {
        let [event, flags, high, low, ..] = *payload else {
            return None;
        };
        Some(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([high, low]),
        })
    }

    /// The 4-byte payload.
    pub fn to_bytes(self) -> [u8; 4] {
        let [high, low] = self.duration.to_be_bytes();
        [
            self.event,
            (if self.end { 0x80 } else { 0 }) | (self.volume & 0x3F),
            high,
            low,
        ]
    }

    /// The DTMF key, for events 0–15.
    pub fn key(self) -> Option<char> {
        digit_of(self.event)
    }
}

/// The key of a DTMF event code.
pub fn digit_of(event: u8) -> Option<char> {
    match event {
        0..=9 => char::from_digit(u32::from(event), 10),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + (event - 12))),
        _ => None,
    }
}

/// The event code of a DTMF key.
pub fn event_of(key: char) -> Option<u8> {
    match key.to_ascii_uppercase() {
        '0'..='9' => key.to_digit(10).and_then(|d| u8::try_from(d).ok()),
        '*' => Some(10),
        '#' => Some(11),
        c @ 'A'..='D' => Some(c as u8 - b'A' + 12),
        _ => None,
    }
}

/// Turns a stream of event packets (with their RTP timestamps) into key presses: one per
/// event, reported on its first end packet (senders repeat end packets three times).
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    last_reported: Option<u32>,
}

impl DtmfReceiver {
    /// Feeds one packet; returns the key when an event ends for the first time.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let event = TelephoneEvent::parse(payload)?;
        if !event.end || self.last_reported == Some(timestamp) {
            return None;
        }
        self.last_reported = Some(timestamp);
        event.key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_reads_and_writes() {
        // Digit 5, end, volume 10, duration 800 (100 ms).
        let payload = [0x05, 0x8A, 0x03, 0x20];
        let event = TelephoneEvent::parse(&payload).expect("4 bytes");
        assert_eq!(
            event,
            TelephoneEvent {
                event: 5,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(event.to_bytes(), payload);
        assert_eq!(event.key(), Some('5'));
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), None);
    }

    #[test]
    fn keys_map_both_ways() {
        for (key, code) in [
            ('0', 0),
            ('9', 9),
            ('*', 10),
            ('#', 11),
            ('A', 12),
            ('D', 15),
        ] {
            assert_eq!(event_of(key), Some(code));
            assert_eq!(digit_of(code), Some(key));
        }
        assert_eq!(event_of('x'), None);
        assert_eq!(digit_of(16), None);
    }

    #[test]
    fn repeated_end_packets_report_one_key() {
        let mut receiver = DtmfReceiver::default();
        let start = TelephoneEvent {
            event: 3,
            end: false,
            volume: 10,
            duration: 160,
        }
        .to_bytes();
        let end = TelephoneEvent {
            event: 3,
            end: true,
            volume: 10,
            duration: 800,
        }
        .to_bytes();
        assert_eq!(receiver.on_packet(1_000, &start), None);
        assert_eq!(receiver.on_packet(1_000, &end), Some('3'));
        assert_eq!(receiver.on_packet(1_000, &end), None);
        assert_eq!(receiver.on_packet(1_000, &end), None);
        let next = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        }
        .to_bytes();
        assert_eq!(receiver.on_packet(2_600, &next), Some('#'));
    }
}
