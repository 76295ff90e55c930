//! The version-list cache over the embedded store: warm answers come from the cache, and
//! every publish, pin and unpin, in this registry or in another one sharing the data
//! directory (another process), shows in the next answer.

use super::listings::ListingCache;
use super::test_support::{json, TestRegistry};
use super::OriginResponse;
use crate::embedded::FileArchiveStore;
use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use crate::registry::{OriginRequest, RequestBody};
use crate::storage::{
    ArchiveBody, ArchiveStore, ListingStamp, PublishOutcome, StorageError, VersionListing,
    VersionMeta,
};
use async_trait::async_trait;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tfreg_edge::{Identity, Tier, IDENTITY_HEADER};

const MODULE: &str = "acme/vpc/aws";

/// The embedded store, counting how `list_versions_since` answered, and metadata reads.
struct Counting {
    inner: FileArchiveStore,
    unchanged: AtomicUsize,
    listed: AtomicUsize,
    metas: AtomicUsize,
}

impl Counting {
    fn counts(&self) -> (usize, usize) {
        (
            self.unchanged.load(Ordering::SeqCst),
            self.listed.load(Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl ArchiveStore for Counting {
    async fn list_versions(
        &self,
        module: &ModuleAddress,
    ) -> Result<Vec<ModuleVersion>, StorageError> {
        self.inner.list_versions(module).await
    }
    async fn list_versions_since(
        &self,
        module: &ModuleAddress,
        known: Option<&ListingStamp>,
    ) -> Result<VersionListing, StorageError> {
        let listing = self.inner.list_versions_since(module, known).await?;
        match listing {
            VersionListing::Unchanged => &self.unchanged,
            VersionListing::Listed { .. } => &self.listed,
        }
        .fetch_add(1, Ordering::SeqCst);
        Ok(listing)
    }
    async fn list_modules(&self) -> Result<Vec<ModuleAddress>, StorageError> {
        self.inner.list_modules().await
    }
    async fn version_meta(&self, key: &ArchiveKey) -> Result<Option<VersionMeta>, StorageError> {
        self.metas.fetch_add(1, Ordering::SeqCst);
        self.inner.version_meta(key).await
    }
    async fn publish(
        &self,
        key: &ArchiveKey,
        staged: PathBuf,
        meta: &VersionMeta,
    ) -> Result<PublishOutcome, StorageError> {
        self.inner.publish(key, staged, meta).await
    }
    async fn open_archive(&self, key: &ArchiveKey) -> Result<Option<ArchiveBody>, StorageError> {
        self.inner.open_archive(key).await
    }
    async fn put_docs(&self, key: &ArchiveKey, docs: &[u8]) -> Result<(), StorageError> {
        self.inner.put_docs(key, docs).await
    }
    async fn docs(&self, key: &ArchiveKey) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.docs(key).await
    }
    async fn unpublish(&self, key: &ArchiveKey) -> Result<bool, StorageError> {
        self.inner.unpublish(key).await
    }
    async fn namespace_has_uploads(&self, namespace: &str) -> Result<bool, StorageError> {
        self.inner.namespace_has_uploads(namespace).await
    }
    async fn mark_namespace_uploaded(&self, namespace: &str) -> Result<(), StorageError> {
        self.inner.mark_namespace_uploaded(namespace).await
    }
}

/// A registry over a counting embedded store in a new data directory.
fn counting_registry() -> (TestRegistry, Arc<Counting>, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let store = Arc::new(Counting {
        inner: FileArchiveStore::open(&data_dir).unwrap(),
        unchanged: AtomicUsize::new(0),
        listed: AtomicUsize::new(0),
        metas: AtomicUsize::new(0),
    });
    (TestRegistry::over(store.clone(), dir), store, data_dir)
}

/// Another registry on the same data directory: what a second process sees and does.
fn beside(data_dir: &Path) -> TestRegistry {
    let own = tempfile::tempdir().unwrap();
    let store = FileArchiveStore::open(data_dir).unwrap();
    TestRegistry::over(Arc::new(store), own)
}

/// Makes the module directory look last changed a while ago, as it is once a module is left
/// alone for [`super::super::embedded`]'s settling time: its status then stands for its
/// listing, and the cache keeps it.
fn settle(data_dir: &Path) {
    let dir = data_dir.join("modules").join(MODULE);
    let past = SystemTime::now() - Duration::from_secs(30);
    std::fs::File::open(&dir)
        .unwrap()
        .set_modified(past)
        .unwrap();
}

async fn listed_versions(registry: &TestRegistry) -> Vec<String> {
    let response = registry
        .get(&format!("/v1/modules/{MODULE}/versions"))
        .await;
    assert_eq!(
        response.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );
    json(&response)["modules"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_owned())
        .collect()
}

fn key(version: &str) -> ArchiveKey {
    let parts: Vec<&str> = MODULE.split('/').collect();
    ArchiveKey::new(
        ModuleAddress::new(parts[0], parts[1], parts[2]).unwrap(),
        ModuleVersion::parse(version).unwrap(),
    )
}

/// What `POST /v1/pins/...` does to the archive store: a version with source `pin`.
async fn pin(registry: &TestRegistry, version: &str) {
    let staged = registry
        .registry
        .config
        .scratch_dir
        .join(format!("pin-{version}"));
    std::fs::write(&staged, b"pinned").unwrap();
    let meta = VersionMeta {
        sha256: "ab".repeat(32),
        size: 6,
        uploaded_at: "2026-01-01T00:00:00Z".into(),
        uploader: "admin".into(),
        source: "pin".into(),
        origin_url: None,
        repository_url: None,
    };
    let outcome = registry
        .registry
        .archives
        .publish(&key(version), staged, &meta)
        .await
        .unwrap();
    assert_eq!(outcome, PublishOutcome::Created);
}

#[tokio::test]
async fn a_warm_versions_request_is_answered_from_the_cache() {
    let (registry, store, data_dir) = counting_registry();
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        registry.publish(MODULE, version).await;
    }
    // Just changed: the directory's status could repeat within the clock's tick, so the
    // listing is not kept.
    assert_eq!(listed_versions(&registry).await.len(), 3);
    assert_eq!(listed_versions(&registry).await.len(), 3);
    assert_eq!(store.counts(), (0, 2));
    settle(&data_dir);
    let cold = registry
        .get(&format!("/v1/modules/{MODULE}/versions"))
        .await;
    let warm = registry
        .get(&format!("/v1/modules/{MODULE}/versions"))
        .await;
    assert_eq!(
        store.counts(),
        (1, 3),
        "the second answer came from the cache"
    );
    assert_eq!(warm.body, cold.body);
    assert_eq!(warm.headers, cold.headers);
}

#[tokio::test]
async fn changes_in_this_process_show_in_the_next_answer() {
    let (registry, store, data_dir) = counting_registry();
    registry.publish(MODULE, "1.0.0").await;
    settle(&data_dir);
    listed_versions(&registry).await;
    assert_eq!(listed_versions(&registry).await, ["1.0.0"]);
    assert_eq!(store.counts().0, 1, "warm");

    registry.publish(MODULE, "1.1.0").await;
    assert_eq!(listed_versions(&registry).await, ["1.0.0", "1.1.0"]);

    settle(&data_dir);
    listed_versions(&registry).await;
    pin(&registry, "0.9.0").await;
    assert_eq!(
        listed_versions(&registry).await,
        ["0.9.0", "1.0.0", "1.1.0"]
    );

    settle(&data_dir);
    listed_versions(&registry).await;
    assert!(registry
        .registry
        .archives
        .unpublish(&key("0.9.0"))
        .await
        .unwrap());
    assert_eq!(listed_versions(&registry).await, ["1.0.0", "1.1.0"]);
}

#[tokio::test]
async fn changes_by_another_process_show_in_the_next_answer() {
    let (registry, store, data_dir) = counting_registry();
    let other = beside(&data_dir);
    registry.publish(MODULE, "1.0.0").await;

    // Each change below lands while this registry holds a warm, settled listing.
    let warm = |expected: &'static [&'static str]| {
        let registry = &registry;
        let store = &store;
        let data_dir = &data_dir;
        async move {
            settle(data_dir);
            assert_eq!(listed_versions(registry).await, expected);
            let before = store.counts().0;
            assert_eq!(listed_versions(registry).await, expected);
            assert_eq!(store.counts().0, before + 1, "answered from the cache");
        }
    };

    warm(&["1.0.0"]).await;
    other.publish(MODULE, "1.1.0").await;
    assert_eq!(listed_versions(&registry).await, ["1.0.0", "1.1.0"]);

    warm(&["1.0.0", "1.1.0"]).await;
    pin(&other, "0.9.0").await;
    assert_eq!(
        listed_versions(&registry).await,
        ["0.9.0", "1.0.0", "1.1.0"]
    );

    warm(&["0.9.0", "1.0.0", "1.1.0"]).await;
    assert!(other
        .registry
        .archives
        .unpublish(&key("0.9.0"))
        .await
        .unwrap());
    assert_eq!(listed_versions(&registry).await, ["1.0.0", "1.1.0"]);
}

#[tokio::test]
async fn the_source_follows_the_latest_version_published_elsewhere() {
    let (registry, _store, data_dir) = counting_registry();
    let other = beside(&data_dir);
    registry.publish(MODULE, "1.0.0").await;
    settle(&data_dir);
    let path = format!("/v1/modules/{MODULE}/versions");
    registry.get(&path).await;
    assert_eq!(
        json(&registry.get(&path).await)["modules"][0]["source"],
        MODULE
    );
    other
        .publish_with(
            MODULE,
            "2.0.0",
            "# vpc\n",
            "repository_url=https://git.example.com/acme/vpc",
        )
        .await;
    assert_eq!(
        json(&registry.get(&path).await)["modules"][0]["source"],
        "https://git.example.com/acme/vpc"
    );
}

#[tokio::test]
async fn the_cache_is_bounded_by_modules_and_by_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileArchiveStore::open(dir.path()).unwrap();
    let registry = TestRegistry::over(Arc::new(store.clone()), tempfile::tempdir().unwrap());
    let modules = ["acme/alpha/aws", "acme/beta/aws", "acme/gamma/aws"];
    for (i, module) in modules.iter().enumerate() {
        for minor in 0..=i {
            registry.publish(module, &format!("1.{minor}.0")).await;
        }
        let past = SystemTime::now() - Duration::from_secs(30);
        let module_dir = dir.path().join("modules").join(module);
        std::fs::File::open(&module_dir)
            .unwrap()
            .set_modified(past)
            .unwrap();
    }
    let module = |text: &str| {
        let parts: Vec<&str> = text.split('/').collect();
        ModuleAddress::new(parts[0], parts[1], parts[2]).unwrap()
    };
    let cache = ListingCache::new(2, 100);
    for text in modules {
        cache.listing(&store, &module(text)).await.unwrap();
    }
    assert_eq!(cache.size(), (2, 5), "the least recently used module went");
    let cache = ListingCache::new(10, 4);
    for text in modules {
        cache.listing(&store, &module(text)).await.unwrap();
    }
    assert_eq!(cache.size(), (1, 3), "modules went until the versions fit");
    cache.forget(&module("acme/gamma/aws"));
    assert_eq!(cache.size(), (0, 0));
}

/// A versions request as Terraform sends it (Go's client asks for gzip by itself).
async fn versions_with(registry: &TestRegistry, accept_encoding: &str) -> OriginResponse {
    registry
        .registry
        .handle(OriginRequest {
            method: "GET".into(),
            path: format!("/v1/modules/{MODULE}/versions"),
            query: String::new(),
            headers: vec![
                (IDENTITY_HEADER.into(), reader().to_header_value()),
                ("accept-encoding".into(), accept_encoding.into()),
            ],
            body: RequestBody::Empty,
        })
        .await
}

fn reader() -> Identity {
    Identity {
        token_name: "reader".into(),
        tier: Tier::Downloader,
        scopes: Vec::new(),
    }
}

#[tokio::test]
async fn the_versions_answer_is_gzipped_for_clients_that_accept_it() {
    let (registry, _store, data_dir) = counting_registry();
    for minor in 0..20 {
        registry.publish(MODULE, &format!("1.{minor}.0")).await;
    }
    settle(&data_dir);
    let plain = versions_with(&registry, "identity").await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    for accepted in ["gzip", "deflate, gzip;q=0.5", "*", "br, x-gzip"] {
        let zipped = versions_with(&registry, accepted).await;
        assert_eq!(
            zipped.header("content-encoding"),
            Some("gzip"),
            "{accepted}"
        );
        assert_eq!(zipped.header("vary"), Some("Accept-Encoding"));
        assert_eq!(zipped.header("content-type"), Some("application/json"));
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(zipped.body.as_slice())
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, plain.body, "{accepted}");
        assert!(zipped.body.len() < plain.body.len());
    }
    for refused in ["gzip;q=0", "*, gzip;q=0", "br", ""] {
        let response = versions_with(&registry, refused).await;
        assert_eq!(response.header("content-encoding"), None, "{refused}");
        assert_eq!(response.body, plain.body);
    }
}

#[tokio::test]
async fn a_short_versions_answer_is_not_gzipped() {
    let (registry, _store, _data_dir) = counting_registry();
    registry.publish(MODULE, "1.0.0").await;
    let response = versions_with(&registry, "gzip").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-encoding"), None);
    assert_eq!(
        json(&response)["modules"][0]["versions"][0]["version"],
        "1.0.0"
    );
}

#[tokio::test]
async fn downloads_read_a_versions_metadata_once_while_it_is_listed() {
    let (registry, store, data_dir) = counting_registry();
    registry.publish(MODULE, "1.0.0").await;
    registry.publish(MODULE, "1.1.0").await;
    settle(&data_dir);
    let download = format!("/v1/modules/{MODULE}/1.0.0/download");
    let before = store.metas.load(Ordering::SeqCst);
    let first = registry.get(&download).await;
    assert_eq!(first.status, 204);
    let read = store.metas.load(Ordering::SeqCst);
    for _ in 0..3 {
        let again = registry.get(&download).await;
        assert_eq!(again.status, 204);
        let location = |r: &OriginResponse| {
            let url = r.header("x-terraform-get").unwrap().to_owned();
            url[url.find("&checksum=").unwrap()..].to_owned()
        };
        assert_eq!(location(&again), location(&first));
    }
    assert_eq!(
        store.metas.load(Ordering::SeqCst),
        read,
        "answered from the listing"
    );
    assert!(read > before);
    // Unpublished in another process: the directory changes, the cached metadata goes with
    // the listing, and the download is refused.
    assert!(beside(&data_dir)
        .registry
        .archives
        .unpublish(&key("1.0.0"))
        .await
        .unwrap());
    assert_eq!(registry.get(&download).await.status, 404);
}
