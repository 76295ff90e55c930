//! The AWS IAM exchange (`POST /v1/auth/aws`). Being written.

use super::{ExchangeError, Grant, TrustTarget};
use serde::Deserialize;

/// Settings of the AWS IAM exchange.
#[derive(Debug, Clone, Deserialize)]
pub struct AwsAuthConfig {
    /// Trust rules, tried in order: the first whose ARN pattern matches grants.
    pub rules: Vec<AwsTrustRule>,
}

/// A caller ARN pattern and what it grants.
#[derive(Debug, Clone, Deserialize)]
pub struct AwsTrustRule {
    pub arn: String,
    #[serde(flatten)]
    pub grant: TrustTarget,
}

/// Checks exchange requests against an [`AwsAuthConfig`].
pub struct AwsExchanger {
    config: AwsAuthConfig,
}

impl AwsExchanger {
    pub fn new(config: AwsAuthConfig) -> Result<Self, String> {
        Ok(AwsExchanger { config })
    }

    pub fn config(&self) -> &AwsAuthConfig {
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
