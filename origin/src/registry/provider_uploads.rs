//! A provider release too large for one request to the origin (the origin Lambda takes 6 MB)
//! goes the way a large module archive does: `POST …/{version}/uploads` answers a presigned
//! URL to PUT the release's tar to, then `POST …/uploads/{upload_id}` checks the staged tar
//! exactly as a direct `PUT` is checked and publishes it, all or nothing.

use super::clock::{now_unix, unix_to_rfc3339};
use super::uploads::{check_upload_id, new_upload_id, spool};
use super::{OriginResponse, Registry, RequestBody};
use crate::error::ApiError;
use crate::names::ModuleVersion;
use crate::providers::ProviderAddress;
use crate::storage::{StagingKey, UploadStaging};
use serde_json::json;
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
        let upload_id = new_upload_id();
        let ttl = self.config.staged_upload_url_ttl_secs;
        let upload_url = staging
            .upload_url(&StagingKey::provider(&provider, &version), &upload_id, ttl)
            .await?;
        let finalize = format!("/v1/providers/{provider}/{version}/uploads/{upload_id}");
        Ok(OriginResponse::json(
            201,
            json!({
                "upload_id": upload_id,
                "upload_url": upload_url,
                "method": "PUT",
                "expires_at": unix_to_rfc3339(now_unix() + ttl),
                "max_bytes": self.config.max_provider_upload_bytes,
                "finalize": finalize,
                "next": format!("PUT the release's tar (its zips, SHA256SUMS and SHA256SUMS.sig) to upload_url, then POST {finalize}"),
            }),
        ))
    }

    /// Step two: check the staged tar and publish it like a direct `PUT` (the same checks, the
    /// same answers, `protocols` from this request's query). The staged object is removed once
    /// the answer is other than "try again" (a 5xx keeps it for a retry).
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
        check_upload_id(upload_id)?;
        let staging_key = StagingKey::provider(&provider, &version);
        let Some(mut staged) = staging.open(&staging_key, upload_id).await? else {
            return Err(ApiError::not_found(format!(
                "nothing was uploaded for upload {upload_id}: PUT the release's tar to its upload_url first (the URL lives {} seconds)",
                self.config.staged_upload_url_ttl_secs
            )));
        };
        let limit = self.config.max_provider_upload_bytes;
        let outcome = if staged.len > limit {
            Err(ApiError::archive_too_large(limit))
        } else {
            let spooled = spool(&mut staged, &self.config.scratch_dir, limit).await?;
            self.publish_provider(
                provider,
                version,
                RequestBody::File(spooled),
                query,
                publisher,
            )
            .await
        };
        let settled = outcome
            .as_ref()
            .map_or_else(|error| error.status < 500, |_| true);
        if settled {
            staging.delete(&staging_key, upload_id).await?;
        }
        outcome
    }
}
