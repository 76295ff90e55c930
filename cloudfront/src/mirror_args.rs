//! `serve`'s provider mirror settings: the same environment variables as
//! [`tfreg_origin::mirror::MirrorConfig::from_env`] reads, with the module proxy's versions
//! TTL and CA bundle.

use clap::Args;
use tfreg_origin::mirror::{env_vars, MirrorConfig};
use tfreg_origin::proxy::ProxyConfig;

/// The provider network mirror (`/v1/mirror/`): public providers fetched, checked and kept.
#[derive(Args)]
pub struct MirrorArgs {
    /// Registries whose providers are mirrored, comma-separated: a provider hostname
    /// (`registry.terraform.io`, fetched over HTTPS from that host) or `hostname=URL` (fetched
    /// from URL instead). Unset: no mirror.
    #[arg(long = "provider-mirror-upstream", env = env_vars::UPSTREAMS, value_name = "HOSTS")]
    mirror_upstreams: Option<String>,
    /// Base URLs the upstreams' download answers may point at (their release hosts),
    /// comma-separated; nothing else is fetched [default: https://releases.hashicorp.com with
    /// registry.terraform.io].
    #[arg(long = "provider-mirror-download-hosts", env = env_vars::DOWNLOAD_HOSTS, value_name = "URLS")]
    mirror_download_hosts: Option<String>,
    /// Providers that may be mirrored, as comma-separated prefixes on whole segments
    /// (`registry.terraform.io/hashicorp`, `registry.terraform.io/hashicorp/aws`). Empty: all.
    #[arg(long = "provider-mirror-allow", env = env_vars::ALLOW_LIST, value_name = "PREFIXES")]
    mirror_allow: Option<String>,
    /// Providers never mirrored; deny wins over allow.
    #[arg(long = "provider-mirror-deny", env = env_vars::DENY_LIST, value_name = "PREFIXES")]
    mirror_deny: Option<String>,
    /// Seconds all upstream fetches of one request may take together (then 504) [default: 120].
    #[arg(long = "provider-mirror-timeout", env = env_vars::TIMEOUT_SECS, value_name = "SECONDS")]
    mirror_timeout: Option<String>,
    /// Largest package fetched, in bytes [default: 1073741824].
    #[arg(long = "provider-mirror-max-package-bytes", env = env_vars::MAX_PACKAGE_BYTES, value_name = "BYTES")]
    mirror_max_package_bytes: Option<String>,
}

impl MirrorArgs {
    pub fn config(self, proxy: &ProxyConfig) -> anyhow::Result<MirrorConfig> {
        let settings = [
            (env_vars::UPSTREAMS, self.mirror_upstreams),
            (env_vars::DOWNLOAD_HOSTS, self.mirror_download_hosts),
            (env_vars::ALLOW_LIST, self.mirror_allow),
            (env_vars::DENY_LIST, self.mirror_deny),
            (env_vars::TIMEOUT_SECS, self.mirror_timeout),
            (env_vars::MAX_PACKAGE_BYTES, self.mirror_max_package_bytes),
        ];
        let config = MirrorConfig::from_env(|name| {
            settings
                .iter()
                .find(|(variable, _)| *variable == name)
                .and_then(|(_, value)| value.clone())
        })
        .map_err(|e| anyhow::anyhow!("provider mirror settings: {e}"))?;
        Ok(config.with_proxy_settings(proxy))
    }
}
