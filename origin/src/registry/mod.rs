//! The registry's HTTP surface as one plain async function, [`Registry::handle`], from an
//! [`OriginRequest`] to an [`OriginResponse`]. `tfreg serve` calls it in-process after the
//! edge check; the origin Lambda calls it from its event adapter.
//!
//! The request is parsed once into a [`Route`] (the table the edge checks tiers with), the
//! identity the edge passed on is checked again against that route, and the route is
//! dispatched to the handlers, one file per resource:
//!
//! - [`http`]: the request and response types the adapters translate to and from;
//! - `modules`: version lists, version details, downloads (local, or through the proxy);
//! - `uploads`: `PUT` of an archive, and the staged path for large ones;
//! - `pins`: copying upstream versions in, listing and removing them;
//! - `tokens`: the master token, token creation, listing and revocation.

mod archive_urls;
mod catalogue;
#[cfg(test)]
mod catalogue_tests;
mod clock;
#[cfg(test)]
mod docs_tests;
mod exchange;
pub mod http;
mod listings;
#[cfg(test)]
mod listings_tests;
mod mirror;
mod modules;
mod pins;
mod provider_uploads;
mod providers;
#[cfg(test)]
mod providers_tests;
mod recovery;
#[cfg(test)]
mod routes_tests;
#[cfg(test)]
mod scopes_tests;
mod staged;
#[cfg(test)]
mod staging_tests;
#[cfg(test)]
pub(crate) mod test_support;
mod tokens;
mod uploads;

use uploads::PublishOptions;

pub use self::http::{IdentitySource, OriginRequest, OriginResponse, RequestBody};
pub use clock::{now_unix, unix_to_rfc3339};
pub use pins::{parse_pin_request, PinRequest};
pub use providers::{DEFAULT_MAX_PROVIDER_UPLOAD_BYTES, PROVIDER_FILES_PATH};
pub use recovery::Reconciled;
pub use tokens::{mint_token_value, parse_create_token, NewToken};

use crate::archive::ArchiveLimits;
use crate::catalogue::{Catalogue, CatalogueStore, MemoryCatalogueStore};
use crate::error::ApiError;
use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use crate::providers::ProviderStore;
use crate::proxy::policy::PolicyVerdict;
use crate::proxy::Proxy;
use crate::signed_url::UrlSigner;
use crate::storage::{
    ArchiveBody, ArchiveStore, PinStore, StorageError, TokenStore, UploadStaging,
};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tfreg_edge::{Access, Identity, ModulePath, Route, VersionPath, IDENTITY_HEADER, PAGE_PATH};

/// The name of the token made on first start.
pub const MASTER_TOKEN_NAME: &str = "master";

/// Largest upload accepted by default: 100 MiB. Terraform modules are source code; an archive
/// this large almost always carries something it should not (provider binaries, state).
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;

/// Largest non-upload request body (token requests): 64 KiB.
pub const MAX_JSON_BODY_BYTES: u64 = 64 * 1024;

/// How long a signed archive URL stays valid by default. Terraform fetches it right after it
/// asks for the download, so minutes are plenty.
pub const DEFAULT_ARCHIVE_URL_TTL_SECS: u64 = 300;

/// `Cache-Control` of version lists and download answers: shared caches (CloudFront, after
/// the edge check) may keep them 30 s; clients revalidate. A download answer's archive URL
/// outlives that by minutes.
pub const CACHEABLE_READ: &str = "max-age=0, s-maxage=30";

/// `Cache-Control` of everything else: token administration, writes, errors.
pub const NOT_CACHEABLE: &str = "no-store";

/// Where proxied (cached, not pinned) archives are served, beneath `/archives/`. Namespaces
/// start with a letter or digit, so no module's archives can collide with it.
pub const PROXY_CACHE_PATH: &str = "_proxy/";

/// How long the presigned URL of a large upload stays valid.
pub const DEFAULT_STAGED_UPLOAD_URL_TTL_SECS: u64 = 900;

#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub archive_url_ttl_secs: u64,
    /// `https://host` that archive URLs are signed for and point at (the origin Lambda: the
    /// registry's own domain, from its signing secret). Without it (`tfreg serve`), the host
    /// each download request came to, and the archive URL is root-relative.
    pub archive_url_base: Option<String>,
    /// Largest archive in the body of a `PUT`.
    pub max_upload_bytes: u64,
    /// Largest archive through the large-upload path (staged, then finalized).
    pub max_staged_upload_bytes: u64,
    pub staged_upload_url_ttl_secs: u64,
    pub archive_limits: ArchiveLimits,
    /// Where uploads are normalised before they are published.
    pub scratch_dir: PathBuf,
    /// Largest provider release (the tar of its files) in the body of a `PUT`.
    pub max_provider_upload_bytes: u64,
}

impl RegistryConfig {
    pub fn new(scratch_dir: PathBuf) -> Self {
        RegistryConfig {
            archive_url_ttl_secs: DEFAULT_ARCHIVE_URL_TTL_SECS,
            archive_url_base: None,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_staged_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            staged_upload_url_ttl_secs: DEFAULT_STAGED_UPLOAD_URL_TTL_SECS,
            archive_limits: ArchiveLimits::default(),
            scratch_dir,
            max_provider_upload_bytes: DEFAULT_MAX_PROVIDER_UPLOAD_BYTES,
        }
    }
}

pub struct Registry {
    archives: Arc<dyn ArchiveStore>,
    tokens: Arc<dyn TokenStore>,
    staging: Option<Arc<dyn UploadStaging>>,
    proxy: Option<Arc<Proxy>>,
    pins: Option<Arc<dyn PinStore>>,
    /// Provider releases and signing keys (`providers.v1`); none on a backend without them.
    providers: Option<Arc<dyn ProviderStore>>,
    /// The provider network mirror (`/v1/mirror/`); none unless configured.
    mirror: Option<Arc<crate::mirror::ProviderMirror>>,
    catalogue_store: Arc<dyn CatalogueStore>,
    /// Made on first use, when the proxy settings it hides modules by are known.
    catalogue: OnceLock<Catalogue>,
    exchangers: exchange::Exchangers,
    /// Module version lists as last read, checked against the store on every use.
    listings: listings::ListingCache,
    signer: UrlSigner,
    config: RegistryConfig,
}

impl Registry {
    pub fn new(
        archives: Arc<dyn ArchiveStore>,
        tokens: Arc<dyn TokenStore>,
        signer: UrlSigner,
        config: RegistryConfig,
    ) -> Self {
        Registry {
            archives,
            tokens,
            staging: None,
            proxy: None,
            pins: None,
            providers: None,
            mirror: None,
            catalogue_store: Arc::new(MemoryCatalogueStore::default()),
            catalogue: OnceLock::new(),
            exchangers: exchange::Exchangers::default(),
            listings: listings::ListingCache::default(),
            signer,
            config,
        }
    }

    /// Turns on the exchanges `config` sets up (`POST /v1/auth/aws`, `POST /v1/auth/oidc`).
    pub fn with_auth(mut self, config: crate::auth::AuthConfig) -> Result<Self, String> {
        self.exchangers = exchange::Exchangers::new(config)?;
        Ok(self)
    }

    /// Where the module catalogue is kept (without this, in memory only: a registry in tests).
    pub fn with_catalogue(mut self, store: Arc<dyn CatalogueStore>) -> Self {
        self.catalogue_store = store;
        self.catalogue = OnceLock::new();
        self
    }

    /// The module catalogue, showing a proxied module only while proxy mode would serve it.
    pub fn catalogue(&self) -> &Catalogue {
        self.catalogue.get_or_init(|| {
            let proxy = self.proxy.clone();
            Catalogue::new(self.catalogue_store.clone()).with_visibility(Box::new(
                move |entry, uploaded| {
                    if !entry.is_proxied() {
                        return true;
                    }
                    let Some(config) = proxy.as_ref().map(|p| p.config()).filter(|c| c.enabled)
                    else {
                        return false;
                    };
                    let Ok(module) =
                        ModuleAddress::new(&entry.namespace, &entry.name, &entry.system)
                    else {
                        return false;
                    };
                    !config.is_local_only(&module)
                        && config.policy.verdict(&module) == PolicyVerdict::Allowed
                        && (config.merges(&module) || !uploaded.contains(entry.namespace.as_str()))
                },
            ))
        })
    }

    /// Turns on the large-upload path (presigned upload, then finalize).
    pub fn with_upload_staging(mut self, staging: Arc<dyn UploadStaging>) -> Self {
        self.staging = Some(staging);
        self
    }

    /// Turns on the upstream registry: proxy mode (if `proxy.config().enabled`) and pinning
    /// (with [`Registry::with_pins`]).
    pub fn with_proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(Arc::new(proxy));
        self
    }

    /// Where pins are recorded (`GET /v1/pins`).
    pub fn with_pins(mut self, pins: Arc<dyn PinStore>) -> Self {
        self.pins = Some(pins);
        self
    }

    /// Turns on private providers (the provider registry protocol) over `store`.
    pub fn with_providers(mut self, store: Arc<dyn ProviderStore>) -> Self {
        self.providers = Some(store);
        self
    }

    pub fn proxy(&self) -> Option<&Arc<Proxy>> {
        self.proxy.as_ref()
    }

    /// The archive a path beneath `/archives/` names: a local version, or a proxied one
    /// beneath [`PROXY_CACHE_PATH`] while proxy mode is on (the only time the registry hands
    /// out such URLs; the cache outlives the mode, and a URL signed before a restart without
    /// it must not still serve it). `None` for anything else.
    pub async fn open_archive_path(
        &self,
        key_path: &str,
    ) -> Result<Option<ArchiveBody>, StorageError> {
        if let Some(path) = key_path.strip_prefix(PROVIDER_FILES_PATH) {
            return self.open_provider_file(path).await;
        }
        if let Some(path) = key_path.strip_prefix(crate::mirror::MIRROR_FILES_PATH) {
            return self.open_mirror_file(path).await;
        }
        let (store, key_path) = match key_path.strip_prefix(PROXY_CACHE_PATH) {
            Some(rest) => match self.proxy.as_ref().filter(|p| p.config().enabled) {
                Some(proxy) => (proxy.cache(), rest),
                None => return Ok(None),
            },
            None => (&self.archives, key_path),
        };
        match ArchiveKey::parse(key_path) {
            Some(key) => store.open_archive(&key).await,
            None => Ok(None),
        }
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    pub fn archives(&self) -> &Arc<dyn ArchiveStore> {
        &self.archives
    }

    pub fn tokens(&self) -> &Arc<dyn TokenStore> {
        &self.tokens
    }

    pub async fn handle(&self, request: OriginRequest) -> OriginResponse {
        let path = request.path.clone();
        self.handle_route(Route::parse(&request.method, &path), request)
            .await
    }

    /// [`Registry::handle`] for an adapter that has parsed the request's route already (`tfreg
    /// serve` does, for the viewer check): `route` is `Route::parse(&request.method,
    /// &request.path)`. Matching the route table is a few percent of a download's CPU time.
    pub async fn handle_route(&self, route: Route<'_>, request: OriginRequest) -> OriginResponse {
        let method = request.method.clone();
        let path = request.path.clone();
        match self.dispatch(route, request).await {
            Ok(response) => response,
            Err(error) => {
                if error.status >= 500 {
                    tracing::warn!(%method, %path, status = error.status, code = error.code, "request failed");
                }
                OriginResponse::error(&error)
            }
        }
    }

    /// The most a request's body may hold on `route`: what an adapter reads before it gives
    /// up with [`ApiError::too_large`]. The registry refuses a larger body itself too.
    pub fn body_limit(&self, route: &Route<'_>) -> u64 {
        match route {
            Route::Upload(_) => self.config.max_upload_bytes,
            Route::PublishProvider(_) => self.config.max_provider_upload_bytes,
            _ => MAX_JSON_BODY_BYTES,
        }
    }

    async fn dispatch(
        &self,
        route: Route<'_>,
        request: OriginRequest,
    ) -> Result<OriginResponse, ApiError> {
        let identity = self.authorize(&route, &request)?;
        let caller = identity
            .as_ref()
            .map(|identity| identity.token_name.clone())
            .unwrap_or_default();
        let scopes = identity.map(|identity| identity.scopes).unwrap_or_default();
        let gzip = modules::accepts_gzip(request.header("accept-encoding"));
        let body = request.body;
        let body_limit = self.body_limit(&route);
        if body.size()? > body_limit {
            return Err(ApiError::too_large(&route, body_limit));
        }
        // The `Host` a download came with: its archive URLs are signed for it unless the
        // configuration names the registry's address.
        let host = request
            .headers
            .iter()
            .find(|(name, _)| name == "host")
            .map(|(_, value)| value.as_str());
        match route {
            Route::Versions(module) => self.versions(&module_address(module)?, gzip).await,
            Route::Download(version) => self.download(archive_key(version)?, host).await,
            Route::VersionInfo(version) => self.version_info(archive_key(version)?).await,
            Route::LatestVersionInfo(module) => {
                self.latest_version_info(module_address(module)?).await
            }
            Route::Upload(version) => {
                let limit = self.config.max_upload_bytes;
                let options = PublishOptions::parse(&request.query)?;
                self.upload(archive_key(version)?, body, caller, options, limit)
                    .await
            }
            Route::StartStagedUpload(version) => {
                self.start_staged_upload(archive_key(version)?).await
            }
            Route::FinishStagedUpload { version, upload_id } => {
                let options = PublishOptions::parse(&request.query)?;
                self.finalize_staged_upload(archive_key(version)?, upload_id, caller, options)
                    .await
            }
            Route::ProviderVersions(p) => {
                self.provider_versions(providers::provider_address(p.namespace, p.provider_type)?)
                    .await
            }
            Route::ProviderDownload { version, os, arch } => {
                let provider = version.provider;
                self.provider_download(
                    providers::provider_address(provider.namespace, provider.provider_type)?,
                    ModuleVersion::parse(version.version)?,
                    crate::providers::Platform::new(os, arch)
                        .map_err(|e| ApiError::new(400, "invalid_name", e.to_string()))?,
                    host,
                )
                .await
            }
            Route::PublishProvider(version) => {
                let provider = version.provider;
                self.publish_provider(
                    providers::provider_address(provider.namespace, provider.provider_type)?,
                    ModuleVersion::parse(version.version)?,
                    body,
                    &request.query,
                    caller,
                )
                .await
            }
            Route::StartProviderUpload(version) => {
                let (provider, version) = providers::provider_version(&version)?;
                self.start_provider_upload(provider, version).await
            }
            Route::FinishProviderUpload { version, upload_id } => {
                let (provider, version) = providers::provider_version(&version)?;
                self.finalize_provider_upload(provider, version, upload_id, &request.query, caller)
                    .await
            }
            Route::ListSigningKeys { namespace } => self.list_signing_keys(namespace).await,
            Route::AddSigningKey { namespace } => {
                self.add_signing_key(namespace, body, caller).await
            }
            Route::RemoveSigningKey { namespace, key_id } => {
                self.remove_signing_key(namespace, key_id).await
            }
            Route::MirrorFile { provider, file } => self.mirror_file(provider, file, host).await,
            Route::MirrorPackage {
                provider,
                version,
                file,
            } => {
                let signed = (request.path.as_str(), request.query.as_str());
                self.mirror_package(provider, version, file, signed, host)
                    .await
            }
            Route::MirrorPrefetch { provider, version } => {
                self.mirror_prefetch(provider, version, body).await
            }
            Route::ListPins => self.list_pins(&scopes).await,
            Route::Pin(version) => self.pin(archive_key(version)?, body, caller).await,
            Route::Unpin(version) => self.unpin(archive_key(version)?).await,
            Route::ListTokens => self.list_tokens().await,
            Route::CreateToken => self.create_token(body).await,
            Route::RevokeToken { name } => self.revoke_token(name, &caller).await,
            Route::Exchange { method } => self.exchange(method, body).await,
            Route::Home => Ok(OriginResponse::redirect(PAGE_PATH)),
            Route::ListModules => {
                self.list_modules(&request.path, &request.query, None, None, scopes)
                    .await
            }
            Route::SearchModules => {
                self.search_modules(&request.path, &request.query, scopes)
                    .await
            }
            Route::NamespaceModules { namespace } => {
                self.list_modules(&request.path, &request.query, Some(namespace), None, scopes)
                    .await
            }
            Route::ModuleSystems { namespace, name } => {
                self.list_modules(
                    &request.path,
                    &request.query,
                    Some(namespace),
                    Some(name),
                    scopes,
                )
                .await
            }
            Route::MethodNotAllowed { allowed, .. } => {
                Err(ApiError::method_not_allowed(&request.method, &allowed))
            }
            // Discovery, the OpenAPI document, the web page and archives are served before the
            // origin (S3 behind CloudFront; `tfreg serve`'s distribution).
            Route::Discovery
            | Route::OpenApi
            | Route::Page { .. }
            | Route::Archive { .. }
            | Route::NotFound { .. } => Err(ApiError::not_found(format!(
                "no such endpoint: {} {}",
                request.method, request.path
            ))),
        }
    }

    /// The edge has already checked the token; the origin checks the identity it passed on
    /// against the same route, so a misrouted request cannot skip the check.
    fn authorize(
        &self,
        route: &Route<'_>,
        request: &OriginRequest,
    ) -> Result<Option<Identity>, ApiError> {
        let needed = match route.required_access() {
            Access::Token(tier) => tier,
            // A signed-at-origin route checks its signature where it is served.
            Access::Public | Access::SignedArchive | Access::SignedAtOrigin => return Ok(None),
        };
        let identity = request
            .header(IDENTITY_HEADER)
            .and_then(Identity::from_header_value)
            .ok_or_else(|| ApiError::new(401, "missing_token", "this needs a bearer token"))?;
        if !identity.tier.grants(needed) {
            return Err(ApiError::new(
                403,
                "insufficient_tier",
                format!(
                    "token {:?} has the {} tier; this needs {}",
                    identity.token_name, identity.tier, needed
                ),
            ));
        }
        route
            .scope_verdict(&identity.scopes)
            .map_err(|why| ApiError::new(403, "out_of_scope", why))?;
        Ok(Some(identity))
    }
}

fn module_address(module: ModulePath<'_>) -> Result<ModuleAddress, ApiError> {
    Ok(ModuleAddress::new(
        module.namespace,
        module.name,
        module.system,
    )?)
}

fn archive_key(version: VersionPath<'_>) -> Result<ArchiveKey, ApiError> {
    Ok(ArchiveKey::new(
        module_address(version.module)?,
        ModuleVersion::parse(version.version)?,
    ))
}
