//! The catalogue object in `tfreg serve`'s data directory, and in memory (for tests).

use super::{CatalogueRead, CatalogueStore};
use crate::storage::StorageError;
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// `catalogue.json` in the data directory. Its tag is the SHA-256 of its bytes, kept in memory
/// beside the file's modification time, so an unchanged file is known by one `stat`. Written
/// whole to a temporary file and renamed over the old one, so it is never seen half-written.
pub struct FileCatalogueStore {
    path: PathBuf,
    /// The file's modification time and length when it was last read or written, with its tag.
    seen: Mutex<Option<(std::time::SystemTime, u64, String)>>,
    /// Writers of this process, one at a time (the data directory has one `tfreg serve`).
    writing: tokio::sync::Mutex<()>,
    /// Where the next version is written before its rename (beside the file unless
    /// [`FileCatalogueStore::with_scratch_dir`] says otherwise).
    scratch_dir: Option<PathBuf>,
}

pub const CATALOGUE_FILE_NAME: &str = "catalogue.json";

impl FileCatalogueStore {
    pub fn open(data_dir: &Path) -> Self {
        FileCatalogueStore {
            path: data_dir.join(CATALOGUE_FILE_NAME),
            seen: Mutex::new(None),
            writing: tokio::sync::Mutex::new(()),
            scratch_dir: None,
        }
    }

    /// Writes each new version in `dir` (on the catalogue's file system) before renaming it
    /// into place: `tfreg serve` passes its staging directory, which it clears on start, so a
    /// write cut short by a crash leaves no temporary file beside the catalogue.
    pub fn with_scratch_dir(mut self, dir: &Path) -> Self {
        self.scratch_dir = Some(dir.to_path_buf());
        self
    }

    fn stat(&self) -> Result<Option<(std::time::SystemTime, u64)>, StorageError> {
        match std::fs::metadata(&self.path) {
            Ok(meta) => Ok(Some((meta.modified()?, meta.len()))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    fn read_now(&self, known: Option<&str>) -> Result<CatalogueRead, StorageError> {
        let Some((modified, len)) = self.stat()? else {
            return Ok(CatalogueRead::Missing);
        };
        if let Some((seen_modified, seen_len, tag)) = &*self.seen.lock().expect("seen lock") {
            if (*seen_modified, *seen_len) == (modified, len) && Some(tag.as_str()) == known {
                return Ok(CatalogueRead::Unchanged);
            }
        }
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(CatalogueRead::Missing)
            }
            Err(error) => return Err(error.into()),
        };
        let tag = hex::encode(Sha256::digest(&bytes));
        *self.seen.lock().expect("seen lock") = Some((modified, len, tag.clone()));
        if known == Some(tag.as_str()) {
            return Ok(CatalogueRead::Unchanged);
        }
        Ok(CatalogueRead::Found { bytes, tag })
    }
}

#[async_trait]
impl CatalogueStore for FileCatalogueStore {
    async fn read(&self, known: Option<&str>) -> Result<CatalogueRead, StorageError> {
        self.read_now(known)
    }

    async fn write(
        &self,
        bytes: Vec<u8>,
        expected: Option<&str>,
    ) -> Result<Option<String>, StorageError> {
        let _one_writer = self.writing.lock().await;
        // Unchanged since this process last read or wrote it (one `stat`), or read and hashed.
        let current = match self.read_now(expected)? {
            CatalogueRead::Unchanged => expected.map(str::to_owned),
            CatalogueRead::Found { tag, .. } => Some(tag),
            CatalogueRead::Missing => None,
        };
        if current.as_deref() != expected {
            return Ok(None);
        }
        let directory = match &self.scratch_dir {
            Some(dir) => dir.as_path(),
            None => self.path.parent().unwrap_or(Path::new(".")),
        };
        let mut staged = tempfile::NamedTempFile::new_in(directory)?;
        staged.write_all(&bytes)?;
        staged.as_file().sync_all()?;
        staged
            .persist(&self.path)
            .map_err(|error| StorageError::Io(error.error))?;
        let tag = hex::encode(Sha256::digest(&bytes));
        if let Some((modified, len)) = self.stat()? {
            *self.seen.lock().expect("seen lock") = Some((modified, len, tag.clone()));
        }
        Ok(Some(tag))
    }

    /// A `stat` is cheap: ask on every read.
    fn refresh_interval(&self) -> Duration {
        Duration::ZERO
    }
}

/// The catalogue object in memory: for tests, and a registry given no store.
#[derive(Default)]
pub struct MemoryCatalogueStore {
    stored: Mutex<Option<(Vec<u8>, u64)>>,
}

#[async_trait]
impl CatalogueStore for MemoryCatalogueStore {
    async fn read(&self, known: Option<&str>) -> Result<CatalogueRead, StorageError> {
        Ok(match &*self.stored.lock().expect("store lock") {
            None => CatalogueRead::Missing,
            Some((_, generation)) if Some(generation.to_string().as_str()) == known => {
                CatalogueRead::Unchanged
            }
            Some((bytes, generation)) => CatalogueRead::Found {
                bytes: bytes.clone(),
                tag: generation.to_string(),
            },
        })
    }

    async fn write(
        &self,
        bytes: Vec<u8>,
        expected: Option<&str>,
    ) -> Result<Option<String>, StorageError> {
        let mut stored = self.stored.lock().expect("store lock");
        let current = stored
            .as_ref()
            .map(|(_, generation)| generation.to_string());
        if current.as_deref() != expected {
            return Ok(None);
        }
        let generation = stored.as_ref().map_or(1, |(_, g)| g + 1);
        *stored = Some((bytes, generation));
        Ok(Some(generation.to_string()))
    }

    fn refresh_interval(&self) -> Duration {
        Duration::ZERO
    }
}
