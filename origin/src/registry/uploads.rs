//! Publishing: a `PUT` with the archive as the body, and the staged path for archives larger
//! than a request may carry (a presigned upload, then finalize).

use super::clock::now_rfc3339;
use super::modules::{describe_version, version_exists};
use super::staged::StagedUpload;
use super::{OriginResponse, Registry, RequestBody};
use crate::archive::normalize_archive;
use crate::docs::stored::{extract_docs_from_file, store_docs};
use crate::error::ApiError;
use crate::names::ArchiveKey;
use crate::storage::{PublishOutcome, StagingKey, StorageError, UploadStaging, VersionMeta};
use serde_json::json;
use std::io::{Seek, SeekFrom};
use std::sync::Arc;

impl Registry {
    /// Validates, normalises and publishes an archive of at most `limit` bytes.
    pub(super) async fn upload(
        &self,
        key: ArchiveKey,
        body: RequestBody,
        uploader: String,
        options: PublishOptions,
        limit: u64,
    ) -> Result<OriginResponse, ApiError> {
        // Whatever the adapter already enforced, the registry holds its own limit.
        if body.size()? > limit {
            return Err(ApiError::archive_too_large(limit));
        }
        // Cheap early answer; the conditional publish below is what makes it correct.
        if self.archives.version_meta(&key).await?.is_some() {
            return Err(version_exists(&key));
        }
        let limits = self.config.archive_limits.clone();
        let scratch_dir = self.config.scratch_dir.clone();
        let (normalized, staged) = tokio::task::spawn_blocking(move || {
            let output = tempfile::Builder::new()
                .prefix("upload-")
                .suffix(".tar.gz")
                .tempfile_in(&scratch_dir)
                .map_err(|e| ApiError::from(StorageError::Io(e)))?;
            let normalized = match body {
                RequestBody::Empty => return Err(empty_body()),
                RequestBody::Bytes(bytes) if bytes.is_empty() => return Err(empty_body()),
                RequestBody::Bytes(bytes) => {
                    normalize_archive(std::io::Cursor::new(bytes), output.as_file(), &limits)?
                }
                RequestBody::File(mut file) => {
                    file.seek(SeekFrom::Start(0))
                        .map_err(|e| ApiError::from(StorageError::Io(e)))?;
                    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
                        return Err(empty_body());
                    }
                    normalize_archive(std::io::BufReader::new(file), output.as_file(), &limits)?
                }
            };
            Ok((normalized, output.into_temp_path()))
        })
        .await
        .map_err(|e| ApiError::new(500, "internal", format!("upload task failed: {e}")))??;

        let meta = VersionMeta {
            sha256: normalized.sha256.clone(),
            size: normalized.size,
            uploaded_at: now_rfc3339(),
            uploader,
            source: "upload".into(),
            origin_url: None,
            repository_url: options.repository_url,
        };
        let docs = extract_docs_from_file(staged.to_path_buf()).await;
        let outcome = self
            .archives
            .publish(&key, staged.to_path_buf(), &meta)
            .await;
        self.listings.forget(&key.module);
        let outcome = outcome?;
        drop(staged);
        match outcome {
            PublishOutcome::Created => {
                tracing::info!(module = %key.module, version = %key.version, size = meta.size, uploader = %meta.uploader, "version published");
                store_docs(self.archives.as_ref(), &key, &meta.sha256, &docs).await;
                self.record_in_catalogue(self.archives.as_ref(), &key.module, false)
                    .await;
                let mut body = describe_version(&key, &meta);
                body["files"] = json!(normalized.files);
                body["docs_available"] = json!(docs.docs_available);
                body["parse_errors"] = json!(docs.parse_errors);
                let mut response = OriginResponse::json(201, body);
                response.headers.push((
                    "location".into(),
                    format!("/v1/modules/{}/{}", key.module, key.version),
                ));
                Ok(response)
            }
            PublishOutcome::AlreadyExists => Err(version_exists(&key)),
        }
    }

    pub(super) fn staging(&self) -> Result<&Arc<dyn UploadStaging>, ApiError> {
        self.staging.as_ref().ok_or_else(|| {
            ApiError::not_found(format!(
                "this registry takes archives of up to {} bytes directly in the body of a PUT; it has no separate large-upload path",
                self.config.max_upload_bytes
            ))
        })
    }

    /// Step one of a large upload: a presigned URL to PUT the archive to, and where to
    /// finalize it.
    pub(super) async fn start_staged_upload(
        &self,
        key: ArchiveKey,
    ) -> Result<OriginResponse, ApiError> {
        let staging = self.staging()?;
        if self.archives.version_meta(&key).await?.is_some() {
            return Err(version_exists(&key));
        }
        self.start_staged(self.module_staged_upload(staging.as_ref(), &key))
            .await
    }

    /// Step two: validate the staged archive and publish it like any upload.
    pub(super) async fn finalize_staged_upload(
        &self,
        key: ArchiveKey,
        upload_id: &str,
        uploader: String,
        options: PublishOptions,
    ) -> Result<OriginResponse, ApiError> {
        let staging = self.staging()?;
        let upload = self.module_staged_upload(staging.as_ref(), &key);
        let limit = upload.max_bytes;
        self.finish_staged(upload, upload_id, |body| {
            self.upload(key.clone(), body, uploader, options, limit)
        })
        .await
    }

    fn module_staged_upload<'a>(
        &self,
        staging: &'a dyn UploadStaging,
        key: &ArchiveKey,
    ) -> StagedUpload<'a> {
        StagedUpload {
            staging,
            key: StagingKey::module(key),
            version_path: format!("/v1/modules/{}/{}", key.module, key.version),
            max_bytes: self.config.max_staged_upload_bytes,
            what: "the archive",
        }
    }
}

/// The longest repository URL taken: S3 keeps a version's metadata in 2 KB of object
/// metadata, shared with the other fields.
pub const MAX_REPOSITORY_URL_LEN: usize = 512;

/// What a publisher may say about a version beside its archive, as query parameters of the
/// `PUT` (or of the finalize request of a large upload).
#[derive(Debug, Default)]
pub(super) struct PublishOptions {
    /// `repository_url`: the module's source repository (an http(s) URL without
    /// credentials), answered as the module's `source`, where update bots such as Renovate
    /// look for release notes.
    pub repository_url: Option<String>,
}

impl PublishOptions {
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut options = PublishOptions::default();
        for (key, value) in super::catalogue::query_pairs(query) {
            if key == "repository_url" && !value.is_empty() {
                options.repository_url = Some(repository_url(&value)?);
            }
        }
        Ok(options)
    }
}

/// A repository URL as stored: http(s), with a host, without credentials (they would be shown
/// to every reader), at most [`MAX_REPOSITORY_URL_LEN`] characters, in its normal form.
fn repository_url(text: &str) -> Result<String, ApiError> {
    let invalid = |why: &str| {
        ApiError::bad_request(format!(
            "invalid repository_url: {why} (give the module's repository as an http(s) URL, such as https://github.com/acme/terraform-aws-vpc)"
        ))
    };
    let length = text.chars().count();
    if length > MAX_REPOSITORY_URL_LEN {
        return Err(invalid(&format!(
            "it is {length} characters long, over {MAX_REPOSITORY_URL_LEN}"
        )));
    }
    let url = reqwest::Url::parse(text).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid("only http and https URLs are taken"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: it may be a secret.
        return Err(invalid(
            "it carries credentials, which every reader of the registry would see",
        ));
    }
    // The normal form may be longer (a trailing `/`, percent-encoded characters).
    let normal = url.to_string();
    if normal.len() > 2 * MAX_REPOSITORY_URL_LEN {
        return Err(invalid(&format!(
            "it is {} characters long once encoded, over {}",
            normal.len(),
            2 * MAX_REPOSITORY_URL_LEN
        )));
    }
    Ok(normal)
}

fn empty_body() -> ApiError {
    ApiError::bad_request(
        "the request body is empty: send the module archive (tar.gz or zip) as the body",
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{code, json, module_tar_gz, TestRegistry};
    use super::super::RequestBody;
    use tfreg_edge::Tier;

    async fn put(
        registry: &TestRegistry,
        version: &str,
        body: RequestBody,
    ) -> super::OriginResponse {
        registry
            .send(
                "PUT",
                &format!("/v1/modules/acme/vpc/aws/{version}"),
                Some(("ci", Tier::Uploader)),
                body,
            )
            .await
    }

    #[tokio::test]
    async fn an_upload_is_201_once_and_409_after() {
        let registry = TestRegistry::new();
        let response = registry.publish("acme/vpc/aws", "1.0.0").await;
        assert_eq!(
            response.header("location"),
            Some("/v1/modules/acme/vpc/aws/1.0.0")
        );
        assert_eq!(json(&response)["files"], 1);
        let again = put(
            &registry,
            "1.0.0",
            RequestBody::Bytes(module_tar_gz("# other\n")),
        )
        .await;
        assert_eq!(again.status, 409);
        assert_eq!(code(&again), "version_exists");
    }

    #[tokio::test]
    async fn an_empty_or_invalid_body_is_400() {
        let registry = TestRegistry::new();
        let response = put(&registry, "1.0.0", RequestBody::Empty).await;
        assert_eq!(response.status, 400);
        assert!(json(&response)["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("the request body is empty"));
        let response = put(
            &registry,
            "1.0.0",
            RequestBody::Bytes(b"not an archive".to_vec()),
        )
        .await;
        assert_eq!(response.status, 400);
        assert_eq!(code(&response), "invalid_archive");
    }

    #[tokio::test]
    async fn the_registry_enforces_its_upload_limit_itself() {
        let registry = TestRegistry::with_config(|config| config.max_upload_bytes = 64);
        let archive = module_tar_gz(&"# padding\n".repeat(100));
        assert!(archive.len() > 64);
        let response = put(&registry, "1.0.0", RequestBody::Bytes(archive.clone())).await;
        assert_eq!(response.status, 413);
        assert_eq!(
            json(&response)["errors"][0],
            "the archive is larger than the 64-byte upload limit"
        );
        // The same from a spooled file, as tfreg serve hands it over.
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &archive).unwrap();
        let response = put(&registry, "1.0.0", RequestBody::File(file)).await;
        assert_eq!(response.status, 413);
        // Nothing was published.
        let versions = registry
            .send(
                "GET",
                "/v1/modules/acme/vpc/aws/versions",
                Some(("r", Tier::Downloader)),
                RequestBody::Empty,
            )
            .await;
        assert_eq!(versions.status, 404);
    }

    #[tokio::test]
    async fn without_staging_the_large_upload_path_says_to_put_directly() {
        let registry = TestRegistry::new();
        let response = registry
            .send(
                "POST",
                "/v1/modules/acme/vpc/aws/1.0.0/uploads",
                Some(("ci", Tier::Uploader)),
                RequestBody::Empty,
            )
            .await;
        assert_eq!(response.status, 404);
        assert!(json(&response)["errors"][0]
            .as_str()
            .unwrap()
            .contains("directly in the body of a PUT"));
    }
}
