//! The registry's HTTP surface as one plain async function, [`Registry::handle`], from an
//! [`OriginRequest`] to an [`OriginResponse`]. `tfreg serve` calls it in-process after the
//! edge check; the origin Lambda calls it from its event adapter.

use crate::archive::{normalize_archive, ArchiveLimits};
use crate::error::ApiError;
use crate::names::{validate_token_name, ArchiveKey, ModuleAddress, ModuleVersion};
use crate::proxy::policy::PolicyVerdict;
use crate::proxy::{Proxy, ProxyError};
use crate::storage::{
    ArchiveBody, ArchiveStore, CreateOutcome, PinRecord, PinStore, PublishOutcome, StorageError,
    TokenRecord, TokenStore, UploadStaging, VersionMeta,
};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tfreg_edge::{
    hash_token, required_access, Access, ArchiveSigner, Identity, Tier, ARCHIVE_PATH_PREFIX,
    IDENTITY_HEADER,
};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

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
    /// Largest archive in the body of a `PUT`.
    pub max_upload_bytes: u64,
    /// Largest archive through the large-upload path (staged, then finalized).
    pub max_staged_upload_bytes: u64,
    pub staged_upload_url_ttl_secs: u64,
    pub archive_limits: ArchiveLimits,
    /// Where uploads are normalised before they are published.
    pub scratch_dir: PathBuf,
}

impl RegistryConfig {
    pub fn new(scratch_dir: PathBuf) -> Self {
        RegistryConfig {
            archive_url_ttl_secs: DEFAULT_ARCHIVE_URL_TTL_SECS,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_staged_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            staged_upload_url_ttl_secs: DEFAULT_STAGED_UPLOAD_URL_TTL_SECS,
            archive_limits: ArchiveLimits::default(),
            scratch_dir,
        }
    }
}

/// A request body as the origin receives it.
pub enum RequestBody {
    Empty,
    Bytes(Vec<u8>),
    /// An upload already spooled to a file (by `tfreg serve`, which streams large bodies to
    /// disk rather than memory).
    File(std::fs::File),
}

pub struct OriginRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: RequestBody,
}

impl OriginRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OriginResponse {
    fn json(status: u16, value: serde_json::Value) -> Self {
        OriginResponse {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), NOT_CACHEABLE.into()),
            ],
            body: value.to_string().into_bytes(),
        }
    }

    fn no_content() -> Self {
        OriginResponse {
            status: 204,
            headers: vec![("cache-control".into(), NOT_CACHEABLE.into())],
            body: Vec::new(),
        }
    }

    /// Marks a read that a shared cache may keep for a short while.
    fn cacheable(mut self) -> Self {
        for (name, value) in &mut self.headers {
            if name == "cache-control" {
                *value = CACHEABLE_READ.into();
            }
        }
        self
    }

    pub fn error(error: &ApiError) -> Self {
        let mut response = OriginResponse {
            status: error.status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), NOT_CACHEABLE.into()),
            ],
            body: error.body_json().into_bytes(),
        };
        if error.status == 401 {
            response
                .headers
                .push(("www-authenticate".into(), "Bearer realm=\"tfreg\"".into()));
        }
        response
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds is valid")
        .format(&Rfc3339)
        .expect("RFC 3339 formats any UTC time")
}

fn unix_to_rfc3339(seconds: u64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(i64::try_from(seconds).ok()?)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

/// A new token value: a prefix that secret scanners can match, and 256 random bits.
fn mint_token_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("tfr_{}", hex::encode(bytes))
}

pub struct Registry {
    archives: Arc<dyn ArchiveStore>,
    tokens: Arc<dyn TokenStore>,
    staging: Option<Arc<dyn UploadStaging>>,
    proxy: Option<Arc<Proxy>>,
    pins: Option<Arc<dyn PinStore>>,
    signer: ArchiveSigner,
    config: RegistryConfig,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PinRequest {
    /// Pin a module the proxy policy does not allow.
    #[serde(default)]
    override_policy: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTokenRequest {
    name: String,
    permission: String,
    #[serde(default)]
    description: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    expires_at: Option<String>,
}

impl Registry {
    pub fn new(
        archives: Arc<dyn ArchiveStore>,
        tokens: Arc<dyn TokenStore>,
        signer: ArchiveSigner,
        config: RegistryConfig,
    ) -> Self {
        Registry {
            archives,
            tokens,
            staging: None,
            proxy: None,
            pins: None,
            signer,
            config,
        }
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

    pub fn proxy(&self) -> Option<&Arc<Proxy>> {
        self.proxy.as_ref()
    }

    /// The archive a path beneath `/archives/` names: a local version, or a proxied one
    /// beneath [`PROXY_CACHE_PATH`]. `None` for anything else.
    pub async fn open_archive_path(
        &self,
        key_path: &str,
    ) -> Result<Option<ArchiveBody>, StorageError> {
        let (store, key_path) = match key_path.strip_prefix(PROXY_CACHE_PATH) {
            Some(rest) => match &self.proxy {
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

    /// Creates the master token if none exists and returns its value, which is never
    /// recoverable afterwards. `None` when a master token already exists.
    pub async fn ensure_master_token(&self) -> Result<Option<String>, ApiError> {
        if self.tokens.find_by_name(MASTER_TOKEN_NAME).await?.is_some() {
            return Ok(None);
        }
        let value = mint_token_value();
        let record = TokenRecord {
            token_hash: hash_token(&value).as_hex().to_owned(),
            token_name: MASTER_TOKEN_NAME.into(),
            permission: Tier::Master,
            created_at: now_rfc3339(),
            expires_at: None,
            description: Some("created on first start".into()),
        };
        match self.tokens.create(&record).await? {
            CreateOutcome::Created => Ok(Some(value)),
            CreateOutcome::NameTaken => Ok(None),
        }
    }

    pub async fn handle(&self, request: OriginRequest) -> OriginResponse {
        let method = request.method.clone();
        let path = request.path.clone();
        match self.route(request).await {
            Ok(response) => response,
            Err(error) => {
                if error.status >= 500 {
                    tracing::warn!(%method, %path, status = error.status, code = error.code, "request failed");
                }
                OriginResponse::error(&error)
            }
        }
    }

    async fn route(&self, request: OriginRequest) -> Result<OriginResponse, ApiError> {
        let identity = self.authorize(&request)?;
        let segments: Vec<&str> = request
            .path
            .strip_prefix("/v1/")
            .map(|rest| rest.split('/').collect())
            .unwrap_or_default();
        let method = request.method.as_str();
        match (method, segments.as_slice()) {
            ("GET" | "HEAD", ["modules", ns, name, system, "versions"]) => {
                self.versions(&ModuleAddress::new(ns, name, system)?).await
            }
            ("GET" | "HEAD", ["modules", ns, name, system, version, "download"]) => {
                self.download(archive_key(ns, name, system, version)?).await
            }
            ("GET" | "HEAD", ["modules", ns, name, system, version]) => {
                self.version_info(archive_key(ns, name, system, version)?)
                    .await
            }
            ("PUT", ["modules", ns, name, system, version]) => {
                let key = archive_key(ns, name, system, version)?;
                let uploader = identity.map(|i| i.token_name).unwrap_or_default();
                self.upload(key, request.body, uploader).await
            }
            ("POST", ["modules", ns, name, system, version, "uploads"]) => {
                self.start_staged_upload(archive_key(ns, name, system, version)?)
                    .await
            }
            ("POST", ["modules", ns, name, system, version, "uploads", upload_id]) => {
                let key = archive_key(ns, name, system, version)?;
                let uploader = identity.map(|i| i.token_name).unwrap_or_default();
                self.finalize_staged_upload(key, upload_id, uploader).await
            }
            ("GET", ["pins"]) => self.list_pins().await,
            ("POST", ["pins", ns, name, system, version]) => {
                let key = archive_key(ns, name, system, version)?;
                let pinned_by = identity.map(|i| i.token_name).unwrap_or_default();
                self.pin(key, request.body, pinned_by).await
            }
            ("DELETE", ["pins", ns, name, system, version]) => {
                self.unpin(archive_key(ns, name, system, version)?).await
            }
            ("GET", ["tokens"]) => self.list_tokens().await,
            ("POST", ["tokens"]) => self.create_token(request.body).await,
            ("DELETE", ["tokens", name]) => self.revoke_token(name, identity.as_ref()).await,
            (_, ["modules", _, _, _, "versions"] | ["modules", _, _, _, _, "download"]) => {
                Err(method_not_allowed(method, "GET"))
            }
            (_, ["modules", _, _, _, _]) => Err(method_not_allowed(method, "GET, PUT")),
            (_, ["tokens"]) => Err(method_not_allowed(method, "GET, POST")),
            (_, ["pins"]) => Err(method_not_allowed(method, "GET")),
            (_, ["pins", _, _, _, _]) => Err(method_not_allowed(method, "POST, DELETE")),
            (_, ["tokens", _]) => Err(method_not_allowed(method, "DELETE")),
            _ => Err(ApiError::not_found(format!(
                "no such endpoint: {} {}",
                method, request.path
            ))),
        }
    }

    /// The edge has already checked the token; the origin checks the identity it passed on
    /// against the same route table, so a misrouted request cannot skip the check.
    fn authorize(&self, request: &OriginRequest) -> Result<Option<Identity>, ApiError> {
        let needed = match required_access(&request.method, &request.path) {
            Access::Token(tier) => tier,
            Access::Public | Access::SignedArchive => return Ok(None),
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
        Ok(Some(identity))
    }

    /// Local versions (uploads and pins), plus, in proxy mode, the upstream's versions of a
    /// module the policy allows and that is not local-only, in semver order. When the upstream
    /// fails, a module with local versions is answered with those alone.
    async fn versions(&self, module: &ModuleAddress) -> Result<OriginResponse, ApiError> {
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
    fn serving_proxy(&self, module: &ModuleAddress) -> Option<&Arc<Proxy>> {
        self.proxy.as_ref().filter(|proxy| {
            let config = proxy.config();
            config.enabled && !config.is_local_only(module) && config.policy.allows(module)
        })
    }

    /// The 404 for a module (or one of its versions) this registry does not have, saying why
    /// the upstream was not asked when proxy mode is on.
    fn not_here(&self, module: &ModuleAddress, version: Option<&ModuleVersion>) -> ApiError {
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

    async fn version_info(&self, key: ArchiveKey) -> Result<OriginResponse, ApiError> {
        let meta = self.find_version(&key).await?;
        Ok(OriginResponse::json(200, describe_version(&key, &meta)))
    }

    async fn find_version(&self, key: &ArchiveKey) -> Result<VersionMeta, ApiError> {
        self.archives
            .version_meta(key)
            .await?
            .ok_or_else(|| version_not_found(key))
    }

    /// `204` with `X-Terraform-Get`: a root-relative, signed, short-lived archive URL that
    /// carries go-getter's `checksum=sha256:…`, so Terraform verifies what it unpacks (except
    /// for an archive put into S3 by hand without a `sha256` in its metadata: no checksum is
    /// known, so none is sent).
    async fn download(&self, key: ArchiveKey) -> Result<OriginResponse, ApiError> {
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
    async fn proxied_version(
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
    fn signed_url(&self, key_path: &str, sha256: &str) -> String {
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

    async fn upload(
        &self,
        key: ArchiveKey,
        body: RequestBody,
        uploader: String,
    ) -> Result<OriginResponse, ApiError> {
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
                .map_err(|e| ApiError::from(crate::storage::StorageError::Io(e)))?;
            let normalized = match body {
                RequestBody::Empty => return Err(empty_body()),
                RequestBody::Bytes(bytes) if bytes.is_empty() => return Err(empty_body()),
                RequestBody::Bytes(bytes) => {
                    normalize_archive(std::io::Cursor::new(bytes), output.as_file(), &limits)?
                }
                RequestBody::File(mut file) => {
                    file.seek(SeekFrom::Start(0))
                        .map_err(|e| ApiError::from(crate::storage::StorageError::Io(e)))?;
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
        };
        let outcome = self
            .archives
            .publish(&key, staged.to_path_buf(), &meta)
            .await?;
        drop(staged);
        match outcome {
            PublishOutcome::Created => {
                tracing::info!(module = %key.module, version = %key.version, size = meta.size, uploader = %meta.uploader, "version published");
                let mut body = describe_version(&key, &meta);
                body["files"] = json!(normalized.files);
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

    fn staging(&self) -> Result<&Arc<dyn UploadStaging>, ApiError> {
        self.staging.as_ref().ok_or_else(|| {
            ApiError::not_found(format!(
                "this registry takes archives of up to {} bytes directly in the body of a PUT; it has no separate large-upload path",
                self.config.max_upload_bytes
            ))
        })
    }

    /// Step one of a large upload: a presigned URL to PUT the archive to, and where to
    /// finalize it.
    async fn start_staged_upload(&self, key: ArchiveKey) -> Result<OriginResponse, ApiError> {
        let staging = self.staging()?;
        if self.archives.version_meta(&key).await?.is_some() {
            return Err(version_exists(&key));
        }
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let upload_id = hex::encode(id);
        let ttl = self.config.staged_upload_url_ttl_secs;
        let upload_url = staging.upload_url(&key, &upload_id, ttl).await?;
        let finalize = format!(
            "/v1/modules/{}/{}/uploads/{upload_id}",
            key.module, key.version
        );
        Ok(OriginResponse::json(
            201,
            json!({
                "upload_id": upload_id,
                "upload_url": upload_url,
                "method": "PUT",
                "expires_at": unix_to_rfc3339(now_unix() + ttl),
                "max_bytes": self.config.max_staged_upload_bytes,
                "finalize": finalize,
                "next": format!("PUT the archive to upload_url, then POST {finalize}"),
            }),
        ))
    }

    /// Step two: validate the staged archive and publish it like any upload. The staged
    /// object is removed once it has an answer other than "try again".
    async fn finalize_staged_upload(
        &self,
        key: ArchiveKey,
        upload_id: &str,
        uploader: String,
    ) -> Result<OriginResponse, ApiError> {
        let staging = self.staging()?;
        let well_formed = upload_id.len() == 32
            && upload_id
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !well_formed {
            return Err(ApiError::bad_request(format!(
                "invalid upload id {upload_id:?}: use the upload_id the uploads request returned"
            )));
        }
        let Some(mut staged) = staging.open(&key, upload_id).await? else {
            return Err(ApiError::not_found(format!(
                "nothing was uploaded for upload {upload_id}: PUT the archive to its upload_url first (the URL lives {} seconds)",
                self.config.staged_upload_url_ttl_secs
            )));
        };
        let limit = self.config.max_staged_upload_bytes;
        let outcome = if staged.len > limit {
            Err(ApiError::new(
                413,
                "archive_too_large",
                format!("the archive is larger than the {limit}-byte upload limit"),
            ))
        } else {
            let spooled = spool(&mut staged, &self.config.scratch_dir, limit).await?;
            self.upload(key.clone(), RequestBody::File(spooled), uploader)
                .await
        };
        let settled = outcome
            .as_ref()
            .map_or_else(|error| error.status < 500, |_| true);
        if settled {
            staging.delete(&key, upload_id).await?;
        }
        outcome
    }

    fn pin_store(&self) -> Result<(&Arc<Proxy>, &Arc<dyn PinStore>), ApiError> {
        match (&self.proxy, &self.pins) {
            (Some(proxy), Some(pins)) => Ok((proxy, pins)),
            _ => Err(ApiError::not_found(
                "pinning is not available: this registry has no upstream registry configured",
            )),
        }
    }

    /// Copies an upstream version into the local versions, durably, with its provenance.
    async fn pin(
        &self,
        key: ArchiveKey,
        body: RequestBody,
        pinned_by: String,
    ) -> Result<OriginResponse, ApiError> {
        let (proxy, pins) = self.pin_store()?;
        let request: PinRequest = match body {
            RequestBody::Bytes(bytes) if !bytes.iter().all(u8::is_ascii_whitespace) => {
                serde_json::from_slice(&bytes).map_err(|e| {
                    ApiError::bad_request(format!(
                        "expected no body or a JSON body like {{\"override_policy\":true}}: {e}"
                    ))
                })?
            }
            _ => PinRequest::default(),
        };
        if let Some(existing) = self.archives.version_meta(&key).await? {
            if existing.source == "pin" && pins.get_pin(&key).await?.is_none() {
                // The archive was published but its record was not written (a crash between
                // the two): write it now, so the pin is listed and can be removed.
                pins.put_pin(&pin_record(&key, &existing, &pinned_by, false))
                    .await?;
            }
            return Err(ApiError::new(
                409,
                "version_exists",
                format!(
                    "module {} version {} is already in this registry ({}); nothing to pin",
                    key.module,
                    key.version,
                    if existing.source == "pin" {
                        "pinned"
                    } else {
                        "uploaded"
                    }
                ),
            ));
        }
        let verdict = proxy.config().policy.verdict(&key.module);
        if verdict != PolicyVerdict::Allowed && !request.override_policy {
            return Err(ApiError::new(
                403,
                "not_allowed_by_proxy_policy",
                format!(
                    "{}; to pin it anyway, send {{\"override_policy\":true}}",
                    verdict.explain(&key.module)
                ),
            ));
        }
        let fetched = proxy
            .fetch(&key, &self.config.scratch_dir, &self.config.archive_limits)
            .await?;
        let meta = VersionMeta {
            sha256: fetched.archive.sha256.clone(),
            size: fetched.archive.size,
            uploaded_at: now_rfc3339(),
            uploader: pinned_by.clone(),
            source: "pin".into(),
            origin_url: Some(fetched.source.describe()),
        };
        let outcome = self
            .archives
            .publish(&key, fetched.staged.to_path_buf(), &meta)
            .await?;
        drop(fetched.staged);
        if outcome == PublishOutcome::AlreadyExists {
            return Err(version_exists(&key));
        }
        let mut record = pin_record(
            &key,
            &meta,
            &pinned_by,
            request.override_policy && verdict != PolicyVerdict::Allowed,
        );
        record.upstream_location = fetched.location;
        pins.put_pin(&record).await?;
        tracing::info!(module = %key.module, version = %key.version, source = %record.source_url, pinned_by = %record.pinned_by, "version pinned");
        let mut response = OriginResponse::json(201, describe_pin(&record));
        response.headers.push((
            "location".into(),
            format!("/v1/modules/{}/{}", key.module, key.version),
        ));
        Ok(response)
    }

    async fn list_pins(&self) -> Result<OriginResponse, ApiError> {
        let (_, pins) = self.pin_store()?;
        let pins: Vec<_> = pins.list_pins().await?.iter().map(describe_pin).collect();
        Ok(OriginResponse::json(200, json!({ "pins": pins })))
    }

    /// Removes a pinned version; uploaded versions stay immutable.
    async fn unpin(&self, key: ArchiveKey) -> Result<OriginResponse, ApiError> {
        let (_, pins) = self.pin_store()?;
        match self.archives.version_meta(&key).await? {
            Some(meta) if meta.source == "pin" => {
                self.archives.unpublish(&key).await?;
                pins.delete_pin(&key).await?;
                tracing::info!(module = %key.module, version = %key.version, "version unpinned");
                Ok(OriginResponse::no_content())
            }
            Some(_) => Err(ApiError::new(
                409,
                "not_a_pin",
                format!(
                    "module {} version {} was uploaded, not pinned; uploaded versions are immutable",
                    key.module, key.version
                ),
            )),
            None => {
                // A record without its archive (removed by hand): drop the record too.
                let had_record = pins.delete_pin(&key).await?;
                if had_record {
                    Ok(OriginResponse::no_content())
                } else {
                    Err(ApiError::not_found(format!(
                        "module {} version {} is not pinned",
                        key.module, key.version
                    )))
                }
            }
        }
    }

    async fn list_tokens(&self) -> Result<OriginResponse, ApiError> {
        let tokens: Vec<_> = self
            .tokens
            .list()
            .await?
            .iter()
            .map(describe_token)
            .collect();
        Ok(OriginResponse::json(200, json!({ "tokens": tokens })))
    }

    async fn create_token(&self, body: RequestBody) -> Result<OriginResponse, ApiError> {
        let bytes = match body {
            RequestBody::Bytes(bytes) => bytes,
            RequestBody::Empty | RequestBody::File(_) => Vec::new(),
        };
        let request: CreateTokenRequest = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "expected a JSON body like {{\"name\":\"ci\",\"permission\":\"uploader\"}}: {e}"
            ))
        })?;
        validate_token_name(&request.name)?;
        let permission: Tier = request
            .permission
            .parse()
            .map_err(|e: tfreg_edge::UnknownTier| ApiError::bad_request(e.to_string()))?;
        let expires_at = match &request.expires_at {
            None => None,
            Some(text) => {
                let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                    ApiError::bad_request(format!(
                        "invalid expires_at {text:?}: use RFC 3339, such as 2027-01-31T00:00:00Z"
                    ))
                })?;
                let seconds = u64::try_from(at.unix_timestamp()).unwrap_or(0);
                if seconds <= now_unix() {
                    return Err(ApiError::bad_request("expires_at must be in the future"));
                }
                Some(seconds)
            }
        };
        let value = mint_token_value();
        let record = TokenRecord {
            token_hash: hash_token(&value).as_hex().to_owned(),
            token_name: request.name,
            permission,
            created_at: now_rfc3339(),
            expires_at,
            description: request.description,
        };
        match self.tokens.create(&record).await? {
            CreateOutcome::Created => {
                tracing::info!(token = %record.token_name, tier = %record.permission, "token created");
                let mut body = describe_token(&record);
                body["token_value"] = json!(value);
                Ok(OriginResponse::json(201, body))
            }
            CreateOutcome::NameTaken => Err(ApiError::new(
                409,
                "token_exists",
                format!("a token named {:?} already exists", record.token_name),
            )),
        }
    }

    async fn revoke_token(
        &self,
        name: &str,
        caller: Option<&Identity>,
    ) -> Result<OriginResponse, ApiError> {
        validate_token_name(name)?;
        if caller.is_some_and(|c| c.token_name == name) {
            return Err(ApiError::new(
                409,
                "revoking_own_token",
                "a token cannot revoke itself: use another master token",
            ));
        }
        if self.tokens.delete_by_name(name).await? {
            tracing::info!(token = %name, "token revoked");
            Ok(OriginResponse::no_content())
        } else {
            Err(ApiError::not_found(format!("no token named {name:?}")))
        }
    }
}

/// Copies a staged archive into an unnamed scratch file, refusing more than `limit` bytes.
async fn spool(
    staged: &mut crate::storage::ArchiveBody,
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
        return Err(ApiError::new(
            413,
            "archive_too_large",
            format!("the archive is larger than the {limit}-byte upload limit"),
        ));
    }
    Ok(file.into_std().await)
}

fn archive_key(ns: &str, name: &str, system: &str, version: &str) -> Result<ArchiveKey, ApiError> {
    Ok(ArchiveKey::new(
        ModuleAddress::new(ns, name, system)?,
        ModuleVersion::parse(version)?,
    ))
}

fn describe_version(key: &ArchiveKey, meta: &VersionMeta) -> serde_json::Value {
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

fn pin_record(
    key: &ArchiveKey,
    meta: &VersionMeta,
    pinned_by: &str,
    policy_override: bool,
) -> PinRecord {
    PinRecord {
        namespace: key.module.namespace.clone(),
        name: key.module.name.clone(),
        system: key.module.system.clone(),
        version: key.version.to_string(),
        sha256: meta.sha256.clone(),
        size: meta.size,
        source_url: meta.origin_url.clone().unwrap_or_default(),
        upstream_location: String::new(),
        pinned_at: meta.uploaded_at.clone(),
        pinned_by: pinned_by.to_owned(),
        policy_override,
    }
}

fn describe_pin(pin: &PinRecord) -> serde_json::Value {
    json!({
        "namespace": pin.namespace,
        "name": pin.name,
        "system": pin.system,
        "version": pin.version,
        "sha256": pin.sha256,
        "size": pin.size,
        "source_url": pin.source_url,
        "upstream_location": pin.upstream_location,
        "pinned_at": pin.pinned_at,
        "pinned_by": pin.pinned_by,
        "policy_override": pin.policy_override,
    })
}

fn version_not_found(key: &ArchiveKey) -> ApiError {
    ApiError::not_found(format!(
        "module {} has no version {}",
        key.module, key.version
    ))
}

fn describe_token(record: &TokenRecord) -> serde_json::Value {
    json!({
        "token_name": record.token_name,
        "permission": record.permission,
        "created_at": record.created_at,
        "expires_at": record.expires_at.and_then(unix_to_rfc3339),
        "description": record.description,
    })
}

fn version_exists(key: &ArchiveKey) -> ApiError {
    ApiError::new(
        409,
        "version_exists",
        format!(
            "module {} version {} already exists; versions are immutable, publish a new one",
            key.module, key.version
        ),
    )
}

fn empty_body() -> ApiError {
    ApiError::bad_request(
        "the request body is empty: send the module archive (tar.gz or zip) as the body",
    )
}

fn method_not_allowed(method: &str, allowed: &str) -> ApiError {
    ApiError::new(
        405,
        "method_not_allowed",
        format!("{method} is not allowed here; use {allowed}"),
    )
}
