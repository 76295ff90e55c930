//! The origin Lambda (`provided.al2023`, the `bootstrap` binary): a thin adapter from the
//! Lambda Function URL event CloudFront's origin delivers to the same [`Registry::handle`]
//! that `tfreg serve` calls.
//!
//! - [`function_url`]: the handler, [`OriginLambda`], from event to response.
//! - [`config`]: [`OriginConfig`], the function's environment, read once at cold start.
//! - [`signing_secret`]: the archive URL signing key, from Secrets Manager at cold start.
//! - [`secrets_manager`]: the one Secrets Manager call that reads it (`GetSecretValue`).
//!
//! Why a Function URL (and not API Gateway): both cap the payload at Lambda's 6 MB, so API
//! Gateway buys nothing for uploads and costs $1-3.50 per million requests; a Function URL is
//! free. Why not Origin Access Control in front of it: OAC signs with SigV4, which for PUT and
//! POST needs the viewer to send `x-amz-content-sha256` (curl does not), and it takes the
//! `Authorization` header. So the URL's auth type is NONE and the origin instead refuses any
//! request that lacks the secret header the edge function adds ([`ORIGIN_SECRET_HEADER`]).
//!
//! [`Registry::handle`]: crate::Registry::handle

pub mod config;
pub mod function_url;
pub mod secrets_manager;
pub mod signing_secret;

pub use config::OriginConfig;
pub use function_url::{OriginLambda, LAMBDA_BODY_LIMIT_BYTES, ORIGIN_SECRET_HEADER};
