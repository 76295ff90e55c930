//! The CI OIDC exchange (`POST /v1/auth/oidc`): a CI identity token (GitHub Actions, GitLab
//! CI, any OpenID Connect issuer) in, a [`Grant`] out.
//!
//! The request body is `{"token": "<JWT>"}`. The token's `iss` (read unverified, only to pick
//! the configured issuer) selects whose keys verify it; then its signature (RS256 or ES256,
//! [`jwt`]) against the issuer's published keys ([`jwks`]), its `iss`, `aud`, `exp`, `nbf` and
//! `iat`, and finally the issuer's trust rules in order ([`rules`]): the first rule whose every
//! claim pattern matches grants its tier, scopes and lifetime.
//!
//! - [`config`]: the settings and their checks at start-up.
//! - [`jwt`]: the token's shape, header, signature and registered claims.
//! - [`jwks`]: the issuer's keys, fetched through discovery and cached with bounds.
//! - [`rules`]: matching claims against trust rules.
//!
//! Tokens are never logged nor echoed; messages name what was wrong with them.

pub mod config;
pub mod jwks;
pub mod jwt;
pub mod rules;
#[cfg(test)]
mod tests;

pub use config::{OidcAuthConfig, OidcIssuer, OidcTrustRule};

use super::{ExchangeError, Grant};
use jwks::IssuerKeys;
use jwt::{refused, shown, ClaimChecks};
use serde::Deserialize;

/// Checks exchange requests against an [`OidcAuthConfig`].
pub struct OidcExchanger {
    config: OidcAuthConfig,
    /// One per configured issuer, in the same order.
    keys: Vec<IssuerKeys>,
}

/// The exchange request.
#[derive(Deserialize)]
struct ExchangeRequest {
    token: String,
}

/// Room for the JSON around the token in a request body.
const BODY_OVERHEAD_BYTES: usize = 1024;

impl OidcExchanger {
    /// Checks the settings (issuer URLs, rules, CA bundles) and prepares each issuer's client;
    /// nothing is fetched until the first exchange.
    pub fn new(config: OidcAuthConfig) -> Result<Self, String> {
        config.validate()?;
        let keys = config
            .issuers
            .iter()
            .map(IssuerKeys::new)
            .collect::<Result<_, _>>()?;
        Ok(OidcExchanger { config, keys })
    }

    pub fn config(&self) -> &OidcAuthConfig {
        &self.config
    }

    /// The grant for the exchange request `body`, checked at `now` (seconds since the Unix
    /// epoch).
    pub async fn exchange(&self, body: &[u8], now: u64) -> Result<Grant, ExchangeError> {
        let token = self.read_request(body)?;
        let token = jwt::parse(&token)?;
        let (index, issuer) = self.issuer_of(&token.claims)?;
        let key = self.keys[index].key(&token.kid, now).await?;
        token.verify(&key)?;
        let claims = &token.claims;
        ClaimChecks {
            issuer: &issuer.issuer,
            audience: &issuer.audience,
            now,
            leeway: issuer.leeway_secs,
        }
        .check(claims)?;
        let sub = match claims.get("sub").and_then(|sub| sub.as_str()) {
            Some(sub) if !sub.is_empty() => sub,
            _ => return Err(refused("the token has no subject (sub)".into())),
        };
        let subject = format!("oidc:{} sub={sub}", issuer.issuer);
        let Some((rule, matched)) = rules::first_match(&issuer.rules, claims) else {
            tracing::info!(%subject, "OIDC exchange refused: no trust rule matches");
            return Err(refused(format!(
                "no trust rule of this registry matches the token of {subject}"
            )));
        };
        tracing::info!(%subject, rule = rule + 1, tier = matched.grant.tier.as_str(), "OIDC exchange granted");
        Ok(matched.grant.grant(subject))
    }

    /// The token from the request body, refusing an oversized one before parsing anything.
    fn read_request(&self, body: &[u8]) -> Result<String, ExchangeError> {
        let max = self.config.max_token_bytes;
        if body.len() > max + BODY_OVERHEAD_BYTES {
            return Err(refused(format!("the token is larger than {max} bytes")));
        }
        let request: ExchangeRequest = serde_json::from_slice(body).map_err(|_| {
            ExchangeError::Malformed(
                r#"the request body must be JSON: {"token": "<the CI's OIDC identity token>"}"#
                    .into(),
            )
        })?;
        if request.token.len() > max {
            return Err(refused(format!("the token is larger than {max} bytes")));
        }
        Ok(request.token)
    }

    /// The configured issuer the token claims to come from (not yet verified).
    fn issuer_of(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(usize, &OidcIssuer), ExchangeError> {
        let Some(iss) = claims.get("iss").and_then(|iss| iss.as_str()) else {
            return Err(refused("the token names no issuer (iss)".into()));
        };
        self.config
            .issuers
            .iter()
            .enumerate()
            .find(|(_, issuer)| issuer.issuer == iss)
            .ok_or_else(|| {
                refused(format!(
                    "tokens of issuer {} are not trusted by this registry",
                    shown(iss)
                ))
            })
    }
}
