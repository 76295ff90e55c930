//! The provider network mirror protocol over [`crate::mirror::ProviderMirror`]:
//! `GET /v1/mirror/{hostname}/{ns}/{type}/index.json` and `…/{version}.json` for Terraform,
//! `POST /v1/mirror/{hostname}/{ns}/{type}/{version}` to mirror platforms ahead of time, and
//! the packages: one not kept yet through `GET /v1/mirror/{hostname}/{ns}/{type}/{version}/
//! {os}_{arch}.zip` (a URL this registry signed: Terraform sends no token for a package),
//! which fetches it and redirects to the kept package beneath `/archives/_mirror/` (its own
//! signed URL, served by CloudFront from S3 on AWS, where no function runs for `/archives/*`).

use super::{OriginResponse, Registry, RequestBody};
use crate::error::ApiError;
use crate::mirror::{MirrorProvider, ProviderMirror, MIRROR_FILES_PATH};
use crate::names::ModuleVersion;
use crate::providers::Platform;
use crate::proxy::ProxyError;
use crate::storage::{ArchiveBody, StorageError};
use serde_json::json;
use tfreg_edge::MirrorPath;

fn mirror_provider(path: MirrorPath<'_>) -> Result<MirrorProvider, ApiError> {
    MirrorProvider::new(path.hostname, path.namespace, path.provider_type)
        .map_err(|e| ApiError::new(400, "invalid_name", e.to_string()))
}

fn platform(text: &str) -> Result<Platform, ApiError> {
    let (os, arch) = text.split_once('_').ok_or_else(|| {
        ApiError::new(
            400,
            "invalid_name",
            format!("invalid platform {text:?}: use os_arch (linux_amd64)"),
        )
    })?;
    Platform::new(os, arch).map_err(|e| ApiError::new(400, "invalid_name", e.to_string()))
}

impl Registry {
    /// Turns on the provider network mirror.
    pub fn with_mirror(mut self, mirror: ProviderMirror) -> Self {
        self.mirror = Some(std::sync::Arc::new(mirror));
        self
    }

    fn provider_mirror(&self) -> Result<&ProviderMirror, ApiError> {
        self.mirror.as_deref().ok_or_else(|| {
            ApiError::not_found(
                "this registry mirrors no providers (tfreg serve --provider-mirror-upstream turns the mirror on)",
            )
        })
    }

    /// `GET /v1/mirror/{hostname}/{ns}/{type}/{file}`: `index.json` or `{version}.json`.
    pub(super) async fn mirror_file(
        &self,
        path: MirrorPath<'_>,
        file: &str,
        host: Option<&str>,
    ) -> Result<OriginResponse, ApiError> {
        let mirror = self.provider_mirror()?;
        let provider = mirror_provider(path)?;
        if file == "index.json" {
            let versions = mirror.versions(&provider).await?;
            let listed: serde_json::Map<String, serde_json::Value> = versions
                .iter()
                .map(|v| (v.to_string(), json!({})))
                .collect();
            return Ok(OriginResponse::json(200, json!({ "versions": listed })).cacheable());
        }
        let version = file.strip_suffix(".json").ok_or_else(|| {
            ApiError::not_found(format!(
                "no such mirror document {file:?}: use index.json or {{version}}.json"
            ))
        })?;
        let version = ModuleVersion::parse(version)?;
        let base = self.archive_url_base(host)?;
        let archives: serde_json::Map<String, serde_json::Value> = mirror
            .archives(&provider, &version)
            .await?
            .into_iter()
            .map(|entry| {
                let url = if entry.kept {
                    let key = kept_key(&provider, &version, &entry.platform, &entry.filename);
                    self.signed_url(&base, &key, "")
                } else {
                    let path = format!("/v1/mirror/{provider}/{version}/{}.zip", entry.platform);
                    self.signed_path_url(&base, &path)
                };
                (
                    entry.platform.to_string(),
                    json!({"url": url, "hashes": entry.hashes}),
                )
            })
            .collect();
        Ok(OriginResponse::json(200, json!({ "archives": archives })).cacheable())
    }

    /// `POST /v1/mirror/{hostname}/{ns}/{type}/{version}` with `{"platforms": ["linux_amd64",
    /// …]}`: fetches, checks and keeps each platform's package now (what `terraform providers
    /// mirror` does, into the registry). `201` if any was fetched, `200` if all were kept.
    pub(super) async fn mirror_prefetch(
        &self,
        path: MirrorPath<'_>,
        version: &str,
        body: RequestBody,
    ) -> Result<OriginResponse, ApiError> {
        let mirror = self.provider_mirror()?;
        let provider = mirror_provider(path)?;
        let version = ModuleVersion::parse(version)?;
        let bytes = match body {
            RequestBody::Empty => Vec::new(),
            RequestBody::Bytes(bytes) => bytes,
            RequestBody::File(mut file) => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut file, &mut bytes).map_err(StorageError::Io)?;
                bytes
            }
        };
        let request: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
            ApiError::bad_request("send {\"platforms\": [\"linux_amd64\", ...]} as JSON")
        })?;
        let platforms = request["platforms"]
            .as_array()
            .filter(|p| !p.is_empty() && p.len() <= 64)
            .ok_or_else(|| {
                ApiError::bad_request("\"platforms\" must list 1 to 64 platforms (linux_amd64)")
            })?
            .iter()
            .map(|p| platform(p.as_str().unwrap_or_default()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut fetched_any = false;
        let mut packages = Vec::new();
        // The mirror's timeout bounds the whole request, not each platform: on AWS it runs in
        // one origin invocation, which must answer before its own timeout (the deployment
        // keeps it 5 s beyond this one). What was kept before the limit stays kept.
        let deadline = tokio::time::Instant::now() + mirror.config().timeout;
        for platform in &platforms {
            let fetch = mirror.package(&provider, &version, platform);
            let Ok(fetched) = tokio::time::timeout_at(deadline, fetch).await else {
                let kept: Vec<String> = packages
                    .iter()
                    .filter_map(|p: &serde_json::Value| p["platform"].as_str().map(str::to_owned))
                    .collect();
                return Err(ProxyError::Timeout(format!(
                    "mirroring {} platforms took longer than the mirror's {} s limit at {platform}; kept before it: [{}]; mirror fewer platforms per request",
                    platforms.len(),
                    mirror.config().timeout.as_secs(),
                    kept.join(", ")
                ))
                .into());
            };
            let (package, fetched) = fetched?;
            fetched_any |= fetched;
            packages.push(json!({
                "platform": package.platform(),
                "filename": package.filename,
                "hashes": package.hashes(),
                "key_id": package.key_id,
                "fetched": fetched,
                "fetched_at": package.fetched_at,
            }));
        }
        Ok(OriginResponse::json(
            if fetched_any { 201 } else { 200 },
            json!({"provider": provider.to_string(), "version": version.to_string(), "packages": packages}),
        ))
    }

    /// `GET /v1/mirror/{hostname}/{ns}/{type}/{version}/{os}_{arch}.zip`, signed: the package,
    /// fetched, checked and kept now if the mirror does not hold it yet, then `302` to its
    /// signed archive URL. The signature is checked before anything else, so an unsigned
    /// request learns nothing and costs no upstream request.
    pub(super) async fn mirror_package(
        &self,
        path: MirrorPath<'_>,
        version: &str,
        file: &str,
        request: (&str, &str),
        host: Option<&str>,
    ) -> Result<OriginResponse, ApiError> {
        let (request_path, query) = request;
        let base = self.archive_url_base(host)?;
        self.check_signed_path(&base, request_path, query)?;
        let mirror = self.provider_mirror()?;
        let provider = mirror_provider(path)?;
        let version = ModuleVersion::parse(version)?;
        let platform = platform(file.strip_suffix(".zip").ok_or_else(|| {
            ApiError::not_found(format!(
                "no such mirror package {file:?}: use {{os}}_{{arch}}.zip"
            ))
        })?)?;
        let (package, _) = mirror.package(&provider, &version, &platform).await?;
        let key = kept_key(&provider, &version, &platform, &package.filename);
        Ok(OriginResponse::redirect(&self.signed_url(&base, &key, "")))
    }

    /// A kept package beneath [`MIRROR_FILES_PATH`]: `{hostname}/{ns}/{type}/{version}/
    /// {platform}/{filename}`, while its provider is still allowed. `None` for anything else:
    /// a package not kept yet is fetched through [`Registry::mirror_package`], on `tfreg
    /// serve` as on AWS (where S3 serves this path and nothing could fetch).
    pub(super) async fn open_mirror_file(
        &self,
        path: &str,
    ) -> Result<Option<ArchiveBody>, StorageError> {
        let Some(mirror) = self.mirror.as_deref() else {
            return Ok(None);
        };
        let parts: Vec<&str> = path.split('/').collect();
        let [hostname, namespace, provider_type, version, platform_text, filename] = parts[..]
        else {
            return Ok(None);
        };
        let (Ok(provider), Ok(version), Ok(platform)) = (
            MirrorProvider::new(hostname, namespace, provider_type),
            ModuleVersion::parse(version),
            platform(platform_text),
        ) else {
            return Ok(None);
        };
        if mirror.config().policy.refusal(&provider).is_some() {
            return Ok(None);
        }
        match mirror
            .store()
            .package(&provider, &version, &platform)
            .await?
        {
            Some(package) if package.filename == filename => {
                mirror
                    .store()
                    .open_zip(&provider, &version, &platform)
                    .await
            }
            _ => Ok(None),
        }
    }
}

/// Where a kept package is, beneath `/archives/`.
fn kept_key(
    provider: &MirrorProvider,
    version: &ModuleVersion,
    platform: &Platform,
    filename: &str,
) -> String {
    format!("{MIRROR_FILES_PATH}{provider}/{version}/{platform}/{filename}")
}
