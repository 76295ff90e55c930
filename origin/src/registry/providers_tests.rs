//! The provider routes at the origin: what it answers without a provider store, key
//! registration's bodies, and scopes (the end-to-end tests run gpg and Terraform).

use super::test_support::{code, json, TestRegistry};
use super::RequestBody;
use crate::providers::embedded::FileProviderStore;
use crate::providers::signing::tests::{ED25519_PUBLIC_KEY, RSA_PUBLIC_KEY};
use std::sync::Arc;
use tfreg_edge::Tier;

fn with_providers() -> TestRegistry {
    let mut registry = TestRegistry::new();
    let store = FileProviderStore::open(registry.dir()).unwrap();
    registry.registry.providers = Some(Arc::new(store));
    registry
}

#[tokio::test]
async fn without_a_provider_store_the_routes_say_so() {
    let registry = TestRegistry::new();
    let response = registry
        .send(
            "GET",
            "/v1/providers/acme/dns/versions",
            Some(("r", Tier::Downloader)),
            RequestBody::Empty,
        )
        .await;
    assert_eq!(response.status, 404);
    assert!(json(&response)["message"]
        .as_str()
        .unwrap()
        .contains("without provider releases"));
}

#[tokio::test]
async fn keys_register_from_armor_or_json_and_list_by_namespace() {
    let registry = with_providers();
    let armored = RSA_PUBLIC_KEY.to_owned();
    let body = serde_json::json!({"ascii_armor": armored, "source": "Acme", "source_url": "https://acme.example/keys"});
    let response = registry
        .as_master("POST", "/v1/provider-keys/acme", &body.to_string())
        .await;
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let key_id = json(&response)["key_id"].as_str().unwrap().to_owned();
    assert_eq!(json(&response)["source"], "Acme");
    let again = registry
        .as_master("POST", "/v1/provider-keys/acme", &armored)
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(code(&again), "key_exists");
    // Another namespace has its own keys.
    let other = registry
        .as_master("POST", "/v1/provider-keys/other", &armored)
        .await;
    assert_eq!(other.status, 201);
    let listed = registry
        .as_master("GET", "/v1/provider-keys/acme", "")
        .await;
    assert_eq!(json(&listed)["keys"][0]["key_id"], key_id.as_str());
    let bad_id = registry
        .as_master("DELETE", "/v1/provider-keys/acme/../../x", "")
        .await;
    assert_eq!(bad_id.status, 404, "not a route");
    let bad_id = registry
        .as_master("DELETE", "/v1/provider-keys/acme/xyz", "")
        .await;
    assert_eq!(bad_id.status, 400);
    let bad_ns = registry
        .as_master("GET", "/v1/provider-keys/Acme!", "")
        .await;
    assert_eq!(bad_ns.status, 400);
    let ed25519 = ED25519_PUBLIC_KEY;
    let refused = registry
        .as_master("POST", "/v1/provider-keys/acme", ed25519)
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(code(&refused), "invalid_key");
    let removed = registry
        .as_master(
            "DELETE",
            &format!("/v1/provider-keys/acme/{}", key_id.to_lowercase()),
            "",
        )
        .await;
    assert_eq!(removed.status, 200);
}

#[tokio::test]
async fn provider_routes_need_a_scope_of_the_whole_namespace() {
    let registry = with_providers();
    let response = registry
        .send_scoped(
            "PUT",
            "/v1/providers/acme/dns/1.0.0",
            ("ci", Tier::Uploader),
            &["acme/dns"],
            RequestBody::Bytes(b"x".to_vec()),
        )
        .await;
    assert_eq!(response.status, 403);
    assert_eq!(code(&response), "out_of_scope");
    let response = registry
        .send_scoped(
            "PUT",
            "/v1/providers/acme/dns/1.0.0",
            ("ci", Tier::Uploader),
            &["acme"],
            RequestBody::Bytes(b"x".to_vec()),
        )
        .await;
    // Past the scope check: refused for what it is (no key registered yet).
    assert_eq!(response.status, 400);
    assert_eq!(code(&response), "no_signing_key");
    let response = registry
        .send(
            "GET",
            "/v1/providers/acme/DNS/versions",
            Some(("r", Tier::Downloader)),
            RequestBody::Empty,
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(code(&response), "invalid_name");
    let response = registry
        .send(
            "GET",
            "/v1/providers/acme/dns/1.0.0/download/linux/amd64",
            Some(("r", Tier::Downloader)),
            RequestBody::Empty,
        )
        .await;
    assert_eq!(response.status, 404);
}

#[tokio::test]
async fn without_staging_the_large_release_path_says_to_put_directly() {
    let registry = with_providers();
    let response = registry
        .send(
            "POST",
            "/v1/providers/acme/dns/1.0.0/uploads",
            Some(("ci", Tier::Uploader)),
            RequestBody::Empty,
        )
        .await;
    assert_eq!(response.status, 404);
    assert!(json(&response)["errors"][0]
        .as_str()
        .unwrap()
        .contains("provider releases of up to"));
    // Scoped like the direct publish: the whole namespace.
    let response = registry
        .send_scoped(
            "POST",
            "/v1/providers/acme/dns/1.0.0/uploads",
            ("ci", Tier::Uploader),
            &["acme/dns"],
            RequestBody::Empty,
        )
        .await;
    assert_eq!(response.status, 403);
    let response = registry
        .send(
            "POST",
            "/v1/providers/acme/dns/1.0.0/uploads",
            Some(("r", Tier::Downloader)),
            RequestBody::Empty,
        )
        .await;
    assert_eq!(response.status, 403);
}
