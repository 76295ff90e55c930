//! The storage conformance suite on S3 and DynamoDB, and the S3 store's own races, listing past one page, namespace marks and docs.

use super::*;

#[tokio::test]
async fn s3_archive_store_basics() {
    let fixture = s3_store().await;
    conformance::archive_store_basics(fixture.store.clone(), fixture.scratch.path()).await;
    assert_eq!(
        fixture.raw_index(&module("suite/basics/aws")).await,
        Some(vec![
            "1.0.0".to_owned(),
            "1.2.0-rc.1".to_owned(),
            "1.10.0".to_owned()
        ]),
        "publishing keeps the index, sorted by semver"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_archive_store_race_has_one_winner() {
    let fixture = s3_store().await;
    conformance::archive_store_race(fixture.store.clone(), fixture.scratch.path(), 50).await;
    assert_eq!(
        std::fs::read_dir(fixture.scratch.path()).unwrap().count(),
        0,
        "every staged file is removed, the winner's and the losers'"
    );
    assert_eq!(
        fixture.raw_index(&module("suite/race/aws")).await,
        Some(vec!["1.0.0".to_owned()])
    );
}

/// Deletes the index before every listing, so that the listing can only come from
/// `ListObjectsV2` (the rebuild path).
struct IndexDroppingStore(Arc<S3Fixture>);

#[async_trait]
impl ArchiveStore for IndexDroppingStore {
    async fn list_versions(
        &self,
        module: &ModuleAddress,
    ) -> Result<Vec<ModuleVersion>, StorageError> {
        self.0.delete_index(module).await;
        self.0.store.list_versions(module).await
    }

    async fn list_modules(&self) -> Result<Vec<ModuleAddress>, StorageError> {
        self.0.store.list_modules().await
    }

    async fn version_meta(&self, key: &ArchiveKey) -> Result<Option<VersionMeta>, StorageError> {
        self.0.store.version_meta(key).await
    }

    async fn publish(
        &self,
        key: &ArchiveKey,
        staged: PathBuf,
        meta: &VersionMeta,
    ) -> Result<PublishOutcome, StorageError> {
        self.0.store.publish(key, staged, meta).await
    }

    async fn open_archive(&self, key: &ArchiveKey) -> Result<Option<ArchiveBody>, StorageError> {
        self.0.store.open_archive(key).await
    }

    async fn put_docs(&self, key: &ArchiveKey, docs: &[u8]) -> Result<(), StorageError> {
        self.0.store.put_docs(key, docs).await
    }

    async fn docs(&self, key: &ArchiveKey) -> Result<Option<Vec<u8>>, StorageError> {
        self.0.store.docs(key).await
    }

    async fn unpublish(&self, key: &ArchiveKey) -> Result<bool, StorageError> {
        self.0.store.unpublish(key).await
    }

    async fn namespace_has_uploads(&self, namespace: &str) -> Result<bool, StorageError> {
        self.0.store.namespace_has_uploads(namespace).await
    }

    async fn mark_namespace_uploaded(&self, namespace: &str) -> Result<(), StorageError> {
        self.0.store.mark_namespace_uploaded(namespace).await
    }
}

/// 1,100 versions: more than one `ListObjectsV2` page (1,000 entries), so the rebuild must
/// follow continuation tokens to find them all; then the rebuilt index answers alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_archive_store_lists_many_versions_by_listing_past_one_page_and_by_index() {
    let fixture = Arc::new(s3_store().await);
    let scratch = fixture.scratch.path().to_path_buf();
    let started = Instant::now();
    conformance::archive_store_many_versions(
        Arc::new(IndexDroppingStore(fixture.clone())),
        &scratch,
        1_100,
    )
    .await;
    eprintln!("1,100 publishes and a rebuild took {:?}", started.elapsed());

    let many = module("suite/many/aws");
    let index = fixture
        .raw_index(&many)
        .await
        .expect("the listing wrote the index back");
    assert_eq!(index.len(), 1_100);
    assert_eq!(
        index.last().map(String::as_str),
        Some("1.0.1099"),
        "sorted by semver"
    );
    let listed = fixture.store.list_versions(&many).await.unwrap();
    assert_eq!(listed.len(), 1_100, "the index lists every version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_archive_store_namespace_marks() {
    let fixture = s3_store().await;
    conformance::archive_store_namespace_marks(fixture.store.clone(), fixture.scratch.path()).await;
    assert_eq!(
        fixture.store.uploads_mark_key("marks"),
        "archives/marks/.uploads"
    );
}

/// Versions put into the bucket by hand carry no mark; `tfreg reindex` (rebuild_index, then
/// rebuild_uploads_mark) marks their namespace, and leaves a namespace of pins alone.
#[tokio::test]
async fn reindex_marks_the_namespace_of_versions_uploaded_by_hand() {
    let fixture = s3_store().await;
    let by_hand = module("handmade/vpc/aws");
    fixture
        .upload_by_hand(
            &fixture.store.object_key(&key("handmade/vpc/aws", "1.0.0")),
            b"abc".to_vec(),
            &[],
        )
        .await;
    assert!(!fixture
        .store
        .namespace_has_uploads("handmade")
        .await
        .unwrap());
    let versions = fixture.store.rebuild_index(&by_hand).await.unwrap();
    assert!(fixture
        .store
        .rebuild_uploads_mark(&by_hand, &versions)
        .await
        .unwrap());
    assert!(fixture
        .store
        .namespace_has_uploads("handmade")
        .await
        .unwrap());

    let pinned = key("pinned-only/consul/aws", "0.1.0");
    let mut pin_meta = meta("aa");
    pin_meta.source = "pin".into();
    fixture
        .store
        .publish(&pinned, staged(&fixture.scratch, b"abc"), &pin_meta)
        .await
        .unwrap();
    let versions = fixture.store.rebuild_index(&pinned.module).await.unwrap();
    assert!(!fixture
        .store
        .rebuild_uploads_mark(&pinned.module, &versions)
        .await
        .unwrap());
    assert!(!fixture
        .store
        .namespace_has_uploads("pinned-only")
        .await
        .unwrap());
}

/// The module listing on S3: the conformance suite, then what only S3 has: the proxy
/// cache under `_proxy/` is a store of its own and not listed, an archive put by hand is a
/// module, and an index left behind with no archive is not.
#[tokio::test]
async fn s3_archive_store_lists_modules() {
    let fixture = s3_store().await;
    conformance::archive_store_module_listing(fixture.store.clone(), fixture.scratch.path()).await;
    let mut proxy_meta = meta("cc");
    proxy_meta.source = "proxy".into();
    let cached = key("hashicorp/consul/aws", "0.1.0");
    let proxy_cache = fixture.store.proxy_cache_store();
    proxy_cache
        .publish(&cached, staged(&fixture.scratch, b"abc"), &proxy_meta)
        .await
        .unwrap();
    assert_eq!(
        proxy_cache
            .list_modules()
            .await
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["hashicorp/consul/aws"],
        "the proxy cache lists its own modules"
    );
    fixture
        .upload_by_hand(
            &fixture.store.object_key(&key("handmade/vpc/aws", "1.0.0")),
            b"abc".to_vec(),
            &[],
        )
        .await;
    fixture
        .upload_by_hand(
            &fixture.store.index_key(&module("gone/vpc/aws")),
            br#"{"versions":[]}"#.to_vec(),
            &[],
        )
        .await;
    let listed: Vec<String> = fixture
        .store
        .list_modules()
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        listed,
        [
            "alpha/vpc/aws",
            "alpha/vpc/azurerm",
            "alpha/vpc-extra/aws",
            "handmade/vpc/aws",
            "zulu/vpc/aws"
        ]
    );
}

#[tokio::test]
async fn s3_archive_store_docs() {
    let fixture = s3_store().await;
    conformance::archive_store_docs(fixture.store.clone(), fixture.scratch.path()).await;
    let version = ArchiveKey::new(
        module("suite/docs/aws"),
        ModuleVersion::parse("1.0.0").unwrap(),
    );
    assert_eq!(
        fixture.store.docs_key(&version),
        fixture
            .store
            .object_key(&version)
            .replace("module.tar.gz", "docs.json"),
        "docs are an object beside the archive"
    );
}

#[tokio::test]
async fn s3_archive_store_unpublish() {
    let fixture = s3_store().await;
    conformance::archive_store_unpublish(fixture.store.clone(), fixture.scratch.path()).await;
    assert_eq!(
        fixture.raw_index(&module("suite/unpublish/aws")).await,
        Some(Vec::new()),
        "unpublishing takes versions out of the index"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_archive_store_unpublish_race_has_one_winner() {
    let fixture = s3_store().await;
    conformance::archive_store_unpublish_race(fixture.store.clone(), fixture.scratch.path(), 20)
        .await;
    assert_eq!(
        fixture.raw_index(&module("suite/unpublish-race/aws")).await,
        Some(vec!["2.0.0".to_owned()])
    );
}

#[tokio::test]
async fn dynamo_token_store_basics() {
    conformance::token_store_basics(dynamo_store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamo_token_store_race_has_one_winner() {
    conformance::token_store_race(dynamo_store().await, 20).await;
}

#[tokio::test]
async fn dynamo_pin_store_basics() {
    conformance::pin_store_basics(dynamo_store().await).await;
}

#[tokio::test]
async fn dynamo_pins_and_tokens_share_the_table() {
    conformance::pin_and_token_store_share_a_store(dynamo_store().await).await;
}

// S3 specifics.
