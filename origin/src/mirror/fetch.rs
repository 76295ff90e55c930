//! What the mirror answers and how it fills itself: [`ProviderMirror::versions`] for
//! `index.json`, [`ProviderMirror::archives`] for `{version}.json`, and
//! [`ProviderMirror::package`], which fetches and checks a package on a miss.
//!
//! The checks on a fetch, in order, each failing the fetch with nothing kept:
//! 1. the upstream's download answer names the release's own zip name for the platform;
//! 2. `SHA256SUMS` is signed by one of the `gpg_public_keys` the answer names (RSA keys only,
//!    as for private releases), with a binary signature;
//! 3. the answer's `shasum` is the zip's line in `SHA256SUMS`, and the zip fetched has that
//!    SHA-256;
//! 4. the zip is a provider package: one executable with the provider's name, and nothing
//!    unsafe ([`crate::providers::package`]).

use super::dirhash::zip_h1;
use super::store::{MirrorStore, MirroredPackage};
use super::upstream::{AllowedOrigins, MirrorClient};
use super::{MirrorConfig, MirrorProvider};
use crate::error::ApiError;
use crate::names::ModuleVersion;
use crate::providers::package::validate_package;
use crate::providers::signing::{
    binary_signature, parse_public_key, verify_release_signature, MAX_SIGNATURE_BYTES,
};
use crate::providers::sums::{Shasums, MAX_SHASUMS_BYTES};
use crate::providers::{Platform, ReleaseNames};
use crate::proxy::upstream::display_url;
use crate::proxy::versions_cache::{VersionsCache, MAX_MODULES};
use crate::proxy::ProxyError;
use crate::registry::{now_unix, unix_to_rfc3339};
use reqwest::Url;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A version an upstream lists, with its platforms.
#[derive(Debug, Clone)]
pub struct UpstreamVersion {
    pub version: ModuleVersion,
    pub platforms: Vec<Platform>,
}

/// One platform of a `{version}.json` answer: the package kept here (with its `h1:` and
/// `zh:` hashes), or one the upstream has, with the `zh:` hash its signed `SHA256SUMS` gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    pub platform: Platform,
    pub filename: String,
    pub hashes: Vec<String>,
    /// Whether the package is kept here (else it is fetched on its first download).
    pub kept: bool,
}

/// A release's `SHA256SUMS`, its signature checked, and the key that made it.
#[derive(Debug, Clone)]
struct VerifiedSums {
    sums: Shasums,
    key_id: String,
}

pub struct ProviderMirror {
    config: MirrorConfig,
    store: Arc<dyn MirrorStore>,
    client: MirrorClient,
    scratch_dir: PathBuf,
    versions: VersionsCache<MirrorProvider, UpstreamVersion>,
    /// Each version's checked `SHA256SUMS` (one entry), for `{version}.json`, reused for
    /// [`SUMS_TTL`] whatever the versions TTL (the origin Lambda's is 0): a release's sums do
    /// not change, and their signature was checked. A fetch checks them afresh.
    sums: VersionsCache<(MirrorProvider, ModuleVersion), VerifiedSums>,
    /// Each upstream's `providers.v1` base, read from its discovery document once.
    bases: Mutex<HashMap<String, Url>>,
}

/// How long a version's checked `SHA256SUMS` is reused for `{version}.json`.
pub const SUMS_TTL: std::time::Duration = std::time::Duration::from_secs(600);

const REFUSALS: [&str; 4] = [
    "upstream_signature_invalid",
    "upstream_checksums_invalid",
    "upstream_checksum_mismatch",
    "upstream_package_invalid",
];

fn is_refusal(error: &ApiError) -> bool {
    REFUSALS.contains(&error.code)
}

/// An upstream answer that breaks a check: 502, with the reason (one of [`REFUSALS`]).
fn refused(code: &'static str, message: String) -> ApiError {
    tracing::warn!(code, %message, "mirror fetch refused");
    ApiError::new(502, code, message)
}

impl ProviderMirror {
    pub fn new(
        config: MirrorConfig,
        store: Arc<dyn MirrorStore>,
        scratch_dir: PathBuf,
    ) -> Result<Self, String> {
        let origins = config
            .upstreams
            .iter()
            .map(|u| u.url.clone())
            .chain(config.download_hosts.iter().cloned())
            .collect();
        let client = MirrorClient::new(
            AllowedOrigins::new(origins),
            config.timeout,
            config.ca_bundle.as_ref(),
        )?;
        Ok(ProviderMirror {
            versions: VersionsCache::new(config.versions_ttl, MAX_MODULES),
            sums: VersionsCache::new(SUMS_TTL, MAX_MODULES),
            config,
            store,
            client,
            scratch_dir,
            bases: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &MirrorConfig {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn MirrorStore> {
        &self.store
    }

    /// Bounds `work` (all its upstream fetches together) by the configured timeout.
    async fn bounded<T>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(self.config.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(ProxyError::Timeout(format!(
                "{what} took longer than the mirror's {} s limit",
                self.config.timeout.as_secs()
            ))
            .into()),
        }
    }

    /// The upstream `provider` may be fetched from, or why not.
    fn upstream_for(&self, provider: &MirrorProvider) -> Result<&Url, ApiError> {
        let upstream = self.config.upstream(&provider.hostname).ok_or_else(|| {
            ApiError::not_found(format!(
                "this registry mirrors no providers of {}: it is not one of its upstream registries",
                provider.hostname
            ))
        })?;
        if let Some(why) = self.config.policy.refusal(provider) {
            return Err(ApiError::new(403, "not_allowed", why));
        }
        Ok(&upstream.url)
    }

    async fn providers_base(&self, provider: &MirrorProvider) -> Result<Url, ApiError> {
        let upstream = self.upstream_for(provider)?.clone();
        if let Some(base) = self
            .bases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&provider.hostname)
        {
            return Ok(base.clone());
        }
        let url = upstream
            .join("/.well-known/terraform.json")
            .expect("a fixed path joins onto an http(s) URL");
        let (discovery, final_url) = self.client.get_json(&url).await?.ok_or_else(|| {
            ProxyError::BadAnswer(format!("{} has no discovery document", display_url(&url)))
        })?;
        let base = discovery
            .get("providers.v1")
            .and_then(|v| v.as_str())
            .and_then(|v| final_url.join(v).ok())
            .ok_or_else(|| {
                ProxyError::BadAnswer(format!(
                    "{} names no usable providers.v1 service",
                    display_url(&url)
                ))
            })?;
        self.bases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(provider.hostname.clone(), base.clone());
        Ok(base)
    }

    async fn provider_url(
        &self,
        provider: &MirrorProvider,
        rest: &[&str],
    ) -> Result<Url, ApiError> {
        let mut url = self.providers_base(provider).await?;
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|_| ProxyError::BadAnswer("unusable providers.v1 URL".into()))?;
            segments.pop_if_empty();
            segments
                .push(&provider.address.namespace)
                .push(&provider.address.provider_type);
            segments.extend(rest);
        }
        Ok(url)
    }

    /// The upstream's versions of `provider` (kept for the versions TTL).
    async fn upstream_versions(
        &self,
        provider: &MirrorProvider,
    ) -> Result<Arc<Vec<UpstreamVersion>>, ApiError> {
        if let Some(kept) = self.versions.get(provider, Instant::now()) {
            return Ok(kept);
        }
        let url = self.provider_url(provider, &["versions"]).await?;
        let (body, _) = self.client.get_json(&url).await?.ok_or_else(|| {
            ApiError::not_found(format!("provider {provider} is not in its registry"))
        })?;
        let listed = body["versions"].as_array().ok_or_else(|| {
            ProxyError::BadAnswer(format!(
                "{} did not answer a version list",
                display_url(&url)
            ))
        })?;
        let versions: Vec<UpstreamVersion> = listed
            .iter()
            .filter_map(|v| {
                let version = ModuleVersion::parse(v["version"].as_str()?).ok()?;
                let platforms = v["platforms"]
                    .as_array()?
                    .iter()
                    .filter_map(|p| Platform::new(p["os"].as_str()?, p["arch"].as_str()?).ok())
                    .collect();
                Some(UpstreamVersion { version, platforms })
            })
            .collect();
        let versions = Arc::new(versions);
        self.versions
            .put(provider, versions.clone(), Instant::now());
        Ok(versions)
    }

    /// `index.json`: the upstream's versions and those kept here. Without the upstream (down,
    /// or gone), what is kept here.
    pub async fn versions(
        &self,
        provider: &MirrorProvider,
    ) -> Result<Vec<ModuleVersion>, ApiError> {
        let kept = self.store.versions(provider).await?;
        let mut versions = kept.clone();
        let upstream = self
            .bounded(
                "asking the upstream registry",
                self.upstream_versions(provider),
            )
            .await;
        match upstream {
            Ok(listed) => versions.extend(listed.iter().map(|v| v.version.clone())),
            Err(error) if kept.is_empty() || error.status == 403 => return Err(error),
            Err(error) => {
                tracing::warn!(%provider, error = %error.message, "upstream unavailable: serving the mirrored versions only");
            }
        }
        versions.sort();
        versions.dedup();
        Ok(versions)
    }

    /// `{version}.json`: every platform kept here or listed upstream. Platforms not kept yet
    /// carry the `zh:` hash of the upstream's signed `SHA256SUMS` (checked here, now).
    pub async fn archives(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
    ) -> Result<Vec<ArchiveEntry>, ApiError> {
        let kept: Vec<MirroredPackage> = self.store.packages(provider, version).await?;
        let mut entries: BTreeMap<Platform, ArchiveEntry> = BTreeMap::new();
        for package in &kept {
            if let Ok(platform) = Platform::new(&package.os, &package.arch) {
                entries.insert(
                    platform.clone(),
                    ArchiveEntry {
                        platform,
                        filename: package.filename.clone(),
                        hashes: package.hashes(),
                        kept: true,
                    },
                );
            }
        }
        let upstream = self
            .bounded("asking the upstream registry", async {
                let listed = self.upstream_versions(provider).await?;
                let platforms: Vec<Platform> = listed
                    .iter()
                    .find(|v| &v.version == version)
                    .map(|v| v.platforms.clone())
                    .unwrap_or_default();
                let missing: Vec<Platform> = platforms
                    .into_iter()
                    .filter(|p| !entries.contains_key(p))
                    .collect();
                let Some(first) = missing.first() else {
                    return Ok(Vec::new());
                };
                let key = (provider.clone(), version.clone());
                let kept = self.sums.get(&key, Instant::now());
                let verified = match kept.and_then(|kept| kept.first().cloned()) {
                    Some(kept) => kept,
                    None => {
                        let (_, verified) = self.verified_sums(provider, version, first).await?;
                        self.sums
                            .put(&key, Arc::new(vec![verified.clone()]), Instant::now());
                        verified
                    }
                };
                let names = ReleaseNames::new(&provider.address, version);
                Ok(missing
                    .into_iter()
                    .filter_map(|platform| {
                        let filename = names.zip(&platform);
                        let sha256 = verified.sums.get(&filename)?.to_owned();
                        Some(ArchiveEntry {
                            platform,
                            filename,
                            hashes: vec![format!("zh:{sha256}")],
                            kept: false,
                        })
                    })
                    .collect::<Vec<_>>())
            })
            .await;
        match upstream {
            Ok(listed) => {
                for entry in listed {
                    entries.insert(entry.platform.clone(), entry);
                }
            }
            // A release that fails a check is not papered over with what is kept; an
            // upstream that cannot be reached is.
            Err(error) if kept.is_empty() || error.status == 403 || is_refusal(&error) => {
                return Err(error)
            }
            Err(error) => {
                tracing::warn!(%provider, %version, error = %error.message, "upstream unavailable: serving the mirrored packages only");
            }
        }
        if entries.is_empty() {
            return Err(ApiError::not_found(format!(
                "provider {provider} has no version {version} here or in its registry"
            )));
        }
        Ok(entries.into_values().collect())
    }

    /// The upstream's download answer for one platform, and its `SHA256SUMS` with the
    /// signature checked against the keys the answer names.
    async fn verified_sums(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
        platform: &Platform,
    ) -> Result<(DownloadAnswer, VerifiedSums), ApiError> {
        let version_text = version.to_string();
        let url = self
            .provider_url(
                provider,
                &[&version_text, "download", &platform.os, &platform.arch],
            )
            .await?;
        let (body, answered_at) = self.client.get_json(&url).await?.ok_or_else(|| {
            ApiError::not_found(format!(
                "provider {provider} version {version} has no package for {platform} in its registry"
            ))
        })?;
        let answer = DownloadAnswer::read(&body, &answered_at).map_err(|why| {
            ProxyError::BadAnswer(format!("{} answered {why}", display_url(&url)))
        })?;
        let expected = ReleaseNames::new(&provider.address, version).zip(platform);
        if answer.filename != expected {
            return Err(refused(
                "upstream_package_invalid",
                format!(
                    "the upstream names the package {:?}, not {expected:?}",
                    answer.filename
                ),
            ));
        }
        let (shasums, _) = self
            .client
            .get_bytes(&answer.shasums_url, MAX_SHASUMS_BYTES as u64)
            .await?
            .ok_or_else(|| missing_file(&answer.shasums_url))?;
        let (signature, _) = self
            .client
            .get_bytes(&answer.shasums_signature_url, MAX_SIGNATURE_BYTES as u64)
            .await?
            .ok_or_else(|| missing_file(&answer.shasums_signature_url))?;
        let mut keys = Vec::new();
        for armored in &answer.keys {
            match parse_public_key(armored) {
                Ok(key) => keys.push(key),
                Err(e) => tracing::warn!(%provider, error = %e, "upstream signing key skipped"),
            }
        }
        let signature_check = binary_signature(&signature).and_then(|binary| {
            verify_release_signature(&shasums, &binary, &keys, &provider.to_string())
        });
        let key_id = signature_check.map_err(|e| {
            refused(
                "upstream_signature_invalid",
                format!("{provider} {version}: {e}"),
            )
        })?;
        let sums = Shasums::parse(&shasums).map_err(|e| {
            refused(
                "upstream_checksums_invalid",
                format!("{provider} {version}: {e}"),
            )
        })?;
        Ok((answer, VerifiedSums { sums, key_id }))
    }

    /// The package for `platform`, kept here, or fetched, checked and kept now.
    pub async fn package(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
        platform: &Platform,
    ) -> Result<(MirroredPackage, bool), ApiError> {
        // A provider denied since it was kept is not served either.
        if let Some(why) = self.config.policy.refusal(provider) {
            return Err(ApiError::new(403, "not_allowed", why));
        }
        if let Some(kept) = self.store.package(provider, version, platform).await? {
            return Ok((kept, false));
        }
        self.bounded(
            "fetching the package",
            self.fetch(provider, version, platform),
        )
        .await
    }

    async fn fetch(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
        platform: &Platform,
    ) -> Result<(MirroredPackage, bool), ApiError> {
        self.upstream_for(provider)?;
        let (answer, verified) = self.verified_sums(provider, version, platform).await?;
        let listed = verified.sums.get(&answer.filename).ok_or_else(|| {
            refused(
                "upstream_checksum_mismatch",
                format!("{} is not listed in the signed SHA256SUMS", answer.filename),
            )
        })?;
        if !listed.eq_ignore_ascii_case(&answer.shasum) {
            return Err(refused(
                "upstream_checksum_mismatch",
                format!(
                    "the upstream's shasum for {} is not the one in its signed SHA256SUMS",
                    answer.filename
                ),
            ));
        }
        let staged = tempfile::Builder::new()
            .prefix("mirror-")
            .suffix(".zip")
            .tempfile_in(&self.scratch_dir)
            .map_err(|e| ProxyError::Internal(format!("scratch file: {e}")))?
            .into_temp_path();
        let mut file = tokio::fs::File::create(&staged)
            .await
            .map_err(|e| ProxyError::Internal(format!("scratch file: {e}")))?;
        let (size, sha256) = self
            .client
            .fetch_file(
                &answer.download_url,
                &mut file,
                self.config.max_package_bytes,
            )
            .await?;
        drop(file);
        if !sha256.eq_ignore_ascii_case(listed) {
            return Err(refused(
                "upstream_checksum_mismatch",
                format!(
                    "{} from {} does not match the signed SHA256SUMS (sha256 {sha256}, listed {listed})",
                    answer.filename,
                    display_url(&answer.download_url)
                ),
            ));
        }
        let (check_provider, check_version, check_platform) =
            (provider.address.clone(), version.clone(), platform.clone());
        let (path, filename, max) = (
            staged.to_path_buf(),
            answer.filename.clone(),
            self.config.max_package_bytes.saturating_mul(4),
        );
        let h1 = tokio::task::spawn_blocking(move || -> Result<String, ApiError> {
            let open = || {
                std::fs::File::open(&path)
                    .map_err(|e| ApiError::from(ProxyError::Internal(format!("scratch file: {e}"))))
            };
            validate_package(
                &filename,
                open()?,
                &check_provider,
                &check_version,
                &check_platform,
                max,
            )
            .map_err(|e| refused("upstream_package_invalid", e.to_string()))?;
            zip_h1(open()?).map_err(|e| refused("upstream_package_invalid", e.to_string()))
        })
        .await
        .map_err(|e| ProxyError::Internal(format!("package check failed: {e}")))??;
        let package = MirroredPackage {
            hostname: provider.hostname.clone(),
            namespace: provider.address.namespace.clone(),
            provider_type: provider.address.provider_type.clone(),
            version: version.to_string(),
            os: platform.os.clone(),
            arch: platform.arch.clone(),
            filename: answer.filename.clone(),
            sha256: sha256.to_ascii_lowercase(),
            h1,
            size,
            key_id: verified.key_id,
            source_url: display_url(&answer.download_url),
            fetched_at: unix_to_rfc3339(now_unix()).unwrap_or_default(),
        };
        let staged = staged
            .keep()
            .map_err(|e| ProxyError::Internal(format!("scratch file: {e}")))?;
        let created = self.store.put(&package, staged).await?;
        if created {
            tracing::info!(%provider, %version, %platform, key_id = %package.key_id, "provider package mirrored");
        }
        match self.store.package(provider, version, platform).await? {
            Some(kept) => Ok((kept, created)),
            None => Err(ProxyError::Internal("the mirrored package vanished".into()).into()),
        }
    }
}

fn missing_file(url: &Url) -> ApiError {
    ProxyError::BadAnswer(format!("{} does not exist (404)", display_url(url))).into()
}

/// The fields of an upstream download answer the mirror uses.
struct DownloadAnswer {
    filename: String,
    download_url: Url,
    shasums_url: Url,
    shasums_signature_url: Url,
    shasum: String,
    keys: Vec<String>,
}

impl DownloadAnswer {
    fn read(body: &serde_json::Value, base: &Url) -> Result<Self, String> {
        let text = |name: &str| {
            body[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("a download answer without {name}"))
        };
        let url = |name: &str| -> Result<Url, String> {
            base.join(&text(name)?)
                .map_err(|_| format!("an unreadable {name}"))
        };
        let keys = body["signing_keys"]["gpg_public_keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| k["ascii_armor"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(DownloadAnswer {
            filename: text("filename")?,
            download_url: url("download_url")?,
            shasums_url: url("shasums_url")?,
            shasums_signature_url: url("shasums_signature_url")?,
            shasum: text("shasum")?,
            keys,
        })
    }
}
