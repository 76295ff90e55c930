//! Big objects under the SDK's answer timeout: the attempt's clock runs while the body is
//! sent, so a provider package (a mirrored zip, a release's files; up to hundreds of
//! megabytes) gets a timeout grown by its size, as a module archive does. With the bare
//! timeout a big upload over a slow link would be cut off, sent again and again, and fail.

use crate::rig::{Rig, SDK_READ_TIMEOUT};
use std::time::Duration;
use tfreg_origin::aws::S3MirrorStore;
use tfreg_origin::mirror::{MirrorProvider, MirrorStore, MirroredPackage};
use tfreg_origin::names::ModuleVersion;
use tfreg_origin::providers::Platform;
use tfreg_testkit::faults::{Fault, Rule, When};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirrored_package_gets_a_timeout_grown_by_its_size() {
    let rig = Rig::start().await;
    let store = S3MirrorStore::new(rig.s3_through.clone(), &rig.bucket, "archives/");
    // Every write of the zip is answered 1.5 s after the server stored it: past the SDK's
    // 1 s, within the 1 s + 1 s per MiB a 3 MiB zip is given.
    let stall = rig.proxy.add(
        Rule::s3(
            "PutObject",
            Fault::Stall(SDK_READ_TIMEOUT + Duration::from_millis(500)),
            When::Always,
        )
        .on(".zip"),
    );
    let scratch = tempfile::tempdir().unwrap();
    let zip = scratch.path().join("package.zip");
    std::fs::write(&zip, vec![7u8; 3 * 1024 * 1024]).unwrap();
    let package = MirroredPackage {
        hostname: "registry.example.test".into(),
        namespace: "acme".into(),
        provider_type: "dns".into(),
        version: "1.2.0".into(),
        os: "linux".into(),
        arch: "amd64".into(),
        filename: "terraform-provider-dns_1.2.0_linux_amd64.zip".into(),
        sha256: "00".repeat(32),
        h1: "h1:AAAA".into(),
        size: 3 * 1024 * 1024,
        key_id: "0123456789ABCDEF".into(),
        source_url: "https://releases.example.test/x.zip".into(),
        fetched_at: "2026-12-01T00:00:00Z".into(),
    };
    assert!(store
        .put(&package, zip)
        .await
        .expect("kept despite the slow answer"));
    let stats = rig.proxy.remove(stall);
    assert_eq!(stats.matched, 1, "one attempt, not retried: {stats:?}");
    let provider = MirrorProvider::new("registry.example.test", "acme", "dns").unwrap();
    let version = ModuleVersion::parse("1.2.0").unwrap();
    let platform = Platform::new("linux", "amd64").unwrap();
    let body = store
        .open_zip(&provider, &version, &platform)
        .await
        .unwrap()
        .expect("the zip");
    assert_eq!(body.len, 3 * 1024 * 1024);
}
