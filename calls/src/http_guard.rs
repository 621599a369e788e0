//! Where a tenant's IVR HTTP node may send a request: only to public addresses, unless the
//! operator allowed a private service in the configuration. The host is resolved when the call
//! sends (by the client's own resolver, so what is checked is what is connected to), addresses
//! of a URL naming an IP are checked before sending, and no redirect is followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// An address block of the allow-list: an address and a prefix length (`10.1.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressBlock {
    network: IpAddr,
    prefix: u8,
}

impl AddressBlock {
    /// Reads `10.1.2.3`, `10.1.0.0/16`, `fd00::/8`.
    pub fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, prefix.parse::<u8>().ok()?),
            None => (text.trim(), u8::MAX),
        };
        let network: IpAddr = address.parse().ok()?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix == u8::MAX { bits } else { prefix };
        (prefix <= bits).then_some(Self { network, prefix })
    }

    /// Whether `ip` is in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Whether `ip` belongs to this host or a private network: loopback, private, shared (CGNAT),
/// link-local, multicast, broadcast, unspecified, documentation, or IPv6 unique-local and
/// site-local; an IPv4-mapped IPv6 address is judged as its IPv4 address.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
}

/// Which addresses IVR HTTP nodes may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Private services the operator allowed.
    pub allowed: Vec<AddressBlock>,
}

impl AddressPolicy {
    /// Whether a request may go to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allowed.iter().any(|block| block.contains(ip))
    }

    /// Why a request to `url` may not go, when its host is an address the policy refuses
    /// (a host name is checked when it is resolved).
    pub fn refuses_url(&self, url: &reqwest::Url) -> Option<String> {
        let host = url.host_str()?;
        let ip: IpAddr = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        (!self.permits(ip)).then(|| format!("the address {ip} is not allowed"))
    }
}

/// A resolver that leaves out every address the policy refuses; a name left with none fails.
struct GuardedResolver {
    policy: AddressPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|address| policy.permits(address.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(format!("{} resolves to no allowed address", name.as_str()).into());
            }
            let addresses: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addresses)
        })
    }
}

/// The HTTP client of IVR HTTP nodes under `policy`: its own resolver, no redirects.
pub fn client(policy: AddressPolicy) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("callcore/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn this_host_and_private_networks_are_internal() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_internal(ip(internal)), "{internal}");
        }
        for public in [
            "8.8.8.8",
            "203.0.114.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip(public)), "{public}");
        }
    }

    #[test]
    fn the_operator_allows_private_services_by_block() {
        let policy = AddressPolicy {
            allowed: ["10.8.0.0/16", "192.168.1.7", "fd00::/8"]
                .iter()
                .filter_map(|b| AddressBlock::parse(b))
                .collect(),
        };
        assert!(policy.permits(ip("10.8.200.1")));
        assert!(!policy.permits(ip("10.9.0.1")));
        assert!(policy.permits(ip("192.168.1.7")));
        assert!(!policy.permits(ip("192.168.1.8")));
        assert!(policy.permits(ip("fd12::1")));
        assert!(!policy.permits(ip("::1")));
        assert!(policy.permits(ip("8.8.8.8")));
        assert_eq!(AddressBlock::parse("10.0.0.0/33"), None);
        assert_eq!(AddressBlock::parse("nonsense"), None);
    }

    #[test]
    fn a_url_naming_a_refused_address_is_refused_before_sending() {
        let policy = AddressPolicy::default();
        let url = |text: &str| reqwest::Url::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert!(policy
            .refuses_url(&url("http://169.254.169.254/latest/meta-data/"))
            .is_some());
        assert!(policy.refuses_url(&url("http://[::1]:8080/")).is_some());
        assert!(policy.refuses_url(&url("http://example.com/")).is_none());
        assert!(policy.refuses_url(&url("http://8.8.8.8/")).is_none());
    }
}
