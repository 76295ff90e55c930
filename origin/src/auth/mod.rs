//! Exchanges: an identity proven another way (a signed AWS STS `GetCallerIdentity` request, a
//! CI's OIDC identity token) traded for a short-lived registry token, so that nothing static
//! is written down. Each exchange checks its proof, matches the identity against the trust
//! rules of the configuration, and answers a [`Grant`]: the tier, scopes and lifetime of the
//! token the registry then issues (`POST /v1/auth/aws`, `POST /v1/auth/oidc`).

pub mod aws;
pub mod oidc;

use serde::Deserialize;
use tfreg_edge::Tier;

/// The longest an exchanged token lives: one hour.
pub const MAX_EXCHANGED_TTL_SECS: u64 = 3600;

/// What an exchange grants: the token the registry issues for a proven identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Who was proven, shown as the token's description (an ARN; `iss` and `sub` of an OIDC
    /// token). Never a secret.
    pub subject: String,
    pub tier: Tier,
    /// Module prefixes the token is limited to (empty: every module).
    pub scopes: Vec<String>,
    /// Seconds; at most [`MAX_EXCHANGED_TTL_SECS`].
    pub ttl_secs: u64,
}

/// What a trust rule grants when it matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TrustTarget {
    pub tier: Tier,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Seconds, 60 to 3600 (default 900).
    #[serde(default = "default_ttl_secs")]
    pub ttl_secs: u64,
}

fn default_ttl_secs() -> u64 {
    900
}

impl TrustTarget {
    pub fn grant(&self, subject: String) -> Grant {
        Grant {
            subject,
            tier: self.tier,
            scopes: self.scopes.clone(),
            ttl_secs: self.ttl_secs.min(MAX_EXCHANGED_TTL_SECS),
        }
    }
}

/// Why an exchange gave nothing. The message is for the caller: it says what was wrong with
/// the proof, never echoing a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The exchange is not configured on this registry (`404`).
    #[error("{0}")]
    NotConfigured(String),
    /// The request is not a well-formed exchange request (`400`).
    #[error("{0}")]
    Malformed(String),
    /// The proof is invalid, stale, for someone else, or matches no trust rule (`401`).
    #[error("{0}")]
    Refused(String),
    /// The identity provider (STS, the issuer's keys) could not be reached (`502`).
    #[error("{0}")]
    Upstream(String),
}

/// The exchanges' settings: `tfreg serve --auth-config FILE` and the origin Lambda's
/// `TFREG_AUTH_CONFIG`, the same JSON.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub aws: Option<aws::AwsAuthConfig>,
    #[serde(default)]
    pub oidc: Option<oidc::OidcAuthConfig>,
}

impl AuthConfig {
    /// Reads the JSON of `tfreg serve --auth-config` and `TFREG_AUTH_CONFIG`.
    pub fn from_json(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("invalid exchange settings: {e}"))
    }
}

/// Whether `text` matches `pattern`, where `*` is any run of characters (`/` included) and
/// every other character matches itself. Trust rules match ARNs and claims with it.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    // The classic two-pointer match with one backtrack point: linear, no recursion.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_and_nothing_else() {
        assert!(glob_match(
            "arn:aws:iam::123:role/ci-*",
            "arn:aws:iam::123:role/ci-deploy"
        ));
        assert!(glob_match(
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/infra:ref:refs/heads/main"
        ));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "a-b-b-c"));
        assert!(!glob_match(
            "arn:aws:iam::123:role/ci-*",
            "arn:aws:iam::1234:role/ci-deploy"
        ));
        assert!(!glob_match("main", "main2"));
        assert!(!glob_match("a*c", "ab"));
    }

    #[test]
    fn an_exchanged_token_lives_at_most_an_hour() {
        let target = TrustTarget {
            tier: Tier::Uploader,
            scopes: vec!["acme".into()],
            ttl_secs: 86_400,
        };
        assert_eq!(target.grant("me".into()).ttl_secs, MAX_EXCHANGED_TTL_SECS);
    }
}
