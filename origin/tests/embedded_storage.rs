//! The storage conformance suite against the embedded stores `tfreg serve` uses.

use std::sync::Arc;
use tfreg_origin::conformance;
use tfreg_origin::embedded::{FileArchiveStore, RedbTokenStore};
use tfreg_origin::providers::embedded::FileProviderStore;

fn archive_store() -> (tempfile::TempDir, Arc<FileArchiveStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileArchiveStore::open(dir.path()).unwrap());
    (dir, store)
}

#[tokio::test]
async fn file_archive_store_basics() {
    let (_dir, store) = archive_store();
    let scratch = store.staging_dir().to_path_buf();
    conformance::archive_store_basics(store, &scratch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_archive_store_race_has_one_winner() {
    let (dir, store) = archive_store();
    let scratch = store.staging_dir().to_path_buf();
    conformance::archive_store_race(store, &scratch, 50).await;
    let leftovers = std::fs::read_dir(dir.path().join("staging"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "losers leave nothing behind in staging");
}

#[tokio::test]
async fn file_archive_store_lists_many_versions() {
    let (_dir, store) = archive_store();
    let scratch = store.staging_dir().to_path_buf();
    conformance::archive_store_many_versions(store, &scratch, 1_100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_archive_store_namespace_marks() {
    let (dir, store) = archive_store();
    let scratch = store.staging_dir().to_path_buf();
    conformance::archive_store_namespace_marks(store, &scratch).await;
    assert!(
        dir.path().join("modules/marks/.uploads").is_file(),
        "the mark is a file beside the namespace's modules"
    );
}

#[tokio::test]
async fn file_archive_store_lists_modules() {
    let (dir, store) = archive_store();
    let scratch = store.staging_dir().to_path_buf();
    // Litter a scan must step over: a module directory with no version in it, a folder
    // that is not a version, and a stray file beside the modules.
    std::fs::create_dir_all(dir.path().join("modules/empty/vpc/aws")).unwrap();
    std::fs::create_dir_all(dir.path().join("modules/notes/vpc/aws/drafts")).unwrap();
    std::fs::write(dir.path().join("modules/README"), "by hand").unwrap();
    conformance::archive_store_module_listing(store.clone(), &scratch).await;
    assert!(
        dir.path().join("modules/alpha/.uploads").is_file(),
        "the namespace mark is there, and was not taken for a module"
    );
}

#[tokio::test]
async fn file_archive_store_docs() {
    let (dir, store) = archive_store();
    let scratch = store.staging_dir().to_path_buf();
    conformance::archive_store_docs(store, &scratch).await;
    assert!(
        dir.path()
            .join("modules/suite/docs/aws/1.0.0/docs.json")
            .is_file(),
        "docs are a file beside the archive"
    );
}

#[tokio::test]
async fn file_archive_store_unpublish() {
    let (dir, store) = archive_store();
    let scratch = store.staging_dir().to_path_buf();
    conformance::archive_store_unpublish(store, &scratch).await;
    assert_eq!(
        std::fs::read_dir(dir.path().join("staging"))
            .unwrap()
            .count(),
        0,
        "unpublished versions leave nothing behind in staging"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_archive_store_unpublish_race_has_one_winner() {
    let (dir, store) = archive_store();
    let scratch = store.staging_dir().to_path_buf();
    conformance::archive_store_unpublish_race(store, &scratch, 20).await;
    assert_eq!(
        std::fs::read_dir(dir.path().join("staging"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn redb_token_store_basics() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbTokenStore::open(&dir.path().join("tokens.redb")).unwrap();
    conformance::token_store_basics(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redb_token_store_race_has_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbTokenStore::open(&dir.path().join("tokens.redb")).unwrap();
    conformance::token_store_race(Arc::new(store), 20).await;
}

#[tokio::test]
async fn redb_pin_store_basics() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbTokenStore::open(&dir.path().join("tokens.redb")).unwrap();
    conformance::pin_store_basics(Arc::new(store)).await;
}

#[tokio::test]
async fn redb_pins_and_tokens_share_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.redb");
    let store = RedbTokenStore::open(&path).unwrap();
    conformance::pin_and_token_store_share_a_store(Arc::new(store)).await;
    // The pins are in the file: reopening it finds the one left.
    let reopened = RedbTokenStore::open(&path).unwrap();
    use tfreg_origin::storage::PinStore;
    assert_eq!(reopened.list_pins().await.unwrap().len(), 1);
}

#[tokio::test]
async fn hand_made_directories_that_are_not_versions_are_not_listed() {
    let (dir, store) = archive_store();
    let module_dir = dir.path().join("modules/acme/vpc/aws");
    std::fs::create_dir_all(module_dir.join("notes")).unwrap();
    std::fs::create_dir_all(module_dir.join("v1.0.0")).unwrap();
    let module = tfreg_origin::names::ModuleAddress::new("acme", "vpc", "aws").unwrap();
    use tfreg_origin::ArchiveStore;
    assert!(store.list_versions(&module).await.unwrap().is_empty());
}

fn provider_store() -> (tempfile::TempDir, Arc<FileProviderStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileProviderStore::open(dir.path()).unwrap());
    (dir, store)
}

#[tokio::test]
async fn file_provider_store_basics() {
    let (dir, store) = provider_store();
    conformance::provider_store_basics(store, &dir.path().join("staging")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_provider_store_race_has_one_winner() {
    let (dir, store) = provider_store();
    conformance::provider_store_race(store, &dir.path().join("staging"), 20).await;
    let leftovers = std::fs::read_dir(dir.path().join("staging"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "losers leave nothing behind in staging");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_provider_store_keys() {
    let (_dir, store) = provider_store();
    conformance::provider_store_keys(store.clone()).await;
    conformance::provider_store_key_race(store, 20).await;
}
