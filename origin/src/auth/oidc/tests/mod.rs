//! The OIDC exchange against a stand-in issuer over HTTPS on loopback (its own CA, trusted
//! through the issuer's `ca_bundle`): good tokens granted per rule, the key cache's bounds, the
//! issuer failing, and the settings' checks. The hostile-token corpus is in [`hostile`].

mod hostile;

use super::*;
use crate::auth::ExchangeError;
use serde_json::{json, Value};
use tfreg_edge::Tier;
use tfreg_testkit::oidc::{github_claims, gitlab_claims, IssuerStandIn, SigningKey};

/// The tests' clock: the exchange is given it; the stand-in's tokens are issued relative to it.
const NOW: u64 = 1_790_000_000;
const AUDIENCE: &str = "tfreg";

/// Trust rules of the shapes the README documents: a GitHub release workflow, a GitLab group's
/// projects on their default branch, and a read-only fallback for the rest of `acme`.
fn settings(issuer: &IssuerStandIn) -> Value {
    json!({
        "issuers": [{
            "issuer": issuer.issuer(),
            "audience": AUDIENCE,
            "ca_bundle": issuer.ca_pem(),
            "rules": [
                {
                    "claims": {
                        "repository": "acme/infra",
                        "ref": "refs/heads/main",
                        "environment": "production",
                        "job_workflow_ref": "acme/infra/.github/workflows/release.yml@*",
                    },
                    "tier": "uploader", "scopes": ["acme"], "ttl_secs": 900,
                },
                {
                    "claims": {
                        "namespace_path": "acme/network",
                        "project_path": "acme/network/*",
                        "ref": "main",
                        "ref_type": "branch",
                    },
                    "tier": "uploader", "scopes": ["acme/network"], "ttl_secs": 600,
                },
                {
                    "claims": { "sub": "repo:acme/*" },
                    "tier": "downloader", "ttl_secs": 300,
                },
            ],
        }],
    })
}

fn exchanger_with(settings: Value) -> OidcExchanger {
    let config: OidcAuthConfig = serde_json::from_value(settings).expect("valid settings");
    OidcExchanger::new(config).expect("accepted settings")
}

async fn started() -> (IssuerStandIn, OidcExchanger) {
    let issuer = IssuerStandIn::start().await;
    let exchanger = exchanger_with(settings(&issuer));
    (issuer, exchanger)
}

fn body(token: &str) -> Vec<u8> {
    json!({ "token": token }).to_string().into_bytes()
}

async fn exchange(
    exchanger: &OidcExchanger,
    token: &str,
    now: u64,
) -> Result<Grant, ExchangeError> {
    exchanger.exchange(&body(token), now).await
}

#[tokio::test]
async fn a_github_shaped_rs256_token_is_granted_by_the_first_matching_rule() {
    let (issuer, exchanger) = started().await;
    let token = issuer
        .rsa_a()
        .sign(&github_claims(issuer.issuer(), AUDIENCE, NOW));

    let grant = exchange(&exchanger, &token, NOW).await.expect("granted");

    assert_eq!(
        grant,
        Grant {
            subject: format!(
                "oidc:{} sub=repo:acme/infra:environment:production",
                issuer.issuer()
            ),
            tier: Tier::Uploader,
            scopes: vec!["acme".into()],
            ttl_secs: 900,
        }
    );
}

#[tokio::test]
async fn a_gitlab_shaped_es256_token_with_an_audience_list_is_granted() {
    let (issuer, exchanger) = started().await;
    let token = issuer
        .es256()
        .sign(&gitlab_claims(issuer.issuer(), AUDIENCE, NOW));

    let grant = exchange(&exchanger, &token, NOW).await.expect("granted");

    assert_eq!(grant.tier, Tier::Uploader);
    assert_eq!(grant.scopes, vec!["acme/network".to_string()]);
    assert_eq!(grant.ttl_secs, 600);
    assert!(grant
        .subject
        .ends_with("sub=project_path:acme/network/vpc:ref_type:branch:ref:main"));
}

#[tokio::test]
async fn rules_are_tried_in_order() {
    let (issuer, exchanger) = started().await;
    let mut claims = github_claims(issuer.issuer(), AUDIENCE, NOW);
    // A feature branch: not the release rule, but the read-only fallback for acme's repos.
    claims["ref"] = json!("refs/heads/feature");
    let token = issuer.rsa_a().sign(&claims);

    let grant = exchange(&exchanger, &token, NOW).await.expect("granted");

    assert_eq!(grant.tier, Tier::Downloader);
    assert!(grant.scopes.is_empty());
    assert_eq!(grant.ttl_secs, 300);
}

#[tokio::test]
async fn clocks_may_disagree_by_the_leeway() {
    let (issuer, exchanger) = started().await;
    let mut claims = github_claims(issuer.issuer(), AUDIENCE, NOW);
    claims["exp"] = json!(NOW - 30);
    claims["iat"] = json!(NOW + 30);
    claims["nbf"] = json!(NOW + 30);
    let token = issuer.rsa_a().sign(&claims);

    exchange(&exchanger, &token, NOW)
        .await
        .expect("within 60 s of leeway");
}

#[tokio::test]
async fn numeric_claims_match_as_text() {
    let issuer = IssuerStandIn::start().await;
    let mut settings = settings(&issuer);
    settings["issuers"][0]["rules"] = json!([
        { "claims": { "repository_id": "98765" }, "tier": "downloader" },
    ]);
    let exchanger = exchanger_with(settings);
    let token = issuer
        .rsa_a()
        .sign(&github_claims(issuer.issuer(), AUDIENCE, NOW));

    let grant = exchange(&exchanger, &token, NOW).await.expect("granted");

    assert_eq!(grant.tier, Tier::Downloader);
    assert_eq!(grant.ttl_secs, 900, "the default lifetime");
}

#[tokio::test]
async fn keys_are_cached_for_jwks_cache_secs() {
    let (issuer, exchanger) = started().await;
    let token = issuer
        .rsa_a()
        .sign(&github_claims(issuer.issuer(), AUDIENCE, NOW));

    for now in [NOW, NOW + 1, NOW + 100] {
        exchange(&exchanger, &token, now).await.expect("granted");
    }
    assert_eq!(issuer.jwks_fetches(), 1);
    assert_eq!(
        issuer.requests(),
        ["/.well-known/openid-configuration", "/.well-known/jwks"]
    );

    let later = NOW + 3600;
    let token = issuer
        .rsa_a()
        .sign(&github_claims(issuer.issuer(), AUDIENCE, later));
    exchange(&exchanger, &token, later).await.expect("granted");
    assert_eq!(issuer.jwks_fetches(), 2, "stale after an hour");
}

#[tokio::test]
async fn a_rotated_in_key_is_fetched_once_the_refetch_interval_has_passed() {
    let (issuer, exchanger) = started().await;
    let first = issuer
        .rsa_a()
        .sign(&github_claims(issuer.issuer(), AUDIENCE, NOW));
    exchange(&exchanger, &first, NOW).await.expect("granted");

    issuer.publish(vec![SigningKey::rsa_a(), SigningKey::rsa_b()]);
    let rotated = SigningKey::rsa_b().sign(&github_claims(issuer.issuer(), AUDIENCE, NOW));

    // Within the refetch interval: the cache is not refreshed for an unknown key.
    let refused = exchange(&exchanger, &rotated, NOW + 10).await.unwrap_err();
    assert!(
        matches!(&refused, ExchangeError::Refused(m) if m.contains("\"rsa-b\" is not among the keys")),
        "{refused:?}"
    );
    assert_eq!(issuer.jwks_fetches(), 1);

    let grant = exchange(&exchanger, &rotated, NOW + 60)
        .await
        .expect("granted after a refetch");
    assert_eq!(grant.tier, Tier::Uploader);
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn tokens_naming_made_up_keys_cause_at_most_one_fetch_per_interval() {
    let (issuer, exchanger) = started().await;
    let claims = github_claims(issuer.issuer(), AUDIENCE, NOW);
    exchange(&exchanger, &issuer.rsa_a().sign(&claims), NOW)
        .await
        .expect("granted");

    for n in 0..50 {
        let token = issuer
            .rsa_a()
            .with_kid(&format!("made-up-{n}"))
            .sign(&claims);
        let refused = exchange(&exchanger, &token, NOW + 1 + n / 2)
            .await
            .unwrap_err();
        assert!(matches!(refused, ExchangeError::Refused(_)));
    }
    assert_eq!(
        issuer.jwks_fetches(),
        1,
        "the first fetch was less than 60 s before"
    );

    let token = issuer.rsa_a().with_kid("made-up").sign(&claims);
    let _ = exchange(&exchanger, &token, NOW + 60).await;
    let _ = exchange(&exchanger, &token, NOW + 61).await;
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn concurrent_first_exchanges_share_one_fetch() {
    let (issuer, exchanger) = started().await;
    let token = issuer
        .es256()
        .sign(&gitlab_claims(issuer.issuer(), AUDIENCE, NOW));

    let exchanges = (0..8)
        .map(|_| Box::pin(exchange(&exchanger, &token, NOW)))
        .collect();
    for result in join_vec(exchanges).await {
        result.expect("granted");
    }
    assert_eq!(issuer.jwks_fetches(), 1);
}

/// Polls all `futures` together until each is done (the exchanger is borrowed, so they
/// cannot be spawned).
async fn join_vec<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match std::pin::Pin::new(future).poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|output| output.expect("ready"))
        .collect()
}

#[tokio::test]
async fn an_issuer_that_fails_is_an_upstream_error_and_is_not_hammered() {
    let (issuer, exchanger) = started().await;
    issuer.set_failing(true);
    let token = issuer
        .rsa_a()
        .sign(&github_claims(issuer.issuer(), AUDIENCE, NOW));

    let failed = exchange(&exchanger, &token, NOW).await.unwrap_err();
    assert!(
        matches!(&failed, ExchangeError::Upstream(m) if m.contains("answered 503")),
        "{failed:?}"
    );
    let again = exchange(&exchanger, &token, NOW + 5).await.unwrap_err();
    assert!(matches!(again, ExchangeError::Upstream(_)));
    assert_eq!(issuer.requests().len(), 1, "no second try within a minute");

    issuer.set_failing(false);
    exchange(&exchanger, &token, NOW + 60)
        .await
        .expect("granted once it answers");
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_not_trusted() {
    let (issuer, exchanger) = started().await;
    issuer.set_discovery_issuer(Some("https://evil.example.com"));
    let token = issuer
        .rsa_a()
        .sign(&github_claims(issuer.issuer(), AUDIENCE, NOW));

    let failed = exchange(&exchanger, &token, NOW).await.unwrap_err();

    assert!(
        matches!(&failed, ExchangeError::Upstream(m) if m.contains("names another issuer")),
        "{failed:?}"
    );
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn an_issuer_whose_certificate_is_not_trusted_is_an_upstream_error() {
    let issuer = IssuerStandIn::start().await;
    let mut settings = settings(&issuer);
    settings["issuers"][0]
        .as_object_mut()
        .unwrap()
        .remove("ca_bundle");
    let exchanger = exchanger_with(settings);
    let token = issuer
        .rsa_a()
        .sign(&github_claims(issuer.issuer(), AUDIENCE, NOW));

    let failed = exchange(&exchanger, &token, NOW).await.unwrap_err();

    assert!(
        matches!(&failed, ExchangeError::Upstream(m) if m.contains("could not be fetched")),
        "{failed:?}"
    );
    assert!(issuer.requests().is_empty(), "no request got through TLS");
}

#[tokio::test]
async fn a_request_body_that_is_not_the_exchange_shape_is_malformed() {
    let (_issuer, exchanger) = started().await;
    for body in [&b"not json"[..], b"{}", br#"{"token": 42}"#, b"[]"] {
        let failed = exchanger.exchange(body, NOW).await.unwrap_err();
        assert!(
            matches!(&failed, ExchangeError::Malformed(m) if m.contains(r#"{"token": "#)),
            "{failed:?}"
        );
    }
}

/// The settings' check at start, for one change to the good settings.
fn refused_settings(change: impl FnOnce(&mut Value)) -> String {
    let mut settings = json!({
        "issuers": [{
            "issuer": "https://token.actions.githubusercontent.com",
            "audience": "tfreg",
            "rules": [{ "claims": { "repository": "acme/*" }, "tier": "uploader" }],
        }],
    });
    change(&mut settings);
    match serde_json::from_value::<OidcAuthConfig>(settings) {
        Err(error) => error.to_string(),
        Ok(config) => match OidcExchanger::new(config) {
            Err(error) => error,
            Ok(_) => panic!("the settings were accepted"),
        },
    }
}

/// One change to the good settings.
type SettingsChange = Box<dyn FnOnce(&mut Value)>;

#[test]
fn settings_that_would_trust_too_much_are_refused_at_start() {
    let cases: Vec<(&str, SettingsChange)> = vec![
        (
            "only https:// issuers",
            Box::new(|s| s["issuers"][0]["issuer"] = json!("http://127.0.0.1:1")),
        ),
        (
            "must be a plain https URL",
            Box::new(|s| s["issuers"][0]["issuer"] = json!("https://a.example/?x=1")),
        ),
        (
            "audience is empty",
            Box::new(|s| s["issuers"][0]["audience"] = json!(" ")),
        ),
        (
            "rules is empty",
            Box::new(|s| s["issuers"][0]["rules"] = json!([])),
        ),
        (
            "rule 1: claims must constrain",
            Box::new(|s| s["issuers"][0]["rules"][0]["claims"] = json!({})),
        ),
        (
            "rule 1: claims must constrain",
            Box::new(|s| s["issuers"][0]["rules"][0]["claims"] = json!({"repository": "**"})),
        ),
        (
            "unknown field `scope`",
            Box::new(|s| s["issuers"][0]["rules"][0]["scope"] = json!(["acme"])),
        ),
        (
            "unknown field `audiences`",
            Box::new(|s| s["issuers"][0]["audiences"] = json!(["a"])),
        ),
        (
            "ttl_secs must be 60 to 3600",
            Box::new(|s| s["issuers"][0]["rules"][0]["ttl_secs"] = json!(86_400)),
        ),
        (
            "not a module prefix",
            Box::new(|s| s["issuers"][0]["rules"][0]["scopes"] = json!(["acme/"])),
        ),
        (
            "leeway_secs must be 0 to 300",
            Box::new(|s| s["issuers"][0]["leeway_secs"] = json!(3600)),
        ),
        (
            "names https://token.actions.githubusercontent.com twice",
            Box::new(|s| {
                let again = s["issuers"][0].clone();
                s["issuers"].as_array_mut().unwrap().push(again);
            }),
        ),
        (
            "ca_bundle (PEM text) is not a PEM certificate bundle",
            Box::new(|s| s["issuers"][0]["ca_bundle"] = json!("-----BEGIN NOTHING-----")),
        ),
        (
            "cannot read the CA bundle",
            Box::new(|s| s["issuers"][0]["ca_bundle"] = json!("/nonexistent/ca.pem")),
        ),
        (
            "oidc.issuers is empty",
            Box::new(|s| s["issuers"] = json!([])),
        ),
        (
            "max_token_bytes must be 1024 to 65536",
            Box::new(|s| s["max_token_bytes"] = json!(10_000_000)),
        ),
    ];
    for (expected, change) in cases {
        let message = refused_settings(change);
        assert!(
            message.contains(expected),
            "expected {expected:?} in {message:?}"
        );
    }
}
