//! The storage conformance suite, and what is particular to S3 and DynamoDB (the version
//! index, hand-uploaded objects, the item schema the edge reads), through the real SDK clients
//! against a local moto server.

use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tfreg_edge::{hash_token, Identity, Tier, IDENTITY_HEADER};
use tfreg_origin::aws::aws_sdk_dynamodb::types::AttributeValue;
use tfreg_origin::aws::aws_sdk_s3::primitives::ByteStream;
use tfreg_origin::aws::{DynamoTokenStore, S3ArchiveStore};
use tfreg_origin::conformance;
use tfreg_origin::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use tfreg_origin::signed_url::UrlSigner;
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
        repository_url: None,
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

mod dynamodb_items;
mod mirror;
mod providers;
mod s3_layout;
mod suite;
