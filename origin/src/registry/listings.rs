//! The per-process cache of module version lists, and of what the versions answer needs beside
//! each (the latest version's repository URL, the rendered answer), so that a versions request
//! costs the same at 10 versions as at 5,000.
//!
//! Nothing here is trusted without asking the store: every request passes the cached
//! [`ListingStamp`] to [`ArchiveStore::list_versions_since`], which answers "unchanged" cheaply
//! (a `stat` of the module directory; an S3 GET with `If-None-Match`, `304` without a body)
//! or the new list. So a publish or unpublish by another process (or another Lambda container)
//! shows in the next answer; in this process, publishes, unpublishes, pins and unpins also
//! drop the entry at once ([`ListingCache::forget`]).
//!
//! Namespace marks are cached once seen: nothing in the registry removes a mark (making a
//! namespace public again is an operator's deliberate act, which takes a restart to be seen
//! by a running process); a namespace without a mark is asked about every time.

use crate::catalogue::latest_version;
use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use crate::storage::{ArchiveStore, ListingStamp, StorageError, VersionListing, VersionMeta};
use lru::LruCache;
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock};

/// Modules whose lists are kept.
pub const CACHED_MODULES: usize = 4096;

/// Versions kept across all cached modules (each costs about 100 bytes with its share of the
/// rendered answer): a bound on memory that module count alone does not give, since one
/// module can have thousands.
pub const CACHED_VERSIONS: usize = 500_000;

/// Namespaces known to hold uploads.
const CACHED_MARKS: usize = 4096;

/// A module's local versions as last listed, with what the versions answer needs.
#[derive(Debug)]
pub(super) struct ModuleListing {
    /// Sorted (semver order), without duplicates.
    pub versions: Vec<ModuleVersion>,
    /// The repository URL the latest version was published with, if any.
    pub repository_url: Option<String>,
    /// The versions answer when the upstream registry adds nothing: the JSON body.
    pub local_answer: Vec<u8>,
    /// Its gzip, made when a client first asks for it; `None` when it is not smaller.
    local_answer_gzip: OnceLock<Option<Vec<u8>>>,
    /// Metadata of listed versions as read (downloads and details need it): a version does
    /// not change while it is listed, and a publish or unpublish makes a new listing.
    metas: Mutex<HashMap<ModuleVersion, VersionMeta>>,
}

impl ModuleListing {
    async fn read(
        store: &dyn ArchiveStore,
        module: &ModuleAddress,
        mut versions: Vec<ModuleVersion>,
    ) -> Result<Self, StorageError> {
        versions.sort();
        versions.dedup();
        let mut metas = HashMap::new();
        let repository_url = match latest_version(&versions) {
            Some(latest) => {
                let meta = store
                    .version_meta(&ArchiveKey::new(module.clone(), latest.clone()))
                    .await?;
                let url = meta.as_ref().and_then(|meta| meta.repository_url.clone());
                if let Some(meta) = meta {
                    metas.insert(latest.clone(), meta);
                }
                url
            }
            None => None,
        };
        let local_answer = render_versions(module, &versions, repository_url.as_deref());
        Ok(ModuleListing {
            versions,
            repository_url,
            local_answer,
            local_answer_gzip: OnceLock::new(),
            metas: Mutex::new(metas),
        })
    }

    /// [`ModuleListing::local_answer`] gzipped, if that is smaller (a list of a few versions
    /// is not): made once per listing, not per request.
    pub fn local_answer_gzip(&self) -> Option<&[u8]> {
        self.local_answer_gzip
            .get_or_init(|| {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                encoder.write_all(&self.local_answer).ok()?;
                let compressed = encoder.finish().ok()?;
                (compressed.len() < self.local_answer.len()).then_some(compressed)
            })
            .as_deref()
    }

    pub fn is_listed(&self, version: &ModuleVersion) -> bool {
        self.versions.binary_search(version).is_ok()
    }
}

/// The versions answer's JSON body, for `versions` in the order given.
pub(super) fn render_versions(
    module: &ModuleAddress,
    versions: &[ModuleVersion],
    repository_url: Option<&str>,
) -> Vec<u8> {
    let versions: Vec<_> = versions
        .iter()
        .map(|v| json!({ "version": v.to_string() }))
        .collect();
    // `source` is where update bots (Renovate) look for release notes when it is an
    // http(s) URL; otherwise the module's address, as before.
    let source = repository_url.map_or_else(|| module.to_string(), str::to_owned);
    serde_json::to_vec(&json!({ "modules": [{ "source": source, "versions": versions }] }))
        .expect("a versions answer serialises")
}

struct Entry {
    stamp: ListingStamp,
    listing: Arc<ModuleListing>,
}

struct Entries {
    modules: LruCache<ModuleAddress, Entry>,
    versions: usize,
}

pub(super) struct ListingCache {
    entries: Mutex<Entries>,
    marked_namespaces: Mutex<LruCache<String, ()>>,
    max_versions: usize,
}

impl Default for ListingCache {
    fn default() -> Self {
        ListingCache::new(CACHED_MODULES, CACHED_VERSIONS)
    }
}

impl ListingCache {
    pub fn new(max_modules: usize, max_versions: usize) -> Self {
        let modules = NonZeroUsize::new(max_modules.max(1)).expect("at least one");
        ListingCache {
            entries: Mutex::new(Entries {
                modules: LruCache::new(modules),
                versions: 0,
            }),
            marked_namespaces: Mutex::new(LruCache::new(
                NonZeroUsize::new(CACHED_MARKS).expect("not zero"),
            )),
            max_versions,
        }
    }

    /// The module's local versions: the cached listing if the store says it is unchanged,
    /// else a new one (kept if the store gave a stamp for it).
    pub async fn listing(
        &self,
        store: &dyn ArchiveStore,
        module: &ModuleAddress,
    ) -> Result<Arc<ModuleListing>, StorageError> {
        let cached = {
            let mut entries = self.entries.lock().expect("listing cache lock");
            entries
                .modules
                .get(module)
                .map(|entry| (entry.stamp.clone(), entry.listing.clone()))
        };
        let known = cached.as_ref().map(|(stamp, _)| stamp);
        let (versions, stamp) = match store.list_versions_since(module, known).await? {
            VersionListing::Unchanged => match cached {
                Some((_, listing)) => return Ok(listing),
                // A store that says "unchanged" to a caller that knew nothing: list.
                None => (store.list_versions(module).await?, None),
            },
            VersionListing::Listed { versions, stamp } => (versions, stamp),
        };
        let listing = Arc::new(ModuleListing::read(store, module, versions).await?);
        let mut entries = self.entries.lock().expect("listing cache lock");
        let Entries {
            modules,
            versions: total,
        } = &mut *entries;
        if let Some(old) = modules.pop(module) {
            *total -= old.listing.versions.len();
        }
        if let Some(stamp) = stamp {
            *total += listing.versions.len();
            if let Some((_, evicted)) = modules.push(
                module.clone(),
                Entry {
                    stamp,
                    listing: listing.clone(),
                },
            ) {
                *total -= evicted.listing.versions.len();
            }
            while *total > self.max_versions {
                let Some((_, evicted)) = modules.pop_lru() else {
                    break;
                };
                *total -= evicted.listing.versions.len();
            }
        }
        Ok(listing)
    }

    /// A version's metadata: read once while the version is listed ([`ModuleListing::metas`]),
    /// from the store each time otherwise (a version the listing does not show: none, or
    /// one published since by a store that lists late).
    pub async fn version_meta(
        &self,
        store: &dyn ArchiveStore,
        key: &ArchiveKey,
    ) -> Result<Option<VersionMeta>, StorageError> {
        let listing = self.listing(store, &key.module).await?;
        if !listing.is_listed(&key.version) {
            return store.version_meta(key).await;
        }
        if let Some(meta) = listing.metas.lock().expect("meta lock").get(&key.version) {
            return Ok(Some(meta.clone()));
        }
        let meta = store.version_meta(key).await?;
        if let Some(meta) = &meta {
            let mut metas = listing.metas.lock().expect("meta lock");
            metas.insert(key.version.clone(), meta.clone());
        }
        Ok(meta)
    }

    /// Drops what is cached of `module`: called after this process publishes or unpublishes
    /// one of its versions.
    pub fn forget(&self, module: &ModuleAddress) {
        let mut entries = self.entries.lock().expect("listing cache lock");
        if let Some(old) = entries.modules.pop(module) {
            entries.versions -= old.listing.versions.len();
        }
    }

    /// How many modules and versions are cached.
    #[cfg(test)]
    pub fn size(&self) -> (usize, usize) {
        let entries = self.entries.lock().expect("listing cache lock");
        (entries.modules.len(), entries.versions)
    }

    /// Whether `namespace` holds uploads: the cached answer once a mark was seen, else the
    /// store's.
    pub async fn namespace_has_uploads(
        &self,
        store: &dyn ArchiveStore,
        namespace: &str,
    ) -> Result<bool, StorageError> {
        let known = {
            let mut marks = self.marked_namespaces.lock().expect("mark cache lock");
            marks.get(namespace).is_some()
        };
        if known {
            return Ok(true);
        }
        let marked = store.namespace_has_uploads(namespace).await?;
        if marked {
            let mut marks = self.marked_namespaces.lock().expect("mark cache lock");
            marks.put(namespace.to_owned(), ());
        }
        Ok(marked)
    }
}
