//! Tokens: the master token made on first start, and token creation, listing and revocation
//! (values are shown once; only hashes are stored).

use super::clock::{now_rfc3339, now_unix, unix_to_rfc3339};
use super::{OriginResponse, Registry, RequestBody, MASTER_TOKEN_NAME};
use crate::error::ApiError;
use crate::names::validate_token_name;
use crate::storage::{CreateOutcome, TokenRecord};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use tfreg_edge::{hash_token, validate_scope, Tier, MAX_SCOPES};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A new token value: a prefix that secret scanners can match, and 256 random bits.
pub fn mint_token_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("tfr_{}", hex::encode(bytes))
}

/// The body of `POST /v1/tokens` as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTokenBody {
    name: String,
    permission: String,
    #[serde(default)]
    description: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    expires_at: Option<String>,
    /// Module prefixes the token is limited to (`acme`, `acme/network`).
    #[serde(default)]
    scopes: Vec<String>,
}

/// A token creation request, parsed and validated: what `POST /v1/tokens` will store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// A valid token name (see [`validate_token_name`]).
    pub name: String,
    pub permission: Tier,
    pub description: Option<String>,
    /// Unix seconds, after `now`.
    pub expires_at: Option<u64>,
    /// Valid, sorted, without repeats, at most [`MAX_SCOPES`].
    pub scopes: Vec<String>,
}

/// Parses and validates the body of `POST /v1/tokens` at time `now` (Unix seconds): a 400
/// naming what is wrong for anything else.
pub fn parse_create_token(body: &[u8], now: u64) -> Result<NewToken, ApiError> {
    let request: CreateTokenBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "expected a JSON body like {{\"name\":\"ci\",\"permission\":\"uploader\"}}: {e}"
        ))
    })?;
    validate_token_name(&request.name)?;
    let permission: Tier = request
        .permission
        .parse()
        .map_err(|e: tfreg_edge::UnknownTier| ApiError::bad_request(e.to_string()))?;
    let expires_at = match &request.expires_at {
        None => None,
        Some(text) => {
            let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid expires_at {text:?}: use RFC 3339, such as 2027-01-31T00:00:00Z"
                ))
            })?;
            let seconds = u64::try_from(at.unix_timestamp()).unwrap_or(0);
            if seconds <= now {
                return Err(ApiError::bad_request("expires_at must be in the future"));
            }
            Some(seconds)
        }
    };
    Ok(NewToken {
        name: request.name,
        permission,
        description: request.description,
        expires_at,
        scopes: validate_scopes(request.scopes)?,
    })
}

impl Registry {
    /// Creates the master token if none exists and returns its value, which is never
    /// recoverable afterwards. `None` when a master token already exists.
    pub async fn ensure_master_token(&self) -> Result<Option<String>, ApiError> {
        if self.has_master_token().await? {
            return Ok(None);
        }
        let value = mint_token_value();
        Ok(self.create_master_token(&value).await?.then_some(value))
    }

    pub async fn has_master_token(&self) -> Result<bool, ApiError> {
        Ok(self.tokens.find_by_name(MASTER_TOKEN_NAME).await?.is_some())
    }

    /// Records `value` as the master token unless one exists; `false` when one does. A
    /// caller that must not lose the value saves it first (`tfreg serve` writes its
    /// `master-token` file, then records it, and on the next start records a saved value
    /// that a crash kept from being recorded).
    pub async fn create_master_token(&self, value: &str) -> Result<bool, ApiError> {
        let record = TokenRecord {
            token_hash: hash_token(value).as_hex().to_owned(),
            token_name: MASTER_TOKEN_NAME.into(),
            permission: Tier::Master,
            created_at: now_rfc3339(),
            expires_at: None,
            description: Some("created on first start".into()),
            scopes: Vec::new(),
        };
        Ok(self.tokens.create(&record).await? == CreateOutcome::Created)
    }

    pub(super) async fn list_tokens(&self) -> Result<OriginResponse, ApiError> {
        let tokens: Vec<_> = self
            .tokens
            .list()
            .await?
            .iter()
            .map(describe_token)
            .collect();
        Ok(OriginResponse::json(200, json!({ "tokens": tokens })))
    }

    pub(super) async fn create_token(&self, body: RequestBody) -> Result<OriginResponse, ApiError> {
        let bytes = match body {
            RequestBody::Bytes(bytes) => bytes,
            RequestBody::Empty | RequestBody::File(_) => Vec::new(),
        };
        let request = parse_create_token(&bytes, now_unix())?;
        let value = mint_token_value();
        let record = TokenRecord {
            token_hash: hash_token(&value).as_hex().to_owned(),
            token_name: request.name,
            permission: request.permission,
            created_at: now_rfc3339(),
            expires_at: request.expires_at,
            description: request.description,
            scopes: request.scopes,
        };
        match self.tokens.create(&record).await? {
            CreateOutcome::Created => {
                tracing::info!(token = ?record.token_name, tier = %record.permission, "token created");
                let mut body = describe_token(&record);
                body["token_value"] = json!(value);
                Ok(OriginResponse::json(201, body))
            }
            CreateOutcome::NameTaken => Err(ApiError::new(
                409,
                "token_exists",
                format!("a token named {:?} already exists", record.token_name),
            )),
        }
    }

    /// `DELETE /v1/tokens/{name}`: `name` is the path segment as it came, percent-encoded.
    pub(super) async fn revoke_token(
        &self,
        raw_name: &str,
        caller: &str,
    ) -> Result<OriginResponse, ApiError> {
        let name = percent_decode_segment(raw_name).ok_or_else(|| {
            ApiError::new(
                400,
                "invalid_name",
                format!("the token name {raw_name:?} is not percent-encoded UTF-8"),
            )
        })?;
        let name = name.as_str();
        validate_token_name(name)?;
        if caller == name {
            return Err(ApiError::new(
                409,
                "revoking_own_token",
                "a token cannot revoke itself: use another master token",
            ));
        }
        if self.tokens.delete_by_name(name).await? {
            tracing::info!(token = ?name, "token revoked");
            // The Python registry's answer, word for word.
            Ok(OriginResponse::message(format!("Token '{name}' deleted")))
        } else {
            Err(ApiError::not_found(format!("no token named {name:?}")))
        }
    }
}

/// A path segment percent-decoded as URLs are (`%XX` is the byte `XX`; a `%` not followed by
/// two hex digits stays as it is), or `None` when the bytes are not UTF-8.
fn percent_decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3);
        match (bytes[i], hex) {
            (b'%', Some(hex)) if hex.iter().all(u8::is_ascii_hexdigit) => {
                let text = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(text, 16).ok()?);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

pub(super) fn describe_token(record: &TokenRecord) -> serde_json::Value {
    json!({
        "token_name": record.token_name,
        "permission": record.permission,
        "created_at": record.created_at,
        "expires_at": record.expires_at.and_then(unix_to_rfc3339),
        "description": record.description,
        "scopes": record.scopes,
    })
}

/// Scopes as stored: each valid, at most [`MAX_SCOPES`], sorted, without repeats.
pub(super) fn validate_scopes(mut scopes: Vec<String>) -> Result<Vec<String>, ApiError> {
    for scope in &scopes {
        validate_scope(scope).map_err(ApiError::bad_request)?;
    }
    scopes.sort();
    scopes.dedup();
    if scopes.len() > MAX_SCOPES {
        return Err(ApiError::bad_request(format!(
            "a token has at most {MAX_SCOPES} scopes, not {}",
            scopes.len()
        )));
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{code, json, TestRegistry};
    use super::percent_decode_segment;

    #[test]
    fn revocation_paths_are_percent_decoded() {
        let cases = [
            ("ci", Some("ci")),
            ("x%3Btier%3Dmaster", Some("x;tier=master")),
            ("J%C3%BCrgen%20%E2%9C%93", Some("Jürgen ✓")),
            ("a%2Fb", Some("a/b")),
            ("100%", Some("100%")),
            ("%zz", Some("%zz")),
            ("%FF", None),
        ];
        for (raw, decoded) in cases {
            assert_eq!(percent_decode_segment(raw).as_deref(), decoded, "{raw}");
        }
    }

    #[tokio::test]
    async fn names_users_already_have_are_created_listed_and_revoked_by_their_encoded_name() {
        let registry = TestRegistry::new();
        for (name, encoded) in [
            ("x;tier=master", "x%3Btier%3Dmaster"),
            ("CI deploy, prod=1", "CI%20deploy,%20prod=1"),
            ("Jürgen ✓", "J%C3%BCrgen%20%E2%9C%93"),
        ] {
            let body = serde_json::json!({"name": name, "permission": "downloader"}).to_string();
            let created = registry.as_master("POST", "/v1/tokens", &body).await;
            assert_eq!(created.status, 201, "{name}");
            assert_eq!(json(&created)["token_name"], name);
            let listed = registry.as_master("GET", "/v1/tokens", "").await;
            assert!(json(&listed)["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["token_name"] == name));
            let path = format!("/v1/tokens/{encoded}");
            let revoked = registry.as_master("DELETE", &path, "").await;
            assert_eq!(revoked.status, 200, "{name}");
            assert_eq!(json(&revoked)["message"], format!("Token '{name}' deleted"));
        }
        for (body, status) in [
            (r#"{"name":"a/b","permission":"downloader"}"#, 400),
            (r#"{"name":"","permission":"downloader"}"#, 400),
            (r#"{"name":"new\nline","permission":"downloader"}"#, 400),
        ] {
            let response = registry.as_master("POST", "/v1/tokens", body).await;
            assert_eq!(response.status, status, "{body}");
            assert_eq!(code(&response), "invalid_name", "{body}");
        }
        let response = registry.as_master("DELETE", "/v1/tokens/a%2Fb", "").await;
        assert_eq!(response.status, 400);
    }

    #[tokio::test]
    async fn the_master_token_is_made_once() {
        let registry = TestRegistry::new();
        let value = registry.registry.ensure_master_token().await.unwrap();
        assert!(value
            .as_deref()
            .is_some_and(|v| v.starts_with("tfr_") && v.len() == 68));
        assert_eq!(registry.registry.ensure_master_token().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_token_value_is_shown_once_and_never_listed() {
        let registry = TestRegistry::new();
        let created = registry
            .as_master(
                "POST",
                "/v1/tokens",
                r#"{"name":"ci","permission":"uploader","description":"CI"}"#,
            )
            .await;
        assert_eq!(created.status, 201);
        let value = json(&created)["token_value"].as_str().unwrap().to_owned();
        assert!(value.starts_with("tfr_"));
        let listed = registry.as_master("GET", "/v1/tokens", "").await;
        let text = String::from_utf8(listed.body.clone()).unwrap();
        assert!(!text.contains(&value));
        assert_eq!(json(&listed)["tokens"][0]["token_name"], "ci");
        assert_eq!(json(&listed)["tokens"][0]["permission"], "uploader");
        let again = registry
            .as_master(
                "POST",
                "/v1/tokens",
                r#"{"name":"ci","permission":"downloader"}"#,
            )
            .await;
        assert_eq!(again.status, 409);
        assert_eq!(code(&again), "token_exists");
    }

    #[tokio::test]
    async fn bad_token_requests_are_400_with_the_reason() {
        let registry = TestRegistry::new();
        let cases = [
            ("", "expected a JSON body"),
            (
                r#"{"name":"ci","permission":"admin"}"#,
                "unknown permission \"admin\"",
            ),
            (
                r#"{"name":"ci","permission":"uploader","expires_at":"tomorrow"}"#,
                "invalid expires_at",
            ),
            (
                r#"{"name":"ci","permission":"uploader","expires_at":"2001-01-01T00:00:00Z"}"#,
                "expires_at must be in the future",
            ),
            (
                r#"{"name":"ci","permission":"uploader","extra":1}"#,
                "unknown field",
            ),
        ];
        for (body, reason) in cases {
            let response = registry.as_master("POST", "/v1/tokens", body).await;
            assert_eq!(response.status, 400, "{body}");
            let message = json(&response)["errors"][0].as_str().unwrap().to_owned();
            assert!(message.contains(reason), "{body}: {message}");
        }
    }

    #[tokio::test]
    async fn revocation_is_200_with_a_message_then_404_and_never_of_the_callers_own_token() {
        let registry = TestRegistry::new();
        registry
            .as_master(
                "POST",
                "/v1/tokens",
                r#"{"name":"ci","permission":"uploader"}"#,
            )
            .await;
        let response = registry.as_master("DELETE", "/v1/tokens/ci", "").await;
        assert_eq!(response.status, 200);
        assert_eq!(
            json(&response),
            serde_json::json!({"message": "Token 'ci' deleted"})
        );
        let response = registry.as_master("DELETE", "/v1/tokens/ci", "").await;
        assert_eq!(response.status, 404);
        assert_eq!(code(&response), "not_found");
        let response = registry.as_master("DELETE", "/v1/tokens/admin", "").await;
        assert_eq!(response.status, 409);
        assert_eq!(code(&response), "revoking_own_token");
    }
}
