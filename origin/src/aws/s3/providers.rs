//! [`ProviderStore`] over S3, to the contract in [`crate::providers::store`]:
//!
//! ```text
//! {archives}_providers/{ns}/{type}/{version}/{files_id}/{file}   the zips, SHA256SUMS, .sig
//! providers/{ns}/{type}/{version}/release.json                   ProviderRelease, written last
//! provider-keys/{ns}/{KEY_ID}.json                                SigningKeyRecord
//! ```
//!
//! The files sit beneath the archive prefix, so that their `/archives/_providers/…` URL is
//! their key and CloudFront serves them from the bucket with no function (signed URLs). Each
//! publish attempt writes them under a random `files_id` of its own, so a losing publisher
//! never overwrites a winner's zip, then writes the record with `If-None-Match: *`, naming
//! that `files_id`: of concurrent publishers exactly one record lands, and the others delete
//! their files. Until the record lands nothing of the attempt is reachable (download URLs are
//! made from the record), so a release is never seen half-written.
//!
//! The records and the keys live outside the archive prefix, where CloudFront never reads.
//! Keys are objects in the same bucket, in the embedded store's layout, rather than items in
//! the token table: a key is read only when a release is published or keys are listed (never
//! on a download), a namespace has a handful, `If-None-Match: *` gives the conditional create
//! the contract asks for, and one S3 listing of `provider-keys/{ns}/` lists them; the token
//! table keeps its one-schema contract with the edge function.

use super::{archive_body, no_such_key_is_none, read_json_object, read_json_objects};
use super::{backend_error, backoff, is_conditional_conflict, is_precondition_failed, list_keys};
use super::{put_file, CONFLICT_RETRIES};
use crate::names::ModuleVersion;
use crate::providers::{ProviderAddress, ProviderRelease, ProviderStore, SigningKeyRecord};
use crate::registry::PROVIDER_FILES_PATH;
use crate::storage::{ArchiveBody, CreateOutcome, PublishOutcome, StorageError};
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use serde::de::DeserializeOwned;
use std::path::PathBuf;

/// Key prefix of the release records.
pub const PROVIDER_RECORDS_PREFIX: &str = "providers/";

/// Key prefix of the namespaces' signing keys.
pub const PROVIDER_KEYS_PREFIX: &str = "provider-keys/";

const RELEASE_FILE_NAME: &str = "release.json";

#[derive(Debug, Clone)]
pub struct S3ProviderStore {
    client: Client,
    bucket: String,
    /// `{archives}_providers/`
    files_prefix: String,
}

/// Removes the staged directory however `publish` ends.
struct RemoveDirOnDrop(PathBuf);

impl Drop for RemoveDirOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl S3ProviderStore {
    /// A store in `bucket`, with the files beneath `archive_prefix` (normalised, such as
    /// `archives/`) and the records and keys at the bucket's root.
    pub fn new(client: Client, bucket: impl Into<String>, archive_prefix: &str) -> Self {
        S3ProviderStore {
            client,
            bucket: bucket.into(),
            files_prefix: format!(
                "{}{PROVIDER_FILES_PATH}",
                super::normalize_prefix(archive_prefix)
            ),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `providers/{ns}/{type}/{version}/release.json`
    pub fn record_key(&self, provider: &ProviderAddress, version: &ModuleVersion) -> String {
        format!("{PROVIDER_RECORDS_PREFIX}{provider}/{version}/{RELEASE_FILE_NAME}")
    }

    /// `{archives}_providers/{ns}/{type}/{version}/{files_id}/{filename}`: the key that the
    /// file's `/archives/_providers/…` URL names.
    pub fn file_key(&self, release: &ProviderRelease, filename: &str) -> String {
        format!("{}{}", self.files_prefix, release.file_path(filename))
    }

    /// `provider-keys/{ns}/{KEY_ID}.json`
    pub fn key_key(&self, namespace: &str, key_id: &str) -> String {
        format!("{PROVIDER_KEYS_PREFIX}{namespace}/{key_id}.json")
    }

    /// A JSON object, `None` when there is no such key.
    async fn read_json<T: DeserializeOwned>(
        &self,
        object_key: &str,
    ) -> Result<Option<T>, StorageError> {
        read_json_object(&self.client, &self.bucket, object_key).await
    }

    /// A conditional create (`If-None-Match: *`) of a small JSON object: `Ok(false)` when the
    /// key exists. A `409` (a concurrent conditional write in flight) is retried.
    async fn create_json(&self, object_key: &str, body: Vec<u8>) -> Result<bool, StorageError> {
        for attempt in 0..=CONFLICT_RETRIES {
            let sent = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(object_key)
                .if_none_match("*")
                .content_type("application/json")
                .body(ByteStream::from(body.clone()))
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(true),
                Err(error) if is_precondition_failed(&error) => return Ok(false),
                Err(error) if is_conditional_conflict(&error) && attempt < CONFLICT_RETRIES => {
                    backoff(attempt).await;
                }
                Err(error) => return Err(backend_error(&format!("writing {object_key}"), error)),
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn delete(&self, object_key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(object_key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| backend_error(&format!("deleting {object_key}"), e))
    }

    /// Deletes an attempt's files, best effort: a leftover is unreachable (no record names
    /// it) and only costs its storage.
    async fn delete_files(&self, release: &ProviderRelease) {
        for filename in release.filenames() {
            let key = self.file_key(release, filename);
            if let Err(error) = self.delete(&key).await {
                tracing::warn!(%key, %error, "could not delete a losing publish attempt's file");
            }
        }
    }

    /// Uploads the attempt's files, then writes its record with `If-None-Match: *`.
    async fn put_release(
        &self,
        release: &ProviderRelease,
        staged: &std::path::Path,
        record_key: &str,
    ) -> Result<PublishOutcome, StorageError> {
        for filename in release.filenames() {
            let key = self.file_key(release, filename);
            let content_type = if filename.ends_with(".zip") {
                "application/zip"
            } else {
                "application/octet-stream"
            };
            let path = staged.join(filename);
            put_file(&self.client, &self.bucket, &key, &path, content_type).await?;
        }
        let record =
            serde_json::to_vec_pretty(release).map_err(|e| StorageError::Backend(e.to_string()))?;
        if self.create_json(record_key, record).await? {
            return Ok(PublishOutcome::Created);
        }
        // A `412` after the SDK retried a write whose answer was lost meets our own record.
        let ours = self
            .read_json::<ProviderRelease>(record_key)
            .await?
            .is_some_and(|stored| stored.files_id == release.files_id);
        Ok(if ours {
            PublishOutcome::Created
        } else {
            PublishOutcome::AlreadyExists
        })
    }
}

#[async_trait]
impl ProviderStore for S3ProviderStore {
    async fn list_releases(
        &self,
        provider: &ProviderAddress,
    ) -> Result<Vec<ProviderRelease>, StorageError> {
        let prefix = format!("{PROVIDER_RECORDS_PREFIX}{provider}/");
        let keys = list_keys(&self.client, &self.bucket, &prefix, None)
            .await?
            .into_iter()
            .filter(|key| key.ends_with(&format!("/{RELEASE_FILE_NAME}")))
            .collect();
        read_json_objects(&self.client, &self.bucket, keys).await
    }

    async fn release(
        &self,
        provider: &ProviderAddress,
        version: &ModuleVersion,
    ) -> Result<Option<ProviderRelease>, StorageError> {
        self.read_json(&self.record_key(provider, version)).await
    }

    async fn publish(
        &self,
        release: &ProviderRelease,
        staged: PathBuf,
    ) -> Result<PublishOutcome, StorageError> {
        let staged = RemoveDirOnDrop(staged);
        let provider = ProviderAddress {
            namespace: release.namespace.clone(),
            provider_type: release.provider_type.clone(),
        };
        let version = ModuleVersion::parse(&release.version)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let record_key = self.record_key(&provider, &version);
        let mut attempt = release.clone();
        attempt.files_id = Some(format!("{:032x}", rand::random::<u128>()));
        let outcome = self.put_release(&attempt, &staged.0, &record_key).await;
        if outcome.as_ref().ok() != Some(&PublishOutcome::Created) {
            // The loser's files, or a failed attempt's: unless its record landed after all
            // (an error whose answer was lost), nothing names them.
            let landed = matches!(
                self.read_json::<ProviderRelease>(&record_key).await,
                Ok(Some(stored)) if stored.files_id == attempt.files_id
            );
            if landed {
                return Ok(PublishOutcome::Created);
            }
            self.delete_files(&attempt).await;
        }
        outcome
    }

    async fn open_file(
        &self,
        provider: &ProviderAddress,
        version: &ModuleVersion,
        filename: &str,
    ) -> Result<Option<ArchiveBody>, StorageError> {
        let Some(release) = self.release(provider, version).await? else {
            return Ok(None);
        };
        // Only the files the record names: never a key built from what a URL says.
        if !release.filenames().any(|name| name == filename) {
            return Ok(None);
        }
        let key = self.file_key(&release, filename);
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await;
        Ok(no_such_key_is_none(sent, &key)?.map(archive_body))
    }

    async fn add_key(
        &self,
        namespace: &str,
        key: &SigningKeyRecord,
    ) -> Result<CreateOutcome, StorageError> {
        let record =
            serde_json::to_vec_pretty(key).map_err(|e| StorageError::Backend(e.to_string()))?;
        Ok(
            if self
                .create_json(&self.key_key(namespace, &key.key_id), record)
                .await?
            {
                CreateOutcome::Created
            } else {
                CreateOutcome::NameTaken
            },
        )
    }

    async fn keys(&self, namespace: &str) -> Result<Vec<SigningKeyRecord>, StorageError> {
        let prefix = format!("{PROVIDER_KEYS_PREFIX}{namespace}/");
        let object_keys = list_keys(&self.client, &self.bucket, &prefix, None)
            .await?
            .into_iter()
            .filter(|key| key.ends_with(".json"))
            .collect();
        let mut keys: Vec<SigningKeyRecord> =
            read_json_objects(&self.client, &self.bucket, object_keys).await?;
        keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        Ok(keys)
    }

    /// A `HEAD` first: S3's `DeleteObject` answers the same whether or not the key existed.
    async fn remove_key(&self, namespace: &str, key_id: &str) -> Result<bool, StorageError> {
        let object_key = self.key_key(namespace, key_id);
        let sent = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&object_key)
            .send()
            .await;
        if no_such_key_is_none(sent, &object_key)?.is_none() {
            return Ok(false);
        }
        self.delete(&object_key).await?;
        Ok(true)
    }
}
