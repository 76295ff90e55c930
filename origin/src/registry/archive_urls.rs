//! The archive URL of a download answer: a CloudFront signed URL ([`crate::signed_url`]) for
//! the registry's configured address, or for the `Host` the download came with.

use super::clock::now_unix;
use super::Registry;
use crate::error::ApiError;
use tfreg_edge::ARCHIVE_PATH_PREFIX;

/// `location`: what `X-Terraform-Get` starts with (`""`: root-relative, resolved by Terraform
/// against the download URL); `signed`: the `https://host` the signature is for.
pub(super) struct ArchiveUrlBase {
    location: String,
    signed: String,
}

impl Registry {
    /// Where this download's archive URL points and what it is signed for.
    pub(super) fn archive_url_base(&self, host: Option<&str>) -> Result<ArchiveUrlBase, ApiError> {
        if let Some(base) = &self.config.archive_url_base {
            return Ok(ArchiveUrlBase {
                location: base.clone(),
                signed: base.clone(),
            });
        }
        // The Host goes into the signed resource: only a host name (or address) and a port,
        // so a crafted one cannot make the resource another path or add a parameter.
        let signed = host
            .and_then(crate::signed_url::https_origin)
            .ok_or_else(|| {
                ApiError::bad_request("a download request needs a Host header naming the registry")
            })?;
        Ok(ArchiveUrlBase {
            location: String::new(),
            signed,
        })
    }

    /// A signed URL for `key_path` beneath `/archives/`.
    pub(super) fn signed_url(&self, base: &ArchiveUrlBase, key_path: &str, sha256: &str) -> String {
        let signed = self.signed_path_url(base, &format!("{ARCHIVE_PATH_PREFIX}{key_path}"));
        // go-getter takes `checksum` out before it requests the URL, so it stays out of the
        // signature. An empty one would fail every download: leave it out instead.
        if sha256.is_empty() {
            signed
        } else {
            format!("{signed}&checksum=sha256:{sha256}")
        }
    }

    /// A signed URL for `path` (from the root, no query) on this registry.
    pub(super) fn signed_path_url(&self, base: &ArchiveUrlBase, path: &str) -> String {
        let expires = now_unix() + self.config.archive_url_ttl_secs;
        let query = self.signer.sign(&format!("{}{path}", base.signed), expires);
        format!("{}{path}?{query}", base.location)
    }

    /// Checks that `path?query` is a URL this registry signed for `base` and that it has not
    /// expired: a route the origin serves itself that Terraform requests with no token.
    pub(super) fn check_signed_path(
        &self,
        base: &ArchiveUrlBase,
        path: &str,
        query: &str,
    ) -> Result<(), ApiError> {
        use crate::signed_url::SignedUrlError;
        let verdict =
            self.signer
                .verifier()
                .verify(&format!("{}{path}", base.signed), query, now_unix());
        verdict.map_err(|error| {
            let (code, message) = match error {
                SignedUrlError::Missing => ("unsigned_url", "this URL is not signed"),
                SignedUrlError::Expired => ("expired_url", "this URL has expired"),
                _ => (
                    "invalid_signature",
                    "this URL's signature does not match it",
                ),
            };
            ApiError::new(
                403,
                code,
                format!("{message}: ask the registry for the document that named it again"),
            )
        })
    }
}
