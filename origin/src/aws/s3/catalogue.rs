//! The module catalogue as one S3 object, `{prefix}_catalogue/modules.json`: read with
//! `If-None-Match` (a `304` costs no transfer), written with `If-Match` on its ETag (or
//! `If-None-Match: *` for the first), as each module's `versions.json` is. The `_` keeps it
//! apart from namespaces, which start with a letter or a digit; it lies under the archive
//! prefix, so the origin's existing permissions cover it, and no signed URL names it.

use super::*;
use crate::catalogue::{CatalogueRead, CatalogueStore};
use std::time::Duration;

/// The catalogue's key beneath the archive prefix.
pub const CATALOGUE_KEY: &str = "_catalogue/modules.json";

/// How long an origin Lambda uses the catalogue it loaded before it asks S3 whether it changed
/// (a conditional GET): a publish through another instance shows in lists within this.
pub const CATALOGUE_REFRESH: Duration = Duration::from_secs(5);

/// [`CatalogueStore`] over the archive bucket.
#[derive(Debug, Clone)]
pub struct S3CatalogueStore {
    client: Client,
    bucket: String,
    key: String,
    refresh: Duration,
}

impl S3ArchiveStore {
    /// The catalogue object in this store's bucket, beneath its prefix.
    pub fn catalogue_store(&self) -> S3CatalogueStore {
        S3CatalogueStore {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: format!("{}{CATALOGUE_KEY}", self.prefix),
            refresh: CATALOGUE_REFRESH,
        }
    }
}

impl S3CatalogueStore {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Asks S3 every `refresh` instead of [`CATALOGUE_REFRESH`].
    pub fn with_refresh(mut self, refresh: Duration) -> Self {
        self.refresh = refresh;
        self
    }
}

#[async_trait]
impl CatalogueStore for S3CatalogueStore {
    async fn read(&self, known: Option<&str>) -> Result<CatalogueRead, StorageError> {
        let mut request = self.client.get_object().bucket(&self.bucket).key(&self.key);
        if let Some(etag) = known {
            request = request.if_none_match(etag);
        }
        let object = match request.send().await {
            Ok(object) => object,
            Err(error) if http_status(&error) == Some(304) => return Ok(CatalogueRead::Unchanged),
            Err(error) if is_no_such_key(&error) => return Ok(CatalogueRead::Missing),
            Err(error) => return Err(backend_error(&format!("reading {}", self.key), error)),
        };
        let tag = object.e_tag().unwrap_or_default().to_owned();
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| backend_error(&format!("reading {}", self.key), e))?
            .into_bytes()
            .to_vec();
        Ok(CatalogueRead::Found { bytes, tag })
    }

    async fn write(
        &self,
        bytes: Vec<u8>,
        expected: Option<&str>,
    ) -> Result<Option<String>, StorageError> {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/json")
            .body(ByteStream::from(bytes));
        let request = match expected {
            None => request.if_none_match("*"),
            Some(etag) => request.if_match(etag),
        };
        match request.send().await {
            Ok(written) => Ok(Some(written.e_tag().unwrap_or_default().to_owned())),
            // 412: the condition failed; 409: a concurrent conditional write; 404: an
            // `If-Match` on an object deleted meanwhile.
            Err(error)
                if is_precondition_failed(&error)
                    || is_conditional_conflict(&error)
                    || is_no_such_key(&error) =>
            {
                Ok(None)
            }
            Err(error) => Err(backend_error(&format!("writing {}", self.key), error)),
        }
    }

    fn refresh_interval(&self) -> Duration {
        self.refresh
    }
}
