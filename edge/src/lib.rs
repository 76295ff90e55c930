//! The viewer-request check, as a sans-IO core.
//!
//! Nothing here performs I/O or needs an async runtime, so the same code runs natively inside
//! `tfreg serve` and, compiled to `wasm32-unknown-unknown`, inside the Lambda@Edge handler. The
//! caller hands [`EdgeCheck::check`] a request and the clock; the answer is allow, deny, or "look
//! up this token hash", and after a lookup the caller feeds the result to [`EdgeCheck::complete`].
//!
//! [`cloudfront`] speaks CloudFront's viewer-request event and result; [`bundle`] is the
//! JSON-in, JSON-out face of the Lambda@Edge bundle, whose WebAssembly exports (`wasm`, built
//! only for `wasm32`) the Node.js handler in `edge/js/` calls.

pub mod bundle;
mod check;
pub mod cloudfront;
mod error_body;
mod identity;
mod route;
pub mod scope;
mod tier;
mod token;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use check::{Decision, Denial, EdgeCheck, EdgeConfig, TokenInfo, ViewerRequest};
pub use error_body::error_body;
pub use identity::{percent_decode, percent_encode, Identity, IDENTITY_HEADER};
pub use route::{
    required_access, Access, MirrorPath, ModulePath, ProviderPath, ProviderVersionPath, Route,
    RouteSpec, VersionPath, ARCHIVE_PATH_PREFIX, PAGE_PATH, ROUTES,
};
pub use scope::{validate_scope, MAX_SCOPES};
pub use tier::{Tier, UnknownTier};
pub use token::{bearer_token, hash_token, TokenHash, MAX_TOKEN_LEN};
