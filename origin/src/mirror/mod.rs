//! The provider network mirror: public providers served through this registry.
//!
//! Terraform, given `provider_installation { network_mirror { url = ".../v1/mirror/" } }`,
//! asks `{hostname}/{namespace}/{type}/index.json` for a provider's versions and
//! `…/{version}.json` for its packages (a URL and hashes per platform). A package this
//! registry does not have is fetched from the provider's own registry (the configured
//! upstream for its hostname), checked the way Terraform checks it — the signature of
//! `SHA256SUMS` by a key the upstream names, the zip's hash against `SHA256SUMS` — and the
//! way a private release is checked (the zip's structure), then kept and served from here with
//! this registry's signed URLs. Nothing is kept when any check fails.
//!
//! - [`policy`]: the allow and deny lists (`hostname/namespace/type` prefixes);
//! - [`upstream`]: the bounded, SSRF-safe HTTP client;
//! - [`fetch`]: the versions, the per-version packages and the checked fetch;
//! - [`store`]: where packages are kept ([`store::FileMirrorStore`] for `tfreg serve`);
//! - [`dirhash`]: Terraform's `h1:` hash of a package.

pub mod conformance;
pub mod dirhash;
pub mod fetch;
pub mod policy;
pub mod store;
pub mod upstream;

pub use fetch::ProviderMirror;
pub use store::{FileMirrorStore, MirrorStore, MirroredPackage};

use crate::providers::{InvalidName, ProviderAddress};
use crate::proxy::{parse_base_url, CaBundle};
use policy::{parse_provider_prefixes, MirrorPolicy};
use reqwest::Url;
use std::fmt;
use std::time::Duration;

/// Where mirrored packages are served, beneath `/archives/`.
pub const MIRROR_FILES_PATH: &str = "_mirror/";

pub const DEFAULT_MIRROR_TIMEOUT_SECS: u64 = 120;
/// Public provider zips are large (hashicorp/aws is several hundred megabytes unpacked and
/// over a hundred zipped): 1 GiB by default.
pub const DEFAULT_MAX_MIRROR_PACKAGE_BYTES: u64 = 1024 * 1024 * 1024;
/// HashiCorp's release host: where registry.terraform.io's download answers point.
pub const HASHICORP_RELEASES: &str = "https://releases.hashicorp.com";
pub const PUBLIC_REGISTRY_HOSTNAME: &str = "registry.terraform.io";

pub mod env_vars {
    pub const UPSTREAMS: &str = "TFREG_PROVIDER_MIRROR_UPSTREAMS";
    pub const DOWNLOAD_HOSTS: &str = "TFREG_PROVIDER_MIRROR_DOWNLOAD_HOSTS";
    pub const ALLOW_LIST: &str = "TFREG_PROVIDER_MIRROR_ALLOW_LIST";
    pub const DENY_LIST: &str = "TFREG_PROVIDER_MIRROR_DENY_LIST";
    pub const TIMEOUT_SECS: &str = "TFREG_PROVIDER_MIRROR_TIMEOUT_SECS";
    pub const MAX_PACKAGE_BYTES: &str = "TFREG_PROVIDER_MIRROR_MAX_PACKAGE_BYTES";
}

/// A provider as the mirror protocol names it: the hostname of its registry and its address
/// there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MirrorProvider {
    pub hostname: String,
    pub address: ProviderAddress,
}

impl MirrorProvider {
    /// A hostname is 1-253 of `a-z 0-9 - .`, starting with a letter or digit, with no empty
    /// label (Terraform lowercases it, and its mirror client cannot send a port).
    pub fn new(hostname: &str, namespace: &str, provider_type: &str) -> Result<Self, InvalidName> {
        let valid = (1..=253).contains(&hostname.len())
            && hostname.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
            });
        if !valid {
            return Err(InvalidName(format!(
                "invalid provider hostname {hostname:?}: use a lowercase host name without a port (registry.terraform.io)"
            )));
        }
        Ok(MirrorProvider {
            hostname: hostname.to_owned(),
            address: ProviderAddress::new(namespace, provider_type)?,
        })
    }
}

impl fmt::Display for MirrorProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.hostname, self.address)
    }
}

/// An upstream registry: the provider hostname Terraform names, and where it is fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorUpstream {
    pub hostname: String,
    pub url: Url,
}

impl MirrorUpstream {
    /// `registry.terraform.io` (fetched from `https://registry.terraform.io`), or
    /// `hostname=URL` (a registry reached elsewhere, such as a test stand-in on a port).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (hostname, url) = match text.split_once('=') {
            Some((hostname, url)) => (hostname.trim(), parse_base_url(env_vars::UPSTREAMS, url)?),
            None => (
                text,
                parse_base_url(env_vars::UPSTREAMS, &format!("https://{text}"))?,
            ),
        };
        MirrorProvider::new(hostname, "x", "x")
            .map_err(|e| format!("{}: {e}", env_vars::UPSTREAMS))?;
        Ok(MirrorUpstream {
            hostname: hostname.to_owned(),
            url,
        })
    }
}

/// The mirror's settings; off without upstreams.
#[derive(Debug, Clone)]
pub struct MirrorConfig {
    pub upstreams: Vec<MirrorUpstream>,
    /// Hosts the upstreams' download answers may point at (release hosts), beside the
    /// upstreams themselves.
    pub download_hosts: Vec<Url>,
    pub policy: MirrorPolicy,
    /// Bound on all upstream fetches of one request together.
    pub timeout: Duration,
    pub max_package_bytes: u64,
    /// How long an upstream version list is reused (the module proxy's setting).
    pub versions_ttl: Duration,
    /// Extra trusted certificates (the module proxy's setting).
    pub ca_bundle: Option<CaBundle>,
}

impl Default for MirrorConfig {
    fn default() -> Self {
        MirrorConfig {
            upstreams: Vec::new(),
            download_hosts: Vec::new(),
            policy: MirrorPolicy::default(),
            timeout: Duration::from_secs(DEFAULT_MIRROR_TIMEOUT_SECS),
            max_package_bytes: DEFAULT_MAX_MIRROR_PACKAGE_BYTES,
            versions_ttl: Duration::ZERO,
            ca_bundle: None,
        }
    }
}

impl MirrorConfig {
    pub fn enabled(&self) -> bool {
        !self.upstreams.is_empty()
    }

    /// Reads the [`env_vars`] through `get`. Without a download host list, an upstream for
    /// registry.terraform.io brings HashiCorp's release host with it.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut config = MirrorConfig::default();
        let value = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let list = |name: &str| -> Vec<String> {
            value(name)
                .unwrap_or_default()
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        for entry in list(env_vars::UPSTREAMS) {
            let upstream = MirrorUpstream::parse(&entry)?;
            if config
                .upstreams
                .iter()
                .any(|u| u.hostname == upstream.hostname)
            {
                return Err(format!(
                    "{}: {} is named twice",
                    env_vars::UPSTREAMS,
                    upstream.hostname
                ));
            }
            config.upstreams.push(upstream);
        }
        match value(env_vars::DOWNLOAD_HOSTS) {
            Some(_) => {
                for entry in list(env_vars::DOWNLOAD_HOSTS) {
                    config
                        .download_hosts
                        .push(parse_base_url(env_vars::DOWNLOAD_HOSTS, &entry)?);
                }
            }
            None if config
                .upstreams
                .iter()
                .any(|u| u.hostname == PUBLIC_REGISTRY_HOSTNAME) =>
            {
                config
                    .download_hosts
                    .push(Url::parse(HASHICORP_RELEASES).expect("valid default"));
            }
            None => {}
        }
        let prefixes = |name: &str| {
            parse_provider_prefixes(&value(name).unwrap_or_default())
                .map_err(|e| format!("{name}: {e}"))
        };
        config.policy.allow = prefixes(env_vars::ALLOW_LIST)?;
        config.policy.deny = prefixes(env_vars::DENY_LIST)?;
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match value(name) {
                Some(text) => text
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{name}: {text:?} is not a positive whole number")),
                None => Ok(default),
            }
        };
        config.timeout =
            Duration::from_secs(number(env_vars::TIMEOUT_SECS, DEFAULT_MIRROR_TIMEOUT_SECS)?);
        config.max_package_bytes = number(
            env_vars::MAX_PACKAGE_BYTES,
            DEFAULT_MAX_MIRROR_PACKAGE_BYTES,
        )?;
        Ok(config)
    }

    /// Takes the settings the mirror shares with the module proxy: how long an upstream
    /// version list is reused, and the extra trusted certificates.
    pub fn with_proxy_settings(mut self, proxy: &crate::proxy::ProxyConfig) -> Self {
        self.versions_ttl = proxy.versions_ttl;
        self.ca_bundle = proxy.ca_bundle.clone();
        self
    }

    pub fn upstream(&self, hostname: &str) -> Option<&MirrorUpstream> {
        self.upstreams.iter().find(|u| u.hostname == hostname)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<MirrorConfig, String> {
        MirrorConfig::from_env(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn upstreams_map_hostnames_to_where_they_are_fetched() {
        let parsed = config(&[(
            env_vars::UPSTREAMS,
            "registry.terraform.io, registry.example.test=http://127.0.0.1:9999",
        )])
        .unwrap();
        assert!(parsed.enabled());
        assert_eq!(
            parsed
                .upstream("registry.example.test")
                .unwrap()
                .url
                .as_str(),
            "http://127.0.0.1:9999/"
        );
        assert_eq!(
            parsed
                .upstream("registry.terraform.io")
                .unwrap()
                .url
                .as_str(),
            "https://registry.terraform.io/"
        );
        // The public registry brings its release host.
        assert_eq!(
            parsed.download_hosts[0].as_str(),
            "https://releases.hashicorp.com/"
        );
        assert!(!config(&[]).unwrap().enabled());
        for bad in [
            "Registry.io",
            "host:8443",
            "a.example=ftp://x",
            "a.example,a.example",
        ] {
            assert!(config(&[(env_vars::UPSTREAMS, bad)]).is_err(), "{bad}");
        }
        let own = config(&[
            (env_vars::UPSTREAMS, "registry.terraform.io"),
            (env_vars::DOWNLOAD_HOSTS, "https://mirror.example"),
        ])
        .unwrap();
        assert_eq!(own.download_hosts.len(), 1);
        assert!(config(&[(env_vars::TIMEOUT_SECS, "0")]).is_err());
    }

    #[test]
    fn provider_hostnames_have_no_port_and_no_empty_label() {
        assert!(MirrorProvider::new("registry.terraform.io", "hashicorp", "aws").is_ok());
        for bad in ["", "a..b", ".a", "a:443", "A.io", "a/b", &"a".repeat(254)] {
            assert!(
                MirrorProvider::new(bad, "hashicorp", "aws").is_err(),
                "{bad:?}"
            );
        }
        assert!(MirrorProvider::new("a.io", "Hashicorp", "aws").is_err());
    }
}
