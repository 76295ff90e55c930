//! [`MirrorStore`] over S3: the provider mirror's packages beside the module archives, keyed
//! as their `/archives/` URL paths are (so CloudFront's `/archives/*` behaviour could serve
//! them straight from the bucket):
//!
//! ```text
//! {prefix}_mirror/{hostname}/{namespace}/{type}/{version}/{os}_{arch}/{filename}     the zip
//! {prefix}_mirror/{hostname}/{namespace}/{type}/{version}/{os}_{arch}/package.json   MirroredPackage
//! ```
//!
//! The zip goes first, the record last with `If-None-Match: *`: a package is visible only
//! with its zip in place, and of concurrent writers the first record stays (every writer's
//! zip passed the same signed `SHA256SUMS`, so the bytes are the same).

use super::{
    archive_body, backend_error, backoff, is_conditional_conflict, is_precondition_failed,
};
use super::{list_keys, no_such_key_is_none, normalize_prefix, put_file, CONFLICT_RETRIES};
use super::{read_json_object, read_json_objects};
use crate::mirror::{MirrorProvider, MirrorStore, MirroredPackage, MIRROR_FILES_PATH};
use crate::names::ModuleVersion;
use crate::providers::Platform;
use crate::storage::{ArchiveBody, StorageError};
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use std::path::PathBuf;

const RECORD_FILE_NAME: &str = "package.json";

#[derive(Debug, Clone)]
pub struct S3MirrorStore {
    client: Client,
    bucket: String,
    /// `{archives prefix}_mirror/`.
    prefix: String,
}

impl S3MirrorStore {
    /// The store beneath the archives' `prefix` of `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>, archives_prefix: &str) -> Self {
        S3MirrorStore {
            client,
            bucket: bucket.into(),
            prefix: format!("{}{MIRROR_FILES_PATH}", normalize_prefix(archives_prefix)),
        }
    }

    fn provider_prefix(&self, provider: &MirrorProvider) -> String {
        format!("{}{provider}/", self.prefix)
    }

    fn package_prefix(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
        platform: &Platform,
    ) -> String {
        format!("{}{version}/{platform}/", self.provider_prefix(provider))
    }

    async fn read_record(&self, key: &str) -> Result<Option<MirroredPackage>, StorageError> {
        read_json_object(&self.client, &self.bucket, key).await
    }
}

#[async_trait]
impl MirrorStore for S3MirrorStore {
    async fn versions(
        &self,
        provider: &MirrorProvider,
    ) -> Result<Vec<ModuleVersion>, StorageError> {
        // From the record keys alone: `{provider}/{version}/{platform}/package.json`.
        let prefix = self.provider_prefix(provider);
        let mut versions: Vec<ModuleVersion> = list_keys(&self.client, &self.bucket, &prefix, None)
            .await?
            .iter()
            .filter_map(|key| {
                let rest = key.strip_prefix(&prefix)?;
                let (version, rest) = rest.split_once('/')?;
                let (_platform, file) = rest.split_once('/')?;
                (file == RECORD_FILE_NAME).then_some(version)
            })
            .filter_map(|version| ModuleVersion::parse(version).ok())
            .collect();
        versions.sort();
        versions.dedup();
        Ok(versions)
    }

    async fn packages(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
    ) -> Result<Vec<MirroredPackage>, StorageError> {
        let prefix = format!("{}{version}/", self.provider_prefix(provider));
        let records = list_keys(&self.client, &self.bucket, &prefix, None)
            .await?
            .into_iter()
            .filter(|key| key.ends_with(&format!("/{RECORD_FILE_NAME}")))
            .collect();
        read_json_objects(&self.client, &self.bucket, records).await
    }

    async fn package(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
        platform: &Platform,
    ) -> Result<Option<MirroredPackage>, StorageError> {
        let key = format!(
            "{}{RECORD_FILE_NAME}",
            self.package_prefix(provider, version, platform)
        );
        self.read_record(&key).await
    }

    async fn put(
        &self,
        package: &MirroredPackage,
        staged_zip: PathBuf,
    ) -> Result<bool, StorageError> {
        struct RemoveOnDrop(PathBuf);
        impl Drop for RemoveOnDrop {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        let staged = RemoveOnDrop(staged_zip);
        let corrupt = |e: &dyn std::fmt::Display| StorageError::Corrupt(e.to_string());
        let provider = MirrorProvider::new(
            &package.hostname,
            &package.namespace,
            &package.provider_type,
        )
        .map_err(|e| corrupt(&e))?;
        let version = ModuleVersion::parse(&package.version).map_err(|e| corrupt(&e))?;
        let platform = Platform::new(&package.os, &package.arch).map_err(|e| corrupt(&e))?;
        let prefix = self.package_prefix(&provider, &version, &platform);
        let record_key = format!("{prefix}{RECORD_FILE_NAME}");
        if self.read_record(&record_key).await?.is_some() {
            return Ok(false);
        }
        let zip_key = format!("{prefix}{}", package.filename);
        put_file(
            &self.client,
            &self.bucket,
            &zip_key,
            &staged.0,
            "application/zip",
        )
        .await?;
        let record =
            serde_json::to_vec_pretty(package).map_err(|e| StorageError::Backend(e.to_string()))?;
        for attempt in 0.. {
            let sent = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&record_key)
                .if_none_match("*")
                .content_type("application/json")
                .body(ByteStream::from(record.clone()))
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(true),
                Err(error) if is_precondition_failed(&error) => return Ok(false),
                Err(error) if is_conditional_conflict(&error) && attempt < CONFLICT_RETRIES => {
                    backoff(attempt).await;
                }
                Err(error) => return Err(backend_error(&format!("writing {record_key}"), error)),
            }
        }
        unreachable!("the loop returns")
    }

    async fn open_zip(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
        platform: &Platform,
    ) -> Result<Option<ArchiveBody>, StorageError> {
        let Some(package) = self.package(provider, version, platform).await? else {
            return Ok(None);
        };
        let key = format!(
            "{}{}",
            self.package_prefix(provider, version, platform),
            package.filename
        );
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await;
        Ok(no_such_key_is_none(sent, &key)?.map(archive_body))
    }
}
