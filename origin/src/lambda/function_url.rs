//! The Function URL adapter: a Lambda Function URL event, as CloudFront's origin request
//! delivers it, in; the same [`Registry::handle`] that `tfreg serve` calls; the Function URL
//! response out.
//!
//! The URL's auth type is NONE (see the [module](super) for why), so the adapter refuses any
//! request that lacks the secret header the edge function adds ([`ORIGIN_SECRET_HEADER`]),
//! compared in constant time. The identity the edge established arrives in
//! `x-tfreg-identity`; the edge strips any copy a viewer sent.

use crate::{ApiError, IdentitySource, OriginRequest, OriginResponse, Registry, RequestBody};
use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{HeaderMap, HeaderValue};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The header the edge adds to every request it passes to the origin, holding a secret baked
/// into both at deploy time.
pub use tfreg_edge::cloudfront::ORIGIN_SECRET_HEADER;

/// The largest body that reaches the origin through a Function URL (Lambda's 6 MB payload
/// holds it base64-encoded); the edge answers larger uploads with a 413 that names the
/// large-upload path.
pub use tfreg_edge::cloudfront::DEFAULT_MAX_ORIGIN_BODY_BYTES as LAMBDA_BODY_LIMIT_BYTES;

/// The origin Lambda's handler: one per process, built at cold start.
pub struct OriginLambda {
    registry: Arc<Registry>,
    origin_secret: Vec<u8>,
}

impl OriginLambda {
    pub fn new(registry: Arc<Registry>, origin_secret: impl Into<Vec<u8>>) -> Self {
        OriginLambda {
            registry,
            origin_secret: origin_secret.into(),
        }
    }

    fn came_through_the_edge(&self, headers: &HeaderMap) -> bool {
        let presented = headers
            .get(ORIGIN_SECRET_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        !self.origin_secret.is_empty() && bool::from(presented.ct_eq(&self.origin_secret))
    }

    pub async fn handle(&self, event: LambdaFunctionUrlRequest) -> LambdaFunctionUrlResponse {
        if !self.came_through_the_edge(&event.headers) {
            return to_lambda(OriginResponse::error(&ApiError::new(
                403,
                "not_through_cloudfront",
                "this origin answers only through the registry's CloudFront distribution",
            )));
        }
        let body = match decode_body(&event) {
            Ok(body) => body,
            Err(error) => return to_lambda(OriginResponse::error(&error)),
        };
        // The identity header is the edge's own: the origin secret just proved the request
        // came through it, and it drops any copy a viewer sent.
        let request = OriginRequest::from_parts(
            event
                .request_context
                .http
                .method
                .as_deref()
                .unwrap_or("GET"),
            event.raw_path.as_deref().unwrap_or("/"),
            event.raw_query_string.as_deref().unwrap_or_default(),
            &event.headers,
            IdentitySource::Forwarded,
            body,
        );
        to_lambda(self.registry.handle(request).await)
    }
}

fn decode_body(event: &LambdaFunctionUrlRequest) -> Result<RequestBody, ApiError> {
    let Some(body) = event.body.as_deref().filter(|b| !b.is_empty()) else {
        return Ok(RequestBody::Empty);
    };
    if event.is_base64_encoded {
        STANDARD
            .decode(body)
            .map(RequestBody::Bytes)
            .map_err(|_| ApiError::bad_request("the request body is not valid base64"))
    } else {
        Ok(RequestBody::Bytes(body.as_bytes().to_vec()))
    }
}

fn to_lambda(response: OriginResponse) -> LambdaFunctionUrlResponse {
    let (parts, body) = response.into_http().into_parts();
    // Registry answers are JSON or empty; anything else travels base64-encoded.
    let (body, is_base64_encoded) = match String::from_utf8(body) {
        Ok(text) if text.is_empty() => (None, false),
        Ok(text) => (Some(text), false),
        Err(bytes) => (Some(STANDARD.encode(bytes.into_bytes())), true),
    };
    LambdaFunctionUrlResponse {
        status_code: i64::from(parts.status.as_u16()),
        headers: parts.headers,
        body,
        is_base64_encoded,
        cookies: Vec::new(),
    }
}

/// The handler driven with Lambda Function URL events of the documented shape
/// (tests/fixtures/function-url/*.json, as CloudFront's origin request delivers them after the
/// edge function added the identity and origin-secret headers), on embedded storage.
#[cfg(test)]
mod tests {
    use super::*;
    use tfreg_testkit::archive::versioned_module;

    const SECRET: &str = "origin-secret-for-tests";

    fn fixture(name: &str, secret: &str, body_base64: &str) -> LambdaFunctionUrlRequest {
        let text = match name {
            "get-download.json" => {
                include_str!("../../../tests/fixtures/function-url/get-download.json")
            }
            "get-versions.json" => {
                include_str!("../../../tests/fixtures/function-url/get-versions.json")
            }
            "post-tokens.json" => {
                include_str!("../../../tests/fixtures/function-url/post-tokens.json")
            }
            "put-upload.json" => {
                include_str!("../../../tests/fixtures/function-url/put-upload.json")
            }
            _ => panic!("no fixture {name}"),
        };
        let text = text
            .replace("{{ORIGIN_SECRET}}", secret)
            .replace("{{BODY_BASE64}}", body_base64);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn lambda() -> (tempfile::TempDir, OriginLambda) {
        let (dir, registry) = crate::registry::test_support::embedded_registry();
        (dir, OriginLambda::new(Arc::new(registry), SECRET))
    }

    fn json(body: &Option<String>) -> serde_json::Value {
        serde_json::from_str(body.as_deref().unwrap_or("null")).unwrap()
    }

    #[tokio::test]
    async fn function_url_events_reach_the_registry() {
        let (_dir, lambda) = lambda();
        let archive = STANDARD.encode(versioned_module("1.2.0"));

        let uploaded = lambda
            .handle(fixture("put-upload.json", SECRET, &archive))
            .await;
        assert_eq!(uploaded.status_code, 201, "{:?}", uploaded.body);
        assert_eq!(json(&uploaded.body)["uploader"], "ci-upload");

        let versions = lambda
            .handle(fixture("get-versions.json", SECRET, ""))
            .await;
        assert_eq!(versions.status_code, 200);
        assert_eq!(versions.headers["content-type"], "application/json");
        assert_eq!(
            json(&versions.body)["modules"][0]["versions"][0]["version"],
            "1.2.0"
        );

        let download = lambda
            .handle(fixture("get-download.json", SECRET, ""))
            .await;
        assert_eq!(download.status_code, 204);
        assert!(download.body.is_none());
        let location = download.headers["x-terraform-get"].to_str().unwrap();
        assert!(location.starts_with(
            "https://registry.test/archives/acme/vpc/aws/1.2.0/module.tar.gz?Expires="
        ));

        let token = lambda.handle(fixture("post-tokens.json", SECRET, "")).await;
        assert_eq!(token.status_code, 201);
        assert!(json(&token.body)["token_value"]
            .as_str()
            .unwrap()
            .starts_with("tfr_"));
    }

    #[tokio::test]
    async fn requests_without_the_origin_secret_are_refused() {
        let (_dir, lambda) = lambda();
        for secret in ["", "wrong-secret", "origin-secret-for-test"] {
            let response = lambda
                .handle(fixture("get-versions.json", secret, ""))
                .await;
            assert_eq!(response.status_code, 403, "secret {secret:?}");
            assert_eq!(json(&response.body)["code"], "not_through_cloudfront");
        }
    }

    #[tokio::test]
    async fn an_identity_the_tier_does_not_cover_is_refused_by_the_origin_too() {
        let (_dir, lambda) = lambda();
        let mut event = fixture("put-upload.json", SECRET, "");
        event.headers.insert(
            "x-tfreg-identity",
            "token=ci-read;tier=downloader".parse().unwrap(),
        );
        let response = lambda.handle(event).await;
        assert_eq!(response.status_code, 403);
    }
}
