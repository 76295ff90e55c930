//! The per-module `versions.json` index: read, written by compare-and-swap on its ETag,
//! edited as versions come and go, and rebuilt from a listing of the module's objects.

use super::*;

/// The body of `versions.json`.
#[derive(Serialize, Deserialize)]
pub(super) struct VersionIndex {
    versions: Vec<String>,
}

/// `versions.json` as read, with the ETag a compare-and-swap needs.
pub(super) enum IndexState {
    Missing,
    /// `versions` is `None` when the object is not a readable index.
    Found {
        etag: String,
        versions: Option<BTreeSet<ModuleVersion>>,
    },
}

/// The condition an index write is made under.
pub(super) enum IndexPrecondition {
    /// `If-None-Match: *`
    Absent,
    /// `If-Match: <etag>`
    Unchanged(String),
}

/// What [`S3ArchiveStore::edit_index`] does to a version's entry.
#[derive(Clone, Copy)]
pub(super) enum IndexEdit {
    /// A just-published version goes in (the listing already holds its object).
    Add,
    /// An about-to-be-deleted version comes out.
    Remove,
}

impl IndexEdit {
    /// Applies the edit to `versions`; returns whether that changed them.
    pub(super) fn apply(
        self,
        versions: &mut BTreeSet<ModuleVersion>,
        version: &ModuleVersion,
    ) -> bool {
        match self {
            IndexEdit::Add => versions.insert(version.clone()),
            IndexEdit::Remove => versions.remove(version),
        }
    }
}

pub(super) enum WriteOutcome {
    Written,
    /// Someone else changed the index first: read it again.
    LostRace,
}

impl S3ArchiveStore {
    /// Rewrites `versions.json` from a listing of the module's objects and returns the
    /// versions found. This is how versions uploaded by hand become visible, and how versions
    /// deleted by hand disappear. Safe to run beside publishers: the write is a
    /// compare-and-swap on the ETag read before the listing, retried if anyone changed the
    /// index meanwhile.
    pub async fn rebuild_index(
        &self,
        module: &ModuleAddress,
    ) -> Result<Vec<ModuleVersion>, StorageError> {
        for attempt in 0..INDEX_RETRIES {
            let precondition = match self.index_etag(module).await? {
                Some(etag) => IndexPrecondition::Unchanged(etag),
                None => IndexPrecondition::Absent,
            };
            let listed = self.list_version_prefixes(module).await?;
            if listed.is_empty() && matches!(precondition, IndexPrecondition::Absent) {
                // Nothing to index, and no index to correct: write nothing, so asking for
                // modules that do not exist leaves no objects behind.
                return Ok(Vec::new());
            }
            match self.write_index(module, &listed, precondition).await? {
                WriteOutcome::Written => return Ok(listed.into_iter().collect()),
                WriteOutcome::LostRace => backoff(attempt).await,
            }
        }
        Err(StorageError::Backend(format!(
            "rebuilding the version index of {module}: it kept changing under us"
        )))
    }

    /// Every version prefix under the module, from `ListObjectsV2` with a `/` delimiter,
    /// following continuation tokens past S3's 1,000 entries a page.
    pub(super) async fn list_version_prefixes(
        &self,
        module: &ModuleAddress,
    ) -> Result<BTreeSet<ModuleVersion>, StorageError> {
        let module_prefix = self.module_prefix(module);
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&module_prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        let mut versions = BTreeSet::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| backend_error(&format!("listing {module_prefix}"), e))?;
            for common in page.common_prefixes() {
                // A folder whose name is not a canonical version (notes/, v1.0.0/) is not one.
                if let Some(version) = common
                    .prefix()
                    .and_then(|p| p.strip_prefix(&module_prefix))
                    .and_then(|p| p.strip_suffix('/'))
                    .and_then(canonical_version)
                {
                    versions.insert(version);
                }
            }
        }
        Ok(versions)
    }

    pub(super) async fn index_etag(
        &self,
        module: &ModuleAddress,
    ) -> Result<Option<String>, StorageError> {
        Ok(self
            .head(&self.index_key(module))
            .await?
            .and_then(|head| head.e_tag().map(str::to_owned)))
    }

    pub(super) async fn read_index(
        &self,
        module: &ModuleAddress,
    ) -> Result<IndexState, StorageError> {
        let read = self.read_index_unless(module, None).await?;
        Ok(read.expect("an unconditional read is never 'not modified'"))
    }

    /// [`S3ArchiveStore::read_index`], with `If-None-Match: <known_etag>` when there is one:
    /// `None` when the index still has that ETag (S3 answers `304 Not Modified`, no body: the
    /// `If-None-Match` request header of GetObject in the Amazon S3 API reference; moto does
    /// the same, which tests/storage_faults/listings.rs checks).
    pub(super) async fn read_index_unless(
        &self,
        module: &ModuleAddress,
        known_etag: Option<&str>,
    ) -> Result<Option<IndexState>, StorageError> {
        let key = self.index_key(module);
        let request = self.client.get_object().bucket(&self.bucket).key(&key);
        let sent = match known_etag {
            Some(etag) => request.if_none_match(etag).send().await,
            None => request.send().await,
        };
        let object = match sent {
            Ok(object) => object,
            // The SDK surfaces a 304 as an error (it has no body to parse).
            Err(error) if http_status(&error) == Some(304) => return Ok(None),
            Err(error) if is_no_such_key(&error) => return Ok(Some(IndexState::Missing)),
            Err(error) => return Err(backend_error(&format!("reading {key}"), error)),
        };
        let etag = object.e_tag().unwrap_or_default().to_owned();
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| backend_error(&format!("reading {key}"), e))?
            .into_bytes();
        let versions = match serde_json::from_slice::<VersionIndex>(&bytes) {
            Ok(index) => Some(
                index
                    .versions
                    .iter()
                    .filter_map(|v| canonical_version(v))
                    .collect(),
            ),
            Err(error) => {
                tracing::warn!(%key, %error, "the version index is unreadable; rebuilding it");
                None
            }
        };
        Ok(Some(IndexState::Found { etag, versions }))
    }

    pub(super) async fn write_index(
        &self,
        module: &ModuleAddress,
        versions: &BTreeSet<ModuleVersion>,
        precondition: IndexPrecondition,
    ) -> Result<WriteOutcome, StorageError> {
        let key = self.index_key(module);
        let body = serde_json::to_vec(&VersionIndex {
            versions: versions.iter().map(ToString::to_string).collect(),
        })
        .expect("the index serialises");
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        let request = match precondition {
            IndexPrecondition::Absent => request.if_none_match("*"),
            IndexPrecondition::Unchanged(etag) => request.if_match(etag),
        };
        match request.send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            // 412: the condition failed; 409: a concurrent conditional write; 404: an
            // `If-Match` on an index that was deleted meanwhile.
            Err(error)
                if is_precondition_failed(&error)
                    || is_conditional_conflict(&error)
                    || is_no_such_key(&error) =>
            {
                Ok(WriteOutcome::LostRace)
            }
            Err(error) => Err(backend_error(&format!("writing {key}"), error)),
        }
    }

    /// Adds a version to the index or takes it out, as a compare-and-swap on the index's ETag,
    /// retried while other writers win. An unreadable index is rebuilt from the listing, with
    /// the edit applied; a missing one is created from the listing when adding, and left
    /// missing when removing (the next listing builds it from the objects).
    pub(super) async fn edit_index(
        &self,
        key: &ArchiveKey,
        edit: IndexEdit,
    ) -> Result<(), StorageError> {
        for attempt in 0..INDEX_RETRIES {
            let (precondition, versions) = match self.read_index(&key.module).await? {
                IndexState::Found {
                    etag,
                    versions: Some(mut versions),
                } => {
                    if !edit.apply(&mut versions, &key.version) {
                        return Ok(());
                    }
                    (IndexPrecondition::Unchanged(etag), versions)
                }
                IndexState::Found {
                    etag,
                    versions: None,
                } => {
                    let mut listed = self.list_version_prefixes(&key.module).await?;
                    edit.apply(&mut listed, &key.version);
                    (IndexPrecondition::Unchanged(etag), listed)
                }
                IndexState::Missing => match edit {
                    IndexEdit::Add => {
                        let mut listed = self.list_version_prefixes(&key.module).await?;
                        edit.apply(&mut listed, &key.version);
                        (IndexPrecondition::Absent, listed)
                    }
                    IndexEdit::Remove => return Ok(()),
                },
            };
            match self
                .write_index(&key.module, &versions, precondition)
                .await?
            {
                WriteOutcome::Written => return Ok(()),
                WriteOutcome::LostRace => backoff(attempt).await,
            }
        }
        Err(StorageError::Backend(match edit {
            IndexEdit::Add => format!(
                "adding {} to the version index of {}: it kept changing under us",
                key.version, key.module
            ),
            IndexEdit::Remove => format!(
                "removing {} from the version index of {}: it kept changing under us",
                key.version, key.module
            ),
        }))
    }

    /// After an unpublish, makes the index list the version exactly when its object exists,
    /// whatever raced with the unpublish: an index rebuild that listed the object before it
    /// was deleted (the index would offer a version that is gone), or a publish of the same
    /// version just after the delete (its [`IndexEdit::Add`] may have found the version still
    /// listed and done nothing, before the removal above). Every write is checked again
    /// against a fresh read, so the two converge. One GET and one HEAD when nothing raced.
    pub(super) async fn settle_index_entry(&self, key: &ArchiveKey) -> Result<(), StorageError> {
        let object_key = self.object_key(key);
        for attempt in 0..INDEX_RETRIES {
            let IndexState::Found {
                etag,
                versions: Some(mut versions),
            } = self.read_index(&key.module).await?
            else {
                // Missing or unreadable: the next listing rebuilds it from the objects.
                return Ok(());
            };
            let changed = if self.head(&object_key).await?.is_some() {
                versions.insert(key.version.clone())
            } else {
                versions.remove(&key.version)
            };
            if !changed {
                return Ok(());
            }
            match self
                .write_index(&key.module, &versions, IndexPrecondition::Unchanged(etag))
                .await?
            {
                WriteOutcome::Written => {}
                WriteOutcome::LostRace => backoff(attempt).await,
            }
        }
        Err(StorageError::Backend(format!(
            "settling {} in the version index of {}: it kept changing under us",
            key.version, key.module
        )))
    }

    /// After a failed unpublish: makes the index list the version again if its object is
    /// still there, or failing that, drops the index so that the next listing rebuilds it.
    pub(super) async fn restore_index_entry(&self, key: &ArchiveKey) {
        if let Err(error) = self.settle_index_entry(key).await {
            tracing::error!(module = %key.module, version = %key.version, %error, "could not put the version back in the index; dropping the index so the next listing rebuilds it");
            self.drop_index(&key.module).await;
        }
    }

    /// Deletes a version's object if it is still the one whose ETag was read (`If-Match`).
    /// Returns whether this call deleted it; `false` when it was gone already (another
    /// unpublish) or has been replaced. Deleting leaves the key free: a later publish's
    /// `If-None-Match: *` succeeds (in a versioned bucket the delete marker counts as absent).
    pub(super) async fn delete_version_object(
        &self,
        object_key: &str,
        etag: &str,
    ) -> Result<bool, StorageError> {
        for attempt in 0..=CONFLICT_RETRIES {
            let request = self
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(object_key);
            // An object without an ETag is not one S3 made; delete it unconditionally.
            let request = if etag.is_empty() {
                request
            } else {
                request.if_match(etag)
            };
            match request.send().await {
                Ok(_) => return Ok(true),
                // 404 (gone) or 412 (replaced). Should the SDK have retried a delete whose
                // answer was lost, the retry meets our own deletion and reports `false` too:
                // the version is gone either way.
                Err(error) if is_no_such_key(&error) || is_precondition_failed(&error) => {
                    return Ok(false)
                }
                Err(error) if is_conditional_conflict(&error) && attempt < CONFLICT_RETRIES => {
                    tracing::debug!(key = %object_key, attempt, "conditional delete conflict; retrying");
                    backoff(attempt).await;
                }
                Err(error) => {
                    // An attempt may have deleted it with its answer lost: read it back.
                    return match self.head(object_key).await {
                        Ok(None) => Ok(true),
                        _ => Err(backend_error(&format!("deleting {object_key}"), error)),
                    };
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Deletes the index so that the next listing rebuilds it: the fallback when it could not
    /// be updated. Should the delete fail too, only an operator can put the index right, so
    /// that is logged with what to run.
    pub(super) async fn drop_index(&self, module: &ModuleAddress) {
        let key = self.index_key(module);
        let deleted = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await;
        if let Err(error) = deleted.map_err(|e| backend_error(&format!("deleting {key}"), e)) {
            tracing::error!(%module, %error, "could not drop the version index; run `tfreg reindex` for this module");
        }
    }
}
