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
use tfreg_edge::{hash_token, Tier};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A new token value: a prefix that secret scanners can match, and 256 random bits.
fn mint_token_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("tfr_{}", hex::encode(bytes))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTokenRequest {
    name: String,
    permission: String,
    #[serde(default)]
    description: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    expires_at: Option<String>,
}

impl Registry {
    /// Creates the master token if none exists and returns its value, which is never
    /// recoverable afterwards. `None` when a master token already exists.
    pub async fn ensure_master_token(&self) -> Result<Option<String>, ApiError> {
        if self.tokens.find_by_name(MASTER_TOKEN_NAME).await?.is_some() {
            return Ok(None);
        }
        let value = mint_token_value();
        let record = TokenRecord {
            token_hash: hash_token(&value).as_hex().to_owned(),
            token_name: MASTER_TOKEN_NAME.into(),
            permission: Tier::Master,
            created_at: now_rfc3339(),
            expires_at: None,
            description: Some("created on first start".into()),
        };
        match self.tokens.create(&record).await? {
            CreateOutcome::Created => Ok(Some(value)),
            CreateOutcome::NameTaken => Ok(None),
        }
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
        let request: CreateTokenRequest = serde_json::from_slice(&bytes).map_err(|e| {
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
                if seconds <= now_unix() {
                    return Err(ApiError::bad_request("expires_at must be in the future"));
                }
                Some(seconds)
            }
        };
        let value = mint_token_value();
        let record = TokenRecord {
            token_hash: hash_token(&value).as_hex().to_owned(),
            token_name: request.name,
            permission,
            created_at: now_rfc3339(),
            expires_at,
            description: request.description,
        };
        match self.tokens.create(&record).await? {
            CreateOutcome::Created => {
                tracing::info!(token = %record.token_name, tier = %record.permission, "token created");
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

    pub(super) async fn revoke_token(
        &self,
        name: &str,
        caller: &str,
    ) -> Result<OriginResponse, ApiError> {
        validate_token_name(name)?;
        if caller == name {
            return Err(ApiError::new(
                409,
                "revoking_own_token",
                "a token cannot revoke itself: use another master token",
            ));
        }
        if self.tokens.delete_by_name(name).await? {
            tracing::info!(token = %name, "token revoked");
            Ok(OriginResponse::no_content())
        } else {
            Err(ApiError::not_found(format!("no token named {name:?}")))
        }
    }
}

fn describe_token(record: &TokenRecord) -> serde_json::Value {
    json!({
        "token_name": record.token_name,
        "permission": record.permission,
        "created_at": record.created_at,
        "expires_at": record.expires_at.and_then(unix_to_rfc3339),
        "description": record.description,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{code, json, TestRegistry};

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
    async fn revocation_is_204_then_404_and_never_of_the_callers_own_token() {
        let registry = TestRegistry::new();
        registry
            .as_master(
                "POST",
                "/v1/tokens",
                r#"{"name":"ci","permission":"uploader"}"#,
            )
            .await;
        assert_eq!(
            registry
                .as_master("DELETE", "/v1/tokens/ci", "")
                .await
                .status,
            204
        );
        let response = registry.as_master("DELETE", "/v1/tokens/ci", "").await;
        assert_eq!(response.status, 404);
        let response = registry.as_master("DELETE", "/v1/tokens/admin", "").await;
        assert_eq!(response.status, 409);
        assert_eq!(code(&response), "revoking_own_token");
    }
}
