//! Where provider releases and the namespaces' signing keys are kept: the [`ProviderStore`]
//! trait, implemented over the data directory for `tfreg serve` ([`super::embedded`]). An S3
//! implementation ([`crate::aws::S3ProviderStore`]) follows the same contract: each publish attempt's files under a prefix
//! of its own (so a losing publisher can never overwrite a winner's zips), the record last
//! with `If-None-Match: *` naming that prefix, the loser's files deleted; keys as one object
//! (or item) per namespace and key ID, written conditionally.

use super::ProviderAddress;
use crate::names::ModuleVersion;
use crate::storage::{ArchiveBody, CreateOutcome, PublishOutcome, StorageError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A GPG public key registered for a namespace: releases of the namespace's providers must be
/// signed by one of its keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKeyRecord {
    /// 64-bit key ID of the primary key, uppercase hex.
    pub key_id: String,
    /// Fingerprint of the primary key, uppercase hex.
    pub fingerprint: String,
    pub ascii_armor: String,
    /// Who the key belongs to, free text (the protocol's `source`), and where to read about
    /// it (`source_url`).
    #[serde(default)]
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// RFC 3339.
    pub added_at: String,
    /// Name of the token that registered it.
    pub added_by: String,
}

/// One platform's package in a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasePlatform {
    pub os: String,
    pub arch: String,
    pub filename: String,
    /// SHA-256 of the zip, lowercase hex: its line in `SHA256SUMS`.
    pub sha256: String,
    pub size: u64,
}

/// A published provider release: its record, written last, is what makes it visible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRelease {
    pub namespace: String,
    pub provider_type: String,
    /// Canonical semver text.
    pub version: String,
    /// Plugin protocol versions (`5.0`, `6.0`).
    pub protocols: Vec<String>,
    /// Sorted by os, then arch.
    pub platforms: Vec<ReleasePlatform>,
    pub shasums_filename: String,
    pub signature_filename: String,
    /// The key that signed `SHA256SUMS`, as it was when the release was published: the
    /// download answer names it, so removing the key from the namespace later stops new
    /// releases signed with it but leaves this one installable.
    pub signing_key: SigningKeyRecord,
    /// RFC 3339.
    pub published_at: String,
    /// Name of the token that published it.
    pub publisher: String,
    /// The publish attempt whose files these are, on a store that keeps each attempt's files
    /// under a prefix of its own (S3): the files' path gains `{files_id}/` after the version.
    /// `None` on the embedded store, whose files sit beside the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_id: Option<String>,
}

impl ProviderRelease {
    pub fn platform(&self, os: &str, arch: &str) -> Option<&ReleasePlatform> {
        self.platforms.iter().find(|p| p.os == os && p.arch == arch)
    }

    /// Where a file of the release is, beneath the provider files' root:
    /// `{ns}/{type}/{version}/[{files_id}/]{filename}`.
    pub fn file_path(&self, filename: &str) -> String {
        let base = format!("{}/{}/{}", self.namespace, self.provider_type, self.version);
        match &self.files_id {
            Some(id) => format!("{base}/{id}/{filename}"),
            None => format!("{base}/{filename}"),
        }
    }

    /// Every file of the release by name: the zips, `SHA256SUMS` and its signature.
    pub fn filenames(&self) -> impl Iterator<Item = &str> {
        self.platforms.iter().map(|p| p.filename.as_str()).chain([
            self.shasums_filename.as_str(),
            self.signature_filename.as_str(),
        ])
    }
}

#[async_trait]
pub trait ProviderStore: Send + Sync {
    /// Every published release of `provider`, in no particular order.
    async fn list_releases(
        &self,
        provider: &ProviderAddress,
    ) -> Result<Vec<ProviderRelease>, StorageError>;

    async fn release(
        &self,
        provider: &ProviderAddress,
        version: &ModuleVersion,
    ) -> Result<Option<ProviderRelease>, StorageError>;

    /// Publishes `release` with its files, found by name in `staged` (a directory the store
    /// takes over: gone afterwards, whatever the outcome), if and only if the version does not
    /// exist yet. All or nothing: readers see no file of the release before its record, and
    /// of concurrent publishers exactly one gets [`PublishOutcome::Created`].
    async fn publish(
        &self,
        release: &ProviderRelease,
        staged: PathBuf,
    ) -> Result<PublishOutcome, StorageError>;

    /// A file of a published release (a zip, `SHA256SUMS` or its signature), by name.
    async fn open_file(
        &self,
        provider: &ProviderAddress,
        version: &ModuleVersion,
        filename: &str,
    ) -> Result<Option<ArchiveBody>, StorageError>;

    /// Registers `key` for `namespace`, unless a key of that ID is registered already.
    async fn add_key(
        &self,
        namespace: &str,
        key: &SigningKeyRecord,
    ) -> Result<CreateOutcome, StorageError>;

    /// The keys registered for `namespace`, ordered by key ID.
    async fn keys(&self, namespace: &str) -> Result<Vec<SigningKeyRecord>, StorageError>;

    /// Returns whether a key of that ID was registered.
    async fn remove_key(&self, namespace: &str, key_id: &str) -> Result<bool, StorageError>;
}
