//! Where a new call goes, decided from the read models before anything is committed: an INVITE
//! from a trunk reaches a DID and its route; an INVITE from an authenticated phone dials
//! another extension of its enterprise or an outside number through a trunk. An extension with
//! no registered phone is forwarded to its bound number when it asks for that.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use domain::call::{CallCommand, Cause, Direction, Party, RouteCheck};
use domain::ivr::FlowDefinition;
use domain::phone::{national_form, normalize};
use domain::policy::ivr::CallFacts;
use domain::route::Destination;
use projections::{
    ExtensionDoc, IvrFlowDoc, NumberDoc, RouteDoc, TrunkDoc, AGENTS, ENTERPRISES, EXTENSIONS,
    IVR_FLOWS, NUMBERS, ROUTES, TRUNKS,
};
use telephony::sip::message::{Request, SipUri};
use telephony::sip::transaction::Transport;
use uuid::Uuid;

use crate::dialog::{random_hex, Leg};
use crate::registry::{Calls, RoutePlace};
use node::Node;

/// A call about to be offered.
#[derive(Debug)]
pub struct Plan {
    /// Its enterprise.
    pub enterprise: Uuid,
    /// The `Offer` command (the domain may still refuse it).
    pub offer: CallCommand,
    /// Where the call goes, or why it cannot go anywhere.
    pub target: Result<Routed, Cause>,
    /// The call's place on its inbound route, held while the call lasts.
    pub route_place: Option<RoutePlace>,
}

/// Where a call goes first.
#[derive(Debug, Clone)]
pub enum Routed {
    /// A second leg, bridged to the caller when it answers.
    Leg(Target),
    /// An IVR flow: callcore answers the caller and runs it.
    Ivr(IvrEntry),
    /// A queue: callcore answers the caller, who waits for an agent.
    Queue(Uuid),
}

/// An IVR flow a call enters, with the facts it starts from.
#[derive(Debug, Clone)]
pub struct IvrEntry {
    /// The flow.
    pub flow_id: Uuid,
    /// The version the call runs, whatever is published later.
    pub version: u32,
    /// That version's definition.
    pub definition: Arc<FlowDefinition>,
    /// The caller's number, the number called and the caller's region, as the flow reads them.
    pub facts: CallFacts,
    /// The caller's number (E.164 when it is one).
    pub caller: String,
    /// The number called (E.164).
    pub called: String,
    /// The inbound route.
    pub route_id: Option<Uuid>,
    /// The enterprise's time zone (time conditions, dates read out).
    pub time_zone: chrono_tz::Tz,
}

/// Where the second leg of a call is sent.
#[derive(Debug, Clone)]
pub struct Target {
    /// Who it reaches.
    pub party: Party,
    /// The caller ID presented (the From user).
    pub caller_id: String,
    /// A forward to the extension's bound number.
    pub forwarded: bool,
    /// Request-URI.
    pub request_uri: String,
    /// The To URI (`None`: the callee's number at callcore's address).
    pub to_uri: Option<String>,
    /// The callee's number or extension, the To user.
    pub to_user: String,
    /// Where the INVITE is sent.
    pub peer: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// Digest credentials for a trunk that challenges callcore.
    pub credentials: Option<(String, String)>,
}

impl Target {
    /// callcore's new dialog towards this target, from `local`.
    pub fn new_leg(&self, local: SocketAddr) -> Leg {
        Leg {
            call_id: format!("{}@callcore", random_hex(12)),
            local_tag: random_hex(6),
            remote_tag: None,
            local_uri: format!("sip:{}@{local}", self.caller_id),
            remote_uri: self
                .to_uri
                .clone()
                .unwrap_or_else(|| format!("sip:{}@{local}", self.to_user)),
            remote_target: self.request_uri.clone(),
            peer: self.peer,
            transport: self.transport,
            cseq: 0,
            route_set: Vec::new(),
        }
    }
}

/// A refusal before any event: a SIP status and reason.
pub type Refusal = (u16, &'static str);

/// Where the agent signed in to `extension` takes calls (none when nobody is signed in).
pub fn seat_endpoint(node: &Node, extension: Uuid) -> Option<domain::agent::Endpoint> {
    node.models
        .of(AGENTS)
        .by_id(domain::ids::agent_id(extension))
        .filter(|seat| seat.account_id.is_some())
        .map(|seat| seat.endpoint)
}

/// Whether `from` is the address of a trunk (its host or one of its allowed sources).
pub fn is_trunk_source(node: &Node, from: SocketAddr) -> bool {
    let ip = from.ip().to_string();
    node.models
        .of(TRUNKS)
        .all()
        .iter()
        .any(|t| t.settings.host == ip || t.settings.allowed_sources.contains(&ip))
}

fn uri_user(request: &Request, header: &str) -> Option<String> {
    request
        .headers
        .get(header)
        .and_then(SipUri::parse)
        .and_then(|u| u.user)
}

/// An INVITE from a trunk: the DID in To, its route, and the extension the route names.
pub async fn from_trunk(
    node: &Node,
    calls: &Arc<Calls>,
    invite: &Request,
) -> Result<Plan, Refusal> {
    let did = uri_user(invite, "To")
        .and_then(|user| normalize("to", &user).ok())
        .ok_or((404, "Not Found"))?;
    let route: RouteDoc = node
        .models
        .of(ROUTES)
        .by_id(domain::ids::route_id(&did))
        .ok_or((404, "Not Found"))?;
    let (active, route_place) = calls.take_route_place(route.id);
    let caller_user = uri_user(invite, "From").unwrap_or_default();
    let caller_number = normalize("from", &caller_user).unwrap_or(caller_user);
    let target = match route.settings.destination {
        Destination::Extension { extension_id } => {
            match node.models.of(EXTENSIONS).by_id(extension_id) {
                Some(extension) => extension_target(node, &extension, &caller_number, Some(&did))
                    .await
                    .map(Routed::Leg),
                None => Err(Cause::Unavailable),
            }
        }
        Destination::Ivr { flow_id } => {
            ivr_entry(node, calls, &route, flow_id, &caller_number, &did).map(Routed::Ivr)
        }
        Destination::Queue { queue_id } => Ok(Routed::Queue(queue_id)),
    };
    Ok(Plan {
        enterprise: route.enterprise_id,
        offer: CallCommand::Offer {
            enterprise_id: route.enterprise_id,
            direction: Direction::Inbound,
            caller: Party::External {
                number: caller_number,
            },
            called: did,
            route: Some(RouteCheck {
                route_id: route.id,
                enabled: route.enabled,
                active_calls: active,
                max_concurrent: route.settings.max_concurrent,
            }),
            outbound_allowed: false,
            forwarded_out: false,
            at: Utc::now(),
        },
        target,
        route_place: Some(route_place),
    })
}

/// An INVITE from the phone of `caller` (already authenticated): another extension of the
/// enterprise by its number, or else an outside number through a trunk.
pub async fn from_extension(
    node: &Node,
    invite: &Request,
    caller: &ExtensionDoc,
) -> Result<Plan, Refusal> {
    let dialled = SipUri::parse(&invite.uri)
        .and_then(|u| u.user)
        .or_else(|| uri_user(invite, "To"))
        .ok_or((404, "Not Found"))?;
    let enterprise = caller.enterprise_id;
    let caller_party = Party::Extension {
        extension_id: caller.id,
        number: caller.number.clone(),
    };
    let outbound_allowed = caller.settings.manual_outbound;
    let offer = |direction, called: String, forwarded_out| CallCommand::Offer {
        enterprise_id: enterprise,
        direction,
        caller: caller_party.clone(),
        called,
        route: None,
        outbound_allowed,
        forwarded_out,
        at: Utc::now(),
    };
    let callee: Option<ExtensionDoc> = node
        .models
        .of(EXTENSIONS)
        .by_id(domain::ids::extension_id(enterprise, &dialled));
    if let Some(callee) = callee {
        let target = extension_target(node, &callee, &caller.number, None).await;
        // Forwarded to its bound number, the call leaves through a trunk: the caller must be
        // allowed to dial out (the call decides, from this).
        let forwarded_out = target.as_ref().is_ok_and(|t| t.forwarded);
        return Ok(Plan {
            enterprise,
            offer: offer(Direction::Internal, callee.number.clone(), forwarded_out),
            target: target.map(Routed::Leg),
            route_place: None,
        });
    }
    let number = normalize("to", &dialled).map_err(|_| (404, "Not Found"))?;
    let target = outbound_target(node, caller, &number)
        .await
        .map(Routed::Leg);
    Ok(Plan {
        enterprise,
        offer: offer(Direction::Outbound, number, false),
        target,
        route_place: None,
    })
}

/// Where a blind transfer by `transferor` to `dialled` goes: another extension of the
/// enterprise, or an outside number through the trunk when the transferring extension may dial
/// out (with its licensed caller ID); an extension forwarded to its bound number leaves through
/// the trunk too, so it also needs a transferor that may dial out. `caller_number` is what the
/// new leg is shown.
pub async fn transfer_target(
    node: &Node,
    enterprise: Uuid,
    transferor: &Party,
    dialled: &str,
    caller_number: &str,
) -> Result<Target, Cause> {
    let may_dial_out = || dialling_extension(node, transferor);
    let callee: Option<ExtensionDoc> = node
        .models
        .of(EXTENSIONS)
        .by_id(domain::ids::extension_id(enterprise, dialled));
    if let Some(callee) = callee {
        let target = extension_target(node, &callee, caller_number, None).await?;
        if target.forwarded && may_dial_out().is_none() {
            return Err(Cause::OutboundNotAllowed);
        }
        return Ok(target);
    }
    let number = normalize("referTo", dialled).map_err(|_| Cause::NoRoute)?;
    let extension = may_dial_out().ok_or(Cause::OutboundNotAllowed)?;
    outbound_target(node, &extension, &number).await
}

/// The extension `party` is, when it may dial out (a leg it places may leave through a
/// trunk).
pub fn dialling_extension(node: &Node, party: &Party) -> Option<ExtensionDoc> {
    let Party::Extension { extension_id, .. } = party else {
        return None;
    };
    node.models
        .of(EXTENSIONS)
        .by_id(*extension_id)
        .filter(|e: &ExtensionDoc| e.settings.manual_outbound)
}

/// The published flow `flow_id` of `enterprise` as a call from `caller_number` to `did`
/// enters it.
fn ivr_entry(
    node: &Node,
    calls: &Calls,
    route: &RouteDoc,
    flow_id: Uuid,
    caller_number: &str,
    did: &str,
) -> Result<IvrEntry, Cause> {
    flow_entry(
        node,
        calls,
        route.enterprise_id,
        flow_id,
        caller_number,
        did,
        Some(route.id),
    )
}

/// The published flow `flow_id` of `enterprise` as a call from `caller_number` to `called`
/// (on `route_id`) enters it.
fn flow_entry(
    node: &Node,
    calls: &Calls,
    enterprise: Uuid,
    flow_id: Uuid,
    caller_number: &str,
    called: &str,
    route_id: Option<Uuid>,
) -> Result<IvrEntry, Cause> {
    let flow: IvrFlowDoc = node
        .models
        .of(IVR_FLOWS)
        .by_id(flow_id)
        .filter(|f: &IvrFlowDoc| f.enterprise_id == enterprise)
        .ok_or(Cause::Unavailable)?;
    let definition = flow.definition.ok_or(Cause::Unavailable)?;
    let time_zone = node
        .models
        .of(ENTERPRISES)
        .by_id(enterprise)
        .and_then(|e| e.time_zone.parse::<chrono_tz::Tz>().ok())
        .unwrap_or(chrono_tz::Asia::Shanghai);
    Ok(IvrEntry {
        flow_id,
        version: flow.version,
        definition: Arc::new(definition),
        facts: CallFacts {
            caller_number: national_form(caller_number),
            called_number: national_form(called),
            caller_region: calls.regions.region_of(caller_number).map(str::to_owned),
        },
        caller: caller_number.to_owned(),
        called: called.to_owned(),
        route_id,
        time_zone,
    })
}

/// The published flow `flow_id` of `enterprise` as a caller whose queue timed out enters it.
pub fn queue_overflow_entry(
    node: &Node,
    calls: &Calls,
    enterprise: Uuid,
    flow_id: Uuid,
    caller_number: &str,
    called: &str,
    route_id: Option<Uuid>,
) -> Result<IvrEntry, Cause> {
    flow_entry(
        node,
        calls,
        enterprise,
        flow_id,
        caller_number,
        called,
        route_id,
    )
}

/// The extension numbered `number` in `enterprise` as a transfer target (an IVR transfer to
/// the extension a variable names).
pub async fn extension_by_number(
    node: &Node,
    enterprise: Uuid,
    number: &str,
    caller_number: &str,
) -> Result<Target, Cause> {
    let extension: ExtensionDoc = node
        .models
        .of(EXTENSIONS)
        .by_id(domain::ids::extension_id(enterprise, number))
        .ok_or(Cause::Unavailable)?;
    extension_target(node, &extension, caller_number, None).await
}

/// The extension `id` of `enterprise` as a transfer target.
pub async fn extension_by_id(
    node: &Node,
    enterprise: Uuid,
    id: Uuid,
    caller_number: &str,
) -> Result<Target, Cause> {
    let extension: ExtensionDoc = node
        .models
        .of(EXTENSIONS)
        .by_id(id)
        .filter(|e: &ExtensionDoc| e.enterprise_id == enterprise)
        .ok_or(Cause::Unavailable)?;
    extension_target(node, &extension, caller_number, None).await
}

/// A click-to-dial call (点击外呼) of `extension` to the outside `number`: the offer (the call
/// refuses it when the extension may not dial out), the leg ringing the extension's own phone
/// first (showing the number dialled), and the customer's leg through the trunk of its licensed
/// caller ID. `None` when `number` is not a phone number.
pub async fn click_to_dial(
    node: &Node,
    extension: &ExtensionDoc,
    number: &str,
) -> Option<(CallCommand, Result<Target, Cause>, Result<Target, Cause>)> {
    let number = normalize("number", number).ok()?;
    let offer = CallCommand::Offer {
        enterprise_id: extension.enterprise_id,
        direction: Direction::Outbound,
        caller: Party::Extension {
            extension_id: extension.id,
            number: extension.number.clone(),
        },
        called: number.clone(),
        route: None,
        outbound_allowed: extension.settings.manual_outbound,
        forwarded_out: false,
        at: Utc::now(),
    };
    let agent = extension_target(node, extension, &number, None).await;
    let customer = outbound_target(node, extension, &number).await;
    Some((offer, agent, customer))
}

/// A leg from `extension` out to `number` through the trunk of its licensed caller ID.
async fn outbound_target(
    node: &Node,
    extension: &ExtensionDoc,
    number: &str,
) -> Result<Target, Cause> {
    let enterprise = extension.enterprise_id;
    let caller_id = licensed_caller_id(node, enterprise, &extension.settings.caller_id)
        .ok_or(Cause::NoCallerId)?;
    let party = Party::External {
        number: number.to_owned(),
    };
    trunk_target(
        node,
        enterprise,
        &caller_id,
        number,
        party,
        false,
        Some(&caller_id),
    )
    .await
}

/// The extension's registered phone, or its bound number when it has none and forwards.
async fn extension_target(
    node: &Node,
    extension: &ExtensionDoc,
    caller_number: &str,
    did: Option<&str>,
) -> Result<Target, Cause> {
    let now = Utc::now();
    let party = Party::Extension {
        extension_id: extension.id,
        number: extension.number.clone(),
    };
    let settings = &extension.settings;
    // An agent that takes its calls on the bound phone (通话端 "话机") gets them there, even
    // while a SIP phone is registered to the extension.
    let on_bound_phone = !settings.bound_number.is_empty()
        && seat_endpoint(node, extension.id) == Some(domain::agent::Endpoint::Phone);
    let binding = extension
        .bindings
        .iter()
        .find(|b| b.expires_at > now)
        .filter(|_| !on_bound_phone);
    if let Some(binding) = binding {
        let peer = binding
            .source
            .parse::<SocketAddr>()
            .map_err(|_| Cause::Unavailable)?;
        return Ok(Target {
            party,
            caller_id: caller_number.to_owned(),
            forwarded: false,
            request_uri: binding.contact.clone(),
            to_uri: None,
            to_user: extension.number.clone(),
            peer,
            transport: if binding.transport == "tcp" {
                Transport::Tcp
            } else {
                Transport::Udp
            },
            credentials: None,
        });
    }
    if !(on_bound_phone || settings.forward_when_offline) || settings.bound_number.is_empty() {
        return Err(Cause::Unavailable);
    }
    let bound = normalize("boundNumber", &settings.bound_number).map_err(|_| Cause::Unavailable)?;
    // The forward leaves through the trunk of the DID called, else of the extension's caller
    // ID.
    let via_number = did
        .map(str::to_owned)
        .or_else(|| licensed_caller_id(node, extension.enterprise_id, &settings.caller_id))
        .ok_or(Cause::NoCallerId)?;
    // An outside caller is shown as such; an extension calling shows the licensed number.
    let presented = caller_number
        .starts_with('+')
        .then(|| national_form(caller_number));
    trunk_target(
        node,
        extension.enterprise_id,
        &via_number,
        &bound,
        Party::External {
            number: bound.clone(),
        },
        true,
        presented.as_deref(),
    )
    .await
}

/// The caller ID an extension dials out with: its own when that number is licensed to the
/// enterprise as a caller ID, else the enterprise's first licensed one.
fn licensed_caller_id(node: &Node, enterprise: Uuid, preferred: &str) -> Option<String> {
    let mut licensed: Vec<NumberDoc> = node
        .models
        .of(NUMBERS)
        .of_tenant(enterprise)
        .into_iter()
        .filter(|n| n.assignment.enterprise_id == enterprise && n.assignment.caller_id)
        .collect();
    licensed.sort_by(|a, b| a.number.cmp(&b.number));
    let preferred = normalize("callerId", preferred).ok();
    licensed
        .iter()
        .find(|n| Some(&n.number) == preferred.as_ref())
        .or(licensed.first())
        .map(|n| n.number.clone())
}

/// A leg to `number` through the trunk that carries the enterprise's `via_number`.
#[allow(clippy::too_many_arguments)]
async fn trunk_target(
    node: &Node,
    enterprise: Uuid,
    via_number: &str,
    number: &str,
    party: Party,
    forwarded: bool,
    presented: Option<&str>,
) -> Result<Target, Cause> {
    let carrier: NumberDoc = node
        .models
        .of(NUMBERS)
        .by_id(domain::ids::number_id(via_number))
        .filter(|n: &NumberDoc| n.assignment.enterprise_id == enterprise)
        .ok_or(Cause::NoRoute)?;
    let trunk: TrunkDoc = node
        .models
        .of(TRUNKS)
        .by_id(carrier.assignment.trunk_id)
        .ok_or(Cause::NoRoute)?;
    let settings = trunk.settings;
    let peer = tokio::net::lookup_host((settings.host.as_str(), settings.port))
        .await
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or(Cause::NoRoute)?;
    let dialled = national_form(number);
    let host = if settings.host.contains(':') {
        format!("[{}]", settings.host)
    } else {
        settings.host.clone()
    };
    Ok(Target {
        party,
        caller_id: national_form(presented.unwrap_or(via_number)),
        forwarded,
        request_uri: format!("sip:{dialled}@{host}:{}", settings.port),
        to_uri: Some(format!("sip:{dialled}@{host}")),
        to_user: dialled,
        peer,
        transport: if settings.transport == "tcp" {
            Transport::Tcp
        } else {
            Transport::Udp
        },
        credentials: (!settings.username.is_empty())
            .then(|| (settings.username.clone(), settings.password.clone())),
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use domain::ivr::{AreaRule, FlowDefinition, IvrNode, NodeAction};
    use domain::policy::ivr::{CallFacts, IvrFact, IvrRun};

    fn node(key: &str, action: NodeAction) -> IvrNode {
        IvrNode {
            key: key.into(),
            name: key.into(),
            number: String::new(),
            action,
        }
    }

    #[test]
    fn callers_from_several_provinces_take_their_area_branch() {
        let rule = |regions: &[&str], next: &str| AreaRule {
            regions: regions.iter().map(|r| (*r).to_owned()).collect(),
            next: next.into(),
        };
        let bye = |key: &str| node(key, NodeAction::Hangup { prompts: vec![] });
        let flow = FlowDefinition {
            entry: "area".into(),
            variables: vec![],
            nodes: vec![
                node(
                    "area",
                    NodeAction::CallerArea {
                        rules: vec![
                            rule(&["广东省"], "south"),
                            rule(&["北京市", "上海市"], "north_east"),
                            rule(&["浙江省杭州市"], "hangzhou"),
                        ],
                        otherwise: Some("elsewhere".into()),
                    },
                ),
                bye("south"),
                bye("north_east"),
                bye("hangzhou"),
                bye("elsewhere"),
            ],
        };
        let now = NaiveDate::from_ymd_opt(2026, 12, 1)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .unwrap_or_default();
        // Mobile numbers with and without the leading 0, landlines with their area codes.
        let cases = [
            ("013800138000", Some("北京市"), "north_east"),
            ("15900001234", Some("广东省中山市"), "south"),
            ("075512345678", Some("广东省深圳市"), "south"),
            ("02161234567", Some("上海市"), "north_east"),
            ("057188889999", Some("浙江省杭州市"), "hangzhou"),
            ("09911234567", Some("新疆乌鲁木齐市"), "elsewhere"),
            ("+12025550100", None, "elsewhere"),
        ];
        for (number, region, branch_to) in cases {
            let e164 = domain::phone::normalize("from", number).unwrap_or_default();
            let found = crate::registry::regions().region_of(&e164);
            assert_eq!(found, region, "{number}");
            let call = CallFacts {
                caller_number: number.into(),
                called_number: "02161230000".into(),
                caller_region: found.map(str::to_owned),
            };
            let (_, step) = IvrRun::start(&flow, &call, now);
            assert_eq!(
                step.facts.last(),
                Some(&IvrFact::NodeEntered {
                    node: branch_to.into(),
                    node_type: "hangup".into()
                }),
                "{number}"
            );
        }
    }
}
