//! The face the Lambda@Edge bundle shows its Node.js handler: the configuration baked into
//! the bundle's `config.json`, and the check as JSON in, JSON out.
//!
//! It lives outside the WebAssembly shim ([`crate::wasm`]) so that it is compiled and tested
//! natively too; the shim only moves bytes in and out of linear memory.
//!
//! Every answer is one JSON object with one key:
//! - `{"result": <request or generated response>}`: return it to CloudFront;
//! - `{"lookup": "<sha256 hex>"}`: read the token item under that hash and call `complete`;
//! - `{"error": "<message>"}`: a deployment or programming error; answer 500 and log it.

use crate::check::{EdgeCheck, EdgeConfig, TokenInfo};
use crate::cloudfront::{
    EdgeStep, TokenItem, ViewerRequestEvent, ViewerRequestHandler, ViewerRequestResult,
};
use crate::token::TokenHash;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::num::NonZeroUsize;

/// Shortest origin secret accepted, in characters.
pub const MIN_ORIGIN_SECRET_LEN: usize = 16;

/// What the WebAssembly side reads from `config.json`. The handler reads the rest (`table`,
/// `region`, `dynamodb_endpoint`); unknown keys are ignored so the two can share one file (and
/// so a `config.json` from before archive URLs became CloudFront signed URLs, with the HMAC key
/// the edge once checked them with, still loads).
#[derive(Debug, Clone, Deserialize)]
pub struct BundleConfig {
    /// The value of `x-tfreg-origin-secret` on requests passed to the origin.
    pub origin_secret: String,
    #[serde(default = "default_positive_ttl")]
    pub positive_ttl_secs: u64,
    #[serde(default = "default_negative_ttl")]
    pub negative_ttl_secs: u64,
    #[serde(default = "default_cache_capacity")]
    pub cache_capacity: usize,
    #[serde(default = "default_unknown_cache_capacity")]
    pub unknown_cache_capacity: usize,
    /// Largest upload body passed to the origin Lambda; larger ones get a 413 naming the
    /// large-upload path.
    #[serde(default = "default_max_origin_body_bytes")]
    pub max_origin_body_bytes: u64,
}

fn default_positive_ttl() -> u64 {
    EdgeConfig::DEFAULT_POSITIVE_TTL_SECS
}

fn default_negative_ttl() -> u64 {
    EdgeConfig::DEFAULT_NEGATIVE_TTL_SECS
}

fn default_max_origin_body_bytes() -> u64 {
    crate::cloudfront::DEFAULT_MAX_ORIGIN_BODY_BYTES
}

fn default_cache_capacity() -> usize {
    EdgeConfig::DEFAULT_CACHE_CAPACITY
}

fn default_unknown_cache_capacity() -> usize {
    EdgeConfig::DEFAULT_UNKNOWN_CACHE_CAPACITY
}

/// A `config.json` the bundle cannot run with. The messages name the setting, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Json(String),
    OriginSecret,
    CacheCapacity(&'static str),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Json(error) => write!(f, "config.json is not valid: {error}"),
            ConfigError::OriginSecret => write!(
                f,
                "config.json: origin_secret must be at least {MIN_ORIGIN_SECRET_LEN} visible ASCII characters"
            ),
            ConfigError::CacheCapacity(field) => write!(
                f,
                "config.json: {field} must be between 1 and {}",
                EdgeConfig::MAX_CACHE_CAPACITY
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl BundleConfig {
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(json).map_err(|e| ConfigError::Json(e.to_string()))
    }

    pub fn edge_config(&self) -> Result<EdgeConfig, ConfigError> {
        let capacity = |value: usize, field| {
            NonZeroUsize::new(value)
                .filter(|n| n.get() <= EdgeConfig::MAX_CACHE_CAPACITY)
                .ok_or(ConfigError::CacheCapacity(field))
        };
        Ok(EdgeConfig {
            cache_capacity: capacity(self.cache_capacity, "cache_capacity")?,
            unknown_cache_capacity: capacity(
                self.unknown_cache_capacity,
                "unknown_cache_capacity",
            )?,
            positive_ttl_secs: self.positive_ttl_secs,
            negative_ttl_secs: self.negative_ttl_secs,
        })
    }

    fn checked_origin_secret(&self) -> Result<&str, ConfigError> {
        let secret = self.origin_secret.as_str();
        // It travels as a header value: visible ASCII only.
        let valid =
            secret.len() >= MIN_ORIGIN_SECRET_LEN && secret.bytes().all(|b| b.is_ascii_graphic());
        valid.then_some(secret).ok_or(ConfigError::OriginSecret)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Result(ViewerRequestResult),
    Lookup(String),
    Error(String),
}

impl Answer {
    fn into_json(self) -> String {
        serde_json::to_string(&self)
            .unwrap_or_else(|_| r#"{"error":"the answer could not be serialised"}"#.to_owned())
    }
}

/// The check with its token cache, as the bundle runs it: one per WebAssembly instance, so
/// the cache survives warm invocations of the function.
pub struct EdgeBundle {
    handler: ViewerRequestHandler,
}

impl EdgeBundle {
    pub fn new(config: &BundleConfig) -> Result<Self, ConfigError> {
        let secret = config.checked_origin_secret()?;
        let check = EdgeCheck::new(config.edge_config()?);
        Ok(EdgeBundle {
            handler: ViewerRequestHandler::new(check, secret)
                .with_max_origin_body_bytes(config.max_origin_body_bytes),
        })
    }

    pub fn from_config_json(json: &str) -> Result<Self, ConfigError> {
        Self::new(&BundleConfig::from_json(json)?)
    }

    pub fn handler(&self) -> &ViewerRequestHandler {
        &self.handler
    }

    /// Checks a viewer-request event (JSON) at `now` (seconds since the Unix epoch).
    pub fn viewer_request_json(&mut self, event_json: &str, now: u64) -> String {
        let step = parse_event(event_json).and_then(|event| {
            self.handler
                .viewer_request(event, now)
                .map_err(|e| e.to_string())
        });
        match step {
            Ok(EdgeStep::Done(result)) => Answer::Result(result),
            Ok(EdgeStep::Lookup { token_hash }) => Answer::Lookup(token_hash.as_hex().to_owned()),
            Err(message) => Answer::Error(message),
        }
        .into_json()
    }

    /// Finishes a check that answered `lookup`: `item_json` is the token item found under
    /// `token_hash_hex` (see [`TokenItem`]) or `null`.
    pub fn complete_json(
        &mut self,
        event_json: &str,
        token_hash_hex: &str,
        item_json: &str,
        now: u64,
    ) -> String {
        let result = (|| {
            let event = parse_event(event_json)?;
            let token_hash = TokenHash::from_hex(token_hash_hex)
                .ok_or("the token hash is not 64 lowercase hex digits")?;
            let item: Option<TokenItem> = serde_json::from_str(item_json)
                .map_err(|e| format!("the token item is not valid: {e}"))?;
            self.handler
                .complete(event, &token_hash, item.map(TokenInfo::from), now)
                .map_err(|e| e.to_string())
        })();
        match result {
            Ok(result) => Answer::Result(result),
            Err(message) => Answer::Error(message),
        }
        .into_json()
    }
}

fn parse_event(json: &str) -> Result<ViewerRequestEvent, String> {
    serde_json::from_str(json)
        .map_err(|e| format!("the event is not a CloudFront viewer-request event: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn config() -> Value {
        json!({
            "table": "tfreg-tokens",
            "region": "us-east-1",
            "origin_secret": "0123456789abcdef-secret",
            "positive_ttl_secs": 60,
            "negative_ttl_secs": 10,
            "cache_capacity": 100
        })
    }

    fn bundle() -> EdgeBundle {
        EdgeBundle::from_config_json(&config().to_string()).unwrap()
    }

    fn error_of(config: Value) -> String {
        match EdgeBundle::from_config_json(&config.to_string()) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("expected {config} to be refused"),
        }
    }

    fn event(uri: &str, authorization: Option<&str>) -> String {
        let mut headers =
            json!({"host": [{"key": "Host", "value": "d111111abcdef8.cloudfront.net"}]});
        if let Some(value) = authorization {
            headers["authorization"] = json!([{"key": "Authorization", "value": value}]);
        }
        json!({"Records": [{"cf": {
            "config": {"eventType": "viewer-request"},
            "request": {"clientIp": "203.0.113.178", "headers": headers, "method": "GET",
                        "querystring": "", "uri": uri}
        }}]})
        .to_string()
    }

    fn answer(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn configuration_mistakes_are_named_without_their_values() {
        let mut weak = config();
        weak["origin_secret"] = json!("short");
        assert!(error_of(weak).starts_with("config.json: origin_secret must be"));
        let mut zero = config();
        zero["cache_capacity"] = json!(0);
        assert_eq!(
            error_of(zero),
            "config.json: cache_capacity must be between 1 and 50000"
        );
        // A capacity the 128 MB of a viewer-request function cannot hold is refused.
        let mut huge = config();
        huge["cache_capacity"] = json!(1_000_000);
        assert_eq!(
            error_of(huge),
            "config.json: cache_capacity must be between 1 and 50000"
        );
        let mut huge = config();
        huge["unknown_cache_capacity"] = json!(50_001);
        assert_eq!(
            error_of(huge),
            "config.json: unknown_cache_capacity must be between 1 and 50000"
        );
        let mut none = config();
        none.as_object_mut().unwrap().remove("origin_secret");
        assert!(error_of(none).contains("missing field `origin_secret`"));
    }

    #[test]
    fn ttls_default_and_an_old_archive_key_is_ignored() {
        // config.json from a bundle that still checked archive URLs itself (HMAC): the key
        // it carried is no longer read, and its presence is no error.
        let config = json!({
            "signing_key_hex": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            "origin_secret": "0123456789abcdef-secret"
        });
        let bundle = EdgeBundle::from_config_json(&config.to_string()).unwrap();
        let edge = bundle.handler().edge_check().config();
        assert_eq!(edge.positive_ttl_secs, 60);
        assert_eq!(edge.negative_ttl_secs, 10);
        assert_eq!(edge.cache_capacity.get(), 10_000);
    }

    #[test]
    fn a_lookup_round_trip_in_json() {
        let mut bundle = bundle();
        let event = event("/v1/modules/acme/vpc/aws/versions", Some("Bearer tfr_x"));
        let first = answer(&bundle.viewer_request_json(&event, 100));
        let hash = first["lookup"].as_str().unwrap().to_owned();
        let item = r#"{"token_name":"ci","permission":"downloader","expires_at":null}"#;
        let done = answer(&bundle.complete_json(&event, &hash, item, 100));
        let headers = &done["result"]["headers"];
        assert_eq!(
            headers["x-tfreg-identity"][0]["value"],
            "token=ci;tier=downloader"
        );
        assert_eq!(
            headers["x-tfreg-origin-secret"][0]["value"],
            "0123456789abcdef-secret"
        );
        let hit = answer(&bundle.viewer_request_json(&event, 101));
        assert_eq!(hit, done);
    }

    #[test]
    fn unknown_tokens_and_denials_are_results_too() {
        let mut bundle = bundle();
        let event = event("/v1/modules/acme/vpc/aws/versions", Some("Bearer nope"));
        let hash = answer(&bundle.viewer_request_json(&event, 0))["lookup"]
            .as_str()
            .unwrap()
            .to_owned();
        let denied = answer(&bundle.complete_json(&event, &hash, "null", 0));
        assert_eq!(denied["result"]["status"], "401");
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        let mut bundle = bundle();
        assert!(answer(&bundle.viewer_request_json("{", 0))["error"]
            .as_str()
            .unwrap()
            .starts_with("the event is not a CloudFront viewer-request event"));
        let event = event("/v1/modules/acme/vpc/aws/versions", Some("Bearer t"));
        assert_eq!(
            answer(&bundle.complete_json(&event, "XYZ", "null", 0))["error"],
            "the token hash is not 64 lowercase hex digits"
        );
        let hash = crate::hash_token("t");
        let bad_item = r#"{"token_name":"ci","permission":"root"}"#;
        assert!(
            answer(&bundle.complete_json(&event, hash.as_hex(), bad_item, 0))["error"]
                .as_str()
                .unwrap()
                .starts_with("the token item is not valid")
        );
        // Nothing was cached for the bad item: the next request asks again.
        assert!(answer(&bundle.viewer_request_json(&event, 0))["lookup"].is_string());
    }
}
