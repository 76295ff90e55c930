//! Module reads: version lists, a version's details and downloads, from the local versions or,
//! in proxy mode, through the upstream registry.

use super::clock::{now_rfc3339, now_unix};
use super::{OriginResponse, Registry, PROXY_CACHE_PATH};
use crate::error::ApiError;
use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use crate::proxy::policy::PolicyVerdict;
use crate::proxy::{Proxy, ProxyError};
use crate::storage::{PublishOutcome, VersionMeta};
use serde_json::json;
use std::sync::Arc;
use tfreg_edge::ARCHIVE_PATH_PREFIX;

impl Registry {
    /// Local versions (uploads and pins), plus, in proxy mode, the upstream's versions of a
    /// module the policy allows and that is not local-only, in semver order. When the upstream
    /// fails, a module with local versions is answered with those alone.
    pub(super) async fn versions(
        &self,
        module: &ModuleAddress,
    ) -> Result<OriginResponse, ApiError> {
        let mut versions = self.archives.list_versions(module).await?;
        if let Some(proxy) = self.serving_proxy(module) {
            match proxy.upstream_versions(module).await {
                Ok(upstream) => versions.extend(upstream),
                Err(ProxyError::NotFound(_)) if !versions.is_empty() => {}
                Err(error) if !versions.is_empty() => {
                    tracing::warn!(%module, %error, "upstream versions unavailable; answering the local ones");
                }
                Err(error) => return Err(error.into()),
            }
        } else if versions.is_empty() {
            return Err(self.not_here(module, None));
        }
        if versions.is_empty() {
            return Err(ApiError::not_found(format!("module {module} not found")));
        }
        versions.sort();
        versions.dedup();
        let versions: Vec<_> = versions
            .iter()
            .map(|v| json!({ "version": v.to_string() }))
            .collect();
        Ok(OriginResponse::json(
            200,
            json!({ "modules": [{ "source": module.to_string(), "versions": versions }] }),
        )
        .cacheable())
    }

    /// The proxy, if it may answer for `module`: proxy mode on, the module not local-only,
    /// and the policy allowing it.
    pub(super) fn serving_proxy(&self, module: &ModuleAddress) -> Option<&Arc<Proxy>> {
        self.proxy.as_ref().filter(|proxy| {
            let config = proxy.config();
            config.enabled && !config.is_local_only(module) && config.policy.allows(module)
        })
    }

    /// The 404 for a module (or one of its versions) this registry does not have, saying why
    /// the upstream was not asked when proxy mode is on.
    pub(super) fn not_here(
        &self,
        module: &ModuleAddress,
        version: Option<&ModuleVersion>,
    ) -> ApiError {
        let missing = match version {
            Some(version) => format!("module {module} has no version {version}"),
            None => format!("module {module} not found"),
        };
        let Some(proxy) = self.proxy.as_ref().filter(|p| p.config().enabled) else {
            return ApiError::not_found(missing);
        };
        let config = proxy.config();
        if config.is_local_only(module) {
            return ApiError::not_found(format!(
                "{missing}; it is local-only here, so the upstream registry is not asked"
            ));
        }
        match config.policy.verdict(module) {
            PolicyVerdict::Allowed => ApiError::not_found(missing),
            verdict => ApiError::new(404, "not_allowed_by_proxy_policy", verdict.explain(module)),
        }
    }

    pub(super) async fn version_info(&self, key: ArchiveKey) -> Result<OriginResponse, ApiError> {
        let meta = self.find_version(&key).await?;
        Ok(OriginResponse::json(200, describe_version(&key, &meta)))
    }

    pub(super) async fn find_version(&self, key: &ArchiveKey) -> Result<VersionMeta, ApiError> {
        self.archives
            .version_meta(key)
            .await?
            .ok_or_else(|| version_not_found(key))
    }

    /// `204` with `X-Terraform-Get`: a root-relative, signed, short-lived archive URL that
    /// carries go-getter's `checksum=sha256:…`, so Terraform verifies what it unpacks (except
    /// for an archive put into S3 by hand without a `sha256` in its metadata: no checksum is
    /// known, so none is sent).
    pub(super) async fn download(&self, key: ArchiveKey) -> Result<OriginResponse, ApiError> {
        let location = match self.archives.version_meta(&key).await? {
            Some(meta) => self.signed_archive_url(&key, &meta.sha256),
            None => {
                let Some(proxy) = self.serving_proxy(&key.module) else {
                    return Err(self.not_here(&key.module, Some(&key.version)));
                };
                let meta = self.proxied_version(proxy, &key).await?;
                self.signed_url(
                    &format!("{PROXY_CACHE_PATH}{}", key.as_path()),
                    &meta.sha256,
                )
            }
        };
        let mut response = OriginResponse::no_content().cacheable();
        response.headers.push(("x-terraform-get".into(), location));
        Ok(response)
    }

    /// A proxied version from the proxy cache, fetched from upstream into it first if needed.
    pub(super) async fn proxied_version(
        &self,
        proxy: &Proxy,
        key: &ArchiveKey,
    ) -> Result<VersionMeta, ApiError> {
        if let Some(meta) = proxy.cache().version_meta(key).await? {
            return Ok(meta);
        }
        let fetched = proxy
            .fetch(key, &self.config.scratch_dir, &self.config.archive_limits)
            .await?;
        let meta = VersionMeta {
            sha256: fetched.archive.sha256.clone(),
            size: fetched.archive.size,
            uploaded_at: now_rfc3339(),
            uploader: String::new(),
            source: "proxy".into(),
            origin_url: Some(fetched.source.describe()),
        };
        let outcome = proxy
            .cache()
            .publish(key, fetched.staged.to_path_buf(), &meta)
            .await?;
        drop(fetched.staged);
        match outcome {
            PublishOutcome::Created => {
                tracing::info!(module = %key.module, version = %key.version, source = %fetched.source.describe(), size = meta.size, "proxied version cached");
                Ok(meta)
            }
            // A concurrent request cached it first: serve theirs, whose bytes are the ones
            // stored.
            PublishOutcome::AlreadyExists => proxy
                .cache()
                .version_meta(key)
                .await?
                .ok_or_else(|| version_not_found(key)),
        }
    }

    pub fn signed_archive_url(&self, key: &ArchiveKey, sha256: &str) -> String {
        self.signed_url(&key.as_path(), sha256)
    }

    /// A signed URL for `key_path` beneath `/archives/`.
    pub(super) fn signed_url(&self, key_path: &str, sha256: &str) -> String {
        let path = format!("{ARCHIVE_PATH_PREFIX}{key_path}");
        let expires = now_unix() + self.config.archive_url_ttl_secs;
        let signed = format!("{path}?{}", self.signer.sign(&path, expires));
        // go-getter strips `checksum` before it requests the URL, so it stays out of the
        // signature. An empty one would fail every download: leave it out instead.
        if sha256.is_empty() {
            signed
        } else {
            format!("{signed}&checksum=sha256:{sha256}")
        }
    }
}

pub(super) fn describe_version(key: &ArchiveKey, meta: &VersionMeta) -> serde_json::Value {
    json!({
        "source": key.module.to_string(),
        "namespace": key.module.namespace,
        "name": key.module.name,
        "system": key.module.system,
        "version": key.version.to_string(),
        "sha256": meta.sha256,
        "size": meta.size,
        "uploaded_at": meta.uploaded_at,
        "uploader": meta.uploader,
        "origin": meta.source,
        "origin_url": meta.origin_url,
    })
}

pub(super) fn version_not_found(key: &ArchiveKey) -> ApiError {
    ApiError::not_found(format!(
        "module {} has no version {}",
        key.module, key.version
    ))
}

pub(super) fn version_exists(key: &ArchiveKey) -> ApiError {
    ApiError::new(
        409,
        "version_exists",
        format!(
            "module {} version {} already exists; versions are immutable, publish a new one",
            key.module, key.version
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{code, json, TestRegistry};
    use super::super::RequestBody;
    use tfreg_edge::Tier;

    async fn get(registry: &TestRegistry, path: &str) -> super::OriginResponse {
        registry
            .send(
                "GET",
                path,
                Some(("reader", Tier::Downloader)),
                RequestBody::Empty,
            )
            .await
    }

    #[tokio::test]
    async fn versions_are_listed_in_semver_order_and_cacheable() {
        let registry = TestRegistry::new();
        for version in ["1.10.0", "1.9.0", "1.2.0-rc.1", "1.2.0"] {
            registry.publish("acme/vpc/aws", version).await;
        }
        let response = get(&registry, "/v1/modules/acme/vpc/aws/versions").await;
        assert_eq!(response.status, 200);
        assert_eq!(
            json(&response),
            serde_json::json!({"modules": [{"source": "acme/vpc/aws", "versions": [
                {"version": "1.2.0-rc.1"}, {"version": "1.2.0"},
                {"version": "1.9.0"}, {"version": "1.10.0"}
            ]}]})
        );
        assert_eq!(
            response.header("cache-control"),
            Some(super::super::CACHEABLE_READ)
        );
    }

    #[tokio::test]
    async fn an_unknown_module_or_version_is_404() {
        let registry = TestRegistry::new();
        let response = get(&registry, "/v1/modules/acme/vpc/aws/versions").await;
        assert_eq!(response.status, 404);
        assert_eq!(
            json(&response)["errors"][0],
            "module acme/vpc/aws not found"
        );
        registry.publish("acme/vpc/aws", "1.0.0").await;
        let response = get(&registry, "/v1/modules/acme/vpc/aws/2.0.0/download").await;
        assert_eq!(response.status, 404);
        assert_eq!(
            json(&response)["errors"][0],
            "module acme/vpc/aws has no version 2.0.0"
        );
        let response = get(&registry, "/v1/modules/acme/vpc/aws/2.0.0").await;
        assert_eq!(response.status, 404);
        assert_eq!(code(&response), "not_found");
    }

    #[tokio::test]
    async fn a_download_is_204_with_a_signed_url_carrying_the_checksum() {
        let registry = TestRegistry::new();
        let published = json(&registry.publish("acme/vpc/aws", "1.0.0").await);
        let response = get(&registry, "/v1/modules/acme/vpc/aws/1.0.0/download").await;
        assert_eq!(response.status, 204);
        assert!(response.body.is_empty());
        let location = response.header("x-terraform-get").expect("X-Terraform-Get");
        assert!(
            location.starts_with("/archives/acme/vpc/aws/1.0.0/module.tar.gz?expires="),
            "{location}"
        );
        assert!(location.contains("&signature="), "{location}");
        assert!(
            location.ends_with(&format!(
                "&checksum=sha256:{}",
                published["sha256"].as_str().unwrap()
            )),
            "{location}"
        );
        assert_eq!(
            response.header("cache-control"),
            Some(super::super::CACHEABLE_READ)
        );
    }

    #[tokio::test]
    async fn version_details_say_who_uploaded_what() {
        let registry = TestRegistry::new();
        registry.publish("acme/vpc/aws", "1.0.0").await;
        let response = get(&registry, "/v1/modules/acme/vpc/aws/v1.0.0").await;
        assert_eq!(response.status, 200);
        let details = json(&response);
        assert_eq!(details["version"], "1.0.0");
        assert_eq!(details["uploader"], "ci");
        assert_eq!(details["origin"], "upload");
        assert_eq!(details["sha256"].as_str().unwrap().len(), 64);
    }
}
