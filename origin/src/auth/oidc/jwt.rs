//! A JWT taken apart and checked: its shape and header before anything is trusted, its
//! signature against the issuer's key, then its registered claims against the clock.
//!
//! The header is read here rather than by the signature library so that the only algorithms
//! ever considered are RS256 and ES256: `none` (no signature at all) and the HMAC family (where
//! a verifier handed an RSA public key would treat its bytes as the shared secret, the classic
//! key-confusion forgery) are refused before any key is looked at.

use super::jwks::{IssuerKey, KeyKind};
use crate::auth::ExchangeError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

/// The algorithms this registry accepts, and the key each needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAlg {
    Rs256,
    Es256,
}

impl TokenAlg {
    fn parse(alg: &str) -> Result<Self, ExchangeError> {
        match alg {
            "RS256" => Ok(TokenAlg::Rs256),
            "ES256" => Ok(TokenAlg::Es256),
            other => Err(refused(format!(
                "the token's algorithm {} is not accepted: only RS256 and ES256 are",
                shown(other)
            ))),
        }
    }

    fn key_kind(self) -> KeyKind {
        match self {
            TokenAlg::Rs256 => KeyKind::Rsa,
            TokenAlg::Es256 => KeyKind::EcP256,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TokenAlg::Rs256 => "RS256",
            TokenAlg::Es256 => "ES256",
        }
    }

    fn library_alg(self) -> Algorithm {
        match self {
            TokenAlg::Rs256 => Algorithm::RS256,
            TokenAlg::Es256 => Algorithm::ES256,
        }
    }
}

/// A token whose shape is right and whose header names an accepted algorithm; nothing in it
/// is verified yet.
#[derive(Debug)]
pub struct UnverifiedToken<'a> {
    raw: &'a str,
    pub alg: TokenAlg,
    pub kid: String,
    /// The claims, to pick the issuer's settings by `iss`; trusted only after
    /// [`UnverifiedToken::verify`].
    pub claims: Map<String, Value>,
}

/// Splits and decodes `raw`: three base64url parts, a JSON header with an accepted `alg` and
/// a `kid`, a JSON object of claims.
pub fn parse(raw: &str) -> Result<UnverifiedToken<'_>, ExchangeError> {
    let parts: Vec<&str> = raw.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(refused(format!(
            "the token is not a signed JWT (expected 3 dot-separated parts, found {})",
            parts.len()
        )));
    };
    let header = decode_object(header, "header")?;
    if header.contains_key("crit") {
        return Err(refused(
            "the token's header has critical extensions (crit), which are not supported".into(),
        ));
    }
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => TokenAlg::parse(alg)?,
        _ => return Err(refused("the token's header has no algorithm (alg)".into())),
    };
    let kid = match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= 256 => kid.clone(),
        _ => return Err(refused("the token's header names no key (kid)".into())),
    };
    if signature.is_empty() {
        return Err(refused("the token has no signature".into()));
    }
    let claims = decode_object(payload, "payload")?;
    Ok(UnverifiedToken {
        raw,
        alg,
        kid,
        claims,
    })
}

fn decode_object(part: &str, what: &str) -> Result<Map<String, Value>, ExchangeError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| refused(format!("the token's {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(refused(format!("the token's {what} is not a JSON object"))),
    }
}

impl UnverifiedToken<'_> {
    /// Checks the signature with `key`, which must be of the kind the algorithm needs.
    pub fn verify(&self, key: &IssuerKey) -> Result<(), ExchangeError> {
        if key.kind != self.alg.key_kind() || !key.allows(self.alg.name()) {
            return Err(refused(format!(
                "the token is signed with {} but its key {} is an {} key for {}",
                self.alg.name(),
                shown(&self.kid),
                key.kind.name(),
                key.alg.as_deref().unwrap_or("any algorithm"),
            )));
        }
        let mut validation = Validation::new(self.alg.library_alg());
        // Only the signature is the library's to check (it also refuses a key of another family
        // than the algorithm): the claims are checked below, against the caller's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(self.raw, &key.decoding_key, &validation)
            .map(|_| ())
            .map_err(|_| refused("the token's signature does not verify".into()))
    }
}

/// The registered claims' checks, after the signature verified.
pub struct ClaimChecks<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub now: u64,
    pub leeway: u64,
}

impl ClaimChecks<'_> {
    pub fn check(&self, claims: &Map<String, Value>) -> Result<(), ExchangeError> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer) {
            return Err(refused("the token's issuer (iss) is not trusted".into()));
        }
        self.check_audience(claims.get("aud"))?;
        let now = self.now as f64;
        let leeway = self.leeway as f64;
        match numeric_date(claims, "exp")? {
            None => return Err(refused("the token has no expiry (exp)".into())),
            Some(exp) if now > exp + leeway => {
                return Err(refused("the token has expired (exp)".into()))
            }
            Some(_) => {}
        }
        if let Some(nbf) = numeric_date(claims, "nbf")? {
            if now + leeway < nbf {
                return Err(refused("the token is not valid yet (nbf)".into()));
            }
        }
        if let Some(iat) = numeric_date(claims, "iat")? {
            if now + leeway < iat {
                return Err(refused("the token was issued in the future (iat)".into()));
            }
        }
        Ok(())
    }

    fn check_audience(&self, aud: Option<&Value>) -> Result<(), ExchangeError> {
        let matches = match aud {
            Some(Value::String(aud)) => aud == self.audience,
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(self.audience)),
            _ => false,
        };
        if matches {
            Ok(())
        } else {
            Err(refused(format!(
                "the token's audience (aud) is not {}: ask the CI for a token with that audience",
                shown(self.audience)
            )))
        }
    }
}

/// A NumericDate claim (seconds, possibly fractional), if present.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, ExchangeError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|date| date.is_finite())
            .map(Some)
            .ok_or_else(|| refused(format!("the token's {name} is not a number of seconds"))),
    }
}

pub fn refused(message: String) -> ExchangeError {
    ExchangeError::Refused(message)
}

/// A value from the token as it may appear in a message: quoted, escaped, and short.
pub fn shown(value: &str) -> String {
    const LIMIT: usize = 80;
    if value.chars().count() <= LIMIT {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(LIMIT).collect();
        format!("{head:?}…")
    }
}
