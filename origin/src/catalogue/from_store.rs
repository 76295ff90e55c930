//! A module's catalogue entry, computed from what its archive store holds: the versions, the
//! latest one's metadata and its stored docs. The registry calls it after every change to a
//! module; `tfreg reindex --all` calls it for every module.

use super::{readme_keywords, CatalogueEntry};
use crate::docs::stored::{description, load_docs};
use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use crate::storage::{ArchiveStore, StorageError};

/// The version a module's listing shows: the highest release, or the highest pre-release when
/// there is no release (as Terraform picks with no constraint).
pub fn latest_version(versions: &[ModuleVersion]) -> Option<&ModuleVersion> {
    versions
        .iter()
        .filter(|v| v.semver().pre.is_empty())
        .max()
        .or_else(|| versions.iter().max())
}

/// The entry of `module` as `store` holds it; `None` when it has no versions there.
pub async fn entry_from_store(
    store: &dyn ArchiveStore,
    module: &ModuleAddress,
) -> Result<Option<CatalogueEntry>, StorageError> {
    let versions = store.list_versions(module).await?;
    let Some(latest) = latest_version(&versions) else {
        return Ok(None);
    };
    let key = ArchiveKey::new(module.clone(), latest.clone());
    let Some(meta) = store.version_meta(&key).await? else {
        // Removed between the listing and now: whoever removed it records the module again.
        return Ok(None);
    };
    let (description, keywords) = match load_docs(store, &key, &meta.sha256).await {
        Ok(docs) => (
            description(&docs.root.readme),
            readme_keywords(&docs.root.readme),
        ),
        Err(_) => (String::new(), Vec::new()),
    };
    Ok(Some(CatalogueEntry {
        namespace: module.namespace.clone(),
        name: module.name.clone(),
        system: module.system.clone(),
        version: latest.to_string(),
        versions: versions.len(),
        description,
        published_at: meta.uploaded_at,
        owner: meta.uploader,
        origin: meta.source,
        origin_url: meta.origin_url,
        repository_url: meta.repository_url,
        keywords,
    }))
}
