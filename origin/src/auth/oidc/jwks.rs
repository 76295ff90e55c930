//! An issuer's signing keys: found through its discovery document, fetched over HTTPS, and
//! cached with bounds on time, count and size.
//!
//! Tokens choose which issuer's keys are looked at (by `iss`, among the configured issuers
//! only) and which key (by `kid`), so a stream of tokens naming made-up keys must not turn
//! into a stream of fetches: a key the cache does not hold causes one refetch, and then no
//! other fetch of that issuer for `jwks_min_refetch_secs`.

use super::config::OidcIssuer;
use crate::auth::ExchangeError;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::DecodingKey;
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// At most this many keys of one issuer are kept (GitHub publishes 2-4 at a time).
pub const MAX_KEYS_PER_ISSUER: usize = 32;
/// Discovery documents and JWKS larger than this are not read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    EcP256,
}

impl KeyKind {
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::EcP256 => "EC P-256",
        }
    }
}

/// One verification key of an issuer.
pub struct IssuerKey {
    pub kind: KeyKind,
    /// The JWK's `alg`, when it names one: the key is then used for that algorithm only.
    pub alg: Option<String>,
    pub decoding_key: DecodingKey,
}

impl IssuerKey {
    pub fn allows(&self, alg: &str) -> bool {
        self.alg.as_deref().is_none_or(|own| own == alg)
    }
}

/// The keys of one issuer, as last fetched.
struct KeySet {
    keys: HashMap<String, Arc<IssuerKey>>,
    fetched_at: u64,
}

#[derive(Default)]
struct CacheState {
    keys: Option<KeySet>,
    /// When the last fetch was tried, successful or not.
    last_attempt: Option<u64>,
}

/// The cached keys of one issuer and the client that fetches them.
pub struct IssuerKeys {
    discovery_url: String,
    issuer: String,
    cache_secs: u64,
    min_refetch_secs: u64,
    http: reqwest::Client,
    // An async lock held across the fetch: concurrent exchanges wait for one fetch instead of
    // each starting their own.
    state: Mutex<CacheState>,
}

impl IssuerKeys {
    pub fn new(config: &OidcIssuer) -> Result<Self, String> {
        Ok(IssuerKeys {
            discovery_url: config.discovery_url(),
            issuer: config.issuer.clone(),
            cache_secs: config.jwks_cache_secs,
            min_refetch_secs: config.jwks_min_refetch_secs,
            http: http_client(config)?,
            state: Mutex::new(CacheState::default()),
        })
    }

    /// The key named `kid`, from the cache or, if it is stale or lacks the key and the last
    /// fetch is old enough, from the issuer.
    pub async fn key(&self, kid: &str, now: u64) -> Result<Arc<IssuerKey>, ExchangeError> {
        let mut state = self.state.lock().await;
        let fresh = state
            .keys
            .as_ref()
            .is_some_and(|set| now < set.fetched_at.saturating_add(self.cache_secs));
        if fresh {
            if let Some(key) = state.keys.as_ref().and_then(|set| set.keys.get(kid)) {
                return Ok(key.clone());
            }
        }
        let may_fetch = state
            .last_attempt
            .is_none_or(|last| now >= last.saturating_add(self.min_refetch_secs));
        if may_fetch {
            state.last_attempt = Some(now);
            let keys = self.fetch().await?;
            state.keys = Some(KeySet {
                keys,
                fetched_at: now,
            });
        } else if !fresh {
            return Err(ExchangeError::Upstream(format!(
                "the keys of {} could not be fetched recently; try again in a minute",
                self.issuer
            )));
        }
        state
            .keys
            .as_ref()
            .and_then(|set| set.keys.get(kid))
            .cloned()
            .ok_or_else(|| {
                ExchangeError::Refused(format!(
                    "the token's key {} is not among the keys of {}",
                    super::jwt::shown(kid),
                    self.issuer
                ))
            })
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<IssuerKey>>, ExchangeError> {
        let discovery: Discovery = self.get_json(&self.discovery_url).await?;
        // OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer it was
        // fetched for.
        if discovery.issuer.trim_end_matches('/') != self.issuer.trim_end_matches('/') {
            return Err(self.upstream(format!(
                "its discovery document names another issuer ({})",
                super::jwt::shown(&discovery.issuer)
            )));
        }
        let jwks_uri = Url::parse(&discovery.jwks_uri)
            .ok()
            .filter(|url| url.scheme() == "https")
            .ok_or_else(|| self.upstream("its jwks_uri is not an https URL".into()))?;
        let jwks: JwkSetDocument = self.get_json(jwks_uri.as_str()).await?;
        let keys = usable_keys(jwks.keys);
        tracing::info!(issuer = %self.issuer, keys = keys.len(), "fetched OIDC issuer keys");
        Ok(keys)
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, url: &str) -> Result<T, ExchangeError> {
        let mut response = self.http.get(url).send().await.map_err(|e| {
            self.upstream(format!("{url} could not be fetched: {}", error_chain(&e)))
        })?;
        if !response.status().is_success() {
            return Err(self.upstream(format!("{url} answered {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.upstream(format!("{url} could not be read: {e}")))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(
                    self.upstream(format!("{url} is larger than {MAX_DOCUMENT_BYTES} bytes"))
                );
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map_err(|e| self.upstream(format!("{url} is not the expected JSON: {e}")))
    }

    fn upstream(&self, message: String) -> ExchangeError {
        tracing::warn!(issuer = %self.issuer, "OIDC issuer keys: {message}");
        ExchangeError::Upstream(format!(
            "the keys of OIDC issuer {} are unavailable: {message}",
            self.issuer
        ))
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct JwkSetDocument {
    // Each key on its own: one key of a type this registry does not know must not make the
    // others unusable.
    keys: Vec<Value>,
}

/// The RSA and P-256 signing keys of a JWKS that have a `kid`, the first
/// [`MAX_KEYS_PER_ISSUER`] of them.
fn usable_keys(keys: Vec<Value>) -> HashMap<String, Arc<IssuerKey>> {
    keys.into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone().filter(|kid| !kid.is_empty())?;
            Some((kid, Arc::new(issuer_key(&jwk)?)))
        })
        .take(MAX_KEYS_PER_ISSUER)
        .collect()
}

fn issuer_key(jwk: &Jwk) -> Option<IssuerKey> {
    if matches!(&jwk.common.public_key_use, Some(usage) if *usage != PublicKeyUse::Signature) {
        return None;
    }
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyKind::Rsa,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            KeyKind::EcP256
        }
        _ => return None,
    };
    let alg = jwk
        .common
        .key_algorithm
        .map(|alg| format!("{alg:?}").to_uppercase());
    Some(IssuerKey {
        kind,
        alg,
        decoding_key: DecodingKey::from_jwk(jwk).ok()?,
    })
}

/// A client for one issuer: the platform's roots and the issuer's own CA bundle, bounded in
/// time, no redirects, no proxy from the environment.
fn http_client(config: &OidcIssuer) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .tls_built_in_native_certs(true)
        .tls_built_in_webpki_certs(true);
    for certificate in config
        .read_ca_bundle()?
        .iter()
        .flat_map(|bundle| bundle.certificates.iter())
    {
        builder = builder.add_root_certificate(certificate.clone());
    }
    builder
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .user_agent(concat!(
            "tfreg/",
            env!("CARGO_PKG_VERSION"),
            " (OIDC exchange)"
        ))
        .no_proxy()
        .build()
        .map_err(|e| {
            format!(
                "oidc issuer {}: cannot build its HTTP client: {e}",
                config.issuer
            )
        })
}

/// An error with its causes, which name the actual failure (a certificate, a refused port).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
