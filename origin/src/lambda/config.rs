//! The origin Lambda's configuration, and the registry it builds from it at cold start.

use super::{OriginLambda, LAMBDA_BODY_LIMIT_BYTES};
use crate::mirror::{MirrorConfig, ProviderMirror};
use crate::proxy::{Proxy, ProxyConfig};
use crate::{Registry, RegistryConfig};
use std::sync::Arc;

/// The origin Lambda's configuration, read once at cold start from the function's
/// environment (set by the deployment module, terraform/lambda_origin.tf).
///
/// | variable | meaning |
/// |---|---|
/// | `TFREG_S3_BUCKET` | the archive bucket (required) |
/// | `TFREG_S3_PREFIX` | key prefix of archives (default `archives/`) |
/// | `TFREG_DYNAMODB_TABLE` | the token table (required) |
/// | `TFREG_URL_SIGNING_SECRET` | the Secrets Manager secret (name or ARN) holding the CloudFront key pair that signs archive URLs and the registry's address ([`super::signing_secret`]; required) |
/// | `TFREG_ORIGIN_SECRET` | the secret header value the edge adds (required) |
/// | `TFREG_ARCHIVE_URL_TTL` | seconds a signed archive URL lives (default 300) |
/// | `TFREG_MAX_STAGED_UPLOAD_BYTES` | the largest archive a large upload takes, module or provider release (default 100 MiB) |
/// | `TFREG_ENDPOINT_URL` | S3/DynamoDB endpoint override (tests against a local server) |
/// | `TFREG_STORAGE_TIMEOUT` | seconds one attempt at an S3/DynamoDB request waits for its answer (default 5; archive uploads get a second more per MiB) |
/// | `TFREG_PROXY_*` | proxy mode and pinning: [`ProxyConfig::from_env`] |
/// | `TFREG_PROVIDER_MIRROR_*` | the provider network mirror: [`MirrorConfig::from_env`] (off without upstreams; the versions TTL and trusted roots are the proxy's) |
/// | `TFREG_AUTH_CONFIG` | the exchanges' trust rules, as JSON ([`crate::auth::AuthConfig`]); unset: no exchanges |
/// | `AWS_REGION` | set by Lambda |
pub struct OriginConfig {
    pub storage: crate::aws::AwsStorageConfig,
    pub url_signing_secret: String,
    pub origin_secret: String,
    pub archive_url_ttl_secs: u64,
    pub max_staged_upload_bytes: u64,
    pub proxy: ProxyConfig,
    pub mirror: MirrorConfig,
    pub auth: crate::auth::AuthConfig,
}

impl OriginConfig {
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not set"));
        let archive_url_ttl_secs = match var("TFREG_ARCHIVE_URL_TTL") {
            Some(text) => text
                .parse()
                .map_err(|_| format!("TFREG_ARCHIVE_URL_TTL is not a number: {text:?}"))?,
            None => crate::DEFAULT_ARCHIVE_URL_TTL_SECS,
        };
        let max_staged_upload_bytes = match var("TFREG_MAX_STAGED_UPLOAD_BYTES") {
            Some(text) => text.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("TFREG_MAX_STAGED_UPLOAD_BYTES is not a positive number: {text:?}")
            })?,
            None => crate::DEFAULT_MAX_UPLOAD_BYTES,
        };
        let proxy = ProxyConfig::from_env(|name| std::env::var(name).ok())?;
        let mirror = MirrorConfig::from_env(|name| std::env::var(name).ok())
            .map_err(|e| format!("provider mirror settings: {e}"))?
            .with_proxy_settings(&proxy);
        Ok(OriginConfig {
            storage: crate::aws::AwsStorageConfig {
                s3_bucket: required("TFREG_S3_BUCKET")?,
                s3_prefix: var("TFREG_S3_PREFIX")
                    .unwrap_or_else(|| crate::aws::DEFAULT_S3_PREFIX.to_owned()),
                dynamodb_table: required("TFREG_DYNAMODB_TABLE")?,
                region: var("AWS_REGION"),
                endpoint_url: var("TFREG_ENDPOINT_URL"),
                storage_timeout: match var("TFREG_STORAGE_TIMEOUT") {
                    Some(text) => text
                        .parse::<u64>()
                        .ok()
                        .filter(|secs| *secs > 0)
                        .map(std::time::Duration::from_secs)
                        .ok_or_else(|| {
                            format!("TFREG_STORAGE_TIMEOUT is not a positive number of seconds: {text:?}")
                        })?,
                    None => crate::aws::DEFAULT_STORAGE_TIMEOUT,
                },
            },
            url_signing_secret: required("TFREG_URL_SIGNING_SECRET")?,
            origin_secret: required("TFREG_ORIGIN_SECRET")?,
            archive_url_ttl_secs,
            max_staged_upload_bytes,
            proxy,
            mirror,
            auth: match var("TFREG_AUTH_CONFIG") {
                Some(json) => crate::auth::AuthConfig::from_json(&json)
                    .map_err(|e| format!("TFREG_AUTH_CONFIG: {e}"))?,
                None => crate::auth::AuthConfig::default(),
            },
        })
    }

    /// Builds the clients (once) and the registry on them.
    pub async fn connect(self) -> Result<OriginLambda, String> {
        let sdk = self.storage.sdk_config().await;
        let (archives, tokens) = self.storage.connect_on(&sdk);
        let staging = crate::aws::S3UploadStaging::new(
            archives.client().clone(),
            archives.bucket(),
            crate::aws::DEFAULT_STAGING_PREFIX,
        );
        // Uploads and mirrored packages are worked on in /tmp, which outlives a function that
        // Lambda killed mid-request (a timeout): whatever such a run left is cleared here, as
        // the environment starts again.
        let scratch_dir = std::env::temp_dir().join("tfreg-scratch");
        std::fs::create_dir_all(&scratch_dir)
            .and_then(|()| crate::embedded::clear_dir(&scratch_dir))
            .map_err(|e| format!("scratch directory {}: {e}", scratch_dir.display()))?;
        let mut config = RegistryConfig::new(scratch_dir.clone());
        config.archive_url_ttl_secs = self.archive_url_ttl_secs;
        config.max_staged_upload_bytes = self.max_staged_upload_bytes;
        // A provider release goes through staging too (its direct PUT is within the 6 MB
        // below), up to the same limit.
        config.max_provider_upload_bytes = self.max_staged_upload_bytes;
        // Lambda refuses larger payloads before the function runs.
        config.max_upload_bytes = LAMBDA_BODY_LIMIT_BYTES;
        let proxy = Proxy::new(self.proxy, Arc::new(archives.proxy_cache_store()))?;
        // Packages are fetched into the scratch directory, then put into the bucket.
        let mirror = if self.mirror.enabled() {
            let store = Arc::new(archives.mirror_store());
            Some(ProviderMirror::new(self.mirror, store, scratch_dir)?)
        } else {
            None
        };
        // After every setting is checked: this is the first call that leaves the container.
        let (signer, base_url) =
            super::signing_secret::load(&sdk, &self.url_signing_secret).await?;
        config.archive_url_base = Some(base_url);
        let tokens = Arc::new(tokens);
        let catalogue = Arc::new(archives.catalogue_store());
        let providers = Arc::new(archives.provider_store());
        let registry = Registry::new(Arc::new(archives), tokens.clone(), signer, config)
            .with_upload_staging(Arc::new(staging))
            .with_providers(providers)
            .with_proxy(proxy)
            .with_pins(tokens)
            .with_catalogue(catalogue)
            .with_auth(self.auth)?;
        let registry = match mirror {
            Some(mirror) => registry.with_mirror(mirror),
            None => registry,
        };
        Ok(OriginLambda::new(Arc::new(registry), self.origin_secret))
    }
}
