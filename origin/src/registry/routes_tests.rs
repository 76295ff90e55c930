//! The origin's route handling as a whole: the identity and tier it demands, the answers to
//! another method or an unknown path, and the body limits per route.

use super::test_support::{self, code, json, TestRegistry};
use super::*;
use tfreg_edge::Tier;

#[tokio::test]
async fn a_request_without_the_edge_identity_is_401() {
    let registry = TestRegistry::new();
    for (method, path) in [
        ("GET", "/v1/modules/acme/vpc/aws/versions"),
        ("PUT", "/v1/modules/acme/vpc/aws/1.0.0"),
        ("GET", "/v1/tokens"),
        ("GET", "/v1/nothing"),
    ] {
        let response = registry.send(method, path, None, RequestBody::Empty).await;
        assert_eq!(response.status, 401, "{method} {path}");
        assert_eq!(code(&response), "missing_token");
        assert!(response.header("www-authenticate").is_some());
    }
}

#[tokio::test]
async fn the_origin_checks_the_tier_against_the_same_route_table() {
    let registry = TestRegistry::new();
    let cases = [
        ("PUT", "/v1/modules/acme/vpc/aws/1.0.0", Tier::Downloader),
        (
            "POST",
            "/v1/modules/acme/vpc/aws/1.0.0/uploads",
            Tier::Downloader,
        ),
        ("GET", "/v1/tokens", Tier::Uploader),
        ("POST", "/v1/pins/acme/vpc/aws/1.0.0", Tier::Uploader),
        ("GET", "/v1/tokens/nothing/here", Tier::Uploader),
    ];
    for (method, path, tier) in cases {
        let response = registry
            .send(method, path, Some(("low", tier)), RequestBody::Empty)
            .await;
        assert_eq!(response.status, 403, "{method} {path} as {tier}");
        assert_eq!(code(&response), "insufficient_tier");
    }
}

#[tokio::test]
async fn a_known_path_with_another_method_is_405_naming_the_methods() {
    let registry = TestRegistry::new();
    let response = registry.as_master("PUT", "/v1/tokens", "").await;
    assert_eq!(response.status, 405);
    assert_eq!(
        json(&response)["errors"][0],
        "PUT is not allowed here; use GET, POST"
    );
    let response = registry
        .as_master("DELETE", "/v1/modules/acme/vpc/aws/1.0.0/download", "")
        .await;
    assert_eq!(response.status, 405);
    assert_eq!(
        json(&response)["errors"][0],
        "DELETE is not allowed here; use GET, HEAD"
    );
}

/// Every row of the route table, with every method it does not take: `405`, the methods
/// it does take in `Allow` (as the table lists them), and the JSON error.
#[tokio::test]
async fn every_route_answers_another_method_with_405_and_allow() {
    let registry = TestRegistry::new();
    let mut checked = 0;
    for spec in tfreg_edge::ROUTES {
        let path = spec
            .pattern
            .split('/')
            .map(|segment| match segment {
                "{version}" => "1.0.0",
                "{key_path*}" => "acme/vpc/aws/1.0.0/module.tar.gz",
                s if s.starts_with('{') => "acme",
                literal => literal,
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"] {
            let Route::MethodNotAllowed { allowed, .. } = Route::parse(method, &path) else {
                continue;
            };
            let response = registry.as_master(method, &path, "").await;
            assert_eq!(response.status, 405, "{method} {path}");
            assert_eq!(
                response.header("allow"),
                Some(allowed.join(", ").as_str()),
                "{method} {path}"
            );
            let body = json(&response);
            assert_eq!(body["code"], "method_not_allowed");
            assert_eq!(body["error"], "method_not_allowed");
            assert_eq!(
                body["message"],
                format!("{method} is not allowed here; use {}", allowed.join(", "))
            );
            assert_eq!(body["errors"][0], body["message"]);
            checked += 1;
        }
    }
    assert!(checked >= 50, "{checked}");
}

#[tokio::test]
async fn unknown_endpoints_and_edge_served_paths_are_404_at_the_origin() {
    let registry = TestRegistry::new();
    for path in [
        "/v1/nothing",
        "/.well-known/terraform.json",
        "/archives/acme/vpc/aws/1.0.0/module.tar.gz",
    ] {
        let response = registry.as_master("GET", path, "").await;
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(
            json(&response)["errors"][0],
            format!("no such endpoint: GET {path}")
        );
    }
}

#[tokio::test]
async fn invalid_names_and_versions_are_400_with_the_reason() {
    let registry = TestRegistry::new();
    let response = registry
        .as_master("GET", "/v1/modules/Acme!/vpc/aws/versions", "")
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(code(&response), "invalid_name");
    let response = registry
        .as_master("GET", "/v1/modules/acme/vpc/aws/one/download", "")
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(code(&response), "invalid_version");
}

#[test]
fn the_body_limit_is_the_upload_limit_for_uploads_and_small_otherwise() {
    let registry = TestRegistry::with_config(|config| config.max_upload_bytes = 1234);
    let upload = Route::parse("PUT", "/v1/modules/acme/vpc/aws/1.0.0");
    assert_eq!(registry.registry.body_limit(&upload), 1234);
    let token = Route::parse("POST", "/v1/tokens");
    assert_eq!(registry.registry.body_limit(&token), MAX_JSON_BODY_BYTES);
    assert_eq!(ApiError::too_large(&upload, 1234).code, "archive_too_large");
    assert_eq!(ApiError::too_large(&token, 10).code, "body_too_large");
}

#[tokio::test]
async fn a_body_over_the_routes_limit_is_413_whoever_delivered_it() {
    let registry = TestRegistry::new();
    let huge = format!(
        "{{\"name\":\"{}\"}}",
        "x".repeat(MAX_JSON_BODY_BYTES as usize)
    );
    let response = registry.as_master("POST", "/v1/tokens", &huge).await;
    assert_eq!(response.status, 413);
    assert_eq!(code(&response), "body_too_large");
}

// Moved from origin/tests/registry.rs: Registry::handle in-process, what the origin
// enforces on its own whatever the edge did, and the bodies the origin Lambda delivers.

fn error_of(body: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    json["errors"][0].as_str().unwrap().to_owned()
}

fn module_tar_gz() -> Vec<u8> {
    test_support::module_tar_gz("output \"x\" {\n  value = 1\n}\n")
}

#[tokio::test]
async fn the_origin_refuses_requests_without_an_edge_identity() {
    let registry = TestRegistry::new();
    let response = registry
        .send(
            "GET",
            "/v1/modules/acme/vpc/aws/versions",
            None,
            RequestBody::Empty,
        )
        .await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("www-authenticate"),
        Some("Bearer realm=\"tfreg\"")
    );
}

#[tokio::test]
async fn the_origin_checks_the_tier_itself() {
    let registry = TestRegistry::new();
    let response = registry
        .send(
            "PUT",
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(("caller", Tier::Downloader)),
            RequestBody::Bytes(module_tar_gz()),
        )
        .await;
    assert_eq!(response.status, 403);
    assert_eq!(
        error_of(&response.body),
        "token \"caller\" has the downloader tier; this needs uploader"
    );
    let tokens = registry
        .send(
            "GET",
            "/v1/tokens",
            Some(("caller", Tier::Uploader)),
            RequestBody::Empty,
        )
        .await;
    assert_eq!(tokens.status, 403);
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn an_upload_delivered_in_memory_is_published() {
    let registry = TestRegistry::new();
    let response = registry
        .send(
            "PUT",
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(("caller", Tier::Uploader)),
            RequestBody::Bytes(module_tar_gz()),
        )
        .await;
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let download = registry
        .send(
            "GET",
            "/v1/modules/acme/vpc/aws/1.0.0/download",
            Some(("caller", Tier::Downloader)),
            RequestBody::Empty,
        )
        .await;
    assert_eq!(download.status, 204);
    // CloudFront may keep a download answer for 30 s after the edge check; the signed URL
    // inside lives 300 s.
    assert_eq!(
        download.header("cache-control"),
        Some("max-age=0, s-maxage=30")
    );
    assert!(download
        .header("x-terraform-get")
        .unwrap()
        .starts_with("https://registry.test/archives/acme/vpc/aws/1.0.0/module.tar.gz?Expires="));
}

#[tokio::test]
async fn wrong_methods_are_405_and_unknown_paths_404() {
    let registry = TestRegistry::new();
    let cases = [
        ("POST", "/v1/modules/acme/vpc/aws/versions", 405),
        ("DELETE", "/v1/modules/acme/vpc/aws/1.0.0", 405),
        ("PUT", "/v1/tokens", 405),
        ("GET", "/v1/nothing", 404),
    ];
    for (method, path, status) in cases {
        let response = registry
            .send(
                method,
                path,
                Some(("caller", Tier::Master)),
                RequestBody::Empty,
            )
            .await;
        assert_eq!(response.status, status, "{method} {path}");
    }
}

#[tokio::test]
async fn without_upload_staging_the_large_upload_path_explains_itself() {
    let registry = TestRegistry::new();
    let response = registry
        .send(
            "POST",
            "/v1/modules/acme/vpc/aws/1.0.0/uploads",
            Some(("caller", Tier::Uploader)),
            RequestBody::Empty,
        )
        .await;
    assert_eq!(response.status, 404);
    assert_eq!(
        error_of(&response.body),
        "this registry takes archives of up to 104857600 bytes directly in the body of a PUT; it has no separate large-upload path"
    );
}
