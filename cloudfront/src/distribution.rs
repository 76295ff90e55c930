//! The distribution assembled as CloudFront runs it, in one process: the static discovery
//! document first, then the viewer-request check (the `edge` crate) on everything else, then
//! either the archive store (`/archives/*`, S3 behind CloudFront) or the registry origin
//! (`/v1/*`, the origin Lambda).

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Body, Frame};
use std::sync::{Arc, Mutex};
use tfreg_edge::{
    Decision, Denial, EdgeCheck, Identity, Route, TokenHash, TokenInfo, ViewerRequest,
};
use tfreg_origin::{
    now_unix, ApiError, IdentitySource, OriginRequest, OriginResponse, Registry, RequestBody,
};
use tokio::io::AsyncWriteExt;

pub type ResponseBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

pub const DISCOVERY_PATH: &str = "/.well-known/terraform.json";
/// The discovery document. The deployment module uploads the same file to S3, so the local
/// server and CloudFront answer the same bytes.
pub const DISCOVERY_DOCUMENT: &str = include_str!("../../terraform/discovery.json");
/// The OpenAPI document of this API, served public at `/openapi.json` (on AWS a static object
/// beside the discovery document). `tests/openapi.sh` keeps it true with schemathesis.
pub const OPENAPI_DOCUMENT: &str = include_str!("../../terraform/openapi.json");

pub struct Distribution {
    edge: Mutex<EdgeCheck>,
    registry: Arc<Registry>,
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
    pub fn new(edge: EdgeCheck, registry: Arc<Registry>) -> Self {
        Distribution {
            edge: Mutex::new(edge),
            registry,
        }
    }

    pub async fn serve<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let path = request.uri().path().to_owned();
        let route = Route::parse(request.method().as_str(), &path);

        match route {
            Route::Discovery => return json_response(200, DISCOVERY_DOCUMENT.to_owned()),
            Route::OpenApi => return json_response(200, OPENAPI_DOCUMENT.to_owned()),
            _ => {}
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

        if let Route::Archive { key_path } = route {
            return self.archive(key_path).await;
        }
        let body_limit = self.registry.body_limit(&route);
        let too_large = ApiError::too_large(&route, body_limit);
        let spool_to_disk = matches!(route, Route::Upload(_));
        let is_revocation = matches!(route, Route::RevokeToken { .. });
        let response = self
            .origin(request, identity, body_limit, too_large, spool_to_disk)
            .await;
        if is_revocation && response.status() == StatusCode::OK {
            // In one process the revocation can reach the cache at once; at the edge it waits
            // for the cache TTL.
            self.edge.lock().expect("edge lock").clear_cache();
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
                let found = self
                    .lookup(&token_hash)
                    .await
                    .map_err(|error| api_error_response(&error))?;
                self.edge
                    .lock()
                    .expect("edge lock")
                    .complete(&viewer, &token_hash, found, now)
            }
            decided => decided,
        };
        match decision {
            Decision::Allow { identity } => Ok(identity),
            Decision::Deny(denial) => Err(denial_response(&denial)),
            Decision::Lookup { .. } => unreachable!("complete never asks for another lookup"),
        }
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
    /// otherwise into memory; past the limit the answer is `too_large`.
    async fn origin<B>(
        &self,
        request: Request<B>,
        identity: Option<Identity>,
        body_limit: u64,
        too_large: ApiError,
        spool_to_disk: bool,
    ) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let (parts, body) = request.into_parts();
        let body = if spool_to_disk {
            self.spool_upload(&parts.headers, body, body_limit, too_large)
                .await
        } else {
            read_small_body(body, body_limit, too_large).await
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
        origin_response(self.registry.handle(origin_request).await)
    }

    /// Streams an upload into a scratch file, never into memory, stopping at the size cap.
    async fn spool_upload<B>(
        &self,
        headers: &http::HeaderMap,
        mut body: B,
        limit: u64,
        too_large: ApiError,
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
            return Err(too_large);
        }
        let scratch = self.registry.config().scratch_dir.clone();
        let io_error =
            |e: std::io::Error| ApiError::from(tfreg_origin::storage::StorageError::Io(e));
        let file = tempfile::tempfile_in(&scratch).map_err(io_error)?;
        let mut file = tokio::fs::File::from_std(file);
        let mut written: u64 = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                ApiError::bad_request(format!("reading the request body failed: {e}"))
            })?;
            if let Ok(data) = frame.into_data() {
                written += data.len() as u64;
                if written > limit {
                    drain(&mut body, DRAIN_AFTER_REJECT_BYTES).await;
                    return Err(too_large);
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

async fn read_small_body<B>(
    body: B,
    limit: u64,
    too_large: ApiError,
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
                Err(too_large)
            } else {
                Err(ApiError::bad_request(format!(
                    "reading the request body failed: {error}"
                )))
            }
        }
    }
}
