//! Digest authentication (RFC 3261 §22.4 on RFC 2617 and RFC 7616): challenges for
//! `WWW-Authenticate`, parsing of `Authorization`, and checking a response with MD5 or SHA-256.

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// Hash algorithm of a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (what every SIP phone supports).
    Md5,
    /// SHA-256 (RFC 7616, for peers that offer it).
    Sha256,
}

impl Algorithm {
    /// The token in headers.
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

/// Why an `Authorization` header is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not `Digest …`.
    #[error("not a Digest authorization")]
    NotDigest,
    /// A required parameter is missing.
    #[error("missing parameter {0}")]
    Missing(&'static str),
    /// An algorithm we do not support.
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
}

/// A challenge to send in `WWW-Authenticate` (401) or `Proxy-Authenticate` (407).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection realm (callcore uses the enterprise's SIP domain).
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Algorithm.
    pub algorithm: Algorithm,
}

impl Challenge {
    /// The header value.
    pub fn header_value(&self) -> String {
        format!(
            "Digest realm=\"{}\", nonce=\"{}\", algorithm={}, qop=\"auth\"",
            self.realm,
            self.nonce,
            self.algorithm.token()
        )
    }
}

/// The parameters of an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name (the extension's SIP user).
    pub username: String,
    /// Realm.
    pub realm: String,
    /// Nonce echoed back.
    pub nonce: String,
    /// Digest URI.
    pub uri: String,
    /// The client's response, hex.
    pub response: String,
    /// Algorithm (MD5 when absent).
    pub algorithm: Algorithm,
    /// `qop`, when used.
    pub qop: Option<String>,
    /// Nonce count, with qop.
    pub nc: Option<String>,
    /// Client nonce, with qop.
    pub cnonce: Option<String>,
}

/// Splits `a="x", b=y` into pairs, honouring quotes.
fn pairs(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            value = quoted[..end].to_owned();
            rest = quoted.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        out.push((key, value));
    }
    out
}

/// The parameters of a `Digest …` header value (a challenge or credentials).
struct DigestParams(Vec<(String, String)>);

impl DigestParams {
    fn parse(header: &str) -> Result<DigestParams, DigestError> {
        let header = header.trim();
        let rest = header
            .get(..6)
            .filter(|scheme| scheme.eq_ignore_ascii_case("digest"))
            .map(|_| &header[6..])
            .ok_or(DigestError::NotDigest)?;
        Ok(DigestParams(pairs(rest)))
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.clone())
    }

    /// The algorithm named (MD5 when absent).
    fn algorithm(&self) -> Result<Algorithm, DigestError> {
        match self
            .get("algorithm")
            .map(|a| a.to_ascii_uppercase())
            .as_deref()
        {
            None | Some("MD5") => Ok(Algorithm::Md5),
            Some("SHA-256") => Ok(Algorithm::Sha256),
            Some(other) => Err(DigestError::UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

impl Credentials {
    /// Parses an `Authorization` header value.
    pub fn parse(header: &str) -> Result<Credentials, DigestError> {
        let params = DigestParams::parse(header)?;
        let get = |name: &str| params.get(name);
        let algorithm = params.algorithm()?;
        Ok(Credentials {
            username: get("username").ok_or(DigestError::Missing("username"))?,
            realm: get("realm").ok_or(DigestError::Missing("realm"))?,
            nonce: get("nonce").ok_or(DigestError::Missing("nonce"))?,
            uri: get("uri").ok_or(DigestError::Missing("uri"))?,
            response: get("response")
                .ok_or(DigestError::Missing("response"))?
                .to_ascii_lowercase(),
            algorithm,
            qop: get("qop"),
            nc: get("nc"),
            cnonce: get("cnonce"),
        })
    }

    /// The response a client knowing `password` computes for `method`.
    pub fn expected_response(&self, method: &str, password: &str) -> String {
        let a = self.algorithm;
        let ha1 = a.hash(&format!("{}:{}:{}", self.username, self.realm, password));
        let ha2 = a.hash(&format!("{method}:{}", self.uri));
        match (&self.qop, &self.nc, &self.cnonce) {
            (Some(qop), Some(nc), Some(cnonce)) => {
                a.hash(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", self.nonce))
            }
            _ => a.hash(&format!("{ha1}:{}:{ha2}", self.nonce)),
        }
    }

    /// The nonce count of this use: `nc` (hex) with a qop, 1 without one (RFC 2069 credentials
    /// use their nonce once); `None` when a qop comes without a readable `nc`.
    pub fn count(&self) -> Option<u32> {
        match (&self.qop, &self.nc) {
            (None, _) => Some(1),
            (Some(_), Some(nc)) => u32::from_str_radix(nc, 16).ok(),
            (Some(_), None) => None,
        }
    }

    /// Whether the response proves knowledge of `password`, compared in constant time.
    pub fn verify(&self, method: &str, password: &str) -> bool {
        let expected = self.expected_response(method, password);
        expected.len() == self.response.len()
            && expected
                .bytes()
                .zip(self.response.bytes())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                == 0
    }
}

/// The value of an `Authorization` (or `Proxy-Authorization`) header answering the challenge
/// `challenge` (a `WWW-Authenticate` or `Proxy-Authenticate` value) for `method` on `uri`, as
/// a client knowing `username` and `password`; `cnonce` is the client's fresh random text.
pub fn answer_challenge(
    challenge: &str,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
) -> Result<String, DigestError> {
    let params = DigestParams::parse(challenge)?;
    let get = |name: &str| params.get(name);
    let algorithm = params.algorithm()?;
    let offers_auth = get("qop").is_some_and(|q| q.split(',').any(|q| q.trim() == "auth"));
    let (qop, nc, cnonce) = if offers_auth {
        (
            Some("auth".to_owned()),
            Some("00000001".to_owned()),
            Some(cnonce.to_owned()),
        )
    } else {
        (None, None, None)
    };
    let credentials = Credentials {
        username: username.to_owned(),
        realm: get("realm").ok_or(DigestError::Missing("realm"))?,
        nonce: get("nonce").ok_or(DigestError::Missing("nonce"))?,
        uri: uri.to_owned(),
        response: String::new(),
        algorithm,
        qop,
        nc,
        cnonce,
    };
    let response = credentials.expected_response(method, password);
    let mut value = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
        credentials.username,
        credentials.realm,
        credentials.nonce,
        credentials.uri,
        algorithm.token()
    );
    if let (Some(qop), Some(nc), Some(cnonce)) =
        (&credentials.qop, &credentials.nc, &credentials.cnonce)
    {
        value.push_str(&format!(", qop={qop}, nc={nc}, cnonce=\"{cnonce}\""));
    }
    if let Some(opaque) = get("opaque") {
        value.push_str(&format!(", opaque=\"{opaque}\""));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_challenge_is_answered_with_credentials_the_server_accepts() {
        for challenge in [
            "Digest realm=\"carrier\", nonce=\"abc123\", algorithm=MD5, qop=\"auth\", opaque=\"xyz\"",
            "Digest realm=\"carrier\", nonce=\"abc123\"",
            "digest realm=\"carrier\", nonce=\"abc123\", algorithm=SHA-256, qop=\"auth,auth-int\"",
        ] {
            let value = answer_challenge(
                challenge,
                "INVITE",
                "sip:0215550000@10.0.0.1",
                "acct",
                "pw",
                "c0ffee",
            )
            .expect("a digest challenge");
            let credentials = Credentials::parse(&value).expect("parsable credentials");
            assert!(credentials.verify("INVITE", "pw"), "{value}");
            assert!(!credentials.verify("INVITE", "other"));
            assert_eq!(credentials.realm, "carrier");
        }
        assert_eq!(
            answer_challenge("Basic realm=\"x\"", "INVITE", "sip:x", "u", "p", "c"),
            Err(DigestError::NotDigest)
        );
    }
    use super::*;

    #[test]
    fn rfc_2617_md5_example() {
        let header = "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
            nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, \
            nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", \
            opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
        let credentials = Credentials::parse(header).expect("a valid header");
        assert_eq!(credentials.username, "Mufasa");
        assert_eq!(credentials.algorithm, Algorithm::Md5);
        assert!(credentials.verify("GET", "Circle Of Life"));
        assert!(!credentials.verify("GET", "circle of life"));
        assert!(!credentials.verify("POST", "Circle Of Life"));
    }

    #[test]
    fn rfc_7616_sha256_example() {
        let header = "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
            algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
            cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
            response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
            opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
        let credentials = Credentials::parse(header).expect("a valid header");
        assert_eq!(credentials.algorithm, Algorithm::Sha256);
        assert!(credentials.verify("GET", "Circle of Life"));
    }

    #[test]
    fn without_qop_the_rfc_2069_form_is_used() {
        let mut credentials = Credentials {
            username: "1001".into(),
            realm: "acme.callcore".into(),
            nonce: "abc".into(),
            uri: "sip:acme.callcore".into(),
            response: String::new(),
            algorithm: Algorithm::Md5,
            qop: None,
            nc: None,
            cnonce: None,
        };
        let ha1 = hex::encode(Md5::digest(b"1001:acme.callcore:secret"));
        let ha2 = hex::encode(Md5::digest(b"REGISTER:sip:acme.callcore"));
        credentials.response = hex::encode(Md5::digest(format!("{ha1}:abc:{ha2}").as_bytes()));
        assert!(credentials.verify("REGISTER", "secret"));
    }

    #[test]
    fn bad_headers_are_refused() {
        assert_eq!(Credentials::parse("Basic abc"), Err(DigestError::NotDigest));
        assert_eq!(
            Credentials::parse("Digest realm=\"x\""),
            Err(DigestError::Missing("username"))
        );
        assert!(matches!(
            Credentials::parse("Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\", algorithm=SHA-512"),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        for text in [
            "Digest",
            "Digest =",
            "Digest a=\"",
            "Digest ,,,=,",
            "digest username=\"é\"…",
        ] {
            let _ = Credentials::parse(text);
        }
    }

    #[test]
    fn a_challenge_prints_as_phones_expect() {
        let challenge = Challenge {
            realm: "acme.callcore".into(),
            nonce: "n1".into(),
            algorithm: Algorithm::Md5,
        };
        assert_eq!(
            challenge.header_value(),
            "Digest realm=\"acme.callcore\", nonce=\"n1\", algorithm=MD5, qop=\"auth\""
        );
    }
}
