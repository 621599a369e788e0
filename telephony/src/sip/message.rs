//! SIP messages: the project's own request and response types, parsed from bytes and printed
//! back. This is the only module that uses rsip (for the grammar of the start line, header
//! lines and URIs), so rsip can be replaced without touching the rest of telephony.

use std::fmt;

/// Largest message accepted (a UDP datagram cannot be larger; TCP framing enforces the same).
pub const MAX_MESSAGE_BYTES: usize = 65_535;

/// Why bytes are not an acceptable SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Not SIP at all, or a broken start line or header line.
    #[error("malformed SIP: {0}")]
    Malformed(String),
    /// A header every request needs is missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header is present but its value is unusable.
    #[error("bad {0} header")]
    BadHeader(&'static str),
    /// The body is shorter than Content-Length says (a truncated message).
    #[error("body is {actual} bytes, Content-Length says {declared}")]
    Truncated {
        /// Content-Length.
        declared: usize,
        /// Bytes present.
        actual: usize,
    },
}

/// A SIP method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE.
    Invite,
    /// ACK.
    Ack,
    /// BYE.
    Bye,
    /// CANCEL.
    Cancel,
    /// REGISTER.
    Register,
    /// OPTIONS.
    Options,
    /// INFO.
    Info,
    /// UPDATE.
    Update,
    /// PRACK.
    Prack,
    /// SUBSCRIBE.
    Subscribe,
    /// NOTIFY.
    Notify,
    /// REFER.
    Refer,
    /// MESSAGE.
    Message,
    /// Any other token.
    Other(String),
}

impl Method {
    /// The method of a token (case-sensitive, as RFC 3261 says).
    pub fn from_token(token: &str) -> Method {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Other(token) => token,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header fields in order, names in their canonical long form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

/// The long form of a header name (compact forms of RFC 3261 §7.3.3 expanded, case fixed for
/// the common ones).
fn canonical_name(name: &str) -> String {
    let known = [
        ("v", "Via"),
        ("f", "From"),
        ("t", "To"),
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("k", "Supported"),
        ("s", "Subject"),
        ("e", "Content-Encoding"),
        ("via", "Via"),
        ("from", "From"),
        ("to", "To"),
        ("call-id", "Call-ID"),
        ("contact", "Contact"),
        ("content-length", "Content-Length"),
        ("content-type", "Content-Type"),
        ("cseq", "CSeq"),
        ("max-forwards", "Max-Forwards"),
        ("expires", "Expires"),
        ("authorization", "Authorization"),
        ("www-authenticate", "WWW-Authenticate"),
        ("proxy-authorization", "Proxy-Authorization"),
        ("proxy-authenticate", "Proxy-Authenticate"),
        ("record-route", "Record-Route"),
        ("route", "Route"),
        ("user-agent", "User-Agent"),
        ("allow", "Allow"),
        ("supported", "Supported"),
        ("session-expires", "Session-Expires"),
    ];
    let lower = name.trim().to_ascii_lowercase();
    known.iter().find(|(k, _)| *k == lower).map_or_else(
        || name.trim().to_owned(),
        |(_, canonical)| (*canonical).to_owned(),
    )
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a header.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((canonical_name(name), value.into()));
    }

    /// The first value of `name` (any case, long or compact form).
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = canonical_name(name);
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, split at top-level commas (a header line may carry several).
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        let name = canonical_name(name);
        self.0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
            .flat_map(|(_, v)| split_top_level(v))
            .collect()
    }

    /// Removes every value of `name`.
    pub fn remove(&mut self, name: &str) {
        let name = canonical_name(name);
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
    }

    /// Every header in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// Splits a header value at commas outside quotes and angle brackets.
fn split_top_level(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Request-URI, as written.
    pub uri: String,
    /// Headers.
    pub headers: Headers,
    /// Body.
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers.
    pub headers: Headers,
    /// Body.
    pub body: Vec<u8>,
}

/// A SIP request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipMessage {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl SipMessage {
    /// The headers.
    pub fn headers(&self) -> &Headers {
        match self {
            SipMessage::Request(r) => &r.headers,
            SipMessage::Response(r) => &r.headers,
        }
    }

    /// The bytes on the wire; Content-Length is always written and matches the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (start, headers, body) = match self {
            SipMessage::Request(r) => (
                format!("{} {} SIP/2.0\r\n", r.method, r.uri),
                &r.headers,
                &r.body,
            ),
            SipMessage::Response(r) => (
                format!("SIP/2.0 {} {}\r\n", r.status, r.reason),
                &r.headers,
                &r.body,
            ),
        };
        let mut out = start.into_bytes();
        for (name, value) in headers.iter() {
            if !name.eq_ignore_ascii_case("Content-Length") {
                out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        out
    }
}

/// Parses one message. Checks what every later layer relies on: the mandatory headers of a
/// request (Via, From, To, Call-ID, CSeq whose method matches), a usable CSeq, and a body no
/// shorter than Content-Length (a longer one is cut to it, as RFC 3261 §18.3 says for UDP).
pub fn parse(bytes: &[u8]) -> Result<SipMessage, ParseError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(ParseError::TooLarge(bytes.len()));
    }
    let parsed = rsip::SipMessage::try_from(bytes)
        .map_err(|e| ParseError::Malformed(short(&e.to_string())))?;
    let mut headers = Headers::new();
    let raw_headers = match &parsed {
        rsip::SipMessage::Request(r) => &r.headers,
        rsip::SipMessage::Response(r) => &r.headers,
    };
    for header in raw_headers.iter() {
        let line = header.to_string();
        let (name, value) = line.split_once(':').ok_or_else(|| {
            ParseError::Malformed(format!("header line without a colon: {}", short(&line)))
        })?;
        if name.trim().is_empty() || name.trim().contains(' ') {
            return Err(ParseError::Malformed(format!(
                "bad header name: {}",
                short(name)
            )));
        }
        headers.push(name, value.trim());
    }
    let mut body = parsed.body().clone();
    if let Some(length) = headers.get("Content-Length") {
        let declared: usize = length
            .trim()
            .parse()
            .map_err(|_| ParseError::BadHeader("Content-Length"))?;
        if declared > body.len() {
            return Err(ParseError::Truncated {
                declared,
                actual: body.len(),
            });
        }
        body.truncate(declared);
    }
    match parsed {
        rsip::SipMessage::Request(r) => {
            let method = Method::from_token(&r.method.to_string());
            for required in ["Via", "From", "To", "Call-ID", "CSeq"] {
                if headers.get(required).is_none() {
                    return Err(ParseError::MissingHeader(match required {
                        "Via" => "Via",
                        "From" => "From",
                        "To" => "To",
                        "Call-ID" => "Call-ID",
                        _ => "CSeq",
                    }));
                }
            }
            let (_, cseq_method) = cseq(&headers).ok_or(ParseError::BadHeader("CSeq"))?;
            if cseq_method != method {
                return Err(ParseError::BadHeader("CSeq"));
            }
            Ok(SipMessage::Request(Request {
                method,
                uri: r.uri.to_string(),
                headers,
                body,
            }))
        }
        rsip::SipMessage::Response(r) => {
            let status = u16::from(r.status_code.clone());
            let reason = r
                .status_code
                .to_string()
                .split_once(' ')
                .map(|(_, reason)| reason.to_owned())
                .unwrap_or_default();
            cseq(&headers).ok_or(ParseError::BadHeader("CSeq"))?;
            Ok(SipMessage::Response(Response {
                status,
                reason,
                headers,
                body,
            }))
        }
    }
}

fn short(text: &str) -> String {
    text.chars().take(120).collect()
}

/// The CSeq number and method.
pub fn cseq(headers: &Headers) -> Option<(u32, Method)> {
    let value = headers.get("CSeq")?;
    let mut parts = value.split_whitespace();
    let number = parts.next()?.parse().ok()?;
    let method = Method::from_token(parts.next()?);
    parts.next().is_none().then_some((number, method))
}

/// The value of parameter `name` in a header value (`;tag=abc`, `;branch=z9hG4bK…`), outside
/// the angle-bracketed URI.
pub fn param(value: &str, name: &str) -> Option<String> {
    let after_uri = match value.rfind('>') {
        Some(end) => &value[end + 1..],
        None => value,
    };
    after_uri.split(';').skip(1).find_map(|p| {
        let (key, val) = p.split_once('=').unwrap_or((p, ""));
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| val.trim().trim_matches('"').to_owned())
    })
}

/// A SIP URI's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// The user part, if any.
    pub user: Option<String>,
    /// Host name or address.
    pub host: String,
    /// Port, if written.
    pub port: Option<u16>,
}

impl SipUri {
    /// Parses a `sip:` or `sips:` URI, alone or inside a name-addr (`"Bob" <sip:bob@host>;tag=1`).
    pub fn parse(text: &str) -> Option<SipUri> {
        let inner = match (text.find('<'), text.find('>')) {
            (Some(open), Some(close)) if open < close => &text[open + 1..close],
            _ => text.split(';').next().unwrap_or(text).trim(),
        };
        let uri = rsip::Uri::try_from(inner).ok()?;
        Some(SipUri {
            user: uri.auth.as_ref().map(|a| a.user.clone()),
            host: uri.host_with_port.host.to_string(),
            port: uri.host_with_port.port.map(u16::from),
        })
    }
}

/// The 400 answer to bytes that failed [`parse`], when enough of a request is readable to
/// answer it (Via, From, To, Call-ID and CSeq lines); `None` means drop them silently.
pub fn bad_request(bytes: &[u8], error: &ParseError) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_MESSAGE_BYTES)]);
    let mut lines = text.split("\r\n");
    let start = lines.next()?;
    if start.starts_with("SIP/") || !start.ends_with("SIP/2.0") {
        return None; // a response, or not SIP: never answer
    }
    let mut headers = Headers::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = canonical_name(name);
        if ["Via", "From", "To", "Call-ID", "CSeq"].contains(&name.as_str()) {
            headers.push(&name, value.trim());
        }
    }
    for required in ["Via", "From", "To", "Call-ID", "CSeq"] {
        headers.get(required)?;
    }
    let reason = match error {
        ParseError::TooLarge(_) => "Message Too Large".to_owned(),
        other => format!(
            "Bad Request ({})",
            short(&other.to_string()).replace(['\r', '\n'], " ")
        ),
    };
    let status = if matches!(error, ParseError::TooLarge(_)) {
        513
    } else {
        400
    };
    Some(
        SipMessage::Response(Response {
            status,
            reason,
            headers,
            body: Vec::new(),
        })
        .to_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:1001@callcore.test SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK776asdhds\r\n\
        Max-Forwards: 70\r\n\
        To: <sip:1001@callcore.test>\r\n\
        From: \"Alice\" <sip:alice@127.0.0.1>;tag=1928301774\r\n\
        Call-ID: a84b4c76e66710@127.0.0.1\r\n\
        CSeq: 314159 INVITE\r\n\
        Contact: <sip:alice@127.0.0.1:5070>\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 4\r\n\
        \r\n\
        v=0\n";

    #[test]
    fn a_request_parses_into_our_types() {
        let SipMessage::Request(r) = parse(INVITE.as_bytes()).expect("valid INVITE") else {
            panic!("a request")
        };
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.uri, "sip:1001@callcore.test");
        assert_eq!(r.headers.get("call-id"), Some("a84b4c76e66710@127.0.0.1"));
        assert_eq!(r.headers.get("i"), Some("a84b4c76e66710@127.0.0.1"));
        assert_eq!(
            param(r.headers.get("From").unwrap_or_default(), "tag").as_deref(),
            Some("1928301774")
        );
        assert_eq!(
            param(r.headers.get("Via").unwrap_or_default(), "branch").as_deref(),
            Some("z9hG4bK776asdhds")
        );
        assert_eq!(cseq(&r.headers), Some((314159, Method::Invite)));
        assert_eq!(r.body, b"v=0\n");
        let from = SipUri::parse(r.headers.get("From").unwrap_or_default()).expect("a SIP URI");
        assert_eq!(from.user.as_deref(), Some("alice"));
        assert_eq!(from.host, "127.0.0.1");
    }

    #[test]
    fn printing_round_trips() {
        let message = parse(INVITE.as_bytes()).expect("valid INVITE");
        let printed = message.to_bytes();
        assert_eq!(parse(&printed).expect("printed message parses"), message);
        assert!(String::from_utf8_lossy(&printed).ends_with("Content-Length: 4\r\n\r\nv=0\n"));
    }

    #[test]
    fn a_response_parses() {
        let text = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nTo: <sip:a@b>;tag=x\r\nFrom: <sip:c@d>;tag=y\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let SipMessage::Response(r) = parse(text.as_bytes()).expect("valid response") else {
            panic!("a response")
        };
        assert_eq!((r.status, r.reason.as_str()), (180, "Ringing"));
    }

    #[test]
    fn compact_headers_and_multiple_values() {
        let text = "OPTIONS sip:x@y SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\r\nf: <sip:a@b>;tag=1\r\nt: <sip:x@y>\r\ni: abc\r\nCSeq: 2 OPTIONS\r\nl: 0\r\n\r\n";
        let message = parse(text.as_bytes()).expect("compact forms are SIP");
        assert_eq!(message.headers().get_all("Via").len(), 2);
        assert_eq!(message.headers().get("Call-ID"), Some("abc"));
    }

    #[test]
    fn malformed_input_is_refused_and_answered_when_possible() {
        assert!(matches!(
            parse(b"\x00\x01garbage"),
            Err(ParseError::Malformed(_))
        ));
        assert!(bad_request(b"\x00\x01garbage", &ParseError::Malformed(String::new())).is_none());
        let truncated = INVITE.replace("Content-Length: 4", "Content-Length: 400");
        let error = parse(truncated.as_bytes()).expect_err("truncated");
        assert_eq!(
            error,
            ParseError::Truncated {
                declared: 400,
                actual: 4
            }
        );
        let answer = bad_request(truncated.as_bytes(), &error).expect("enough to answer");
        let answer = String::from_utf8(answer).expect("ASCII");
        assert!(answer.starts_with("SIP/2.0 400 Bad Request"), "{answer}");
        assert!(answer.contains("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK776asdhds\r\n"));
        assert!(answer.contains("Call-ID: a84b4c76e66710@127.0.0.1\r\n"));
        let no_call_id = INVITE.replace("Call-ID: a84b4c76e66710@127.0.0.1\r\n", "");
        assert_eq!(
            parse(no_call_id.as_bytes()),
            Err(ParseError::MissingHeader("Call-ID"))
        );
        let wrong_cseq = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE");
        assert_eq!(
            parse(wrong_cseq.as_bytes()),
            Err(ParseError::BadHeader("CSeq"))
        );
        let huge = vec![b'a'; MAX_MESSAGE_BYTES + 1];
        assert_eq!(
            parse(&huge),
            Err(ParseError::TooLarge(MAX_MESSAGE_BYTES + 1))
        );
        // Cut anywhere, the INVITE never panics the parser.
        for end in 0..INVITE.len() {
            let _ = parse(&INVITE.as_bytes()[..end]);
            let _ = bad_request(
                &INVITE.as_bytes()[..end],
                &ParseError::Malformed(String::new()),
            );
        }
    }

    #[test]
    fn responses_to_malformed_responses_are_never_sent() {
        let text = b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n";
        assert!(bad_request(text, &ParseError::MissingHeader("CSeq")).is_none());
    }
}
