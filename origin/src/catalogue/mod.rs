//! The module catalogue: one entry per module (its latest version, description, provenance
//! and README keywords), kept current on publish, pin, proxy fill and unpin, and read whole
//! by the list and search endpoints.
//!
//! It is stored as one JSON object ([`CatalogueStore`]): a file in `tfreg serve`'s data
//! directory, an S3 object on AWS (written by compare-and-swap on its ETag, like each module's
//! `versions.json`), so a list or search never lists the bucket. [`Catalogue`] keeps the parsed
//! [`CatalogueIndex`] in memory and reloads it only when the stored object changed (asked at
//! most every [`CatalogueStore::refresh_interval`]).
//!
//! The catalogue is derived data: a lost update (a crash between publishing a version and
//! recording it) is repaired by `tfreg reindex --all`, which rebuilds it from the archives.

mod from_store;
mod index;
mod stores;
#[cfg(test)]
mod tests;
mod words;

pub use from_store::{entry_from_store, latest_version};
pub use index::{CatalogueIndex, Filter, Page};
pub use stores::{FileCatalogueStore, MemoryCatalogueStore};
pub use words::{query_words, readme_keywords, MAX_README_WORDS};

use crate::storage::StorageError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// One module as the catalogue knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueEntry {
    pub namespace: String,
    pub name: String,
    pub system: String,
    /// The latest version: the highest release, or the highest pre-release when there is no
    /// release.
    pub version: String,
    /// How many versions the module has.
    pub versions: usize,
    /// The README's first paragraph (the Registry API's `description`).
    pub description: String,
    /// When the latest version was published here (RFC 3339).
    pub published_at: String,
    /// The token that published the latest version.
    pub owner: String,
    /// `upload`, `pin` or `proxy`, as the latest version's metadata says.
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_url: Option<String>,
    /// The repository URL the publisher gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_url: Option<String>,
    /// The README's telling words ([`readme_keywords`]), for search.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

impl CatalogueEntry {
    pub fn address_key(&self) -> (&str, &str, &str) {
        (&self.namespace, &self.name, &self.system)
    }

    pub fn address(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.name, self.system)
    }

    pub fn is_proxied(&self) -> bool {
        self.origin == "proxy"
    }

    /// Uploaded here (not pinned or proxied): as [`crate::storage::VersionMeta::is_uploaded`].
    pub fn is_uploaded(&self) -> bool {
        !matches!(self.origin.as_str(), "pin" | "proxy")
    }
}

/// The stored object.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CatalogueFile {
    pub modules: Vec<CatalogueEntry>,
}

/// What a read of the stored catalogue found.
pub enum CatalogueRead {
    /// Nothing is stored yet.
    Missing,
    /// The stored object still has the tag the caller knows.
    Unchanged,
    Found {
        bytes: Vec<u8>,
        tag: String,
    },
}

/// Where the catalogue object lives.
#[async_trait]
pub trait CatalogueStore: Send + Sync {
    /// The stored object, unless its tag is `known` (then [`CatalogueRead::Unchanged`]).
    async fn read(&self, known: Option<&str>) -> Result<CatalogueRead, StorageError>;

    /// Stores `bytes` if the stored object's tag is still `expected` (`None`: if nothing is
    /// stored). Returns the new tag, or `None` when someone else wrote first.
    async fn write(
        &self,
        bytes: Vec<u8>,
        expected: Option<&str>,
    ) -> Result<Option<String>, StorageError>;

    /// How long a loaded catalogue is used before the store is asked whether it changed.
    fn refresh_interval(&self) -> Duration;
}

/// How often a compare-and-swap is tried before an edit gives up.
const EDIT_ATTEMPTS: u32 = 12;

/// Which stored entries are shown (the registry hides proxied modules it would not serve):
/// given an entry and the namespaces that hold an uploaded module.
pub type Visibility = dyn Fn(&CatalogueEntry, &HashSet<&str>) -> bool + Send + Sync;

struct Loaded {
    index: Arc<CatalogueIndex>,
    tag: Option<String>,
    checked: Instant,
}

/// A change to the stored entries; true when it changed something.
type Edit = Box<dyn Fn(&mut Vec<CatalogueEntry>) -> bool + Send + Sync>;

/// An edit waiting for the next write, and where its outcome goes.
struct Queued {
    edit: Edit,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// The catalogue as the registry uses it: a cached, searchable snapshot, and edits.
pub struct Catalogue {
    store: Arc<dyn CatalogueStore>,
    visible: Box<Visibility>,
    loaded: RwLock<Option<Loaded>>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    /// Edits waiting for a write. Each write is a read, parse and rewrite of the whole
    /// catalogue, so concurrent publishes in one process share one: the next writer applies
    /// every queued edit at once (without this, each publish rewrote it alone and they raced
    /// on the compare-and-swap; under 32 concurrent uploads of new modules, 13x slower and
    /// memory growing with the catalogue).
    queued: std::sync::Mutex<Vec<Queued>>,
    /// One writer at a time in this process (other processes meet at the compare-and-swap).
    writing: tokio::sync::Mutex<()>,
    /// The stored entries as this process last wrote them, with their tag: the next edit
    /// starts from them when the store says the tag is unchanged, rather than reading and
    /// parsing the whole object again. Only the writer touches it.
    written: std::sync::Mutex<Option<(String, Vec<CatalogueEntry>)>>,
}

impl Catalogue {
    pub fn new(store: Arc<dyn CatalogueStore>) -> Self {
        Catalogue {
            store,
            visible: Box::new(|_, _| true),
            loaded: RwLock::new(None),
            reloading: tokio::sync::Mutex::new(()),
            queued: std::sync::Mutex::new(Vec::new()),
            writing: tokio::sync::Mutex::new(()),
            written: std::sync::Mutex::new(None),
        }
    }

    /// Shows only the entries `visible` lets through.
    pub fn with_visibility(mut self, visible: Box<Visibility>) -> Self {
        self.visible = visible;
        self
    }

    /// The current catalogue: the one in memory while it is fresh, else reloaded if the stored
    /// object changed.
    pub async fn snapshot(&self) -> Result<Arc<CatalogueIndex>, StorageError> {
        if let Some(index) = self.fresh() {
            return Ok(index);
        }
        let _one_at_a_time = self.reloading.lock().await;
        if let Some(index) = self.fresh() {
            return Ok(index);
        }
        let known = self
            .loaded
            .read()
            .expect("catalogue lock")
            .as_ref()
            .and_then(|loaded| loaded.tag.clone());
        let (index, tag) = match self.store.read(known.as_deref()).await? {
            CatalogueRead::Unchanged => {
                let mut loaded = self.loaded.write().expect("catalogue lock");
                if let Some(loaded) = loaded.as_mut() {
                    loaded.checked = Instant::now();
                    return Ok(loaded.index.clone());
                }
                return Err(StorageError::Backend(
                    "the catalogue store answered `unchanged` to a first read".into(),
                ));
            }
            CatalogueRead::Missing => (Arc::new(CatalogueIndex::default()), None),
            CatalogueRead::Found { bytes, tag } => {
                let file = parse(&bytes)?;
                (Arc::new(self.index(&file.modules)), Some(tag))
            }
        };
        self.remember(index.clone(), tag);
        Ok(index)
    }

    /// Applies `edit` to the stored catalogue by compare-and-swap, tried again while other
    /// writers win. `edit` returns whether it changed anything (nothing is written otherwise).
    /// Edits queued meanwhile in this process are written with it, in one rewrite.
    pub async fn edit<F>(&self, edit: F) -> Result<(), StorageError>
    where
        F: Fn(&mut Vec<CatalogueEntry>) -> bool + Send + Sync + 'static,
    {
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.queued.lock().expect("catalogue queue").push(Queued {
            edit: Box::new(edit),
            done,
        });
        {
            let _writer = self.writing.lock().await;
            // Empty when the writer before took this edit along.
            let batch = std::mem::take(&mut *self.queued.lock().expect("catalogue queue"));
            if !batch.is_empty() {
                let edits: Vec<&Edit> = batch.iter().map(|queued| &queued.edit).collect();
                let result = self.apply(&edits).await.map_err(|e| e.to_string());
                for queued in batch {
                    let _ = queued.done.send(result.clone());
                }
            }
        }
        match outcome.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StorageError::Backend(message)),
            Err(_) => Err(StorageError::Backend(
                "the module catalogue update was interrupted".into(),
            )),
        }
    }

    /// Applies `edits` together in one compare-and-swap of the stored catalogue.
    async fn apply(&self, edits: &[&Edit]) -> Result<(), StorageError> {
        for attempt in 0..EDIT_ATTEMPTS {
            let last = self.written.lock().expect("catalogue written").take();
            let known = last.as_ref().map(|(tag, _)| tag.as_str());
            let (mut file, expected) = match self.store.read(known).await? {
                CatalogueRead::Unchanged => match last {
                    Some((tag, modules)) => (CatalogueFile { modules }, Some(tag)),
                    None => (CatalogueFile::default(), None),
                },
                CatalogueRead::Missing => (CatalogueFile::default(), None),
                CatalogueRead::Found { bytes, tag } => (parse(&bytes)?, Some(tag)),
            };
            let mut changed = false;
            for edit in edits {
                changed |= edit(&mut file.modules);
            }
            if !changed {
                if let Some(tag) = expected {
                    *self.written.lock().expect("catalogue written") = Some((tag, file.modules));
                }
                return Ok(());
            }
            file.modules
                .sort_by(|a, b| a.address_key().cmp(&b.address_key()));
            let bytes = serde_json::to_vec(&file).expect("the catalogue serialises");
            if let Some(tag) = self.store.write(bytes, expected.as_deref()).await? {
                let index = Arc::new(self.index(&file.modules));
                self.remember(index, Some(tag.clone()));
                *self.written.lock().expect("catalogue written") = Some((tag, file.modules));
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5 << attempt.min(6))).await;
        }
        Err(StorageError::Backend(
            "updating the module catalogue: it kept changing under us".into(),
        ))
    }

    /// Puts `entry` in place of the module's entry, unless `keep` says to keep the one there.
    pub async fn upsert(
        &self,
        entry: CatalogueEntry,
        keep: fn(&CatalogueEntry) -> bool,
    ) -> Result<(), StorageError> {
        self.edit(move |modules| {
            match modules
                .iter_mut()
                .find(|e| e.address_key() == entry.address_key())
            {
                Some(existing) if *existing == entry || keep(existing) => false,
                Some(existing) => {
                    *existing = entry.clone();
                    true
                }
                None => {
                    modules.push(entry.clone());
                    true
                }
            }
        })
        .await
    }

    /// Takes a module's entry out.
    pub async fn remove(
        &self,
        namespace: &str,
        name: &str,
        system: &str,
    ) -> Result<(), StorageError> {
        let key = (namespace.to_owned(), name.to_owned(), system.to_owned());
        self.edit(move |modules| {
            let before = modules.len();
            modules.retain(|e| e.address_key() != (key.0.as_str(), key.1.as_str(), key.2.as_str()));
            modules.len() != before
        })
        .await
    }

    /// Replaces the whole catalogue (`tfreg reindex --all`), whatever is stored, readable or
    /// not.
    pub async fn replace_all(&self, mut entries: Vec<CatalogueEntry>) -> Result<(), StorageError> {
        entries.sort_by(|a, b| a.address_key().cmp(&b.address_key()));
        let file = CatalogueFile { modules: entries };
        let bytes = serde_json::to_vec(&file).expect("the catalogue serialises");
        for attempt in 0..EDIT_ATTEMPTS {
            let expected = match self.store.read(None).await? {
                CatalogueRead::Missing | CatalogueRead::Unchanged => None,
                CatalogueRead::Found { tag, .. } => Some(tag),
            };
            if let Some(tag) = self.store.write(bytes.clone(), expected.as_deref()).await? {
                self.remember(Arc::new(self.index(&file.modules)), Some(tag));
                *self.written.lock().expect("catalogue written") = None;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5 << attempt.min(6))).await;
        }
        Err(StorageError::Backend(
            "replacing the module catalogue: it kept changing under us".into(),
        ))
    }

    fn fresh(&self) -> Option<Arc<CatalogueIndex>> {
        let loaded = self.loaded.read().expect("catalogue lock");
        let loaded = loaded.as_ref()?;
        (loaded.checked.elapsed() < self.store.refresh_interval()).then(|| loaded.index.clone())
    }

    fn remember(&self, index: Arc<CatalogueIndex>, tag: Option<String>) {
        *self.loaded.write().expect("catalogue lock") = Some(Loaded {
            index,
            tag,
            checked: Instant::now(),
        });
    }

    fn index(&self, modules: &[CatalogueEntry]) -> CatalogueIndex {
        let uploaded: HashSet<&str> = modules
            .iter()
            .filter(|entry| entry.is_uploaded())
            .map(|entry| entry.namespace.as_str())
            .collect();
        let shown = modules
            .iter()
            .filter(|entry| (self.visible)(entry, &uploaded))
            .cloned()
            .collect();
        CatalogueIndex::build(shown)
    }
}

fn parse(bytes: &[u8]) -> Result<CatalogueFile, StorageError> {
    serde_json::from_slice(bytes).map_err(|error| {
        StorageError::Corrupt(format!(
            "the module catalogue is not readable ({error}); `tfreg reindex --all` rebuilds it"
        ))
    })
}
