//! The AWS IAM exchange (`POST /v1/auth/aws`): a caller proves who it is in AWS by signing an
//! STS `GetCallerIdentity` request with its credentials and sending the signed request (not
//! the credentials) here; the registry forwards it to STS and trusts the ARN STS answers with.
//! This is the shape of HashiCorp Vault's `aws` auth method ("iam" type).
//!
//! The request body (JSON, at most [`MAX_EXCHANGE_REQUEST_BYTES`]):
//!
//! ```json
//! {
//!   "iam_http_request_method": "POST",
//!   "iam_request_url": "<base64 of https://sts.amazonaws.com/>",
//!   "iam_request_body": "<base64 of Action=GetCallerIdentity&Version=2011-06-15>",
//!   "iam_request_headers": "<base64 of {\"authorization\": [\"AWS4-HMAC-SHA256 ...\"], ...}>"
//! }
//! ```
//!
//! A signed request is a bearer credential for as long as STS accepts it (15 minutes), so the
//! checks (`request.rs`) are about where else it could be used and what could ride along:
//! - the signature must cover `X-Tfreg-Server-Id` with this registry's `server_id`, so that a
//!   request signed for another service (another registry, a Vault server) cannot be replayed
//!   here (the reverse is up to the other service: a verifier that checks no such header
//!   would take a request signed for this registry, which is why clients send it here only);
//! - its `X-Amz-Date` must be within `max_age_secs` of now (both ways);
//! - its URL and signed `Host` must be the configured STS endpoint exactly, and its body the
//!   `GetCallerIdentity` call exactly: the registry never sends a caller's signed request
//!   anywhere else, nor makes it call anything else;
//! - only the headers the caller signed are forwarded (and the registry's own `Content-Type`
//!   when that one was not signed).
//!
//! The ARN STS answers with is matched against the trust rules (`rules.rs`): the raw ARN, and
//! for an assumed role also the role's IAM ARN (`arn:aws:sts::123:assumed-role/Role/session`
//! is matched as itself and as `arn:aws:iam::123:role/Role`).
//!
//! [`signed_exchange_request`] is the client's half: it builds such a body from credentials.

mod request;
mod rules;
mod sign;
mod sts;
#[cfg(test)]
mod tests;

pub use request::MAX_EXCHANGE_REQUEST_BYTES;
pub use sign::{signed_exchange_request, sts_signing_region};

use super::{ExchangeError, Grant, TrustTarget, MAX_EXCHANGED_TTL_SECS};
use serde::Deserialize;
use std::net::IpAddr;
use url::Url;

/// The header a signed request must carry, inside its signature, naming the registry it was
/// signed for.
pub const SERVER_ID_HEADER: &str = "x-tfreg-server-id";

/// STS's global endpoint, the default.
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.amazonaws.com/";

/// The longest a signed request is accepted after (or before) its `X-Amz-Date`: 15 minutes,
/// what STS itself allows.
pub const MAX_SIGNED_REQUEST_AGE_SECS: u64 = 900;

/// Settings of the AWS IAM exchange: the `aws` member of the auth configuration.
///
/// ```json
/// {
///   "sts_endpoint": "https://sts.eu-west-1.amazonaws.com/",
///   "server_id": "registry.example.com",
///   "max_age_secs": 900,
///   "rules": [
///     {"arn": "arn:aws:iam::123456789012:role/ci-*", "tier": "uploader", "scopes": ["acme"], "ttl_secs": 900},
///     {"arn": "arn:aws:iam::123456789012:user/*", "tier": "downloader"}
///   ]
/// }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsAuthConfig {
    /// Where signed requests are forwarded, and the only URL callers may sign for: STS's
    /// global endpoint by default, or a regional or private (VPC) one. HTTPS, except on a
    /// loopback address (tests).
    #[serde(default = "default_sts_endpoint")]
    pub sts_endpoint: String,
    /// The value callers must sign into `X-Tfreg-Server-Id`: this registry's host name, say.
    pub server_id: String,
    /// Certificates (PEM text, or the path of a PEM file) trusted beside the platform's roots
    /// for a private STS endpoint.
    #[serde(default)]
    pub ca_bundle: Option<String>,
    /// How old (or how far in the future) a signed request's `X-Amz-Date` may be, in
    /// seconds: 60 to 900, default 900.
    #[serde(default = "default_max_age_secs")]
    pub max_age_secs: u64,
    /// Trust rules, tried in order: the first whose ARN pattern matches grants.
    pub rules: Vec<AwsTrustRule>,
}

fn default_sts_endpoint() -> String {
    DEFAULT_STS_ENDPOINT.to_owned()
}

fn default_max_age_secs() -> u64 {
    MAX_SIGNED_REQUEST_AGE_SECS
}

/// A caller ARN pattern and what it grants. The pattern is a glob (`*` is any run of
/// characters); it is matched against the ARN STS answers with, and for an assumed role also
/// against the role's IAM ARN without path (see `rules.rs`).
#[derive(Debug, Clone, Deserialize)]
pub struct AwsTrustRule {
    pub arn: String,
    #[serde(flatten)]
    pub grant: TrustTarget,
}

/// The configured STS endpoint, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct StsEndpoint {
    url: Url,
    /// The `Host` header a request to it carries (and so the one callers must sign).
    host_header: String,
}

impl StsEndpoint {
    fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        let host = url
            .host_str()
            .ok_or_else(|| format!("{text:?} has no host"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(host) => {}
            "http" => {
                return Err(format!(
                "{text:?}: an STS endpoint must be HTTPS (plain HTTP only on a loopback address)"
            ))
            }
            other => return Err(format!("{text:?}: {other:?} is not an HTTPS URL")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{text:?}: an STS endpoint has no user information"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{text:?}: an STS endpoint has no query or fragment"
            ));
        }
        Ok(StsEndpoint {
            host_header: host_header(&url),
            url,
        })
    }

    pub(crate) fn url(&self) -> &Url {
        &self.url
    }
}

/// The `Host` header an HTTP client sends for `url`: the host, and the port unless it is the
/// scheme's default (which is also what SigV4 signs).
pub(crate) fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks exchange requests against an [`AwsAuthConfig`].
pub struct AwsExchanger {
    config: AwsAuthConfig,
    endpoint: StsEndpoint,
    sts: sts::StsClient,
}

impl AwsExchanger {
    /// Checks the configuration (endpoint, server ID, CA bundle, rules) and builds the STS
    /// client; an error names the setting that is wrong.
    pub fn new(config: AwsAuthConfig) -> Result<Self, String> {
        let endpoint = StsEndpoint::parse(&config.sts_endpoint)
            .map_err(|e| format!("aws.sts_endpoint: {e}"))?;
        check_server_id(&config.server_id).map_err(|e| format!("aws.server_id: {e}"))?;
        if !(60..=MAX_SIGNED_REQUEST_AGE_SECS).contains(&config.max_age_secs) {
            return Err(format!(
                "aws.max_age_secs: {} is outside 60 to {MAX_SIGNED_REQUEST_AGE_SECS}",
                config.max_age_secs
            ));
        }
        if config.rules.is_empty() {
            return Err(
                "aws.rules: no trust rule, so no one could exchange; add one \
                        (or leave the aws exchange out of the configuration)"
                    .into(),
            );
        }
        for (index, rule) in config.rules.iter().enumerate() {
            rules::check_rule(rule).map_err(|e| format!("aws.rules[{index}]: {e}"))?;
        }
        let ca_bundle = config
            .ca_bundle
            .as_deref()
            .map(|value| crate::proxy::CaBundle::read("aws.ca_bundle", value))
            .transpose()?;
        let sts = sts::StsClient::new(endpoint.clone(), ca_bundle.as_ref())?;
        Ok(AwsExchanger {
            config,
            endpoint,
            sts,
        })
    }

    pub fn config(&self) -> &AwsAuthConfig {
        &self.config
    }

    /// The grant for the exchange request `body`, checked at `now` (seconds since the Unix
    /// epoch): the request is checked, forwarded to STS, and the ARN STS answers with is
    /// matched against the rules.
    pub async fn exchange(&self, body: &[u8], now: u64) -> Result<Grant, ExchangeError> {
        let forwarded = request::check(
            body,
            &request::Expected {
                endpoint: &self.endpoint,
                server_id: &self.config.server_id,
                max_age_secs: self.config.max_age_secs,
                now,
            },
        )?;
        let identity = self.sts.get_caller_identity(forwarded).await?;
        rules::grant_for(&self.config.rules, &identity.arn)
    }
}

/// A server ID travels as a signed header value: visible ASCII, no surrounding spaces (SigV4
/// trims them, so they could not be told apart).
fn check_server_id(server_id: &str) -> Result<(), String> {
    if server_id.is_empty() {
        return Err(
            "required: the value callers sign into X-Tfreg-Server-Id, such as \
                    this registry's host name"
                .into(),
        );
    }
    if server_id.len() > 256 || !server_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{server_id:?} must be 1 to 256 visible ASCII characters (no spaces)"
        ));
    }
    Ok(())
}

// Rules grant at most an hour; a TTL outside 60..=3600 is refused at start rather than capped
// silently.
const MIN_RULE_TTL_SECS: u64 = 60;
const MAX_RULE_TTL_SECS: u64 = MAX_EXCHANGED_TTL_SECS;
