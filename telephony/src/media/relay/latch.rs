//! Where one leg's media goes and whose packets count as that leg's (symmetric RTP without
//! RTP bleed): the address starts as the one signalled in the leg's SDP; for a short window
//! after its first packet the leg's source may still move (a phone behind NAT sends from
//! another port, or another address it signalled), and only from an address signalled for the
//! leg (its SDP's, or the one its SIP comes from); then it is locked. Everything else is
//! refused and counted, so a stranger spraying the relay's ports hears nothing and injects
//! nothing.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long after a leg's first packet its source may still move.
pub const LEARNING_WINDOW: Duration = Duration::from_secs(2);

/// One leg's media address and the sources it accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latch {
    address: Option<SocketAddr>,
    /// Addresses signalled for the leg: packets from others are refused.
    signalled: Vec<IpAddr>,
    /// When the window to learn the leg's source closes (set by its first packet).
    learning_until: Option<Instant>,
}

impl Latch {
    /// Where the leg's media goes now.
    pub fn address(&self) -> Option<SocketAddr> {
        self.address
    }

    /// The leg signalled `address` in its SDP: media goes there, packets from its IP count,
    /// and the leg's source may be learnt again (a new offer may move it).
    pub fn signal(&mut self, address: SocketAddr) {
        self.address = Some(address);
        if !self.signalled.contains(&address.ip()) {
            self.signalled.push(address.ip());
        }
        self.learning_until = None;
    }

    /// Packets from `ip` count as the leg's too (the address its SIP comes from, for a phone
    /// behind NAT whose SDP names a private address).
    pub fn also_from(&mut self, ip: IpAddr) {
        if !self.signalled.contains(&ip) {
            self.signalled.push(ip);
        }
    }

    /// Whether a packet from `source` arriving at `now` is the leg's; learns the source within
    /// the window.
    pub fn accept(&mut self, source: SocketAddr, now: Instant) -> bool {
        if !self.signalled.contains(&source.ip()) {
            return false;
        }
        let until = *self.learning_until.get_or_insert(now + LEARNING_WINDOW);
        if now <= until {
            self.address = Some(source);
            return true;
        }
        self.address == Some(source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((ip, port))
    }

    #[test]
    fn nothing_is_accepted_before_the_leg_is_signalled() {
        let mut latch = Latch::default();
        assert!(!latch.accept(at([10, 0, 0, 9], 4000), Instant::now()));
        assert_eq!(latch.address(), None);
    }

    #[test]
    fn the_source_is_learnt_within_the_window_from_the_signalled_address_only() {
        let t0 = Instant::now();
        let mut latch = Latch::default();
        latch.signal(at([10, 0, 0, 2], 4000));
        assert!(!latch.accept(at([10, 0, 0, 66], 4000), t0), "a stranger");
        assert_eq!(latch.address(), Some(at([10, 0, 0, 2], 4000)));
        // The phone sends from another port (NAT): learnt.
        assert!(latch.accept(at([10, 0, 0, 2], 5002), t0));
        assert_eq!(latch.address(), Some(at([10, 0, 0, 2], 5002)));
        assert!(latch.accept(at([10, 0, 0, 2], 5004), t0 + LEARNING_WINDOW));
        // Then locked: another port of the same address is refused.
        let later = t0 + LEARNING_WINDOW + Duration::from_millis(1);
        assert!(!latch.accept(at([10, 0, 0, 2], 6000), later));
        assert!(latch.accept(at([10, 0, 0, 2], 5004), later));
        assert_eq!(latch.address(), Some(at([10, 0, 0, 2], 5004)));
    }

    #[test]
    fn the_sip_address_counts_for_a_phone_behind_nat() {
        let t0 = Instant::now();
        let mut latch = Latch::default();
        latch.signal(at([192, 168, 1, 20], 4000));
        assert!(!latch.accept(at([203, 0, 113, 5], 31_000), t0));
        latch.also_from(IpAddr::from([203, 0, 113, 5]));
        assert!(latch.accept(at([203, 0, 113, 5], 31_000), t0));
        assert_eq!(latch.address(), Some(at([203, 0, 113, 5], 31_000)));
    }

    #[test]
    fn a_new_offer_opens_the_window_again() {
        let t0 = Instant::now();
        let mut latch = Latch::default();
        latch.signal(at([10, 0, 0, 2], 4000));
        assert!(latch.accept(at([10, 0, 0, 2], 4000), t0));
        let later = t0 + LEARNING_WINDOW * 3;
        assert!(!latch.accept(at([10, 0, 0, 2], 4100), later));
        latch.signal(at([10, 0, 0, 2], 4100));
        assert!(latch.accept(at([10, 0, 0, 2], 4100), later));
    }
}
