//! [`UploadStaging`] over S3: presigned PUTs to `staging/{ns}/{name}/{system}/{version}/{id}`
//! (a provider release's: `staging/_providers/{ns}/{type}/{version}/{id}`),
//! beside (never beneath) the archive prefix, so CloudFront never serves a staged object and
//! a lifecycle rule on `staging/` can expire abandoned uploads.

use super::{archive_body, backend_error};
use crate::storage::{ArchiveBody, StagingKey, StorageError, UploadStaging};
use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::Client;
use std::time::Duration;

/// Default key prefix of staged uploads.
pub const DEFAULT_STAGING_PREFIX: &str = "staging/";

#[derive(Debug, Clone)]
pub struct S3UploadStaging {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3UploadStaging {
    /// Staging in `bucket` under `prefix`, with the client the archive store uses.
    pub fn new(client: Client, bucket: impl Into<String>, prefix: &str) -> Self {
        let mut prefix = prefix.trim_start_matches('/').to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        S3UploadStaging {
            client,
            bucket: bucket.into(),
            prefix,
        }
    }

    fn object_key(&self, key: &StagingKey, upload_id: &str) -> String {
        format!("{}{key}/{upload_id}", self.prefix)
    }
}

#[async_trait]
impl UploadStaging for S3UploadStaging {
    async fn upload_url(
        &self,
        key: &StagingKey,
        upload_id: &str,
        expires_in_secs: u64,
    ) -> Result<String, StorageError> {
        let presigning = PresigningConfig::expires_in(Duration::from_secs(expires_in_secs))
            .map_err(|e| backend_error("presigning an upload", e))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.object_key(key, upload_id))
            .presigned(presigning)
            .await
            .map_err(|e| backend_error("presigning an upload", e))?;
        Ok(request.uri().to_owned())
    }

    async fn open(
        &self,
        key: &StagingKey,
        upload_id: &str,
    ) -> Result<Option<ArchiveBody>, StorageError> {
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object_key(key, upload_id))
            .send()
            .await;
        match result {
            Ok(object) => Ok(Some(archive_body(object))),
            Err(error) if error.code() == Some("NoSuchKey") => Ok(None),
            Err(error) => Err(backend_error("reading a staged upload", error)),
        }
    }

    async fn delete(&self, key: &StagingKey, upload_id: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.object_key(key, upload_id))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| backend_error("deleting a staged upload", e))
    }
}
