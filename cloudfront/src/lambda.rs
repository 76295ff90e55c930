//! The origin Lambda: a thin adapter from the Lambda Function URL event CloudFront's origin
//! delivers to the same [`Registry::handle`] that `tfreg serve` calls.
//!
//! Why a Function URL (and not API Gateway): both cap the payload at Lambda's 6 MB, so API
//! Gateway buys nothing for uploads and costs $1-3.50 per million requests; a Function URL is
//! free. Why not Origin Access Control in front of it: OAC signs with SigV4, which for PUT and
//! POST needs the viewer to send `x-amz-content-sha256` (curl does not), and it takes the
//! `Authorization` header. So the URL's auth type is NONE and the origin instead refuses any
//! request that lacks the secret header the edge function adds ([`ORIGIN_SECRET_HEADER`]),
//! compared in constant time. The identity the edge established arrives in
//! `x-tfreg-identity`; the edge strips any copy a viewer sent.

use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tfreg_edge::ArchiveSigner;
use tfreg_origin::proxy::{Proxy, ProxyConfig};
use tfreg_origin::{
    ApiError, OriginRequest, OriginResponse, Registry, RegistryConfig, RequestBody,
};

/// The header the edge adds to every request it passes to the origin, holding a secret baked
/// into both at deploy time.
pub use tfreg_edge::cloudfront::ORIGIN_SECRET_HEADER;

/// The largest body that reaches the origin through a Function URL (Lambda's 6 MB payload
/// holds it base64-encoded); the edge answers larger uploads with a 413 that names the
/// large-upload path.
pub use tfreg_edge::cloudfront::DEFAULT_MAX_ORIGIN_BODY_BYTES as LAMBDA_BODY_LIMIT_BYTES;

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
        let headers = event
            .headers
            .iter()
            .filter(|(name, _)| name.as_str() != ORIGIN_SECRET_HEADER)
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let request = OriginRequest {
            method: event
                .request_context
                .http
                .method
                .clone()
                .unwrap_or_else(|| "GET".into()),
            path: event.raw_path.clone().unwrap_or_else(|| "/".into()),
            query: event.raw_query_string.clone().unwrap_or_default(),
            headers,
            body,
        };
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
    let mut headers = HeaderMap::new();
    for (name, value) in &response.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    // Registry answers are JSON or empty; anything else travels base64-encoded.
    let (body, is_base64_encoded) = match String::from_utf8(response.body) {
        Ok(text) if text.is_empty() => (None, false),
        Ok(text) => (Some(text), false),
        Err(bytes) => (Some(STANDARD.encode(bytes.into_bytes())), true),
    };
    LambdaFunctionUrlResponse {
        status_code: i64::from(response.status),
        headers,
        body,
        is_base64_encoded,
        cookies: Vec::new(),
    }
}

/// The origin Lambda's configuration, read once at cold start from the function's
/// environment (set by the deployment module).
///
/// | variable | meaning |
/// |---|---|
/// | `TFREG_S3_BUCKET` | the archive bucket (required) |
/// | `TFREG_S3_PREFIX` | key prefix of archives (default `archives/`) |
/// | `TFREG_DYNAMODB_TABLE` | the token table (required) |
/// | `TFREG_SIGNING_KEY` | hex key that signs archive URLs, shared with the edge (required) |
/// | `TFREG_ORIGIN_SECRET` | the secret header value the edge adds (required) |
/// | `TFREG_ARCHIVE_URL_TTL` | seconds a signed archive URL lives (default 300) |
/// | `TFREG_ENDPOINT_URL` | S3/DynamoDB endpoint override (tests against a local server) |
/// | `TFREG_PROXY_*` | proxy mode and pinning: [`ProxyConfig::from_env`] |
/// | `AWS_REGION` | set by Lambda |
pub struct OriginConfig {
    pub storage: tfreg_origin::aws::AwsStorageConfig,
    pub signing_key: Vec<u8>,
    pub origin_secret: String,
    pub archive_url_ttl_secs: u64,
    pub proxy: ProxyConfig,
}

impl OriginConfig {
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not set"));
        let signing_key = hex::decode(required("TFREG_SIGNING_KEY")?)
            .map_err(|_| "TFREG_SIGNING_KEY is not hex".to_owned())?;
        let archive_url_ttl_secs = match var("TFREG_ARCHIVE_URL_TTL") {
            Some(text) => text
                .parse()
                .map_err(|_| format!("TFREG_ARCHIVE_URL_TTL is not a number: {text:?}"))?,
            None => tfreg_origin::DEFAULT_ARCHIVE_URL_TTL_SECS,
        };
        Ok(OriginConfig {
            storage: tfreg_origin::aws::AwsStorageConfig {
                s3_bucket: required("TFREG_S3_BUCKET")?,
                s3_prefix: var("TFREG_S3_PREFIX")
                    .unwrap_or_else(|| tfreg_origin::aws::DEFAULT_S3_PREFIX.to_owned()),
                dynamodb_table: required("TFREG_DYNAMODB_TABLE")?,
                region: var("AWS_REGION"),
                endpoint_url: var("TFREG_ENDPOINT_URL"),
            },
            signing_key,
            origin_secret: required("TFREG_ORIGIN_SECRET")?,
            archive_url_ttl_secs,
            proxy: ProxyConfig::from_env(|name| std::env::var(name).ok())?,
        })
    }

    /// Builds the clients (once) and the registry on them.
    pub async fn connect(self) -> Result<OriginLambda, String> {
        let (archives, tokens) = self.storage.connect().await;
        let staging = tfreg_origin::aws::S3UploadStaging::new(
            archives.client().clone(),
            archives.bucket(),
            tfreg_origin::aws::DEFAULT_STAGING_PREFIX,
        );
        let mut config = RegistryConfig::new(std::env::temp_dir());
        config.archive_url_ttl_secs = self.archive_url_ttl_secs;
        // Lambda refuses larger payloads before the function runs.
        config.max_upload_bytes = LAMBDA_BODY_LIMIT_BYTES;
        let proxy = Proxy::new(self.proxy, Arc::new(archives.proxy_cache_store()))?;
        let tokens = Arc::new(tokens);
        let registry = Registry::new(
            Arc::new(archives),
            tokens.clone(),
            ArchiveSigner::new(self.signing_key),
            config,
        )
        .with_upload_staging(Arc::new(staging))
        .with_proxy(proxy)
        .with_pins(tokens);
        Ok(OriginLambda::new(Arc::new(registry), self.origin_secret))
    }
}
