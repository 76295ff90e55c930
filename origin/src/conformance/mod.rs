//! The behaviour every storage implementation must have, as a suite any backend's tests can
//! run: the embedded stores here, the S3 and DynamoDB stores against a protocol server.
//! Each function panics with a message naming the broken promise.

use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use crate::storage::{ArchiveStore, PublishOutcome, VersionMeta};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncReadExt;

mod providers;
mod tokens_and_pins;
pub use providers::*;
pub use tokens_and_pins::*;

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
        repository_url: None,
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

fn listed(versions: Vec<ModuleVersion>) -> Vec<String> {
    let mut versions = versions;
    versions.sort();
    versions.iter().map(ToString::to_string).collect()
}

/// Unpublish removes one version whole (not listed, no metadata, not served) and reports
/// whether it was there; the key can be published again; the module's other versions are
/// untouched. Also: `origin_url` round-trips.
pub async fn archive_store_unpublish(store: Arc<dyn ArchiveStore>, scratch: &Path) {
    let module = key("suite/unpublish/aws", "0.0.0").module;
    let pinned = key("suite/unpublish/aws", "1.0.0");
    let uploaded = key("suite/unpublish/aws", "1.1.0");
    let mut pin_meta = meta("aa", 6);
    pin_meta.source = "pin".into();
    pin_meta.origin_url =
        Some("https://codeload.github.com/acme/terraform-aws-x/tar.gz/v1.0.0?x=%20".into());
    assert_eq!(
        store
            .publish(&pinned, stage(scratch, b"pinned"), &pin_meta)
            .await
            .unwrap(),
        PublishOutcome::Created
    );
    assert_eq!(
        store
            .publish(&uploaded, stage(scratch, b"uploaded"), &meta("bb", 8))
            .await
            .unwrap(),
        PublishOutcome::Created
    );
    assert_eq!(
        store.version_meta(&pinned).await.unwrap(),
        Some(pin_meta.clone()),
        "origin_url is stored with the version"
    );

    assert!(
        store.unpublish(&pinned).await.unwrap(),
        "unpublishing a version reports that it existed"
    );
    assert_eq!(
        listed(store.list_versions(&module).await.unwrap()),
        ["1.1.0"],
        "an unpublished version is no longer listed"
    );
    assert_eq!(
        store.version_meta(&pinned).await.unwrap(),
        None,
        "an unpublished version has no metadata"
    );
    assert!(
        read_archive(store.as_ref(), &pinned).await.is_none(),
        "an unpublished version is not served"
    );
    assert!(
        !store.unpublish(&pinned).await.unwrap(),
        "unpublishing twice reports absence"
    );
    assert!(
        !store
            .unpublish(&key("suite/unpublish/aws", "9.9.9"))
            .await
            .unwrap(),
        "unpublishing a version that never was reports absence"
    );
    assert!(
        !store
            .unpublish(&key("suite/never/aws", "1.0.0"))
            .await
            .unwrap(),
        "unpublishing from a module that never was reports absence"
    );

    assert_eq!(
        store.version_meta(&uploaded).await.unwrap(),
        Some(meta("bb", 8)),
        "the module's other versions keep their metadata"
    );
    assert_eq!(
        read_archive(store.as_ref(), &uploaded).await.as_deref(),
        Some(&b"uploaded"[..]),
        "the module's other versions are still served"
    );

    let mut again = meta("cc", 5);
    again.source = "pin".into();
    again.origin_url = Some("https://example.com/again.tar.gz".into());
    assert_eq!(
        store
            .publish(&pinned, stage(scratch, b"again"), &again)
            .await
            .unwrap(),
        PublishOutcome::Created,
        "an unpublished version can be published again"
    );
    assert_eq!(store.version_meta(&pinned).await.unwrap(), Some(again));
    assert_eq!(
        read_archive(store.as_ref(), &pinned).await.as_deref(),
        Some(&b"again"[..]),
        "the new archive is served, not the old one"
    );
    assert_eq!(
        listed(store.list_versions(&module).await.unwrap()),
        ["1.0.0", "1.1.0"]
    );

    assert!(store.unpublish(&uploaded).await.unwrap());
    assert!(store.unpublish(&pinned).await.unwrap());
    assert!(
        store.list_versions(&module).await.unwrap().is_empty(),
        "a module whose versions are all unpublished lists none"
    );
}

/// Of `unpublishers` concurrent unpublishers of one version, exactly one reports that it
/// existed, and the version is gone afterwards.
pub async fn archive_store_unpublish_race(
    store: Arc<dyn ArchiveStore>,
    scratch: &Path,
    unpublishers: usize,
) {
    let target = key("suite/unpublish-race/aws", "1.0.0");
    let kept = key("suite/unpublish-race/aws", "2.0.0");
    for version in [&target, &kept] {
        store
            .publish(version, stage(scratch, b"x"), &meta("ee", 1))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..unpublishers {
        let store = store.clone();
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            store.unpublish(&target).await.expect("unpublish")
        }));
    }
    let mut existed = 0;
    for task in tasks {
        if task.await.unwrap() {
            existed += 1;
        }
    }
    assert_eq!(existed, 1, "exactly one unpublisher finds the version");
    assert_eq!(
        listed(store.list_versions(&target.module).await.unwrap()),
        ["2.0.0"]
    );
    assert_eq!(store.version_meta(&target).await.unwrap(), None);
    assert!(read_archive(store.as_ref(), &target).await.is_none());
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

/// Namespace marks: an uploaded version marks its namespace (and only that one, on whole
/// names); pinned and proxied versions do not; marking is idempotent, also when concurrent;
/// a mark is not a module, and unpublishing leaves it.
pub async fn archive_store_namespace_marks(store: Arc<dyn ArchiveStore>, scratch: &Path) {
    assert!(
        !store.namespace_has_uploads("marks").await.unwrap(),
        "an unknown namespace holds no uploads"
    );
    for (module, source) in [("marks/pinned/aws", "pin"), ("marks/proxied/aws", "proxy")] {
        let mut not_uploaded = meta("aa", 1);
        not_uploaded.source = source.into();
        store
            .publish(&key(module, "1.0.0"), stage(scratch, b"x"), &not_uploaded)
            .await
            .unwrap();
    }
    assert!(
        !store.namespace_has_uploads("marks").await.unwrap(),
        "pinned and proxied versions do not make a namespace private"
    );

    let uploaded = key("marks/vpc/aws", "1.0.0");
    store
        .publish(&uploaded, stage(scratch, b"x"), &meta("bb", 1))
        .await
        .unwrap();
    assert!(
        store.namespace_has_uploads("marks").await.unwrap(),
        "an uploaded version marks its namespace"
    );
    assert!(
        !store.namespace_has_uploads("marks-tools").await.unwrap()
            && !store.namespace_has_uploads("mark").await.unwrap(),
        "a mark covers its own namespace only, not one whose name starts the same"
    );
    assert_eq!(
        listed(store.list_versions(&uploaded.module).await.unwrap()),
        ["1.0.0"],
        "the mark is not a version"
    );

    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.mark_namespace_uploaded("marks-fresh").await
        }));
    }
    for task in tasks {
        task.await
            .unwrap()
            .expect("marking a namespace, concurrently or again, succeeds");
    }
    store.mark_namespace_uploaded("marks").await.unwrap();
    assert!(store.namespace_has_uploads("marks-fresh").await.unwrap());
    assert!(
        store
            .list_versions(&key("marks-fresh/x/aws", "1.0.0").module)
            .await
            .unwrap()
            .is_empty(),
        "marking a namespace creates no module"
    );

    assert!(store.unpublish(&uploaded).await.unwrap());
    assert!(
        store.namespace_has_uploads("marks").await.unwrap(),
        "unpublishing leaves the mark: a namespace is made public again by hand only"
    );

    // A reader racing uploads (as a proxied request does) that sees a version, then reads
    // the mark, always finds the mark: it is written before the version.
    let namespaces: Vec<String> = (0..4).map(|i| format!("marks-race-{i}")).collect();
    let publisher = {
        let store = store.clone();
        let staged: Vec<PathBuf> = namespaces.iter().map(|_| stage(scratch, b"x")).collect();
        let namespaces = namespaces.clone();
        tokio::spawn(async move {
            for (namespace, staged) in namespaces.iter().zip(staged) {
                let target = key(&format!("{namespace}/vpc/aws"), "1.0.0");
                store
                    .publish(&target, staged, &meta("cc", 1))
                    .await
                    .unwrap();
            }
        })
    };
    loop {
        let done = publisher.is_finished();
        for namespace in &namespaces {
            let module = key(&format!("{namespace}/vpc/aws"), "1.0.0").module;
            if !store.list_versions(&module).await.unwrap().is_empty() {
                assert!(
                    store.namespace_has_uploads(namespace).await.unwrap(),
                    "a visible uploaded version has its namespace mark ({namespace})"
                );
            }
        }
        if done {
            break;
        }
        tokio::task::yield_now().await;
    }
    publisher.await.unwrap();
}

fn addresses(modules: Vec<ModuleAddress>) -> Vec<String> {
    modules.iter().map(ToString::to_string).collect()
}

/// The module listing: every module with a version, once, sorted by namespace, name and
/// system; no namespace marks, docs or emptied modules in it.
pub async fn archive_store_module_listing(store: Arc<dyn ArchiveStore>, scratch: &Path) {
    assert!(
        store.list_modules().await.unwrap().is_empty(),
        "an empty store lists no modules"
    );
    let mut pin_meta = meta("bb", 1);
    pin_meta.source = "pin".into();
    for (module, version, meta) in [
        ("zulu/vpc/aws", "1.0.0", meta("aa", 1)),
        ("alpha/vpc/azurerm", "1.0.0", meta("aa", 1)),
        ("alpha/vpc/aws", "1.0.0", meta("aa", 1)),
        ("alpha/vpc/aws", "1.1.0", meta("aa", 1)),
        ("alpha/vpc-extra/aws", "0.1.0", meta("aa", 1)),
        ("pinned/consul/aws", "0.1.0", pin_meta.clone()),
    ] {
        let version = key(module, version);
        store
            .publish(&version, stage(scratch, b"x"), &meta)
            .await
            .unwrap();
        store.put_docs(&version, b"{}").await.unwrap();
    }
    assert!(store.namespace_has_uploads("alpha").await.unwrap());
    assert_eq!(
        addresses(store.list_modules().await.unwrap()),
        [
            "alpha/vpc/aws",
            "alpha/vpc/azurerm",
            "alpha/vpc-extra/aws",
            "pinned/consul/aws",
            "zulu/vpc/aws"
        ],
        "each module once, sorted by namespace, name and system"
    );

    assert!(store
        .unpublish(&key("pinned/consul/aws", "0.1.0"))
        .await
        .unwrap());
    assert_eq!(
        addresses(store.list_modules().await.unwrap()),
        [
            "alpha/vpc/aws",
            "alpha/vpc/azurerm",
            "alpha/vpc-extra/aws",
            "zulu/vpc/aws"
        ],
        "a module whose last version is unpublished is no longer listed"
    );
}

/// Docs: one object per version, stored after the version is published, replaced by a later
/// write, read back as written, and gone with the version.
pub async fn archive_store_docs(store: Arc<dyn ArchiveStore>, scratch: &Path) {
    let first = key("suite/docs/aws", "1.0.0");
    let second = key("suite/docs/aws", "1.1.0");
    assert_eq!(
        store.docs(&first).await.unwrap(),
        None,
        "an unknown version has no docs"
    );
    for version in [&first, &second] {
        store
            .publish(version, stage(scratch, b"x"), &meta("dd", 1))
            .await
            .unwrap();
    }
    assert_eq!(
        store.docs(&first).await.unwrap(),
        None,
        "a version published without docs (before docs existed) has none"
    );
    store.put_docs(&first, br#"{"v":1}"#).await.unwrap();
    assert_eq!(
        store.docs(&first).await.unwrap().as_deref(),
        Some(&br#"{"v":1}"#[..])
    );
    assert_eq!(
        store.docs(&second).await.unwrap(),
        None,
        "docs belong to one version"
    );
    store.put_docs(&first, br#"{"v":2}"#).await.unwrap();
    assert_eq!(
        store.docs(&first).await.unwrap().as_deref(),
        Some(&br#"{"v":2}"#[..]),
        "a later write replaces the docs"
    );
    assert_eq!(
        listed(store.list_versions(&first.module).await.unwrap()),
        ["1.0.0", "1.1.0"],
        "docs add no version"
    );
    assert!(
        read_archive(store.as_ref(), &first).await.unwrap() == b"x",
        "the archive is untouched"
    );

    // A pin, removed and pinned again: the docs go with the version.
    let pinned = key("suite/docs/aws", "2.0.0");
    let mut pin_meta = meta("ee", 1);
    pin_meta.source = "pin".into();
    store
        .publish(&pinned, stage(scratch, b"p"), &pin_meta)
        .await
        .unwrap();
    store.put_docs(&pinned, b"{}").await.unwrap();
    assert!(store.unpublish(&pinned).await.unwrap());
    assert_eq!(
        store.docs(&pinned).await.unwrap(),
        None,
        "unpublishing removes the docs"
    );
    store
        .publish(&pinned, stage(scratch, b"p"), &pin_meta)
        .await
        .unwrap();
    assert_eq!(store.docs(&pinned).await.unwrap(), None);
    assert_eq!(
        listed(store.list_versions(&first.module).await.unwrap()),
        ["1.0.0", "1.1.0", "2.0.0"]
    );
}
