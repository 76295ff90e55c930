use crate::archive::ArchiveError;
use crate::names::NameError;
use crate::storage::StorageError;

/// An error as the registry answers it: a status, a stable machine-readable code, and a
/// message for the user, rendered as [`tfreg_edge::error_body`]:
/// `{"error":"…","message":"…","errors":["…"],"code":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// The `Allow` header of a `405`: the methods the path takes.
    pub allow: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    /// `405` for a path the registry serves, with a method it does not take there; `allowed`
    /// (from the route table) goes into the `Allow` header and the message.
    pub fn method_not_allowed(method: &str, allowed: &[&str]) -> Self {
        let allowed = allowed.join(", ");
        ApiError {
            allow: Some(allowed.clone()),
            ..Self::new(
                405,
                "method_not_allowed",
                format!("{method} is not allowed here; use {allowed}"),
            )
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    /// `413` for an archive over the upload limit.
    pub fn archive_too_large(limit: u64) -> Self {
        Self::new(
            413,
            "archive_too_large",
            format!("the archive is larger than the {limit}-byte upload limit"),
        )
    }

    /// `413` for a request body over `limit` (token and pin requests, anything but an
    /// archive).
    pub fn body_too_large(limit: u64) -> Self {
        Self::new(
            413,
            "body_too_large",
            format!("request bodies here are limited to {limit} bytes"),
        )
    }

    /// The `413` a body over [`Registry::body_limit`](crate::Registry::body_limit) gets on
    /// `route`.
    pub fn too_large(route: &tfreg_edge::Route<'_>, limit: u64) -> Self {
        match route {
            tfreg_edge::Route::Upload(_) | tfreg_edge::Route::PublishProvider(_) => {
                Self::archive_too_large(limit)
            }
            _ => Self::body_too_large(limit),
        }
    }

    pub fn body_json(&self) -> String {
        tfreg_edge::error_body(self.code, &self.message)
    }
}

impl From<NameError> for ApiError {
    fn from(error: NameError) -> Self {
        let code = match error {
            NameError::Version(_) => "invalid_version",
            _ => "invalid_name",
        };
        ApiError::new(400, code, error.to_string())
    }
}

impl From<ArchiveError> for ApiError {
    fn from(error: ArchiveError) -> Self {
        match error {
            // Our disk failed, not the caller's archive.
            ArchiveError::Io(io) => StorageError::Io(io).into(),
            invalid => ApiError::new(400, "invalid_archive", invalid.to_string()),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        // The detail goes to the log, not to the caller.
        tracing::error!(%error, "storage failed");
        ApiError::new(
            503,
            "storage_unavailable",
            "storage is unavailable; try again",
        )
    }
}
