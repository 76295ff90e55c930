//! The storage conformance suite, and what is particular to S3 and DynamoDB (the version
//! index, hand-uploaded objects, the item schema the edge reads), through the real SDK clients
//! against a local moto server.

use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tfreg_edge::{hash_token, ArchiveSigner, Identity, Tier, IDENTITY_HEADER};
use tfreg_origin::aws::aws_sdk_dynamodb::types::AttributeValue;
use tfreg_origin::aws::aws_sdk_s3::primitives::ByteStream;
use tfreg_origin::aws::{DynamoTokenStore, S3ArchiveStore};
use tfreg_origin::conformance;
use tfreg_origin::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use tfreg_origin::storage::{
    ArchiveBody, PublishOutcome, StorageError, TokenRecord, TokenStore, VersionMeta,
};
use tfreg_origin::{ArchiveStore, OriginRequest, Registry, RegistryConfig, RequestBody};
use tfreg_testkit::moto::Moto;
use tokio::io::AsyncReadExt;

struct S3Fixture {
    store: Arc<S3ArchiveStore>,
    scratch: tempfile::TempDir,
}

async fn s3_store() -> S3Fixture {
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let bucket = moto.create_bucket(&config).await;
    S3Fixture {
        store: Arc::new(S3ArchiveStore::from_sdk_config(
            &config,
            bucket,
            tfreg_origin::aws::DEFAULT_S3_PREFIX,
        )),
        scratch: tempfile::tempdir().unwrap(),
    }
}

async fn dynamo_store() -> Arc<DynamoTokenStore> {
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let table = moto.create_table(&config).await;
    Arc::new(DynamoTokenStore::from_sdk_config(&config, table))
}

fn module(path: &str) -> ModuleAddress {
    let parts: Vec<&str> = path.split('/').collect();
    ModuleAddress::new(parts[0], parts[1], parts[2]).unwrap()
}

fn key(module_path: &str, version: &str) -> ArchiveKey {
    ArchiveKey::new(module(module_path), ModuleVersion::parse(version).unwrap())
}

fn meta(sha256: &str) -> VersionMeta {
    VersionMeta {
        sha256: sha256.into(),
        size: 3,
        uploaded_at: "2026-01-01T00:00:00Z".into(),
        uploader: "tests".into(),
        source: "upload".into(),
        origin_url: None,
    }
}

fn staged(scratch: &tempfile::TempDir, contents: &[u8]) -> PathBuf {
    let file = tempfile::NamedTempFile::new_in(scratch.path()).unwrap();
    std::fs::write(file.path(), contents).unwrap();
    file.into_temp_path().keep().unwrap()
}

fn sorted(versions: Vec<ModuleVersion>) -> Vec<String> {
    let mut versions = versions;
    versions.sort();
    versions.iter().map(ToString::to_string).collect()
}

impl S3Fixture {
    /// The index object as stored, or `None`.
    async fn raw_index(&self, module: &ModuleAddress) -> Option<Vec<String>> {
        let object = self
            .store
            .client()
            .get_object()
            .bucket(self.store.bucket())
            .key(self.store.index_key(module))
            .send()
            .await
            .ok()?;
        let bytes = object.body.collect().await.unwrap().into_bytes();
        let index: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        Some(
            index["versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect(),
        )
    }

    async fn delete_index(&self, module: &ModuleAddress) {
        self.store
            .client()
            .delete_object()
            .bucket(self.store.bucket())
            .key(self.store.index_key(module))
            .send()
            .await
            .unwrap();
    }

    /// Puts an object the way an operator would with `aws s3 cp`: no conditions, no index
    /// update, and only the metadata given.
    async fn upload_by_hand(&self, key: &str, body: Vec<u8>, metadata: &[(&str, &str)]) {
        let mut request = self
            .store
            .client()
            .put_object()
            .bucket(self.store.bucket())
            .key(key)
            .body(ByteStream::from(body));
        for (name, value) in metadata {
            request = request.metadata(*name, *value);
        }
        request.send().await.unwrap();
    }
}

// The conformance suite.

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

#[tokio::test]
async fn published_objects_carry_their_metadata_and_content_type() {
    let fixture = s3_store().await;
    let target = key("acme/vpc/aws", "1.2.0");
    let outcome = fixture
        .store
        .publish(&target, staged(&fixture.scratch, b"abc"), &meta("ab12"))
        .await
        .unwrap();
    assert_eq!(outcome, PublishOutcome::Created);
    let head = fixture
        .store
        .client()
        .head_object()
        .bucket(fixture.store.bucket())
        .key("archives/acme/vpc/aws/1.2.0/module.tar.gz")
        .send()
        .await
        .expect("the object's key is the /archives/ URL path");
    assert_eq!(head.content_type(), Some("application/gzip"));
    assert_eq!(head.content_length(), Some(3));
    let user = head.metadata().unwrap();
    assert_eq!(user["sha256"], "ab12");
    assert_eq!(user["size"], "3");
    assert_eq!(user["uploaded-at"], "2026-01-01T00:00:00Z");
    assert_eq!(user["uploader"], "tests");
    assert_eq!(user["source"], "upload");
    assert_eq!(user["publish-id"].len(), 32, "a random id per publish");
    assert!(
        !user.contains_key("origin-url"),
        "an upload has no origin URL, and no metadata key for it"
    );
}

#[tokio::test]
async fn the_origin_url_is_user_metadata_in_ascii() {
    let fixture = s3_store().await;
    let target = key("acme/vpc/aws", "1.2.0");
    let mut pinned = meta("ab12");
    pinned.source = "pin".into();
    pinned.origin_url = Some("https://example.com/modulé.tar.gz".into());
    fixture
        .store
        .publish(&target, staged(&fixture.scratch, b"abc"), &pinned)
        .await
        .unwrap();
    let head = fixture
        .store
        .client()
        .head_object()
        .bucket(fixture.store.bucket())
        .key(fixture.store.object_key(&target))
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.metadata().unwrap()["origin-url"],
        "https://example.com/modul%C3%A9.tar.gz",
        "non-ASCII is percent-encoded: headers carry US-ASCII only"
    );
    assert_eq!(
        fixture
            .store
            .version_meta(&target)
            .await
            .unwrap()
            .unwrap()
            .origin_url
            .as_deref(),
        Some("https://example.com/modul%C3%A9.tar.gz")
    );
}

// Unpublish specifics.

#[tokio::test]
async fn unpublishing_a_version_deleted_by_hand_clears_its_index_entry() {
    let fixture = s3_store().await;
    let vpc = module("acme/vpc/aws");
    let target = key("acme/vpc/aws", "1.0.0");
    fixture
        .store
        .publish(&target, staged(&fixture.scratch, b"one"), &meta("aa"))
        .await
        .unwrap();
    fixture
        .store
        .client()
        .delete_object()
        .bucket(fixture.store.bucket())
        .key(fixture.store.object_key(&target))
        .send()
        .await
        .unwrap();
    assert_eq!(
        fixture.raw_index(&vpc).await,
        Some(vec!["1.0.0".to_owned()])
    );
    assert!(
        !fixture.store.unpublish(&target).await.unwrap(),
        "the object was gone already"
    );
    assert_eq!(
        fixture.raw_index(&vpc).await,
        Some(Vec::new()),
        "the stale index entry is removed all the same"
    );
}

#[tokio::test]
async fn unpublish_works_without_an_index_and_with_an_unreadable_one() {
    let fixture = s3_store().await;
    let vpc = module("acme/vpc/aws");
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        fixture
            .store
            .publish(
                &key("acme/vpc/aws", version),
                staged(&fixture.scratch, version.as_bytes()),
                &meta("aa"),
            )
            .await
            .unwrap();
    }

    fixture.delete_index(&vpc).await;
    assert!(fixture
        .store
        .unpublish(&key("acme/vpc/aws", "1.0.0"))
        .await
        .unwrap());
    assert_eq!(
        fixture.raw_index(&vpc).await,
        None,
        "a missing index is left for the next listing to build"
    );
    assert_eq!(
        sorted(fixture.store.list_versions(&vpc).await.unwrap()),
        ["1.1.0", "1.2.0"]
    );

    fixture
        .upload_by_hand(&fixture.store.index_key(&vpc), b"not json".to_vec(), &[])
        .await;
    assert!(fixture
        .store
        .unpublish(&key("acme/vpc/aws", "1.1.0"))
        .await
        .unwrap());
    assert_eq!(
        fixture.raw_index(&vpc).await,
        Some(vec!["1.2.0".to_owned()]),
        "an unreadable index is rebuilt from the listing, without the version"
    );
}

#[tokio::test]
async fn unpublish_then_publish_again_in_a_versioned_bucket() {
    use tfreg_origin::aws::aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let fixture = s3_store().await;
    fixture
        .store
        .client()
        .put_bucket_versioning()
        .bucket(fixture.store.bucket())
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let target = key("acme/vpc/aws", "1.0.0");
    fixture
        .store
        .publish(&target, staged(&fixture.scratch, b"one"), &meta("aa"))
        .await
        .unwrap();
    assert!(fixture.store.unpublish(&target).await.unwrap());
    assert_eq!(fixture.store.version_meta(&target).await.unwrap(), None);
    assert!(
        !fixture.store.unpublish(&target).await.unwrap(),
        "a delete marker is not a version"
    );
    assert_eq!(
        fixture
            .store
            .publish(&target, staged(&fixture.scratch, b"two"), &meta("bb"))
            .await
            .unwrap(),
        PublishOutcome::Created,
        "If-None-Match: * passes over a delete marker"
    );
    let mut body = fixture.store.open_archive(&target).await.unwrap().unwrap();
    let mut bytes = Vec::new();
    body.reader.read_to_end(&mut bytes).await.unwrap();
    assert_eq!(bytes, b"two");
    assert_eq!(
        fixture.raw_index(&module("acme/vpc/aws")).await,
        Some(vec!["1.0.0".to_owned()])
    );
}

#[tokio::test]
async fn hand_uploaded_versions_appear_after_rebuild_index() {
    let fixture = s3_store().await;
    let vpc = module("acme/vpc/aws");
    fixture
        .store
        .publish(
            &key("acme/vpc/aws", "1.0.0"),
            staged(&fixture.scratch, b"one"),
            &meta("aa"),
        )
        .await
        .unwrap();
    fixture
        .upload_by_hand(
            "archives/acme/vpc/aws/1.1.0/module.tar.gz",
            b"by hand".to_vec(),
            &[],
        )
        .await;
    fixture
        .upload_by_hand(
            "archives/acme/vpc/aws/1.2.0/module.tar.gz",
            b"by hand, with a checksum".to_vec(),
            &[("sha256", "cd34")],
        )
        .await;
    // Not versions: a folder that is not canonical semver, and a stray file.
    fixture
        .upload_by_hand("archives/acme/vpc/aws/v2.0.0/module.tar.gz", vec![1], &[])
        .await;
    fixture
        .upload_by_hand("archives/acme/vpc/aws/notes/readme.txt", vec![1], &[])
        .await;

    assert_eq!(
        sorted(fixture.store.list_versions(&vpc).await.unwrap()),
        ["1.0.0"],
        "the index answers until it is rebuilt"
    );
    let rebuilt = fixture.store.rebuild_index(&vpc).await.unwrap();
    assert_eq!(sorted(rebuilt), ["1.0.0", "1.1.0", "1.2.0"]);
    assert_eq!(
        sorted(fixture.store.list_versions(&vpc).await.unwrap()),
        ["1.0.0", "1.1.0", "1.2.0"]
    );

    let by_hand = fixture
        .store
        .version_meta(&key("acme/vpc/aws", "1.1.0"))
        .await
        .unwrap()
        .expect("a hand-uploaded version has metadata");
    assert_eq!(by_hand.sha256, "", "no checksum is known");
    assert_eq!(by_hand.size, 7, "the size is the object's");
    assert_eq!(by_hand.source, "manual");
    assert!(
        by_hand.uploaded_at.starts_with("20"),
        "uploaded_at is the object's Last-Modified: {:?}",
        by_hand.uploaded_at
    );
    let with_checksum = fixture
        .store
        .version_meta(&key("acme/vpc/aws", "1.2.0"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(with_checksum.sha256, "cd34");

    let mut body = fixture
        .store
        .open_archive(&key("acme/vpc/aws", "1.1.0"))
        .await
        .unwrap()
        .unwrap();
    let mut bytes = Vec::new();
    body.reader.read_to_end(&mut bytes).await.unwrap();
    assert_eq!((body.len, bytes.as_slice()), (7, &b"by hand"[..]));

    // Deleting by hand and rebuilding removes a version from the listing.
    fixture
        .store
        .client()
        .delete_object()
        .bucket(fixture.store.bucket())
        .key("archives/acme/vpc/aws/1.1.0/module.tar.gz")
        .send()
        .await
        .unwrap();
    assert_eq!(
        sorted(fixture.store.rebuild_index(&vpc).await.unwrap()),
        ["1.0.0", "1.2.0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_of_different_versions_all_reach_the_index() {
    let fixture = Arc::new(s3_store().await);
    let vpc = module("acme/vpc/aws");
    // Half of the publishers start with no index at all, so creation races too.
    let mut tasks = Vec::new();
    for patch in 0..30 {
        let fixture = fixture.clone();
        let file = staged(&fixture.scratch, format!("v{patch}").as_bytes());
        tasks.push(tokio::spawn(async move {
            fixture
                .store
                .publish(
                    &key("acme/vpc/aws", &format!("1.0.{patch}")),
                    file,
                    &meta("ee"),
                )
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), PublishOutcome::Created);
    }
    let expected: Vec<String> = (0..30).map(|p| format!("1.0.{p}")).collect();
    assert_eq!(
        fixture.raw_index(&vpc).await,
        Some(expected.clone()),
        "no publisher's version is lost from the index"
    );
    assert_eq!(
        sorted(fixture.store.list_versions(&vpc).await.unwrap()),
        expected
    );
}

#[tokio::test]
async fn a_missing_module_leaves_no_index_behind() {
    let fixture = s3_store().await;
    let nothing = module("acme/nothing/aws");
    assert!(fixture
        .store
        .list_versions(&nothing)
        .await
        .unwrap()
        .is_empty());
    assert!(fixture
        .store
        .rebuild_index(&nothing)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(fixture.raw_index(&nothing).await, None);
}

#[tokio::test]
async fn an_unreadable_index_is_rebuilt() {
    let fixture = s3_store().await;
    let vpc = module("acme/vpc/aws");
    fixture
        .store
        .publish(
            &key("acme/vpc/aws", "1.0.0"),
            staged(&fixture.scratch, b"one"),
            &meta("aa"),
        )
        .await
        .unwrap();
    fixture
        .upload_by_hand(
            "archives/acme/vpc/aws/versions.json",
            b"not json".to_vec(),
            &[],
        )
        .await;
    assert_eq!(
        sorted(fixture.store.list_versions(&vpc).await.unwrap()),
        ["1.0.0"]
    );
    assert_eq!(
        fixture.raw_index(&vpc).await,
        Some(vec!["1.0.0".to_owned()])
    );
}

#[tokio::test]
async fn a_hand_uploaded_version_downloads_without_a_checksum() {
    let fixture = s3_store().await;
    fixture
        .upload_by_hand(
            "archives/acme/vpc/aws/1.1.0/module.tar.gz",
            b"by hand".to_vec(),
            &[],
        )
        .await;
    fixture
        .store
        .publish(
            &key("acme/vpc/aws", "1.0.0"),
            staged(&fixture.scratch, b"one"),
            &meta(&"ab".repeat(32)),
        )
        .await
        .unwrap();
    let registry = Registry::new(
        fixture.store.clone(),
        dynamo_store().await,
        ArchiveSigner::new(b"test".to_vec()),
        RegistryConfig::new(fixture.scratch.path().to_path_buf()),
    );
    let download = |version: &str| OriginRequest {
        method: "GET".into(),
        path: format!("/v1/modules/acme/vpc/aws/{version}/download"),
        query: String::new(),
        headers: vec![(
            IDENTITY_HEADER.to_owned(),
            Identity {
                token_name: "reader".into(),
                tier: Tier::Downloader,
            }
            .to_header_value(),
        )],
        body: RequestBody::Empty,
    };
    let published = registry.handle(download("1.0.0")).await;
    assert_eq!(published.status, 204);
    let location = published.header("x-terraform-get").unwrap();
    assert!(
        location.ends_with(&format!("&checksum=sha256:{}", "ab".repeat(32))),
        "{location}"
    );
    let by_hand = registry.handle(download("1.1.0")).await;
    assert_eq!(by_hand.status, 204);
    let location = by_hand.header("x-terraform-get").unwrap();
    assert!(
        location.starts_with("/archives/acme/vpc/aws/1.1.0/module.tar.gz?"),
        "{location}"
    );
    assert!(!location.contains("checksum"), "{location}");
}

// DynamoDB specifics.

#[tokio::test]
async fn token_items_follow_the_schema_the_edge_reads() {
    let store = dynamo_store().await;
    let record = TokenRecord {
        token_hash: hash_token("tfr_value").as_hex().to_owned(),
        token_name: "ci".into(),
        permission: Tier::Uploader,
        created_at: "2026-01-01T00:00:00Z".into(),
        expires_at: Some(1_900_000_000),
        description: Some("CI publisher".into()),
    };
    store.create(&record).await.unwrap();
    let get = |pk: String| {
        let store = store.clone();
        async move {
            store
                .client()
                .get_item()
                .table_name(store.table())
                .key("pk", AttributeValue::S(pk))
                .send()
                .await
                .unwrap()
                .item
                .expect("the item exists")
        }
    };
    let token = get(format!("token#{}", record.token_hash)).await;
    assert_eq!(token["token_name"], AttributeValue::S("ci".into()));
    assert_eq!(token["permission"], AttributeValue::S("uploader".into()));
    assert_eq!(
        token["created_at"],
        AttributeValue::S("2026-01-01T00:00:00Z".into())
    );
    assert_eq!(token["expires_at"], AttributeValue::N("1900000000".into()));
    assert_eq!(
        token["description"],
        AttributeValue::S("CI publisher".into())
    );
    let name = get("name#ci".into()).await;
    assert_eq!(
        name["token_hash"],
        AttributeValue::S(record.token_hash.clone())
    );
    assert_eq!(name["expires_at"], AttributeValue::N("1900000000".into()));

    let scanned = store
        .client()
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    assert_eq!(scanned.count(), 2, "one token is two items, nothing else");
    assert!(store.delete_by_name("ci").await.unwrap());
    let scanned = store
        .client()
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    assert_eq!(scanned.count(), 0, "revoking removes both items");
}

#[tokio::test]
async fn expired_tokens_not_yet_removed_by_ttl_come_back_with_their_expiry() {
    let store = dynamo_store().await;
    let record = TokenRecord {
        token_hash: hash_token("tfr_old").as_hex().to_owned(),
        token_name: "old".into(),
        permission: Tier::Downloader,
        created_at: "2020-01-01T00:00:00Z".into(),
        expires_at: Some(1_600_000_000),
        description: None,
    };
    store.create(&record).await.unwrap();
    assert_eq!(
        store.find_by_hash(&hash_token("tfr_old")).await.unwrap(),
        Some(record.clone()),
        "the caller, not the store, decides that it has expired"
    );
    assert_eq!(store.list().await.unwrap(), [record]);
}

#[tokio::test]
async fn token_listing_follows_scan_pages() {
    let store = dynamo_store().await;
    // Descriptions fat enough that the scan needs more than one 1 MB page.
    let description = "d".repeat(30_000);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        let description = description.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create(&TokenRecord {
                    token_hash: hash_token(&format!("tfr_{i}")).as_hex().to_owned(),
                    token_name: format!("token-{i:02}"),
                    permission: Tier::Downloader,
                    created_at: "2026-01-01T00:00:00Z".into(),
                    expires_at: None,
                    description: Some(description),
                })
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let names: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.token_name)
        .collect();
    let expected: Vec<String> = (0..40).map(|i| format!("token-{i:02}")).collect();
    assert_eq!(names, expected);
}
