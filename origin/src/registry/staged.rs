//! The large-upload path both kinds of release share (module archives, provider releases):
//! step one answers a presigned URL to PUT the body to and where to finalize it; step two
//! opens what was staged, spools it within the limit, hands it to the publisher as a request
//! body would be, and removes the staged object once the answer is other than "try again" (a
//! 5xx keeps it for a retry).

use super::clock::{now_unix, unix_to_rfc3339};
use super::{OriginResponse, Registry, RequestBody};
use crate::error::ApiError;
use crate::storage::{ArchiveBody, StagingKey, StorageError, UploadStaging};
use rand::RngCore;
use serde_json::json;
use std::future::Future;

/// One large upload: where it is staged and what it is.
pub(super) struct StagedUpload<'a> {
    pub staging: &'a dyn UploadStaging,
    pub key: StagingKey,
    /// The version's path (`/v1/modules/acme/vpc/aws/1.2.0`): `{path}/uploads/{id}` finalizes.
    pub version_path: String,
    pub max_bytes: u64,
    /// What to PUT, for the answers (`the archive`).
    pub what: &'static str,
}

impl Registry {
    /// Step one: a presigned URL to PUT the body to, and where to finalize it.
    pub(super) async fn start_staged(
        &self,
        upload: StagedUpload<'_>,
    ) -> Result<OriginResponse, ApiError> {
        let upload_id = new_upload_id();
        let ttl = self.config.staged_upload_url_ttl_secs;
        let upload_url = upload
            .staging
            .upload_url(&upload.key, &upload_id, ttl)
            .await?;
        let finalize = format!("{}/uploads/{upload_id}", upload.version_path);
        Ok(OriginResponse::json(
            201,
            json!({
                "upload_id": upload_id,
                "upload_url": upload_url,
                "method": "PUT",
                "expires_at": unix_to_rfc3339(now_unix() + ttl),
                "max_bytes": upload.max_bytes,
                "finalize": finalize,
                "next": format!("PUT {} to upload_url, then POST {finalize}", upload.what),
            }),
        ))
    }

    /// Step two: `publish` the staged body (spooled to a scratch file, within the limit), then
    /// remove the staged object unless the answer is a 5xx.
    pub(super) async fn finish_staged<F, Fut>(
        &self,
        upload: StagedUpload<'_>,
        upload_id: &str,
        publish: F,
    ) -> Result<OriginResponse, ApiError>
    where
        F: FnOnce(RequestBody) -> Fut,
        Fut: Future<Output = Result<OriginResponse, ApiError>>,
    {
        check_upload_id(upload_id)?;
        let Some(mut staged) = upload.staging.open(&upload.key, upload_id).await? else {
            return Err(ApiError::not_found(format!(
                "nothing was uploaded for upload {upload_id}: PUT {} to its upload_url first (the URL lives {} seconds)",
                upload.what, self.config.staged_upload_url_ttl_secs
            )));
        };
        let limit = upload.max_bytes;
        let outcome = if staged.len > limit {
            Err(ApiError::archive_too_large(limit))
        } else {
            match spool(&mut staged, &self.config.scratch_dir, limit).await {
                Ok(spooled) => publish(RequestBody::File(spooled)).await,
                Err(error) => Err(error),
            }
        };
        let settled = outcome
            .as_ref()
            .map_or_else(|error| error.status < 500, |_| true);
        if settled {
            upload.staging.delete(&upload.key, upload_id).await?;
        }
        outcome
    }
}

/// A new upload's id: 32 lowercase hex digits.
fn new_upload_id() -> String {
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    hex::encode(id)
}

/// An upload id as [`new_upload_id`] makes them, or a `400`.
fn check_upload_id(upload_id: &str) -> Result<(), ApiError> {
    let well_formed = upload_id.len() == 32
        && upload_id
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if well_formed {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid upload id {upload_id:?}: use the upload_id the uploads request returned"
        )))
    }
}

/// Copies a staged body into an unnamed scratch file, refusing more than `limit` bytes.
async fn spool(
    staged: &mut ArchiveBody,
    scratch_dir: &std::path::Path,
    limit: u64,
) -> Result<std::fs::File, ApiError> {
    use tokio::io::AsyncReadExt;
    let file = tempfile::tempfile_in(scratch_dir).map_err(StorageError::Io)?;
    let mut file = tokio::fs::File::from_std(file);
    let copied = tokio::io::copy(&mut (&mut staged.reader).take(limit + 1), &mut file)
        .await
        .map_err(StorageError::Io)?;
    if copied > limit {
        return Err(ApiError::archive_too_large(limit));
    }
    Ok(file.into_std().await)
}
