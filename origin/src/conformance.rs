//! The behaviour every storage implementation must have, as a suite any backend's tests can
//! run: the embedded stores here, the S3 and DynamoDB stores against a protocol server.
//! Each function panics with a message naming the broken promise.

use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use crate::storage::{
    ArchiveStore, CreateOutcome, PublishOutcome, TokenRecord, TokenStore, VersionMeta,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tfreg_edge::{hash_token, Tier};
use tokio::io::AsyncReadExt;

fn key(module: &str, version: &str) -> ArchiveKey {
    let mut parts = module.split('/');
    let module = ModuleAddress::new(
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    )
    .unwrap();
    ArchiveKey::new(module, ModuleVersion::parse(version).unwrap())
}

fn meta(sha256: &str, size: u64) -> VersionMeta {
    VersionMeta {
        sha256: sha256.into(),
        size,
        uploaded_at: "2026-01-01T00:00:00Z".into(),
        uploader: "suite".into(),
        source: "upload".into(),
        origin_url: None,
    }
}

fn stage(scratch: &Path, contents: &[u8]) -> PathBuf {
    let file = tempfile::Builder::new()
        .prefix("suite-")
        .tempfile_in(scratch)
        .expect("staging file");
    std::fs::write(file.path(), contents).expect("writing staged archive");
    file.into_temp_path()
        .keep()
        .expect("keeping staged archive")
}

async fn read_archive(store: &dyn ArchiveStore, key: &ArchiveKey) -> Option<Vec<u8>> {
    let mut body = store.open_archive(key).await.expect("open_archive")?;
    let mut bytes = Vec::new();
    body.reader
        .read_to_end(&mut bytes)
        .await
        .expect("reading archive");
    assert_eq!(
        body.len,
        bytes.len() as u64,
        "archive length matches its bytes"
    );
    Some(bytes)
}

/// Publish, read back, refuse to overwrite, list.
pub async fn archive_store_basics(store: Arc<dyn ArchiveStore>, scratch: &Path) {
    let module = key("suite/basics/aws", "1.0.0").module;
    assert!(
        store.list_versions(&module).await.unwrap().is_empty(),
        "an unknown module has no versions"
    );
    let first = key("suite/basics/aws", "1.0.0");
    assert_eq!(store.version_meta(&first).await.unwrap(), None);
    assert!(read_archive(store.as_ref(), &first).await.is_none());

    let outcome = store
        .publish(&first, stage(scratch, b"first"), &meta("aa", 5))
        .await
        .unwrap();
    assert_eq!(outcome, PublishOutcome::Created);
    assert_eq!(
        store.version_meta(&first).await.unwrap(),
        Some(meta("aa", 5))
    );
    assert_eq!(
        read_archive(store.as_ref(), &first).await.as_deref(),
        Some(&b"first"[..])
    );

    let again = store
        .publish(&first, stage(scratch, b"second"), &meta("bb", 6))
        .await
        .unwrap();
    assert_eq!(
        again,
        PublishOutcome::AlreadyExists,
        "a version is immutable"
    );
    assert_eq!(
        read_archive(store.as_ref(), &first).await.as_deref(),
        Some(&b"first"[..]),
        "a refused publish changes nothing"
    );

    for version in ["1.10.0", "1.2.0-rc.1"] {
        store
            .publish(
                &key("suite/basics/aws", version),
                stage(scratch, version.as_bytes()),
                &meta("cc", 1),
            )
            .await
            .unwrap();
    }
    let mut listed = store.list_versions(&module).await.unwrap();
    listed.sort();
    let listed: Vec<String> = listed.iter().map(ToString::to_string).collect();
    assert_eq!(listed, ["1.0.0", "1.2.0-rc.1", "1.10.0"]);
    assert!(
        store
            .list_versions(&key("suite/basic/aws", "1.0.0").module)
            .await
            .unwrap()
            .is_empty(),
        "a module whose name is a prefix of another's is a different module"
    );
}

/// Of `writers` concurrent publishers of one version, exactly one wins, and what is stored is
/// that one's archive and metadata, whole.
pub async fn archive_store_race(store: Arc<dyn ArchiveStore>, scratch: &Path, writers: usize) {
    let target = key("suite/race/aws", "1.0.0");
    let mut tasks = Vec::new();
    for i in 0..writers {
        let store = store.clone();
        let target = target.clone();
        let staged = stage(scratch, format!("writer-{i}").as_bytes());
        tasks.push(tokio::spawn(async move {
            let outcome = store
                .publish(&target, staged, &meta(&format!("sha-{i}"), i as u64))
                .await
                .expect("publish");
            (i, outcome)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (i, outcome) = task.await.unwrap();
        if outcome == PublishOutcome::Created {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one publisher wins: {winners:?}");
    let winner = winners[0];
    assert_eq!(
        store.version_meta(&target).await.unwrap(),
        Some(meta(&format!("sha-{winner}"), winner as u64)),
        "the stored metadata is the winner's"
    );
    assert_eq!(
        read_archive(store.as_ref(), &target).await,
        Some(format!("writer-{winner}").into_bytes()),
        "the stored archive is the winner's"
    );
}

/// A module with `count` versions lists them all (S3 pages at 1,000 keys).
pub async fn archive_store_many_versions(
    store: Arc<dyn ArchiveStore>,
    scratch: &Path,
    count: usize,
) {
    let module = key("suite/many/aws", "0.0.0").module;
    for patch in 0..count {
        let version = format!("1.0.{patch}");
        let outcome = store
            .publish(
                &key("suite/many/aws", &version),
                stage(scratch, b"x"),
                &meta("dd", 1),
            )
            .await
            .unwrap();
        assert_eq!(outcome, PublishOutcome::Created);
    }
    let listed = store.list_versions(&module).await.unwrap();
    assert_eq!(listed.len(), count, "every version is listed");
}

fn record(name: &str, value: &str, tier: Tier) -> TokenRecord {
    TokenRecord {
        token_hash: hash_token(value).as_hex().to_owned(),
        token_name: name.into(),
        permission: tier,
        created_at: "2026-01-01T00:00:00Z".into(),
        expires_at: None,
        description: None,
    }
}

/// Create (unique names), find by hash and by name, list by name, delete.
pub async fn token_store_basics(store: Arc<dyn TokenStore>) {
    let ci = record("ci", "value-ci", Tier::Uploader);
    let mut reader = record("reader", "value-reader", Tier::Downloader);
    reader.expires_at = Some(4_000_000_000);
    reader.description = Some("read only".into());
    assert_eq!(store.create(&ci).await.unwrap(), CreateOutcome::Created);
    assert_eq!(store.create(&reader).await.unwrap(), CreateOutcome::Created);
    assert_eq!(
        store
            .create(&record("ci", "another-value", Tier::Master))
            .await
            .unwrap(),
        CreateOutcome::NameTaken,
        "token names are unique"
    );
    assert_eq!(
        store
            .find_by_hash(&hash_token("value-reader"))
            .await
            .unwrap(),
        Some(reader.clone())
    );
    assert_eq!(store.find_by_hash(&hash_token("nope")).await.unwrap(), None);
    assert_eq!(store.find_by_name("ci").await.unwrap(), Some(ci.clone()));
    assert_eq!(store.find_by_name("nope").await.unwrap(), None);
    let names: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.token_name)
        .collect();
    assert_eq!(names, ["ci", "reader"], "listed by name");

    assert!(store.delete_by_name("ci").await.unwrap());
    assert!(
        !store.delete_by_name("ci").await.unwrap(),
        "deleting twice reports absence"
    );
    assert_eq!(
        store.find_by_hash(&hash_token("value-ci")).await.unwrap(),
        None,
        "a deleted token is gone by hash too"
    );
    assert_eq!(
        store
            .create(&record("ci", "value-ci-2", Tier::Uploader))
            .await
            .unwrap(),
        CreateOutcome::Created,
        "a deleted name can be used again"
    );
}

/// Of concurrent creators of one name, exactly one wins.
pub async fn token_store_race(store: Arc<dyn TokenStore>, writers: usize) {
    let mut tasks = Vec::new();
    for i in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create(&record(
                    "contended",
                    &format!("value-{i}"),
                    Tier::Downloader,
                ))
                .await
                .expect("create")
        }));
    }
    let mut created = 0;
    for task in tasks {
        if task.await.unwrap() == CreateOutcome::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one creator of a name wins");
}
