//! Module addresses and versions, validated the way the public registry validates them.
//!
//! - namespace and name: 1 to 64 of `a-z 0-9 _ -`, starting with a letter or digit;
//! - system (the provider a module targets): 1 to 64 of `a-z 0-9`;
//! - version: semantic versioning 2.0 (`1.2.3`, `1.2.3-rc.1`, `1.2.3+build`); a leading `v`
//!   (as in Git tags) is accepted and dropped.
//!
//! Everything is lowercase: Terraform asks for exactly what a `source` line spells, so one
//! spelling per module keeps `Acme/VPC` and `acme/vpc` from becoming two modules.

use std::cmp::Ordering;
use std::fmt;

pub const MAX_NAME_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModuleAddress {
    pub namespace: String,
    pub name: String,
    pub system: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("invalid {part} {value:?}: use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit")]
    Segment { part: &'static str, value: String },
    #[error("invalid system {0:?}: use 1 to 64 lowercase letters or digits (the provider the module targets, such as aws)")]
    System(String),
    #[error("invalid version {0:?}: use semantic versioning such as 1.2.3 or 1.2.3-rc.1")]
    Version(String),
    #[error(
        "invalid token name {0:?}: use 1 to 128 characters, without '/' or control characters"
    )]
    TokenName(String),
}

fn is_segment(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'))
}

/// The longest token name, in characters.
pub const MAX_TOKEN_NAME_LEN: usize = 128;

/// Token names are what users of the Python registry already have: 1 to 128 characters
/// (Unicode scalar values), anything but `/` (a name is one path segment in
/// `DELETE /v1/tokens/{name}`) and control characters (which would forge log lines). Spaces,
/// `;`, `=`, `,` and non-ASCII are fine: the identity header percent-encodes the name, JSON
/// escapes it, and the stores key it as a plain string.
pub fn validate_token_name(name: &str) -> Result<(), NameError> {
    let length = name.chars().count();
    let valid = (1..=MAX_TOKEN_NAME_LEN).contains(&length)
        && !name.chars().any(|c| c == '/' || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(NameError::TokenName(name.to_owned()))
    }
}

/// Checks a namespace or a module name on its own (`part` is `"namespace"` or `"name"`).
pub fn validate_segment(part: &'static str, value: &str) -> Result<(), NameError> {
    if is_segment(value) {
        Ok(())
    } else {
        Err(NameError::Segment {
            part,
            value: value.to_owned(),
        })
    }
}

impl ModuleAddress {
    pub fn new(namespace: &str, name: &str, system: &str) -> Result<Self, NameError> {
        for (part, value) in [("namespace", namespace), ("name", name)] {
            if !is_segment(value) {
                return Err(NameError::Segment {
                    part,
                    value: value.to_owned(),
                });
            }
        }
        let system_ok = !system.is_empty()
            && system.len() <= MAX_NAME_LEN
            && system
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !system_ok {
            return Err(NameError::System(system.to_owned()));
        }
        Ok(ModuleAddress {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            system: system.to_owned(),
        })
    }
}

impl fmt::Display for ModuleAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.name, self.system)
    }
}

/// A module version. Ordered by semver precedence (1.10.0 after 1.9.0, 1.0.0-rc.1 before
/// 1.0.0), with build metadata as a last tie-break so the order is total.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModuleVersion(semver::Version);

impl ModuleVersion {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let bare = text.strip_prefix('v').unwrap_or(text);
        semver::Version::parse(bare)
            .map(ModuleVersion)
            .map_err(|_| NameError::Version(text.to_owned()))
    }

    pub fn semver(&self) -> &semver::Version {
        &self.0
    }
}

impl Ord for ModuleVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .cmp_precedence(&other.0)
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for ModuleVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ModuleVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a version's archive lives, relative to the archive store's root and beneath
/// `/archives/` in URLs: `{namespace}/{name}/{system}/{version}/module.tar.gz`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArchiveKey {
    pub module: ModuleAddress,
    pub version: ModuleVersion,
}

pub const ARCHIVE_FILE_NAME: &str = "module.tar.gz";

impl ArchiveKey {
    pub fn new(module: ModuleAddress, version: ModuleVersion) -> Self {
        ArchiveKey { module, version }
    }

    /// The key as a relative path: `acme/vpc/aws/1.2.0/module.tar.gz`.
    pub fn as_path(&self) -> String {
        format!("{}/{}/{}", self.module, self.version, ARCHIVE_FILE_NAME)
    }

    /// Parses a key back out of a URL path beneath `/archives/`. Only keys this registry would
    /// make are accepted, which also rules out traversal (`..`, absolute paths).
    pub fn parse(path: &str) -> Option<Self> {
        let mut parts = path.split('/');
        let (ns, name, system, version, file) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if parts.next().is_some() || file != ARCHIVE_FILE_NAME {
            return None;
        }
        let module = ModuleAddress::new(ns, name, system).ok()?;
        let parsed = ModuleVersion::parse(version).ok()?;
        // Only the canonical spelling names an archive.
        (parsed.to_string() == version).then(|| ArchiveKey::new(module, parsed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_by_semver_precedence() {
        let mut versions: Vec<ModuleVersion> =
            ["1.10.0", "1.9.0", "1.0.0", "1.0.0-rc.1", "0.9.1", "v2.0.0"]
                .iter()
                .map(|v| ModuleVersion::parse(v).unwrap())
                .collect();
        versions.sort();
        let sorted: Vec<String> = versions.iter().map(ToString::to_string).collect();
        assert_eq!(
            sorted,
            ["0.9.1", "1.0.0-rc.1", "1.0.0", "1.9.0", "1.10.0", "2.0.0"]
        );
    }

    #[test]
    fn invalid_names_say_what_is_wrong() {
        assert_eq!(
            ModuleAddress::new("Acme", "vpc", "aws").unwrap_err().to_string(),
            "invalid namespace \"Acme\": use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        );
        assert_eq!(
            ModuleAddress::new("acme", "-vpc", "aws").unwrap_err().to_string(),
            "invalid name \"-vpc\": use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        );
        assert_eq!(
            ModuleAddress::new("acme", "vpc", "a-ws").unwrap_err().to_string(),
            "invalid system \"a-ws\": use 1 to 64 lowercase letters or digits (the provider the module targets, such as aws)"
        );
        assert!(ModuleAddress::new(&"a".repeat(65), "vpc", "aws").is_err());
        assert!(ModuleAddress::new("acme_corp", "vpc-peering", "aws2").is_ok());
        assert_eq!(
            ModuleVersion::parse("1.2").unwrap_err().to_string(),
            "invalid version \"1.2\": use semantic versioning such as 1.2.3 or 1.2.3-rc.1"
        );
    }

    #[test]
    fn token_names_are_what_the_python_registry_accepted_less_slashes_and_controls() {
        for good in [
            "ci",
            "Bad Name",
            "x;tier=master",
            "a=b,c",
            "Jürgen's token ✓",
            "%2F",
            &"é".repeat(MAX_TOKEN_NAME_LEN),
        ] {
            assert_eq!(validate_token_name(good), Ok(()), "{good:?}");
        }
        for bad in [
            "",
            "a/b",
            "line\nbreak",
            "nul\0",
            "del\u{7f}",
            "c1\u{85}",
            &"a".repeat(MAX_TOKEN_NAME_LEN + 1),
        ] {
            assert!(validate_token_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            validate_token_name("a/b").unwrap_err().to_string(),
            "invalid token name \"a/b\": use 1 to 128 characters, without '/' or control characters"
        );
    }

    #[test]
    fn archive_keys_round_trip_and_refuse_anything_else() {
        let key = ArchiveKey::new(
            ModuleAddress::new("acme", "vpc", "aws").unwrap(),
            ModuleVersion::parse("1.2.0-rc.1").unwrap(),
        );
        assert_eq!(key.as_path(), "acme/vpc/aws/1.2.0-rc.1/module.tar.gz");
        assert_eq!(ArchiveKey::parse(&key.as_path()), Some(key));
        for bad in [
            "acme/vpc/aws/1.2.0/other.tar.gz",
            "acme/vpc/aws/v1.2.0/module.tar.gz",
            "../vpc/aws/1.2.0/module.tar.gz",
            "acme/vpc/aws/1.2.0/module.tar.gz/x",
            "acme/vpc/aws/module.tar.gz",
        ] {
            assert_eq!(ArchiveKey::parse(bad), None, "{bad}");
        }
    }
}
