//! The provider registry protocol (`providers.v1`): version lists and download answers for
//! Terraform, publishing a release, and the namespaces' signing keys. The checks themselves
//! live in [`crate::providers`]; this is the HTTP face over a [`ProviderStore`].

use super::catalogue::query_pairs;
use super::clock::now_rfc3339;
use super::{OriginResponse, Registry, RequestBody};
use crate::error::ApiError;
use crate::names::{validate_segment, ModuleVersion};
use crate::providers::release::{check_release, rewind, ReleaseError};
use crate::providers::signing::{parse_public_key, ParsedKey};
use crate::providers::{
    Platform, ProviderAddress, ProviderRelease, ProviderStore, ReleasePlatform, SigningKeyRecord,
};
use crate::storage::{ArchiveBody, CreateOutcome, PublishOutcome, StorageError};
use serde_json::json;
use std::sync::Arc;

/// Where provider files are served, beneath `/archives/` (namespaces start with a letter or
/// digit, so no module's archives can collide with it).
pub const PROVIDER_FILES_PATH: &str = "_providers/";

/// Largest release upload accepted by default: 1 GiB (a provider binary is tens of megabytes
/// per platform, and a release has several).
pub const DEFAULT_MAX_PROVIDER_UPLOAD_BYTES: u64 = 1024 * 1024 * 1024;

fn invalid_name(error: impl std::fmt::Display) -> ApiError {
    ApiError::new(400, "invalid_name", error.to_string())
}

fn release_error(error: ReleaseError) -> ApiError {
    match error {
        ReleaseError::Io(e) => StorageError::Io(e).into(),
        other => ApiError::new(400, other.code(), other.to_string()),
    }
}

pub(super) fn release_exists(provider: &ProviderAddress, version: &ModuleVersion) -> ApiError {
    ApiError::new(
        409,
        "version_exists",
        format!("provider {provider} version {version} already exists; releases are immutable, publish a new version"),
    )
}

pub(super) fn provider_address(
    namespace: &str,
    provider_type: &str,
) -> Result<ProviderAddress, ApiError> {
    ProviderAddress::new(namespace, provider_type).map_err(invalid_name)
}

/// The provider and version a route names, checked.
pub(super) fn provider_version(
    path: &tfreg_edge::ProviderVersionPath<'_>,
) -> Result<(ProviderAddress, ModuleVersion), ApiError> {
    Ok((
        provider_address(path.provider.namespace, path.provider.provider_type)?,
        ModuleVersion::parse(path.version)?,
    ))
}

impl Registry {
    pub(super) fn provider_store(&self) -> Result<&Arc<dyn ProviderStore>, ApiError> {
        self.providers.as_ref().ok_or_else(|| {
            ApiError::not_found("this registry is configured without provider releases")
        })
    }

    /// `GET /v1/providers/{ns}/{type}/versions`.
    pub(super) async fn provider_versions(
        &self,
        provider: ProviderAddress,
    ) -> Result<OriginResponse, ApiError> {
        let mut releases = self.provider_store()?.list_releases(&provider).await?;
        if releases.is_empty() {
            return Err(ApiError::not_found(format!(
                "provider {provider} has no versions here"
            )));
        }
        releases.sort_by_cached_key(|r| ModuleVersion::parse(&r.version).ok());
        let versions: Vec<_> = releases
            .iter()
            .map(|release| {
                json!({
                    "version": release.version,
                    "protocols": release.protocols,
                    "platforms": release.platforms.iter()
                        .map(|p| json!({"os": p.os, "arch": p.arch}))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        Ok(OriginResponse::json(200, json!({ "versions": versions })).cacheable())
    }

    /// `GET /v1/providers/{ns}/{type}/{version}/download/{os}/{arch}`: the package's signed,
    /// short-lived URLs (Terraform sends no token to them), its hash, and the key that signed
    /// its checksums.
    pub(super) async fn provider_download(
        &self,
        provider: ProviderAddress,
        version: ModuleVersion,
        platform: Platform,
        host: Option<&str>,
    ) -> Result<OriginResponse, ApiError> {
        let base = self.archive_url_base(host)?;
        let not_found = || {
            ApiError::not_found(format!(
                "provider {provider} version {version} has no package for {platform}"
            ))
        };
        let release = self
            .provider_store()?
            .release(&provider, &version)
            .await?
            .ok_or_else(not_found)?;
        let package = release
            .platform(&platform.os, &platform.arch)
            .ok_or_else(not_found)?;
        let url = |filename: &str| {
            self.signed_url(
                &base,
                &format!("{PROVIDER_FILES_PATH}{}", release.file_path(filename)),
                "",
            )
        };
        let key = &release.signing_key;
        Ok(OriginResponse::json(
            200,
            json!({
                "protocols": release.protocols,
                "os": package.os,
                "arch": package.arch,
                "filename": package.filename,
                "download_url": url(&package.filename),
                "shasums_url": url(&release.shasums_filename),
                "shasums_signature_url": url(&release.signature_filename),
                "shasum": package.sha256,
                "signing_keys": {"gpg_public_keys": [{
                    "key_id": key.key_id,
                    "ascii_armor": key.ascii_armor,
                    "trust_signature": "",
                    "source": key.source,
                    "source_url": key.source_url,
                }]},
            }),
        )
        .cacheable())
    }

    /// `PUT /v1/providers/{ns}/{type}/{version}`: checks the whole release, then publishes it
    /// in one step, or nothing.
    pub(super) async fn publish_provider(
        &self,
        provider: ProviderAddress,
        version: ModuleVersion,
        body: RequestBody,
        query: &str,
        publisher: String,
    ) -> Result<OriginResponse, ApiError> {
        let store = self.provider_store()?.clone();
        let limit = self.config.max_provider_upload_bytes;
        if body.size()? > limit {
            return Err(ApiError::archive_too_large(limit));
        }
        if matches!(body, RequestBody::Empty) || body.size()? == 0 {
            return Err(ApiError::bad_request(
                "the request body is empty: send a tar of the release's files (the platform zips, SHA256SUMS and SHA256SUMS.sig)",
            ));
        }
        // Cheap early answer; the conditional publish below is what makes it correct.
        if store.release(&provider, &version).await?.is_some() {
            return Err(release_exists(&provider, &version));
        }
        let records = store.keys(&provider.namespace).await?;
        if records.is_empty() {
            return Err(ApiError::new(
                400,
                "no_signing_key",
                format!(
                    "namespace {} has no signing keys: a master token registers one first (POST /v1/provider-keys/{})",
                    provider.namespace, provider.namespace
                ),
            ));
        }
        let keys: Vec<ParsedKey> = records
            .iter()
            .map(|r| ParsedKey {
                key_id: r.key_id.clone(),
                fingerprint: r.fingerprint.clone(),
                ascii_armor: r.ascii_armor.clone(),
            })
            .collect();
        let protocols = query_pairs(query)
            .into_iter()
            .find(|(k, v)| k == "protocols" && !v.is_empty())
            .map(|(_, v)| v.split(',').map(|p| p.trim().to_owned()).collect());
        let staged = tempfile::Builder::new()
            .prefix("provider-")
            .tempdir_in(&self.config.scratch_dir)
            .map_err(StorageError::Io)?;
        let staged_path = staged.path().to_path_buf();
        let max_unpacked = self.config.archive_limits.max_unpacked_bytes;
        let (task_provider, task_version) = (provider.clone(), version.clone());
        let checked = tokio::task::spawn_blocking(move || {
            let check = |reader: &mut dyn std::io::Read| {
                check_release(
                    reader,
                    &staged_path,
                    &task_provider,
                    &task_version,
                    &keys,
                    protocols,
                    max_unpacked,
                    limit,
                )
            };
            match body {
                RequestBody::Empty => unreachable!("refused above"),
                RequestBody::Bytes(bytes) => check(&mut std::io::Cursor::new(bytes)),
                RequestBody::File(file) => check(&mut rewind(file)?),
            }
        })
        .await
        .map_err(|e| ApiError::new(500, "internal", format!("publish task failed: {e}")))?
        .map_err(release_error)?;
        let signing_key = records
            .into_iter()
            .find(|r| r.key_id == checked.key_id)
            .expect("the signature check names a registered key");
        let release = ProviderRelease {
            namespace: provider.namespace.clone(),
            provider_type: provider.provider_type.clone(),
            version: version.to_string(),
            protocols: checked.protocols,
            platforms: checked
                .platforms
                .into_iter()
                .map(|(platform, (filename, sha256, size))| ReleasePlatform {
                    os: platform.os,
                    arch: platform.arch,
                    filename,
                    sha256,
                    size,
                })
                .collect(),
            shasums_filename: checked.shasums_filename,
            signature_filename: checked.signature_filename,
            signing_key,
            published_at: now_rfc3339(),
            publisher,
            files_id: None,
        };
        match store.publish(&release, staged.path().to_path_buf()).await? {
            PublishOutcome::Created => {
                tracing::info!(provider = %provider, version = %version, platforms = release.platforms.len(), key_id = %release.signing_key.key_id, publisher = %release.publisher, "provider release published");
                let mut response = OriginResponse::json(201, describe_release(&release));
                response.headers.push((
                    "location".into(),
                    format!("/v1/providers/{provider}/versions"),
                ));
                Ok(response)
            }
            PublishOutcome::AlreadyExists => Err(release_exists(&provider, &version)),
        }
    }

    /// `GET /v1/provider-keys/{namespace}`.
    pub(super) async fn list_signing_keys(
        &self,
        namespace: &str,
    ) -> Result<OriginResponse, ApiError> {
        validate_segment("namespace", namespace)?;
        let keys = self.provider_store()?.keys(namespace).await?;
        Ok(OriginResponse::json(
            200,
            json!({ "namespace": namespace, "keys": keys }),
        ))
    }

    /// `POST /v1/provider-keys/{namespace}`: the body is the ASCII-armored public key, or
    /// `{"ascii_armor": "…", "source": "…", "source_url": "…"}`.
    pub(super) async fn add_signing_key(
        &self,
        namespace: &str,
        body: RequestBody,
        caller: String,
    ) -> Result<OriginResponse, ApiError> {
        validate_segment("namespace", namespace)?;
        let store = self.provider_store()?;
        let bytes = match body {
            RequestBody::Empty => Vec::new(),
            RequestBody::Bytes(bytes) => bytes,
            RequestBody::File(mut file) => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut file, &mut bytes).map_err(StorageError::Io)?;
                bytes
            }
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| ApiError::bad_request("the key must be ASCII-armored text"))?;
        let (armor, source, source_url) = if text.trim_start().starts_with('{') {
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
            let field = |name: &str| value[name].as_str().map(str::to_owned);
            (
                field("ascii_armor").ok_or_else(|| {
                    ApiError::bad_request(
                        "give the key as \"ascii_armor\" (or send it alone as the body)",
                    )
                })?,
                field("source").unwrap_or_default(),
                field("source_url"),
            )
        } else {
            (text, String::new(), None)
        };
        if source.chars().count() > 256 || source_url.as_ref().is_some_and(|u| u.len() > 512) {
            return Err(ApiError::bad_request(
                "source is limited to 256 characters and source_url to 512",
            ));
        }
        let parsed = parse_public_key(&armor)
            .map_err(|e| ApiError::new(400, "invalid_key", e.to_string()))?;
        let record = SigningKeyRecord {
            key_id: parsed.key_id,
            fingerprint: parsed.fingerprint,
            ascii_armor: parsed.ascii_armor,
            source,
            source_url,
            added_at: now_rfc3339(),
            added_by: caller,
        };
        match store.add_key(namespace, &record).await? {
            CreateOutcome::Created => {
                tracing::info!(namespace, key_id = %record.key_id, added_by = %record.added_by, "provider signing key registered");
                Ok(OriginResponse::json(201, json!(record)))
            }
            CreateOutcome::NameTaken => Err(ApiError::new(
                409,
                "key_exists",
                format!(
                    "key {} is already registered for namespace {namespace}",
                    record.key_id
                ),
            )),
        }
    }

    /// `DELETE /v1/provider-keys/{namespace}/{key_id}`: new releases can no longer be signed
    /// with it; releases it signed stay installable (their record keeps the key).
    pub(super) async fn remove_signing_key(
        &self,
        namespace: &str,
        key_id: &str,
    ) -> Result<OriginResponse, ApiError> {
        validate_segment("namespace", namespace)?;
        let store = self.provider_store()?;
        if key_id.len() != 16 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::bad_request(format!(
                "invalid key id {key_id:?}: use the 16 hex digits of the key's ID (GET /v1/provider-keys/{namespace} lists them)"
            )));
        }
        let key_id = key_id.to_ascii_uppercase();
        if store.remove_key(namespace, &key_id).await? {
            Ok(OriginResponse::message(format!(
                "Key '{key_id}' removed from namespace '{namespace}'"
            )))
        } else {
            Err(ApiError::not_found(format!(
                "no key {key_id} is registered for namespace {namespace}"
            )))
        }
    }

    /// A provider file beneath [`PROVIDER_FILES_PATH`]: `{ns}/{type}/{version}/{filename}`,
    /// or `{ns}/{type}/{version}/{files_id}/{filename}` on a store that keeps each publish
    /// attempt's files apart ([`ProviderRelease::file_path`]).
    pub(super) async fn open_provider_file(
        &self,
        path: &str,
    ) -> Result<Option<ArchiveBody>, StorageError> {
        let Some(store) = self.providers.as_ref() else {
            return Ok(None);
        };
        let parts: Vec<&str> = path.split('/').collect();
        let (namespace, provider_type, version, files_id, filename) = match parts[..] {
            [namespace, provider_type, version, filename] => {
                (namespace, provider_type, version, None, filename)
            }
            [namespace, provider_type, version, files_id, filename] => {
                (namespace, provider_type, version, Some(files_id), filename)
            }
            _ => return Ok(None),
        };
        let (Ok(provider), Ok(version)) = (
            ProviderAddress::new(namespace, provider_type),
            ModuleVersion::parse(version),
        ) else {
            return Ok(None);
        };
        if let Some(files_id) = files_id {
            // Only the published attempt's files: a loser's, however briefly there, never.
            let release = store.release(&provider, &version).await?;
            if release.and_then(|r| r.files_id).as_deref() != Some(files_id) {
                return Ok(None);
            }
        }
        store.open_file(&provider, &version, filename).await
    }
}

fn describe_release(release: &ProviderRelease) -> serde_json::Value {
    json!({
        "namespace": release.namespace,
        "type": release.provider_type,
        "version": release.version,
        "protocols": release.protocols,
        "platforms": release.platforms,
        "key_id": release.signing_key.key_id,
        "published_at": release.published_at,
        "publisher": release.publisher,
    })
}
