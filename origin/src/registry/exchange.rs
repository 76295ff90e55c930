//! `POST /v1/auth/{method}`: an identity proven another way exchanged for a short-lived token
//! ([`crate::auth`]). The exchange checks the proof and says what to grant; this issues the
//! token: a random value shown once, stored as a hash like any token, with the grant's tier and
//! scopes and an expiry (DynamoDB's TTL removes the item after it; `tfreg serve` sweeps expired
//! exchanged tokens as it issues new ones).

use super::clock::{now_rfc3339, now_unix, unix_to_rfc3339};
use super::tokens::{describe_token, mint_token_value, validate_scopes};
use super::{OriginResponse, Registry, RequestBody};
use crate::auth::aws::AwsExchanger;
use crate::auth::oidc::OidcExchanger;
use crate::auth::{AuthConfig, ExchangeError, Grant};
use crate::error::ApiError;
use crate::storage::{CreateOutcome, TokenRecord};
use rand::RngCore;
use serde_json::json;
use tfreg_edge::hash_token;

/// The exchanges this registry is configured with.
#[derive(Default)]
pub struct Exchangers {
    aws: Option<AwsExchanger>,
    oidc: Option<OidcExchanger>,
}

impl Exchangers {
    pub fn new(config: AuthConfig) -> Result<Self, String> {
        Ok(Exchangers {
            aws: config.aws.map(AwsExchanger::new).transpose()?,
            oidc: config.oidc.map(OidcExchanger::new).transpose()?,
        })
    }
}

impl Registry {
    pub(super) async fn exchange(
        &self,
        method: &str,
        body: RequestBody,
    ) -> Result<OriginResponse, ApiError> {
        let bytes = match body {
            RequestBody::Bytes(bytes) => bytes,
            RequestBody::Empty | RequestBody::File(_) => Vec::new(),
        };
        let now = now_unix();
        let granted = match method {
            "aws" => match &self.exchangers.aws {
                Some(aws) => aws.exchange(&bytes, now).await,
                None => Err(not_configured("aws")),
            },
            "oidc" => match &self.exchangers.oidc {
                Some(oidc) => oidc.exchange(&bytes, now).await,
                None => Err(not_configured("oidc")),
            },
            other => {
                return Err(ApiError::not_found(format!(
                    "no exchange {other:?}: use /v1/auth/aws or /v1/auth/oidc"
                )))
            }
        };
        match granted {
            Ok(grant) => self.issue_exchanged_token(method, grant).await,
            Err(error) => {
                tracing::info!(exchange = method, %error, "exchange refused");
                Err(exchange_error(error))
            }
        }
    }

    async fn issue_exchanged_token(
        &self,
        method: &str,
        grant: Grant,
    ) -> Result<OriginResponse, ApiError> {
        let scopes = validate_scopes(grant.scopes)?;
        let now = now_unix();
        let expires_at = now + grant.ttl_secs.min(crate::auth::MAX_EXCHANGED_TTL_SECS);
        self.tokens.purge_expired(now).await?;
        for _ in 0..4 {
            let mut id = [0u8; 8];
            rand::rngs::OsRng.fill_bytes(&mut id);
            let value = mint_token_value();
            let record = TokenRecord {
                token_hash: hash_token(&value).as_hex().to_owned(),
                token_name: format!("{method}-{}", hex::encode(id)),
                permission: grant.tier,
                created_at: now_rfc3339(),
                expires_at: Some(expires_at),
                description: Some(grant.subject.clone()),
                scopes: scopes.clone(),
            };
            if self.tokens.create(&record).await? == CreateOutcome::Created {
                tracing::info!(exchange = method, token = %record.token_name, subject = %grant.subject, tier = %record.permission, "token issued by exchange");
                let mut body = describe_token(&record);
                body["token_value"] = json!(value);
                body["expires_in"] = json!(expires_at - now);
                body["expires_at"] = json!(unix_to_rfc3339(expires_at));
                return Ok(OriginResponse::json(201, body));
            }
        }
        Err(ApiError::new(
            503,
            "token_name_collision",
            "could not name the new token; try again",
        ))
    }
}

fn not_configured(method: &str) -> ExchangeError {
    ExchangeError::NotConfigured(format!(
        "the {method} exchange is not configured on this registry (its trust rules are set with `tfreg serve --auth-config`, or the deployment's trust rule variables)"
    ))
}

fn exchange_error(error: ExchangeError) -> ApiError {
    match error {
        ExchangeError::NotConfigured(message) => {
            ApiError::new(404, "exchange_not_configured", message)
        }
        ExchangeError::Malformed(message) => ApiError::new(400, "malformed_exchange", message),
        ExchangeError::Refused(message) => ApiError::new(401, "exchange_refused", message),
        ExchangeError::Upstream(message) => {
            ApiError::new(502, "identity_provider_unreachable", message)
        }
    }
}
