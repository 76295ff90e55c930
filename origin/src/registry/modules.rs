//! Module reads: version lists, a version's details and downloads, from the local versions or,
//! in proxy mode, through the upstream registry.

use super::clock::now_rfc3339;
use super::{listings, OriginResponse, Registry, PROXY_CACHE_PATH};
use crate::catalogue::latest_version;
use crate::docs::stored::{extract_docs_from_file, load_docs, store_docs};
use crate::docs::ModuleDocs;
use crate::error::ApiError;
use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use crate::proxy::policy::PolicyVerdict;
use crate::proxy::{Proxy, ProxyError};
use crate::storage::{PublishOutcome, VersionMeta};
use serde_json::json;
use std::sync::Arc;

/// Why the upstream registry is not asked about a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NotProxied {
    /// No proxy, or proxy mode off.
    Off,
    /// On the `--proxy-local-only` list.
    LocalOnly,
    /// The allow or deny list keeps it out.
    Policy(PolicyVerdict),
    /// Its namespace holds an uploaded module, so all of it is private.
    PrivateNamespace,
    /// It has uploaded versions of its own (found without a namespace mark).
    Uploaded,
}

impl Registry {
    /// Local versions (uploads and pins), plus, in proxy mode, the upstream's versions of a
    /// module that [`Registry::upstream_for`] lets through, in semver order. When the
    /// upstream fails, a module with local versions is answered with those alone.
    ///
    /// With `accepts_gzip` (the request's `Accept-Encoding` allows it, as Go's HTTP client and
    /// so Terraform's does by itself), the local versions' answer goes gzipped when that is
    /// smaller: compressed once per listing, so a long history costs little per request.
    pub(super) async fn versions(
        &self,
        module: &ModuleAddress,
        accepts_gzip: bool,
    ) -> Result<OriginResponse, ApiError> {
        // The local versions first, then the namespace mark: an upload writes its mark before
        // its version, so a version seen here has its mark seen below.
        let local = self
            .listings
            .listing(self.archives.as_ref(), module)
            .await?;
        let mut versions = match self.upstream_for(module, Some(&local.versions)).await? {
            Ok(proxy) => match proxy.upstream_versions(module).await {
                Ok(upstream) => upstream.as_ref().clone(),
                Err(ProxyError::NotFound(_)) if !local.versions.is_empty() => Vec::new(),
                Err(error) if !local.versions.is_empty() => {
                    tracing::warn!(%module, %error, "upstream versions unavailable; answering the local ones");
                    Vec::new()
                }
                Err(error) => return Err(error.into()),
            },
            Err(why) if local.versions.is_empty() => return Err(self.not_here(module, None, &why)),
            Err(_) => Vec::new(),
        };
        if versions.is_empty() {
            if local.versions.is_empty() {
                return Err(ApiError::not_found(format!("module {module} not found")));
            }
            // The local versions alone: the answer rendered when they were listed.
            if let Some(compressed) = local.local_answer_gzip().filter(|_| accepts_gzip) {
                let mut response = versions_answer(compressed.to_vec());
                response
                    .headers
                    .push(("content-encoding".into(), "gzip".into()));
                return Ok(response);
            }
            return Ok(versions_answer(local.local_answer.clone()));
        }
        versions.extend(local.versions.iter().cloned());
        versions.sort();
        versions.dedup();
        Ok(versions_answer(listings::render_versions(
            module,
            &versions,
            local.repository_url.as_deref(),
        )))
    }

    /// The proxy, if it may fetch `module` from the upstream, or why not. In order: proxy mode
    /// on; not local-only; allowed by the policy; then, unless the merge list names it, the
    /// safe default against dependency confusion: not in a namespace that holds an uploaded
    /// module (one read of the namespace mark), and without uploaded versions of its own.
    ///
    /// `local` is the module's local versions when the caller has listed them already. The
    /// last check reads the metadata of local versions until it finds an uploaded one: a
    /// mark should have said so already, so this only costs for a pinned public module (one
    /// read per pin) and finds uploads stored before marks existed, which it then marks.
    pub(super) async fn upstream_for(
        &self,
        module: &ModuleAddress,
        local: Option<&[ModuleVersion]>,
    ) -> Result<Result<&Arc<Proxy>, NotProxied>, ApiError> {
        let Some(proxy) = self.proxy.as_ref().filter(|p| p.config().enabled) else {
            return Ok(Err(NotProxied::Off));
        };
        let config = proxy.config();
        if config.is_local_only(module) {
            return Ok(Err(NotProxied::LocalOnly));
        }
        match config.policy.verdict(module) {
            PolicyVerdict::Allowed => {}
            verdict => return Ok(Err(NotProxied::Policy(verdict))),
        }
        if config.merges(module) {
            return Ok(Ok(proxy));
        }
        if self
            .listings
            .namespace_has_uploads(self.archives.as_ref(), &module.namespace)
            .await?
        {
            return Ok(Err(NotProxied::PrivateNamespace));
        }
        let listed;
        let local = match local {
            Some(local) => local,
            None => {
                listed = self.archives.list_versions(module).await?;
                &listed
            }
        };
        for version in local {
            let key = ArchiveKey::new(module.clone(), version.clone());
            let Some(meta) = self.archives.version_meta(&key).await? else {
                continue;
            };
            if meta.is_uploaded() {
                tracing::warn!(%module, version = %version, "an uploaded version in a namespace without its mark; marking the namespace private");
                if let Err(error) = self
                    .archives
                    .mark_namespace_uploaded(&module.namespace)
                    .await
                {
                    tracing::warn!(%module, %error, "could not mark the namespace; `tfreg reindex` does it");
                }
                return Ok(Err(NotProxied::Uploaded));
            }
        }
        Ok(Ok(proxy))
    }

    /// The 404 for a module (or one of its versions) this registry does not have, saying why
    /// the upstream was not asked when proxy mode is on.
    pub(super) fn not_here(
        &self,
        module: &ModuleAddress,
        version: Option<&ModuleVersion>,
        why: &NotProxied,
    ) -> ApiError {
        let missing = match version {
            Some(version) => format!("module {module} has no version {version}"),
            None => format!("module {module} not found"),
        };
        match why {
            NotProxied::Off => ApiError::not_found(missing),
            NotProxied::LocalOnly => ApiError::not_found(format!(
                "{missing}; it is local-only here, so the upstream registry is not asked"
            )),
            NotProxied::Policy(verdict) => {
                ApiError::new(404, "not_allowed_by_proxy_policy", verdict.explain(module))
            }
            NotProxied::PrivateNamespace => ApiError::not_found(format!(
                "{missing}; namespace {} holds modules uploaded here, so none of its modules is fetched from the upstream registry (the proxy's merge list can name exceptions)",
                module.namespace
            )),
            NotProxied::Uploaded => ApiError::not_found(format!(
                "{missing}; it has versions uploaded here, so the upstream registry is not asked (the proxy's merge list can name exceptions)"
            )),
        }
    }

    /// A version's details: what is stored about it ([`describe_version`]) and, in the shape
    /// of the Registry API's module details, its docs as stored at publish. Local versions
    /// (uploads and pins) first; in proxy mode, a proxied version already in the proxy cache.
    pub(super) async fn version_info(&self, key: ArchiveKey) -> Result<OriginResponse, ApiError> {
        let local = self
            .listings
            .version_meta(self.archives.as_ref(), &key)
            .await?;
        let (store, meta) = match local {
            Some(meta) => (self.archives.clone(), meta),
            None => match self.upstream_for(&key.module, None).await? {
                Ok(proxy) => match proxy.cache().version_meta(&key).await? {
                    Some(meta) => (proxy.cache().clone(), meta),
                    None => return Err(version_not_found(&key)),
                },
                Err(_) => return Err(version_not_found(&key)),
            },
        };
        let versions = if Arc::ptr_eq(&store, &self.archives) {
            // The cached listing (checked against the store), as the versions answer uses.
            let listing = self
                .listings
                .listing(self.archives.as_ref(), &key.module)
                .await?;
            listing.versions.clone()
        } else {
            let mut versions = store.list_versions(&key.module).await?;
            versions.sort();
            versions
        };
        let docs = load_docs(store.as_ref(), &key, &meta.sha256).await;
        Ok(OriginResponse::json(
            200,
            describe_details(&key, &meta, docs, &versions),
        ))
    }

    /// The details of the module's latest local version (for a proxied module, its latest
    /// cached one).
    pub(super) async fn latest_version_info(
        &self,
        module: ModuleAddress,
    ) -> Result<OriginResponse, ApiError> {
        let mut versions = self
            .listings
            .listing(self.archives.as_ref(), &module)
            .await?
            .versions
            .clone();
        if versions.is_empty() {
            // A proxied module the proxy still serves: its latest cached version (as the
            // catalogue lists it).
            if let Ok(proxy) = self.upstream_for(&module, Some(&versions)).await? {
                versions = proxy.cache().list_versions(&module).await?;
            }
        }
        match latest_version(&versions) {
            Some(version) => {
                self.version_info(ArchiveKey::new(module, version.clone()))
                    .await
            }
            None => Err(ApiError::not_found(format!(
                "module {module} has no versions in this registry"
            ))),
        }
    }

    /// `204` with `X-Terraform-Get`: a signed, short-lived archive URL (a CloudFront signed URL,
    /// [`crate::signed_url`]) that carries go-getter's `checksum=sha256:…`, so Terraform
    /// verifies what it unpacks (except for an archive put into S3 by hand without a `sha256`
    /// in its metadata: no checksum is known, so none is sent). `host` is the `Host` the
    /// request came with, which the URL is signed for unless the configuration names the
    /// registry's address ([`RegistryConfig::archive_url_base`]).
    pub(super) async fn download(
        &self,
        key: ArchiveKey,
        host: Option<&str>,
    ) -> Result<OriginResponse, ApiError> {
        let base = self.archive_url_base(host)?;
        // The metadata as cached with the module's listing: no file or object read per
        // download while the listing stands (the profile in tests/bench/RESULTS.throughput.md).
        let local = self
            .listings
            .version_meta(self.archives.as_ref(), &key)
            .await?;
        let location = match local {
            Some(meta) => self.signed_url(&base, &key.as_path(), &meta.sha256),
            None => {
                let proxy = match self.upstream_for(&key.module, None).await? {
                    Ok(proxy) => proxy,
                    Err(why) => return Err(self.not_here(&key.module, Some(&key.version), &why)),
                };
                let meta = self.proxied_version(proxy, &key).await?;
                self.signed_url(
                    &base,
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
            repository_url: None,
        };
        let docs = extract_docs_from_file(fetched.staged.to_path_buf()).await;
        let outcome = proxy
            .cache()
            .publish(key, fetched.staged.to_path_buf(), &meta)
            .await?;
        drop(fetched.staged);
        match outcome {
            PublishOutcome::Created => {
                store_docs(proxy.cache().as_ref(), key, &meta.sha256, &docs).await;
                self.record_in_catalogue(proxy.cache().as_ref(), &key.module, true)
                    .await;
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
}

/// `200` with a versions answer's JSON body; shared caches may keep it briefly, apart for
/// clients that accept gzip and those that do not.
fn versions_answer(body: Vec<u8>) -> OriginResponse {
    let mut response = OriginResponse::json(200, serde_json::Value::Null).cacheable();
    response.body = body;
    response
        .headers
        .push(("vary".into(), "Accept-Encoding".into()));
    response
}

/// Whether an `Accept-Encoding` header allows gzip: named (or `x-gzip`), or `*` when gzip is
/// not named, with a quality above zero (RFC 9110, section 12.5.3).
pub(super) fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else {
        return false;
    };
    let mut named = None;
    let mut any = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let allowed = parts
            .map(str::trim)
            .find_map(|p| {
                p.get(..2)
                    .filter(|k| k.eq_ignore_ascii_case("q="))
                    .and(p.get(2..))
            })
            .is_none_or(|q| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0));
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            named = Some(named.unwrap_or(false) || allowed);
        } else if coding == "*" {
            any = Some(allowed);
        }
    }
    named.or(any).unwrap_or(false)
}

pub(super) fn describe_version(key: &ArchiveKey, meta: &VersionMeta) -> serde_json::Value {
    json!({
        // As in the Registry API: the repository when known, else the module's address.
        "source": meta.repository_url.clone().unwrap_or_else(|| key.module.to_string()),
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
        "repository_url": meta.repository_url,
    })
}

/// [`describe_version`] plus the Registry API's module details fields, from the stored docs
/// (or, when there are none, empty parts and the reason).
fn describe_details(
    key: &ArchiveKey,
    meta: &VersionMeta,
    docs: Result<ModuleDocs, String>,
    versions: &[ModuleVersion],
) -> serde_json::Value {
    let (docs, unavailable_reason) = match docs {
        Ok(docs) => (docs, None),
        Err(reason) => (
            crate::docs::stored::unavailable(reason.clone()),
            Some(reason),
        ),
    };
    let mut root = json!(docs.root);
    root["name"] = json!(key.module.name);
    let mut body = describe_version(key, meta);
    let details = json!({
        "id": format!("{}/{}", key.module, key.version),
        "owner": meta.uploader,
        "provider": key.module.system,
        "description": crate::docs::stored::description(&docs.root.readme),
        "published_at": meta.uploaded_at,
        "downloads": 0,
        "verified": false,
        "root": root,
        "submodules": docs.submodules,
        "examples": docs.examples,
        "providers": [key.module.system],
        "versions": versions.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "docs_available": docs.docs_available && unavailable_reason.is_none(),
        "docs_unavailable_reason": unavailable_reason,
        "parse_errors": if unavailable_reason.is_none() { docs.parse_errors } else { Vec::new() },
    });
    if let (Some(body), serde_json::Value::Object(details)) = (body.as_object_mut(), details) {
        body.extend(details);
    }
    body
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
    use super::super::clock::now_unix;
    use super::super::test_support::{code, json, TestRegistry};

    #[test]
    fn accept_encoding_allows_gzip_by_name_or_by_star_with_a_quality_above_zero() {
        use super::accepts_gzip;
        for yes in [
            "gzip",
            "GZIP",
            "deflate, gzip",
            "gzip;q=0.5",
            "x-gzip",
            "*",
            "br;q=1, *;q=0.1",
        ] {
            assert!(accepts_gzip(Some(yes)), "{yes}");
        }
        for no in [
            "",
            "identity",
            "br",
            "gzip;q=0",
            "gzip; q=0.0",
            "*;q=0",
            "*, gzip;q=0",
        ] {
            assert!(!accepts_gzip(Some(no)), "{no}");
        }
        assert!(!accepts_gzip(None));
    }

    #[tokio::test]
    async fn versions_are_listed_in_semver_order_and_cacheable() {
        let registry = TestRegistry::new();
        for version in ["1.10.0", "1.9.0", "1.2.0-rc.1", "1.2.0"] {
            registry.publish("acme/vpc/aws", version).await;
        }
        let response = registry.get("/v1/modules/acme/vpc/aws/versions").await;
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
        let response = registry.get("/v1/modules/acme/vpc/aws/versions").await;
        assert_eq!(response.status, 404);
        assert_eq!(
            json(&response)["errors"][0],
            "module acme/vpc/aws not found"
        );
        registry.publish("acme/vpc/aws", "1.0.0").await;
        let response = registry
            .get("/v1/modules/acme/vpc/aws/2.0.0/download")
            .await;
        assert_eq!(response.status, 404);
        assert_eq!(
            json(&response)["errors"][0],
            "module acme/vpc/aws has no version 2.0.0"
        );
        let response = registry.get("/v1/modules/acme/vpc/aws/2.0.0").await;
        assert_eq!(response.status, 404);
        assert_eq!(code(&response), "not_found");
    }

    #[tokio::test]
    async fn a_download_is_204_with_a_signed_url_carrying_the_checksum() {
        let registry = TestRegistry::new();
        let published = json(&registry.publish("acme/vpc/aws", "1.0.0").await);
        let response = registry
            .get("/v1/modules/acme/vpc/aws/1.0.0/download")
            .await;
        assert_eq!(response.status, 204);
        assert!(response.body.is_empty());
        let location = response.header("x-terraform-get").expect("X-Terraform-Get");
        let path = "/archives/acme/vpc/aws/1.0.0/module.tar.gz";
        assert!(
            location.starts_with(&format!(
                "{}{path}?Expires=",
                super::super::test_support::TEST_ARCHIVE_URL_BASE
            )),
            "{location}"
        );
        assert!(
            location.contains("&Key-Pair-Id=KTEST&Signature="),
            "{location}"
        );
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
    async fn without_a_configured_address_the_url_is_root_relative_and_signed_for_the_host() {
        let registry = TestRegistry::with_config(|config| config.archive_url_base = None);
        registry.publish("acme/vpc/aws", "1.0.0").await;
        let download = "/v1/modules/acme/vpc/aws/1.0.0/download";
        let response = registry.get_with_host(download, "127.0.0.1:8443").await;
        assert_eq!(response.status, 204);
        let location = response.header("x-terraform-get").unwrap();
        let path = "/archives/acme/vpc/aws/1.0.0/module.tar.gz";
        assert!(
            location.starts_with(&format!("{path}?Expires=")),
            "{location}"
        );
        let query = location.split_once('?').unwrap().1;
        let signed = query.split("&checksum=").next().unwrap();
        let resource = format!("https://127.0.0.1:8443{path}");
        assert_eq!(
            registry
                .registry
                .signer
                .verifier()
                .verify(&resource, signed, now_unix()),
            Ok(())
        );
        // A Host that would put a path or a parameter into the signed resource is refused.
        for host in [
            "",
            "127.0.0.1:8443/archives/acme/other/aws/1.0.0/module.tar.gz?x=",
            "a\"b",
        ] {
            let response = registry.get_with_host(download, host).await;
            assert_eq!(response.status, 400, "{host:?}");
        }
        assert_eq!(registry.get(download).await.status, 400);
    }

    #[tokio::test]
    async fn version_details_say_who_uploaded_what() {
        let registry = TestRegistry::new();
        registry.publish("acme/vpc/aws", "1.0.0").await;
        let response = registry.get("/v1/modules/acme/vpc/aws/v1.0.0").await;
        assert_eq!(response.status, 200);
        let details = json(&response);
        assert_eq!(details["version"], "1.0.0");
        assert_eq!(details["uploader"], "ci");
        assert_eq!(details["origin"], "upload");
        assert_eq!(details["sha256"].as_str().unwrap().len(), 64);
    }

    mod safe_default {
        use super::super::super::test_support::{code, json, TestRegistry};
        use super::super::NotProxied;
        use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
        use crate::storage::VersionMeta;

        fn module(text: &str) -> ModuleAddress {
            let parts: Vec<&str> = text.split('/').collect();
            ModuleAddress::new(parts[0], parts[1], parts[2]).unwrap()
        }

        /// Proxy mode on, an empty allow list, and an upstream that is not there: a module
        /// the registry asks about answers 502, one it keeps private 404.
        fn proxying(extra: &[(&'static str, &'static str)]) -> TestRegistry {
            let mut settings = vec![("TFREG_PROXY_ENABLED", "true")];
            settings.extend_from_slice(extra);
            TestRegistry::with_unreachable_upstream_and(&settings)
        }

        async fn why_not(registry: &TestRegistry, text: &str) -> Option<NotProxied> {
            registry
                .registry
                .upstream_for(&module(text), None)
                .await
                .unwrap()
                .err()
        }

        async fn pin_by_hand(registry: &TestRegistry, text: &str, version: &str) {
            let key = ArchiveKey::new(module(text), ModuleVersion::parse(version).unwrap());
            let staged = tempfile::NamedTempFile::new_in(&registry.registry.config.scratch_dir)
                .unwrap()
                .into_temp_path()
                .keep()
                .unwrap();
            std::fs::write(&staged, b"pinned").unwrap();
            let meta = VersionMeta {
                sha256: "ab".repeat(32),
                size: 6,
                uploaded_at: "2026-01-01T00:00:00Z".into(),
                uploader: "admin".into(),
                source: "pin".into(),
                origin_url: None,
                repository_url: None,
            };
            registry
                .registry
                .archives
                .publish(&key, staged, &meta)
                .await
                .unwrap();
        }

        #[tokio::test]
        async fn an_uploaded_module_and_its_whole_namespace_stay_local() {
            let registry = proxying(&[]);
            assert_eq!(why_not(&registry, "acme/vpc/aws").await, None);
            registry.publish("acme/vpc/aws", "1.0.0").await;
            assert_eq!(
                why_not(&registry, "acme/vpc/aws").await,
                Some(NotProxied::PrivateNamespace)
            );
            assert_eq!(
                why_not(&registry, "acme/typo/aws").await,
                Some(NotProxied::PrivateNamespace)
            );
            assert_eq!(why_not(&registry, "acme-tools/vpc/aws").await, None);

            // The uploaded module answers its own versions (an asked upstream would be 502).
            let response = registry.get("/v1/modules/acme/vpc/aws/versions").await;
            assert_eq!(response.status, 200);
            // A typo in the private namespace is 404, saying why, without asking upstream.
            let response = registry.get("/v1/modules/acme/typo/aws/versions").await;
            assert_eq!(response.status, 404);
            assert_eq!(code(&response), "not_found");
            assert_eq!(
                json(&response)["errors"][0],
                "module acme/typo/aws not found; namespace acme holds modules uploaded here, so none of its modules is fetched from the upstream registry (the proxy's merge list can name exceptions)"
            );
            let response = registry
                .get("/v1/modules/acme/vpc/aws/9.9.9/download")
                .await;
            assert_eq!(response.status, 404);
            // A public module is still asked for: the upstream is not there, so 502.
            let response = registry
                .get("/v1/modules/hashicorp/consul/aws/versions")
                .await;
            assert_eq!(response.status, 502);
        }

        #[tokio::test]
        async fn pins_do_not_make_a_module_or_its_namespace_private() {
            let registry = proxying(&[]);
            pin_by_hand(&registry, "hashicorp/consul/aws", "0.1.0").await;
            assert_eq!(why_not(&registry, "hashicorp/consul/aws").await, None);
            assert_eq!(why_not(&registry, "hashicorp/vault/aws").await, None);
            // The pin is answered when the upstream fails.
            let response = registry
                .get("/v1/modules/hashicorp/consul/aws/versions")
                .await;
            assert_eq!(response.status, 200);
        }

        #[tokio::test]
        async fn the_merge_list_opts_listed_modules_back_in() {
            let registry = proxying(&[("TFREG_PROXY_MERGE_LIST", "acme/vpc/")]);
            registry.publish("acme/vpc/aws", "1.0.0").await;
            assert_eq!(why_not(&registry, "acme/vpc/aws").await, None);
            assert_eq!(why_not(&registry, "acme/vpc/google").await, None);
            assert_eq!(
                why_not(&registry, "acme/typo/aws").await,
                Some(NotProxied::PrivateNamespace)
            );
        }

        #[tokio::test]
        async fn the_lists_still_come_first() {
            let registry = proxying(&[
                ("TFREG_PROXY_LOCAL_ONLY", "internal/"),
                ("TFREG_PROXY_MERGE_LIST", "internal,denied"),
            ]);
            assert_eq!(
                why_not(&registry, "internal/vpc/aws").await,
                Some(NotProxied::LocalOnly)
            );
            assert!(matches!(
                why_not(&registry, "denied/vpc/aws").await,
                Some(NotProxied::Policy(_))
            ));
            let off = TestRegistry::with_unreachable_upstream();
            assert_eq!(why_not(&off, "acme/vpc/aws").await, Some(NotProxied::Off));
        }

        /// Uploads stored before namespaces were marked (or put in S3 by hand) are found
        /// by their metadata, and their namespace is marked then.
        #[tokio::test]
        async fn an_upload_without_its_mark_is_found_and_marked() {
            let registry = proxying(&[]);
            registry.publish("acme/vpc/aws", "1.0.0").await;
            let mark = registry
                .registry
                .config
                .scratch_dir
                .parent()
                .unwrap()
                .join("modules/acme/.uploads");
            std::fs::remove_file(&mark).expect("the upload wrote the mark");
            assert_eq!(why_not(&registry, "acme/typo/aws").await, None);
            assert_eq!(
                why_not(&registry, "acme/vpc/aws").await,
                Some(NotProxied::Uploaded)
            );
            assert!(mark.is_file(), "the namespace is marked again");
            assert_eq!(
                why_not(&registry, "acme/typo/aws").await,
                Some(NotProxied::PrivateNamespace)
            );
        }
    }
}
