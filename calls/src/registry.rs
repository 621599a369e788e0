//! The live calls of a node: which actor owns each SIP dialog and each call, the routes'
//! counts of calls in progress, the node's call settings, and the shared services every call
//! uses (prompts, the IVR's HTTP client, the number → region table, the waiting callers).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use domain::region::RegionTable;
use projections::ExtensionDoc;
use telephony::driver::SipSender;
use telephony::sip::message::Request;
use telephony::sip::transaction::{TransactionKey, Transport};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::acd::Acd;
use crate::http_guard::{AddressBlock, AddressPolicy};
use crate::inbox::CallInput;
use crate::prompts::PromptLibrary;

/// Who sent a new INVITE.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A carrier, from a trunk's address: the call is for a DID.
    Trunk,
    /// The phone of this extension, authenticated by digest.
    Extension(Box<ExtensionDoc>),
}

/// How calls behave on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSettings {
    /// How long an extension rings before the call is missed.
    pub ring_timeout: Duration,
    /// How long an answered call may go without RTP before it is hung up.
    pub media_timeout: Duration,
    /// The address put in SIP headers and SDP (`None`: see [`Calls::advertised`]).
    pub public_ip: Option<IpAddr>,
    /// The TTS program.
    pub tts_program: PathBuf,
    /// The TTS voice.
    pub tts_voice: String,
    /// Private services IVR HTTP nodes may reach (everything else internal is refused).
    pub http_allowed: Vec<AddressBlock>,
    /// Limits on SIP over TCP.
    pub sip_tcp: telephony::driver::TcpLimits,
    /// How much the prompt caches keep.
    pub prompt_budget: crate::prompts::PromptBudget,
}

/// Where Chinese numbers are from (libphonenumber's table, shipped with the binary).
pub fn regions() -> &'static RegionTable {
    static TABLE: OnceLock<RegionTable> = OnceLock::new();
    TABLE.get_or_init(|| RegionTable::parse(include_str!("../data/cn-number-regions.zh.txt")))
}

/// The address of the interface holding the default route (no packet is sent: connecting a
/// UDP socket only picks the route), or loopback when there is none.
fn default_route_ip() -> IpAddr {
    let loopback = IpAddr::from([127, 0, 0, 1]);
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| {
            socket.connect("192.0.2.1:9")?;
            socket.local_addr()
        })
        .map_or(loopback, |addr| addr.ip())
}

/// The live calls of the node, by SIP Call-ID of either leg.
#[derive(Debug)]
pub struct Calls {
    by_call_id: DashMap<String, mpsc::UnboundedSender<CallInput>>,
    /// The live calls' actors by call id.
    by_call: DashMap<Uuid, mpsc::UnboundedSender<CallInput>>,
    active_by_route: DashMap<Uuid, u32>,
    ring_timeout: Duration,
    media_timeout: Duration,
    public_ip: IpAddr,
    public_ip_given: bool,
    /// IVR prompts: recordings and TTS, cached.
    pub prompts: PromptLibrary,
    /// The HTTP client of IVR HTTP nodes (public addresses and allowed services only).
    pub http: reqwest::Client,
    /// Which addresses IVR HTTP nodes may reach.
    pub http_policy: AddressPolicy,
    /// The number → region table.
    pub regions: &'static RegionTable,
    /// The callers waiting in queues.
    pub acd: Acd,
    /// Sends through the SIP driver (set when it starts), for calls callcore places itself.
    pub sip: OnceLock<SipSender>,
    /// RTP packets relayed from callers to callees by calls that have ended.
    pub relayed_to_callee: AtomicU64,
    /// RTP packets relayed from callees to callers by calls that have ended.
    pub relayed_to_caller: AtomicU64,
}

impl Calls {
    /// No calls yet, with `settings`; prompts and recordings live under `data_dir`.
    pub fn new(settings: CallSettings, data_dir: &Path) -> Self {
        Self {
            by_call_id: DashMap::new(),
            by_call: DashMap::new(),
            active_by_route: DashMap::new(),
            ring_timeout: settings.ring_timeout,
            media_timeout: settings.media_timeout,
            public_ip: settings.public_ip.unwrap_or_else(default_route_ip),
            public_ip_given: settings.public_ip.is_some(),
            prompts: PromptLibrary::new(
                data_dir,
                settings.tts_program,
                settings.tts_voice,
                settings.prompt_budget,
            ),
            http: crate::http_guard::client(AddressPolicy {
                allowed: settings.http_allowed.clone(),
            }),
            http_policy: AddressPolicy {
                allowed: settings.http_allowed.clone(),
            },
            regions: regions(),
            acd: Acd::default(),
            sip: OnceLock::new(),
            relayed_to_callee: AtomicU64::default(),
            relayed_to_caller: AtomicU64::default(),
        }
    }

    /// Hands `input` to the live call `call`; false when it is not up on this node.
    pub fn send(&self, call: Uuid, input: CallInput) -> bool {
        self.by_call
            .get(&call)
            .is_some_and(|tx| tx.send(input).is_ok())
    }

    /// Hands `input` to the call owning `call_id`; false when there is none.
    pub fn deliver(&self, call_id: &str, input: CallInput) -> bool {
        self.by_call_id
            .get(call_id)
            .is_some_and(|tx| tx.send(input).is_ok())
    }

    /// Takes a place on `route` for a new call: returns the calls already on it and the
    /// place, given back when dropped. Taking and counting are one step, so two INVITEs at
    /// once cannot both see the last free place.
    pub fn take_route_place(self: &Arc<Self>, route: Uuid) -> (u32, RoutePlace) {
        let mut active = self.active_by_route.entry(route).or_insert(0);
        let before = *active;
        *active += 1;
        (
            before,
            RoutePlace {
                calls: self.clone(),
                route,
            },
        )
    }

    /// The address peers reach callcore at, for SIP bound at `local`: the configured public
    /// address, else `local` itself unless it is a wildcard, else the default route's address.
    pub fn advertised(&self, local: SocketAddr) -> SocketAddr {
        if self.public_ip_given || local.ip().is_unspecified() {
            SocketAddr::new(self.public_ip, local.port())
        } else {
            local
        }
    }

    /// Routes `call_id` (a leg's dialog) to the actor at `tx`.
    pub(crate) fn register_call_id(&self, call_id: String, tx: mpsc::UnboundedSender<CallInput>) {
        self.by_call_id.insert(call_id, tx);
    }

    /// Routes the API's inputs for `call` to the actor at `tx`.
    pub(crate) fn register_call(&self, call: Uuid, tx: mpsc::UnboundedSender<CallInput>) {
        self.by_call.insert(call, tx);
    }

    /// `call` is over: the API reaches it no more.
    pub(crate) fn forget_call(&self, call: Uuid) {
        self.by_call.remove(&call);
    }

    /// The dialogs of an ended call: their messages get 481 from now on.
    pub(crate) fn forget_call_ids(&self, call_ids: &[String]) {
        for call_id in call_ids {
            self.by_call_id.remove(call_id);
        }
    }

    /// How long an extension rings before the call is missed.
    pub(crate) fn ring_timeout(&self) -> Duration {
        self.ring_timeout
    }

    /// How long an answered call may go without RTP.
    pub(crate) fn media_timeout(&self) -> Duration {
        self.media_timeout
    }

    /// Calls in progress on this node.
    pub fn len(&self) -> usize {
        self.by_call_id.len()
    }
}

/// A call's place on its inbound route (the route's hot count of calls in progress).
#[derive(Debug)]
pub struct RoutePlace {
    calls: Arc<Calls>,
    route: Uuid,
}

impl Drop for RoutePlace {
    fn drop(&mut self) {
        if let Some(mut active) = self.calls.active_by_route.get_mut(&self.route) {
            *active = active.saturating_sub(1);
        }
    }
}

/// A new INVITE as the front end received it.
#[derive(Debug)]
pub struct Incoming {
    /// Its server transaction.
    pub key: TransactionKey,
    /// The INVITE.
    pub invite: Request,
    /// Where it came from.
    pub from: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(public_ip: Option<IpAddr>) -> Calls {
        Calls::new(
            CallSettings {
                ring_timeout: Duration::from_secs(1),
                media_timeout: Duration::from_secs(1),
                public_ip,
                tts_program: PathBuf::from("espeak-ng"),
                tts_voice: "cmn".into(),
                http_allowed: Vec::new(),
                sip_tcp: telephony::driver::TcpLimits::default(),
                prompt_budget: crate::prompts::PromptBudget::default(),
            },
            Path::new("."),
        )
    }

    #[test]
    fn the_advertised_address_is_the_public_one_else_the_bound_one() {
        let bound = SocketAddr::from(([10, 1, 2, 3], 5060));
        let wildcard = SocketAddr::from(([0, 0, 0, 0], 5070));
        let public = IpAddr::from([203, 0, 113, 9]);
        assert_eq!(
            calls(Some(public)).advertised(bound),
            SocketAddr::new(public, 5060)
        );
        assert_eq!(calls(None).advertised(bound), bound);
        let guessed = calls(None).advertised(wildcard);
        assert!(!guessed.ip().is_unspecified() && guessed.port() == 5070);
    }

    #[test]
    fn route_places_are_counted_and_given_back() {
        let calls = Arc::new(calls(None));
        let route = Uuid::from_u128(1);
        let (before, first) = calls.take_route_place(route);
        let (during, second) = calls.take_route_place(route);
        assert_eq!((before, during), (0, 1));
        drop(first);
        drop(second);
        assert_eq!(calls.take_route_place(route).0, 0);
    }
}
