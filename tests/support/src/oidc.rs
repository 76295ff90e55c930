//! A stand-in OIDC issuer (what GitHub Actions' and GitLab CI's token services publish): its
//! discovery document and JWKS over HTTPS on a loopback port, with a private CA of its own, and
//! the signing keys to mint identity tokens with, hostile ones included.
//!
//! ```ignore
//! let issuer = IssuerStandIn::start().await; // publishes SigningKey::rsa_a() and es256
//! let token = issuer.rsa_a().sign(&github_claims(issuer.issuer(), "tfreg", now));
//! // configure the registry with issuer.issuer() and ca_bundle = issuer.ca_pem()
//! issuer.publish(vec![SigningKey::rsa_a(), SigningKey::rsa_b()]); // a key rotation
//! ```
//!
//! Signing uses ring directly, not the verifier's library, so that the verifier is tested
//! against tokens it did not make itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose, SanType};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

const RSA_A_PEM: &str = include_str!("../../fixtures/oidc/rsa-a.pem");
const RSA_B_PEM: &str = include_str!("../../fixtures/oidc/rsa-b.pem");
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const JWKS_PATH: &str = "/.well-known/jwks";

/// A private key of the issuer and the `kid` it is published under.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    key: Arc<KeyMaterial>,
}

enum KeyMaterial {
    Rsa(RsaKeyPair),
    Es256(EcdsaKeyPair),
}

impl SigningKey {
    /// The first fixed RSA 2048 test key (`tests/fixtures/oidc/rsa-a.pem`), kid `rsa-a`.
    pub fn rsa_a() -> Self {
        Self::rsa_from_pem("rsa-a", RSA_A_PEM)
    }

    /// A second fixed RSA 2048 test key, kid `rsa-b`: the issuer's next key in a rotation.
    pub fn rsa_b() -> Self {
        Self::rsa_from_pem("rsa-b", RSA_B_PEM)
    }

    /// A fresh P-256 key.
    pub fn es256(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("generating a P-256 key");
        let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("a P-256 key");
        SigningKey {
            kid: kid.to_owned(),
            key: Arc::new(KeyMaterial::Es256(key)),
        }
    }

    fn rsa_from_pem(kid: &str, pem: &str) -> Self {
        let der = rustls_pemfile::private_key(&mut pem.as_bytes())
            .expect("reading the RSA test key")
            .expect("an RSA test key");
        let key = RsaKeyPair::from_pkcs8(der.secret_der()).expect("a PKCS#8 RSA key");
        SigningKey {
            kid: kid.to_owned(),
            key: Arc::new(KeyMaterial::Rsa(key)),
        }
    }

    /// The same key published under another `kid`.
    pub fn with_kid(&self, kid: &str) -> Self {
        SigningKey {
            kid: kid.to_owned(),
            key: self.key.clone(),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `RS256` or `ES256`.
    pub fn alg(&self) -> &'static str {
        match *self.key {
            KeyMaterial::Rsa(_) => "RS256",
            KeyMaterial::Es256(_) => "ES256",
        }
    }

    /// The public key as a JWK, as issuers publish it (with `use`, `alg` and `kid`).
    pub fn jwk(&self) -> Value {
        match &*self.key {
            KeyMaterial::Rsa(key) => {
                let public: signature::RsaPublicKeyComponents<Vec<u8>> = key.public().into();
                json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                    "n": b64url(&public.n), "e": b64url(&public.e),
                })
            }
            KeyMaterial::Es256(key) => {
                // An uncompressed point: 0x04, then x and y (32 bytes each).
                let point = key.public_key().as_ref();
                json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256", "kid": self.kid,
                    "x": b64url(&point[1..33]), "y": b64url(&point[33..65]),
                })
            }
        }
    }

    /// The public key's bytes (PKCS#1 DER for RSA, the SEC1 point for P-256): what a
    /// key-confusion attacker uses as an HMAC secret.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        match &*self.key {
            KeyMaterial::Rsa(key) => key.public().as_ref().to_vec(),
            KeyMaterial::Es256(key) => key.public_key().as_ref().to_vec(),
        }
    }

    /// A token with the header `{"alg": <own>, "kid": <own>, "typ": "JWT"}`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": self.alg(), "kid": self.kid, "typ": "JWT"});
        self.sign_with_header(&header, claims)
    }

    /// A token with any header, signed with this key over `header.payload`.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!("{}.{}", b64url_json(header), b64url_json(claims));
        let signature = self.signature(signing_input.as_bytes());
        format!("{signing_input}.{}", b64url(&signature))
    }

    /// The raw signature of `message` (PKCS#1 v1.5 SHA-256, or fixed-size ECDSA P-256).
    pub fn signature(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &*self.key {
            KeyMaterial::Rsa(key) => {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .expect("RSA signing");
                signature
            }
            KeyMaterial::Es256(key) => key
                .sign(&rng, message)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
        }
    }
}

/// base64url without padding, as JWTs use.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_json(value: &Value) -> String {
    b64url(value.to_string().as_bytes())
}

/// A token from its parts as given: the hostile-token corpus builds `alg: none` tokens and
/// the like with it.
pub fn jwt_from_parts(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64url_json(header),
        b64url_json(claims),
        b64url(signature)
    )
}

/// An HS256 token with `secret` as the HMAC key (the key-confusion attack passes the issuer's
/// public key bytes).
pub fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64url_json(header), b64url_json(claims));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(tag.as_ref()))
}

/// Claims shaped like a GitHub Actions identity token for `acme/infra`, a push to `main` in the
/// `production` environment, issued at `now` and valid for 5 minutes.
pub fn github_claims(issuer: &str, audience: &str, now: u64) -> Value {
    json!({
        "jti": "example-id",
        "sub": "repo:acme/infra:environment:production",
        "aud": audience,
        "ref": "refs/heads/main",
        "sha": "d6a5f0c1b1e0c7ef4a2b1e1a3a4b5c6d7e8f9a0b",
        "repository": "acme/infra",
        "repository_owner": "acme",
        "repository_owner_id": "1234",
        "repository_id": 98765,
        "run_id": "4242",
        "actor": "octocat",
        "workflow": "release",
        "event_name": "push",
        "ref_type": "branch",
        "environment": "production",
        "job_workflow_ref": "acme/infra/.github/workflows/release.yml@refs/heads/main",
        "iss": issuer,
        "nbf": now - 5,
        "iat": now - 5,
        "exp": now + 300,
    })
}

/// Claims shaped like a GitLab CI `id_tokens` token for project `acme/network/vpc`, a pipeline
/// on the protected branch `main`.
pub fn gitlab_claims(issuer: &str, audience: &str, now: u64) -> Value {
    json!({
        "namespace_id": "72",
        "namespace_path": "acme/network",
        "project_id": "20",
        "project_path": "acme/network/vpc",
        "user_login": "alice",
        "pipeline_id": "574",
        "pipeline_source": "push",
        "job_id": "302",
        "ref": "main",
        "ref_type": "branch",
        "ref_protected": "true",
        "runner_environment": "gitlab-hosted",
        "sub": "project_path:acme/network/vpc:ref_type:branch:ref:main",
        "aud": [audience, "https://gitlab.example.com"],
        "iss": issuer,
        "iat": now,
        "nbf": now - 1,
        "exp": now + 3600,
    })
}

/// The running issuer. Dropping it stops the server.
pub struct IssuerStandIn {
    issuer: String,
    ca_pem: String,
    state: Arc<IssuerState>,
    accept_loop: JoinHandle<()>,
}

struct IssuerState {
    issuer: String,
    /// The keys the JWKS lists.
    published: Mutex<Vec<SigningKey>>,
    /// The issuer named by the discovery document, when it is not the real one.
    discovery_issuer: Mutex<Option<String>>,
    /// Answer `503` to everything.
    failing: Mutex<bool>,
    /// Paths requested, oldest first.
    log: Mutex<Vec<String>>,
}

impl IssuerStandIn {
    /// Starts on an ephemeral loopback port, publishing [`SigningKey::rsa_a`] and a fresh
    /// P-256 key with kid `es-1` ([`IssuerStandIn::es256`]).
    pub async fn start() -> IssuerStandIn {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the OIDC issuer stand-in");
        let issuer = format!("https://{}", listener.local_addr().unwrap());
        let (tls, ca_pem) = tls_config();
        let state = Arc::new(IssuerState {
            issuer: issuer.clone(),
            published: Mutex::new(vec![SigningKey::rsa_a(), SigningKey::es256("es-1")]),
            discovery_issuer: Mutex::new(None),
            failing: Mutex::new(false),
            log: Mutex::new(Vec::new()),
        });
        let accept_loop =
            tokio::spawn(accept_loop(listener, TlsAcceptor::from(tls), state.clone()));
        IssuerStandIn {
            issuer,
            ca_pem,
            state,
            accept_loop,
        }
    }

    /// `https://127.0.0.1:PORT`: the `iss` of its tokens and the issuer to configure.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The PEM certificate of its private CA.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The published RSA key (kid `rsa-a`), while it is published.
    pub fn rsa_a(&self) -> SigningKey {
        self.published_key("rsa-a")
    }

    /// The published P-256 key (kid `es-1`), while it is published.
    pub fn es256(&self) -> SigningKey {
        self.published_key("es-1")
    }

    fn published_key(&self, kid: &str) -> SigningKey {
        lock(&self.state.published)
            .iter()
            .find(|key| key.kid == kid)
            .cloned()
            .unwrap_or_else(|| panic!("the stand-in does not publish {kid}"))
    }

    /// Replaces the keys the JWKS lists.
    pub fn publish(&self, keys: Vec<SigningKey>) {
        *lock(&self.state.published) = keys;
    }

    /// Makes the discovery document name another issuer (`None`: its own).
    pub fn set_discovery_issuer(&self, issuer: Option<&str>) {
        *lock(&self.state.discovery_issuer) = issuer.map(str::to_owned);
    }

    /// Makes every request fail with `503` (or answer normally again).
    pub fn set_failing(&self, failing: bool) {
        *lock(&self.state.failing) = failing;
    }

    /// Paths requested so far, oldest first.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state.log).clone()
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        lock(&self.state.log)
            .iter()
            .filter(|path| *path == JWKS_PATH)
            .count()
    }
}

impl Drop for IssuerStandIn {
    fn drop(&mut self) {
        // Aborting drops the listener and the connections the loop owns.
        self.accept_loop.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A private CA and a certificate it signs for 127.0.0.1: the server's TLS settings and the
/// CA's PEM.
fn tls_config() -> (Arc<rustls::ServerConfig>, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");

    let mut params = CertificateParams::new(Vec::<String>::new()).expect("server params");
    params.subject_alt_names = vec![SanType::IpAddress(IpAddr::from([127, 0, 0, 1]))];
    let key = KeyPair::generate().expect("server key");
    let certificate = params
        .signed_by(&key, &ca, &ca_key)
        .expect("server certificate");

    let private_key =
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("server key DER");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certificate.der().clone()], private_key)
        .expect("server certificate");
    (Arc::new(config), ca.pem())
}

async fn accept_loop(listener: TcpListener, tls: TlsAcceptor, state: Arc<IssuerState>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        while connections.try_join_next().is_some() {}
        let (tls, state) = (tls.clone(), state.clone());
        connections.spawn(async move {
            let Ok(stream) = tls.accept(stream).await else {
                return;
            };
            let service = service_fn(move |request| answer(state.clone(), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    state: Arc<IssuerState>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    lock(&state.log).push(path.clone());
    if *lock(&state.failing) {
        return Ok(respond(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "unavailable"}),
        ));
    }
    let response = match path.as_str() {
        DISCOVERY_PATH => {
            let named = lock(&state.discovery_issuer).clone();
            respond(
                StatusCode::OK,
                json!({
                    "issuer": named.unwrap_or_else(|| state.issuer.clone()),
                    "jwks_uri": format!("{}{JWKS_PATH}", state.issuer),
                    "response_types_supported": ["id_token"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                }),
            )
        }
        JWKS_PATH => {
            let keys: Vec<Value> = lock(&state.published).iter().map(SigningKey::jwk).collect();
            respond(StatusCode::OK, json!({ "keys": keys }))
        }
        _ => respond(StatusCode::NOT_FOUND, json!({"error": "not found"})),
    };
    Ok(response)
}

fn respond(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid response")
}
