//! One leg's dialog as callcore's side of the B2BUA sees it, and the requests callcore builds
//! in it (INVITE, ACK, BYE, CANCEL): tags, CSeq, remote target, route set, transport.

use std::net::SocketAddr;

use rand::RngCore;
use telephony::sip::message::{cseq, param, Headers, Method, Request, Response};
use telephony::sip::transaction::Transport;

/// Random lowercase hex of `bytes` bytes (tags, Call-IDs, branches, cnonces).
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

/// A fresh RFC 3261 branch.
pub fn branch() -> String {
    format!("z9hG4bK{}", random_hex(8))
}

/// A leg's dialog from callcore's side.
#[derive(Debug, Clone)]
pub struct Leg {
    /// Call-ID.
    pub call_id: String,
    /// callcore's tag.
    pub local_tag: String,
    /// The peer's tag, once known.
    pub remote_tag: Option<String>,
    /// callcore's URI (From of callcore's requests), possibly a name-addr.
    pub local_uri: String,
    /// The peer's URI (To of callcore's requests), possibly a name-addr.
    pub remote_uri: String,
    /// Where in-dialog requests go (the peer's Contact).
    pub remote_target: String,
    /// Where the peer's messages come from and callcore's go.
    pub peer: SocketAddr,
    /// Transport towards the peer.
    pub transport: Transport,
    /// CSeq of callcore's last request in the dialog.
    pub cseq: u32,
    /// The dialog's route set (Record-Route values, in the order they go in Route headers).
    pub route_set: Vec<String>,
}

impl Leg {
    /// Completes the dialog callcore's INVITE created from the 2xx answering it: the remote
    /// tag, the remote target (its Contact) and the route set (its Record-Route, reversed;
    /// RFC 3261 §12.1.2).
    pub fn confirm(&mut self, ok: &Response) {
        self.remote_tag = ok.headers.get("To").and_then(|t| param(t, "tag"));
        if let Some(target) = ok.headers.get("Contact").and_then(contact_uri) {
            self.remote_target = target;
        }
        let mut route_set = route_values(&ok.headers.get_all("Record-Route"));
        route_set.reverse();
        self.route_set = route_set;
    }

    /// A request in this dialog from callcore's side, with the next CSeq (ACK reuses the
    /// INVITE's number and CANCEL is built by [`cancel_of`]).
    pub fn request(&mut self, method: Method, local: SocketAddr, body: Vec<u8>) -> Request {
        if method != Method::Ack {
            self.cseq += 1;
        }
        build(self, method, &branch(), local, body, self.cseq)
    }
}

fn name_addr(uri: &str) -> String {
    if uri.contains('<') {
        uri.to_owned()
    } else {
        format!("<{uri}>")
    }
}

fn build(
    leg: &Leg,
    method: Method,
    branch: &str,
    local: SocketAddr,
    body: Vec<u8>,
    cseq: u32,
) -> Request {
    let mut headers = Headers::new();
    let proto = if leg.transport == Transport::Tcp {
        "TCP"
    } else {
        "UDP"
    };
    headers.push("Via", format!("SIP/2.0/{proto} {local};branch={branch}"));
    headers.push("Max-Forwards", "70");
    let without_tag = |uri: &str| {
        name_addr(uri)
            .split(";tag=")
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    headers.push(
        "From",
        format!("{};tag={}", without_tag(&leg.local_uri), leg.local_tag),
    );
    let to = without_tag(&leg.remote_uri);
    headers.push(
        "To",
        match &leg.remote_tag {
            Some(tag) => format!("{to};tag={tag}"),
            None => to,
        },
    );
    headers.push("Call-ID", leg.call_id.clone());
    headers.push("CSeq", format!("{cseq} {method}"));
    // Loose routing (RFC 3261 §12.2.1.1): the route set in Route headers, the remote target
    // as Request-URI; a strict router first in the set takes the Request-URI itself.
    let mut uri = leg.remote_target.clone();
    let strict = leg.route_set.first().filter(|r| !r.contains(";lr"));
    let routes: Vec<String> = match strict {
        Some(first) => {
            uri = contact_uri(first).unwrap_or_else(|| first.clone());
            let mut rest = leg.route_set[1..].to_vec();
            rest.push(format!("<{}>", leg.remote_target));
            rest
        }
        None => leg.route_set.clone(),
    };
    for route in routes {
        headers.push("Route", route);
    }
    if method == Method::Invite {
        headers.push("Contact", format!("<sip:callcore@{local}>"));
    }
    if !body.is_empty() {
        headers.push("Content-Type", "application/sdp");
    }
    Request {
        method,
        uri,
        headers,
        body,
    }
}

/// Each `<uri>;params` value of Record-Route headers, in header order.
pub fn route_values(headers: &[&str]) -> Vec<String> {
    let mut values = Vec::new();
    for header in headers {
        let mut rest = *header;
        while let Some(open) = rest.find('<') {
            let Some(close) = rest[open..].find('>').map(|c| open + c) else {
                break;
            };
            let params_end = rest[close..].find(',').map_or(rest.len(), |c| close + c);
            values.push(rest[open..params_end].trim().to_owned());
            rest = &rest[params_end..];
        }
    }
    values
}

/// The CANCEL of a client INVITE: same Request-URI, top Via, From, To, Call-ID and CSeq number.
pub fn cancel_of(invite: &Request) -> Request {
    let mut headers = Headers::new();
    for name in ["Via", "Max-Forwards", "From", "To", "Call-ID"] {
        if let Some(value) = invite.headers.get_all(name).first() {
            headers.push(name, *value);
        }
    }
    let number = cseq(&invite.headers).map_or(1, |(n, _)| n);
    headers.push("CSeq", format!("{number} CANCEL"));
    Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        headers,
        body: Vec::new(),
    }
}

/// The ACK of a 2xx to `invite` (a new transaction: its own branch; RFC 3261 §13.2.2.4).
pub fn ack_of(leg: &Leg, invite: &Request, local: SocketAddr) -> Request {
    let number = cseq(&invite.headers).map_or(1, |(n, _)| n);
    build(leg, Method::Ack, &branch(), local, Vec::new(), number)
}

/// The URI inside a Contact value.
pub fn contact_uri(value: &str) -> Option<String> {
    match (value.find('<'), value.find('>')) {
        (Some(open), Some(close)) if open < close => Some(value[open + 1..close].to_owned()),
        _ => value
            .split(';')
            .next()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg() -> Leg {
        Leg {
            call_id: "c1@callcore".into(),
            local_tag: "t1".into(),
            remote_tag: Some("r9".into()),
            local_uri: "sip:02161234567@10.0.0.1:5060".into(),
            remote_uri: "\"Bob\" <sip:1001@10.0.0.1:5060>".into(),
            remote_target: "sip:1001@10.0.0.2:5062".into(),
            peer: SocketAddr::from(([10, 0, 0, 2], 5062)),
            transport: Transport::Udp,
            cseq: 1,
            route_set: Vec::new(),
        }
    }

    #[test]
    fn in_dialog_requests_carry_tags_target_and_the_next_cseq() {
        let local = SocketAddr::from(([10, 0, 0, 1], 5060));
        let mut leg = leg();
        let bye = leg.request(Method::Bye, local, Vec::new());
        assert_eq!(bye.uri, "sip:1001@10.0.0.2:5062");
        assert_eq!(
            bye.headers.get("From"),
            Some("<sip:02161234567@10.0.0.1:5060>;tag=t1")
        );
        assert_eq!(
            bye.headers.get("To"),
            Some("\"Bob\" <sip:1001@10.0.0.1:5060>;tag=r9")
        );
        assert_eq!(bye.headers.get("CSeq"), Some("2 BYE"));
        assert!(bye
            .headers
            .get("Via")
            .is_some_and(|v| v.starts_with("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK")));
        let invite = leg.request(Method::Invite, local, b"v=0\r\n".to_vec());
        assert_eq!(invite.headers.get("CSeq"), Some("3 INVITE"));
        assert_eq!(invite.headers.get("Content-Type"), Some("application/sdp"));
        let ack = ack_of(&leg, &invite, local);
        assert_eq!(ack.headers.get("CSeq"), Some("3 ACK"));
        let cancel = cancel_of(&invite);
        assert_eq!(cancel.headers.get("CSeq"), Some("3 CANCEL"));
        assert_eq!(cancel.headers.get("Via"), invite.headers.get("Via"));
    }

    #[test]
    fn requests_follow_the_route_set() {
        let local = SocketAddr::from(([10, 0, 0, 1], 5060));
        let mut leg = leg();
        leg.route_set = route_values(&[
            "<sip:p1.example.com;lr>, <sip:p2.example.com;lr;transport=udp>",
            "\"x, y\" <sip:p3.example.com;lr>",
        ]);
        assert_eq!(
            leg.route_set,
            [
                "<sip:p1.example.com;lr>",
                "<sip:p2.example.com;lr;transport=udp>",
                "<sip:p3.example.com;lr>"
            ]
        );
        let bye = leg.request(Method::Bye, local, Vec::new());
        assert_eq!(bye.uri, "sip:1001@10.0.0.2:5062");
        assert_eq!(bye.headers.get_all("Route").len(), 3);
        leg.route_set = vec!["<sip:strict.example.com>".into()];
        let bye = leg.request(Method::Bye, local, Vec::new());
        assert_eq!(bye.uri, "sip:strict.example.com");
        assert_eq!(bye.headers.get_all("Route"), ["<sip:1001@10.0.0.2:5062>"]);
    }

    #[test]
    fn contacts_are_read_with_and_without_brackets() {
        assert_eq!(
            contact_uri("\"A\" <sip:a@h:5>;expires=60").as_deref(),
            Some("sip:a@h:5")
        );
        assert_eq!(contact_uri("sip:a@h;x=y").as_deref(), Some("sip:a@h"));
        assert_eq!(contact_uri("  "), None);
    }
}
