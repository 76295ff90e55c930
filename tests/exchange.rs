//! The exchanges through the real `tfreg serve` over HTTPS: a CI's OIDC identity token (from an
//! issuer stand-in on loopback, HTTPS with its own CA) and a signed STS `GetCallerIdentity`
//! request (answered by moto's STS) traded for short-lived, scoped tokens that then work, and
//! hostile proofs refused with a 401 and nothing issued.

mod common;

use aws_credential_types::Credentials;
use common::TestRegistry;
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};
use tfreg_origin::auth::aws::signed_exchange_request;
use tfreg_testkit::archive::versioned_module;
use tfreg_testkit::moto::{Moto, ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};
use tfreg_testkit::oidc::{github_claims, hs256, IssuerStandIn};

const SERVER_ID: &str = "registry.test";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `tfreg serve` with the exchange settings `config` in a file beside its data directory.
fn start_with(config: serde_json::Value) -> (TestRegistry, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let registry = TestRegistry::start_with(&["--auth-config", path.to_str().unwrap()]);
    (registry, dir)
}

async fn exchange(
    registry: &TestRegistry,
    method: &str,
    body: &serde_json::Value,
) -> common::Reply {
    registry
        .send(
            "POST",
            &format!("/v1/auth/{method}"),
            None,
            Some(body.to_string().into_bytes()),
        )
        .await
}

async fn token_names(registry: &TestRegistry) -> Vec<String> {
    registry
        .get("/v1/tokens", Some(&registry.master_token))
        .await
        .json()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token_name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ci_identity_token_becomes_a_short_lived_scoped_token() {
    let issuer = IssuerStandIn::start().await;
    let key = issuer.rsa_a();
    let (registry, _config) = start_with(json!({"oidc": {"issuers": [{
        "issuer": issuer.issuer(),
        "audience": "tfreg",
        "ca_bundle": issuer.ca_pem(),
        "rules": [{
            "claims": {"repository": "acme/infra", "ref": "refs/heads/main"},
            "tier": "uploader", "scopes": ["acme/network"], "ttl_secs": 600
        }]
    }]}}));

    let claims = github_claims(issuer.issuer(), "tfreg", now());
    let reply = exchange(&registry, "oidc", &json!({"token": key.sign(&claims)})).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let issued = reply.json();
    assert_eq!(issued["permission"], "uploader");
    assert_eq!(issued["scopes"], json!(["acme/network"]));
    assert!(issued["expires_in"].as_u64().unwrap() <= 600);
    assert!(issued["token_name"].as_str().unwrap().starts_with("oidc-"));
    assert!(issued["description"]
        .as_str()
        .unwrap()
        .contains("sub=repo:acme/infra"));
    let token = issued["token_value"].as_str().unwrap();

    let inside = registry
        .upload(
            "acme/network/aws",
            "1.0.0",
            versioned_module("1.0.0"),
            token,
        )
        .await;
    assert_eq!(inside.status, 201, "{}", inside.text());
    let outside = registry
        .upload("acme/iam/aws", "1.0.0", versioned_module("1.0.0"), token)
        .await;
    assert_eq!(outside.status, 403, "{}", outside.text());

    // Hostile tokens: each a 401 that says why, and nothing issued.
    let before = token_names(&registry).await;
    let mut other_repo = github_claims(issuer.issuer(), "tfreg", now());
    other_repo["repository"] = json!("mallory/infra");
    let mut expired = github_claims(issuer.issuer(), "tfreg", now());
    expired["exp"] = json!(now() - 3600);
    let hostile = [
        ("another repository", key.sign(&other_repo)),
        ("expired", key.sign(&expired)),
        (
            "another audience",
            key.sign(&github_claims(issuer.issuer(), "sts.amazonaws.com", now())),
        ),
        (
            "HMAC with the public key",
            hs256(
                &json!({"alg": "HS256", "typ": "JWT", "kid": key.kid()}),
                &claims,
                &key.public_key_bytes(),
            ),
        ),
        ("not a token", "not.a.token".to_owned()),
    ];
    for (what, token) in hostile {
        let reply = exchange(&registry, "oidc", &json!({ "token": token })).await;
        assert!(
            reply.status == 401 || reply.status == 400,
            "{what}: {} {}",
            reply.status,
            reply.text()
        );
        assert!(
            !reply.text().contains(&token),
            "{what}: the token is echoed"
        );
    }
    assert_eq!(token_names(&registry).await, before, "nothing was issued");
    // The exchange is public; the other one is not configured here.
    let aws = exchange(&registry, "aws", &json!({})).await;
    assert_eq!(aws.status, 404, "{}", aws.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_sts_request_becomes_a_token_for_the_callers_arn() {
    let moto = Moto::start();
    let endpoint = format!("{}/", moto.endpoint());
    let (registry, _config) = start_with(json!({"aws": {
        "sts_endpoint": endpoint,
        "server_id": SERVER_ID,
        "rules": [{"arn": "arn:aws:sts::123456789012:user/moto", "tier": "downloader", "ttl_secs": 300}]
    }}));
    let credentials = Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "moto");
    let signed = signed_exchange_request(
        &credentials,
        REGION,
        &endpoint,
        SERVER_ID,
        SystemTime::now(),
    )
    .unwrap();
    let reply = exchange(&registry, "aws", &signed).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let issued = reply.json();
    assert_eq!(issued["permission"], "downloader");
    assert_eq!(issued["description"], "arn:aws:sts::123456789012:user/moto");
    let token = issued["token_value"].as_str().unwrap();
    let list = registry.get("/v1/modules", Some(token)).await;
    assert_eq!(list.status, 200, "{}", list.text());
    let upload = registry
        .upload("acme/vpc/aws", "1.0.0", versioned_module("1.0.0"), token)
        .await;
    assert_eq!(upload.status, 403, "a downloader: {}", upload.text());

    // Signed for another registry: refused, nothing issued.
    let before = token_names(&registry).await;
    let elsewhere = signed_exchange_request(
        &credentials,
        REGION,
        &endpoint,
        "other.registry",
        SystemTime::now(),
    )
    .unwrap();
    let reply = exchange(&registry, "aws", &elsewhere).await;
    assert_eq!(reply.status, 401, "{}", reply.text());
    // Aimed at another STS endpoint: refused before anything is forwarded.
    let redirected = signed_exchange_request(
        &credentials,
        REGION,
        "https://sts.evil.example/",
        SERVER_ID,
        SystemTime::now(),
    )
    .unwrap();
    let reply = exchange(&registry, "aws", &redirected).await;
    assert!(
        reply.status == 400 || reply.status == 401,
        "{}",
        reply.text()
    );
    assert_eq!(token_names(&registry).await, before);
}
