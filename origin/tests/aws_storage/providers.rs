//! The provider store conformance suite on S3, and what is particular to S3: each publish
//! attempt's files under a prefix of its own, and a losing publisher leaving nothing.

use super::*;
use tfreg_origin::aws::S3ProviderStore;
use tfreg_origin::providers::{ProviderAddress, ProviderStore};

struct ProviderFixture {
    store: Arc<S3ProviderStore>,
    scratch: tempfile::TempDir,
}

async fn provider_store() -> ProviderFixture {
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let bucket = moto.create_bucket(&config).await;
    let archives =
        S3ArchiveStore::from_sdk_config(&config, bucket, tfreg_origin::aws::DEFAULT_S3_PREFIX);
    ProviderFixture {
        store: Arc::new(archives.provider_store()),
        scratch: tempfile::tempdir().unwrap(),
    }
}

impl ProviderFixture {
    /// Every key in the bucket beneath `prefix`.
    async fn keys_under(&self, prefix: &str) -> Vec<String> {
        tfreg_testkit::moto::keys_under(self.store.client(), self.store.bucket(), prefix).await
    }
}

#[tokio::test]
async fn s3_provider_store_basics() {
    let fixture = provider_store().await;
    conformance::provider_store_basics(fixture.store.clone(), fixture.scratch.path()).await;
    assert_eq!(
        fixture.keys_under("providers/").await,
        [
            "providers/suite/dns/1.0.0/release.json",
            "providers/suite/dns/1.1.0/release.json"
        ],
        "one record per release, outside the archive prefix"
    );
    let files = fixture
        .keys_under("archives/_providers/suite/dns/1.0.0/")
        .await;
    assert_eq!(
        files.len(),
        3,
        "the refused second publish of 1.0.0 left none of its files: {files:?}"
    );
    let release = fixture
        .store
        .release(
            &ProviderAddress::new("suite", "dns").unwrap(),
            &ModuleVersion::parse("1.0.0").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let files_id = release
        .files_id
        .clone()
        .expect("S3 names the attempt's prefix");
    for filename in release.filenames() {
        let key = format!("archives/_providers/suite/dns/1.0.0/{files_id}/{filename}");
        assert!(files.contains(&key), "{key} in {files:?}");
        assert_eq!(fixture.store.file_key(&release, filename), key);
    }
    assert!(
        fixture.keys_under("staging/").await.is_empty(),
        "nothing is written beside"
    );
    assert!(
        std::fs::read_dir(fixture.scratch.path())
            .unwrap()
            .next()
            .is_none(),
        "every staged directory is removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_provider_store_race_has_one_winner_and_losers_leave_nothing() {
    let fixture = provider_store().await;
    conformance::provider_store_race(fixture.store.clone(), fixture.scratch.path(), 12).await;
    let files = fixture.keys_under("archives/_providers/suite/race/").await;
    assert_eq!(
        files.len(),
        3,
        "only the winner's three files remain: {files:?}"
    );
    assert!(
        std::fs::read_dir(fixture.scratch.path())
            .unwrap()
            .next()
            .is_none(),
        "every staged directory is removed, the winner's and the losers'"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_provider_store_keys() {
    let fixture = provider_store().await;
    conformance::provider_store_keys(fixture.store.clone()).await;
    conformance::provider_store_key_race(fixture.store.clone(), 12).await;
    assert_eq!(
        fixture.keys_under("provider-keys/").await,
        [
            "provider-keys/other/AAAAAAAAAAAAAAAA.json",
            "provider-keys/race/CCCCCCCCCCCCCCCC.json",
            "provider-keys/suite/BBBBBBBBBBBBBBBB.json"
        ],
        "one object per namespace and key ID"
    );
}
