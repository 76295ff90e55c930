//! A registry over the embedded stores in a temporary directory, and requests as the edge
//! passes them on, for the handlers' unit tests.

use super::{OriginRequest, OriginResponse, Registry, RegistryConfig, RequestBody};
use crate::catalogue::FileCatalogueStore;
use crate::embedded::{FileArchiveStore, RedbTokenStore};
use crate::proxy::{Proxy, ProxyConfig};
use crate::signed_url::UrlSigner;
use std::sync::Arc;
use tfreg_edge::{Identity, Tier, IDENTITY_HEADER};

pub struct TestRegistry {
    pub registry: Registry,
    /// Kept so the stores outlive the test.
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    pub fn new() -> Self {
        Self::build(|_| {}, false)
    }

    pub fn with_config(adjust: impl FnOnce(&mut RegistryConfig)) -> Self {
        Self::build(adjust, false)
    }

    /// With an upstream registry that is not there (a closed loopback port), so pinning is
    /// available, every fetch fails, and the `denied` namespace is on the deny list.
    pub fn with_unreachable_upstream() -> Self {
        Self::build(|_| {}, true)
    }

    /// Like [`TestRegistry::with_unreachable_upstream`], with further `TFREG_PROXY_*`
    /// settings (such as `("TFREG_PROXY_ENABLED", "true")`).
    pub fn with_unreachable_upstream_and(settings: &[(&str, &str)]) -> Self {
        Self::build_with(|_| {}, true, settings)
    }

    fn build(adjust: impl FnOnce(&mut RegistryConfig), upstream: bool) -> Self {
        Self::build_with(adjust, upstream, &[])
    }

    fn build_with(
        adjust: impl FnOnce(&mut RegistryConfig),
        upstream: bool,
        extra: &[(&str, &str)],
    ) -> Self {
        let (dir, mut registry, tokens) = embedded(adjust);
        if upstream {
            let settings = |name: &str| {
                if let Some((_, value)) = extra.iter().find(|(key, _)| *key == name) {
                    return Some((*value).to_owned());
                }
                match name {
                    "TFREG_PROXY_UPSTREAM" | "TFREG_PROXY_GITHUB_ARCHIVE_URL" => {
                        Some("http://127.0.0.1:9".to_owned())
                    }
                    "TFREG_PROXY_DENY_LIST" => Some("denied".to_owned()),
                    "TFREG_PROXY_TIMEOUT_SECS" => Some("5".to_owned()),
                    _ => None,
                }
            };
            let config = ProxyConfig::from_env(settings).expect("proxy settings");
            let cache = FileArchiveStore::open(&dir.path().join("proxy-cache")).expect("cache");
            let proxy = Proxy::new(config, Arc::new(cache)).expect("proxy");
            registry = registry.with_proxy(proxy).with_pins(tokens);
        }
        TestRegistry {
            registry,
            _dir: dir,
        }
    }

    /// A registry over `archives` (which should live in `dir`), with a token database of its
    /// own in `dir`.
    pub fn over(archives: Arc<dyn crate::storage::ArchiveStore>, dir: tempfile::TempDir) -> Self {
        let tokens =
            Arc::new(RedbTokenStore::open(&dir.path().join("tokens.redb")).expect("token store"));
        let scratch = dir.path().join("scratch");
        std::fs::create_dir_all(&scratch).expect("scratch directory");
        let mut config = RegistryConfig::new(scratch);
        config.archive_url_base = Some(TEST_ARCHIVE_URL_BASE.to_owned());
        let registry = Registry::new(archives, tokens, UrlSigner::generate("KTEST"), config);
        TestRegistry {
            registry,
            _dir: dir,
        }
    }

    /// With the large-upload path (presigned upload, then finalize) on `staging`.
    pub fn with_upload_staging(mut self, staging: Arc<dyn crate::UploadStaging>) -> Self {
        self.registry = self.registry.with_upload_staging(staging);
        self
    }

    /// The data directory of the stores.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// A request from a token named `name` of `tier` limited to `scopes`.
    pub async fn send_scoped(
        &self,
        method: &str,
        path: &str,
        (name, tier): (&str, Tier),
        scopes: &[&str],
        body: RequestBody,
    ) -> OriginResponse {
        let identity = Identity {
            token_name: name.into(),
            tier,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        self.send_as(method, path, Some(identity), body).await
    }

    /// A request from a token named `caller` of `tier` (or from nobody).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        caller: Option<(&str, Tier)>,
        body: RequestBody,
    ) -> OriginResponse {
        let identity = caller.map(|(name, tier)| Identity {
            token_name: name.into(),
            tier,
            scopes: Vec::new(),
        });
        self.send_as(method, path, identity, body).await
    }

    /// A `GET` from a downloader named "reader".
    pub async fn get(&self, path: &str) -> OriginResponse {
        self.send(
            "GET",
            path,
            Some(("reader", Tier::Downloader)),
            RequestBody::Empty,
        )
        .await
    }

    /// A `GET` from a downloader named "reader" that came with `Host: host`.
    pub async fn get_with_host(&self, path: &str, host: &str) -> OriginResponse {
        let reader = Identity {
            token_name: "reader".into(),
            tier: Tier::Downloader,
            scopes: Vec::new(),
        };
        let headers = vec![("host".to_owned(), host.to_owned())];
        self.send_with_headers("GET", path, Some(reader), headers, RequestBody::Empty)
            .await
    }

    /// A request as the edge passes it on for `identity` (`path` may carry a query).
    async fn send_as(
        &self,
        method: &str,
        path: &str,
        identity: Option<Identity>,
        body: RequestBody,
    ) -> OriginResponse {
        self.send_with_headers(method, path, identity, Vec::new(), body)
            .await
    }

    async fn send_with_headers(
        &self,
        method: &str,
        path: &str,
        identity: Option<Identity>,
        mut headers: Vec<(String, String)>,
        body: RequestBody,
    ) -> OriginResponse {
        if let Some(identity) = identity {
            headers.push((IDENTITY_HEADER.to_owned(), identity.to_header_value()));
        }
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        self.registry
            .handle(OriginRequest {
                method: method.into(),
                path: path.into(),
                query: query.into(),
                headers,
                body,
            })
            .await
    }

    /// A request from a master token named "admin".
    pub async fn as_master(&self, method: &str, path: &str, body: &str) -> OriginResponse {
        let body = if body.is_empty() {
            RequestBody::Empty
        } else {
            RequestBody::Bytes(body.as_bytes().to_vec())
        };
        self.send(method, path, Some(("admin", Tier::Master)), body)
            .await
    }

    /// Publishes `version` of `module` (`ns/name/system`) as an uploader named "ci".
    pub async fn publish(&self, module: &str, version: &str) -> OriginResponse {
        let response = self
            .send(
                "PUT",
                &format!("/v1/modules/{module}/{version}"),
                Some(("ci", Tier::Uploader)),
                RequestBody::Bytes(module_tar_gz(&format!("# {module} {version}\n"))),
            )
            .await;
        let body = String::from_utf8_lossy(&response.body).into_owned();
        assert_eq!(response.status, 201, "{body}");
        response
    }
}

impl TestRegistry {
    /// Publishes `version` of `module` with `readme` as its README.md and `query` (such as
    /// `repository_url=…`) on the `PUT`; returns the answer, whatever it is.
    pub async fn publish_with(
        &self,
        module: &str,
        version: &str,
        readme: &str,
        query: &str,
    ) -> OriginResponse {
        let archive = tfreg_testkit::archive::module_archive(&[
            ("main.tf", "variable \"name\" {\n  type = string\n}\n"),
            ("README.md", readme),
        ]);
        let separator = if query.is_empty() { "" } else { "?" };
        self.send(
            "PUT",
            &format!("/v1/modules/{module}/{version}{separator}{query}"),
            Some(("ci", Tier::Uploader)),
            RequestBody::Bytes(archive),
        )
        .await
    }
}

/// Where the test registry's archive URLs point.
pub const TEST_ARCHIVE_URL_BASE: &str = "https://registry.test";

/// A registry over the embedded stores in a new temporary directory, which must outlive it.
pub fn embedded_registry() -> (tempfile::TempDir, Registry) {
    let (dir, registry, _) = embedded(|_| {});
    (dir, registry)
}

fn embedded(
    adjust: impl FnOnce(&mut RegistryConfig),
) -> (tempfile::TempDir, Registry, Arc<RedbTokenStore>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let archives = FileArchiveStore::open(dir.path()).expect("archive store");
    let tokens =
        Arc::new(RedbTokenStore::open(&dir.path().join("tokens.redb")).expect("token store"));
    let mut config = RegistryConfig::new(archives.staging_dir().to_path_buf());
    config.archive_url_base = Some(TEST_ARCHIVE_URL_BASE.to_owned());
    adjust(&mut config);
    let catalogue = Arc::new(FileCatalogueStore::open(dir.path()));
    let registry = Registry::new(
        Arc::new(archives),
        tokens.clone(),
        UrlSigner::generate("KTEST"),
        config,
    )
    .with_catalogue(catalogue);
    (dir, registry, tokens)
}

/// The body of a JSON answer.
pub fn json(response: &OriginResponse) -> serde_json::Value {
    serde_json::from_slice(&response.body).expect("a JSON body")
}

/// The `code` of an error answer.
pub fn code(response: &OriginResponse) -> String {
    json(response)["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A minimal module archive (tar.gz) with `main.tf` holding `text`.
pub fn module_tar_gz(text: &str) -> Vec<u8> {
    tfreg_testkit::archive::module_archive(&[("main.tf", text)])
}
