//! The mirror's only HTTP client: the upstream registries' provider API (discovery, version
//! lists, download answers) and their release files. Bounded like the module proxy's client
//! ([`crate::proxy::upstream`]), whose error mapping it shares: only configured origins are
//! fetched (a redirect elsewhere is refused), at most [`MAX_REDIRECTS`] redirects, a timeout
//! per request, and a size cap on every body.

use crate::proxy::upstream::{
    bounded_client, display_url, transport_error, unexpected_status, MAX_JSON_BYTES,
};
use crate::proxy::{CaBundle, ProxyError};
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

pub use crate::proxy::upstream::MAX_REDIRECTS;

/// The origins (scheme, host, port) the mirror may fetch from: its upstream registries and
/// their download hosts.
#[derive(Debug, Clone)]
pub struct AllowedOrigins(Arc<Vec<Url>>);

impl AllowedOrigins {
    pub fn new(urls: Vec<Url>) -> Self {
        AllowedOrigins(Arc::new(urls))
    }

    pub fn permits(&self, url: &Url) -> bool {
        self.0
            .iter()
            .any(|allowed| allowed.origin() == url.origin())
    }
}

pub struct MirrorClient {
    http: reqwest::Client,
    origins: AllowedOrigins,
}

impl MirrorClient {
    pub fn new(
        origins: AllowedOrigins,
        request_timeout: Duration,
        ca_bundle: Option<&CaBundle>,
    ) -> Result<Self, String> {
        let permitted = origins.clone();
        let http = bounded_client(
            move |url| permitted.permits(url),
            request_timeout,
            ca_bundle,
            "provider mirror",
        )
        .map_err(|e| format!("cannot build the mirror's HTTP client: {e}"))?;
        Ok(MirrorClient { http, origins })
    }

    async fn get(&self, url: &Url) -> Result<reqwest::Response, ProxyError> {
        if !self.origins.permits(url) {
            return Err(ProxyError::BadAnswer(format!(
                "refusing to fetch {}: not a configured upstream registry or download host",
                display_url(url)
            )));
        }
        self.http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| transport_error(url, &e))
    }

    /// GET `url` and read at most `limit` bytes of a successful answer; `Ok(None)` on 404.
    pub async fn get_bytes(
        &self,
        url: &Url,
        limit: u64,
    ) -> Result<Option<(Vec<u8>, Url)>, ProxyError> {
        let mut response = self.get(url).await?;
        match response.status() {
            StatusCode::NOT_FOUND => return Ok(None),
            status if !status.is_success() => return Err(unexpected_status(url, status)),
            _ => {}
        }
        let final_url = response.url().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(url, &e))?
        {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > limit {
                return Err(ProxyError::TooLarge(format!(
                    "{} answered more than {limit} bytes",
                    display_url(url)
                )));
            }
        }
        Ok(Some((body, final_url)))
    }

    /// GET a JSON document; `Ok(None)` on 404. Returns it with the URL it came from after
    /// redirects (relative URLs in it resolve against that).
    pub async fn get_json(
        &self,
        url: &Url,
    ) -> Result<Option<(serde_json::Value, Url)>, ProxyError> {
        let Some((body, final_url)) = self.get_bytes(url, MAX_JSON_BYTES).await? else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&body).map_err(|_| {
            ProxyError::BadAnswer(format!("{} did not answer JSON", display_url(url)))
        })?;
        Ok(Some((value, final_url)))
    }

    /// Streams the file at `url` into `file`, refusing more than `limit` bytes; returns its
    /// size and SHA-256 (lowercase hex).
    pub async fn fetch_file(
        &self,
        url: &Url,
        file: &mut tokio::fs::File,
        limit: u64,
    ) -> Result<(u64, String), ProxyError> {
        let mut response = self.get(url).await?;
        let status = response.status();
        if !status.is_success() {
            return Err(unexpected_status(url, status));
        }
        let too_large = || {
            ProxyError::TooLarge(format!(
                "the package {} is larger than the mirror's {limit}-byte limit",
                display_url(url)
            ))
        };
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(too_large());
        }
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(url, &e))?
        {
            size += chunk.len() as u64;
            if size > limit {
                return Err(too_large());
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| ProxyError::Internal(format!("spooling the package: {e}")))?;
        }
        file.flush()
            .await
            .map_err(|e| ProxyError::Internal(format!("spooling the package: {e}")))?;
        Ok((size, hex::encode(hasher.finalize())))
    }
}
