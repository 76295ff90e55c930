//! Private providers: the provider registry protocol (`providers.v1`).
//!
//! A release is `{namespace}/{type}/{version}`: one zip per platform, the `SHA256SUMS` file
//! that lists them, and its detached OpenPGP signature by a key registered for the namespace.
//! Terraform checks all three itself (the signature against the keys the download answer
//! names, then the zip's hash against `SHA256SUMS`); the registry checks the same things, and
//! the zips' contents, before anything is visible, so that what it serves always installs.
//!
//! - [`signing`]: registered keys and the signature check;
//! - [`sums`]: the `SHA256SUMS` file;
//! - [`package`]: a platform zip's structure (one provider executable);
//! - [`release`]: a whole release as uploaded (a tar of the files), validated all together;
//! - [`store`]: the [`ProviderStore`] trait and its records; [`embedded`] keeps them in the
//!   data directory of `tfreg serve`.

pub mod embedded;
pub mod openpgp;
pub mod package;
pub mod release;
pub mod signing;
pub mod store;
pub mod sums;

pub use store::{ProviderRelease, ProviderStore, ReleasePlatform, SigningKeyRecord};

use crate::names::{validate_segment, ModuleVersion};
use std::fmt;

/// A provider name, version or platform that is not valid; the message says which and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidName(pub String);

impl From<crate::names::NameError> for InvalidName {
    fn from(error: crate::names::NameError) -> Self {
        InvalidName(error.to_string())
    }
}

/// A provider's address on this registry: `{namespace}/{type}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProviderAddress {
    pub namespace: String,
    pub provider_type: String,
}

impl ProviderAddress {
    /// Namespaces follow the module rules (1-64 of `a-z 0-9 - _`); a type is 1-64 of
    /// `a-z 0-9 -`, starting with a letter (Terraform's provider type rule, lowercase only:
    /// one spelling per provider, as for modules).
    pub fn new(namespace: &str, provider_type: &str) -> Result<Self, InvalidName> {
        validate_segment("namespace", namespace)?;
        let bytes = provider_type.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= 64
            && bytes[0].is_ascii_lowercase()
            && bytes
                .iter()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'));
        if !valid {
            return Err(InvalidName(format!(
                "invalid provider type {provider_type:?}: use 1 to 64 lowercase letters, digits or '-', starting with a letter"
            )));
        }
        Ok(ProviderAddress {
            namespace: namespace.to_owned(),
            provider_type: provider_type.to_owned(),
        })
    }

    /// `terraform-provider-{type}`: the start of every file name of the provider.
    pub fn project_name(&self) -> String {
        format!("terraform-provider-{}", self.provider_type)
    }
}

impl fmt::Display for ProviderAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.provider_type)
    }
}

/// A platform a package is built for: `os` and `arch` as Go names them (`linux`, `amd64`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub arch: String,
}

impl Platform {
    /// 1-32 of `a-z 0-9` each (Go's GOOS and GOARCH values).
    pub fn new(os: &str, arch: &str) -> Result<Self, InvalidName> {
        let word = |s: &str| {
            (1..=32).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        for (part, value) in [("os", os), ("arch", arch)] {
            if !word(value) {
                return Err(InvalidName(format!(
                    "invalid {part} {value:?}: use 1 to 32 lowercase letters or digits, as Go names platforms (linux, amd64)"
                )));
            }
        }
        Ok(Platform {
            os: os.to_owned(),
            arch: arch.to_owned(),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.os, self.arch)
    }
}

/// The file names of a release, as HashiCorp's release tooling (and goreleaser's provider
/// template) writes them: `terraform-provider-{type}_{version}_{os}_{arch}.zip`,
/// `terraform-provider-{type}_{version}_SHA256SUMS` and `…_SHA256SUMS.sig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseNames {
    prefix: String,
}

impl ReleaseNames {
    pub fn new(provider: &ProviderAddress, version: &ModuleVersion) -> Self {
        ReleaseNames {
            prefix: format!("{}_{version}", provider.project_name()),
        }
    }

    pub fn zip(&self, platform: &Platform) -> String {
        format!("{}_{platform}.zip", self.prefix)
    }

    pub fn shasums(&self) -> String {
        format!("{}_SHA256SUMS", self.prefix)
    }

    pub fn signature(&self) -> String {
        format!("{}_SHA256SUMS.sig", self.prefix)
    }

    /// `…_manifest.json`: HashiCorp's release manifest (`{"version":1,"metadata":
    /// {"protocol_versions":["6.0"]}}`), optional.
    pub fn manifest(&self) -> String {
        format!("{}_manifest.json", self.prefix)
    }

    /// The platform a zip's name is for, if it is one of this release's zip names.
    pub fn platform_of(&self, filename: &str) -> Option<Result<Platform, InvalidName>> {
        let rest = filename.strip_prefix(&self.prefix)?.strip_prefix('_')?;
        let rest = rest.strip_suffix(".zip")?;
        let (os, arch) = rest.split_once('_')?;
        Some(Platform::new(os, arch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_follow_terraform_and_stay_lowercase() {
        assert!(ProviderAddress::new("acme", "dns").is_ok());
        assert!(ProviderAddress::new("acme", "my-cloud2").is_ok());
        for bad in ["", "DNS", "2dns", "dns_x", "a/b", &"x".repeat(65)] {
            assert!(ProviderAddress::new("acme", bad).is_err(), "{bad}");
        }
        assert!(ProviderAddress::new("Acme", "dns").is_err());
        assert!(Platform::new("linux", "amd64").is_ok());
        assert!(Platform::new("linux", "AMD64").is_err());
        assert!(Platform::new("", "amd64").is_err());
        assert!(Platform::new("linux_x", "amd64").is_err());
    }

    #[test]
    fn release_file_names_are_hashicorps() {
        let provider = ProviderAddress::new("acme", "dns").unwrap();
        let names = ReleaseNames::new(&provider, &ModuleVersion::parse("1.2.0").unwrap());
        let linux = Platform::new("linux", "amd64").unwrap();
        assert_eq!(
            names.zip(&linux),
            "terraform-provider-dns_1.2.0_linux_amd64.zip"
        );
        assert_eq!(names.shasums(), "terraform-provider-dns_1.2.0_SHA256SUMS");
        assert_eq!(
            names.signature(),
            "terraform-provider-dns_1.2.0_SHA256SUMS.sig"
        );
        assert_eq!(
            names.platform_of("terraform-provider-dns_1.2.0_linux_amd64.zip"),
            Some(Ok(linux))
        );
        assert_eq!(
            names.platform_of("terraform-provider-dns_1.3.0_linux_amd64.zip"),
            None
        );
        assert!(matches!(
            names.platform_of("terraform-provider-dns_1.2.0_Linux_amd64.zip"),
            Some(Err(_))
        ));
    }
}
