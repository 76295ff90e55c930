//! [`ArchiveStore`] over S3: one object per version, metadata as user metadata, a
//! per-module `versions.json` index. The layout and the reasoning are in the
//! [module docs](super).

use super::{
    archive_body, backend_error, backoff, http_status, storage_timeouts, transfer_timeout,
    SdkConfig, CONFLICT_RETRIES, INDEX_RETRIES,
};
use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use crate::storage::{
    sort_modules, ArchiveBody, ArchiveStore, ListingStamp, PublishOutcome, StorageError,
    VersionListing, VersionMeta,
};
use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::{ByteStream, DateTimeFormat};
use aws_sdk_s3::Client;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;

mod catalogue;
mod index;
mod mirror;
mod providers;
pub use catalogue::{S3CatalogueStore, CATALOGUE_KEY, CATALOGUE_REFRESH};
use index::{IndexEdit, IndexPrecondition, IndexState};
pub use mirror::S3MirrorStore;
pub use providers::{S3ProviderStore, PROVIDER_KEYS_PREFIX, PROVIDER_RECORDS_PREFIX};

/// The name of the per-module index object, beside the version prefixes.
pub const INDEX_FILE_NAME: &str = "versions.json";

/// The mark of a namespace that holds an uploaded module: `{prefix}{ns}/.uploads`, beside the
/// namespace's module prefixes (a module name never starts with a dot, so it is not one).
pub const UPLOADS_MARK_FILE_NAME: &str = ".uploads";

/// User-metadata keys (sent as `x-amz-meta-<key>`; S3 lowercases them).
const META_SHA256: &str = "sha256";
const META_SIZE: &str = "size";
const META_UPLOADED_AT: &str = "uploaded-at";
const META_UPLOADER: &str = "uploader";
const META_SOURCE: &str = "source";
/// [`VersionMeta::origin_url`]; absent when it is `None`. Stored [`header_safe`].
const META_ORIGIN_URL: &str = "origin-url";
/// [`VersionMeta::repository_url`]; absent when it is `None`. Already ASCII (checked when
/// published), stored [`header_safe`] all the same.
const META_REPOSITORY_URL: &str = "repository-url";
/// A random id per publish attempt, so that a publisher can recognise its own write.
const META_PUBLISH_ID: &str = "publish-id";

/// S3's limit on an object's user metadata: the UTF-8 bytes of every key and value together.
const MAX_USER_METADATA_BYTES: usize = 2048;

/// What [`VersionMeta::source`] says for an object that carries none of our metadata: it was
/// put into the bucket by hand.
pub const MANUAL_SOURCE: &str = "manual";

#[derive(Debug, Clone)]
pub struct S3ArchiveStore {
    client: Client,
    bucket: String,
    prefix: String,
}

/// Removes the staged upload however `publish` ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `412 PreconditionFailed`: the condition did not hold.
fn is_precondition_failed<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    http_status(error) == Some(412) || error.code() == Some("PreconditionFailed")
}

/// `409 ConditionalRequestConflict`: a concurrent conditional write to the same key was in
/// flight; S3 asks for a retry.
fn is_conditional_conflict<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    http_status(error) == Some(409) || error.code() == Some("ConditionalRequestConflict")
}

fn is_no_such_key<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    http_status(error) == Some(404) || matches!(error.code(), Some("NoSuchKey" | "NotFound"))
}

/// A read of `object_key`, with "no such key" as `None`.
fn no_such_key_is_none<T, E>(
    sent: Result<T, SdkError<E, HttpResponse>>,
    object_key: &str,
) -> Result<Option<T>, StorageError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match sent {
        Ok(output) => Ok(Some(output)),
        Err(error) if is_no_such_key(&error) => Ok(None),
        Err(error) => Err(backend_error(&format!("reading {object_key}"), error)),
    }
}

/// A small JSON object read whole (a provider release record, a key, a mirrored package's
/// record): `None` when there is no such key.
async fn read_json_object<T: serde::de::DeserializeOwned>(
    client: &Client,
    bucket: &str,
    object_key: &str,
) -> Result<Option<T>, StorageError> {
    let sent = client
        .get_object()
        .bucket(bucket)
        .key(object_key)
        .send()
        .await;
    let Some(object) = no_such_key_is_none(sent, object_key)? else {
        return Ok(None);
    };
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| backend_error(&format!("reading {object_key}"), e))?
        .into_bytes();
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StorageError::Corrupt(format!("{object_key}: {e}")))
}

/// The timeouts of a request that sends `len` bytes on `client`: its configured answer timeout
/// grown by [`transfer_timeout`] (the attempt's clock runs while the body is sent), so that a
/// big file is not cut off and sent again and again. `None` when the client sets none.
fn transfer_timeouts(client: &Client, len: u64) -> Option<aws_config::timeout::TimeoutConfig> {
    client
        .config()
        .timeout_config()
        .and_then(|t| t.read_timeout())
        .map(|base| storage_timeouts(transfer_timeout(base, len)))
}

/// Puts the file at `path` as `object_key` (unconditionally), with the answer timeout its size
/// needs ([`transfer_timeouts`]): a provider release's files, a mirrored package's zip.
async fn put_file(
    client: &Client,
    bucket: &str,
    object_key: &str,
    path: &std::path::Path,
    content_type: &str,
) -> Result<(), StorageError> {
    let len = tokio::fs::metadata(path).await?.len();
    let body = ByteStream::from_path(path)
        .await
        .map_err(|e| backend_error(&format!("reading {}", path.display()), e))?;
    client
        .put_object()
        .bucket(bucket)
        .key(object_key)
        .content_type(content_type)
        .content_length(len as i64)
        .body(body)
        .customize()
        .config_override({
            let mut config = aws_sdk_s3::config::Builder::default();
            config.set_timeout_config(transfer_timeouts(client, len));
            config
        })
        .send()
        .await
        .map_err(|e| backend_error(&format!("writing {object_key}"), e))?;
    Ok(())
}

/// How many objects a listing reads at once.
const PARALLEL_READS: usize = 16;

/// Every object of `keys` read as JSON ([`read_json_object`]), a few at a time; ones gone
/// meanwhile are left out. In no particular order.
async fn read_json_objects<T: serde::de::DeserializeOwned + Send + 'static>(
    client: &Client,
    bucket: &str,
    keys: Vec<String>,
) -> Result<Vec<T>, StorageError> {
    let mut read = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(PARALLEL_READS) {
        let mut tasks = tokio::task::JoinSet::new();
        for key in chunk {
            let (client, bucket, key) = (client.clone(), bucket.to_owned(), key.clone());
            tasks.spawn(async move { read_json_object::<T>(&client, &bucket, &key).await });
        }
        while let Some(joined) = tasks.join_next().await {
            let value = joined
                .map_err(|e| StorageError::Backend(format!("storage task failed: {e}")))??;
            read.extend(value);
        }
    }
    Ok(read)
}

/// A key prefix as stored: no leading `/`, and a trailing `/` unless it is empty.
fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

/// `value` in the US-ASCII that S3 user metadata (HTTP headers) can carry: any byte outside
/// visible ASCII is percent-encoded. For a URL that is the standard IRI-to-URI mapping, so the
/// stored value still names the same address; it is read back as stored, not decoded (a `%`
/// already in the URL is kept as it is, so decoding would be ambiguous). URLs are normally
/// ASCII, and then stored unchanged.
fn header_safe(value: &str) -> String {
    let mut safe = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_graphic() {
            safe.push(char::from(byte));
        } else {
            write!(safe, "%{byte:02X}").expect("writing to a String");
        }
    }
    safe
}

/// The user metadata a version's object is put with.
fn user_metadata(
    meta: &VersionMeta,
    publish_id: &str,
) -> Result<HashMap<String, String>, StorageError> {
    let mut metadata = HashMap::from([
        (META_PUBLISH_ID.to_owned(), publish_id.to_owned()),
        (META_SHA256.to_owned(), meta.sha256.clone()),
        (META_SIZE.to_owned(), meta.size.to_string()),
        (META_UPLOADED_AT.to_owned(), meta.uploaded_at.clone()),
        // Token names may be any text; S3 user metadata is US-ASCII (non-ASCII comes back
        // RFC 2047-encoded), so the name is stored percent-encoded and decoded on read.
        (
            META_UPLOADER.to_owned(),
            tfreg_edge::percent_encode(&meta.uploader),
        ),
        (META_SOURCE.to_owned(), meta.source.clone()),
    ]);
    if let Some(url) = &meta.origin_url {
        metadata.insert(META_ORIGIN_URL.to_owned(), header_safe(url));
    }
    if let Some(url) = &meta.repository_url {
        metadata.insert(META_REPOSITORY_URL.to_owned(), header_safe(url));
    }
    let bytes: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_USER_METADATA_BYTES {
        // Said here rather than left to S3's bare `400 MetadataTooLarge`; in practice only a
        // very long origin URL gets this far.
        return Err(StorageError::Backend(format!(
            "the version's metadata is {bytes} bytes, over S3's {MAX_USER_METADATA_BYTES}-byte limit on user metadata (origin URL: {} bytes, repository URL: {} bytes)",
            meta.origin_url.as_deref().map_or(0, str::len),
            meta.repository_url.as_deref().map_or(0, str::len)
        )));
    }
    Ok(metadata)
}

fn canonical_version(text: &str) -> Option<ModuleVersion> {
    ModuleVersion::parse(text)
        .ok()
        .filter(|v| v.to_string() == text)
}

/// Every key under `prefix` in `bucket`, following continuation tokens past S3's 1,000 keys a
/// page; with `delimiter`, the common prefixes instead of the keys beneath them.
async fn list_keys(
    client: &Client,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
) -> Result<Vec<String>, StorageError> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_delimiter(delimiter.map(str::to_owned))
        .into_paginator()
        .send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| backend_error(&format!("listing {prefix}"), e))?;
        if delimiter.is_some() {
            keys.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix())
                    .map(str::to_owned),
            );
        } else {
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .map(str::to_owned),
            );
        }
    }
    Ok(keys)
}

impl S3ArchiveStore {
    /// A store over `bucket`, with archives under `prefix` (such as `archives/`).
    pub fn new(client: Client, bucket: impl Into<String>, prefix: &str) -> Self {
        S3ArchiveStore {
            client,
            bucket: bucket.into(),
            prefix: normalize_prefix(prefix),
        }
    }

    /// Builds the S3 client from `config`, with path-style addressing when the config
    /// overrides the endpoint (local S3-compatible servers rarely resolve
    /// `bucket.host` names).
    pub fn from_sdk_config(config: &SdkConfig, bucket: impl Into<String>, prefix: &str) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self::new(Client::from_conf(s3_config), bucket, prefix)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The store of proxied (cached, not pinned) archives: the same bucket beneath
    /// `{prefix}_proxy/`, which is what `/archives/_proxy/...` URLs name.
    pub fn proxy_cache_store(&self) -> S3ArchiveStore {
        S3ArchiveStore::new(
            self.client.clone(),
            self.bucket.clone(),
            &format!("{}{}", self.prefix, crate::PROXY_CACHE_PATH),
        )
    }

    /// The provider releases and signing keys in the same bucket, the files beneath this
    /// store's prefix (`{prefix}_providers/`, what `/archives/_providers/...` URLs name).
    pub fn provider_store(&self) -> S3ProviderStore {
        S3ProviderStore::new(self.client.clone(), self.bucket.clone(), &self.prefix)
    }

    /// The provider mirror's packages in the same bucket, beneath `{prefix}_mirror/` (what
    /// `/archives/_mirror/...` URLs name).
    pub fn mirror_store(&self) -> S3MirrorStore {
        S3MirrorStore::new(self.client.clone(), self.bucket.clone(), &self.prefix)
    }

    /// The normalised key prefix (`archives/`, or empty).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}{ns}/{name}/{system}/{version}/module.tar.gz`
    pub fn object_key(&self, key: &ArchiveKey) -> String {
        format!("{}{}", self.prefix, key.as_path())
    }

    /// `{prefix}{ns}/{name}/{system}/{version}/docs.json`
    pub fn docs_key(&self, key: &ArchiveKey) -> String {
        format!("{}{}/{}/docs.json", self.prefix, key.module, key.version)
    }

    /// `{prefix}{ns}/{name}/{system}/versions.json`
    pub fn index_key(&self, module: &ModuleAddress) -> String {
        format!("{}{module}/{INDEX_FILE_NAME}", self.prefix)
    }

    /// `{prefix}{ns}/.uploads`
    pub fn uploads_mark_key(&self, namespace: &str) -> String {
        format!("{}{namespace}/{UPLOADS_MARK_FILE_NAME}", self.prefix)
    }

    /// Marks the module's namespace if any of its versions is uploaded (not a pin): what
    /// `tfreg reindex` runs after [`S3ArchiveStore::rebuild_index`], so that versions put
    /// into the bucket by hand, or stored before namespaces were marked, make their namespace
    /// private. One HEAD per version until an uploaded one is found. Returns whether the
    /// namespace is marked.
    pub async fn rebuild_uploads_mark(
        &self,
        module: &ModuleAddress,
        versions: &[ModuleVersion],
    ) -> Result<bool, StorageError> {
        for version in versions {
            let key = ArchiveKey::new(module.clone(), version.clone());
            if self
                .version_meta(&key)
                .await?
                .is_some_and(|meta| meta.is_uploaded())
            {
                self.mark_namespace_uploaded(&module.namespace).await?;
                return Ok(true);
            }
        }
        self.namespace_has_uploads(&module.namespace).await
    }

    /// Every key under `prefix` ([`list_keys`]).
    async fn list_keys(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
    ) -> Result<Vec<String>, StorageError> {
        list_keys(&self.client, &self.bucket, prefix, delimiter).await
    }

    fn module_prefix(&self, module: &ModuleAddress) -> String {
        format!("{}{module}/", self.prefix)
    }

    /// `HeadObject`; `None` when there is no such object.
    async fn head(&self, object_key: &str) -> Result<Option<HeadObjectOutput>, StorageError> {
        let sent = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(object_key)
            .send()
            .await;
        no_such_key_is_none(sent, object_key)
    }

    /// `GetObject`; `None` when there is no such object.
    async fn get(&self, object_key: &str) -> Result<Option<GetObjectOutput>, StorageError> {
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(object_key)
            .send()
            .await;
        no_such_key_is_none(sent, object_key)
    }

    async fn publish_id_of(&self, object_key: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .head(object_key)
            .await?
            .and_then(|head| head.metadata()?.get(META_PUBLISH_ID).cloned()))
    }

    async fn put_version(
        &self,
        key: &ArchiveKey,
        staged: &std::path::Path,
        meta: &VersionMeta,
    ) -> Result<PublishOutcome, StorageError> {
        let object_key = self.object_key(key);
        let len = tokio::fs::metadata(staged).await?.len();
        let publish_id = format!("{:032x}", rand::random::<u128>());
        let metadata = user_metadata(meta, &publish_id)?;
        // The attempt's clock runs while the archive is sent: a big one gets longer.
        let timeouts = transfer_timeouts(&self.client, len);
        for attempt in 0..=CONFLICT_RETRIES {
            let body = ByteStream::from_path(staged)
                .await
                .map_err(|e| backend_error(&format!("reading {}", staged.display()), e))?;
            let sent = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&object_key)
                .if_none_match("*")
                .content_type("application/gzip")
                .content_length(len as i64)
                .set_metadata(Some(metadata.clone()))
                .body(body)
                .customize()
                .config_override({
                    let mut config = aws_sdk_s3::config::Builder::default();
                    config.set_timeout_config(timeouts.clone());
                    config
                })
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(PublishOutcome::Created),
                Err(error) if is_precondition_failed(&error) => {
                    // The SDK retries a request whose answer was lost (a timeout, a 500); if
                    // the lost attempt was written, the retry meets our own object. That is
                    // still our publish, not someone else's.
                    return if self.publish_id_of(&object_key).await?.as_deref()
                        == Some(publish_id.as_str())
                    {
                        Ok(PublishOutcome::Created)
                    } else {
                        Ok(PublishOutcome::AlreadyExists)
                    };
                }
                Err(error) if is_conditional_conflict(&error) && attempt < CONFLICT_RETRIES => {
                    tracing::debug!(key = %object_key, attempt, "conditional write conflict; retrying");
                    backoff(attempt).await;
                }
                Err(error) => {
                    // Every attempt failed, but one may have been written with its answer
                    // lost (a reset, a timeout, a 500 after the write): read it back.
                    return match self.publish_id_of(&object_key).await {
                        Ok(Some(id)) if id == publish_id => {
                            tracing::warn!(key = %object_key, error = %backend_error("writing", error), "the write failed but the object is ours: published");
                            Ok(PublishOutcome::Created)
                        }
                        _ => Err(backend_error(&format!("writing {object_key}"), error)),
                    };
                }
            }
        }
        unreachable!("the last attempt returns")
    }
}

#[async_trait]
impl ArchiveStore for S3ArchiveStore {
    async fn list_versions(
        &self,
        module: &ModuleAddress,
    ) -> Result<Vec<ModuleVersion>, StorageError> {
        match self.read_index(module).await? {
            IndexState::Found {
                versions: Some(versions),
                ..
            } => Ok(versions.into_iter().collect()),
            IndexState::Found { versions: None, .. } => self.rebuild_index(module).await,
            IndexState::Missing => {
                // One attempt to create it: if another reader or a publisher wrote it first,
                // this listing is still a true answer for now.
                let listed = self.list_version_prefixes(module).await?;
                if !listed.is_empty() {
                    // Best effort: the listing is the answer either way.
                    if let Err(error) = self
                        .write_index(module, &listed, IndexPrecondition::Absent)
                        .await
                    {
                        tracing::warn!(%module, %error, "could not write the rebuilt version index");
                    }
                }
                Ok(listed.into_iter().collect())
            }
        }
    }

    /// One conditional GET of `versions.json` with the known ETag: `304` (no body) while the
    /// index is unchanged. Every publish and unpublish rewrites the index, so its ETag changes
    /// with the list. A missing or unreadable index is built as [`list_versions`] does, and
    /// that answer gets no stamp: the next read finds the written index and stamps that.
    ///
    /// [`list_versions`]: ArchiveStore::list_versions
    async fn list_versions_since(
        &self,
        module: &ModuleAddress,
        known: Option<&ListingStamp>,
    ) -> Result<VersionListing, StorageError> {
        let known_etag = known.map(|stamp| stamp.0.as_str());
        match self.read_index_unless(module, known_etag).await? {
            None => Ok(VersionListing::Unchanged),
            Some(IndexState::Found {
                etag,
                versions: Some(versions),
            }) => Ok(VersionListing::Listed {
                versions: versions.into_iter().collect(),
                // An index without an ETag (not one S3 made) cannot be asked about.
                stamp: (!etag.is_empty()).then_some(ListingStamp(etag)),
            }),
            Some(_) => Ok(VersionListing::Listed {
                versions: self.list_versions(module).await?,
                stamp: None,
            }),
        }
    }

    /// The namespaces first (one delimited listing), then every key under each: a module is
    /// listed when one of its archives is there (an object put by hand counts, as it does for
    /// [`S3ArchiveStore::rebuild_index`]; a leftover index or docs object does not).
    /// Prefixes that start with `_` are never namespaces: `_proxy/` holds the proxy cache, a
    /// store of its own, and is not listed through.
    async fn list_modules(&self) -> Result<Vec<ModuleAddress>, StorageError> {
        let mut modules = Vec::new();
        for namespace_prefix in self.list_keys(&self.prefix, Some("/")).await? {
            let namespace = namespace_prefix
                .strip_prefix(&self.prefix)
                .unwrap_or_default();
            if namespace.starts_with('_') {
                continue;
            }
            for object_key in self.list_keys(&namespace_prefix, None).await? {
                if let Some(key) = object_key
                    .strip_prefix(&self.prefix)
                    .and_then(ArchiveKey::parse)
                {
                    modules.push(key.module);
                }
            }
        }
        sort_modules(&mut modules);
        Ok(modules)
    }

    async fn version_meta(&self, key: &ArchiveKey) -> Result<Option<VersionMeta>, StorageError> {
        let Some(head) = self.head(&self.object_key(key)).await? else {
            return Ok(None);
        };
        let length = head.content_length().unwrap_or(0).max(0) as u64;
        let empty = HashMap::new();
        let user = head.metadata().unwrap_or(&empty);
        let field = |name: &str| user.get(name).cloned();
        // An object put into the bucket by hand carries none of this: it is still a version,
        // without a checksum (so its download URL carries none).
        Ok(Some(VersionMeta {
            sha256: field(META_SHA256).unwrap_or_default(),
            size: field(META_SIZE)
                .and_then(|s| s.parse().ok())
                .unwrap_or(length),
            uploaded_at: field(META_UPLOADED_AT)
                .or_else(|| {
                    head.last_modified()
                        .and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
                })
                .unwrap_or_default(),
            uploader: field(META_UPLOADER)
                .map(|stored| tfreg_edge::percent_decode(&stored).unwrap_or(stored))
                .unwrap_or_default(),
            source: field(META_SOURCE).unwrap_or_else(|| MANUAL_SOURCE.to_owned()),
            origin_url: field(META_ORIGIN_URL),
            repository_url: field(META_REPOSITORY_URL),
        }))
    }

    async fn publish(
        &self,
        key: &ArchiveKey,
        staged: PathBuf,
        meta: &VersionMeta,
    ) -> Result<PublishOutcome, StorageError> {
        let staged = RemoveOnDrop(staged);
        if meta.is_uploaded() {
            // Before the version: a reader that sees the version sees the mark too.
            self.mark_namespace_uploaded(&key.module.namespace).await?;
        }
        let outcome = self.put_version(key, &staged.0, meta).await?;
        drop(staged);
        if outcome == PublishOutcome::Created {
            // The version is published whatever happens to the index; a failure here only
            // delays its listing, so it is logged, and the index dropped for a rebuild.
            if let Err(error) = self.edit_index(key, IndexEdit::Add).await {
                tracing::error!(module = %key.module, version = %key.version, %error, "could not add the version to the index; dropping the index so the next listing rebuilds it");
                self.drop_index(&key.module).await;
            }
        }
        Ok(outcome)
    }

    /// Out of the index first, then the object: a listing never offers a version whose
    /// archive is already gone (beyond the moment a concurrent index rebuild can take, which
    /// `settle_index_entry` then corrects). The object is deleted with `If-Match` on the ETag
    /// read first, so of concurrent unpublishers exactly one deletes it, and a version
    /// published again meanwhile (other bytes) is not deleted by a stale call.
    async fn unpublish(&self, key: &ArchiveKey) -> Result<bool, StorageError> {
        let object_key = self.object_key(key);
        let etag = self
            .head(&object_key)
            .await?
            .map(|head| head.e_tag().unwrap_or_default().to_owned());
        // Should this fail, nothing has been deleted: the version is still whole, and the
        // caller can try again. But a write whose answer was lost may have taken it out of
        // the index: put it back (the object is there) before saying so.
        if let Err(error) = self.edit_index(key, IndexEdit::Remove).await {
            self.restore_index_entry(key).await;
            return Err(error);
        }
        let deleted = match etag {
            Some(etag) => self.delete_version_object(&object_key, &etag).await,
            None => Ok(false),
        };
        let existed = match deleted {
            Ok(existed) => existed,
            Err(error) => {
                // The archive is still there, and out of the index: put it back, so that the
                // version stays whole (listed and downloadable) for the caller to try again.
                self.restore_index_entry(key).await;
                return Err(error);
            }
        };
        // After the archive, and only by the unpublisher that deleted it (not a stale call
        // meeting a version published again). Best effort: a leftover is replaced by the next
        // publish of this version, and docs are shown only beside the archive they came from.
        if existed {
            let docs_key = self.docs_key(key);
            let deleted = self
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(&docs_key)
                .send()
                .await;
            if let Err(error) =
                deleted.map_err(|e| backend_error(&format!("deleting {docs_key}"), e))
            {
                tracing::warn!(module = %key.module, version = %key.version, %error, "could not delete the version's docs");
            }
        }
        if let Err(error) = self.settle_index_entry(key).await {
            tracing::error!(module = %key.module, version = %key.version, %error, "could not settle the version index after an unpublish; dropping the index so the next listing rebuilds it");
            self.drop_index(&key.module).await;
        }
        Ok(existed)
    }

    async fn open_archive(&self, key: &ArchiveKey) -> Result<Option<ArchiveBody>, StorageError> {
        Ok(self.get(&self.object_key(key)).await?.map(archive_body))
    }

    async fn put_docs(&self, key: &ArchiveKey, docs: &[u8]) -> Result<(), StorageError> {
        let docs_key = self.docs_key(key);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&docs_key)
            .content_type("application/json")
            .body(ByteStream::from(docs.to_vec()))
            .send()
            .await
            .map_err(|e| backend_error(&format!("writing {docs_key}"), e))?;
        Ok(())
    }

    async fn docs(&self, key: &ArchiveKey) -> Result<Option<Vec<u8>>, StorageError> {
        let docs_key = self.docs_key(key);
        let Some(object) = self.get(&docs_key).await? else {
            return Ok(None);
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| backend_error(&format!("reading {docs_key}"), e))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn namespace_has_uploads(&self, namespace: &str) -> Result<bool, StorageError> {
        Ok(self
            .head(&self.uploads_mark_key(namespace))
            .await?
            .is_some())
    }

    /// One conditional PUT (`If-None-Match: *`): an existing mark is left as it is.
    async fn mark_namespace_uploaded(&self, namespace: &str) -> Result<(), StorageError> {
        let key = self.uploads_mark_key(namespace);
        for attempt in 0..=CONFLICT_RETRIES {
            let sent = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .if_none_match("*")
                .content_type("text/plain")
                .body(ByteStream::from_static(
                    b"this namespace holds modules uploaded to this registry\n",
                ))
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(()),
                Err(error) if is_precondition_failed(&error) => return Ok(()),
                Err(error) if is_conditional_conflict(&error) && attempt < CONFLICT_RETRIES => {
                    backoff(attempt).await;
                }
                Err(error) => return Err(backend_error(&format!("writing {key}"), error)),
            }
        }
        unreachable!("the last attempt returns")
    }
}

#[cfg(test)]
mod tests;
