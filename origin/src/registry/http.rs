//! The request and response types between the adapters (`tfreg serve`'s distribution, the
//! origin Lambda's Function URL adapter) and [`Registry::handle`](super::Registry::handle).

use super::{CACHEABLE_READ, NOT_CACHEABLE};
use crate::error::ApiError;

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

impl OriginRequest {
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

    pub(super) fn no_content() -> Self {
        OriginResponse {
            status: 204,
            headers: vec![("cache-control".into(), NOT_CACHEABLE.into())],
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
        response
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
