//! Bringing derived records back in line with the versions after a crash: a process killed
//! between publishing (or removing) a version and recording it leaves the catalogue behind,
//! a version without its docs, and a pin without its record (or a record without its pin). `tfreg serve` runs this on
//! every start over embedded storage, where the versions in the data directory are the truth
//! and reading them all is cheap.

use super::pins::pin_record;
use super::Registry;
use crate::catalogue::entry_from_store;
use crate::docs::backfill::{backfill_docs, BackfillOutcome};
use crate::names::ArchiveKey;
use crate::storage::StorageError;

/// What [`Registry::reconcile`] found and put right.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Modules in the rebuilt catalogue (own and proxied).
    pub catalogue_modules: usize,
    /// Pinned versions whose record was missing, now written.
    pub pin_records_written: usize,
    /// Records of pins whose version is gone, now deleted.
    pub pin_records_deleted: usize,
    /// Versions whose docs were missing, now extracted from their archives.
    pub docs_extracted: usize,
}

impl Registry {
    /// Extracts the docs of versions that have none, makes the pin records agree with the
    /// pinned versions, and rebuilds the catalogue from the archive stores (after the docs,
    /// so that descriptions are there). Idempotent; safe to cut short and run again.
    pub async fn reconcile(&self) -> Result<Reconciled, StorageError> {
        let mut reconciled = Reconciled::default();
        let modules = self.archives.list_modules().await?;
        for module in &modules {
            for version in self.archives.list_versions(module).await? {
                let key = ArchiveKey::new(module.clone(), version);
                let Some(meta) = self.archives.version_meta(&key).await? else {
                    continue;
                };
                if self.archives.docs(&key).await?.is_none() {
                    // Killed between publishing the version and storing its docs.
                    // Docs are derived: a version whose docs cannot be made now is still
                    // served, so this is reported, not fatal.
                    match backfill_docs(self.archives.as_ref(), &key, &self.config.scratch_dir)
                        .await
                    {
                        Ok(BackfillOutcome::Extracted { .. }) => reconciled.docs_extracted += 1,
                        Ok(_) => {}
                        Err(error) => {
                            tracing::warn!(module = %key.module, version = %key.version, %error, "could not extract the docs of a version that has none")
                        }
                    }
                }
                let Some(pins) = &self.pins else { continue };
                if meta.source == "pin" && pins.get_pin(&key).await?.is_none() {
                    pins.put_pin(&pin_record(&key, &meta, &meta.uploader, false))
                        .await?;
                    reconciled.pin_records_written += 1;
                }
            }
        }
        if let Some(pins) = &self.pins {
            for pin in pins.list_pins().await? {
                let Ok(key) = pin.key() else { continue };
                let pinned = self.archives.version_meta(&key).await?;
                if pinned.is_none_or(|meta| meta.source != "pin") {
                    pins.delete_pin(&key).await?;
                    reconciled.pin_records_deleted += 1;
                }
            }
        }
        let mut entries = Vec::new();
        for module in &modules {
            if let Some(entry) = entry_from_store(self.archives.as_ref(), module).await? {
                entries.push(entry);
            }
        }
        if let Some(proxy) = &self.proxy {
            for module in proxy.cache().list_modules().await? {
                if modules.contains(&module) {
                    continue;
                }
                if let Some(entry) = entry_from_store(proxy.cache().as_ref(), &module).await? {
                    entries.push(entry);
                }
            }
        }
        reconciled.catalogue_modules = entries.len();
        self.catalogue().replace_all(entries).await?;
        Ok(reconciled)
    }
}
