//! Registry logic as plain functions over storage traits.
//!
//! `tfreg serve` and the origin Lambda call the same [`Registry::handle`]; storage is
//! reached only through the four traits in [`storage`]: [`ArchiveStore`], [`TokenStore`],
//! [`PinStore`](storage::PinStore) and [`UploadStaging`].

pub mod archive;
pub mod auth;
pub mod aws;
pub mod catalogue;
pub mod conformance;
pub mod docs;
pub mod embedded;
mod error;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod migrate;
pub mod mirror;
pub mod names;
pub mod providers;
pub mod proxy;
mod registry;
pub mod signed_url;
pub mod storage;

pub use error::ApiError;
pub use registry::{
    mint_token_value, now_unix, parse_create_token, parse_pin_request, unix_to_rfc3339,
    IdentitySource, NewToken, OriginRequest, OriginResponse, PinRequest, Reconciled, Registry,
    RegistryConfig, RequestBody, DEFAULT_ARCHIVE_URL_TTL_SECS, DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_STAGED_UPLOAD_URL_TTL_SECS, MASTER_TOKEN_NAME, MAX_JSON_BODY_BYTES, PROXY_CACHE_PATH,
};
pub use storage::{ArchiveStore, TokenStore, UploadStaging};
