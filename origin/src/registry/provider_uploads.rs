//! A provider release too large for one request to the origin (the origin Lambda takes 6 MB)
//! goes the way a large module archive does: `POST …/{version}/uploads` answers a presigned
//! URL to PUT the release's tar to, then `POST …/uploads/{upload_id}` checks the staged tar
//! exactly as a direct `PUT` is checked and publishes it, all or nothing.

use super::staged::StagedUpload;
use super::{OriginResponse, Registry};
use crate::error::ApiError;
use crate::names::ModuleVersion;
use crate::providers::ProviderAddress;
use crate::storage::{StagingKey, UploadStaging};
use std::sync::Arc;

impl Registry {
    fn provider_staging(&self) -> Result<&Arc<dyn UploadStaging>, ApiError> {
        self.staging.as_ref().ok_or_else(|| {
            ApiError::not_found(format!(
                "this registry takes provider releases of up to {} bytes directly in the body of a PUT; it has no separate large-upload path",
                self.config.max_provider_upload_bytes
            ))
        })
    }

    /// Step one: a presigned URL to PUT the release's tar to, and where to finalize it.
    pub(super) async fn start_provider_upload(
        &self,
        provider: ProviderAddress,
        version: ModuleVersion,
    ) -> Result<OriginResponse, ApiError> {
        let staging = self.provider_staging()?;
        let store = self.provider_store()?;
        if store.release(&provider, &version).await?.is_some() {
            return Err(super::providers::release_exists(&provider, &version));
        }
        self.start_staged(self.provider_staged_upload(staging.as_ref(), &provider, &version))
            .await
    }

    /// Step two: check the staged tar and publish it like a direct `PUT` (the same checks, the
    /// same answers, `protocols` from this request's query).
    pub(super) async fn finalize_provider_upload(
        &self,
        provider: ProviderAddress,
        version: ModuleVersion,
        upload_id: &str,
        query: &str,
        publisher: String,
    ) -> Result<OriginResponse, ApiError> {
        let staging = self.provider_staging()?;
        self.provider_store()?;
        let upload = self.provider_staged_upload(staging.as_ref(), &provider, &version);
        self.finish_staged(upload, upload_id, |body| {
            self.publish_provider(provider, version, body, query, publisher)
        })
        .await
    }

    fn provider_staged_upload<'a>(
        &self,
        staging: &'a dyn UploadStaging,
        provider: &ProviderAddress,
        version: &ModuleVersion,
    ) -> StagedUpload<'a> {
        StagedUpload {
            staging,
            key: StagingKey::provider(provider, version),
            version_path: format!("/v1/providers/{provider}/{version}"),
            max_bytes: self.config.max_provider_upload_bytes,
            what: "the release's tar (its zips, SHA256SUMS and SHA256SUMS.sig)",
        }
    }
}
