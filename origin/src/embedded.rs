//! Embedded storage for `tfreg serve`: archives as files in the data directory
//! ([`FileArchiveStore`]), tokens and pin records in a redb database file
//! ([`RedbTokenStore`]). No server to run, nothing to configure; no [`UploadStaging`]
//! either, since `tfreg serve` takes large uploads directly.
//!
//! [`UploadStaging`]: crate::storage::UploadStaging
//!
//! Layout beneath the data directory:
//!
//! ```text
//! modules/{namespace}/{name}/{system}/{version}/module.tar.gz   the normalised archive
//! modules/{namespace}/{name}/{system}/{version}/meta.json       VersionMeta
//! modules/{namespace}/{name}/{system}/{version}/docs.json       the version's docs
//! modules/{namespace}/.uploads                                  the namespace holds an uploaded module
//! staging/                                                      writes in progress (cleared on start)
//! tokens.redb                                                   token records by hash, and pins
//! ```

use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion, ARCHIVE_FILE_NAME};
use crate::storage::{
    sort_modules, sort_pins, ArchiveBody, ArchiveStore, CreateOutcome, ListingStamp, PinRecord,
    PinStore, PublishOutcome, StorageError, TokenRecord, TokenStore, VersionListing, VersionMeta,
};
use async_trait::async_trait;
use redb::{Database, ReadableTable, TableDefinition};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tfreg_edge::TokenHash;

const META_FILE_NAME: &str = "meta.json";
const DOCS_FILE_NAME: &str = "docs.json";

/// The mark of a namespace that holds an uploaded module, beside its module directories (a
/// module name never starts with a dot, so it cannot be one).
pub const UPLOADS_MARK_FILE_NAME: &str = ".uploads";

/// Archives as files. A version is a directory that appears in one `rename`, so it is never
/// seen half-written, and `rename` onto a directory that already exists (and is not empty)
/// fails, so of concurrent publishers exactly one wins.
#[derive(Debug, Clone)]
pub struct FileArchiveStore {
    modules_dir: PathBuf,
    staging_dir: PathBuf,
}

impl FileArchiveStore {
    pub fn open(data_dir: &Path) -> Result<Self, StorageError> {
        let store = FileArchiveStore {
            modules_dir: data_dir.join("modules"),
            staging_dir: data_dir.join("staging"),
        };
        std::fs::create_dir_all(&store.modules_dir)?;
        std::fs::create_dir_all(&store.staging_dir)?;
        Ok(store)
    }

    /// Where uploads are spooled and normalised: on the same file system as the modules, so
    /// publishing is a rename. Every write that could be cut short (archives, metadata, docs,
    /// marks) happens here first, so that whatever a crash leaves behind is in this one
    /// directory and nowhere else.
    pub fn staging_dir(&self) -> &Path {
        &self.staging_dir
    }

    /// Deletes what a killed process left in staging (spooled uploads, versions not yet
    /// renamed into place, docs and marks not yet renamed, unpublished versions not yet
    /// deleted). None of it is visible, and none of it can be finished: the requests that
    /// wrote it got no answer. Call it only while no other process uses this data directory
    /// (`tfreg serve` holds the token database's lock first). Returns how many entries went.
    pub fn clear_staging(&self) -> Result<usize, StorageError> {
        Ok(clear_dir(&self.staging_dir)?)
    }

    fn module_dir(&self, module: &ModuleAddress) -> PathBuf {
        self.modules_dir
            .join(&module.namespace)
            .join(&module.name)
            .join(&module.system)
    }

    fn uploads_mark(&self, namespace: &str) -> PathBuf {
        self.modules_dir
            .join(namespace)
            .join(UPLOADS_MARK_FILE_NAME)
    }

    fn version_dir(&self, key: &ArchiveKey) -> PathBuf {
        self.module_dir(&key.module).join(key.version.to_string())
    }
}

/// The versions in a module's directory; none if it does not exist.
fn list_version_dir(dir: &Path) -> Result<Vec<ModuleVersion>, StorageError> {
    let Some(entries) = not_found_is_none(std::fs::read_dir(dir))? else {
        return Ok(Vec::new());
    };
    let mut versions = Vec::new();
    for entry in entries {
        // A directory that is not a version (left by hand, say) is not listed.
        if let Some(version) = entry?.file_name().to_str().and_then(|name| {
            ModuleVersion::parse(name)
                .ok()
                .filter(|v| v.to_string() == name)
        }) {
            versions.push(version);
        }
    }
    Ok(versions)
}

/// How long a module directory must have been left unchanged before its status may stand for
/// its listing. Linux stamps a directory's mtime and ctime from a coarse clock (one timer
/// tick, up to 10 ms; whole seconds on some file systems), so an entry added in the same tick
/// as an earlier listing can leave the status exactly as it was; a status older than this
/// cannot be repeated by a later change. The same reasoning as Git's "racily clean" index
/// entries (Documentation/technical/racy-git.txt in git's sources).
const SETTLED_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// A module directory's status as a stamp: device, inode, mtime, ctime (to the nanosecond),
/// link count and size. Every publish and unpublish renames a version directory into or out
/// of it, which sets its mtime and ctime to the current time (and changes its link count); so
/// does any entry made or removed by hand. Returns the stamp and whether it is settled at
/// `checked_at`, a time taken before the status was read: its mtime is more than
/// [`SETTLED_AFTER`] older, so any later change sets a different mtime.
fn directory_stamp(
    status: &std::fs::Metadata,
    checked_at: std::time::SystemTime,
) -> (ListingStamp, bool) {
    use std::os::unix::fs::MetadataExt;
    let nanos = |secs: i64, nsecs: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsecs);
    let changed = nanos(status.mtime(), status.mtime_nsec());
    let settled = checked_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|now| changed + (SETTLED_AFTER.as_nanos() as i128) < now.as_nanos() as i128)
        .unwrap_or(false);
    let stamp = format!(
        "{}:{}:{}.{}:{}.{}:{}:{}",
        status.dev(),
        status.ino(),
        status.mtime(),
        status.mtime_nsec(),
        status.ctime(),
        status.ctime_nsec(),
        status.nlink(),
        status.size()
    );
    (ListingStamp(stamp), settled)
}

/// What a module directory's status says against the stamp a caller knows.
enum DirectoryStatus {
    Missing,
    Unchanged,
    /// Changed (or not known before): the new stamp, if settled.
    Changed(Option<ListingStamp>),
}

/// The directory's status against `known`. Read before any listing, so a change made during
/// the listing shows in the next status; and a stamp is only given out once settled, so no
/// later change can repeat it.
fn directory_status(
    dir: &Path,
    known: Option<&ListingStamp>,
) -> Result<DirectoryStatus, StorageError> {
    let checked_at = std::time::SystemTime::now();
    let Some(status) = not_found_is_none(std::fs::metadata(dir))? else {
        return Ok(DirectoryStatus::Missing);
    };
    let (stamp, settled) = directory_stamp(&status, checked_at);
    if known == Some(&stamp) {
        return Ok(DirectoryStatus::Unchanged);
    }
    Ok(DirectoryStatus::Changed(settled.then_some(stamp)))
}

/// The listing [`directory_status`] calls for: none if unchanged, else [`list_version_dir`].
fn list_version_dir_since(
    dir: &Path,
    status: DirectoryStatus,
) -> Result<VersionListing, StorageError> {
    match status {
        DirectoryStatus::Missing => Ok(VersionListing::Listed {
            versions: Vec::new(),
            stamp: None,
        }),
        DirectoryStatus::Unchanged => Ok(VersionListing::Unchanged),
        DirectoryStatus::Changed(stamp) => Ok(VersionListing::Listed {
            versions: list_version_dir(dir)?,
            stamp,
        }),
    }
}

/// The names of the directories in `dir` (none if it does not exist), skipping what is not
/// a directory (the namespace's `.uploads` mark) and names that are not UTF-8.
fn subdirectory_names(dir: &Path) -> Result<Vec<String>, StorageError> {
    let Some(entries) = not_found_is_none(std::fs::read_dir(dir))? else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// Every `{namespace}/{name}/{system}` directory under `modules_dir` that holds a version.
/// Directories whose names are not a module address (left by hand, or the temporary files
/// of a mark being written) are not modules; an emptied module directory (its last version
/// unpublished) lists no versions, so it is not one either.
fn list_module_dirs(modules_dir: &Path) -> Result<Vec<ModuleAddress>, StorageError> {
    let mut modules = Vec::new();
    for namespace in subdirectory_names(modules_dir)? {
        let namespace_dir = modules_dir.join(&namespace);
        for name in subdirectory_names(&namespace_dir)? {
            let name_dir = namespace_dir.join(&name);
            for system in subdirectory_names(&name_dir)? {
                let Ok(module) = ModuleAddress::new(&namespace, &name, &system) else {
                    continue;
                };
                if !list_version_dir(&name_dir.join(&system))?.is_empty() {
                    modules.push(module);
                }
            }
        }
    }
    sort_modules(&mut modules);
    Ok(modules)
}

/// Runs blocking file-system or database work on tokio's blocking threads. `what` names the
/// work in the error should its task fail (panic).
async fn blocking<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Backend(format!("{what} task failed: {e}")))?
}

fn not_found_is_none<T>(result: std::io::Result<T>) -> std::io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

#[async_trait]
impl ArchiveStore for FileArchiveStore {
    async fn list_versions(
        &self,
        module: &ModuleAddress,
    ) -> Result<Vec<ModuleVersion>, StorageError> {
        // One blocking task for the whole listing: tokio's `ReadDir` hands over 32 entries per
        // blocking task, and with thousands of versions those thread hand-offs, not the
        // directory read, were most of the request's time (tests/bench/RESULTS.md).
        let dir = self.module_dir(module);
        blocking("version listing", move || list_version_dir(&dir)).await
    }

    async fn list_versions_since(
        &self,
        module: &ModuleAddress,
        known: Option<&ListingStamp>,
    ) -> Result<VersionListing, StorageError> {
        // The status is read here, on the runtime's thread: a `stat` of a directory the
        // kernel has cached takes a few microseconds, and handing it to the blocking pool
        // (a thread wake-up there and one back) cost more than the whole rest of a versions
        // or download request (tests/bench/RESULTS.throughput.md, the profile). Only a
        // changed directory is listed, on the blocking pool.
        let dir = self.module_dir(module);
        let checked = directory_status(&dir, known)?;
        if let DirectoryStatus::Unchanged | DirectoryStatus::Missing = checked {
            return list_version_dir_since(&dir, checked);
        }
        blocking("version listing", move || {
            list_version_dir_since(&dir, checked)
        })
        .await
    }

    async fn list_modules(&self) -> Result<Vec<ModuleAddress>, StorageError> {
        let modules_dir = self.modules_dir.clone();
        blocking("module listing", move || list_module_dirs(&modules_dir)).await
    }

    async fn version_meta(&self, key: &ArchiveKey) -> Result<Option<VersionMeta>, StorageError> {
        let path = self.version_dir(key).join(META_FILE_NAME);
        let Some(bytes) = not_found_is_none(tokio::fs::read(&path).await)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StorageError::Corrupt(format!("{}: {e}", path.display())))
    }

    async fn publish(
        &self,
        key: &ArchiveKey,
        staged: PathBuf,
        meta: &VersionMeta,
    ) -> Result<PublishOutcome, StorageError> {
        if meta.is_uploaded() {
            self.mark_namespace_uploaded(&key.module.namespace).await?;
        }
        let store = self.clone();
        let key = key.clone();
        let meta = meta.clone();
        blocking("publish", move || {
            store.publish_blocking(&key, &staged, &meta)
        })
        .await
    }

    async fn namespace_has_uploads(&self, namespace: &str) -> Result<bool, StorageError> {
        Ok(tokio::fs::try_exists(self.uploads_mark(namespace)).await?)
    }

    async fn mark_namespace_uploaded(&self, namespace: &str) -> Result<(), StorageError> {
        let mark = self.uploads_mark(namespace);
        let staging_dir = self.staging_dir.clone();
        blocking("namespace mark", move || {
            if mark.exists() {
                return Ok(());
            }
            std::fs::create_dir_all(mark.parent().expect("a mark has a parent"))?;
            // Written whole in staging, then renamed: the mark is there or not, and a write
            // cut short leaves its file where a restart clears it.
            let mut file = tempfile::NamedTempFile::new_in(&staging_dir)?;
            file.write_all(b"this namespace holds modules uploaded to this registry\n")?;
            file.as_file().sync_all()?;
            file.persist(&mark).map_err(|e| e.error)?;
            if let Some(parent) = mark.parent() {
                std::fs::File::open(parent)?.sync_all()?;
            }
            Ok(())
        })
        .await
    }

    async fn unpublish(&self, key: &ArchiveKey) -> Result<bool, StorageError> {
        let store = self.clone();
        let key = key.clone();
        blocking("unpublish", move || store.unpublish_blocking(&key)).await
    }

    async fn open_archive(&self, key: &ArchiveKey) -> Result<Option<ArchiveBody>, StorageError> {
        let path = self.version_dir(key).join(ARCHIVE_FILE_NAME);
        let Some(file) = not_found_is_none(tokio::fs::File::open(&path).await)? else {
            return Ok(None);
        };
        let len = file.metadata().await?.len();
        Ok(Some(ArchiveBody {
            len,
            reader: Box::pin(file),
        }))
    }

    async fn put_docs(&self, key: &ArchiveKey, docs: &[u8]) -> Result<(), StorageError> {
        let dir = self.version_dir(key);
        let staging_dir = self.staging_dir.clone();
        let docs = docs.to_vec();
        blocking("docs", move || {
            if !dir.join(META_FILE_NAME).exists() {
                return Err(StorageError::Backend(format!(
                    "no published version in {}",
                    dir.display()
                )));
            }
            // Written whole in staging, then renamed: readers see old or new docs, and a
            // write cut short leaves no litter in the version's directory.
            let mut file = tempfile::NamedTempFile::new_in(&staging_dir)?;
            file.write_all(&docs)?;
            file.as_file().sync_all()?;
            file.persist(dir.join(DOCS_FILE_NAME))
                .map_err(|e| e.error)?;
            Ok(())
        })
        .await
    }

    async fn docs(&self, key: &ArchiveKey) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.version_dir(key).join(DOCS_FILE_NAME);
        Ok(not_found_is_none(tokio::fs::read(&path).await)?)
    }
}

impl FileArchiveStore {
    fn publish_blocking(
        &self,
        key: &ArchiveKey,
        staged: &Path,
        meta: &VersionMeta,
    ) -> Result<PublishOutcome, StorageError> {
        let final_dir = self.version_dir(key);
        if final_dir.join(META_FILE_NAME).exists() {
            let _ = std::fs::remove_file(staged);
            return Ok(PublishOutcome::AlreadyExists);
        }
        let version_dir = tempfile::Builder::new()
            .prefix("version-")
            .tempdir_in(&self.staging_dir)?;
        let archive_path = version_dir.path().join(ARCHIVE_FILE_NAME);
        if std::fs::rename(staged, &archive_path).is_err() {
            // A staged file on another file system: copy instead.
            std::fs::copy(staged, &archive_path)?;
            let _ = std::fs::remove_file(staged);
        }
        std::fs::File::open(&archive_path)?.sync_all()?;
        let mut meta_file = std::fs::File::create(version_dir.path().join(META_FILE_NAME))?;
        meta_file.write_all(&serde_json::to_vec_pretty(meta).expect("meta serialises"))?;
        meta_file.sync_all()?;
        std::fs::create_dir_all(final_dir.parent().expect("version dir has a parent"))?;
        match std::fs::rename(version_dir.path(), &final_dir) {
            Ok(()) => {
                // The directory is now the published version; do not let TempDir remove it.
                let _ = version_dir.keep();
                if let Some(parent) = final_dir.parent() {
                    std::fs::File::open(parent)?.sync_all()?;
                }
                Ok(PublishOutcome::Created)
            }
            // Linux reports ENOTEMPTY (39) or EEXIST when the target is a non-empty directory.
            Err(error)
                if error.kind() == std::io::ErrorKind::AlreadyExists
                    || error.kind() == std::io::ErrorKind::DirectoryNotEmpty
                    || error.raw_os_error() == Some(39) =>
            {
                Ok(PublishOutcome::AlreadyExists)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Takes the version out of `modules/` in one `rename` into the staging directory, then
    /// deletes it there. Readers see the whole version or nothing (a reader that already has
    /// the archive open keeps reading it), and of concurrent unpublishers only one `rename`
    /// finds the directory. The emptied module directories are left in place: removing one
    /// could pull it from under a concurrent publish between its `create_dir_all` and its
    /// `rename`, and an empty module directory lists no versions anyway.
    fn unpublish_blocking(&self, key: &ArchiveKey) -> Result<bool, StorageError> {
        let version_dir = self.version_dir(key);
        let doomed = self
            .staging_dir
            .join(format!("unpublished-{:032x}", rand::random::<u128>()));
        match std::fs::rename(&version_dir, &doomed) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(error.into()),
        }
        if let Some(parent) = version_dir.parent() {
            std::fs::File::open(parent)?.sync_all()?;
        }
        // The version is gone from `modules/` already; a leftover in staging is only litter.
        if let Err(error) = std::fs::remove_dir_all(&doomed) {
            tracing::warn!(path = %doomed.display(), %error, "could not delete an unpublished version from staging");
        }
        Ok(true)
    }
}

const TOKENS_BY_HASH: TableDefinition<&str, &str> = TableDefinition::new("tokens_by_hash");
const TOKEN_HASH_BY_NAME: TableDefinition<&str, &str> = TableDefinition::new("token_hash_by_name");
/// Pin records as JSON, keyed by `{namespace}/{name}/{system}/{version}`. In the token
/// database because one process cannot open a redb file twice, and `tfreg serve` already has
/// this one open.
const PINS: TableDefinition<&str, &str> = TableDefinition::new("pins");

/// Tokens in a redb database: records keyed by token hash, and a name index. redb write
/// transactions are serialised, so "create unless the name exists" is atomic. The same
/// database holds the pin records ([`PinStore`]).
#[derive(Clone)]
pub struct RedbTokenStore {
    db: Arc<Database>,
}

fn backend(error: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(error.to_string())
}

impl RedbTokenStore {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = Database::create(path).map_err(backend)?;
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(TOKENS_BY_HASH).map_err(backend)?;
        txn.open_table(TOKEN_HASH_BY_NAME).map_err(backend)?;
        txn.open_table(PINS).map_err(backend)?;
        txn.commit().map_err(backend)?;
        Ok(RedbTokenStore { db: Arc::new(db) })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let db = self.db.clone();
        blocking("token database", move || work(&db)).await
    }
}

fn decode_token(json: &str) -> Result<TokenRecord, StorageError> {
    serde_json::from_str(json).map_err(|e| StorageError::Corrupt(format!("token record: {e}")))
}

/// The value under `key` in `table`, decoded; `None` when there is none.
fn read_one<T>(
    db: &Database,
    table: TableDefinition<&str, &str>,
    key: &str,
    decode: impl FnOnce(&str) -> Result<T, StorageError>,
) -> Result<Option<T>, StorageError> {
    let txn = db.begin_read().map_err(backend)?;
    let table = txn.open_table(table).map_err(backend)?;
    let found = table.get(key).map_err(backend)?;
    found.map(|value| decode(value.value())).transpose()
}

/// Every value in `table`, decoded, in key order.
fn read_all<T>(
    db: &Database,
    table: TableDefinition<&str, &str>,
    decode: impl Fn(&str) -> Result<T, StorageError>,
) -> Result<Vec<T>, StorageError> {
    let txn = db.begin_read().map_err(backend)?;
    let table = txn.open_table(table).map_err(backend)?;
    let mut decoded = Vec::new();
    for entry in table.iter().map_err(backend)? {
        let (_, value) = entry.map_err(backend)?;
        decoded.push(decode(value.value())?);
    }
    Ok(decoded)
}

#[async_trait]
impl TokenStore for RedbTokenStore {
    async fn create(&self, record: &TokenRecord) -> Result<CreateOutcome, StorageError> {
        let record = record.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut names = txn.open_table(TOKEN_HASH_BY_NAME).map_err(backend)?;
                if names
                    .get(record.token_name.as_str())
                    .map_err(backend)?
                    .is_some()
                {
                    return Ok(CreateOutcome::NameTaken);
                }
                names
                    .insert(record.token_name.as_str(), record.token_hash.as_str())
                    .map_err(backend)?;
                let mut by_hash = txn.open_table(TOKENS_BY_HASH).map_err(backend)?;
                let json = serde_json::to_string(&record).expect("record serialises");
                by_hash
                    .insert(record.token_hash.as_str(), json.as_str())
                    .map_err(backend)?;
            }
            txn.commit().map_err(backend)?;
            Ok(CreateOutcome::Created)
        })
        .await
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StorageError> {
        let hash = hash.as_hex().to_owned();
        self.run(move |db| read_one(db, TOKENS_BY_HASH, &hash, decode_token))
            .await
    }

    async fn find_by_name(&self, name: &str) -> Result<Option<TokenRecord>, StorageError> {
        let name = name.to_owned();
        self.run(move |db| {
            let Some(hash) = read_one(db, TOKEN_HASH_BY_NAME, &name, |hash| Ok(hash.to_owned()))?
            else {
                return Ok(None);
            };
            read_one(db, TOKENS_BY_HASH, &hash, decode_token)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, StorageError> {
        self.run(|db| {
            let mut records = read_all(db, TOKENS_BY_HASH, decode_token)?;
            records.sort_by(|a, b| a.token_name.cmp(&b.token_name));
            Ok(records)
        })
        .await
    }

    async fn delete_by_name(&self, name: &str) -> Result<bool, StorageError> {
        let name = name.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            let existed = {
                let mut names = txn.open_table(TOKEN_HASH_BY_NAME).map_err(backend)?;
                let removed = names.remove(name.as_str()).map_err(backend)?;
                match removed {
                    Some(hash) => {
                        let hash = hash.value().to_owned();
                        let mut by_hash = txn.open_table(TOKENS_BY_HASH).map_err(backend)?;
                        by_hash.remove(hash.as_str()).map_err(backend)?;
                        true
                    }
                    None => false,
                }
            };
            txn.commit().map_err(backend)?;
            Ok(existed)
        })
        .await
    }

    /// Expired tokens go, exchanged ones above all (a CI job makes one per run).
    async fn purge_expired(&self, now: u64) -> Result<(), StorageError> {
        let expired: Vec<String> = self
            .list()
            .await?
            .into_iter()
            .filter(|token| token.expires_at.is_some_and(|at| at <= now))
            .map(|token| token.token_name)
            .collect();
        for name in expired {
            self.delete_by_name(&name).await?;
        }
        Ok(())
    }
}

/// The `pins` table's key of a module version.
fn pin_key(key: &ArchiveKey) -> String {
    format!("{}/{}", key.module, key.version)
}

fn decode_pin(json: &str) -> Result<PinRecord, StorageError> {
    serde_json::from_str(json).map_err(|e| StorageError::Corrupt(format!("pin record: {e}")))
}

#[async_trait]
impl PinStore for RedbTokenStore {
    async fn put_pin(&self, pin: &PinRecord) -> Result<(), StorageError> {
        let key = pin
            .key()
            .map_err(|e| StorageError::Backend(format!("refusing to store a pin: {e}")))?;
        let key = pin_key(&key);
        let json = serde_json::to_string(pin).expect("pin record serialises");
        self.run(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut pins = txn.open_table(PINS).map_err(backend)?;
                pins.insert(key.as_str(), json.as_str()).map_err(backend)?;
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn get_pin(&self, key: &ArchiveKey) -> Result<Option<PinRecord>, StorageError> {
        let key = pin_key(key);
        self.run(move |db| read_one(db, PINS, &key, decode_pin))
            .await
    }

    async fn list_pins(&self) -> Result<Vec<PinRecord>, StorageError> {
        self.run(|db| {
            let mut pins = read_all(db, PINS, decode_pin)?;
            sort_pins(&mut pins);
            Ok(pins)
        })
        .await
    }

    async fn delete_pin(&self, key: &ArchiveKey) -> Result<bool, StorageError> {
        let key = pin_key(key);
        self.run(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            let existed = {
                let mut pins = txn.open_table(PINS).map_err(backend)?;
                let removed = pins.remove(key.as_str()).map_err(backend)?;
                removed.is_some()
            };
            txn.commit().map_err(backend)?;
            Ok(existed)
        })
        .await
    }
}

/// Removes everything in `dir` (not `dir` itself); returns how many entries it removed. For
/// scratch directories on start: what is there was left by a run that was killed mid-write.
pub fn clear_dir(dir: &Path) -> std::io::Result<usize> {
    let mut cleared = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let removed = if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            Ok(()) => cleared += 1,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok(cleared)
}
