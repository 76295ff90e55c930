//! Scoped tokens through the real `tfreg serve` over HTTPS: made with scopes by the token API,
//! held to them by the viewer check (the edge core in-process) and the origin, and shown only
//! their modules in lists and searches.

mod common;

use common::TestRegistry;
use tfreg_testkit::archive::versioned_module;

async fn token(registry: &TestRegistry, body: &str) -> String {
    let reply = registry
        .send(
            "POST",
            "/v1/tokens",
            Some(&registry.master_token),
            Some(body.as_bytes().to_vec()),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["token_value"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn scoped_tokens_reach_only_their_modules() {
    let registry = TestRegistry::start();
    let master = registry.master_token.clone();
    let network_ci = token(
        &registry,
        r#"{"name":"network-ci","permission":"uploader","scopes":["acme/network"]}"#,
    )
    .await;
    let acme_reader = token(
        &registry,
        r#"{"name":"acme-reader","permission":"downloader","scopes":["acme"]}"#,
    )
    .await;

    let inside = registry
        .upload(
            "acme/network/aws",
            "1.0.0",
            versioned_module("1.0.0"),
            &network_ci,
        )
        .await;
    assert_eq!(inside.status, 201, "{}", inside.text());
    let outside = registry
        .upload(
            "acme/iam/aws",
            "1.0.0",
            versioned_module("1.0.0"),
            &network_ci,
        )
        .await;
    assert_eq!(outside.status, 403, "{}", outside.text());
    assert_eq!(outside.json()["code"], "out_of_scope");
    for module in ["acme/iam/aws", "other/network/aws"] {
        let reply = registry
            .upload(module, "1.0.0", versioned_module("1.0.0"), &master)
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
    }

    let listed: Vec<String> = registry.get("/v1/modules", Some(&acme_reader)).await.json()
        ["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ["acme/iam/aws/1.0.0", "acme/network/aws/1.0.0"]);
    let other = registry
        .get("/v1/modules/other/network/aws/versions", Some(&acme_reader))
        .await;
    assert_eq!(other.status, 403, "{}", other.text());
    let download = registry
        .get(
            "/v1/modules/acme/iam/aws/1.0.0/download",
            Some(&acme_reader),
        )
        .await;
    assert_eq!(download.status, 204, "{}", download.text());
    // A scoped token administers no tokens, whatever its tier.
    let tokens = registry.get("/v1/tokens", Some(&network_ci)).await;
    assert_eq!(tokens.status, 403);
    let listed = registry.get("/v1/tokens", Some(&master)).await.json();
    let scopes: Vec<_> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["token_name"].clone(), t["scopes"].clone()))
        .collect();
    assert!(scopes.contains(&("network-ci".into(), serde_json::json!(["acme/network"]))));
}
