//! The CI OIDC exchange (`POST /v1/auth/oidc`). Being written.

use super::{ExchangeError, Grant, TrustTarget};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Settings of the OIDC exchange.
#[derive(Debug, Clone, Deserialize)]
pub struct OidcAuthConfig {
    pub issuers: Vec<OidcIssuer>,
}

/// A trusted issuer, the audience its tokens must carry, and its trust rules.
#[derive(Debug, Clone, Deserialize)]
pub struct OidcIssuer {
    pub issuer: String,
    pub audience: String,
    pub rules: Vec<OidcTrustRule>,
}

/// Claim conditions (globs, all must match) and what they grant.
#[derive(Debug, Clone, Deserialize)]
pub struct OidcTrustRule {
    pub claims: BTreeMap<String, String>,
    #[serde(flatten)]
    pub grant: TrustTarget,
}

/// Checks exchange requests against an [`OidcAuthConfig`].
pub struct OidcExchanger {
    config: OidcAuthConfig,
}

impl OidcExchanger {
    pub fn new(config: OidcAuthConfig) -> Result<Self, String> {
        Ok(OidcExchanger { config })
    }

    pub fn config(&self) -> &OidcAuthConfig {
        &self.config
    }

    /// The grant for the exchange request `body`, checked at `now` (seconds since the Unix
    /// epoch).
    pub async fn exchange(&self, body: &[u8], now: u64) -> Result<Grant, ExchangeError> {
        let _ = (body, now);
        Err(ExchangeError::NotConfigured(
            "this exchange is not built yet".into(),
        ))
    }
}
