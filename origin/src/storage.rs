//! The four storage traits the registry runs on: [`ArchiveStore`] for published archives,
//! [`TokenStore`] for tokens, [`PinStore`] for the records of pinned versions, and
//! [`UploadStaging`] for large uploads on their way in. `tfreg serve` uses the embedded
//! implementations ([`crate::embedded`]: every trait but [`UploadStaging`], which the embedded
//! store does not need); on AWS ([`crate::aws`]) all four are implemented over S3 and DynamoDB.

use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::pin::Pin;
use tfreg_edge::{Tier, TokenHash};
use tokio::io::AsyncRead;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage backend failed: {0}")]
    Backend(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
}

/// What is stored beside each version's archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    /// SHA-256 of the stored (normalised) archive, lowercase hex.
    pub sha256: String,
    /// Size of the stored archive in bytes.
    pub size: u64,
    /// RFC 3339.
    pub uploaded_at: String,
    /// Name of the token that published the version.
    pub uploader: String,
    /// Where the version came from: `upload`, `pin` (copied from the upstream registry by
    /// `POST /v1/pins/...`) or `proxy` (a cached proxied download).
    pub source: String,
    /// For `pin` and `proxy`: the URL the archive was fetched from (after go-getter-style
    /// resolution, before any `//subdir`), so an operator can tell where the bytes came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_url: Option<String>,
    /// The module's source repository, as the publisher gave it (`repository_url` when
    /// publishing): an http(s) URL without credentials. Answered as the module's `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_url: Option<String>,
}

impl VersionMeta {
    /// Whether the version is one of this registry's own: uploaded (or put into the bucket by
    /// hand, or migrated), rather than pinned or cached from the upstream registry. Such a
    /// version makes its namespace private in proxy mode ([`ArchiveStore::namespace_has_uploads`]).
    pub fn is_uploaded(&self) -> bool {
        !matches!(self.source.as_str(), "pin" | "proxy")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    Created,
    /// The version was already there; nothing was changed.
    AlreadyExists,
}

/// Sorts module addresses as [`ArchiveStore::list_modules`] promises: by namespace, name,
/// then system; duplicates removed.
pub fn sort_modules(modules: &mut Vec<ModuleAddress>) {
    modules.sort_by(|a, b| {
        (&a.namespace, &a.name, &a.system).cmp(&(&b.namespace, &b.name, &b.system))
    });
    modules.dedup();
}

/// An archive's bytes as a stream, with its length for `Content-Length`.
pub struct ArchiveBody {
    pub len: u64,
    pub reader: Pin<Box<dyn AsyncRead + Send>>,
}

/// How a store's version list of a module looked when it was read, so that a later read can
/// tell cheaply whether it has changed: the embedded store's module directory status, the S3
/// index's ETag. Opaque; equal stamps mean an unchanged list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingStamp(pub String);

/// The answer of [`ArchiveStore::list_versions_since`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionListing {
    /// The list is still the one the caller's stamp was given with.
    Unchanged,
    /// The list as it is now, in no particular order. `stamp` is what to ask with next time;
    /// `None` when this answer must not be kept (the store cannot yet tell a later change
    /// from this state, or has no cheap check at all).
    Listed {
        versions: Vec<ModuleVersion>,
        stamp: Option<ListingStamp>,
    },
}

#[async_trait]
pub trait ArchiveStore: Send + Sync {
    /// Every published version of `module`, in no particular order. Empty when the module
    /// does not exist.
    async fn list_versions(
        &self,
        module: &ModuleAddress,
    ) -> Result<Vec<ModuleVersion>, StorageError>;

    /// [`ArchiveStore::list_versions`], unless the list is still the one `known` was given
    /// with: then [`VersionListing::Unchanged`], at less cost than a listing (one `stat` on
    /// the embedded store, a conditional GET that transfers no body on S3). A store without a
    /// cheap check lists every time and gives no stamp.
    async fn list_versions_since(
        &self,
        module: &ModuleAddress,
        known: Option<&ListingStamp>,
    ) -> Result<VersionListing, StorageError> {
        let _ = known;
        Ok(VersionListing::Listed {
            versions: self.list_versions(module).await?,
            stamp: None,
        })
    }

    /// Every module with at least one published version, sorted by namespace, name and
    /// system. A scan of the whole store, for operators' tools (`tfreg reindex --all`), not
    /// for requests. The proxy cache, a separate store, is not part of it.
    async fn list_modules(&self) -> Result<Vec<ModuleAddress>, StorageError>;

    async fn version_meta(&self, key: &ArchiveKey) -> Result<Option<VersionMeta>, StorageError>;

    /// Publishes the normalised archive at `staged` (a file the store takes over: it is gone
    /// afterwards, whatever the outcome)
    /// with `meta`, if and only if the version does not exist yet. Atomic: readers see either
    /// nothing or the complete version, and of concurrent publishers exactly one gets
    /// [`PublishOutcome::Created`].
    ///
    /// An uploaded version ([`VersionMeta::is_uploaded`]) first marks its namespace
    /// ([`ArchiveStore::mark_namespace_uploaded`]), before the version can be seen: whoever
    /// sees the version also sees the mark.
    async fn publish(
        &self,
        key: &ArchiveKey,
        staged: PathBuf,
        meta: &VersionMeta,
    ) -> Result<PublishOutcome, StorageError>;

    async fn open_archive(&self, key: &ArchiveKey) -> Result<Option<ArchiveBody>, StorageError>;

    /// Stores the docs of a published version (the JSON of [`crate::docs::StoredDocs`]) beside
    /// its archive, replacing any. Called once the version is published (so a version that
    /// lost a publish race never overwrites the winner's docs, and no docs exist for a
    /// version that is not); until then the version answers without docs. [`unpublish`]
    /// removes them with the version.
    ///
    /// [`unpublish`]: ArchiveStore::unpublish
    async fn put_docs(&self, key: &ArchiveKey, docs: &[u8]) -> Result<(), StorageError>;

    /// The docs stored for a version; `None` for a version published before docs were
    /// extracted (or not published).
    async fn docs(&self, key: &ArchiveKey) -> Result<Option<Vec<u8>>, StorageError>;

    /// Removes a version (archive, metadata, and its entry in any index) so that it is no
    /// longer listed or served. Only pins are ever removed (`DELETE /v1/pins/...`); uploaded
    /// versions stay immutable, which the registry checks before it calls this. Returns
    /// whether the version existed.
    async fn unpublish(&self, key: &ArchiveKey) -> Result<bool, StorageError>;

    /// Whether `namespace` holds an uploaded module: one read of a per-namespace mark, not a
    /// scan of the namespace's versions. In proxy mode such a namespace is private: none of
    /// its modules, uploaded or not, is fetched from or merged with the upstream registry.
    async fn namespace_has_uploads(&self, namespace: &str) -> Result<bool, StorageError>;

    /// Marks `namespace` as holding an uploaded module. Idempotent. [`ArchiveStore::publish`]
    /// calls it for uploaded versions; `tfreg reindex` and the registry call it for uploaded
    /// versions found without a mark (put into the bucket by hand, or stored before marks
    /// existed). Nothing removes a mark: making a namespace public again is an operator's
    /// deliberate act.
    async fn mark_namespace_uploaded(&self, namespace: &str) -> Result<(), StorageError>;
}

/// A pinned public module version: copied from the upstream registry into the archive store,
/// and served locally from then on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinRecord {
    pub namespace: String,
    pub name: String,
    pub system: String,
    /// Canonical semver text, as in [`ArchiveKey`].
    pub version: String,
    /// SHA-256 of the stored (normalised) archive, lowercase hex.
    pub sha256: String,
    pub size: u64,
    /// Where the archive was fetched from (the forge archive URL, after resolution).
    pub source_url: String,
    /// The upstream's own download answer (`X-Terraform-Get`), as it was given.
    pub upstream_location: String,
    /// RFC 3339.
    pub pinned_at: String,
    /// Name of the token that pinned it.
    pub pinned_by: String,
    /// Whether the master pinned it against the proxy's allow/deny policy.
    pub policy_override: bool,
}

impl PinRecord {
    pub fn key(&self) -> Result<ArchiveKey, crate::names::NameError> {
        Ok(ArchiveKey::new(
            ModuleAddress::new(&self.namespace, &self.name, &self.system)?,
            ModuleVersion::parse(&self.version)?,
        ))
    }
}

/// The list of pins with their provenance (`GET /v1/pins`). The pinned archive itself lives
/// in the [`ArchiveStore`]; this is the record of why it is there.
#[async_trait]
pub trait PinStore: Send + Sync {
    /// Stores `pin`, replacing any record for the same module version.
    async fn put_pin(&self, pin: &PinRecord) -> Result<(), StorageError>;

    async fn get_pin(&self, key: &ArchiveKey) -> Result<Option<PinRecord>, StorageError>;

    /// Every pin, ordered by module address, then by version (semver order): the order
    /// [`sort_pins`] puts them in, which every implementation uses.
    async fn list_pins(&self) -> Result<Vec<PinRecord>, StorageError>;

    /// Returns whether a record existed.
    async fn delete_pin(&self, key: &ArchiveKey) -> Result<bool, StorageError>;
}

/// Orders pins as [`PinStore::list_pins`] promises: by module address, then by semver (a
/// version that does not parse, which only a damaged record has, sorts first).
pub fn sort_pins(pins: &mut [PinRecord]) {
    pins.sort_by_cached_key(|pin| {
        (
            pin.namespace.clone(),
            pin.name.clone(),
            pin.system.clone(),
            ModuleVersion::parse(&pin.version).ok(),
            pin.version.clone(),
        )
    });
}

/// A token as stored: its hash, never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub token_hash: String,
    pub token_name: String,
    pub permission: Tier,
    /// RFC 3339.
    pub created_at: String,
    /// Seconds since the Unix epoch; `None` for tokens that do not expire.
    pub expires_at: Option<u64>,
    pub description: Option<String>,
    /// Module prefixes the token is limited to (`acme`, `acme/network`); empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    NameTaken,
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores `record` unless a token of the same name exists (checked atomically).
    async fn create(&self, record: &TokenRecord) -> Result<CreateOutcome, StorageError>;

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StorageError>;

    async fn find_by_name(&self, name: &str) -> Result<Option<TokenRecord>, StorageError>;

    /// Every token, ordered by name.
    async fn list(&self) -> Result<Vec<TokenRecord>, StorageError>;

    /// Returns whether a token of that name existed.
    async fn delete_by_name(&self, name: &str) -> Result<bool, StorageError>;

    /// Removes the tokens that expired before `now` (seconds since the Unix epoch), for a
    /// store that has no expiry of its own. DynamoDB's TTL does this on AWS: there, nothing.
    async fn purge_expired(&self, now: u64) -> Result<(), StorageError> {
        let _ = now;
        Ok(())
    }
}

/// What a staged upload is for, as the path its staged object goes under:
/// `{ns}/{name}/{system}/{version}` for a module version, `_providers/{ns}/{type}/{version}`
/// for a provider release (no namespace starts with `_`, so the two never meet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagingKey(String);

impl StagingKey {
    pub fn module(key: &ArchiveKey) -> Self {
        StagingKey(format!("{}/{}", key.module, key.version))
    }

    pub fn provider(
        provider: &crate::providers::ProviderAddress,
        version: &crate::names::ModuleVersion,
    ) -> Self {
        StagingKey(format!("_providers/{provider}/{version}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StagingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where archives too large for the origin's request limit are uploaded first: the client
/// PUTs the archive to a short-lived presigned URL, then asks the registry to finalize, which
/// validates it and publishes it like any upload. Stores without such a path (the embedded
/// one, which takes large bodies directly) have no `UploadStaging`.
#[async_trait]
pub trait UploadStaging: Send + Sync {
    /// A URL the client can PUT the archive to, valid for `expires_in_secs`.
    async fn upload_url(
        &self,
        key: &StagingKey,
        upload_id: &str,
        expires_in_secs: u64,
    ) -> Result<String, StorageError>;

    /// The uploaded archive, if the client has uploaded one.
    async fn open(
        &self,
        key: &StagingKey,
        upload_id: &str,
    ) -> Result<Option<ArchiveBody>, StorageError>;

    async fn delete(&self, key: &StagingKey, upload_id: &str) -> Result<(), StorageError>;
}
