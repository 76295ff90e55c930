//! The proxy's only HTTP client: the upstream registry's discovery, version list and download
//! answer, and archive downloads from the upstream or the GitHub archive host.
//!
//! Every request goes to a URL that [`FetchOrigins::permits`]; a redirect is followed only to
//! such a URL and at most [`MAX_REDIRECTS`] times; every body is read with a size cap; and
//! each request has a timeout (the caller also bounds the whole operation).

use super::source::FetchOrigins;
use super::{CaBundle, ProxyError, UpstreamToken};
use crate::names::{ArchiveKey, ModuleAddress, ModuleVersion};
use reqwest::{redirect, StatusCode, Url};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

/// Redirects followed per request (GitHub's archive URLs redirect once, to codeload).
pub const MAX_REDIRECTS: usize = 3;

/// Largest JSON answer read from the upstream (version lists of the busiest public modules
/// are tens of kilobytes).
pub const MAX_JSON_BYTES: u64 = 4 * 1024 * 1024;

pub struct UpstreamClient {
    http: reqwest::Client,
    origins: FetchOrigins,
    max_archive_bytes: u64,
    /// The upstream's `modules.v1` base, read from its discovery document once.
    modules_base: OnceCell<Url>,
    /// Sent to the upstream registry's API only ([`UpstreamClient::api_get`]).
    token: Option<UpstreamToken>,
}

/// An archive fetched to a file.
pub struct FetchedBytes {
    pub size: u64,
    pub sha256: String,
}

/// A URL as it may appear in messages: no query (which may carry a signature) and no
/// credentials.
pub fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

impl UpstreamClient {
    pub fn new(
        origins: FetchOrigins,
        request_timeout: Duration,
        max_archive_bytes: u64,
        ca_bundle: Option<&CaBundle>,
        token: Option<UpstreamToken>,
    ) -> Result<Self, String> {
        let permitted = origins.clone();
        let http = bounded_client(
            move |url| permitted.permits(url),
            request_timeout,
            ca_bundle,
            "module proxy",
        )
        .map_err(|e| format!("cannot build the upstream HTTP client: {e}"))?;
        Ok(UpstreamClient {
            http,
            origins,
            max_archive_bytes,
            modules_base: OnceCell::new(),
            token,
        })
    }

    pub fn origins(&self) -> &FetchOrigins {
        &self.origins
    }

    /// GET `url`, mapping transport failures to [`ProxyError`]s that name the host.
    async fn get(&self, url: &Url) -> Result<reqwest::Response, ProxyError> {
        self.send_get(url, false).await
    }

    /// GET on the upstream registry's API (discovery, versions, download answer): with the
    /// configured token, if any, and only on the upstream's own origin. Archive URLs get no
    /// token, as Terraform sends none there (they carry their own signature).
    async fn api_get(&self, url: &Url) -> Result<reqwest::Response, ProxyError> {
        self.send_get(url, url.origin() == self.origins.upstream.origin())
            .await
    }

    async fn send_get(&self, url: &Url, with_token: bool) -> Result<reqwest::Response, ProxyError> {
        if !self.origins.permits(url) {
            return Err(ProxyError::BadAnswer(format!(
                "refusing to fetch {}: not the upstream registry or the GitHub archive host",
                display_url(url)
            )));
        }
        let mut request = self.http.get(url.clone());
        if let (true, Some(token)) = (with_token, &self.token) {
            // reqwest drops it on a redirect to another host.
            request = request.bearer_auth(&token.0);
        }
        request.send().await.map_err(|e| transport_error(url, &e))
    }

    /// Reads a JSON body of at most [`MAX_JSON_BYTES`].
    async fn json(
        &self,
        url: &Url,
        response: reqwest::Response,
    ) -> Result<serde_json::Value, ProxyError> {
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(url, &e))?
        {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > MAX_JSON_BYTES {
                return Err(ProxyError::BadAnswer(format!(
                    "{} answered more than {MAX_JSON_BYTES} bytes",
                    display_url(url)
                )));
            }
        }
        serde_json::from_slice(&body)
            .map_err(|_| ProxyError::BadAnswer(format!("{} did not answer JSON", display_url(url))))
    }

    /// The upstream's module API base, from its discovery document.
    async fn modules_base(&self) -> Result<Url, ProxyError> {
        self.modules_base
            .get_or_try_init(|| async {
                let url = self
                    .origins
                    .upstream
                    .join("/.well-known/terraform.json")
                    .expect("a fixed path joins onto an http(s) URL");
                let response = self.api_get(&url).await?;
                if !response.status().is_success() {
                    return Err(unexpected_status(&url, response.status()));
                }
                let discovery = self.json(&url, response).await?;
                let base = discovery
                    .get("modules.v1")
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| {
                        ProxyError::BadAnswer(format!(
                            "{} has no modules.v1 service",
                            display_url(&url)
                        ))
                    })?;
                let base = url.join(base).map_err(|_| {
                    ProxyError::BadAnswer(format!(
                        "{} names an unreadable modules.v1 URL",
                        display_url(&url)
                    ))
                })?;
                if !self.origins.permits(&base) {
                    return Err(ProxyError::BadAnswer(format!(
                        "{} puts its module API on another host ({}), which this registry does not fetch from",
                        display_url(&url),
                        display_url(&base)
                    )));
                }
                Ok(base)
            })
            .await
            .cloned()
    }

    async fn module_url(&self, module: &ModuleAddress, rest: &[&str]) -> Result<Url, ProxyError> {
        let mut url = self.modules_base().await?;
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|_| ProxyError::BadAnswer("unusable modules.v1 URL".into()))?;
            segments.pop_if_empty();
            segments
                .push(&module.namespace)
                .push(&module.name)
                .push(&module.system);
            segments.extend(rest);
        }
        Ok(url)
    }

    /// The versions the upstream lists, in its order; versions that are not semver are
    /// skipped. `ProxyError::NotFound` when the upstream does not know the module.
    pub async fn versions(&self, module: &ModuleAddress) -> Result<Vec<ModuleVersion>, ProxyError> {
        let url = self.module_url(module, &["versions"]).await?;
        let response = self.api_get(&url).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(ProxyError::NotFound(format!(
                    "module {module} is not in this registry or in the upstream registry"
                )))
            }
            status => return Err(unexpected_status(&url, status)),
        }
        let body = self.json(&url, response).await?;
        let listed = body
            .get("modules")
            .and_then(|m| m.as_array())
            .and_then(|m| m.first())
            .and_then(|m| m.get("versions"))
            .and_then(|v| v.as_array())
            .ok_or_else(|| {
                ProxyError::BadAnswer(format!(
                    "{} did not answer a version list",
                    display_url(&url)
                ))
            })?;
        Ok(listed
            .iter()
            .filter_map(|v| v.get("version")?.as_str())
            .filter_map(|v| ModuleVersion::parse(v).ok())
            .collect())
    }

    /// The upstream's download answer for one version (its `X-Terraform-Get`, or the
    /// `location` of an older JSON answer), with the URL it came from.
    pub async fn download_location(&self, key: &ArchiveKey) -> Result<(String, Url), ProxyError> {
        let version = key.version.to_string();
        let url = self
            .module_url(&key.module, &[version.as_str(), "download"])
            .await?;
        let response = self.api_get(&url).await?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Err(ProxyError::NotFound(format!(
                "module {} version {} is not in this registry or in the upstream registry",
                key.module, key.version
            )));
        }
        if !status.is_success() {
            return Err(unexpected_status(&url, status));
        }
        // Where the request ended after redirects: relative answers resolve against it.
        let final_url = response.url().clone();
        if let Some(location) = response.headers().get("x-terraform-get") {
            let location = location.to_str().map_err(|_| {
                ProxyError::BadAnswer(format!(
                    "{} answered an X-Terraform-Get that is not text",
                    display_url(&url)
                ))
            })?;
            return Ok((location.to_owned(), final_url));
        }
        if status == StatusCode::OK {
            if let Ok(body) = self.json(&url, response).await {
                if let Some(location) = body.get("location").and_then(|l| l.as_str()) {
                    return Ok((location.to_owned(), final_url));
                }
            }
        }
        Err(ProxyError::BadAnswer(format!(
            "{} answered without a download location (no X-Terraform-Get)",
            display_url(&url)
        )))
    }

    /// Streams the archive at `url` into `file`, refusing more than the configured size, and
    /// returns its size and SHA-256.
    pub async fn fetch_archive(
        &self,
        url: &Url,
        file: &mut tokio::fs::File,
    ) -> Result<FetchedBytes, ProxyError> {
        let mut response = self.get(url).await?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Err(ProxyError::BadAnswer(format!(
                "the module archive {} does not exist (404)",
                display_url(url)
            )));
        }
        if !status.is_success() {
            return Err(unexpected_status(url, status));
        }
        let limit = self.max_archive_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(ProxyError::TooLarge(format!(
                "the module archive {} is larger than the proxy's {limit}-byte limit",
                display_url(url)
            )));
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
                return Err(ProxyError::TooLarge(format!(
                    "the module archive {} is larger than the proxy's {limit}-byte limit",
                    display_url(url)
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| ProxyError::Internal(format!("spooling the archive: {e}")))?;
        }
        file.flush()
            .await
            .map_err(|e| ProxyError::Internal(format!("spooling the archive: {e}")))?;
        Ok(FetchedBytes {
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

pub(crate) fn unexpected_status(url: &Url, status: StatusCode) -> ProxyError {
    // The body is never passed on: it is the upstream's, unvetted, and may hold internals.
    ProxyError::BadAnswer(format!("{} answered {}", display_url(url), status.as_u16()))
}

pub(crate) fn transport_error(url: &Url, error: &reqwest::Error) -> ProxyError {
    let host = url.host_str().unwrap_or("the upstream");
    let shown = display_url(url);
    if error.is_timeout() {
        ProxyError::Timeout(format!("{shown} did not answer in time"))
    } else if error.is_redirect() {
        let why = std::error::Error::source(error)
            .map(ToString::to_string)
            .unwrap_or_else(|| "a redirect that is not allowed".into());
        ProxyError::BadAnswer(format!("{shown} answered with {why}"))
    } else if error.is_connect() {
        ProxyError::Unreachable(format!("cannot connect to {host}"))
    } else if error.is_body() || error.is_decode() {
        ProxyError::BadAnswer(format!("{shown} sent a broken response body"))
    } else {
        ProxyError::Unreachable(format!("request to {shown} failed"))
    }
}

/// An HTTP client that fetches only where `permits` says (a redirect elsewhere, or past
/// [`MAX_REDIRECTS`], is an error), within `request_timeout`, trusting the platform's roots
/// (the OS store, read once here), the Mozilla roots built in and `ca_bundle`'s certificates,
/// and never through an HTTP proxy from the environment (that would be one more host). Shared
/// by the module proxy and the provider mirror; `purpose` goes into the User-Agent.
pub(crate) fn bounded_client(
    permits: impl Fn(&Url) -> bool + Send + Sync + 'static,
    request_timeout: Duration,
    ca_bundle: Option<&CaBundle>,
    purpose: &str,
) -> reqwest::Result<reqwest::Client> {
    let policy = redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else if permits(attempt.url()) {
            attempt.follow()
        } else {
            let to = display_url(attempt.url());
            attempt.error(format!(
                "a redirect to {to}, a host this registry does not fetch from"
            ))
        }
    });
    let mut builder = reqwest::Client::builder()
        .tls_built_in_native_certs(true)
        .tls_built_in_webpki_certs(true);
    for certificate in ca_bundle.iter().flat_map(|b| b.certificates.iter()) {
        builder = builder.add_root_certificate(certificate.clone());
    }
    builder
        .redirect(policy)
        .timeout(request_timeout)
        .connect_timeout(request_timeout.min(Duration::from_secs(10)))
        .user_agent(format!("tfreg/{} ({purpose})", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .build()
}
