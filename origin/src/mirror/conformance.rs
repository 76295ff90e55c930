//! What every [`MirrorStore`] must do, as one function the embedded store's unit tests and the
//! S3 store's tests against moto both run.

use super::{MirrorProvider, MirrorStore, MirroredPackage};
use crate::names::ModuleVersion;
use crate::providers::Platform;
use std::path::Path;
use tokio::io::AsyncReadExt;

fn package(version: &str, platform: &Platform, sha256: &str) -> MirroredPackage {
    MirroredPackage {
        hostname: "registry.example.test".into(),
        namespace: "acme".into(),
        provider_type: "dns".into(),
        version: version.into(),
        os: platform.os.clone(),
        arch: platform.arch.clone(),
        filename: format!("terraform-provider-dns_{version}_{platform}.zip"),
        sha256: sha256.into(),
        h1: "h1:AAAA".into(),
        size: 3,
        key_id: "0123456789ABCDEF".into(),
        source_url: "https://releases.example.test/x.zip".into(),
        fetched_at: "2026-11-30T00:00:00Z".into(),
    }
}

fn staged(scratch: &Path, name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = scratch.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// Panics on the first broken promise. `scratch` is a directory the staged zips are written
/// to (the store takes them over).
pub async fn check_mirror_store(store: &dyn MirrorStore, scratch: &Path) {
    let provider = MirrorProvider::new("registry.example.test", "acme", "dns").unwrap();
    let other = MirrorProvider::new("registry.example.test", "acme", "dnsx").unwrap();
    let version = ModuleVersion::parse("1.2.0").unwrap();
    let linux = Platform::new("linux", "amd64").unwrap();
    let darwin = Platform::new("darwin", "arm64").unwrap();

    assert!(store.versions(&provider).await.unwrap().is_empty());
    assert!(store
        .packages(&provider, &version)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .package(&provider, &version, &linux)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .open_zip(&provider, &version, &linux)
        .await
        .unwrap()
        .is_none());

    let first = package("1.2.0", &linux, "aa");
    let zip = staged(scratch, "first.zip", b"zip");
    assert!(store.put(&first, zip.clone()).await.unwrap());
    assert!(!zip.exists(), "the staged zip is taken over");
    // The first package stays.
    let second = package("1.2.0", &linux, "bb");
    let zip = staged(scratch, "second.zip", b"zap");
    assert!(!store.put(&second, zip.clone()).await.unwrap());
    assert!(!zip.exists(), "a losing put still removes its staged zip");
    assert_eq!(
        store.package(&provider, &version, &linux).await.unwrap(),
        Some(first.clone())
    );
    let mut body = store
        .open_zip(&provider, &version, &linux)
        .await
        .unwrap()
        .expect("the zip");
    assert_eq!(body.len, 3);
    let mut bytes = Vec::new();
    body.reader.read_to_end(&mut bytes).await.unwrap();
    assert_eq!(bytes, b"zip");

    let darwin_package = package("1.2.0", &darwin, "cc");
    let older = package("1.1.0", &linux, "dd");
    for (i, p) in [&darwin_package, &older].into_iter().enumerate() {
        let zip = staged(scratch, &format!("more-{i}.zip"), b"zip");
        assert!(store.put(p, zip).await.unwrap());
    }
    let mut versions = store.versions(&provider).await.unwrap();
    versions.sort();
    assert_eq!(
        versions,
        [ModuleVersion::parse("1.1.0").unwrap(), version.clone()]
    );
    let mut listed = store.packages(&provider, &version).await.unwrap();
    listed.sort_by(|a, b| a.os.cmp(&b.os));
    assert_eq!(listed, vec![darwin_package, first]);
    let older_version = ModuleVersion::parse("1.1.0").unwrap();
    assert_eq!(
        store.packages(&provider, &older_version).await.unwrap(),
        vec![older]
    );
    // Whole segments: acme/dnsx is another provider.
    assert!(store.versions(&other).await.unwrap().is_empty());
    assert!(store.packages(&other, &version).await.unwrap().is_empty());
}
