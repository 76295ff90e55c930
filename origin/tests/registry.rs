//! `Registry::handle` in-process over the embedded stores: what the origin enforces on its
//! own, whatever the edge did, and the body shapes the origin Lambda delivers.

use std::sync::Arc;
use tfreg_edge::{ArchiveSigner, Identity, Tier, IDENTITY_HEADER};
use tfreg_origin::embedded::{FileArchiveStore, RedbTokenStore};
use tfreg_origin::{OriginRequest, Registry, RegistryConfig, RequestBody};

fn registry() -> (tempfile::TempDir, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let archives = FileArchiveStore::open(dir.path()).unwrap();
    let tokens = RedbTokenStore::open(&dir.path().join("tokens.redb")).unwrap();
    let config = RegistryConfig::new(archives.staging_dir().to_path_buf());
    let registry = Registry::new(
        Arc::new(archives),
        Arc::new(tokens),
        ArchiveSigner::new(b"test".to_vec()),
        config,
    );
    (dir, registry)
}

fn request(method: &str, path: &str, tier: Option<Tier>, body: RequestBody) -> OriginRequest {
    let headers = tier
        .map(|tier| {
            let identity = Identity {
                token_name: "caller".into(),
                tier,
            };
            vec![(IDENTITY_HEADER.to_owned(), identity.to_header_value())]
        })
        .unwrap_or_default();
    OriginRequest {
        method: method.into(),
        path: path.into(),
        query: String::new(),
        headers,
        body,
    }
}

fn module_tar_gz() -> Vec<u8> {
    tfreg_testkit::archive::module_archive(&[("main.tf", "output \"x\" {\n  value = 1\n}\n")])
}

fn error_of(body: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    json["errors"][0].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_origin_refuses_requests_without_an_edge_identity() {
    let (_dir, registry) = registry();
    let response = registry
        .handle(request(
            "GET",
            "/v1/modules/acme/vpc/aws/versions",
            None,
            RequestBody::Empty,
        ))
        .await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("www-authenticate"),
        Some("Bearer realm=\"tfreg\"")
    );
}

#[tokio::test]
async fn the_origin_checks_the_tier_itself() {
    let (_dir, registry) = registry();
    let response = registry
        .handle(request(
            "PUT",
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(Tier::Downloader),
            RequestBody::Bytes(module_tar_gz()),
        ))
        .await;
    assert_eq!(response.status, 403);
    assert_eq!(
        error_of(&response.body),
        "token \"caller\" has the downloader tier; this needs uploader"
    );
    let tokens = registry
        .handle(request(
            "GET",
            "/v1/tokens",
            Some(Tier::Uploader),
            RequestBody::Empty,
        ))
        .await;
    assert_eq!(tokens.status, 403);
    assert_eq!(tokens.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn an_upload_delivered_in_memory_is_published() {
    let (_dir, registry) = registry();
    let response = registry
        .handle(request(
            "PUT",
            "/v1/modules/acme/vpc/aws/1.0.0",
            Some(Tier::Uploader),
            RequestBody::Bytes(module_tar_gz()),
        ))
        .await;
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let download = registry
        .handle(request(
            "GET",
            "/v1/modules/acme/vpc/aws/1.0.0/download",
            Some(Tier::Downloader),
            RequestBody::Empty,
        ))
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
        .starts_with("/archives/acme/vpc/aws/1.0.0/module.tar.gz?expires="));
}

#[tokio::test]
async fn wrong_methods_are_405_and_unknown_paths_404() {
    let (_dir, registry) = registry();
    let cases = [
        ("POST", "/v1/modules/acme/vpc/aws/versions", 405),
        ("DELETE", "/v1/modules/acme/vpc/aws/1.0.0", 405),
        ("PUT", "/v1/tokens", 405),
        ("GET", "/v1/nothing", 404),
    ];
    for (method, path, status) in cases {
        let response = registry
            .handle(request(
                method,
                path,
                Some(Tier::Master),
                RequestBody::Empty,
            ))
            .await;
        assert_eq!(response.status, status, "{method} {path}");
    }
}

#[tokio::test]
async fn the_master_token_is_made_once() {
    let (_dir, registry) = registry();
    let first = registry.ensure_master_token().await.unwrap();
    assert!(first.unwrap().starts_with("tfr_"));
    assert_eq!(registry.ensure_master_token().await.unwrap(), None);
}

#[tokio::test]
async fn without_upload_staging_the_large_upload_path_explains_itself() {
    let (_dir, registry) = registry();
    let response = registry
        .handle(request(
            "POST",
            "/v1/modules/acme/vpc/aws/1.0.0/uploads",
            Some(Tier::Uploader),
            RequestBody::Empty,
        ))
        .await;
    assert_eq!(response.status, 404);
    assert_eq!(
        error_of(&response.body),
        "this registry takes archives of up to 104857600 bytes directly in the body of a PUT; it has no separate large-upload path"
    );
}
