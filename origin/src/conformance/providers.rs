//! What every [`ProviderStore`] promises: releases all or nothing and immutable, one winner of
//! concurrent publishes with the losers leaving nothing, files only by the names a record
//! gives, keys created once per namespace and key ID.

use crate::names::ModuleVersion;
use crate::providers::{
    ProviderAddress, ProviderRelease, ProviderStore, ReleasePlatform, SigningKeyRecord,
};
use crate::storage::{CreateOutcome, PublishOutcome};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncReadExt;

fn signing_key(key_id: &str) -> SigningKeyRecord {
    SigningKeyRecord {
        key_id: key_id.into(),
        fingerprint: format!("{}{key_id}", "0".repeat(24)),
        ascii_armor: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n…\n".into(),
        source: "Suite".into(),
        source_url: None,
        added_at: "2026-01-01T00:00:00Z".into(),
        added_by: "suite".into(),
    }
}

/// A release of `provider` at `version` with one linux_amd64 zip whose bytes are `zip`.
fn release(
    provider: &ProviderAddress,
    version: &str,
    zip: &[u8],
    publisher: &str,
) -> ProviderRelease {
    let prefix = format!("terraform-provider-{}_{version}", provider.provider_type);
    ProviderRelease {
        namespace: provider.namespace.clone(),
        provider_type: provider.provider_type.clone(),
        version: version.into(),
        protocols: vec!["5.0".into()],
        platforms: vec![ReleasePlatform {
            os: "linux".into(),
            arch: "amd64".into(),
            filename: format!("{prefix}_linux_amd64.zip"),
            sha256: "ab".repeat(32),
            size: zip.len() as u64,
        }],
        shasums_filename: format!("{prefix}_SHA256SUMS"),
        signature_filename: format!("{prefix}_SHA256SUMS.sig"),
        signing_key: signing_key("0123456789ABCDEF"),
        published_at: "2026-01-01T00:00:00Z".into(),
        publisher: publisher.into(),
        files_id: None,
    }
}

/// The release's files in a fresh directory under `scratch`, as the registry stages them.
fn stage(scratch: &Path, release: &ProviderRelease, zip: &[u8]) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix("suite-provider-")
        .tempdir_in(scratch)
        .expect("staging directory")
        .keep();
    std::fs::write(dir.join(&release.platforms[0].filename), zip).unwrap();
    std::fs::write(dir.join(&release.shasums_filename), b"sums\n").unwrap();
    std::fs::write(dir.join(&release.signature_filename), b"sig").unwrap();
    dir
}

async fn read_file(
    store: &dyn ProviderStore,
    provider: &ProviderAddress,
    version: &str,
    filename: &str,
) -> Option<Vec<u8>> {
    let version = ModuleVersion::parse(version).unwrap();
    let mut body = store
        .open_file(provider, &version, filename)
        .await
        .expect("open_file")?;
    let mut bytes = Vec::new();
    body.reader.read_to_end(&mut bytes).await.unwrap();
    assert_eq!(
        body.len,
        bytes.len() as u64,
        "a file's length matches its bytes"
    );
    Some(bytes)
}

/// The record as published, but for the store's own `files_id`.
fn without_files_id(mut release: ProviderRelease) -> ProviderRelease {
    release.files_id = None;
    release
}

/// Publish, read back, refuse to overwrite (the first release's bytes stay), list.
pub async fn provider_store_basics(store: Arc<dyn ProviderStore>, scratch: &Path) {
    let provider = ProviderAddress::new("suite", "dns").unwrap();
    let v1 = ModuleVersion::parse("1.0.0").unwrap();
    assert!(store.list_releases(&provider).await.unwrap().is_empty());
    assert_eq!(store.release(&provider, &v1).await.unwrap(), None);

    let first = release(&provider, "1.0.0", b"first zip", "alice");
    let staged = stage(scratch, &first, b"first zip");
    assert_eq!(
        store.publish(&first, staged.clone()).await.unwrap(),
        PublishOutcome::Created
    );
    assert!(
        !staged.exists(),
        "the store takes the staged directory over"
    );
    let stored = store
        .release(&provider, &v1)
        .await
        .unwrap()
        .expect("published");
    assert_eq!(without_files_id(stored), first);
    for (name, bytes) in [
        (first.platforms[0].filename.as_str(), &b"first zip"[..]),
        (first.shasums_filename.as_str(), b"sums\n"),
        (first.signature_filename.as_str(), b"sig"),
    ] {
        assert_eq!(
            read_file(store.as_ref(), &provider, "1.0.0", name)
                .await
                .as_deref(),
            Some(bytes),
            "{name} reads back"
        );
    }
    assert_eq!(
        read_file(store.as_ref(), &provider, "1.0.0", "release.json").await,
        None,
        "only the files the record names are served"
    );

    let again = release(&provider, "1.0.0", b"second zip", "mallory");
    let staged = stage(scratch, &again, b"second zip");
    assert_eq!(
        store.publish(&again, staged.clone()).await.unwrap(),
        PublishOutcome::AlreadyExists,
        "a release is immutable"
    );
    assert!(
        !staged.exists(),
        "a refused publish's staged files are gone too"
    );
    assert_eq!(
        read_file(
            store.as_ref(),
            &provider,
            "1.0.0",
            &first.platforms[0].filename
        )
        .await
        .as_deref(),
        Some(&b"first zip"[..]),
        "the first release's zip is untouched"
    );

    let second = release(&provider, "1.1.0", b"next", "alice");
    let staged = stage(scratch, &second, b"next");
    assert_eq!(
        store.publish(&second, staged).await.unwrap(),
        PublishOutcome::Created
    );
    let mut versions: Vec<String> = store
        .list_releases(&provider)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.version)
        .collect();
    versions.sort();
    assert_eq!(versions, ["1.0.0", "1.1.0"]);
    let other = ProviderAddress::new("suite", "dnsx").unwrap();
    assert!(
        store.list_releases(&other).await.unwrap().is_empty(),
        "a provider whose name starts with another's lists only its own releases"
    );
}

/// `publishers` concurrent publishes of one version, each with its own bytes: exactly one is
/// created, and what is served is all the winner's. Returns the winning publisher's name.
pub async fn provider_store_race(
    store: Arc<dyn ProviderStore>,
    scratch: &Path,
    publishers: usize,
) -> String {
    let provider = ProviderAddress::new("suite", "race").unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..publishers {
        let store = store.clone();
        let zip = format!("zip of publisher {n}").into_bytes();
        let release = release(&provider, "1.0.0", &zip, &format!("publisher-{n}"));
        let staged = stage(scratch, &release, &zip);
        tasks.spawn(async move { store.publish(&release, staged).await.unwrap() });
    }
    let mut created = 0;
    while let Some(outcome) = tasks.join_next().await {
        if outcome.unwrap() == PublishOutcome::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one concurrent publisher wins");
    let version = ModuleVersion::parse("1.0.0").unwrap();
    let winner = store.release(&provider, &version).await.unwrap().unwrap();
    let n = winner.publisher.strip_prefix("publisher-").unwrap();
    assert_eq!(
        read_file(
            store.as_ref(),
            &provider,
            "1.0.0",
            &winner.platforms[0].filename
        )
        .await
        .unwrap(),
        format!("zip of publisher {n}").into_bytes(),
        "the zip served is the winner's, not a loser's"
    );
    assert_eq!(store.list_releases(&provider).await.unwrap().len(), 1);
    winner.publisher
}

/// Keys: created once per namespace and ID, listed in order, removed once.
pub async fn provider_store_keys(store: Arc<dyn ProviderStore>) {
    assert!(store.keys("suite").await.unwrap().is_empty());
    for key_id in ["BBBBBBBBBBBBBBBB", "AAAAAAAAAAAAAAAA"] {
        assert_eq!(
            store.add_key("suite", &signing_key(key_id)).await.unwrap(),
            CreateOutcome::Created
        );
    }
    assert_eq!(
        store
            .add_key("suite", &signing_key("AAAAAAAAAAAAAAAA"))
            .await
            .unwrap(),
        CreateOutcome::NameTaken,
        "a key ID is registered once per namespace"
    );
    assert_eq!(
        store
            .add_key("other", &signing_key("AAAAAAAAAAAAAAAA"))
            .await
            .unwrap(),
        CreateOutcome::Created,
        "another namespace has keys of its own"
    );
    let listed: Vec<String> = store
        .keys("suite")
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    assert_eq!(
        listed,
        ["AAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBB"],
        "ordered by key ID"
    );
    assert_eq!(
        store.keys("suite").await.unwrap()[0],
        signing_key("AAAAAAAAAAAAAAAA"),
        "a key reads back as registered"
    );
    assert!(store.remove_key("suite", "AAAAAAAAAAAAAAAA").await.unwrap());
    assert!(!store.remove_key("suite", "AAAAAAAAAAAAAAAA").await.unwrap());
    assert_eq!(store.keys("suite").await.unwrap().len(), 1);
    assert_eq!(store.keys("other").await.unwrap().len(), 1);
}

/// Concurrent registrations of one key ID: exactly one is created (the store's conditional
/// create is atomic: the data directory's, and S3's, which the tests' moto is made to match by
/// tests/support/moto_atomic.py).
pub async fn provider_store_key_race(store: Arc<dyn ProviderStore>, registrars: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..registrars {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .add_key("race", &signing_key("CCCCCCCCCCCCCCCC"))
                .await
                .unwrap()
        });
    }
    let mut created = 0;
    while let Some(outcome) = tasks.join_next().await {
        if outcome.unwrap() == CreateOutcome::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one concurrent registration wins");
}
