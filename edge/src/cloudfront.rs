//! The CloudFront viewer-request event and result, as AWS documents them for Lambda@Edge, and
//! the function that runs [`EdgeCheck`] over them.
//!
//! `aws_lambda_events` has no CloudFront types, so the shapes are written out here from the
//! CloudFront Developer Guide ("Lambda@Edge event structure", "Generate HTTP responses in
//! request triggers"):
//!
//! ```json
//! {"Records":[{"cf":{
//!   "config":{"distributionDomainName":"d111111abcdef8.cloudfront.net","distributionId":"EDFDVBD6EXAMPLE",
//!             "eventType":"viewer-request","requestId":"4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="},
//!   "request":{"clientIp":"203.0.113.178","method":"GET","querystring":"","uri":"/",
//!              "headers":{"host":[{"key":"Host","value":"d111111abcdef8.cloudfront.net"}]}}}}]}
//! ```
//!
//! The function answers with the request (possibly modified), which CloudFront goes on to
//! serve, or with a generated response (`status` is the only required field, a string),
//! which CloudFront returns to the viewer without caching it.

use crate::check::{Decision, Denial, EdgeCheck, TokenInfo, ViewerRequest};
use crate::route::{required_access, Access, Route, PAGE_PATH};
use crate::token::{bearer_token, hash_token, TokenHash};
use crate::{Tier, IDENTITY_HEADER};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The header that proves to the origin that a request came through the edge check. Its value
/// is a secret baked into the bundle and the origin at deploy time; the origin refuses requests
/// without it. The edge removes any copy a viewer sent.
pub const ORIGIN_SECRET_HEADER: &str = "x-tfreg-origin-secret";

/// Requests under this prefix go to the registry origin (the origin Lambda); everything else
/// the viewer check allows goes to S3 (archives, the discovery document).
pub const ORIGIN_PATH_PREFIX: &str = "/v1/";

/// Largest request body the edge passes to the origin Lambda by default. Lambda caps the
/// invocation payload at 6 MB, and a Function URL delivers a binary body base64-encoded
/// (4/3 larger) inside the JSON event beside the headers: 4 MiB of archive is what fits.
pub const DEFAULT_MAX_ORIGIN_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// Headers as CloudFront represents them: lowercase name -> one entry per value, each with
/// the name as it appeared on the wire (`key`) and the value.
pub type CfHeaders = BTreeMap<String, Vec<CfHeader>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CfHeader {
    /// The header name in its original case. Optional in what a function returns: CloudFront
    /// derives it from the map key when it is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub value: String,
}

impl CfHeader {
    fn new(key: &str, value: impl Into<String>) -> Self {
        CfHeader {
            key: Some(key.to_owned()),
            value: value.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewerRequestEvent {
    #[serde(rename = "Records")]
    pub records: Vec<EventRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub cf: CfRecord,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CfRecord {
    #[serde(default)]
    pub config: CfConfig,
    pub request: CfRequest,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CfConfig {
    #[serde(default)]
    pub distribution_domain_name: String,
    #[serde(default)]
    pub distribution_id: String,
    /// `viewer-request` for this function. Anything else means it was associated with the
    /// wrong trigger, which would let cached responses bypass the check: refused.
    #[serde(default)]
    pub event_type: String,
    #[serde(default)]
    pub request_id: String,
}

/// The request in a viewer-request event, and the request a function returns to let it
/// through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CfRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(default)]
    pub headers: CfHeaders,
    pub method: String,
    /// The raw query string, without the `?`; empty when there is none. Returned unchanged:
    /// the `expires`/`signature` parameters of archive URLs stay, because the archive
    /// behaviour's cache key policy leaves the query string out of the cache key, so one
    /// cached copy serves every signed URL for that archive.
    #[serde(default)]
    pub querystring: String,
    pub uri: String,
    /// Present only when the cache behaviour has "include body" on. Passed back untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<CfBody>,
    /// Anything else CloudFront sends (none today for viewer requests; `origin` for
    /// origin-facing events), passed back unchanged.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CfBody {
    #[serde(default)]
    pub input_truncated: bool,
    /// `read-only` or `replace`.
    pub action: String,
    /// `base64` or `text`.
    pub encoding: String,
    pub data: String,
}

/// A response generated at the edge. `bodyEncoding` is left out, so CloudFront treats the
/// body as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CfResponse {
    /// The status code, as a string.
    pub status: String,
    pub status_description: String,
    pub headers: CfHeaders,
    pub body: String,
}

impl CfResponse {
    /// A JSON error in the registry's shape ([`error_body`](crate::error_body)).
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(status, crate::error_body(code, message))
    }

    fn json(status: u16, body: String) -> Self {
        let mut headers = CfHeaders::new();
        headers.insert(
            "content-type".into(),
            vec![CfHeader::new("Content-Type", "application/json")],
        );
        // CloudFront never caches a response generated at viewer request; say so to anything
        // between CloudFront and the viewer too.
        headers.insert(
            "cache-control".into(),
            vec![CfHeader::new("Cache-Control", "no-store")],
        );
        CfResponse {
            status: status.to_string(),
            status_description: status_description(status).to_owned(),
            headers,
            body,
        }
    }

    /// `302 Found` to `location`.
    pub fn redirect(location: &str) -> Self {
        let mut headers = CfHeaders::new();
        headers.insert("location".into(), vec![CfHeader::new("Location", location)]);
        headers.insert(
            "cache-control".into(),
            vec![CfHeader::new("Cache-Control", "no-store")],
        );
        CfResponse {
            status: "302".into(),
            status_description: "Found".into(),
            headers,
            body: String::new(),
        }
    }

    fn denial(denial: &Denial) -> Self {
        let mut response = Self::json(denial.status, denial.body_json());
        if let Some(challenge) = denial.www_authenticate() {
            response.headers.insert(
                "www-authenticate".into(),
                vec![CfHeader::new("WWW-Authenticate", challenge)],
            );
        }
        response
    }
}

fn status_description(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// What a viewer-request function returns to CloudFront: the request, to let it through, or
/// a response for the viewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ViewerRequestResult {
    Forward(CfRequest),
    Respond(CfResponse),
}

/// One step of the check over an event.
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeStep {
    Done(ViewerRequestResult),
    /// The token is not in the cache: read the token item stored under this hash and call
    /// [`ViewerRequestHandler::complete`] with it.
    Lookup {
        token_hash: TokenHash,
    },
}

/// A token item as the edge reads it from the token table, attribute values unwrapped:
/// `token_name` (S), `permission` (S: downloader, uploader or master), `expires_at` (N,
/// seconds since the Unix epoch, absent for tokens that do not expire), `scopes` (SS, absent for
/// tokens without scopes). The item's key is
/// `pk = "token#<sha256 hex>"`; this is the contract with the origin's DynamoDB store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenItem {
    pub token_name: String,
    pub permission: Tier,
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// `scopes` (SS, absent for a token without scopes).
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl From<TokenItem> for TokenInfo {
    fn from(item: TokenItem) -> Self {
        TokenInfo {
            token_name: item.token_name,
            tier: item.permission,
            expires_at: item.expires_at,
            scopes: item.scopes,
        }
    }
}

/// Why an event could not be handled. These are deployment or programming errors, not viewer
/// errors: the caller answers them with a 500 and logs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventError {
    NoRecord,
    WrongEventType(String),
    /// `complete` was called for a request that needs no token lookup, or with the hash of a
    /// different token than the request carries.
    UnexpectedLookup,
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::NoRecord => f.write_str("the event has no Records[0].cf.request"),
            EventError::WrongEventType(kind) => write!(
                f,
                "the function is associated with the {kind:?} event; it must run at viewer-request"
            ),
            EventError::UnexpectedLookup => {
                f.write_str("the token lookup does not belong to this request")
            }
        }
    }
}

impl std::error::Error for EventError {}

/// The viewer-request function, minus the token store: drives [`EdgeCheck`] over CloudFront
/// events and turns its decisions into what CloudFront expects back.
pub struct ViewerRequestHandler {
    check: EdgeCheck,
    origin_secret: String,
    max_origin_body_bytes: u64,
}

impl ViewerRequestHandler {
    pub fn new(check: EdgeCheck, origin_secret: impl Into<String>) -> Self {
        ViewerRequestHandler {
            check,
            origin_secret: origin_secret.into(),
            max_origin_body_bytes: DEFAULT_MAX_ORIGIN_BODY_BYTES,
        }
    }

    /// Sets the largest body passed to the origin (`Content-Length`); larger uploads get a
    /// 413 that names the large-upload path instead of the Function URL's bare refusal.
    pub fn with_max_origin_body_bytes(mut self, bytes: u64) -> Self {
        self.max_origin_body_bytes = bytes;
        self
    }

    pub fn edge_check(&self) -> &EdgeCheck {
        &self.check
    }

    /// Checks the event's request at `now` (seconds since the Unix epoch).
    pub fn viewer_request(
        &mut self,
        event: ViewerRequestEvent,
        now: u64,
    ) -> Result<EdgeStep, EventError> {
        let request = into_request(event)?;
        let decision = self.check.check(&viewer_view(&request), now);
        match decision {
            Decision::Lookup { token_hash } => Ok(EdgeStep::Lookup { token_hash }),
            decision => self.finish(request, decision).map(EdgeStep::Done),
        }
    }

    /// Finishes a check that asked for a lookup: `found` is the token item stored under
    /// `token_hash`, or `None` when there is none. The answer is cached (found tokens for the
    /// positive TTL, unknown ones for the negative TTL). A failed lookup must not come here:
    /// answer it without caching anything.
    pub fn complete(
        &mut self,
        event: ViewerRequestEvent,
        token_hash: &TokenHash,
        found: Option<TokenInfo>,
        now: u64,
    ) -> Result<ViewerRequestResult, EventError> {
        let request = into_request(event)?;
        let view = viewer_view(&request);
        // Only a token route with a well-formed bearer token asks for a lookup, and only for
        // that token's hash: anything else would cache a store answer under the wrong key.
        let expected = match required_access(view.method, view.path) {
            Access::Token(_) => view.authorization.and_then(bearer_token).map(hash_token),
            Access::Public | Access::SignedArchive | Access::SignedAtOrigin => None,
        };
        if expected.as_ref() != Some(token_hash) {
            return Err(EventError::UnexpectedLookup);
        }
        let decision = self.check.complete(&view, token_hash, found, now);
        self.finish(request, decision)
    }

    fn finish(
        &self,
        mut request: CfRequest,
        decision: Decision,
    ) -> Result<ViewerRequestResult, EventError> {
        Ok(match decision {
            Decision::Allow { .. } if self.body_too_large(&request) => {
                ViewerRequestResult::Respond(CfResponse::error(
                    413,
                    "archive_too_large",
                    &format!(
                        "the body is larger than the {} bytes the origin accepts; for a larger archive, POST {}/uploads, PUT the archive to the upload_url it returns, then POST the finalize path it returns",
                        self.max_origin_body_bytes,
                        request.uri.trim_end_matches('/'),
                    ),
                ))
            }
            // The page's address, answered here: `/` would otherwise go to the default
            // behaviour's S3 origin, which holds no object at the empty key.
            Decision::Allow { .. }
                if Route::parse(&request.method, &request.uri) == Route::Home =>
            {
                ViewerRequestResult::Respond(CfResponse::redirect(PAGE_PATH))
            }
            Decision::Allow { identity } => {
                // Whatever the viewer sent under our names is dropped; only the edge's own
                // values go on, so the origin can trust them.
                request
                    .headers
                    .retain(|name, _| !is_edge_header(name.as_str()));
                if let Some(identity) = identity {
                    request.headers.insert(
                        IDENTITY_HEADER.to_owned(),
                        vec![CfHeader::new(
                            "X-Tfreg-Identity",
                            identity.to_header_value(),
                        )],
                    );
                }
                // The secret goes only where it is checked: never to S3 (archives, discovery),
                // whose logs and errors it has no business in. The viewer's token goes no
                // further than here: the check is done, the origin trusts the identity, and
                // CloudFront forwards `Authorization` to a custom origin on PUT, POST and
                // DELETE whatever the origin request policy says.
                if request.uri.starts_with(ORIGIN_PATH_PREFIX) {
                    request.headers.remove("authorization");
                    request.headers.insert(
                        ORIGIN_SECRET_HEADER.to_owned(),
                        vec![CfHeader::new(
                            "X-Tfreg-Origin-Secret",
                            self.origin_secret.clone(),
                        )],
                    );
                }
                ViewerRequestResult::Forward(request)
            }
            Decision::Deny(denial) => ViewerRequestResult::Respond(CfResponse::denial(&denial)),
            // Only a token route asks for a lookup, and `complete` answers those itself.
            Decision::Lookup { .. } => return Err(EventError::UnexpectedLookup),
        })
    }
}

impl ViewerRequestHandler {
    /// A PUT or POST to the origin whose declared length is over the limit. (CloudFront shows
    /// viewer-request functions the `Content-Length` header read-only; a chunked body without
    /// one meets the Function URL's own 413.)
    fn body_too_large(&self, request: &CfRequest) -> bool {
        let writes = matches!(request.method.as_str(), "PUT" | "POST");
        writes
            && request.uri.starts_with(ORIGIN_PATH_PREFIX)
            && request
                .headers
                .get("content-length")
                .and_then(|values| values.first())
                .and_then(|header| header.value.trim().parse::<u64>().ok())
                .is_some_and(|len| len > self.max_origin_body_bytes)
    }
}

fn is_edge_header(name: &str) -> bool {
    name.eq_ignore_ascii_case(IDENTITY_HEADER) || name.eq_ignore_ascii_case(ORIGIN_SECRET_HEADER)
}

fn into_request(event: ViewerRequestEvent) -> Result<CfRequest, EventError> {
    let record = event
        .records
        .into_iter()
        .next()
        .ok_or(EventError::NoRecord)?;
    let event_type = record.cf.config.event_type;
    // An event without a type is accepted (hand-written events in tests and tools); a wrong
    // one is not.
    if !event_type.is_empty() && event_type != "viewer-request" {
        return Err(EventError::WrongEventType(event_type));
    }
    Ok(record.cf.request)
}

fn viewer_view(request: &CfRequest) -> ViewerRequest<'_> {
    ViewerRequest {
        method: &request.method,
        path: &request.uri,
        query: &request.querystring,
        authorization: request
            .headers
            .get("authorization")
            .and_then(|values| values.first())
            .map(|header| header.value.as_str()),
    }
}

#[cfg(test)]
mod tests;
