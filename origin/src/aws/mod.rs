//! The storage traits over AWS: archives in S3 ([`S3ArchiveStore`]), provider releases and
//! signing keys in S3 ([`S3ProviderStore`]), large uploads staged in
//! S3 ([`S3UploadStaging`]), tokens and pin records in DynamoDB ([`DynamoTokenStore`]). The
//! origin Lambda and `tfreg serve --backend aws` use these; any
//! server that speaks the S3 and DynamoDB protocols works too (an endpoint override switches
//! S3 to path-style addressing).
//!
//! Build the SDK clients once per process and share them: [`sdk_config`] loads the region,
//! the endpoint override and the standard AWS credential chain (environment, profile, web
//! identity, ECS/EC2 roles); the archive and token stores take either a client or that
//! [`SdkConfig`], and [`S3UploadStaging`] takes the archive store's S3 client.
//!
//! # S3 layout
//!
//! Everything lives under a key prefix, `archives/` by default, so that an object's key is
//! the `/archives/…` URL path CloudFront forwards to the bucket unchanged:
//!
//! ```text
//! archives/{namespace}/{name}/{system}/{version}/module.tar.gz   the normalised archive
//! archives/{namespace}/{name}/{system}/versions.json             {"versions":["1.0.0",…]}
//! archives/{namespace}/.uploads                                  the namespace holds an uploaded module
//! archives/_providers/…, providers/…, provider-keys/…             provider releases ([`S3ProviderStore`])
//! ```
//!
//! `.uploads` is the mark that keeps a namespace private in proxy mode
//! ([`ArchiveStore::namespace_has_uploads`](crate::storage::ArchiveStore::namespace_has_uploads)):
//! written once, with `If-None-Match: *`, before the first uploaded version's object, and read
//! with one `HeadObject`.
//!
//! A version's metadata travels with its object as S3 user metadata (`x-amz-meta-sha256`,
//! `-size`, `-uploaded-at`, `-uploader`, `-source`), so publishing is one `PutObject` with
//! `If-None-Match: *`: S3 makes the object visible whole or not at all, and of concurrent
//! publishers exactly one succeeds (the rest get `412`). That conditional write is what keeps
//! versions immutable. A random `x-amz-meta-publish-id` lets a publisher whose request the SDK
//! retried (the first answer lost) recognise its own object behind a `412`.
//!
//! `versions.json` is an index, kept because a LIST costs 12.5 times a GET: a publisher adds
//! its version after the object is written, with a compare-and-swap on the index's ETag
//! (`If-Match`, or `If-None-Match: *` when creating it), retried on `412`/`409`. When the
//! index is missing (or unreadable) it is rebuilt from a `ListObjectsV2` of the module's
//! prefix. Objects uploaded by hand appear once the index is rebuilt
//! ([`S3ArchiveStore::rebuild_index`], `tfreg reindex`, or deleting `versions.json`).
//!
//! # DynamoDB schema
//!
//! One table, partition key `pk` (string), no sort key, TTL attribute `expires_at`. The
//! Lambda@Edge handler reads the same items, so this is a contract:
//!
//! ```text
//! pk = "token#<sha256 hex of the token>"  token_name (S), permission (S: downloader|uploader|master),
//!                                         created_at (S, RFC 3339), expires_at (N, epoch seconds; optional),
//!                                         description (S; optional)
//! pk = "name#<token_name>"                token_hash (S), expires_at (N; optional, same value)
//! pk = "pin#<ns>/<name>/<system>/<version>"  the PinRecord's fields (S; size N; policy_override BOOL)
//! ```

mod dynamodb;
mod s3;
mod staging;

pub use dynamodb::DynamoTokenStore;
pub use s3::{
    S3ArchiveStore, S3CatalogueStore, S3MirrorStore, S3ProviderStore, CATALOGUE_KEY,
    CATALOGUE_REFRESH, PROVIDER_KEYS_PREFIX, PROVIDER_RECORDS_PREFIX,
};
pub use staging::{S3UploadStaging, DEFAULT_STAGING_PREFIX};

/// The SDK crates these stores are built on, so that callers build clients of exactly the
/// versions the stores take.
pub use aws_config::SdkConfig;
pub use aws_sdk_dynamodb;
pub use aws_sdk_s3;

use crate::storage::{ArchiveBody, StorageError};
use aws_config::meta::region::RegionProviderChain;
use aws_config::BehaviorVersion;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_smithy_http_client::tls;
use rand::Rng;
use std::time::Duration;

/// The region used when none is given and none is configured in the environment or profile.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The default key prefix of archives in the bucket: the URL path CloudFront forwards.
pub const DEFAULT_S3_PREFIX: &str = "archives/";

/// Where the AWS backends live, as `tfreg serve --backend aws` and the origin Lambda are
/// told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsStorageConfig {
    pub s3_bucket: String,
    /// Key prefix of the archives, such as `archives/`; empty for the bucket root.
    pub s3_prefix: String,
    pub dynamodb_table: String,
    /// `None`: `AWS_REGION` / `AWS_DEFAULT_REGION`, then the profile, then [`DEFAULT_REGION`].
    pub region: Option<String>,
    /// Overrides the endpoint of both services (a local S3/DynamoDB-compatible server).
    pub endpoint_url: Option<String>,
    /// How long one attempt at a storage request waits for its answer before the SDK gives
    /// up on it (and tries again): [`DEFAULT_STORAGE_TIMEOUT`] unless configured.
    pub storage_timeout: Duration,
}

impl AwsStorageConfig {
    /// Loads the SDK configuration once and builds both stores on it.
    pub async fn connect(&self) -> (S3ArchiveStore, DynamoTokenStore) {
        self.connect_on(&self.sdk_config().await)
    }

    /// The SDK configuration these settings describe (region, endpoint, timeouts).
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_with_timeout(
            self.region.as_deref(),
            self.endpoint_url.as_deref(),
            self.storage_timeout,
        )
        .await
    }

    /// Both stores on an SDK configuration loaded already ([`Self::sdk_config`]).
    pub fn connect_on(&self, config: &SdkConfig) -> (S3ArchiveStore, DynamoTokenStore) {
        (
            S3ArchiveStore::from_sdk_config(config, &self.s3_bucket, &self.s3_prefix),
            DynamoTokenStore::from_sdk_config(config, &self.dynamodb_table),
        )
    }
}

/// How long one attempt at a storage request waits for its answer by default. Without a
/// bound the SDK waits for a stalled connection forever (it sets only a connect timeout): the
/// request would hang until the Lambda is killed, or for good in `tfreg serve`. Three
/// attempts of 5 s stay within the origin Lambda's default 30 s, so a stalled S3 or DynamoDB
/// is answered with the registry's own 503. Archive uploads get longer, by their size
/// ([`transfer_timeout`]).
pub const DEFAULT_STORAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the SDK waits to connect (its own default for current behaviour versions).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// The timeouts of every storage request: connect, and the answer of each attempt.
pub fn storage_timeouts(read_timeout: Duration) -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(read_timeout)
        .build()
}

/// The answer timeout of a request that sends `bytes`: `base`, plus a second per MiB (the
/// attempt's clock runs while the body is sent), so that a 100 MiB archive from a slow link is
/// not cut off while a stalled small request still is.
pub fn transfer_timeout(base: Duration, bytes: u64) -> Duration {
    base + Duration::from_secs(bytes / (1024 * 1024))
}

/// The SDK configuration for `region` (or the environment's, or [`DEFAULT_REGION`]) with an
/// optional endpoint override for both S3 and DynamoDB, and [`DEFAULT_STORAGE_TIMEOUT`].
/// Credentials come from the standard chain. HTTPS is rustls over ring with the system's
/// trust store.
pub async fn sdk_config(region: Option<&str>, endpoint_url: Option<&str>) -> SdkConfig {
    sdk_config_with_timeout(region, endpoint_url, DEFAULT_STORAGE_TIMEOUT).await
}

/// [`sdk_config`] with `storage_timeout` as the answer timeout of each attempt.
///
/// The region chain deliberately stops at the environment and the profile: asking the EC2
/// instance metadata service would stall start-up on machines that have none.
pub async fn sdk_config_with_timeout(
    region: Option<&str>,
    endpoint_url: Option<&str>,
    storage_timeout: Duration,
) -> SdkConfig {
    let region_chain = match region {
        Some(region) => RegionProviderChain::first_try(aws_config::Region::new(region.to_owned())),
        None => RegionProviderChain::first_try(
            aws_config::environment::EnvironmentVariableRegionProvider::new(),
        )
        .or_else(aws_config::profile::ProfileFileRegionProvider::new())
        .or_else(aws_config::Region::from_static(DEFAULT_REGION)),
    };
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region_chain)
        .http_client(http_client)
        .timeout_config(storage_timeouts(storage_timeout));
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// How many times a conditional write that lost a race (`409`, or a cancelled transaction)
/// is tried again before the store gives up with an error.
const CONFLICT_RETRIES: u32 = 8;

/// How many times an index compare-and-swap is tried: many publishers of different versions
/// of one module may be contending for it.
const INDEX_RETRIES: u32 = 40;

/// Sleeps before retry `attempt` (0-based): exponential from 10 ms, capped at 640 ms, with
/// full jitter so that contenders spread out.
async fn backoff(attempt: u32) {
    let ceiling = 10u64 << attempt.min(6);
    let millis = rand::thread_rng().gen_range(ceiling / 4..=ceiling);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

/// The HTTP status of a failed call, when a response came back.
fn http_status<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

/// A fetched object as an archive body, streamed as it arrives.
fn archive_body(object: GetObjectOutput) -> ArchiveBody {
    ArchiveBody {
        len: object.content_length().unwrap_or(0).max(0) as u64,
        reader: Box::pin(object.body.into_async_read()),
    }
}

/// An SDK failure as a storage error, with the whole error chain (the SDK's own `Display`
/// says only "service error").
fn backend_error(what: &str, error: impl std::error::Error) -> StorageError {
    StorageError::Backend(format!("{what}: {}", DisplayErrorContext(&error)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_endpoint_override_applies_to_both_services() {
        let config = sdk_config(Some("eu-west-1"), Some("http://127.0.0.1:9")).await;
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:9"));
    }

    #[tokio::test]
    async fn every_storage_request_has_an_answer_timeout() {
        let config = sdk_config(Some("eu-west-1"), None).await;
        let timeouts = config.timeout_config().expect("timeouts are set");
        assert_eq!(timeouts.read_timeout(), Some(DEFAULT_STORAGE_TIMEOUT));
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        let config = sdk_config_with_timeout(None, None, Duration::from_secs(2)).await;
        assert_eq!(
            config.timeout_config().unwrap().read_timeout(),
            Some(Duration::from_secs(2))
        );
        let base = Duration::from_secs(5);
        assert_eq!(transfer_timeout(base, 1000), base);
        assert_eq!(
            transfer_timeout(base, 100 * 1024 * 1024),
            Duration::from_secs(105)
        );
    }
}
