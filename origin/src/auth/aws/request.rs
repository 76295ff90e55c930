//! Reading and checking an exchange request: what may be forwarded to STS, and nothing more.
//!
//! Structural faults (not JSON, not base64, oversized) are `Malformed` (400); a well-formed
//! request that is unsigned, stale, or signed for something other than this registry's STS
//! call is `Refused` (401).

use super::{StsEndpoint, SERVER_ID_HEADER};
use crate::auth::ExchangeError;
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The largest exchange request read: a signed request's headers are well under 4 KiB (a
/// session token is the big one, up to about 2 KiB), base64 adds a third.
pub const MAX_EXCHANGE_REQUEST_BYTES: usize = 16 * 1024;

/// The one call forwarded, in either parameter order.
const GET_CALLER_IDENTITY_BODIES: [&str; 2] = [
    "Action=GetCallerIdentity&Version=2011-06-15",
    "Version=2011-06-15&Action=GetCallerIdentity",
];

/// What `Content-Type` the registry sends when the caller did not sign one.
pub(super) const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

const MAX_HEADERS: usize = 32;

/// Signed headers the registry cannot pass on as they are: connection-level headers that an
/// HTTP client sets or drops itself, and `Authorization`, which cannot sign itself.
const UNFORWARDABLE_HEADERS: [&str; 10] = [
    "authorization",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The request as Vault's `aws` auth method shapes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangeRequest {
    iam_http_request_method: String,
    iam_request_url: String,
    iam_request_body: String,
    iam_request_headers: String,
}

/// A header's value: a string, or a list of one (Go's `http.Header`, which Vault's clients
/// send).
#[derive(Deserialize)]
#[serde(untagged)]
enum HeaderValue {
    One(String),
    List(Vec<String>),
}

/// What the request must be signed for.
pub(super) struct Expected<'a> {
    pub endpoint: &'a StsEndpoint,
    pub server_id: &'a str,
    pub max_age_secs: u64,
    /// Seconds since the Unix epoch.
    pub now: u64,
}

/// The part of a checked request that goes to STS (always to the configured endpoint).
pub(super) struct ForwardedRequest {
    /// Lowercase names: the signed headers (but `host` and `content-length`, which the HTTP
    /// client derives from the endpoint and body, and which were checked to equal them), the
    /// `authorization` header, and `content-type` if the caller did not sign one.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn malformed(message: impl Into<String>) -> ExchangeError {
    ExchangeError::Malformed(message.into())
}

fn refused(message: impl Into<String>) -> ExchangeError {
    ExchangeError::Refused(message.into())
}

fn decode_base64(field: &str, value: &str) -> Result<Vec<u8>, ExchangeError> {
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| malformed(format!("{field} is not base64")))
}

/// Checks `body` and answers what to forward.
pub(super) fn check(body: &[u8], expected: &Expected) -> Result<ForwardedRequest, ExchangeError> {
    if body.len() > MAX_EXCHANGE_REQUEST_BYTES {
        return Err(malformed(format!(
            "the exchange request is {} bytes; at most {MAX_EXCHANGE_REQUEST_BYTES} are read",
            body.len()
        )));
    }
    let request: ExchangeRequest = serde_json::from_slice(body).map_err(|e| {
        malformed(format!(
            "the exchange request is not the JSON object expected \
             (iam_http_request_method, iam_request_url, iam_request_body, \
             iam_request_headers): {e}"
        ))
    })?;

    if request.iam_http_request_method != "POST" {
        return Err(refused(format!(
            "iam_http_request_method is {:?}; only POST (sts:GetCallerIdentity) is forwarded",
            request.iam_http_request_method
        )));
    }

    let url = decode_base64("iam_request_url", &request.iam_request_url)?;
    let url = String::from_utf8(url).map_err(|_| malformed("iam_request_url is not UTF-8"))?;
    check_url(&url, expected.endpoint)?;

    let sts_body = decode_base64("iam_request_body", &request.iam_request_body)?;
    if !GET_CALLER_IDENTITY_BODIES
        .iter()
        .any(|allowed| allowed.as_bytes() == sts_body.as_slice())
    {
        return Err(refused(
            "iam_request_body must be exactly Action=GetCallerIdentity&Version=2011-06-15: \
             no other STS call is forwarded",
        ));
    }

    let headers = decode_base64("iam_request_headers", &request.iam_request_headers)?;
    let headers = parse_headers(&headers)?;
    let forwarded_headers = check_headers(&headers, sts_body.len(), expected)?;
    Ok(ForwardedRequest {
        headers: forwarded_headers,
        body: sts_body,
    })
}

/// The URL must be the configured endpoint: same scheme, host, port and path, and nothing
/// that could make it mean something else to someone (user information, a query, a fragment,
/// percent-encoding, backslashes, dot segments). The registry posts to its configured URL,
/// never to this one; the check is that the caller signed for that URL.
fn check_url(url: &str, endpoint: &StsEndpoint) -> Result<(), ExchangeError> {
    let wrong = || {
        refused(format!(
            "iam_request_url must be this registry's STS endpoint, {}, exactly",
            endpoint.url()
        ))
    };
    let suspicious = |c: char| matches!(c, '?' | '#' | '@' | '\\' | '%') || !c.is_ascii_graphic();
    if url.len() > 2048 || url.contains(suspicious) {
        return Err(wrong());
    }
    let parsed = url::Url::parse(url).map_err(|_| wrong())?;
    let configured = endpoint.url();
    let after_scheme = url.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    let raw_path = after_scheme.find('/').map_or("", |at| &after_scheme[at..]);
    let same = parsed.scheme() == configured.scheme()
        && parsed.host_str() == configured.host_str()
        && parsed.port_or_known_default() == configured.port_or_known_default()
        && parsed.path() == configured.path()
        && (raw_path == configured.path() || (raw_path.is_empty() && configured.path() == "/"))
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.query().is_none()
        && parsed.fragment().is_none();
    if same {
        Ok(())
    } else {
        Err(wrong())
    }
}

/// The header map, names lowercased; one value per header.
fn parse_headers(json: &[u8]) -> Result<BTreeMap<String, String>, ExchangeError> {
    let raw: BTreeMap<String, HeaderValue> = serde_json::from_slice(json).map_err(|_| {
        malformed(
            "iam_request_headers is not base64 of a JSON object of header names to a value \
             or a list of one value",
        )
    })?;
    if raw.len() > MAX_HEADERS {
        return Err(malformed(format!(
            "iam_request_headers has {} headers; at most {MAX_HEADERS}",
            raw.len()
        )));
    }
    let mut headers = BTreeMap::new();
    for (name, value) in raw {
        let value = match value {
            HeaderValue::One(value) => value,
            HeaderValue::List(mut values) if values.len() == 1 => values.remove(0),
            HeaderValue::List(_) => {
                return Err(malformed(format!(
                    "header {name:?} has several values (or none); one is expected"
                )))
            }
        };
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(malformed(format!("{name:?} is not a header name")));
        }
        // Visible ASCII, spaces and tabs: no line breaks to smuggle another header.
        if !value
            .bytes()
            .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
        {
            return Err(malformed(format!(
                "header {name:?} has characters a header value cannot have"
            )));
        }
        if headers.insert(name.to_ascii_lowercase(), value).is_some() {
            return Err(malformed(format!(
                "header {name:?} is given twice (names are case-insensitive)"
            )));
        }
    }
    Ok(headers)
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The parts of a SigV4 `Authorization` header the checks need (the signature itself is
/// STS's business, and is never shown in a message).
struct SigV4Authorization {
    signed_headers: Vec<String>,
}

fn parse_authorization(value: &str) -> Result<SigV4Authorization, ExchangeError> {
    let Some(components) = value.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(refused(
            "the Authorization header is not an AWS4-HMAC-SHA256 (SigV4) signature",
        ));
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in components.split(',') {
        let component = component.trim();
        let (key, value) = component.split_once('=').ok_or_else(|| {
            refused("the Authorization header is not Credential=…, SignedHeaders=…, Signature=…")
        })?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => {
                return Err(refused(
                    "the Authorization header has a part other than Credential, \
                     SignedHeaders and Signature",
                ))
            }
        };
        if slot.replace(value).is_some() {
            return Err(refused(format!(
                "the Authorization header gives {key} twice"
            )));
        }
    }
    let (Some(credential), Some(signed_headers), Some(_)) = (credential, signed_headers, signature)
    else {
        return Err(refused(
            "the Authorization header lacks Credential, SignedHeaders or Signature",
        ));
    };
    // Credential=AKID/yyyymmdd/region/service/aws4_request
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[3] != "sts" || scope[4] != "aws4_request" {
        return Err(refused(
            "the request is not signed for STS (Credential scope …/sts/aws4_request)",
        ));
    }
    let signed_headers: Vec<String> = signed_headers.split(';').map(str::to_owned).collect();
    if signed_headers.iter().any(|h| {
        h.is_empty()
            || h.bytes()
                .any(|b| b.is_ascii_uppercase() || !is_token_byte(b))
    }) {
        return Err(refused(
            "SignedHeaders in the Authorization header is not a list of lowercase header names",
        ));
    }
    Ok(SigV4Authorization { signed_headers })
}

fn check_headers(
    headers: &BTreeMap<String, String>,
    body_len: usize,
    expected: &Expected,
) -> Result<Vec<(String, String)>, ExchangeError> {
    let authorization = headers
        .get("authorization")
        .ok_or_else(|| refused("the request is not signed: it has no Authorization header"))?;
    let authorization = parse_authorization(authorization)?;
    let signs = |name: &str| authorization.signed_headers.iter().any(|h| h == name);

    if !headers.contains_key(SERVER_ID_HEADER) {
        return Err(refused(format!(
            "the request has no X-Tfreg-Server-Id header: sign one with this registry's \
             server ID ({:?}), so that the request is good for this registry only",
            expected.server_id
        )));
    }
    if !signs(SERVER_ID_HEADER) {
        return Err(refused(
            "X-Tfreg-Server-Id is not among the signed headers (SignedHeaders): \
             an unsigned server ID proves nothing",
        ));
    }
    for required in ["host", "x-amz-date"] {
        if !signs(required) {
            return Err(refused(format!(
                "{required} is not among the signed headers (SignedHeaders)"
            )));
        }
    }
    for name in &authorization.signed_headers {
        if !headers.contains_key(name) {
            return Err(refused(format!(
                "{name} is a signed header (SignedHeaders) but is not in iam_request_headers"
            )));
        }
        if UNFORWARDABLE_HEADERS.contains(&name.as_str()) {
            return Err(refused(format!(
                "{name} is signed, and the registry cannot forward it as it is"
            )));
        }
    }

    let server_id = &headers[SERVER_ID_HEADER];
    if server_id != expected.server_id {
        return Err(refused(format!(
            "the request is signed for server ID {server_id:?}; this registry's is {:?}",
            expected.server_id
        )));
    }
    let host = &headers["host"];
    if *host != expected.endpoint.host_header {
        return Err(refused(format!(
            "the signed Host header is {host:?}; this registry's STS endpoint is {:?}",
            expected.endpoint.host_header
        )));
    }
    if let Some(length) = headers.get("content-length") {
        if signs("content-length") && length.trim() != body_len.to_string() {
            return Err(refused(
                "the signed Content-Length is not the length of iam_request_body",
            ));
        }
    }
    check_date(&headers["x-amz-date"], expected)?;

    let mut forwarded = vec![("authorization".to_owned(), headers["authorization"].clone())];
    for name in &authorization.signed_headers {
        if name != "host" && name != "content-length" {
            forwarded.push((name.clone(), headers[name].clone()));
        }
    }
    if !signs("content-type") {
        forwarded.push(("content-type".to_owned(), FORM_CONTENT_TYPE.to_owned()));
    }
    Ok(forwarded)
}

/// `X-Amz-Date` (`20261130T093000Z`) within `max_age_secs` of now, either way.
fn check_date(value: &str, expected: &Expected) -> Result<(), ExchangeError> {
    let signed_at = parse_amz_date(value).ok_or_else(|| {
        refused(format!(
            "X-Amz-Date {value:?} is not a date and time like 20261130T093000Z"
        ))
    })?;
    let now = i64::try_from(expected.now).unwrap_or(i64::MAX);
    let max_age = expected.max_age_secs as i64;
    if now - signed_at > max_age {
        return Err(refused(format!(
            "the signed request is {} seconds old (X-Amz-Date); at most {max_age} are \
             accepted: sign a fresh one",
            now - signed_at
        )));
    }
    if signed_at - now > max_age {
        return Err(refused(format!(
            "the signed request is dated {} seconds in the future (X-Amz-Date); at most \
             {max_age} are tolerated: check the signer's clock",
            signed_at - now
        )));
    }
    Ok(())
}

/// Seconds since the Unix epoch of an `X-Amz-Date` value (ISO 8601 basic format, UTC).
fn parse_amz_date(value: &str) -> Option<i64> {
    let bytes = value.as_bytes();
    let digits_at = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = bytes.get(range)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(digits_at(4..6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(digits_at(0..4)?).ok()?,
        month,
        u8::try_from(digits_at(6..8)?).ok()?,
    )
    .ok()?;
    let time_of_day = time::Time::from_hms(
        u8::try_from(digits_at(9..11)?).ok()?,
        u8::try_from(digits_at(11..13)?).ok()?,
        u8::try_from(digits_at(13..15)?).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, time_of_day)
            .assume_utc()
            .unix_timestamp(),
    )
}
