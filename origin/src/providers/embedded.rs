//! Provider releases and signing keys as files in `tfreg serve`'s data directory:
//!
//! ```text
//! providers/{namespace}/{type}/{version}/release.json     ProviderRelease (the release's record)
//! providers/{namespace}/{type}/{version}/{file}           the zips, SHA256SUMS and SHA256SUMS.sig
//! provider-keys/{namespace}/{KEY_ID}.json                 SigningKeyRecord
//! staging/                                                writes in progress (cleared on start)
//! ```
//!
//! A release is a directory assembled in `staging/` and renamed into place in one step, so it
//! is never seen half-written, and a rename onto an existing (non-empty) version directory
//! fails, so of concurrent publishers exactly one wins. A key file is linked into place, which
//! fails if one of that ID exists.

use super::store::{ProviderRelease, ProviderStore, SigningKeyRecord};
use super::ProviderAddress;
use crate::names::ModuleVersion;
use crate::storage::{ArchiveBody, CreateOutcome, PublishOutcome, StorageError};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

const RELEASE_FILE_NAME: &str = "release.json";

#[derive(Debug, Clone)]
pub struct FileProviderStore {
    providers_dir: PathBuf,
    keys_dir: PathBuf,
    staging_dir: PathBuf,
}

impl FileProviderStore {
    /// Opens the store in `data_dir`, writing through `data_dir/staging` (the module store's
    /// staging directory: on the same file system, and cleared on start).
    pub fn open(data_dir: &Path) -> Result<Self, StorageError> {
        let store = FileProviderStore {
            providers_dir: data_dir.join("providers"),
            keys_dir: data_dir.join("provider-keys"),
            staging_dir: data_dir.join("staging"),
        };
        for dir in [&store.providers_dir, &store.keys_dir, &store.staging_dir] {
            std::fs::create_dir_all(dir)?;
        }
        Ok(store)
    }

    fn provider_dir(&self, provider: &ProviderAddress) -> PathBuf {
        self.providers_dir
            .join(&provider.namespace)
            .join(&provider.provider_type)
    }

    fn version_dir(&self, provider: &ProviderAddress, version: &ModuleVersion) -> PathBuf {
        self.provider_dir(provider).join(version.to_string())
    }

    fn key_file(&self, namespace: &str, key_id: &str) -> PathBuf {
        self.keys_dir.join(namespace).join(format!("{key_id}.json"))
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Backend(format!("storage task failed: {e}")))?
}

fn not_found_is_none<T>(result: std::io::Result<T>) -> std::io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

fn read_release(path: &Path) -> Result<Option<ProviderRelease>, StorageError> {
    match not_found_is_none(std::fs::read(path))? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StorageError::Corrupt(format!("{}: {e}", path.display()))),
        None => Ok(None),
    }
}

#[async_trait]
impl ProviderStore for FileProviderStore {
    async fn list_releases(
        &self,
        provider: &ProviderAddress,
    ) -> Result<Vec<ProviderRelease>, StorageError> {
        let dir = self.provider_dir(provider);
        blocking(move || {
            let Some(entries) = not_found_is_none(std::fs::read_dir(&dir))? else {
                return Ok(Vec::new());
            };
            let mut releases = Vec::new();
            for entry in entries {
                let entry = entry?;
                // A directory without its record is not a release (none is ever renamed in
                // without one; one put there by hand is not listed).
                if let Some(release) = read_release(&entry.path().join(RELEASE_FILE_NAME))? {
                    releases.push(release);
                }
            }
            Ok(releases)
        })
        .await
    }

    async fn release(
        &self,
        provider: &ProviderAddress,
        version: &ModuleVersion,
    ) -> Result<Option<ProviderRelease>, StorageError> {
        let path = self.version_dir(provider, version).join(RELEASE_FILE_NAME);
        blocking(move || read_release(&path)).await
    }

    async fn publish(
        &self,
        release: &ProviderRelease,
        staged: PathBuf,
    ) -> Result<PublishOutcome, StorageError> {
        let provider = ProviderAddress {
            namespace: release.namespace.clone(),
            provider_type: release.provider_type.clone(),
        };
        let version = ModuleVersion::parse(&release.version)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let target = self.version_dir(&provider, &version);
        let record =
            serde_json::to_vec_pretty(release).map_err(|e| StorageError::Backend(e.to_string()))?;
        blocking(move || {
            let outcome = (|| {
                if target.exists() {
                    return Ok(PublishOutcome::AlreadyExists);
                }
                let record_path = staged.join(RELEASE_FILE_NAME);
                std::fs::write(&record_path, &record)?;
                std::fs::File::open(&record_path)?.sync_all()?;
                std::fs::create_dir_all(target.parent().expect("a version has a parent"))?;
                match std::fs::rename(&staged, &target) {
                    Ok(()) => Ok(PublishOutcome::Created),
                    // ENOTEMPTY or EEXIST: another publisher's release is there.
                    Err(_) if target.join(RELEASE_FILE_NAME).exists() => {
                        Ok(PublishOutcome::AlreadyExists)
                    }
                    Err(error) => Err(StorageError::Io(error)),
                }
            })();
            if staged.exists() {
                let _ = std::fs::remove_dir_all(&staged);
            }
            outcome
        })
        .await
    }

    async fn open_file(
        &self,
        provider: &ProviderAddress,
        version: &ModuleVersion,
        filename: &str,
    ) -> Result<Option<ArchiveBody>, StorageError> {
        let Some(release) = self.release(provider, version).await? else {
            return Ok(None);
        };
        // Only the files the record names: never a path built from what a URL says.
        if !release.filenames().any(|name| name == filename) {
            return Ok(None);
        }
        let path = self.version_dir(provider, version).join(filename);
        let Some(file) = not_found_is_none(tokio::fs::File::open(&path).await)? else {
            return Ok(None);
        };
        let len = file.metadata().await?.len();
        Ok(Some(ArchiveBody {
            len,
            reader: Box::pin(file),
        }))
    }

    async fn add_key(
        &self,
        namespace: &str,
        key: &SigningKeyRecord,
    ) -> Result<CreateOutcome, StorageError> {
        let target = self.key_file(namespace, &key.key_id);
        let staging = self.staging_dir.clone();
        let record =
            serde_json::to_vec_pretty(key).map_err(|e| StorageError::Backend(e.to_string()))?;
        blocking(move || {
            std::fs::create_dir_all(target.parent().expect("a key file has a parent"))?;
            let temp = tempfile::NamedTempFile::new_in(&staging)?;
            std::fs::write(temp.path(), &record)?;
            temp.as_file().sync_all()?;
            // A link fails if the name exists: the check and the write are one step.
            match std::fs::hard_link(temp.path(), &target) {
                Ok(()) => Ok(CreateOutcome::Created),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    Ok(CreateOutcome::NameTaken)
                }
                Err(error) => Err(StorageError::Io(error)),
            }
        })
        .await
    }

    async fn keys(&self, namespace: &str) -> Result<Vec<SigningKeyRecord>, StorageError> {
        let dir = self.keys_dir.join(namespace);
        blocking(move || {
            let Some(entries) = not_found_is_none(std::fs::read_dir(&dir))? else {
                return Ok(Vec::new());
            };
            let mut keys = Vec::new();
            for entry in entries {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "json") {
                    let bytes = std::fs::read(&path)?;
                    let key: SigningKeyRecord = serde_json::from_slice(&bytes)
                        .map_err(|e| StorageError::Corrupt(format!("{}: {e}", path.display())))?;
                    keys.push(key);
                }
            }
            keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
            Ok(keys)
        })
        .await
    }

    async fn remove_key(&self, namespace: &str, key_id: &str) -> Result<bool, StorageError> {
        let path = self.key_file(namespace, key_id);
        blocking(move || Ok(not_found_is_none(std::fs::remove_file(&path))?.is_some())).await
    }
}
