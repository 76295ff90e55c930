//! Where mirrored packages are kept: the [`MirrorStore`] trait, and [`FileMirrorStore`] over
//! `tfreg serve`'s data directory:
//!
//! ```text
//! mirror/{hostname}/{namespace}/{type}/{version}/{os}_{arch}/package.json   MirroredPackage
//! mirror/{hostname}/{namespace}/{type}/{version}/{os}_{arch}/{filename}     the zip
//! ```
//!
//! A package directory is assembled in `staging/` and renamed into place in one step, so a
//! package is never seen without its zip or half-written; only packages that passed every
//! check ([`super::fetch`]) are ever put.

use super::MirrorProvider;
use crate::names::ModuleVersion;
use crate::providers::Platform;
use crate::storage::{ArchiveBody, StorageError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const RECORD_FILE_NAME: &str = "package.json";

/// A package fetched from its registry, checked, and kept here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirroredPackage {
    pub hostname: String,
    pub namespace: String,
    pub provider_type: String,
    /// Canonical semver text.
    pub version: String,
    pub os: String,
    pub arch: String,
    pub filename: String,
    /// SHA-256 of the zip, lowercase hex: its `SHA256SUMS` line (Terraform's `zh:` hash).
    pub sha256: String,
    /// Terraform's `h1:` hash of the zip's contents, with its prefix.
    pub h1: String,
    pub size: u64,
    /// The key (ID, uppercase hex) whose signature of `SHA256SUMS` was checked.
    pub key_id: String,
    /// Where the zip came from (no query).
    pub source_url: String,
    /// RFC 3339.
    pub fetched_at: String,
}

impl MirroredPackage {
    pub fn platform(&self) -> String {
        format!("{}_{}", self.os, self.arch)
    }

    /// The hashes a mirror answer lists for it: `h1:` first, as Terraform prefers it.
    pub fn hashes(&self) -> Vec<String> {
        vec![self.h1.clone(), format!("zh:{}", self.sha256)]
    }
}

#[async_trait]
pub trait MirrorStore: Send + Sync {
    /// The versions of `provider` with at least one package kept, in no particular order.
    async fn versions(&self, provider: &MirrorProvider)
        -> Result<Vec<ModuleVersion>, StorageError>;

    /// The packages kept for one version of `provider`, any platform, in no particular order.
    async fn packages(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
    ) -> Result<Vec<MirroredPackage>, StorageError>;

    async fn package(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
        platform: &Platform,
    ) -> Result<Option<MirroredPackage>, StorageError>;

    /// Keeps `package`, whose zip is the file `staged_zip` (taken over: gone afterwards).
    /// Returns `false` if the package was kept already (the first one stays).
    async fn put(
        &self,
        package: &MirroredPackage,
        staged_zip: PathBuf,
    ) -> Result<bool, StorageError>;

    async fn open_zip(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
        platform: &Platform,
    ) -> Result<Option<ArchiveBody>, StorageError>;
}

#[derive(Debug, Clone)]
pub struct FileMirrorStore {
    root: PathBuf,
    staging_dir: PathBuf,
}

impl FileMirrorStore {
    /// Opens the store in `data_dir`, writing through `data_dir/staging` (cleared on start).
    pub fn open(data_dir: &Path) -> Result<Self, StorageError> {
        let store = FileMirrorStore {
            root: data_dir.join("mirror"),
            staging_dir: data_dir.join("staging"),
        };
        for dir in [&store.root, &store.staging_dir] {
            std::fs::create_dir_all(dir)?;
        }
        Ok(store)
    }

    fn provider_dir(&self, provider: &MirrorProvider) -> PathBuf {
        self.root
            .join(&provider.hostname)
            .join(&provider.address.namespace)
            .join(&provider.address.provider_type)
    }

    fn package_dir(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
        platform: &Platform,
    ) -> PathBuf {
        self.provider_dir(provider)
            .join(version.to_string())
            .join(platform.to_string())
    }
}

fn read_record(path: &Path) -> Result<Option<MirroredPackage>, StorageError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StorageError::Corrupt(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn read_dir_or_empty(dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| Ok(e?.path()))
            .collect::<Result<_, std::io::Error>>()
            .map_err(Into::into),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Backend(format!("storage task failed: {e}")))?
}

#[async_trait]
impl MirrorStore for FileMirrorStore {
    async fn versions(
        &self,
        provider: &MirrorProvider,
    ) -> Result<Vec<ModuleVersion>, StorageError> {
        let dir = self.provider_dir(provider);
        blocking(move || {
            let mut versions = Vec::new();
            for version_dir in read_dir_or_empty(&dir)? {
                let Some(version) = version_dir
                    .file_name()
                    .and_then(|name| name.to_str())
                    .and_then(|name| ModuleVersion::parse(name).ok())
                else {
                    continue;
                };
                // A version directory holds packages only once one was put whole.
                let kept = read_dir_or_empty(&version_dir)?
                    .iter()
                    .any(|package_dir| package_dir.join(RECORD_FILE_NAME).is_file());
                if kept {
                    versions.push(version);
                }
            }
            Ok(versions)
        })
        .await
    }

    async fn packages(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
    ) -> Result<Vec<MirroredPackage>, StorageError> {
        let dir = self.provider_dir(provider).join(version.to_string());
        blocking(move || {
            let mut packages = Vec::new();
            for package_dir in read_dir_or_empty(&dir)? {
                if let Some(package) = read_record(&package_dir.join(RECORD_FILE_NAME))? {
                    packages.push(package);
                }
            }
            Ok(packages)
        })
        .await
    }

    async fn package(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
        platform: &Platform,
    ) -> Result<Option<MirroredPackage>, StorageError> {
        let path = self
            .package_dir(provider, version, platform)
            .join(RECORD_FILE_NAME);
        blocking(move || read_record(&path)).await
    }

    async fn put(
        &self,
        package: &MirroredPackage,
        staged_zip: PathBuf,
    ) -> Result<bool, StorageError> {
        let provider = MirrorProvider::new(
            &package.hostname,
            &package.namespace,
            &package.provider_type,
        )
        .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let version = ModuleVersion::parse(&package.version)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let platform = Platform::new(&package.os, &package.arch)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let target = self.package_dir(&provider, &version, &platform);
        let staging = self.staging_dir.clone();
        let record =
            serde_json::to_vec_pretty(package).map_err(|e| StorageError::Backend(e.to_string()))?;
        let filename = package.filename.clone();
        blocking(move || {
            let outcome = (|| {
                if target.join(RECORD_FILE_NAME).exists() {
                    return Ok(false);
                }
                let assembled = tempfile::Builder::new()
                    .prefix("mirror-")
                    .tempdir_in(&staging)?
                    .keep();
                let result = (|| {
                    std::fs::rename(&staged_zip, assembled.join(&filename))?;
                    let record_path = assembled.join(RECORD_FILE_NAME);
                    std::fs::write(&record_path, &record)?;
                    std::fs::File::open(&record_path)?.sync_all()?;
                    std::fs::create_dir_all(target.parent().expect("a package has a parent"))?;
                    match std::fs::rename(&assembled, &target) {
                        Ok(()) => Ok(true),
                        // Another fetch of the same package won: the first one stays.
                        Err(_) if target.join(RECORD_FILE_NAME).exists() => Ok(false),
                        Err(error) => Err(StorageError::Io(error)),
                    }
                })();
                if assembled.exists() {
                    let _ = std::fs::remove_dir_all(&assembled);
                }
                result
            })();
            if staged_zip.exists() {
                let _ = std::fs::remove_file(&staged_zip);
            }
            outcome
        })
        .await
    }

    async fn open_zip(
        &self,
        provider: &MirrorProvider,
        version: &ModuleVersion,
        platform: &Platform,
    ) -> Result<Option<ArchiveBody>, StorageError> {
        let Some(package) = self.package(provider, version, platform).await? else {
            return Ok(None);
        };
        let path = self
            .package_dir(provider, version, platform)
            .join(&package.filename);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let len = file.metadata().await?.len();
        Ok(Some(ArchiveBody {
            len,
            reader: Box::pin(file),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_file_store_keeps_its_promises() {
        let data = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let store = FileMirrorStore::open(data.path()).unwrap();
        super::super::conformance::check_mirror_store(&store, scratch.path()).await;
        // Nothing left in staging.
        assert_eq!(
            std::fs::read_dir(data.path().join("staging"))
                .unwrap()
                .count(),
            0
        );
    }
}
