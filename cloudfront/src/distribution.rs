//! The distribution assembled as CloudFront runs it, in one process: the static discovery
//! document and web page first, then the viewer-request check (the `edge` crate) on everything
//! else, then either the archive store (`/archives/*`, S3 behind CloudFront) or the registry
//! origin (`/v1/*`, the origin Lambda).

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Body, Frame};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tfreg_edge::{
    Decision, Denial, EdgeCheck, Identity, Route, TokenHash, TokenInfo, ViewerRequest,
};
use tfreg_origin::signed_url::{https_origin, SignedUrlError, UrlVerifier};
use tfreg_origin::{
    now_unix, ApiError, IdentitySource, OriginRequest, OriginResponse, Registry, RequestBody,
};
use tokio::io::AsyncWriteExt;

pub type ResponseBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

pub const DISCOVERY_PATH: &str = "/.well-known/terraform.json";
/// The discovery document. The deployment module uploads the same file to S3, so the local
/// server and CloudFront answer the same bytes.
pub const DISCOVERY_DOCUMENT: &str = include_str!("../../terraform/discovery.json");

/// The discovery document of a registry with the exchanges `auth` configures: the static one,
/// plus a `tfreg.auth.v1` member telling clients (the credentials helper) how to use them:
///
/// ```json
/// {"modules.v1": "/v1/modules/",
///  "tfreg.auth.v1": {"aws": {"sts_endpoint": "https://sts.amazonaws.com/", "server_id": "registry.example.com"},
///                    "oidc": {"audience": "registry.example.com",
///                             "issuers": [{"issuer": "https://token.actions.githubusercontent.com", "audience": "registry.example.com"}]}}}
/// ```
///
/// `audience` is there when every issuer takes the same one. On AWS the discovery document is a
/// static S3 object, which the deployment module (terraform/auth.tf) renders with the same
/// member. Nothing in it is secret: trust rules stay out.
pub fn discovery_document(auth: &tfreg_origin::auth::AuthConfig) -> String {
    let mut document: serde_json::Value =
        serde_json::from_str(DISCOVERY_DOCUMENT).expect("the discovery document is JSON");
    let mut exchanges = serde_json::Map::new();
    if let Some(aws) = &auth.aws {
        exchanges.insert(
            "aws".into(),
            serde_json::json!({"sts_endpoint": aws.sts_endpoint, "server_id": aws.server_id}),
        );
    }
    if let Some(oidc) = &auth.oidc {
        let issuers: Vec<_> = oidc
            .issuers
            .iter()
            .map(|i| serde_json::json!({"issuer": i.issuer, "audience": i.audience}))
            .collect();
        let mut member = serde_json::json!({ "issuers": issuers });
        // As the deployment module renders it: "audience" when every issuer takes the same.
        let mut audiences: Vec<&str> = oidc.issuers.iter().map(|i| i.audience.as_str()).collect();
        audiences.sort_unstable();
        audiences.dedup();
        if let [audience] = audiences.as_slice() {
            member["audience"] = serde_json::json!(audience);
        }
        exchanges.insert("oidc".into(), member);
    }
    if exchanges.is_empty() {
        // The same bytes as the static object on AWS.
        return DISCOVERY_DOCUMENT.to_owned();
    }
    document["tfreg.auth.v1"] = serde_json::Value::Object(exchanges);
    document.to_string()
}
/// `document` (a discovery document) with one more service: `providers.v1` where the
/// registry serves private providers (`tfreg serve`'s embedded storage).
pub fn with_service(document: &str, service: &str, base: &str) -> String {
    let mut value: serde_json::Value =
        serde_json::from_str(document).expect("the discovery document is JSON");
    value[service] = serde_json::json!(base);
    value.to_string()
}

/// The OpenAPI document of this API, served public at `/openapi.json` (on AWS a static object
/// beside the discovery document). `tests/openapi.sh` keeps it true with schemathesis.
pub const OPENAPI_DOCUMENT: &str = include_str!("../../terraform/openapi.json");

pub struct Distribution {
    edge: Mutex<EdgeCheck>,
    /// What `/.well-known/terraform.json` answers ([`discovery_document`]).
    discovery: String,
    registry: Arc<Registry>,
    /// What CloudFront's trusted key group on `/archives/*` checks: the signed URL, with no
    /// function on that behaviour.
    archive_urls: UrlVerifier,
    /// How many revocations have cleared the edge cache, counted under the edge lock. A
    /// lookup that was out while one did keeps nothing: what it read may be the revoked token.
    revocations: AtomicU64,
}

fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn json_response(status: u16, body: String) -> Response<ResponseBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn denial_response(denial: &Denial) -> Response<ResponseBody> {
    let mut response = json_response(denial.status, denial.body_json());
    if let Some(challenge) = denial.www_authenticate() {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

fn api_error_response(error: &ApiError) -> Response<ResponseBody> {
    origin_response(OriginResponse::error(error))
}

fn origin_response(origin: OriginResponse) -> Response<ResponseBody> {
    origin.into_http().map(full)
}

impl Distribution {
    pub fn new(edge: EdgeCheck, registry: Arc<Registry>, archive_urls: UrlVerifier) -> Self {
        Distribution {
            edge: Mutex::new(edge),
            discovery: DISCOVERY_DOCUMENT.to_owned(),
            registry,
            archive_urls,
            revocations: AtomicU64::new(0),
        }
    }

    /// Answers `/.well-known/terraform.json` with `document` (see [`discovery_document`]).
    pub fn with_discovery(mut self, document: String) -> Self {
        self.discovery = document;
        self
    }

    pub async fn serve<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let path = request.uri().path().to_owned();
        let route = Route::parse(request.method().as_str(), &path);

        match route {
            Route::Discovery => return json_response(200, self.discovery.clone()),
            Route::OpenApi => return json_response(200, OPENAPI_DOCUMENT.to_owned()),
            // Public static files (S3 behind CloudFront on AWS), as Discovery is.
            Route::Page { file } => return crate::page::respond(file).map(full),
            _ => {}
        }

        if let Route::Archive { key_path } = route {
            // No viewer-request function here: CloudFront checks the signed URL itself.
            if let Err(denial) = self.signed_url_check(&request) {
                return denial_response(&denial);
            }
            return self.archive(key_path).await;
        }

        let identity = match self.viewer_check(&request).await {
            Ok(identity) => identity,
            Err(response) => {
                // Read what the client is still sending (within a budget), so it sees the
                // refusal rather than a reset connection.
                drain(&mut request.into_body(), DRAIN_AFTER_REJECT_BYTES).await;
                return response;
            }
        };

        if let Route::MethodNotAllowed { allowed, .. } = &route {
            // Answered before any body is read: a 405 never depends on it (a large PUT to an
            // archive path is refused for its method, as CloudFront does, not for its size).
            let refusal = ApiError::method_not_allowed(request.method().as_str(), allowed);
            drain(&mut request.into_body(), DRAIN_AFTER_REJECT_BYTES).await;
            return api_error_response(&refusal);
        }
        let body_limit = self.registry.body_limit(&route);
        let spool_to_disk = matches!(route, Route::Upload(_) | Route::PublishProvider(_));
        let is_revocation = matches!(route, Route::RevokeToken { .. });
        let response = self
            .origin(request, route, identity, body_limit, spool_to_disk)
            .await;
        if is_revocation && response.status() == StatusCode::OK {
            // In one process the revocation can reach the cache at once; at the edge it waits
            // for the cache TTL.
            let mut edge = self.edge.lock().expect("edge lock");
            edge.clear_cache();
            self.revocations.fetch_add(1, Ordering::SeqCst);
        }
        response
    }

    /// The viewer-request function: the edge core decides, this does the one lookup it may
    /// ask for.
    async fn viewer_check<B>(
        &self,
        request: &Request<B>,
    ) -> Result<Option<Identity>, Response<ResponseBody>> {
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let viewer = ViewerRequest {
            method: request.method().as_str(),
            path: request.uri().path(),
            query: request.uri().query().unwrap_or(""),
            authorization,
        };
        let now = now_unix();
        let decision = self.edge.lock().expect("edge lock").check(&viewer, now);
        let decision = match decision {
            Decision::Lookup { token_hash } => {
                let revocations = self.revocations.load(Ordering::SeqCst);
                let found = self
                    .lookup(&token_hash)
                    .await
                    .map_err(|error| api_error_response(&error))?;
                let mut edge = self.edge.lock().expect("edge lock");
                let decision = edge.complete(&viewer, &token_hash, found, now);
                if self.revocations.load(Ordering::SeqCst) != revocations {
                    // A revocation cleared the cache while this lookup was out, so what it
                    // found may be the token just revoked: this request goes on (it raced the
                    // revocation), but nothing it read stays cached.
                    edge.clear_cache();
                }
                decision
            }
            decided => decided,
        };
        match decision {
            Decision::Allow { identity } => Ok(identity),
            Decision::Deny(denial) => Err(denial_response(&denial)),
            Decision::Lookup { .. } => unreachable!("complete never asks for another lookup"),
        }
    }

    /// A trusted key group's check of a signed URL, as CloudFront makes it: the resource is
    /// the URL the viewer asked for (`https://`, its `Host`, the path and any parameter but
    /// the three signing ones).
    fn signed_url_check<B>(&self, request: &Request<B>) -> Result<(), Denial> {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        let verdict = match host.and_then(https_origin) {
            Some(origin) => {
                let base = format!("{origin}{}", request.uri().path());
                let query = request.uri().query().unwrap_or("");
                self.archive_urls.verify(&base, query, now_unix())
            }
            None => Err(SignedUrlError::Mismatch),
        };
        verdict.map_err(|error| {
            let code = match error {
                SignedUrlError::Missing => "unsigned_archive_url",
                SignedUrlError::Expired => "expired_archive_url",
                _ => "invalid_archive_signature",
            };
            Denial {
                status: 403,
                code,
                message: error.to_string(),
            }
        })
    }

    async fn lookup(&self, token_hash: &TokenHash) -> Result<Option<TokenInfo>, ApiError> {
        let record = self.registry.tokens().find_by_hash(token_hash).await?;
        Ok(record
            .filter(|r| {
                TokenHash::from_hex(&r.token_hash).is_some_and(|stored| stored.ct_eq(token_hash))
            })
            .map(|r| TokenInfo {
                token_name: r.token_name,
                tier: r.permission,
                expires_at: r.expires_at,
                scopes: r.scopes,
            }))
    }

    async fn archive(&self, key_path: &str) -> Response<ResponseBody> {
        let not_found = || api_error_response(&ApiError::not_found("no such archive"));
        match self.registry.open_archive_path(key_path).await {
            Ok(Some(archive)) => {
                let stream = tokio_util::io::ReaderStream::with_capacity(archive.reader, 64 * 1024)
                    .map_ok(Frame::data);
                let mut response = Response::new(BodyExt::boxed_unsync(StreamBody::new(stream)));
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/gzip"),
                );
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(archive.len));
                // A version never changes, so a cache may keep it; the signature is what
                // gates access, not the cache.
                headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, max-age=31536000, immutable"),
                );
                response
            }
            Ok(None) => not_found(),
            Err(error) => api_error_response(&error.into()),
        }
    }

    /// Passes a request on to the registry. Its body is read up to `body_limit` (what the
    /// registry takes on this route), into a scratch file when `spool_to_disk` (archives),
    /// otherwise into memory; past the limit the answer is [`ApiError::too_large`] (made only
    /// then: its message is formatted).
    async fn origin<B>(
        &self,
        request: Request<B>,
        route: Route<'_>,
        identity: Option<Identity>,
        body_limit: u64,
        spool_to_disk: bool,
    ) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let too_large = || ApiError::too_large(&route, body_limit);
        let (parts, body) = request.into_parts();
        let body = if spool_to_disk {
            self.spool_upload(&parts.headers, body, body_limit, &too_large)
                .await
        } else {
            read_small_body(body, body_limit, &too_large).await
        };
        let body = match body {
            Ok(body) => body,
            Err(error) => return api_error_response(&error),
        };
        let origin_request = OriginRequest::from_parts(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query().unwrap_or(""),
            &parts.headers,
            IdentitySource::Checked(identity),
            body,
        );
        origin_response(self.registry.handle_route(route, origin_request).await)
    }

    /// Streams an upload into a scratch file, never into memory, stopping at the size cap.
    async fn spool_upload<B>(
        &self,
        headers: &http::HeaderMap,
        mut body: B,
        limit: u64,
        too_large: &(dyn Fn() -> ApiError + Sync),
    ) -> Result<RequestBody, ApiError>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(len) = declared.filter(|len| *len > limit) {
            if len <= limit + DRAIN_AFTER_REJECT_BYTES {
                drain(&mut body, DRAIN_AFTER_REJECT_BYTES).await;
            }
            return Err(too_large());
        }
        let scratch = self.registry.config().scratch_dir.clone();
        let io_error =
            |e: std::io::Error| ApiError::from(tfreg_origin::storage::StorageError::Io(e));
        let file = tempfile::tempfile_in(&scratch).map_err(io_error)?;
        let mut file = tokio::fs::File::from_std(file);
        let mut written: u64 = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| body_read_error(&e))?;
            if let Ok(data) = frame.into_data() {
                written += data.len() as u64;
                if written > limit {
                    drain(&mut body, DRAIN_AFTER_REJECT_BYTES).await;
                    return Err(too_large());
                }
                file.write_all(&data).await.map_err(io_error)?;
            }
        }
        file.flush().await.map_err(io_error)?;
        let file = file.into_std().await;
        Ok(RequestBody::File(file))
    }
}

/// How much of a rejected body is still read, so that a client that is still sending gets
/// the 413 instead of a reset connection. Past this the connection is simply closed.
const DRAIN_AFTER_REJECT_BYTES: u64 = 8 * 1024 * 1024;

async fn drain<B>(body: &mut B, mut budget: u64)
where
    B: Body<Data = Bytes> + Unpin,
{
    while let Some(Ok(frame)) = body.frame().await {
        let len = frame.data_ref().map_or(0, |d| d.len() as u64);
        if len > budget {
            return;
        }
        budget -= len;
    }
}

/// A body that could not be read: `408` when the client sent it too slowly (the limits in
/// crate::limits), `400` otherwise.
fn body_read_error(error: &(dyn std::error::Error + 'static)) -> ApiError {
    match crate::limits::body_too_slow(error) {
        Some(too_slow) => ApiError::new(408, "request_timeout", too_slow.to_string()),
        None => ApiError::bad_request(format!("reading the request body failed: {error}")),
    }
}

async fn read_small_body<B>(
    body: B,
    limit: u64,
    too_large: &(dyn Fn() -> ApiError + Sync),
) -> Result<RequestBody, ApiError>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .collect()
        .await
    {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            Ok(if bytes.is_empty() {
                RequestBody::Empty
            } else {
                RequestBody::Bytes(bytes.to_vec())
            })
        }
        Err(error) => {
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(too_large())
            } else {
                Err(body_read_error(error.as_ref()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Empty;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::AtomicBool;
    use tfreg_edge::{hash_token, EdgeConfig, Tier};
    use tfreg_origin::embedded::{FileArchiveStore, RedbTokenStore};
    use tfreg_origin::storage::{CreateOutcome, StorageError, TokenRecord};
    use tfreg_origin::{RegistryConfig, TokenStore};
    use tokio::sync::Notify;

    const VICTIM: &str = "victim-token-value-0123456789";

    type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, StorageError>> + Send + 'a>>;

    /// The embedded token store, except that the first lookup of [`VICTIM`] stops after it
    /// read the record, until the test lets it go: a lookup that is out while a revocation
    /// runs.
    struct PausedLookup {
        inner: RedbTokenStore,
        paused: AtomicBool,
        reached: Notify,
        release: Notify,
    }

    // `TokenStore` is an `async_trait`; written out, as this crate does not use the macro.
    impl TokenStore for PausedLookup {
        fn create<'a, 'b, 'async_trait>(
            &'a self,
            record: &'b TokenRecord,
        ) -> Answer<'async_trait, CreateOutcome>
        where
            'a: 'async_trait,
            'b: 'async_trait,
            Self: 'async_trait,
        {
            self.inner.create(record)
        }

        fn find_by_hash<'a, 'b, 'async_trait>(
            &'a self,
            hash: &'b TokenHash,
        ) -> Answer<'async_trait, Option<TokenRecord>>
        where
            'a: 'async_trait,
            'b: 'async_trait,
            Self: 'async_trait,
        {
            Box::pin(async move {
                let found = self.inner.find_by_hash(hash).await;
                if hash.ct_eq(&hash_token(VICTIM)) && !self.paused.swap(true, Ordering::SeqCst) {
                    self.reached.notify_one();
                    self.release.notified().await;
                }
                found
            })
        }

        fn find_by_name<'a, 'b, 'async_trait>(
            &'a self,
            name: &'b str,
        ) -> Answer<'async_trait, Option<TokenRecord>>
        where
            'a: 'async_trait,
            'b: 'async_trait,
            Self: 'async_trait,
        {
            self.inner.find_by_name(name)
        }

        fn list<'a, 'async_trait>(&'a self) -> Answer<'async_trait, Vec<TokenRecord>>
        where
            'a: 'async_trait,
            Self: 'async_trait,
        {
            self.inner.list()
        }

        fn delete_by_name<'a, 'b, 'async_trait>(
            &'a self,
            name: &'b str,
        ) -> Answer<'async_trait, bool>
        where
            'a: 'async_trait,
            'b: 'async_trait,
            Self: 'async_trait,
        {
            self.inner.delete_by_name(name)
        }
    }

    fn request(method: &str, path: &str, token: &str) -> Request<Empty<Bytes>> {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Empty::new())
            .unwrap()
    }

    /// A lookup of a token that read it just before its revocation, and finished just after
    /// the revocation cleared the cache, must not put the revoked token back in the cache.
    #[tokio::test]
    async fn a_lookup_racing_a_revocation_does_not_cache_the_revoked_token() {
        let dir = tempfile::tempdir().unwrap();
        let archives = FileArchiveStore::open(dir.path()).unwrap();
        let scratch = archives.staging_dir().to_path_buf();
        let tokens = Arc::new(PausedLookup {
            inner: RedbTokenStore::open(&dir.path().join("tokens.redb")).unwrap(),
            paused: AtomicBool::new(false),
            reached: Notify::new(),
            release: Notify::new(),
        });
        let url_signer = tfreg_origin::signed_url::UrlSigner::generate("KTEST");
        let registry = Arc::new(Registry::new(
            Arc::new(archives),
            tokens.clone(),
            url_signer.clone(),
            RegistryConfig::new(scratch),
        ));
        let master = registry.ensure_master_token().await.unwrap().unwrap();
        let created = tokens
            .inner
            .create(&TokenRecord {
                scopes: Vec::new(),
                token_hash: hash_token(VICTIM).as_hex().to_owned(),
                token_name: "victim".into(),
                permission: Tier::Downloader,
                created_at: "2026-01-01T00:00:00Z".into(),
                expires_at: None,
                description: None,
            })
            .await
            .unwrap();
        assert_eq!(created, CreateOutcome::Created);
        let distribution = Distribution::new(
            EdgeCheck::new(EdgeConfig::default()),
            registry,
            url_signer.verifier(),
        );
        let versions = "/v1/modules/acme/vpc/aws/versions";

        let racing = distribution.serve(request("GET", versions, VICTIM));
        let revoke = async {
            tokens.reached.notified().await;
            let revoked = distribution
                .serve(request("DELETE", "/v1/tokens/victim", &master))
                .await;
            tokens.release.notify_one();
            revoked
        };
        let (racing, revoked) = tokio::join!(racing, revoke);
        assert_eq!(revoked.status(), StatusCode::OK);
        // The racing request read the token before it was revoked: it went on (no such
        // module here), as a request already under way at the edge would.
        assert_eq!(racing.status(), StatusCode::NOT_FOUND);

        let after = distribution.serve(request("GET", versions, VICTIM)).await;
        assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn the_discovery_document_names_the_exchanges_only_when_configured() {
        let plain = discovery_document(&tfreg_origin::auth::AuthConfig::default());
        assert_eq!(plain, DISCOVERY_DOCUMENT);
        let auth = tfreg_origin::auth::AuthConfig::from_json(
            r#"{"aws": {"server_id": "registry.example.com",
                        "rules": [{"arn": "arn:aws:iam::123456789012:role/ci", "tier": "downloader"}]},
                "oidc": {"issuers": [{"issuer": "https://gitlab.example.com", "audience": "registry.example.com",
                                      "rules": [{"claims": {"sub": "x"}, "tier": "downloader"}]}]}}"#,
        )
        .unwrap();
        let document: serde_json::Value = serde_json::from_str(&discovery_document(&auth)).unwrap();
        assert_eq!(document["modules.v1"], "/v1/modules/");
        assert_eq!(
            document["tfreg.auth.v1"],
            serde_json::json!({
                "aws": {"sts_endpoint": "https://sts.amazonaws.com/", "server_id": "registry.example.com"},
                "oidc": {"audience": "registry.example.com",
                         "issuers": [{"issuer": "https://gitlab.example.com", "audience": "registry.example.com"}]}
            })
        );
        assert!(
            !document.to_string().contains("arn:aws:iam"),
            "no trust rules"
        );
    }
}
