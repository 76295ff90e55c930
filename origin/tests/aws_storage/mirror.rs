//! The provider mirror's S3 store against moto: the same promises as the embedded store
//! ([`tfreg_origin::mirror::conformance`]), and keys that are the packages' `/archives/` paths.

use super::*;
use tfreg_origin::aws::S3MirrorStore;
use tfreg_origin::mirror::conformance::check_mirror_store;

#[tokio::test]
async fn the_s3_mirror_store_keeps_its_promises_under_the_archive_paths() {
    let fixture = s3_store().await;
    let store = S3MirrorStore::new(
        fixture.store.client().clone(),
        fixture.store.bucket(),
        tfreg_origin::aws::DEFAULT_S3_PREFIX,
    );
    check_mirror_store(&store, fixture.scratch.path()).await;
    let zip = fixture
        .store
        .client()
        .head_object()
        .bucket(fixture.store.bucket())
        .key("archives/_mirror/registry.example.test/acme/dns/1.2.0/linux_amd64/terraform-provider-dns_1.2.0_linux_amd64.zip")
        .send()
        .await
        .expect("the zip's key is its /archives/ URL path");
    assert_eq!(zip.content_length(), Some(3));
    assert!(std::fs::read_dir(fixture.scratch.path())
        .unwrap()
        .next()
        .is_none());
}
