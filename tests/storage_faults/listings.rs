//! Version lists on S3 without re-reading them (issue 19): a warm registry asks for the
//! module's `versions.json` with `If-None-Match` and gets `304` without a body, and every
//! upload, pin and unpin, made by this registry or by another one on the same bucket (another
//! Lambda container), shows in the next answer. Counted by the fault proxy, which sees every
//! request the registry's S3 client makes; no fault is injected.

use crate::rig::{Rig, MODULE, PINNED_MODULE};
use std::collections::BTreeMap;
use std::sync::Arc;
use tfreg_edge::{Identity, Tier, IDENTITY_HEADER};
use tfreg_origin::aws::{DynamoTokenStore, S3ArchiveStore};
use tfreg_origin::signed_url::UrlSigner;
use tfreg_origin::{OriginRequest, OriginResponse, Registry, RegistryConfig, RequestBody};
use tfreg_testkit::archive::versioned_module;
use tfreg_testkit::faults::Answered;

/// A second registry on the rig's bucket and table, its clients straight to moto: another
/// process, with a cache of its own.
fn other_registry(rig: &Rig, scratch: &tempfile::TempDir) -> Registry {
    Registry::new(
        Arc::new(S3ArchiveStore::new(
            rig.s3.clone(),
            rig.bucket.clone(),
            "archives/",
        )),
        Arc::new(DynamoTokenStore::new(
            rig.dynamodb.clone(),
            rig.table.clone(),
        )),
        UrlSigner::generate("KFAULTS"),
        {
            let mut config = RegistryConfig::new(scratch.path().to_path_buf());
            config.archive_url_base = Some("https://registry.test".into());
            config
        },
    )
}

async fn get(registry: &Registry, path: &str) -> OriginResponse {
    let identity = Identity {
        scopes: Vec::new(),
        token_name: "reader".into(),
        tier: Tier::Downloader,
    };
    registry
        .handle(OriginRequest {
            method: "GET".into(),
            path: path.into(),
            query: String::new(),
            headers: vec![(IDENTITY_HEADER.to_owned(), identity.to_header_value())],
            body: RequestBody::Empty,
        })
        .await
}

async fn versions(registry: &Registry, module: &str) -> Vec<String> {
    let response = get(registry, &format!("/v1/modules/{module}/versions")).await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    body["modules"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_owned())
        .collect()
}

/// The S3 requests the rig's registry made since the counts were last reset, by operation.
fn s3_requests(rig: &Rig) -> BTreeMap<&'static str, u64> {
    ["GetObject", "HeadObject", "ListObjectsV2", "PutObject"]
        .into_iter()
        .map(|operation| (operation, rig.proxy.seen(operation)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[tokio::test]
async fn a_warm_versions_request_is_one_get_answered_304_without_a_body() {
    let rig = Rig::start().await;
    for version in ["1.0.0", "1.1.0"] {
        let response = rig
            .as_master(
                "PUT",
                &format!("/v1/modules/{MODULE}/{version}"),
                Some(versioned_module(version)),
            )
            .await;
        assert_eq!(response.status, 201);
    }
    let path = format!("/v1/modules/{MODULE}/versions");

    // Cold (this registry's cache was emptied by its own uploads): the index and the latest
    // version's metadata.
    rig.proxy.reset_counts();
    let cold = get(&rig.registry, &path).await;
    assert_eq!(cold.status, 200);
    let cold_requests = s3_requests(&rig);
    eprintln!("cold versions request: {cold_requests:?}");
    assert_eq!(
        cold_requests,
        BTreeMap::from([("GetObject", 1), ("HeadObject", 1)])
    );
    assert_eq!(rig.proxy.answered("GetObject")[&200].count, 1);

    // Warm: one conditional GET, answered 304 with no body.
    for _ in 0..3 {
        rig.proxy.reset_counts();
        let warm = get(&rig.registry, &path).await;
        assert_eq!(warm.status, 200);
        assert_eq!(warm.body, cold.body);
        assert_eq!(s3_requests(&rig), BTreeMap::from([("GetObject", 1)]));
        assert_eq!(
            rig.proxy.answered("GetObject"),
            BTreeMap::from([(
                304,
                Answered {
                    count: 1,
                    body_bytes: 0
                }
            )])
        );
    }
}

#[tokio::test]
async fn uploads_pins_and_unpins_show_in_the_next_answer_here_and_elsewhere() {
    let rig = Rig::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let other = other_registry(&rig, &scratch);
    let upload = |version: &'static str| {
        let rig = &rig;
        async move {
            let response = rig
                .as_master(
                    "PUT",
                    &format!("/v1/modules/{MODULE}/{version}"),
                    Some(versioned_module(version)),
                )
                .await;
            assert_eq!(response.status, 201);
        }
    };
    let pins = |method: &'static str, version: &'static str| {
        let rig = &rig;
        async move {
            let response = rig
                .as_master(method, &format!("/v1/pins/{PINNED_MODULE}/{version}"), None)
                .await;
            assert!(
                response.status == 201 || response.status == 204,
                "{method} pin: {} {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            );
        }
    };
    // Both registries warm, then a change by the rig's: both see it next.
    let warm = |module: &'static str, expected: &'static [&'static str]| {
        let rig = &rig;
        let other = &other;
        async move {
            for registry in [&rig.registry, other] {
                assert_eq!(versions(registry, module).await, expected);
                assert_eq!(versions(registry, module).await, expected);
            }
            rig.proxy.reset_counts();
            assert_eq!(versions(&rig.registry, module).await, expected);
            assert_eq!(
                rig.proxy.answered("GetObject")[&304].count,
                1,
                "warm before the change"
            );
        }
    };

    upload("1.0.0").await;
    warm(MODULE, &["1.0.0"]).await;
    upload("1.1.0").await;
    assert_eq!(versions(&other, MODULE).await, ["1.0.0", "1.1.0"]);
    assert_eq!(versions(&rig.registry, MODULE).await, ["1.0.0", "1.1.0"]);

    pins("POST", "0.1.0").await;
    warm(PINNED_MODULE, &["0.1.0"]).await;
    pins("POST", "0.2.0").await;
    assert_eq!(versions(&other, PINNED_MODULE).await, ["0.1.0", "0.2.0"]);
    assert_eq!(
        versions(&rig.registry, PINNED_MODULE).await,
        ["0.1.0", "0.2.0"]
    );

    warm(PINNED_MODULE, &["0.1.0", "0.2.0"]).await;
    pins("DELETE", "0.1.0").await;
    assert_eq!(versions(&other, PINNED_MODULE).await, ["0.2.0"]);
    assert_eq!(versions(&rig.registry, PINNED_MODULE).await, ["0.2.0"]);

    // And the other way round: a change by the other registry, seen by the rig's warm one.
    warm(PINNED_MODULE, &["0.2.0"]).await;
    let key = tfreg_origin::names::ArchiveKey::new(
        tfreg_origin::names::ModuleAddress::new("hashicorp", "consul", "aws").unwrap(),
        tfreg_origin::names::ModuleVersion::parse("0.2.0").unwrap(),
    );
    let store = S3ArchiveStore::new(rig.s3.clone(), rig.bucket.clone(), "archives/");
    assert!(tfreg_origin::storage::ArchiveStore::unpublish(&store, &key)
        .await
        .unwrap());
    let response = get(
        &rig.registry,
        &format!("/v1/modules/{PINNED_MODULE}/versions"),
    )
    .await;
    assert_eq!(response.status, 404, "the last pin went elsewhere");
}
