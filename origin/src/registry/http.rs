//! The request and response types between the adapters (`tfreg serve`'s distribution, the
//! origin Lambda's Function URL adapter) and [`Registry::handle`](super::Registry::handle).

use super::{CACHEABLE_READ, NOT_CACHEABLE};
use crate::error::ApiError;
use http::{HeaderMap, HeaderName, HeaderValue};
use tfreg_edge::cloudfront::ORIGIN_SECRET_HEADER;
use tfreg_edge::{Identity, IDENTITY_HEADER};

/// A request body as the origin receives it.
pub enum RequestBody {
    Empty,
    Bytes(Vec<u8>),
    /// An upload already spooled to a file (by `tfreg serve`, which streams large bodies to
    /// disk rather than memory).
    File(std::fs::File),
}

impl RequestBody {
    /// How many bytes the body holds.
    pub fn size(&self) -> Result<u64, ApiError> {
        Ok(match self {
            RequestBody::Empty => 0,
            RequestBody::Bytes(bytes) => bytes.len() as u64,
            RequestBody::File(file) => file
                .metadata()
                .map_err(|e| ApiError::from(crate::storage::StorageError::Io(e)))?
                .len(),
        })
    }
}

pub struct OriginRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: RequestBody,
}

/// Where the caller's identity comes from when an adapter builds an [`OriginRequest`].
pub enum IdentitySource {
    /// The identity header as it arrived: the edge function set it (after removing any copy
    /// the viewer sent), and the origin secret proved that the request came through the edge.
    /// The origin Lambda's case.
    Forwarded,
    /// The viewer check that just ran in this process: a header of that name came from the
    /// viewer and is dropped. `tfreg serve`'s case.
    Checked(Option<Identity>),
}

impl OriginRequest {
    /// The request an adapter passes to the registry: method, path, query and body as they
    /// came, and the headers less the ones the registry must never see: the viewer's
    /// `Authorization` (the edge has decided; a token goes no further than it needs to) and
    /// the origin secret. Headers that are not text are dropped.
    pub fn from_parts(
        method: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        identity: IdentitySource,
        body: RequestBody,
    ) -> Self {
        let drop_identity = matches!(identity, IdentitySource::Checked(_));
        let mut kept: Vec<(String, String)> = headers
            .iter()
            .filter(|(name, _)| {
                *name != http::header::AUTHORIZATION
                    && name.as_str() != ORIGIN_SECRET_HEADER
                    && !(drop_identity && name.as_str() == IDENTITY_HEADER)
            })
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        if let IdentitySource::Checked(Some(identity)) = identity {
            kept.push((IDENTITY_HEADER.to_owned(), identity.to_header_value()));
        }
        OriginRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: kept,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OriginResponse {
    pub(super) fn json(status: u16, value: serde_json::Value) -> Self {
        OriginResponse {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), NOT_CACHEABLE.into()),
            ],
            body: value.to_string().into_bytes(),
        }
    }

    /// `200` with `{"message": …}`, the Python registry's answer to a deletion.
    pub(super) fn message(text: String) -> Self {
        Self::json(200, serde_json::json!({ "message": text }))
    }

    pub(super) fn no_content() -> Self {
        OriginResponse {
            status: 204,
            headers: vec![("cache-control".into(), NOT_CACHEABLE.into())],
            body: Vec::new(),
        }
    }

    /// `302` to `location` (a path on this host).
    pub(super) fn redirect(location: &str) -> Self {
        OriginResponse {
            status: 302,
            headers: vec![
                ("location".into(), location.into()),
                ("cache-control".into(), NOT_CACHEABLE.into()),
            ],
            body: Vec::new(),
        }
    }

    /// Marks a read that a shared cache may keep for a short while.
    pub(super) fn cacheable(mut self) -> Self {
        for (name, value) in &mut self.headers {
            if name == "cache-control" {
                *value = CACHEABLE_READ.into();
            }
        }
        self
    }

    pub fn error(error: &ApiError) -> Self {
        let mut response = OriginResponse {
            status: error.status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), NOT_CACHEABLE.into()),
            ],
            body: error.body_json().into_bytes(),
        };
        if error.status == 401 {
            response
                .headers
                .push(("www-authenticate".into(), "Bearer realm=\"tfreg\"".into()));
        }
        if let Some(allow) = &error.allow {
            response.headers.push(("allow".into(), allow.clone()));
        }
        response
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The answer as an `http` response, for an adapter to send (a header that is not valid
    /// HTTP, which the registry never makes, is dropped rather than failing the answer).
    pub fn into_http(self) -> http::Response<Vec<u8>> {
        let mut response = http::Response::new(self.body);
        *response.status_mut() = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfreg_edge::Tier;

    fn viewer_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer tfr_secret".parse().unwrap());
        headers.insert(ORIGIN_SECRET_HEADER, "origin-secret".parse().unwrap());
        headers.insert(IDENTITY_HEADER, "token=forged;tier=master".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        headers
    }

    fn build(identity: IdentitySource) -> OriginRequest {
        let headers = viewer_headers();
        OriginRequest::from_parts(
            "POST",
            "/v1/tokens",
            "a=b",
            &headers,
            identity,
            RequestBody::Empty,
        )
    }

    #[test]
    fn tokens_and_the_origin_secret_never_reach_the_registry() {
        for identity in [IdentitySource::Forwarded, IdentitySource::Checked(None)] {
            let request = build(identity);
            assert_eq!(request.header("authorization"), None);
            assert_eq!(request.header(ORIGIN_SECRET_HEADER), None);
            assert_eq!(request.header("content-type"), Some("application/json"));
            assert_eq!(
                (request.path.as_str(), request.query.as_str()),
                ("/v1/tokens", "a=b")
            );
        }
    }

    #[test]
    fn an_in_process_check_replaces_whatever_identity_the_viewer_sent() {
        assert_eq!(
            build(IdentitySource::Checked(None)).header(IDENTITY_HEADER),
            None
        );
        let checked = Identity {
            scopes: Vec::new(),
            token_name: "ci".into(),
            tier: Tier::Uploader,
        };
        let request = build(IdentitySource::Checked(Some(checked)));
        assert_eq!(
            request.header(IDENTITY_HEADER),
            Some("token=ci;tier=uploader")
        );
        // Behind the edge, the header is the edge's own.
        let request = build(IdentitySource::Forwarded);
        assert_eq!(
            request.header(IDENTITY_HEADER),
            Some("token=forged;tier=master")
        );
    }

    #[test]
    fn an_answer_converts_to_http_with_its_status_headers_and_body() {
        let response =
            OriginResponse::error(&ApiError::new(401, "missing_token", "no")).into_http();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"tfreg\""
        );
        assert_eq!(
            response.body(),
            br#"{"code":"missing_token","error":"missing_token","errors":["no"],"message":"no"}"#
        );
        let response =
            OriginResponse::error(&ApiError::method_not_allowed("PUT", &["GET", "POST"]))
                .into_http();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET, POST");
    }
}
