//! Proxy mode: public modules served through this registry.
//!
//! A module this registry does not have is answered from the upstream registry, if the
//! policy allows it: its versions are merged with the local ones, and a download is fetched,
//! vetted and stored here, so clients only ever talk to this host and receive an archive with
//! the module at its root. Pinning (`POST /v1/pins/...`) does the same fetch and stores the
//! result durably among the local versions.
//!
//! - [`policy`]: the allow, deny and local-only lists (module prefixes on whole segments).
//! - [`source`]: an upstream download answer read the way go-getter reads it, limited to two
//!   hosts.
//! - [`upstream`]: the HTTP client, bounded in size, redirects and time.

mod go_query;
pub mod policy;
pub mod source;
pub mod upstream;
pub mod versions_cache;

use crate::archive::{normalize_archive_subdir, ArchiveLimits, NormalizedArchive};
use crate::error::ApiError;
use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use crate::storage::ArchiveStore;
use policy::{parse_prefix_list, ModulePrefix, ProxyPolicy};
use reqwest::Url;
use source::{resolve_source, ArchiveSource, FetchOrigins, SourceError};
use std::future::Future;
use std::io::{Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use upstream::UpstreamClient;
use versions_cache::VersionsCache;

pub const DEFAULT_UPSTREAM: &str = "https://registry.terraform.io";
pub const DEFAULT_GITHUB_ARCHIVE_URL: &str = "https://codeload.github.com";
pub const DEFAULT_PROXY_TIMEOUT_SECS: u64 = 20;
pub const DEFAULT_MAX_PROXY_ARCHIVE_BYTES: u64 = 100 * 1024 * 1024;
/// `tfreg serve`'s default for [`ProxyConfig::versions_ttl`]: what CloudFront gives the AWS
/// deployment (`s-maxage=30` on version lists).
pub const DEFAULT_SERVE_VERSIONS_TTL_SECS: u64 = 30;

/// The environment variables of the proxy settings: what [`ProxyConfig::from_env`] reads (the
/// origin Lambda), and what `tfreg serve`'s proxy flags fall back to.
pub mod env_vars {
    pub const ENABLED: &str = "TFREG_PROXY_ENABLED";
    pub const UPSTREAM: &str = "TFREG_PROXY_UPSTREAM";
    pub const GITHUB_ARCHIVE_URL: &str = "TFREG_PROXY_GITHUB_ARCHIVE_URL";
    pub const ALLOW_LIST: &str = "TFREG_PROXY_ALLOW_LIST";
    pub const DENY_LIST: &str = "TFREG_PROXY_DENY_LIST";
    pub const LOCAL_ONLY: &str = "TFREG_PROXY_LOCAL_ONLY";
    pub const MERGE_LIST: &str = "TFREG_PROXY_MERGE_LIST";
    pub const CA_BUNDLE: &str = "TFREG_PROXY_CA_BUNDLE";
    pub const UPSTREAM_TOKEN: &str = "TFREG_PROXY_UPSTREAM_TOKEN";
    pub const TIMEOUT_SECS: &str = "TFREG_PROXY_TIMEOUT_SECS";
    pub const MAX_ARCHIVE_BYTES: &str = "TFREG_PROXY_MAX_ARCHIVE_BYTES";
    pub const VERSIONS_TTL_SECS: &str = "TFREG_PROXY_VERSIONS_TTL_SECS";
}

/// The proxy's settings, the same in `tfreg serve` (flags) and in the origin Lambda
/// (environment, [`ProxyConfig::from_env`]).
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Answer modules this registry does not have from the upstream. Pinning works either way.
    pub enabled: bool,
    pub upstream: Url,
    /// GitHub's archive host: tarballs are fetched as `{base}/{owner}/{repo}/tar.gz/{ref}`.
    pub github_archive_url: Url,
    pub policy: ProxyPolicy,
    /// Modules whose versions come only from this registry (uploads and pins).
    pub local_only: Vec<ModulePrefix>,
    /// Modules that are fetched from and merged with the upstream even though they, or their
    /// namespace, hold uploaded versions (which otherwise makes them private).
    pub merge: Vec<ModulePrefix>,
    /// Certificates (PEM) the upstream client trusts beside the platform's roots: a private
    /// upstream behind a corporate CA.
    pub ca_bundle: Option<CaBundle>,
    /// A bearer token for the upstream registry's API (an upstream that is a private
    /// registry, such as another tfreg). Sent to its discovery, versions and download
    /// endpoints only, never to archive URLs or the GitHub archive host.
    pub upstream_token: Option<UpstreamToken>,
    /// Bound on all upstream fetches of one request together.
    pub timeout: Duration,
    pub max_archive_bytes: u64,
    /// How long an upstream version list is reused (zero: asked on every request). Unset in
    /// the origin Lambda, where CloudFront keeps answers for `s-maxage`; `tfreg serve`
    /// defaults to the same 30 s ([`DEFAULT_SERVE_VERSIONS_TTL_SECS`]).
    pub versions_ttl: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            enabled: false,
            upstream: Url::parse(DEFAULT_UPSTREAM).expect("valid default"),
            github_archive_url: Url::parse(DEFAULT_GITHUB_ARCHIVE_URL).expect("valid default"),
            policy: ProxyPolicy::default(),
            local_only: Vec::new(),
            merge: Vec::new(),
            ca_bundle: None,
            upstream_token: None,
            timeout: Duration::from_secs(DEFAULT_PROXY_TIMEOUT_SECS),
            max_archive_bytes: DEFAULT_MAX_PROXY_ARCHIVE_BYTES,
            versions_ttl: Duration::ZERO,
        }
    }
}

/// Extra trusted certificates for the upstream client, read and checked once at start-up.
#[derive(Clone)]
pub struct CaBundle {
    /// Where it came from, for messages: a file path, or the environment variable's name.
    pub origin: String,
    pub certificates: Vec<reqwest::Certificate>,
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CaBundle({}, {} certificate(s))",
            self.origin,
            self.certificates.len()
        )
    }
}

impl CaBundle {
    /// `value` is either PEM text (what the origin Lambda gets in its environment) or the path
    /// of a PEM file (what `tfreg serve --proxy-ca-bundle` takes).
    pub fn read(name: &str, value: &str) -> Result<Self, String> {
        let (origin, pem) = if value.trim_start().starts_with("-----BEGIN") {
            (format!("{name} (PEM text)"), value.as_bytes().to_vec())
        } else {
            let path = value.trim();
            let pem = std::fs::read(path)
                .map_err(|e| format!("{name}: cannot read the CA bundle {path:?}: {e}"))?;
            (path.to_owned(), pem)
        };
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{name}: {origin} is not a PEM certificate bundle: {e}"))?;
        if certificates.is_empty() {
            return Err(format!(
                "{name}: {origin} holds no certificate (expected -----BEGIN CERTIFICATE----- blocks)"
            ));
        }
        // The certificates are only parsed when a client takes them: do it now, so a broken
        // bundle stops the start rather than every upstream fetch.
        certificates
            .iter()
            .fold(
                reqwest::Client::builder().tls_built_in_root_certs(false),
                |builder, certificate| builder.add_root_certificate(certificate.clone()),
            )
            .build()
            .map_err(|e| {
                format!("{name}: {origin} holds a certificate that cannot be used: {e}")
            })?;
        Ok(CaBundle {
            origin,
            certificates,
        })
    }
}

/// The upstream registry's bearer token; never shown in logs or `Debug` output.
#[derive(Clone)]
pub struct UpstreamToken(pub String);

impl std::fmt::Debug for UpstreamToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamToken(…)")
    }
}

/// An `http(s)` base URL with nothing but a scheme, host, port and path.
pub fn parse_base_url(name: &str, text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("{name}: {text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{name}: {text:?} must be an http:// or https:// URL"
        ));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.host_str().is_none()
    {
        return Err(format!(
            "{name}: {text:?} must be a base URL without credentials, query or fragment"
        ));
    }
    Ok(url)
}

impl ProxyConfig {
    /// Reads the [`env_vars`] (`TFREG_PROXY_*`) through `get` (the environment, in the
    /// Lambda). Unset settings keep their defaults.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut config = ProxyConfig::default();
        let value = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        if let Some(text) = value(env_vars::ENABLED) {
            config.enabled = match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    return Err(format!(
                        "{}: {text:?} is not true or false",
                        env_vars::ENABLED
                    ))
                }
            };
        }
        if let Some(text) = value(env_vars::UPSTREAM) {
            config.upstream = parse_base_url(env_vars::UPSTREAM, &text)?;
        }
        if let Some(text) = value(env_vars::GITHUB_ARCHIVE_URL) {
            config.github_archive_url = parse_base_url(env_vars::GITHUB_ARCHIVE_URL, &text)?;
        }
        let list = |name: &str| -> Result<Vec<ModulePrefix>, String> {
            parse_prefix_list(&value(name).unwrap_or_default()).map_err(|e| format!("{name}: {e}"))
        };
        config.policy.allow = list(env_vars::ALLOW_LIST)?;
        config.policy.deny = list(env_vars::DENY_LIST)?;
        config.local_only = list(env_vars::LOCAL_ONLY)?;
        config.merge = list(env_vars::MERGE_LIST)?;
        if let Some(token) = value(env_vars::UPSTREAM_TOKEN) {
            let token = token.trim().to_owned();
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "{}: the token must be visible ASCII characters",
                    env_vars::UPSTREAM_TOKEN
                ));
            }
            config.upstream_token = Some(UpstreamToken(token));
        }
        if let Some(value) = value(env_vars::CA_BUNDLE) {
            config.ca_bundle = Some(CaBundle::read(env_vars::CA_BUNDLE, &value)?);
        }
        let number = |name: &str| -> Result<Option<u64>, String> {
            value(name)
                .map(|text| {
                    text.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("{name}: {text:?} is not a positive whole number"))
                })
                .transpose()
        };
        if let Some(seconds) = number(env_vars::TIMEOUT_SECS)? {
            config.timeout = Duration::from_secs(seconds);
        }
        if let Some(bytes) = number(env_vars::MAX_ARCHIVE_BYTES)? {
            config.max_archive_bytes = bytes;
        }
        if let Some(text) = value(env_vars::VERSIONS_TTL_SECS) {
            let seconds = text.trim().parse::<u64>().map_err(|_| {
                format!(
                    "{}: {text:?} is not a whole number of seconds",
                    env_vars::VERSIONS_TTL_SECS
                )
            })?;
            config.versions_ttl = Duration::from_secs(seconds);
        }
        Ok(config)
    }

    pub fn is_local_only(&self, module: &ModuleAddress) -> bool {
        self.local_only.iter().any(|p| p.matches(module))
    }

    /// Whether `module` is on the merge list: fetched and merged with the upstream even when
    /// it or its namespace holds uploads.
    pub fn merges(&self, module: &ModuleAddress) -> bool {
        self.merge.iter().any(|p| p.matches(module))
    }
}

/// Why the upstream could not give what was asked; each maps to one status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The upstream does not have it: 404.
    #[error("{0}")]
    NotFound(String),
    /// The upstream, or the whole operation, took longer than the bound: 504.
    #[error("{0}")]
    Timeout(String),
    /// No connection: 502.
    #[error("{0}")]
    Unreachable(String),
    /// An answer that is not what the protocol says (5xx, garbage, redirect elsewhere): 502.
    #[error("{0}")]
    BadAnswer(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The fetched archive is not a usable module: 502.
    #[error("{0}")]
    Archive(String),
    #[error("{0}")]
    TooLarge(String),
    /// Our side failed (scratch disk): 500.
    #[error("{0}")]
    Internal(String),
}

impl From<ProxyError> for ApiError {
    fn from(error: ProxyError) -> Self {
        let (status, code) = match &error {
            ProxyError::NotFound(_) => (404, "not_found"),
            ProxyError::Timeout(_) => (504, "upstream_timeout"),
            ProxyError::Unreachable(_) => (502, "upstream_unreachable"),
            ProxyError::BadAnswer(_) => (502, "upstream_bad_answer"),
            ProxyError::Source(_) => (502, "upstream_source_unsupported"),
            ProxyError::Archive(_) => (502, "upstream_archive_invalid"),
            ProxyError::TooLarge(_) => (502, "upstream_archive_too_large"),
            ProxyError::Internal(_) => (500, "internal"),
        };
        if status >= 500 {
            tracing::warn!(%error, status, "upstream fetch failed");
        }
        ApiError::new(status, code, error.to_string())
    }
}

/// A module version fetched from upstream and normalised into a scratch file, ready to be
/// published (to the proxy cache or, for a pin, among the local versions).
pub struct FetchedModule {
    pub staged: tempfile::TempPath,
    pub archive: NormalizedArchive,
    pub source: ArchiveSource,
    /// The upstream's download answer, verbatim.
    pub location: String,
}

pub struct Proxy {
    config: ProxyConfig,
    /// Built on first use: reading the platform's root certificates and setting up TLS is
    /// start-up time that an origin container serving only local modules never needs.
    client: OnceLock<Result<UpstreamClient, String>>,
    cache: Arc<dyn ArchiveStore>,
    versions: VersionsCache,
}

impl Proxy {
    /// `cache` holds proxied (not pinned) downloads; it is served beneath
    /// `/archives/_proxy/`.
    pub fn new(config: ProxyConfig, cache: Arc<dyn ArchiveStore>) -> Result<Self, String> {
        let versions = VersionsCache::new(config.versions_ttl, versions_cache::MAX_MODULES);
        Ok(Proxy {
            config,
            client: OnceLock::new(),
            cache,
            versions,
        })
    }

    fn client(&self) -> Result<&UpstreamClient, ProxyError> {
        self.client
            .get_or_init(|| {
                let config = &self.config;
                let origins = FetchOrigins {
                    upstream: config.upstream.clone(),
                    github_archive: config.github_archive_url.clone(),
                };
                UpstreamClient::new(
                    origins,
                    config.timeout,
                    config.max_archive_bytes,
                    config.ca_bundle.as_ref(),
                    config.upstream_token.clone(),
                )
            })
            .as_ref()
            .map_err(|e| ProxyError::Internal(e.clone()))
    }

    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    pub fn cache(&self) -> &Arc<dyn ArchiveStore> {
        &self.cache
    }

    /// Runs `operation` within the configured bound, so no request waits on the upstream
    /// longer than that, whatever the number of hops.
    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, ProxyError>>,
    ) -> Result<T, ProxyError> {
        let limit = self.config.timeout;
        tokio::time::timeout(limit, operation)
            .await
            .unwrap_or_else(|_| {
                Err(ProxyError::Timeout(format!(
                    "the upstream did not finish within the proxy's {} s bound",
                    limit.as_secs_f64()
                )))
            })
    }

    /// The upstream's versions of `module`, from the short-lived cache when it has them
    /// ([`ProxyConfig::versions_ttl`]).
    pub async fn upstream_versions(
        &self,
        module: &ModuleAddress,
    ) -> Result<Arc<Vec<ModuleVersion>>, ProxyError> {
        if let Some(kept) = self.versions.get(module, Instant::now()) {
            return Ok(kept);
        }
        let client = self.client()?;
        let versions = Arc::new(self.bounded(client.versions(module)).await?);
        self.versions.put(module, versions.clone(), Instant::now());
        Ok(versions)
    }

    /// Fetches `key` from upstream: the download answer, the archive it names, and the
    /// module directory within it, normalised and validated like an upload.
    pub async fn fetch(
        &self,
        key: &ArchiveKey,
        scratch_dir: &Path,
        limits: &ArchiveLimits,
    ) -> Result<FetchedModule, ProxyError> {
        let scratch = |e: std::io::Error| ProxyError::Internal(format!("scratch file: {e}"));
        let client = self.client()?;
        let (location, source, raw) = self
            .bounded(async {
                let (location, download_url) = client.download_location(key).await?;
                let source = resolve_source(&location, &download_url, client.origins())?;
                let raw = tempfile::tempfile_in(scratch_dir).map_err(scratch)?;
                let mut raw = tokio::fs::File::from_std(raw);
                let fetched = client.fetch_archive(&source.url, &mut raw).await?;
                if let Some(expected) = &source.sha256 {
                    if *expected != fetched.sha256 {
                        return Err(ProxyError::Archive(format!(
                            "the module archive {} does not match the checksum the upstream gave (sha256 {expected}, got {})",
                            upstream::display_url(&source.url),
                            fetched.sha256
                        )));
                    }
                }
                Ok((location, source, raw.into_std().await))
            })
            .await?;

        let limits = limits.clone();
        let scratch_dir = scratch_dir.to_owned();
        let select = source.select.clone().unwrap_or_default();
        let shown = upstream::display_url(&source.url);
        let (archive, staged) = tokio::task::spawn_blocking(move || {
            let mut raw = raw;
            raw.seek(SeekFrom::Start(0)).map_err(scratch)?;
            let output = tempfile::Builder::new()
                .prefix("proxy-")
                .suffix(".tar.gz")
                .tempfile_in(&scratch_dir)
                .map_err(scratch)?;
            let archive = normalize_archive_subdir(
                std::io::BufReader::new(raw),
                output.as_file(),
                &limits,
                &select,
            )
            .map_err(|e| match e {
                crate::archive::ArchiveError::Io(io) => scratch(io),
                invalid => ProxyError::Archive(format!(
                    "the module archive {shown} cannot be served: {invalid}"
                )),
            })?;
            Ok::<_, ProxyError>((archive, output.into_temp_path()))
        })
        .await
        .map_err(|e| ProxyError::Internal(format!("archive task failed: {e}")))??;
        Ok(FetchedModule {
            staged,
            archive,
            source,
            location,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(settings: &[(&str, &str)]) -> Result<ProxyConfig, String> {
        ProxyConfig::from_env(|name| {
            settings
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn the_merge_list_reads_like_the_other_lists() {
        let config = from(&[(env_vars::MERGE_LIST, "acme/vpc/, hashicorp/")]).unwrap();
        let vpc = ModuleAddress::new("acme", "vpc", "aws").unwrap();
        let other = ModuleAddress::new("acme", "vpc-peering", "aws").unwrap();
        assert!(config.merges(&vpc));
        assert!(!config.merges(&other));
        assert!(from(&[(env_vars::MERGE_LIST, "a/*")])
            .unwrap_err()
            .starts_with("TFREG_PROXY_MERGE_LIST: invalid module prefix"));
        assert!(
            from(&[]).unwrap().merge.is_empty(),
            "nothing merges by default"
        );
    }

    #[test]
    fn a_ca_bundle_that_is_not_one_is_refused_at_start() {
        let error = from(&[(env_vars::CA_BUNDLE, "/nonexistent/ca.pem")]).unwrap_err();
        assert!(
            error.starts_with(
                "TFREG_PROXY_CA_BUNDLE: cannot read the CA bundle \"/nonexistent/ca.pem\""
            ),
            "{error}"
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "not a certificate\n").unwrap();
        let error = from(&[(env_vars::CA_BUNDLE, file.path().to_str().unwrap())]).unwrap_err();
        assert!(error.contains("holds no certificate"), "{error}");
        let error = from(&[(
            env_vars::CA_BUNDLE,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        )])
        .unwrap_err();
        assert!(
            error.starts_with("TFREG_PROXY_CA_BUNDLE: TFREG_PROXY_CA_BUNDLE (PEM text) holds a certificate that cannot be used"),
            "{error}"
        );
    }
}
