//! Digest nonces bound to their use (RFC 7616 §3.3 and §5.12): a nonce is issued for one
//! account, one kind of request (REGISTER or the rest) and one source address, carries its
//! issue time and a serial number under a MAC of the node's secret, and lives five minutes.
//! Each accepted use must bring a larger `nc` than the last; the counts are kept for as long
//! as the nonce lives, within a bounded table.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

/// How long a nonce stays valid, in seconds.
pub const NONCE_SECONDS: u64 = 300;
/// Most nonces whose counts are kept at once (about 40 bytes each).
const MAX_TRACKED: usize = 1_000_000;

/// What a nonce is issued for.
#[derive(Debug, Clone, Copy)]
pub struct NonceUse<'a> {
    /// REGISTER (401) or another request (407).
    pub status: u16,
    /// The address the request came from.
    pub source: IpAddr,
    /// The realm (the enterprise's SIP domain).
    pub realm: &'a str,
    /// The user (the extension number).
    pub user: &'a str,
}

/// Whether a nonce may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued by this node for this use, within its life, with a count larger than before.
    Fresh,
    /// Expired, issued for another use or by another node, forged, or its count not larger
    /// than the last one accepted: the client must take a new challenge.
    Stale,
}

/// The counts of the nonces in use, oldest first.
#[derive(Debug, Default)]
struct Counts {
    last: HashMap<[u8; 16], (u64, u32)>,
    order: VecDeque<(u64, [u8; 16])>,
    /// Nonces issued at or before this time may have been forgotten while still alive.
    forgotten_up_to: Option<u64>,
}

/// Issues nonces and checks their uses.
#[derive(Debug)]
pub struct Nonces {
    secret: [u8; 32],
    serial: AtomicU64,
    counts: Mutex<Counts>,
}

impl Nonces {
    /// Nonces signed with `secret`.
    pub fn new(secret: [u8; 32]) -> Self {
        Self {
            secret,
            serial: AtomicU64::new(0),
            counts: Mutex::new(Counts::default()),
        }
    }

    fn mac(&self, issued: u64, serial: u64, use_: &NonceUse<'_>) -> [u8; 16] {
        let mut hasher = Sha256::new();
        hasher.update(self.secret);
        hasher.update(issued.to_be_bytes());
        hasher.update(serial.to_be_bytes());
        hasher.update(use_.status.to_be_bytes());
        hasher.update(use_.source.to_string().as_bytes());
        hasher.update([0]);
        hasher.update(use_.realm.to_ascii_lowercase().as_bytes());
        hasher.update([0]);
        hasher.update(use_.user.as_bytes());
        let mut mac = [0u8; 16];
        mac.copy_from_slice(&hasher.finalize()[..16]);
        mac
    }

    /// A fresh nonce for `use_` at `now` (seconds since the epoch); a serial number makes
    /// each challenge's nonce its own.
    pub fn issue(&self, use_: &NonceUse<'_>, now: u64) -> String {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        format!(
            "{now:x}.{serial:x}.{}",
            hex::encode(self.mac(now, serial, use_))
        )
    }

    /// A tag for responses at `now` (not guessable, not tied to any account).
    pub fn tag(&self, now: u64) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.secret);
        hasher.update(b"tag");
        hasher.update(now.to_be_bytes());
        hex::encode(&hasher.finalize()[..4])
    }

    /// Checks `nonce` for `use_` with count `nc` at `now`, and records the count when fresh
    /// (so the same count is never accepted twice).
    pub fn use_once(&self, nonce: &str, use_: &NonceUse<'_>, nc: u32, now: u64) -> NonceCheck {
        let Some(mac) = self.valid_mac(nonce, use_, now) else {
            return NonceCheck::Stale;
        };
        let issued = mac.0;
        // A poisoned lock only means another thread panicked mid-update; the table is still
        // a table of counts.
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.expire(now);
        let forgotten = counts.forgotten_up_to.is_some_and(|t| issued <= t);
        match counts.last.get_mut(&mac.1) {
            Some((_, last)) if nc <= *last => NonceCheck::Stale,
            Some((_, last)) => {
                *last = nc;
                NonceCheck::Fresh
            }
            None if forgotten => NonceCheck::Stale,
            None => {
                counts.insert(issued, mac.1, nc);
                NonceCheck::Fresh
            }
        }
    }

    /// The issue time and MAC of `nonce` when it is this node's, for `use_`, and alive.
    fn valid_mac(&self, nonce: &str, use_: &NonceUse<'_>, now: u64) -> Option<(u64, [u8; 16])> {
        let mut parts = nonce.split('.');
        let issued = u64::from_str_radix(parts.next()?, 16).ok()?;
        let serial = u64::from_str_radix(parts.next()?, 16).ok()?;
        let given = hex::decode(parts.next()?).ok()?;
        if parts.next().is_some() || issued > now || now - issued > NONCE_SECONDS {
            return None;
        }
        let mac = self.mac(issued, serial, use_);
        let same = given.len() == mac.len()
            && given
                .iter()
                .zip(mac.iter())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                == 0;
        same.then_some((issued, mac))
    }
}

impl Counts {
    fn expire(&mut self, now: u64) {
        while let Some(&(issued, key)) = self.order.front() {
            if now.saturating_sub(issued) <= NONCE_SECONDS {
                break;
            }
            self.order.pop_front();
            self.last.remove(&key);
        }
    }

    fn insert(&mut self, issued: u64, key: [u8; 16], nc: u32) {
        while self.last.len() >= MAX_TRACKED {
            let Some((oldest, old_key)) = self.order.pop_front() else {
                break;
            };
            self.last.remove(&old_key);
            self.forgotten_up_to = Some(self.forgotten_up_to.map_or(oldest, |t| t.max(oldest)));
        }
        self.last.insert(key, (issued, nc));
        self.order.push_back((issued, key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn phone() -> NonceUse<'static> {
        NonceUse {
            status: 401,
            source: IpAddr::from([10, 0, 0, 2]),
            realm: "acme",
            user: "1001",
        }
    }

    #[test]
    fn a_nonce_serves_its_own_use_with_growing_counts() {
        let nonces = Nonces::new([7; 32]);
        let nonce = nonces.issue(&phone(), NOW);
        assert_eq!(nonces.use_once(&nonce, &phone(), 1, NOW), NonceCheck::Fresh);
        assert_eq!(nonces.use_once(&nonce, &phone(), 1, NOW), NonceCheck::Stale);
        assert_eq!(
            nonces.use_once(&nonce, &phone(), 2, NOW + 60),
            NonceCheck::Fresh
        );
        assert_eq!(
            nonces.use_once(&nonce, &phone(), 2, NOW + 61),
            NonceCheck::Stale
        );
        assert_eq!(
            nonces.use_once(&nonce, &phone(), 3, NOW + NONCE_SECONDS + 1),
            NonceCheck::Stale
        );
    }

    #[test]
    fn a_nonce_does_not_serve_another_use() {
        let nonces = Nonces::new([7; 32]);
        let nonce = nonces.issue(&phone(), NOW);
        let elsewhere = NonceUse {
            source: IpAddr::from([10, 0, 0, 66]),
            ..phone()
        };
        let invite = NonceUse {
            status: 407,
            ..phone()
        };
        let other_user = NonceUse {
            user: "1002",
            ..phone()
        };
        for other in [elsewhere, invite, other_user] {
            assert_eq!(nonces.use_once(&nonce, &other, 1, NOW), NonceCheck::Stale);
        }
        let foreign = Nonces::new([8; 32]).issue(&phone(), NOW);
        assert_eq!(
            nonces.use_once(&foreign, &phone(), 1, NOW),
            NonceCheck::Stale
        );
        for forged in [
            "",
            "x",
            "6b49d200.1.00",
            &format!("{NOW:x}.1.{}", "0".repeat(32)),
        ] {
            assert_eq!(nonces.use_once(forged, &phone(), 1, NOW), NonceCheck::Stale);
        }
    }

    #[test]
    fn two_challenges_in_one_second_give_two_nonces() {
        let nonces = Nonces::new([7; 32]);
        let first = nonces.issue(&phone(), NOW);
        let second = nonces.issue(&phone(), NOW);
        assert_ne!(first, second);
        assert_eq!(nonces.use_once(&first, &phone(), 1, NOW), NonceCheck::Fresh);
        assert_eq!(
            nonces.use_once(&second, &phone(), 1, NOW),
            NonceCheck::Fresh
        );
    }

    #[test]
    fn a_forgotten_count_never_lets_a_nonce_be_used_again() {
        let mut counts = Counts::default();
        counts.insert(NOW - 10, [1; 16], 1);
        counts.forgotten_up_to = Some(NOW - 10);
        counts.last.clear();
        let nonces = Nonces::new([7; 32]);
        *nonces
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = counts;
        let old = nonces.issue(&phone(), NOW - 10);
        assert_eq!(nonces.use_once(&old, &phone(), 5, NOW), NonceCheck::Stale);
        let newer = nonces.issue(&phone(), NOW - 9);
        assert_eq!(nonces.use_once(&newer, &phone(), 1, NOW), NonceCheck::Fresh);
    }
}
