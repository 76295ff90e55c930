//! The OIDC exchange's settings, as the auth configuration file spells them, and their checks
//! at start-up: a mistake in a trust rule must stop the registry, not widen what it trusts.

use crate::auth::TrustTarget;
use crate::proxy::CaBundle;
use reqwest::Url;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use tfreg_edge::Tier;

/// Tokens longer than this are refused before they are parsed. GitHub's and GitLab's are
/// 1-2 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;
/// How long an issuer's keys are used before they are fetched again.
pub const DEFAULT_JWKS_CACHE_SECS: u64 = 3600;
/// The fewest seconds between two fetches of one issuer's keys, whatever tokens arrive.
pub const DEFAULT_JWKS_MIN_REFETCH_SECS: u64 = 60;
/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// Settings of the OIDC exchange: the `oidc` object of the auth configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcAuthConfig {
    pub issuers: Vec<OidcIssuer>,
    /// Bytes; 1 KiB to 64 KiB (default 16 KiB).
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
}

/// A trusted issuer, the audience its tokens must carry, and its trust rules (tried in order).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcIssuer {
    /// The issuer's URL exactly as tokens carry it in `iss` (`https://` only); its keys are
    /// found through `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub audience: String,
    pub rules: Vec<OidcTrustRule>,
    /// Certificates (PEM text, or the path of a PEM file) trusted for this issuer beside the
    /// platform's roots: a private issuer behind its own CA.
    #[serde(default)]
    pub ca_bundle: Option<String>,
    /// Seconds, 60 to 86,400 (default 3,600).
    #[serde(default = "default_jwks_cache_secs")]
    pub jwks_cache_secs: u64,
    /// Seconds, 1 to 3,600 (default 60): a token naming a key the cache does not hold makes
    /// the keys be fetched again at most this often.
    #[serde(default = "default_jwks_min_refetch_secs")]
    pub jwks_min_refetch_secs: u64,
    /// Seconds, 0 to 300 (default 60).
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
}

/// Claim conditions (globs, all must match) and what they grant.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawTrustRule")]
pub struct OidcTrustRule {
    pub claims: BTreeMap<String, String>,
    pub grant: TrustTarget,
}

/// A rule as written: the grant's fields beside `claims`. Spelled out (not flattened) so that
/// an unknown field, such as a misspelt `scopes` that would silently grant every module, is an
/// error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrustRule {
    claims: BTreeMap<String, String>,
    tier: Tier,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default = "default_ttl_secs")]
    ttl_secs: u64,
}

impl TryFrom<RawTrustRule> for OidcTrustRule {
    type Error = String;

    fn try_from(raw: RawTrustRule) -> Result<Self, String> {
        Ok(OidcTrustRule {
            claims: raw.claims,
            grant: TrustTarget {
                tier: raw.tier,
                scopes: raw.scopes,
                ttl_secs: raw.ttl_secs,
            },
        })
    }
}

fn default_max_token_bytes() -> usize {
    DEFAULT_MAX_TOKEN_BYTES
}
fn default_jwks_cache_secs() -> u64 {
    DEFAULT_JWKS_CACHE_SECS
}
fn default_jwks_min_refetch_secs() -> u64 {
    DEFAULT_JWKS_MIN_REFETCH_SECS
}
fn default_leeway_secs() -> u64 {
    DEFAULT_LEEWAY_SECS
}
fn default_ttl_secs() -> u64 {
    900
}

impl OidcAuthConfig {
    /// Checks every setting; the message names the issuer and rule at fault.
    pub fn validate(&self) -> Result<(), String> {
        if !(1024..=64 * 1024).contains(&self.max_token_bytes) {
            return Err(format!(
                "oidc.max_token_bytes must be 1024 to 65536, not {}",
                self.max_token_bytes
            ));
        }
        if self.issuers.is_empty() {
            return Err("oidc.issuers is empty: name at least one trusted issuer".into());
        }
        let mut seen = HashSet::new();
        for issuer in &self.issuers {
            issuer.validate()?;
            if !seen.insert(issuer.issuer.as_str()) {
                return Err(format!(
                    "oidc.issuers names {} twice: put all its rules in one entry",
                    issuer.issuer
                ));
            }
        }
        Ok(())
    }
}

impl OidcIssuer {
    fn validate(&self) -> Result<(), String> {
        let name = &self.issuer;
        check_issuer_url(name)?;
        if self.audience.trim().is_empty() {
            return Err(format!("oidc issuer {name}: audience is empty"));
        }
        check_range(name, "jwks_cache_secs", self.jwks_cache_secs, 60, 86_400)?;
        check_range(
            name,
            "jwks_min_refetch_secs",
            self.jwks_min_refetch_secs,
            1,
            3600,
        )?;
        check_range(name, "leeway_secs", self.leeway_secs, 0, 300)?;
        if self.rules.is_empty() {
            return Err(format!("oidc issuer {name}: rules is empty"));
        }
        for (index, rule) in self.rules.iter().enumerate() {
            rule.validate()
                .map_err(|e| format!("oidc issuer {name}, rule {}: {e}", index + 1))?;
        }
        self.read_ca_bundle()?;
        Ok(())
    }

    /// The issuer's extra trusted certificates, if any.
    pub fn read_ca_bundle(&self) -> Result<Option<CaBundle>, String> {
        self.ca_bundle
            .as_deref()
            .map(|value| CaBundle::read("ca_bundle", value))
            .transpose()
            .map_err(|e| format!("oidc issuer {}: {e}", self.issuer))
    }

    /// `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }
}

fn check_issuer_url(issuer: &str) -> Result<(), String> {
    let url =
        Url::parse(issuer).map_err(|e| format!("oidc issuer {issuer:?} is not a URL: {e}"))?;
    // The keys that prove every token come from here: plain HTTP would let anyone on the path
    // hand the registry their own keys.
    if url.scheme() != "https" {
        return Err(format!(
            "oidc issuer {issuer}: only https:// issuers are trusted"
        ));
    }
    if url.host_str().is_none_or(str::is_empty)
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(format!(
            "oidc issuer {issuer}: must be a plain https URL (a host, an optional path; no query, fragment or credentials)"
        ));
    }
    Ok(())
}

fn check_range(issuer: &str, field: &str, value: u64, min: u64, max: u64) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "oidc issuer {issuer}: {field} must be {min} to {max}, not {value}"
        ))
    }
}

impl OidcTrustRule {
    fn validate(&self) -> Result<(), String> {
        // A rule that constrains nothing would trust every token the issuer signs: for a
        // public CI service, every repository of every user.
        let constrains = self
            .claims
            .values()
            .any(|pattern| pattern.chars().any(|c| c != '*'));
        if !constrains {
            return Err(
                "claims must constrain at least one claim with a pattern other than `*` (for example `repository` or `project_path`)"
                    .into(),
            );
        }
        if let Some(name) = self.claims.keys().find(|name| name.trim().is_empty()) {
            return Err(format!("claim name {name:?} is empty"));
        }
        let ttl = self.grant.ttl_secs;
        if !(60..=crate::auth::MAX_EXCHANGED_TTL_SECS).contains(&ttl) {
            return Err(format!("ttl_secs must be 60 to 3600, not {ttl}"));
        }
        for scope in &self.grant.scopes {
            check_scope(scope)?;
        }
        Ok(())
    }
}

/// A module prefix on whole segments: `acme`, `acme/network`, `acme/network/aws`.
fn check_scope(scope: &str) -> Result<(), String> {
    let segments: Vec<&str> = scope.split('/').collect();
    if segments.len() > 3 || segments.iter().any(|s| s.is_empty() || s.contains('*')) {
        return Err(format!(
            "scope {scope:?} is not a module prefix (`namespace`, `namespace/name` or `namespace/name/system`)"
        ));
    }
    Ok(())
}
